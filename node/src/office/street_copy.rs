//! [`StreetCopy`]: the street document as a node holds it (read-only: only
//! sync writes it), and the street's figures as last received from the
//! coordinator.

use automerge::{ActorId, AutoCommit, ChangeHash};
use gridsync_core::DocId;
use gridsync_proto::rollup::v1 as rpb;
use gridsync_proto::street_figures;
use gridsync_proto::sync::v1 as pb;
use gridsync_store::{DocWrite, Store, StoreError};

/// Key of the street's figures as last received, in the store's meta table:
/// `<received ms>:<hex of the encoded Rollup>[:<tag>]`, written when they
/// change (on every report to an older coordinator, whose `Report` always
/// sends them whole). The tag is the coordinator's when it sent one.
const STREET_SUMMARY_KEY: &str = "street_summary";
/// Key of the last answer that said the figures had not changed:
/// `<received ms>:<hex of the encoded DigestAnswer>` (it has no figures),
/// so that a restart shows their time, the communities' freshness and this
/// community's own stamp as last sent.
const STREET_SUMMARY_SEEN_KEY: &str = "street_summary_seen";

/// The street's figures as last received from the coordinator.
struct Figures {
    rollup: rpb::Rollup,
    /// Their tag ([`street_figures::figures_tag`]).
    tag: String,
    received_ms: i64,
}

pub(super) struct StreetCopy {
    doc: AutoCommit,
    /// Heads already in the store.
    saved: Vec<ChangeHash>,
    /// The street's figures as last received from the coordinator; read
    /// from the store on first use (`loaded`).
    summary: Option<Figures>,
    loaded: bool,
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
            loaded: false,
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

    /// Keeps the street's figures as received whole (from `Report`, or
    /// `ReportDigest` when they changed), in memory and in the store.
    /// `tag` is the coordinator's for them, if it sent one; otherwise
    /// ([`street_figures::figures_tag`]) computed here. The coordinator's is
    /// kept as it is (it may compute another version of the tag), so that
    /// its next answer matches it and does not send the figures whole
    /// again.
    pub(super) fn set_summary(
        &mut self,
        store: &Store,
        rollup: rpb::Rollup,
        tag: Option<String>,
        received_ms: i64,
    ) {
        let tag = match tag {
            Some(theirs) if !theirs.is_empty() => theirs,
            _ => street_figures::figures_tag(&rollup),
        };
        let encoded = prost::Message::encode_to_vec(&rollup);
        let text = stamped(received_ms, &format!("{}:{tag}", hex::encode(encoded)));
        if let Err(e) = store.set_meta(STREET_SUMMARY_KEY, &text) {
            tracing::warn!(error = %e, "could not keep the street's figures in the store");
        }
        self.loaded = true;
        self.summary = Some(Figures {
            tag,
            rollup,
            received_ms,
        });
    }

    /// Takes the coordinator's answer to a digest report: the figures
    /// whole, or what changed since those held (a delta), or that they did
    /// not change; with the last two, the time, the communities not fresh
    /// and the node's own stamp bring the copy held up to date. The store
    /// keeps the whole copy when it changed, else the answer only.
    /// Returns false when the answer is for figures this copy does not
    /// hold (they changed here meanwhile, or the delta does not make the
    /// figures answered): the tag held is then dropped, so that the next
    /// report states none and gets them whole.
    pub(super) fn take_answer(
        &mut self,
        store: &Store,
        answer: pb::DigestAnswer,
        received_ms: i64,
    ) -> bool {
        if let Some(rollup) = answer.figures {
            self.set_summary(store, rollup, Some(answer.figures_tag), received_ms);
            return true;
        }
        self.load_summary(store);
        // A delta applies to the figures it names, an unchanged answer to
        // those it tags; either must be the figures held.
        let base = answer
            .delta
            .as_ref()
            .map_or(&answer.figures_tag, |d| &d.base_tag);
        let Some(held) = self.summary.as_mut().filter(|held| held.tag == *base) else {
            return self.refuse("it is for figures this node does not hold");
        };
        match &answer.delta {
            Some(delta) => {
                let mut next = held.rollup.clone();
                let checked = street_figures::apply_delta(&mut next, delta).and_then(|()| {
                    street_figures::bring_up_to_answer(&mut next, &answer);
                    let made = street_figures::figures_tag(&next);
                    (made == answer.figures_tag).then_some(()).ok_or_else(|| {
                        format!(
                            "its delta makes figures tagged {made}, not {}",
                            answer.figures_tag
                        )
                    })
                });
                match checked {
                    Ok(()) => {
                        self.set_summary(store, next, Some(answer.figures_tag), received_ms);
                        true
                    }
                    Err(e) => self.refuse(&e),
                }
            }
            None => {
                street_figures::bring_up_to_answer(&mut held.rollup, &answer);
                held.received_ms = received_ms;
                let text = stamped(
                    received_ms,
                    &hex::encode(prost::Message::encode_to_vec(&answer)),
                );
                if let Err(e) = store.set_meta(STREET_SUMMARY_SEEN_KEY, &text) {
                    tracing::warn!(error = %e, "could not keep the time of the street's figures");
                }
                true
            }
        }
    }

