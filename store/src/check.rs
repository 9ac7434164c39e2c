//! Stored documents against a [`StoredBudget`]: the check [`Store::read_doc`]
//! makes before Automerge loads anything, and what `gridctl store check`
//! and `gridctl store repair` do with a store whose service is stopped.
//!
//! Before the sync budgets, a peer could have a change of millions of
//! operations in a few hundred bytes applied and stored; every load of that
//! document then asks Automerge for gigabytes. Here such a document is
//! refused by name ([`StoreError::OverBudget`]); [`Store::check_docs`] costs
//! every stored piece (the snapshot, each chunk) without loading it, and
//! [`Store::repair`] moves the pieces over budget into the `quarantine`
//! table — nothing is deleted — and records the heads of what remains.

use automerge::ChangeHash;
use gridsync_core::DocId;
use gridsync_core::sync::stored::{self, Over, StoredBudget, StoredCost, StoredError};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use crate::{Store, StoreError, StoredDoc, encode_heads, sqlite};

/// Refuses a stored document over `budget` before Automerge sees it.
pub(crate) fn refuse_over_budget(
    store: &Store,
    id: &DocId,
    doc: &StoredDoc,
    budget: &StoredBudget,
) -> Result<(), StoreError> {
    stored::check_doc(
        doc.snapshot.as_deref(),
        doc.chunks.iter().map(Vec::as_slice),
        budget,
    )
    .map(|_| ())
    .map_err(|refusal| StoreError::OverBudget {
        path: store.path.clone(),
        doc: id.clone(),
        refusal,
    })
}

/// One stored piece of a document, costed.
#[derive(Clone, Debug)]
pub struct PieceCheck {
    /// `None` for the snapshot, else the chunk's sequence number.
    pub seq: Option<i64>,
    /// Its cost, or why it has none (it does not read, or inflates past the
    /// budget's cap).
    pub cost: Result<StoredCost, StoredError>,
    /// Bytes as stored.
    pub bytes: u64,
}

impl PieceCheck {
    /// Why this piece alone may not be loaded, if it may not.
    pub fn problem(&self, budget: &StoredBudget) -> Option<String> {
        match &self.cost {
            Ok(c) => c.over(budget).map(|o| o.to_string()),
            Err(e) => Some(e.to_string()),
        }
    }

    /// `snapshot` or `chunk <seq>`.
    pub fn name(&self) -> String {
        match self.seq {
            None => "snapshot".into(),
            Some(s) => format!("chunk {s}"),
        }
    }
}

/// One stored document, costed piece by piece.
#[derive(Clone, Debug)]
pub struct DocCheck {
    /// The document's id as stored.
    pub doc: String,
    /// The sum of the pieces that could be costed.
    pub total: StoredCost,
    pub pieces: Vec<PieceCheck>,
}

impl DocCheck {
    /// Why the document may not be loaded, if it may not: a piece that does
    /// not read or is over on its own, or the whole over a limit.
    pub fn problem(&self, budget: &StoredBudget) -> Option<String> {
        self.pieces
            .iter()
            .find_map(|p| p.problem(budget).map(|m| format!("{}: {m}", p.name())))
            .or_else(|| self.total.over(budget).map(|o| o.to_string()))
    }
}

/// A piece moved (or, on a dry run, to be moved) into quarantine.
#[derive(Clone, Debug)]
pub struct Moved {
    /// `snapshot` or `chunk <seq>`.
    pub piece: String,
    pub bytes: u64,
    pub reason: String,
}

/// What a repair did (or would do) to one document.
#[derive(Clone, Debug)]
pub struct DocRepair {
    pub doc: String,
    pub moved: Vec<Moved>,
    /// The whole document went (its snapshot was over, or what remained
    /// does not load); a peer that holds it sends it again.
    pub whole: bool,
    /// The heads of what remains (empty when the whole document went).
    pub heads: Vec<ChangeHash>,
}

