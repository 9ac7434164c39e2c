//! The street's stamped report across its communities, computed one
//! community at a time under that community's own lock.
//!
//! **Bounded waits.** The whole report waits at most [`BUSY_WAIT`] for
//! communities busy applying a sync message. A community still busy then is
//! served from what it last had, never anything older than what was last
//! served: the rollup it last served for that date and zone (current if
//! its heads have not moved since, else marked `held`), or, if it never
//! served one, zeros marked `unavailable`. The stamp says which.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono_tz::Tz;
use gridsync_core::report::{DailyReport, ReportStamp};
use gridsync_core::rollup::{self, CommunityRollup, RollupHeads, Stamp, StampLink, days_read};
use gridsync_core::signoff::SignOffState;
use gridsync_core::*;
use gridsync_proto::rollup_convert::report_to_pb;
use gridsync_svc::blocking::lock_within;
use gridsync_svc::metrics::Timings;

use crate::error::ReplicasError;
use crate::links::CommunityStatus;
use crate::replicas::StreetReplicas;
use crate::rollups::{CommunityRollups, StreetInput, zero_rollup};
use crate::served::Served;
use crate::shard::{CommunityShard, CommunityState, leaf};
use crate::summary::NodeSummary;

/// How long a report waits, in all, for communities busy applying a
/// message before it serves them from what they last had.
pub const BUSY_WAIT: Duration = Duration::from_millis(500);

/// One community's part of a report.
struct Part {
    rollup: Arc<CommunityRollup>,
    held: bool,
    unavailable: Option<String>,
    sign_off: SignOffState,
}

impl StreetReplicas {
    /// The street's stamped rollup for `as_of` in `tz`: every community the
    /// coordinator knows, its figures, stamp and sign-off, and the street's
    /// tree over them.
    pub fn street_report(
        &self,
        as_of: Day,
        tz: Tz,
        now_ms: i64,
    ) -> Result<DailyReport, ReplicasError> {
        let started = Instant::now();
        let report = self.compute_street_report(as_of, tz, now_ms);
        Timings::observe(&self.timings().rollup_seconds, started);
        report
    }

    fn compute_street_report(
        &self,
        as_of: Day,
        tz: Tz,
        now_ms: i64,
    ) -> Result<DailyReport, ReplicasError> {
        let statuses = self.communities()?;
        let (street_view, street_heads) = self.street_view_and_heads()?;
        let street = StreetInput {
            view: &street_view,
            heads: &street_heads,
        };
        let deadline = Instant::now() + BUSY_WAIT;
        let digests = leaf(&self.digests).clone();
        let mut rollups = Vec::with_capacity(statuses.len());
        let mut stamps = Vec::with_capacity(statuses.len());
        for st in &statuses {
            let shard = self.shard(&st.id);
            let part = match lock_within(&shard.state, deadline) {
                Ok(Some(mut state)) => {
                    self.part_computed(&shard, &mut state, st, &street, as_of, tz, now_ms)
                }
                Ok(None) => {
                    tracing::info!(community = %st.id, "busy applying a sync message; its report is what it last had");
                    self.part_busy(&shard, st, &street, as_of, tz)
                }
                Err(e) => self.part_failed(&shard, st, as_of, tz, e.into()),
            };
            // The one definition (crate::links): fresh, and last in sync.
            let last_sync_ms = st.last_in_sync_ms(now_ms);
            let stale = !st.fresh(now_ms);
            let digest_check = rollup::check_digest(&part.rollup, digests.get(&st.id));
            stamps.push(ReportStamp {
                stamp: Stamp {
                    community_id: st.id.to_string(),
                    heads: part.rollup.heads.clone(),
                    digest: part.rollup.digest.clone(),
                    last_sync_ms,
                    stale,
                    held: part.held,
                    digest_check,
                    unavailable: part.unavailable,
                    link: StampLink {
                        connected: st.link.connected,
                        last_heard_ms: st.link.last_heard_ms,
                        node_docs_ahead: st.link.ahead.len() as u32,
                        node_reported_ms: st.link.node_reported_ms,
                    },
                },
                sign_off: part.sign_off,
            });
            rollups.push(part.rollup);
        }
        let refs: Vec<&CommunityRollup> = rollups.iter().map(|r| r.as_ref()).collect();
        let street_id = self.cfg.street_id.clone();
        let (tree, conflicts) = rollup::street_tree(&street_id, &self.cfg.street_name, &refs);
        Ok(DailyReport {
            street_id,
            as_of,
            tz: tz.name().to_string(),
            rollup_version: rollup::ROLLUP_VERSION,
            generated_at_ms: now_ms,
            tree,
            stamps,
            conflicts,
        })
    }

