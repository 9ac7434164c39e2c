//! Benchmark: a hostile node against the built coordinator, black-box.
//! Prints a table; asserts nothing about time or memory (figures are not
//! tests; `tests/bad_peer/hostile.rs` holds the assertions).
//!
//!     cargo build --release -p gridsync-coordinator -p gridsync-node
//!     cargo bench -p gridsync-tests --bench attacks [-- FILTER…]
//!     GRIDSYNC_BIN_DIR=/other/target/release cargo bench -p gridsync-tests --bench attacks
//!
//! The coordinator and a c02 node are the built binaries of
//! `GRIDSYNC_BIN_DIR` (default: this bench's `target/release`), configured
//! by flags only, with mutual TLS and certificates from the testkit's CA,
//! the coordinator under `ulimit -n 1024` (systemd's default). So the same
//! bench measures any coordinator that speaks the sync and Street APIs.
//!
//! Each attack gets a fresh street: a coordinator in a new folder, c01 and
//! c02 registered through the Street API (c03 and c04 too for the stalled
//! parts, whose three sessions must be three nodes: a community's new
//! session replaces its last), the c02 node started and in sync. Then the
//! attack is sent as c01 over a raw `Sync.Session` (`gridsync_testkit::
//! attack`, the messages of `gridsync_testkit::hostile`); once it is sent,
//! the c02 office creates a compound, and meanwhile an operator calls
//! `ListCommunities` on a new connection every 100 ms. Measured:
//!
//! - status seen: how the attacker's call ended (or that it was still open
//!   when the attacker let go);
//! - coordinator peak MiB: the coordinator's VmHWM (a fresh process per
//!   attack, so its peak over start-up and the attack) or the largest VmRSS
//!   seen by polling `/proc/<pid>/status` every 50 ms, whichever is larger;
//!   "before" is its resident set when the attack started;
//! - alive: whether the process still runs and answers an operator;
//! - c02 converge s: from the edit's answer until the coordinator's
//!   `GetRollup` stamps c02 with the registry heads the c02 node's
//!   `GetStatus` reports (polled every 50 ms, capped at 120 s);
//! - operator call ms: the slowest `ListCommunities` (connection included)
//!   during the attack, or how many failed.

#[path = "attacks/calls.rs"]
mod calls;
#[path = "attacks/procs.rs"]
mod procs;

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use gridsync_core::access::Principal;
use gridsync_testkit::attack::{self, HostileSession};
use gridsync_testkit::hostile;
use gridsync_testkit::street::{Pki, operator_client, register};
use tokio::sync::oneshot;

use calls::Converged;

/// How long c02 may take to converge.
const CONVERGE_CAP: Duration = Duration::from_secs(120);
/// How long an attacker holds its session open for the coordinator to end it.
const HOLD: Duration = Duration::from_secs(60);
/// The stalled parts are held past the new part deadline (30 s).
const PARTS_HOLD: Duration = Duration::from_secs(45);
/// How long the idle connections are watched for being closed.
const IDLE_WATCH: Duration = Duration::from_secs(15);
/// The frame size both versions default to: larger messages go in parts.
const MAX_FRAME: usize = 1024 * 1024;
/// A loopback address of the attacker's own, apart from the operators'.
const ATTACKER_IP: [u8; 4] = [127, 0, 0, 2];

#[derive(Clone, Debug)]
enum Attack {
    OpBomb {
        ops: u64,
        doc: &'static str,
    },
    Inflate {
        bytes: usize,
    },
    HaveFlood {
        haves: u64,
    },
    HaveFloodFull {
        haves: u64,
    },
    HugeHello {
        docs: u64,
    },
    StalledParts {
        nodes: [&'static str; 3],
        parts: u32,
        part_bytes: usize,
    },
    Idle {
        connections: usize,
    },
}

impl Attack {
    fn all() -> Vec<Attack> {
        let mut v = Vec::new();
        for ops in [2_097_152, 8_388_608, 33_554_432] {
            for doc in ["registry/c01", "street"] {
                v.push(Attack::OpBomb { ops, doc });
            }
        }
        v.push(Attack::Inflate {
            bytes: 200 * 1024 * 1024,
        });
        v.push(Attack::HaveFlood { haves: 33_554_432 });
        v.push(Attack::HaveFloodFull { haves: 33_554_400 });
        v.push(Attack::HugeHello { docs: 38_000 });
        v.push(Attack::StalledParts {
            nodes: ["c01", "c03", "c04"],
            parts: 64,
            part_bytes: MAX_FRAME,
        });
        v.push(Attack::Idle { connections: 1000 });
        v
    }

