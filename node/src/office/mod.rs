//! `Office`: one community's replica bound to its SQLite store. Every
//! operation here is blocking (Automerge and SQLite work) and is called from
//! `spawn_blocking` by the service. The office reads no clock: every
//! operation is given the time (`now_ms`, Unix ms) by its caller.
//!
//! The write path is: validate and apply the edit group to the replica (all
//! or nothing) → take the new changes' bytes → commit them and an audit row
//! in one SQLite transaction → only then return success. If the commit
//! fails, the replica is reloaded from the store, so memory never holds an
//! edit the store does not.

mod host;
mod street_copy;

use std::path::PathBuf;
use std::time::Instant;

use automerge::{ActorId, AutoCommit, ChangeHash};
use chrono_tz::Tz;
use gridsync_core::access::SyncAccess;
use gridsync_core::queries::{self, HouseholdDetail, OverdueCare, Tree, Worklist};
use gridsync_core::replica::day_of_instant;
use gridsync_core::roster::{self, ImportReport, RawRow};
use gridsync_core::sync::{DocHeads, SyncSession};
use gridsync_core::*;
use gridsync_proto::rollup::v1 as rpb;
use gridsync_proto::sync::v1 as sypb;
use gridsync_store::{Audit, DocStats, DocWrite, Store, StoreError, SyncWrite};
use gridsync_svc::metrics::Timings;

use street_copy::StreetCopy;

/// What the office needs to open.
#[derive(Clone, Debug)]
pub struct OfficeConfig {
    pub community: CommunityId,
    pub community_name: String,
    pub community_kind: CommunityKind,
    /// The SQLite file.
    pub db_path: PathBuf,
    pub tz: Tz,
    pub secret: Option<PersonKeySecret>,
    /// Compact a document into a snapshot once it has this many chunks.
    pub compact_after_chunks: u64,
    /// The store's key (`None`: a plaintext store, development only).
    pub store_key: Option<gridsync_store::StoreKey>,
}

