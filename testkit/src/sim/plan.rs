//! What a seed decides before anything runs: how many nodes, how long the
//! chaos lasts, how often people edit, which kinds of fault are on and how
//! often they strike (rates drawn per seed, like TigerBeetle's VOPR), and
//! the schedule of faults itself.
//!
//! Two plans, drawn the same way (everything from one `StdRng` seeded with
//! the seed, before anything runs, so that a seed replays its plan):
//! [`Plan`], the partition simulation's, and [`KillPlan`], the street kill
//! test's (`tests/crash`): real processes killed with SIGKILL behind
//! loopback fault proxies ([`crate::proxy::FaultProxy`]).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::proxy::Direction;

/// The coordinator's simulated host name.
pub const COORD: &str = "coord";

/// The kinds of fault a seed can draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// One node cut off from the coordinator.
    Isolate,
    /// The street split in two: some nodes keep the coordinator, the rest
    /// lose it.
    Split,
    /// One direction of one link drops everything.
    OneWay,
    /// A link cut and healed again and again.
    Flap,
    /// Links clogged one by one in a random order, unclogged one by one in
    /// another (messages wait, none is lost).
    Clog,
    /// One link holds everything, then releases it all in one burst.
    HoldBurst,
    /// Short drops of every message on a link: the TCP stream loses bytes
    /// and only the keep-alive notices the connection is dead.
    Loss,
    /// Latency from 0 up to seconds on one link.
    Latency,
    /// A node crashes (losing everything not committed) and restarts.
    CrashNode,
    /// The coordinator crashes and restarts.
    CrashCoordinator,
}

impl FaultKind {
    pub const ALL: [FaultKind; 10] = [
        FaultKind::Isolate,
        FaultKind::Split,
        FaultKind::OneWay,
        FaultKind::Flap,
        FaultKind::Clog,
        FaultKind::HoldBurst,
        FaultKind::Loss,
        FaultKind::Latency,
        FaultKind::CrashNode,
        FaultKind::CrashCoordinator,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Isolate => "isolate",
            FaultKind::Split => "split",
            FaultKind::OneWay => "one-way",
            FaultKind::Flap => "flap",
            FaultKind::Clog => "clog",
            FaultKind::HoldBurst => "hold-burst",
            FaultKind::Loss => "loss",
            FaultKind::Latency => "latency",
            FaultKind::CrashNode => "crash-node",
            FaultKind::CrashCoordinator => "crash-coordinator",
        }
    }
}

/// One primitive change to the simulated world.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Partition(String),
    Repair(String),
    /// Drop what `from` sends to `to`.
    OneWay {
        from: String,
        to: String,
    },
    RepairOneWay {
        from: String,
        to: String,
    },
    Hold(String),
    Release(String),
    /// The largest latency of messages between the node and the coordinator.
    Latency(String, Duration),
    Crash(String),
    Restart(String),
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Partition(n) => write!(f, "partition {n}<->{COORD}"),
            Action::Repair(n) => write!(f, "repair {n}<->{COORD}"),
            Action::OneWay { from, to } => write!(f, "drop {from}->{to}"),
            Action::RepairOneWay { from, to } => write!(f, "repair {from}->{to}"),
            Action::Hold(n) => write!(f, "hold {n}<->{COORD}"),
            Action::Release(n) => write!(f, "release {n}<->{COORD}"),
            Action::Latency(n, d) => write!(f, "latency {n}<->{COORD} up to {d:?}"),
            Action::Crash(h) => write!(f, "crash {h}"),
            Action::Restart(h) => write!(f, "restart {h}"),
        }
    }
}

/// What the hostile node sends (see `sim::hostile`): a message built to
/// exhaust the coordinator, which it must refuse by name while the other
/// communities carry on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attack {
    /// A change whose run lengths claim `ops` list inserts, through the
    /// hostile community's registry or the street document.
    OpBomb { ops: u64, street: bool },
    /// A compressed change inflating to 200 MiB.
    InflateBomb,
    /// A message claiming 33.5M summaries in a few bytes.
    HaveFlood,
    /// A real change whose checksum no longer matches.
    Corrupt,
    /// A Hello listing 30,000 day documents.
    HugeHello,
}

