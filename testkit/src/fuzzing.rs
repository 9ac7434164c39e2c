//! The fuzzing harnesses: what each cargo-fuzz target in `fuzz/` does with
//! its input, and the properties it asserts. The targets are one line each
//! (`fuzzing::sync_message(data)`), and `tests/fuzz_corpus` replays every
//! file of `fuzz/corpus/<target>/` through the same functions on stable, so
//! the corpus is a regression suite in CI.
//!
//! - [`sync_message`]: bytes as a sync message from a peer: costed against
//!   a small [`MessageBudget`], checked by a [`SyncSession`], and when they
//!   pass, received into a fresh document and into a registry under
//!   read-write and read-only access, then answered. Never a panic; a
//!   read-only receive never changes the document; a message never adds
//!   more operations or changes than its cost said.
//! - [`frames`]: an arbitrary run of parts and split messages pushed into a
//!   [`Reassembly`]: never a panic, never more than `max_message_bytes`
//!   buffered, and a split message comes back whole and unchanged.
//! - [`records`]: bytes prost-decoded as each office and street record
//!   message, converted to the core's records and back: never a panic; what
//!   converts converts back to the same value; errors name a field and quote
//!   little.
//! - [`roster`]: bytes as a CSV roster, parsed, checked and imported twice
//!   into a replica: never a panic; every error names a line (and a column
//!   the file has); the second import creates nothing.
//!
//! [`seeds`] makes the inputs the corpora started from.

pub mod seeds;

use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};
use automerge::{ActorId, AutoCommit, ChangeHash};
use gridsync_core::access::SyncAccess;
use gridsync_core::roster::{self, RawRow, RowError};
use gridsync_core::street::{StreetRecord, StreetView};
use gridsync_core::sync::budget::{self, MessageBudget};
use gridsync_core::sync::{
    FrameLimits, Part, PeerLimits, Reassembly, SyncBudget, SyncError, SyncSession, split,
};
use gridsync_core::{
    CommunityId, CommunityInfo, CommunityReplica, DocId, EditContext, FieldError, Kind, Record,
    validate,
};
use gridsync_proto::office::v1 as pb;
use gridsync_proto::street::v1 as spb;
use prost::Message as _;

/// The fuzz targets, as named in `fuzz/fuzz_targets/` and `fuzz/corpus/`.
pub const TARGETS: &[&str] = &["sync_message", "frames", "records", "roster"];

/// Runs the harness of `target` on `data`; `false` for an unknown target.
pub fn run(target: &str, data: &[u8]) -> bool {
    match target {
        "sync_message" => sync_message(data),
        "frames" => frames(data),
        "records" => records(data),
        "roster" => roster(data),
        _ => return false,
    }
    true
}

/// "Now" for everything the harnesses validate: 2026-11-30T04:00Z.
pub const NOW_MS: i64 = 1_796_011_200_000;

/// The community the harnesses' documents belong to.
pub fn community() -> CommunityId {
    CommunityId::parse("c01").expect("a valid community id")
}

/// The document a fuzzed sync message is for.
pub fn registry_id() -> DocId {
    DocId::Registry(community())
}

/// A small budget, so that what passes it is cheap to apply: an input
/// that costs more is refused before Automerge sees it, and one that
/// passes can be applied within the fuzzer's memory limits.
pub fn small_budget() -> MessageBudget {
    MessageBudget {
        max_ops: 50_000,
        max_changes: 5_000,
        max_inflated_bytes: 4 * 1024 * 1024,
        max_hashes: 2_000,
        max_haves: 4,
    }
}

fn session(id: &DocId) -> SyncSession {
    let mut s = SyncSession::with_budget(SyncBudget {
        message: small_budget(),
        peer: PeerLimits::default(),
    });
    s.open_doc(id, None);
    s
}

/// A registry of the street model with a few households, made once: the
/// document a message may add to, or hold nothing new for.
fn registry() -> &'static AutoCommit {
    static DOC: OnceLock<AutoCommit> = OnceLock::new();
    DOC.get_or_init(|| seeds::registry_doc(3))
}

