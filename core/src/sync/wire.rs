//! Reading Automerge's binary formats by hand, without trusting a single
//! number in them: every count is checked against the bytes left before
//! anything is sized from it, and nothing here allocates in proportion to
//! what a peer claims. This is what lets [`super::budget`] cost a message
//! before Automerge expands it.
//!
//! The formats (Automerge 0.12): a sync message is a type byte, then heads,
//! needs, haves and changes, each length-prefixed; a change entry holds one
//! or more chunks (`magic, checksum, type, length, data`); a change chunk
//! has its ops in columns, a document chunk its changes and ops in columns
//! that may each be DEFLATE-compressed, a compressed chunk is a whole
//! change chunk's data compressed.

use std::fmt;

/// A read of bytes that ran out, or a number that does not fit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireError(pub String);

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub type WireResult<T> = Result<T, WireError>;

fn err<T>(what: impl Into<String>) -> WireResult<T> {
    Err(WireError(what.into()))
}

/// A cursor over untrusted bytes.
#[derive(Clone, Copy)]
pub struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes }
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len()
    }

    pub fn rest(&self) -> &'a [u8] {
        self.bytes
    }

    pub fn byte(&mut self, what: &str) -> WireResult<u8> {
        let (&b, rest) = self
            .bytes
            .split_first()
            .ok_or_else(|| WireError(format!("{what}: cut short")))?;
        self.bytes = rest;
        Ok(b)
    }

    pub fn take(&mut self, n: u64, what: &str) -> WireResult<&'a [u8]> {
        if n > self.bytes.len() as u64 {
            return err(format!(
                "{what}: {n} bytes claimed, {} left",
                self.bytes.len()
            ));
        }
        let (head, rest) = self.bytes.split_at(n as usize);
        self.bytes = rest;
        Ok(head)
    }

    /// An unsigned LEB128 number (at most 10 bytes).
    pub fn uleb(&mut self, what: &str) -> WireResult<u64> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = self.byte(what)?;
            let part = u64::from(b & 0x7f);
            if i == 9 && part > 1 {
                return err(format!("{what}: a number over 64 bits"));
            }
            v |= part << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        err(format!("{what}: a number over 64 bits"))
    }

    /// A signed LEB128 number (at most 10 bytes).
    pub fn sleb(&mut self, what: &str) -> WireResult<i64> {
        let mut v: i64 = 0;
        let mut shift = 0;
        loop {
            let b = self.byte(what)?;
            if shift >= 64 {
                return err(format!("{what}: a number over 64 bits"));
            }
            v |= i64::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                if shift < 64 && b & 0x40 != 0 {
                    v |= -1i64 << shift;
                }
                return Ok(v);
            }
        }
    }

    /// A count of items each at least `min_item_bytes` long: refused if the
    /// bytes left could not hold that many, before anything is sized from
    /// it.
    pub fn count(&mut self, min_item_bytes: u64, what: &str) -> WireResult<u64> {
        let n = self.uleb(what)?;
        let room = self.bytes.len() as u64 / min_item_bytes.max(1);
        if n > room {
            return err(format!(
                "{what}: {n} claimed, but the {} bytes left hold at most {room}",
                self.bytes.len()
            ));
        }
        Ok(n)
    }

    /// `n` change hashes.
    pub fn hashes(&mut self, what: &str) -> WireResult<Vec<[u8; 32]>> {
        let n = self.count(32, what)?;
        let mut out = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let h = self.take(32, what)?;
            let mut a = [0u8; 32];
            a.copy_from_slice(h);
            out.push(a);
        }
        Ok(out)
    }

    /// Length-prefixed bytes.
    pub fn prefixed(&mut self, what: &str) -> WireResult<&'a [u8]> {
        let n = self.uleb(what)?;
        self.take(n, what)
    }
}

/// The first bytes of every Automerge chunk.
pub const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

/// The kinds of chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkKind {
    Document,
    Change,
    Compressed,
    Bundle,
}

