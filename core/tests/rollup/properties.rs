//! Properties: under random concurrent edits of two offices, merged, the
//! rollup is additive at every level, accounts for every record, is the same
//! on both sides; a street over it counts each person once.

use std::collections::BTreeSet;

use gridsync_core::rollup::*;
use gridsync_core::street::{self, StreetRecord};
use gridsync_core::*;
use proptest::prelude::*;

use crate::common::*;
use crate::support::*;

/// One random edit. Many are refused (a building that is not there, a
/// household with residents); what matters is what the accepted ones merge into.
fn random_edit(op: u8, x: u8, y: u8, z: u8, n: u8, seq: u32) -> Edit {
    let cp = |i: u8| ["cp_a", "cp_b", "cp_x"][i as usize % 3].to_string();
    let bd = |i: u8| ["bd_a1", "bd_b1", "bd_0", "bd_1"][i as usize % 4].to_string();
    let cg = |i: u8| ["cg_1", "cg_2", "cg_3"][i as usize % 3].to_string();
    let place = |i: u8| PLACES[i as usize % PLACES.len()];
    let hh = format!("hh_p{}", x % 4);
    let rs = format!("rs_{}{}", x % 4, y % 3);
    let at = NOW - 60_000 * i64::from(z) * 7;
    let activity =
        |kind: Kind| kind.new_id([n, z, x, y, (seq >> 8) as u8, seq as u8, 0, 0], Some(day()));
    match op % 18 {
        0 => Edit::Create(compound(&cp(x))),
        1 => Edit::Remove {
            kind: Kind::Compound,
            id: cp(x),
        },
        2 => Edit::Create(building(&bd(x), &cp(y))),
        3 => Edit::Remove {
            kind: Kind::Building,
            id: bd(x),
        },
        4 => Edit::Create(Record::ContractGroup(ContractGroup {
            id: cg(x),
            party_member_id: "pm_1".into(),
            name: y.is_multiple_of(2).then(|| format!("组{y}")),
        })),
        5 => Edit::Remove {
            kind: Kind::ContractGroup,
            id: cg(x),
        },
        6 => Edit::Create(Record::Household(household(
            &hh,
            place(y).0,
            place(y).1,
            (!z.is_multiple_of(3)).then(|| cg(z)).as_deref(),
        ))),
        7 => Edit::Remove {
            kind: Kind::Household,
            id: hh,
        },
        8 => {
            let mut r = resident(&rs, &hh);
            r.lives_alone = z.is_multiple_of(2);
            Edit::Create(Record::Resident(r))
        }
        // An ID number (and so a person key) for a resident, new or not.
        9 => {
            let r = with_id_number(resident(&rs, &hh), u32::from(z % 5));
            if y % 3 == 2 {
                Edit::Create(Record::Resident(r))
            } else {
                Edit::Update(Record::Resident(r))
            }
        }
        10 => Edit::Remove {
            kind: Kind::Resident,
            id: rs,
        },
        11 => Edit::Create(visit(activity(Kind::ScreeningVisit), &hh, at)),
        12 => Edit::Create(Record::Inspection(Inspection {
            id: activity(Kind::Inspection),
            household_id: hh,
            method: InspectionMethod::Phone,
            inspected_at_ms: at,
            inspector: "督查".into(),
            knew_member: y.is_multiple_of(2),
            notes: None,
        })),
        13 => Edit::Create(Record::Ticket(Ticket {
            id: format!("tk_{n}_{seq}"),
            received_at_ms: at - 3_600_000 * i64::from(y),
            channel: TicketChannel::Patrol,
            category: "c".into(),
            summary: "s".into(),
            caller_phone: None,
            assigned_compound_id: (x % 4 != 3).then(|| cp(x)),
            assigned_staff_id: None,
            resolved_at_ms: z.is_multiple_of(2).then_some(at),
            resolution: z.is_multiple_of(2).then(|| "done".into()),
        })),
        14 => Edit::Create(Record::Isolation(Isolation {
            id: format!("is_{n}_{seq}"),
            resident_id: rs,
            start: d("2026-11-20"),
            planned_end: if y.is_multiple_of(2) {
                d("2026-11-27")
            } else {
                d("2026-12-04")
            },
            door_device: DoorDevice::Sensor,
            released_on: z.is_multiple_of(3).then(|| d("2026-11-29")),
            reason: None,
        })),
        15 => Edit::Create(Record::Returnee(Returnee {
            id: format!("rt_{n}_{seq}"),
            resident_id: rs,
            returned_on: d(["2026-11-30", "2026-11-20", "2026-11-01"][y as usize % 3]),
            from_region: ["湖北省武汉市", "北京市"][z as usize % 2].into(),
            visit_id: None,
        })),
        16 => Edit::Create(Record::CareRelationship(CareRelationship {
            id: format!("cr_{n}_{seq}"),
            resident_id: rs,
            visitor: "v".into(),
            every_days: u32::from(z % 4) + 1,
            since: d("2026-11-25"),
            last_visit: None,
            ended_on: None,
        })),
        _ => Edit::Create(Record::Staff(Staff {
            id: format!("sf_{n}_{seq}"),
            name: "网格员".into(),
            role: StaffRole::GridWorker,
            phone: None,
            grid_compound_id: y.is_multiple_of(2).then(|| cp(x)),
            department: None,
            term_start: None,
            term_end: None,
        })),
    }
}

