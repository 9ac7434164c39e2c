//! `kill -9` in a street of real processes behind loopback fault proxies:
//! nothing acknowledged is lost, everything converges, and the street's
//! rollup adds up and never goes back.
//!
//! The real `gridsync-coordinator` and three real `gridsync-node` binaries
//! (c01, c02, c03) run over mutual TLS with certificates from a test CA;
//! each node dials the coordinator through its own
//! [`gridsync_testkit::proxy::FaultProxy`]. While every node's office API takes
//! a stream of writes (households under the node's compound and building,
//! residents, screening visits dated today, tickets) and an operator writes
//! at the coordinator (risk regions, tickets dispatched to a community),
//! a plan drawn from the seed kills nodes and the coordinator with SIGKILL
//! at random moments and restarts each on the same data folder and port,
//! with random proxy faults in between (cut, blackhole, one-way blackhole,
//! delay, reset, heal). Every write is logged in an oracle as acknowledged
//! (an OK answer) or indeterminate (an error: it may or may not have
//! landed).
//!
//! The run is split into rounds of [`KILLS_PER_ROUND`] kills. At the end of
//! each round the writers stop, every proxy heals, and the test waits (with a
//! deadline, never a fixed sleep) until it holds that:
//!
//! - (a) **convergence**: every node is connected with nothing
//!   unacknowledged, the coordinator has no document behind, and each
//!   node's documents (registry, cases, today's activity, the street
//!   document) have the heads the coordinator's stamp of that community
//!   reflects; the time from the heal is measured per round;
//! - (b) **no acknowledged write lost**: every acknowledged record reads back
//!   at its node as acknowledged (an operator's risk region at the
//!   coordinator and at every node, a dispatched ticket at its community's
//!   node), nothing is listed that was never written, and the coordinator's
//!   rollup counts per community (households, residents, today's screening
//!   visits, open tickets) equal the records acknowledged plus the
//!   indeterminate ones that landed;
//! - (f) **access**: a node holds only its own community's documents and the
//!   street document, and never a ticket dispatched to another community.
//!
//! Throughout the run an observer polls the coordinator's
//! `Street.GetRollup` whenever it is up and checks at every observation
//! that (c) every parent's figures are the sum of its children's, and that
//! (d) per community, households, residents, today's screening visits and
//! open tickets never decrease (the workload only adds), across coordinator
//! restarts. At the end (e) every community's digest check must become
//! MATCH (nodes report every 2–20 s), fresh and not held.
//!
//! `GRIDSYNC_SEED=<n>` replays a run's plan (kill targets, faults, waits);
//! the exact moments still depend on the scheduler. `GRIDSYNC_KILLS=<n>`
//! changes the number of kills (default 20, at least 3 of the coordinator).
//! The binaries must be built first:
//! `cargo build -p gridsync-node -p gridsync-coordinator --bins`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::OpenOptions;
use std::io::{Read, Write as _};
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use gridsync_core::access::Principal;
use gridsync_proto::office::v1 as pb;
use gridsync_proto::rollup::v1 as rpb;
use gridsync_proto::street::v1 as spb;
use gridsync_sync::tls::endpoint;
use gridsync_testkit::now_ms;
use gridsync_testkit::proxy::{Direction, FaultProxy};
use gridsync_testkit::sim::additive::check_additive;
use gridsync_testkit::street::{Pki, STREET, dispatched_ticket, register, risk_region};
use gridsync_testkit::{
    PERSON_KEY_SECRET_HEX, TIME_ZONE, activity_instant_ms, as_stored, coordinator_binary, day_of,
    day_of_id, id_number, id_of, node_binary, resident_pb, screening_visit_pb,
};
use pb::office_client::OfficeClient;
use pb::record::Record as R;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use spb::street_client::StreetClient;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::Code;
use tonic::transport::{Channel, Endpoint};

type Office = OfficeClient<Channel>;
type Operator = StreetClient<Channel>;

const COMMUNITIES: [&str; 3] = ["c01", "c02", "c03"];
/// Kills between two heals (and convergence checks).
const KILLS_PER_ROUND: usize = 5;
/// At least this many of the kills are of the coordinator.
const MIN_COORDINATOR_KILLS: usize = 3;
/// Every call the test makes gives up after this (the write is then
/// indeterminate).
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// A (re)started process writes its address within this.
const START_WITHIN: Duration = Duration::from_secs(30);
/// Only a hang or a bug reaches these deadlines; nothing is timed by them.
const CONVERGE_WITHIN: Duration = Duration::from_secs(60);
const DIGESTS_WITHIN: Duration = Duration::from_secs(60);
const WRITERS_STOP_WITHIN: Duration = Duration::from_secs(30);
/// How often the observer reads the street's rollup.
const OBSERVE_EVERY: Duration = Duration::from_millis(250);
/// Pauses between writes (ms): a steady stream without starving 2 cores.
const NODE_WRITE_PAUSE_MS: Range<u64> = 20..90;
const OPERATOR_WRITE_PAUSE_MS: Range<u64> = 80..300;
/// Waits of the plan (ms).
const FAULT_GAP_MS: Range<u64> = 150..900;
const KILL_GAP_MS: Range<u64> = 150..1200;
const DOWN_MS: Range<u64> = 0..800;
/// How long after a write was sent a "while sending" kill comes (µs): a
/// write takes a few ms, so this lands before, during and after its commit.
const AFTER_SEND_US: Range<u64> = 0..4000;
/// The operator's writer in [`Shared::sending`].
const OPERATOR: usize = COMMUNITIES.len();
/// Kinds a node writer creates or the setup writes, checked by listing.
const NODE_KINDS: [&str; 6] = [
    "compound",
    "building",
    "household",
    "resident",
    "ticket",
    "screening_visit",
];
/// Rollup figures that only grow under this workload.
const GROWING: [&str; 4] = [
    "households",
    "residents",
    "screening_visits",
    "tickets_open",
];

fn growing(f: &rpb::Figures) -> [u64; 4] {
    [
        f.households,
        f.residents,
        f.screening_visits,
        f.tickets_open,
    ]
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn seed() -> u64 {
    match std::env::var("GRIDSYNC_SEED") {
        Ok(s) => s
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("GRIDSYNC_SEED={s:?} is not a number")),
        Err(_) => rand::random(),
    }
}

fn kills_wanted() -> usize {
    match std::env::var("GRIDSYNC_KILLS") {
        Ok(s) => {
            let n: usize = s
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("GRIDSYNC_KILLS={s:?} is not a number"));
            assert!(n >= 1, "GRIDSYNC_KILLS must be at least 1");
            n
        }
        Err(_) => 20,
    }
}

// ---- processes ----

/// A real service binary started on a fixed data folder; restarted on the
/// port it first got. Its stderr (the log) is appended to one file across
/// restarts. Dropping it kills it.
struct Service {
    name: String,
    bin: PathBuf,
    args: Vec<String>,
    addr_file: PathBuf,
    log: PathBuf,
    /// 0 until the first start picked one.
    port: u16,
    child: Option<Child>,
    starts: u32,
}

