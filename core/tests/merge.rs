//! Replicas edited concurrently, including structural conflicts, merge into
//! one state that reads without panic and reports the right gaps.

mod common;
use automerge::transaction::Transactable;
use automerge::{ROOT, ReadDoc};
use common::*;
use gridsync_core::*;
use proptest::prelude::*;

/// A second replica of the fixture, as another office would hold it.
fn fork(r: &mut CommunityReplica, n: u8) -> CommunityReplica {
    let reg = r.save_doc(&DocId::Registry(community())).unwrap();
    let cases = r.save_doc(&DocId::Cases(community())).unwrap();
    let mut f = CommunityReplica::from_docs(
        community(),
        actor(n),
        Some(secret()),
        automerge::AutoCommit::load(&reg).unwrap(),
        automerge::AutoCommit::load(&cases).unwrap(),
    )
    .unwrap();
    f.start_day(day());
    f
}

fn converge(a: &mut CommunityReplica, b: &mut CommunityReplica) {
    a.merge(b).unwrap();
    b.merge(a).unwrap();
    for id in a.doc_ids() {
        assert_eq!(a.heads(&id), b.heads(&id), "heads differ for {id}");
    }
    assert_eq!(a.view().gaps(), b.view().gaps());
    assert_eq!(queries::tree(a.view()), queries::tree(b.view()));
}

#[test]
fn removed_building_and_new_household_in_it_merge_into_a_gap() {
    let mut a = fixture();
    let mut b = fork(&mut a, 2);
    a.apply(&[Edit::Create(building("bd_tmp", "cp_a"))], &ctx(), "t")
        .unwrap();
    b.merge(&mut a).unwrap();
    // A removes the building while B adds a household to it.
    a.apply(
        &[Edit::Remove {
            kind: Kind::Building,
            id: "bd_tmp".into(),
        }],
        &ctx(),
        "t",
    )
    .unwrap();
    b.apply(
        &[Edit::Create(Record::Household(household(
            "hh_late",
            "cp_a",
            "bd_tmp",
            Some("cg_1"),
        )))],
        &ctx(),
        "t",
    )
    .unwrap();
    converge(&mut a, &mut b);
    let gaps = a.view().gaps();
    assert!(
        gaps.iter().any(|g| g.id == "hh_late"
            && g.reason
                == GapReason::MissingReference {
                    field: "building_id",
                    target: "building",
                    target_id: "bd_tmp".into()
                }),
        "{gaps:?}"
    );
    let tree = queries::tree(a.view());
    assert_eq!(tree.unplaced_households, 1);
    assert_eq!(
        tree.households + tree.unplaced_households,
        a.view().households.len() as u32
    );
}

#[test]
fn removed_household_and_new_resident_in_it_merge_into_a_gap() {
    let mut a = fixture();
    let mut b = fork(&mut a, 2);
    a.apply(
        &[Edit::Remove {
            kind: Kind::CareRelationship,
            id: "cr_1".into(),
        }],
        &ctx(),
        "t",
    )
    .unwrap();
    a.apply(
        &[Edit::Remove {
            kind: Kind::Resident,
            id: "rs_1".into(),
        }],
        &ctx(),
        "t",
    )
    .unwrap();
    a.apply(
        &[Edit::Remove {
            kind: Kind::Household,
            id: "hh_1".into(),
        }],
        &ctx(),
        "t",
    )
    .unwrap();
    b.apply(
        &[Edit::Create(Record::Resident(resident("rs_2", "hh_1")))],
        &ctx(),
        "t",
    )
    .unwrap();
    converge(&mut a, &mut b);
    let gaps = a.view().gaps();
    assert!(
        gaps.iter().any(|g| g.kind == "resident" && g.id == "rs_2"),
        "{gaps:?}"
    );
}

#[test]
fn concurrent_edits_of_different_fields_both_survive() {
    let mut a = fixture();
    let mut b = fork(&mut a, 2);
    let mut h = a.view().households["hh_1"].clone();
    h.head_name = "甲改".into();
    a.apply(&[Edit::Update(Record::Household(h.clone()))], &ctx(), "t")
        .unwrap();
    let mut h2 = b.view().households["hh_1"].clone();
    h2.phone = Some("13900139000".into());
    b.apply(&[Edit::Update(Record::Household(h2))], &ctx(), "t")
        .unwrap();
    converge(&mut a, &mut b);
    let got = &a.view().households["hh_1"];
    assert_eq!(got.head_name, "甲改");
    assert_eq!(got.phone.as_deref(), Some("13900139000"));
}

