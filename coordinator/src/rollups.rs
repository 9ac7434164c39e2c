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

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use automerge::{AutoCommit, ChangeHash};
use chrono_tz::Tz;
use gridsync_core::docs::hex_heads;
use gridsync_core::replica::viewed;
use gridsync_core::report::{DailyReport, ReportStamp};
use gridsync_core::rollup::{
    self, CommunityInput, CommunityRollup, NodeDigest, RollupHeads, Stamp, days_read,
};
use gridsync_core::signoff::{self, SignOffState};
use gridsync_core::street::StreetView;
use gridsync_core::*;

use gridsync_proto::rollup::v1 as rpb;
use gridsync_proto::rollup_convert::report_to_pb;

use crate::docs::DocCache;
use crate::error::ReplicasError;
use crate::links::CommunityStatus;
use crate::served::{Served, ServedLog};

/// Default staleness threshold: a community whose last sync is older than
/// this is marked stale.
pub const DEFAULT_STALE_AFTER_MS: i64 = 15 * 60 * 1000;

/// What the rollups need to know of the street.
#[derive(Clone, Debug)]
pub struct RollupConfig {
    pub street_id: String,
    /// The street's name in rollups and reports.
    pub street_name: String,
    /// The street's zone, whose days name the activity documents.
    pub tz: Tz,
    /// A community whose last sync is older than this is marked stale.
    pub stale_after_ms: i64,
    /// Where the record of the rollups served lives (beside the store).
    pub served_dir: std::path::PathBuf,
}

/// The street's rollups: views and rollups cached per community, the
/// record of what was served, the nodes' digests. Documents come from the
/// [`DocCache`] each call is given.
pub struct RollupEngine {
    cfg: RollupConfig,
    views: HashMap<CommunityId, CommunityView>,
    day_views: BTreeMap<(CommunityId, Day), (Vec<ChangeHash>, DayView)>,
    street: Option<(Vec<ChangeHash>, StreetView)>,
    cache: HashMap<(CommunityId, Day, String), Arc<CommunityRollup>>,
    node_digests: HashMap<CommunityId, NodeDigest>,
    served: ServedLog,
    /// The street's top figures last computed for nodes, and when.
    summary: Option<(i64, rpb::Rollup)>,
}

/// How long the street's top figures computed for one node's report are
/// given to the next.
pub const SUMMARY_MAX_AGE_MS: i64 = 2_000;

fn parse_hash(s: &str) -> Option<ChangeHash> {
    s.parse().ok()
}

impl RollupEngine {
    pub fn new(cfg: RollupConfig) -> Self {
        RollupEngine {
            served: ServedLog::new(cfg.served_dir.clone()),
            cfg,
            views: HashMap::new(),
            day_views: BTreeMap::new(),
            street: None,
            cache: HashMap::new(),
            node_digests: HashMap::new(),
            summary: None,
        }
    }

    pub fn stale_after_ms(&self) -> i64 {
        self.cfg.stale_after_ms
    }

    /// Forgets every view and cached rollup (after a call panicked while
    /// holding the replicas); they are rebuilt from the documents on
    /// demand. The record of what was served stays: it is on disk.
    pub fn clear(&mut self) {
        self.views.clear();
        self.day_views.clear();
        self.street = None;
        self.cache.clear();
        self.summary = None;
    }

    /// The heads a rollup of `c` for `as_of` in `tz` would reflect, from the
    /// in-memory heads index (no document loaded).
    fn rollup_heads(
        &self,
        cache: &DocCache,
        c: &CommunityId,
        as_of: Day,
        tz: Tz,
    ) -> (Vec<Day>, RollupHeads) {
        let none = Vec::new();
        let of = |id: DocId| cache.heads_of(&id).unwrap_or(&none);
        let mut heads = RollupHeads::new(
            of(DocId::Registry(c.clone())),
            of(DocId::Cases(c.clone())),
            of(DocId::Street),
        );
        let mut days = Vec::new();
        for d in days_read(as_of, tz, self.cfg.tz) {
            if let Some(h) = cache.heads_of(&DocId::Activity(c.clone(), d)) {
                heads.add_day(d, h);
                days.push(d);
            }
        }
        (days, heads)
    }

