//! The Automerge layout of gridsync's documents, and reading them without
//! trusting them.
//!
//! Every document's root holds `doc_kind`, `doc_id`, `schema_version` and
//! one map per record kind of its class (`households`, `screening_visits`,
//! …), each keyed by record id. A document starts from a **genesis** change
//! that every replica can make on its own and get the same bytes: a fixed
//! actor derived from the document id, time 0, the same operations. So two
//! offices that create today's activity document independently do not end up
//! with two rival `screening_visits` maps, one of which would hide the
//! other's visits.

use std::collections::BTreeMap;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use autosurgeon::{Hydrate, Reconcile, hydrate_prop, reconcile_prop};
use sha2::{Digest, Sha256};

use crate::error::CoreError;
use crate::gap::{Gap, GapReason};
use crate::ids::DocId;
use crate::record::{DocClass, Kind};

/// The schema version this build writes and reads. A document with a newer
/// version is refused; an older one is read as it is (no older version
/// exists yet) and migrated here when one does.
pub const SCHEMA_VERSION: u64 = 1;

/// The collections of the street document (written only at the coordinator).
pub const STREET_COLLECTIONS: &[&str] = &["communities", "risk_regions", "notices", "task_forces"];

/// The map names at the root of a document of this id.
pub fn collections(doc: &DocId) -> Vec<&'static str> {
    let class = match doc {
        DocId::Registry(_) => DocClass::Registry,
        DocId::Cases(_) => DocClass::Cases,
        DocId::Activity(..) => DocClass::Activity,
        DocId::Street => return STREET_COLLECTIONS.to_vec(),
    };
    Kind::of_class(class).map(|k| k.collection()).collect()
}

/// What the genesis change of each class of document writes, **frozen**: the
/// genesis is made independently on every replica with one fixed actor and
/// sequence number, so if two versions of gridsync wrote different genesis
/// changes, Automerge would refuse to merge them (duplicate sequence number).
/// A later version that adds a collection must add it in a change of its
/// own (see ARCHITECTURE.md), never here.
const GENESIS_V1: &[(&str, &[&str])] = &[
    (
        "registry",
        &[
            "compounds",
            "buildings",
            "contract_groups",
            "households",
            "residents",
            "party_members",
            "staff",
            "volunteer_teams",
            "volunteers",
        ],
    ),
    (
        "cases",
        &[
            "isolations",
            "care_relationships",
            "tickets",
            "returnees",
            "notices",
        ],
    ),
    (
        "activity",
        &["screening_visits", "care_visits", "inspections"],
    ),
    (
        "street",
        &["communities", "risk_regions", "notices", "task_forces"],
    ),
];

/// The schema version written by the genesis change (frozen, like its
/// layout); a newer version raises `schema_version` in a change of its own.
const GENESIS_SCHEMA_VERSION: u64 = 1;

fn genesis_collections(doc: &DocId) -> &'static [&'static str] {
    GENESIS_V1
        .iter()
        .find(|(kind, _)| *kind == doc.kind_name())
        .map(|(_, c)| *c)
        .unwrap_or(&[])
}

/// The actor of a document's genesis change: the same on every machine.
fn genesis_actor(doc: &DocId) -> ActorId {
    let digest = Sha256::digest(format!("gridsync/genesis/v1/{doc}").as_bytes());
    ActorId::from(&digest[..16])
}

/// A new document holding only its genesis change, with `actor` set for the
/// edits that follow. The genesis change is byte-identical wherever it is
/// made, so independently created replicas of one document merge cleanly.
pub fn genesis(doc_id: &DocId, actor: ActorId) -> AutoCommit {
    let mut doc = AutoCommit::new().with_actor(genesis_actor(doc_id));
    // Writing fresh maps and scalars into an empty document cannot fail.
    let _ = doc.put(ROOT, "doc_kind", doc_id.kind_name());
    let _ = doc.put(ROOT, "doc_id", doc_id.to_string());
    let _ = doc.put(ROOT, "schema_version", GENESIS_SCHEMA_VERSION);
    for name in genesis_collections(doc_id) {
        let _ = doc.put_object(ROOT, *name, ObjType::Map);
    }
    doc.commit_with(
        CommitOptions::default()
            .with_message("genesis")
            .with_time(0),
    );
    doc.set_actor(actor);
    doc
}

