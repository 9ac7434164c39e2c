//! Refusals other than bad input, each with its code (FailedPrecondition,
//! AlreadyExists, NotFound) and changing nothing; removing a record that
//! others point at is refused.

use gridsync_core::Kind;
use gridsync_proto::office::v1 as pb;
use gridsync_testkit::*;
use pb::record::Record as R;
use tonic::Code;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_have_their_codes_and_change_nothing() {
    let (_dir, node, mut c, t) = fixture_node().await;

    let before = store_state(&mut c).await;
    let st = assert_refused(
        try_remove(&mut c, "building", "bd_a1").await,
        Code::FailedPrecondition,
        "removing a building with a household",
    );
    assert!(st.message().contains("household"), "{}", st.message());
    assert_refused(
        try_remove(&mut c, "compound", "cp_b").await,
        Code::FailedPrecondition,
        "removing a compound with a building",
    );
    assert_refused(
        try_remove(&mut c, "household", "hh_1").await,
        Code::FailedPrecondition,
        "removing a household with residents",
    );
    assert_refused(
        try_remove(&mut c, "party_member", "pm_1").await,
        Code::FailedPrecondition,
        "removing a party member with a contract group",
    );
    assert_refused(
        try_remove(&mut c, "resident", "rs_1").await,
        Code::FailedPrecondition,
        "removing a resident with a care relationship",
    );
    let dup = wrap(R::Compound(pb::Compound {
        id: s("cp_a"),
        name: s("Another A"),
        address: None,
    }));
    assert_refused(
        try_create(&mut c, dup).await,
        Code::AlreadyExists,
        "a duplicate compound id",
    );
    let missing = wrap(R::Compound(pb::Compound {
        id: s("cp_zz"),
        name: s("Nowhere"),
        address: None,
    }));
    assert_refused(
        try_update(&mut c, missing).await,
        Code::NotFound,
        "updating a missing compound",
    );
    assert_refused(
        try_remove(&mut c, "compound", "cp_zz").await,
        Code::NotFound,
        "removing a missing compound",
    );
    let mut visit = good(Kind::ScreeningVisit, 1, &t);
    set_id(&mut visit, &client_id(Kind::ScreeningVisit, &t, "missing"));
    assert_refused(
        try_update(&mut c, visit.clone()).await,
        Code::NotFound,
        "updating a missing screening visit",
    );
    assert_eq!(get(&mut c, "compound", "cp_zz").await, None);
    assert_eq!(get(&mut c, "screening_visit", id_of(&visit)).await, None);
    assert_eq!(
        c.get_household(pb::GetHouseholdRequest { id: s("hh_zz") })
            .await
            .expect_err("no such household")
            .code(),
        Code::NotFound
    );
    assert_eq!(
        c.get_worklist(pb::GetWorklistRequest {
            contract_group_id: s("cg_zz"),
            day: s("")
        })
        .await
        .expect_err("no such group")
        .code(),
        Code::NotFound
    );
    assert_eq!(
        store_state(&mut c).await.only_docs_of(&before),
        before,
        "a refused request changed the store"
    );
    assert_eq!(
        get(&mut c, "compound", "cp_a")
            .await
            .map(|r| match r.record {
                Some(R::Compound(x)) => x.name,
                _ => String::new(),
            }),
        Some(s("Compound A")),
        "the duplicate overwrote the original"
    );

    // Activity ids are unique too.
    create(&mut c, visit.clone()).await;
    let before = store_state(&mut c).await;
    assert_refused(
        try_create(&mut c, visit).await,
        Code::AlreadyExists,
        "a duplicate screening visit id",
    );
    assert_eq!(store_state(&mut c).await, before);

    // Removing bottom-up works where top-down was refused.
    for (kind, id) in [
        ("care_relationship", "cr_1"),
        ("resident", "rs_3"),
        ("household", "hh_2"),
        ("building", "bd_b1"),
        ("compound", "cp_b"),
    ] {
        try_remove(&mut c, kind, id)
            .await
            .unwrap_or_else(|e| panic!("remove {kind} {id}: {e:?}"));
        assert_eq!(get(&mut c, kind, id).await, None, "{kind} {id}");
    }
    node.stop().await;
}