    /// Keeps the cached views current after a commit changed `id` from
    /// `before` to `after`.
    pub fn doc_changed(
        &mut self,
        cache: &mut DocCache,
        id: &DocId,
        before: &[ChangeHash],
        after: &[ChangeHash],
    ) {
        match id {
            DocId::Registry(c) | DocId::Cases(c) => {
                let Some(view) = self.views.get_mut(c) else {
                    return;
                };
                let class = if matches!(id, DocId::Registry(_)) {
                    DocClass::Registry
                } else {
                    DocClass::Cases
                };
                match cache.loaded_mut(id) {
                    Some(l) => {
                        // Only the records the changes touched are re-read.
                        view.refresh_changed(&mut l.doc, class, before, after);
                        viewed(&mut l.doc);
                    }
                    None => {
                        // Not in memory: rebuilt on demand.
                        self.views.remove(c);
                    }
                }
            }
            DocId::Activity(c, day) => {
                let key = (c.clone(), *day);
                if let Some(entry) = self.day_views.get_mut(&key) {
                    match cache.loaded_mut(id) {
                        Some(l) => {
                            entry.1.refresh_changed(&mut l.doc, before, after);
                            entry.0 = after.to_vec();
                            viewed(&mut l.doc);
                        }
                        None => {
                            self.day_views.remove(&key);
                        }
                    }
                }
            }
            DocId::Street => {
                self.street = None;
            }
        }
    }

    /// The hydrated view of community `c`, read from its documents (loading
    /// them) unless it is held already.
    pub fn view(
        &mut self,
        cache: &mut DocCache,
        c: &CommunityId,
    ) -> Result<&CommunityView, ReplicasError> {
        if !self.views.contains_key(c) {
            let (reg, cases) = (DocId::Registry(c.clone()), DocId::Cases(c.clone()));
            cache.doc(&reg)?;
            cache.doc(&cases)?;
            let view = match (cache.loaded(&reg), cache.loaded(&cases)) {
                (Some(r), Some(k)) => CommunityView::read(&r.doc, &k.doc),
                _ => CommunityView::default(),
            };
            for id in [&reg, &cases] {
                if let Some(l) = cache.loaded_mut(id) {
                    viewed(&mut l.doc);
                }
            }
            self.views.insert(c.clone(), view);
        }
        Ok(&self.views[c])
    }

    fn ensure_day_view(
        &mut self,
        cache: &mut DocCache,
        c: &CommunityId,
        day: Day,
    ) -> Result<(), ReplicasError> {
        let id = DocId::Activity(c.clone(), day);
        let Some(heads) = cache.heads_of(&id).cloned() else {
            return Ok(());
        };
        let key = (c.clone(), day);
        if self.day_views.get(&key).is_some_and(|(h, _)| *h == heads) {
            return Ok(());
        }
        let was_loaded = cache.is_loaded(&id);
        let doc = &mut cache.doc(&id)?.doc;
        let view = DayView::read(day, doc);
        viewed(doc);
        self.day_views.insert(key, (heads, view));
        if !was_loaded {
            cache.unload_if_saved(&id);
        }
        Ok(())
    }

    /// Keeps the views of a few days per community (today's work and the
    /// days operators look at, not a month of them), never those of the
    /// request being answered (`keep`).
    fn prune_day_views(&mut self, c: &CommunityId, keep: &[Day]) {
        const PER_COMMUNITY: usize = 4;
        let mut days: Vec<Day> = self
            .day_views
            .keys()
            .filter(|(cc, _)| cc == c)
            .map(|(_, d)| *d)
            .filter(|d| !keep.contains(d))
            .collect();
        let room = PER_COMMUNITY.saturating_sub(keep.len());
        if days.len() > room {
            days.sort();
            for d in days.iter().take(days.len() - room) {
                self.day_views.remove(&(c.clone(), *d));
            }
        }
    }

    fn street_view_cached(&mut self, cache: &mut DocCache) -> Result<StreetView, ReplicasError> {
        let heads = cache.heads_of(&DocId::Street).cloned().unwrap_or_default();
        Ok(match &self.street {
            Some((h, v)) if *h == heads => v.clone(),
            _ => {
                let v = StreetView::read(&cache.doc(&DocId::Street)?.doc);
                self.street = Some((heads, v.clone()));
                v
            }
        })
    }

