//! What a **stored** document costs, read from its bytes before Automerge
//! loads them: the same column counting as a sync message
//! ([`super::budget`]), applied to what a store keeps of a document — a
//! snapshot (a saved document: a document chunk, then any changes it could
//! not yet apply) and the pieces written since (changes one after another).
//!
//! Before the message budgets, a peer could have a change of millions of
//! operations, a few hundred bytes long, applied and stored; loading it
//! again asks Automerge for gigabytes. A [`StoredBudget`] lets the store
//! refuse such a document by name instead, and lets an operator find and
//! quarantine the pieces that make it so.
//!
//! Pure: bytes in, costs out. Counting never expands a run; inflating a
//! compressed part stops at the budget's cap before anything is kept.

use std::fmt;

use super::budget::{self, BudgetError, MessageBudget};
use super::wire::{RawChunk, Reader};

/// Limits on one stored document, snapshot and pieces together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredBudget {
    /// Operations (`max_doc_ops`).
    pub max_ops: u64,
    /// Changes (`max_doc_changes`).
    pub max_changes: u64,
    /// Bytes its compressed parts inflate to (`max_doc_inflated_bytes`).
    pub max_inflated_bytes: u64,
}

impl Default for StoredBudget {
    /// Wide of any real document. On the demo street (`gridsync-demo`,
    /// the standard street: seven communities of 3,000 households and 30
    /// days each) the largest document, a community's registry, holds
    /// 131,445 operations in 2 changes, and a whole community — registry,
    /// cases and thirty days — about 1.71 million (`gridctl store check`
    /// on its coordinator's store). 4 million in one document is more than
    /// a whole community holds, 30 times its largest document, and still
    /// refuses the stored op bombs of 8.4 and 33.6 million; the 2.1 million
    /// one fits (about 1 GB loaded) — `gridctl store check --max-doc-ops`
    /// finds it with a tighter limit. Changes number far fewer than
    /// operations; the largest snapshot inflates to under 3 MiB.
    fn default() -> Self {
        StoredBudget {
            max_ops: 4_000_000,
            max_changes: 1_000_000,
            max_inflated_bytes: 256 * 1024 * 1024,
        }
    }
}

/// What a stored piece (or a whole document) costs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoredCost {
    /// Operations, summed from the op columns' run lengths.
    pub ops: u64,
    /// Changes (change chunks, and the changes of document chunks).
    pub changes: u64,
    /// Bytes as stored.
    pub bytes: u64,
    /// Bytes its compressed parts inflate to.
    pub inflated_bytes: u64,
    /// Automerge chunks.
    pub chunks: u64,
}

impl StoredCost {
    /// Adds `other` (saturating).
    pub fn add(&mut self, other: &StoredCost) {
        self.ops = self.ops.saturating_add(other.ops);
        self.changes = self.changes.saturating_add(other.changes);
        self.bytes = self.bytes.saturating_add(other.bytes);
        self.inflated_bytes = self.inflated_bytes.saturating_add(other.inflated_bytes);
        self.chunks = self.chunks.saturating_add(other.chunks);
    }

    /// The first limit of `budget` this cost is over, if any.
    pub fn over(&self, budget: &StoredBudget) -> Option<Over> {
        let check = |limit, what, value: u64, max: u64| {
            (value > max).then_some(Over {
                limit,
                what,
                value,
                max,
            })
        };
        check("max_doc_ops", "operations", self.ops, budget.max_ops)
            .or_else(|| {
                check(
                    "max_doc_changes",
                    "changes",
                    self.changes,
                    budget.max_changes,
                )
            })
            .or_else(|| {
                check(
                    "max_doc_inflated_bytes",
                    "inflated bytes",
                    self.inflated_bytes,
                    budget.max_inflated_bytes,
                )
            })
    }
}

/// A limit a stored document or piece is over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Over {
    /// The limit's name (`max_doc_ops`, …), as `gridctl store check` takes it.
    pub limit: &'static str,
    pub what: &'static str,
    pub value: u64,
    pub max: u64,
}

