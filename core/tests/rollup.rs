//! The five-level rollup: every figure placed by the module's rules,
//! additive at every level whatever concurrent edits leave behind, the same
//! digest for the same documents whatever order their changes arrived in;
//! persons counted once at street level; the sign-off and its state; the
//! daily report as CSV and JSON.

mod common;
use std::collections::{BTreeMap, BTreeSet};

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ChangeHash, ROOT};
use chrono::TimeZone;
use chrono_tz::Tz;
use common::*;
use gridsync_core::report::{self, DailyReport, ReportStamp};
use gridsync_core::rollup::*;
use gridsync_core::signoff::{self, SignOff, SignOffState};
use gridsync_core::street::{self, StreetRecord, StreetView};
use gridsync_core::*;
use proptest::prelude::*;

const SHANGHAI: Tz = chrono_tz::Asia::Shanghai;

// ---- helpers ----

fn hex(heads: Option<Vec<ChangeHash>>) -> Vec<String> {
    let mut v: Vec<String> = heads
        .unwrap_or_default()
        .iter()
        .map(|h| h.to_string())
        .collect();
    v.sort();
    v
}

fn plus(day: Day, n: i64) -> Day {
    day + chrono::Duration::days(n)
}

fn street_doc() -> AutoCommit {
    docs::genesis(&DocId::Street, actor(9))
}

/// The rollup of a replica as of `as_of` in `tz`, reading the loaded
/// activity documents of the day before, the day and the day after.
fn rollup_at(
    r: &mut CommunityReplica,
    street: &mut AutoCommit,
    as_of: Day,
    tz: Tz,
) -> CommunityRollup {
    let c = r.community().clone();
    let days: Vec<Day> = [plus(as_of, -1), as_of, plus(as_of, 1)]
        .into_iter()
        .filter(|d| r.has_day(*d))
        .collect();
    let mut heads = RollupHeads {
        registry: hex(r.heads(&DocId::Registry(c.clone()))),
        cases: hex(r.heads(&DocId::Cases(c.clone()))),
        days: BTreeMap::new(),
        street: street::heads_hex(street),
    };
    heads.street.sort();
    for d in &days {
        heads.days.insert(
            d.format("%Y-%m-%d").to_string(),
            hex(r.heads(&DocId::Activity(c.clone(), *d))),
        );
    }
    let sv = StreetView::read(street);
    let views: Vec<&DayView> = days.iter().filter_map(|d| r.day_view(*d)).collect();
    community_rollup(
        &CommunityInput {
            community_id: c.as_str(),
            view: r.view(),
            days: &views,
            street: &sv,
            heads,
        },
        as_of,
        tz,
    )
}

fn rollup(r: &mut CommunityReplica) -> CommunityRollup {
    rollup_at(r, &mut street_doc(), day(), SHANGHAI)
}

fn leaf<'a>(r: &'a CommunityRollup, path: [&str; 3]) -> &'a Figures {
    &r.tree
        .find(&path)
        .unwrap_or_else(|| panic!("no node at {path:?}"))
        .figures
}

fn apply(r: &mut CommunityReplica, edits: Vec<Edit>) {
    r.apply(&edits, &ctx(), "test").unwrap();
}

fn remove(r: &mut CommunityReplica, kind: Kind, id: &str) {
    apply(
        r,
        vec![Edit::Remove {
            kind,
            id: id.into(),
        }],
    );
}

/// A second replica of `r`'s community, as another office would hold it.
fn fork(r: &mut CommunityReplica, n: u8) -> CommunityReplica {
    let c = r.community().clone();
    let load =
        |r: &mut CommunityReplica, id: DocId| AutoCommit::load(&r.save_doc(&id).unwrap()).unwrap();
    let reg = load(r, DocId::Registry(c.clone()));
    let cases = load(r, DocId::Cases(c.clone()));
    let mut f =
        CommunityReplica::from_docs(c.clone(), actor(n), Some(secret()), reg, cases).unwrap();
    for d in r.loaded_days() {
        let doc = load(r, DocId::Activity(c.clone(), d));
        f.attach_day(d, doc).unwrap();
    }
    f
}

