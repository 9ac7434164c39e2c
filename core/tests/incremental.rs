//! A view refreshed from what changed between two sets of heads
//! (`refresh_changed`, `CommunityReplica::refresh_doc`) is the view a full
//! re-read gives, whatever the edits: accepted edits, raw writes of the
//! wrong types, removed or replaced collections, unknown root keys, and
//! concurrent edits merged from another replica.

mod common;
use std::collections::BTreeMap;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ChangeHash, ObjType, ROOT, ReadDoc, Value};
use common::*;
use gridsync_core::view::{Refreshed, WholeReason};
use gridsync_core::*;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// Households and residents beyond the fixture, so that an edit of a few
/// records is well under half of them and is refreshed record by record.
const EXTRA: u8 = 12;

fn registry_id() -> DocId {
    DocId::Registry(community())
}
fn cases_id() -> DocId {
    DocId::Cases(community())
}
fn day_id() -> DocId {
    DocId::Activity(community(), day())
}

fn ticket(id: &str, resolved: bool) -> Record {
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

fn care_relationship(id: &str, resident: &str) -> Record {
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

fn inspection(n: u8, household: &str) -> Record {
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
fn base() -> CommunityReplica {
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
fn fork(r: &mut CommunityReplica, n: u8) -> CommunityReplica {
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

fn sorted(mut gaps: Vec<Gap>) -> Vec<Gap> {
    gaps.sort_by(|a, b| (a.kind, &a.id, &a.reason).cmp(&(b.kind, &b.id, &b.reason)));
    gaps
}

/// The views a full read of the replica's documents gives.
fn full_read(r: &mut CommunityReplica) -> (CommunityView, DayView) {
    let reg = r.doc_mut(&registry_id()).unwrap().clone();
    let cases = r.doc_mut(&cases_id()).unwrap().clone();
    let day_doc = r.doc_mut(&day_id()).unwrap().clone();
    (
        CommunityView::read(&reg, &cases),
        DayView::read(day(), &day_doc),
    )
}

fn same_community(
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

fn same_day(
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

/// One replica, and views of it kept up to date only by `refresh_changed`
/// from the heads they last reflected.
struct Side {
    r: CommunityReplica,
    community: CommunityView,
    day: DayView,
    seen: BTreeMap<DocId, Vec<ChangeHash>>,
}

impl Side {
    fn new(mut r: CommunityReplica) -> Self {
        let (community, day) = full_read(&mut r);
        let seen = heads(&mut r);
        Self {
            r,
            community,
            day,
            seen,
        }
    }

    /// Refreshes the side's own views from the heads they reflect, and
    /// checks them and the replica's view against a full read.
    fn check(&mut self, what: &str) -> Result<(), TestCaseError> {
        for (id, before) in self.seen.clone() {
            let doc = self.r.doc_mut(&id).unwrap();
            let after = doc.get_heads();
            match id {
                DocId::Registry(_) => {
                    self.community
                        .refresh_changed(doc, DocClass::Registry, &before, &after);
                }
                DocId::Cases(_) => {
                    self.community
                        .refresh_changed(doc, DocClass::Cases, &before, &after);
                }
                _ => {
                    self.day.refresh_changed(doc, &before, &after);
                }
            }
            self.seen.insert(id, after);
        }
        let (community, day) = full_read(&mut self.r);
        same_community(
            &self.community,
            &community,
            &format!("{what}, refresh_changed"),
        )?;
        same_day(
            &self.day,
            &day,
            &community,
            &format!("{what}, refresh_changed"),
        )?;
        same_community(self.r.view(), &community, &format!("{what}, replica"))?;
        same_day(
            self.r.day_view(day.day).unwrap(),
            &day,
            &community,
            &format!("{what}, replica"),
        )?;
        Ok(())
    }
}

fn heads(r: &mut CommunityReplica) -> BTreeMap<DocId, Vec<ChangeHash>> {
    r.doc_ids()
        .into_iter()
        .map(|id| {
            let h = r.heads(&id).unwrap();
            (id, h)
        })
        .collect()
}

/// A step of the property test.
#[derive(Clone, Debug)]
enum Step {
    /// An edit through `CommunityReplica::apply` (which may be refused), or
    /// `set_community` for op 13.
    Edit { on_b: bool, op: u8, x: u8, y: u8 },
    /// A write straight into a document, as another version of gridsync or
    /// a broken peer could make, then `refresh_doc`.
    Raw { on_b: bool, op: u8, x: u8 },
    /// The other side's documents merged in, then `refresh_doc`.
    Merge { into_b: bool },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (any::<bool>(), 0u8..14, 0u8..4, 0u8..4).prop_map(|(on_b, op, x, y)| Step::Edit { on_b, op, x, y }),
        4 => (any::<bool>(), 0u8..12, 0u8..4).prop_map(|(on_b, op, x)| Step::Raw { on_b, op, x }),
        2 => any::<bool>().prop_map(|into_b| Step::Merge { into_b }),
    ]
}

fn edit(op: u8, x: u8, y: u8) -> Edit {
    let hh = format!("hh_{x}{y}");
    let placed = |id: &str| {
        if y.is_multiple_of(2) {
            household(id, "cp_a", "bd_a1", Some("cg_1"))
        } else {
            household(id, "cp_b", "bd_b1", None)
        }
    };
    match op {
        0 => Edit::Create(Record::Household(placed(&hh))),
        1 => {
            let mut h = placed(&format!("hh_e{}", x * 3 + y % 3));
            h.phone = Some(format!("1380013800{y}"));
            Edit::Update(Record::Household(h))
        }
        2 => Edit::Remove {
            kind: Kind::Household,
            id: hh,
        },
        3 => Edit::Create(Record::Resident(resident(
            &format!("rs_{x}{y}"),
            &if y.is_multiple_of(2) {
                hh
            } else {
                format!("hh_e{x}")
            },
        ))),
        4 => Edit::Remove {
            kind: Kind::Resident,
            id: format!("rs_{x}{y}"),
        },
        5 => Edit::Create(building(
            &format!("bd_{x}"),
            if y.is_multiple_of(2) { "cp_a" } else { "cp_b" },
        )),
        6 => Edit::Remove {
            kind: Kind::Building,
            id: format!("bd_{x}"),
        },
        7 => {
            let t = ticket(&format!("tk_{x}"), y % 2 == 1);
            if y < 2 {
                Edit::Create(t)
            } else {
                Edit::Update(t)
            }
        }
        8 => Edit::Create(care_relationship(&format!("cr_{x}"), &format!("rs_e{y}"))),
        9 => Edit::Create(Record::CareVisit(CareVisit {
            id: activity_id(Kind::CareVisit, x * 4 + y),
            relationship_id: if y.is_multiple_of(2) {
                format!("cr_e{x}")
            } else {
                format!("cr_{x}")
            },
            visited_at_ms: NOW - 60_000,
            visitor: "网格员甲".into(),
            notes: None,
        })),
        10 => Edit::Create(inspection(x * 4 + y, &format!("hh_e{}", x + y))),
        11 => Edit::Create(Record::ScreeningVisit(ScreeningVisit {
            id: activity_id(Kind::ScreeningVisit, x * 4 + y),
            household_id: format!("hh_e{x}"),
            visited_at_ms: NOW - 60_000,
            visitor: "网格员甲".into(),
            residents: [(
                format!("rs_e{x}"),
                ScreeningEntry {
                    status: ScreeningStatus::Returned,
                    returned_from: Some("某市".into()),
                    returned_on: Some(Date(day())),
                },
            )]
            .into(),
            notes: None,
        })),
        _ => Edit::Remove {
            kind: if y.is_multiple_of(2) {
                Kind::Ticket
            } else {
                Kind::CareRelationship
            },
            id: if y.is_multiple_of(2) {
                format!("tk_e{x}")
            } else {
                format!("cr_e{x}")
            },
        },
    }
}

/// The map at `collection[id]`, if it is one.
fn record_obj(doc: &AutoCommit, collection: &str, id: &str) -> Option<automerge::ObjId> {
    let coll = match doc.get(ROOT, collection) {
        Ok(Some((Value::Object(ObjType::Map), o))) => o,
        _ => return None,
    };
    match doc.get(&coll, id) {
        Ok(Some((Value::Object(ObjType::Map), o))) => Some(o),
        _ => None,
    }
}

/// Writes into a document what `apply` never would. Returns the document written.
fn raw(r: &mut CommunityReplica, op: u8, x: u8) -> DocId {
    let id = match op {
        3 | 5 | 9 => cases_id(),
        10 | 11 => day_id(),
        _ => registry_id(),
    };
    let doc = r.doc_mut(&id).unwrap();
    match op {
        // A field of the wrong type: the household becomes unreadable.
        0 => {
            if let Some(h) = record_obj(doc, "households", &format!("hh_e{}", x * 3)) {
                doc.put(&h, "door", 42_i64).unwrap();
            }
        }
        // A scalar where a record belongs.
        1 => {
            if let Some(c) = gridsync_core::docs::collection_obj(doc, "households") {
                doc.put(&c, format!("hh_bad{x}"), "oops").unwrap();
            }
        }
        // A removal that skips the dependents check: references to nothing.
        2 => {
            let (coll, key) = if x.is_multiple_of(2) {
                ("compounds", "cp_b")
            } else {
                ("buildings", "bd_a1")
            };
            gridsync_core::docs::delete_in(doc, coll, key).unwrap();
        }
        // A sign-off: no view's business.
        3 => {
            let s = doc
                .put_object(ROOT, format!("sign_off/2026-11-2{x}"), ObjType::Map)
                .unwrap();
            doc.put(&s, "signed_by", "主任").unwrap();
        }
        // An unknown root key, with a record edit in the same change.
        4 => {
            doc.put(ROOT, "extra", i64::from(x)).unwrap();
            if let Some(h) = record_obj(doc, "households", "hh_e1") {
                doc.put(&h, "head_name", format!("王{x}")).unwrap();
            }
        }
        // A collection replaced by an empty map, or by a scalar.
        5 => {
            if x.is_multiple_of(2) {
                doc.put_object(ROOT, "tickets", ObjType::Map).unwrap();
            } else {
                doc.put(ROOT, "notices", "oops").unwrap();
            }
        }
        // The community unreadable, or readable again.
        6 => {
            if x.is_multiple_of(2) {
                doc.put(ROOT, "community", 5_i64).unwrap();
            } else {
                let info = CommunityInfo {
                    id: community().as_str().into(),
                    name: format!("社区{x}"),
                    kind: CommunityKind::Village,
                };
                gridsync_core::docs::put_root(doc, "community", &info).unwrap();
            }
        }
        // Broken records mended.
        7 => {
            let key = format!("hh_bad{x}");
            let h = household(&key, "cp_a", "bd_a1", Some("cg_1"));
            gridsync_core::docs::put_in(doc, "households", &key, &h).unwrap();
            if let Some(h) = record_obj(doc, "households", &format!("hh_e{}", x * 3)) {
                doc.put(&h, "door", "3").unwrap();
            }
        }
        // A record removed under its dependents.
        8 => {
            gridsync_core::docs::delete_in(doc, "households", &format!("hh_e{x}")).unwrap();
        }
        // An older or newer last visit, to conflict with the other side's.
        9 => {
            if let Some(c) = record_obj(doc, "care_relationships", "cr_1") {
                doc.put(&c, "last_visit", format!("2026-11-2{x}")).unwrap();
            }
        }
        // A day record of the wrong shape, and another one edited.
        10 => {
            if let Some(v) = record_obj(doc, "inspections", &activity_id(Kind::Inspection, 100 + x))
            {
                doc.put(&v, "knew_member", "yes").unwrap();
            }
            if let Some(v) = record_obj(doc, "inspections", &activity_id(Kind::Inspection, 104 + x))
            {
                doc.put(&v, "notes", format!("复查{x}")).unwrap();
            }
        }
        // A collection of the day removed, or a record edited.
        _ => {
            if x == 0 && doc.get(ROOT, "care_visits").unwrap().is_some() {
                doc.delete(ROOT, "care_visits").unwrap();
            } else if let Some(v) =
                record_obj(doc, "inspections", &activity_id(Kind::Inspection, 100 + x))
            {
                doc.put(&v, "inspector", "另一位").unwrap();
            }
        }
    }
    doc.commit();
    id
}

fn run(steps: &[Step]) -> Result<(), TestCaseError> {
    let mut a = Side::new(base());
    let mut b = Side::new(fork(&mut a.r, 2));
    a.check("start, a")?;
    b.check("start, b")?;
    for (i, step) in steps.iter().enumerate() {
        let on_b = match step {
            Step::Edit { on_b, .. } | Step::Raw { on_b, .. } => *on_b,
            Step::Merge { into_b } => *into_b,
        };
        let (side, other) = if on_b {
            (&mut b, &mut a)
        } else {
            (&mut a, &mut b)
        };
        let before = heads(&mut side.r);
        match step {
            Step::Edit { op: 13, x, .. } => {
                let info = CommunityInfo {
                    id: community().as_str().into(),
                    name: format!("桐柏路社区{x}"),
                    kind: CommunityKind::Community,
                };
                side.r.set_community(&info, &ctx()).unwrap();
            }
            Step::Edit { op, x, y, .. } => {
                // Refusals are fine: what matters is that views follow the documents.
                let _ = side.r.apply(&[edit(*op, *x, *y)], &ctx(), "random");
            }
            Step::Raw { op, x, .. } => {
                let id = raw(&mut side.r, *op, *x);
                let got = side.r.refresh_doc(&id, &before[&id]);
                if *op == 3 {
                    prop_assert_eq!(
                        got,
                        Some(Refreshed::Records(0)),
                        "a sign-off is not re-read"
                    );
                }
            }
            Step::Merge { .. } => {
                for id in side.r.doc_ids() {
                    let theirs = other.r.doc_mut(&id).unwrap();
                    side.r.doc_mut(&id).unwrap().merge(theirs).unwrap();
                    prop_assert!(side.r.refresh_doc(&id, &before[&id]).is_some());
                }
            }
        }
        side.check(&format!("step {i} {step:?}"))?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// After any step, views refreshed from the changes since their heads
    /// equal a full read.
    #[test]
    fn refreshed_views_equal_a_full_read(steps in prop::collection::vec(step(), 1..32)) {
        run(&steps)?;
    }
}

/// A refresh of one document of a side whose views are current, after `write`.
fn refresh_after(
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

fn assert_equal_to_full_read(r: &mut CommunityReplica) {
    let (community, day) = full_read(r);
    same_community(r.view(), &community, "replica").unwrap();
    same_day(r.day_view(day.day).unwrap(), &day, &community, "replica").unwrap();
}

#[test]
fn one_household_edited_is_one_record_refreshed() {
    let mut r = base();
    let got = refresh_after(&mut r, &registry_id(), |doc| {
        let h = record_obj(doc, "households", "hh_e3").unwrap();
        doc.put(&h, "door", 7_i64).unwrap();
    });
    assert_eq!(got, Refreshed::Records(1));
    assert!(!r.view().households.contains_key("hh_e3"));
    assert!(
        r.view()
            .unreadable
            .iter()
            .any(|g| g.id == "hh_e3" && matches!(g.reason, GapReason::Unreadable(_)))
    );
    assert_equal_to_full_read(&mut r);
    // Mended, the gap goes.
    let got = refresh_after(&mut r, &registry_id(), |doc| {
        let h = record_obj(doc, "households", "hh_e3").unwrap();
        doc.put(&h, "door", "7").unwrap();
    });
    assert_eq!(got, Refreshed::Records(1));
    assert_eq!(r.view().households["hh_e3"].door, "7");
    assert!(r.view().unreadable.is_empty());
    assert_equal_to_full_read(&mut r);
}

#[test]
fn an_unknown_root_key_falls_back_to_a_full_read_of_that_document() {
    let mut r = base();
    // The view is stale on purpose in the cases part: a fallback of the
    // registry must re-read the registry's part only.
    let cases = r.doc_mut(&cases_id()).unwrap();
    let before_cases = cases.get_heads();
    gridsync_core::docs::delete_in(cases, "tickets", "tk_e0").unwrap();
    cases.commit();
    let got = refresh_after(&mut r, &registry_id(), |doc| {
        doc.put(ROOT, "added_by_a_newer_version", "x").unwrap();
        let h = record_obj(doc, "households", "hh_e1").unwrap();
        doc.put(&h, "head_name", "新户主").unwrap();
    });
    assert_eq!(
        got,
        Refreshed::Whole(WholeReason::UnknownRootKey(
            "added_by_a_newer_version".into()
        ))
    );
    assert_eq!(r.view().households["hh_e1"].head_name, "新户主");
    assert!(
        r.view().tickets.contains_key("tk_e0"),
        "cases part untouched"
    );
    assert_eq!(
        r.refresh_doc(&cases_id(), &before_cases),
        Some(Refreshed::Records(1))
    );
    assert_equal_to_full_read(&mut r);
}

#[test]
fn a_sign_off_at_the_root_of_cases_is_not_a_fallback() {
    let mut r = base();
    let got = refresh_after(&mut r, &cases_id(), |doc| {
        let s = doc
            .put_object(ROOT, "sign_off/2026-11-30", ObjType::Map)
            .unwrap();
        doc.put(&s, "signed_by", "主任").unwrap();
    });
    assert_eq!(got, Refreshed::Records(0));
    assert_equal_to_full_read(&mut r);
}

#[test]
fn a_replaced_collection_falls_back_and_shows_as_a_gap() {
    let mut r = base();
    let got = refresh_after(&mut r, &registry_id(), |doc| {
        doc.put(ROOT, "volunteers", "oops").unwrap();
    });
    assert_eq!(
        got,
        Refreshed::Whole(WholeReason::CollectionReplaced("volunteers"))
    );
    assert!(
        r.view()
            .unreadable
            .iter()
            .any(|g| g.kind == "volunteer" && g.id.is_empty())
    );
    assert_equal_to_full_read(&mut r);
    let got = refresh_after(&mut r, &registry_id(), |doc| {
        doc.put_object(ROOT, "volunteers", ObjType::Map).unwrap();
    });
    assert_eq!(
        got,
        Refreshed::Whole(WholeReason::CollectionReplaced("volunteers"))
    );
    assert!(r.view().unreadable.is_empty());
    assert_equal_to_full_read(&mut r);
}

#[test]
fn the_community_is_refreshed_on_its_own() {
    let mut r = base();
    let got = refresh_after(&mut r, &registry_id(), |doc| {
        doc.put(ROOT, "community", 5_i64).unwrap();
    });
    assert_eq!(got, Refreshed::Records(0));
    assert_eq!(r.view().community, None);
    assert!(r.view().unreadable.iter().any(|g| g.kind == "community"));
    assert_equal_to_full_read(&mut r);
}

#[test]
fn concurrent_last_visits_settle_on_the_latest_when_refreshed() {
    let mut a = base();
    let mut b = fork(&mut a, 2);
    let write = |r: &mut CommunityReplica, date: &str| {
        refresh_after(r, &cases_id(), |doc| {
            let c = record_obj(doc, "care_relationships", "cr_1").unwrap();
            doc.put(&c, "last_visit", date).unwrap();
        })
    };
    assert_eq!(write(&mut a, "2026-11-25"), Refreshed::Records(1));
    assert_eq!(write(&mut b, "2026-11-20"), Refreshed::Records(1));
    for into_b in [false, true] {
        let (mine, theirs) = if into_b {
            (&mut b, &mut a)
        } else {
            (&mut a, &mut b)
        };
        let before = mine.heads(&cases_id()).unwrap();
        let doc = theirs.doc_mut(&cases_id()).unwrap();
        mine.doc_mut(&cases_id()).unwrap().merge(doc).unwrap();
        assert_eq!(
            mine.refresh_doc(&cases_id(), &before),
            Some(Refreshed::Records(1))
        );
        assert_eq!(
            mine.view().care_relationships["cr_1"].last_visit,
            Some(d("2026-11-25"))
        );
        assert_equal_to_full_read(mine);
    }
}

#[test]
fn an_unreadable_community_mended_leaves_no_gap() {
    let mut r = base();
    refresh_after(&mut r, &registry_id(), |doc| {
        doc.put(ROOT, "community", 5_i64).unwrap();
    });
    let got = refresh_after(&mut r, &registry_id(), |doc| {
        doc.put(ROOT, "community", "still not a map").unwrap();
    });
    assert_eq!(got, Refreshed::Records(0));
    assert_eq!(
        r.view()
            .unreadable
            .iter()
            .filter(|g| g.kind == "community")
            .count(),
        1
    );
    let info = CommunityInfo {
        id: community().as_str().into(),
        name: "桐柏路社区".into(),
        kind: CommunityKind::Community,
    };
    refresh_after(&mut r, &registry_id(), |doc| {
        gridsync_core::docs::put_root(doc, "community", &info).unwrap();
    });
    assert_eq!(r.view().community, Some(info));
    assert!(r.view().unreadable.is_empty());
    assert_equal_to_full_read(&mut r);
}

#[test]
fn most_records_changed_is_one_full_read() {
    let mut r = base();
    let got = refresh_after(&mut r, &day_id(), |doc| {
        for i in 100..108 {
            let v = record_obj(doc, "inspections", &activity_id(Kind::Inspection, i)).unwrap();
            doc.put(&v, "inspector", "另一位").unwrap();
        }
    });
    assert_eq!(
        got,
        Refreshed::Whole(WholeReason::MostRecords {
            touched: 8,
            records: 8
        })
    );
    assert_equal_to_full_read(&mut r);
}

#[test]
fn heads_that_do_not_fit_the_document_fall_back() {
    let mut r = base();
    let reg = registry_id();
    let before = r.heads(&reg).unwrap();
    let mut view = r.view().clone();
    let doc = r.doc_mut(&reg).unwrap();
    let h = record_obj(doc, "households", "hh_e2").unwrap();
    doc.put(&h, "unit", "9").unwrap();
    doc.commit();
    // `after` that is not the document's heads.
    assert_eq!(
        view.refresh_changed(doc, DocClass::Registry, &before, &before),
        Refreshed::Whole(WholeReason::AfterNotCurrent)
    );
    assert_eq!(view.households["hh_e2"].unit, "9");
    // `before` that names a change the document lacks.
    let mut stranger = AutoCommit::new();
    stranger.put(ROOT, "x", 1_i64).unwrap();
    let unknown = stranger.get_heads();
    let after = doc.get_heads();
    assert_eq!(
        view.refresh_changed(doc, DocClass::Registry, &unknown, &after),
        Refreshed::Whole(WholeReason::BeforeUnknown)
    );
    assert_eq!(r.refresh_doc(&DocId::Street, &before), None);
}

#[test]
fn a_first_sync_into_an_empty_view_is_one_full_read() {
    let mut full = base();
    let mut empty = CommunityReplica::new(community(), actor(3), Some(secret()));
    let before = empty.heads(&registry_id()).unwrap();
    let theirs = full.doc_mut(&registry_id()).unwrap();
    empty
        .doc_mut(&registry_id())
        .unwrap()
        .merge(theirs)
        .unwrap();
    assert_eq!(
        empty.refresh_doc(&registry_id(), &before),
        Some(Refreshed::Whole(WholeReason::EmptyView))
    );
    assert_eq!(empty.view().households.len(), full.view().households.len());
}
