//! `StreetReplicas`: every community's documents and the street document,
//! bound to the coordinator's SQLite store ([`DocCache`]), with the links
//! of the communities ([`Links`]) and the street's rollups
//! ([`RollupEngine`]) kept current as changes commit. Blocking; called on
//! the blocking pool.
//!
//! Durability: a node's changes are committed together with the sync state
//! of that (node, document) before the session answers; an operator's edit
//! is committed before the API answers.

use std::path::PathBuf;
use std::sync::Arc;

use automerge::{AutoCommit, ChangeHash};
use chrono_tz::Tz;
use gridsync_core::access::{Principal, SyncAccess};
use gridsync_core::replica;
use gridsync_core::report::DailyReport;
use gridsync_core::rollup::{CommunityRollup, NodeDigest};
use gridsync_core::street::{StreetKind, StreetRecord, StreetView};
use gridsync_core::sync::{DocHeads, Received, SyncError, SyncSession};
use gridsync_core::*;
use gridsync_proto::rollup::v1 as rpb;
use gridsync_store::{Store, SyncWrite};
use gridsync_svc::{Recover, blocking::BoxError};
use gridsync_sync::SessionError;

use crate::docs::DocCache;
pub use crate::error::ReplicasError;
use crate::links::{CommunityStatus, Links, peer_name};
use crate::rollups::{RollupConfig, RollupEngine};

/// What the coordinator needs to open its replicas.
#[derive(Clone, Debug)]
pub struct ReplicasConfig {
    /// The street's id (stored in the file: a store is bound to one street).
    pub street_id: String,
    /// The street's name in rollups and reports.
    pub street_name: String,
    pub db_path: PathBuf,
    pub tz: Tz,
    pub compact_after_chunks: u64,
    /// A community whose last sync is older than this is marked stale in
    /// the rollups.
    pub stale_after_ms: i64,
    /// The store's key (`None`: a plaintext store, development only).
    pub store_key: Option<gridsync_store::StoreKey>,
}

pub struct StreetReplicas {
    cfg: ReplicasConfig,
    docs: DocCache,
    links: Links,
    rollups: RollupEngine,
    /// Ticks after every committed change.
    changes: tokio::sync::watch::Sender<u64>,
}

impl StreetReplicas {
    pub fn open(cfg: ReplicasConfig) -> Result<Self, ReplicasError> {
        let store = Store::open(&cfg.db_path, cfg.store_key.as_ref())?;
        store.claim_street(&cfg.street_id)?;
        let served_dir = cfg
            .db_path
            .parent()
            .map(|p| p.join("rollup-served"))
            .unwrap_or_else(|| PathBuf::from("rollup-served"));
        let rollups = RollupEngine::new(RollupConfig {
            street_id: cfg.street_id.clone(),
            street_name: cfg.street_name.clone(),
            tz: cfg.tz,
            stale_after_ms: cfg.stale_after_ms,
            served_dir,
        });
        Ok(StreetReplicas {
            docs: DocCache::open(store, cfg.compact_after_chunks)?,
            cfg,
            links: Links::default(),
            rollups,
            changes: tokio::sync::watch::Sender::new(0),
        })
    }

