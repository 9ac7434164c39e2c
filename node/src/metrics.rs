//! The node's Prometheus metrics ([`registry`]): the office's commit and
//! rollup times (`gridsync_svc::metrics::Timings`), and a collector that
//! reads, at scrape time, the link's status (up, last heard, sessions,
//! frames and bytes) and the changes the coordinator has not acknowledged,
//! counted as the status API counts them (`service::link_status`).

use std::fmt;
use std::time::{Duration, Instant};

use gridsync_core::CommunityId;
use gridsync_svc::metrics::prometheus_client::collector::Collector;
use gridsync_svc::metrics::prometheus_client::encoding::DescriptorEncoder;
use gridsync_svc::metrics::prometheus_client::registry::{Registry, Unit};
use gridsync_svc::metrics::{
    self, CommunityLabel, SYNC_TRAFFIC, Timings, age_seconds, community_label, counters, gauges,
};
use gridsync_svc::{Clock, Shared};

use crate::link::{LinkHandle, LinkStatus};
use crate::office::Office;
use crate::service::link_status;

/// How long a scrape waits for the office (busy with a long edit, say)
/// before it leaves the unacknowledged changes out.
const OFFICE_WAIT: Duration = Duration::from_millis(500);

/// Every metric of the node of `community`: its office's `timings`, its
/// link's status and the office's unacknowledged changes, with ages
/// measured on `clock`.
pub fn registry(
    community: CommunityId,
    office: Shared<Office>,
    timings: &Timings,
    link: LinkHandle,
    clock: Clock,
) -> Registry {
    let mut reg = metrics::registry();
    timings.register(&mut reg);
    reg.register_collector(Box::new(Link {
        community,
        office,
        link,
        clock,
    }));
    reg
}

/// The link's gauges and counters, read at each scrape.
struct Link {
    community: CommunityId,
    office: Shared<Office>,
    link: LinkHandle,
    clock: Clock,
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Link")
    }
}

impl Link {
    /// The changes the coordinator has not acknowledged, or `None` if the
    /// office stayed busy for [`OFFICE_WAIT`].
    fn unacknowledged(&self, link: &LinkStatus) -> Option<u64> {
        let deadline = Instant::now() + OFFICE_WAIT;
        match gridsync_svc::blocking::lock_within(&self.office, deadline) {
            Ok(Some(mut office)) => match link_status(&mut office, link) {
                Ok(s) => Some(s.unacknowledged_changes),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics: unacknowledged changes could not be counted");
                    None
                }
            },
            Ok(None) => {
                tracing::debug!(
                    "metrics: the office is busy; unacknowledged changes left out of this scrape"
                );
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics: the office is unavailable");
                None
            }
        }
    }
}

impl Collector for Link {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), fmt::Error> {
        let now_ms = self.clock.now_ms();
        // A plain status record, read through a poisoned lock.
        let st = self.link.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let l: CommunityLabel = community_label(self.community.as_str());
        let one = |v| vec![(l.clone(), v)];
        let secs = Some(&Unit::Seconds);
        gauges(
            &mut enc,
            "link_configured",
            "1 if a coordinator is configured",
            None,
            &one(i64::from(st.configured)),
        )?;
        gauges(
            &mut enc,
            "link_up",
            "1 while the link to the coordinator has a sync session open",
            None,
            &one(i64::from(st.connected)),
        )?;
        if let Some(t) = st.last_heard_ms {
            gauges(
                &mut enc,
                "link_last_heard_age",
                "Seconds since the last frame of any kind from the coordinator",
                secs,
                &[(l.clone(), age_seconds(now_ms, t))],
            )?;
        }
        if let Some(w) = st.liveness_window_ms {
            gauges(
                &mut enc,
                "link_liveness_window",
                "The session's liveness window: a coordinator silent this long ends the session",
                secs,
                &[(l.clone(), w as f64 / 1000.0)],
            )?;
        }
        if let Some(n) = self.unacknowledged(&st) {
            gauges(
                &mut enc,
                "link_unacknowledged_changes",
                "Changes committed here that the coordinator has not acknowledged holding",
                None,
                &one(n as i64),
            )?;
        }
        counters(
            &mut enc,
            "link_sessions",
            "Sync sessions that got through their handshake since the node started",
            &[(l.clone(), st.sessions)],
        )?;
        let traffic = [
            st.frames_sent,
            st.frames_received,
            st.bytes_sent,
            st.bytes_received,
        ];
        for ((name, help), v) in SYNC_TRAFFIC.into_iter().zip(traffic) {
            counters(&mut enc, name, help, &[(l.clone(), v)])?;
        }
        Ok(())
    }
}
