//! Benchmark: a street of many nodes against one coordinator (issue 14's
//! fan-in). Prints a table; asserts nothing about time.
//!
//!     cargo build --release -p gridsync-coordinator
//!     cargo bench -p gridsync-tests --bench fanin [-- 100 300 1000]
//!
//! The coordinator is the built binary (`GRIDSYNC_BIN_DIR`, else
//! `target/release`), on `127.0.0.1:0` with mutual TLS. The nodes are
//! simulated in this process, but each is a whole node: its own community
//! (a compound, a building and [`HOUSEHOLDS`] households), its own
//! encrypted SQLite store, the node's own link code over real gRPC and TLS
//! with its own certificate, and the production settings (heartbeat,
//! keep-alive, backoff with jitter). For each street size:
//!
//! - **connect**: every link started at once; the time until every node
//!   says connected with every document in sync (nothing unacknowledged);
//!   the redial attempts that took.
//! - **idle CPU**: the coordinator's CPU (user + system, from
//!   `/proc/<pid>/stat`) over `GRIDSYNC_FANIN_IDLE_SECS` (default 30 s) of
//!   a street with no edits but heartbeats and digest reports, as a share
//!   of one core; the nodes' process beside it.
//! - **freshness**: a household created at one node after another
//!   ([`FRESH_EDITS`] of them, spread over the street) → the coordinator's
//!   rollup of that community counting it (`GetRollup`, read back to back).
//! - **memory**: the coordinator's resident set once idle, and its peak.
//! - **street read**: the whole street's rollup to the community level,
//!   read with nothing new, p50 of 20.
//!
//! `GRIDSYNC_BENCH_KEEP=1` keeps each street's folder (the coordinator's
//! log is `coordinator/log.txt`, filtered by `GRIDSYNC_FANIN_LOG`, default
//! `warn`).

#[path = "attacks/procs.rs"]
#[allow(dead_code)]
mod procs;

use procs::{ms, pct};

use std::path::Path;
use std::time::{Duration, Instant};

use gridsync_core::access::Principal;
use gridsync_core::sync::{FrameLimits, HeartbeatSettings};
use gridsync_node::link::{LinkConfig, LinkHandle};
use gridsync_proto::rollup::v1 as rpb;
use gridsync_proto::street::v1::street_client::StreetClient;
use gridsync_svc::Clock;
use gridsync_sync::tls::endpoint;
use gridsync_testkit::street::{
    Pki, TestNode, building, compound, household, operator_client, register,
};
use tokio::sync::watch;
use tonic::transport::Channel;

type Operator = StreetClient<Channel>;

const DEFAULT_SIZES: [usize; 3] = [100, 300, 1_000];
/// Households each simulated community holds.
const HOUSEHOLDS: usize = 3;
/// Edits timed from their acknowledgement to the coordinator's rollup.
const FRESH_EDITS: usize = 40;
/// Street rollup reads with nothing new.
const STREET_READS: usize = 20;
/// The coordinator's open-files limit, as its systemd unit sets it.
const COORDINATOR_NOFILE: u32 = 8_192;
/// How many nodes are prepared (opened, filled, closed) at once.
const PREPARE_AT_ONCE: usize = 8;

fn idle_window() -> Duration {
    let secs = std::env::var("GRIDSYNC_FANIN_IDLE_SECS")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(30u64);
    Duration::from_secs(secs.max(1))
}

/// Clock ticks per second of `/proc/<pid>/stat`'s CPU times.
fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// A process's CPU time so far (user + system, all threads), in ticks.
fn cpu_ticks(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name may hold spaces: the fields after it are fixed.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After ")": state is field 3 of stat(5), so utime (14) is f[11].
    let get = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    get(11) + get(12)
}

fn community_id(i: usize) -> String {
    format!("f{i:04}")
}

/// Households the coordinator's rollup counts for community `c`.
async fn households_in(op: &mut Operator, c: &str) -> u64 {
    let r = op
        .get_rollup(rpb::RollupRequest {
            as_of: String::new(),
            tz: String::new(),
            path: vec![c.to_string()],
            depth: 1,
        })
        .await
        .expect("GetRollup of one community")
        .into_inner();
    fn find<'a>(n: &'a rpb::Node, c: &str) -> Option<&'a rpb::Node> {
        if n.id == c {
            return Some(n);
        }
        n.children.iter().find_map(|k| find(k, c))
    }
    r.tree
        .as_ref()
        .and_then(|t| find(t, c))
        .and_then(|n| n.figures.as_ref())
        .map_or(0, |f| f.households)
}