    /// The rollup of community `c` for `as_of` in `tz`, from the cache when
    /// the heads it reflects are still current.
    pub fn community_rollup(
        &mut self,
        cache: &mut DocCache,
        c: &CommunityId,
        as_of: Day,
        tz: Tz,
    ) -> Result<Arc<CommunityRollup>, ReplicasError> {
        let (days, heads) = self.rollup_heads(cache, c, as_of, tz);
        let key = (c.clone(), as_of, tz.name().to_string());
        if let Some(r) = self.cache.get(&key)
            && r.heads == heads
        {
            return Ok(r.clone());
        }
        self.view(cache, c)?;
        for d in &days {
            self.ensure_day_view(cache, c, *d)?;
        }
        let street = self.street_view_cached(cache)?;
        let empty = CommunityView::default();
        let view = self.views.get(c).unwrap_or(&empty);
        let day_views: Vec<&DayView> = days
            .iter()
            .filter_map(|d| self.day_views.get(&(c.clone(), *d)).map(|(_, v)| v))
            .collect();
        let input = CommunityInput {
            community_id: c.as_str(),
            view,
            days: &day_views,
            street: &street,
            heads,
        };
        let r = Arc::new(rollup::community_rollup(&input, as_of, tz));
        self.prune_day_views(c, &days);
        if self.cache.len() > 256 {
            self.cache.clear();
        }
        self.cache.insert(key, r.clone());
        Ok(r)
    }

