//! The street's replicas cut into parts that lock on their own, so that
//! one community's work never waits on another's:
//!
//! - [`CommunityShard`]: one community's documents and rollups behind that
//!   community's lock ([`CommunityState`]), with what others may read
//!   without it: the heads of its stored documents, the rollups last
//!   computed, and the record of the rollups served.
//! - [`StreetShard`]: the street document (read by every session, written
//!   by operators) behind its own lock, with its view cached.
//!
//! **Lock order** (never the other way, so no two threads wait on each
//! other): the nodes' summary computation (taken first, alone, by the one
//! report that computes it), a community's state, then the street shard,
//! then the store;
//! every other lock (published heads, last rollups, served records, links,
//! digests) is a leaf, held only to copy or set a value. No call holds two
//! communities' states.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use automerge::{ActorId, ChangeHash};
use gridsync_core::rollup::CommunityRollup;
use gridsync_core::signoff::SignOffState;
use gridsync_core::street::StreetView;
use gridsync_core::{CommunityId, Day, DocId};
use gridsync_store::StoreError;
use gridsync_svc::{Recover, blocking::BoxError};

use crate::docs::{DocSet, Loaded, PublishedHeads, SharedStore};
use crate::rollups::CommunityRollups;
use crate::served::ServedLog;

/// Locks a leaf lock: it holds plain values, set whole, so a poisoned one
/// is simply taken.
pub fn leaf<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One community's documents and rollups: what its lock guards.
pub struct CommunityState {
    pub id: CommunityId,
    pub docs: DocSet,
    pub rollups: CommunityRollups,
}

/// After a panic, loaded documents and views may hold half a change: they
/// are dropped (reloaded from the store on demand), the heads read back.
impl Recover for CommunityState {
    fn recover(&mut self) -> Result<(), BoxError> {
        let c = self.id.clone();
        self.docs.reload_all(|id| id.community() == Some(&c))?;
        self.rollups.clear();
        Ok(())
    }
}

/// The rollups a community last served, by (date, zone), each with whether
/// it was held and its sign-off: what the street's report serves for a
/// community busy applying a message.
pub type LatestRollups = HashMap<(Day, String), (Arc<CommunityRollup>, bool, SignOffState)>;

/// One community: its state behind its own lock, and what others read
/// without that lock.
pub struct CommunityShard {
    pub state: Mutex<CommunityState>,
    pub heads: PublishedHeads,
    pub latest: Mutex<LatestRollups>,
    pub served: Mutex<ServedLog>,
}

impl CommunityShard {
    pub fn new(
        id: CommunityId,
        store: SharedStore,
        actor: ActorId,
        compact_after_chunks: u64,
        heads: BTreeMap<DocId, Vec<ChangeHash>>,
        served_dir: std::path::PathBuf,
    ) -> Self {
        let docs = DocSet::new(store, actor, compact_after_chunks, heads);
        CommunityShard {
            heads: docs.published(),
            state: Mutex::new(CommunityState {
                id,
                docs,
                rollups: CommunityRollups::default(),
            }),
            latest: Mutex::default(),
            served: Mutex::new(ServedLog::new(served_dir)),
        }
    }
}

/// The street document and its view.
pub struct StreetShard {
    pub docs: DocSet,
    view: Option<(Vec<ChangeHash>, StreetView)>,
}

impl StreetShard {
    pub fn new(docs: DocSet) -> Self {
        StreetShard { docs, view: None }
    }

    /// The street document (loaded, or started from its genesis). Its
    /// heads are published even before anything of it is stored: a node
    /// starts from the same genesis.
    pub fn doc(&mut self) -> Result<&mut Loaded, StoreError> {
        let heads = self.docs.published();
        let l = self.docs.doc(&DocId::Street)?;
        if !heads.contains(&DocId::Street) {
            heads.set(DocId::Street, l.doc.get_heads());
        }
        Ok(l)
    }

    /// The street document's records and the heads they reflect (read
    /// again only when the heads moved).
    pub fn view(&mut self) -> Result<(StreetView, Vec<ChangeHash>), StoreError> {
        let heads = self.doc()?.doc.get_heads();
        if let Some((h, v)) = &self.view
            && *h == heads
        {
            return Ok((v.clone(), heads));
        }
        let v = StreetView::read(&self.doc()?.doc);
        self.view = Some((heads.clone(), v.clone()));
        Ok((v, heads))
    }
}

impl Recover for StreetShard {
    fn recover(&mut self) -> Result<(), BoxError> {
        self.docs.reload_all(|id| *id == DocId::Street)?;
        self.view = None;
        self.doc()?;
        Ok(())
    }
}