impl fmt::Display for Attack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attack::OpBomb { ops, street } => write!(
                f,
                "op bomb of {ops} ops through {}",
                if *street { "street" } else { "its registry" }
            ),
            Attack::InflateBomb => f.write_str("inflate bomb of 200 MiB"),
            Attack::HaveFlood => f.write_str("have flood of 33.5M"),
            Attack::Corrupt => f.write_str("corrupt change"),
            Attack::HugeHello => f.write_str("Hello of 30,000 documents"),
        }
    }
}

/// The hostile community's id (registered only in seeds that draw attacks).
pub const HOSTILE: &str = "h01";

/// The attacks of `seed`, from an rng of their own, so that drawing them
/// leaves every other part of a seed's plan as it was: about a third of
/// the seeds get one to three, at random moments of the chaos.
fn draw_attacks(seed: u64, chaos: Duration) -> Vec<(Duration, Attack)> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x4057_11E5_EED5_0001);
    if !rng.random_bool(0.35) {
        return Vec::new();
    }
    let mut out: Vec<(Duration, Attack)> = (0..rng.random_range(1..=3u32))
        .map(|_| {
            let at = ms(&mut rng, 300, chaos.as_millis() as u64);
            let attack = match rng.random_range(0..8u32) {
                0..3 => Attack::OpBomb {
                    ops: [2_097_152, 8_388_608, 33_554_432][rng.random_range(0..3)],
                    street: rng.random_bool(0.5),
                },
                3 => Attack::InflateBomb,
                4 => Attack::HaveFlood,
                5 | 6 => Attack::Corrupt,
                _ => Attack::HugeHello,
            };
            (at, attack)
        })
        .collect();
    out.sort_by_key(|(t, _)| *t);
    out
}

/// A fault as drawn: its kind, when it starts, and what it does.
#[derive(Clone, Debug)]
pub struct Fault {
    pub kind: FaultKind,
    pub at: Duration,
    pub actions: Vec<(Duration, Action)>,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:>7.2}s {:<17}",
            self.at.as_secs_f64(),
            self.kind.name()
        )?;
        for (i, (t, a)) in self.actions.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{a} @{:.2}s", t.as_secs_f64())?;
        }
        Ok(())
    }
}

/// Everything a seed decides.
#[derive(Clone, Debug)]
pub struct Plan {
    pub seed: u64,
    pub nodes: Vec<String>,
    /// Faults and edits happen in `[0, chaos)`; then every link heals, the
    /// crashed restart, and the street goes quiet.
    pub chaos: Duration,
    /// Milliseconds between two edits of one office, drawn in this range.
    pub node_gap_ms: (u64, u64),
    /// Milliseconds between two operator actions at the street.
    pub ops_gap_ms: (u64, u64),
    /// The weight of each fault kind for this seed (0 = off).
    pub weights: BTreeMap<FaultKind, u32>,
    pub faults: Vec<Fault>,
    /// What the hostile node sends, and when (often nothing).
    pub attacks: Vec<(Duration, Attack)>,
}

fn ms(rng: &mut StdRng, lo: u64, hi: u64) -> Duration {
    Duration::from_millis(rng.random_range(lo..=hi))
}

fn pick<'a>(rng: &mut StdRng, v: &'a [String]) -> &'a String {
    &v[rng.random_range(0..v.len())]
}

fn shuffled(rng: &mut StdRng, v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    for i in (1..v.len()).rev() {
        let j = rng.random_range(0..=i);
        v.swap(i, j);
    }
    v
}

