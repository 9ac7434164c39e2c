//! Digests over real gRPC with mutual TLS on loopback: a node cut off while
//! both sides edit, then healed, converges to the union and its digest
//! matches the coordinator's; a digest that differs at the same heads is
//! reported as a mismatch, and bad reports change nothing; a node holding
//! the current street figures is not sent them again.

use gridsync_core::sync::FrameLimits;
use gridsync_proto::rollup::v1 as rpb;
use gridsync_proto::sync::v1 as sypb;
use gridsync_sync::tls::TokenInterceptor;
use gridsync_testkit::now_ms;
use gridsync_testkit::proxy::FaultProxy;
use gridsync_testkit::street::*;
use gridsync_testkit::{TIME_ZONE, day_of};

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_cut_off_while_both_sides_edit_converges_to_the_union_with_matching_digests() {
    let pki = Pki::new();
    let (cdir, d1, d2) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let coord = TestCoordinator::start(cdir.path(), &pki, 0, FrameLimits::default()).await;
    let mut op = coord.operator(&pki).await;
    register(&mut op, &["c01", "c02"]).await;
    let proxy = FaultProxy::start("127.0.0.1:0".parse().unwrap(), coord.addr)
        .await
        .expect("proxy");
    let n1 = TestNode::start(
        d1.path(),
        "c01",
        Some(test_link_config(
            proxy.local_addr(),
            &pki.node("c01"),
            FrameLimits::default(),
        )),
    )
    .await;
    let n2 = TestNode::start(
        d2.path(),
        "c02",
        Some(test_link_config(
            coord.addr,
            &pki.node("c02"),
            FrameLimits::default(),
        )),
    )
    .await;
    let hh1 = populate(&n1, "A", 6).await;
    populate(&n2, "B", 4).await;
    assert!(
        eventually(WITHIN, || converged(&n1, &coord)).await,
        "c01 did not converge"
    );
    assert!(
        eventually(WITHIN, || converged(&n2, &coord)).await,
        "c02 did not converge"
    );
    step_cut_off_and_edit_on_both_sides(&proxy, &n1, &mut op, &hh1).await;
    step_heal_and_match_the_union(&proxy, &n1, &n2, &coord, &mut op).await;
    n1.stop().await;
    n2.stop().await;
    coord.stop().await;
}

/// Cut c01 off; edit on both sides.
async fn step_cut_off_and_edit_on_both_sides(
    proxy: &FaultProxy,
    n1: &TestNode,
    op: &mut Operator,
    hh1: &[String],
) {
    proxy.cut();
    assert!(
        eventually(WITHIN, || async { !n1.link_status().connected }).await,
        "the node did not notice the cut"
    );
    let before = street_rollup(op).await;
    for i in 0..3 {
        let h = n1
            .create(household(
                &{
                    let v = n1.run(|o| o.view().compounds.keys().next().cloned()).await;
                    v.expect("a compound")
                },
                &n1.run(|o| o.view().buildings.keys().next().cloned())
                    .await
                    .expect("a building"),
                &format!("X{i}"),
            ))
            .await;
        visit(n1, h.id(), Default::default()).await;
    }
    visit(n1, &hh1[1], Default::default()).await;
    op.dispatch_ticket(ticket("停电 power cut"))
        .await
        .expect("dispatch");
    op.put_street_record(risk_region("某省某市"))
        .await
        .expect("risk region");
    let during = street_rollup(op).await;
    assert_additive(during.tree.as_ref().unwrap());
    let c01_during = figures(community(&during, "c01"));
    assert_eq!(
        c01_during.households,
        figures(community(&before, "c01")).households,
        "the coordinator cannot see the node's offline households"
    );
    assert_eq!(
        c01_during.tickets_opened, 1,
        "the dispatched ticket counts at once"
    );
}