fn new_community(id: &str, n: u8) -> CommunityReplica {
    let mut r = CommunityReplica::new(CommunityId::parse(id).unwrap(), actor(n), Some(secret()));
    r.start_day(day());
    r.apply(&fixture_edits(), &ctx(), "fixture").unwrap();
    r
}

fn visit(id: String, household: &str, at_ms: i64) -> Record {
    Record::ScreeningVisit(ScreeningVisit {
        id,
        household_id: household.into(),
        visited_at_ms: at_ms,
        visitor: "网格员甲".into(),
        residents: BTreeMap::new(),
        notes: None,
    })
}

fn with_id_number(mut r: Resident, seq: u32) -> Resident {
    // Born 1945-03-02, like every resident of the fixture.
    r.id_number = Some(id_number(&format!("41010219450302{:03}", seq % 1000)));
    r
}

fn count_nodes(n: &Node) -> usize {
    1 + n.children.iter().map(count_nodes).sum::<usize>()
}

/// Every node, depth first, with the ids of its path from the top.
fn walk<'a>(n: &'a Node, path: &mut Vec<&'a str>, out: &mut Vec<(Vec<&'a str>, &'a Node)>) {
    path.push(&n.id);
    out.push((path.clone(), n));
    for c in &n.children {
        walk(c, path, out);
    }
    path.pop();
}

// ---- placement and the figures of one community ----

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

// ---- determinism ----

#[test]
fn the_same_changes_in_any_order_give_the_same_figures_and_digest() {
    let mut a = fixture();
    let mut b = fork(&mut a, 2);
    apply(
        &mut a,
        vec![
            Edit::Create(building("bd_a2", "cp_a")),
            Edit::Create(Record::Household(household(
                "hh_a",
                "cp_a",
                "bd_a2",
                Some("cg_1"),
            ))),
            Edit::Create(Record::Resident(resident("rs_a", "hh_a"))),
            Edit::Create(visit(
                activity_id(Kind::ScreeningVisit, 1),
                "hh_1",
                NOW - 60_000,
            )),
        ],
    );
    apply(
        &mut b,
        vec![
            Edit::Create(Record::Household(household("hh_b", "cp_b", "bd_b1", None))),
            Edit::Create(visit(
                activity_id(Kind::ScreeningVisit, 2),
                "hh_1",
                NOW - 50_000,
            )),
        ],
    );
    remove(&mut b, Kind::CareRelationship, "cr_1");
    let mut ab = fork(&mut a, 3);
    ab.merge(&mut b).unwrap();
    let mut ba = fork(&mut b, 4);
    ba.merge(&mut a).unwrap();
    let r_ab = rollup(&mut ab);
    let r_ba = rollup(&mut ba);
    assert_eq!(r_ab.heads, r_ba.heads);
    assert_eq!(r_ab.tree, r_ba.tree);
    assert_eq!(r_ab.digest, r_ba.digest);
    assert_eq!(r_ab.tree.figures.screening_visits, 2);
    assert_eq!(r_ab.tree.figures.households_screened, 1);

    // Every change applied one by one in a shuffled order into empty documents.
    let c = community();
    let mut ids = vec![DocId::Registry(c.clone()), DocId::Cases(c.clone())];
    ids.push(DocId::Activity(c.clone(), day()));
    let mut docs = Vec::new();
    for id in &ids {
        let mut changes = ab.doc_mut(id).unwrap().get_changes(&[]);
        // A fixed shuffle: reversed, then every other one moved to the front.
        changes.reverse();
        let (even, odd): (Vec<_>, Vec<_>) = changes
            .into_iter()
            .enumerate()
            .partition(|(i, _)| i % 2 == 0);
        let mut doc = AutoCommit::new();
        for (_, ch) in odd.into_iter().chain(even) {
            doc.apply_changes([ch]).unwrap();
        }
        docs.push(doc);
    }
    let day_doc = docs.pop().unwrap();
    let cases = docs.pop().unwrap();
    let reg = docs.pop().unwrap();
    let mut shuffled =
        CommunityReplica::from_docs(c, actor(5), Some(secret()), reg, cases).unwrap();
    shuffled.attach_day(day(), day_doc).unwrap();
    let r_sh = rollup(&mut shuffled);
    assert_eq!(r_sh.heads, r_ab.heads);
    assert_eq!(r_sh.tree, r_ab.tree);
    assert_eq!(r_sh.digest, r_ab.digest);

    // Another date, zone or version of the rules: another digest.
    let other_day = rollup_at(&mut ab, &mut street_doc(), plus(day(), 1), SHANGHAI);
    assert_ne!(other_day.digest, r_ab.digest);
    let other_tz = rollup_at(&mut ab, &mut street_doc(), day(), chrono_tz::UTC);
    assert_ne!(other_tz.digest, r_ab.digest);
}

