//! The liveness checker: while a node cannot be heard by the coordinator,
//! the coordinator's stamp for its community must turn stale within the
//! heartbeat window (plus the largest latency a message can have, and a
//! margin), and stay stale until the node can be heard again; and the
//! figures a summary reports: the time from a silent cut to the first
//! stale stamp seen, and from a coordinator's start (the first, or a
//! restart) to every node connected, counted only when no fault struck in
//! between. Both are read at the observer's reads, so they are upper
//! bounds at that granularity.
//!
//! Two suites use it. The partition simulation applies its plan's actions
//! ([`Liveness::apply`]): "cannot be heard" mirrors turmoil's own link
//! state exactly, one state per direction, which each action sets (a later
//! action overrides an earlier one: `repair` after `hold` makes the link
//! healthy, `release` after `partition` too), or the node crashed and not
//! yet restarted. The kill suite applies its fault proxies' faults
//! ([`Liveness::proxy_fault`]) and its kills. Only the node → coordinator
//! direction counts: a coordinator that still hears a node whose reported
//! heads it holds is right to call it fresh.
//!
//! Only a *silent* cut is timed (nothing tells the coordinator: a
//! partition, a hold, a blackhole, a crashed turmoil host). A loud one (a
//! proxy that resets every connection, a killed process whose sockets the
//! kernel closes) is checked the same way but not put in the figure.

use std::collections::BTreeMap;
use std::time::Duration;

use gridsync_core::sync::HeartbeatSettings;
use gridsync_proto::rollup::v1 as rpb;

use super::plan::{Action, COORD, ProxyFault};
use crate::proxy::Direction;

/// The heartbeat of every session of the simulation.
pub const HEARTBEAT: HeartbeatSettings = HeartbeatSettings {
    interval_ms: 500,
    misses: 3,
};

/// Beyond the window: a frame sent by a node just before it crashed can
/// still arrive up to the largest latency the plan gives (3 s), and the
/// session loop notices silence only between its blocking calls (a large
/// apply running on the blocking pool while simulated time goes on).
const SLACK: Duration = Duration::from_millis(8_000);

/// How long after a node can no longer be heard its stamp must be stale,
/// in the partition simulation.
pub fn stale_within() -> Duration {
    Duration::from_millis(HEARTBEAT.window_ms() as u64) + SLACK
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    Healthy,
    /// Nothing arrives, and nothing says so.
    Silent,
    /// Every connection is reset: nothing arrives, and the coordinator
    /// is told.
    Refused,
}

#[derive(Clone, Copy, Debug)]
struct Silence {
    since: Duration,
    /// Whether a stale stamp was seen since then.
    seen_stale: bool,
    /// Whether it is timed into [`Liveness::cut_to_stale_ms`] (a silent
    /// cut, not a loud one).
    timed: bool,
}

#[derive(Clone, Copy, Debug)]
struct NodeLink {
    /// The node → coordinator direction.
    out: Dir,
    /// Crashed and not yet restarted; `Some(true)`: silently (its peer is
    /// not told).
    crashed: Option<bool>,
    silence: Option<Silence>,
}

impl Default for NodeLink {
    fn default() -> Self {
        NodeLink {
            out: Dir::Healthy,
            crashed: None,
            silence: None,
        }
    }
}

/// The per-node link model and the figures.
pub struct Liveness {
    /// How long after it cannot be heard a node's stamp must be stale.
    bound: Duration,
    nodes: BTreeMap<String, NodeLink>,
    /// Silent cut → first stale stamp seen, ms.
    pub cut_to_stale_ms: Vec<u64>,
    /// A coordinator start → every node connected (as the stamps show
    /// it), ms, per start that no fault followed before.
    pub all_connected_ms: Vec<u64>,
    /// The coordinator start being timed, if no fault struck since.
    pending_start: Option<Duration>,
}

impl Default for Liveness {
    /// The partition simulation's bound ([`stale_within`]).
    fn default() -> Self {
        Liveness::new(stale_within())
    }
}