/// (compound, building) pairs of the grid below.
const PLACES: [(&str, &str); 4] = [
    ("cp_a", "bd_a1"),
    ("cp_b", "bd_b1"),
    ("cp_a", "bd_0"),
    ("cp_x", "bd_1"),
];

/// The fixture and more: a third compound, more buildings and groups, and a
/// household with two residents in every place, so that random removals
/// have something to remove and conflict with.
fn grid(id: &str, n: u8) -> CommunityReplica {
    let mut r = new_community(id, n);
    let mut edits = vec![
        Edit::Create(compound("cp_x")),
        Edit::Create(building("bd_0", "cp_a")),
        Edit::Create(building("bd_1", "cp_x")),
        Edit::Create(Record::ContractGroup(ContractGroup {
            id: "cg_2".into(),
            party_member_id: "pm_1".into(),
            name: Some("二组".into()),
        })),
    ];
    for (i, (cp, bd)) in PLACES.iter().enumerate() {
        let hh = format!("hh_p{i}");
        edits.push(Edit::Create(Record::Household(household(
            &hh,
            cp,
            bd,
            (i != 3).then_some("cg_1"),
        ))));
        for j in 0..2 {
            edits.push(Edit::Create(Record::Resident(resident(
                &format!("rs_{i}{j}"),
                &hh,
            ))));
        }
    }
    apply(&mut r, edits);
    r
}

type Ops = Vec<(u8, u8, u8, u8)>;

/// The removal of a record with everything that depends on it, as one
/// edit group, the dependents first.
fn cascade(v: &CommunityView, kind: Kind, id: &str, out: &mut Vec<Edit>) {
    let ids = |it: &mut dyn Iterator<Item = &String>| it.cloned().collect::<Vec<String>>();
    match kind {
        Kind::Compound => {
            for b in ids(&mut v
                .buildings
                .values()
                .filter(|b| b.compound_id == id)
                .map(|b| &b.id))
            {
                cascade(v, Kind::Building, &b, out);
            }
            for h in ids(&mut v
                .households
                .values()
                .filter(|h| h.compound_id == id)
                .map(|h| &h.id))
            {
                cascade(v, Kind::Household, &h, out);
            }
            for t in ids(&mut v
                .tickets
                .values()
                .filter(|t| t.assigned_compound_id.as_deref() == Some(id))
                .map(|t| &t.id))
            {
                out.push(Edit::Remove {
                    kind: Kind::Ticket,
                    id: t,
                });
            }
            for s in ids(&mut v
                .staff
                .values()
                .filter(|s| s.grid_compound_id.as_deref() == Some(id))
                .map(|s| &s.id))
            {
                out.push(Edit::Remove {
                    kind: Kind::Staff,
                    id: s,
                });
            }
        }
        Kind::Building => {
            for h in ids(&mut v
                .households
                .values()
                .filter(|h| h.building_id == id)
                .map(|h| &h.id))
            {
                cascade(v, Kind::Household, &h, out);
            }
        }
        Kind::Household => {
            for r in ids(&mut v
                .residents
                .values()
                .filter(|r| r.household_id == id)
                .map(|r| &r.id))
            {
                cascade(v, Kind::Resident, &r, out);
            }
        }
        Kind::Resident => {
            let of = |k: Kind, rid: &str| -> bool { rid == id && k != Kind::Resident };
            for x in ids(&mut v
                .isolations
                .values()
                .filter(|x| of(Kind::Isolation, &x.resident_id))
                .map(|x| &x.id))
            {
                out.push(Edit::Remove {
                    kind: Kind::Isolation,
                    id: x,
                });
            }
            for x in ids(&mut v
                .care_relationships
                .values()
                .filter(|x| of(Kind::CareRelationship, &x.resident_id))
                .map(|x| &x.id))
            {
                out.push(Edit::Remove {
                    kind: Kind::CareRelationship,
                    id: x,
                });
            }
            for x in ids(&mut v
                .returnees
                .values()
                .filter(|x| of(Kind::Returnee, &x.resident_id))
                .map(|x| &x.id))
            {
                out.push(Edit::Remove {
                    kind: Kind::Returnee,
                    id: x,
                });
            }
        }
        _ => {}
    }
    if !out
        .iter()
        .any(|e| matches!(e, Edit::Remove { kind: k, id: i } if *k == kind && i == id))
    {
        out.push(Edit::Remove {
            kind,
            id: id.to_string(),
        });
    }
}

