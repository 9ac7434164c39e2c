//! `StreetReplicas`: every community's documents and the street document,
//! bound to the coordinator's SQLite store, with the links of the
//! communities ([`Links`]) and the street's rollups kept current as changes
//! commit. Blocking; called on the blocking pool (`gridsync_svc::on_pool`).
//!
//! **Isolation.** The replicas lock themselves, one part at a time (see
//! [`crate::shard`] for the parts and the lock order): a community busy
//! applying a large message holds only its own lock, so other communities'
//! sessions go on, and operators' calls wait on it at most a stated bound
//! ([`crate::report::BUSY_WAIT`] for the rollups, [`DISPATCH_WAIT`] for a
//! ticket) before they are answered without it. A message's cost is
//! checked before any lock is taken, and the memory it may take is reserved
//! under the coordinator's ceiling before it is applied.
//!
//! Durability: a node's changes are committed together with the sync state
//! of that (node, document) before the session answers; an operator's edit
//! is committed before the API answers.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use automerge::{ActorId, AutoCommit, ChangeHash};
use chrono_tz::Tz;
use gridsync_core::access::{Principal, SyncAccess};
use gridsync_core::replica;
use gridsync_core::rollup::{CommunityRollup, NodeDigest};
use gridsync_core::street::{StreetKind, StreetRecord, StreetView};
use gridsync_core::sync::{DocHeads, MessageCost, Received, SyncError, SyncSession};
use gridsync_core::*;
use gridsync_store::{Store, SyncWrite};
use gridsync_svc::blocking::{lock, lock_within};
use gridsync_svc::memory::{Ceiling, Reservation};
use gridsync_svc::metrics::{SyncTraffic, Timings};
use gridsync_sync::SessionError;

use crate::docs::{DocSet, PublishedHeads, SharedStore};
pub use crate::error::ReplicasError;
use crate::links::{CommunityStatus, Links, peer_name};
use crate::rollups::StreetInput;
use crate::shard::{CommunityShard, CommunityState, StreetShard, leaf};
use crate::summary::{FiguresAnswers, NodeSummary};

/// How long an operator's ticket waits for a community busy applying a
/// message before it is refused as busy (to try again).
pub const DISPATCH_WAIT: Duration = Duration::from_secs(5);

/// Bytes of memory an operation takes while it is applied: what a message
/// reserves under the ceiling per operation it carries. Measured (release,
/// automerge 0.12, one change of list inserts applied to a new document):
/// the peak grew by 424, 339 and about 330 bytes per operation for 100k,
/// 400k and 900k operations.
pub const APPLY_BYTES_PER_OP: u64 = 400;

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
    /// The liveness window (heartbeat interval × misses), stated in the
    /// rollups as the staleness threshold: a community not heard for this
    /// long is stale.
    pub stale_after_ms: i64,
    /// The coordinator's memory ceiling: a message whose application would
    /// take the process past it is refused (to be sent again later).
    pub memory: Ceiling,
    /// The store's key (`None`: a plaintext store, development only).
    pub store_key: Option<gridsync_store::StoreKey>,
}

pub struct StreetReplicas {
    pub(crate) cfg: ReplicasConfig,
    store: SharedStore,
    actor: ActorId,
    served_dir: PathBuf,
    street: Mutex<StreetShard>,
    street_heads: PublishedHeads,
    communities: Mutex<BTreeMap<CommunityId, Arc<CommunityShard>>>,
    links: Mutex<Links>,
    pub(crate) digests: Mutex<HashMap<CommunityId, NodeDigest>>,
    /// The street's top figures last computed for nodes.
    pub(crate) summary: Mutex<Option<Arc<NodeSummary>>>,
    /// Held by the one report computing the summary (first in the lock
    /// order): the others are served the last one meanwhile.
    pub(crate) summary_compute: Mutex<()>,
    /// Ticks after every committed change.
    changes: tokio::sync::watch::Sender<u64>,
    /// How long commits and street reports take, and the sync traffic per
    /// community (registered by `crate::metrics`).
    timings: Timings,
    traffic: SyncTraffic,
    figures_answers: FiguresAnswers,
}