/// Opens community `c`'s node in `dir`, fills it, and closes it cleanly.
async fn prepare(dir: &Path, c: &str) {
    let node = TestNode::start(dir, c, None).await;
    let cp = node.create(compound("大院")).await;
    let bd = node.create(building(cp.id(), "1号楼")).await;
    for i in 0..HOUSEHOLDS {
        node.create(household(cp.id(), bd.id(), &format!("{}", 101 + i)))
            .await;
    }
    node.stop().await;
}

/// The link of one simulated node, with the node's production settings.
fn link_config(pki: &Pki, coordinator: std::net::SocketAddr, c: &str) -> LinkConfig {
    let ep = endpoint(
        &format!("https://localhost:{}", coordinator.port()),
        &pki.node(c),
    )
    .expect("the coordinator's endpoint");
    LinkConfig {
        endpoint: ep,
        dev_token: None,
        // The node's defaults (node/src/config.rs).
        backoff_base: Duration::from_millis(500),
        backoff_max: Duration::from_secs(60),
        limits: FrameLimits::default(),
        handshake_timeout: Duration::from_secs(30),
        dialer: None,
        jitter_seed: None,
        heartbeat: HeartbeatSettings::default(),
        dial_timeout: gridsync_node::link::DIAL_TIMEOUT,
    }
}

