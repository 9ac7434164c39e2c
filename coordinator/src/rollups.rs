//! The street's rollups at the coordinator: kept current as changes arrive,
//! stamped, and never going back to an older state of a community.
//!
//! - **Current by recomputing one community.** The hydrated views of each
//!   community's registry and cases (and of the activity days asked for) are
//!   kept in memory and refreshed from the changes each commit brings; a
//!   community's rollup is cached under the heads it reflects, so an edit
//!   recomputes that community only, and the street's tree is the sum.
//! - **Stamps.** Every community's figures say which heads they reflect,
//!   when the community last synced, whether that is older than the
//!   staleness threshold, how the node's own digest compares, and where its
//!   sign-off stands.
//! - **Never backwards.** For each (community, date, zone) the last rollup
//!   served is recorded with its heads. A rollup is served only if
//!   the replica holds every change of the last one served; otherwise (the
//!   store was restored from an older backup, say) the last one served is
//!   served again, marked `held`, until the node has synced the rest. The
//!   record of what was served lives in files beside the store (see
//!   [`crate::served`]), so restoring the store does not roll it back.
//!   The street document is left out of that check: only operators write
//!   it, so an operator's edit lost with a restore could never come back
//!   from a node, and every community would stay held.
//! - **One community never hides the rest.** A community whose figures
//!   cannot be computed (a document that does not load) is served from its
//!   last record, marked `held` and `unavailable` with the reason, or as
//!   zeros if nothing was served; the street's report goes on.
//! - **One community never stalls the rest.** Each community's views and
//!   rollups ([`CommunityRollups`]) live behind that community's own lock
//!   with its documents; the street's report (`crate::report`) waits on a
//!   community busy applying a message only up to a bound, then serves
//!   what that community last had.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use automerge::{AutoCommit, ChangeHash};
use chrono_tz::Tz;
use gridsync_core::docs::hex_heads;
use gridsync_core::replica::viewed;
use gridsync_core::report::DailyReport;
use gridsync_core::rollup::{self, CommunityInput, CommunityRollup, RollupHeads, days_read};
use gridsync_core::signoff::{self, SignOffState};
use gridsync_core::street::StreetView;
use gridsync_core::*;

use crate::docs::DocSet;
use crate::error::ReplicasError;

/// Default staleness threshold: a community whose last sync is older than
/// this is marked stale.
pub const DEFAULT_STALE_AFTER_MS: i64 = 15 * 60 * 1000;

/// How long the street's top figures computed for one node's report are
/// given to the next, in a street of up to 200 communities; see
/// [`summary_max_age_ms`].
pub const SUMMARY_MAX_AGE_MS: i64 = 2_000;

/// How long the figures computed for nodes' reports are served, in a street
/// of `communities`: 2 s, and 10 ms per community beyond 200 (10 s at
/// 1,000). Computing them is work in proportion to the street, and so is
/// the number of reports: this way the coordinator spends the same share
/// of its time on them whatever the street's size, and a node's copy of
/// the street's figures is at most this old. (Operators' rollups are
/// computed for them, not taken from here.)
pub fn summary_max_age_ms(communities: usize) -> i64 {
    let per_community = i64::try_from(communities)
        .unwrap_or(i64::MAX)
        .saturating_mul(10);
    SUMMARY_MAX_AGE_MS.max(per_community)
}

fn parse_hash(s: &str) -> Option<ChangeHash> {
    s.parse().ok()
}

/// The street document as a community's rollup reads it: its view and the
/// heads that view reflects.
pub struct StreetInput<'a> {
    pub view: &'a StreetView,
    pub heads: &'a [ChangeHash],
}

/// One community's rollups: the hydrated views of its registry and cases
/// (and of the activity days asked for), refreshed from the changes each
/// commit brings, and its rollups cached under the heads they reflect.
/// Documents come from the community's [`DocSet`] each call is given.
#[derive(Default)]
pub struct CommunityRollups {
    view: Option<CommunityView>,
    day_views: BTreeMap<Day, (Vec<ChangeHash>, DayView)>,
    cache: HashMap<(Day, String), Arc<CommunityRollup>>,
}