/// One chunk as it stands in the bytes.
pub struct RawChunk<'a> {
    pub kind: ChunkKind,
    pub checksum: [u8; 4],
    pub data: &'a [u8],
}

impl<'a> RawChunk<'a> {
    /// The next chunk of `r`.
    pub fn read(r: &mut Reader<'a>) -> WireResult<RawChunk<'a>> {
        if r.take(4, "a chunk's magic bytes")? != MAGIC {
            return err("not an Automerge chunk (wrong magic bytes)");
        }
        let mut checksum = [0u8; 4];
        checksum.copy_from_slice(r.take(4, "a chunk's checksum")?);
        let kind = match r.byte("a chunk's type")? {
            0 => ChunkKind::Document,
            1 => ChunkKind::Change,
            2 => ChunkKind::Compressed,
            3 => ChunkKind::Bundle,
            t => return err(format!("unknown chunk type {t}")),
        };
        let len = r.uleb("a chunk's length")?;
        let data = r.take(len, "a chunk's data")?;
        Ok(RawChunk {
            kind,
            checksum,
            data,
        })
    }
}

/// The hash Automerge gives a chunk of `kind` holding `data` (the first
/// four bytes are its checksum; for a change, the whole is its hash).
pub fn chunk_hash(kind: u8, data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    let mut len = Vec::with_capacity(10);
    let mut n = data.len() as u64;
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            len.push(b);
            break;
        }
        len.push(b | 0x80);
    }
    h.update([kind]);
    h.update(&len);
    h.update(data);
    h.finalize().into()
}

/// The type of a column, the low three bits of its specification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnType {
    Group,
    Actor,
    Integer,
    DeltaInteger,
    Boolean,
    String,
    ValueMetadata,
    Value,
}

/// A column's specification and its bytes.
pub struct Column<'a> {
    pub spec: u32,
    pub data: &'a [u8],
}

impl Column<'_> {
    pub fn col_type(&self) -> ColumnType {
        match self.spec & 0b111 {
            0 => ColumnType::Group,
            1 => ColumnType::Actor,
            2 => ColumnType::Integer,
            3 => ColumnType::DeltaInteger,
            4 => ColumnType::Boolean,
            5 => ColumnType::String,
            6 => ColumnType::ValueMetadata,
            _ => ColumnType::Value,
        }
    }

    pub fn deflated(&self) -> bool {
        self.spec & 0b1000 != 0
    }
}

/// Column specifications and lengths (`RawColumns`): how many, then each
/// spec and its length.
pub fn column_meta(r: &mut Reader<'_>, what: &str) -> WireResult<Vec<(u32, u64)>> {
    // Each column's metadata is at least two bytes.
    let n = r.count(2, what)?;
    let mut out = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let spec = r.uleb(what)?;
        let spec = u32::try_from(spec)
            .map_err(|_| WireError(format!("{what}: a column spec over 32 bits")))?;
        let len = r.uleb(what)?;
        out.push((spec, len));
    }
    Ok(out)
}

/// The columns of `meta`, cut from `r` in order.
pub fn columns<'a>(
    r: &mut Reader<'a>,
    meta: &[(u32, u64)],
    what: &str,
) -> WireResult<Vec<Column<'a>>> {
    let mut out = Vec::with_capacity(meta.len());
    for &(spec, len) in meta {
        out.push(Column {
            spec,
            data: r.take(len, what)?,
        });
    }
    Ok(out)
}

/// How many rows a column holds, and for a group column the items its
/// groups hold (the sum of its values), counted without expanding a run:
/// saturating, never allocating.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rows {
    pub rows: u64,
    pub grouped: u64,
}

