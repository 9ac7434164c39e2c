//! A deterministic simulation of a whole street: the coordinator and N
//! nodes running the real services, the real gRPC stack (tonic, HTTP/2,
//! mutual TLS) and real SQLite stores, over turmoil's simulated network,
//! with faults, a workload and an oracle all drawn from one seed.
//!
//! A run has two phases, like FoundationDB's and TigerBeetle's simulators:
//! a safety phase where offices and operators edit while faults strike (the
//! checkers run at every observation), then a liveness phase where every
//! link heals, the crashed restart, the street goes quiet and must converge.
//!
//! What is decided by the seed: the street's size, the chaos's length, the
//! fault rates and schedule, the network's latencies and the simulator's
//! order of delivery, every edit and every operator action, and the link's
//! redial jitter. What is not: Automerge's actor ids and the thread that
//! runs a store write (the hosts' async code is single-threaded and driven
//! by simulated time). A replay repeats the plan, the workload and the
//! fault schedule exactly; see `tests/partition/main.rs`.

//!
//! The modules: [`plan`] (what a seed decides), [`net`] (tonic over
//! turmoil's TCP), [`oracle`] (every edit and what came of it; set-full
//! counts), `hosts` (the coordinator's, the nodes' and the operators' hosts,
//! and the stores set up before a run), `hostile` (the hostile node of the
//! seeds that draw attacks), `workload` (the offices' and the operators'
//! edits), `observe` (the observers and checkers during the run
//! and once quiet), `disk` (the stores read from disk after the run) and
//! [`additive`] (the additivity check of a rollup read over gRPC, which the
//! street kill test shares).

pub mod additive;
mod disk;
mod hostile;
mod hosts;
pub mod liveness;
pub mod net;
mod observe;
pub mod oracle;
pub mod plan;
mod workload;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use automerge::ChangeHash;
use gridsync_coordinator::sync_service::ReplicasHandle;
use gridsync_core::view::{CommunityView, DayView};
use gridsync_core::{CommunityId, Day};
use gridsync_node::service::OfficeHandle;
use gridsync_sync::tls::ClientAuth;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::street::Pki;
use crate::{activity_instant_ms, day_of, now_ms};
use disk::durable_checks;
use hosts::{coordinator_host, node_host, ops_client, setup};
use oracle::{Oracle, SetFull};
use plan::{Action, COORD, FaultKind, Plan};
use workload::Desk;

/// The operators' simulated host (never cut off from the coordinator: the
/// operators sit in the street office).
pub const OPS: &str = "ops";
const TICK: Duration = Duration::from_millis(10);
const BASE_LATENCY: Duration = Duration::from_millis(20);
/// How long the quiet street may take to converge, and then to have every
/// node's digest matched, before the run fails.
const CONVERGE_WITHIN: Duration = Duration::from_secs(120);
const MATCH_WITHIN: Duration = Duration::from_secs(90);
const NODE_DB: &str = "gridsync-node.sqlite3";
const COORD_DB: &str = "gridsync-coordinator.sqlite3";

const CHAOS: u8 = 0;
const QUIET: u8 = 1;

/// One certificate authority for every run of the process.
fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(Pki::new)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn sim_now() -> Duration {
    turmoil::sim_elapsed().unwrap_or_default()
}

/// Counters of a run.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub faults: BTreeMap<FaultKind, u64>,
    pub actions: u64,
    /// Rollups read from the coordinator and checked (additivity, freshness).
    pub rollup_checks: u64,
    /// Rollups computed at nodes and checked for additivity.
    pub node_rollup_checks: u64,
    /// Reads of the coordinator's replicas for the set-full checker.
    pub reads: u64,
    /// Documents whose newer stamp was checked to include the older one.
    pub freshness_comparisons: u64,
    pub node_starts: u64,
    pub coordinator_starts: u64,
    /// What the hostile node's attacks came to.
    pub hostile: hostile::HostileStats,
    /// Silent cut → first stale stamp seen, ms (per cut).
    pub cut_to_stale_ms: Vec<u64>,
    /// Coordinator start → every node connected, ms (per start no fault
    /// followed).
    pub all_connected_ms: Vec<u64>,
    /// Stalled exchanges whose sync state a node started over.
    pub stalls_restarted: u64,
}