    /// A community's part computed under its lock; one community's trouble
    /// does not hide the others.
    #[allow(clippy::too_many_arguments)]
    fn part_computed(
        &self,
        shard: &CommunityShard,
        state: &mut CommunityState,
        st: &CommunityStatus,
        street: &StreetInput<'_>,
        as_of: Day,
        tz: Tz,
        now_ms: i64,
    ) -> Part {
        match self.serve_community(shard, state, street, as_of, tz, now_ms) {
            Ok((rollup, held)) => {
                let sign_off =
                    CommunityRollups::sign_off_state(&mut state.docs, &st.id, &rollup)
                        .unwrap_or_else(|e| {
                            tracing::error!(community = %st.id, error = %e, "the community's sign-off could not be read");
                            SignOffState::NotSigned
                        });
                leaf(&shard.latest).insert(
                    (as_of, tz.name().to_string()),
                    (rollup.clone(), held, sign_off.clone()),
                );
                Part {
                    rollup,
                    held,
                    unavailable: None,
                    sign_off,
                }
            }
            Err(e) => self.part_failed(shard, st, as_of, tz, e),
        }
    }

    /// A community that could not be computed: its last record, `held`, or
    /// zeros; `unavailable` says why.
    fn part_failed(
        &self,
        shard: &CommunityShard,
        st: &CommunityStatus,
        as_of: Day,
        tz: Tz,
        e: ReplicasError,
    ) -> Part {
        tracing::error!(community = %st.id, error = %e, "the community's figures could not be computed");
        let (rollup, held) = match held_rollup(shard, &st.id, as_of, tz, None) {
            Ok(Some(r)) => (r, true),
            _ => (Arc::new(zero_rollup(&st.id, &st.name, as_of, tz)), false),
        };
        Part {
            rollup,
            held,
            unavailable: Some(e.to_string()),
            sign_off: SignOffState::NotSigned,
        }
    }

    /// A community busy past the report's wait: what it last served (see
    /// the module docs).
    fn part_busy(
        &self,
        shard: &CommunityShard,
        st: &CommunityStatus,
        street: &StreetInput<'_>,
        as_of: Day,
        tz: Tz,
    ) -> Part {
        let key = (as_of, tz.name().to_string());
        if let Some((rollup, held, sign_off)) = leaf(&shard.latest).get(&key).cloned() {
            let now = published_rollup_heads(shard, &st.id, street, as_of, tz, self.cfg.tz);
            return Part {
                held: held || rollup.heads != now,
                rollup,
                unavailable: None,
                sign_off,
            };
        }
        let why = "busy applying a sync message from its node";
        match held_rollup(shard, &st.id, as_of, tz, None) {
            Ok(Some(rollup)) => Part {
                rollup,
                held: true,
                unavailable: Some(format!("{why}: the figures last served")),
                sign_off: SignOffState::NotSigned,
            },
            _ => Part {
                rollup: Arc::new(zero_rollup(&st.id, &st.name, as_of, tz)),
                held: false,
                unavailable: Some(format!("{why}, and nothing was served for this date yet")),
                sign_off: SignOffState::NotSigned,
            },
        }
    }

