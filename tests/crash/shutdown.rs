//! SIGTERM stops each service well inside its grace period, even while a
//! node's link to the coordinator is silently cut (issue 13: the coordinator
//! used to wait its whole 10 s grace for an HTTP/2 connection whose peer
//! could never answer the GOAWAY).
//!
//! The real `gridsync-coordinator` and one real `gridsync-node` (c01) run
//! over mutual TLS, the node dialling through a
//! [`FaultProxy`](gridsync_testkit::proxy::FaultProxy). Once both sides say
//! the link is up, the proxy is blackholed (connections held open, no byte
//! moves: a cut without RST) and the services get SIGTERM, one at a time.
//! Each must exit with success within [`STOP_WITHIN`], half its grace: a
//! bound a bounded shutdown meets with seconds to spare (it takes well
//! under a second), and the old one never did. The measured times are
//! printed (`--no-capture`).

use std::net::SocketAddr;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use gridsync_proto::office::v1 as pb;
use gridsync_proto::street::v1 as spb;
use gridsync_testkit::proxy::FaultProxy;
use gridsync_testkit::street::{Pki, register};
use gridsync_testkit::{coordinator_binary, node_binary};
use tempfile::TempDir;

use crate::services::{
    OPERATOR, Office, Operator, Service, coordinator_args, node_args, node_ready, office_client,
    operator_client, write_certs,
};

const COMMUNITY: &str = "c01";
/// The services' grace period (their default, given explicitly).
const GRACE_SECS: u64 = 10;
/// A SIGTERMed service must have exited within this.
const STOP_WITHIN: Duration = Duration::from_secs(5);
/// Only a hang or a bug reaches these deadlines; nothing is timed by them.
const LINK_WITHIN: Duration = Duration::from_secs(60);
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// A coordinator and one node linked through a fault proxy.
struct Pair {
    coord: Service,
    node: Service,
    proxy: FaultProxy,
    op: Operator,
    office: Office,
    /// Last: the processes are killed (if still running) before their
    /// folders go.
    dir: TempDir,
}

impl Pair {
    /// Starts both and returns once the node and the coordinator each say
    /// the link is up.
    async fn start() -> Pair {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let pki = Pki::new();
        let certs = dir.path().join("certs");
        write_certs(&pki, &certs, &[COMMUNITY]);
        let mut coord = Service::new(
            "coordinator",
            coordinator_binary(),
            coordinator_args(dir.path(), &certs, GRACE_SECS),
            dir.path(),
        );
        coord.start().await.expect("start the coordinator");
        let mut op = operator_client(&pki, coord.addr(), CALL_TIMEOUT);
        register(&mut op, &[COMMUNITY]).await;
        let proxy = FaultProxy::start(SocketAddr::from(([127, 0, 0, 1], 0)), coord.addr())
            .await
            .expect("start the fault proxy");
        let mut node = Service::new(
            &format!("node-{COMMUNITY}"),
            node_binary(),
            node_args(
                COMMUNITY,
                dir.path(),
                &certs,
                proxy.local_addr(),
                GRACE_SECS,
            ),
            dir.path(),
        );
        node.start().await.expect("start the node");
        node_ready(node.addr())
            .await
            .expect("the node's API answers");
        let office = office_client(node.addr(), CALL_TIMEOUT);
        let mut pair = Pair {
            coord,
            node,
            proxy,
            op,
            office,
            dir,
        };
        pair.wait_linked().await;
        pair
    }

