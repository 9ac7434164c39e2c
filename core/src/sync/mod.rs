//! The sync decision logic, pure: which documents a session syncs, what to
//! send for a document, what to do with a received message, when a document
//! is in sync, how a large message is cut into frames and put back together
//! within limits, and how long to wait before reconnecting.
//!
//! Nothing here touches a socket, a file or a clock: the node's link and the
//! coordinator's session (and a simulation) drive a [`SyncSession`] with the
//! documents, the bytes received and `now_ms`, and carry out what it returns.
//!
//! One [`SyncSession`] is one side of one link (a node with the coordinator,
//! or the coordinator with one node). It keeps an `automerge::sync::State`
//! per document; [`SyncSession::persisted`] gives the part of it worth
//! keeping (the shared heads) so that the next session resumes in a round
//! trip or two instead of starting over.

pub mod budget;
pub mod liveness;
pub mod stored;
pub mod wire;

use std::collections::{BTreeMap, BTreeSet};

use automerge::sync::{self, SyncDoc};
use automerge::{AutoCommit, ChangeHash};

pub use budget::{BudgetError, MessageBudget, MessageCost, PeerBudget, PeerLimits};
pub use liveness::{HeartbeatSettings, changed_heads, heads_digest};
pub use stored::{StoredBudget, StoredCost};

use crate::access::SyncAccess;
use crate::ids::DocId;

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// The heads of a set of documents, as exchanged in the handshake.
pub type DocHeads = BTreeMap<DocId, Vec<ChangeHash>>;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SyncError {
    #[error("document {doc}: the sync message is not an Automerge sync message: {reason}")]
    Garbage { doc: String, reason: String },
    /// The message's bytes are damaged or altered (a bad checksum, a count
    /// its bytes cannot hold): refused before anything is applied.
    #[error("document {doc}: not an Automerge sync message, or a corrupt one: {reason}")]
    Corrupt { doc: String, reason: String },
    /// The message, or the peer's messages in this window, would cost more
    /// than a limit allows: refused before anything is applied.
    #[error("document {doc}: {source}")]
    OverBudget {
        doc: String,
        #[source]
        source: BudgetError,
    },
    #[error("document {doc}: the changes in the sync message do not apply: {reason}")]
    Apply { doc: String, reason: String },
    #[error("document {doc}: this peer may not write it; its changes were not applied")]
    ReadOnly { doc: String },
    #[error("document {doc}: not shared with this peer")]
    Denied { doc: String },
    #[error("{0}")]
    Frame(String),
    #[error("{0}")]
    TooLarge(String),
}

/// Which documents a session syncs: those held on either side whose heads
/// differ. A document both sides hold at the same heads needs no message.
pub fn plan(local: &DocHeads, remote: &DocHeads) -> BTreeSet<DocId> {
    let mut out = BTreeSet::new();
    for (id, heads) in local {
        if remote.get(id) != Some(heads) {
            out.insert(id.clone());
        }
    }
    for id in remote.keys() {
        if !local.contains_key(id) {
            out.insert(id.clone());
        }
    }
    out
}

/// What happened to a received message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The document's heads changed: there is something new to store.
    pub changed: bool,
    /// Both sides now hold the same heads.
    pub in_sync: bool,
    /// The heads the peer said it holds: what it has acknowledged.
    pub peer_heads: Vec<ChangeHash>,
}

/// What is kept of a document's sync state between sessions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PersistedSync {
    /// `automerge::sync::State::encode` (the shared heads).
    pub state: Vec<u8>,
    /// When both sides last held the same heads, Unix ms.
    pub last_sync_ms: Option<i64>,
}

/// What one side accepts from the other: per message, and per peer over a
/// window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncBudget {
    pub message: MessageBudget,
    pub peer: PeerLimits,
}

/// A received message that passed its checks, with what it costs.
pub struct Checked {
    pub msg: sync::Message,
    pub cost: MessageCost,
}

struct DocState {
    state: sync::State,
    last_sync_ms: Option<i64>,
    /// Messages sent and received in this session, for round-trip counts.
    sent: u64,
    received: u64,
}

