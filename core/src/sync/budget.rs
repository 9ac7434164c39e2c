//! What a sync message costs, read from its encoded bytes **before**
//! anything is decoded, inflated, forked or applied: the operations and
//! changes it would add (summed from the columns' run lengths, never
//! expanded), the bytes its compressed parts inflate to (inflated with a
//! cap), and the hashes and summaries it lists. A message over a
//! [`MessageBudget`] is refused naming the limit; a peer over its
//! [`PeerBudget`] in a window likewise. Every chunk's checksum is checked
//! on the way: a corrupt change is refused, never silently dropped.
//!
//! The cost also carries the hashes of the changes the message holds and
//! the heads of any whole document it holds, so that a read-only peer's
//! message can be refused without forking the document
//! ([`MessageCost::adds_to`]).

use std::io::Read;

use automerge::{AutoCommit, ChangeHash};

use super::wire::{self, ChunkKind, ColumnType, RawChunk, Reader, WireError};

/// Limits on one sync message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageBudget {
    /// Operations across all its changes (rows of op columns, or items of
    /// their groups, whichever is more).
    pub max_ops: u64,
    /// Changes across all its chunks.
    pub max_changes: u64,
    /// Bytes its compressed chunks and columns may inflate to, in all.
    pub max_inflated_bytes: u64,
    /// Change hashes it lists (heads, needs, the haves' last syncs).
    pub max_hashes: u64,
    /// Summaries (`have` entries); Automerge sends one.
    pub max_haves: u64,
}

impl Default for MessageBudget {
    /// Wide of the standard street's largest message (a community's
    /// registry sent whole is about 250,000 operations).
    fn default() -> Self {
        MessageBudget {
            max_ops: 1_000_000,
            max_changes: 200_000,
            max_inflated_bytes: 64 * 1024 * 1024,
            max_hashes: 10_000,
            max_haves: 16,
        }
    }
}

/// What one message costs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageCost {
    pub ops: u64,
    pub changes: u64,
    pub inflated_bytes: u64,
    pub hashes: u64,
    pub haves: u64,
    /// The hashes of the change chunks it holds.
    pub change_hashes: Vec<ChangeHash>,
    /// The heads of the whole documents it holds.
    pub doc_heads: Vec<ChangeHash>,
}

/// Why a message is refused before it is applied.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    /// Over a limit: nothing was applied.
    #[error("{what} {value} is over the limit of {max} ({limit}); nothing was applied")]
    Over {
        /// The setting that limits it (`max_message_ops`, …).
        limit: &'static str,
        what: &'static str,
        value: u64,
        max: u64,
    },
    /// The bytes are not what they claim to be.
    #[error("{0}")]
    Corrupt(String),
}

impl From<WireError> for BudgetError {
    fn from(e: WireError) -> Self {
        BudgetError::Corrupt(e.0)
    }
}

fn over(limit: &'static str, what: &'static str, value: u64, max: u64) -> BudgetError {
    BudgetError::Over {
        limit,
        what,
        value,
        max,
    }
}

impl MessageCost {
    fn add_ops(&mut self, n: u64, b: &MessageBudget) -> Result<(), BudgetError> {
        self.ops = self.ops.saturating_add(n);
        if self.ops > b.max_ops {
            return Err(over("max_message_ops", "operations", self.ops, b.max_ops));
        }
        Ok(())
    }

    fn add_changes(&mut self, n: u64, b: &MessageBudget) -> Result<(), BudgetError> {
        self.changes = self.changes.saturating_add(n);
        if self.changes > b.max_changes {
            return Err(over(
                "max_message_changes",
                "changes",
                self.changes,
                b.max_changes,
            ));
        }
        Ok(())
    }

    fn add_hashes(&mut self, n: u64, b: &MessageBudget) -> Result<(), BudgetError> {
        self.hashes = self.hashes.saturating_add(n);
        if self.hashes > b.max_hashes {
            return Err(over(
                "max_message_hashes",
                "listed change hashes",
                self.hashes,
                b.max_hashes,
            ));
        }
        Ok(())
    }