impl StreetReplicas {
    pub fn open(cfg: ReplicasConfig) -> Result<Self, ReplicasError> {
        let store = Store::open(&cfg.db_path, cfg.store_key.as_ref())?;
        store.claim_street(&cfg.street_id)?;
        let actor = ActorId::random();
        // The heads of every stored document, by community. Documents whose
        // heads were never recorded (a store from before schema version 3)
        // are loaded once to learn them.
        let mut street_heads = BTreeMap::new();
        let mut by_community: BTreeMap<CommunityId, BTreeMap<DocId, Vec<ChangeHash>>> =
            BTreeMap::new();
        for (id, heads) in store.doc_heads()? {
            let heads = match heads {
                Some(h) => h,
                None => {
                    let h = store
                        .read_doc(&id)?
                        .map(|mut d| d.get_heads())
                        .unwrap_or_default();
                    store.set_heads(&id, &h)?;
                    h
                }
            };
            match id.community().cloned() {
                Some(c) => {
                    by_community.entry(c).or_default().insert(id, heads);
                }
                None => {
                    street_heads.insert(id, heads);
                }
            }
        }
        let served_dir = cfg
            .db_path
            .parent()
            .map(|p| p.join("rollup-served"))
            .unwrap_or_else(|| PathBuf::from("rollup-served"));
        let timings = Timings::default();
        let store = SharedStore::new(store, timings.commit_seconds.clone());
        let street_docs = DocSet::new(
            store.clone(),
            actor.clone(),
            cfg.compact_after_chunks,
            street_heads,
        );
        let street_published = street_docs.published();
        let mut street = StreetShard::new(street_docs);
        street.doc()?;
        let me = StreetReplicas {
            store,
            actor,
            served_dir,
            street: Mutex::new(street),
            street_heads: street_published,
            communities: Mutex::default(),
            links: Mutex::default(),
            digests: Mutex::default(),
            summary: Mutex::default(),
            summary_compute: Mutex::default(),
            changes: tokio::sync::watch::Sender::new(0),
            timings,
            traffic: SyncTraffic::default(),
            figures_answers: FiguresAnswers::default(),
            cfg,
        };
        {
            let mut shards = leaf(&me.communities);
            for (c, heads) in by_community {
                let shard = me.new_shard(&c, heads);
                shards.insert(c, Arc::new(shard));
            }
        }
        Ok(me)
    }

    fn new_shard(
        &self,
        c: &CommunityId,
        heads: BTreeMap<DocId, Vec<ChangeHash>>,
    ) -> CommunityShard {
        CommunityShard::new(
            c.clone(),
            self.store.clone(),
            self.actor.clone(),
            self.cfg.compact_after_chunks,
            heads,
            self.served_dir.clone(),
        )
    }

    /// Community `c`'s part, made (empty) on first use.
    pub(crate) fn shard(&self, c: &CommunityId) -> Arc<CommunityShard> {
        let mut shards = leaf(&self.communities);
        if let Some(s) = shards.get(c) {
            return s.clone();
        }
        let s = Arc::new(self.new_shard(c, BTreeMap::new()));
        shards.insert(c.clone(), s.clone());
        s
    }

    /// Every community holding documents here (or touched since start).
    fn shards(&self) -> Vec<(CommunityId, Arc<CommunityShard>)> {
        leaf(&self.communities)
            .iter()
            .map(|(c, s)| (c.clone(), s.clone()))
            .collect()
    }

    /// How long commits and street reports take.
    pub fn timings(&self) -> &Timings {
        &self.timings
    }

    /// Sync frames and bytes per community, counted by the sessions.
    pub fn traffic(&self) -> &SyncTraffic {
        &self.traffic
    }

    /// How the nodes' digest reports were answered.
    pub fn figures_answers(&self) -> &FiguresAnswers {
        &self.figures_answers
    }