#[test]
fn digests_are_checked_against_the_nodes_report() {
    let mut r = fixture();
    let ours = rollup(&mut r);
    assert_eq!(check_digest(&ours, None), DigestCheck::NotReported);
    let same = NodeDigest::of(&ours, NOW);
    assert_eq!(check_digest(&ours, Some(&same)), DigestCheck::Match);
    let mut upgraded = same.clone();
    upgraded.rollup_version += 1;
    upgraded.digest = "0".repeat(64);
    assert_eq!(
        check_digest(&ours, Some(&upgraded)),
        DigestCheck::Mismatch {
            node_digest: "0".repeat(64),
            node_rollup_version: ROLLUP_VERSION + 1
        }
    );
    let mut newer_version_only = same.clone();
    newer_version_only.rollup_version += 1;
    assert!(matches!(
        check_digest(&ours, Some(&newer_version_only)),
        DigestCheck::Mismatch { .. }
    ));
    let mut behind = same.clone();
    behind.heads.registry = vec!["00".repeat(32)];
    behind.digest = "1".repeat(64);
    assert_eq!(check_digest(&ours, Some(&behind)), DigestCheck::Pending);
    let mut other_day = same.clone();
    other_day.as_of = plus(day(), -1);
    assert_eq!(check_digest(&ours, Some(&other_day)), DigestCheck::Pending);
    let mut other_tz = same;
    other_tz.tz = "UTC".into();
    assert_eq!(check_digest(&ours, Some(&other_tz)), DigestCheck::Pending);
}

// ---- the street ----

