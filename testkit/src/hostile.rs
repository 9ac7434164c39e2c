//! Hostile peers' messages, made by hand the way an attacker makes them:
//! real Automerge bytes rewritten so that a few bytes claim a lot, with
//! their checksums recomputed so that nothing but a budget stops them.
//!
//! - [`op_bomb`]: a change inserting a few nulls into a new list, every run
//!   of its op columns rewritten to claim `ops` operations (158 bytes or so
//!   claim 33.6 million).
//! - [`inflate_bomb`]: a compressed change chunk whose data inflates to
//!   `bytes` bytes.
//! - [`have_flood`]: a message claiming `n` summaries in a few bytes.
//! - [`sync_message`]: a sync message carrying chunks; [`corrupt`] flips a
//!   byte inside a message's first chunk.

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ObjType, ROOT, ScalarValue};
use gridsync_core::sync::wire::{self, ColumnType, MAGIC, Reader};

fn uleb(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn sleb(out: &mut Vec<u8>, mut n: i64) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        let done = (n == 0 && b & 0x40 == 0) || (n == -1 && b & 0x40 != 0);
        out.push(if done { b } else { b | 0x80 });
        if done {
            return;
        }
    }
}

/// A chunk of `kind` (0 document, 1 change, 2 compressed) around `data`,
/// with the checksum Automerge computes of `checksummed` (the data itself,
/// or for a compressed chunk the change data it inflates to).
pub fn chunk(kind: u8, data: &[u8], checksummed: &[u8]) -> Vec<u8> {
    let hash = wire::chunk_hash(if kind == 2 { 1 } else { kind }, checksummed);
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&hash[..4]);
    out.push(kind);
    uleb(&mut out, data.len() as u64);
    out.extend_from_slice(data);
    out
}

/// A version-1 sync message with no heads or needs, one empty summary,
/// and `entries` as its changes.
pub fn sync_message(entries: &[Vec<u8>]) -> Vec<u8> {
    let mut m = vec![0x42, 0, 0, 1, 0, 0];
    uleb(&mut m, entries.len() as u64);
    for e in entries {
        uleb(&mut m, e.len() as u64);
        m.extend_from_slice(e);
    }
    m
}

/// A real change of a fresh document of the given actor: a new list with
/// three nulls. Returns the change chunk's data (after its header).
fn small_change() -> Vec<u8> {
    let mut doc = AutoCommit::new().with_actor(ActorId::from(&[7u8; 16][..]));
    let list = doc.put_object(ROOT, "bomb", ObjType::List).expect("a list");
    for i in 0..3 {
        doc.insert(&list, i, ScalarValue::Null).expect("a null");
    }
    doc.commit();
    let raw = doc
        .get_last_local_change()
        .expect("the change just made")
        .raw_bytes()
        .to_vec();
    let mut r = Reader::new(&raw);
    let c = wire::RawChunk::read(&mut r).expect("Automerge's own chunk reads");
    c.data.to_vec()
}

/// The first value of an RLE column, re-encoded, or `None` for a column
/// with no value to repeat.
fn first_value(t: ColumnType, data: &[u8]) -> Option<Vec<u8>> {
    let mut r = Reader::new(data);
    let count = r.sleb("run").ok()?;
    if count == 0 {
        return None;
    }
    let start = r.rest();
    match t {
        ColumnType::String => {
            r.prefixed("value").ok()?;
        }
        ColumnType::DeltaInteger => {
            r.sleb("value").ok()?;
        }
        _ => {
            r.uleb("value").ok()?;
        }
    }
    Some(start[..start.len() - r.remaining()].to_vec())
}

/// A change chunk whose every op column claims `ops` rows: the small
/// change's columns, each rewritten to one run of `ops` copies of its first
/// value (a null run where it had none), its checksum recomputed.
pub fn op_bomb(ops: u64) -> Vec<u8> {
    let data = small_change();
    let mut r = Reader::new(&data);
    let mut head = Vec::new();
    // Dependencies, actor, sequence, first op, time, message, other actors:
    // copied as they are.
    let start = r.rest();
    let deps = r.count(32, "deps").expect("deps");
    r.take(deps * 32, "deps").expect("deps");
    r.prefixed("actor").expect("actor");
    r.uleb("seq").expect("seq");
    r.uleb("start op").expect("start op");
    r.sleb("time").expect("time");
    r.prefixed("message").expect("message");
    let others = r.count(1, "actors").expect("actors");
    for _ in 0..others {
        r.prefixed("actor").expect("actor");
    }
    head.extend_from_slice(&start[..start.len() - r.remaining()]);
    let meta = wire::column_meta(&mut r, "columns").expect("columns");
    let cols = wire::columns(&mut r, &meta, "data").expect("data");
    let extra = r.rest().to_vec();
    let mut new_cols: Vec<(u32, Vec<u8>)> = Vec::new();
    for c in &cols {
        let t = c.col_type();
        let bytes = match t {
            ColumnType::Value => c.data.to_vec(),
            ColumnType::Boolean => {
                let mut b = Vec::new();
                uleb(&mut b, ops);
                b
            }
            _ => {
                let mut b = Vec::new();
                match first_value(t, c.data) {
                    Some(v) => {
                        sleb(&mut b, ops as i64);
                        b.extend(v);
                    }
                    None => {
                        b.push(0);
                        uleb(&mut b, ops);
                    }
                }
                b
            }
        };
        new_cols.push((c.spec, bytes));
    }
    let mut out = head;
    uleb(&mut out, new_cols.len() as u64);
    for (spec, bytes) in &new_cols {
        uleb(&mut out, u64::from(*spec));
        uleb(&mut out, bytes.len() as u64);
    }
    for (_, bytes) in &new_cols {
        out.extend(bytes);
    }
    out.extend(extra);
    chunk(1, &out, &out)
}