/// office.proto: RemoveRecord is "refused while other records still point
/// at it". Every reference a create checks must hold a removal back, or a
/// single office makes, alone, the dangling references that ListGaps reports
/// as the traces of concurrent edits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_record_others_point_at_is_refused() {
    let (_dir, node, mut c, t) = fixture_node().await;
    let compound = |id: &str| {
        wrap(R::Compound(pb::Compound {
            id: s(id),
            name: format!("Compound {id}"),
            address: None,
        }))
    };
    let staff = |id: &str, grid: Option<&str>| {
        wrap(R::Staff(pb::Staff {
            id: s(id),
            name: s("网格员乙"),
            role: pb::StaffRole::GridWorker as i32,
            grid_compound_id: grid.map(s),
            ..Default::default()
        }))
    };
    let ticket = |id: &str, cp: Option<&str>, sf: Option<&str>| {
        let mut r = good(Kind::Ticket, 7, &t);
        if let Some(R::Ticket(x)) = &mut r.record {
            x.id = s(id);
            x.assigned_compound_id = cp.map(s);
            x.assigned_staff_id = sf.map(s);
        }
        r
    };
    let mut resident = good(Kind::Resident, 7, &t);
    set_id(&mut resident, "rs_target");
    let mut returnee = good(Kind::Returnee, 7, &t);
    if let Some(R::Returnee(x)) = &mut returnee.record {
        x.id = s("rt_pointing");
        x.resident_id = s("rs_target");
    }
    let mut notice = good(Kind::Notice, 7, &t);
    if let Some(R::Notice(x)) = &mut notice.record {
        x.id = s("nt_pointing");
        x.compound_id = some("cp_notice");
    }
    // (what points, the records to make, the record pointed at)
    let cases: Vec<(&str, Vec<pb::Record>, (&str, &str))> = vec![
        (
            "staff.grid_compound_id",
            vec![compound("cp_grid"), staff("sf_pointing", Some("cp_grid"))],
            ("compound", "cp_grid"),
        ),
        (
            "ticket.assigned_compound_id",
            vec![
                compound("cp_ticket"),
                ticket("tk_pointing1", Some("cp_ticket"), None),
            ],
            ("compound", "cp_ticket"),
        ),
        (
            "notice.compound_id",
            vec![compound("cp_notice"), notice],
            ("compound", "cp_notice"),
        ),
        (
            "ticket.assigned_staff_id",
            vec![
                staff("sf_target", None),
                ticket("tk_pointing2", None, Some("sf_target")),
            ],
            ("staff", "sf_target"),
        ),
        (
            "returnee.resident_id",
            vec![resident, returnee],
            ("resident", "rs_target"),
        ),
    ];
    let gaps = |c: &mut Client| {
        let mut c = c.clone();
        async move {
            let mut g: Vec<String> = c
                .list_gaps(pb::ListGapsRequest { day: s("") })
                .await
                .expect("gaps")
                .into_inner()
                .gaps
                .into_iter()
                .map(|g| g.message)
                .collect();
            g.sort();
            g
        }
    };
    let mut failures = Vec::new();
    for (pointer, records, (kind, id)) in cases {
        for r in records {
            create(&mut c, r).await;
        }
        let gaps_before = gaps(&mut c).await;
        match try_remove(&mut c, kind, id).await {
            Err(st) if st.code() == Code::FailedPrecondition => {
                assert!(get(&mut c, kind, id).await.is_some(), "{kind} {id} is gone");
            }
            Err(st) => failures.push(format!(
                "removing {kind} {id} ({pointer} points at it): {:?} {}",
                st.code(),
                st.message()
            )),
            Ok(()) => {
                let new: Vec<String> = gaps(&mut c)
                    .await
                    .into_iter()
                    .filter(|g| !gaps_before.contains(g))
                    .collect();
                failures.push(format!(
                    "removing {kind} {id} was accepted though {pointer} points at it; new gaps: {new:?}"
                ));
            }
        }
    }
    node.stop().await;
    assert!(
        failures.is_empty(),
        "{} removals were not refused:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
