//! The office queries answer from the records: the tree, one household, a
//! contract group's worklist, returnees found by screening, overdue care,
//! open tickets and gaps. One test on one fixture, in named steps that run
//! in order (each step sees what the ones before it made).

use gridsync_core::Kind;
use gridsync_proto::office::v1 as pb;
use gridsync_testkit::*;
use pb::record::Record as R;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_answer_from_the_records() {
    let (_dir, node, mut c, t) = fixture_node().await;
    step_tree_of_the_fixture(&mut c).await;
    let hh = step_a_new_household_shows_in_the_counts(&mut c, &t).await;
    step_one_household(&mut c).await;
    step_the_worklist(&mut c, &t, &hh).await;
    step_a_return_found_by_a_visit_is_a_returnee(&mut c, &t).await;
    step_overdue_care(&mut c, &t).await;
    step_open_tickets(&mut c, &t).await;
    step_gaps(&mut c).await;
    node.stop().await;
}

/// The tree.
async fn step_tree_of_the_fixture(c: &mut Client) {
    let tree = c
        .get_tree(pb::GetTreeRequest {})
        .await
        .expect("tree")
        .into_inner();
    assert_eq!(
        tree.community.as_ref().map(|x| x.id.as_str()),
        Some(COMMUNITY)
    );
    assert_eq!((tree.households, tree.residents), (2, 3));
    assert_eq!(tree.unplaced_households, 0);
    let names: Vec<&str> = tree.compounds.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(names, ["Compound A", "Compound B"]);
    let a = &tree.compounds[0];
    assert_eq!((a.households, a.residents), (1, 2));
    assert_eq!(a.buildings.len(), 1);
    let a1 = &a.buildings[0];
    assert_eq!(
        (a1.id.as_str(), a1.households, a1.residents),
        ("bd_a1", 1, 2)
    );
    assert_eq!(a1.groups.len(), 1);
    assert_eq!(a1.groups[0].contract_group_id.as_deref(), Some("cg_1"));
    assert_eq!(a1.groups[0].member_name.as_deref(), Some("王党员"));
    let h: Vec<(&str, &str, u32)> = a1.groups[0]
        .households
        .iter()
        .map(|h| (h.id.as_str(), h.label.as_str(), h.residents))
        .collect();
    assert_eq!(h, [("hh_1", "1-101", 2)]);
    let b1 = &tree.compounds[1].buildings[0];
    assert_eq!(b1.groups.len(), 1);
    assert_eq!(b1.groups[0].contract_group_id, None);
    assert_eq!(b1.groups[0].households[0].label, "202");
}

/// A new household and resident show in the counts.
async fn step_a_new_household_shows_in_the_counts(c: &mut Client, t: &Times) -> pb::Record {
    let hh = create(c, good(Kind::Household, 1, t)).await;
    let mut res = good(Kind::Resident, 1, t);
    if let Some(R::Resident(r)) = &mut res.record {
        r.household_id = s(id_of(&hh));
    }
    create(c, res).await;
    let tree = c
        .get_tree(pb::GetTreeRequest {})
        .await
        .expect("tree")
        .into_inner();
    assert_eq!((tree.households, tree.residents), (3, 4));
    assert_eq!(
        (
            tree.compounds[0].buildings[0].households,
            tree.compounds[0].buildings[0].residents
        ),
        (2, 3)
    );
    hh
}

/// One household.
async fn step_one_household(c: &mut Client) {
    let d = c
        .get_household(pb::GetHouseholdRequest { id: s("hh_1") })
        .await
        .expect("hh_1")
        .into_inner();
    assert_eq!(d.household.as_ref().map(|h| h.id.as_str()), Some("hh_1"));
    let mut ids: Vec<&str> = d.residents.iter().map(|r| r.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["rs_1", "rs_2"]);
    assert_eq!(d.compound_name.as_deref(), Some("Compound A"));
    assert_eq!(d.building_name.as_deref(), Some("Building A1"));
    assert_eq!(d.member.as_ref().map(|m| m.id.as_str()), Some("pm_1"));
    let d2 = c
        .get_household(pb::GetHouseholdRequest { id: s("hh_2") })
        .await
        .expect("hh_2")
        .into_inner();
    assert_eq!(d2.member, None);
    assert_eq!(d2.residents.len(), 1);
}

/// The worklist: screened goes from 0 to 1 with a visit.
async fn step_the_worklist(c: &mut Client, t: &Times, hh: &pb::Record) {
    let worklist = |c: &mut Client| {
        let mut c = c.clone();
        let day = t.today();
        async move {
            c.get_worklist(pb::GetWorklistRequest {
                contract_group_id: s("cg_1"),
                day,
            })
            .await
            .expect("worklist")
            .into_inner()
        }
    };
    let w = worklist(c).await;
    assert_eq!(w.day, t.today());
    assert_eq!(w.screened, 0);
    let items: Vec<&str> = w.items.iter().map(|i| i.household_id.as_str()).collect();
    assert_eq!(items.len(), 2, "{items:?}");
    assert!(items.contains(&"hh_1") && items.contains(&id_of(hh)));
    assert!(w.items.iter().all(|i| i.visit_ids.is_empty()));
    let visit = create(c, good(Kind::ScreeningVisit, 1, t)).await;
    let w = worklist(c).await;
    assert_eq!(w.screened, 1);
    let hh1 = w
        .items
        .iter()
        .find(|i| i.household_id == "hh_1")
        .expect("hh_1 in the worklist");
    assert_eq!(hh1.visit_ids, [id_of(&visit)]);
    assert_eq!(hh1.residents, 2);
    assert_eq!(hh1.building_name, "Building A1");
    // Another day's worklist is not screened.
    let other = c
        .get_worklist(pb::GetWorklistRequest {
            contract_group_id: s("cg_1"),
            day: t.d(-1),
        })
        .await
        .expect("yesterday's worklist")
        .into_inner();
    assert_eq!(other.screened, 0);
}

