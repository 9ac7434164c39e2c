//! Stored documents read from a store and loaded by Automerge alone: the
//! floor of a service opening them (shared by the community, rollup and
//! floor benches).

use std::path::Path;
use std::time::{Duration, Instant};

use automerge::AutoCommit;
use gridsync_core::DocId;
use gridsync_store::{Store, StoredDoc};

/// The stored bytes (snapshot and chunks) of those of `ids` the store at
/// `db` holds (closed: the store is opened here), and how long reading
/// them took.
pub fn stored_bytes(db: &Path, ids: &[DocId]) -> (Vec<StoredDoc>, Duration) {
    let store = Store::open(db, Some(&gridsync_testkit::store_key())).expect("open the store");
    let started = Instant::now();
    let docs = ids
        .iter()
        .filter_map(|id| store.load_doc(id).expect("read a document"))
        .collect();
    (docs, started.elapsed())
}

/// Their size: snapshots and chunks.
pub fn bytes(docs: &[StoredDoc]) -> usize {
    docs.iter()
        .map(|d| {
            d.snapshot.as_ref().map_or(0, Vec::len) + d.chunks.iter().map(Vec::len).sum::<usize>()
        })
        .sum()
}

/// Automerge loading stored documents (the snapshot, then every chunk), in
/// process: nothing else.
pub fn raw_load(docs: &[StoredDoc]) -> (Vec<AutoCommit>, Duration) {
    let started = Instant::now();
    let loaded = docs
        .iter()
        .map(|d| {
            let mut doc = match d.snapshot.as_deref() {
                Some(s) if !s.is_empty() => AutoCommit::load(s).expect("a snapshot"),
                _ => AutoCommit::new(),
            };
            for c in &d.chunks {
                doc.load_incremental(c).expect("a chunk");
            }
            doc
        })
        .collect();
    (loaded, started.elapsed())
}
