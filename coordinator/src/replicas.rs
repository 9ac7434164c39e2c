//! `StreetReplicas`: every community's documents and the street document,
//! bound to the coordinator's SQLite store. Blocking; called from
//! `spawn_blocking`.
//!
//! Documents are loaded on demand (a month of activity days per community
//! would not fit a small machine) and dropped again once stored and in sync;
//! the heads of every stored document are kept in memory so that a
//! handshake needs no document loaded.
//!
//! Durability: a node's changes are committed together with the sync state
//! of that (node, document) before the session answers; an operator's edit
//! is committed before the API answers. If a commit fails, the document is
//! dropped from memory and reloaded from the store when next needed.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use automerge::{ActorId, AutoCommit, ChangeHash};
use chrono_tz::Tz;
use gridsync_core::access::{Principal, SyncAccess};
use gridsync_core::replica::{self, load_doc};
use gridsync_core::street::{StreetKind, StreetRecord, StreetView};
use gridsync_core::sync::{DocHeads, Received, SyncError, SyncSession};
use gridsync_core::*;
use gridsync_node::session::SessionError;
use gridsync_node::store::{Audit, DocWrite, Store, StoreError, SyncWrite};

#[derive(Debug, thiserror::Error)]
pub enum ReplicasError {
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "community {0} is not registered in this street; an operator adds it with `gridctl street community add --id {0} --name …`"
    )]
    Unregistered(CommunityId),
    #[error("the record of the rollups served could not be written: {0}")]
    Served(String),
}

impl From<ReplicasError> for SessionError {
    fn from(e: ReplicasError) -> Self {
        match e {
            ReplicasError::Unregistered(_) => SessionError::Denied(e.to_string()),
            ReplicasError::Served(_) => SessionError::Host(e.to_string()),
            _ => SessionError::Host(e.to_string()),
        }
    }
}

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
}

pub(crate) struct Loaded {
    pub(crate) doc: AutoCommit,
    /// Heads already in the store.
    saved: Vec<ChangeHash>,
}

/// A community's link, as the coordinator sees it (in memory; the last
/// sync times per document are also in the store).
#[derive(Clone, Debug, Default)]
pub struct LinkRecord {
    pub connected: bool,
    pub changed_ms: Option<i64>,
    pub software_version: String,
    pub last_error: Option<String>,
    /// Per document: last time both sides held the same heads, and whether
    /// they did at the last message.
    pub docs: BTreeMap<DocId, (Option<i64>, bool)>,
    /// Sessions opened since the coordinator started.
    pub sessions: u64,
}

/// The peer name under which a node's sync states are stored.
pub fn peer_name(c: &CommunityId) -> String {
    Principal::Node(c.clone()).to_string()
}

pub struct StreetReplicas {
    pub(crate) cfg: ReplicasConfig,
    pub(crate) store: Store,
    actor: ActorId,
    pub(crate) heads: BTreeMap<DocId, Vec<ChangeHash>>,
    pub(crate) docs: HashMap<DocId, Loaded>,
    street: Loaded,
    links: BTreeMap<CommunityId, LinkRecord>,
    changes: tokio::sync::watch::Sender<u64>,
    /// Set when the street document could not be reloaded after a failed
    /// commit; cleared by the next successful reload.
    street_stale: bool,
    pub(crate) rollups: crate::rollups::RollupState,
}

impl StreetReplicas {
    pub fn open(cfg: ReplicasConfig) -> Result<Self, ReplicasError> {
        let store = Store::open(&cfg.db_path)?;
        store.claim_street(&cfg.street_id)?;
        let cfg_stale = cfg.stale_after_ms;
        let served_dir = cfg
            .db_path
            .parent()
            .map(|p| p.join("rollup-served"))
            .unwrap_or_else(|| PathBuf::from("rollup-served"));
        let actor = ActorId::random();
        let mut me = StreetReplicas {
            street: Loaded {
                doc: docs::genesis(&DocId::Street, actor.clone()),
                saved: Vec::new(),
            },
            cfg,
            store,
            actor,
            heads: BTreeMap::new(),
            docs: HashMap::new(),
            links: BTreeMap::new(),
            changes: tokio::sync::watch::Sender::new(0),
            street_stale: false,
            rollups: crate::rollups::RollupState::new(cfg_stale, served_dir),
        };
        if let Some(street) = me.load_stored(&DocId::Street)? {
            me.street = street;
        }
        for (id, heads) in me.store.doc_heads()? {
            let heads = match heads {
                Some(h) => h,
                None => {
                    let h = me.doc(&id)?.doc.get_heads();
                    me.store.set_heads(&id, &h)?;
                    h
                }
            };
            me.heads.insert(id, heads);
        }
        me.heads.insert(DocId::Street, me.street.doc.get_heads());
        me.docs.clear();
        Ok(me)
    }