/// The result of one seed.
#[derive(Clone, Debug)]
pub struct RunReport {
    pub seed: u64,
    pub nodes: usize,
    pub stats: Stats,
    pub set_full: SetFull,
    /// Simulated time from the heal to heads equal everywhere.
    pub convergence: Duration,
    /// Simulated time from the heal to every digest matching.
    pub digests_matched: Duration,
    /// Simulated time of the whole run.
    pub simulated: Duration,
    /// Attacks the hostile node had planned.
    pub attacks: u64,
}

/// A failed run: the seed to replay, the plan, what failed.
#[derive(Debug)]
pub struct Failure {
    pub seed: u64,
    pub plan: String,
    pub what: Vec<String>,
    pub events: Vec<String>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "SIMULATION FAILED: seed {}", self.seed)?;
        writeln!(
            f,
            "replay: GRIDSYNC_SEED={} cargo nextest run -p gridsync-tests --test partition --no-capture",
            self.seed
        )?;
        for w in &self.what {
            writeln!(f, "  failed: {w}")?;
        }
        writeln!(
            f,
            "(a replay repeats this plan, workload and fault schedule; the interleaving can differ slightly)"
        )?;
        writeln!(f, "{}", self.plan)?;
        let skip = self.events.len().saturating_sub(60);
        if skip > 0 {
            writeln!(
                f,
                "last {} of {} events:",
                self.events.len() - skip,
                self.events.len()
            )?;
        }
        for e in &self.events[skip..] {
            writeln!(f, "  {e}")?;
        }
        Ok(())
    }
}

struct Shared {
    plan: Plan,
    root: PathBuf,
    as_of: Day,
    activity_ms: i64,
    phase: AtomicU8,
    heal_at: Mutex<Option<Duration>>,
    node_auth: BTreeMap<String, ClientAuth>,
    offices: Mutex<BTreeMap<String, OfficeHandle>>,
    coord: Mutex<Option<ReplicasHandle>>,
    oracle: Mutex<Oracle>,
    desks: Mutex<BTreeMap<String, Desk>>,
    rngs: Mutex<BTreeMap<String, StdRng>>,
    starts: Mutex<BTreeMap<String, u64>>,
    failures: Mutex<Vec<String>>,
    events: Mutex<Vec<String>>,
    stats: Mutex<Stats>,
    done: Mutex<Option<(Duration, Duration)>>,
    /// For each crashed host: whether nothing holds its old state any more
    /// (its store is closed), so it may restart.
    #[allow(clippy::type_complexity)]
    released: Mutex<BTreeMap<String, Box<dyn Fn() -> bool + Send>>>,
    /// The views of the coordinator's last read, by the heads they reflect.
    #[allow(clippy::type_complexity)]
    views: Mutex<BTreeMap<String, (Vec<Option<Vec<ChangeHash>>>, CommunityView, DayView)>>,
    /// The liveness checker's model of each node's link.
    liveness: Mutex<liveness::Liveness>,
    /// Every node link's status (one per start), for the counts.
    link_statuses: Mutex<Vec<gridsync_node::link::LinkHandle>>,
}

impl Shared {
    fn fail(&self, what: String) {
        self.event(format!("FAILED {what}"));
        lock(&self.failures).push(what);
    }
    fn event(&self, e: String) {
        self.event_at(sim_now(), e);
    }
    fn event_at(&self, t: Duration, e: String) {
        lock(&self.events).push(format!("{:>8.3}s {e}", t.as_secs_f64()));
    }
    fn quiet(&self) -> bool {
        self.phase.load(Ordering::SeqCst) != CHAOS
    }
    fn community(name: &str) -> CommunityId {
        CommunityId::parse(name).expect("simulated community ids are valid")
    }
    fn gap(&self, who: &str, (lo, hi): (u64, u64)) -> Duration {
        let mut rngs = lock(&self.rngs);
        let rng = rngs.get_mut(who).expect("an rng per actor");
        Duration::from_millis(rng.random_range(lo..=hi))
    }
}

/// Restarts the hosts due to restart whose old state nothing holds any more
/// (a restarted process opens its store; the old one must be closed, as it
/// is once a real process has died).
fn restart_released(
    sim: &mut turmoil::Sim<'_>,
    sh: &Shared,
    crashed: &mut BTreeSet<String>,
    restarting: &mut BTreeSet<String>,
) {
    for h in restarting.clone() {
        let free = lock(&sh.released).get(&h).is_none_or(|f| f());
        if free {
            restarting.remove(&h);
            crashed.remove(&h);
            lock(&sh.released).remove(&h);
            sim.bounce(h.as_str());
            lock(&sh.liveness).restarted(&h, sim.elapsed());
        }
    }
}