impl Plan {
    /// The plan of `seed`; `max_nodes` caps the street's size.
    pub fn draw(seed: u64, max_nodes: usize) -> Plan {
        let mut rng = StdRng::seed_from_u64(seed);
        let n = rng.random_range(2..=max_nodes.max(2));
        let nodes: Vec<String> = (1..=n).map(|i| format!("c{i:02}")).collect();
        let chaos = ms(&mut rng, 8_000, 24_000);
        let lo = rng.random_range(250..=1_000);
        let node_gap_ms = (lo, lo * rng.random_range(2..=4));
        let lo = rng.random_range(300..=1_500);
        let ops_gap_ms = (lo, lo * 3);
        let mut weights = BTreeMap::new();
        for k in FaultKind::ALL {
            let on = rng.random_bool(0.7);
            weights.insert(k, if on { rng.random_range(1..=4) } else { 0 });
        }
        if weights.values().all(|w| *w == 0) {
            weights.insert(FaultKind::Isolate, 1);
        }
        // Mean time between fault arrivals, per seed: from a storm to calm.
        let mean_gap = rng.random_range(400..=4_000u64);
        let total: u32 = weights.values().sum();
        let mut faults = Vec::new();
        let mut t = ms(&mut rng, 200, 1_500);
        while t < chaos {
            let mut x = rng.random_range(0..total);
            let kind = *weights
                .iter()
                .find(|(_, w)| {
                    if x < **w {
                        true
                    } else {
                        x -= **w;
                        false
                    }
                })
                .map(|(k, _)| k)
                .expect("a kind with weight");
            let actions = expand(kind, t, &nodes, &mut rng);
            faults.push(Fault {
                kind,
                at: t,
                actions,
            });
            t += ms(&mut rng, mean_gap / 4, mean_gap * 2);
        }
        Plan {
            seed,
            nodes,
            chaos,
            node_gap_ms,
            ops_gap_ms,
            weights,
            faults,
            attacks: draw_attacks(seed, chaos),
        }
    }

    /// Every action of every fault, in time order (stable for equal times).
    pub fn schedule(&self) -> Vec<(Duration, Action)> {
        let mut all: Vec<(Duration, Action)> = self
            .faults
            .iter()
            .flat_map(|f| f.actions.iter().cloned())
            .collect();
        all.sort_by_key(|(t, _)| *t);
        all
    }

    pub fn describe(&self) -> String {
        let mut s = format!(
            "seed {} · {} nodes · chaos {:.1}s · edits every {}–{} ms per office, operators every {}–{} ms\nfault weights:",
            self.seed,
            self.nodes.len(),
            self.chaos.as_secs_f64(),
            self.node_gap_ms.0,
            self.node_gap_ms.1,
            self.ops_gap_ms.0,
            self.ops_gap_ms.1
        );
        for (k, w) in &self.weights {
            s.push_str(&format!(" {}={w}", k.name()));
        }
        s.push_str(&format!("\n{} faults:\n", self.faults.len()));
        for f in &self.faults {
            s.push_str(&format!("  {f}\n"));
        }
        if !self.attacks.is_empty() {
            s.push_str(&format!("{} attacks by {HOSTILE}:\n", self.attacks.len()));
            for (t, a) in &self.attacks {
                s.push_str(&format!("  {:>7.2}s {a}\n", t.as_secs_f64()));
            }
        }
        s
    }
}