    /// The rollup of one community to serve: the current one if the
    /// replica holds everything last served for this date and zone
    /// (recording it as served when it moved on), else the last one served,
    /// `held`.
    fn serve_community(
        &self,
        shard: &CommunityShard,
        state: &mut CommunityState,
        street: &StreetInput<'_>,
        as_of: Day,
        tz: Tz,
        now_ms: i64,
    ) -> Result<(Arc<CommunityRollup>, bool), ReplicasError> {
        let c = state.id.clone();
        let current =
            state
                .rollups
                .community_rollup(&mut state.docs, &c, street, as_of, tz, self.cfg.tz)?;
        let last = leaf(&shard.served)
            .get(&c, as_of, tz.name())
            .map_err(ReplicasError::Served)?
            .cloned();
        let last_heads = match last {
            Some(last) if last.heads == current.heads && last.digest == current.digest => {
                return Ok((current, false));
            }
            Some(last) => Some(last.heads),
            None => None,
        };
        if let Some(heads) = last_heads
            && !CommunityRollups::holds_all(&mut state.docs, &c, &heads)?
        {
            tracing::warn!(community = %c, "the replica is behind the rollup last served; serving that one until the node syncs");
            if let Some(held) = held_rollup(shard, &c, as_of, tz, Some(&current))? {
                return Ok((held, true));
            }
        }
        let record = Served {
            heads: current.heads.clone(),
            digest: current.digest.clone(),
            rollup_version: current.rollup_version,
            tree: current.tree.clone(),
            served_ms: now_ms,
        };
        if let Err(e) = leaf(&shard.served).put(&c, as_of, tz.name(), record) {
            // Not served as fresh unless recorded: a restart could otherwise
            // show an older state without knowing.
            tracing::error!(community = %c, error = %e, "could not record the rollup served");
            return Err(ReplicasError::Served(e));
        }
        Ok((current, false))
    }

    /// The street's top figures for the street's today, as nodes get them
    /// with their reports. The street report behind it is computed at most
    /// every [`crate::rollups::summary_max_age_ms`], by one report at a
    /// time, and the reports that arrive meanwhile are served the last one
    /// (at most one computation older). Without this, a street of 1,000
    /// nodes computed the whole street report for nearly every report at
    /// once (87% of the coordinator's CPU in the fan-in bench) and its
    /// sessions timed out. A `Report` answer is a copy of every
    /// community's figures ([`NodeSummary::for_node`]); a `ReportDigest`
    /// answer is one only when they changed ([`NodeSummary::answer`]).
    pub fn node_summary(&self, now_ms: i64) -> Result<Arc<NodeSummary>, ReplicasError> {
        let last = leaf(&self.summary).clone();
        if let Some(s) = &last
            && s.current(now_ms)
        {
            return Ok(s.clone());
        }
        let _computing = match self.summary_compute.try_lock() {
            Ok(g) => g,
            Err(std::sync::TryLockError::WouldBlock) => match last {
                Some(s) => return Ok(s),
                // The first summary: wait for the one being computed.
                None => leaf(&self.summary_compute),
            },
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
        };
        // The last one again: another report may have computed it since.
        let last = leaf(&self.summary).clone();
        if let Some(s) = &last
            && s.current(now_ms)
        {
            return Ok(s.clone());
        }
        let tz = self.cfg.tz;
        let today = gridsync_core::replica::day_of_instant(now_ms, tz).ok_or_else(|| {
            ReplicasError::Core(CoreError::Precondition(
                "the clock is outside the years 1000-9000".into(),
            ))
        })?;
        let street = self.street_report(today, tz, now_ms)?;
        let summary = report_to_pb(&street, &[], 1, self.cfg.stale_after_ms).unwrap_or_default();
        let summary = Arc::new(NodeSummary::new(now_ms, summary, last.as_deref()));
        if let Some(last) = &last
            && last.tag() != summary.tag()
        {
            tracing::debug!(communities = ?summary.changed_since(last), "the street's figures for nodes changed");
        }
        *leaf(&self.summary) = Some(summary.clone());
        Ok(summary)
    }
}

/// The heads a rollup of `c` would reflect now, from the published heads
/// (without the community's lock).
fn published_rollup_heads(
    shard: &CommunityShard,
    c: &CommunityId,
    street: &StreetInput<'_>,
    as_of: Day,
    tz: Tz,
    street_tz: Tz,
) -> RollupHeads {
    let of = |id: DocId| shard.heads.get(&id).unwrap_or_default();
    let mut heads = RollupHeads::new(
        &of(DocId::Registry(c.clone())),
        &of(DocId::Cases(c.clone())),
        street.heads,
    );
    for d in days_read(as_of, tz, street_tz) {
        if let Some(h) = shard.heads.get(&DocId::Activity(c.clone(), d)) {
            heads.add_day(d, &h);
        }
    }
    heads
}