    /// Whether the replica holds every change of `heads`.
    fn holds_all(
        cache: &mut DocCache,
        c: &CommunityId,
        heads: &RollupHeads,
    ) -> Result<bool, ReplicasError> {
        // Not the street document: see the module docs.
        let mut docs: Vec<(DocId, &Vec<String>)> = vec![
            (DocId::Registry(c.clone()), &heads.registry),
            (DocId::Cases(c.clone()), &heads.cases),
        ];
        for (d, h) in &heads.days {
            if let Ok(date) = Date::parse("", d) {
                docs.push((DocId::Activity(c.clone(), date.0), h));
            }
        }
        for (id, wanted) in docs {
            if wanted.is_empty() {
                continue;
            }
            let current = cache.heads_of(&id).cloned().unwrap_or_default();
            let current_hex = hex_heads(&current);
            if wanted.iter().all(|h| current_hex.contains(h)) {
                continue;
            }
            if current.is_empty() {
                return Ok(false);
            }
            let was_loaded = cache.is_loaded(&id);
            let doc: &mut AutoCommit = &mut cache.doc(&id)?.doc;
            let all = wanted
                .iter()
                .all(|h| parse_hash(h).is_some_and(|h| doc.get_change_by_hash(&h).is_some()));
            if !was_loaded {
                cache.unload_if_saved(&id);
            }
            if !all {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The rollup of `c` to serve: the current one if the replica holds
    /// everything last served for this date and zone (recording it as
    /// served when it moved on), else the last one served, `held`.
    fn serve_community(
        &mut self,
        cache: &mut DocCache,
        c: &CommunityId,
        as_of: Day,
        tz: Tz,
        now_ms: i64,
    ) -> Result<(Arc<CommunityRollup>, bool), ReplicasError> {
        let current = self.community_rollup(cache, c, as_of, tz)?;
        let last_heads = match self
            .served
            .get(c, as_of, tz.name())
            .map_err(ReplicasError::Served)?
        {
            Some(last) if last.heads == current.heads && last.digest == current.digest => {
                return Ok((current, false));
            }
            Some(last) => Some(last.heads.clone()),
            None => None,
        };
        if let Some(heads) = last_heads
            && !Self::holds_all(cache, c, &heads)?
        {
            tracing::warn!(community = %c, "the replica is behind the rollup last served; serving that one until the node syncs");
            if let Some(held) = self.held_rollup(c, as_of, tz, Some(&current))? {
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
        if let Err(e) = self.served.put(c, as_of, tz.name(), record) {
            // Not served as fresh unless recorded: a restart could otherwise
            // show an older state without knowing.
            tracing::error!(community = %c, error = %e, "could not record the rollup served");
            return Err(ReplicasError::Served(e));
        }
        Ok((current, false))
    }

    /// The last rollup served for (`c`, `as_of`, `tz`) as a rollup, if any.
    /// Its person keys are the replica's current ones (`current`), which the
    /// record does not keep: the street still counts each person once.
    fn held_rollup(
        &mut self,
        c: &CommunityId,
        as_of: Day,
        tz: Tz,
        current: Option<&CommunityRollup>,
    ) -> Result<Option<Arc<CommunityRollup>>, ReplicasError> {
        let Some(last) = self
            .served
            .get(c, as_of, tz.name())
            .map_err(ReplicasError::Served)?
        else {
            return Ok(None);
        };
        Ok(Some(Arc::new(CommunityRollup {
            community_id: c.to_string(),
            as_of,
            tz: tz.name().to_string(),
            rollup_version: last.rollup_version,
            heads: last.heads.clone(),
            tree: last.tree.clone(),
            digest: last.digest.clone(),
            persons: current.map(|r| r.persons.clone()).unwrap_or_default(),
        })))
    }

    /// The street's top figures (the street and each community, no deeper)
    /// as last computed for nodes, if computed less than
    /// `SUMMARY_MAX_AGE_MS` before `now_ms`: seven nodes reporting at once
    /// share one street report.
    pub fn recent_summary(&self, now_ms: i64) -> Option<rpb::Rollup> {
        match &self.summary {
            Some((at, s)) if now_ms.saturating_sub(*at) < SUMMARY_MAX_AGE_MS && now_ms >= *at => {
                Some(s.clone())
            }
            _ => None,
        }
    }

    /// The street's top figures for the street's today, computed now from
    /// the communities' `statuses`, and kept for [`Self::recent_summary`].
    pub fn street_summary(
        &mut self,
        cache: &mut DocCache,
        statuses: &[CommunityStatus],
        now_ms: i64,
    ) -> Result<rpb::Rollup, ReplicasError> {
        let tz = self.cfg.tz;
        let today = gridsync_core::replica::day_of_instant(now_ms, tz).ok_or_else(|| {
            ReplicasError::Core(CoreError::Precondition(
                "the clock is outside the years 1000-9000".into(),
            ))
        })?;
        let street = self.street_report(cache, statuses, today, tz, now_ms)?;
        let summary = report_to_pb(&street, &[], 1, self.cfg.stale_after_ms).unwrap_or_default();
        self.summary = Some((now_ms, summary.clone()));
        Ok(summary)
    }

    /// Records the digest a node reported of its own community.
    pub fn node_digest(&mut self, c: &CommunityId, d: NodeDigest) {
        self.node_digests.insert(c.clone(), d);
    }

    /// The street's stamped rollup for `as_of` in `tz`: every community the
    /// coordinator knows, its figures, stamp and sign-off, and the street's
    /// tree over them.
    pub fn street_report(
        &mut self,
        cache: &mut DocCache,
        statuses: &[CommunityStatus],
        as_of: Day,
        tz: Tz,
        now_ms: i64,
    ) -> Result<DailyReport, ReplicasError> {
        let mut rollups = Vec::with_capacity(statuses.len());
        let mut stamps = Vec::with_capacity(statuses.len());
        for st in statuses {
            let (r, held, unavailable) = match self
                .serve_community(cache, &st.id, as_of, tz, now_ms)
            {
                Ok((r, held)) => (r, held, None),
                Err(e) => {
                    // One community's trouble does not hide the others.
                    tracing::error!(community = %st.id, error = %e, "the community's figures could not be computed");
                    match self.held_rollup(&st.id, as_of, tz, None) {
                        Ok(Some(r)) => (r, true, Some(e.to_string())),
                        _ => (
                            Arc::new(zero_rollup(&st.id, &st.name, as_of, tz)),
                            false,
                            Some(e.to_string()),
                        ),
                    }
                }
            };
            // What the figures are known to include: everything up to now
            // while the link is up and nothing is behind; else up to the
            // oldest of the documents' last syncs.
            let last_sync_ms = if st.link.connected && st.docs_behind == 0 {
                Some(now_ms)
            } else {
                st.oldest_sync_ms
            };
            let stale =
                last_sync_ms.is_none_or(|t| now_ms.saturating_sub(t) > self.cfg.stale_after_ms);
            let digest_check = rollup::check_digest(&r, self.node_digests.get(&st.id));
            let sign_off = Self::sign_off_state(cache, &st.id, &r).unwrap_or_else(|e| {
                tracing::error!(community = %st.id, error = %e, "the community's sign-off could not be read");
                SignOffState::NotSigned
            });
            stamps.push(ReportStamp {
                stamp: Stamp {
                    community_id: st.id.to_string(),
                    heads: r.heads.clone(),
                    digest: r.digest.clone(),
                    last_sync_ms,
                    stale,
                    held,
                    digest_check,
                    unavailable,
                },
                sign_off,
            });
            rollups.push(r);
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

    fn sign_off_state(
        cache: &mut DocCache,
        c: &CommunityId,
        r: &CommunityRollup,
    ) -> Result<SignOffState, ReplicasError> {
        let id = DocId::Cases(c.clone());
        if cache.heads_of(&id).is_none() {
            return Ok(SignOffState::NotSigned);
        }
        let s = signoff::get(&cache.doc(&id)?.doc, r.as_of);
        Ok(signoff::state(s.as_ref(), r))
    }
}

/// A community with nothing counted, for when its figures cannot be
/// computed and none were served before.
fn zero_rollup(c: &CommunityId, name: &str, as_of: Day, tz: Tz) -> CommunityRollup {
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