fn expand(
    kind: FaultKind,
    t: Duration,
    nodes: &[String],
    rng: &mut StdRng,
) -> Vec<(Duration, Action)> {
    let mut a = Vec::new();
    match kind {
        FaultKind::Isolate => {
            let n = pick(rng, nodes).clone();
            let d = ms(rng, 500, 12_000);
            a.push((t, Action::Partition(n.clone())));
            a.push((t + d, Action::Repair(n)));
        }
        FaultKind::Split => {
            let side = shuffled(rng, nodes);
            let k = rng.random_range(1..=side.len());
            let d = ms(rng, 500, 10_000);
            for n in &side[..k] {
                a.push((t, Action::Partition(n.clone())));
                a.push((t + d, Action::Repair(n.clone())));
            }
        }
        FaultKind::OneWay => {
            let n = pick(rng, nodes).clone();
            let d = ms(rng, 500, 8_000);
            let (from, to) = if rng.random_bool(0.5) {
                (n, COORD.to_string())
            } else {
                (COORD.to_string(), n)
            };
            a.push((
                t,
                Action::OneWay {
                    from: from.clone(),
                    to: to.clone(),
                },
            ));
            a.push((t + d, Action::RepairOneWay { from, to }));
        }
        FaultKind::Flap => {
            let n = pick(rng, nodes).clone();
            let period = ms(rng, 100, 2_000);
            for i in 0..rng.random_range(2..=8u32) {
                a.push((t + period * (2 * i), Action::Partition(n.clone())));
                a.push((t + period * (2 * i + 1), Action::Repair(n.clone())));
            }
        }
        FaultKind::Clog => {
            let order = shuffled(rng, nodes);
            let k = rng.random_range(1..=order.len());
            let gap = ms(rng, 100, 1_500);
            let hold = ms(rng, 200, 6_000);
            let mut at = t;
            for n in &order[..k] {
                a.push((at, Action::Hold(n.clone())));
                at += gap;
            }
            at += hold;
            for n in shuffled(rng, &order[..k]) {
                a.push((at, Action::Release(n)));
                at += gap;
            }
        }
        FaultKind::HoldBurst => {
            let n = pick(rng, nodes).clone();
            let d = ms(rng, 200, 8_000);
            a.push((t, Action::Hold(n.clone())));
            a.push((t + d, Action::Release(n)));
        }
        FaultKind::Loss => {
            let n = pick(rng, nodes).clone();
            let mut at = t;
            for _ in 0..rng.random_range(1..=4u32) {
                let d = ms(rng, 20, 400);
                a.push((at, Action::Partition(n.clone())));
                a.push((at + d, Action::Repair(n.clone())));
                at += d + ms(rng, 50, 1_500);
            }
        }
        FaultKind::Latency => {
            let n = pick(rng, nodes).clone();
            let max = ms(rng, 0, 3_000);
            let d = ms(rng, 1_000, 10_000);
            a.push((t, Action::Latency(n.clone(), max)));
            a.push((t + d, Action::Latency(n, Duration::ZERO)));
        }
        FaultKind::CrashNode => {
            let n = pick(rng, nodes).clone();
            let down = ms(rng, 100, 8_000);
            a.push((t, Action::Crash(n.clone())));
            a.push((t + down, Action::Restart(n)));
        }
        FaultKind::CrashCoordinator => {
            let down = ms(rng, 100, 6_000);
            a.push((t, Action::Crash(COORD.to_string())));
            a.push((t + down, Action::Restart(COORD.to_string())));
        }
    }
    a
}

// ---- the street kill test's plan ----

/// Kills between two heals (and convergence checks) of the street kill
/// test.
pub const KILLS_PER_ROUND: usize = 5;
/// At least this many of a kill plan's kills are of the coordinator (or
/// every kill, with fewer).
pub const MIN_COORDINATOR_KILLS: usize = 3;

/// What the street kill test draws from a seed before anything runs: which
/// process each kill hits, the proxy faults before it, every wait, and the
/// seeds of each round's writers. The same seed draws the same plan; only
/// the exact moments depend on the scheduler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KillPlan {
    pub seed: u64,
    /// How many nodes, each dialling the coordinator through its own proxy.
    pub nodes: usize,
    /// [`KILLS_PER_ROUND`] kills each (the last one the rest).
    pub rounds: Vec<KillRound>,
}

/// Kills while the writers write, then the writers stop and every proxy
/// heals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KillRound {
    /// The seeds of the round's writers: one per node, then the operator's.
    pub writers: Vec<u64>,
    pub kills: Vec<Kill>,
    /// How long the writers go on after the round's last kill.
    pub settle: Duration,
}

/// One kill, and the proxy faults before it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kill {
    /// Zero to two proxy faults, each after its wait.
    pub faults: Vec<ProxyFaultAt>,
    /// The wait between the last fault and the kill.
    pub wait: Duration,
    pub target: KillTarget,
    /// `Some(d)`: the kill comes `d` (0–4 ms) after the target's writer sent
    /// a write (the operator's, for the coordinator): before, during or
    /// after its commit. `None`: at the moment the wait ends.
    pub after_send: Option<Duration>,
    /// How long the killed process stays down before its restart.
    pub down: Duration,
}

/// A proxy fault, after a wait, on the proxy of node `node`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProxyFaultAt {
    pub wait: Duration,
    pub node: usize,
    pub fault: ProxyFault,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillTarget {
    Coordinator,
    Node(usize),
}

