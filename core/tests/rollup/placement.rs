//! Placement and the figures of one community: every record placed by the
//! rules, children sorted, gaps counted where their records are, instants
//! on days by the time zone, returnees, isolations, the elderly, care and
//! tickets on the as-of date.

use chrono::TimeZone;
use chrono_tz::Tz;
use gridsync_core::rollup::*;
use gridsync_core::street::{self, StreetRecord};
use gridsync_core::*;

use crate::common::*;
use crate::support::*;

#[test]
fn the_fixture_places_every_record_by_the_rules() {
    let mut r = fixture();
    let ru = rollup(&mut r);
    assert_eq!(ru.tree.additivity_violation(), None);
    assert_eq!(ru.rollup_version, ROLLUP_VERSION);
    assert_eq!(ru.as_of, day());
    assert_eq!(ru.tz, "Asia/Shanghai");

    // hh_1 with its resident, the member who answers for it and the care
    // relationship of its elderly resident, all at cp_a / bd_a1 / cg_1.
    let f = leaf(&ru, ["cp_a", "bd_a1", "cg_1"]);
    assert_eq!(
        (f.households, f.residents, f.households_contracted),
        (1, 1, 1)
    );
    assert_eq!((f.households_screened, f.households_unscreened), (0, 1));
    assert_eq!(f.elderly_alone, 1, "born 1945, lives alone");
    assert_eq!(f.party_members, 1);
    assert_eq!((f.care_relationships, f.care_overdue), (1, 1));
    // The staff member of cp_a's grid: cp_a's unplaced building's unplaced group.
    assert_eq!(leaf(&ru, ["cp_a", "", ""]).staff, 1);

    // Names: a group is named after its member.
    let group = ru.tree.find(&["cp_a", "bd_a1", "cg_1"]).unwrap();
    assert_eq!((group.level, group.name.as_str()), (Level::Group, "王党员"));
    assert_eq!(ru.tree.find(&["cp_a"]).unwrap().name, "compound cp_a");

    // Every existing compound and building shows, even when empty; an
    // empty unplaced child does not.
    let cp_b = ru.tree.find(&["cp_b"]).unwrap();
    assert_eq!(cp_b.children.len(), 1);
    assert!(cp_b.children[0].children.is_empty());
    assert!(cp_b.figures.is_zero());
    assert!(ru.tree.find(&[""]).is_none());
    // Unplaced last: cp_a's children are bd_a1 then the unplaced building.
    let ids: Vec<&str> = ru
        .tree
        .find(&["cp_a"])
        .unwrap()
        .children
        .iter()
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(ids, ["bd_a1", ""]);

    // The root adds up to the view.
    let root = &ru.tree.figures;
    assert_eq!(root.households, r.view().households.len() as u64);
    assert_eq!(root.residents, r.view().residents.len() as u64);
    assert_eq!(root.gap_count(), 0);
    assert_eq!(
        ru.digest,
        digest(&ru.community_id, ru.as_of, &ru.tz, &ru.tree)
    );
    assert_eq!(ru.digest.len(), 64);
}

#[test]
fn children_sort_by_name_with_unplaced_last() {
    let mut r = fixture();
    apply(
        &mut r,
        vec![
            Edit::Create(Record::Compound(Compound {
                id: "cp_z".into(),
                name: "a first by name".into(),
                address: None,
            })),
            Edit::Create(Record::Ticket(Ticket {
                id: "tk_1".into(),
                received_at_ms: NOW - 60_000,
                channel: TicketChannel::Hotline,
                category: "c".into(),
                summary: "s".into(),
                caller_phone: None,
                assigned_compound_id: None,
                assigned_staff_id: None,
                resolved_at_ms: None,
                resolution: None,
            })),
        ],
    );
    let ru = rollup(&mut r);
    let ids: Vec<&str> = ru.tree.children.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["cp_z", "cp_a", "cp_b", ""]);
    // An unassigned ticket: the community's unplaced leaf.
    assert_eq!(leaf(&ru, ["", "", ""]).tickets_open, 1);
}