impl fmt::Display for Over {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}, over the limit of {} ({})",
            self.value, self.what, self.max, self.limit
        )
    }
}

/// Why a stored piece or document may not be loaded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoredError {
    /// Over a limit of the [`StoredBudget`].
    #[error("{0}")]
    Over(Over),
    /// The bytes do not read as Automerge chunks (or a checksum is wrong).
    #[error("does not read: {0}")]
    Corrupt(String),
}

/// Costs one stored piece, inflating its compressed parts to at most
/// `max_inflated_bytes` in all (past that: over `max_doc_inflated_bytes`,
/// counted up to the cap, never kept).
pub fn cost_piece(bytes: &[u8], max_inflated_bytes: u64) -> Result<StoredCost, StoredError> {
    let mut chunks = 0u64;
    let mut r = Reader::new(bytes);
    while !r.is_empty() {
        RawChunk::read(&mut r).map_err(|e| StoredError::Corrupt(e.0))?;
        chunks += 1;
    }
    let counting = MessageBudget {
        max_ops: u64::MAX,
        max_changes: u64::MAX,
        max_inflated_bytes,
        max_hashes: u64::MAX,
        max_haves: u64::MAX,
    };
    let c = budget::cost_chunks(bytes, &counting).map_err(|e| match e {
        BudgetError::Over { value, .. } => StoredError::Over(Over {
            // Counting limits nothing else.
            limit: "max_doc_inflated_bytes",
            what: "inflated bytes (at least)",
            value,
            max: max_inflated_bytes,
        }),
        BudgetError::Corrupt(m) => StoredError::Corrupt(m),
    })?;
    Ok(StoredCost {
        ops: c.ops,
        changes: c.changes,
        bytes: bytes.len() as u64,
        inflated_bytes: c.inflated_bytes,
        chunks,
    })
}

/// Which piece of a stored document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Piece {
    Snapshot,
    /// The n-th chunk stored since the snapshot (from 0, in order).
    Chunk(usize),
}

impl fmt::Display for Piece {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Piece::Snapshot => f.write_str("its snapshot"),
            Piece::Chunk(i) => write!(f, "its stored chunk #{}", i + 1),
        }
    }
}

/// A stored document refused before it is loaded: which piece tipped it
/// over, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{error} (at {piece})")]
pub struct Refusal {
    pub piece: Piece,
    pub error: StoredError,
}

