//! Records checked on arrival: after a peer's changes are applied to a
//! document in memory and before they are committed, every record they
//! touched is read back as this build reads it. A change that would leave
//! a record unreadable (Automerge Text where a plain string belongs, a
//! required field missing, a number where a name belongs) is refused with
//! the document, the record and the field named; the caller then drops the
//! document from memory (nothing was stored), the same at a node and at the
//! coordinator. Reading a document never fails (unreadable records are
//! gaps), so without this a peer could fill a community with gaps.

use std::collections::BTreeSet;

use automerge::{AutoCommit, ChangeHash, ObjType, Prop, ReadDoc, Value};

use crate::docs;
use crate::error::{CoreError, FieldError};
use crate::ids::DocId;
use crate::model::*;
use crate::record::Kind;
use crate::street::StreetKind;

/// The records of `doc` (document `id`) that the changes after `before`
/// touched, each read back; the first that does not read is refused.
pub fn check_arrived(
    doc: &mut AutoCommit,
    id: &DocId,
    before: &[ChangeHash],
) -> Result<(), CoreError> {
    let after = doc.get_heads();
    if before == after.as_slice() {
        return Ok(());
    }
    let mut touched: BTreeSet<(String, String)> = BTreeSet::new();
    for patch in doc.document().diff(before, &after) {
        let mut path = patch.path.iter().map(|(_, p)| p);
        let root = path.next();
        let below = path.next();
        // A put or delete of a record on its collection names it in the
        // action; an edit inside a record names it in the path.
        let below = below.cloned().or_else(|| match &patch.action {
            automerge::PatchAction::PutMap { key, .. } => Some(Prop::Map(key.clone())),
            _ => None,
        });
        if let (Some(Prop::Map(collection)), Some(Prop::Map(record))) = (root, below) {
            touched.insert((collection.clone(), record));
        }
    }
    for (collection, record) in touched {
        check_record(doc, id, &collection, &record)?;
    }
    Ok(())
}

fn refuse(id: &DocId, kind: &str, record: &str, field: &str, why: String) -> CoreError {
    CoreError::Invalid(vec![FieldError::new(
        format!(
            "document {id}: {kind} {}: {field}",
            crate::error::quote(record)
        ),
        format!("{why}; the change was refused and nothing of it stored"),
    )])
}

fn check_record(
    doc: &AutoCommit,
    id: &DocId,
    collection: &str,
    record: &str,
) -> Result<(), CoreError> {
    let read = if *id == DocId::Street {
        let Some(kind) = StreetKind::ALL
            .iter()
            .find(|k| k.collection() == collection)
        else {
            return Ok(());
        };
        match crate::street::get(doc, *kind, record) {
            Ok(_) => Ok(()),
            Err(e) => Err((kind.name(), e.to_string())),
        }
    } else {
        let Some(kind) = Kind::ALL.iter().find(|k| k.collection() == collection) else {
            // A collection this build does not know (a newer version's):
            // not this build's to judge.
            return Ok(());
        };
        read_kind(doc, *kind, record).map_err(|e| (kind.name(), e))
    };
    match read {
        Ok(()) => Ok(()),
        Err((kind, why)) => {
            let field = suspect_field(doc, collection, record);
            Err(refuse(id, kind, record, &field, why))
        }
    }
}

/// Reads record `id` of `kind` as this build reads it.
fn read_kind(doc: &AutoCommit, kind: Kind, id: &str) -> Result<(), String> {
    let c = kind.collection();
    macro_rules! read {
        ($($k:ident),*) => {
            match kind {
                $(Kind::$k => docs::read_one::<$k>(doc, c, id).map(|_| ())),*
            }
        };
    }
    read!(
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
        Inspection
    )
}