impl CommunityRollups {
    /// Forgets every view and cached rollup (after a call panicked while
    /// holding them); they are rebuilt from the documents on demand.
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// The heads a rollup for `as_of` in `tz` would reflect, from the
    /// published heads (no document loaded).
    fn rollup_heads(
        docs: &DocSet,
        c: &CommunityId,
        as_of: Day,
        tz: Tz,
        street_tz: Tz,
        street: &[ChangeHash],
    ) -> (Vec<Day>, RollupHeads) {
        let of = |id: DocId| docs.heads_of(&id).unwrap_or_default();
        let mut heads = RollupHeads::new(
            &of(DocId::Registry(c.clone())),
            &of(DocId::Cases(c.clone())),
            street,
        );
        let mut days = Vec::new();
        for d in days_read(as_of, tz, street_tz) {
            if let Some(h) = docs.heads_of(&DocId::Activity(c.clone(), d)) {
                heads.add_day(d, &h);
                days.push(d);
            }
        }
        (days, heads)
    }

    /// Keeps the cached views current after a commit changed `id` from
    /// `before` to `after`.
    pub fn doc_changed(
        &mut self,
        docs: &mut DocSet,
        id: &DocId,
        before: &[ChangeHash],
        after: &[ChangeHash],
    ) {
        match id {
            DocId::Registry(_) | DocId::Cases(_) => {
                let Some(view) = self.view.as_mut() else {
                    return;
                };
                let class = if matches!(id, DocId::Registry(_)) {
                    DocClass::Registry
                } else {
                    DocClass::Cases
                };
                match docs.loaded_mut(id) {
                    Some(l) => {
                        // Only the records the changes touched are re-read.
                        view.refresh_changed(&mut l.doc, class, before, after);
                        viewed(&mut l.doc);
                    }
                    None => {
                        // Not in memory: rebuilt on demand.
                        self.view = None;
                    }
                }
            }
            DocId::Activity(_, day) => {
                if let Some(entry) = self.day_views.get_mut(day) {
                    match docs.loaded_mut(id) {
                        Some(l) => {
                            entry.1.refresh_changed(&mut l.doc, before, after);
                            entry.0 = after.to_vec();
                            viewed(&mut l.doc);
                        }
                        None => {
                            self.day_views.remove(day);
                        }
                    }
                }
            }
            DocId::Street => {}
        }
    }

    /// The hydrated view of community `c`, read from its documents (loading
    /// them) unless it is held already.
    pub fn view(
        &mut self,
        docs: &mut DocSet,
        c: &CommunityId,
    ) -> Result<&CommunityView, ReplicasError> {
        if self.view.is_none() {
            let (reg, cases) = (DocId::Registry(c.clone()), DocId::Cases(c.clone()));
            docs.doc(&reg)?;
            docs.doc(&cases)?;
            let view = match (docs.loaded(&reg), docs.loaded(&cases)) {
                (Some(r), Some(k)) => CommunityView::read(&r.doc, &k.doc),
                _ => CommunityView::default(),
            };
            for id in [&reg, &cases] {
                if let Some(l) = docs.loaded_mut(id) {
                    viewed(&mut l.doc);
                }
            }
            self.view = Some(view);
        }
        Ok(self.view.as_ref().expect("set just above"))
    }

    fn ensure_day_view(
        &mut self,
        docs: &mut DocSet,
        c: &CommunityId,
        day: Day,
    ) -> Result<(), ReplicasError> {
        let id = DocId::Activity(c.clone(), day);
        let Some(heads) = docs.heads_of(&id) else {
            return Ok(());
        };
        if self.day_views.get(&day).is_some_and(|(h, _)| *h == heads) {
            return Ok(());
        }
        let was_loaded = docs.is_loaded(&id);
        let doc = &mut docs.doc(&id)?.doc;
        let view = DayView::read(day, doc);
        viewed(doc);
        self.day_views.insert(day, (heads, view));
        if !was_loaded {
            docs.unload_if_saved(&id);
        }
        Ok(())
    }

    /// Keeps the views of a few days (today's work and the days operators
    /// look at, not a month of them), never those of the request being
    /// answered (`keep`).
    fn prune_day_views(&mut self, keep: &[Day]) {
        const KEEP: usize = 4;
        let mut days: Vec<Day> = self
            .day_views
            .keys()
            .copied()
            .filter(|d| !keep.contains(d))
            .collect();
        let room = KEEP.saturating_sub(keep.len());
        if days.len() > room {
            days.sort();
            for d in days.iter().take(days.len() - room) {
                self.day_views.remove(d);
            }
        }
    }

