//! Bad input refused: every bad record and every malformed request is
//! refused with InvalidArgument naming the field, and changes nothing; a
//! refused activity edit leaves no day document behind.

use gridsync_core::Kind;
use gridsync_proto::office::v1 as pb;
use gridsync_testkit::*;
use pb::record::Record as R;
use tonic::{Code, Status};

use crate::common::*;

/// One refused request and the field its error must name.
enum Call {
    Create(Option<pb::Record>),
    Update(pb::Record),
    Get(&'static str, String),
    Remove(&'static str, String),
    List(pb::ListRecordsRequest),
    Household(String),
    Worklist(String, String),
    Overdue(String),
    Gaps(String),
    Import(usize),
}

struct Bad {
    what: String,
    call: Call,
    field: String,
}

async fn run(c: &mut Client, call: Call) -> Result<(), Status> {
    match call {
        Call::Create(r) => c
            .create_record(pb::CreateRecordRequest { record: r })
            .await
            .map(|_| ()),
        Call::Update(r) => try_update(c, r).await,
        Call::Get(kind, id) => c
            .get_record(pb::GetRecordRequest { kind: s(kind), id })
            .await
            .map(|_| ()),
        Call::Remove(kind, id) => try_remove(c, kind, &id).await,
        Call::List(req) => c.list_records(req).await.map(|_| ()),
        Call::Household(id) => c
            .get_household(pb::GetHouseholdRequest { id })
            .await
            .map(|_| ()),
        Call::Worklist(g, day) => c
            .get_worklist(pb::GetWorklistRequest {
                contract_group_id: g,
                day,
            })
            .await
            .map(|_| ()),
        Call::Overdue(as_of) => c
            .list_overdue_care(pb::ListOverdueCareRequest { as_of })
            .await
            .map(|_| ()),
        Call::Gaps(day) => c.list_gaps(pb::ListGapsRequest { day }).await.map(|_| ()),
        Call::Import(n) => c
            .import_roster(pb::ImportRosterRequest {
                rows: vec![pb::RosterRow::default(); n],
            })
            .await
            .map(|_| ()),
    }
}

/// Bad variants of `good(kind)`, each with the field its error must name.
fn bad_records(kind: Kind, t: &Times) -> Vec<Bad> {
    let g = good(kind, 900, t);
    let mut out = Vec::new();
    macro_rules! case {
        ($variant:ident, $field:expr, |$r:ident| $body:expr) => {{
            let mut rec = g.clone();
            match &mut rec.record {
                Some(R::$variant($r)) => {
                    $body;
                }
                _ => unreachable!(),
            }
            out.push(Bad {
                what: format!("{} with {}", kind.name(), stringify!($body)),
                call: Call::Create(Some(rec)),
                field: $field.to_string(),
            });
        }};
    }
    let wrong_check = {
        let mut n = id_number(RS2_FIRST17);
        let last = n.pop().expect("18 characters");
        n.push(if last == '0' { '1' } else { '0' });
        n
    };
    match kind {
        Kind::Compound => {
            case!(Compound, "compound.name", |r| r.name = s("  "));
            case!(Compound, "compound.name", |r| r.name = "x".repeat(101));
            case!(Compound, "compound.address", |r| r.address =
                some("a\u{1}b"));
            case!(Compound, "compound.id", |r| r.id = s("bd_wrongprefix"));
            case!(Compound, "compound.id", |r| r.id = s("CP A"));
            case!(Compound, "compound.id", |r| r.id =
                format!("cp_{}", "a".repeat(70)));
        }
        Kind::Building => {
            case!(Building, "building.compound_id", |r| r.compound_id =
                s("cp_nowhere"));
            case!(Building, "building.compound_id", |r| r.compound_id =
                s("CP A"));
            case!(Building, "building.name", |r| r.name = s(""));
        }
        Kind::ContractGroup => {
            case!(ContractGroup, "contract_group.party_member_id", |r| r
                .party_member_id =
                s("pm_nobody"));
        }
        Kind::Household => {
            case!(Household, "household.phone", |r| r.phone = some("12345"));
            case!(Household, "household.building_id", |r| r.building_id =
                s("bd_b1"));
            case!(Household, "household.contract_group_id", |r| r
                .contract_group_id =
                some("cg_none"));
            case!(Household, "household.door", |r| r.door = s(""));
            case!(Household, "household.head_name", |r| r.head_name =
                s("a\u{7}b"));
            case!(Household, "household.compound_id", |r| r.compound_id =
                s("cp_zz"));
        }
        Kind::Resident => {
            case!(Resident, "resident.id_number", |r| r.id_number =
                Some(wrong_check.clone()));
            case!(Resident, "resident.id_number", |r| r.id_number =
                some("4101021945"));
            // rs_1's number: the same person registered twice.
            case!(Resident, "resident.id_number", |r| {
                r.id_number = Some(id_number(RS1_FIRST17));
                r.birth_date = some("1945-03-02")
            });
            case!(Resident, "resident.birth_date", |r| r.birth_date =
                some("1951-01-01"));
            case!(Resident, "resident.birth_date", |r| r.birth_date =
                some("1950/01/01"));
            case!(Resident, "resident.household_id", |r| r.household_id =
                s("hh_gone"));
            case!(Resident, "resident.phone", |r| r.phone = some("1380013800"));
            case!(Resident, "resident.gender", |r| r.gender = 17);
            case!(Resident, "resident.name", |r| r.name = s(""));
        }
        Kind::PartyMember => {
            case!(PartyMember, "party_member.workplace", |r| r.workplace =
                None);
            case!(PartyMember, "party_member.resident_id", |r| r.resident_id =
                some("rs_nobody"));
            case!(PartyMember, "party_member.kind", |r| r.kind = 0);
        }
        Kind::Staff => {
            case!(Staff, "staff.role", |r| r.role = 0);
            case!(Staff, "staff.term_end", |r| r.term_end = some("2026-01-01"));
            case!(Staff, "staff.term_start", |r| r.term_start = None);
            case!(Staff, "staff.grid_compound_id", |r| r.grid_compound_id =
                some("cp_zz"));
            case!(Staff, "staff.term_end", |r| r.term_end = some("31/07/2027"));
        }
        Kind::VolunteerTeam => {
            case!(VolunteerTeam, "volunteer_team.name", |r| r.name = s(""));
        }
        Kind::Volunteer => {
            case!(Volunteer, "volunteer.team_id", |r| r.team_id =
                some("vt_zz"));
            case!(Volunteer, "volunteer.phone", |r| r.phone = some("phone"));
        }
        Kind::Isolation => {
            case!(Isolation, "isolation.planned_end", |r| r.planned_end =
                t.d(-5));
            case!(Isolation, "isolation.released_on", |r| r.released_on =
                Some(t.d(-3)));
            case!(Isolation, "isolation.resident_id", |r| r.resident_id =
                s("rs_zz"));
            case!(Isolation, "isolation.planned_end", |r| r.planned_end =
                s("2026-02-30"));
            case!(Isolation, "isolation.start", |r| r.start = s(""));
            case!(Isolation, "isolation.door_device", |r| r.door_device = 0);
        }
        Kind::CareRelationship => {
            case!(CareRelationship, "care_relationship.every_days", |r| r
                .every_days =
                0);
            case!(CareRelationship, "care_relationship.ended_on", |r| r
                .ended_on =
                Some(t.d(-30)));
            case!(CareRelationship, "care_relationship.since", |r| r.since =
                s("someday"));
            case!(CareRelationship, "care_relationship.resident_id", |r| r
                .resident_id =
                s("rs_zz"));
        }
        Kind::Ticket => {
            case!(Ticket, "ticket.resolution", |r| r.resolved_at_ms =
                Some(t.now - 1000));
            case!(Ticket, "ticket.resolved_at_ms", |r| {
                r.resolved_at_ms = Some(r.received_at_ms - 1);
                r.resolution = some("done")
            });
            case!(Ticket, "ticket.resolved_at_ms", |r| r.resolution =
                some("done"));
            case!(Ticket, "ticket.received_at_ms", |r| r.received_at_ms =
                1_700_000_000);
            case!(Ticket, "ticket.received_at_ms", |r| r.received_at_ms =
                t.now + 3 * 86_400_000);
            case!(Ticket, "ticket.assigned_staff_id", |r| r
                .assigned_staff_id =
                some("sf_zz"));
            case!(Ticket, "ticket.channel", |r| r.channel = 0);
        }
        Kind::Returnee => {
            case!(Returnee, "returnee.from_region", |r| r.from_region = s(""));
            case!(Returnee, "returnee.returned_on", |r| r.returned_on = s(""));
            case!(Returnee, "returnee.resident_id", |r| r.resident_id =
                s("rs_zz"));
        }
        Kind::Notice => {
            case!(Notice, "notice.channels", |r| r.channels.clear());
            case!(Notice, "notice.channels", |r| r.channels = vec![1, 1]);
            case!(Notice, "notice.body", |r| r.body = "x".repeat(5000));
            case!(Notice, "notice.channels[1]", |r| r.channels = vec![1, 0]);
            case!(Notice, "notice.channels[0]", |r| r.channels = vec![99]);
            case!(Notice, "notice.compound_id", |r| r.compound_id =
                some("cp_zz"));
        }
        Kind::ScreeningVisit => {
            let returned = |from: Option<String>, on: Option<String>| pb::ScreeningEntry {
                status: pb::ScreeningStatus::Returned as i32,
                returned_from: from,
                returned_on: on,
            };
            case!(
                ScreeningVisit,
                "screening_visit.residents[rs_1].returned_from",
                |r| r.residents.insert(s("rs_1"), returned(None, Some(t.d(-1))))
            );
            case!(
                ScreeningVisit,
                "screening_visit.residents[rs_1].returned_on",
                |r| r.residents.insert(s("rs_1"), returned(some("某市"), None))
            );
            case!(
                ScreeningVisit,
                "screening_visit.residents[rs_1].returned_on",
                |r| r
                    .residents
                    .insert(s("rs_1"), returned(some("某市"), Some(t.d(1))))
            );
            case!(
                ScreeningVisit,
                "screening_visit.residents[rs_1].returned_on",
                |r| r
                    .residents
                    .insert(s("rs_1"), returned(some("某市"), some("yesterday")))
            );
            case!(
                ScreeningVisit,
                "screening_visit.residents[rs_1].status",
                |r| r
                    .residents
                    .get_mut("rs_1")
                    .expect("rs_1 is in the good visit")
                    .returned_on = Some(t.d(-1))
            );
            case!(
                ScreeningVisit,
                "screening_visit.residents[rs_1].status",
                |r| r
                    .residents
                    .get_mut("rs_1")
                    .expect("rs_1 is in the good visit")
                    .status = 0
            );
            case!(ScreeningVisit, "screening_visit.residents[rs_3]", |r| r
                .residents
                .insert(
                    s("rs_3"),
                    pb::ScreeningEntry {
                        status: 1,
                        ..Default::default()
                    }
                ));
            case!(ScreeningVisit, "screening_visit.residents[rs_zz]", |r| r
                .residents
                .insert(
                    s("rs_zz"),
                    pb::ScreeningEntry {
                        status: 1,
                        ..Default::default()
                    }
                ));
            case!(ScreeningVisit, "screening_visit.household_id", |r| r
                .household_id =
                s("hh_zz"));
            case!(ScreeningVisit, "screening_visit.visitor", |r| r.visitor =
                s(" "));
            // Its id says today, its time says three days ago.
            case!(ScreeningVisit, "screening_visit.id", |r| {
                r.id = client_id(Kind::ScreeningVisit, t, "wrongday");
                r.visited_at_ms -= 3 * 86_400_000
            });
            case!(ScreeningVisit, "screening_visit.id", |r| r.id =
                s("sv_notaday_1"));
            // A visit two days ago of a household that does not exist: the
            // refused record must not leave that day's document behind.
            case!(ScreeningVisit, "screening_visit.household_id", |r| {
                r.household_id = s("hh_zz");
                r.visited_at_ms -= 2 * 86_400_000
            });
            case!(ScreeningVisit, "screening_visit.visited_at_ms", |r| r
                .visited_at_ms =
                5);
        }
        Kind::CareVisit => {
            case!(CareVisit, "care_visit.relationship_id", |r| r
                .relationship_id =
                s("cr_zz"));
            case!(CareVisit, "care_visit.visitor", |r| r.visitor = s(""));
        }
        Kind::Inspection => {
            case!(Inspection, "inspection.inspector", |r| r.inspector = s(""));
            case!(Inspection, "inspection.method", |r| r.method = 0);
            case!(Inspection, "inspection.household_id", |r| r.household_id =
                s("hh_zz"));
        }
    }
    out
}

/// Requests refused for their shape, not their record.
fn bad_requests(t: &Times) -> Vec<Bad> {
    let bad = |what: &str, call: Call, field: &str| Bad {
        what: s(what),
        call,
        field: s(field),
    };
    let hh1 = fixture_records(t)
        .into_iter()
        .find(|r| id_of(r) == "hh_1")
        .expect("hh_1 is in the fixture");
    let with_hh = |f: &dyn Fn(&mut pb::Household)| {
        let mut r = hh1.clone();
        if let Some(R::Household(h)) = &mut r.record {
            f(h);
        }
        r
    };
    let list = |kind: &str, day: &str, limit: u32| pb::ListRecordsRequest {
        kind: s(kind),
        day: s(day),
        limit,
        after_id: s(""),
    };
    vec![
        bad("create with no record", Call::Create(None), "record"),
        bad(
            "create with an empty record oneof",
            Call::Create(Some(pb::Record { record: None })),
            "record",
        ),
        bad(
            "update with an empty record oneof",
            Call::Update(pb::Record { record: None }),
            "record",
        ),
        bad(
            "update of hh_1 with a bad phone",
            Call::Update(with_hh(&|h| h.phone = some("12345"))),
            "household.phone",
        ),
        bad(
            "update of hh_1 into another compound's building",
            Call::Update(with_hh(&|h| h.building_id = s("bd_b1"))),
            "household.building_id",
        ),
        bad(
            "update with no id",
            Call::Update(with_hh(&|h| h.id = s(""))),
            "household.id",
        ),
        bad(
            "update with an id in capitals",
            Call::Update(with_hh(&|h| h.id = s("HH_1"))),
            "household.id",
        ),
        bad(
            "update of a staff member to no role",
            Call::Update(wrap(R::Staff(pb::Staff {
                id: s("sf_1"),
                name: s("网格员甲"),
                role: 0,
                ..Default::default()
            }))),
            "staff.role",
        ),
        bad(
            "get of an unknown kind",
            Call::Get("houses", s("hh_1")),
            "kind",
        ),
        bad("get of an empty kind", Call::Get("", s("hh_1")), "kind"),
        bad("get with no id", Call::Get("household", s("")), "id"),
        bad("get with a bad id", Call::Get("household", s("hh/1")), "id"),
        bad(
            "remove of an unknown kind",
            Call::Remove("Household", s("hh_1")),
            "kind",
        ),
        bad(
            "remove with a bad id",
            Call::Remove("household", s("../hh_1")),
            "id",
        ),
        bad(
            "list with limit 999999",
            Call::List(list("household", "", 999_999)),
            "limit",
        ),
        bad(
            "list of an unknown kind",
            Call::List(list("households", "", 10)),
            "kind",
        ),
        bad(
            "list with a malformed day",
            Call::List(list("screening_visit", "2026-13-01", 10)),
            "day",
        ),
        bad("household with no id", Call::Household(s("")), "id"),
        bad(
            "worklist with no group",
            Call::Worklist(s(""), s("")),
            "contract_group_id",
        ),
        bad(
            "worklist with a malformed day",
            Call::Worklist(s("cg_1"), s("tomorrow")),
            "day",
        ),
        bad(
            "overdue care as of a malformed day",
            Call::Overdue(s("29/11/2026")),
            "as_of",
        ),
        bad(
            "gaps with a malformed day",
            Call::Gaps(s("2026-11-31")),
            "day",
        ),
        bad("import of 2001 rows", Call::Import(2001), "rows"),
    ]
}

/// Whether `message` (errors joined by "; ", each "field: reason") names `field`.
fn names_field(message: &str, field: &str) -> bool {
    message
        .split("; ")
        .any(|part| part.starts_with(&format!("{field}: ")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_names_the_field_and_changes_nothing() {
    let (_dir, node, mut c, t) = fixture_node().await;
    let mut cases = bad_requests(&t);
    for &kind in Kind::ALL {
        let mine = bad_records(kind, &t);
        assert!(!mine.is_empty(), "no bad cases for {kind}");
        cases.extend(mine);
    }
    let total = cases.len();
    let mut failures = Vec::new();
    for case in cases {
        let before = store_state(&mut c).await;
        let res = run(&mut c, case.call).await;
        let after = store_state(&mut c).await;
        // A document that appears out of nothing is checked by
        // `a_refused_activity_edit_leaves_no_day_document_behind`.
        let after = after.only_docs_of(&before);
        match res {
            Ok(()) => failures.push(format!("{}: accepted", case.what)),
            Err(st) if st.code() != Code::InvalidArgument => failures.push(format!(
                "{}: expected InvalidArgument naming {}, got {:?}: {}",
                case.what,
                case.field,
                st.code(),
                st.message()
            )),
            Err(st) if !names_field(st.message(), &case.field) => failures.push(format!(
                "{}: the error does not name {}: {}",
                case.what,
                case.field,
                st.message()
            )),
            Err(_) => {}
        }
        if before != after {
            failures.push(format!(
                "{}: the refused request changed the store:\n  before {before:?}\n  after  {after:?}",
                case.what
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} bad requests went wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Still fully working afterwards.
    create(&mut c, good(Kind::Household, 1, &t)).await;
    node.stop().await;
}

/// A refused activity edit must leave nothing behind, not even the empty
/// document of the day it named: `Office::apply` starts (`ensure_day`) the
/// day's document before the edit is validated, a refusal leaves that
/// unsaved genesis in memory, and the next acknowledged write commits it to
/// the store. So any bad instant (`visited_at_ms: 5` → 1970-01-01) makes a
/// stored document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_activity_edit_leaves_no_day_document_behind() {
    let (dir, node, mut c, t) = fixture_node().await;
    let before = store_state(&mut c).await;
    assert!(
        before
            .heads_of(&format!("activity/{COMMUNITY}/"))
            .is_empty(),
        "the fixture has no activity yet: {before:?}"
    );
    let mut epoch = good(Kind::ScreeningVisit, 1, &t);
    if let Some(R::ScreeningVisit(v)) = &mut epoch.record {
        v.visited_at_ms = 5;
    }
    assert_refused(
        try_create(&mut c, epoch).await,
        Code::InvalidArgument,
        "a visit in 1970",
    );
    let mut nowhere = good(Kind::Inspection, 1, &t);
    if let Some(R::Inspection(v)) = &mut nowhere.record {
        v.household_id = s("hh_zz");
        v.inspected_at_ms -= 2 * 86_400_000;
    }
    assert_refused(
        try_create(&mut c, nowhere).await,
        Code::InvalidArgument,
        "an inspection two days ago of no household",
    );
    let mut missing = good(Kind::CareVisit, 1, &t);
    set_id(&mut missing, &client_id(Kind::CareVisit, &t, "missing"));
    assert_refused(
        try_update(&mut c, missing).await,
        Code::NotFound,
        "an update of a missing care visit",
    );
    let after = store_state(&mut c).await;
    let appeared = after.docs_not_in(&before);

    // One acknowledged write, then a restart: a refused request's document
    // must not be in the store.
    create(&mut c, good(Kind::Compound, 1, &t)).await;
    node.stop().await;
    let node = InProcessNode::start(dir.path()).await;
    let mut c = node.client().await;
    assert!(
        list_all(&mut c, "screening_visit", "1970-01-01", 0)
            .await
            .is_empty()
    );
    assert!(list_all(&mut c, "inspection", &t.d(-2), 0).await.is_empty());
    let stored = store_state(&mut c).await;
    let stored: Vec<&String> = stored
        .heads
        .iter()
        .map(|(d, _)| d)
        .filter(|d| d.starts_with("activity/"))
        .collect();
    node.stop().await;
    assert!(
        appeared.is_empty() && stored.is_empty(),
        "refused activity edits made documents: after the refusals GetStatus lists {appeared:?} \
         that were not there before; after one good write and a restart the store holds {stored:?}"
    );
}
