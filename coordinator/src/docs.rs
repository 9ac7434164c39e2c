//! [`DocSet`]: the documents of one part of the street (one community, or
//! the street document) bound to the coordinator's SQLite store.
//!
//! Each community's documents are a set of their own, behind that
//! community's lock (see [`crate::shard`]), so that one community's work
//! never waits on another's. The heads of every stored document of a set
//! are kept in a [`PublishedHeads`] beside it, readable without the set's
//! lock: a handshake or the operators' list needs no document loaded and
//! never waits on a community busy applying a message. The documents
//! themselves are loaded on demand (a month of activity days per community
//! would not fit a small machine) and dropped again once stored.
//!
//! Durability: [`DocSet::commit`] writes a document's new changes, its sync
//! states and the audit row in one transaction; if it fails, the document
//! is dropped from memory and reloaded from the store when next needed, so
//! memory never runs ahead of the store.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use automerge::{ActorId, AutoCommit, ChangeHash};
use gridsync_core::{DocId, docs};
use gridsync_store::{Audit, DocWrite, Store, StoreError, SyncWrite};
use gridsync_svc::metrics::Timings;
use gridsync_svc::metrics::prometheus_client::metrics::histogram::Histogram;

/// The one store of the coordinator. Locked only for one read or one
/// transaction, and never while taking another lock: a panic under it
/// leaves nothing half-done (SQLite rolls the transaction back), so a
/// poisoned lock is simply taken.
/// Every commit goes through [`SharedStore::commit`], which times it.
#[derive(Clone)]
pub struct SharedStore {
    store: Arc<Mutex<Store>>,
    commit_seconds: Histogram,
}