fn apply(
    sim: &mut turmoil::Sim<'_>,
    sh: &Shared,
    crashed: &mut BTreeSet<String>,
    restarting: &mut BTreeSet<String>,
    a: &Action,
) {
    sh.event_at(sim.elapsed(), a.to_string());
    lock(&sh.stats).actions += 1;
    lock(&sh.liveness).apply(a, sim.elapsed());
    match a {
        Action::Partition(n) => sim.partition(n.as_str(), COORD),
        Action::Repair(n) => sim.repair(n.as_str(), COORD),
        Action::OneWay { from, to } => sim.partition_oneway(from.as_str(), to.as_str()),
        Action::RepairOneWay { from, to } => sim.repair_oneway(from.as_str(), to.as_str()),
        Action::Hold(n) => sim.hold(n.as_str(), COORD),
        Action::Release(n) => sim.release(n.as_str(), COORD),
        Action::Latency(n, d) => {
            sim.set_link_max_message_latency(n.as_str(), COORD, (*d).max(BASE_LATENCY))
        }
        Action::Crash(h) => {
            if crashed.insert(h.clone()) {
                sim.crash(h.as_str());
                let released: Box<dyn Fn() -> bool + Send> = if h == COORD {
                    let old = lock(&sh.coord).take().map(|r| Arc::downgrade(&r));
                    Box::new(move || old.as_ref().is_none_or(|w| w.strong_count() == 0))
                } else {
                    let old = lock(&sh.offices)
                        .remove(h)
                        .map(|o| Arc::downgrade(&o.shared()));
                    Box::new(move || old.as_ref().is_none_or(|w| w.strong_count() == 0))
                };
                lock(&sh.released).insert(h.clone(), released);
                lock(&sh.oracle).crashed(h);
            }
        }
        Action::Restart(h) => {
            if crashed.contains(h) {
                restarting.insert(h.clone());
                restart_released(sim, sh, crashed, restarting);
            }
        }
    }
}

/// Runs one seed with at most `max_nodes` offices. A run that fails after
/// the day changed under it (the nodes report today's digest, the
/// simulation checks the day it started on) is run once more.
pub fn run_seed(seed: u64, max_nodes: usize) -> Result<RunReport, Failure> {
    let day = day_of(now_ms());
    match run_seed_once(seed, max_nodes) {
        Err(_) if day_of(now_ms()) != day => {
            eprintln!("seed {seed} ran across midnight; running it again");
            run_seed_once(seed, max_nodes)
        }
        r => r,
    }
}

