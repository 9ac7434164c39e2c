//! The `/metrics` endpoints of a coordinator and a node in this process,
//! scraped over real HTTP and read from the text exposition: the community's
//! link and freshness as the coordinator defines them, the node's link and
//! unacknowledged changes, commit and rollup histograms, sync traffic; and
//! the community's link going down when its node stops. Deadlines only
//! bound a hang; nothing is timed.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use gridsync_core::sync::{FrameLimits, HeartbeatSettings};
use gridsync_svc::Clock;
use gridsync_svc::metrics::MetricsServer;
use gridsync_testkit::street::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

const WITHIN: Duration = Duration::from_secs(60);
const HEARTBEAT: HeartbeatSettings = HeartbeatSettings {
    interval_ms: 200,
    misses: 3,
};

/// `GET /metrics` over HTTP/1.1: the samples, by series
/// (`name{labels}` exactly as written), after checking the status and the
/// content type.
async fn scrape(addr: SocketAddr) -> BTreeMap<String, f64> {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/openmetrics-text"),
        "{head}"
    );
    assert!(body.trim_end().ends_with("# EOF"), "{body}");
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("`series value`");
            (series.to_string(), value.parse::<f64>().expect(l))
        })
        .collect()
}

fn get(m: &BTreeMap<String, f64>, series: &str) -> Option<f64> {
    m.get(series).copied()
}