/// A row of the `quarantine` table.
#[derive(Clone, Debug)]
pub struct Quarantined {
    pub id: i64,
    pub doc: String,
    /// `snapshot` or `chunk <seq>`.
    pub piece: String,
    pub bytes: Vec<u8>,
    pub reason: String,
    pub at_ms: i64,
}

/// A document's pieces as stored: the snapshot, then `(seq, bytes)`.
type Pieces = (Option<Vec<u8>>, Vec<(i64, Vec<u8>)>);

impl Store {
    fn pieces(&self, doc: &str) -> Result<Option<Pieces>, StoreError> {
        let snapshot: Option<Option<Vec<u8>>> = self
            .conn
            .query_row(
                "SELECT snapshot FROM documents WHERE doc_id = ?1",
                [doc],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let Some(snapshot) = snapshot else {
            return Ok(None);
        };
        let mut stmt = self
            .conn
            .prepare_cached("SELECT seq, bytes FROM doc_chunks WHERE doc_id = ?1 ORDER BY seq")
            .map_err(|e| self.err(e))?;
        let chunks = stmt
            .query_map([doc], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.err(e))?;
        Ok(Some((snapshot.filter(|s| !s.is_empty()), chunks)))
    }

    /// Every stored document's id, in order.
    fn doc_ids(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT doc_id FROM documents ORDER BY doc_id")
            .map_err(|e| self.err(e))?;
        stmt.query_map([], |r| r.get::<_, String>(0))
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.err(e))
    }

    /// Costs one stored document, every piece on its own (each inflated up
    /// to the budget's cap); `None` if it is not stored.
    pub fn check_doc(
        &self,
        doc: &str,
        budget: &StoredBudget,
    ) -> Result<Option<DocCheck>, StoreError> {
        Ok(self.pieces(doc)?.map(|p| costed(doc, &p, budget)))
    }

    /// Costs every stored document (one at a time: nothing is loaded into
    /// Automerge, and only one document's bytes are held at once).
    pub fn check_docs(&self, budget: &StoredBudget) -> Result<Vec<DocCheck>, StoreError> {
        let mut out = Vec::new();
        for doc in self.doc_ids()? {
            out.extend(self.check_doc(&doc, budget)?);
        }
        Ok(out)
    }

    /// Moves every piece over `budget` into the `quarantine` table and
    /// records the heads of what remains, one transaction per document; on
    /// a dry run, only says what it would do. A snapshot over budget takes
    /// the whole document with it, as does a remainder that does not load.
    /// When the pieces over on their own are gone and the document is still
    /// over, its largest chunks go too, largest first, until it fits.
    pub fn repair(
        &mut self,
        budget: &StoredBudget,
        dry_run: bool,
        at_ms: i64,
    ) -> Result<Vec<DocRepair>, StoreError> {
        let mut out = Vec::new();
        for doc in self.doc_ids()? {
            let Some(pieces) = self.pieces(&doc)? else {
                continue;
            };
            let check = costed(&doc, &pieces, budget);
            if check.problem(budget).is_none() {
                continue;
            }
            let (snapshot, chunks) = &pieces;
            let plan = plan(&check, budget, snapshot.as_deref(), chunks);
            if !dry_run {
                self.quarantine(&plan, snapshot, chunks, at_ms)?;
            }
            out.push(plan.repair);
        }
        Ok(out)
    }