    fn name(&self) -> String {
        match self {
            Attack::OpBomb { ops, doc } => format!("op bomb {ops} ops → {doc}"),
            Attack::Inflate { bytes } => format!("inflate bomb {} MiB → cases/c01", bytes >> 20),
            Attack::HaveFlood { haves } => format!("have flood {haves} claimed → registry/c01"),
            Attack::HaveFloodFull { haves } => {
                format!("have flood {haves} sent (64 MiB) → registry/c01")
            }
            Attack::HugeHello { docs } => format!("Hello of {docs} c01 day docs"),
            Attack::StalledParts {
                nodes,
                parts,
                part_bytes,
            } => format!(
                "{}× {} of {parts} parts of {} MiB",
                nodes.len(),
                parts - 1,
                (*parts as usize * part_bytes) >> 20
            ),
            Attack::Idle { connections } => format!("{connections} idle TLS conns (no preface)"),
        }
    }

    fn communities(&self) -> Vec<&'static str> {
        match self {
            Attack::StalledParts { nodes, .. } => {
                let mut v = vec!["c02"];
                v.extend(nodes.iter());
                v.sort();
                v
            }
            _ => vec!["c01", "c02"],
        }
    }

    /// The crafted message, made before the clock starts.
    fn payload(&self) -> Option<(&'static str, Vec<u8>)> {
        match self {
            Attack::OpBomb { ops, doc } => {
                Some((doc, hostile::sync_message(&[hostile::op_bomb(*ops)])))
            }
            Attack::Inflate { bytes } => Some((
                "cases/c01",
                hostile::sync_message(&[hostile::inflate_bomb(*bytes)]),
            )),
            Attack::HaveFlood { haves } => Some(("registry/c01", hostile::have_flood(*haves))),
            Attack::HaveFloodFull { haves } => {
                Some(("registry/c01", attack::have_flood_full(*haves)))
            }
            _ => None,
        }
    }
}

struct Row {
    attack: String,
    status: String,
    before_mib: f64,
    peak_mib: f64,
    alive: String,
    converge: String,
    operator: String,
}

struct Street<'a> {
    pki: &'a Pki,
    url: String,
    addr: std::net::SocketAddr,
    ca_pem: String,
}