/// What a fault proxy can do to a node's link (see
/// [`crate::proxy::FaultProxy`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyFault {
    /// Reset every connection, and new ones as they come, until healed.
    Cut,
    /// Connections stay open and no byte moves either way until healed.
    Blackhole,
    /// No byte moves in one direction (the blocked one) until healed.
    OneWay(Direction),
    /// Every chunk held this long (latency).
    Delay(Duration),
    /// Every live connection reset once.
    Reset,
    /// Back to forwarding, without delay.
    Heal,
}

impl ProxyFault {
    pub const NAMES: [&'static str; 6] = ["cut", "blackhole", "one-way", "delay", "reset", "heal"];

    /// Cut and blackhole 15 % each, one-way 16 % (either way), delay 16 %
    /// (5–249 ms), reset 16 %, heal 22 %.
    fn draw(rng: &mut StdRng) -> ProxyFault {
        match rng.random_range(0..100u32) {
            0..15 => ProxyFault::Cut,
            15..30 => ProxyFault::Blackhole,
            30..38 => ProxyFault::OneWay(Direction::ToUpstream),
            38..46 => ProxyFault::OneWay(Direction::ToClient),
            46..62 => ProxyFault::Delay(ms(rng, 5, 249)),
            62..78 => ProxyFault::Reset,
            _ => ProxyFault::Heal,
        }
    }

    /// Its kind, as the kill test's summary counts it.
    pub fn name(self) -> &'static str {
        match self {
            ProxyFault::Cut => "cut",
            ProxyFault::Blackhole => "blackhole",
            ProxyFault::OneWay(_) => "one-way",
            ProxyFault::Delay(_) => "delay",
            ProxyFault::Reset => "reset",
            ProxyFault::Heal => "heal",
        }
    }
}

impl fmt::Display for ProxyFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyFault::OneWay(Direction::ToUpstream) => {
                f.write_str("one-way (to the coordinator)")
            }
            ProxyFault::OneWay(Direction::ToClient) => f.write_str("one-way (to the node)"),
            ProxyFault::Delay(d) => write!(f, "delay {} ms", d.as_millis()),
            other => f.write_str(other.name()),
        }
    }
}

impl fmt::Display for KillTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KillTarget::Coordinator => f.write_str("the coordinator"),
            KillTarget::Node(i) => write!(f, "node {i}"),
        }
    }
}

impl KillPlan {
    /// The plan of `seed`: `kills` kills of a street of `nodes` nodes,
    /// about 30 % of the coordinator and at least
    /// [`MIN_COORDINATOR_KILLS`].
    pub fn draw(seed: u64, kills: usize, nodes: usize) -> KillPlan {
        assert!(nodes > 0, "a street kill plan needs a node");
        let mut rng = StdRng::seed_from_u64(seed);
        let mut targets: Vec<KillTarget> = (0..kills)
            .map(|_| {
                if rng.random_bool(0.3) {
                    KillTarget::Coordinator
                } else {
                    KillTarget::Node(rng.random_range(0..nodes))
                }
            })
            .collect();
        let want = MIN_COORDINATOR_KILLS.min(kills);
        while targets
            .iter()
            .filter(|t| **t == KillTarget::Coordinator)
            .count()
            < want
        {
            let i = rng.random_range(0..kills);
            targets[i] = KillTarget::Coordinator;
        }
        let mut rounds = Vec::new();
        for chunk in targets.chunks(KILLS_PER_ROUND) {
            let writers = (0..=nodes).map(|_| rng.random()).collect();
            let mut kills = Vec::new();
            for &target in chunk {
                let mut faults = Vec::new();
                for _ in 0..rng.random_range(0..=2usize) {
                    let wait = ms(&mut rng, 150, 899);
                    let node = rng.random_range(0..nodes);
                    let fault = ProxyFault::draw(&mut rng);
                    faults.push(ProxyFaultAt { wait, node, fault });
                }
                let wait = ms(&mut rng, 150, 1_199);
                let down = ms(&mut rng, 0, 799);
                let after_send = rng
                    .random_bool(0.5)
                    .then(|| Duration::from_micros(rng.random_range(0..4_000)));
                kills.push(Kill {
                    faults,
                    wait,
                    target,
                    after_send,
                    down,
                });
            }
            let settle = ms(&mut rng, 100, 599);
            rounds.push(KillRound {
                writers,
                kills,
                settle,
            });
        }
        KillPlan {
            seed,
            nodes,
            rounds,
        }
    }

