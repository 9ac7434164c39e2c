//! What the incremental-refresh tests share: the base replica (the fixture
//! and more), a second replica of it, full reads and their comparison with
//! refreshed views, and one-document refreshes.

use automerge::{AutoCommit, ObjType, ROOT, ReadDoc, Value};
use gridsync_core::view::Refreshed;
use gridsync_core::*;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::common::*;

/// Households and residents beyond the fixture, so that an edit of a few
/// records is well under half of them and is refreshed record by record.
pub const EXTRA: u8 = 12;

pub fn registry_id() -> DocId {
    DocId::Registry(community())
}
pub fn cases_id() -> DocId {
    DocId::Cases(community())
}
pub fn day_id() -> DocId {
    DocId::Activity(community(), day())
}

pub fn ticket(id: &str, resolved: bool) -> Record {
    Record::Ticket(Ticket {
        id: id.into(),
        received_at_ms: NOW - 120_000,
        channel: TicketChannel::Hotline,
        category: "买药".into(),
        summary: "老人需要买药".into(),
        caller_phone: None,
        assigned_compound_id: Some("cp_a".into()),
        assigned_staff_id: Some("sf_1".into()),
        resolved_at_ms: resolved.then_some(NOW - 60_000),
        resolution: resolved.then(|| "已送达".into()),
    })
}

pub fn care_relationship(id: &str, resident: &str) -> Record {
    Record::CareRelationship(CareRelationship {
        id: id.into(),
        resident_id: resident.into(),
        visitor: "网格员甲".into(),
        every_days: 3,
        since: d("2026-11-01"),
        last_visit: None,
        ended_on: None,
    })
}

pub fn inspection(n: u8, household: &str) -> Record {
    Record::Inspection(Inspection {
        id: activity_id(Kind::Inspection, n),
        household_id: household.into(),
        method: InspectionMethod::Phone,
        inspected_at_ms: NOW - 60_000,
        inspector: "督查".into(),
        knew_member: n.is_multiple_of(2),
        notes: None,
    })
}

/// The fixture and `EXTRA` households with a resident each, some tickets
/// and care relationships, and some inspections of the day.
pub fn base() -> CommunityReplica {
    let mut r = fixture();
    let mut edits = Vec::new();
    for i in 0..EXTRA {
        let (cp, bd) = if i.is_multiple_of(2) {
            ("cp_a", "bd_a1")
        } else {
            ("cp_b", "bd_b1")
        };
        let hh = format!("hh_e{i}");
        edits.push(Edit::Create(Record::Household(household(
            &hh,
            cp,
            bd,
            Some("cg_1"),
        ))));
        edits.push(Edit::Create(Record::Resident(resident(
            &format!("rs_e{i}"),
            &hh,
        ))));
    }
    for i in 0..6u8 {
        edits.push(Edit::Create(ticket(
            &format!("tk_e{i}"),
            i.is_multiple_of(2),
        )));
    }
    for i in 0..4 {
        edits.push(Edit::Create(care_relationship(
            &format!("cr_e{i}"),
            &format!("rs_e{i}"),
        )));
    }
    for i in 0..8 {
        edits.push(Edit::Create(inspection(100 + i, &format!("hh_e{i}"))));
    }
    r.apply(&edits, &ctx(), "base").unwrap();
    r.set_community(
        &CommunityInfo {
            id: community().as_str().into(),
            name: "桐柏路社区".into(),
            kind: CommunityKind::Community,
        },
        &ctx(),
    )
    .unwrap();
    r
}

/// A second replica of `r`, as another office would hold it.
pub fn fork(r: &mut CommunityReplica, n: u8) -> CommunityReplica {
    let load =
        |r: &mut CommunityReplica, id: &DocId| AutoCommit::load(&r.save_doc(id).unwrap()).unwrap();
    let reg = load(r, &registry_id());
    let cases = load(r, &cases_id());
    let day_doc = load(r, &day_id());
    let mut f =
        CommunityReplica::from_docs(community(), actor(n), Some(secret()), reg, cases).unwrap();
    f.attach_day(day(), day_doc).unwrap();
    f
}

pub fn sorted(mut gaps: Vec<Gap>) -> Vec<Gap> {
    gaps.sort_by(|a, b| (a.kind, &a.id, &a.reason).cmp(&(b.kind, &b.id, &b.reason)));
    gaps
}

/// The views a full read of the replica's documents gives.
pub fn full_read(r: &mut CommunityReplica) -> (CommunityView, DayView) {
    let reg = r.doc_mut(&registry_id()).unwrap().clone();
    let cases = r.doc_mut(&cases_id()).unwrap().clone();
    let day_doc = r.doc_mut(&day_id()).unwrap().clone();
    (
        CommunityView::read(&reg, &cases),
        DayView::read(day(), &day_doc),
    )
}

pub fn same_community(
    got: &CommunityView,
    want: &CommunityView,
    what: &str,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(&got.community, &want.community, "{}: community", what);
    for kind in Kind::ALL
        .iter()
        .filter(|k| k.doc_class() != DocClass::Activity)
    {
        prop_assert_eq!(got.list(*kind), want.list(*kind), "{}: {}", what, kind);
    }
    prop_assert_eq!(
        sorted(got.unreadable.clone()),
        sorted(want.unreadable.clone()),
        "{}: unreadable",
        what
    );
    prop_assert_eq!(got.gaps(), want.gaps(), "{}: gaps", what);
    Ok(())
}

pub fn same_day(
    got: &DayView,
    want: &DayView,
    community: &CommunityView,
    what: &str,
) -> Result<(), TestCaseError> {
    for kind in Kind::of_class(DocClass::Activity) {
        prop_assert_eq!(got.list(kind), want.list(kind), "{}: {}", what, kind);
    }
    prop_assert_eq!(
        sorted(got.unreadable.clone()),
        sorted(want.unreadable.clone()),
        "{}: unreadable",
        what
    );
    prop_assert_eq!(
        sorted(got.gaps(community)),
        sorted(want.gaps(community)),
        "{}: gaps",
        what
    );
    Ok(())
}

/// The map at `collection[id]`, if it is one.
pub fn record_obj(doc: &AutoCommit, collection: &str, id: &str) -> Option<automerge::ObjId> {
    let coll = match doc.get(ROOT, collection) {
        Ok(Some((Value::Object(ObjType::Map), o))) => o,
        _ => return None,
    };
    match doc.get(&coll, id) {
        Ok(Some((Value::Object(ObjType::Map), o))) => Some(o),
        _ => None,
    }
}

/// A refresh of one document of a side whose views are current, after `write`.
pub fn refresh_after(
    r: &mut CommunityReplica,
    id: &DocId,
    write: impl FnOnce(&mut AutoCommit),
) -> Refreshed {
    let doc = r.doc_mut(id).unwrap();
    let before = doc.get_heads();
    write(doc);
    doc.commit();
    r.refresh_doc(id, &before).unwrap()
}

pub fn assert_equal_to_full_read(r: &mut CommunityReplica) {
    let (community, day) = full_read(r);
    same_community(r.view(), &community, "replica").unwrap();
    same_day(r.day_view(day.day).unwrap(), &day, &community, "replica").unwrap();
}