/// Checks that a loaded document is the one expected and not newer than
/// this build understands.
pub fn check_header(doc: &AutoCommit, doc_id: &DocId) -> Result<(), CoreError> {
    let kind = match doc.get(ROOT, "doc_kind") {
        Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
            ScalarValue::Str(s) => s.to_string(),
            _ => String::new(),
        },
        _ => String::new(),
    };
    if kind != doc_id.kind_name() {
        return Err(CoreError::doc(
            doc_id,
            format!("is a {kind:?} document, expected {:?}", doc_id.kind_name()),
        ));
    }
    let version = schema_version(doc).unwrap_or(0);
    if version > SCHEMA_VERSION {
        return Err(CoreError::SchemaTooNew {
            doc: doc_id.to_string(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

pub fn schema_version(doc: &AutoCommit) -> Option<u64> {
    match doc.get(ROOT, "schema_version") {
        Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
            ScalarValue::Uint(u) => Some(*u),
            ScalarValue::Int(i) if *i >= 0 => Some(*i as u64),
            _ => None,
        },
        _ => None,
    }
}

/// The map object of a collection, if the document has one of the right type.
pub fn collection_obj(doc: &AutoCommit, name: &str) -> Option<ObjId> {
    match doc.get(ROOT, name) {
        Ok(Some((Value::Object(ObjType::Map), id))) => Some(id),
        _ => None,
    }
}

/// The map of a collection, created if a concurrent edit left it missing or
/// of the wrong type.
fn collection_obj_or_create(doc: &mut AutoCommit, name: &str) -> Result<ObjId, CoreError> {
    if let Some(obj) = collection_obj(doc, name) {
        return Ok(obj);
    }
    doc.put_object(ROOT, name, ObjType::Map)
        .map_err(|e| CoreError::doc(name, e))
}

/// Writes `value` at `collection[id]`, changing only what differs.
pub fn put_in<T: Reconcile>(
    doc: &mut AutoCommit,
    collection: &str,
    id: &str,
    value: &T,
) -> Result<(), CoreError> {
    let obj = collection_obj_or_create(doc, collection)?;
    reconcile_prop(doc, &obj, id, value).map_err(|e| CoreError::doc(collection, e))
}

/// Writes a new record at `collection[id]` in one batch (the direct
/// encoder, [`crate::encode`]): the same document as [`put_in`] gives, without
/// looking up each field first. If the key is already there (a concurrent
/// writer's record, or one the view cannot read), it falls back to
/// [`put_in`], which changes only what differs. Says whether it wrote
/// directly (`true`) or fell back.
pub fn create_in<T: Reconcile>(
    doc: &mut AutoCommit,
    collection: &str,
    id: &str,
    value: &T,
) -> Result<bool, CoreError> {
    let obj = collection_obj_or_create(doc, collection)?;
    if doc
        .get(&obj, id)
        .map_err(|e| CoreError::doc(collection, e))?
        .is_some()
    {
        return put_in(doc, collection, id, value).map(|()| false);
    }
    let encoded = crate::encode::to_value(value).map_err(|e| CoreError::doc(collection, e))?;
    if !matches!(encoded, automerge::hydrate::Value::Map(_)) {
        // A record is a map; anything else takes the field-by-field path.
        return put_in(doc, collection, id, value).map(|()| false);
    }
    doc.batch_create_object(&obj, id, &encoded, false)
        .map_err(|e| CoreError::doc(collection, e))?;
    Ok(true)
}

/// Removes `collection[id]`; removing what is not there is not an error.
pub fn delete_in(doc: &mut AutoCommit, collection: &str, id: &str) -> Result<(), CoreError> {
    if let Some(obj) = collection_obj(doc, collection)
        && doc
            .get(&obj, id)
            .map_err(|e| CoreError::doc(collection, e))?
            .is_some()
    {
        doc.delete(&obj, id)
            .map_err(|e| CoreError::doc(collection, e))?;
    }
    Ok(())
}

/// Reads one record; `Ok(None)` if absent, `Err` if present but unreadable.
pub fn read_one<T: Hydrate>(
    doc: &AutoCommit,
    collection: &str,
    id: &str,
) -> Result<Option<T>, String> {
    let Some(obj) = collection_obj(doc, collection) else {
        return Ok(None);
    };
    match doc.get(&obj, id) {
        Ok(None) => Ok(None),
        Ok(Some(_)) => hydrate_prop::<_, T, _, _>(doc, &obj, id)
            .map(Some)
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// A record type whose id can be set from the key it is stored under.
pub trait Keyed {
    fn key_mut(&mut self) -> &mut String;
}

macro_rules! keyed {
    ($($t:ty),* $(,)?) => { $(impl Keyed for $t { fn key_mut(&mut self) -> &mut String { &mut self.id } })* };
}
use crate::model::*;
keyed!(
    Compound,
    Building,
    ContractGroup,
    Household,
    Resident,
    PartyMember,
    Staff,
    VolunteerTeam,
    Volunteer,
    Isolation,
    CareRelationship,
    Ticket,
    Returnee,
    Notice,
    ScreeningVisit,
    CareVisit,
    Inspection,
    RiskRegion,
    TaskForce,
    StreetNotice
);

/// Reads a whole collection, never failing: a record that does not hydrate
/// (a field of the wrong type after a concurrent edit by another version,
/// say) is left out and reported as a gap. The map key is the record's id,
/// whatever the record's own `id` field says.
pub fn read_all<T: Hydrate + Keyed>(
    doc: &AutoCommit,
    kind_name: &'static str,
    collection: &str,
    gaps: &mut Vec<Gap>,
) -> BTreeMap<String, T> {
    let mut out = BTreeMap::new();
    let Some(obj) = collection_obj(doc, collection) else {
        if doc.get(ROOT, collection).ok().flatten().is_some() {
            gaps.push(Gap {
                kind: kind_name,
                id: String::new(),
                reason: GapReason::Unreadable(format!("collection {collection} is not a map")),
            });
        }
        return out;
    };
    // One pass over the map, hydrating each entry's object directly: looking
    // every key up again in a map of thousands costs more than the records.
    let entries: Vec<(String, Option<ObjId>)> = doc
        .map_range(&obj, ..)
        .map(|item| {
            let id =
                matches!(item.value, automerge::ValueRef::Object(ObjType::Map)).then(|| item.id());
            (item.key.into_owned(), id)
        })
        .collect();
    for (key, id) in entries {
        let hydrated = match id {
            Some(id) => T::hydrate_map(doc, &id),
            // Not a map: let autosurgeon say what it found instead.
            None => hydrate_prop::<_, T, _, _>(doc, &obj, key.as_str()),
        };
        match hydrated {
            Ok(mut rec) => {
                *rec.key_mut() = key.clone();
                out.insert(key, rec);
            }
            Err(e) => gaps.push(Gap {
                kind: kind_name,
                id: key,
                reason: GapReason::Unreadable(e.to_string()),
            }),
        }
    }
    out
}

/// The latest of the concurrent values of a date field of one record. For
/// a date that only moves forward (a care relationship's `last_visit`),
/// whichever value Automerge picks as the winner of a conflict could be the
/// older one; readers take the latest instead.
pub fn latest_date_of(
    doc: &AutoCommit,
    collection: &str,
    id: &str,
    field: &str,
) -> Option<crate::model::Date> {
    let obj = collection_obj(doc, collection)?;
    let rec = match doc.get(&obj, id) {
        Ok(Some((Value::Object(ObjType::Map), rec))) => rec,
        _ => return None,
    };
    doc.get_all(&rec, field)
        .ok()?
        .into_iter()
        .filter_map(|(v, _)| match v {
            Value::Scalar(s) => match s.as_ref() {
                ScalarValue::Str(t) => chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
                    .ok()
                    .map(crate::model::Date),
                _ => None,
            },
            _ => None,
        })
        .max()
}

/// Reads a singleton map at the root (`community` in a registry).
pub fn read_root<T: Hydrate>(doc: &AutoCommit, prop: &str) -> Result<Option<T>, String> {
    match doc.get(ROOT, prop) {
        Ok(None) => Ok(None),
        Ok(Some(_)) => hydrate_prop::<_, T, _, _>(doc, ROOT, prop)
            .map(Some)
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

pub fn put_root<T: Reconcile>(
    doc: &mut AutoCommit,
    prop: &str,
    value: &T,
) -> Result<(), CoreError> {
    reconcile_prop(doc, ROOT, prop, value).map_err(|e| CoreError::doc(prop, e))
}

/// Hex change hashes, sorted: how heads appear in rollups.
pub fn hex_heads(h: &[automerge::ChangeHash]) -> Vec<String> {
    let mut v: Vec<String> = h.iter().map(|h| h.to_string()).collect();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::CommunityId;

    fn actor(n: u8) -> ActorId {
        ActorId::from(&[n; 16][..])
    }

    #[test]
    fn independent_genesis_is_the_same_change() {
        let id = DocId::Activity(
            CommunityId::parse("c1").unwrap(),
            chrono::NaiveDate::from_ymd_opt(2026, 11, 29).unwrap(),
        );
        let mut a = genesis(&id, actor(1));
        let mut b = genesis(&id, actor(2));
        assert_eq!(a.get_heads(), b.get_heads());
        check_header(&a, &id).unwrap();
        assert!(check_header(&a, &DocId::Street).is_err());
        // Each side writes into the collection; merged, both writes survive.
        put_in(&mut a, "care_visits", "x", &"from a".to_string()).unwrap();
        a.commit();
        put_in(&mut b, "care_visits", "y", &"from b".to_string()).unwrap();
        b.commit();
        a.merge(&mut b).unwrap();
        let obj = collection_obj(&a, "care_visits").unwrap();
        assert_eq!(a.keys(&obj).count(), 2);
    }

    #[test]
    fn genesis_is_frozen_at_the_v1_layout_and_covers_every_collection() {
        // The frozen layout must still hold every collection this build
        // uses: a new kind needs an upgrade change, not a new genesis.
        for id in [
            DocId::Registry(CommunityId::parse("c").unwrap()),
            DocId::Cases(CommunityId::parse("c").unwrap()),
            DocId::Activity(
                CommunityId::parse("c").unwrap(),
                chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            ),
            DocId::Street,
        ] {
            let d = genesis(&id, actor(1));
            let mut want: Vec<&str> = collections(&id);
            want.extend(["doc_kind", "doc_id", "schema_version"]);
            want.sort();
            let mut got: Vec<String> = d.keys(ROOT).collect();
            got.sort();
            assert_eq!(got, want, "{id}");
            assert_eq!(schema_version(&d), Some(1));
        }
    }

    #[test]
    fn newer_schema_is_refused() {
        let id = DocId::Street;
        let mut d = genesis(&id, actor(1));
        d.put(ROOT, "schema_version", SCHEMA_VERSION + 1).unwrap();
        d.commit();
        match check_header(&d, &id) {
            Err(CoreError::SchemaTooNew { found, .. }) => assert_eq!(found, SCHEMA_VERSION + 1),
            other => panic!("expected SchemaTooNew, got {other:?}"),
        }
    }
}