/// A return found by a screening visit becomes a returnee case.
async fn step_a_return_found_by_a_visit_is_a_returnee(c: &mut Client, t: &Times) {
    let returnees_before = list_all(c, "returnee", "", 0).await.len();
    let mut ret = good(Kind::ScreeningVisit, 2, t);
    if let Some(R::ScreeningVisit(v)) = &mut ret.record {
        v.residents.insert(
            s("rs_2"),
            pb::ScreeningEntry {
                status: pb::ScreeningStatus::Returned as i32,
                returned_from: some("某市"),
                returned_on: Some(t.d(-1)),
            },
        );
    }
    let ret = create(c, ret).await;
    let returnees = list_all(c, "returnee", "", 0).await;
    assert_eq!(returnees.len(), returnees_before + 1);
    assert!(returnees.iter().any(|r| matches!(&r.record,
        Some(R::Returnee(x)) if x.resident_id == "rs_2"
            && x.returned_on == t.d(-1)
            && x.visit_id.as_deref() == Some(id_of(&ret)))));
}

/// Overdue care: cr_1 started ten days ago, every two days, never visited.
async fn step_overdue_care(c: &mut Client, t: &Times) {
    let overdue = |c: &mut Client, as_of: String| {
        let mut c = c.clone();
        async move {
            c.list_overdue_care(pb::ListOverdueCareRequest { as_of })
                .await
                .expect("overdue care")
                .into_inner()
                .items
        }
    };
    let items = overdue(c, t.today()).await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(
        items[0].relationship.as_ref().map(|r| r.id.as_str()),
        Some("cr_1")
    );
    assert_eq!(items[0].due_on, t.d(-8));
    assert_eq!(items[0].days_overdue, 8);
    assert_eq!(items[0].resident_name.as_deref(), Some("李四"));
    // A care visit today moves last_visit to today: no longer overdue.
    create(c, good(Kind::CareVisit, 1, t)).await;
    match get(c, "care_relationship", "cr_1")
        .await
        .and_then(|r| r.record)
    {
        Some(R::CareRelationship(r)) => assert_eq!(r.last_visit, Some(t.today())),
        other => panic!("cr_1: {other:?}"),
    }
    assert!(overdue(c, t.today()).await.is_empty());
    let later = overdue(c, t.d(5)).await;
    assert_eq!(later.len(), 1);
    assert_eq!(
        (later[0].due_on.clone(), later[0].days_overdue),
        (t.d(2), 3)
    );
}

/// Open tickets, oldest first; a resolved one is not open.
async fn step_open_tickets(c: &mut Client, t: &Times) {
    let ticket = |n: u32, age_ms: i64| {
        let mut r = good(Kind::Ticket, n, t);
        if let Some(R::Ticket(x)) = &mut r.record {
            x.received_at_ms = t.now - age_ms;
        }
        r
    };
    let newer = create(c, ticket(1, 3_600_000)).await;
    let older = create(c, ticket(2, 7_200_000)).await;
    let mut resolved = ticket(3, 10_800_000);
    if let Some(R::Ticket(x)) = &mut resolved.record {
        x.resolved_at_ms = Some(t.now - 1_000);
        x.resolution = some("已办结");
    }
    create(c, resolved).await;
    let open = |c: &mut Client| {
        let mut c = c.clone();
        async move {
            c.list_open_tickets(pb::ListOpenTicketsRequest {})
                .await
                .expect("open tickets")
                .into_inner()
                .items
        }
    };
    let items = open(c).await;
    let ids: Vec<String> = items
        .iter()
        .map(|i| i.ticket.as_ref().map(|x| x.id.clone()).unwrap_or_default())
        .collect();
    assert_eq!(ids, [s(id_of(&older)), s(id_of(&newer))]);
    assert!(items[0].age_ms >= 7_200_000, "{}", items[0].age_ms);
    let mut close = older.clone();
    if let Some(R::Ticket(x)) = &mut close.record {
        x.resolved_at_ms = Some(now_ms());
        x.resolution = some("已办结");
    }
    try_update(c, close).await.expect("close the ticket");
    let ids: Vec<String> = open(c)
        .await
        .iter()
        .map(|i| i.ticket.as_ref().map(|x| x.id.clone()).unwrap_or_default())
        .collect();
    assert_eq!(ids, [s(id_of(&newer))]);
}

/// Gaps: hh_2 has no contract group; once it has one, no gap.
async fn step_gaps(c: &mut Client) {
    let gaps = |c: &mut Client| {
        let mut c = c.clone();
        async move {
            c.list_gaps(pb::ListGapsRequest { day: s("") })
                .await
                .expect("gaps")
                .into_inner()
                .gaps
        }
    };
    let g = gaps(c).await;
    assert!(
        g.iter()
            .any(|x| x.kind == "household" && x.id == "hh_2" && x.code == "no_contract_group"),
        "{g:?}"
    );
    assert!(!g.iter().any(|x| x.id == "hh_1"), "{g:?}");
    let status = c
        .get_status(pb::GetStatusRequest {})
        .await
        .expect("status")
        .into_inner();
    assert_eq!(status.gaps, g.len() as u64);
    let mut hh2 = get(c, "household", "hh_2").await.expect("hh_2");
    if let Some(R::Household(x)) = &mut hh2.record {
        x.contract_group_id = some("cg_1");
    }
    try_update(c, hh2).await.expect("give hh_2 a group");
    let g = gaps(c).await;
    assert!(!g.iter().any(|x| x.id == "hh_2"), "{g:?}");
}