#[test]
fn a_person_in_two_communities_is_counted_once_where_the_lowest_id_is() {
    let mut c1 = new_community("aaa", 1);
    let mut c2 = new_community("bbb", 2);
    let mut c3 = new_community("ccc", 3);
    // The same ID number in aaa and bbb, and a person only in ccc.
    let both = |r: &mut CommunityReplica, id: &str, hh: &str| {
        apply(
            r,
            vec![Edit::Create(Record::Resident(with_id_number(
                resident(id, hh),
                7,
            )))],
        );
    };
    both(&mut c2, "rs_b", "hh_1");
    both(&mut c1, "rs_a", "hh_1");
    apply(
        &mut c3,
        vec![Edit::Create(Record::Resident(with_id_number(
            resident("rs_c", "hh_1"),
            8,
        )))],
    );
    let r1 = rollup(&mut c1);
    let r2 = rollup(&mut c2);
    let r3 = rollup(&mut c3);
    let before = (r1.clone(), r2.clone(), r3.clone());
    assert_eq!(r1.persons.len(), 1);
    assert_eq!(
        r1.persons[0].path,
        ["cp_a", "bd_a1", "cg_1"].map(String::from)
    );
    assert_eq!(r1.persons[0].person_key, r2.persons[0].person_key);

    let (street, conflicts) = street_tree("st", "建设路街道", &[&r3, &r2, &r1]);
    assert_eq!(
        (before.0, before.1, before.2),
        (r1.clone(), r2.clone(), r3.clone())
    );
    assert_eq!(street.additivity_violation(), None);
    assert_eq!(
        (street.level, street.id.as_str(), street.name.as_str()),
        (Level::Street, "st", "建设路街道")
    );
    let ids: Vec<&str> = street.children.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["aaa", "bbb", "ccc"]);

    // Each community has rs_1 (no ID number) and its own person; aaa and bbb share one.
    let distinct_keys: BTreeSet<&str> = [&r1, &r2, &r3]
        .iter()
        .flat_map(|r| r.persons.iter().map(|p| p.person_key.as_str()))
        .collect();
    let without_key = 3;
    assert_eq!(
        street.figures.residents,
        distinct_keys.len() as u64 + without_key
    );
    assert_eq!(street.figures.residents_counted_elsewhere, 1);
    assert_eq!(
        street.figures.residents + street.figures.residents_counted_elsewhere,
        r1.tree.figures.residents + r2.tree.figures.residents + r3.tree.figures.residents
    );
    // Counted in aaa, moved out of bbb at its leaf.
    let at = |c: &str| {
        street
            .find(&[c, "cp_a", "bd_a1", "cg_1"])
            .unwrap()
            .figures
            .clone()
    };
    assert_eq!(
        (at("aaa").residents, at("aaa").residents_counted_elsewhere),
        (2, 0)
    );
    assert_eq!(
        (at("bbb").residents, at("bbb").residents_counted_elsewhere),
        (1, 1)
    );
    assert_eq!(r2.tree.figures.residents_counted_elsewhere, 0);
    assert_eq!(
        conflicts,
        [PersonConflict {
            person_key: r1.persons[0].person_key.clone(),
            registrations: vec![
                ("aaa".to_string(), "rs_a".to_string()),
                ("bbb".to_string(), "rs_b".to_string())
            ],
        }]
    );

    // A registration whose path is not in the tree (a stale persons list):
    // moved at the community's unplaced leaf if there is one, else not moved;
    // never a panic, and the conflict is still reported.
    let mut stale = r2.clone();
    stale.persons[0].path = ["cp_gone".into(), "".into(), "".into()];
    let (street, conflicts) = street_tree("st", "s", &[&r1, &stale]);
    assert_eq!(street.additivity_violation(), None);
    assert_eq!(conflicts.len(), 1);
    assert_eq!(street.figures.residents_counted_elsewhere, 0);
}

// ---- sign-off ----

fn cases_of(r: &mut CommunityReplica) -> &mut AutoCommit {
    let id = DocId::Cases(r.community().clone());
    r.doc_mut(&id).unwrap()
}

fn sign(r: &mut CommunityReplica, s: &SignOff) {
    let cases = cases_of(r);
    signoff::put(cases, s).unwrap();
    cases.commit();
}