struct Linked {
    node: TestNode,
    status: LinkHandle,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// Nodes connected with every document in sync, and the sessions beyond
/// each node's first (sessions that ended and were dialled again).
fn all_in_sync(nodes: &[Linked]) -> (usize, u64) {
    let mut ready = 0;
    let mut again = 0;
    for n in nodes {
        let s = n.status.lock().unwrap_or_else(|p| p.into_inner());
        again += s.sessions.saturating_sub(1);
        if s.connected && !s.docs.is_empty() && s.docs.values().all(|d| d.in_sync) {
            ready += 1;
        }
    }
    (ready, again)
}

struct Figures {
    nodes: usize,
    connect: Option<Duration>,
    connect_ready: usize,
    redials: u64,
    idle_cpu_pct: f64,
    nodes_cpu_pct: f64,
    fresh_p50: Duration,
    fresh_p99: Duration,
    rss_idle: f64,
    rss_peak: f64,
    street_read_p50: Duration,
}

/// The coordinator's counts of digest reports answered with the figures
/// whole, with a delta, and unchanged (its `/metrics`; NaN if unread).
fn figures_answers(port: u16) -> [f64; 3] {
    use std::io::{Read, Write};
    let mut body = String::new();
    let read = std::net::TcpStream::connect(("127.0.0.1", port)).and_then(|mut s| {
        s.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
        s.read_to_string(&mut body)
    });
    let get = |name: &str| {
        body.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    if read.is_err() {
        return [f64::NAN; 3];
    }
    [
        get("gridsync_figures_answers_whole_total "),
        get("gridsync_figures_answers_delta_total "),
        get("gridsync_figures_answers_unchanged_total "),
    ]
}

async fn street(bins: &Path, n: usize) -> Figures {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let pki = Pki::new();
    let certs = procs::Certs::write(&pki, &dir.path().join("certs"), &[]);
    // Every simulated node dials from 127.0.0.1: the per-address cap (64
    // by default, against one host's flood) would stop the street at 63.
    // The open-files limit is the systemd unit's (deploy/systemd).
    // GRIDSYNC_FANIN_LOG sets the coordinator's log filter (default warn),
    // e.g. `gridsync_coordinator::report=debug` to see why the street's
    // figures for nodes change.
    let log = std::env::var("GRIDSYNC_FANIN_LOG").unwrap_or_else(|_| "warn".into());
    // Its metrics, for how the digest reports were answered.
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let metrics_listen = format!("127.0.0.1:{metrics_port}");
    let coord = procs::coordinator_with(
        bins,
        &dir.path().join("coordinator"),
        &certs,
        COORDINATOR_NOFILE,
        &[
            ("GRIDSYNC_MAX_CONNECTIONS_PER_ADDRESS", "2048"),
            ("GRIDSYNC_LOG", &log),
            ("GRIDSYNC_METRICS_LISTEN", &metrics_listen),
        ],
    );
    let watch_mem = procs::MemoryWatch::start(coord.pid());
    let mut op = operator_client(
        coord.addr,
        &pki.client(&Principal::Operator("bench".into())),
    )
    .await;
    let ids: Vec<String> = (0..n).map(community_id).collect();
    let started = Instant::now();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    register(&mut op, &refs).await;
    eprintln!(
        "{n} nodes: {n} communities registered in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Each node's community, made offline and closed.
    let started = Instant::now();
    let nodes_dir = dir.path().join("nodes");
    for chunk in ids.chunks(PREPARE_AT_ONCE) {
        let jobs: Vec<_> = chunk
            .iter()
            .map(|c| {
                let d = nodes_dir.join(c);
                let c = c.clone();
                tokio::spawn(async move { prepare(&d, &c).await })
            })
            .collect();
        for j in jobs {
            j.await.expect("preparing a node panicked");
        }
    }
    // Reopened (unlinked), so that the links start together.
    let mut opened = Vec::with_capacity(n);
    for c in &ids {
        opened.push(TestNode::start(&nodes_dir.join(c), c, None).await);
    }
    eprintln!(
        "{n} nodes: prepared and opened in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Every link at once.
    let t0 = Instant::now();
    let mut nodes = Vec::with_capacity(n);
    for node in opened {
        let status = LinkHandle::default();
        let (stop, stop_rx) = watch::channel(false);
        let cfg = link_config(&pki, coord.addr, node.community.as_str());
        let task = tokio::spawn(gridsync_node::link::run(
            node.office.shared(),
            cfg,
            status.clone(),
            Clock::system(),
            stop_rx,
        ));
        nodes.push(Linked {
            node,
            status,
            stop,
            task,
        });
    }
    let deadline = t0 + Duration::from_secs(120);
    let mut next_progress = t0 + Duration::from_secs(10);
    let (connect, connect_ready, redials) = loop {
        let (ready, attempts) = all_in_sync(&nodes);
        if Instant::now() >= next_progress {
            eprintln!(
                "{n} nodes: {ready} in sync at {:.1} s",
                t0.elapsed().as_secs_f64()
            );
            next_progress += Duration::from_secs(10);
        }
        if ready == n {
            break (Some(t0.elapsed()), ready, attempts);
        }
        if Instant::now() > deadline {
            break (None, ready, attempts);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!(
        "{n} nodes: {connect_ready} connected and in sync after {:.1} s ({redials} sessions beyond the first)",
        t0.elapsed().as_secs_f64()
    );
    // Why sessions ended, as the nodes saw it.
    let mut why: std::collections::BTreeMap<String, usize> = Default::default();
    for l in &nodes {
        let s = l.status.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = &s.last_error {
            *why.entry(e.chars().take(90).collect()).or_default() += 1;
        }
    }
    for (e, k) in why {
        eprintln!("{n} nodes: {k} nodes' last error: {e}");
    }

    // Idle: heartbeats and reports only, after a few seconds to settle.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let ticks = clock_ticks();
    let cpid = coord.pid().to_string();
    let a0 = figures_answers(metrics_port);
    let (c0, s0, w0) = (cpu_ticks(&cpid), cpu_ticks("self"), Instant::now());
    tokio::time::sleep(idle_window()).await;
    let (c1, s1, wall) = (cpu_ticks(&cpid), cpu_ticks("self"), w0.elapsed());
    let a1 = figures_answers(metrics_port);
    let idle_answers = [0, 1, 2].map(|i| a1[i] - a0[i]);
    eprintln!(
        "{n} nodes: digest reports answered while idle: {} whole, {} with a delta, {} unchanged",
        idle_answers[0], idle_answers[1], idle_answers[2]
    );
    let share = |d: u64| d as f64 / ticks / wall.as_secs_f64() * 100.0;
    let (idle_cpu_pct, nodes_cpu_pct) = (share(c1 - c0), share(s1 - s0));
    let rss_idle = procs::rss_mib(coord.pid());
    eprintln!(
        "{n} nodes: idle over {:.0} s: coordinator {idle_cpu_pct:.2}% of a core, nodes' process {nodes_cpu_pct:.2}%, coordinator RSS {rss_idle:.0} MiB",
        wall.as_secs_f64()
    );

    // Freshness: one edit at a time, spread over the street.
    let mut fresh = Vec::with_capacity(FRESH_EDITS);
    for k in 0..FRESH_EDITS {
        let i = (k * 7_919) % n;
        let c = ids[i].as_str();
        let before = households_in(&mut op, c).await;
        let node = &nodes[i].node;
        let (cp, bd) = node
            .run(|o| {
                let v = o.view();
                let cp = v.compounds.keys().next().cloned();
                let bd = v.buildings.keys().next().cloned();
                (cp, bd)
            })
            .await;
        let (cp, bd) = (cp.expect("a compound"), bd.expect("a building"));
        node.create(household(&cp, &bd, &format!("9{k:03}"))).await;
        let acked = Instant::now();
        loop {
            if households_in(&mut op, c).await > before {
                break;
            }
            assert!(
                acked.elapsed() < Duration::from_secs(60),
                "an acknowledged household at {c} was not in the rollup within 60 s"
            );
        }
        fresh.push(acked.elapsed());
    }
    fresh.sort();

    let mut reads = Vec::with_capacity(STREET_READS);
    for _ in 0..STREET_READS {
        let t = Instant::now();
        op.get_rollup(rpb::RollupRequest {
            as_of: String::new(),
            tz: String::new(),
            path: Vec::new(),
            depth: 2,
        })
        .await
        .expect("GetRollup of the street");
        reads.push(t.elapsed());
    }
    reads.sort();

    for l in &nodes {
        let _ = l.stop.send(true);
    }
    for l in nodes {
        let _ = l.task.await;
        drop(l.node);
    }
    let mem = watch_mem.finish();
    drop(coord);
    if std::env::var_os("GRIDSYNC_BENCH_KEEP").is_some() {
        eprintln!("{n} nodes: kept {}", dir.keep().display());
    }
    Figures {
        nodes: n,
        connect,
        connect_ready,
        redials,
        idle_cpu_pct,
        nodes_cpu_pct,
        fresh_p50: pct(&fresh, 0.5),
        fresh_p99: pct(&fresh, 0.99),
        rss_idle,
        rss_peak: mem.peak_mib(),
        street_read_p50: pct(&reads, 0.5),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .filter(|&n| n > 0)
        .collect();
    let sizes = if sizes.is_empty() {
        DEFAULT_SIZES.to_vec()
    } else {
        sizes
    };
    let bins = procs::bin_dir();
    println!(
        "gridsync fan-in benchmark: coordinator from {}, nodes simulated in this process, idle window {} s, {} cores",
        bins.display(),
        idle_window().as_secs(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut rows = Vec::new();
    for n in sizes {
        rows.push(street(&bins, n).await);
    }
    println!(
        "\n| nodes | all connected, 0 unacknowledged | sessions redialled | coordinator CPU idle (of one core) | nodes' process CPU idle | edit → coordinator's rollup p50 / p99 | coordinator RSS idle / peak | street rollup read p50 |\n|---|---|---|---|---|---|---|---|"
    );
    for f in &rows {
        let connect = match f.connect {
            Some(d) => format!("{:.1} s", d.as_secs_f64()),
            None => format!("not within 120 s ({} of {})", f.connect_ready, f.nodes),
        };
        println!(
            "| {} | {connect} | {} | {:.2}% | {:.2}% | {:.1} / {:.1} ms | {:.0} / {:.0} MiB | {:.1} ms |",
            f.nodes,
            f.redials,
            f.idle_cpu_pct,
            f.nodes_cpu_pct,
            ms(f.fresh_p50),
            ms(f.fresh_p99),
            f.rss_idle,
            f.rss_peak,
            ms(f.street_read_p50),
        );
    }
    println!("\nGoals (issue 14): all connected ≤ 10 s at 1,000 nodes; idle ≤ 2% at 1,000 nodes.");
}