    fn quarantine(
        &mut self,
        plan: &Plan,
        snapshot: &Option<Vec<u8>>,
        chunks: &[(i64, Vec<u8>)],
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let doc = &plan.repair.doc;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| sqlite(&path, e))?;
        let put = |piece: &str, bytes: &[u8], reason: &str| {
            tx.execute(
                "INSERT INTO quarantine (doc_id, piece, bytes, reason, at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![doc, piece, bytes, reason, at_ms],
            )
            .map(|_| ())
        };
        let reason_of = |piece: &str| {
            plan.repair
                .moved
                .iter()
                .find(|m| m.piece == piece)
                .map(|m| m.reason.as_str())
        };
        let run = || -> rusqlite::Result<()> {
            if let Some(s) = snapshot
                && let Some(reason) = reason_of("snapshot")
            {
                put("snapshot", s, reason)?;
            }
            for (seq, bytes) in chunks {
                let piece = format!("chunk {seq}");
                if let Some(reason) = reason_of(&piece) {
                    put(&piece, bytes, reason)?;
                    tx.execute(
                        "DELETE FROM doc_chunks WHERE doc_id = ?1 AND seq = ?2",
                        params![doc, seq],
                    )?;
                }
            }
            if plan.repair.whole {
                tx.execute("DELETE FROM doc_chunks WHERE doc_id = ?1", [doc])?;
                tx.execute("DELETE FROM documents WHERE doc_id = ?1", [doc])?;
            } else {
                tx.execute(
                    "UPDATE documents SET heads = ?2,
                         chunk_count = (SELECT COUNT(*) FROM doc_chunks c WHERE c.doc_id = ?1),
                         chunk_bytes = (SELECT COALESCE(SUM(LENGTH(bytes)), 0) FROM doc_chunks c WHERE c.doc_id = ?1)
                     WHERE doc_id = ?1",
                    params![doc, encode_heads(&plan.repair.heads)],
                )?;
            }
            Ok(())
        };
        run().map_err(|e| sqlite(&path, e))?;
        tx.commit().map_err(|e| sqlite(&path, e))
    }

    /// The `quarantine` table, oldest first.
    pub fn quarantined(&self) -> Result<Vec<Quarantined>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, doc_id, piece, bytes, reason, at_ms FROM quarantine ORDER BY id")
            .map_err(|e| self.err(e))?;
        stmt.query_map([], |r| {
            Ok(Quarantined {
                id: r.get(0)?,
                doc: r.get(1)?,
                piece: r.get(2)?,
                bytes: r.get(3)?,
                reason: r.get(4)?,
                at_ms: r.get(5)?,
            })
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(|e| self.err(e))
    }
}

/// Costs a document's pieces, each on its own.
fn costed(doc: &str, (snapshot, chunks): &Pieces, budget: &StoredBudget) -> DocCheck {
    let all = snapshot
        .iter()
        .map(|s| (None, s.as_slice()))
        .chain(chunks.iter().map(|(seq, c)| (Some(*seq), c.as_slice())));
    let mut total = StoredCost::default();
    let mut pieces = Vec::with_capacity(chunks.len() + 1);
    for (seq, bytes) in all {
        let cost = stored::cost_piece(bytes, budget.max_inflated_bytes);
        if let Ok(c) = &cost {
            total.add(c);
        }
        pieces.push(PieceCheck {
            seq,
            cost,
            bytes: bytes.len() as u64,
        });
    }
    DocCheck {
        doc: doc.to_string(),
        total,
        pieces,
    }
}

/// What a repair does to one document.
struct Plan {
    repair: DocRepair,
}