/// Sends the attack; `launched` fires once it is on its way. Returns what
/// the attacker saw.
async fn run_attacker(
    attack: Attack,
    payload: Option<(&'static str, Vec<u8>)>,
    s: Street<'_>,
    launched: oneshot::Sender<()>,
) -> String {
    let open = Duration::from_secs(120);
    match attack {
        Attack::OpBomb { .. }
        | Attack::Inflate { .. }
        | Attack::HaveFlood { .. }
        | Attack::HaveFloodFull { .. } => {
            let (doc, msg) = payload.expect("a payload");
            let mut first = vec![attack::hello("c01", Vec::new())];
            first.extend(attack::parts(doc, &msg, MAX_FRAME));
            drop(msg);
            let r = HostileSession::open(&s.url, &s.pki.node("c01"), first, open).await;
            let _ = launched.send(());
            match r {
                Ok(mut session) => session.hold(HOLD).await.describe(),
                Err(e) => e.describe(),
            }
        }
        Attack::HugeHello { docs } => {
            let first = vec![attack::hello("c01", attack::day_docs("c01", docs))];
            let r = HostileSession::open(&s.url, &s.pki.node("c01"), first, open).await;
            let _ = launched.send(());
            match r {
                Ok(mut session) => session.hold(HOLD).await.describe(),
                Err(e) => e.describe(),
            }
        }
        Attack::StalledParts {
            nodes,
            parts,
            part_bytes,
        } => {
            let total = parts as u64 * part_bytes as u64;
            let mut sessions = Vec::new();
            let mut seen = Vec::new();
            for c in nodes {
                let doc = format!("registry/{c}");
                match HostileSession::open(
                    &s.url,
                    &s.pki.node(c),
                    vec![attack::hello(c, Vec::new())],
                    open,
                )
                .await
                {
                    Ok(session) => {
                        for i in 0..parts - 1 {
                            if !session
                                .send(attack::sync_frame(
                                    &doc,
                                    vec![0u8; part_bytes],
                                    i,
                                    parts,
                                    total,
                                ))
                                .await
                            {
                                break;
                            }
                        }
                        sessions.push(session);
                    }
                    Err(e) => seen.push(e.describe()),
                }
            }
            let _ = launched.send(());
            // Held side by side, each read so that the coordinator is never
            // held up by an attacker that does not read.
            let holds: Vec<_> = sessions
                .into_iter()
                .map(|mut x| tokio::spawn(async move { x.hold(PARTS_HOLD).await }))
                .collect();
            for h in holds {
                seen.push(match h.await {
                    Ok(e) => e.describe(),
                    Err(e) => format!("attacker task failed: {e}"),
                });
            }
            summarize(seen)
        }
        Attack::Idle { connections } => {
            let idle =
                attack::idle_tls(s.addr, IpAddr::from(ATTACKER_IP), &s.ca_pem, connections).await;
            let _ = launched.send(());
            let held = idle.held.len();
            let closed = attack::closed_within(idle.held, IDLE_WATCH).await;
            format!(
                "{held} held ({} refused at once); {closed} of {held} closed within {} s",
                idle.refused,
                IDLE_WATCH.as_secs()
            )
        }
    }
}

/// "3× X" when every session saw the same, else each joined with "; ".
fn summarize(seen: Vec<String>) -> String {
    match seen.first() {
        Some(f) if seen.iter().all(|x| x == f) => format!("{}× {f}", seen.len()),
        _ => seen.join("; "),
    }
}

async fn measure(bins: &Path, pki: &Pki, attack: Attack) -> Row {
    let name = attack.name();
    let payload = attack.payload();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let communities = attack.communities();
    let certs = procs::Certs::write(pki, &dir.path().join("certs"), &["c02"]);
    let mut coord = procs::coordinator(bins, &dir.path().join("coordinator"), &certs);
    let op_auth = pki.client(&Principal::Operator("bench".into()));
    let mut op = operator_client(coord.addr, &op_auth).await;
    register(&mut op, &communities).await;
    let node = procs::node(bins, &dir.path().join("c02"), &certs, "c02", coord.addr);
    let mut office = gridsync_testkit::connect(node.addr).await;
    // In sync before the attack: an edit, held by the coordinator.
    calls::edit(&mut office, "攻击之前的院 compound before").await;
    let start = calls::node_registry_heads(&mut office, "c02")
        .await
        .expect("the node's heads");
    let synced = calls::until_held(&mut op, "c02", &start, Duration::from_secs(60), || false).await;
    assert!(
        matches!(synced, Converged::After(_)),
        "c02 did not sync before the attack: {synced:?}"
    );

    let watch = procs::MemoryWatch::start(coord.pid());
    tokio::time::sleep(Duration::from_millis(120)).await;
    let (tx, rx) = oneshot::channel();
    let street = Street {
        pki,
        url: format!("https://localhost:{}", coord.addr.port()),
        addr: coord.addr,
        ca_pem: certs.ca_pem.clone(),
    };
    let poller = calls::OperatorPoller::start(coord.addr, op_auth.clone());
    let t0 = Instant::now();
    let attacker = run_attacker(attack, payload, street, tx);
    let c02 = async {
        let _ = rx.await;
        calls::edit(&mut office, "攻击期间的院 compound during an attack").await;
        let target = calls::node_registry_heads(&mut office, "c02")
            .await
            .expect("the node's heads");
        calls::until_held(&mut op, "c02", &target, CONVERGE_CAP, || watch.is_dead()).await
    };
    let (status, converged) = tokio::join!(attacker, c02);
    let operator = poller.finish();
    let alive = match coord.exited() {
        Some(s) => format!("no ({s})"),
        None => {
            match calls::list_communities(coord.addr, &op_auth, Duration::from_secs(30)).await {
                Ok(_) => "yes".into(),
                Err(e) => format!("no answer: {}", e.chars().take(30).collect::<String>()),
            }
        }
    };
    let memory = watch.finish();
    eprintln!(
        "  {name}: {:.1} s; coordinator log tail:\n{}",
        t0.elapsed().as_secs_f64(),
        indent(&coord.log_tail(3))
    );
    drop(node);
    drop(coord);
    Row {
        attack: name,
        status,
        before_mib: memory.start_rss_kib as f64 / 1024.0,
        peak_mib: memory.peak_mib(),
        alive,
        converge: converged.describe(),
        operator,
    }
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("    {}", l.chars().take(200).collect::<String>()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes `--bench`; other arguments filter the attacks.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let bins = procs::bin_dir();
    let pki = Pki::new();
    let attacks: Vec<Attack> = Attack::all()
        .into_iter()
        .filter(|a| filters.is_empty() || filters.iter().any(|f| a.name().contains(f.as_str())))
        .collect();
    println!("gridsync attacks benchmark");
    println!("binaries: {}", bins.display());
    println!(
        "seed: none (the crafted messages are deterministic; certificates are made per run); coordinator under ulimit -n {}; \
         a fresh coordinator per attack; attacker holds {} s ({} s for stalled parts); c02 capped at {} s; idle connections from {} watched {} s",
        procs::NOFILE,
        HOLD.as_secs(),
        PARTS_HOLD.as_secs(),
        CONVERGE_CAP.as_secs(),
        IpAddr::from(ATTACKER_IP),
        IDLE_WATCH.as_secs()
    );
    let mut rows = Vec::new();
    for a in attacks {
        eprintln!("attack: {}", a.name());
        rows.push(measure(&bins, &pki, a).await);
    }
    println!();
    println!(
        "| attack | status seen | coordinator before → peak MiB | alive | c02 converge s | operator call ms |"
    );
    println!("|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {:.0} → {:.0} | {} | {} | {} |",
            r.attack, r.status, r.before_mib, r.peak_mib, r.alive, r.converge, r.operator
        );
    }
}