impl Service {
    fn new(name: &str, bin: PathBuf, args: Vec<String>, dir: &Path) -> Service {
        Service {
            name: name.to_string(),
            bin,
            args,
            addr_file: dir.join(format!("{name}.addr")),
            log: dir.join(format!("{name}.log")),
            port: 0,
            child: None,
            starts: 0,
        }
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Starts the binary and returns once it has written the address it
    /// listens on. A restart on a port that is not free yet is retried.
    async fn start(&mut self) -> Result<(), String> {
        let mut last = String::new();
        for attempt in 0..6 {
            match std::fs::remove_file(&self.addr_file) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("cannot remove {}: {e}", self.addr_file.display())),
            }
            let mut log = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.log)
                .map_err(|e| format!("cannot open {}: {e}", self.log.display()))?;
            let _ = writeln!(
                log,
                "==== kill_street: start {} of {} on port {} (attempt {attempt}) ====",
                self.starts + 1,
                self.name,
                self.port
            );
            let mut cmd = Command::new(&self.bin);
            // Settings come only from the flags.
            for (k, _) in std::env::vars_os() {
                if k.to_string_lossy().starts_with("GRIDSYNC_") {
                    cmd.env_remove(k);
                }
            }
            cmd.args(&self.args)
                .arg("--listen")
                .arg(format!("127.0.0.1:{}", self.port))
                .arg("--addr-file")
                .arg(&self.addr_file)
                .env("GRIDSYNC_LOG", "info")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(log));
            let mut child = cmd
                .spawn()
                .map_err(|e| format!("cannot start {}: {e}", self.bin.display()))?;
            let deadline = Instant::now() + START_WITHIN;
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    last = format!("{} exited with {status} before listening", self.name);
                    break;
                }
                if let Ok(text) = std::fs::read_to_string(&self.addr_file)
                    && let Ok(addr) = text.trim().parse::<SocketAddr>()
                {
                    self.port = addr.port();
                    self.child = Some(child);
                    self.starts += 1;
                    return Ok(());
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "{} wrote no address within {START_WITHIN:?}",
                        self.name
                    ));
                }
                tokio::time::sleep(ms(10)).await;
            }
            if self.port == 0 {
                break;
            }
            tokio::time::sleep(ms(200)).await;
        }
        Err(last)
    }

    /// SIGKILL (`Child::kill` on unix), reaped. Returns the pid, or an error
    /// if the process had already died by itself.
    fn kill9(&mut self) -> Result<u32, String> {
        let Some(mut child) = self.child.take() else {
            return Err(format!("{} is not running", self.name));
        };
        let pid = child.id();
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "{} (pid {pid}) had exited by itself with {status}",
                self.name
            ));
        }
        let _ = child.kill();
        let _ = child.wait();
        Ok(pid)
    }

    /// Whether it still runs (it was not found dead).
    fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    fn log_tail(&self, lines: usize) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        let all: Vec<&str> = s.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Waits until the node's office API answers `GetStatus`.
async fn node_ready(addr: SocketAddr) -> Result<(), String> {
    let deadline = Instant::now() + START_WITHIN;
    loop {
        let ok = async {
            let ch = Endpoint::from_shared(format!("http://{addr}"))
                .ok()?
                .connect_timeout(ms(1000))
                .timeout(ms(2000))
                .connect()
                .await
                .ok()?;
            OfficeClient::new(ch)
                .get_status(pb::GetStatusRequest {})
                .await
                .ok()
        }
        .await;
        if ok.is_some() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the node at {addr} did not answer within {START_WITHIN:?}"
            ));
        }
        tokio::time::sleep(ms(20)).await;
    }
}

fn office_client(addr: SocketAddr) -> Office {
    let ch = Endpoint::from_shared(format!("http://{addr}"))
        .expect("a socket address makes a valid URL")
        .connect_timeout(ms(2000))
        .timeout(CALL_TIMEOUT)
        .connect_lazy();
    OfficeClient::new(ch)
}

fn operator_client(pki: &Pki, addr: SocketAddr) -> Operator {
    let auth = pki.client(&Principal::Operator("chaos".into()));
    let ch = endpoint(&format!("https://127.0.0.1:{}", addr.port()), &auth)
        .expect("the operator's endpoint")
        .timeout(CALL_TIMEOUT)
        .connect_lazy();
    StreetClient::new(ch)
}

// ---- the plan ----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Coordinator,
    Node(usize),
}

/// The kill targets of a run: about 30 % the coordinator, at least
/// [`MIN_COORDINATOR_KILLS`].
fn kill_plan(rng: &mut StdRng, n: usize) -> Vec<Target> {
    let mut plan: Vec<Target> = (0..n)
        .map(|_| {
            if rng.random_bool(0.3) {
                Target::Coordinator
            } else {
                Target::Node(rng.random_range(0..COMMUNITIES.len()))
            }
        })
        .collect();
    let want = MIN_COORDINATOR_KILLS.min(n);
    while plan.iter().filter(|t| **t == Target::Coordinator).count() < want {
        let i = rng.random_range(0..n);
        plan[i] = Target::Coordinator;
    }
    plan
}

#[derive(Clone, Copy, Debug)]
enum Fault {
    Cut,
    Blackhole,
    OneWay(Direction),
    Delay(u64),
    Reset,
    Heal,
}

impl Fault {
    fn draw(rng: &mut StdRng) -> Fault {
        match rng.random_range(0..100u32) {
            0..15 => Fault::Cut,
            15..30 => Fault::Blackhole,
            30..38 => Fault::OneWay(Direction::ToUpstream),
            38..46 => Fault::OneWay(Direction::ToClient),
            46..62 => Fault::Delay(rng.random_range(5..250)),
            62..78 => Fault::Reset,
            _ => Fault::Heal,
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Fault::Cut => "cut",
            Fault::Blackhole => "blackhole",
            Fault::OneWay(_) => "one-way",
            Fault::Delay(_) => "delay",
            Fault::Reset => "reset",
            Fault::Heal => "heal",
        }
    }

    fn apply(self, p: &FaultProxy) {
        match self {
            Fault::Cut => p.cut(),
            Fault::Blackhole => p.blackhole(),
            Fault::OneWay(d) => p.blackhole_one_way(d),
            Fault::Delay(n) => p.set_delay(ms(n)),
            Fault::Reset => p.reset_all(),
            Fault::Heal => {
                p.heal();
                p.set_delay(Duration::ZERO);
            }
        }
    }
}

// ---- the oracle ----

/// A write at a node's office API.
#[derive(Clone, Debug)]
struct NodeWrite {
    node: usize,
    kind: &'static str,
    id: String,
    sent: pb::Record,
    /// The record as acknowledged; `None`: indeterminate.
    acked: Option<pb::Record>,
    error: Option<String>,
}

/// A write of the operator at the coordinator.
#[derive(Clone, Debug)]
enum OpWrite {
    Region {
        id: String,
        acked: Option<spb::RiskRegionPb>,
    },
    Ticket {
        node: usize,
        id: String,
        /// The summary sent, to recognise an indeterminate one that landed.
        summary: String,
        acked: Option<Box<pb::Ticket>>,
    },
}

impl OpWrite {
    fn is_acked(&self) -> bool {
        match self {
            OpWrite::Region { acked, .. } => acked.is_some(),
            OpWrite::Ticket { acked, .. } => acked.is_some(),
        }
    }
}

#[derive(Default)]
struct Oracle {
    node: Vec<NodeWrite>,
    op: Vec<OpWrite>,
}

impl Oracle {
    /// A node's acknowledged households and the acknowledged residents of
    /// each: what new records may refer to.
    fn refs(&self, node: usize) -> (Vec<String>, BTreeMap<String, Vec<String>>) {
        let mut households = Vec::new();
        let mut residents: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for w in self.node.iter().filter(|w| w.node == node) {
            match &w.acked {
                Some(pb::Record {
                    record: Some(R::Household(h)),
                }) => households.push(h.id.clone()),
                Some(pb::Record {
                    record: Some(R::Resident(r)),
                }) => residents
                    .entry(r.household_id.clone())
                    .or_default()
                    .push(r.id.clone()),
                _ => {}
            }
        }
        (households, residents)
    }
}

// ---- what the observer saw ----

#[derive(Default)]
struct Observed {
    /// Rollups checked (the observer's polls and the checks' reads).
    rollups: u64,
    /// Of those, the observer's polls.
    polls: u64,
    parents_checked: u64,
    held: u64,
    unavailable: u64,
    /// (as_of, community) → the largest of each growing figure seen.
    max: BTreeMap<(String, String), [u64; 4]>,
    violations: Vec<String>,
}

