//! The street's top figures as nodes get them with their digest reports,
//! made once per computation for every node (computed by
//! `StreetReplicas::node_summary`, one report at a time).

use std::collections::HashMap;

use gridsync_proto::rollup::v1 as rpb;

use crate::rollups::SUMMARY_MAX_AGE_MS;

/// The street's top figures as a node may see them, made once per
/// computation for every node: every community's figures and whether it is
/// fresh, but of the others neither the heads, digests and sign-offs (a
/// node never learns about another community's documents) nor any person
/// conflict (personal links across communities are for the street's
/// operators).
pub struct NodeSummary {
    at_ms: i64,
    /// Every stamp cut to its freshness; no conflicts.
    masked: rpb::Rollup,
    /// Each community's whole stamp and its place, for its own node.
    own: HashMap<String, (usize, rpb::Stamp)>,
}

impl NodeSummary {
    pub(crate) fn new(at_ms: i64, mut summary: rpb::Rollup) -> NodeSummary {
        let mut own = HashMap::with_capacity(summary.stamps.len());
        for (i, st) in summary.stamps.iter_mut().enumerate() {
            let cut = rpb::Stamp {
                community_id: st.community_id.clone(),
                last_sync_ms: st.last_sync_ms,
                stale: st.stale,
                held: st.held,
                ..Default::default()
            };
            let whole = std::mem::replace(st, cut);
            own.insert(whole.community_id.clone(), (i, whole));
        }
        summary.conflicts.clear();
        NodeSummary {
            at_ms,
            masked: summary,
            own,
        }
    }

    /// Young enough to serve at `now_ms` (either way: a clock set back
    /// does not keep an old summary current).
    pub(crate) fn current(&self, now_ms: i64) -> bool {
        now_ms.abs_diff(self.at_ms) < SUMMARY_MAX_AGE_MS as u64
    }

    /// What community `c`'s node is sent: the others' stamps cut, its own
    /// whole.
    pub fn for_node(&self, c: &str) -> rpb::Rollup {
        let mut r = self.masked.clone();
        if let Some((i, whole)) = self.own.get(c)
            && let Some(slot) = r.stamps.get_mut(*i)
        {
            *slot = whole.clone();
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_gets_its_own_stamp_whole_and_the_others_cut_to_their_freshness() {
        let stamp = |c: &str| rpb::Stamp {
            community_id: c.into(),
            digest: format!("digest of {c}"),
            last_sync_ms: 7,
            stale: true,
            held: true,
            node_digest: "x".into(),
            connected: true,
            ..Default::default()
        };
        let summary = rpb::Rollup {
            stamps: vec![stamp("c01"), stamp("c02")],
            conflicts: vec![rpb::PersonConflict::default()],
            ..Default::default()
        };
        let s = NodeSummary::new(0, summary);
        let to_c02 = s.for_node("c02");
        assert_eq!(to_c02.stamps[1], stamp("c02"));
        assert_eq!(
            to_c02.stamps[0],
            rpb::Stamp {
                community_id: "c01".into(),
                last_sync_ms: 7,
                stale: true,
                held: true,
                ..Default::default()
            }
        );
        assert!(to_c02.conflicts.is_empty());
        let to_other = s.for_node("c09");
        assert!(to_other.stamps.iter().all(|st| st.digest.is_empty()));
    }
}