    /// Inflates `data`, counting it against the budget: first into a small
    /// buffer, only counting (so that a bomb costs no memory), then, if it
    /// fits, for real. A compressed part is inflated twice; that is CPU, not
    /// memory, and compressed parts are a small share of a street's messages.
    fn inflate(&mut self, data: &[u8], b: &MessageBudget) -> Result<Vec<u8>, BudgetError> {
        let room = b.max_inflated_bytes.saturating_sub(self.inflated_bytes);
        let corrupt = |e: std::io::Error| {
            BudgetError::Corrupt(format!("a compressed part does not inflate: {e}"))
        };
        let size = std::io::copy(
            &mut flate2::read::DeflateDecoder::new(data).take(room.saturating_add(1)),
            &mut std::io::sink(),
        )
        .map_err(corrupt)?;
        self.inflated_bytes = self.inflated_bytes.saturating_add(size);
        if self.inflated_bytes > b.max_inflated_bytes {
            return Err(over(
                "max_message_inflated_bytes",
                "inflated bytes (at least)",
                self.inflated_bytes,
                b.max_inflated_bytes,
            ));
        }
        let mut out = Vec::with_capacity(size as usize);
        flate2::read::DeflateDecoder::new(data)
            .read_to_end(&mut out)
            .map_err(corrupt)?;
        Ok(out)
    }

    /// Whether applying the message would add anything to `doc`: a change
    /// it holds, or a whole document with heads `doc` lacks. Automerge
    /// checks on load that a document's changes reach exactly its heads,
    /// so known heads mean nothing new.
    pub fn adds_to(&self, doc: &mut AutoCommit) -> bool {
        self.change_hashes
            .iter()
            .chain(&self.doc_heads)
            .any(|h| doc.get_change_by_hash(h).is_none())
    }
}

/// Costs an encoded sync message against `budget`.
pub fn cost(bytes: &[u8], budget: &MessageBudget) -> Result<MessageCost, BudgetError> {
    let mut c = MessageCost::default();
    let mut r = Reader::new(bytes);
    match r.byte("the message type")? {
        0x42 | 0x43 => {}
        t => {
            return Err(BudgetError::Corrupt(format!(
                "not an Automerge sync message (type byte {t:#04x})"
            )));
        }
    }
    for what in ["heads", "needs"] {
        let n = r.count(32, what)?;
        c.add_hashes(n, budget)?;
        r.take(n * 32, what)?;
    }
    // A summary is at least two bytes (two empty lengths).
    let haves = r.count(2, "haves")?;
    if haves > budget.max_haves {
        return Err(over(
            "max_message_haves",
            "summaries",
            haves,
            budget.max_haves,
        ));
    }
    c.haves = haves;
    for _ in 0..haves {
        let n = r.count(32, "a summary's last sync")?;
        c.add_hashes(n, budget)?;
        r.take(n * 32, "a summary's last sync")?;
        let bloom = r.prefixed("a summary's Bloom filter")?;
        super::check_bloom(bloom).map_err(BudgetError::Corrupt)?;
    }
    let entries = r.count(1, "changes")?;
    for _ in 0..entries {
        let entry = r.prefixed("a change entry")?;
        let mut er = Reader::new(entry);
        while !er.is_empty() {
            let start = er.rest();
            let chunk = RawChunk::read(&mut er)?;
            let whole = &start[..start.len() - er.remaining()];
            chunk_cost(&chunk, whole, budget, &mut c, false)?;
        }
    }
    // What follows (flags) is Automerge's to read; it is bounded by the
    // message's size.
    Ok(c)
}

/// Costs bare chunks one after another (a saved document and any changes
/// after it, or changes saved one after another, as a store keeps them)
/// against `budget`, with the same checks as a message's changes.
pub fn cost_chunks(bytes: &[u8], budget: &MessageBudget) -> Result<MessageCost, BudgetError> {
    let mut c = MessageCost::default();
    let mut r = Reader::new(bytes);
    while !r.is_empty() {
        let start = r.rest();
        let chunk = RawChunk::read(&mut r)?;
        let whole = &start[..start.len() - r.remaining()];
        chunk_cost(&chunk, whole, budget, &mut c, false)?;
    }
    Ok(c)
}