    /// A receiver that ticks after every committed change.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    pub fn config(&self) -> &ReplicasConfig {
        &self.cfg
    }

    /// Runs `f` on the store (locked for the call: hold nothing else of
    /// the replicas inside it).
    pub fn with_store<R>(&self, f: impl FnOnce(&Store) -> R) -> R {
        f(&self.store.lock())
    }

    fn tick(&self) {
        self.changes.send_modify(|n| *n += 1);
    }

    /// Commits one of community `c`'s documents and brings its rollups'
    /// views up to date.
    fn commit_community(
        st: &mut CommunityState,
        id: &DocId,
        sync: &[SyncWrite<'_>],
        actor: &str,
        action: &str,
        now_ms: i64,
    ) -> Result<bool, ReplicasError> {
        let Some(c) = st.docs.commit(id, sync, actor, action, now_ms)? else {
            return Ok(false);
        };
        st.rollups
            .doc_changed(&mut st.docs, id, &c.before, &c.after);
        Ok(true)
    }

    /// After a session of `c` ends: its past days go back to the store.
    pub fn session_ended(&self, c: &CommunityId) -> Result<(), ReplicasError> {
        let shard = self.shard(c);
        let mut st = lock(&shard.state)?;
        let days: Vec<DocId> = st
            .docs
            .loaded_ids()
            .filter(|id| matches!(id, DocId::Activity(..)))
            .cloned()
            .collect();
        for id in days {
            st.docs.unload_if_saved(&id);
        }
        Ok(())
    }

    // ---- sync ----

    /// The street document's records.
    pub fn street_view(&self) -> Result<StreetView, ReplicasError> {
        Ok(self.street_view_and_heads()?.0)
    }

    pub(crate) fn street_view_and_heads(
        &self,
    ) -> Result<(StreetView, Vec<ChangeHash>), ReplicasError> {
        Ok(lock(&self.street)?.view()?)
    }

    pub fn is_registered(&self, c: &CommunityId) -> Result<bool, ReplicasError> {
        Ok(self
            .street_view()?
            .communities
            .iter()
            .any(|sc| sc.id == c.as_str()))
    }

    /// Heads of what a node of `c` syncs: its community's documents held
    /// here, and the street document. Read without the community's lock.
    pub fn community_heads(&self, c: &CommunityId) -> DocHeads {
        let mut heads: DocHeads = leaf(&self.communities)
            .get(c)
            .map(|s| s.heads.all().into_iter().collect())
            .unwrap_or_default();
        if let Some(h) = self.street_heads.get(&DocId::Street) {
            heads.insert(DocId::Street, h);
        }
        heads
    }

    fn check_access(c: &CommunityId, id: &DocId) -> Result<SyncAccess, SessionError> {
        let access = Principal::Node(c.clone()).sync_access(id);
        if access == SyncAccess::Denied {
            return Err(SyncError::Denied {
                doc: id.to_string(),
            }
            .into());
        }
        Ok(access)
    }

    pub fn open_sync(
        &self,
        c: &CommunityId,
        session: &mut SyncSession,
        id: &DocId,
    ) -> Result<(), SessionError> {
        Self::check_access(c, id)?;
        let stored = self
            .store
            .lock()
            .sync_state(&peer_name(c), id)
            .map_err(ReplicasError::from)?;
        session.open_doc(id, stored.as_ref());
        Ok(())
    }

    pub fn generate(
        &self,
        c: &CommunityId,
        session: &mut SyncSession,
        id: &DocId,
    ) -> Result<Option<Vec<u8>>, SessionError> {
        if *id == DocId::Street {
            let mut street = lock(&self.street)?;
            let l = street.doc().map_err(ReplicasError::from)?;
            return Ok(session.generate(id, &mut l.doc));
        }
        Self::check_access(c, id)?;
        let shard = self.shard(c);
        let mut st = lock(&shard.state)?;
        let l = st.docs.doc(id).map_err(ReplicasError::from)?;
        Ok(session.generate(id, &mut l.doc))
    }

    /// The memory a message of `cost` may take while it is applied,
    /// reserved under the ceiling, or the refusal.
    fn reserve(
        &self,
        id: &DocId,
        len: usize,
        cost: &MessageCost,
    ) -> Result<Reservation, SessionError> {
        let need = (len as u64)
            .saturating_add(cost.inflated_bytes)
            .saturating_add(cost.ops.saturating_mul(APPLY_BYTES_PER_OP));
        self.cfg
            .memory
            .reserve(need, &format!("applying a sync message for {id}"))
            .map_err(|e| SessionError::Limit(e.to_string()))
    }

    /// Applies a node's message under its access rules and commits it with
    /// the sync state. Nothing is applied or stored when a rule is broken
    /// or the message is over a budget; its cost is checked before any lock
    /// is taken.
    pub fn receive(
        &self,
        c: &CommunityId,
        session: &mut SyncSession,
        id: &DocId,
        bytes: &[u8],
        now_ms: i64,
    ) -> Result<Received, SessionError> {
        let access = Self::check_access(c, id)?;
        let checked = session.check(id, bytes, now_ms)?;
        let _memory = self.reserve(id, bytes.len(), &checked.cost)?;
        let peer = peer_name(c);
        let received = if *id == DocId::Street {
            let mut street = lock(&self.street)?;
            let l = street.doc().map_err(ReplicasError::from)?;
            let received = match session.receive(id, &mut l.doc, checked, access, now_ms) {
                Ok(r) => r,
                Err(e) => {
                    if matches!(e, SyncError::Apply { .. }) {
                        street.docs.drop_doc(id);
                    }
                    return Err(e.into());
                }
            };
            let node_held = holds_all(&mut l.doc, &received.peer_heads);
            let sync = [SyncWrite {
                peer: &peer,
                id: id.clone(),
                state: session.persisted(id).unwrap_or_default(),
            }];
            if street
                .docs
                .commit(id, &sync, &peer, "sync", now_ms)
                .map_err(ReplicasError::from)?
                .is_some()
            {
                self.tick();
            }
            (received, node_held)
        } else {
            let shard = self.shard(c);
            let mut st = lock(&shard.state)?;
            let st = &mut *st;
            let l = st.docs.doc(id).map_err(ReplicasError::from)?;
            let before = l.doc.get_heads();
            let received = match session.receive(id, &mut l.doc, checked, access, now_ms) {
                Ok(r) => r,
                Err(e) => {
                    if matches!(e, SyncError::Apply { .. }) {
                        st.docs.drop_doc(id);
                    }
                    return Err(e.into());
                }
            };
            if received.changed
                && let Err(e) = gridsync_core::arrival::check_arrived(&mut l.doc, id, &before)
            {
                // Nothing of it is stored: the document is reloaded when
                // next needed.
                st.docs.drop_doc(id);
                return Err(SessionError::Record(e));
            }
            let node_held = holds_all(&mut l.doc, &received.peer_heads);
            let sync = [SyncWrite {
                peer: &peer,
                id: id.clone(),
                state: session.persisted(id).unwrap_or_default(),
            }];
            if Self::commit_community(st, id, &sync, &peer, "sync", now_ms)? {
                self.tick();
            }
            (received, node_held)
        };
        let (received, node_held) = received;
        leaf(&self.links).received(
            c,
            id,
            received.in_sync,
            received.peer_heads.clone(),
            node_held,
            now_ms,
        );
        Ok(received)
    }

    /// Whether every head of `heads` of `c`'s document `id` is held here
    /// (the node is not ahead of us on it). Compared with the published
    /// heads first; only a document whose heads differ is read.
    pub fn holds(&self, c: &CommunityId, id: &DocId, heads: &[ChangeHash]) -> bool {
        if heads.is_empty() {
            return true;
        }
        if *id == DocId::Street {
            return match lock(&self.street) {
                Ok(mut street) => street.doc().is_ok_and(|l| holds_all(&mut l.doc, heads)),
                Err(_) => false,
            };
        }
        if id.community() != Some(c) {
            return false;
        }
        let shard = self.shard(c);
        if let Some(ours) = shard.heads.get(id)
            && heads.iter().all(|h| ours.contains(h))
        {
            return true;
        }
        let Ok(mut st) = lock(&shard.state) else {
            return false;
        };
        let was_loaded = st.docs.loaded_mut(id).is_some();
        let held = st.docs.doc(id).is_ok_and(|l| holds_all(&mut l.doc, heads));
        if !was_loaded {
            st.docs.unload_if_saved(id);
        }
        held
    }

    /// `c`'s heartbeat stated new heads for `changed`.
    pub fn node_reported(&self, c: &CommunityId, changed: &DocHeads, now_ms: i64) {
        let held: BTreeMap<DocId, bool> = changed
            .iter()
            .map(|(id, h)| (id.clone(), self.holds(c, id, h)))
            .collect();
        leaf(&self.links).reported(c, changed, &held, now_ms);
    }

    /// A frame of `c`'s session was heard.
    pub fn link_heard(&self, c: &CommunityId, now_ms: i64) {
        leaf(&self.links).heard(c, now_ms);
    }

    /// A document that is in sync and stored goes back to the store (the
    /// street document, registries and cases stay; they are small and hot).
    pub fn settled(&self, c: &CommunityId, session: &mut SyncSession, id: &DocId) {
        if !matches!(id, DocId::Activity(..)) {
            return;
        }
        let shard = self.shard(c);
        let Ok(mut st) = lock(&shard.state) else {
            return;
        };
        if let Some(l) = st.docs.loaded_mut(id)
            && session.in_sync(id, &l.doc.get_heads())
        {
            st.docs.unload_if_saved(id);
        }
    }

    // ---- links ----

    /// A session of `c` got through its handshake; `node_docs` are the
    /// heads its Hello stated.
    pub fn link_opened(
        &self,
        c: &CommunityId,
        version: &str,
        node_docs: &DocHeads,
        window_ms: Option<i64>,
        now_ms: i64,
    ) {
        let held = self.community_heads(c);
        let ahead = node_docs
            .iter()
            .filter(|(id, h)| !self.holds(c, id, h))
            .map(|(id, _)| id.clone())
            .collect();
        leaf(&self.links).opened(c, version, node_docs, &held, ahead, window_ms, now_ms);
    }

    /// The session of `c` ended, with `error` if it failed.
    pub fn link_closed(&self, c: &CommunityId, error: Option<String>, now_ms: i64) {
        leaf(&self.links).closed(c, error, now_ms);
    }

    /// Every community the coordinator knows (registered, holding
    /// documents, or linked), with its link and stored sync times. Reads no
    /// community's locked state.
    pub fn communities(&self) -> Result<Vec<CommunityStatus>, ReplicasError> {
        let street = self.street_view()?;
        let held: BTreeMap<CommunityId, Vec<DocId>> = self
            .shards()
            .into_iter()
            .map(|(c, s)| (c, s.heads.all().into_keys().collect()))
            .collect();
        let links = leaf(&self.links).clone();
        Ok(links.communities(&street, &held, &self.store)?)
    }

    // ---- operators ----

    /// Creates or replaces a record of the street document. A record of a
    /// kind with generated ids gets one when its id is empty.
    pub fn put_street(
        &self,
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
        self.edit_street(operator, &action, now_ms, |doc| {
            Ok(gridsync_core::street::put(doc, rec, now_ms, &action)?)
        })
    }

    pub fn remove_street(
        &self,
        kind: StreetKind,
        id: &str,
        operator: &str,
        now_ms: i64,
    ) -> Result<StreetRecord, ReplicasError> {
        let action = format!("remove {kind} {id}");
        self.edit_street(operator, &action, now_ms, |doc| {
            Ok(gridsync_core::street::remove(doc, kind, id, now_ms)?)
        })
    }

    /// An operator's edit of the street document, committed before it is
    /// answered; the sessions are woken once the lock is let go.
    fn edit_street<T>(
        &self,
        operator: &str,
        action: &str,
        now_ms: i64,
        edit: impl FnOnce(&mut AutoCommit) -> Result<T, ReplicasError>,
    ) -> Result<T, ReplicasError> {
        let mut street = lock(&self.street)?;
        let out = edit(&mut street.doc()?.doc)?;
        let changed = street
            .docs
            .commit(&DocId::Street, &[], operator, action, now_ms)?;
        drop(street);
        if changed.is_some() {
            self.tick();
        }
        Ok(out)
    }

    /// Files a hotline ticket received at the street into a community's
    /// cases document, validated against that community's registry. Waits
    /// at most [`DISPATCH_WAIT`] for a community busy applying a message.
    pub fn dispatch_ticket(
        &self,
        c: &CommunityId,
        mut ticket: Ticket,
        operator: &str,
        now_ms: i64,
    ) -> Result<Ticket, ReplicasError> {
        if !self.is_registered(c)? {
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
        let shard = self.shard(c);
        let Some(mut st) = lock_within(&shard.state, Instant::now() + DISPATCH_WAIT)? else {
            return Err(ReplicasError::Busy {
                community: c.clone(),
                waited: DISPATCH_WAIT,
            });
        };
        let st = &mut *st;
        // Checked against the community's view as it stands (kept current
        // for the rollups), written straight into its cases document.
        let view = st.rollups.view(&mut st.docs, c)?;
        let l = st.docs.doc(&cases_id)?;
        replica::create_case(
            &mut l.doc,
            view,
            Record::Ticket(ticket.clone()),
            &ctx,
            &action,
        )?;
        if Self::commit_community(st, &cases_id, &[], operator, &action, now_ms)? {
            self.tick();
        }
        Ok(ticket)
    }

    // ---- rollups ----

    /// The rollup of community `c` for `as_of` in `tz` (waiting for its
    /// lock: for tools and benchmarks; operators get [`Self::street_report`]).
    pub fn community_rollup(
        &self,
        c: &CommunityId,
        as_of: Day,
        tz: Tz,
    ) -> Result<Arc<CommunityRollup>, ReplicasError> {
        let (view, heads) = self.street_view_and_heads()?;
        let shard = self.shard(c);
        let mut st = lock(&shard.state)?;
        let st = &mut *st;
        let street = StreetInput {
            view: &view,
            heads: &heads,
        };
        st.rollups
            .community_rollup(&mut st.docs, c, &street, as_of, tz, self.cfg.tz)
    }

    /// Records the digest a node reported of its own community.
    pub fn node_digest(&self, c: &CommunityId, d: NodeDigest) {
        leaf(&self.digests).insert(c.clone(), d);
    }

    pub fn stale_after_ms(&self) -> i64 {
        self.cfg.stale_after_ms
    }

    // ---- tools ----

    /// The heads of one document (for tests and status pages).
    pub fn heads_of(&self, id: &DocId) -> Option<Vec<ChangeHash>> {
        match id.community() {
            None => self.street_heads.get(id),
            Some(c) => leaf(&self.communities).get(c)?.heads.get(id),
        }
    }

    /// A copy of one document (loading it), for tests and tools.
    pub fn doc_copy(&self, id: &DocId) -> Result<AutoCommit, ReplicasError> {
        match id.community() {
            None => Ok(lock(&self.street)?.docs.doc_copy(id)?),
            Some(c) => {
                let shard = self.shard(c);
                let mut st = lock(&shard.state)?;
                Ok(st.docs.doc_copy(id)?)
            }
        }
    }

    pub fn checkpoint(&self) -> Result<(), ReplicasError> {
        Ok(self.store.lock().checkpoint()?)
    }

    /// Holds community `c`'s lock, as a session applying a long message
    /// does, until the returned hold is dropped: for tests and tools that
    /// check that nothing else waits on one busy community.
    pub fn hold_community(&self, c: &CommunityId) -> CommunityHold {
        let shard = self.shard(c);
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let _guard = shard.state.lock();
            let _ = held_tx.send(());
            let _ = release_rx.recv();
        });
        let _ = held_rx.recv();
        CommunityHold {
            release: Some(release_tx),
            thread: Some(thread),
        }
    }
}

/// A community's lock held by [`StreetReplicas::hold_community`], released
/// on drop.
pub struct CommunityHold {
    release: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for CommunityHold {
    fn drop(&mut self) {
        drop(self.release.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Whether `doc` holds every change of `heads`.
fn holds_all(doc: &mut automerge::AutoCommit, heads: &[ChangeHash]) -> bool {
    heads.iter().all(|h| doc.get_change_by_hash(h).is_some())
}