impl SharedStore {
    /// `commit_seconds` records how long each commit takes.
    pub fn new(store: Store, commit_seconds: Histogram) -> Self {
        SharedStore {
            store: Arc::new(Mutex::new(store)),
            commit_seconds,
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// [`Store::commit`], timed (the transaction, not the wait for the
    /// lock).
    pub fn commit(
        &self,
        writes: &[DocWrite],
        sync: &[SyncWrite<'_>],
        audit: Option<&Audit<'_>>,
    ) -> Result<(), StoreError> {
        let mut store = self.lock();
        let started = Instant::now();
        let done = store.commit(writes, sync, audit);
        Timings::observe(&self.commit_seconds, started);
        done
    }
}

/// The heads of a set's stored documents, published after each commit:
/// readable without the set's own lock (a leaf lock, held for a copy).
#[derive(Clone, Default)]
pub struct PublishedHeads(Arc<Mutex<BTreeMap<DocId, Vec<ChangeHash>>>>);

impl PublishedHeads {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<DocId, Vec<ChangeHash>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, id: &DocId) -> Option<Vec<ChangeHash>> {
        self.lock().get(id).cloned()
    }

    pub fn contains(&self, id: &DocId) -> bool {
        self.lock().contains_key(id)
    }

    /// A copy of every document's heads.
    pub fn all(&self) -> BTreeMap<DocId, Vec<ChangeHash>> {
        self.lock().clone()
    }

    pub fn set(&self, id: DocId, heads: Vec<ChangeHash>) {
        self.lock().insert(id, heads);
    }

    fn replace(&self, all: BTreeMap<DocId, Vec<ChangeHash>>) {
        *self.lock() = all;
    }
}

/// A document in memory and the heads the store already holds of it.
pub struct Loaded {
    pub doc: AutoCommit,
    /// Heads already in the store.
    saved: Vec<ChangeHash>,
}

/// What a commit changed in a document.
pub struct Committed {
    pub before: Vec<ChangeHash>,
    pub after: Vec<ChangeHash>,
}

/// The documents of one community (or the street document), loaded on
/// demand from the store.
pub struct DocSet {
    store: SharedStore,
    actor: ActorId,
    compact_after_chunks: u64,
    heads: PublishedHeads,
    docs: HashMap<DocId, Loaded>,
}

impl DocSet {
    /// A set whose stored documents have `heads` (read once at start for
    /// the whole store).
    pub fn new(
        store: SharedStore,
        actor: ActorId,
        compact_after_chunks: u64,
        heads: BTreeMap<DocId, Vec<ChangeHash>>,
    ) -> Self {
        let published = PublishedHeads::default();
        published.replace(heads);
        DocSet {
            store,
            actor,
            compact_after_chunks,
            heads: published,
            docs: HashMap::new(),
        }
    }

    pub fn store(&self) -> &SharedStore {
        &self.store
    }

    /// The heads of this set's stored documents, to read without its lock.
    pub fn published(&self) -> PublishedHeads {
        self.heads.clone()
    }

    pub fn heads_of(&self, id: &DocId) -> Option<Vec<ChangeHash>> {
        self.heads.get(id)
    }

    /// Whether `id` is in memory now.
    pub fn is_loaded(&self, id: &DocId) -> bool {
        self.docs.contains_key(id)
    }

    /// A loaded document, without loading it.
    pub fn loaded(&self, id: &DocId) -> Option<&Loaded> {
        self.docs.get(id)
    }

    /// A loaded document, without loading it, to change.
    pub fn loaded_mut(&mut self, id: &DocId) -> Option<&mut Loaded> {
        self.docs.get_mut(id)
    }

    /// The ids of the loaded documents.
    pub fn loaded_ids(&self) -> impl Iterator<Item = &DocId> {
        self.docs.keys()
    }

    fn load_stored(&self, id: &DocId) -> Result<Option<Loaded>, StoreError> {
        let stored = self.store.lock().read_doc(id)?;
        Ok(stored.map(|doc| {
            let mut doc = doc.with_actor(self.actor.clone());
            let saved = doc.get_heads();
            Loaded { doc, saved }
        }))
    }

    /// A document, loaded from the store or started from its genesis.
    pub fn doc(&mut self, id: &DocId) -> Result<&mut Loaded, StoreError> {
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
    pub fn unload_if_saved(&mut self, id: &DocId) {
        if let Some(l) = self.docs.get_mut(id) {
            let unsaved_genesis_only = l.saved.is_empty() && l.doc.get_changes(&[]).len() <= 1;
            // Changes waiting for their dependencies live only here (the
            // store keeps applied changes): a document holding some stays,
            // or a session's sync would lose them (partition seed 3293).
            let queued = !l.doc.get_missing_deps(&[]).is_empty();
            if !queued && (l.doc.get_heads() == l.saved || unsaved_genesis_only) {
                self.docs.remove(id);
            }
        }
    }

    /// Commits a document's unsaved changes (and sync states, and an audit
    /// row naming `actor` and `action` when there are changes) in one
    /// transaction, then publishes its heads. On failure the document is
    /// dropped from memory, so it is reloaded from the store. Returns what
    /// changed, if anything did.
    pub fn commit(
        &mut self,
        id: &DocId,
        sync: &[SyncWrite<'_>],
        actor: &str,
        action: &str,
        now_ms: i64,
    ) -> Result<Option<Committed>, StoreError> {
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
        let written = self.store.commit(&writes, sync, audit);
        if let Err(e) = written {
            tracing::error!(doc = %id, error = %e, "commit failed; the document is reloaded from the store");
            self.drop_doc(id);
            return Err(e);
        }
        if writes.is_empty() {
            return Ok(None);
        }
        if let Some(l) = self.docs.get_mut(id) {
            l.saved = heads.clone();
        }
        self.heads.set(id.clone(), heads.clone());
        if let Err(e) = self.maybe_compact(id, now_ms) {
            tracing::warn!(doc = %id, error = %e, "compaction failed; the chunks stay as they are");
        }
        Ok(Some(Committed {
            before,
            after: heads,
        }))
    }

    /// Forgets what memory holds of `id` (after a failed apply or commit):
    /// it is reloaded from the store when next needed.
    pub fn drop_doc(&mut self, id: &DocId) {
        self.docs.remove(id);
    }

    /// Forgets every loaded document and reads the heads of this set's
    /// documents back from the store (after a call panicked while holding
    /// the set): `keep` says which stored documents belong to it.
    pub fn reload_all(&mut self, keep: impl Fn(&DocId) -> bool) -> Result<(), StoreError> {
        self.docs.clear();
        let stored = self.store.lock().doc_heads()?;
        let heads = stored
            .into_iter()
            .filter(|(id, _)| keep(id))
            .filter_map(|(id, h)| h.map(|h| (id, h)))
            .collect();
        self.heads.replace(heads);
        Ok(())
    }

    fn maybe_compact(&mut self, id: &DocId, now_ms: i64) -> Result<(), StoreError> {
        let stats = self.store.lock().doc_stats(id)?;
        if !stats.wants_compaction(self.compact_after_chunks) {
            return Ok(());
        }
        let snapshot = self.doc(id)?.doc.save();
        self.store.lock().compact(id, &snapshot, now_ms)
    }

    /// A copy of one document (loading it), for tests and tools.
    pub fn doc_copy(&mut self, id: &DocId) -> Result<AutoCommit, StoreError> {
        let was_loaded = self.is_loaded(id);
        let d = self.doc(id)?.doc.clone();
        if !was_loaded {
            self.unload_if_saved(id);
        }
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable;
    use gridsync_core::CommunityId;

    use super::*;

    /// A document holding changes that wait for their dependencies is not
    /// unloaded: they live only in memory (the store keeps applied
    /// changes), and a session's sync counts on them (partition seed 3293).
    #[test]
    fn a_document_with_queued_changes_stays_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("c.sqlite3"), None).unwrap();
        let timings = Timings::default();
        let store = SharedStore::new(store, timings.commit_seconds.clone());
        let mut set = DocSet::new(store, ActorId::from(&[2u8; 16][..]), 256, BTreeMap::new());
        let id = DocId::Cases(CommunityId::parse("c01").unwrap());
        let mut node = set
            .doc(&id)
            .unwrap()
            .doc
            .fork()
            .with_actor(ActorId::from(&[1u8; 16][..]));
        set.commit(&id, &[], "test", "genesis", 0).unwrap();
        node.put(automerge::ROOT, "x", 1).unwrap();
        let x = node.commit().unwrap();
        node.put(automerge::ROOT, "y", 2).unwrap();
        let y = node.commit().unwrap();
        let y = node.get_change_by_hash(&y).unwrap().clone();
        set.doc(&id).unwrap().doc.apply_changes([y]).unwrap();
        set.unload_if_saved(&id);
        assert!(set.is_loaded(&id), "Y waits for X in memory only");
        // Once nothing waits, a saved document goes as before.
        let x = node.get_change_by_hash(&x).unwrap().clone();
        set.doc(&id).unwrap().doc.apply_changes([x]).unwrap();
        set.commit(&id, &[], "test", "sync", 0).unwrap();
        set.unload_if_saved(&id);
        assert!(!set.is_loaded(&id));
    }
}
