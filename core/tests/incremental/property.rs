//! The property: two replicas, each with views kept up to date only by
//! `refresh_changed`, go through random steps (edits, raw writes of what
//! `apply` never writes, merges); after each, refreshed views equal a full
//! read.

use std::collections::BTreeMap;

use automerge::transaction::Transactable;
use automerge::{ChangeHash, ObjType, ROOT, ReadDoc};
use gridsync_core::view::Refreshed;
use gridsync_core::*;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::common::*;
use crate::support::*;

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