impl Liveness {
    /// A model whose stamps must be stale `bound` after a node cannot be
    /// heard.
    pub fn new(bound: Duration) -> Liveness {
        Liveness {
            bound,
            nodes: BTreeMap::new(),
            cut_to_stale_ms: Vec::new(),
            all_connected_ms: Vec::new(),
            pending_start: None,
        }
    }

    /// The bound the checks hold the stamps to.
    pub fn bound(&self) -> Duration {
        self.bound
    }

    fn update(&mut self, node: &str, now: Duration, f: impl FnOnce(&mut NodeLink)) {
        let l = self.nodes.entry(node.to_string()).or_default();
        f(l);
        let timed = match (l.crashed, l.out) {
            (Some(silently), _) => silently || l.out == Dir::Silent,
            (None, Dir::Silent) => true,
            (None, Dir::Refused) => false,
            (None, Dir::Healthy) => {
                l.silence = None;
                return;
            }
        };
        if l.silence.is_none() {
            l.silence = Some(Silence {
                since: now,
                seen_stale: false,
                timed,
            });
        }
    }

    /// An action of the partition simulation's plan, applied at `now`.
    pub fn apply(&mut self, a: &Action, now: Duration) {
        // A fault before every node connected spoils the timing.
        self.pending_start = None;
        match a {
            Action::Partition(n) | Action::Hold(n) => self.update(n, now, |l| l.out = Dir::Silent),
            Action::Repair(n) | Action::Release(n) => self.update(n, now, |l| l.out = Dir::Healthy),
            Action::OneWay { from, to } if to == COORD => {
                self.update(from, now, |l| l.out = Dir::Silent)
            }
            Action::RepairOneWay { from, to } if to == COORD => {
                self.update(from, now, |l| l.out = Dir::Healthy)
            }
            // A turmoil host that crashes tells nobody.
            Action::Crash(h) if h != COORD => self.update(h, now, |l| l.crashed = Some(true)),
            _ => {}
        }
    }

    /// A fault of the kill suite's proxy in front of `node`, applied at
    /// `now`. A delay or a reset of the live connections leaves the
    /// proxy's state as it was.
    pub fn proxy_fault(&mut self, node: &str, fault: ProxyFault, now: Duration) {
        self.pending_start = None;
        let out = match fault {
            ProxyFault::Blackhole | ProxyFault::OneWay(Direction::ToUpstream) => Dir::Silent,
            ProxyFault::Cut => Dir::Refused,
            ProxyFault::OneWay(Direction::ToClient) | ProxyFault::Heal => Dir::Healthy,
            ProxyFault::Delay(_) | ProxyFault::Reset => return,
        };
        self.update(node, now, |l| l.out = out);
    }

    /// A node killed at `now`; `silently`: its peer is not told (a turmoil
    /// host), not a process whose sockets the kernel closes.
    pub fn killed(&mut self, node: &str, silently: bool, now: Duration) {
        self.pending_start = None;
        self.update(node, now, |l| l.crashed = Some(silently));
    }

    /// No coordinator start is being timed (it was killed, or its first
    /// start is not to be timed).
    pub fn forget_start(&mut self) {
        self.pending_start = None;
    }

    /// Every link repaired and released (crashed nodes restart later).
    pub fn heal(&mut self, nodes: &[String], now: Duration) {
        for n in nodes {
            self.update(n, now, |l| l.out = Dir::Healthy);
        }
    }

    /// A crashed host runs again.
    pub fn restarted(&mut self, host: &str, now: Duration) {
        if host != COORD {
            self.update(host, now, |l| l.crashed = None);
        } else if self.nodes.values().all(|l| l.silence.is_none()) {
            self.pending_start = Some(now);
        }
    }