/// One side of one link: the sync state of every document it syncs, and
/// what the peer has spent of its budget.
#[derive(Default)]
pub struct SyncSession {
    docs: BTreeMap<DocId, DocState>,
    budget: SyncBudget,
    spent: PeerBudget,
}

impl SyncSession {
    /// A session with the default budget.
    pub fn new() -> Self {
        Self::default()
    }

    /// A session that accepts at most `budget` from its peer.
    pub fn with_budget(budget: SyncBudget) -> Self {
        SyncSession {
            budget,
            ..Self::default()
        }
    }

    /// Starts syncing `id`, from what a previous session kept (if anything
    /// readable was kept; a damaged state starts over, which costs bytes,
    /// not correctness).
    pub fn open_doc(&mut self, id: &DocId, persisted: Option<&PersistedSync>) {
        if self.docs.contains_key(id) {
            return;
        }
        let state = persisted
            .and_then(|p| sync::State::decode(&p.state).ok())
            .unwrap_or_default();
        self.docs.insert(
            id.clone(),
            DocState {
                state,
                last_sync_ms: persisted.and_then(|p| p.last_sync_ms),
                sent: 0,
                received: 0,
            },
        );
    }

    pub fn has_doc(&self, id: &DocId) -> bool {
        self.docs.contains_key(id)
    }

    pub fn doc_ids(&self) -> impl Iterator<Item = &DocId> {
        self.docs.keys()
    }

    /// The next message to send for `id`, encoded, if there is anything to
    /// say. `None` also while an earlier message awaits its answer.
    pub fn generate(&mut self, id: &DocId, doc: &mut AutoCommit) -> Option<Vec<u8>> {
        let st = self.docs.get_mut(id)?;
        let msg = doc.sync().generate_sync_message(&mut st.state)?;
        st.sent += 1;
        Some(msg.encode())
    }

    /// Checks a received message without applying it: its cost, read from
    /// its encoded bytes before anything is decoded or inflated, against
    /// the per-message budget and the peer's budget for the window at
    /// `now_ms` (see [`budget`]); then Automerge's decoding, and summaries
    /// (`have` Bloom filters) whose shape Automerge would choke on (a
    /// filter with no bits divides by zero, a huge probe count allocates
    /// on every lookup; ours use 10 bits per entry and 7 probes).
    pub fn check(&mut self, id: &DocId, bytes: &[u8], now_ms: i64) -> Result<Checked, SyncError> {
        let doc = || id.to_string();
        let cost = budget::cost(bytes, &self.budget.message).map_err(|e| match e {
            BudgetError::Corrupt(reason) => SyncError::Corrupt { doc: doc(), reason },
            e @ BudgetError::Over { .. } => SyncError::OverBudget {
                doc: doc(),
                source: e,
            },
        })?;
        let msg = Self::decode(id, bytes)?;
        self.spent
            .charge(&cost, &self.budget.peer, now_ms)
            .map_err(|source| SyncError::OverBudget { doc: doc(), source })?;
        Ok(Checked { msg, cost })
    }

    /// Automerge's decoding of a message, with the summaries checked (see
    /// [`Self::check`], which costs it first: call that on what a peer
    /// sends).
    pub fn decode(id: &DocId, bytes: &[u8]) -> Result<sync::Message, SyncError> {
        let garbage = |reason: String| SyncError::Garbage {
            doc: id.to_string(),
            reason,
        };
        let msg = sync::Message::decode(bytes).map_err(|e| garbage(e.to_string()))?;
        if msg.have.len() > MAX_HAVES {
            return Err(garbage(format!(
                "{} summaries; at most {MAX_HAVES} are accepted",
                msg.have.len()
            )));
        }
        for (i, have) in msg.have.iter().enumerate() {
            check_bloom(&have.bloom.to_bytes()).map_err(|r| garbage(format!("have[{i}]: {r}")))?;
        }
        Ok(msg)
    }

