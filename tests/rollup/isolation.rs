//! One community busy applying a message stalls neither another community
//! nor the operators: with c01's lock held for as long as the test likes
//! (as a session applying a long message holds it), c02 converges, the
//! street's rollup answers with c01 as it last was, and a ticket for c01 is
//! refused as busy after its bounded wait while one for c02 is filed. Were
//! anything to wait on c01's lock, the test would never get past it.

use gridsync_core::CommunityId;
use gridsync_core::sync::FrameLimits;
use gridsync_testkit::street::*;
use tonic::Code;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_busy_community_stalls_neither_another_community_nor_the_operators() {
    let pki = Pki::new();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let coord = TestCoordinator::start(dirs[0].path(), &pki, 0, FrameLimits::default()).await;
    let mut op = coord.operator(&pki).await;
    register(&mut op, &["c01", "c02"]).await;
    let link = |c: &str| {
        Some(test_link_config(
            coord.addr,
            &pki.node(c),
            FrameLimits::default(),
        ))
    };
    let n1 = TestNode::start(dirs[1].path(), "c01", link("c01")).await;
    let n2 = TestNode::start(dirs[2].path(), "c02", link("c02")).await;
    populate(&n1, "A", 3).await;
    populate(&n2, "B", 2).await;
    assert!(eventually(WITHIN, || converged(&n1, &coord)).await);
    assert!(eventually(WITHIN, || converged(&n2, &coord)).await);
    let before = street_rollup(&mut op).await;
    assert_eq!(figures(community(&before, "c01")).households, 3);

    let replicas = coord.replicas.clone();
    let c01 = CommunityId::parse("c01").unwrap();
    let hold = tokio::task::spawn_blocking(move || replicas.hold_community(&c01))
        .await
        .unwrap();

    // c01's node edits; its message waits on the held lock.
    populate(&n1, "C", 1).await;
    // c02 syncs as if nothing were going on.
    populate(&n2, "D", 2).await;
    assert!(
        eventually(WITHIN, || converged(&n2, &coord)).await,
        "c02 converges while c01 is busy"
    );

    // The operators' rollup answers: c02 current, c01 as it was last served.
    let during = street_rollup(&mut op).await;
    assert_eq!(figures(community(&during, "c02")).households, 4);
    assert_eq!(figures(community(&during, "c01")).households, 3);
    let s = stamp(&during, "c01");
    assert!(s.unavailable.is_empty(), "c01 was served today: {s:?}");
    assert_additive(during.tree.as_ref().unwrap());
    // A date nothing was served for: c01 is marked, the street goes on.
    let yesterday = op
        .get_rollup(gridsync_proto::rollup::v1::RollupRequest {
            as_of: "2026-01-02".into(),
            ..Default::default()
        })
        .await
        .expect("the rollup of another date")
        .into_inner();
    let s = stamp(&yesterday, "c01");
    assert!(s.unavailable.contains("busy"), "{s:?}");
    assert!(stamp(&yesterday, "c02").unavailable.is_empty());
    op.list_communities(gridsync_proto::street::v1::ListCommunitiesRequest {})
        .await
        .expect("the communities");

    // A ticket for c02 is filed; one for c01 is refused as busy, in time.
    op.dispatch_ticket(dispatched_ticket("c02", "楼道堆物"))
        .await
        .expect("a ticket for c02");
    let e = op
        .dispatch_ticket(dispatched_ticket("c01", "楼道堆物"))
        .await
        .expect_err("c01 is busy");
    assert_eq!(e.code(), Code::Unavailable, "{e:?}");
    assert!(e.message().contains("busy"), "{}", e.message());

    // Released, c01 catches up and its figures move on.
    tokio::task::spawn_blocking(move || drop(hold))
        .await
        .unwrap();
    assert!(eventually(WITHIN, || converged(&n1, &coord)).await);
    let after = street_rollup(&mut op).await;
    assert_eq!(figures(community(&after, "c01")).households, 4);
    assert!(stamp(&after, "c01").unavailable.is_empty());
    n1.stop().await;
    n2.stop().await;
    coord.stop().await;
}