    /// Checks a rollup read from `read_started` on: a node that cannot be
    /// heard since before `read_started - bound` must be stale. Returns
    /// the failures.
    pub fn check(&mut self, rollup: &rpb::Rollup, read_started: Duration) -> Vec<String> {
        let mut failures = Vec::new();
        let bound = self.bound;
        if let Some(t0) = self.pending_start
            && read_started >= t0
            && self.nodes.keys().all(|n| {
                rollup
                    .stamps
                    .iter()
                    .any(|s| &s.community_id == n && s.connected)
            })
        {
            self.all_connected_ms
                .push((read_started - t0).as_millis() as u64);
            self.pending_start = None;
        }
        for (n, l) in &mut self.nodes {
            let Some(silence) = &mut l.silence else {
                continue;
            };
            if read_started < silence.since {
                continue;
            }
            let Some(s) = rollup.stamps.iter().find(|s| &s.community_id == n) else {
                continue;
            };
            if s.stale {
                if !silence.seen_stale {
                    silence.seen_stale = true;
                    if silence.timed {
                        self.cut_to_stale_ms
                            .push((read_started - silence.since).as_millis() as u64);
                    }
                }
            } else if read_started - silence.since > bound {
                failures.push(format!(
                    "{n} cannot be heard by the coordinator since {:.3}s, yet its stamp read from {:.3}s on says fresh (connected={}, last heard {} ms, {} documents ahead); it must be stale within {bound:?}",
                    silence.since.as_secs_f64(),
                    read_started.as_secs_f64(),
                    s.connected,
                    s.last_heard_ms,
                    s.node_docs_ahead,
                ));
            }
        }
        failures
    }