#[test]
fn gaps_are_counted_by_reason_where_their_records_are() {
    let mut a = fixture();
    apply(
        &mut a,
        vec![
            Edit::Create(building("bd_tmp", "cp_a")),
            Edit::Create(Record::Household(household("hh_2", "cp_a", "bd_a1", None))),
            Edit::Create(Record::Household(household(
                "hh_3",
                "cp_b",
                "bd_b1",
                Some("cg_1"),
            ))),
            Edit::Create(Record::Resident(resident("rs_3", "hh_3"))),
        ],
    );
    let mut b = fork(&mut a, 2);
    // A removes the building while B adds a household to it; A removes hh_3
    // (and its resident) while B adds a resident to it.
    remove(&mut a, Kind::Building, "bd_tmp");
    remove(&mut a, Kind::Resident, "rs_3");
    remove(&mut a, Kind::Household, "hh_3");
    apply(
        &mut b,
        vec![
            Edit::Create(Record::Household(household(
                "hh_late",
                "cp_a",
                "bd_tmp",
                Some("cg_1"),
            ))),
            Edit::Create(Record::Resident(resident("rs_late", "hh_3"))),
        ],
    );
    a.merge(&mut b).unwrap();
    let ru = rollup(&mut a);
    assert_eq!(ru.tree.additivity_violation(), None);

    // The household whose building went: its compound's unplaced building,
    // still under its own contract group.
    let f = leaf(&ru, ["cp_a", "", "cg_1"]);
    assert_eq!((f.households, f.households_contracted), (1, 1));
    assert_eq!(f.gaps.get("household.missing_building"), Some(&1));
    // The household with no contract group: its building's unplaced group.
    let f = leaf(&ru, ["cp_a", "bd_a1", ""]);
    assert_eq!((f.households, f.households_uncontracted), (1, 1));
    assert_eq!(f.gaps.get("household.no_contract_group"), Some(&1));
    // The resident whose household went: the community's unplaced leaf.
    let f = leaf(&ru, ["", "", ""]);
    assert_eq!(f.residents, 1);
    assert_eq!(f.gaps.get("resident.missing_household"), Some(&1));
    assert_eq!(f.households, 0);

    // Every gap of the view is counted once, and the totals add up.
    let root = &ru.tree.figures;
    assert_eq!(root.gap_count(), a.view().gaps().len() as u64);
    assert_eq!(root.gap_count(), 3);
    assert_eq!(root.households, a.view().households.len() as u64);
    assert_eq!(root.residents, a.view().residents.len() as u64);
    assert_eq!(
        root.households_contracted + root.households_uncontracted,
        root.households
    );
}

#[test]
fn a_visit_of_a_removed_household_is_a_gap_of_the_day() {
    let mut a = fixture();
    apply(
        &mut a,
        vec![Edit::Create(Record::Household(household(
            "hh_2",
            "cp_a",
            "bd_a1",
            Some("cg_1"),
        )))],
    );
    let mut b = fork(&mut a, 2);
    remove(&mut a, Kind::Household, "hh_2");
    apply(
        &mut b,
        vec![Edit::Create(visit(
            activity_id(Kind::ScreeningVisit, 1),
            "hh_2",
            NOW - 60_000,
        ))],
    );
    a.merge(&mut b).unwrap();
    let ru = rollup(&mut a);
    assert_eq!(ru.tree.additivity_violation(), None);
    let f = leaf(&ru, ["", "", ""]);
    assert_eq!(f.screening_visits, 1);
    assert_eq!(f.gaps.get("screening_visit.missing_household"), Some(&1));
    assert_eq!(ru.tree.figures.households_screened, 0);
    // The same visit on another as-of date is neither a visit nor a gap.
    let other = rollup_at(&mut a, &mut street_doc(), plus(day(), 1), SHANGHAI);
    assert_eq!(other.tree.figures.screening_visits, 0);
    assert_eq!(other.tree.figures.gap_count(), 0);
}