    /// Applies a checked message to `doc` under the peer's `access`.
    ///
    /// A read-only peer's message that would add any change (one `doc`
    /// lacks, or a whole document with heads `doc` lacks) is refused
    /// ([`SyncError::ReadOnly`]) before it touches `doc`: no fork is made.
    /// On [`SyncError::Apply`] the caller must drop `doc` and reload it from
    /// its store, since Automerge may have taken part of it.
    pub fn receive(
        &mut self,
        id: &DocId,
        doc: &mut AutoCommit,
        checked: Checked,
        access: SyncAccess,
        now_ms: i64,
    ) -> Result<Received, SyncError> {
        let Checked { msg, cost } = checked;
        let doc_name = || id.to_string();
        if access == SyncAccess::Denied {
            return Err(SyncError::Denied { doc: doc_name() });
        }
        let Some(st) = self.docs.get_mut(id) else {
            return Err(SyncError::Frame(format!(
                "document {id}: a sync message for a document this session does not sync"
            )));
        };
        let before = doc.get_heads();
        if access == SyncAccess::ReadOnly && cost.adds_to(doc) {
            return Err(SyncError::ReadOnly { doc: doc_name() });
        }
        // Only now that its cost is known (and reserved, where the host
        // keeps a ceiling): this expands the changes' operations.
        budget::check_encodings(msg.changes.iter(), &self.budget.message).map_err(|e| {
            SyncError::Corrupt {
                doc: doc_name(),
                reason: e.to_string(),
            }
        })?;
        doc.sync()
            .receive_sync_message(&mut st.state, msg)
            .map_err(|e| SyncError::Apply {
                doc: doc_name(),
                reason: e.to_string(),
            })?;
        forget_needed(&mut st.state);
        st.received += 1;
        let heads = doc.get_heads();
        let in_sync = st.state.their_heads.as_ref() == Some(&heads);
        if in_sync {
            st.last_sync_ms = Some(now_ms);
        }
        Ok(Received {
            changed: heads != before,
            in_sync,
            peer_heads: st.state.their_heads.clone().unwrap_or_default(),
        })
    }

    /// Whether both sides held the same heads at the last message received
    /// and nothing has changed here since.
    pub fn in_sync(&self, id: &DocId, heads: &[ChangeHash]) -> bool {
        self.docs
            .get(id)
            .is_some_and(|st| st.state.their_heads.as_deref() == Some(heads))
    }

    /// The heads the peer is known to hold (what it has acknowledged).
    pub fn shared_heads(&self, id: &DocId) -> Option<&[ChangeHash]> {
        self.docs.get(id).map(|st| st.state.shared_heads.as_slice())
    }

    /// The part of the sync state of `id` to keep for the next session.
    pub fn persisted(&self, id: &DocId) -> Option<PersistedSync> {
        self.docs.get(id).map(|st| PersistedSync {
            state: st.state.encode(),
            last_sync_ms: st.last_sync_ms,
        })
    }

    pub fn last_sync_ms(&self, id: &DocId) -> Option<i64> {
        self.docs.get(id).and_then(|st| st.last_sync_ms)
    }

    /// Messages (sent, received) for `id` in this session.
    pub fn message_counts(&self, id: &DocId) -> (u64, u64) {
        self.docs
            .get(id)
            .map(|st| (st.sent, st.received))
            .unwrap_or_default()
    }

    /// Starts the sync state of `id` over, as if the peer were new: the
    /// next message states our heads and a summary of our changes afresh,
    /// so that a state that believes the peer has (or was sent) what it
    /// lacks cannot stall the exchange. Costs bytes, never correctness.
    pub fn restart_doc(&mut self, id: &DocId) {
        if let Some(st) = self.docs.get_mut(id) {
            st.state = sync::State::new();
        }
    }

    /// Forgets a document (for example a past day that is in sync and is
    /// being unloaded); its persisted state is what the next exchange uses.
    pub fn close_doc(&mut self, id: &DocId) {
        self.docs.remove(id);
    }
}

/// Summaries accepted in one message (Automerge sends one).
const MAX_HAVES: usize = 16;
/// Bounds on a received Bloom filter's shape.
const MAX_PROBES: u64 = 32;
const MAX_BITS_PER_ENTRY: u64 = 64;