fn run_ops(r: &mut CommunityReplica, ops: &Ops, n: u8) {
    for (seq, &(op, x, y, z)) in ops.iter().enumerate() {
        let edits = match random_edit(op, x, y, z, n, seq as u32) {
            // Half the removals take their dependents with them.
            Edit::Remove { kind, id } if z.is_multiple_of(2) => {
                let mut out = Vec::new();
                cascade(r.view(), kind, &id, &mut out);
                out
            }
            e => vec![e],
        };
        let _ = r.apply(&edits, &ctx(), "random");
    }
}

fn ops() -> impl Strategy<Value = Ops> {
    prop::collection::vec((0u8..18, 0u8..8, 0u8..8, 0u8..8), 0..40)
}

/// What must hold of any community rollup, whatever the documents.
fn check_community(r: &CommunityRollup, view: &CommunityView) -> Result<(), TestCaseError> {
    prop_assert_eq!(r.tree.additivity_violation(), None);
    let f = &r.tree.figures;
    prop_assert_eq!(f.households, view.households.len() as u64);
    prop_assert_eq!(f.residents, view.residents.len() as u64);
    prop_assert_eq!(f.residents_counted_elsewhere, 0);
    prop_assert_eq!(
        f.households_contracted + f.households_uncontracted,
        f.households
    );
    prop_assert_eq!(
        f.households_screened + f.households_unscreened,
        f.households
    );
    prop_assert_eq!(f.party_members, view.party_members.len() as u64);
    prop_assert_eq!(f.staff, view.staff.len() as u64);
    prop_assert!(f.gap_count() >= view.gaps().len() as u64);
    prop_assert!(f.isolations_past_end <= f.isolating);
    prop_assert!(f.inspections_knew_member <= f.inspections);
    prop_assert_eq!(f.resolve_hours.iter().sum::<u64>(), f.tickets_resolved);
    prop_assert_eq!(
        r.persons.len(),
        view.residents
            .values()
            .filter(|x| x.person_key.is_some())
            .count()
    );
    for p in &r.persons {
        let path: Vec<&str> = p.path.iter().map(String::as_str).collect();
        prop_assert!(r.tree.find(&path).is_some(), "no leaf for {:?}", p);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// Two offices edit one community concurrently and merge: the rollup is
    /// additive at every level, accounts for every record, is the same on
    /// both sides; and a street over it and two other communities holding
    /// the same people counts each person once, additively.
    #[test]
    fn rollups_stay_additive_under_concurrent_edits(base in ops(), ops_a in ops(), ops_b in ops(), ops_c in ops()) {
        let mut a = grid("tongbai", 1);
        run_ops(&mut a, &base, 0);
        let mut b = fork(&mut a, 2);
        run_ops(&mut a, &ops_a, 1);
        run_ops(&mut b, &ops_b, 2);
        a.merge(&mut b).unwrap();
        b.merge(&mut a).unwrap();

        let mut street = street_doc();
        street::put(&mut street, StreetRecord::RiskRegion(RiskRegion {
            id: "rr_1".into(),
            region: "湖北省".into(),
            level: RiskLevel::High,
            from: d("2026-11-01"),
            to: None,
        }), NOW, "risk").unwrap();
        let ra = rollup_at(&mut a, &mut street, day(), SHANGHAI);
        let rb = rollup_at(&mut b, &mut street, day(), SHANGHAI);
        check_community(&ra, a.view())?;
        prop_assert_eq!(&ra.tree, &rb.tree);
        prop_assert_eq!(&ra.digest, &rb.digest);
        let utc = rollup_at(&mut a, &mut street, day(), chrono_tz::UTC);
        check_community(&utc, a.view())?;

        // Two more communities with the same kind of people (the same ID numbers).
        let mut others = Vec::new();
        for (id, n, ops) in [("aaa", 3u8, &ops_a), ("zzz", 4u8, &ops_c)] {
            let mut c = grid(id, n);
            run_ops(&mut c, ops, n);
            let r = rollup_at(&mut c, &mut street, day(), SHANGHAI);
            check_community(&r, c.view())?;
            others.push(r);
        }
        let all = [&others[1], &ra, &others[0]];
        let (tree, conflicts) = street_tree("st", "street", &all);
        prop_assert_eq!(tree.additivity_violation(), None);
        let sum: u64 = all.iter().map(|r| r.tree.figures.residents).sum();
        prop_assert_eq!(tree.figures.residents + tree.figures.residents_counted_elsewhere, sum);
        let keys: BTreeSet<&str> = all.iter().flat_map(|r| r.persons.iter().map(|p| p.person_key.as_str())).collect();
        let without_key: usize = all.iter().map(|r| r.tree.figures.residents as usize - r.persons.len()).sum();
        prop_assert_eq!(tree.figures.residents, (keys.len() + without_key) as u64);
        let registrations: usize = conflicts.iter().map(|c| c.registrations.len()).sum();
        prop_assert_eq!(registrations - conflicts.len(), tree.figures.residents_counted_elsewhere as usize);
        for c in &conflicts {
            prop_assert!(c.registrations.len() >= 2);
            prop_assert!(c.registrations.windows(2).all(|w| w[0] < w[1]));
        }
    }
}