struct Shared {
    seed: u64,
    t0: Instant,
    events: Mutex<Vec<String>>,
    oracle: Mutex<Oracle>,
    observed: Mutex<Observed>,
    node_up: Vec<AtomicBool>,
    coordinator_up: AtomicBool,
    /// How many times the coordinator has been started (for messages).
    coordinator_starts: Mutex<u32>,
    /// Writes refused with a status that means bad input, not a cut.
    refused: Mutex<Vec<String>>,
    /// Bumped by each writer just before it sends a write (one per node,
    /// then the operator's), so that a kill can be timed to a write in
    /// flight.
    sending: Vec<watch::Sender<u64>>,
    /// Held across a rollup's read and its check, so that rollups are
    /// checked in the order the coordinator made them.
    reading: tokio::sync::Mutex<()>,
}

impl Shared {
    fn event(&self, what: String) {
        let line = format!("t={:6.1}s {what}", self.t0.elapsed().as_secs_f64());
        eprintln!("kill_street: {line}");
        lock(&self.events).push(line);
    }

    /// Checks one rollup of the street: additive everywhere, and no
    /// community's growing figures below what was seen before.
    fn observe(&self, r: &rpb::Rollup, when: &str) {
        let starts = *lock(&self.coordinator_starts);
        let mut o = lock(&self.observed);
        o.rollups += 1;
        let Some(tree) = &r.tree else {
            o.violations
                .push(format!("{when}: a rollup without a tree: {r:?}"));
            return;
        };
        let mut violations = Vec::new();
        let parents = check_additive(tree, &r.street_id, &mut violations);
        o.parents_checked += parents;
        for v in violations {
            o.violations.push(format!(
                "{when} (coordinator start {starts}): not additive: {v}"
            ));
        }
        for s in &r.stamps {
            o.held += u64::from(s.held);
            o.unavailable += u64::from(!s.unavailable.is_empty());
            let Some(child) = tree.children.iter().find(|c| c.id == s.community_id) else {
                o.violations.push(format!(
                    "{when}: community {} has a stamp but no place in the tree",
                    s.community_id
                ));
                continue;
            };
            let now = growing(child.figures.as_ref().unwrap_or(&rpb::Figures::default()));
            let key = (r.as_of.clone(), s.community_id.clone());
            let before = o.max.get(&key).copied().unwrap_or_default();
            for (i, name) in GROWING.iter().enumerate() {
                if now[i] < before[i] {
                    let v = format!(
                        "{when} (coordinator start {starts}): {} {name} went back from {} to {} \
                         (stamp held={} unavailable={:?} stale={} digest_state={})",
                        s.community_id,
                        before[i],
                        now[i],
                        s.held,
                        s.unavailable,
                        s.stale,
                        s.digest_state
                    );
                    o.violations.push(v);
                }
            }
            let merged: [u64; 4] = std::array::from_fn(|i| before[i].max(now[i]));
            o.max.insert(key, merged);
        }
    }
}

/// Reads the street's rollup (all levels) and checks it.
async fn read_rollup(
    sh: &Shared,
    op: &mut Operator,
    when: &str,
) -> Result<rpb::Rollup, tonic::Status> {
    let _order = sh.reading.lock().await;
    let r = op.get_rollup(rollup_request(0)).await?.into_inner();
    sh.observe(&r, when);
    Ok(r)
}

// ---- the writers ----

/// The next write at a node: a household, a resident, a screening visit
/// dated today or a ticket, each with an id the test chooses (so that an
/// indeterminate write can be looked for afterwards).
fn next_write(
    rng: &mut StdRng,
    node: usize,
    tag: &str,
    serial: u64,
    households: &[String],
    residents_of: &BTreeMap<String, Vec<String>>,
) -> (&'static str, String, pb::Record) {
    let c = COMMUNITIES[node];
    let wrap = |r: R| pb::Record { record: Some(r) };
    let roll = if households.is_empty() {
        0
    } else {
        rng.random_range(0..100u32)
    };
    let pick = |rng: &mut StdRng| households[rng.random_range(0..households.len())].clone();
    if roll < 30 {
        let id = format!("hh_{tag}");
        let sent = wrap(R::Household(pb::Household {
            id: id.clone(),
            compound_id: format!("cp_{c}"),
            building_id: format!("bd_{c}"),
            unit: format!("{}", rng.random_range(1..7u32)),
            door: format!("{}", 100 + serial),
            head_name: format!("户主{tag}"),
            phone: Some(format!("139{:08}", rng.random_range(0..100_000_000u32))),
            contract_group_id: None,
        }));
        ("household", id, sent)
    } else if roll < 60 {
        let id = format!("rs_{tag}");
        // A birth date unique to the write keeps ID numbers unique in the
        // street (a region code per community).
        let born = chrono::NaiveDate::from_ymd_opt(1940, 1, 1)
            .and_then(|d| d.checked_add_days(chrono::Days::new(serial)))
            .expect("a birth date");
        let number = id_number(&format!("41010{}{}001", node + 1, born.format("%Y%m%d")));
        let household = pick(rng);
        let gender = rng.random_range(0..3i32);
        let alone = rng.random_bool(0.2);
        let sent = resident_pb(
            &id,
            household,
            format!("居民{tag}"),
            number,
            born,
            gender,
            alone,
        );
        ("resident", id, sent)
    } else if roll < 85 {
        let at = activity_instant_ms();
        let id = format!("sv_{}_{tag}", gridsync_core::ids::day_compact(day_of(at)));
        let household = pick(rng);
        let residents = residents_of.get(&household).cloned().unwrap_or_default();
        let sent = screening_visit_pb(&id, household, residents, at, || rng.random_bool(0.8));
        ("screening_visit", id, sent)
    } else {
        let id = format!("tk_{tag}");
        let sent = wrap(R::Ticket(pb::Ticket {
            id: id.clone(),
            received_at_ms: now_ms() - rng.random_range(0..3_600_000i64),
            channel: rng.random_range(1..4i32),
            category: "求助".into(),
            summary: format!("诉求 {tag}"),
            caller_phone: None,
            assigned_compound_id: Some(format!("cp_{c}")),
            assigned_staff_id: None,
            resolved_at_ms: None,
            resolution: None,
        }));
        ("ticket", id, sent)
    }
}

/// A refusal that no cut, kill or timeout explains: the write was bad.
fn refused(code: Code) -> bool {
    matches!(
        code,
        Code::InvalidArgument | Code::AlreadyExists | Code::NotFound | Code::FailedPrecondition
    )
}

/// Writes at one node's office API until told to stop, pausing while the
/// node is down; logs every write in the oracle.
async fn node_writer(
    sh: Arc<Shared>,
    node: usize,
    mut office: Office,
    mut rng: StdRng,
    round: usize,
    stop: watch::Receiver<bool>,
) {
    let c = COMMUNITIES[node];
    let (mut households, mut residents_of) = lock(&sh.oracle).refs(node);
    let mut i: u64 = 0;
    while !*stop.borrow() {
        if !sh.node_up[node].load(Ordering::SeqCst) {
            tokio::time::sleep(ms(20)).await;
            continue;
        }
        let tag = format!("{c}r{round}i{i}");
        let serial = (round as u64) * 4000 + i;
        i += 1;
        let (kind, id, sent) = next_write(&mut rng, node, &tag, serial, &households, &residents_of);
        sh.sending[node].send_modify(|n| *n += 1);
        let res = office
            .create_record(pb::CreateRecordRequest {
                record: Some(sent.clone()),
            })
            .await;
        let mut w = NodeWrite {
            node,
            kind,
            id: id.clone(),
            sent,
            acked: None,
            error: None,
        };
        match res {
            Ok(reply) => {
                let rec = reply.into_inner().record.unwrap_or_default();
                match &rec.record {
                    Some(R::Household(h)) => households.push(h.id.clone()),
                    Some(R::Resident(r)) => residents_of
                        .entry(r.household_id.clone())
                        .or_default()
                        .push(r.id.clone()),
                    _ => {}
                }
                w.acked = Some(rec);
            }
            Err(s) => {
                if refused(s.code()) {
                    lock(&sh.refused).push(format!(
                        "node {c}: create {kind} {id} refused: {:?} {}",
                        s.code(),
                        s.message()
                    ));
                }
                w.error = Some(format!("{:?} {}", s.code(), s.message()));
                tokio::time::sleep(ms(50)).await;
            }
        }
        lock(&sh.oracle).node.push(w);
        tokio::time::sleep(ms(rng.random_range(NODE_WRITE_PAUSE_MS))).await;
    }
}