/// A compressed change chunk: the small change with `bytes` zero bytes of
/// "extra" data appended (Automerge keeps a change's trailing bytes), all
/// DEFLATE-compressed, its checksum that of the inflated change. Built a
/// mebibyte at a time, so that making the bomb does not itself take the
/// memory it would (the tests measure the peak of their own process).
pub fn inflate_bomb(bytes: usize) -> Vec<u8> {
    use sha2::Digest;
    use std::io::Write;
    let head = small_change();
    let total = (head.len() + bytes) as u64;
    let mut hash = sha2::Sha256::new();
    hash.update([1u8]);
    let mut len = Vec::new();
    uleb(&mut len, total);
    hash.update(&len);
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(&head).expect("compress in memory");
    hash.update(&head);
    let zeros = vec![0u8; 1024 * 1024];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(zeros.len());
        z.write_all(&zeros[..n]).expect("compress in memory");
        hash.update(&zeros[..n]);
        left -= n;
    }
    let compressed = z.finish().expect("compress in memory");
    let checksum: [u8; 32] = hash.finalize().into();
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&checksum[..4]);
    out.push(2);
    uleb(&mut out, compressed.len() as u64);
    out.extend_from_slice(&compressed);
    out
}

/// A sync message claiming `n` summaries in a few bytes.
pub fn have_flood(n: u64) -> Vec<u8> {
    let mut m = vec![0x42, 0, 0];
    uleb(&mut m, n);
    m.extend([0u8; 64]);
    m
}

/// `msg` with one byte of its first chunk's checksum flipped: a change
/// whose bytes no longer hash to the checksum it carries (whether or not
/// its data is compressed).
pub fn corrupt(msg: &[u8]) -> Vec<u8> {
    let mut bad = msg.to_vec();
    let at = bad
        .windows(4)
        .position(|w| w == MAGIC)
        .expect("a message with a chunk");
    // The checksum's first byte, right after the magic.
    bad[at + 4] ^= 0xff;
    bad
}

#[cfg(test)]
mod tests {
    use gridsync_core::sync::budget::{BudgetError, MessageBudget, cost};

    use super::*;

    #[test]
    fn an_op_bomb_is_small_claims_its_operations_and_has_a_good_checksum() {
        let bomb = sync_message(&[op_bomb(33_554_432)]);
        assert!(bomb.len() < 400, "{} bytes", bomb.len());
        // Its checksum is good (a bad one is refused as corrupt before
        // anything is counted), and it claims every operation.
        let e = cost(&bomb, &MessageBudget::default()).unwrap_err();
        assert!(
            matches!(
                e,
                BudgetError::Over {
                    limit: "max_message_ops",
                    value: 33_554_432,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn an_inflate_bomb_is_refused_at_the_cap() {
        let bomb = sync_message(&[inflate_bomb(200 * 1024 * 1024)]);
        assert!(bomb.len() < 1024 * 1024, "{} bytes", bomb.len());
        let e = cost(&bomb, &MessageBudget::default()).unwrap_err();
        assert!(
            matches!(
                e,
                BudgetError::Over {
                    limit: "max_message_inflated_bytes",
                    ..
                }
            ),
            "{e}"
        );
        // A small one inflates and checks out.
        assert!(
            cost(
                &sync_message(&[inflate_bomb(1000)]),
                &MessageBudget::default()
            )
            .is_ok()
        );
    }

    #[test]
    fn a_corrupt_message_and_a_flood_are_corrupt() {
        let ok = sync_message(&[inflate_bomb(10)]);
        assert!(matches!(
            cost(&corrupt(&ok), &MessageBudget::default()),
            Err(BudgetError::Corrupt(_))
        ));
        assert!(matches!(
            cost(&have_flood(33_554_432), &MessageBudget::default()),
            Err(BudgetError::Corrupt(_))
        ));
    }
}