#[test]
fn instants_fall_on_days_by_the_time_zone_not_by_document() {
    let late = SHANGHAI
        .with_ymd_and_hms(2026, 11, 29, 23, 30, 0)
        .unwrap()
        .timestamp_millis();
    let early = SHANGHAI
        .with_ymd_and_hms(2026, 11, 30, 0, 30, 0)
        .unwrap()
        .timestamp_millis();
    let mut r = fixture();
    for (n, ms) in [(1u8, late), (2u8, early)] {
        let d = replica::day_of_instant(ms, SHANGHAI).unwrap();
        if !r.has_day(d) {
            r.start_day(d);
        }
        let id = Kind::ScreeningVisit.new_id([n; 8], Some(d));
        apply(&mut r, vec![Edit::Create(visit(id, "hh_1", ms))]);
    }
    let d29 = d("2026-11-29").0;
    let d30 = d("2026-11-30").0;
    let mut street = street_doc();
    let mut visits = |as_of: Day, tz: Tz| {
        let ru = rollup_at(&mut r, &mut street, as_of, tz);
        assert_eq!(ru.tree.additivity_violation(), None);
        let f = &ru.tree.figures;
        assert_eq!(
            f.households_screened + f.households_unscreened,
            f.households
        );
        (f.screening_visits, f.households_screened)
    };
    // Beijing time: one visit each side of midnight.
    assert_eq!(visits(d29, SHANGHAI), (1, 1));
    assert_eq!(visits(d30, SHANGHAI), (1, 1));
    // UTC: both are on the 29th (15:30 and 16:30), whichever document holds them.
    assert_eq!(visits(d29, chrono_tz::UTC), (2, 1));
    assert_eq!(visits(d30, chrono_tz::UTC), (0, 0));
}

#[test]
fn returnees_count_for_fourteen_days_by_the_risk_of_their_origin_on_the_day() {
    let mut street = street_doc();
    let region = |id: &str, name: &str, level, from: &str, to: Option<&str>| {
        StreetRecord::RiskRegion(RiskRegion {
            id: id.into(),
            region: name.into(),
            level,
            from: d(from),
            to: to.map(d),
        })
    };
    for rec in [
        region(
            "rr_wuhan",
            "湖北省武汉市",
            RiskLevel::High,
            "2026-11-01",
            None,
        ),
        region("rr_hubei", "湖北省", RiskLevel::Medium, "2026-11-01", None),
        region(
            "rr_sh",
            "上海市",
            RiskLevel::Low,
            "2026-11-20",
            Some("2026-11-25"),
        ),
    ] {
        street::put(&mut street, rec, NOW, "risk").unwrap();
    }
    let mut r = fixture();
    let returnees = [
        ("2026-11-30", "湖北省武汉市江汉区"), // high, on the day
        ("2026-11-17", "湖北省十堰市"),       // medium, first day of the window
        ("2026-11-16", "湖北省武汉市"),       // the day before the window
        ("2026-11-22", "上海市浦东新区"),     // low while the region was in force
        ("2026-11-27", "上海市"),             // the region had ended
        ("2026-11-21", "北京市"),             // no region
    ];
    let edits = returnees
        .iter()
        .enumerate()
        .map(|(i, (on, from))| {
            Edit::Create(Record::Returnee(Returnee {
                id: format!("rt_{i}"),
                resident_id: "rs_1".into(),
                returned_on: d(on),
                from_region: (*from).into(),
                visit_id: None,
            }))
        })
        .collect();
    apply(&mut r, edits);
    let ru = rollup_at(&mut r, &mut street, day(), SHANGHAI);
    let f = leaf(&ru, ["cp_a", "bd_a1", "cg_1"]);
    assert_eq!(
        (
            f.returnees_high,
            f.returnees_medium,
            f.returnees_low,
            f.returnees_none
        ),
        (1, 1, 1, 2)
    );
    assert_eq!(ru.tree.additivity_violation(), None);
    // A day earlier: the return of the 30th is not yet, the 16th is in.
    let ru = rollup_at(&mut r, &mut street, plus(day(), -1), SHANGHAI);
    let f = &ru.tree.figures;
    assert_eq!(
        (
            f.returnees_high,
            f.returnees_medium,
            f.returnees_low,
            f.returnees_none
        ),
        (1, 1, 1, 2)
    );
    let ru = rollup_at(&mut r, &mut street, plus(day(), 14), SHANGHAI);
    let f = &ru.tree.figures;
    assert_eq!(
        f.returnees_high + f.returnees_medium + f.returnees_low + f.returnees_none,
        0
    );
}