/// Refuses a change of a message's entries (Automerge's `ChunkList`)
/// that Automerge would not write back as the same bytes (see
/// `check_encoding`). This expands each change's operations: call it on a
/// message [`cost`] found within budget, once the memory that expansion
/// takes is reserved (the coordinator's ceiling).
pub fn check_encodings<'a>(
    entries: impl IntoIterator<Item = &'a [u8]>,
    budget: &MessageBudget,
) -> Result<(), BudgetError> {
    let mut c = MessageCost::default();
    for entry in entries {
        let mut r = Reader::new(entry);
        while !r.is_empty() {
            let start = r.rest();
            let chunk = RawChunk::read(&mut r)?;
            let whole = &start[..start.len() - r.remaining()];
            chunk_cost(&chunk, whole, budget, &mut c, true)?;
        }
    }
    Ok(())
}

/// `whole` is the chunk's bytes, header and all; `encoding`: also check
/// that each change is in Automerge's own encoding.
fn chunk_cost(
    chunk: &RawChunk<'_>,
    whole: &[u8],
    b: &MessageBudget,
    c: &mut MessageCost,
    encoding: bool,
) -> Result<(), BudgetError> {
    match chunk.kind {
        ChunkKind::Change => {
            let hash = wire::chunk_hash(1, chunk.data);
            check_sum(chunk, &hash)?;
            change_cost(chunk.data, b, c)?;
            if encoding {
                check_encoding(whole, &hash)?;
            }
            c.change_hashes.push(ChangeHash(hash));
        }
        ChunkKind::Compressed => {
            let data = c.inflate(chunk.data, b)?;
            let hash = wire::chunk_hash(1, &data);
            check_sum(chunk, &hash)?;
            change_cost(&data, b, c)?;
            if encoding {
                check_encoding(whole, &hash)?;
            }
            c.change_hashes.push(ChangeHash(hash));
        }
        ChunkKind::Document => {
            let hash = wire::chunk_hash(0, chunk.data);
            check_sum(chunk, &hash)?;
            document_cost(chunk.data, b, c)?;
        }
        ChunkKind::Bundle => {
            return Err(BudgetError::Corrupt(
                "a bundle chunk: gridsync peers send changes and documents only".into(),
            ));
        }
    }
    Ok(())
}

fn check_sum(chunk: &RawChunk<'_>, hash: &[u8; 32]) -> Result<(), BudgetError> {
    if chunk.checksum != hash[..4] {
        return Err(BudgetError::Corrupt(format!(
            "a {} chunk whose checksum does not match its bytes (corrupt or altered)",
            match chunk.kind {
                ChunkKind::Document => "document",
                _ => "change",
            }
        )));
    }
    Ok(())
}

/// Refuses a change (within its budget: this expands its operations) that
/// Automerge would not write back as the same bytes. Automerge applies
/// such a change, but every later save re-encodes it, gets another hash,
/// finds its own change missing from the graph and panics (a change whose
/// run lengths were rewritten, e.g. `gridsync_testkit::hostile::op_bomb(3)`,
/// found by the `sync_message` fuzz harness on its seeds).
fn check_encoding(whole: &[u8], hash: &[u8; 32]) -> Result<(), BudgetError> {
    let change = automerge::Change::try_from(whole)
        .map_err(|e| BudgetError::Corrupt(format!("a change that does not load: {e}")))?;
    if automerge::Change::from(change.decode()).hash().0 != *hash {
        return Err(BudgetError::Corrupt(
            "a change not in Automerge's own encoding (its operations would be stored as \
             other bytes, under another hash)"
                .into(),
        ));
    }
    Ok(())
}

/// The rows (or grouped items) of the largest of `cols`.
fn most_rows(cols: &[(ColumnType, &[u8])]) -> Result<u64, BudgetError> {
    let mut most = 0u64;
    for (t, data) in cols {
        let rows = wire::column_rows(*t, data)?;
        most = most.max(rows.rows).max(rows.grouped);
    }
    Ok(most)
}