/// Heal: converged, and the node's digest matches the coordinator's.
async fn step_heal_and_match_the_union(
    proxy: &FaultProxy,
    n1: &TestNode,
    n2: &TestNode,
    coord: &TestCoordinator,
    op: &mut Operator,
) {
    proxy.heal();
    assert!(
        eventually(WITHIN, || converged(n1, coord)).await,
        "c01 did not converge after the heal"
    );
    let ok = eventually(WITHIN, || async {
        let r = street_rollup(&mut op.clone()).await;
        r.stamps
            .iter()
            .all(|s| s.digest_state == rpb::DigestState::Match as i32)
    })
    .await;
    let after = street_rollup(op).await;
    assert!(ok, "digests did not all match: {:?}", after.stamps);
    assert_additive(after.tree.as_ref().unwrap());
    let today = day_of(now_ms());
    let expected = oracle(n1, coord, today).await;
    let s = stamp(&after, "c01");
    assert_eq!(
        s.digest, expected.digest,
        "the coordinator's figures are not those of the union"
    );
    let f = figures(community(&after, "c01"));
    assert_eq!(f.households, 9);
    assert_eq!(f.households, expected.tree.figures.households);
    assert_eq!(
        f.households_screened,
        expected.tree.figures.households_screened
    );
    assert_eq!(
        f.screening_visits,
        3 + 3 + 1,
        "6 households half visited, 3 new ones, 1 more"
    );
    assert_eq!(f.tickets_opened, 1);
    let node_digest = n1
        .run(move |o| o.rollup(today, TIME_ZONE, now_ms()).expect("rollup").digest)
        .await;
    assert_eq!(node_digest, expected.digest, "the node's own digest");
    let street = figures(after.tree.as_ref().unwrap());
    assert_eq!(street.households, 9 + 4);
    // The node keeps a read-only copy of the street's top figures.
    let ok = eventually(WITHIN, || async {
        let summary = n2.run(|o| o.street_summary()).await;
        summary.is_some_and(|(r, _)| {
            r.tree.as_ref().is_some_and(|t| {
                t.children.len() == 2 && t.figures.as_ref().is_some_and(|f| f.households == 13)
            })
        })
    })
    .await;
    assert!(ok, "node c02 has no current copy of the street's figures");
}

type SyncClient = sypb::sync_client::SyncClient<
    tonic::codegen::InterceptedService<tonic::transport::Channel, TokenInterceptor>,
>;

