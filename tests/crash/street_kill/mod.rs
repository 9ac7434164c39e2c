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
//! a plan drawn from the seed ([`KillPlan`], shared with the partition
//! simulation's plans) kills nodes and the coordinator with SIGKILL at
//! random moments and restarts each on the same data folder and port, with
//! random proxy faults in between (cut, blackhole, one-way blackhole,
//! delay, reset, heal). Every write goes into the simulation's oracle
//! ([`Oracle`]) before it is sent, and is finished there as acknowledged (an
//! OK answer), refused (a status that says the write was wrong: a failure
//! of the test) or unknown (any other error: it may or may not have
//! landed).
//!
//! The run is split into rounds of
//! [`KILLS_PER_ROUND`](gridsync_testkit::sim::plan::KILLS_PER_ROUND) kills.
//! At the end of each round the writers stop, every proxy heals, and the
//! test waits (with a deadline, never a fixed sleep) until it holds that:
//!
//! - (a) **convergence**: every node is connected with nothing
//!   unacknowledged, the coordinator has no document behind, and each
//!   node's documents (registry, cases, today's activity, the street
//!   document) have the heads the coordinator's stamp of that community
//!   reflects; the time from the heal is measured per round;
//! - (b) **no acknowledged write lost**: every record at every node is
//!   listed and the oracle's set-full counts are taken against what was
//!   listed (lost must be 0; an operator's risk region counts at the
//!   coordinator and at every node, a dispatched ticket at its community's
//!   node); every acknowledged record reads back as acknowledged, an unknown
//!   one that landed as it was sent; nothing is listed that was never
//!   written; and the coordinator's rollup counts per community
//!   (households, residents, today's screening visits, open tickets) equal
//!   the oracle's expected figures (acknowledged records plus those of
//!   unknown outcome that landed);
//! - (f) **access**: a node holds only its own community's documents and the
//!   street document, and never a ticket dispatched to another community.
//!
//! Throughout the run an observer polls the coordinator's
//! `Street.GetRollup` whenever it is up and checks at every observation
//! that (c) every parent's figures are the sum of its children's
//! ([`check_additive`](gridsync_testkit::sim::additive::check_additive),
//! the simulation's check), and that (d) per community, households,
//! residents, today's screening visits and open tickets never decrease (the
//! workload only adds), across coordinator restarts. At the end (e) every community's digest check must become
//! MATCH (nodes report every 2–20 s), fresh and not held. And (g)
//! liveness, at every read of the rollup: a node the coordinator cannot
//! hear (its proxy blackholed, one-way toward the coordinator, cut, or the
//! node killed) must have a stale stamp within the binaries' liveness
//! window (2 s × 3) plus [`STALE_SLACK`]; the summary gives the time from
//! a silent cut to the first stale stamp, and from a coordinator restart
//! to every node connected (the partition suite's checker,
//! [`Liveness`]).
//!
//! The summary's counts are the oracle's (Jepsen's set-full): `lost`
//! (acknowledged, missing at a check: must be 0), `stale` (acknowledged,
//! missed by a check after its acknowledgement, there later: a round that
//! misses a record fails first, so 0 on a passing run), `never-read`
//! (unknown outcome and never seen: the write did not land). A record that
//! could not be read at all (a listing that failed) fails the run.
//!
//! `GRIDSYNC_SEED=<n>` replays a run's plan (kill targets, faults, waits,
//! the writers' seeds); the exact moments still depend on the scheduler.
//! `GRIDSYNC_KILLS=<n>` changes the number of kills (default 20, at least 3
//! of the coordinator). The binaries must be built first:
//! `cargo build -p gridsync-node -p gridsync-coordinator --bins`.
//!
//! The modules: `processes` (the binaries, their proxies and clients),
//! `writers` (the node writers and the operator), `checks` (the observer,
//! convergence and the digest checks), `verify` (every write read back
//! against the oracle) and `steps` (the test's steps, in order).

mod checks;
mod processes;
mod steps;
mod verify;
mod writers;

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use gridsync_core::sync::HeartbeatSettings;
use gridsync_core::{CommunityId, Kind};
use gridsync_proto::office::v1 as pb;
use gridsync_proto::rollup::v1 as rpb;
use gridsync_proto::street::v1 as spb;
use gridsync_testkit::sim::liveness::Liveness;
use gridsync_testkit::sim::oracle::Oracle;
use gridsync_testkit::sim::plan::KillPlan;
use pb::office_client::OfficeClient;
use spb::street_client::StreetClient;
use tokio::sync::watch;
use tonic::transport::Channel;

use checks::Observed;

type Office = OfficeClient<Channel>;
type Operator = StreetClient<Channel>;