    /// A receiver that ticks after every committed change.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    pub fn config(&self) -> &ReplicasConfig {
        &self.cfg
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    fn load_stored(&self, id: &DocId) -> Result<Option<Loaded>, ReplicasError> {
        let Some(s) = self.store.load_doc(id)? else {
            return Ok(None);
        };
        let mut doc = load_doc(
            s.snapshot.as_deref(),
            s.chunks.iter().map(Vec::as_slice),
            id,
        )?
        .with_actor(self.actor.clone());
        let saved = doc.get_heads();
        Ok(Some(Loaded { doc, saved }))
    }

    /// A document, loaded from the store or started from its genesis.
    pub(crate) fn doc(&mut self, id: &DocId) -> Result<&mut Loaded, ReplicasError> {
        if *id == DocId::Street {
            if self.street_stale {
                // A failed commit whose reload failed too: memory may hold
                // what the store does not, so nothing is served from it
                // until a reload succeeds.
                self.street = match self.load_stored(id)? {
                    Some(l) => l,
                    None => Loaded {
                        doc: docs::genesis(id, self.actor.clone()),
                        saved: Vec::new(),
                    },
                };
                self.street_stale = false;
            }
            return Ok(&mut self.street);
        }
        if !self.docs.contains_key(id) {
            let loaded = match self.load_stored(id)? {
                Some(l) => l,
                None => Loaded {
                    doc: docs::genesis(id, self.actor.clone()),
                    saved: Vec::new(),
                },
            };
            self.docs.insert(id.clone(), loaded);
        }
        Ok(self
            .docs
            .get_mut(id)
            .expect("inserted just above when missing"))
    }

    /// Drops a document from memory when everything in it is stored, or
    /// when it was started here and holds nothing but its genesis (a
    /// document a node listed and never sent anything for).
    pub(crate) fn unload_if_saved(&mut self, id: &DocId) {
        if let Some(l) = self.docs.get_mut(id) {
            let unsaved_genesis_only = l.saved.is_empty() && l.doc.get_changes(&[]).len() <= 1;
            if l.doc.get_heads() == l.saved || unsaved_genesis_only {
                self.docs.remove(id);
            }
        }
    }

    /// After a session of `c` ends: its past days go back to the store.
    pub fn session_ended(&mut self, c: &CommunityId) {
        let days: Vec<DocId> = self
            .docs
            .keys()
            .filter(|id| matches!(id, DocId::Activity(dc, _) if dc == c))
            .cloned()
            .collect();
        for id in days {
            self.unload_if_saved(&id);
        }
    }