/// The field of a record that does not read, as far as the document
/// tells: the first whose value is of a type no record uses (Automerge
/// Text, a counter, bytes, a float, a timestamp), else the record as a
/// whole (a required field missing, or a value of the wrong plain type).
fn suspect_field(doc: &AutoCommit, collection: &str, record: &str) -> String {
    let Some(coll) = docs::collection_obj(doc, collection) else {
        return "(the collection)".into();
    };
    let Ok(Some((Value::Object(ObjType::Map), obj))) = doc.get(&coll, record) else {
        return "(the record is not a map)".into();
    };
    for key in doc.keys(&obj) {
        match doc.get(&obj, key.as_str()) {
            Ok(Some((Value::Object(ObjType::Text), _))) => {
                return format!("{key} (Text, not a string)");
            }
            Ok(Some((Value::Scalar(s), _))) => {
                use automerge::ScalarValue as S;
                match s.as_ref() {
                    S::Counter(_)
                    | S::Bytes(_)
                    | S::F64(_)
                    | S::Timestamp(_)
                    | S::Unknown { .. } => {
                        return format!("{key} (an unexpected kind of value)");
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    "(a required field is missing or has the wrong type)".into()
}

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable;
    use automerge::{ActorId, ROOT};

    use super::*;

    fn registry() -> (DocId, AutoCommit) {
        let id: DocId = "registry/c01".parse().unwrap();
        let doc = docs::genesis(&id, ActorId::from(&[1u8; 16][..]));
        (id, doc)
    }

    fn put_compound(doc: &mut AutoCommit, id: &str, name: &str) {
        let rec = Compound {
            id: id.into(),
            name: name.into(),
            address: None,
        };
        docs::put_in(doc, Kind::Compound.collection(), id, &rec).unwrap();
        doc.commit();
    }

    #[test]
    fn a_good_record_passes_and_text_in_a_name_is_refused_naming_it() {
        let (id, mut doc) = registry();
        let before = doc.get_heads();
        put_compound(&mut doc, "cp_a", "一号院");
        check_arrived(&mut doc, &id, &before).expect("a good record reads");
        // A peer replaces the name with Automerge Text.
        let before = doc.get_heads();
        let coll = docs::collection_obj(&doc, "compounds").unwrap();
        let (_, rec) = doc.get(&coll, "cp_a").unwrap().unwrap();
        let text = doc.put_object(&rec, "name", ObjType::Text).unwrap();
        doc.splice_text(&text, 0, 0, "一号院").unwrap();
        doc.commit();
        let e = check_arrived(&mut doc, &id, &before)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("registry/c01") && e.contains("compound") && e.contains("cp_a"),
            "{e}"
        );
        assert!(e.contains("name (Text"), "{e}");
    }

    #[test]
    fn a_missing_field_is_refused_and_an_unknown_collection_is_left_alone() {
        let (id, mut doc) = registry();
        put_compound(&mut doc, "cp_a", "一号院");
        let before = doc.get_heads();
        let coll = docs::collection_obj(&doc, "compounds").unwrap();
        let (_, rec) = doc.get(&coll, "cp_a").unwrap().unwrap();
        doc.delete(&rec, "name").unwrap();
        doc.commit();
        let e = check_arrived(&mut doc, &id, &before)
            .unwrap_err()
            .to_string();
        assert!(e.contains("cp_a") && e.contains("missing"), "{e}");
        // An optional field that is absent (a foreign or newer writer left
        // the key out) reads as none: the record is readable.
        let (id, mut doc) = registry();
        put_compound(&mut doc, "cp_b", "二号院");
        let before = doc.get_heads();
        let coll = docs::collection_obj(&doc, "compounds").unwrap();
        let (_, rec) = doc.get(&coll, "cp_b").unwrap().unwrap();
        doc.delete(&rec, "address").unwrap();
        doc.commit();
        check_arrived(&mut doc, &id, &before).expect("an absent optional field is none");
        // A newer build's collection: not this build's to judge.
        let (id, mut doc) = registry();
        let before = doc.get_heads();
        let m = doc.put_object(ROOT, "future_things", ObjType::Map).unwrap();
        doc.put(&m, "x", 1).unwrap();
        doc.commit();
        check_arrived(&mut doc, &id, &before).expect("unknown collections pass");
    }
}
