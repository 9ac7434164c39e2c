//! Liveness over a real link (mutual TLS on loopback through the fault
//! proxy), with HTTP/2 keep-alive switched off on both sides, so that only
//! the session's heartbeats can notice a link that died without a reset: a
//! blackhole moves no byte and sends no RST.
//!
//! Asserted: after a silent cut both sides end the session and say the link
//! is down since the last frame heard (the coordinator's list and its
//! rollup stamp say "not fresh" with the link down); no observation after
//! that says fresh until the heal; after the heal the community is fresh
//! again and the node's edits made behind the cut arrive. Times are printed,
//! not asserted (the deadlines below only bound a hang).

use std::time::{Duration, Instant};

use gridsync_core::CommunityId;
use gridsync_core::sync::{FrameLimits, HeartbeatSettings};
use gridsync_testkit::proxy::FaultProxy;
use gridsync_testkit::street::*;

/// Generous bounds that only catch a hang; the figures are printed.
const WITHIN: Duration = Duration::from_secs(60);
const HEARTBEAT: HeartbeatSettings = HeartbeatSettings {
    interval_ms: 200,
    misses: 3,
};

fn c01() -> CommunityId {
    CommunityId::parse("c01").unwrap()
}

/// The coordinator's view of c01: (connected, fresh, last heard, error).
async fn coordinator_view(coord: &TestCoordinator) -> (bool, bool, Option<i64>, Option<String>) {
    let r = coord.replicas.clone();
    tokio::task::spawn_blocking(move || {
        let now = gridsync_testkit::now_ms();
        let st = r
            .communities()
            .unwrap()
            .into_iter()
            .find(|s| s.id == c01())
            .expect("c01 is listed");
        (
            st.link.connected,
            st.fresh(now),
            st.link.last_heard_ms,
            st.link.last_error.clone(),
        )
    })
    .await
    .unwrap()
}

/// The rollup's stamp of c01 as the street's report makes it.
async fn stamp(coord: &TestCoordinator) -> gridsync_core::rollup::Stamp {
    let r = coord.replicas.clone();
    tokio::task::spawn_blocking(move || {
        let now = gridsync_testkit::now_ms();
        let day = gridsync_core::replica::day_of_instant(now, gridsync_testkit::TIME_ZONE).unwrap();
        let report = r
            .street_report(day, gridsync_testkit::TIME_ZONE, now)
            .unwrap();
        report
            .stamps
            .into_iter()
            .find(|s| s.stamp.community_id == "c01")
            .expect("a stamp for c01")
            .stamp
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_silent_cut_is_seen_by_both_sides_through_heartbeats_alone() {
    let pki = Pki::new();
    let cdir = tempfile::tempdir().unwrap();
    let ndir = tempfile::tempdir().unwrap();
    let coord = TestCoordinator::start_with(cdir.path(), &pki, 0, FrameLimits::default(), |o| {
        // No keep-alive: an hour between pings.
        o.keepalive_interval = Duration::from_secs(3600);
        o.keepalive_timeout = Duration::from_secs(3600);
        o.heartbeat = HEARTBEAT;
    })
    .await;
    let mut op = coord.operator(&pki).await;
    register(&mut op, &["c01"]).await;
    let proxy = FaultProxy::start("127.0.0.1:0".parse().unwrap(), coord.addr)
        .await
        .unwrap();
    let auth = pki.node("c01");
    let mut link = test_link_config(proxy.local_addr(), &auth, FrameLimits::default());
    link.endpoint = gridsync_sync::tls::endpoint(
        &format!("https://localhost:{}", proxy.local_addr().port()),
        &auth,
    )
    .unwrap();
    link.heartbeat = HEARTBEAT;
    link.dial_timeout = Duration::from_secs(1);
    let node = TestNode::start(ndir.path(), "c01", Some(link)).await;
    let compound = node.create(compound("A楼院")).await;

    // Up and fresh: heard within the window, nothing of the node missing.
    assert!(
        eventually(WITHIN, || async {
            converged(&node, &coord).await && coordinator_view(&coord).await.1
        })
        .await,
        "c01 never became fresh: {:?}",
        coordinator_view(&coord).await
    );
    let fresh_stamp = stamp(&coord).await;
    assert!(
        !fresh_stamp.stale && fresh_stamp.link.connected,
        "{fresh_stamp:?}"
    );

    // The silent cut, then edits behind it.
    proxy.blackhole();
    let cut = Instant::now();
    let cut_ms = gridsync_testkit::now_ms();
    for i in 0..3 {
        let b = node
            .create(building(compound.id(), &format!("{i}号楼")))
            .await;
        node.create(household(compound.id(), b.id(), "101")).await;
    }
    assert!(
        eventually(WITHIN, || async { !coordinator_view(&coord).await.0 }).await,
        "the coordinator never ended the silent session: {:?}",
        coordinator_view(&coord).await
    );
    let coord_down = cut.elapsed();
    assert!(
        eventually(WITHIN, || async { !node.link_status().connected }).await,
        "the node never ended the silent session: {:?}",
        node.link_status()
    );
    let node_down = cut.elapsed();
    // Both say why, and since when: the last frame heard, before the cut
    // was found (not when it was found).
    let (connected, fresh, last_heard, error) = coordinator_view(&coord).await;
    assert!(!connected && !fresh);
    let error = error.unwrap_or_default();
    assert!(error.contains("liveness window"), "{error}");
    assert!(
        last_heard.is_some_and(|t| t <= cut_ms + i64::from(HEARTBEAT.interval_ms) * 2),
        "last heard {last_heard:?}, cut at {cut_ms}"
    );
    let st = node.link_status();
    assert!(
        st.last_error
            .as_deref()
            .unwrap_or("")
            .contains("liveness window")
            || st.last_error.as_deref().unwrap_or("").contains("dialling"),
        "{st:?}"
    );
    let s = stamp(&coord).await;
    assert!(s.stale && !s.link.connected, "{s:?}");
    assert!(
        s.last_sync_ms
            .is_some_and(|t| t <= cut_ms + i64::from(HEARTBEAT.interval_ms) * 2),
        "the stamp's last in sync {:?} is after the cut at {cut_ms}",
        s.last_sync_ms
    );
    // While cut, every look says stale.
    for _ in 0..5 {
        assert!(stamp(&coord).await.stale);
        assert!(!coordinator_view(&coord).await.1);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The heal: fresh again, the edits behind the cut arrive.
    proxy.heal();
    let healed = Instant::now();
    assert!(
        eventually(WITHIN, || async {
            converged(&node, &coord).await && coordinator_view(&coord).await.1
        })
        .await,
        "c01 never became fresh after the heal: {:?} {:?}",
        coordinator_view(&coord).await,
        node.link_status()
    );
    let fresh_again = healed.elapsed();
    assert!(!stamp(&coord).await.stale);
    println!(
        "window {} ms: coordinator down {} ms and node down {} ms after the silent cut; fresh {} ms after the heal",
        HEARTBEAT.window_ms(),
        coord_down.as_millis(),
        node_down.as_millis(),
        fresh_again.as_millis()
    );
    node.stop().await;
    coord.stop().await;
    proxy.shutdown().await;
}
