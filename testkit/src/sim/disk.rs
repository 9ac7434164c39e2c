//! After a run: every store read from disk. Each node's documents equal the
//! coordinator's (heads and content), no node holds another community's
//! document, and the oracle's set-full counts against the final state.

use std::collections::{BTreeMap, BTreeSet};

use automerge::{AutoCommit, ObjId, ObjType, ReadDoc};
use gridsync_core::replica::load_doc;
use gridsync_core::view::{CommunityView, DayView};
use gridsync_core::{CommunityId, DocId};
use gridsync_store::Store;

use super::oracle::{SetFull, Snapshot};
use super::plan::COORD;
use super::{COORD_DB, NODE_DB, Shared, lock};

fn load(store: &Store, id: &DocId) -> Result<AutoCommit, String> {
    match store.load_doc(id).map_err(|e| e.to_string())? {
        Some(s) => load_doc(
            s.snapshot.as_deref(),
            s.chunks.iter().map(Vec::as_slice),
            id,
        )
        .map_err(|e| format!("{id}: {e}")),
        // Never written: the document as every replica starts it.
        None => Ok(gridsync_core::docs::genesis(
            id,
            automerge::ActorId::random(),
        )),
    }
}

/// A document's content as JSON (the winning value of each key).
fn content(doc: &AutoCommit) -> serde_json::Value {
    fn obj(doc: &AutoCommit, o: &ObjId) -> serde_json::Value {
        match doc.object_type(o) {
            Ok(ObjType::Map | ObjType::Table) => serde_json::Value::Object(
                doc.keys(o)
                    .filter_map(|k| {
                        let (v, id) = doc.get(o, &k).ok()??;
                        Some((k, val(doc, v, &id)))
                    })
                    .collect(),
            ),
            Ok(ObjType::List) => serde_json::Value::Array(
                (0..doc.length(o))
                    .filter_map(|i| {
                        let (v, id) = doc.get(o, i).ok()??;
                        Some(val(doc, v, &id))
                    })
                    .collect(),
            ),
            Ok(ObjType::Text) => serde_json::Value::String(doc.text(o).unwrap_or_default()),
            Err(e) => serde_json::Value::String(format!("unreadable: {e}")),
        }
    }
    fn val(doc: &AutoCommit, v: automerge::Value<'_>, id: &ObjId) -> serde_json::Value {
        match v {
            automerge::Value::Object(_) => obj(doc, id),
            automerge::Value::Scalar(s) => serde_json::Value::String(format!("{s:?}")),
        }
    }
    obj(doc, &automerge::ROOT)
}

/// Reads every store from disk after the run: each node's documents equal
/// the coordinator's (heads and content), no node holds another
/// community's document, and the set-full counts against the final state.
pub(super) fn durable_checks(sh: &Shared) -> Result<SetFull, Vec<String>> {
    let mut what = Vec::new();
    let coord = Store::open(
        &sh.root.join(COORD).join(COORD_DB),
        Some(&crate::store_key()),
    )
    .map_err(|e| vec![e.to_string()])?;
    let mut finals: BTreeMap<CommunityId, (CommunityView, DayView)> = BTreeMap::new();
    for c in &sh.plan.nodes {
        let cid = Shared::community(c);
        let node = match Store::open(&sh.root.join(c).join(NODE_DB), Some(&crate::store_key())) {
            Ok(s) => s,
            Err(e) => {
                what.push(format!("{c}'s store: {e}"));
                continue;
            }
        };
        let ids = match node.doc_heads() {
            Ok(h) => h.into_iter().map(|(id, _)| id).collect::<Vec<_>>(),
            Err(e) => {
                what.push(format!("{c}'s store: {e}"));
                continue;
            }
        };
        for id in &ids {
            if *id != DocId::Street && id.community() != Some(&cid) {
                what.push(format!("access: {c}'s store holds {id}"));
            }
        }
        let mut all: BTreeSet<DocId> = ids.into_iter().collect();
        if let Ok(h) = coord.doc_heads() {
            all.extend(
                h.into_iter()
                    .map(|(id, _)| id)
                    .filter(|id| id.community() == Some(&cid)),
            );
        }
        all.insert(DocId::Street);
        for id in &all {
            match (load(&node, id), load(&coord, id)) {
                (Ok(mut a), Ok(mut b)) => {
                    if a.get_heads() != b.get_heads() {
                        what.push(format!(
                            "{id}: the node's heads differ from the coordinator's on disk"
                        ));
                    } else if content(&a) != content(&b) {
                        what.push(format!("{id}: same heads, different content"));
                    }
                }
                (Err(e), _) | (_, Err(e)) => what.push(format!("loading {id}: {e}")),
            }
        }
        let (Ok(reg), Ok(cases), Ok(day)) = (
            load(&coord, &DocId::Registry(cid.clone())),
            load(&coord, &DocId::Cases(cid.clone())),
            load(&coord, &DocId::Activity(cid.clone(), sh.as_of)),
        ) else {
            what.push(format!(
                "cannot load {c}'s documents from the coordinator's store"
            ));
            continue;
        };
        finals.insert(
            cid,
            (
                CommunityView::read(&reg, &cases),
                DayView::read(sh.as_of, &day),
            ),
        );
    }
    let snaps: BTreeMap<CommunityId, Snapshot<'_>> = finals
        .iter()
        .map(|(c, (v, d))| {
            (
                c.clone(),
                Snapshot {
                    view: v,
                    day: Some(d),
                },
            )
        })
        .collect();
    let mut set_full = lock(&sh.oracle).set_full(&snaps);
    match load(&coord, &DocId::Street) {
        Ok(street) => {
            let view = gridsync_core::street::StreetView::read(&street);
            let regions: BTreeSet<&str> = view.risk_regions.iter().map(|r| r.id.as_str()).collect();
            lock(&sh.oracle).street_set_full(&regions, &mut set_full);
        }
        Err(e) => what.push(format!("loading the street document: {e}")),
    }
    if what.is_empty() {
        Ok(set_full)
    } else {
        Err(what)
    }
}