/// Checks a stored document against `budget` piece by piece, in the order
/// Automerge would load them, and stops at the first piece that takes the
/// document over a limit or does not read. On success, the document's cost.
pub fn check_doc<'a>(
    snapshot: Option<&[u8]>,
    chunks: impl IntoIterator<Item = &'a [u8]>,
    budget: &StoredBudget,
) -> Result<StoredCost, Refusal> {
    let mut total = StoredCost::default();
    let pieces = snapshot.map(|s| (Piece::Snapshot, s)).into_iter().chain(
        chunks
            .into_iter()
            .enumerate()
            .map(|(i, c)| (Piece::Chunk(i), c)),
    );
    for (piece, bytes) in pieces {
        let room = budget
            .max_inflated_bytes
            .saturating_sub(total.inflated_bytes);
        let cost = cost_piece(bytes, room).map_err(|error| Refusal {
            piece,
            error: match error {
                StoredError::Over(o) => StoredError::Over(Over {
                    value: o.value.saturating_add(total.inflated_bytes),
                    max: budget.max_inflated_bytes,
                    ..o
                }),
                e => e,
            },
        })?;
        total.add(&cost);
        if let Some(o) = total.over(budget) {
            return Err(Refusal {
                piece,
                error: StoredError::Over(o),
            });
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ObjType, ROOT};

    use super::*;

    /// A document with a list of `n` numbers and a text of `len` bytes in
    /// one change (`n + 2` operations), saved, and `k` small changes saved
    /// one at a time after it. Kept small: Automerge is slow unoptimised.
    fn stored(n: usize, len: usize, k: usize) -> (Vec<u8>, Vec<Vec<u8>>) {
        let mut doc = AutoCommit::new();
        let list = doc.put_object(ROOT, "l", ObjType::List).unwrap();
        for i in 0..n {
            doc.insert(&list, i, i as i64).unwrap();
        }
        doc.put(ROOT, "s", "a".repeat(len)).unwrap();
        let snapshot = doc.save();
        let mut pieces = Vec::new();
        for i in 0..k {
            doc.put(ROOT, format!("k{i}"), i as i64).unwrap();
            pieces.push(doc.save_incremental());
        }
        (snapshot, pieces)
    }

    #[test]
    fn a_stored_document_is_costed_without_loading_it() {
        let (snapshot, pieces) = stored(300, 10_000, 3);
        let s = cost_piece(&snapshot, u64::MAX).unwrap();
        // The list, its 300 numbers and the text, in one change; its
        // columns compressed (the text's 10,000 bytes among them).
        assert_eq!((s.ops, s.changes, s.chunks), (302, 1, 1));
        assert!(s.inflated_bytes >= 10_000, "{s:?}");
        assert!(s.bytes < 2_000, "{s:?}");
        assert_eq!(s.bytes, snapshot.len() as u64);
        let p = cost_piece(&pieces[0], u64::MAX).unwrap();
        assert_eq!((p.ops, p.changes, p.chunks), (1, 1, 1));
        let total = check_doc(
            Some(&snapshot),
            pieces.iter().map(Vec::as_slice),
            &StoredBudget::default(),
        )
        .unwrap();
        assert_eq!((total.ops, total.changes, total.chunks), (305, 4, 4));
    }

    #[test]
    fn a_document_over_a_limit_is_refused_naming_the_limit_and_the_piece() {
        let (snapshot, pieces) = stored(99, 0, 5);
        let budget = StoredBudget {
            max_ops: 103,
            ..StoredBudget::default()
        };
        let r = check_doc(Some(&snapshot), pieces.iter().map(Vec::as_slice), &budget).unwrap_err();
        // 101 in the snapshot, one per piece: the third piece tips it over.
        assert_eq!(r.piece, Piece::Chunk(2));
        let StoredError::Over(o) = &r.error else {
            panic!("{r}")
        };
        assert_eq!((o.limit, o.value, o.max), ("max_doc_ops", 104, 103));
        assert_eq!(
            r.to_string(),
            "104 operations, over the limit of 103 (max_doc_ops) (at its stored chunk #3)"
        );
        // A snapshot over on its own.
        let tiny = StoredBudget {
            max_ops: 50,
            ..budget
        };
        let r = check_doc(Some(&snapshot), [], &tiny).unwrap_err();
        assert_eq!(r.piece, Piece::Snapshot);
    }

    #[test]
    fn inflating_stops_at_the_cap() {
        let (snapshot, _) = stored(0, 100_000, 0);
        let full = cost_piece(&snapshot, u64::MAX).unwrap();
        let budget = StoredBudget {
            max_inflated_bytes: full.inflated_bytes / 2,
            ..StoredBudget::default()
        };
        let r = check_doc(Some(&snapshot), [], &budget).unwrap_err();
        let StoredError::Over(o) = r.error else {
            panic!("{r}")
        };
        assert_eq!(o.limit, "max_doc_inflated_bytes");
        assert!(o.value > budget.max_inflated_bytes, "{o}");
    }

    #[test]
    fn a_damaged_piece_does_not_read() {
        let (snapshot, mut pieces) = stored(10, 0, 2);
        // A byte of the second piece's data flipped: its checksum fails.
        let last = pieces[1].len() - 1;
        pieces[1][last] ^= 0xff;
        let r = check_doc(
            Some(&snapshot),
            pieces.iter().map(Vec::as_slice),
            &StoredBudget::default(),
        )
        .unwrap_err();
        assert_eq!(r.piece, Piece::Chunk(1));
        assert!(matches!(r.error, StoredError::Corrupt(_)), "{r}");
        assert!(matches!(
            cost_piece(b"not automerge", u64::MAX),
            Err(StoredError::Corrupt(_))
        ));
        // Nothing stored costs nothing.
        assert_eq!(cost_piece(&[], 0).unwrap(), StoredCost::default());
    }
}