/// Bytes from a peer as a sync message for a registry (see the module doc).
pub fn sync_message(data: &[u8]) {
    let id = registry_id();
    let budget = small_budget();
    let cost = budget::cost(data, &budget);
    let checked = session(&id).check(&id, data, 0);
    let cost = match (cost, checked) {
        (Err(_), Ok(_)) => panic!("check accepted a message that cost() refused"),
        (Err(_), Err(_)) | (Ok(_), Err(_)) => return,
        (Ok(cost), Ok(checked)) => {
            assert_eq!(checked.cost, cost, "check costs as cost() does");
            cost
        }
    };
    assert!(cost.ops <= budget.max_ops && cost.changes <= budget.max_changes);
    assert!(cost.inflated_bytes <= budget.max_inflated_bytes);
    assert!(cost.hashes <= budget.max_hashes && cost.haves <= budget.max_haves);
    for base in [None, Some(registry())] {
        for access in [SyncAccess::ReadWrite, SyncAccess::ReadOnly] {
            let mut doc = base.cloned().unwrap_or_default();
            receive(&id, base, &mut doc, data, access, &cost);
        }
    }
}

fn receive(
    id: &DocId,
    base: Option<&AutoCommit>,
    doc: &mut AutoCommit,
    data: &[u8],
    access: SyncAccess,
    cost: &budget::MessageCost,
) {
    let mut s = session(id);
    let checked = s
        .check(id, data, 0)
        .expect("the same bytes pass the same checks");
    let before: Vec<ChangeHash> = doc.get_heads();
    match s.receive(id, doc, checked, access, 0) {
        Ok(received) => {
            // What the services do next: store what arrived, as bytes
            // that load back to the same heads.
            let stored = doc.save_after(&before);
            let mut reloaded = base.cloned().unwrap_or_default();
            reloaded
                .load_incremental(&stored)
                .expect("what was received and stored loads back");
            assert_eq!(reloaded.get_heads(), doc.get_heads(), "stored and reloaded");
            let added = doc.get_changes(&before);
            if access == SyncAccess::ReadOnly {
                assert!(
                    added.is_empty() && !received.changed && doc.get_heads() == before,
                    "a read-only peer's message changed the document"
                );
            }
            let ops: u64 = added.iter().map(|c| c.len() as u64).sum();
            assert!(
                ops <= cost.ops,
                "the message added {ops} operations; its cost said {}",
                cost.ops
            );
            assert!(
                added.len() as u64 <= cost.changes,
                "the message added {} changes; its cost said {}",
                added.len(),
                cost.changes
            );
            // The answer reads the peer's summaries and needs.
            let _ = s.generate(id, doc);
        }
        Err(SyncError::ReadOnly { .. }) => {
            assert_eq!(access, SyncAccess::ReadOnly);
            assert_eq!(doc.get_heads(), before, "a refused message changed nothing");
        }
        // The caller drops the document and reloads it from its store.
        Err(SyncError::Apply { .. }) => {}
        // A change Automerge would re-encode under another hash: refused
        // once its cost is known, before anything is applied.
        Err(SyncError::Corrupt { reason, .. }) if reason.contains("Automerge's own encoding") => {
            assert_eq!(doc.get_heads(), before, "a refused message changed nothing");
        }
        Err(e) => panic!("a checked message was refused as {e:?}"),
    }
}

/// One step of a [`FrameRun`].
#[derive(Arbitrary, Debug)]
enum FrameStep {
    /// A part as a peer may send it, numbers and all.
    Part {
        doc: u8,
        data: Vec<u8>,
        index: u32,
        count: u32,
        total: u64,
    },
    /// A whole message, split and pushed part by part; `drop` leaves one
    /// part out.
    Message {
        doc: u8,
        data: Vec<u8>,
        drop: Option<u8>,
    },
}

/// Limits and the parts that arrive under them.
#[derive(Arbitrary, Debug)]
struct FrameRun {
    max_frame_bytes: u8,
    max_message_bytes: u16,
    steps: Vec<FrameStep>,
}