    /// The rollup of community `c` for `as_of` in `tz`, from the cache when
    /// the heads it reflects are still current.
    pub fn community_rollup(
        &mut self,
        docs: &mut DocSet,
        c: &CommunityId,
        street: &StreetInput<'_>,
        as_of: Day,
        tz: Tz,
        street_tz: Tz,
    ) -> Result<Arc<CommunityRollup>, ReplicasError> {
        let (days, heads) = Self::rollup_heads(docs, c, as_of, tz, street_tz, street.heads);
        let key = (as_of, tz.name().to_string());
        if let Some(r) = self.cache.get(&key)
            && r.heads == heads
        {
            return Ok(r.clone());
        }
        self.view(docs, c)?;
        for d in &days {
            self.ensure_day_view(docs, c, *d)?;
        }
        let empty = CommunityView::default();
        let view = self.view.as_ref().unwrap_or(&empty);
        let day_views: Vec<&DayView> = days
            .iter()
            .filter_map(|d| self.day_views.get(d).map(|(_, v)| v))
            .collect();
        let input = CommunityInput {
            community_id: c.as_str(),
            view,
            days: &day_views,
            street: street.view,
            heads,
        };
        let r = Arc::new(rollup::community_rollup(&input, as_of, tz));
        self.prune_day_views(&days);
        if self.cache.len() > 32 {
            self.cache.clear();
        }
        self.cache.insert(key, r.clone());
        Ok(r)
    }

    /// Whether the replica holds every change of `heads`.
    pub fn holds_all(
        docs: &mut DocSet,
        c: &CommunityId,
        heads: &RollupHeads,
    ) -> Result<bool, ReplicasError> {
        // Not the street document: see the module docs.
        let mut wanted_docs: Vec<(DocId, &Vec<String>)> = vec![
            (DocId::Registry(c.clone()), &heads.registry),
            (DocId::Cases(c.clone()), &heads.cases),
        ];
        for (d, h) in &heads.days {
            if let Ok(date) = Date::parse("", d) {
                wanted_docs.push((DocId::Activity(c.clone(), date.0), h));
            }
        }
        for (id, wanted) in wanted_docs {
            if wanted.is_empty() {
                continue;
            }
            let current = docs.heads_of(&id).unwrap_or_default();
            let current_hex = hex_heads(&current);
            if wanted.iter().all(|h| current_hex.contains(h)) {
                continue;
            }
            if current.is_empty() {
                return Ok(false);
            }
            let was_loaded = docs.is_loaded(&id);
            let doc: &mut AutoCommit = &mut docs.doc(&id)?.doc;
            let all = wanted
                .iter()
                .all(|h| parse_hash(h).is_some_and(|h| doc.get_change_by_hash(&h).is_some()));
            if !was_loaded {
                docs.unload_if_saved(&id);
            }
            if !all {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Where the sign-off of `r`'s date stands.
    pub fn sign_off_state(
        docs: &mut DocSet,
        c: &CommunityId,
        r: &CommunityRollup,
    ) -> Result<SignOffState, ReplicasError> {
        let id = DocId::Cases(c.clone());
        if docs.heads_of(&id).is_none() {
            return Ok(SignOffState::NotSigned);
        }
        let s = signoff::get(&docs.doc(&id)?.doc, r.as_of);
        Ok(signoff::state(s.as_ref(), r))
    }
}

/// A community with nothing counted, for when its figures cannot be
/// computed and none were served before.
pub fn zero_rollup(c: &CommunityId, name: &str, as_of: Day, tz: Tz) -> CommunityRollup {
    CommunityRollup {
        community_id: c.to_string(),
        as_of,
        tz: tz.name().to_string(),
        rollup_version: rollup::ROLLUP_VERSION,
        heads: RollupHeads::default(),
        tree: rollup::Node {
            level: rollup::Level::Community,
            id: c.to_string(),
            name: name.to_string(),
            figures: Default::default(),
            children: Vec::new(),
        },
        digest: String::new(),
        persons: Vec::new(),
    }
}

/// The report of one community cut from the street's: its subtree, stamp
/// and conflicts. `None` if the street has no such community.
pub fn community_report(street: &DailyReport, c: &str) -> Option<DailyReport> {
    let tree = street.tree.children.iter().find(|n| n.id == c)?.clone();
    Some(DailyReport {
        street_id: street.street_id.clone(),
        as_of: street.as_of,
        tz: street.tz.clone(),
        rollup_version: street.rollup_version,
        generated_at_ms: street.generated_at_ms,
        tree,
        stamps: street
            .stamps
            .iter()
            .filter(|s| s.stamp.community_id == c)
            .cloned()
            .collect(),
        conflicts: street
            .conflicts
            .iter()
            .filter(|k| k.registrations.iter().any(|(cc, _)| cc == c))
            .cloned()
            .collect(),
    })
}