const COMMUNITIES: [&str; 3] = ["c01", "c02", "c03"];
/// Every call the test makes gives up after this (the write is then
/// of unknown outcome).
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Only a hang or a bug reaches these deadlines; nothing is timed by them.
const CONVERGE_WITHIN: Duration = Duration::from_secs(60);
const DIGESTS_WITHIN: Duration = Duration::from_secs(60);
const WRITERS_STOP_WITHIN: Duration = Duration::from_secs(30);
/// Beyond the liveness window (the binaries' default heartbeat): how much
/// later than the window a silent node's stamp may still say fresh before
/// the run fails. Real processes on a busy machine: a read, a session's
/// end and a rollup each take their time.
const STALE_SLACK: Duration = Duration::from_secs(10);
/// How often the observer reads the street's rollup.
const OBSERVE_EVERY: Duration = Duration::from_millis(250);
/// The operator's writer in [`Shared::sending`].
const OPERATOR: usize = COMMUNITIES.len();
/// Kinds a node writer creates or the setup writes, checked by listing.
const NODE_KINDS: [Kind; 6] = [
    Kind::Compound,
    Kind::Building,
    Kind::Household,
    Kind::Resident,
    Kind::Ticket,
    Kind::ScreeningVisit,
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

fn community(i: usize) -> CommunityId {
    CommunityId::parse(COMMUNITIES[i]).expect("the test's community ids are valid")
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

/// The oracle, and what it does not keep: the record each write sent and
/// the one it was acknowledged with, for the content checks.
#[derive(Default)]
struct Log {
    oracle: Oracle,
    /// By the oracle's index of the write ([`Oracle::ops`]).
    records: BTreeMap<usize, Written>,
    /// Risk regions as acknowledged, by id.
    regions: BTreeMap<String, spb::RiskRegionPb>,
}

/// A record written at a node's office API, or dispatched to it by the
/// operator.
#[derive(Clone, Debug)]
struct Written {
    node: usize,
    sent: pb::Record,
    /// The record as acknowledged; `None`: refused or unknown.
    acked: Option<pb::Record>,
    error: Option<String>,
    /// A ticket dispatched by the operator (the coordinator fills it in; a
    /// dispatched ticket that landed is recognised by its summary).
    dispatched: bool,
}

struct Shared {
    seed: u64,
    plan: KillPlan,
    t0: Instant,
    events: Mutex<Vec<String>>,
    log: Mutex<Log>,
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
    /// The liveness checker's model of each node's link (the partition
    /// suite's, fed with the proxies' faults and the kills).
    liveness: Mutex<Liveness>,
}

impl Shared {
    fn new(seed: u64, plan: KillPlan) -> Shared {
        Shared {
            seed,
            plan,
            t0: Instant::now(),
            events: Mutex::new(Vec::new()),
            log: Mutex::new(Log::default()),
            observed: Mutex::new(Observed::default()),
            node_up: COMMUNITIES.iter().map(|_| AtomicBool::new(false)).collect(),
            coordinator_up: AtomicBool::new(false),
            coordinator_starts: Mutex::new(0),
            refused: Mutex::new(Vec::new()),
            sending: (0..=COMMUNITIES.len())
                .map(|_| watch::channel(0).0)
                .collect(),
            reading: tokio::sync::Mutex::new(()),
            liveness: Mutex::new({
                let window = HeartbeatSettings::default().window_ms() as u64;
                let mut l = Liveness::new(Duration::from_millis(window) + STALE_SLACK);
                let names: Vec<String> = COMMUNITIES.iter().map(|c| c.to_string()).collect();
                l.nodes(&names, Duration::ZERO);
                // The first start is the street's own (the nodes start
                // after it): only restarts are timed.
                l.forget_start();
                l
            }),
        }
    }

    /// The oracle's clock: time since the start.
    fn now(&self) -> Duration {
        self.t0.elapsed()
    }

    fn event(&self, what: String) {
        let line = format!("t={:6.1}s {what}", self.t0.elapsed().as_secs_f64());
        eprintln!("kill_street: {line}");
        lock(&self.events).push(line);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_a_street_behind_fault_proxies_loses_nothing_and_converges() {
    let started = Instant::now();
    let seed = seed();
    let kills = kills_wanted();
    eprintln!(
        "kill_street: seed {seed} (GRIDSYNC_SEED={seed} replays this run's plan), {kills} kills"
    );
    let plan = KillPlan::draw(seed, kills, COMMUNITIES.len());
    let tmp = tempfile::tempdir().expect("a temporary folder");
    let mut street = processes::Street::start(seed, plan.clone(), tmp.path()).await;
    let mut run = steps::Run::default();
    steps::write_the_compounds(&mut street).await;
    let observer = steps::start_observer(&street);
    for (i, round) in plan.rounds.iter().enumerate() {
        let writers = steps::kill_and_fault(&mut street, i + 1, round, &mut run).await;
        steps::heal_and_verify(&mut street, i + 1, writers, &mut run).await;
    }
    let digest_wait = steps::wait_digests_match(&mut street).await;
    let end = steps::check_the_end(&mut street, observer).await;
    steps::summarise_and_assert(street, &run, end, digest_wait, kills, started).await;
}