    async fn wait_linked(&mut self) {
        let deadline = Instant::now() + LINK_WITHIN;
        loop {
            let why = match linked(&mut self.op, &mut self.office).await {
                Ok(()) => return,
                Err(why) => why,
            };
            if Instant::now() > deadline {
                self.fail(&format!(
                    "the link was not up within {LINK_WITHIN:?}: {why}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM to one of the two; its exit status and time, printed.
    async fn terminate(&mut self, which: Which, case: &str) -> (ExitStatus, Duration) {
        let service = match which {
            Which::Coordinator => &mut self.coord,
            Which::Node => &mut self.node,
        };
        // Past STOP_WITHIN it is killed: the assertion below reports it.
        let within = STOP_WITHIN + Duration::from_secs(GRACE_SECS);
        match service.terminate(within).await {
            Ok((status, took)) => {
                println!(
                    "shutdown: {} exited ({status}) {} ms after SIGTERM, {case}",
                    service.name,
                    took.as_millis()
                );
                (status, took)
            }
            Err(e) => self.fail(&e),
        }
    }

    fn assert_prompt(&self, which: Which, case: &str, (status, took): (ExitStatus, Duration)) {
        let name = match which {
            Which::Coordinator => "the coordinator",
            Which::Node => "the node",
        };
        if !status.success() || took >= STOP_WITHIN {
            self.fail(&format!(
                "{name} {case}: exited with {status} after {} ms (must succeed within {} ms; grace {GRACE_SECS} s)",
                took.as_millis(),
                STOP_WITHIN.as_millis()
            ));
        }
    }

    fn fail(&self, what: &str) -> ! {
        panic!(
            "{what}\n---- coordinator log (tail) ----\n{}\n---- node log (tail) ----\n{}",
            self.coord.log_tail(30),
            self.node.log_tail(30)
        )
    }
}

#[derive(Clone, Copy)]
enum Which {
    Coordinator,
    Node,
}

/// One look at the link from both ends: `Err` says what is not up yet.
async fn linked(op: &mut Operator, office: &mut Office) -> Result<(), String> {
    let status = office
        .get_status(pb::GetStatusRequest {})
        .await
        .map_err(|s| format!("GetStatus at the node: {s}"))?
        .into_inner();
    let link = status.link.ok_or("the node reports no link")?;
    if !link.connected {
        return Err(format!(
            "the node is not connected (last error {:?})",
            link.last_error
        ));
    }
    let list = op
        .list_communities(spb::ListCommunitiesRequest {})
        .await
        .map_err(|s| format!("ListCommunities at the coordinator: {s}"))?
        .into_inner();
    match list
        .communities
        .iter()
        .find(|c| c.community_id == COMMUNITY)
    {
        Some(c) if c.connected => Ok(()),
        Some(_) => Err(format!(
            "the coordinator does not see {COMMUNITY} connected"
        )),
        None => Err(format!("the coordinator does not list {COMMUNITY}")),
    }
}

/// The coordinator with a session on a link that went silent, then the node
/// whose session sits on that same dead link: each exits at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_both_sides_of_a_silently_cut_link_promptly() {
    let mut pair = Pair::start().await;
    pair.proxy.blackhole();
    let case = "its node's link blackholed";
    let coord = pair.terminate(Which::Coordinator, case).await;
    pair.assert_prompt(Which::Coordinator, case, coord);
    let case = "its session's link blackholed";
    let node = pair.terminate(Which::Node, case).await;
    pair.assert_prompt(Which::Node, case, node);
}

/// A node whose redial hangs in a blackhole (the connection is accepted and
/// never answered: the TLS handshake waits on its own timeouts) stops at
/// once, and so does the coordinator it can no longer reach.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_a_node_whose_dial_hangs_promptly() {
    let mut pair = Pair::start().await;
    // The cut resets the session at once, so the node redials; from the
    // blackhole on, each new connection is accepted and held.
    pair.proxy.cut();
    pair.proxy.blackhole();
    let accepted = pair.proxy.stats().accepted;
    let deadline = Instant::now() + LINK_WITHIN;
    while pair.proxy.stats().accepted <= accepted {
        if Instant::now() > deadline {
            pair.fail(&format!(
                "the node did not redial within {LINK_WITHIN:?} of the cut"
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let case = "its redial hanging in a blackhole";
    let node = pair.terminate(Which::Node, case).await;
    pair.assert_prompt(Which::Node, case, node);
    let case = "its node's connection held in a blackhole";
    let coord = pair.terminate(Which::Coordinator, case).await;
    pair.assert_prompt(Which::Coordinator, case, coord);
}

/// The plain case: a healthy link, the coordinator stopped first (its node
/// answers the GOAWAY), then the node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_both_sides_of_a_healthy_link_promptly() {
    let mut pair = Pair::start().await;
    let case = "its node's link healthy";
    let coord = pair.terminate(Which::Coordinator, case).await;
    pair.assert_prompt(Which::Coordinator, case, coord);
    let case = "its coordinator gone";
    let node = pair.terminate(Which::Node, case).await;
    pair.assert_prompt(Which::Node, case, node);
}

/// gridctl's JSON, at the coordinator (`street communities`) or the node
/// (`status`).
fn gridctl_json(pair: &Pair, args: &[&str]) -> serde_json::Value {
    let coordinator = format!("localhost:{}", pair.coord.addr().port());
    let node = pair.node.addr().to_string();
    let identity = format!("operator-{OPERATOR}");
    let out = std::process::Command::new(gridsync_testkit::gridctl_binary())
        .args([
            "--coordinator",
            &coordinator,
            "--certs",
            &pair.dir.path().join("certs").to_string_lossy(),
            "--identity",
            &identity,
            "--node",
            &node,
            "--json",
        ])
        .args(args)
        .output()
        .expect("run gridctl");
    assert!(
        out.status.success(),
        "gridctl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("gridctl prints JSON")
}

/// A link cut silently (a blackhole: no byte moves, no RST) is reported
/// down by both sides, through gridctl's JSON, within the liveness window
/// (heartbeat 2 s × 3, the default), with keep-alive far longer (20 s +
/// 10 s by default): the heartbeats found it. The coordinator's entry is
/// then not fresh, and says when it last heard the node: before the cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_cut_is_reported_down_by_both_sides_through_gridctl() {
    let pair = Pair::start().await;
    let community = |v: &serde_json::Value| {
        v["communities"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["community_id"] == COMMUNITY).cloned())
            .expect("the coordinator lists c01")
    };
    // Connected is not yet fresh: the node's first documents may still be
    // on their way. Wait for fresh, as an operator would see it.
    let linked = Instant::now();
    let before = loop {
        let entry = community(&gridctl_json(&pair, &["street", "communities"]));
        if entry["connected"] == true && entry["fresh"] == true {
            break entry;
        }
        if linked.elapsed() > LINK_WITHIN {
            pair.fail(&format!(
                "c01 not connected and fresh within {LINK_WITHIN:?}: {entry}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let window = before["liveness_window_ms"].as_i64().unwrap_or(0);
    assert_eq!(window, 6_000, "{before}");

    pair.proxy.blackhole();
    let cut = Instant::now();
    let cut_ms = gridsync_testkit::now_ms();
    let (mut coord_down, mut node_down) = (None, None);
    let (mut coord_entry, mut node_link) = (before, serde_json::Value::Null);
    while coord_down.is_none() || node_down.is_none() {
        if cut.elapsed() > LINK_WITHIN {
            pair.fail(&format!(
                "not both down within {LINK_WITHIN:?} of the silent cut: coordinator {coord_entry}, node {node_link}"
            ));
        }
        if coord_down.is_none() {
            coord_entry = community(&gridctl_json(&pair, &["street", "communities"]));
            if coord_entry["connected"] != true {
                coord_down = Some(cut.elapsed());
            }
        }
        if node_down.is_none() {
            node_link = gridctl_json(&pair, &["status"])["link"].clone();
            if node_link["connected"] != true {
                node_down = Some(cut.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Down, not fresh, and heard last before the cut (give or take one
    // heartbeat in flight).
    assert_eq!(coord_entry["fresh"], false, "{coord_entry}");
    let heard = coord_entry["last_heard_ms"].as_i64().unwrap_or(0);
    assert!(
        heard > 0 && heard <= cut_ms + 2_000,
        "last heard {heard}, cut at {cut_ms}: {coord_entry}"
    );
    let error = coord_entry["last_error"].as_str().unwrap_or("");
    assert!(error.contains("liveness window"), "{coord_entry}");
    let node_error = node_link["last_error"].as_str().unwrap_or("");
    assert!(
        node_error.contains("liveness window") || node_error.contains("dialling"),
        "{node_link}"
    );
    println!(
        "silent cut: the coordinator says down {} ms after it, the node {} ms (window {window} ms; gridctl polled every ~50 ms plus its own run)",
        coord_down.unwrap_or_default().as_millis(),
        node_down.unwrap_or_default().as_millis()
    );
}