/// The operator at the coordinator: risk regions and tickets dispatched to
/// a community, pausing while the coordinator is down.
async fn operator_writer(
    sh: Arc<Shared>,
    mut op: Operator,
    mut rng: StdRng,
    round: usize,
    stop: watch::Receiver<bool>,
) {
    let mut i = 0u64;
    while !*stop.borrow() {
        if !sh.coordinator_up.load(Ordering::SeqCst) {
            tokio::time::sleep(ms(20)).await;
            continue;
        }
        let tag = format!("opr{round}i{i}");
        i += 1;
        let w = if rng.random_bool(0.4) {
            let id = format!("rr_{tag}");
            let mut req = risk_region(&format!("测试市{tag}区"));
            if let Some(spb::StreetRecord {
                record: Some(spb::street_record::Record::RiskRegion(r)),
            }) = &mut req.record
            {
                r.id = id.clone();
            }
            sh.sending[OPERATOR].send_modify(|n| *n += 1);
            match op.put_street_record(req).await {
                Ok(reply) => match reply.into_inner().record {
                    Some(spb::street_record::Record::RiskRegion(r)) => {
                        OpWrite::Region { id, acked: Some(r) }
                    }
                    other => {
                        lock(&sh.refused).push(format!(
                            "put risk region {id}: the reply is not a risk region: {other:?}"
                        ));
                        OpWrite::Region { id, acked: None }
                    }
                },
                Err(s) => {
                    if refused(s.code()) {
                        lock(&sh.refused).push(format!(
                            "put risk region {id} refused: {:?} {}",
                            s.code(),
                            s.message()
                        ));
                    }
                    tokio::time::sleep(ms(50)).await;
                    OpWrite::Region { id, acked: None }
                }
            }
        } else {
            let node = rng.random_range(0..COMMUNITIES.len());
            let id = format!("tk_{tag}");
            let mut req = dispatched_ticket(COMMUNITIES[node], &format!("12345 工单 {tag}"));
            if let Some(t) = &mut req.ticket {
                t.id = id.clone();
            }
            let summary = req
                .ticket
                .as_ref()
                .map(|t| t.summary.clone())
                .unwrap_or_default();
            sh.sending[OPERATOR].send_modify(|n| *n += 1);
            match op.dispatch_ticket(req).await {
                Ok(reply) => OpWrite::Ticket {
                    node,
                    id,
                    summary,
                    acked: Some(Box::new(reply.into_inner())),
                },
                Err(s) => {
                    if refused(s.code()) {
                        lock(&sh.refused).push(format!(
                            "dispatch ticket {id} to {} refused: {:?} {}",
                            COMMUNITIES[node],
                            s.code(),
                            s.message()
                        ));
                    }
                    tokio::time::sleep(ms(50)).await;
                    OpWrite::Ticket {
                        node,
                        id,
                        summary,
                        acked: None,
                    }
                }
            }
        };
        lock(&sh.oracle).op.push(w);
        tokio::time::sleep(ms(rng.random_range(OPERATOR_WRITE_PAUSE_MS))).await;
    }
}

/// Reads the street's rollup whenever the coordinator is up, and checks
/// every one it gets.
async fn observer(sh: Arc<Shared>, mut op: Operator, stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        if sh.coordinator_up.load(Ordering::SeqCst)
            && read_rollup(&sh, &mut op, "poll").await.is_ok()
        {
            lock(&sh.observed).polls += 1;
        }
        tokio::time::sleep(OBSERVE_EVERY).await;
    }
}

fn rollup_request(depth: u32) -> rpb::RollupRequest {
    rpb::RollupRequest {
        as_of: String::new(),
        tz: String::new(),
        path: Vec::new(),
        depth,
    }
}

// ---- the checkers ----

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn short(h: &[String]) -> String {
    h.iter()
        .map(|x| x.chars().take(8).collect::<String>())
        .collect::<Vec<_>>()
        .join(",")
}

/// Documents a node of `c` may hold: its own and the street's.
fn access_problems(c: &str, docs: &[pb::DocStatus]) -> Vec<String> {
    docs.iter()
        .filter(|d| {
            !(d.doc_id == "street"
                || d.doc_id == format!("registry/{c}")
                || d.doc_id == format!("cases/{c}")
                || d.doc_id.starts_with(&format!("activity/{c}/")))
        })
        .map(|d| format!("node {c} holds {} (not its community's)", d.doc_id))
        .collect()
}

/// One look at convergence: `Err` says what is not there yet.
async fn converged(op: &mut Operator, offices: &mut [Office]) -> Result<(), String> {
    let st = |what: &str, s: tonic::Status| format!("{what}: {:?} {}", s.code(), s.message());
    let list = op
        .list_communities(spb::ListCommunitiesRequest {})
        .await
        .map_err(|s| st("ListCommunities", s))?
        .into_inner();
    for c in COMMUNITIES {
        let l = list
            .communities
            .iter()
            .find(|l| l.community_id == c)
            .ok_or_else(|| format!("the coordinator does not list {c}"))?;
        if !l.connected || l.docs_behind > 0 {
            return Err(format!(
                "the coordinator: {c} connected={} docs_behind={} last_error={:?}",
                l.connected, l.docs_behind, l.last_error
            ));
        }
    }
    let r = op
        .get_rollup(rollup_request(1))
        .await
        .map_err(|s| st("GetRollup", s))?
        .into_inner();
    let street = op
        .get_street(spb::GetStreetRequest {})
        .await
        .map_err(|s| st("GetStreet at the coordinator", s))?
        .into_inner();
    let street_heads = sorted(street.heads);
    for (i, c) in COMMUNITIES.iter().enumerate() {
        let s = offices[i]
            .get_status(pb::GetStatusRequest {})
            .await
            .map_err(|s| st(&format!("GetStatus at {c}"), s))?
            .into_inner();
        let link = s.link.as_ref().ok_or(format!("node {c} reports no link"))?;
        if !link.connected || link.unacknowledged_changes > 0 {
            return Err(format!(
                "node {c}: connected={} unacknowledged={} last_error={:?}",
                link.connected, link.unacknowledged_changes, link.last_error
            ));
        }
        if let Some(d) = link.docs.iter().find(|d| !d.in_sync) {
            return Err(format!("node {c}: {} not in sync", d.doc_id));
        }
        let ns = offices[i]
            .get_street(pb::GetStreetRequest {})
            .await
            .map_err(|s| st(&format!("GetStreet at {c}"), s))?
            .into_inner();
        let node_street = sorted(ns.heads);
        if node_street != street_heads {
            return Err(format!(
                "node {c}: street heads {} differ from the coordinator's {}",
                short(&node_street),
                short(&street_heads)
            ));
        }
        let stamp = r
            .stamps
            .iter()
            .find(|x| x.community_id == *c)
            .ok_or(format!("no stamp for {c}"))?;
        let heads = stamp
            .heads
            .as_ref()
            .ok_or(format!("the stamp of {c} has no heads"))?;
        let mut wanted: Vec<(String, Vec<String>)> = vec![
            (format!("registry/{c}"), heads.registry.clone()),
            (format!("cases/{c}"), heads.cases.clone()),
            ("street".into(), heads.street.clone()),
            (
                format!("activity/{c}/{}", r.as_of),
                heads
                    .days
                    .get(&r.as_of)
                    .map(|d| d.heads.clone())
                    .unwrap_or_default(),
            ),
        ];
        // The street document's heads at the node come with its copy.
        let mut docs = s.docs.clone();
        docs.push(pb::DocStatus {
            doc_id: "street".into(),
            heads: node_street.clone(),
            ..Default::default()
        });
        for (doc, theirs) in wanted.drain(..) {
            let theirs = sorted(theirs);
            let ours = sorted(
                docs.iter()
                    .find(|d| d.doc_id == doc)
                    .map(|d| d.heads.clone())
                    .unwrap_or_default(),
            );
            if ours != theirs {
                return Err(format!(
                    "node {c}: heads of {doc} {} differ from the coordinator's {}",
                    short(&ours),
                    short(&theirs)
                ));
            }
        }
    }
    Ok(())
}

