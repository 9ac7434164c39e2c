//! The street's top figures as nodes get them with their digest reports,
//! made once per computation for every node (computed by
//! `StreetReplicas::node_summary`, one report at a time).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use gridsync_proto::rollup::v1 as rpb;
use gridsync_proto::street_figures;
use gridsync_proto::sync::v1 as pb;

use gridsync_svc::metrics::prometheus_client::metrics::counter::Counter;
use gridsync_svc::metrics::prometheus_client::registry::Registry;

use crate::rollups::summary_max_age_ms;

/// How the nodes' digest reports were answered: the street's figures
/// whole, what changed since the version held, or unchanged (registered by
/// `crate::metrics`). In a street where little changes, almost all are
/// unchanged; many whole answers mean nodes keep missing their version.
#[derive(Clone, Debug, Default)]
pub struct FiguresAnswers {
    whole: Counter,
    delta: Counter,
    unchanged: Counter,
}

impl FiguresAnswers {
    /// Counts `answer`.
    pub fn count(&self, answer: &pb::DigestAnswer) {
        if answer.figures.is_some() {
            self.whole.inc();
        } else if answer.delta.is_some() {
            self.delta.inc();
        } else {
            self.unchanged.inc();
        }
    }

    /// Registers `gridsync_figures_answers_{whole,delta,unchanged}_total`.
    pub fn register(&self, reg: &mut Registry) {
        reg.register(
            "figures_answers_whole",
            "Digest reports answered with the street's figures whole",
            self.whole.clone(),
        );
        reg.register(
            "figures_answers_delta",
            "Digest reports answered with what changed since the node's version of the figures (a delta the node cannot apply is counted here, and its report again under whole)",
            self.delta.clone(),
        );
        reg.register(
            "figures_answers_unchanged",
            "Digest reports answered that the node's figures are current",
            self.unchanged.clone(),
        );
    }
}

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
    /// The tag of the figures ([`street_figures::figures_tag`]).
    tag: String,
    /// The communities not fresh or held ([`street_figures::unusual`]).
    unusual: Vec<rpb::Stamp>,
    /// Its outline, and those of the last versions before it (newest
    /// last, at most [`VERSIONS_KEPT`]) by tag: a node holding one of
    /// them is sent what changed since.
    outline: Arc<street_figures::Outline>,
    earlier: Vec<(String, Arc<street_figures::Outline>)>,
    /// The deltas made so far, by the tag they apply to (`None`: the
    /// shape changed, the figures go whole).
    deltas: Mutex<HashMap<String, Option<Arc<pb::FiguresDelta>>>>,
}

/// Versions of the figures a node may hold and still be sent only what
/// changed: a node reports every 20 s and the figures are computed at most
/// every 2 s.
pub const VERSIONS_KEPT: usize = 16;

impl NodeSummary {
    /// The summary of `summary`, computed at `at_ms`; `last` is the one
    /// before it, whose versions it remembers.
    pub(crate) fn new(
        at_ms: i64,
        mut summary: rpb::Rollup,
        last: Option<&NodeSummary>,
    ) -> NodeSummary {
        let mut own = HashMap::with_capacity(summary.stamps.len());
        let generated_at_ms = summary.generated_at_ms;
        for (i, st) in summary.stamps.iter_mut().enumerate() {
            let mut cut = street_figures::cut_stamp(st);
            // A fresh community is last in sync when the figures were
            // computed: so a node's copy brought up to date by an answer
            // without figures (street_figures::bring_up_to_answer) is what
            // it would have been sent, and the tag, which leaves that time
            // out, names it.
            if !cut.stale {
                cut.last_sync_ms = generated_at_ms;
            }
            let whole = std::mem::replace(st, cut);
            own.insert(whole.community_id.clone(), (i, whole));
        }
        summary.conflicts.clear();
        let tag = street_figures::figures_tag(&summary);
        let unusual = street_figures::unusual(&summary);
        let (outline, earlier) = match last {
            // The same figures: the same outline and versions.
            Some(last) if last.tag == tag => (last.outline.clone(), last.earlier.clone()),
            Some(last) => {
                let mut earlier = last.earlier.clone();
                // Figures back to an earlier version: one entry per tag.
                earlier.retain(|(t, _)| *t != last.tag);
                earlier.push((last.tag.clone(), last.outline.clone()));
                let extra = earlier.len().saturating_sub(VERSIONS_KEPT);
                earlier.drain(..extra);
                (Arc::new(street_figures::outline(&summary)), earlier)
            }
            None => (Arc::new(street_figures::outline(&summary)), Vec::new()),
        };
        NodeSummary {
            at_ms,
            masked: summary,
            own,
            tag,
            unusual,
            outline,
            earlier,
            deltas: Mutex::default(),
        }
    }