#[test]
fn isolations_elderly_and_care_on_the_as_of_date() {
    let mut r = fixture();
    let iso = |id: &str, start: &str, end: &str, released: Option<&str>| {
        Edit::Create(Record::Isolation(Isolation {
            id: id.into(),
            resident_id: "rs_1".into(),
            start: d(start),
            planned_end: d(end),
            door_device: DoorDevice::Lock,
            released_on: released.map(d),
            reason: None,
        }))
    };
    let care = |id: &str, every: u32, since: &str, last: Option<&str>, ended: Option<&str>| {
        Edit::Create(Record::CareRelationship(CareRelationship {
            id: id.into(),
            resident_id: "rs_1".into(),
            visitor: "网格员甲".into(),
            every_days: every,
            since: d(since),
            last_visit: last.map(d),
            ended_on: ended.map(d),
        }))
    };
    let person = |id: &str, born: Option<&str>, alone: bool| {
        let mut p = resident(id, "hh_1");
        p.birth_date = born.map(d);
        p.lives_alone = alone;
        Edit::Create(Record::Resident(p))
    };
    apply(
        &mut r,
        vec![
            iso("is_1", "2026-11-20", "2026-12-04", None), // isolating
            iso("is_2", "2026-11-10", "2026-11-24", None), // isolating, past its end
            iso("is_3", "2026-11-10", "2026-11-24", Some("2026-11-25")), // released
            iso("is_4", "2026-11-10", "2026-11-29", Some("2026-11-30")), // released on the day
            iso("is_5", "2026-11-25", "2026-11-30", None), // ends on the day: not past
            iso("is_6", "2026-12-01", "2026-12-14", None), // not started
            care("cr_2", 2, "2026-11-29", None, None),     // due 12-01
            care("cr_3", 7, "2026-11-01", Some("2026-11-23"), None), // due on the day
            care("cr_4", 1, "2026-11-01", None, Some("2026-11-30")), // ended on the day
            care("cr_5", 1, "2026-12-01", None, None),     // not started
            person("rs_60", Some("1966-11-30"), true),     // 60 on the day
            person("rs_59", Some("1966-12-01"), true),     // 60 tomorrow
            person("rs_old", Some("1930-01-01"), false),   // not alone
            person("rs_unknown", None, true),              // no birth date
        ],
    );
    let ru = rollup(&mut r);
    let f = leaf(&ru, ["cp_a", "bd_a1", "cg_1"]);
    assert_eq!((f.isolating, f.isolations_past_end), (3, 1));
    assert_eq!(f.elderly_alone, 2, "rs_1 and rs_60");
    assert_eq!((f.care_relationships, f.care_overdue), (3, 1));
    assert_eq!(
        f.care_overdue,
        queries::overdue_care(r.view(), day()).len() as u64
    );

    // A care visit on the day: counted, and cr_1 is no longer overdue.
    apply(
        &mut r,
        vec![Edit::Create(Record::CareVisit(CareVisit {
            id: activity_id(Kind::CareVisit, 1),
            relationship_id: "cr_1".into(),
            visited_at_ms: NOW - 60_000,
            visitor: "网格员甲".into(),
            notes: None,
        }))],
    );
    let ru = rollup(&mut r);
    let f = leaf(&ru, ["cp_a", "bd_a1", "cg_1"]);
    assert_eq!((f.care_visits, f.care_overdue), (1, 0));
}