    /// Registers the nodes at the start (all healthy); the coordinator
    /// starts at `now`.
    pub fn nodes(&mut self, nodes: &[String], now: Duration) {
        for n in nodes {
            self.nodes.entry(n.clone()).or_default();
        }
        self.pending_start = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(c: &str, stale: bool) -> rpb::Stamp {
        rpb::Stamp {
            community_id: c.into(),
            stale,
            connected: !stale,
            ..Default::default()
        }
    }

    fn rollup(stamps: Vec<rpb::Stamp>) -> rpb::Rollup {
        rpb::Rollup {
            stamps,
            ..Default::default()
        }
    }

    #[test]
    fn the_model_follows_turmoils_one_state_per_direction() {
        let mut l = Liveness::default();
        l.nodes(&["c01".into()], Duration::ZERO);
        let t = Duration::from_secs;
        // Hold, then repair: turmoil's repair makes the link healthy.
        l.apply(&Action::Hold("c01".into()), t(1));
        l.apply(&Action::Repair("c01".into()), t(2));
        assert!(
            l.check(&rollup(vec![stamp("c01", false)]), t(30))
                .is_empty()
        );
        // Partition: a fresh stamp after the bound fails, a stale one is
        // measured once.
        l.apply(&Action::Partition("c01".into()), t(40));
        assert!(
            l.check(&rollup(vec![stamp("c01", false)]), t(41))
                .is_empty()
        );
        assert!(
            l.check(&rollup(vec![stamp("c01", false)]), t(49))
                .is_empty()
        );
        assert_eq!(l.check(&rollup(vec![stamp("c01", false)]), t(52)).len(), 1);
        assert!(l.check(&rollup(vec![stamp("c01", true)]), t(53)).is_empty());
        assert_eq!(l.cut_to_stale_ms, vec![13_000]);
        // The first fault came before any read: no start was timed.
        assert!(l.all_connected_ms.is_empty());
        // The coordinator → node direction alone is no silence.
        l.apply(&Action::Release("c01".into()), t(60));
        l.apply(
            &Action::OneWay {
                from: COORD.into(),
                to: "c01".into(),
            },
            t(61),
        );
        assert!(
            l.check(&rollup(vec![stamp("c01", false)]), t(90))
                .is_empty()
        );
        // A crash lasts until the restart.
        l.apply(&Action::Crash("c01".into()), t(100));
        assert_eq!(l.check(&rollup(vec![stamp("c01", false)]), t(115)).len(), 1);
        l.restarted("c01", t(111));
        assert!(
            l.check(&rollup(vec![stamp("c01", false)]), t(120))
                .is_empty()
        );
        // A coordinator restart with every node audible is timed to the
        // first read that shows them all connected.
        l.restarted(COORD, t(130));
        assert!(
            l.check(&rollup(vec![stamp("c01", true)]), t(131))
                .is_empty()
        );
        assert!(
            l.check(&rollup(vec![stamp("c01", false)]), t(132))
                .is_empty()
        );
        assert_eq!(l.all_connected_ms, vec![2_000]);
    }

    #[test]
    fn the_kill_suites_proxy_faults_time_only_silent_cuts() {
        let mut l = Liveness::new(Duration::from_secs(16));
        let t = Duration::from_secs;
        l.nodes(&["c01".into(), "c02".into()], t(0));
        // The start is timed to the read showing both connected.
        assert!(
            l.check(
                &rollup(vec![stamp("c01", false), stamp("c02", false)]),
                t(2)
            )
            .is_empty()
        );
        assert_eq!(l.all_connected_ms, vec![2_000]);
        // A blackhole is silent: timed, and checked against the bound.
        l.proxy_fault("c01", ProxyFault::Blackhole, t(10));
        // A delay or a reset of live connections changes nothing.
        l.proxy_fault("c01", ProxyFault::Delay(Duration::from_millis(5)), t(11));
        l.proxy_fault("c01", ProxyFault::Reset, t(12));
        assert_eq!(l.check(&rollup(vec![stamp("c01", false)]), t(27)).len(), 1);
        assert!(l.check(&rollup(vec![stamp("c01", true)]), t(28)).is_empty());
        assert_eq!(l.cut_to_stale_ms, vec![18_000]);
        l.proxy_fault("c01", ProxyFault::Heal, t(30));
        assert!(
            l.check(&rollup(vec![stamp("c01", false)]), t(60))
                .is_empty()
        );
        // A cut is loud: checked, not timed.
        l.proxy_fault("c02", ProxyFault::Cut, t(70));
        assert_eq!(l.check(&rollup(vec![stamp("c02", false)]), t(90)).len(), 1);
        assert!(l.check(&rollup(vec![stamp("c02", true)]), t(91)).is_empty());
        assert_eq!(l.cut_to_stale_ms, vec![18_000]);
        // Only the node → coordinator direction counts.
        l.proxy_fault("c02", ProxyFault::OneWay(Direction::ToClient), t(100));
        assert!(
            l.check(&rollup(vec![stamp("c02", false)]), t(130))
                .is_empty()
        );
        l.proxy_fault("c02", ProxyFault::OneWay(Direction::ToUpstream), t(140));
        assert!(
            l.check(&rollup(vec![stamp("c02", true)]), t(141))
                .is_empty()
        );
        assert_eq!(l.cut_to_stale_ms, vec![18_000, 1_000]);
        l.proxy_fault("c02", ProxyFault::Heal, t(150));
        // A killed process is loud; it is silent again only once it
        // restarted and the check sees it fresh.
        l.killed("c01", false, t(160));
        assert_eq!(l.check(&rollup(vec![stamp("c01", false)]), t(180)).len(), 1);
        l.restarted("c01", t(181));
        assert!(
            l.check(&rollup(vec![stamp("c01", false)]), t(200))
                .is_empty()
        );
        assert_eq!(l.cut_to_stale_ms, vec![18_000, 1_000]);
        // A coordinator restart after a kill, all audible: timed; a fault
        // before every node connected spoils it.
        l.forget_start();
        l.restarted(COORD, t(210));
        l.proxy_fault("c02", ProxyFault::Delay(Duration::from_millis(5)), t(211));
        assert!(
            l.check(
                &rollup(vec![stamp("c01", false), stamp("c02", false)]),
                t(212)
            )
            .is_empty()
        );
        assert_eq!(l.all_connected_ms, vec![2_000]);
    }
}