    /// Young enough to serve at `now_ms` (either way: a clock set back
    /// does not keep an old summary current).
    pub(crate) fn current(&self, now_ms: i64) -> bool {
        let max_age = summary_max_age_ms(self.masked.stamps.len());
        now_ms.abs_diff(self.at_ms) < max_age.unsigned_abs()
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

    /// The tag of the figures ([`street_figures::figures_tag`]).
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// How many communities' figures differ from `before`, for the log;
    /// `None` when the shape changed (another day, communities added).
    pub fn changed_since(&self, before: &NodeSummary) -> Option<usize> {
        street_figures::changed_children(&before.outline, &self.outline)
            .map(|changed| changed.count())
    }

    /// The answer to community `c`'s node, which holds the figures tagged
    /// `held_tag`: the figures only when they differ, so a street where
    /// nothing changes costs each report its own stamp, not every
    /// community's figures.
    /// Else it gets the communities not fresh or held (usually none), so
    /// that a link coming or going costs no node the figures whole; and a
    /// node holding a recent version gets only the communities whose
    /// figures changed since ([`street_figures::delta`]).
    pub fn answer(&self, c: &str, held_tag: &str) -> pb::DigestAnswer {
        let (figures, delta) = if held_tag == self.tag {
            (None, None)
        } else {
            match self.delta_from(held_tag) {
                Some(d) => (None, Some((*d).clone())),
                None => (Some(self.for_node(c)), None),
            }
        };
        pb::DigestAnswer {
            unusual: if figures.is_none() {
                self.unusual.clone()
            } else {
                Vec::new()
            },
            figures,
            generated_at_ms: self.masked.generated_at_ms,
            own: self.own.get(c).map(|(_, whole)| whole.clone()),
            figures_tag: self.tag.clone(),
            delta,
        }
    }

    /// What changed since the version tagged `tag`, if it is one of the
    /// last kept and of the same shape; made once per version.
    fn delta_from(&self, tag: &str) -> Option<Arc<pb::FiguresDelta>> {
        if tag.is_empty() {
            return None;
        }
        let mut deltas = self.deltas.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(made) = deltas.get(tag) {
            return made.clone();
        }
        let (_, base) = self.earlier.iter().rev().find(|(t, _)| t == tag)?;
        let made = street_figures::delta(tag, base, &self.masked, &self.outline).map(Arc::new);
        deltas.insert(tag.to_string(), made.clone());
        made
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
        let s = NodeSummary::new(0, summary, None);
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

    #[test]
    fn a_large_streets_figures_for_nodes_are_served_longer() {
        let street = |n: usize| rpb::Rollup {
            stamps: (0..n)
                .map(|i| rpb::Stamp {
                    community_id: format!("c{i:04}"),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let small = NodeSummary::new(0, street(7), None);
        assert!(small.current(1_999));
        assert!(!small.current(2_000));
        let large = NodeSummary::new(0, street(1_000), None);
        assert!(large.current(9_999));
        assert!(!large.current(10_000));
        assert!(!large.current(-10_000), "a clock set back");
    }

    #[test]
    fn a_fresh_community_is_shown_to_the_others_in_sync_when_the_figures_were_computed() {
        let fresh = |c: &str, at: i64| rpb::Stamp {
            community_id: c.into(),
            last_sync_ms: at,
            ..Default::default()
        };
        let summary = rpb::Rollup {
            generated_at_ms: 9_000,
            stamps: vec![fresh("c01", 8_990), fresh("c02", 9_000)],
            ..Default::default()
        };
        let s = NodeSummary::new(9_000, summary, None);
        let to_c02 = s.for_node("c02");
        assert_eq!(to_c02.stamps[0].last_sync_ms, 9_000);
        // Its own stamp is sent as it is.
        assert_eq!(s.for_node("c01").stamps[0], fresh("c01", 8_990));
        // The same as a copy of other figures brought up to date.
        let mut copy = to_c02.clone();
        copy.generated_at_ms = 1;
        copy.stamps[0].last_sync_ms = 1;
        // As a node holding the figures is answered.
        let answer = s.answer("c02", s.tag());
        street_figures::bring_up_to_answer(&mut copy, &answer);
        assert_eq!(copy, to_c02);
    }

    #[test]
    fn a_node_holding_the_figures_gets_its_own_stamp_and_the_time_only() {
        let stamp = |c: &str, at: i64| rpb::Stamp {
            community_id: c.into(),
            digest: format!("digest of {c}"),
            last_sync_ms: at,
            last_heard_ms: at - 3,
            ..Default::default()
        };
        let street = |at: i64, households: u64| rpb::Rollup {
            generated_at_ms: at,
            tree: Some(rpb::Node {
                figures: Some(rpb::Figures {
                    households,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            stamps: vec![stamp("c01", at), stamp("c02", at)],
            ..Default::default()
        };
        let first = NodeSummary::new(1_000, street(1_000, 4), None);
        let none = first.answer("c02", "");
        let held = none
            .figures
            .clone()
            .expect("a node holding nothing gets the figures");
        assert_eq!(held, first.for_node("c02"));
        assert_eq!(street_figures::figures_tag(&held), none.figures_tag);

        // Nothing changed but the time: the node's copy, brought up to date
        // with the answer, is what it would have been sent.
        let later = NodeSummary::new(9_000, street(9_000, 4), None);
        let same = later.answer("c02", &none.figures_tag);
        assert_eq!(same.figures, None);
        assert_eq!(same.own, Some(stamp("c02", 9_000)));
        let mut copy = held.clone();
        street_figures::bring_up_to_answer(&mut copy, &same);
        assert_eq!(copy, later.for_node("c02"));

        // The figures changed, and nothing is known of the version held:
        // sent again whole.
        let changed = NodeSummary::new(9_000, street(9_000, 5), None);
        let again = changed.answer("c02", &none.figures_tag);
        assert_eq!(again.figures, Some(changed.for_node("c02")));
        assert_eq!(again.delta, None);
        assert_ne!(again.figures_tag, none.figures_tag);

        // Computed after the version held: what changed since, which makes
        // the node's copy the figures it would have been sent.
        let next = NodeSummary::new(11_000, street(11_000, 5), Some(&later));
        let delta = next.answer("c02", &none.figures_tag);
        assert_eq!(delta.figures, None);
        let d = delta.delta.clone().expect("a delta from a recent version");
        assert_eq!(d.base_tag, none.figures_tag);
        let mut copy = held.clone();
        street_figures::apply_delta(&mut copy, &d).unwrap();
        street_figures::bring_up_to_answer(&mut copy, &delta);
        assert_eq!(copy, next.for_node("c02"));
        assert_eq!(street_figures::figures_tag(&copy), delta.figures_tag);
        // A version it never had, or none: whole.
        assert!(next.answer("c02", "unknown").figures.is_some());
        assert!(next.answer("c02", "").figures.is_some());
    }
}