/// Decides which pieces of `check` go, and loads what remains for its
/// heads (falling back to the whole document when what remains does not
/// load).
fn plan(
    check: &DocCheck,
    budget: &StoredBudget,
    snapshot: Option<&[u8]>,
    chunks: &[(i64, Vec<u8>)],
) -> Plan {
    let mut moved: Vec<Moved> = Vec::new();
    let whole_doc = |why: String, moved: Vec<Moved>| {
        let mut all = moved;
        for p in &check.pieces {
            if !all.iter().any(|m| m.piece == p.name()) {
                all.push(Moved {
                    piece: p.name(),
                    bytes: p.bytes,
                    reason: why.clone(),
                });
            }
        }
        Plan {
            repair: DocRepair {
                doc: check.doc.clone(),
                moved: all,
                whole: true,
                heads: Vec::new(),
            },
        }
    };
    let mut kept: Vec<&PieceCheck> = Vec::new();
    for p in &check.pieces {
        match p.problem(budget) {
            Some(why) if p.seq.is_none() => {
                moved.push(Moved {
                    piece: p.name(),
                    bytes: p.bytes,
                    reason: format!("snapshot: {why}"),
                });
                return whole_doc(
                    "moved with its document, whose snapshot was over budget".into(),
                    moved,
                );
            }
            Some(why) => moved.push(Moved {
                piece: p.name(),
                bytes: p.bytes,
                reason: why,
            }),
            None => kept.push(p),
        }
    }
    // Still over with only pieces that fit on their own: the largest go.
    loop {
        let mut total = StoredCost::default();
        for p in &kept {
            if let Ok(c) = &p.cost {
                total.add(c);
            }
        }
        let Some(over) = total.over(budget) else {
            break;
        };
        let Some(at) = largest(&kept, &over) else {
            return whole_doc(format!("the document was over: {over}"), moved);
        };
        let p = kept.remove(at);
        moved.push(Moved {
            piece: p.name(),
            bytes: p.bytes,
            reason: format!("the document was still over ({over}); its largest chunk"),
        });
    }
    let keep = |seq: &i64| kept.iter().any(|p| p.seq == Some(*seq));
    let remaining = chunks
        .iter()
        .filter(|(seq, _)| keep(seq))
        .map(|(_, c)| c.as_slice());
    let loaded = check
        .doc
        .parse::<DocId>()
        .map_err(|e| e.to_string())
        .and_then(|id| {
            gridsync_core::replica::load_doc(snapshot, remaining, &id).map_err(|e| e.to_string())
        });
    match loaded {
        Ok(mut doc) => Plan {
            repair: DocRepair {
                doc: check.doc.clone(),
                moved,
                whole: false,
                heads: doc.get_heads(),
            },
        },
        Err(e) => whole_doc(format!("what remained does not load: {e}"), moved),
    }
}

