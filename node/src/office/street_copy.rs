//! [`StreetCopy`]: the street document as a node holds it (read-only: only
//! sync writes it), and the street's figures as last received from the
//! coordinator.

use automerge::{ActorId, AutoCommit, ChangeHash};
use gridsync_core::DocId;
use gridsync_store::{DocWrite, Store, StoreError};

/// Key of the street's figures as last received, in the store's meta table.
const STREET_SUMMARY_KEY: &str = "street_summary";

pub(super) struct StreetCopy {
    doc: AutoCommit,
    /// Heads already in the store.
    saved: Vec<ChangeHash>,
    /// The street's figures as last received from the coordinator (an
    /// encoded `gridsync.rollup.v1.Rollup`) and when, Unix ms; read from
    /// the store on first use.
    summary: Option<(Vec<u8>, i64)>,
}

impl StreetCopy {
    /// The stored street document, or an empty one (its genesis) until the
    /// coordinator has sent it.
    pub(super) fn load(store: &Store) -> Result<StreetCopy, StoreError> {
        let (doc, saved) = match store.read_doc(&DocId::Street)? {
            Some(mut doc) => {
                let heads = doc.get_heads();
                (doc, heads)
            }
            None => (
                gridsync_core::docs::genesis(&DocId::Street, ActorId::random()),
                Vec::new(),
            ),
        };
        Ok(StreetCopy {
            doc,
            saved,
            summary: None,
        })
    }

    pub(super) fn doc(&self) -> &AutoCommit {
        &self.doc
    }

    pub(super) fn doc_mut(&mut self) -> &mut AutoCommit {
        &mut self.doc
    }

    pub(super) fn heads(&mut self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// The changes received since the last commit, if any.
    pub(super) fn unsaved(&mut self) -> Option<DocWrite> {
        let heads = self.doc.get_heads();
        (heads != self.saved).then(|| DocWrite {
            id: DocId::Street,
            bytes: self.doc.save_after(&self.saved),
            heads,
        })
    }

    /// Records that the store holds everything up to `heads`.
    pub(super) fn mark_saved(&mut self, heads: Vec<ChangeHash>) {
        self.saved = heads;
    }

    /// Keeps the street's figures as received (encoded), in memory and in
    /// the store.
    pub(super) fn set_summary(&mut self, store: &Store, encoded: &[u8], received_ms: i64) {
        self.summary = Some((encoded.to_vec(), received_ms));
        let text = format!("{received_ms}:{}", hex::encode(encoded));
        if let Err(e) = store.set_meta(STREET_SUMMARY_KEY, &text) {
            tracing::warn!(error = %e, "could not keep the street's figures in the store");
        }
    }

    /// The street's figures as last received (encoded) and when.
    pub(super) fn summary(&mut self, store: &Store) -> Option<(Vec<u8>, i64)> {
        if self.summary.is_none()
            && let Ok(Some(text)) = store.meta(STREET_SUMMARY_KEY)
            && let Some((ms, hexed)) = text.split_once(':')
            && let (Ok(ms), Ok(bytes)) = (ms.parse::<i64>(), hex::decode(hexed))
        {
            self.summary = Some((bytes, ms));
        }
        self.summary.clone()
    }
}