fn run_seed_once(seed: u64, max_nodes: usize) -> Result<RunReport, Failure> {
    let plan = Plan::draw(seed, max_nodes);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let activity_ms = activity_instant_ms();
    let mut rngs = BTreeMap::new();
    let mut node_auth = BTreeMap::new();
    for (i, c) in plan.nodes.iter().enumerate() {
        rngs.insert(
            c.clone(),
            StdRng::seed_from_u64(seed.wrapping_mul(31).wrapping_add(i as u64 + 1)),
        );
        node_auth.insert(c.clone(), pki().node(c));
    }
    rngs.insert(
        OPS.to_string(),
        StdRng::seed_from_u64(seed.wrapping_mul(31)),
    );
    let sh = Arc::new(Shared {
        plan: plan.clone(),
        root: dir.path().to_path_buf(),
        as_of: day_of(activity_ms),
        activity_ms,
        phase: AtomicU8::new(CHAOS),
        heal_at: Mutex::new(None),
        node_auth,
        offices: Mutex::new(BTreeMap::new()),
        coord: Mutex::new(None),
        oracle: Mutex::new(Oracle::default()),
        desks: Mutex::new(BTreeMap::new()),
        rngs: Mutex::new(rngs),
        starts: Mutex::new(BTreeMap::new()),
        failures: Mutex::new(Vec::new()),
        events: Mutex::new(Vec::new()),
        stats: Mutex::new(Stats::default()),
        done: Mutex::new(None),
        released: Mutex::new(BTreeMap::new()),
        views: Mutex::new(BTreeMap::new()),
        link_statuses: Mutex::new(Vec::new()),
        liveness: Mutex::new({
            let mut l = liveness::Liveness::default();
            l.nodes(&plan.nodes, Duration::ZERO);
            l
        }),
    });
    let failure = |sh: &Shared, mut what: Vec<String>| {
        what.extend(lock(&sh.failures).iter().cloned());
        what.dedup();
        Failure {
            seed,
            plan: sh.plan.describe(),
            what,
            events: lock(&sh.events).clone(),
        }
    };
    if let Err(e) = setup(&sh) {
        return Err(failure(&sh, vec![format!("setting up the stores: {e}")]));
    }
    for f in &plan.faults {
        *lock(&sh.stats).faults.entry(f.kind).or_default() += 1;
    }

    let mut sim = turmoil::Builder::new()
        .simulation_duration(plan.chaos + CONVERGE_WITHIN + MATCH_WITHIN + Duration::from_secs(30))
        .tick_duration(TICK)
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(BASE_LATENCY)
        .tcp_capacity(1 << 16)
        .rng_seed(seed)
        .build();
    {
        let s = sh.clone();
        sim.host(COORD, move || coordinator_host(s.clone()));
    }
    for c in &plan.nodes {
        let s = sh.clone();
        let c: &'static str = Box::leak(c.clone().into_boxed_str());
        sim.host(c, move || node_host(s.clone(), c));
    }
    if !plan.attacks.is_empty() {
        let s = sh.clone();
        sim.host(plan::HOSTILE, move || hostile::hostile_host(s.clone()));
    }
    sim.client(OPS, ops_client(sh.clone()));

    let schedule = plan.schedule();
    let mut next = 0;
    let mut crashed = BTreeSet::new();
    let mut restarting = BTreeSet::new();
    let result = loop {
        let now = sim.elapsed();
        while next < schedule.len() && schedule[next].0 <= now && !sh.quiet() {
            apply(
                &mut sim,
                &sh,
                &mut crashed,
                &mut restarting,
                &schedule[next].1,
            );
            next += 1;
        }
        if !sh.quiet() && now >= plan.chaos {
            sh.event_at(now, "heal: every link repaired and released, latency reset, crashed hosts restarted; edits stop".into());
            sh.phase.store(QUIET, Ordering::SeqCst);
            *lock(&sh.heal_at) = Some(now);
            lock(&sh.liveness).heal(&plan.nodes, now);
            for n in &plan.nodes {
                sim.release(n.as_str(), COORD);
                sim.repair(n.as_str(), COORD);
                sim.set_link_max_message_latency(n.as_str(), COORD, BASE_LATENCY);
            }
            restarting.extend(crashed.iter().cloned());
        }
        if !restarting.is_empty() {
            restart_released(&mut sim, &sh, &mut crashed, &mut restarting);
        }
        match sim.step() {
            Ok(true) => break Ok(()),
            Ok(false) => {}
            Err(e) => break Err(e.to_string()),
        }
    };
    let simulated = sim.elapsed();
    drop(sim);
    // The stores are closed before they are read from disk.
    *lock(&sh.coord) = None;
    lock(&sh.offices).clear();
    if let Err(e) = result {
        return Err(failure(&sh, vec![format!("the simulation stopped: {e}")]));
    }
    let Some((convergence, digests_matched)) = *lock(&sh.done) else {
        return Err(failure(&sh, vec!["the run did not finish".into()]));
    };
    // After the simulation: the durable stores, read from disk.
    let mut what: Vec<String> = lock(&sh.failures).clone();
    let set_full = match durable_checks(&sh) {
        Ok(s) => s,
        Err(e) => {
            what.extend(e);
            SetFull::default()
        }
    };
    if set_full.lost > 0 || set_full.phantom > 0 {
        what.push(format!(
            "{} acknowledged edits lost, {} refused edits there anyway: {:?}",
            set_full.lost, set_full.phantom, set_full.lost_detail
        ));
    }
    if !what.is_empty() {
        return Err(failure(&sh, what));
    }
    let mut stats = lock(&sh.stats).clone();
    {
        let l = lock(&sh.liveness);
        stats.cut_to_stale_ms = l.cut_to_stale_ms.clone();
        stats.all_connected_ms = l.all_connected_ms.clone();
        stats.stalls_restarted = lock(&sh.link_statuses)
            .iter()
            .map(|s| lock(s).stalls_restarted)
            .sum();
    }
    Ok(RunReport {
        seed,
        nodes: plan.nodes.len(),
        stats,
        set_full,
        convergence,
        digests_matched,
        simulated,
        attacks: plan.attacks.len() as u64,
    })
}

