//! Node ⇄ coordinator sync over real gRPC with mutual TLS on loopback:
//! convergence of concurrent edits, restarts on either side, resumption
//! from the persisted sync state, and catch-ups larger than the frame limit.

use std::time::Duration;

use gridsync_core::sync::FrameLimits;
use gridsync_core::*;
use gridsync_proto::street::v1 as spb;
use gridsync_testkit::street::*;

const WITHIN: Duration = Duration::from_secs(30);

/// A compound with one building and `n` households; returns the compound id.
async fn populate(node: &TestNode, tag: &str, n: usize) -> String {
    let c = node.create(compound(&format!("{tag}楼院"))).await;
    let b = node.create(building(c.id(), &format!("{tag}1号楼"))).await;
    for i in 0..n {
        node.create(household(c.id(), b.id(), &format!("{tag}{i}")))
            .await;
    }
    c.id().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_edits_at_a_node_and_at_the_coordinator_converge() {
    let pki = Pki::new();
    let cdir = tempfile::tempdir().unwrap();
    let ndir = tempfile::tempdir().unwrap();
    let coord = TestCoordinator::start(cdir.path(), &pki, 0, FrameLimits::default()).await;
    let mut op = coord.operator(&pki).await;
    register(&mut op, &["c01"]).await;
    let auth = pki.node("c01");
    let node = TestNode::start(
        ndir.path(),
        "c01",
        Some(test_link_config(coord.addr, &auth, FrameLimits::default())),
    )
    .await;
    // Edits on both sides at once: households at the node; a risk region and
    // a dispatched hotline ticket (into the same cases document the node
    // writes) at the coordinator.
    let node_side = populate(&node, "A", 20);
    let coord_side = async {
        op.put_street_record(risk_region("某市某区")).await.unwrap();
        for i in 0..5 {
            op.dispatch_ticket(dispatched_ticket("c01", &format!("12345 工单 {i}")))
                .await
                .unwrap();
        }
    };
    let (_, ()) = tokio::join!(node_side, coord_side);
    node.run(|o| {
        let t = Record::Ticket(Ticket {
            id: String::new(),
            received_at_ms: gridsync_testkit::now_ms(),
            channel: TicketChannel::Patrol,
            category: "安全".into(),
            summary: "巡查发现".into(),
            caller_phone: None,
            assigned_compound_id: None,
            assigned_staff_id: None,
            resolved_at_ms: None,
            resolution: None,
        });
        o.create(t, gridsync_testkit::now_ms()).unwrap();
    })
    .await;

    let ok = eventually(WITHIN, || converged(&node, &coord)).await;
    assert!(
        ok,
        "not converged: node {:?} coordinator {:?}; link {:?}",
        show_heads(&node.heads().await),
        show_heads(&coord.community_heads("c01").await),
        node.link_status()
    );
    // Same content on both sides.
    let c01 = CommunityId::parse("c01").unwrap();
    let reg = coord.doc(DocId::Registry(c01.clone())).await;
    let cases = coord.doc(DocId::Cases(c01.clone())).await;
    let at_coord = CommunityView::read(&reg, &cases);
    let (households, tickets, regions) = node
        .run(|o| {
            let v = o.view();
            let regions = gridsync_core::street::StreetView::read(o.street_doc())
                .risk_regions
                .len();
            (v.households.len(), v.tickets.len(), regions)
        })
        .await;
    assert_eq!(households, 20);
    assert_eq!(at_coord.households.len(), 20);
    assert_eq!(
        tickets, 6,
        "5 dispatched at the coordinator + 1 made at the node"
    );
    assert_eq!(at_coord.tickets.len(), 6);
    assert_eq!(regions, 1);
    assert!(node.link_status().connected);
    node.stop().await;
    coord.stop().await;
}

async fn wait_converged(node: &TestNode, coord: &TestCoordinator) {
    let ok = eventually(WITHIN, || converged(node, coord)).await;
    assert!(
        ok,
        "not converged within {WITHIN:?}: node {:?} coordinator {:?}; link {:?}",
        show_heads(&node.heads().await),
        show_heads(&coord.community_heads(node.community.as_str()).await),
        node.link_status()
    );
}

async fn household_count_at_coordinator(coord: &TestCoordinator, c: &str) -> usize {
    let c = CommunityId::parse(c).unwrap();
    let reg = coord.doc(DocId::Registry(c.clone())).await;
    let cases = coord.doc(DocId::Cases(c)).await;
    CommunityView::read(&reg, &cases).households.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn edits_made_while_the_coordinator_is_down_arrive_after_it_restarts() {
    let pki = Pki::new();
    let cdir = tempfile::tempdir().unwrap();
    let ndir = tempfile::tempdir().unwrap();
    let coord = TestCoordinator::start(cdir.path(), &pki, 0, FrameLimits::default()).await;
    let port = coord.addr.port();
    register(&mut coord.operator(&pki).await, &["c01"]).await;
    let link = test_link_config(coord.addr, &pki.node("c01"), FrameLimits::default());
    let node = TestNode::start(ndir.path(), "c01", Some(link)).await;
    populate(&node, "A", 5).await;
    wait_converged(&node, &coord).await;
    // Equal heads can come before the coordinator's acknowledgement does.
    assert!(
        eventually(WITHIN, || async {
            node.link_status()
                .docs
                .get("registry/c01")
                .is_some_and(|d| d.last_sync_ms.is_some())
        })
        .await
    );

    coord.stop().await;
    // The node goes on working while the coordinator is away.
    populate(&node, "B", 7).await;
    assert!(
        eventually(WITHIN, || async { !node.link_status().connected }).await,
        "the node never noticed the coordinator was gone"
    );
    let sessions_before = node.link_status().sessions;
    // The node shows the link down and what the coordinator has not got.
    let st = node.link_status();
    let shown = node
        .run(move |o| gridsync_node::service::link_status(o, &st).expect("link status"))
        .await;
    assert!(
        !shown.connected && !shown.last_error.is_empty(),
        "{shown:?}"
    );
    let registry = shown
        .docs
        .iter()
        .find(|d| d.doc_id == "registry/c01")
        .unwrap();
    assert!(
        !registry.in_sync && registry.unacknowledged_changes >= 9,
        "{registry:?}"
    );
    assert!(registry.last_sync_ms > 0);

    // Same store, same port: the node redials by itself.
    let coord = TestCoordinator::start(cdir.path(), &pki, port, FrameLimits::default()).await;
    wait_converged(&node, &coord).await;
    assert!(node.link_status().sessions > sessions_before);
    // Equal heads can come a message before the acknowledgement does.
    let acknowledged = eventually(WITHIN, || async {
        let st = node.link_status();
        let shown = node
            .run(move |o| gridsync_node::service::link_status(o, &st).expect("link status"))
            .await;
        shown.connected && shown.unacknowledged_changes == 0
    })
    .await;
    assert!(acknowledged, "{:?}", node.link_status());
    assert_eq!(household_count_at_coordinator(&coord, "c01").await, 12);
    node.stop().await;
    coord.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_node_catches_up_both_ways() {
    let pki = Pki::new();
    let cdir = tempfile::tempdir().unwrap();
    let ndir = tempfile::tempdir().unwrap();
    let coord = TestCoordinator::start(cdir.path(), &pki, 0, FrameLimits::default()).await;
    let mut op = coord.operator(&pki).await;
    register(&mut op, &["c01"]).await;
    let link = test_link_config(coord.addr, &pki.node("c01"), FrameLimits::default());
    let node = TestNode::start(ndir.path(), "c01", Some(link.clone())).await;
    populate(&node, "A", 3).await;
    wait_converged(&node, &coord).await;
    node.stop().await;

    // While the node is down: edits at the node's store (offline) and at
    // the coordinator (a risk region for everyone).
    let offline = TestNode::start(ndir.path(), "c01", None).await;
    populate(&offline, "B", 4).await;
    offline.stop().await;
    op.put_street_record(risk_region("远方")).await.unwrap();

    let node = TestNode::start(ndir.path(), "c01", Some(link)).await;
    wait_converged(&node, &coord).await;
    assert_eq!(household_count_at_coordinator(&coord, "c01").await, 7);
    let regions = node
        .run(|o| {
            gridsync_core::street::StreetView::read(o.street_doc())
                .risk_regions
                .len()
        })
        .await;
    assert_eq!(regions, 1);
    node.stop().await;
    coord.stop().await;
}

/// After an interrupted sync, the next session starts from the sync state
/// both sides persisted. Bound: the one document that differs (the
/// registry) settles in at most 4 messages each way — each side states its
/// heads, sends what the other lacks, acknowledges, with one to spare — and
/// the documents equal at the handshake get no message at all. Starting
/// over instead would resend the whole registry.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reconnect_resumes_from_the_persisted_sync_state() {
    const MAX_FRAMES_EACH_WAY: u64 = 4;
    let pki = Pki::new();
    let cdir = tempfile::tempdir().unwrap();
    let ndir = tempfile::tempdir().unwrap();
    let coord = TestCoordinator::start(cdir.path(), &pki, 0, FrameLimits::default()).await;
    let port = coord.addr.port();
    register(&mut coord.operator(&pki).await, &["c01"]).await;
    let link = test_link_config(coord.addr, &pki.node("c01"), FrameLimits::default());
    let node = TestNode::start(ndir.path(), "c01", Some(link.clone())).await;
    populate(&node, "A", 60).await;
    wait_converged(&node, &coord).await;
    node.stop().await;

    // Work offline, then reconnect and cut the link as soon as the session
    // has started moving frames.
    let offline = TestNode::start(ndir.path(), "c01", None).await;
    populate(&offline, "B", 40).await;
    offline.stop().await;
    let node = TestNode::start(ndir.path(), "c01", Some(link)).await;
    assert!(
        eventually(WITHIN, || async { node.link_status().frames_sent > 0 }).await,
        "the node never started syncing"
    );
    coord.stop().await;
    assert!(eventually(WITHIN, || async { !node.link_status().connected }).await);
    populate(&node, "C", 2).await;

    let coord = TestCoordinator::start(cdir.path(), &pki, port, FrameLimits::default()).await;
    wait_converged(&node, &coord).await;
    let st = node.link_status();
    eprintln!(
        "resumed session: {} frames out, {} in; per document: {:?}",
        st.session_frames_sent,
        st.session_frames_received,
        st.docs
            .iter()
            .map(|(d, l)| (d.as_str(), l.session_frames_sent, l.session_frames_received))
            .collect::<Vec<_>>()
    );
    assert!(st.sessions >= 2, "{st:?}");
    for (doc, l) in &st.docs {
        if doc != "registry/c01" {
            assert_eq!(
                (l.session_frames_sent, l.session_frames_received),
                (0, 0),
                "{doc} was equal at the handshake and needed no message"
            );
        }
    }
    assert!(
        st.session_frames_sent <= MAX_FRAMES_EACH_WAY
            && st.session_frames_received <= MAX_FRAMES_EACH_WAY,
        "the resumed session took {} frames out and {} in (bound {MAX_FRAMES_EACH_WAY} each way)",
        st.session_frames_sent,
        st.session_frames_received
    );
    assert_eq!(household_count_at_coordinator(&coord, "c01").await, 102);
    node.stop().await;
    coord.stop().await;
}

/// A catch-up several times larger than the gRPC message limit goes through
/// in frames under it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_catch_up_larger_than_the_message_limit_completes() {
    let limits = FrameLimits {
        max_frame_bytes: 4 * 1024,
        max_message_bytes: 64 * 1024 * 1024,
    };
    // What tonic accepts per message on both sides.
    let grpc_limit = limits.grpc_message_limit() as u64;
    let pki = Pki::new();
    let cdir = tempfile::tempdir().unwrap();
    let ndir = tempfile::tempdir().unwrap();
    let coord = TestCoordinator::start(cdir.path(), &pki, 0, limits).await;
    register(&mut coord.operator(&pki).await, &["c01"]).await;

    // A large community built offline in one edit group: one big change.
    let offline = TestNode::start(ndir.path(), "c01", None).await;
    bulk_households(&offline, 3000).await;
    offline.stop().await;

    // And at the same time a large catch-up the other way: notices the
    // street published meanwhile, so both sides send more than their queues
    // and HTTP/2 windows hold at once.
    let mut op = coord.operator(&pki).await;
    for i in 0..150u64 {
        let body: String = (0..40)
            .map(|j| {
                format!(
                    "{:016x}",
                    (i * 1000 + j + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
                )
            })
            .collect();
        op.put_street_record(spb::PutStreetRecordRequest {
            record: Some(spb::StreetRecord {
                record: Some(spb::street_record::Record::Notice(spb::StreetNoticePb {
                    id: String::new(),
                    title: format!("通知 {i}"),
                    body,
                    published_at_ms: 0,
                })),
            }),
        })
        .await
        .unwrap();
    }

    let link = test_link_config(coord.addr, &pki.node("c01"), limits);
    let node = TestNode::start(ndir.path(), "c01", Some(link)).await;
    wait_converged(&node, &coord).await;
    let st = node.link_status();
    assert!(
        st.bytes_received > 4 * grpc_limit,
        "the street's catch-up was only {} bytes",
        st.bytes_received
    );
    assert!(
        st.bytes_sent > 4 * grpc_limit,
        "the catch-up was only {} bytes; the test needs several times {grpc_limit}",
        st.bytes_sent
    );
    assert!(
        st.largest_frame_sent <= limits.max_frame_bytes as u64,
        "{st:?}"
    );
    assert_eq!(household_count_at_coordinator(&coord, "c01").await, 3000);
    node.stop().await;
    coord.stop().await;
}

/// The street document is read-only at a node: its office API refuses to
/// touch street records and serves the document for reading.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_refuses_local_writes_to_the_street_document() {
    use gridsync_proto::office::v1 as pb;
    let dir = tempfile::tempdir().unwrap();
    let node = gridsync_testkit::InProcessNode::start(dir.path()).await;
    let mut c = node.client().await;
    let before = c
        .get_street(pb::GetStreetRequest {})
        .await
        .expect("the street document is readable")
        .into_inner();
    // ("notice" is also a community record kind, which a node does keep.)
    for kind in ["risk_region", "community", "task_force"] {
        let e = c
            .remove_record(pb::RemoveRecordRequest {
                kind: kind.into(),
                id: "rr_0000000000000000".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::PermissionDenied, "{kind}: {e:?}");
        assert!(
            e.message().contains("read-only at a node"),
            "{}",
            e.message()
        );
        let e = c
            .get_record(pb::GetRecordRequest {
                kind: kind.into(),
                id: "rr_0000000000000000".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::PermissionDenied, "{kind}: {e:?}");
    }
    let after = c
        .get_street(pb::GetStreetRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(before.heads, after.heads);
    node.stop().await;
}

/// A message larger than the coordinator accepts is not sent at all: the
/// node says why in its link status instead of having it refused over and
/// over.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_message_over_the_coordinators_limit_is_not_sent_and_the_status_says_why() {
    let coord_limits = FrameLimits {
        max_frame_bytes: 4 * 1024,
        max_message_bytes: 16 * 1024,
    };
    let pki = Pki::new();
    let cdir = tempfile::tempdir().unwrap();
    let ndir = tempfile::tempdir().unwrap();
    let coord = TestCoordinator::start(cdir.path(), &pki, 0, coord_limits).await;
    register(&mut coord.operator(&pki).await, &["c01"]).await;
    let offline = TestNode::start(ndir.path(), "c01", None).await;
    bulk_households(&offline, 2000).await;
    offline.stop().await;
    let link = test_link_config(coord.addr, &pki.node("c01"), FrameLimits::default());
    let node = TestNode::start(ndir.path(), "c01", Some(link)).await;
    let said = eventually(WITHIN, || async {
        node.link_status()
            .last_error
            .is_some_and(|e| e.contains("over the peer's limit of 16384"))
    })
    .await;
    assert!(said, "{:?}", node.link_status());
    assert_eq!(household_count_at_coordinator(&coord, "c01").await, 0);
    node.stop().await;
    coord.stop().await;
}