#[test]
fn a_sign_off_is_written_read_back_and_checked() {
    let mut r = fixture();
    let ru = rollup(&mut r);
    for bad in ["", "   ", &"名".repeat(65), "a\nb", "tab\there"] {
        match SignOff::of(&ru, bad, NOW) {
            Err(CoreError::Invalid(v)) => assert_eq!(v[0].field, "signed_by", "{bad:?}"),
            other => panic!("{bad:?}: expected Invalid, got {other:?}"),
        }
    }
    let s = SignOff::of(&ru, "  张主任 ", NOW).unwrap();
    // Only into a cases document.
    let reg = DocId::Registry(community());
    let heads = r.heads(&reg);
    let e = signoff::put(r.doc_mut(&reg).unwrap(), &s).unwrap_err();
    assert!(matches!(e, CoreError::Document { .. }), "{e}");
    assert_eq!(r.heads(&reg), heads);
    assert!(signoff::put(&mut AutoCommit::new(), &s).is_err());
    assert_eq!(
        (
            s.signed_by.as_str(),
            s.date,
            s.tz.as_str(),
            s.rollup_version,
            &s.heads,
            &s.digest
        ),
        (
            "张主任",
            day(),
            "Asia/Shanghai",
            ROLLUP_VERSION,
            &ru.heads,
            &ru.digest
        )
    );
    assert_eq!(signoff::get(cases_of(&mut r), day()), None);
    assert_eq!(signoff::state(None, &ru), SignOffState::NotSigned);
    sign(&mut r, &s);
    assert_eq!(signoff::get(cases_of(&mut r), day()), Some(s.clone()));
    assert_eq!(signoff::get(cases_of(&mut r), plus(day(), -1)), None);
    // Through the bytes, as the street gets it; the views still read.
    let bytes = cases_of(&mut r).save();
    let loaded = AutoCommit::load(&bytes).unwrap();
    assert_eq!(signoff::get(&loaded, day()), Some(s.clone()));
    r.reread();
    assert!(r.view().gaps().is_empty(), "{:?}", r.view().gaps());
    // Signing the same again changes nothing.
    let heads = cases_of(&mut r).get_heads();
    sign(&mut r, &s);
    assert_eq!(cases_of(&mut r).get_heads(), heads);

    // Signing wrote into the cases document; the figures are the same, so
    // the sign-off stands.
    let now = rollup(&mut r);
    assert_ne!(now.heads.cases, s.heads.cases);
    assert_eq!(
        signoff::state(Some(&s), &now),
        SignOffState::Signed {
            sign_off: s.clone()
        }
    );
    // An edit that changes no figure of the day: still signed.
    let mut h = r.view().households["hh_1"].clone();
    h.phone = Some("13900139000".into());
    apply(&mut r, vec![Edit::Update(Record::Household(h))]);
    assert!(matches!(
        signoff::state(Some(&s), &rollup(&mut r)),
        SignOffState::Signed { .. }
    ));
    // A rollup of another day says nothing about this one.
    let other = rollup_at(&mut r, &mut street_doc(), plus(day(), 1), SHANGHAI);
    assert!(matches!(
        signoff::state(Some(&s), &other),
        SignOffState::Signed { .. }
    ));

    // A later visit on that day.
    let mut later = fork(&mut r, 2);
    apply(
        &mut later,
        vec![Edit::Create(visit(
            activity_id(Kind::ScreeningVisit, 1),
            "hh_1",
            NOW,
        ))],
    );
    match signoff::state(Some(&s), &rollup(&mut later)) {
        SignOffState::ChangedSinceSignOff { sign_off, why } => {
            assert_eq!(sign_off, s);
            assert!(why.contains("activity of 2026-11-30"), "{why}");
            assert!(why.contains("figures changed"), "{why}");
        }
        other => panic!("expected ChangedSinceSignOff, got {other:?}"),
    }

    // A registry edit that changes that day's figures.
    apply(
        &mut r,
        vec![Edit::Create(Record::Household(household(
            "hh_2",
            "cp_a",
            "bd_a1",
            Some("cg_1"),
        )))],
    );
    match signoff::state(Some(&s), &rollup(&mut r)) {
        SignOffState::ChangedSinceSignOff { why, .. } => {
            assert!(why.contains("registry"), "{why}");
            assert!(!why.contains("activity"), "{why}");
        }
        other => panic!("expected ChangedSinceSignOff, got {other:?}"),
    }
}

#[test]
fn concurrent_sign_offs_read_as_the_latest_one_everywhere() {
    let mut a = fixture();
    let mut b = fork(&mut a, 2);
    let ru = rollup(&mut a);
    let early = SignOff::of(&ru, "甲", NOW).unwrap();
    let late = SignOff::of(&ru, "乙", NOW + 1000).unwrap();
    sign(&mut a, &late);
    sign(&mut b, &early);
    a.merge(&mut b).unwrap();
    b.merge(&mut a).unwrap();
    assert_eq!(signoff::get(cases_of(&mut a), day()), Some(late.clone()));
    assert_eq!(signoff::get(cases_of(&mut b), day()), Some(late));
}

#[test]
fn an_unreadable_sign_off_is_none() {
    let mut r = fixture();
    let key = signoff::key(day());
    let cases = cases_of(&mut r);
    cases.put(ROOT, key.as_str(), "not a sign-off").unwrap();
    cases.commit();
    assert_eq!(signoff::get(cases, day()), None);
    let obj = cases
        .put_object(ROOT, key.as_str(), automerge::ObjType::Map)
        .unwrap();
    cases.put(&obj, "signed_at_ms", "yesterday").unwrap();
    cases.commit();
    assert_eq!(signoff::get(cases, day()), None);
}

// ---- the daily report ----