fn change_cost(data: &[u8], b: &MessageBudget, c: &mut MessageCost) -> Result<(), BudgetError> {
    let mut r = Reader::new(data);
    let deps = r.count(32, "a change's dependencies")?;
    c.add_hashes(deps, b)?;
    r.take(deps * 32, "a change's dependencies")?;
    r.prefixed("a change's actor")?;
    r.uleb("a change's sequence number")?;
    r.uleb("a change's first operation")?;
    r.sleb("a change's time")?;
    r.prefixed("a change's message")?;
    let actors = r.count(1, "a change's other actors")?;
    for _ in 0..actors {
        r.prefixed("an actor")?;
    }
    let meta = wire::column_meta(&mut r, "a change's columns")?;
    let cols = wire::columns(&mut r, &meta, "a change's column data")?;
    let mut typed = Vec::with_capacity(cols.len());
    for col in &cols {
        if col.deflated() {
            return Err(BudgetError::Corrupt(
                "a change with a compressed column (Automerge does not write them)".into(),
            ));
        }
        typed.push((col.col_type(), col.data));
    }
    c.add_changes(1, b)?;
    c.add_ops(most_rows(&typed)?, b)
}

fn document_cost(data: &[u8], b: &MessageBudget, c: &mut MessageCost) -> Result<(), BudgetError> {
    let mut r = Reader::new(data);
    let actors = r.count(1, "a document's actors")?;
    for _ in 0..actors {
        r.prefixed("an actor")?;
    }
    let heads = r.count(32, "a document's heads")?;
    c.add_hashes(heads, b)?;
    for h in r.take(heads * 32, "a document's heads")?.chunks(32) {
        let mut a = [0u8; 32];
        a.copy_from_slice(h);
        c.doc_heads.push(ChangeHash(a));
    }
    let change_meta = wire::column_meta(&mut r, "a document's change columns")?;
    let ops_meta = wire::column_meta(&mut r, "a document's op columns")?;
    let change_cols = wire::columns(&mut r, &change_meta, "a document's change data")?;
    let op_cols = wire::columns(&mut r, &ops_meta, "a document's op data")?;
    // The most rows of any column, and the most grouped items.
    let rows =
        |cols: Vec<wire::Column<'_>>, c: &mut MessageCost| -> Result<wire::Rows, BudgetError> {
            let mut most = wire::Rows::default();
            for col in cols {
                let t = col.col_type();
                let n = if col.deflated() {
                    let inflated = c.inflate(col.data, b)?;
                    wire::column_rows(t, &inflated)?
                } else {
                    wire::column_rows(t, col.data)?
                };
                most.rows = most.rows.max(n.rows);
                most.grouped = most.grouped.max(n.grouped);
            }
            Ok(most)
        };
    let changes = rows(change_cols, c)?;
    c.add_changes(changes.rows.max(changes.grouped), b)?;
    // A document stores no row for a deletion, only its place among the
    // successors of what it deleted: the operations its changes hold are
    // at most the rows plus the successors.
    let ops = rows(op_cols, c)?;
    c.add_ops(ops.rows.saturating_add(ops.grouped), b)
}

/// Limits on what one peer's messages may cost over a window of time, so
/// that a peer cannot grow a community without bound by staying under the
/// per-message limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerLimits {
    /// Operations accepted from one peer per window.
    pub max_ops: u64,
    /// Inflated bytes accepted from one peer per window.
    pub max_inflated_bytes: u64,
    /// The window, ms.
    pub window_ms: i64,
}

impl Default for PeerLimits {
    /// A whole standard community (registry, cases, a month of days: about
    /// 2.5 million operations) arrives well inside one window.
    fn default() -> Self {
        PeerLimits {
            max_ops: 8_000_000,
            max_inflated_bytes: 512 * 1024 * 1024,
            window_ms: 60_000,
        }
    }
}

/// What one peer has spent in the current window.
#[derive(Clone, Debug, Default)]
pub struct PeerBudget {
    window_start_ms: i64,
    ops: u64,
    inflated_bytes: u64,
}