    /// Commits a document's unsaved changes (and sync states) in one
    /// transaction. On failure the document is dropped from memory, so it is
    /// reloaded from the store: memory never runs ahead of the store.
    fn commit_doc(
        &mut self,
        id: &DocId,
        sync: &[SyncWrite<'_>],
        actor: &str,
        action: &str,
        now_ms: i64,
    ) -> Result<bool, ReplicasError> {
        let l = self.doc(id)?;
        let heads = l.doc.get_heads();
        let before = l.saved.clone();
        let mut writes = Vec::new();
        if heads != l.saved {
            writes.push(DocWrite {
                id: id.clone(),
                bytes: l.doc.save_after(&l.saved),
                heads: heads.clone(),
            });
        }
        let audit = Audit {
            at_ms: now_ms,
            actor,
            action,
        };
        let audit = (!writes.is_empty()).then_some(&audit);
        if let Err(e) = self.store.commit(&writes, sync, audit) {
            tracing::error!(doc = %id, error = %e, "commit failed; the document is reloaded from the store");
            self.drop_doc(id);
            return Err(e.into());
        }
        let changed = !writes.is_empty();
        if changed {
            if let Ok(l) = self.doc(id) {
                l.saved = heads.clone();
            }
            self.heads.insert(id.clone(), heads.clone());
            self.rollup_doc_changed(id, &before, &heads);
            if let Err(e) = self.maybe_compact(id, now_ms) {
                tracing::warn!(doc = %id, error = %e, "compaction failed; the chunks stay as they are");
            }
            self.changes.send_modify(|n| *n += 1);
        }
        Ok(changed)
    }

    fn drop_doc(&mut self, id: &DocId) {
        if *id == DocId::Street {
            match self.load_stored(id) {
                Ok(Some(l)) => self.street = l,
                Ok(None) => {
                    self.street = Loaded {
                        doc: docs::genesis(id, self.actor.clone()),
                        saved: Vec::new(),
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "reloading the street document failed; it is retried before its next use");
                    self.street_stale = true;
                }
            }
        } else {
            self.docs.remove(id);
        }
    }

    fn maybe_compact(&mut self, id: &DocId, now_ms: i64) -> Result<(), ReplicasError> {
        let stats = self.store.doc_stats(id)?;
        if !stats.wants_compaction(self.cfg.compact_after_chunks) {
            return Ok(());
        }
        let snapshot = self.doc(id)?.doc.save();
        self.store.compact(id, &snapshot, now_ms)?;
        Ok(())
    }

    // ---- sync ----

    /// The communities registered in the street document.
    pub fn street_view(&self) -> StreetView {
        StreetView::read(&self.street.doc)
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
        self.heads
            .iter()
            .filter(|(id, _)| id.community() == Some(c) || **id == DocId::Street)
            .map(|(id, h)| (id.clone(), h.clone()))
            .collect()
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
            .store
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
        let l = self.doc(id)?;
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
        let msg = SyncSession::decode(id, bytes)?;
        let l = self.doc(id)?;
        let received = match session.receive(id, &mut l.doc, msg, access, now_ms) {
            Ok(r) => r,
            Err(e) => {
                if matches!(e, SyncError::Apply { .. }) {
                    self.drop_doc(id);
                }
                return Err(e.into());
            }
        };
        let peer = peer_name(c);
        let sync = [SyncWrite {
            peer: &peer,
            id: id.clone(),
            state: session.persisted(id).unwrap_or_default(),
        }];
        self.commit_doc(id, &sync, &peer, "sync", now_ms)?;
        let link = self.links.entry(c.clone()).or_default();
        let entry = link.docs.entry(id.clone()).or_default();
        entry.1 = received.in_sync;
        if received.in_sync {
            entry.0 = Some(now_ms);
        }
        Ok(received)
    }

    /// A document that is in sync and stored goes back to the store (the
    /// street document, registries and cases stay; they are small and hot).
    pub fn settled(&mut self, session: &mut SyncSession, id: &DocId) {
        if let DocId::Activity(..) = id
            && let Some(l) = self.docs.get_mut(id)
            && session.in_sync(id, &l.doc.get_heads())
        {
            self.unload_if_saved(id);
        }
    }

    // ---- links ----

    /// A session of `c` got through its handshake; `node_docs` are the
    /// heads its Hello stated. A document whose heads are equal on both
    /// sides is in sync as of now, though no message will be exchanged for
    /// it.
    pub fn link_opened(
        &mut self,
        c: &CommunityId,
        version: &str,
        node_docs: &DocHeads,
        now_ms: i64,
    ) {
        // Every document of the session: those the node stated and those
        // of its community held here. Equal heads: in sync as of now.
        // Anything else: behind until a message says otherwise, whatever
        // an earlier session left recorded.
        let mut docs: BTreeMap<DocId, bool> = self
            .heads
            .iter()
            .filter(|(id, _)| id.community() == Some(c) || **id == DocId::Street)
            .map(|(id, h)| (id.clone(), node_docs.get(id) == Some(h)))
            .collect();
        for id in node_docs.keys() {
            docs.entry(id.clone()).or_insert(false);
        }
        let l = self.links.entry(c.clone()).or_default();
        l.connected = true;
        l.changed_ms = Some(now_ms);
        l.software_version = version.to_string();
        l.last_error = None;
        l.sessions += 1;
        for (id, equal) in docs {
            let entry = l.docs.entry(id).or_default();
            if equal {
                *entry = (Some(now_ms), true);
            } else {
                entry.1 = false;
            }
        }
    }

    /// The session of `c` ended. Documents in sync when it ended were in
    /// sync until then: their last sync is now.
    pub fn link_closed(&mut self, c: &CommunityId, error: Option<String>, now_ms: i64) {
        let l = self.links.entry(c.clone()).or_default();
        if l.connected {
            for (last, in_sync) in l.docs.values_mut() {
                if *in_sync {
                    *last = Some(now_ms);
                }
            }
        }
        l.connected = false;
        l.changed_ms = Some(now_ms);
        l.last_error = error;
    }

    /// Every community the coordinator knows (registered, holding
    /// documents, or linked), with its link and stored sync times.
    pub fn communities(&self) -> Result<Vec<CommunityStatus>, ReplicasError> {
        let street = self.street_view();
        let mut ids: BTreeMap<CommunityId, Option<String>> = BTreeMap::new();
        for sc in &street.communities {
            if let Ok(c) = CommunityId::parse(&sc.id) {
                ids.insert(c, Some(sc.name.clone()));
            }
        }
        for id in self.heads.keys() {
            if let Some(c) = id.community() {
                ids.entry(c.clone()).or_insert(None);
            }
        }
        for c in self.links.keys() {
            ids.entry(c.clone()).or_insert(None);
        }
        let mut out = Vec::new();
        for (c, name) in ids {
            let stored = self.store.sync_states(&peer_name(&c))?;
            let link = self.links.get(&c).cloned().unwrap_or_default();
            let docs: Vec<&DocId> = self
                .heads
                .keys()
                .filter(|id| id.community() == Some(&c))
                .collect();
            let mut last_sync_ms = None;
            let mut oldest_sync_ms = docs.first().map(|_| i64::MAX);
            let mut behind = 0;
            for id in &docs {
                let (mem_last, mem_in_sync) = link.docs.get(*id).cloned().unwrap_or_default();
                let last = mem_last.or(stored.get(*id).and_then(|p| p.last_sync_ms));
                last_sync_ms = last_sync_ms.max(last);
                oldest_sync_ms = match (oldest_sync_ms, last) {
                    (Some(o), Some(l)) => Some(o.min(l)),
                    _ => None,
                };
                if !(mem_in_sync || (!link.docs.contains_key(*id) && last.is_some())) {
                    behind += 1;
                }
            }
            out.push(CommunityStatus {
                registered: name.is_some(),
                name: name.unwrap_or_default(),
                id: c,
                docs: docs.len() as u32,
                docs_behind: behind,
                last_sync_ms,
                oldest_sync_ms,
                link,
            });
        }
        Ok(out)
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
        let rec =
            gridsync_core::street::put(&mut self.doc(&DocId::Street)?.doc, rec, now_ms, &action)?;
        self.commit_doc(&DocId::Street, &[], operator, &action, now_ms)?;
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
        let rec =
            gridsync_core::street::remove(&mut self.doc(&DocId::Street)?.doc, kind, id, now_ms)?;
        self.commit_doc(&DocId::Street, &[], operator, &action, now_ms)?;
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
        self.ensure_view(c)?;
        self.doc(&cases_id)?;
        let empty = CommunityView::default();
        let view = self.rollups.view(c).unwrap_or(&empty);
        let l = self
            .docs
            .get_mut(&cases_id)
            .ok_or_else(|| CoreError::Precondition(format!("{cases_id} is not loaded")))?;
        replica::create_case(
            &mut l.doc,
            view,
            Record::Ticket(ticket.clone()),
            &ctx,
            &action,
        )?;
        self.commit_doc(&cases_id, &[], operator, &action, now_ms)?;
        Ok(ticket)
    }

    /// The heads of one document (for tests and status pages).
    pub fn heads_of(&self, id: &DocId) -> Option<Vec<ChangeHash>> {
        self.heads.get(id).cloned()
    }

    /// A copy of one document (loading it), for tests and tools.
    pub fn doc_copy(&mut self, id: &DocId) -> Result<AutoCommit, ReplicasError> {
        let d = self.doc(id)?.doc.clone();
        self.unload_if_saved(id);
        Ok(d)
    }

    pub fn checkpoint(&self) -> Result<(), ReplicasError> {
        Ok(self.store.checkpoint()?)
    }
}

/// One community in the operators' list.
#[derive(Clone, Debug)]
pub struct CommunityStatus {
    pub id: CommunityId,
    pub name: String,
    pub registered: bool,
    pub docs: u32,
    pub docs_behind: u32,
    pub last_sync_ms: Option<i64>,
    /// The oldest of its documents' last syncs: what every document held
    /// here is known to include; `None` if one never synced.
    pub oldest_sync_ms: Option<i64>,
    pub link: LinkRecord,
}