/// Checks the shape of an encoded Bloom filter: entries, bits per entry,
/// probes (LEB128), then the bits.
pub(crate) fn check_bloom(bytes: &[u8]) -> Result<(), String> {
    if bytes.is_empty() {
        return Ok(()); // the empty filter
    }
    let mut rest = bytes;
    let mut next = || -> Result<u64, String> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let (&b, r) = rest
                .split_first()
                .ok_or_else(|| "a Bloom filter cut short".to_string())?;
            rest = r;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("a Bloom filter number too long".into())
    };
    let (entries, bits_per_entry, probes) = (next()?, next()?, next()?);
    if entries == 0 {
        return Ok(());
    }
    if !(1..=MAX_BITS_PER_ENTRY).contains(&bits_per_entry) {
        return Err(format!(
            "a Bloom filter with {bits_per_entry} bits per entry (1 to {MAX_BITS_PER_ENTRY})"
        ));
    }
    if !(1..=MAX_PROBES).contains(&probes) {
        return Err(format!(
            "a Bloom filter with {probes} probes (1 to {MAX_PROBES})"
        ));
    }
    if rest.is_empty() {
        return Err("a Bloom filter with entries but no bits".into());
    }
    Ok(())
}

/// Limits on frames and messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameLimits {
    /// The largest part sent or accepted, in bytes.
    pub max_frame_bytes: usize,
    /// The largest whole message accepted, in bytes.
    pub max_message_bytes: usize,
}

impl FrameLimits {
    /// The gRPC message size to allow for frames of this size: the data plus
    /// room for the frame's other fields (a document id, a few numbers).
    pub fn grpc_message_limit(&self) -> usize {
        self.max_frame_bytes + 4096
    }
}

impl Default for FrameLimits {
    fn default() -> Self {
        Self {
            max_frame_bytes: 1024 * 1024,
            max_message_bytes: 64 * 1024 * 1024,
        }
    }
}

/// One part of a message for one document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    pub doc: DocId,
    pub data: Vec<u8>,
    pub index: u32,
    pub count: u32,
    pub total: u64,
}

/// Cuts a message into parts of at most `max_frame_bytes`.
pub fn split(doc: &DocId, message: Vec<u8>, max_frame_bytes: usize) -> Vec<Part> {
    let max = max_frame_bytes.max(1);
    let total = message.len() as u64;
    if message.len() <= max {
        return vec![Part {
            doc: doc.clone(),
            data: message,
            index: 0,
            count: 1,
            total,
        }];
    }
    let chunks: Vec<Vec<u8>> = message.chunks(max).map(<[u8]>::to_vec).collect();
    let count = chunks.len() as u32;
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, data)| Part {
            doc: doc.clone(),
            data,
            index: i as u32,
            count,
            total,
        })
        .collect()
}

/// Puts parts back together. Parts of one message must come one after the
/// other, in order, and nothing may break the limits: the buffer never
/// holds more than `max_message_bytes`.
pub struct Reassembly {
    limits: FrameLimits,
    current: Option<(DocId, u32, u32, u64, Vec<u8>)>,
}

impl Reassembly {
    pub fn new(limits: FrameLimits) -> Self {
        Self {
            limits,
            current: None,
        }
    }

    /// Whether part of a message has arrived and the rest has not yet.
    pub fn pending(&self) -> bool {
        self.current.is_some()
    }