async fn wait_converged(
    op: &mut Operator,
    offices: &mut [Office],
    within: Duration,
) -> Result<Duration, String> {
    let t = Instant::now();
    loop {
        let why = match converged(op, offices).await {
            Ok(()) => return Ok(t.elapsed()),
            Err(why) => why,
        };
        if t.elapsed() > within {
            return Err(format!("not converged within {within:?}: {why}"));
        }
        tokio::time::sleep(ms(50)).await;
    }
}

/// One look at the digest checks: every community MATCH, fresh, not held.
async fn digests_match(op: &mut Operator) -> Result<(), String> {
    let r = op
        .get_rollup(rollup_request(1))
        .await
        .map_err(|s| format!("GetRollup: {:?} {}", s.code(), s.message()))?
        .into_inner();
    for c in COMMUNITIES {
        let s = r
            .stamps
            .iter()
            .find(|s| s.community_id == c)
            .ok_or(format!("no stamp for {c}"))?;
        if s.digest_state != rpb::DigestState::Match as i32
            || s.stale
            || s.held
            || !s.unavailable.is_empty()
        {
            return Err(format!(
                "{c}: digest_state={:?} stale={} held={} unavailable={:?} digest={} node_digest={}",
                rpb::DigestState::try_from(s.digest_state),
                s.stale,
                s.held,
                s.unavailable,
                s.digest,
                s.node_digest
            ));
        }
    }
    Ok(())
}

/// Every record of `kind` at a node (of `day` for activity kinds).
async fn list_kind(office: &mut Office, kind: &str, day: &str) -> Result<Vec<pb::Record>, String> {
    let mut out = Vec::new();
    let mut after = String::new();
    loop {
        let reply = office
            .list_records(pb::ListRecordsRequest {
                kind: kind.into(),
                day: day.into(),
                limit: 1000,
                after_id: after.clone(),
            })
            .await
            .map_err(|s| format!("list {kind} {day:?}: {:?} {}", s.code(), s.message()))?
            .into_inner();
        out.extend(reply.records);
        if reply.next_after_id.is_empty() {
            return Ok(out);
        }
        after = reply.next_after_id;
    }
}

/// What a check of every write found.
#[derive(Default, Debug)]
struct Tally {
    acked: usize,
    indeterminate: usize,
    landed: usize,
    lost: usize,
    stale: usize,
    never_read: usize,
    problems: Vec<String>,
}

