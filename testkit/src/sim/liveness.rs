//! The liveness checker: while a node cannot be heard by the coordinator,
//! the coordinator's stamp for its community must turn stale within the
//! heartbeat window (plus the largest latency a message can have, and a
//! margin), and stay stale until the node can be heard again; and the
//! figures a summary reports: the time from such a silent cut to the first
//! stale stamp seen, and from a coordinator's start (the first, or a
//! restart) to every node connected, counted only when no fault struck in
//! between. Both are read at the observer's reads (every 0.7 s or so), so
//! they are upper bounds at that granularity.
//!
//! "Cannot be heard" mirrors turmoil's own link state exactly: one state
//! per direction, which each action sets (a later action overrides an
//! earlier one: `repair` after `hold` makes the link healthy, `release`
//! after `partition` too), or the node crashed and not yet restarted. Only
//! the node → coordinator direction counts: a coordinator that still hears
//! a node whose reported heads it holds is right to call it fresh.

use std::collections::BTreeMap;
use std::time::Duration;

use gridsync_core::sync::HeartbeatSettings;
use gridsync_proto::rollup::v1 as rpb;

use super::plan::{Action, COORD};

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

/// How long after a node can no longer be heard its stamp must be stale.
pub fn stale_within() -> Duration {
    Duration::from_millis(HEARTBEAT.window_ms() as u64) + SLACK
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    Healthy,
    Partitioned,
    Held,
}

#[derive(Clone, Copy, Debug)]
struct NodeLink {
    /// The node → coordinator direction.
    out: Dir,
    crashed: bool,
    /// Since when it cannot be heard, and whether a stale stamp was seen
    /// since then.
    silent_since: Option<(Duration, bool)>,
}

impl Default for NodeLink {
    fn default() -> Self {
        NodeLink {
            out: Dir::Healthy,
            crashed: false,
            silent_since: None,
        }
    }
}

/// The per-node link model and the figures.
#[derive(Default)]
pub(super) struct Liveness {
    nodes: BTreeMap<String, NodeLink>,
    /// Silent cut → first stale stamp seen, ms.
    pub cut_to_stale_ms: Vec<u64>,
    /// A coordinator start → every node connected (as the stamps show
    /// it), ms, per start that no fault followed before.
    pub all_connected_ms: Vec<u64>,
    /// The coordinator start being timed, if no fault struck since.
    pending_start: Option<Duration>,
}

impl Liveness {
    fn update(&mut self, node: &str, now: Duration, f: impl FnOnce(&mut NodeLink)) {
        let l = self.nodes.entry(node.to_string()).or_default();
        f(l);
        let silent = l.crashed || l.out != Dir::Healthy;
        match (silent, l.silent_since) {
            (true, None) => l.silent_since = Some((now, false)),
            (false, Some(_)) => l.silent_since = None,
            _ => {}
        }
    }

    /// An action of the plan, applied at `now`.
    pub fn apply(&mut self, a: &Action, now: Duration) {
        // A fault before every node connected spoils the timing.
        self.pending_start = None;
        match a {
            Action::Partition(n) => self.update(n, now, |l| l.out = Dir::Partitioned),
            Action::Repair(n) => self.update(n, now, |l| l.out = Dir::Healthy),
            Action::OneWay { from, to } if to == COORD => {
                self.update(from, now, |l| l.out = Dir::Partitioned)
            }
            Action::RepairOneWay { from, to } if to == COORD => {
                self.update(from, now, |l| l.out = Dir::Healthy)
            }
            Action::Hold(n) => self.update(n, now, |l| l.out = Dir::Held),
            Action::Release(n) => self.update(n, now, |l| l.out = Dir::Healthy),
            Action::Crash(h) if h != COORD => self.update(h, now, |l| l.crashed = true),
            _ => {}
        }
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
            self.update(host, now, |l| l.crashed = false);
        } else if self.nodes.values().all(|l| l.silent_since.is_none()) {
            self.pending_start = Some(now);
        }
    }

    /// Checks a rollup read from `read_started` on: a node silent since
    /// before `read_started - stale_within()` must be stale. Returns the
    /// failures.
    pub fn check(&mut self, rollup: &rpb::Rollup, read_started: Duration) -> Vec<String> {
        let mut failures = Vec::new();
        let bound = stale_within();
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
            let Some((since, seen_stale)) = &mut l.silent_since else {
                continue;
            };
            if read_started < *since {
                continue;
            }
            let Some(s) = rollup.stamps.iter().find(|s| &s.community_id == n) else {
                continue;
            };
            if s.stale {
                if !*seen_stale {
                    *seen_stale = true;
                    self.cut_to_stale_ms
                        .push((read_started - *since).as_millis() as u64);
                }
            } else if read_started - *since > bound {
                failures.push(format!(
                    "{n} cannot be heard by the coordinator since {:.3}s, yet its stamp read from {:.3}s on says fresh (connected={}, last heard {} ms, {} documents ahead); it must be stale within {bound:?}",
                    since.as_secs_f64(),
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
    /// starts at 0.
    pub fn nodes(&mut self, nodes: &[String]) {
        for n in nodes {
            self.nodes.entry(n.clone()).or_default();
        }
        self.pending_start = Some(Duration::ZERO);
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
        l.nodes(&["c01".into()]);
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
}