#[test]
fn independently_started_days_merge_without_losing_visits() {
    let mut a = fixture();
    let mut b = fork(&mut a, 2);
    for (r, n) in [(&mut a, 1u8), (&mut b, 2u8)] {
        let v = Record::Inspection(Inspection {
            id: activity_id(Kind::Inspection, n),
            household_id: "hh_1".into(),
            method: InspectionMethod::Visit,
            inspected_at_ms: NOW - 1000,
            inspector: format!("inspector {n}"),
            knew_member: n == 1,
            notes: None,
        });
        r.apply(&[Edit::Create(v)], &ctx(), "t").unwrap();
    }
    converge(&mut a, &mut b);
    assert_eq!(a.day_view(day()).unwrap().inspections.len(), 2);
}

#[test]
fn a_field_of_the_wrong_type_is_a_gap_not_a_panic() {
    let mut a = fixture();
    let reg = DocId::Registry(community());
    {
        let doc = a.doc_mut(&reg).unwrap();
        let (_, hs) = doc.get(ROOT, "households").unwrap().unwrap();
        let (_, h) = doc.get(&hs, "hh_1").unwrap().unwrap();
        doc.put(&h, "door", 42_i64).unwrap();
        // A collection replaced by a scalar, as a buggy peer might do.
        doc.put(ROOT, "volunteers", "oops").unwrap();
        doc.commit();
    }
    a.reread();
    let gaps = a.view().gaps();
    assert!(
        gaps.iter()
            .any(|g| g.id == "hh_1" && matches!(g.reason, GapReason::Unreadable(_))),
        "{gaps:?}"
    );
    assert!(
        gaps.iter()
            .any(|g| g.kind == "volunteer" && matches!(g.reason, GapReason::Unreadable(_))),
        "{gaps:?}"
    );
    // The resident of the unreadable household is now a gap too.
    assert!(gaps.iter().any(|g| g.id == "rs_1"), "{gaps:?}");
    let _ = queries::tree(a.view());
    let _ = queries::overdue_care(a.view(), day());
}

// ---- property tests ----

fn text() -> impl Strategy<Value = String> {
    prop_oneof![".{0,12}", "[a-z0-9]{1,8}", Just(String::new()), "\\PC{0,6}"]
}
fn opt_text() -> impl Strategy<Value = Option<String>> {
    prop::option::of(text())
}
fn date() -> impl Strategy<Value = Date> {
    (1900i32..2100, 1u32..=12, 1u32..=28)
        .prop_map(|(y, m, d)| Date(chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap()))
}