    /// Every kill, in order.
    pub fn kills(&self) -> impl Iterator<Item = &Kill> {
        self.rounds.iter().flat_map(|r| r.kills.iter())
    }

    pub fn describe(&self) -> String {
        let coordinator = self
            .kills()
            .filter(|k| k.target == KillTarget::Coordinator)
            .count();
        let mut s = format!(
            "seed {} · {} nodes · {} kills ({coordinator} of the coordinator) in {} rounds\n",
            self.seed,
            self.nodes,
            self.kills().count(),
            self.rounds.len()
        );
        for (i, r) in self.rounds.iter().enumerate() {
            s.push_str(&format!("round {}: writers {:?}\n", i + 1, r.writers));
            for k in &r.kills {
                for f in &k.faults {
                    s.push_str(&format!(
                        "  after {} ms: proxy of node {}: {}\n",
                        f.wait.as_millis(),
                        f.node,
                        f.fault
                    ));
                }
                let moment = match k.after_send {
                    Some(d) => format!(", {} µs after a write was sent", d.as_micros()),
                    None => String::new(),
                };
                s.push_str(&format!(
                    "  after {} ms{moment}: kill -9 {}, down {} ms\n",
                    k.wait.as_millis(),
                    k.target,
                    k.down.as_millis()
                ));
            }
            s.push_str(&format!(
                "  {} ms on, then the writers stop and every proxy heals\n",
                r.settle.as_millis()
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_draws_the_same_plan_every_time_and_seeds_differ() {
        let a = Plan::draw(42, 9).describe();
        assert_eq!(a, Plan::draw(42, 9).describe());
        assert_ne!(a, Plan::draw(43, 9).describe());
    }

    #[test]
    fn a_seed_draws_the_same_kill_plan_every_time_and_seeds_differ() {
        let a = KillPlan::draw(42, 20, 3);
        assert_eq!(a, KillPlan::draw(42, 20, 3));
        assert_eq!(a.describe(), KillPlan::draw(42, 20, 3).describe());
        assert_ne!(a, KillPlan::draw(43, 20, 3));
    }

    #[test]
    fn a_kill_plan_has_its_kills_in_rounds_and_enough_of_the_coordinator() {
        let mut kinds = std::collections::BTreeSet::new();
        let mut targets = std::collections::BTreeSet::new();
        for seed in 0..50 {
            for kills in [1, 2, 3, 7, 20] {
                let p = KillPlan::draw(seed, kills, 3);
                assert_eq!(p.kills().count(), kills);
                assert_eq!(p.rounds.len(), kills.div_ceil(KILLS_PER_ROUND));
                let coordinator = p
                    .kills()
                    .filter(|k| k.target == KillTarget::Coordinator)
                    .count();
                assert!(
                    coordinator >= MIN_COORDINATOR_KILLS.min(kills),
                    "{}",
                    p.describe()
                );
                for r in &p.rounds {
                    assert_eq!(r.writers.len(), 4);
                    assert!(r.kills.len() <= KILLS_PER_ROUND);
                }
                for k in p.kills() {
                    targets.insert(format!("{}", k.target));
                    assert!(k.faults.len() <= 2);
                    assert!(k.after_send.is_none_or(|d| d < Duration::from_millis(4)));
                    for f in &k.faults {
                        assert!(f.node < 3);
                        kinds.insert(f.fault.name());
                    }
                }
            }
        }
        assert_eq!(
            kinds.len(),
            ProxyFault::NAMES.len(),
            "kinds drawn: {kinds:?}"
        );
        assert_eq!(targets.len(), 4, "targets drawn: {targets:?}");
    }

    #[test]
    fn every_fault_kind_is_drawn_over_a_few_seeds_and_faults_fall_in_the_chaos() {
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..50 {
            let p = Plan::draw(seed, 9);
            assert!((2..=9).contains(&p.nodes.len()));
            for f in &p.faults {
                assert!(f.at < p.chaos, "seed {seed}: {f} starts after the chaos");
                seen.insert(f.kind);
            }
        }
        assert_eq!(seen.len(), FaultKind::ALL.len(), "kinds drawn: {seen:?}");
    }
}