    /// A receiver that ticks after every committed change.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    pub fn config(&self) -> &ReplicasConfig {
        &self.cfg
    }

    pub fn store(&self) -> &Store {
        self.docs.store()
    }

    /// Commits a document's changes (see [`DocCache::commit`]) and, when
    /// there were any, brings the rollups' views up to date and wakes the
    /// sessions.
    fn commit(
        &mut self,
        id: &DocId,
        sync: &[SyncWrite<'_>],
        actor: &str,
        action: &str,
        now_ms: i64,
    ) -> Result<(), ReplicasError> {
        if let Some(c) = self.docs.commit(id, sync, actor, action, now_ms)? {
            self.rollups
                .doc_changed(&mut self.docs, id, &c.before, &c.after);
            self.changes.send_modify(|n| *n += 1);
        }
        Ok(())
    }

    /// After a session of `c` ends: its past days go back to the store.
    pub fn session_ended(&mut self, c: &CommunityId) {
        let days: Vec<DocId> = self
            .docs
            .loaded_ids()
            .filter(|id| matches!(id, DocId::Activity(dc, _) if dc == c))
            .cloned()
            .collect();
        for id in days {
            self.docs.unload_if_saved(&id);
        }
    }

    // ---- sync ----

    /// The street document's records.
    pub fn street_view(&self) -> StreetView {
        self.docs
            .loaded(&DocId::Street)
            .map(|l| StreetView::read(&l.doc))
            .unwrap_or_default()
    }

    pub fn is_registered(&self, c: &CommunityId) -> bool {
        self.street_view()
            .communities
            .iter()
            .any(|sc| sc.id == c.as_str())
    }

    /// Heads of what a node of `c` syncs: its community's documents held
    /// here, and the street document.
    pub fn community_heads(&self, c: &CommunityId) -> DocHeads {
        self.docs.community_heads(c)
    }

    pub fn open_sync(
        &mut self,
        c: &CommunityId,
        session: &mut SyncSession,
        id: &DocId,
    ) -> Result<(), SessionError> {
        if Principal::Node(c.clone()).sync_access(id) == SyncAccess::Denied {
            return Err(SyncError::Denied {
                doc: id.to_string(),
            }
            .into());
        }
        let stored = self
            .docs
            .store()
            .sync_state(&peer_name(c), id)
            .map_err(ReplicasError::from)?;
        session.open_doc(id, stored.as_ref());
        Ok(())
    }

    pub fn generate(
        &mut self,
        session: &mut SyncSession,
        id: &DocId,
    ) -> Result<Option<Vec<u8>>, SessionError> {
        let l = self.docs.doc(id).map_err(ReplicasError::from)?;
        Ok(session.generate(id, &mut l.doc))
    }

    /// Applies a node's message under its access rules and commits it with
    /// the sync state. Nothing is applied or stored when a rule is broken.
    pub fn receive(
        &mut self,
        c: &CommunityId,
        session: &mut SyncSession,
        id: &DocId,
        bytes: &[u8],
        now_ms: i64,
    ) -> Result<Received, SessionError> {
        let principal = Principal::Node(c.clone());
        let access = principal.sync_access(id);
        if access == SyncAccess::Denied {
            return Err(SyncError::Denied {
                doc: id.to_string(),
            }
            .into());
        }
        let checked = session.check(id, bytes, now_ms)?;
        let l = self.docs.doc(id).map_err(ReplicasError::from)?;
        let before = l.doc.get_heads();
        let received = match session.receive(id, &mut l.doc, checked, access, now_ms) {
            Ok(r) => r,
            Err(e) => {
                if matches!(e, SyncError::Apply { .. }) {
                    self.docs.drop_doc(id);
                }
                return Err(e.into());
            }
        };
        if received.changed
            && let Err(e) = gridsync_core::arrival::check_arrived(&mut l.doc, id, &before)
        {
            // Nothing of it is stored: the document is reloaded when next
            // needed.
            self.docs.drop_doc(id);
            return Err(SessionError::Record(e));
        }
        let peer = peer_name(c);
        let sync = [SyncWrite {
            peer: &peer,
            id: id.clone(),
            state: session.persisted(id).unwrap_or_default(),
        }];
        self.commit(id, &sync, &peer, "sync", now_ms)?;
        self.links.received(c, id, received.in_sync, now_ms);
        Ok(received)
    }

    /// A document that is in sync and stored goes back to the store (the
    /// street document, registries and cases stay; they are small and hot).
    pub fn settled(&mut self, session: &mut SyncSession, id: &DocId) {
        if let DocId::Activity(..) = id
            && let Some(l) = self.docs.loaded_mut(id)
            && session.in_sync(id, &l.doc.get_heads())
        {
            self.docs.unload_if_saved(id);
        }
    }

    // ---- links ----

    /// A session of `c` got through its handshake; `node_docs` are the
    /// heads its Hello stated.
    pub fn link_opened(
        &mut self,
        c: &CommunityId,
        version: &str,
        node_docs: &DocHeads,
        now_ms: i64,
    ) {
        let held = self.docs.community_heads(c);
        self.links.opened(c, version, node_docs, &held, now_ms);
    }

    /// The session of `c` ended, with `error` if it failed.
    pub fn link_closed(&mut self, c: &CommunityId, error: Option<String>, now_ms: i64) {
        self.links.closed(c, error, now_ms);
    }

    /// Every community the coordinator knows (registered, holding
    /// documents, or linked), with its link and stored sync times.
    pub fn communities(&self) -> Result<Vec<CommunityStatus>, ReplicasError> {
        Ok(self.links.communities(&self.street_view(), &self.docs)?)
    }

    // ---- operators ----

    /// Creates or replaces a record of the street document. A record of a
    /// kind with generated ids gets one when its id is empty.
    pub fn put_street(
        &mut self,
        mut rec: StreetRecord,
        operator: &str,
        now_ms: i64,
    ) -> Result<StreetRecord, ReplicasError> {
        if rec.id().is_empty()
            && let Some(id) = rec.kind().new_id(rand::random())
        {
            rec.set_id(id);
        }
        let action = format!("put {} {}", rec.kind(), rec.id());
        let rec = gridsync_core::street::put(
            &mut self.docs.doc(&DocId::Street)?.doc,
            rec,
            now_ms,
            &action,
        )?;
        self.commit(&DocId::Street, &[], operator, &action, now_ms)?;
        Ok(rec)
    }

    pub fn remove_street(
        &mut self,
        kind: StreetKind,
        id: &str,
        operator: &str,
        now_ms: i64,
    ) -> Result<StreetRecord, ReplicasError> {
        let action = format!("remove {kind} {id}");
        let rec = gridsync_core::street::remove(
            &mut self.docs.doc(&DocId::Street)?.doc,
            kind,
            id,
            now_ms,
        )?;
        self.commit(&DocId::Street, &[], operator, &action, now_ms)?;
        Ok(rec)
    }

    /// Files a hotline ticket received at the street into a community's
    /// cases document, validated against that community's registry.
    pub fn dispatch_ticket(
        &mut self,
        c: &CommunityId,
        mut ticket: Ticket,
        operator: &str,
        now_ms: i64,
    ) -> Result<Ticket, ReplicasError> {
        if !self.is_registered(c) {
            return Err(ReplicasError::Unregistered(c.clone()));
        }
        if ticket.id.is_empty() {
            ticket.id = Kind::Ticket.new_id(rand::random(), None);
        }
        let cases_id = DocId::Cases(c.clone());
        let ctx = EditContext {
            now_ms,
            tz: self.cfg.tz,
        };
        let action = format!("dispatch ticket {}", ticket.id);
        // Checked against the community's view as it stands (kept current
        // for the rollups), written straight into its cases document.
        let view = self.rollups.view(&mut self.docs, c)?;
        let l = self.docs.doc(&cases_id)?;
        replica::create_case(
            &mut l.doc,
            view,
            Record::Ticket(ticket.clone()),
            &ctx,
            &action,
        )?;
        self.commit(&cases_id, &[], operator, &action, now_ms)?;
        Ok(ticket)
    }

    // ---- rollups ----

    /// The rollup of community `c` for `as_of` in `tz`.
    pub fn community_rollup(
        &mut self,
        c: &CommunityId,
        as_of: Day,
        tz: Tz,
    ) -> Result<Arc<CommunityRollup>, ReplicasError> {
        self.rollups.community_rollup(&mut self.docs, c, as_of, tz)
    }

    /// The street's stamped rollup for `as_of` in `tz` (see
    /// [`RollupEngine::street_report`]).
    pub fn street_report(
        &mut self,
        as_of: Day,
        tz: Tz,
        now_ms: i64,
    ) -> Result<DailyReport, ReplicasError> {
        let statuses = self.communities()?;
        self.rollups
            .street_report(&mut self.docs, &statuses, as_of, tz, now_ms)
    }

    /// The street's top figures for the street's today, as nodes get them
    /// with their reports (computed at most every 2 s).
    pub fn street_summary(&mut self, now_ms: i64) -> Result<rpb::Rollup, ReplicasError> {
        if let Some(s) = self.rollups.recent_summary(now_ms) {
            return Ok(s);
        }
        let statuses = self.communities()?;
        self.rollups
            .street_summary(&mut self.docs, &statuses, now_ms)
    }

    /// Records the digest a node reported of its own community.
    pub fn node_digest(&mut self, c: &CommunityId, d: NodeDigest) {
        self.rollups.node_digest(c, d);
    }

    pub fn stale_after_ms(&self) -> i64 {
        self.rollups.stale_after_ms()
    }

    // ---- tools ----

    /// The heads of one document (for tests and status pages).
    pub fn heads_of(&self, id: &DocId) -> Option<Vec<ChangeHash>> {
        self.docs.heads_of(id).cloned()
    }

    /// A copy of one document (loading it), for tests and tools.
    pub fn doc_copy(&mut self, id: &DocId) -> Result<AutoCommit, ReplicasError> {
        Ok(self.docs.doc_copy(id)?)
    }

    pub fn checkpoint(&self) -> Result<(), ReplicasError> {
        Ok(self.docs.store().checkpoint()?)
    }
}

/// After a panic, loaded documents and views may hold half a change: every
/// document is dropped (reloaded from the store on demand) and every view
/// and cached rollup with them.
impl Recover for StreetReplicas {
    fn recover(&mut self) -> Result<(), BoxError> {
        self.docs.reload_all()?;
        self.rollups.clear();
        Ok(())
    }
}