/// The last rollup served for (`c`, `as_of`, `tz`) as a rollup, if any.
/// Its person keys are the replica's current ones (`current`), which the
/// record does not keep: the street still counts each person once.
fn held_rollup(
    shard: &CommunityShard,
    c: &CommunityId,
    as_of: Day,
    tz: Tz,
    current: Option<&CommunityRollup>,
) -> Result<Option<Arc<CommunityRollup>>, ReplicasError> {
    let last = leaf(&shard.served)
        .get(c, as_of, tz.name())
        .map_err(ReplicasError::Served)?
        .cloned();
    let Some(last) = last else {
        return Ok(None);
    };
    Ok(Some(Arc::new(CommunityRollup {
        community_id: c.to_string(),
        as_of,
        tz: tz.name().to_string(),
        rollup_version: last.rollup_version,
        heads: last.heads,
        tree: last.tree,
        digest: last.digest,
        persons: current.map(|r| r.persons.clone()).unwrap_or_default(),
    })))
}

/// What the street's report last served says of one community, read
/// without computing a report (for the metrics).
#[derive(Clone, Debug)]
pub struct LastServed {
    pub community: CommunityId,
    /// The figures served were the earlier ones, held.
    pub held: bool,
    /// The node's digest against the figures served, as of now.
    pub digest_check: rollup::DigestCheck,
}

impl StreetReplicas {
    /// For each of `statuses`, the latest date's rollup the street's report
    /// served (in the street's zone, else any), whether it was held, and how
    /// the node's digest compares with it now. A community no report served
    /// since the coordinator started is left out. Takes no community's
    /// lock.
    pub fn last_served(&self, statuses: &[CommunityStatus]) -> Vec<LastServed> {
        let digests = leaf(&self.digests).clone();
        let zone = self.cfg.tz.name();
        let mut out = Vec::new();
        for st in statuses {
            let shard = self.shard(&st.id);
            let latest = leaf(&shard.latest);
            let last = latest
                .iter()
                .max_by_key(|((day, tz), _)| (tz == zone, *day))
                .map(|(_, (r, held, _))| (r.clone(), *held));
            drop(latest);
            if let Some((r, held)) = last {
                out.push(LastServed {
                    community: st.id.clone(),
                    held,
                    digest_check: rollup::check_digest(&r, digests.get(&st.id)),
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use gridsync_svc::memory::Ceiling;

    use super::*;
    use crate::replicas::ReplicasConfig;
    use crate::rollups::SUMMARY_MAX_AGE_MS;

    fn replicas(dir: &std::path::Path) -> StreetReplicas {
        StreetReplicas::open(ReplicasConfig {
            street_id: "s1".into(),
            street_name: "Street".into(),
            db_path: dir.join("c.sqlite3"),
            tz: chrono_tz::Asia::Shanghai,
            compact_after_chunks: 256,
            stale_after_ms: 6_000,
            memory: Ceiling::new(1 << 30, "memory_ceiling_mib"),
            store_key: None,
        })
        .expect("open the replicas")
    }

    /// A street of many nodes reporting at once computes one summary at a
    /// time: a report that finds it being computed is served the last one.
    #[test]
    fn a_report_that_finds_the_summary_being_computed_is_served_the_last_one() {
        let dir = tempfile::tempdir().unwrap();
        let r = replicas(dir.path());
        let t0 = 1_700_000_000_000;
        let first = r.node_summary(t0).unwrap();
        let shared = r.node_summary(t0 + 1).unwrap();
        assert!(Arc::ptr_eq(&first, &shared), "a current summary is shared");
        let old = t0 + SUMMARY_MAX_AGE_MS + 1;
        let computing = r.summary_compute.lock().unwrap();
        let meanwhile = r.node_summary(old).unwrap();
        assert!(
            Arc::ptr_eq(&first, &meanwhile),
            "while another report computes it, the last summary is served"
        );
        drop(computing);
        let next = r.node_summary(old).unwrap();
        assert!(
            !Arc::ptr_eq(&first, &next),
            "an old summary is computed again"
        );
        // A clock set back does not keep a summary current either.
        let back = r.node_summary(t0 - SUMMARY_MAX_AGE_MS).unwrap();
        assert!(!Arc::ptr_eq(&next, &back));
    }
}