    /// An answer that cannot be taken (`why`): the tag held is dropped, so
    /// that the next report states none and gets the figures whole. False,
    /// for [`StreetCopy::take_answer`] to return.
    fn refuse(&mut self, why: &str) -> bool {
        tracing::info!(%why, "the coordinator's answer about the street's figures is not taken; asking for them whole");
        if let Some(held) = &mut self.summary {
            held.tag.clear();
        }
        false
    }

    /// The tag of the street's figures held; empty for none.
    pub(super) fn summary_tag(&mut self, store: &Store) -> String {
        self.load_summary(store);
        self.summary
            .as_ref()
            .map(|f| f.tag.clone())
            .unwrap_or_default()
    }

    /// The street's figures as last received, brought up to the last
    /// answer, and when.
    pub(super) fn summary(&mut self, store: &Store) -> Option<(rpb::Rollup, i64)> {
        self.load_summary(store);
        self.summary
            .as_ref()
            .map(|f| (f.rollup.clone(), f.received_ms))
    }

    /// Reads the figures kept in the store, once (again on the next use
    /// when the store could not be read).
    fn load_summary(&mut self, store: &Store) {
        if self.loaded {
            return;
        }
        let text = match store.meta(STREET_SUMMARY_KEY) {
            Ok(text) => text,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the street's figures kept in the store");
                return;
            }
        };
        self.loaded = true;
        let Some(text) = text else {
            return;
        };
        let Some((mut received_ms, Ok(bytes), kept_tag)) = unstamped(&text).map(|(ms, rest)| {
            let (hexed, tag) = rest.split_once(':').unwrap_or((rest, ""));
            (ms, hex::decode(hexed), tag)
        }) else {
            tracing::warn!(
                "the street's figures kept in the store do not read; they are fetched again"
            );
            return;
        };
        let Ok(mut rollup) = <rpb::Rollup as prost::Message>::decode(bytes.as_slice()) else {
            tracing::warn!(
                "the street's figures kept in the store do not decode; they are fetched again"
            );
            return;
        };
        let tag = match kept_tag {
            "" => street_figures::figures_tag(&rollup),
            kept => kept.to_string(),
        };
        if let Ok(Some(seen)) = store.meta(STREET_SUMMARY_SEEN_KEY)
            && let Some((r, rest)) = unstamped(&seen)
            && r > received_ms
        {
            match seen_answer(rest) {
                Some(seen) if seen.figures_tag == tag => {
                    street_figures::bring_up_to_answer(&mut rollup, &seen);
                    received_ms = r;
                }
                Some(_) => tracing::warn!(
                    "the last answer kept in the store is for other figures; \
                     the figures are shown as first received"
                ),
                None => tracing::warn!(
                    "the time of the street's figures kept in the store does not read; \
                     the figures are shown as first received"
                ),
            }
        }
        self.summary = Some(Figures {
            rollup,
            tag,
            received_ms,
        });
    }
}

/// The answer (without figures) of a [`STREET_SUMMARY_SEEN_KEY`] value
/// after its received time; `None` when it does not read.
fn seen_answer(rest: &str) -> Option<pb::DigestAnswer> {
    let bytes = hex::decode(rest).ok()?;
    <pb::DigestAnswer as prost::Message>::decode(bytes.as_slice()).ok()
}

/// A meta value of both keys: `<ms>:<rest>`.
fn stamped(ms: i64, rest: &str) -> String {
    format!("{ms}:{rest}")
}

/// The ms and the rest of a meta value written by [`stamped`].
fn unstamped(text: &str) -> Option<(i64, &str)> {
    let (ms, rest) = text.split_once(':')?;
    Some((ms.parse().ok()?, rest))
}