const FIGURE_COLUMNS: [&str; 31] = [
    "households",
    "residents",
    "residents_counted_elsewhere",
    "households_contracted",
    "households_uncontracted",
    "households_screened",
    "households_unscreened",
    "screening_visits",
    "returnees_high",
    "returnees_medium",
    "returnees_low",
    "returnees_none",
    "isolating",
    "isolations_past_end",
    "elderly_alone",
    "care_relationships",
    "care_overdue",
    "care_visits",
    "tickets_opened",
    "tickets_open",
    "tickets_resolved",
    "resolve_lt_1h",
    "resolve_lt_4h",
    "resolve_lt_24h",
    "resolve_lt_72h",
    "resolve_ge_72h",
    "inspections",
    "inspections_knew_member",
    "party_members",
    "staff",
    "gaps",
];

const STAMP_COLUMNS: [&str; 13] = [
    "heads_registry",
    "heads_cases",
    "heads_day",
    "heads_street",
    "digest",
    "last_sync",
    "stale",
    "held",
    "digest_check",
    "sign_off",
    "signed_by",
    "signed_at",
    "unavailable",
];

fn stamp(r: &CommunityRollup, sign_off: SignOffState, check: DigestCheck) -> ReportStamp {
    ReportStamp {
        stamp: Stamp {
            community_id: r.community_id.clone(),
            heads: r.heads.clone(),
            digest: r.digest.clone(),
            last_sync_ms: Some(NOW - 5_000),
            stale: false,
            held: false,
            digest_check: check,
            unavailable: None,
        },
        sign_off,
    }
}

#[test]
fn the_daily_report_as_csv_and_json() {
    let mut c1 = new_community("aaa", 1);
    let mut c2 = new_community("bbb", 2);
    c1.set_community(
        &CommunityInfo {
            id: "aaa".into(),
            name: "桐柏路社区, \"东\"\n片".into(),
            kind: CommunityKind::Community,
        },
        &ctx(),
    )
    .unwrap();
    apply(
        &mut c2,
        vec![Edit::Create(Record::Household(household(
            "hh_2", "cp_a", "bd_a1", None,
        )))],
    );
    let r1 = rollup(&mut c1);
    let r2 = rollup(&mut c2);
    let s1 = SignOff::of(&r1, "张主任", NOW).unwrap();
    let (tree, conflicts) = street_tree("st", "建设路街道", &[&r1, &r2]);
    let report = DailyReport {
        street_id: "st".into(),
        as_of: day(),
        tz: "Asia/Shanghai".into(),
        rollup_version: ROLLUP_VERSION,
        generated_at_ms: NOW,
        tree,
        stamps: vec![
            stamp(&r1, signoff::state(Some(&s1), &r1), DigestCheck::Match),
            stamp(&r2, SignOffState::NotSigned, DigestCheck::NotReported),
        ],
        conflicts,
    };

    let json = report::to_json(&report);
    assert_eq!(serde_json::from_str::<DailyReport>(&json).unwrap(), report);

    let text = report::to_csv(&report);
    assert!(!text.contains('\r'), "line ends are \\n");
    let mut rd = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = rd.headers().unwrap().iter().map(str::to_string).collect();
    let mut want: Vec<&str> = vec![
        "level",
        "community_id",
        "compound_id",
        "building_id",
        "group_id",
        "name",
    ];
    want.extend(FIGURE_COLUMNS);
    want.extend(STAMP_COLUMNS);
    assert_eq!(header, want);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    let mut nodes = Vec::new();
    walk(&report.tree, &mut Vec::new(), &mut nodes);
    assert_eq!(rows.len(), count_nodes(&report.tree));
    assert_eq!(rows.len(), nodes.len());
    for (row, (path, node)) in rows.iter().zip(&nodes) {
        assert_eq!(row.len(), header.len());
        let level = serde_json::to_value(node.level).unwrap();
        assert_eq!(row.get(col("level")), level.as_str());
        assert_eq!(row.get(col("name")), Some(node.name.as_str()));
        // The ids below the street, each in its level's column.
        let ids: Vec<&str> = ["community_id", "compound_id", "building_id", "group_id"]
            .iter()
            .map(|c| row.get(col(c)).unwrap())
            .collect();
        let below: Vec<&str> = path[1..].to_vec();
        assert_eq!(&ids[..below.len()], &below[..]);
        assert!(ids[below.len()..].iter().all(|s| s.is_empty()));
        for (name, value) in node.figures.columns() {
            assert_eq!(
                row.get(col(name)),
                Some(value.to_string().as_str()),
                "{name}"
            );
        }
        let stamp_cells: Vec<&str> = STAMP_COLUMNS
            .iter()
            .map(|c| row.get(col(c)).unwrap())
            .collect();
        match node.level {
            Level::Street => assert!(stamp_cells.iter().all(|s| s.is_empty()), "{row:?}"),
            Level::Community => {
                let r = if node.id == "aaa" { &r1 } else { &r2 };
                assert_eq!(row.get(col("digest")), Some(r.digest.as_str()));
                assert_eq!(
                    row.get(col("heads_registry")),
                    Some(r.heads.registry.join(";").as_str())
                );
                assert_eq!(
                    row.get(col("heads_day")),
                    Some(r.heads.days[&day().to_string()].join(";").as_str())
                );
                assert_eq!(row.get(col("stale")), Some("false"));
                assert!(!row.get(col("last_sync")).unwrap().is_empty());
                if node.id == "aaa" {
                    assert_eq!(row.get(col("name")), Some("桐柏路社区, \"东\"\n片"));
                    assert_eq!(row.get(col("digest_check")), Some("match"));
                    assert_eq!(row.get(col("sign_off")), Some("signed"));
                    assert_eq!(row.get(col("signed_by")), Some("张主任"));
                    assert!(
                        row.get(col("signed_at"))
                            .unwrap()
                            .starts_with("2026-11-30T08:53")
                    );
                } else {
                    assert_eq!(row.get(col("digest_check")), Some("not_reported"));
                    assert_eq!(row.get(col("sign_off")), Some("not_signed"));
                    assert_eq!(row.get(col("signed_by")), Some(""));
                }
            }
            _ => {}
        }
    }
    // The community's own report: the same columns, community row first.
    let own = DailyReport {
        tree: r2.tree.clone(),
        stamps: vec![stamp(
            &r2,
            SignOffState::NotSigned,
            DigestCheck::NotReported,
        )],
        conflicts: vec![],
        ..report
    };
    let text = report::to_csv(&own);
    let mut rd = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), count_nodes(&r2.tree));
    assert_eq!(rows[0].get(0), Some("community"));
    assert_eq!(rows[0].get(1), Some("bbb"));
    assert_eq!(rows[0].get(col("digest")), Some(r2.digest.as_str()));
}