/// The chunk (never the snapshot) that adds most to the limit `over`.
fn largest(kept: &[&PieceCheck], over: &Over) -> Option<usize> {
    let size = |c: &StoredCost| match over.limit {
        "max_doc_ops" => c.ops,
        "max_doc_changes" => c.changes,
        _ => c.inflated_bytes,
    };
    kept.iter()
        .enumerate()
        .filter(|(_, p)| p.seq.is_some())
        .filter_map(|(i, p)| p.cost.as_ref().ok().map(|c| (i, size(c))))
        .max_by_key(|&(_, n)| n)
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable;
    use automerge::{ActorId, AutoCommit, ROOT};
    use gridsync_core::docs::genesis;

    use super::*;
    use crate::DocWrite;

    fn registry() -> DocId {
        "registry/c01".parse().unwrap()
    }

    /// Commits what `doc` has new since the last save as one chunk.
    fn commit(store: &mut Store, doc: &mut AutoCommit) {
        let bytes = doc.save_incremental();
        let heads = doc.get_heads();
        store
            .commit(
                &[DocWrite {
                    id: registry(),
                    bytes,
                    heads,
                }],
                &[],
                None,
            )
            .unwrap();
    }

    /// A store holding the registry as chunks: its genesis, then changes
    /// of 10, 50 and 20 operations (each depending on the one before).
    /// Returns the store, the heads after each chunk, and the genesis's
    /// operations.
    fn store_with_chunks(dir: &std::path::Path) -> (Store, Vec<Vec<ChangeHash>>, u64) {
        let mut store = Store::open(&dir.join("s.sqlite3"), None).unwrap();
        let mut doc = genesis(&registry(), ActorId::from(&[1u8; 16][..]));
        commit(&mut store, &mut doc);
        let mut heads = vec![doc.get_heads()];
        for (i, n) in [10, 50, 20].into_iter().enumerate() {
            for k in 0..n {
                doc.put(ROOT, format!("k{i}_{k}"), k).unwrap();
            }
            commit(&mut store, &mut doc);
            heads.push(doc.get_heads());
        }
        let genesis_ops = store
            .check_doc("registry/c01", &StoredBudget::default())
            .unwrap()
            .unwrap()
            .pieces[0]
            .cost
            .clone()
            .unwrap()
            .ops;
        (store, heads, genesis_ops)
    }

    /// What a dry run must leave alone: every piece, the heads, the quarantine.
    fn everything(store: &Store) -> (Option<Pieces>, Vec<crate::StoredHeads>, usize) {
        (
            store.pieces("registry/c01").unwrap(),
            store.doc_heads().unwrap(),
            store.quarantined().unwrap().len(),
        )
    }

    #[test]
    fn a_document_over_budget_loses_its_largest_chunks_until_it_fits() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, heads, g) = store_with_chunks(dir.path());
        // Over by 40: no chunk is over on its own, the total is.
        let budget = StoredBudget {
            max_ops: g + 40,
            ..StoredBudget::default()
        };
        let check = store.check_doc("registry/c01", &budget).unwrap().unwrap();
        assert_eq!(check.total.ops, g + 80);
        assert!(check.pieces.iter().all(|p| p.problem(&budget).is_none()));
        assert!(
            check.problem(&budget).unwrap().contains("max_doc_ops"),
            "{:?}",
            check.problem(&budget)
        );

        let before = everything(&store);
        let planned = store.repair(&budget, true, 5).unwrap();
        assert_eq!(everything(&store), before, "a dry run changed the store");
        assert_eq!(planned.len(), 1);
        assert_eq!(planned[0].moved.len(), 1);
        assert_eq!(planned[0].moved[0].piece, "chunk 3");

        let done = store.repair(&budget, false, 5).unwrap();
        assert_eq!(done[0].moved[0].piece, planned[0].moved[0].piece);
        assert!(!done[0].whole);
        // The 50-operation chunk went; the 20-operation one after it
        // depends on it, so the heads are those after the 10-operation one.
        assert_eq!(done[0].heads, heads[1]);
        let q = store.quarantined().unwrap();
        assert_eq!(q.len(), 1);
        assert_eq!(
            (q[0].doc.as_str(), q[0].piece.as_str()),
            ("registry/c01", "chunk 3")
        );
        assert!(q[0].reason.contains("largest chunk"), "{}", q[0].reason);
        assert_eq!(q[0].at_ms, 5);
        assert_eq!(
            store.doc_heads().unwrap(),
            vec![(registry(), Some(heads[1].clone()))]
        );
        let stats = store.doc_stats(&registry()).unwrap();
        assert_eq!(stats.chunk_count, 3);
        assert!(
            store
                .check_doc("registry/c01", &budget)
                .unwrap()
                .unwrap()
                .problem(&budget)
                .is_none()
        );
        let mut doc = store.read_doc(&registry()).unwrap().unwrap();
        assert_eq!(doc.get_heads(), heads[1]);
        // Nothing more to do.
        assert!(store.repair(&budget, false, 6).unwrap().is_empty());
    }

    #[test]
    fn a_piece_that_does_not_read_is_refused_and_quarantined() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, heads, _) = store_with_chunks(dir.path());
        store
            .commit(
                &[DocWrite {
                    id: registry(),
                    bytes: b"not an automerge chunk".to_vec(),
                    heads: heads[3].clone(),
                }],
                &[],
                None,
            )
            .unwrap();
        let e = store.read_doc(&registry()).err().unwrap();
        assert!(matches!(e, StoreError::OverBudget { .. }), "{e}");
        let msg = e.to_string();
        for words in [
            "registry/c01",
            "does not read",
            "its stored chunk #5",
            "gridctl store check --db",
        ] {
            assert!(msg.contains(words), "{words:?} not in {msg}");
        }
        let done = store.repair(&StoredBudget::default(), false, 7).unwrap();
        assert_eq!(done[0].moved.len(), 1);
        assert_eq!(done[0].moved[0].piece, "chunk 5");
        assert_eq!(done[0].heads, heads[3]);
        assert_eq!(
            store.quarantined().unwrap()[0].bytes,
            b"not an automerge chunk"
        );
        assert!(store.read_doc(&registry()).unwrap().is_some());
    }

    #[test]
    fn a_version_3_store_gains_the_quarantine_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite3");
        drop(Store::create_at_version(&path, 3, None).unwrap());
        let store = Store::open(&path, None).unwrap();
        assert_eq!(store.schema_version().unwrap(), crate::STORE_VERSION);
        assert!(store.quarantined().unwrap().is_empty());
    }
}