#[test]
fn tickets_open_resolved_and_how_long_they_took() {
    let mut r = fixture();
    let resolved_at = NOW - 60_000; // 2026-11-30 08:52 in Beijing
    let h = 3_600_000;
    let ticket = |id: &str, received: i64, resolved: Option<i64>, compound: Option<&str>| {
        Edit::Create(Record::Ticket(Ticket {
            id: id.into(),
            received_at_ms: received,
            channel: TicketChannel::Hotline,
            category: "买药".into(),
            summary: "老人需要买药".into(),
            caller_phone: None,
            assigned_compound_id: compound.map(str::to_string),
            assigned_staff_id: None,
            resolved_at_ms: resolved,
            resolution: resolved.map(|_| "送到了".to_string()),
        }))
    };
    apply(
        &mut r,
        vec![
            ticket("tk_1", resolved_at - h / 2, Some(resolved_at), Some("cp_a")),
            ticket("tk_2", resolved_at - 2 * h, Some(resolved_at), Some("cp_a")),
            ticket("tk_3", resolved_at - 2 * h, Some(resolved_at), Some("cp_a")),
            ticket(
                "tk_4",
                resolved_at - 10 * h,
                Some(resolved_at),
                Some("cp_a"),
            ),
            ticket("tk_5", resolved_at - 100 * h, Some(resolved_at), None),
            // Exactly 1 h: the second bucket.
            ticket(
                "tk_6",
                resolved_at - 25 * h,
                Some(resolved_at - 24 * h),
                Some("cp_b"),
            ),
            ticket("tk_7", NOW - 30 * h, None, Some("cp_b")), // open since the 29th
            ticket("tk_8", NOW - 60_000, None, Some("cp_b")), // opened today
        ],
    );
    let ru = rollup(&mut r);
    assert_eq!(ru.tree.additivity_violation(), None);
    let f = &ru.tree.figures;
    assert_eq!(f.tickets_resolved, 5);
    assert_eq!(f.resolve_hours, [1, 2, 1, 0, 1]);
    assert_eq!(f.tickets_opened, 4, "tk_1, tk_2, tk_3 and tk_8");
    assert_eq!(f.tickets_open, 2, "tk_7 and tk_8");
    assert_eq!(f.resolve_percentile_bucket(50), Some(1));
    assert_eq!(f.resolve_percentile_bucket(80), Some(2));
    assert_eq!(f.resolve_percentile_bucket(100), Some(4));
    assert_eq!(f.resolve_percentile_bucket(0), Some(0));
    // Assigned to a compound: its unplaced building's unplaced group.
    assert_eq!(leaf(&ru, ["cp_a", "", ""]).tickets_resolved, 4);
    assert_eq!(leaf(&ru, ["", "", ""]).resolve_hours, [0, 0, 0, 0, 1]);
    assert_eq!(leaf(&ru, ["cp_b", "", ""]).tickets_open, 2);
    // The day before: tk_6 resolved in exactly one hour.
    let ru = rollup_at(&mut r, &mut street_doc(), plus(day(), -1), SHANGHAI);
    assert_eq!(ru.tree.figures.resolve_hours, [0, 1, 0, 0, 0]);
    assert_eq!(
        ru.tree.figures.tickets_open, 3,
        "tk_4, tk_5 and tk_7 (tk_6 was resolved that day)"
    );
    assert_eq!(ru.tree.figures.tickets_opened, 3, "tk_4, tk_6 and tk_7");
}