/// Counts the rows of an (inflated) column.
pub fn column_rows(col_type: ColumnType, data: &[u8]) -> WireResult<Rows> {
    let mut r = Reader::new(data);
    let mut out = Rows::default();
    match col_type {
        ColumnType::Value => {}
        ColumnType::Boolean => {
            while !r.is_empty() {
                out.rows = out.rows.saturating_add(r.uleb("a boolean column")?);
            }
        }
        _ => {
            while !r.is_empty() {
                let count = r.sleb("a run's length")?;
                if count > 0 {
                    let v = rle_value(&mut r, col_type)?;
                    out.rows = out.rows.saturating_add(count as u64);
                    out.grouped = out.grouped.saturating_add(v.saturating_mul(count as u64));
                } else if count < 0 {
                    let n = count.unsigned_abs();
                    for _ in 0..n {
                        let v = rle_value(&mut r, col_type)?;
                        out.grouped = out.grouped.saturating_add(v);
                    }
                    out.rows = out.rows.saturating_add(n);
                } else {
                    out.rows = out.rows.saturating_add(r.uleb("a null run")?);
                }
            }
        }
    }
    Ok(out)
}

/// One value of a run; for group columns its number (the items in the
/// group), else 0.
fn rle_value(r: &mut Reader<'_>, col_type: ColumnType) -> WireResult<u64> {
    match col_type {
        ColumnType::String => {
            r.prefixed("a string value")?;
            Ok(0)
        }
        ColumnType::DeltaInteger => {
            r.sleb("a delta value")?;
            Ok(0)
        }
        ColumnType::Group => r.uleb("a group's size"),
        _ => {
            r.uleb("a value")?;
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leb128_reads_what_automerge_writes_and_refuses_overflow() {
        assert_eq!(Reader::new(&[0xe5, 0x8e, 0x26]).uleb("x").unwrap(), 624_485);
        assert_eq!(Reader::new(&[0x7f]).sleb("x").unwrap(), -1);
        assert_eq!(
            Reader::new(&[0xc0, 0xbb, 0x78]).sleb("x").unwrap(),
            -123_456
        );
        assert!(Reader::new(&[0xff; 11]).uleb("x").is_err());
        assert!(Reader::new(&[0x80]).uleb("x").is_err());
    }

    #[test]
    fn a_count_the_bytes_cannot_hold_is_refused_before_anything_is_sized() {
        // 33.5M entries of 33 bytes claimed in 10 bytes.
        let mut bytes = vec![0x80, 0x80, 0x80, 0x10];
        bytes.extend([0u8; 10]);
        let e = Reader::new(&bytes).count(33, "haves").unwrap_err();
        assert!(e.0.contains("33554432 claimed"), "{e}");
    }

    #[test]
    fn run_lengths_are_summed_without_expanding() {
        // A run of 33.6M copies of one value, then a literal run of two,
        // then a null run of five.
        let mut col = Vec::new();
        let mut n: u64 = 33_554_432;
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            let more = n != 0 || b & 0x40 != 0;
            col.push(if more { b | 0x80 } else { b });
            if !more {
                break;
            }
        }
        col.push(3); // the value
        col.extend([0x7e, 1, 2]); // -2: a literal run of two
        col.extend([0, 5]); // a null run of five
        let rows = column_rows(ColumnType::Integer, &col).unwrap();
        assert_eq!(rows.rows, 33_554_432 + 2 + 5);
        let groups = column_rows(ColumnType::Group, &col).unwrap();
        assert_eq!(groups.grouped, 33_554_432 * 3 + 1 + 2);
        assert_eq!(
            column_rows(ColumnType::Boolean, &[3, 2, 1]).unwrap().rows,
            6
        );
    }

    #[test]
    fn a_chunk_is_read_and_its_hash_is_automerges() {
        let mut doc = automerge::AutoCommit::new();
        use automerge::transaction::Transactable;
        doc.put(automerge::ROOT, "k", 1).unwrap();
        doc.commit();
        let change = doc.get_last_local_change().unwrap().clone();
        let bytes = change.raw_bytes().to_vec();
        let mut r = Reader::new(&bytes);
        let chunk = RawChunk::read(&mut r).unwrap();
        assert!(r.is_empty());
        assert_eq!(chunk.kind, ChunkKind::Change);
        let h = chunk_hash(1, chunk.data);
        assert_eq!(h, change.hash().0);
        assert_eq!(chunk.checksum, h[..4]);
    }
}