#[derive(Debug, thiserror::Error)]
pub enum OfficeError {
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<OfficeError> for gridsync_svc::ApiError {
    fn from(e: OfficeError) -> Self {
        match e {
            OfficeError::Core(e) => e.into(),
            OfficeError::Store(e) => e.into(),
        }
    }
}

/// A document's identity, heads and stored size, for status pages.
pub struct DocInfo {
    pub id: DocId,
    pub heads: Vec<String>,
    pub stats: DocStats,
}

pub struct Office {
    cfg: OfficeConfig,
    store: Store,
    replica: CommunityReplica,
    actor: String,
    /// Set when a commit failed and the reload after it failed too.
    needs_reload: bool,
    /// The street document, read-only here (only sync writes it), and the
    /// street's figures as last received.
    street: StreetCopy,
    /// Ticks after every committed local edit, so the link pushes it at once.
    changes: tokio::sync::watch::Sender<u64>,
    /// Ticks after every committed change, local or synced (for the
    /// digest reports).
    any_change: tokio::sync::watch::Sender<u64>,
    /// The last rollups computed, by date and zone (their heads say whether
    /// they are current).
    rollup_cache: Vec<rollup::CommunityRollup>,
    /// How long commits and rollups take (for the metrics).
    timings: Timings,
    /// The audit rows of edits applied here and not yet committed (a group
    /// commit's, see [`Office::stage`]): each edit's action and time.
    staged: Vec<(String, i64)>,
}

/// The one way the office commits: [`Store::commit`], timed.
fn timed_commit(
    store: &mut Store,
    timings: &Timings,
    writes: &[DocWrite],
    sync: &[SyncWrite<'_>],
    audits: &[Audit<'_>],
) -> Result<(), StoreError> {
    let started = Instant::now();
    let done = store.commit_group(writes, sync, audits);
    Timings::observe(&timings.commit_seconds, started);
    done
}

/// The peer name under which the node keeps its sync state with the
/// coordinator.
pub const COORDINATOR_PEER: &str = "coordinator";

fn random_id(kind: Kind, day: Option<Day>) -> String {
    kind.new_id(rand::random::<[u8; 8]>(), day)
}

impl Office {
    /// Opens the store (creating and migrating as needed) and loads the
    /// community's registry, cases and today's activity.
    pub fn open(cfg: OfficeConfig, now_ms: i64) -> Result<Office, OfficeError> {
        let store = Store::open(&cfg.db_path, cfg.store_key.as_ref())?;
        store.claim_community(cfg.community.as_str())?;
        let actor_bytes: [u8; 16] = rand::random();
        let actor = hex::encode(actor_bytes);
        let replica = Self::load_replica(&cfg, &store, ActorId::from(&actor_bytes[..]))?;
        let street = StreetCopy::load(&store)?;
        let mut office = Office {
            cfg,
            store,
            replica,
            actor,
            needs_reload: false,
            street,
            changes: tokio::sync::watch::Sender::new(0),
            any_change: tokio::sync::watch::Sender::new(0),
            rollup_cache: Vec::new(),
            timings: Timings::default(),
            staged: Vec::new(),
        };
        let info = CommunityInfo {
            id: office.cfg.community.as_str().to_string(),
            name: office.cfg.community_name.clone(),
            kind: office.cfg.community_kind,
        };
        if office.replica.view().community.as_ref() != Some(&info) {
            let ctx = office.ctx(now_ms);
            office.replica.set_community(&info, &ctx)?;
        }
        office.persist("open", now_ms)?;
        let today = office.today(now_ms);
        office.load_day(today)?;
        Ok(office)
    }

    fn load_replica(
        cfg: &OfficeConfig,
        store: &Store,
        actor: ActorId,
    ) -> Result<CommunityReplica, OfficeError> {
        let reg_id = DocId::Registry(cfg.community.clone());
        let cases_id = DocId::Cases(cfg.community.clone());
        let reg = store.read_doc(&reg_id)?;
        let cases = store.read_doc(&cases_id)?;
        let genesis_actor = actor.clone();
        let genesis = |id: &DocId, stored: Option<AutoCommit>| {
            stored.unwrap_or_else(|| gridsync_core::docs::genesis(id, genesis_actor.clone()))
        };
        if reg.is_none() && cases.is_none() {
            return Ok(CommunityReplica::new(
                cfg.community.clone(),
                actor,
                cfg.secret.clone(),
            ));
        }
        let (fresh_reg, fresh_cases) = (reg.is_none(), cases.is_none());
        let mut replica = CommunityReplica::from_docs(
            cfg.community.clone(),
            actor,
            cfg.secret.clone(),
            genesis(&reg_id, reg),
            genesis(&cases_id, cases),
        )?;
        // A document that was never stored must be stored now: forget that
        // it counted as saved.
        if fresh_reg {
            replica.mark_saved(&reg_id, Vec::new());
        }
        if fresh_cases {
            replica.mark_saved(&cases_id, Vec::new());
        }
        Ok(replica)
    }

    /// Drops everything in memory and reloads from the store: after a failed
    /// commit, memory must not keep an edit the store does not have.
    pub fn reload(&mut self) -> Result<(), OfficeError> {
        // Stays set unless the reload gets all the way through.
        self.needs_reload = true;
        self.staged.clear();
        let days = self.replica.loaded_days();
        let actor: [u8; 16] = rand::random();
        self.actor = hex::encode(actor);
        self.replica = Self::load_replica(&self.cfg, &self.store, ActorId::from(&actor[..]))?;
        self.street = StreetCopy::load(&self.store)?;
        for d in days {
            self.load_day(d)?;
        }
        self.needs_reload = false;
        Ok(())
    }

    /// After a failed commit whose reload also failed, memory may hold what
    /// the store does not: no write goes ahead until a reload succeeds.
    fn ensure_consistent(&mut self) -> Result<(), OfficeError> {
        if self.needs_reload {
            self.reload()?;
        }
        Ok(())
    }

    pub fn ctx(&self, now_ms: i64) -> EditContext {
        EditContext {
            now_ms,
            tz: self.cfg.tz,
        }
    }

    pub fn today(&self, now_ms: i64) -> Day {
        day_of_instant(now_ms, self.cfg.tz).unwrap_or_default()
    }

    pub fn config(&self) -> &OfficeConfig {
        &self.cfg
    }

    pub fn view(&self) -> &CommunityView {
        self.replica.view()
    }

    /// Loads a stored day if there is one; returns whether the day is loaded.
    fn load_day(&mut self, day: Day) -> Result<bool, OfficeError> {
        if self.replica.has_day(day) {
            return Ok(true);
        }
        let id = DocId::Activity(self.cfg.community.clone(), day);
        match self.store.read_doc(&id)? {
            Some(doc) => {
                self.replica.attach_day(day, doc)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Commits every unsaved change in one transaction, with the audit row
    /// of `action` and of every edit staged before it, then compacts
    /// documents whose chunks have piled up.
    fn persist(&mut self, action: &str, now_ms: i64) -> Result<(), OfficeError> {
        self.staged.push((action.to_string(), now_ms));
        self.commit_staged(now_ms)
    }

    /// Commits every unsaved change in one transaction, with an audit row
    /// for each staged edit; on failure the community is reloaded from the
    /// store, so that memory holds nothing the store does not.
    fn commit_staged(&mut self, now_ms: i64) -> Result<(), OfficeError> {
        let staged = std::mem::take(&mut self.staged);
        let unsaved = self.replica.unsaved();
        if unsaved.is_empty() {
            return Ok(());
        }
        let chunks: Vec<DocWrite> = unsaved
            .iter()
            .map(|(id, b, h)| DocWrite {
                id: id.clone(),
                bytes: b.clone(),
                heads: h.clone(),
            })
            .collect();
        let audits: Vec<Audit> = staged
            .iter()
            .map(|(action, at_ms)| Audit {
                at_ms: *at_ms,
                actor: &self.actor,
                action,
            })
            .collect();
        if let Err(e) = timed_commit(&mut self.store, &self.timings, &chunks, &[], &audits) {
            tracing::error!(error = %e, "commit failed; reloading the community from the store");
            self.needs_reload = true;
            if let Err(e2) = self.reload() {
                tracing::error!(error = %e2, "reload after a failed commit failed too; writes are refused until it succeeds");
            }
            return Err(e.into());
        }
        // Stored: from here on nothing may turn this write into an error.
        self.changes.send_modify(|n| *n += 1);
        self.any_change.send_modify(|n| *n += 1);
        let ids: Vec<DocId> = unsaved.iter().map(|(id, _, _)| id.clone()).collect();
        for (id, _, heads) in unsaved {
            self.replica.mark_saved(&id, heads);
        }
        for id in ids {
            if let Err(e) = self.maybe_compact(&id, now_ms) {
                tracing::warn!(doc = %id, error = %e, "compaction failed; the chunks stay as they are");
            }
        }
        Ok(())
    }

    fn maybe_compact(&mut self, id: &DocId, now_ms: i64) -> Result<(), OfficeError> {
        let stats = self.store.doc_stats(id)?;
        if !stats.wants_compaction(self.cfg.compact_after_chunks) {
            return Ok(());
        }
        if let Some(snapshot) = self.replica.save_doc(id) {
            self.store.compact(id, &snapshot, now_ms)?;
            tracing::debug!(doc = %id, chunks = stats.chunk_count, bytes = snapshot.len(), "compacted");
        }
        Ok(())
    }

    /// Keeps only today and yesterday in memory (plus any day with unsaved
    /// changes, which there are none of after a successful persist).
    fn evict_days(&mut self, now_ms: i64) {
        let today = self.today(now_ms);
        for d in self.replica.loaded_days() {
            if (today - d).num_days().abs() > 1 {
                self.replica.detach_day(d);
            }
        }
    }

    /// Applies an edit group and commits it. Returns when durable.
    pub fn apply(
        &mut self,
        edits: &[Edit],
        now_ms: i64,
        action: &str,
    ) -> Result<Vec<Record>, OfficeError> {
        let out = self.stage(edits, now_ms, action)?;
        self.commit_group(now_ms)?;
        Ok(out)
    }

    /// Commits every edit staged since the last commit in one transaction
    /// (one fsync), then lets go of days no longer needed. Until this
    /// returns `Ok`, no staged edit may be acknowledged; if it fails, every
    /// one of them is gone from memory too.
    pub fn commit_group(&mut self, now_ms: i64) -> Result<(), OfficeError> {
        self.commit_staged(now_ms)?;
        self.evict_days(now_ms);
        Ok(())
    }

    /// Applies an edit group in memory, all or nothing, without committing
    /// it: the caller must [`Office::commit_group`] before it lets go of the
    /// office, and acknowledge the edit only once that succeeded.
    pub fn stage(
        &mut self,
        edits: &[Edit],
        now_ms: i64,
        action: &str,
    ) -> Result<Vec<Record>, OfficeError> {
        self.ensure_consistent()?;
        // Every edit's day first, so that a bad one refuses the group before
        // any day is started.
        let mut days = Vec::new();
        for e in edits {
            if let Some(d) = CommunityReplica::day_needed(e, self.cfg.tz)? {
                days.push(d);
            }
        }
        let mut started = Vec::new();
        for d in days {
            match self.load_day(d) {
                Ok(true) => {}
                Ok(false) => {
                    self.replica.start_day(d);
                    started.push(d);
                }
                Err(e) => {
                    for d in started {
                        self.replica.discard_day(d);
                    }
                    return Err(e);
                }
            }
        }
        let ctx = self.ctx(now_ms);
        let out = match self.replica.apply(edits, &ctx, action) {
            Ok(out) => out,
            Err(e) => {
                // A refused edit must leave nothing behind, not even the
                // empty document of a day it would have started.
                for d in started {
                    self.replica.discard_day(d);
                }
                return Err(e.into());
            }
        };
        self.staged.push((action.to_string(), now_ms));
        Ok(out)
    }

    /// Creates a record, making its id if it has none. Returns when durable.
    pub fn create(&mut self, rec: Record, now_ms: i64) -> Result<Record, OfficeError> {
        let out = self.stage_create(rec, now_ms)?;
        self.commit_group(now_ms)?;
        Ok(out)
    }

    pub fn update(&mut self, rec: Record, now_ms: i64) -> Result<Record, OfficeError> {
        let out = self.stage_update(rec, now_ms)?;
        self.commit_group(now_ms)?;
        Ok(out)
    }

    pub fn remove(&mut self, kind: Kind, id: &str, now_ms: i64) -> Result<Record, OfficeError> {
        let out = self.stage_remove(kind, id, now_ms)?;
        self.commit_group(now_ms)?;
        Ok(out)
    }

    /// [`Office::create`], staged (see [`Office::stage`]).
    pub fn stage_create(&mut self, mut rec: Record, now_ms: i64) -> Result<Record, OfficeError> {
        if rec.id().is_empty() {
            let probe = Edit::Create(rec.clone());
            let day = CommunityReplica::day_needed(&probe, self.cfg.tz)?;
            rec.set_id(random_id(rec.kind(), day));
        }
        let action = format!("create {} {}", rec.kind(), rec.id());
        Ok(self.stage(&[Edit::Create(rec)], now_ms, &action)?.remove(0))
    }

    /// [`Office::update`], staged (see [`Office::stage`]).
    pub fn stage_update(&mut self, rec: Record, now_ms: i64) -> Result<Record, OfficeError> {
        let action = format!("update {} {}", rec.kind(), rec.id());
        Ok(self.stage(&[Edit::Update(rec)], now_ms, &action)?.remove(0))
    }

    /// [`Office::remove`], staged (see [`Office::stage`]).
    pub fn stage_remove(
        &mut self,
        kind: Kind,
        id: &str,
        now_ms: i64,
    ) -> Result<Record, OfficeError> {
        let action = format!("remove {kind} {id}");
        Ok(self
            .stage(
                &[Edit::Remove {
                    kind,
                    id: id.to_string(),
                }],
                now_ms,
                &action,
            )?
            .remove(0))
    }

    pub fn get(
        &mut self,
        kind: Kind,
        id: &str,
        now_ms: i64,
    ) -> Result<Option<Record>, OfficeError> {
        let found = self.get_loaded(kind, id);
        self.evict_days(now_ms);
        found
    }

    fn get_loaded(&mut self, kind: Kind, id: &str) -> Result<Option<Record>, OfficeError> {
        if kind.doc_class() == DocClass::Activity {
            match ids::day_of_activity_id(id) {
                Some(d) => {
                    if !self.load_day(d)? {
                        return Ok(None);
                    }
                }
                None => return Ok(None),
            }
        }
        Ok(self.replica.get(kind, id))
    }

    /// Records of `kind` in id order after `after`, at most `limit`. For
    /// activity kinds, those of `day`.
    pub fn list(
        &mut self,
        kind: Kind,
        day: Day,
        after: &str,
        limit: usize,
        now_ms: i64,
    ) -> Result<Vec<Record>, OfficeError> {
        let out = self.list_loaded(kind, day, after, limit);
        self.evict_days(now_ms);
        out
    }

    fn list_loaded(
        &mut self,
        kind: Kind,
        day: Day,
        after: &str,
        limit: usize,
    ) -> Result<Vec<Record>, OfficeError> {
        let all = if kind.doc_class() == DocClass::Activity {
            if !self.load_day(day)? {
                return Ok(Vec::new());
            }
            self.replica
                .day_view(day)
                .map(|v| v.list(kind))
                .unwrap_or_default()
        } else {
            self.replica.view().list(kind)
        };
        Ok(all
            .into_iter()
            .filter(|r| r.id() > after)
            .take(limit)
            .collect())
    }

    pub fn tree(&self) -> Tree {
        queries::tree(self.replica.view())
    }

    pub fn household(&self, id: &str) -> Option<HouseholdDetail> {
        queries::household(self.replica.view(), id)
    }

    pub fn worklist(
        &mut self,
        group: &str,
        day: Day,
        now_ms: i64,
    ) -> Result<Option<Worklist>, OfficeError> {
        let loaded = self.load_day(day);
        let out = loaded.map(|_| {
            queries::worklist(self.replica.view(), group, day, self.replica.day_view(day))
        });
        self.evict_days(now_ms);
        out
    }

    pub fn overdue_care(&self, as_of: Day) -> Vec<OverdueCare> {
        queries::overdue_care(self.replica.view(), as_of)
    }

    pub fn open_tickets(&self, now_ms: i64) -> Vec<(Ticket, i64)> {
        queries::open_tickets(self.replica.view(), now_ms)
    }

    pub fn gaps(&mut self, day: Day, now_ms: i64) -> Result<Vec<Gap>, OfficeError> {
        let mut gaps = self.replica.view().gaps();
        let loaded = self.load_day(day);
        if let Ok(true) = loaded
            && let Some(v) = self.replica.day_view(day)
        {
            gaps.extend(v.gaps(self.replica.view()));
        }
        self.evict_days(now_ms);
        loaded.map(|_| gaps)
    }

    /// Imports roster rows (see [`roster::import_rows`]), committed together
    /// in one transaction before returning.
    pub fn import(&mut self, rows: &[RawRow], now_ms: i64) -> Result<ImportReport, OfficeError> {
        self.ensure_consistent()?;
        let ctx = self.ctx(now_ms);
        let mut new_id = |k: Kind| random_id(k, None);
        let report = roster::import_rows(
            &mut self.replica,
            rows,
            &ctx,
            self.cfg.secret.as_ref(),
            &mut new_id,
        );
        let action = format!("import {} rows", rows.len());
        self.persist(&action, now_ms)?;
        Ok(report)
    }

    /// The loaded documents with heads and stored sizes.
    pub fn doc_infos(&mut self) -> Result<Vec<DocInfo>, OfficeError> {
        let mut out = Vec::new();
        for id in self.replica.doc_ids() {
            let heads = self
                .replica
                .heads(&id)
                .unwrap_or_default()
                .iter()
                .map(|h| h.to_string())
                .collect();
            let stats = self.store.doc_stats(&id)?;
            out.push(DocInfo { id, heads, stats });
        }
        Ok(out)
    }

    /// The days whose activity documents are in memory now.
    pub fn loaded_days(&self) -> Vec<Day> {
        self.replica.loaded_days()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn record_count(&self, kind: Kind) -> usize {
        self.replica.record_count(kind)
    }

    /// Folds the WAL into the main file; called on shutdown.
    pub fn checkpoint(&self) -> Result<(), OfficeError> {
        Ok(self.store.checkpoint()?)
    }

    // ---- sync with the coordinator ----

    /// A receiver that ticks after every committed local edit.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// The street document as this node holds it (read-only).
    pub fn street_doc(&self) -> &AutoCommit {
        self.street.doc()
    }

    /// Heads of every document this node syncs: registry, cases, every
    /// stored day, and the street document. Days whose heads were never
    /// recorded (a store from before version 3) are loaded once to learn them.
    pub fn sync_heads(&mut self) -> Result<DocHeads, OfficeError> {
        let mut out = DocHeads::new();
        for (id, heads) in self.store.doc_heads()? {
            if id != DocId::Street && id.community() != Some(&self.cfg.community) {
                continue;
            }
            let heads = match heads {
                Some(h) => h,
                None => {
                    // Learnt once (a store from before version 3), without
                    // keeping the document in memory.
                    let h = match self.store.read_doc(&id)? {
                        Some(mut doc) => doc.get_heads(),
                        None => Vec::new(),
                    };
                    self.store.set_heads(&id, &h)?;
                    h
                }
            };
            out.insert(id, heads);
        }
        for id in self.replica.doc_ids() {
            if let Some(h) = self.replica.heads(&id) {
                out.insert(id, h);
            }
        }
        out.insert(DocId::Street, self.street.heads());
        Ok(out)
    }

    /// How many changes of `id` are not among those `acked` (the heads the
    /// coordinator said it holds). Exact for documents in memory; for a
    /// stored day not in memory, 0 or 1 ("some"), from its `heads`.
    pub fn unacknowledged(
        &mut self,
        id: &DocId,
        heads: &[ChangeHash],
        acked: Option<&[ChangeHash]>,
    ) -> u64 {
        if acked == Some(heads) {
            return 0;
        }
        let doc = if *id == DocId::Street {
            Some(self.street.doc_mut())
        } else {
            self.replica.doc_mut(id)
        };
        match (doc, acked) {
            (Some(doc), Some(acked)) => {
                let known: Vec<ChangeHash> = acked
                    .iter()
                    .filter(|h| doc.get_change_by_hash(h).is_some())
                    .copied()
                    .collect();
                doc.get_changes(&known).len() as u64
            }
            (Some(doc), None) => doc.get_changes(&[]).len() as u64,
            (None, _) => 1,
        }
    }

    /// A document for sync, loading (or starting) a day as needed.
    fn sync_doc(&mut self, id: &DocId) -> Result<&mut AutoCommit, OfficeError> {
        if let DocId::Activity(_, day) = id
            && !self.load_day(*day)?
        {
            self.replica.start_day(*day);
        }
        if *id == DocId::Street {
            return Ok(self.street.doc_mut());
        }
        self.replica.doc_mut(id).ok_or_else(|| {
            OfficeError::Core(CoreError::Precondition(format!(
                "document {id} is not one of community {}",
                self.cfg.community
            )))
        })
    }

    fn sync_access(&self, id: &DocId) -> SyncAccess {
        if *id == DocId::Street || id.community() == Some(&self.cfg.community) {
            SyncAccess::ReadWrite
        } else {
            SyncAccess::Denied
        }
    }

    /// Commits what a received message brought, with the sync state, in one
    /// transaction.
    fn persist_sync(
        &mut self,
        id: &DocId,
        session: &SyncSession,
        now: i64,
    ) -> Result<(), OfficeError> {
        let mut writes = Vec::new();
        let mut street_heads = None;
        if *id == DocId::Street {
            if let Some(w) = self.street.unsaved() {
                street_heads = Some(w.heads.clone());
                writes.push(w);
            }
        } else {
            writes.extend(
                self.replica
                    .unsaved()
                    .into_iter()
                    .map(|(id, bytes, heads)| DocWrite { id, bytes, heads }),
            );
        }
        let state = session.persisted(id).unwrap_or_default();
        let sync = [SyncWrite {
            peer: COORDINATOR_PEER,
            id: id.clone(),
            state,
        }];
        let audit = Audit {
            at_ms: now,
            actor: COORDINATOR_PEER,
            action: "sync",
        };
        let audits = if writes.is_empty() {
            &[][..]
        } else {
            std::slice::from_ref(&audit)
        };
        if let Err(e) = timed_commit(&mut self.store, &self.timings, &writes, &sync, audits) {
            tracing::error!(error = %e, "commit of synced changes failed; reloading from the store");
            self.needs_reload = true;
            if let Err(e2) = self.reload() {
                tracing::error!(error = %e2, "reload failed too; writes are refused until it succeeds");
            }
            return Err(e.into());
        }
        if let Some(h) = street_heads {
            self.street.mark_saved(h);
        }
        if !writes.is_empty() {
            self.any_change.send_modify(|n| *n += 1);
        }
        for w in writes {
            if w.id != DocId::Street {
                self.replica.mark_saved(&w.id, w.heads);
                if let Err(e) = self.maybe_compact(&w.id, now) {
                    tracing::warn!(doc = %w.id, error = %e, "compaction failed; the chunks stay as they are");
                }
            }
        }
        Ok(())
    }

    // ---- rollups, sign-off, the street's figures ----

    /// The rollup of this community for `as_of` in `tz` (the subtree the
    /// coordinator computes from its replica; same heads, same digest).
    pub fn rollup(
        &mut self,
        as_of: Day,
        tz: Tz,
        now_ms: i64,
    ) -> Result<rollup::CommunityRollup, OfficeError> {
        let started = Instant::now();
        let r = self.compute_rollup(as_of, tz, now_ms);
        Timings::observe(&self.timings.rollup_seconds, started);
        r
    }

    /// How long commits and rollups take.
    pub fn timings(&self) -> &Timings {
        &self.timings
    }

    fn compute_rollup(
        &mut self,
        as_of: Day,
        tz: Tz,
        now_ms: i64,
    ) -> Result<rollup::CommunityRollup, OfficeError> {
        self.ensure_consistent()?;
        let c = self.cfg.community.clone();
        let mut days = Vec::new();
        let mut heads = rollup::RollupHeads::new(
            &self
                .replica
                .heads(&DocId::Registry(c.clone()))
                .unwrap_or_default(),
            &self
                .replica
                .heads(&DocId::Cases(c.clone()))
                .unwrap_or_default(),
            &self.street.heads(),
        );
        for d in rollup::days_read(as_of, tz, self.cfg.tz) {
            if self.load_day(d)? {
                let h = self
                    .replica
                    .heads(&DocId::Activity(c.clone(), d))
                    .unwrap_or_default();
                heads.add_day(d, &h);
                days.push(d);
            }
        }
        if let Some(r) = self
            .rollup_cache
            .iter()
            .find(|r| r.as_of == as_of && r.tz == tz.name() && r.heads == heads)
        {
            let r = r.clone();
            self.evict_days(now_ms);
            return Ok(r);
        }
        let street = street::StreetView::read(self.street.doc());
        let day_views: Vec<&DayView> = days
            .iter()
            .filter_map(|d| self.replica.day_view(*d))
            .collect();
        let input = rollup::CommunityInput {
            community_id: c.as_str(),
            view: self.replica.view(),
            days: &day_views,
            street: &street,
            heads,
        };
        let r = rollup::community_rollup(&input, as_of, tz);
        // A few dates and zones: today's, kept current for the digest
        // reports, and those an office looks at.
        self.rollup_cache
            .retain(|c| !(c.as_of == as_of && c.tz == tz.name()));
        if self.rollup_cache.len() >= 4 {
            self.rollup_cache.remove(0);
        }
        self.rollup_cache.push(r.clone());
        self.evict_days(now_ms);
        Ok(r)
    }

    /// Where this community's sign-off of `r`'s date stands.
    pub fn sign_off_state(&mut self, r: &rollup::CommunityRollup) -> signoff::SignOffState {
        let id = DocId::Cases(self.cfg.community.clone());
        let s = self
            .replica
            .doc_mut(&id)
            .and_then(|d| signoff::get(d, r.as_of));
        signoff::state(s.as_ref(), r)
    }

    /// Signs off the community's figures for `date`: who, when, the heads
    /// and the digest, written into the cases document and committed
    /// before returning.
    pub fn sign_off(
        &mut self,
        date: Day,
        tz: Tz,
        signed_by: &str,
        now_ms: i64,
    ) -> Result<signoff::SignOff, OfficeError> {
        if day_of_instant(now_ms, tz).is_some_and(|today| date > today) {
            return Err(CoreError::invalid(
                "date",
                format!(
                    "{} has not come yet: a day is signed off once it has been worked",
                    Date(date)
                ),
            )
            .into());
        }
        let r = self.rollup(date, tz, now_ms)?;
        let s = signoff::SignOff::of(&r, signed_by, now_ms)?;
        let id = DocId::Cases(self.cfg.community.clone());
        let action = format!("sign off {}", Date(date));
        let doc = self
            .replica
            .doc_mut(&id)
            .ok_or_else(|| CoreError::Precondition("the cases document is not loaded".into()))?;
        if let Err(e) = signoff::put(doc, &s) {
            doc.rollback();
            return Err(e.into());
        }
        doc.commit_with(
            automerge::transaction::CommitOptions::default()
                .with_message(action.clone())
                .with_time(now_ms.div_euclid(1000)),
        );
        self.persist(&action, now_ms)?;
        Ok(s)
    }

    /// A receiver that ticks after every committed change, local or synced.
    pub fn subscribe_all(&self) -> tokio::sync::watch::Receiver<u64> {
        self.any_change.subscribe()
    }

    /// Keeps the street's figures as received whole from the coordinator
    /// (an older coordinator's `Report`), in memory and in the store.
    pub fn set_street_summary(&mut self, figures: rpb::Rollup, received_ms: i64) {
        self.street
            .set_summary(&self.store, figures, None, received_ms);
    }

    /// Takes the coordinator's answer to a digest report (`ReportDigest`):
    /// the street's figures whole, or what brings the copy held up to date.
    /// False when it was for figures not held: report again with no tag.
    pub fn take_street_answer(&mut self, answer: sypb::DigestAnswer, received_ms: i64) -> bool {
        self.street.take_answer(&self.store, answer, received_ms)
    }

    /// The tag of the street's figures held, for a digest report; empty
    /// for none.
    pub fn street_summary_tag(&mut self) -> String {
        self.street.summary_tag(&self.store)
    }

    /// The street's figures as last received, brought up to the last
    /// answer that said they had not changed, and when.
    pub fn street_summary(&mut self) -> Option<(rpb::Rollup, i64)> {
        self.street.summary(&self.store)
    }
}