fn frame_doc(n: u8) -> DocId {
    let c = community();
    match n % 4 {
        0 => DocId::Registry(c),
        1 => DocId::Cases(c),
        2 => DocId::Street,
        _ => DocId::Activity(
            c,
            chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap_or_default(),
        ),
    }
}

/// An arbitrary run of parts through a [`Reassembly`] (see the module doc).
pub fn frames(data: &[u8]) {
    let Ok(run) = FrameRun::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let limits = FrameLimits {
        max_frame_bytes: usize::from(run.max_frame_bytes),
        max_message_bytes: usize::from(run.max_message_bytes),
    };
    let mut r = Reassembly::new(limits);
    let push = |r: &mut Reassembly, part: Part| {
        let out = r.push(part);
        assert!(r.buffered() <= limits.max_message_bytes, "over the limit");
        if let Ok(Some((_, m))) = &out {
            assert!(
                m.len() <= limits.max_message_bytes,
                "a message over the limit"
            );
        }
        out
    };
    for step in run.steps {
        match step {
            FrameStep::Part {
                doc,
                data,
                index,
                count,
                total,
            } => {
                let _ = push(
                    &mut r,
                    Part {
                        doc: frame_doc(doc),
                        data,
                        index,
                        count,
                        total,
                    },
                );
            }
            FrameStep::Message { doc, data, drop } => {
                let doc = frame_doc(doc);
                let parts = split(&doc, data.clone(), limits.max_frame_bytes);
                let max = limits.max_frame_bytes.max(1);
                assert_eq!(parts.len(), data.len().div_ceil(max).max(1));
                assert!(parts.iter().all(|p| p.data.len() <= max));
                let n = parts.len();
                let drop = drop.map(|d| usize::from(d) % n).filter(|_| n > 1);
                // The round trip, in a reassembly of its own.
                let fits = limits.max_frame_bytes >= 1 && data.len() <= limits.max_message_bytes;
                let mut own = Reassembly::new(limits);
                for (i, p) in parts.iter().enumerate() {
                    if Some(i) == drop {
                        continue;
                    }
                    let out = push(&mut own, p.clone());
                    if drop.is_some() {
                        assert!(
                            !matches!(out, Ok(Some(_))),
                            "an incomplete message came out"
                        );
                    } else if fits {
                        let want = (i + 1 == n).then(|| (doc.clone(), data.clone()));
                        assert_eq!(out, Ok(want), "part {i} of {n}");
                    }
                }
                // The same parts into the run's reassembly, whatever it holds.
                for (i, p) in parts.into_iter().enumerate() {
                    if Some(i) != drop {
                        let _ = push(&mut r, p);
                    }
                }
            }
        }
    }
}

/// Asserts what every conversion error must be: naming a field, quoting
/// at most a short prefix of a bad value.
fn check_field_error(e: &FieldError) {
    assert!(!e.field.is_empty(), "an error naming no field: {e}");
    let shown = e.to_string().chars().count();
    assert!(shown <= 600, "an error of {shown} characters: {e}");
}