    /// Takes a part; returns the whole message once its last part arrived.
    pub fn push(&mut self, part: Part) -> Result<Option<(DocId, Vec<u8>)>, SyncError> {
        let l = self.limits;
        if part.data.len() > l.max_frame_bytes {
            return Err(SyncError::TooLarge(format!(
                "document {}: a frame of {} bytes; at most {} are accepted",
                part.doc,
                part.data.len(),
                l.max_frame_bytes
            )));
        }
        if part.total > l.max_message_bytes as u64 {
            return Err(SyncError::TooLarge(format!(
                "document {}: a sync message of {} bytes; at most {} are accepted",
                part.doc, part.total, l.max_message_bytes
            )));
        }
        if part.count == 0 || part.index >= part.count {
            return Err(SyncError::Frame(format!(
                "document {}: part {} of {} is not a part number",
                part.doc, part.index, part.count
            )));
        }
        match self.current.take() {
            None => {
                if part.index != 0 {
                    return Err(SyncError::Frame(format!(
                        "document {}: part {} arrived without part 0",
                        part.doc, part.index
                    )));
                }
                if part.count == 1 {
                    if part.data.len() as u64 != part.total {
                        return Err(SyncError::Frame(format!(
                            "document {}: a whole message of {} bytes says it has {}",
                            part.doc,
                            part.data.len(),
                            part.total
                        )));
                    }
                    return Ok(Some((part.doc, part.data)));
                }
                if part.data.len() as u64 > part.total {
                    return Err(SyncError::Frame(format!(
                        "document {}: part 0 of {} bytes, longer than the {} bytes announced",
                        part.doc,
                        part.data.len(),
                        part.total
                    )));
                }
                let mut buf = Vec::with_capacity(part.data.len());
                buf.extend_from_slice(&part.data);
                self.current = Some((part.doc, 1, part.count, part.total, buf));
                Ok(None)
            }
            Some((doc, next, count, total, mut buf)) => {
                if part.doc != doc
                    || part.index != next
                    || part.count != count
                    || part.total != total
                {
                    return Err(SyncError::Frame(format!(
                        "document {}: expected part {next} of {count} of a message for {doc}, got part {} of {}",
                        part.doc, part.index, part.count
                    )));
                }
                if (buf.len() + part.data.len()) as u64 > total {
                    return Err(SyncError::Frame(format!(
                        "document {doc}: the parts are longer than the {total} bytes announced"
                    )));
                }
                buf.extend_from_slice(&part.data);
                if next + 1 == count {
                    if buf.len() as u64 != total {
                        return Err(SyncError::Frame(format!(
                            "document {doc}: the parts make {} bytes, not the {total} announced",
                            buf.len()
                        )));
                    }
                    return Ok(Some((doc, buf)));
                }
                self.current = Some((doc, next + 1, count, total, buf));
                Ok(None)
            }
        }
    }

    /// Bytes buffered now.
    pub fn buffered(&self) -> usize {
        self.current.as_ref().map_or(0, |c| c.4.len())
    }
}

/// How a session (or an attempt at one) ended, for the wait before the
/// next dial.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// The peer said goodbye or closed the stream: it is going away or
    /// coming back; redial soon.
    Clean,
    /// The peer could not be reached, or went silent: redial at least every
    /// `unreachable_max_ms`, so a coordinator back up is found within it.
    Unreachable,
    /// The peer refused us, or something failed here: the waits grow to
    /// `max_ms`.
    Failed,
}

/// Exponential backoff with jitter for reconnecting: the `n`th wait is drawn
/// uniformly from `[cap/2, cap]` where `cap = min(max, base · 2ⁿ)`, so that
/// offices cut off together do not all redial at the same instant.
#[derive(Clone, Debug)]
pub struct Backoff {
    pub base_ms: u64,
    pub max_ms: u64,
    /// The longest wait while the peer is unreachable (see [`Ended`]).
    pub unreachable_max_ms: u64,
    attempt: u32,
}

impl Backoff {
    /// The default longest wait while the peer is unreachable.
    pub const UNREACHABLE_MAX_MS: u64 = 1_000;

    pub fn new(base_ms: u64, max_ms: u64) -> Self {
        let base_ms = base_ms.max(1);
        let max_ms = max_ms.max(base_ms);
        Self {
            base_ms,
            max_ms,
            unreachable_max_ms: Self::UNREACHABLE_MAX_MS.clamp(base_ms, max_ms),
            attempt: 0,
        }
    }