/// Serves `registry` on 127.0.0.1:0 until the returned sender is dropped.
fn serve(
    registry: gridsync_svc::metrics::prometheus_client::registry::Registry,
    listener: std::net::TcpListener,
) -> (MetricsServer, oneshot::Sender<()>) {
    listener.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let server = MetricsServer::serve(listener, registry, async {
        let _ = rx.await;
    })
    .unwrap();
    (server, tx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn both_services_expose_link_freshness_commits_and_traffic() {
    let pki = Pki::new();
    let cdir = tempfile::tempdir().unwrap();
    let ndir = tempfile::tempdir().unwrap();
    let coord = TestCoordinator::start_with(cdir.path(), &pki, 0, FrameLimits::default(), |o| {
        o.heartbeat = HEARTBEAT;
    })
    .await;
    let mut op = coord.operator(&pki).await;
    register(&mut op, &["c01"]).await;
    let mut link = test_link_config(coord.addr, &pki.node("c01"), FrameLimits::default());
    link.heartbeat = HEARTBEAT;
    let node = TestNode::start(ndir.path(), "c01", Some(link)).await;

    let any = || std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (coord_metrics, coord_stop) = serve(
        gridsync_coordinator::metrics::registry(coord.replicas.clone(), Clock::system()),
        any(),
    );
    let timings = node.office.run(|o| Ok(o.timings().clone())).await.unwrap();
    let (node_metrics, node_stop) = serve(
        gridsync_node::metrics::registry(
            node.community.clone(),
            node.office.shared(),
            &timings,
            node.link.clone(),
            Clock::system(),
        ),
        any(),
    );
    let (ca, na) = (coord_metrics.local_addr(), node_metrics.local_addr());

    let compound = node.create(compound("A楼院")).await;
    // Up and fresh, as the coordinator's own definitions say.
    let up = r#"gridsync_community_link_up{community="c01"}"#;
    let fresh = r#"gridsync_community_fresh{community="c01"}"#;
    assert!(
        eventually(WITHIN, || async {
            let m = scrape(ca).await;
            converged(&node, &coord).await
                && get(&m, up) == Some(1.0)
                && get(&m, fresh) == Some(1.0)
        })
        .await,
        "c01 never up and fresh in the metrics: {:?}",
        scrape(ca).await
    );
    let m = scrape(ca).await;
    assert_eq!(
        get(&m, r#"gridsync_community_docs_behind{community="c01"}"#),
        Some(0.0),
        "{m:?}"
    );
    assert_eq!(
        get(&m, r#"gridsync_community_node_docs_ahead{community="c01"}"#),
        Some(0.0)
    );
    assert!(
        get(
            &m,
            r#"gridsync_community_last_heard_age_seconds{community="c01"}"#
        )
        .is_some()
    );
    for series in [
        r#"gridsync_sync_bytes_received_total{community="c01"}"#,
        r#"gridsync_sync_bytes_sent_total{community="c01"}"#,
        r#"gridsync_sync_frames_received_total{community="c01"}"#,
    ] {
        assert!(get(&m, series).unwrap_or(0.0) > 0.0, "{series}: {m:?}");
    }
    assert!(
        get(&m, "gridsync_commit_seconds_count").unwrap_or(0.0) > 0.0,
        "{m:?}"
    );
    // The node's first digest report held no figures: it got them whole.
    assert!(
        eventually(WITHIN, || async {
            get(&scrape(ca).await, "gridsync_figures_answers_whole_total").unwrap_or(0.0) >= 1.0
        })
        .await,
        "no digest report answered whole: {:?}",
        scrape(ca).await
    );

    // The node: link up, everything acknowledged once in sync, traffic.
    assert!(
        eventually(WITHIN, || async {
            get(
                &scrape(na).await,
                r#"gridsync_link_unacknowledged_changes{community="c01"}"#,
            ) == Some(0.0)
        })
        .await,
        "{:?}",
        scrape(na).await
    );
    let n = scrape(na).await;
    assert_eq!(
        get(&n, r#"gridsync_link_up{community="c01"}"#),
        Some(1.0),
        "{n:?}"
    );
    assert!(get(&n, r#"gridsync_sync_bytes_sent_total{community="c01"}"#).unwrap_or(0.0) > 0.0);
    assert!(get(&n, r#"gridsync_sync_bytes_received_total{community="c01"}"#).unwrap_or(0.0) > 0.0);

    // An edit is one more commit at the node, and reaches the coordinator's.
    let node_commits = get(&n, "gridsync_commit_seconds_count").unwrap();
    let coord_commits = get(&scrape(ca).await, "gridsync_commit_seconds_count").unwrap();
    node.create(building(compound.id(), "1号楼")).await;
    let n = scrape(na).await;
    assert!(
        get(&n, "gridsync_commit_seconds_count").unwrap() > node_commits,
        "{n:?}"
    );
    assert!(
        eventually(WITHIN, || async {
            get(&scrape(ca).await, "gridsync_commit_seconds_count").unwrap() > coord_commits
        })
        .await
    );

    // A street report served: timed, and its held and digest states read.
    let r = coord.replicas.clone();
    tokio::task::spawn_blocking(move || {
        let now = gridsync_testkit::now_ms();
        let day = gridsync_core::replica::day_of_instant(now, gridsync_testkit::TIME_ZONE).unwrap();
        r.street_report(day, gridsync_testkit::TIME_ZONE, now)
            .unwrap();
    })
    .await
    .unwrap();
    let m = scrape(ca).await;
    assert!(
        get(&m, "gridsync_rollup_seconds_count").unwrap_or(0.0) >= 1.0,
        "{m:?}"
    );
    assert_eq!(
        get(&m, r#"gridsync_community_held{community="c01"}"#),
        Some(0.0),
        "{m:?}"
    );
    let states: Vec<f64> = ["match", "mismatch", "pending", "not_reported"]
        .iter()
        .map(|s| {
            get(
                &m,
                &format!(r#"gridsync_community_digest_state{{community="c01",state="{s}"}}"#),
            )
            .expect(s)
        })
        .collect();
    assert_eq!(
        states.iter().sum::<f64>(),
        1.0,
        "one state at a time: {states:?}"
    );
    assert_eq!(
        states[1], 0.0,
        "no mismatch between equal replicas: {states:?}"
    );

    // The node stops: its community's link goes down.
    drop(node_stop);
    node_metrics.join(Duration::from_secs(5)).await;
    node.stop().await;
    assert!(
        eventually(WITHIN, || async {
            let m = scrape(ca).await;
            get(&m, up) == Some(0.0) && get(&m, fresh) == Some(0.0)
        })
        .await,
        "c01 still up after its node stopped: {:?}",
        scrape(ca).await
    );
    drop(coord_stop);
    coord_metrics.join(Duration::from_secs(5)).await;
    assert!(
        tokio::net::TcpStream::connect(ca).await.is_err(),
        "the endpoint stopped"
    );
    coord.stop().await;
}