/// Reads back every write (with the street converged and the writers
/// stopped) and compares the coordinator's rollup counts with the records.
async fn verify_writes(sh: &Shared, op: &mut Operator, offices: &mut [Office]) -> Tally {
    let (node_writes, op_writes) = {
        let o = lock(&sh.oracle);
        (o.node.clone(), o.op.clone())
    };
    let mut t = Tally::default();
    for w in &node_writes {
        if w.acked.is_some() {
            t.acked += 1;
        } else {
            t.indeterminate += 1;
        }
    }
    for w in &op_writes {
        if w.is_acked() {
            t.acked += 1;
        } else {
            t.indeterminate += 1;
        }
    }
    // Everything listed at each node, by kind and id.
    let mut listed: Vec<BTreeMap<&str, Option<BTreeMap<String, pb::Record>>>> = Vec::new();
    for (i, c) in COMMUNITIES.iter().enumerate() {
        let mut by_kind = BTreeMap::new();
        for kind in NODE_KINDS {
            let days: BTreeSet<String> = if kind == "screening_visit" {
                let mut d: BTreeSet<String> = node_writes
                    .iter()
                    .filter(|w| w.node == i && w.kind == kind)
                    .map(|w| day_of_id(&w.id))
                    .collect();
                d.insert(String::new());
                d
            } else {
                [String::new()].into()
            };
            let mut all = Some(BTreeMap::new());
            for day in &days {
                match list_kind(&mut offices[i], kind, day).await {
                    Ok(recs) => {
                        if let Some(m) = &mut all {
                            m.extend(recs.into_iter().map(|r| (id_of(&r).to_string(), r)));
                        }
                    }
                    Err(e) => {
                        t.problems.push(format!("node {c}: {e}"));
                        all = None;
                    }
                }
            }
            by_kind.insert(kind, all);
        }
        listed.push(by_kind);
    }
    // Node writes.
    let mut known: Vec<BTreeSet<(&str, String)>> = vec![BTreeSet::new(); COMMUNITIES.len()];
    for w in &node_writes {
        let c = COMMUNITIES[w.node];
        known[w.node].insert((w.kind, w.id.clone()));
        let Some(Some(m)) = listed[w.node].get(w.kind) else {
            if w.acked.is_some() {
                t.never_read += 1;
            }
            continue;
        };
        let got = m.get(&w.id);
        match (&w.acked, got) {
            (Some(_), None) => {
                t.lost += 1;
                t.problems
                    .push(format!("LOST: node {c}: acknowledged {} {}", w.kind, w.id));
            }
            (Some(want), Some(got)) if want != got => {
                t.stale += 1;
                t.problems.push(format!(
                    "STALE: node {c}: {} {} reads {got:?}, acknowledged {want:?}",
                    w.kind, w.id
                ));
            }
            (Some(_), Some(_)) => {}
            (None, Some(got)) => {
                t.landed += 1;
                let want = as_stored(&w.sent, &w.id);
                if *got != want {
                    t.problems.push(format!(
                        "node {c}: indeterminate {} {} ({:?}) landed changed: sent {want:?}, stored {got:?}",
                        w.kind, w.id, w.error
                    ));
                }
            }
            (None, None) => {}
        }
    }
    // The operator's writes: dispatched tickets at their node (and nowhere
    // else), risk regions at the coordinator and every node.
    let mut regions_known = BTreeSet::new();
    for w in &op_writes {
        match w {
            OpWrite::Ticket {
                node,
                id,
                summary,
                acked,
            } => {
                let c = COMMUNITIES[*node];
                known[*node].insert(("ticket", id.clone()));
                for (j, other) in COMMUNITIES.iter().enumerate() {
                    if j != *node
                        && let Some(Some(m)) = listed[j].get("ticket")
                        && m.contains_key(id)
                    {
                        t.problems.push(format!(
                            "ACCESS: node {other} holds ticket {id} dispatched to {c}"
                        ));
                    }
                }
                let Some(Some(m)) = listed[*node].get("ticket") else {
                    if acked.is_some() {
                        t.never_read += 1;
                    }
                    continue;
                };
                let got = m.get(id).map(|r| match &r.record {
                    Some(R::Ticket(x)) => x.clone(),
                    _ => pb::Ticket::default(),
                });
                match (acked, got) {
                    (Some(_), None) => {
                        t.lost += 1;
                        t.problems.push(format!(
                            "LOST: dispatched ticket {id} (acknowledged by the coordinator) is not at node {c}"
                        ));
                    }
                    (Some(want), Some(got)) if **want != got => {
                        t.stale += 1;
                        t.problems.push(format!(
                            "STALE: dispatched ticket {id} reads {got:?} at node {c}, acknowledged {want:?}"
                        ));
                    }
                    (None, Some(got)) => {
                        t.landed += 1;
                        if got.summary != *summary {
                            t.problems.push(format!(
                                "dispatched ticket {id} landed changed at {c}: {got:?}, sent summary {summary:?}"
                            ));
                        }
                    }
                    _ => {}
                }
            }
            OpWrite::Region { id, .. } => {
                regions_known.insert(id.clone());
            }
        }
    }
    let mut streets: Vec<(String, Result<spb::StreetDocument, String>)> = vec![(
        "the coordinator".into(),
        op.get_street(spb::GetStreetRequest {})
            .await
            .map(|r| r.into_inner())
            .map_err(|s| format!("{:?} {}", s.code(), s.message())),
    )];
    for (i, c) in COMMUNITIES.iter().enumerate() {
        streets.push((
            format!("node {c}"),
            offices[i]
                .get_street(pb::GetStreetRequest {})
                .await
                .map(|r| r.into_inner())
                .map_err(|s| format!("{:?} {}", s.code(), s.message())),
        ));
    }
    let mut regions_landed = BTreeSet::new();
    for (who, doc) in &streets {
        let doc = match doc {
            Ok(d) => d,
            Err(e) => {
                t.problems.push(format!("GetStreet at {who}: {e}"));
                t.never_read += op_writes
                    .iter()
                    .filter(|w| matches!(w, OpWrite::Region { acked: Some(_), .. }))
                    .count();
                continue;
            }
        };
        let have: BTreeMap<&str, &spb::RiskRegionPb> = doc
            .risk_regions
            .iter()
            .map(|r| (r.id.as_str(), r))
            .collect();
        for w in &op_writes {
            if let OpWrite::Region { id, acked } = w {
                match (acked, have.get(id.as_str())) {
                    (Some(_), None) => {
                        t.lost += 1;
                        t.problems.push(format!(
                            "LOST: acknowledged risk region {id} is not at {who}"
                        ));
                    }
                    (Some(want), Some(got)) if want != *got => {
                        t.stale += 1;
                        t.problems.push(format!(
                            "STALE: risk region {id} at {who} reads {got:?}, acknowledged {want:?}"
                        ));
                    }
                    (None, Some(_)) => {
                        regions_landed.insert(id.clone());
                    }
                    _ => {}
                }
            }
        }
        for id in have.keys() {
            if !regions_known.contains(*id) {
                t.problems
                    .push(format!("{who} holds risk region {id}, never written"));
            }
        }
    }
    t.landed += regions_landed.len();
    // Nothing listed that was never written.
    for (i, c) in COMMUNITIES.iter().enumerate() {
        for (kind, m) in &listed[i] {
            for id in m.iter().flat_map(|m| m.keys()) {
                if !known[i].contains(&(*kind, id.clone())) {
                    t.problems
                        .push(format!("node {c} lists {kind} {id}, never written there"));
                }
            }
        }
    }
    // The coordinator's figures per community equal the records at the node.
    match read_rollup(sh, op, "check").await {
        Ok(r) => {
            for (i, c) in COMMUNITIES.iter().enumerate() {
                let count = |kind: &str, day: Option<&str>| {
                    listed[i].get(kind).and_then(|m| m.as_ref()).map(|m| {
                        m.keys()
                            .filter(|id| day.is_none_or(|d| day_of_id(id) == d))
                            .count() as u64
                    })
                };
                let want = [
                    count("household", None),
                    count("resident", None),
                    count("screening_visit", Some(&r.as_of)),
                    count("ticket", None),
                ];
                let got = r
                    .tree
                    .as_ref()
                    .and_then(|t| t.children.iter().find(|n| n.id == *c))
                    .and_then(|n| n.figures.as_ref())
                    .map(growing);
                let Some(got) = got else {
                    t.problems
                        .push(format!("the coordinator's rollup has no figures for {c}"));
                    continue;
                };
                for (k, name) in GROWING.iter().enumerate() {
                    if let Some(w) = want[k]
                        && w != got[k]
                    {
                        t.problems.push(format!(
                            "ROLLUP: the coordinator counts {} {name} for {c}, the node holds {w} \
                             (acknowledged + indeterminate that landed)",
                            got[k]
                        ));
                    }
                }
            }
        }
        Err(s) => t
            .problems
            .push(format!("GetRollup: {:?} {}", s.code(), s.message())),
    }
    t
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// The last lines of every process's log, for a failure message.
fn logs(coord: &Service, nodes: &[Service]) -> String {
    let mut s = format!(
        "---- {} log (tail) ----\n{}\n",
        coord.name,
        coord.log_tail(40)
    );
    for n in nodes {
        s.push_str(&format!(
            "---- {} log (tail) ----\n{}\n",
            n.name,
            n.log_tail(25)
        ));
    }
    s
}

fn fail(sh: &Shared, coord: &Service, nodes: &[Service], what: &str) -> ! {
    let events = lock(&sh.events).join("\n");
    panic!(
        "kill_street: seed {seed} (GRIDSYNC_SEED={seed} replays the plan): {what}\n\
         ---- the faults and kills drawn so far ----\n{events}\n{}",
        logs(coord, nodes),
        seed = sh.seed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_a_street_behind_fault_proxies_loses_nothing_and_converges() {
    let started = Instant::now();
    let seed = seed();
    let kills = kills_wanted();
    eprintln!(
        "kill_street: seed {seed} (GRIDSYNC_SEED={seed} replays this run's plan), {kills} kills"
    );
    let mut rng = StdRng::seed_from_u64(seed);
    let plan = kill_plan(&mut rng, kills);
    let tmp = tempfile::tempdir().expect("a temporary folder");
    let dir = tmp.path();

    // Certificates, as files for the binaries.
    let pki = Pki::new();
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs).expect("certs folder");
    std::fs::write(certs.join("ca.pem"), &pki.ca.cert_pem).expect("write ca.pem");
    pki.server
        .write(
            &certs.join("coordinator.pem"),
            &certs.join("coordinator.key"),
            false,
        )
        .expect("write the coordinator's certificate");
    for c in COMMUNITIES {
        pki.leaf(&Principal::Node(
            gridsync_core::CommunityId::parse(c).expect("community id"),
        ))
        .write(
            &certs.join(format!("node-{c}.pem")),
            &certs.join(format!("node-{c}.key")),
            false,
        )
        .expect("write a node's certificate");
    }
    let path = |p: PathBuf| p.to_string_lossy().into_owned();

    let sh = Arc::new(Shared {
        seed,
        t0: Instant::now(),
        events: Mutex::new(Vec::new()),
        oracle: Mutex::new(Oracle::default()),
        observed: Mutex::new(Observed::default()),
        node_up: COMMUNITIES.iter().map(|_| AtomicBool::new(false)).collect(),
        coordinator_up: AtomicBool::new(false),
        coordinator_starts: Mutex::new(0),
        refused: Mutex::new(Vec::new()),
        sending: (0..=COMMUNITIES.len())
            .map(|_| watch::channel(0).0)
            .collect(),
        reading: tokio::sync::Mutex::new(()),
    });

    // The coordinator.
    let mut coord = Service::new(
        "coordinator",
        coordinator_binary(),
        [
            "--street-id",
            STREET,
            "--data-dir",
            &path(dir.join("street-data")),
            "--time-zone",
            TIME_ZONE.name(),
            "--tls-ca",
            &path(certs.join("ca.pem")),
            "--tls-cert",
            &path(certs.join("coordinator.pem")),
            "--tls-key",
            &path(certs.join("coordinator.key")),
            "--compact-after-chunks",
            "8",
            "--shutdown-grace-secs",
            "1",
            "--stale-after-secs",
            "60",
        ]
        .map(String::from)
        .to_vec(),
        dir,
    );
    let mut nodes: Vec<Service> = Vec::new();
    if let Err(e) = coord.start().await {
        fail(&sh, &coord, &nodes, &format!("start the coordinator: {e}"));
    }
    *lock(&sh.coordinator_starts) += 1;
    sh.coordinator_up.store(true, Ordering::SeqCst);
    sh.event(format!("coordinator listening on {}", coord.addr()));
    let mut op = operator_client(&pki, coord.addr());
    register(&mut op, &COMMUNITIES).await;

    // A fault proxy per node, then the nodes dialling through it.
    let mut proxies = Vec::new();
    for c in COMMUNITIES {
        let p = FaultProxy::start(SocketAddr::from(([127, 0, 0, 1], 0)), coord.addr())
            .await
            .unwrap_or_else(|e| panic!("seed {seed}: start the fault proxy of {c}: {e}"));
        let args = [
            "--community-id",
            c,
            "--data-dir",
            &path(dir.join(format!("data-{c}"))),
            "--person-key-secret",
            PERSON_KEY_SECRET_HEX,
            "--time-zone",
            TIME_ZONE.name(),
            "--compact-after-chunks",
            "8",
            "--shutdown-grace-secs",
            "1",
            "--coordinator",
            &p.local_addr().to_string(),
            "--coordinator-domain",
            "localhost",
            "--tls-ca",
            &path(certs.join("ca.pem")),
            "--tls-cert",
            &path(certs.join(format!("node-{c}.pem"))),
            "--tls-key",
            &path(certs.join(format!("node-{c}.key"))),
            "--reconnect-min-ms",
            "50",
            "--reconnect-max-ms",
            "500",
        ]
        .map(String::from)
        .to_vec();
        nodes.push(Service::new(&format!("node-{c}"), node_binary(), args, dir));
        proxies.push(p);
    }
    for i in 0..nodes.len() {
        let started = nodes[i].start().await;
        let ready = match started {
            Ok(()) => node_ready(nodes[i].addr()).await,
            Err(e) => Err(e),
        };
        if let Err(e) = ready {
            fail(
                &sh,
                &coord,
                &nodes,
                &format!("start {}: {e}", nodes[i].name),
            );
        }
        sh.node_up[i].store(true, Ordering::SeqCst);
        sh.event(format!(
            "{} listening on {}, dialling through its proxy {}",
            nodes[i].name,
            nodes[i].addr(),
            proxies[i].local_addr()
        ));
    }
    let mut offices: Vec<Office> = nodes.iter().map(|n| office_client(n.addr())).collect();

    // Round 0: each node's compound and building, then a first convergence.
    for (i, c) in COMMUNITIES.iter().enumerate() {
        for sent in [
            pb::Record {
                record: Some(R::Compound(pb::Compound {
                    id: format!("cp_{c}"),
                    name: format!("{c} 一号院"),
                    address: None,
                })),
            },
            pb::Record {
                record: Some(R::Building(pb::Building {
                    id: format!("bd_{c}"),
                    compound_id: format!("cp_{c}"),
                    name: "1号楼".into(),
                })),
            },
        ] {
            let kind = if matches!(sent.record, Some(R::Compound(_))) {
                "compound"
            } else {
                "building"
            };
            let id = id_of(&sent).to_string();
            match offices[i]
                .create_record(pb::CreateRecordRequest {
                    record: Some(sent.clone()),
                })
                .await
            {
                Ok(reply) => lock(&sh.oracle).node.push(NodeWrite {
                    node: i,
                    kind,
                    id,
                    sent,
                    acked: reply.into_inner().record,
                    error: None,
                }),
                Err(s) => fail(
                    &sh,
                    &coord,
                    &nodes,
                    &format!("create {kind} {id} at {c}: {s:?}"),
                ),
            }
        }
    }
    let first = match wait_converged(&mut op, &mut offices, CONVERGE_WITHIN).await {
        Ok(d) => d,
        Err(e) => fail(&sh, &coord, &nodes, &format!("round 0: {e}")),
    };
    sh.event(format!(
        "round 0: converged {:.2} s after the start",
        first.as_secs_f64()
    ));

    let (obs_stop, obs_stop_rx) = watch::channel(false);
    let obs_task = tokio::spawn(observer(sh.clone(), op.clone(), obs_stop_rx));

    let mut fault_counts: BTreeMap<&'static str, u32> = BTreeMap::new();
    let (mut node_kills, mut coordinator_kills) = (0u32, 0u32);
    let mut convergence: Vec<Duration> = Vec::new();
    let mut per_round = Vec::new();
    let rounds = plan.len().div_ceil(KILLS_PER_ROUND);
    for (round0, targets) in plan.chunks(KILLS_PER_ROUND).enumerate() {
        let round = round0 + 1;
        let (stop, stop_rx) = watch::channel(false);
        let mut writers: Vec<JoinHandle<()>> = Vec::new();
        for (i, office) in offices.iter().enumerate() {
            writers.push(tokio::spawn(node_writer(
                sh.clone(),
                i,
                office.clone(),
                StdRng::seed_from_u64(rng.random()),
                round,
                stop_rx.clone(),
            )));
        }
        writers.push(tokio::spawn(operator_writer(
            sh.clone(),
            op.clone(),
            StdRng::seed_from_u64(rng.random()),
            round,
            stop_rx.clone(),
        )));
        for target in targets {
            for _ in 0..rng.random_range(0..=2usize) {
                tokio::time::sleep(ms(rng.random_range(FAULT_GAP_MS))).await;
                let p = rng.random_range(0..proxies.len());
                let f = Fault::draw(&mut rng);
                f.apply(&proxies[p]);
                *fault_counts.entry(f.kind()).or_default() += 1;
                sh.event(format!("round {round}: proxy of {}: {f:?}", COMMUNITIES[p]));
            }
            tokio::time::sleep(ms(rng.random_range(KILL_GAP_MS))).await;
            let down = ms(rng.random_range(DOWN_MS));
            // Half the kills come a drawn number of µs after the target's
            // writer sent a write (the operator's, for the coordinator).
            let after_send = rng
                .random_bool(0.5)
                .then(|| rng.random_range(AFTER_SEND_US));
            let moment = match after_send {
                Some(us) => {
                    let writer = match *target {
                        Target::Coordinator => OPERATOR,
                        Target::Node(i) => i,
                    };
                    let mut sent = sh.sending[writer].subscribe();
                    let caught = tokio::time::timeout(Duration::from_secs(2), sent.changed())
                        .await
                        .is_ok();
                    // Shorter than a timer tick: block this worker briefly.
                    std::thread::sleep(Duration::from_micros(us));
                    if caught {
                        format!("{us} µs after a write was sent")
                    } else {
                        "no write sent within 2 s".to_string()
                    }
                }
                None => "at a random moment".to_string(),
            };
            let acked = lock(&sh.oracle).node.len();
            match *target {
                Target::Coordinator => {
                    sh.coordinator_up.store(false, Ordering::SeqCst);
                    let pid = match coord.kill9() {
                        Ok(pid) => pid,
                        Err(e) => fail(&sh, &coord, &nodes, &e),
                    };
                    coordinator_kills += 1;
                    sh.event(format!(
                        "round {round}: kill -9 coordinator (pid {pid}) {moment}, after {acked} node writes; down {} ms",
                        down.as_millis()
                    ));
                    tokio::time::sleep(down).await;
                    let t = Instant::now();
                    if let Err(e) = coord.start().await {
                        fail(
                            &sh,
                            &coord,
                            &nodes,
                            &format!("restart the coordinator: {e}"),
                        );
                    }
                    *lock(&sh.coordinator_starts) += 1;
                    sh.coordinator_up.store(true, Ordering::SeqCst);
                    sh.event(format!(
                        "round {round}: coordinator restarted on {} in {} ms",
                        coord.addr(),
                        t.elapsed().as_millis()
                    ));
                }
                Target::Node(i) => {
                    sh.node_up[i].store(false, Ordering::SeqCst);
                    let pid = match nodes[i].kill9() {
                        Ok(pid) => pid,
                        Err(e) => fail(&sh, &coord, &nodes, &e),
                    };
                    node_kills += 1;
                    sh.event(format!(
                        "round {round}: kill -9 {} (pid {pid}) {moment}, after {acked} node writes; down {} ms",
                        nodes[i].name,
                        down.as_millis()
                    ));
                    tokio::time::sleep(down).await;
                    let t = Instant::now();
                    let restarted = match nodes[i].start().await {
                        Ok(()) => node_ready(nodes[i].addr()).await,
                        Err(e) => Err(e),
                    };
                    if let Err(e) = restarted {
                        fail(
                            &sh,
                            &coord,
                            &nodes,
                            &format!("restart {}: {e}", nodes[i].name),
                        );
                    }
                    sh.node_up[i].store(true, Ordering::SeqCst);
                    sh.event(format!(
                        "round {round}: {} restarted on {} in {} ms",
                        nodes[i].name,
                        nodes[i].addr(),
                        t.elapsed().as_millis()
                    ));
                }
            }
        }
        tokio::time::sleep(ms(rng.random_range(100..600u64))).await;

        // End of the round: writers stop, every link heals, and the street
        // must converge with nothing lost.
        let _ = stop.send(true);
        let joined = tokio::time::timeout(WRITERS_STOP_WITHIN, async {
            for w in writers {
                w.await.expect("a writer panicked");
            }
        })
        .await;
        if joined.is_err() {
            fail(&sh, &coord, &nodes, "the writers did not stop");
        }
        for p in &proxies {
            p.heal();
            p.set_delay(Duration::ZERO);
        }
        sh.event(format!(
            "round {round}: writers stopped, every proxy healed"
        ));
        let took = match wait_converged(&mut op, &mut offices, CONVERGE_WITHIN).await {
            Ok(d) => d,
            Err(e) => fail(&sh, &coord, &nodes, &format!("round {round}: {e}")),
        };
        convergence.push(took);
        per_round.push(format!("r{round}={:.2}s", took.as_secs_f64()));
        let t = verify_writes(&sh, &mut op, &mut offices).await;
        sh.event(format!(
            "round {round}: converged {:.2} s after the heal; writes acked={} indeterminate={} landed={} lost={} stale={} never-read={}",
            took.as_secs_f64(),
            t.acked,
            t.indeterminate,
            t.landed,
            t.lost,
            t.stale,
            t.never_read
        ));
        if !t.problems.is_empty() || t.never_read > 0 {
            fail(
                &sh,
                &coord,
                &nodes,
                &format!(
                    "round {round}: {} problems (lost={} stale={} never-read={}):\n{}",
                    t.problems.len(),
                    t.lost,
                    t.stale,
                    t.never_read,
                    t.problems.join("\n")
                ),
            );
        }
        let mut v = lock(&sh.observed).violations.clone();
        v.extend(lock(&sh.refused).iter().cloned());
        if !v.is_empty() {
            fail(
                &sh,
                &coord,
                &nodes,
                &format!(
                    "round {round}: the street's rollup broke a rule, or a write was refused:\n{}",
                    v.join("\n")
                ),
            );
        }
    }

    // Quiescence: every community's digest check MATCH, fresh, not held.
    let t = Instant::now();
    loop {
        let why = match digests_match(&mut op).await {
            Ok(()) => break,
            Err(why) => why,
        };
        if t.elapsed() > DIGESTS_WITHIN {
            fail(
                &sh,
                &coord,
                &nodes,
                &format!("the digest checks did not all MATCH within {DIGESTS_WITHIN:?}: {why}"),
            );
        }
        tokio::time::sleep(ms(200)).await;
    }
    let digest_wait = t.elapsed();
    sh.event(format!(
        "every digest check MATCH {:.1} s after the last heal's convergence",
        digest_wait.as_secs_f64()
    ));

    // The final read of everything, and access.
    if let Err(e) = converged(&mut op, &mut offices).await {
        fail(&sh, &coord, &nodes, &format!("at the end: {e}"));
    }
    let fin = verify_writes(&sh, &mut op, &mut offices).await;
    let mut problems = fin.problems.clone();
    for (i, c) in COMMUNITIES.iter().enumerate() {
        match offices[i].get_status(pb::GetStatusRequest {}).await {
            Ok(s) => problems.extend(access_problems(c, &s.into_inner().docs)),
            Err(s) => problems.push(format!("GetStatus at {c}: {s:?}")),
        }
    }
    problems.extend(lock(&sh.refused).iter().cloned());
    if !coord.running() {
        problems.push("the coordinator died by itself".into());
    }
    for n in &mut nodes {
        if !n.running() {
            problems.push(format!("{} died by itself", n.name));
        }
    }
    let _ = obs_stop.send(true);
    let _ = obs_task.await;
    let observed = std::mem::take(&mut *lock(&sh.observed));
    problems.extend(observed.violations.iter().cloned());

    convergence.sort();
    let faults = fault_counts
        .iter()
        .map(|(k, n)| format!("{k}={n}"))
        .collect::<Vec<_>>()
        .join(" ");
    let summary = format!(
        "kill_street: seed={seed} kills node={node_kills} coordinator={coordinator_kills} \
         proxy faults by kind {faults}, writes acked={} indeterminate={} (landed {}), \
         lost={} stale={} never-read={}, convergence after heal p50={:.2}s p99={:.2}s ({}), \
         rollup checks={} (polls {}, parents summed {}, held {}, unavailable {}), \
         digests MATCH {:.1}s after, rounds={rounds}, took {:.1}s",
        fin.acked,
        fin.indeterminate,
        fin.landed,
        fin.lost,
        fin.stale,
        fin.never_read,
        percentile(&convergence, 0.5).as_secs_f64(),
        percentile(&convergence, 0.99).as_secs_f64(),
        per_round.join(" "),
        observed.rollups,
        observed.polls,
        observed.parents_checked,
        observed.held,
        observed.unavailable,
        digest_wait.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    eprintln!("{summary}");
    if !problems.is_empty() || fin.never_read > 0 {
        fail(
            &sh,
            &coord,
            &nodes,
            &format!(
                "{} problems at the end:\n{}\n{summary}",
                problems.len(),
                problems.join("\n")
            ),
        );
    }
    assert_eq!(
        (node_kills + coordinator_kills) as usize,
        kills,
        "seed {seed}: {summary}"
    );
    assert!(
        coordinator_kills as usize >= MIN_COORDINATOR_KILLS.min(kills),
        "seed {seed}: {summary}"
    );
    assert!(
        fin.acked >= 10 * rounds,
        "seed {seed}: too few writes were acknowledged for the test to mean much: {summary}"
    );
    assert!(
        observed.polls >= rounds as u64,
        "seed {seed}: the observer read the rollup only {} times: {summary}",
        observed.polls
    );
    for p in proxies {
        p.shutdown().await;
    }
}