async fn sync_client(coord: &TestCoordinator, auth: &gridsync_sync::tls::ClientAuth) -> SyncClient {
    let ep =
        gridsync_sync::tls::endpoint(&format!("https://localhost:{}", coord.addr.port()), auth)
            .expect("endpoint");
    let channel = ep.connect().await.expect("connect");
    sypb::sync_client::SyncClient::with_interceptor(
        channel,
        TokenInterceptor::new(auth).expect("interceptor"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_digest_that_differs_at_the_same_heads_is_reported_as_a_mismatch() {
    let Street {
        pki,
        dir: _cdir,
        coord,
        mut op,
    } = street(&["c01", "c02"]).await;
    let r = street_rollup(&mut op).await;
    let ours = stamp(&r, "c02").clone();
    assert_eq!(r.tree.as_ref().unwrap().name, "测试街道 test street");
    assert_eq!(ours.digest_state, rpb::DigestState::NotReported as i32);
    let mut client = sync_client(&coord, &pki.node("c02")).await;
    let digest = |d: &str| rpb::NodeDigest {
        as_of: r.as_of.clone(),
        tz: r.tz.clone(),
        rollup_version: r.rollup_version,
        heads: ours.heads.clone(),
        digest: d.into(),
        computed_at_ms: now_ms(),
    };
    // The same heads, another digest (say, another version's rules).
    let bogus = "ab".repeat(32);
    let summary = client
        .report(sypb::NodeReport {
            community_id: "c02".into(),
            digest: Some(digest(&bogus)),
        })
        .await
        .expect("report")
        .into_inner();
    assert_eq!(
        summary.tree.as_ref().unwrap().children.len(),
        2,
        "the street's top figures: both communities"
    );
    assert!(
        summary
            .tree
            .as_ref()
            .unwrap()
            .children
            .iter()
            .all(|c| c.children.is_empty())
    );
    // Of another community a node learns the figures and the freshness,
    // nothing of its documents, sign-off or people.
    let other = summary
        .stamps
        .iter()
        .find(|s| s.community_id == "c01")
        .expect("c01's freshness");
    assert!(other.heads.is_none(), "{other:?}");
    assert!(
        other.digest.is_empty() && other.sign_off.is_none(),
        "{other:?}"
    );
    assert!(summary.conflicts.is_empty());
    let own = summary
        .stamps
        .iter()
        .find(|s| s.community_id == "c02")
        .expect("its own stamp");
    assert_eq!(own.digest, ours.digest);
    let r2 = street_rollup(&mut op).await;
    let s = stamp(&r2, "c02");
    assert_eq!(s.digest_state, rpb::DigestState::Mismatch as i32, "{s:?}");
    assert_eq!(s.node_digest, bogus);
    // The right digest: a match.
    client
        .report(sypb::NodeReport {
            community_id: "c02".into(),
            digest: Some(digest(&ours.digest)),
        })
        .await
        .expect("report");
    let r3 = street_rollup(&mut op).await;
    assert_eq!(
        stamp(&r3, "c02").digest_state,
        rpb::DigestState::Match as i32
    );

    // Bad reports change nothing.
    let err = client
        .report(sypb::NodeReport {
            community_id: "c02".into(),
            digest: Some(digest("not hex")),
        })
        .await
        .expect_err("a digest that is not hex");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("digest"), "{}", err.message());
    let err = client
        .report(sypb::NodeReport {
            community_id: "c01".into(),
            digest: Some(digest(&bogus)),
        })
        .await
        .expect_err("another community");
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    let mut bad_tz = digest(&bogus);
    bad_tz.tz = "Mars/Olympus".into();
    let err = client
        .report(sypb::NodeReport {
            community_id: "c02".into(),
            digest: Some(bad_tz),
        })
        .await
        .expect_err("an unknown zone");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    let r4 = street_rollup(&mut op).await;
    assert_eq!(
        stamp(&r4, "c02").digest_state,
        rpb::DigestState::Match as i32
    );
    coord.stop().await;
}

/// A node that states the tag of the street's figures it holds is answered
/// with its own stamp and the time only while they stay the same, and with
/// the figures again once they change; its copy, brought up to date with
/// the answer, carries the tag the coordinator holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_holding_the_current_figures_is_answered_without_them() {
    use gridsync_proto::street_figures::{bring_up_to_answer, figures_tag};
    let Street {
        pki,
        dir: _cdir,
        coord,
        mut op,
    } = street(&["c01", "c02"]).await;
    let mut client = sync_client(&coord, &pki.node("c02")).await;
    let report = |tag: &str| sypb::DigestReport {
        community_id: "c02".into(),
        digest: None,
        figures_tag: tag.into(),
    };
    let first = client
        .report_digest(report(""))
        .await
        .expect("report")
        .into_inner();
    let mut held = first
        .figures
        .expect("a node holding nothing gets the figures");
    assert_eq!(held.tree.as_ref().unwrap().children.len(), 2);
    assert_eq!(figures_tag(&held), first.figures_tag);
    assert_eq!(first.own.as_ref().unwrap().community_id, "c02");

    let same = client
        .report_digest(report(&first.figures_tag))
        .await
        .expect("report")
        .into_inner();
    assert_eq!(
        same.figures, None,
        "nothing changed, yet the figures came again"
    );
    assert_eq!(same.figures_tag, first.figures_tag);
    let own = same.own.clone().expect("its own stamp");
    assert_eq!(own.community_id, "c02");
    // Neither node has a sync session open: the answer says both are stale
    // (the tag leaves freshness out).
    assert_eq!(
        same.unusual
            .iter()
            .map(|s| (s.community_id.as_str(), s.stale))
            .collect::<Vec<_>>(),
        [("c01", true), ("c02", true)]
    );
    bring_up_to_answer(&mut held, &same);
    assert!(
        held.stamps
            .iter()
            .any(|s| s.community_id == "c01" && s.stale)
    );
    assert_eq!(held.generated_at_ms, same.generated_at_ms);
    assert_eq!(figures_tag(&held), same.figures_tag);
    assert_eq!(
        held.stamps.iter().find(|s| s.community_id == "c02"),
        Some(&own)
    );
    // Another node's tag, or none, gets the figures whole.
    let wrong = client
        .report_digest(report("not a tag"))
        .await
        .expect("report")
        .into_inner();
    assert!(wrong.figures.is_some());

    // A third community: the street's figures change, and the next
    // computation (at most SUMMARY_MAX_AGE_MS later) sends them again.
    register(&mut op, &["c03"]).await;
    let changed = std::sync::Arc::new(std::sync::Mutex::new(None));
    let sent_again = eventually(WITHIN, || {
        let mut client = client.clone();
        let tag = first.figures_tag.clone();
        let changed = changed.clone();
        async move {
            let a = client
                .report_digest(report(&tag))
                .await
                .expect("report")
                .into_inner();
            let got = a.figures_tag != tag;
            *changed.lock().unwrap() = Some(a);
            got
        }
    })
    .await;
    assert!(sent_again, "the figures never changed");
    let a = changed.lock().unwrap().take().unwrap();
    // A community more is another shape: whole, not a delta.
    assert_eq!(a.delta, None);
    let figures = a.figures.expect("changed figures are sent");
    assert_eq!(figures.tree.as_ref().unwrap().children.len(), 3);
    assert_eq!(figures_tag(&figures), a.figures_tag);
    coord.stop().await;
}
