//! [`DocCache`]: the coordinator's documents bound to its SQLite store.
//!
//! The heads of every stored document are kept in memory, so a handshake
//! needs no document loaded; the documents themselves are loaded on demand
//! (a month of activity days per community would not fit a small machine)
//! and dropped again once stored. The street document stays loaded.
//!
//! Durability: [`DocCache::commit`] writes a document's new changes, its
//! sync states and the audit row in one transaction; if it fails, the
//! document is dropped from memory and reloaded from the store when next
//! needed, so memory never runs ahead of the store.

use std::collections::{BTreeMap, HashMap};

use automerge::{ActorId, AutoCommit, ChangeHash};
use gridsync_core::sync::DocHeads;
use gridsync_core::{CommunityId, DocId, docs};
use gridsync_store::{Audit, DocWrite, Store, StoreError, SyncWrite};

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

pub struct DocCache {
    store: Store,
    actor: ActorId,
    compact_after_chunks: u64,
    /// Heads of every stored document (and of the street document).
    heads: BTreeMap<DocId, Vec<ChangeHash>>,
    docs: HashMap<DocId, Loaded>,
    street: Loaded,
    /// Set when the street document could not be reloaded after a failed
    /// commit; cleared by the next successful reload.
    street_stale: bool,
}

impl DocCache {
    /// Reads the heads of every stored document and loads the street
    /// document. Documents whose heads were never recorded (a store from
    /// before schema version 3) are loaded once to learn them.
    pub fn open(store: Store, compact_after_chunks: u64) -> Result<Self, StoreError> {
        let actor = ActorId::random();
        let mut me = DocCache {
            street: Loaded {
                doc: docs::genesis(&DocId::Street, actor.clone()),
                saved: Vec::new(),
            },
            store,
            actor,
            compact_after_chunks,
            heads: BTreeMap::new(),
            docs: HashMap::new(),
            street_stale: false,
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

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Heads of every stored document.
    pub fn heads(&self) -> &BTreeMap<DocId, Vec<ChangeHash>> {
        &self.heads
    }

    pub fn heads_of(&self, id: &DocId) -> Option<&Vec<ChangeHash>> {
        self.heads.get(id)
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

    /// Whether `id` is in memory now (the street document always is).
    pub fn is_loaded(&self, id: &DocId) -> bool {
        *id == DocId::Street || self.docs.contains_key(id)
    }

    /// A loaded document, without loading it.
    pub fn loaded(&self, id: &DocId) -> Option<&Loaded> {
        if *id == DocId::Street {
            return Some(&self.street);
        }
        self.docs.get(id)
    }

    /// A loaded document, without loading it, to change.
    pub fn loaded_mut(&mut self, id: &DocId) -> Option<&mut Loaded> {
        if *id == DocId::Street {
            return Some(&mut self.street);
        }
        self.docs.get_mut(id)
    }

    /// The ids of the loaded documents (not the street document).
    pub fn loaded_ids(&self) -> impl Iterator<Item = &DocId> {
        self.docs.keys()
    }

    fn load_stored(&self, id: &DocId) -> Result<Option<Loaded>, StoreError> {
        Ok(self.store.read_doc(id)?.map(|doc| {
            let mut doc = doc.with_actor(self.actor.clone());
            let saved = doc.get_heads();
            Loaded { doc, saved }
        }))
    }

    fn genesis(&self, id: &DocId) -> Loaded {
        Loaded {
            doc: docs::genesis(id, self.actor.clone()),
            saved: Vec::new(),
        }
    }

    /// A document, loaded from the store or started from its genesis.
    pub fn doc(&mut self, id: &DocId) -> Result<&mut Loaded, StoreError> {
        if *id == DocId::Street {
            if self.street_stale {
                // A failed commit whose reload failed too: memory may hold
                // what the store does not, so nothing is served from it
                // until a reload succeeds.
                self.street = match self.load_stored(id)? {
                    Some(l) => l,
                    None => self.genesis(id),
                };
                self.street_stale = false;
            }
            return Ok(&mut self.street);
        }
        if !self.docs.contains_key(id) {
            let loaded = match self.load_stored(id)? {
                Some(l) => l,
                None => self.genesis(id),
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
            if l.doc.get_heads() == l.saved || unsaved_genesis_only {
                self.docs.remove(id);
            }
        }
    }

    /// Commits a document's unsaved changes (and sync states, and an audit
    /// row naming `actor` and `action` when there are changes) in one
    /// transaction. On failure the document is dropped from memory, so it is
    /// reloaded from the store. Returns what changed, if anything did.
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
        if let Err(e) = self.store.commit(&writes, sync, audit) {
            tracing::error!(doc = %id, error = %e, "commit failed; the document is reloaded from the store");
            self.drop_doc(id);
            return Err(e);
        }
        if writes.is_empty() {
            return Ok(None);
        }
        if let Ok(l) = self.doc(id) {
            l.saved = heads.clone();
        }
        self.heads.insert(id.clone(), heads.clone());
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
        if *id == DocId::Street {
            match self.load_stored(id) {
                Ok(Some(l)) => self.street = l,
                Ok(None) => self.street = self.genesis(id),
                Err(e) => {
                    tracing::error!(error = %e, "reloading the street document failed; it is retried before its next use");
                    self.street_stale = true;
                }
            }
        } else {
            self.docs.remove(id);
        }
    }

    /// Forgets every loaded document and reloads the street document (after
    /// a call panicked while holding the cache).
    pub fn reload_all(&mut self) -> Result<(), StoreError> {
        self.docs.clear();
        self.street = match self.load_stored(&DocId::Street)? {
            Some(l) => l,
            None => self.genesis(&DocId::Street),
        };
        self.street_stale = false;
        self.heads.clear();
        for (id, heads) in self.store.doc_heads()? {
            if let Some(h) = heads {
                self.heads.insert(id, h);
            }
        }
        self.heads
            .insert(DocId::Street, self.street.doc.get_heads());
        Ok(())
    }

    fn maybe_compact(&mut self, id: &DocId, now_ms: i64) -> Result<(), StoreError> {
        let stats = self.store.doc_stats(id)?;
        if !stats.wants_compaction(self.compact_after_chunks) {
            return Ok(());
        }
        let snapshot = self.doc(id)?.doc.save();
        self.store.compact(id, &snapshot, now_ms)
    }

    /// A copy of one document (loading it), for tests and tools.
    pub fn doc_copy(&mut self, id: &DocId) -> Result<AutoCommit, StoreError> {
        let d = self.doc(id)?.doc.clone();
        self.unload_if_saved(id);
        Ok(d)
    }
}
