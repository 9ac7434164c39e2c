//! The coordinator's Prometheus metrics ([`registry`]): the replicas'
//! commit and street-report times and sync traffic
//! (`gridsync_svc::metrics`), and per community a collector that reads, at
//! scrape time, the same [`CommunityStatus`] the rollup stamps and the
//! operators' list use (`fresh`, `last_in_sync_ms`: `crate::links`), so the
//! metrics cannot disagree with them; held and the digest check come from
//! the report last served ([`StreetReplicas::last_served`]), never from a
//! report computed for the scrape.

use std::fmt;

use gridsync_core::rollup::DigestCheck;
use gridsync_svc::Clock;
use gridsync_svc::metrics::prometheus_client::collector::Collector;
use gridsync_svc::metrics::prometheus_client::encoding::DescriptorEncoder;
use gridsync_svc::metrics::prometheus_client::registry::{Registry, Unit};
use gridsync_svc::metrics::{self, CommunityLabel, age_seconds, community_label, counters, gauges};

use crate::links::CommunityStatus;
use crate::sync_service::ReplicasHandle;

/// Every metric of the coordinator, over `replicas`, with ages measured on
/// `clock`.
pub fn registry(replicas: ReplicasHandle, clock: Clock) -> Registry {
    let mut reg = metrics::registry();
    replicas.timings().register(&mut reg);
    replicas.traffic().register(&mut reg);
    replicas.figures_answers().register(&mut reg);
    reg.register_collector(Box::new(Communities { replicas, clock }));
    reg
}

/// The per-community gauges, read at each scrape.
struct Communities {
    replicas: ReplicasHandle,
    clock: Clock,
}

impl fmt::Debug for Communities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Communities")
    }
}

/// The states of `gridsync_community_digest_state`, one series each.
const DIGEST_STATES: [&str; 4] = ["match", "mismatch", "pending", "not_reported"];

fn digest_state(d: &DigestCheck) -> &'static str {
    match d {
        DigestCheck::Match => "match",
        DigestCheck::Mismatch { .. } => "mismatch",
        DigestCheck::Pending => "pending",
        DigestCheck::NotReported => "not_reported",
    }
}

type Rows<V> = Vec<(CommunityLabel, V)>;

/// The link gauges of every community, as `crate::links` defines them.
#[derive(Default)]
struct LinkRows {
    up: Rows<i64>,
    fresh: Rows<i64>,
    heard_age: Rows<f64>,
    in_sync_age: Rows<f64>,
    behind: Rows<i64>,
    ahead: Rows<i64>,
    sessions: Rows<u64>,
}

impl LinkRows {
    fn read(statuses: &[CommunityStatus], now_ms: i64) -> LinkRows {
        let mut r = LinkRows::default();
        for st in statuses {
            let l = community_label(st.id.as_str());
            r.up.push((l.clone(), i64::from(st.link.connected)));
            r.fresh.push((l.clone(), i64::from(st.fresh(now_ms))));
            if let Some(t) = st.link.last_heard_ms {
                r.heard_age.push((l.clone(), age_seconds(now_ms, t)));
            }
            if let Some(t) = st.last_in_sync_ms(now_ms) {
                r.in_sync_age.push((l.clone(), age_seconds(now_ms, t)));
            }
            r.behind.push((l.clone(), i64::from(st.docs_behind)));
            r.ahead.push((l.clone(), st.link.ahead.len() as i64));
            r.sessions.push((l, st.link.sessions));
        }
        r
    }
}

impl Collector for Communities {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), fmt::Error> {
        let now_ms = self.clock.now_ms();
        let statuses = match self.replicas.communities() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "metrics: the communities could not be read; their gauges are left out of this scrape");
                return Ok(());
            }
        };
        let r = LinkRows::read(&statuses, now_ms);
        let secs = Some(&Unit::Seconds);
        gauges(
            &mut enc,
            "community_link_up",
            "1 while the community's node has a sync session open",
            None,
            &r.up,
        )?;
        gauges(
            &mut enc,
            "community_fresh",
            "1 while the community is fresh: session open, node heard within the liveness window, every head it reported held here (the rollup stamps' definition)",
            None,
            &r.fresh,
        )?;
        gauges(
            &mut enc,
            "community_last_heard_age",
            "Seconds since the last frame of any kind from the community's node",
            secs,
            &r.heard_age,
        )?;
        gauges(
            &mut enc,
            "community_last_in_sync_age",
            "Seconds since the community was last in sync (0 while fresh; absent if a document never synced)",
            secs,
            &r.in_sync_age,
        )?;
        gauges(
            &mut enc,
            "community_docs_behind",
            "The community's documents held here not known to be in sync with its node",
            None,
            &r.behind,
        )?;
        gauges(
            &mut enc,
            "community_node_docs_ahead",
            "The node's documents whose last reported heads are not all held here",
            None,
            &r.ahead,
        )?;
        counters(
            &mut enc,
            "community_sessions",
            "Sync sessions the community's node opened since the coordinator started",
            &r.sessions,
        )?;
        let served = self.replicas.last_served(&statuses);
        let held: Rows<i64> = served
            .iter()
            .map(|s| (community_label(s.community.as_str()), i64::from(s.held)))
            .collect();
        gauges(
            &mut enc,
            "community_held",
            "1 if the street report last served held the community at figures served before (its replica is behind them)",
            None,
            &held,
        )?;
        let digest: Vec<([(&str, String); 2], i64)> = served
            .iter()
            .flat_map(|s| {
                let now = digest_state(&s.digest_check);
                DIGEST_STATES.map(|state| {
                    (
                        [
                            ("community", s.community.to_string()),
                            ("state", state.to_string()),
                        ],
                        i64::from(state == now),
                    )
                })
            })
            .collect();
        gauges(
            &mut enc,
            "community_digest_state",
            "The node's digest against the figures last served: 1 for the current state (match, mismatch, pending, not_reported)",
            None,
            &digest,
        )?;
        Ok(())
    }
}