/// Bytes as each office and street record message (see the module doc).
pub fn records(data: &[u8]) {
    if let Ok(w) = pb::Record::decode(data) {
        round_trip::<pb::Record, Record>(w, |r| {
            if let Err(errs) = validate::fields(r, NOW_MS) {
                errs.iter().for_each(check_field_error);
            }
        });
    }
    if let Ok(w) = pb::CommunityInfo::decode(data) {
        round_trip::<pb::CommunityInfo, CommunityInfo>(w, |_| {});
    }
    if let Ok(w) = spb::StreetRecord::decode(data) {
        round_trip::<spb::StreetRecord, StreetRecord>(w, |r| {
            if let Err(gridsync_core::CoreError::Invalid(errs)) =
                gridsync_core::street::validate(r, NOW_MS)
            {
                errs.iter().for_each(check_field_error);
            }
        });
    }
    if let Ok(w) = spb::StreetDocument::decode(data) {
        let view = StreetView::from(w);
        let again = StreetView::from(spb::StreetDocument::from(view.clone()));
        assert_eq!(again, view, "a street document converts back to itself");
    }
    if let Ok(w) = pb::RosterRow::decode(data) {
        let (line, fields) = gridsync_proto::convert::roster_row_from_pb(w);
        let get = |key: &str| {
            fields
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let header = |key: &str| key.to_string();
        if let Err(errs) = roster::check_row(line, &get, &header) {
            for e in errs {
                assert_eq!(e.line, line);
                assert!(roster::COLUMNS.iter().any(|c| c.key == e.column), "{e}");
            }
        }
    }
}

/// Wire → core; when that converts, core → wire → core gives the same
/// value, and the wire form encodes and decodes to itself.
fn round_trip<W, C>(wire: W, check: impl Fn(&C))
where
    W: prost::Message + Default + PartialEq + std::fmt::Debug,
    C: TryFrom<W, Error = FieldError> + Into<W> + Clone + PartialEq + std::fmt::Debug,
{
    match C::try_from(wire) {
        Ok(core) => {
            check(&core);
            let back: W = core.clone().into();
            let bytes = back.encode_to_vec();
            let decoded = W::decode(bytes.as_slice()).expect("our own encoding decodes");
            assert_eq!(decoded, back, "the wire form encodes and decodes to itself");
            let again = C::try_from(back).expect("what converted converts back");
            assert_eq!(again, core, "the round trip changed the record");
        }
        Err(e) => check_field_error(&e),
    }
}

/// Bytes as a CSV roster (see the module doc).
pub fn roster(data: &[u8]) {
    // Lines the text can have, whichever ends them.
    let lines = 1 + data.iter().filter(|&&b| b == b'\n' || b == b'\r').count() as u64;
    let parsed = match roster::parse(data) {
        Ok(p) => p,
        Err(e) => {
            assert_eq!(e.line, 1, "a file error is on the header line: {e}");
            assert!(!e.reason.is_empty());
            return;
        }
    };
    let known_column = |e: &RowError| {
        e.column.is_empty()
            || roster::COLUMNS.iter().any(|c| {
                c.key == e.column || c.headers.iter().any(|h| h.eq_ignore_ascii_case(&e.column))
            })
    };
    for e in &parsed.errors {
        assert!(
            (2..=lines + 1).contains(&e.line),
            "line out of the file: {e}"
        );
        assert!(known_column(e), "a column the roster does not have: {e}");
        assert!(!e.reason.is_empty());
        assert!(e.to_string().chars().count() <= 600, "a long error: {e}");
    }
    let mut raw: Vec<RawRow> = Vec::new();
    for row in &parsed.rows {
        assert!((2..=lines + 1).contains(&row.line));
        let fields = row.raw_fields();
        let get = |key: &str| {
            fields
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };
        let header = |key: &str| key.to_string();
        let again = roster::check_row(row.line, &get, &header).expect("a good row checks again");
        assert_eq!(&again, row, "a row read back from its fields");
        raw.push((row.line, fields));
    }
    // The planner and the import: at most 20 rows, to keep runs fast.
    raw.truncate(20);
    let mut replica = CommunityReplica::new(
        community(),
        ActorId::from(&[1u8; 16][..]),
        Some(crate::person_key_secret()),
    );
    let ctx = EditContext {
        now_ms: NOW_MS,
        tz: crate::TIME_ZONE,
    };
    let mut n: u64 = 0;
    let mut new_id = |k: Kind| {
        n += 1;
        k.new_id(n.to_be_bytes(), None)
    };
    let secret = crate::person_key_secret();
    let first = roster::import_rows(&mut replica, &raw, &ctx, Some(&secret), &mut new_id);
    let lines_sent: Vec<u64> = raw.iter().map(|(l, _)| *l).collect();
    for e in &first.errors {
        assert!(lines_sent.contains(&e.line), "an error on no row sent: {e}");
        assert!(known_column(e), "{e}");
    }
    let second = roster::import_rows(&mut replica, &raw, &ctx, Some(&secret), &mut new_id);
    assert_eq!(
        second.records_created, 0,
        "importing the same rows twice created records the second time"
    );
}