    /// The wait before the next dial after a session ended as `ended`,
    /// given a uniform draw `unit` in `[0, 1)`: after a clean end the
    /// attempts start over and the wait is drawn from `[0, base]`; while
    /// the peer is unreachable the waits grow only to `unreachable_max_ms`;
    /// after a refusal or a failure here they grow to `max_ms`.
    pub fn after(&mut self, ended: Ended, unit: f64) -> u64 {
        match ended {
            Ended::Clean => {
                self.attempt = 0;
                (self.base_ms as f64 * unit_or_half(unit)) as u64
            }
            Ended::Unreachable => {
                let max = self.max_ms;
                self.max_ms = self.unreachable_max_ms;
                let d = self.next_delay_ms(unit);
                self.max_ms = max;
                d
            }
            Ended::Failed => self.next_delay_ms(unit),
        }
    }

    /// The next wait, given a uniform draw `unit` in `[0, 1)`.
    pub fn next_delay_ms(&mut self, unit: f64) -> u64 {
        let cap = self
            .base_ms
            .saturating_mul(1u64 << self.attempt.min(32))
            .min(self.max_ms);
        self.attempt = self.attempt.saturating_add(1);
        cap / 2 + ((cap - cap / 2) as f64 * unit_or_half(unit)) as u64
    }

    /// After a session that got through its handshake.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    pub fn attempt(&self) -> u32 {
        self.attempt
    }
}

/// A draw in `[0, 1]`; 0.5 for one that is not a number.
fn unit_or_half(unit: f64) -> f64 {
    if unit.is_finite() {
        unit.clamp(0.0, 1.0)
    } else {
        0.5
    }
}