impl PeerBudget {
    /// Charges a message's cost at `now_ms`, or refuses it (and charges
    /// nothing) when the peer would go over its limits in this window.
    pub fn charge(
        &mut self,
        cost: &MessageCost,
        limits: &PeerLimits,
        now_ms: i64,
    ) -> Result<(), BudgetError> {
        if now_ms.saturating_sub(self.window_start_ms) >= limits.window_ms
            || now_ms < self.window_start_ms
        {
            *self = PeerBudget {
                window_start_ms: now_ms,
                ..PeerBudget::default()
            };
        }
        let ops = self.ops.saturating_add(cost.ops);
        if ops > limits.max_ops {
            return Err(over(
                "max_peer_ops_per_window",
                "operations from this peer in the window",
                ops,
                limits.max_ops,
            ));
        }
        let inflated = self.inflated_bytes.saturating_add(cost.inflated_bytes);
        if inflated > limits.max_inflated_bytes {
            return Err(over(
                "max_peer_inflated_bytes_per_window",
                "inflated bytes from this peer in the window",
                inflated,
                limits.max_inflated_bytes,
            ));
        }
        self.ops = ops;
        self.inflated_bytes = inflated;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use automerge::sync::{self, SyncDoc};
    use automerge::transaction::Transactable;
    use automerge::{ObjType, ROOT, ReadDoc};

    use super::*;

    /// A document with a list of `n` numbers, in one change.
    fn listed(n: usize) -> AutoCommit {
        let mut doc = AutoCommit::new();
        let list = doc.put_object(ROOT, "l", ObjType::List).unwrap();
        for i in 0..n {
            doc.insert(&list, i, i as i64).unwrap();
        }
        doc.commit();
        doc
    }

    /// Every message `a` sends `b` until both are in sync, encoded.
    fn exchange(a: &mut AutoCommit, b: &mut AutoCommit) -> Vec<Vec<u8>> {
        let (mut sa, mut sb) = (sync::State::new(), sync::State::new());
        let mut sent = Vec::new();
        for _ in 0..20 {
            let m1 = a.sync().generate_sync_message(&mut sa);
            let m2 = b.sync().generate_sync_message(&mut sb);
            if m1.is_none() && m2.is_none() {
                break;
            }
            if let Some(m) = m1 {
                let bytes = m.encode();
                sent.push(bytes.clone());
                b.sync()
                    .receive_sync_message(&mut sb, sync::Message::decode(&bytes).unwrap())
                    .unwrap();
            }
            if let Some(m) = m2 {
                a.sync().receive_sync_message(&mut sa, m).unwrap();
            }
        }
        assert_eq!(a.get_heads(), b.get_heads(), "the exchange converged");
        sent
    }

    #[test]
    fn real_messages_are_costed_with_their_operations() {
        let mut a = listed(5_000);
        let mut b = AutoCommit::new();
        let sent = exchange(&mut a, &mut b);
        let budget = MessageBudget::default();
        let mut ops = 0;
        let mut changes = 0;
        for m in &sent {
            let c = cost(m, &budget).expect("a real message is within the default budget");
            ops += c.ops;
            changes += c.changes;
        }
        // 5,000 inserts and the list's creation.
        assert!(ops >= 5_001, "{ops} operations counted");
        assert!(changes >= 1, "{changes} changes counted");
        // The same messages over a budget of 1,000 operations are refused.
        let small = MessageBudget {
            max_ops: 1_000,
            ..budget
        };
        assert!(sent.iter().any(|m| matches!(
            cost(m, &small),
            Err(BudgetError::Over {
                limit: "max_message_ops",
                ..
            })
        )));
    }

    #[test]
    fn a_whole_document_sent_at_once_is_costed_too() {
        // A peer that has most of a document gets the rest as changes; one
        // that has little of it may get the whole document (a v2 message).
        let mut a = listed(2_000);
        for k in 0..50 {
            a.put(ROOT, format!("k{k}"), k).unwrap();
            a.commit();
        }
        let mut b = AutoCommit::new();
        let sent = exchange(&mut a, &mut b);
        let total: u64 = sent
            .iter()
            .map(|m| cost(m, &MessageBudget::default()).unwrap().ops)
            .sum();
        assert!(total >= 2_050, "{total}");
        let c = cost(&sent[sent.len() - 1], &MessageBudget::default()).unwrap();
        let mut fresh = AutoCommit::new();
        assert!(!c.adds_to(&mut a) || c.change_hashes.is_empty() && c.doc_heads.is_empty());
        let _ = c.adds_to(&mut fresh);
    }

    #[test]
    fn a_whole_document_is_costed_with_its_deletions() {
        // 200 inserts, 150 of them deleted: the document holds 201 rows of
        // operations, its changes 351 operations (found by the fuzz harness on its seeds).
        let mut a = listed(200);
        let list = a.get(ROOT, "l").unwrap().unwrap().1;
        for _ in 0..150 {
            a.delete(&list, 0).unwrap();
        }
        a.commit();
        let sent = exchange(&mut a, &mut AutoCommit::new());
        let costed: u64 = sent
            .iter()
            .map(|m| cost(m, &MessageBudget::default()).unwrap().ops)
            .sum();
        let ops: usize = a.get_changes(&[]).iter().map(|c| c.len()).sum();
        assert_eq!(ops, 351);
        assert!(costed >= 351, "{costed} operations counted");
    }

    #[test]
    fn a_message_that_adds_nothing_is_told_apart_from_one_that_does() {
        let mut a = listed(10);
        let mut b = AutoCommit::new();
        let sent = exchange(&mut a, &mut b);
        let with_changes: Vec<MessageCost> = sent
            .iter()
            .map(|m| cost(m, &MessageBudget::default()).unwrap())
            .filter(|c| !c.change_hashes.is_empty() || !c.doc_heads.is_empty())
            .collect();
        assert!(!with_changes.is_empty());
        for c in &with_changes {
            // b now holds everything a sent: nothing new for b; new for a
            // fresh document.
            assert!(!c.adds_to(&mut b));
            assert!(c.adds_to(&mut AutoCommit::new()));
        }
    }

    #[test]
    fn a_flood_of_summaries_or_hashes_is_refused_before_it_is_decoded() {
        // 33.5M empty summaries claimed in a few bytes.
        let mut m = vec![0x42, 0, 0];
        m.extend([0x80, 0x80, 0x80, 0x10]);
        m.extend(vec![0u8; 64]);
        assert!(matches!(
            cost(&m, &MessageBudget::default()),
            Err(BudgetError::Corrupt(_))
        ));
        // 17 summaries that are really there.
        let mut m = vec![0x42, 0, 0, 17];
        m.extend(vec![0u8; 34]);
        m.push(0);
        assert!(matches!(
            cost(&m, &MessageBudget::default()),
            Err(BudgetError::Over {
                limit: "max_message_haves",
                ..
            })
        ));
    }

    #[test]
    fn a_corrupt_change_is_refused_not_dropped() {
        let mut a = listed(3);
        let mut b = AutoCommit::new();
        let sent = exchange(&mut a, &mut b);
        let m = sent
            .iter()
            .find(|m| {
                let c = cost(m, &MessageBudget::default()).unwrap();
                !c.change_hashes.is_empty() || !c.doc_heads.is_empty()
            })
            .expect("a message with a change or a document");
        // Flip a byte of the chunk's data, just after its header.
        let mut bad = m.clone();
        let at = bad
            .windows(4)
            .position(|w| w == wire::MAGIC)
            .expect("a chunk");
        bad[at + 12] ^= 0xff;
        let e = cost(&bad, &MessageBudget::default()).unwrap_err();
        assert!(matches!(e, BudgetError::Corrupt(_)), "{e}");
    }

    #[test]
    fn a_peer_over_its_window_is_refused_and_charged_nothing() {
        let limits = PeerLimits {
            max_ops: 100,
            max_inflated_bytes: 1_000,
            window_ms: 1_000,
        };
        let c = MessageCost {
            ops: 60,
            ..MessageCost::default()
        };
        let mut p = PeerBudget::default();
        p.charge(&c, &limits, 10).unwrap();
        let e = p.charge(&c, &limits, 20).unwrap_err();
        assert!(e.to_string().contains("max_peer_ops_per_window"), "{e}");
        // The refused message was not charged: a small one still fits.
        p.charge(
            &MessageCost {
                ops: 40,
                ..MessageCost::default()
            },
            &limits,
            30,
        )
        .unwrap();
        // A new window starts over.
        p.charge(&c, &limits, 1_500).unwrap();
    }
}