fn any_record() -> impl Strategy<Value = Record> {
    prop_oneof![
        (
            text(),
            text(),
            text(),
            text(),
            text(),
            opt_text(),
            opt_text()
        )
            .prop_map(|(id, b, u, dr, hn, ph, g)| {
                Record::Household(Household {
                    id,
                    compound_id: "cp".into(),
                    building_id: b,
                    unit: u,
                    door: dr,
                    head_name: hn,
                    phone: ph,
                    contract_group_id: g,
                })
            }),
        (
            text(),
            text(),
            opt_text(),
            prop::option::of(date()),
            any::<bool>(),
            prop::option::of(prop_oneof![Just(Gender::Male), Just(Gender::Female)])
        )
            .prop_map(|(id, n, num, b, alone, g)| Record::Resident(Resident {
                id,
                household_id: "hh".into(),
                name: n,
                id_number: num,
                person_key: None,
                gender: g,
                birth_date: b,
                phone: None,
                relation: None,
                lives_alone: alone
            })),
        (
            text(),
            any::<i64>(),
            text(),
            prop::option::of(any::<i64>()),
            opt_text()
        )
            .prop_map(|(id, at, s, r, res)| {
                Record::Ticket(Ticket {
                    id,
                    received_at_ms: at,
                    channel: TicketChannel::ChatGroup,
                    category: "c".into(),
                    summary: s,
                    caller_phone: None,
                    assigned_compound_id: None,
                    assigned_staff_id: None,
                    resolved_at_ms: r,
                    resolution: res,
                })
            }),
        (
            text(),
            prop::collection::btree_map(
                "[a-z]{1,4}",
                (
                    prop_oneof![
                        Just(ScreeningStatus::Present),
                        Just(ScreeningStatus::Returned)
                    ],
                    opt_text(),
                    prop::option::of(date())
                ),
                0..4
            )
        )
            .prop_map(|(id, m)| Record::ScreeningVisit(ScreeningVisit {
                id,
                household_id: "hh".into(),
                visited_at_ms: 0,
                visitor: "v".into(),
                residents: m
                    .into_iter()
                    .map(|(k, (s, f, o))| (
                        k,
                        ScreeningEntry {
                            status: s,
                            returned_from: f,
                            returned_on: o
                        }
                    ))
                    .collect(),
                notes: None
            })),
        (
            text(),
            prop::collection::vec(
                prop_oneof![
                    Just(NoticeChannel::Loudspeaker),
                    Just(NoticeChannel::MemberGroup)
                ],
                0..4
            ),
            opt_text()
        )
            .prop_map(|(id, ch, c)| Record::Notice(Notice {
                id,
                title: "t".into(),
                body: "b".into(),
                channels: ch,
                published_at_ms: 1,
                compound_id: c
            })),
        (text(), prop::option::of(date()), prop::option::of(date())).prop_map(|(id, a, b)| {
            Record::Staff(Staff {
                id,
                name: "n".into(),
                role: StaffRole::SentDown,
                phone: None,
                grid_compound_id: None,
                department: None,
                term_start: a,
                term_end: b,
            })
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any record, written and read back (also through save and load), is the same record.
    #[test]
    fn mapping_round_trips(recs in prop::collection::vec(any_record(), 1..8)) {
        let reg = DocId::Registry(community());
        let mut doc = gridsync_core::docs::genesis(&reg, actor(1));
        let mut expected = std::collections::BTreeMap::new();
        for (i, rec) in recs.iter().enumerate() {
            let key = format!("k{i}");
            let mut rec = rec.clone();
            rec.set_id(key.clone());
            let doc_rec = rec.clone();
            match &doc_rec {
                Record::Household(r) => gridsync_core::docs::put_in(&mut doc, "households", &key, r).unwrap(),
                Record::Resident(r) => gridsync_core::docs::put_in(&mut doc, "residents", &key, r).unwrap(),
                Record::Ticket(r) => gridsync_core::docs::put_in(&mut doc, "tickets", &key, r).unwrap(),
                Record::ScreeningVisit(r) => gridsync_core::docs::put_in(&mut doc, "screening_visits", &key, r).unwrap(),
                Record::Notice(r) => gridsync_core::docs::put_in(&mut doc, "notices", &key, r).unwrap(),
                Record::Staff(r) => gridsync_core::docs::put_in(&mut doc, "staff", &key, r).unwrap(),
                _ => unreachable!(),
            }
            expected.insert((rec.kind(), key), rec);
        }
        doc.commit();
        let mut loaded = automerge::AutoCommit::load(&doc.save()).unwrap();
        for d in [&mut doc, &mut loaded] {
            for ((kind, key), rec) in &expected {
                let got: Option<Record> = match kind {
                    Kind::Household => gridsync_core::docs::read_one::<Household>(d, "households", key).unwrap().map(Record::Household),
                    Kind::Resident => gridsync_core::docs::read_one::<Resident>(d, "residents", key).unwrap().map(Record::Resident),
                    Kind::Ticket => gridsync_core::docs::read_one::<Ticket>(d, "tickets", key).unwrap().map(Record::Ticket),
                    Kind::ScreeningVisit => gridsync_core::docs::read_one::<ScreeningVisit>(d, "screening_visits", key).unwrap().map(Record::ScreeningVisit),
                    Kind::Notice => gridsync_core::docs::read_one::<Notice>(d, "notices", key).unwrap().map(Record::Notice),
                    Kind::Staff => gridsync_core::docs::read_one::<Staff>(d, "staff", key).unwrap().map(Record::Staff),
                    _ => unreachable!(),
                };
                prop_assert_eq!(got.as_ref(), Some(rec));
            }
        }
    }

    /// The direct encoder (`create_in`, one batch) and reconcile (`put_in`,
    /// field by field) write the same document for any new record: the same
    /// value under the key, read back as the same record, also after a
    /// save and load; and a second create on a taken key changes it as
    /// reconcile would.
    #[test]
    fn the_direct_encoder_writes_what_reconcile_writes(recs in prop::collection::vec(any_record(), 1..8)) {
        let reg = DocId::Registry(community());
        let mut by_reconcile = gridsync_core::docs::genesis(&reg, actor(1));
        let mut direct = gridsync_core::docs::genesis(&reg, actor(2));
        for (i, rec) in recs.iter().enumerate() {
            // Every other record reuses the key before it: the fallback.
            let key = format!("k{}", i - (i % 2));
            let mut rec = rec.clone();
            rec.set_id(key.clone());
            let coll = rec.kind().collection();
            gridsync_core::docs::put_in(&mut by_reconcile, coll, &key, &rec).unwrap();
            gridsync_core::docs::create_in(&mut direct, coll, &key, &rec).unwrap();
        }
        by_reconcile.commit();
        direct.commit();
        let reloaded = automerge::AutoCommit::load(&direct.save()).unwrap();
        for coll in ["households", "residents", "tickets", "screening_visits", "notices", "staff"] {
            let want = gridsync_core::docs::collection_obj(&by_reconcile, coll)
                .map(|o| by_reconcile.hydrate(&o, None).unwrap());
            for d in [&direct, &reloaded] {
                let got = gridsync_core::docs::collection_obj(d, coll).map(|o| d.hydrate(&o, None).unwrap());
                prop_assert_eq!(&got, &want, "collection {}", coll);
            }
        }
    }

    /// Random structural edits on two replicas, merged: both converge to the
    /// same heads and the same reading, nothing panics, and every household
    /// whose building is gone shows as a gap.
    #[test]
    fn random_concurrent_edits_converge(ops_a in prop::collection::vec((0u8..6, 0u8..4, 0u8..4), 0..25),
                                        ops_b in prop::collection::vec((0u8..6, 0u8..4, 0u8..4), 0..25)) {
        let mut a = fixture();
        let mut b = fork(&mut a, 2);
        for (r, ops) in [(&mut a, &ops_a), (&mut b, &ops_b)] {
            for &(op, x, y) in ops {
                let edit = match op {
                    0 => Edit::Create(building(&format!("bd_{x}"), if y % 2 == 0 { "cp_a" } else { "cp_b" })),
                    1 => Edit::Remove { kind: Kind::Building, id: format!("bd_{x}") },
                    2 => Edit::Create(Record::Household(household(&format!("hh_{x}{y}"), "cp_a", &format!("bd_{y}"), Some("cg_1")))),
                    3 => Edit::Remove { kind: Kind::Household, id: format!("hh_{x}{y}") },
                    4 => Edit::Create(Record::Resident(resident(&format!("rs_{x}{y}"), &format!("hh_{x}{y}")))),
                    _ => Edit::Remove { kind: Kind::Resident, id: format!("rs_{x}{y}") },
                };
                // Refusals are fine; what matters is what the accepted edits merge into.
                let _ = r.apply(&[edit], &ctx(), "random");
            }
        }
        converge(&mut a, &mut b);
        let v = a.view();
        let gaps = v.gaps();
        for h in v.households.values() {
            if !v.buildings.contains_key(&h.building_id) {
                let found = gaps.iter().any(|g| g.id == h.id && matches!(g.reason, GapReason::MissingReference { field: "building_id", .. }));
                prop_assert!(found, "household {} has no building and no gap", h.id);
            }
        }
        for r in v.residents.values() {
            if !v.households.contains_key(&r.household_id) {
                prop_assert!(gaps.iter().any(|g| g.id == r.id));
            }
        }
        let t = queries::tree(v);
        prop_assert_eq!(t.households + t.unplaced_households, v.households.len() as u32);
    }
}

#[test]
fn activity_days_follow_the_street_time_zone() {
    use chrono::TimeZone;
    let tz = chrono_tz::Asia::Shanghai;
    // 23:30 and 00:30 Beijing time on either side of midnight, 2026-11-28/29.
    let late = tz
        .with_ymd_and_hms(2026, 11, 28, 23, 30, 0)
        .unwrap()
        .timestamp_millis();
    let early = tz
        .with_ymd_and_hms(2026, 11, 29, 0, 30, 0)
        .unwrap()
        .timestamp_millis();
    let d = |ms| replica::day_of_instant(ms, tz).unwrap().to_string();
    assert_eq!(
        (d(late), d(early)),
        ("2026-11-28".to_string(), "2026-11-29".to_string())
    );
    // In UTC both instants are on the 28th: the zone decides the document.
    assert_eq!(
        replica::day_of_instant(early, chrono_tz::UTC)
            .unwrap()
            .to_string(),
        "2026-11-28"
    );

    let mut r = fixture();
    let ctx = EditContext {
        now_ms: early + 3_600_000,
        tz,
    };
    for (n, ms) in [(1u8, late), (2u8, early)] {
        let day = replica::day_of_instant(ms, tz).unwrap();
        if !r.has_day(day) {
            r.start_day(day);
        }
        let v = Record::Inspection(Inspection {
            id: Kind::Inspection.new_id([n; 8], Some(day)),
            household_id: "hh_1".into(),
            method: InspectionMethod::Visit,
            inspected_at_ms: ms,
            inspector: "督查".into(),
            knew_member: true,
            notes: None,
        });
        r.apply(&[Edit::Create(v)], &ctx, "t").unwrap();
    }
    let on = |s: &str| {
        r.day_view(Date::parse("d", s).unwrap().0)
            .map(|v| v.inspections.len())
    };
    assert_eq!(on("2026-11-28"), Some(1));
    assert_eq!(on("2026-11-29"), Some(1));
    // An id naming one day with a time on the other is refused.
    let wrong = Record::Inspection(Inspection {
        id: Kind::Inspection.new_id([9; 8], Some(Date::parse("d", "2026-11-29").unwrap().0)),
        household_id: "hh_1".into(),
        method: InspectionMethod::Visit,
        inspected_at_ms: late,
        inspector: "督查".into(),
        knew_member: true,
        notes: None,
    });
    let e = r.apply(&[Edit::Create(wrong)], &ctx, "t").unwrap_err();
    assert!(
        matches!(&e, CoreError::Invalid(v) if v[0].field == "inspection.id"),
        "{e}"
    );
}

#[test]
fn concurrent_care_visits_leave_the_latest_last_visit() {
    use chrono::TimeZone;
    let tz = chrono_tz::Asia::Shanghai;
    let mut a = fixture();
    let mut b = fork(&mut a, 2);
    // A records a visit on the 28th, B (offline) one on the 26th.
    for (r, dayn, n) in [(&mut a, 28u32, 1u8), (&mut b, 26u32, 2u8)] {
        let ms = tz
            .with_ymd_and_hms(2026, 11, dayn, 10, 0, 0)
            .unwrap()
            .timestamp_millis();
        let day = replica::day_of_instant(ms, tz).unwrap();
        r.start_day(day);
        let v = Record::CareVisit(CareVisit {
            id: Kind::CareVisit.new_id([n; 8], Some(day)),
            relationship_id: "cr_1".into(),
            visited_at_ms: ms,
            visitor: "网格员甲".into(),
            notes: None,
        });
        r.apply(&[Edit::Create(v)], &ctx(), "t").unwrap();
    }
    assert_eq!(
        a.view().care_relationships["cr_1"].last_visit,
        Some(d("2026-11-28"))
    );
    assert_eq!(
        b.view().care_relationships["cr_1"].last_visit,
        Some(d("2026-11-26"))
    );
    converge(&mut a, &mut b);
    for r in [&a, &b] {
        assert_eq!(
            r.view().care_relationships["cr_1"].last_visit,
            Some(d("2026-11-28")),
            "a visit was forgotten"
        );
    }
}