/// Forgets having sent what the peer says it needs. A change the peer
/// asks for (`need`) is evidently not kept there, whatever our
/// `sent_hashes` says: the peer lost Automerge's queue of changes waiting
/// for their dependencies (a document dropped from memory and loaded again
/// from its store, which keeps applied changes only). Automerge leaves a
/// change in `sent_hashes` out of every later message, even one that asks
/// for it, so without this both sides answer each other with empty
/// messages for as long as the session lasts, their heads different
/// (partition seed 3293; `core/tests/queue_loss_livelock.rs`).
pub fn forget_needed(state: &mut automerge::sync::State) {
    if let Some(need) = &state.their_need {
        for h in need {
            state.sent_hashes.remove(h);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::CommunityId;

    fn doc_id() -> DocId {
        DocId::Registry(CommunityId::parse("c01").unwrap())
    }

    #[test]
    fn split_and_reassemble_round_trip_within_limits() {
        let limits = FrameLimits {
            max_frame_bytes: 10,
            max_message_bytes: 100,
        };
        for len in [0usize, 1, 9, 10, 11, 55, 100] {
            let msg: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let parts = split(&doc_id(), msg.clone(), 10);
            assert!(parts.iter().all(|p| p.data.len() <= 10));
            let mut r = Reassembly::new(limits);
            let mut out = None;
            for p in parts {
                assert!(out.is_none());
                out = r.push(p).unwrap();
            }
            assert_eq!(out, Some((doc_id(), msg)));
            assert_eq!(r.buffered(), 0);
        }
    }

    #[test]
    fn reassembly_refuses_what_breaks_the_rules() {
        let limits = FrameLimits {
            max_frame_bytes: 10,
            max_message_bytes: 30,
        };
        let parts = split(&doc_id(), vec![7; 25], 10);
        // Too large a frame, too large a message, out of order, wrong doc.
        let mut r = Reassembly::new(limits);
        let mut big = parts[0].clone();
        big.data = vec![0; 11];
        assert!(matches!(r.push(big), Err(SyncError::TooLarge(_))));
        let mut huge = parts[0].clone();
        huge.total = 31;
        assert!(matches!(r.push(huge), Err(SyncError::TooLarge(_))));
        assert!(matches!(r.push(parts[1].clone()), Err(SyncError::Frame(_))));
        let mut r = Reassembly::new(limits);
        r.push(parts[0].clone()).unwrap();
        assert!(matches!(r.push(parts[2].clone()), Err(SyncError::Frame(_))));
        let mut r = Reassembly::new(limits);
        r.push(parts[0].clone()).unwrap();
        let mut other = parts[1].clone();
        other.doc = DocId::Street;
        assert!(matches!(r.push(other), Err(SyncError::Frame(_))));
        // A lying total.
        let mut r = Reassembly::new(limits);
        let mut liar = parts[0].clone();
        liar.count = 1;
        assert!(matches!(r.push(liar), Err(SyncError::Frame(_))));
        // A first part longer than the whole it announces (found by the
        // `frames` fuzz target: it was buffered past max_message_bytes).
        let mut r = Reassembly::new(limits);
        let mut long = parts[0].clone();
        long.total = 5;
        assert!(matches!(r.push(long), Err(SyncError::Frame(_))));
        assert_eq!(r.buffered(), 0);
    }

    #[test]
    fn bloom_filters_automerge_would_choke_on_are_refused() {
        assert!(check_bloom(&[]).is_ok());
        assert!(check_bloom(&[0, 10, 7]).is_ok());
        assert!(check_bloom(&[2, 10, 7, 0xff, 0xff, 0xff]).is_ok());
        // No bits per entry: Automerge would divide by zero.
        assert!(check_bloom(&[1, 0, 7]).is_err());
        // A huge probe count (50,000,000 as LEB128).
        assert!(check_bloom(&[1, 10, 0x80, 0xe1, 0xeb, 0x17, 0xff]).is_err());
        // Entries and no bits; cut short.
        assert!(check_bloom(&[1, 10, 7]).is_err());
        assert!(check_bloom(&[1, 0x80]).is_err());
    }

    #[test]
    fn backoff_grows_to_its_cap_and_resets() {
        let mut b = Backoff::new(100, 1_000);
        let lows: Vec<u64> = (0..6).map(|_| b.next_delay_ms(0.0)).collect();
        assert_eq!(lows, vec![50, 100, 200, 400, 500, 500]);
        b.reset();
        assert_eq!(b.next_delay_ms(1.0), 100);
        assert_eq!(b.next_delay_ms(f64::NAN), 150);
    }

    #[test]
    fn a_restarted_sync_state_speaks_again_where_the_old_one_was_silent() {
        use automerge::transaction::Transactable;
        let id = doc_id();
        let mut a = AutoCommit::new();
        a.put(automerge::ROOT, "x", 1).unwrap();
        a.commit();
        let mut s = SyncSession::new();
        s.open_doc(&id, None);
        // The first message goes out; until it is answered there is
        // nothing more to say (what a stalled exchange looks like).
        assert!(s.generate(&id, &mut a).is_some());
        assert!(s.generate(&id, &mut a).is_none());
        s.restart_doc(&id);
        assert!(s.generate(&id, &mut a).is_some());
    }

    #[test]
    fn backoff_after_an_end_depends_on_how_it_ended() {
        let mut b = Backoff::new(500, 30_000);
        // Refusals grow to the cap.
        let failed: Vec<u64> = (0..8).map(|_| b.after(Ended::Failed, 1.0)).collect();
        assert_eq!(failed.last(), Some(&30_000));
        // An unreachable peer is redialled at least every second, even
        // after many attempts...
        for _ in 0..10 {
            assert!(b.after(Ended::Unreachable, 1.0) <= 1_000);
        }
        // ...with jitter: two draws are not the same wait.
        assert_ne!(
            b.after(Ended::Unreachable, 0.0),
            b.after(Ended::Unreachable, 1.0)
        );
        // A clean end starts over, at most the base.
        assert!(b.after(Ended::Clean, 1.0) <= 500);
        assert_eq!(b.attempt(), 0);
        assert_eq!(b.after(Ended::Failed, 0.0), 250);
    }

    #[test]
    fn plan_picks_documents_whose_heads_differ() {
        let a = DocId::Registry(CommunityId::parse("c01").unwrap());
        let b = DocId::Cases(CommunityId::parse("c01").unwrap());
        let h = ChangeHash([1; 32]);
        let local: DocHeads = [(a.clone(), vec![h]), (b.clone(), vec![])].into();
        let remote: DocHeads = [(a.clone(), vec![h]), (DocId::Street, vec![])].into();
        assert_eq!(plan(&local, &remote), [b, DocId::Street].into());
    }
}