/// What many seeds add up to.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub seeds: u64,
    pub failed: Vec<u64>,
    pub faults: BTreeMap<FaultKind, u64>,
    pub acked: u64,
    pub refused: u64,
    pub unknown: u64,
    pub lost: u64,
    pub stale: u64,
    pub never_read: u64,
    pub convergence_ms: Vec<u64>,
    pub matched_ms: Vec<u64>,
    pub rollup_checks: u64,
    pub node_rollup_checks: u64,
    pub reads: u64,
    pub freshness_comparisons: u64,
    pub phantom: u64,
    pub restarts: u64,
    pub attacks: u64,
    pub attacks_refused: u64,
    pub attacks_undelivered: u64,
    pub simulated: Duration,
    pub cut_to_stale_ms: Vec<u64>,
    pub all_connected_ms: Vec<u64>,
    pub stalls_restarted: u64,
}

impl Summary {
    pub fn add(&mut self, r: &RunReport) {
        self.seeds += 1;
        for (k, v) in &r.stats.faults {
            *self.faults.entry(*k).or_default() += v;
        }
        self.acked += r.set_full.acked;
        self.refused += r.set_full.refused;
        self.unknown += r.set_full.unknown;
        self.lost += r.set_full.lost;
        self.stale += r.set_full.stale;
        self.never_read += r.set_full.never_read;
        self.convergence_ms.push(r.convergence.as_millis() as u64);
        self.matched_ms.push(r.digests_matched.as_millis() as u64);
        self.rollup_checks += r.stats.rollup_checks;
        self.node_rollup_checks += r.stats.node_rollup_checks;
        self.reads += r.stats.reads;
        self.freshness_comparisons += r.stats.freshness_comparisons;
        self.phantom += r.set_full.phantom;
        self.restarts += r.stats.node_starts + r.stats.coordinator_starts - (r.nodes as u64 + 1);
        self.attacks += r.attacks;
        self.attacks_refused += r.stats.hostile.refused;
        self.attacks_undelivered += r.stats.hostile.undelivered;
        self.simulated += r.simulated;
        self.cut_to_stale_ms
            .extend(r.stats.cut_to_stale_ms.iter().copied());
        self.all_connected_ms
            .extend(r.stats.all_connected_ms.iter().copied());
        self.stalls_restarted += r.stats.stalls_restarted;
    }

    fn pct(v: &[u64], p: f64) -> u64 {
        if v.is_empty() {
            return 0;
        }
        let mut v = v.to_vec();
        v.sort_unstable();
        v[((v.len() - 1) as f64 * p).round() as usize]
    }

    pub fn line(&self) -> String {
        let faults: Vec<String> = self
            .faults
            .iter()
            .map(|(k, v)| format!("{}={v}", k.name()))
            .collect();
        format!(
            "partition summary: seeds={} failed={} faults[{}] restarts={} attacks={} (refused {}, undelivered {}) edits acked={} refused={} unknown={} lost={} phantom={} stale={} never-read={} convergence after heal p50={}ms p99={}ms max={}ms digests matched (every stamp fresh) p50={}ms p99={}ms silent cut to stale ({} cuts, stale required within {}ms) p50={}ms p99={}ms max={}ms coordinator start to every node connected ({} starts) p50={}ms max={}ms stalled exchanges restarted by nodes={} rollup checks={} (node rollups {}, freshness comparisons {}) set-full reads={} simulated={:.0}s",
            self.seeds,
            self.failed.len(),
            faults.join(" "),
            self.restarts,
            self.attacks,
            self.attacks_refused,
            self.attacks_undelivered,
            self.acked,
            self.refused,
            self.unknown,
            self.lost,
            self.phantom,
            self.stale,
            self.never_read,
            Self::pct(&self.convergence_ms, 0.5),
            Self::pct(&self.convergence_ms, 0.99),
            Self::pct(&self.convergence_ms, 1.0),
            Self::pct(&self.matched_ms, 0.5),
            Self::pct(&self.matched_ms, 0.99),
            self.cut_to_stale_ms.len(),
            liveness::stale_within().as_millis(),
            Self::pct(&self.cut_to_stale_ms, 0.5),
            Self::pct(&self.cut_to_stale_ms, 0.99),
            Self::pct(&self.cut_to_stale_ms, 1.0),
            self.all_connected_ms.len(),
            Self::pct(&self.all_connected_ms, 0.5),
            Self::pct(&self.all_connected_ms, 1.0),
            self.stalls_restarted,
            self.rollup_checks,
            self.node_rollup_checks,
            self.freshness_comparisons,
            self.reads,
            self.simulated.as_secs_f64(),
        )
    }
}