// ---- properties ----

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

#[test]
fn a_report_cell_a_spreadsheet_would_run_is_shown_as_text() {
    let mut c1 = new_community("aaa", 1);
    c1.set_community(
        &CommunityInfo {
            id: "aaa".into(),
            name: "=HYPERLINK(\"http://x\")".into(),
            kind: CommunityKind::Community,
        },
        &ctx(),
    )
    .unwrap();
    let r1 = rollup(&mut c1);
    let s1 = SignOff::of(&r1, "@签字", NOW).unwrap();
    let (tree, conflicts) = street_tree("st", "街道", &[&r1]);
    let report = DailyReport {
        street_id: "st".into(),
        as_of: day(),
        tz: "Asia/Shanghai".into(),
        rollup_version: ROLLUP_VERSION,
        generated_at_ms: NOW,
        tree,
        stamps: vec![stamp(
            &r1,
            signoff::state(Some(&s1), &r1),
            DigestCheck::Match,
        )],
        conflicts,
    };
    let text = report::to_csv(&report);
    let mut rd = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = rd.headers().unwrap().iter().map(str::to_string).collect();
    let col = |n: &str| header.iter().position(|h| h == n).unwrap();
    let row = rd
        .records()
        .map(|r| r.unwrap())
        .find(|r| &r[col("level")] == "community")
        .expect("the community's row");
    assert_eq!(&row[col("name")], "'=HYPERLINK(\"http://x\")");
    assert_eq!(&row[col("signed_by")], "'@签字");
    assert_eq!(
        row[col("households")],
        r1.tree.figures.households.to_string(),
        "numbers untouched"
    );
}
