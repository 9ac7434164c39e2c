//! [`reencrypt`]: a stopped store re-encrypted under a new key (key
//! rotation), or a plaintext store encrypted; [`backup`]: a consistent,
//! encrypted copy of a running store.
//!
//! It works on a copy and swaps it in by rename, so a crash at any point
//! leaves one whole store: the old one (opened by the old key) until the
//! rename, the new one (opened by the new key) after it. Steps: take the
//! store's lock (so it fails at once while the service runs), open it with
//! the old key (refused by name if that key does not open it), checkpoint
//! its WAL into the file, export everything into `<store>.rekey` keyed with
//! the new key (`sqlcipher_export`, then the schema version), check
//! the copy (opened with the new key: `quick_check`, schema version and the
//! rows of every table), give it the store's owner, fsync it, drop the old
//! connection (its WAL is empty and goes), rename the copy over the store
//! and fsync the folder.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension};

use crate::{StoreError, StoreKey, connect, lock, private, sibling, sqlite};

/// What a re-encryption moved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reencrypted {
    /// Schema version of the store (unchanged).
    pub schema_version: u32,
    /// Rows per table, the same before and after.
    pub rows: Vec<(String, u64)>,
    /// Bytes of the new file.
    pub bytes: u64,
}

/// Re-encrypts the store at `path` (which must exist and not be open) from
/// `old` (`None`: a plaintext store) to `new`.
pub fn reencrypt(
    path: &Path,
    old: Option<&StoreKey>,
    new: &StoreKey,
) -> Result<Reencrypted, StoreError> {
    let failed = |e: std::io::Error| StoreError::Private {
        path: path.to_path_buf(),
        source: e,
    };
    if old == Some(new) {
        return Err(StoreError::SameKey {
            path: path.to_path_buf(),
        });
    }
    if !path.is_file() {
        return Err(StoreError::Missing {
            path: path.to_path_buf(),
        });
    }
    let _lock = lock(path, &mut Vec::new())?;
    let conn = connect(path, old, false, &mut Vec::new())?;
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .map_err(|e| sqlite(path, e))?;

    // The copy: a left-over one (an interrupted run) is never the store.
    let copy = sibling(path, ".rekey");
    for p in [copy.clone(), sibling(&copy, "-journal")] {
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(failed(e)),
        }
    }
    drop(private::create_new_file(&copy).map_err(failed)?);
    let (schema_version, before) = copy_into(&conn, &copy, new)?;
    // The copy takes the store's owner (root rotating the key of a
    // service that runs as its own user must not leave it a file it
    // cannot read).
    {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).map_err(failed)?;
        std::os::unix::fs::chown(&copy, Some(m.uid()), Some(m.gid())).map_err(failed)?;
    }
    std::fs::File::open(&copy)
        .and_then(|f| f.sync_all())
        .map_err(failed)?;
    conn.close().map_err(|(_, e)| sqlite(path, e))?;
    // Closing the last connection removed the (checkpointed) WAL; a WAL
    // left now would be applied to the new file, so none may stay.
    let wal = sibling(path, "-wal");
    if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
        return Err(StoreError::Private {
            path: wal,
            source: std::io::Error::other(
                "the store's WAL was not emptied by its checkpoint; the store was left as it was",
            ),
        });
    }
    for p in [wal, sibling(path, "-shm")] {
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(failed(e)),
        }
    }
    std::fs::rename(&copy, path).map_err(failed)?;
    if let Some(dir) = parent(path) {
        std::fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(failed)?;
    }
    let bytes = std::fs::metadata(path).map(|m| m.len()).map_err(failed)?;
    Ok(Reencrypted {
        schema_version,
        rows: before,
        bytes,
    })
}

/// Copies the store of `conn` into the new, empty file `copy`, encrypted
/// with `key`, in one read transaction (a consistent snapshot even while
/// the service writes), and checks the copy opened with `key`. Returns the
/// schema version and the rows per table copied.
fn copy_into(
    conn: &Connection,
    copy: &Path,
    key: &StoreKey,
) -> Result<(u32, Vec<(String, u64)>), StoreError> {
    let copy_str = copy.to_str().ok_or_else(|| StoreError::Private {
        path: copy.to_path_buf(),
        source: std::io::Error::other("the path is not UTF-8"),
    })?;
    conn.execute(
        "ATTACH DATABASE ?1 AS rekeyed KEY ?2",
        [copy_str, key.sqlcipher_literal().as_str()],
    )
    .map_err(|e| sqlite(copy, e))?;
    let copied = (|| {
        conn.execute_batch("BEGIN;")?;
        let version: u32 = conn.query_row("PRAGMA main.user_version", [], |r| r.get(0))?;
        let rows = rows(conn)?;
        conn.query_row("SELECT sqlcipher_export('rekeyed')", [], |_| Ok(()))
            .optional()?;
        // sqlcipher_export (4.20) leaves the schema version at 0.
        conn.execute_batch(&format!("PRAGMA rekeyed.user_version = {version}; COMMIT;"))?;
        Ok((version, rows))
    })();
    let copied = match copied {
        Ok(c) => c,
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK;");
            let _ = conn.execute_batch("DETACH DATABASE rekeyed;");
            return Err(sqlite(copy, e));
        }
    };
    conn.execute_batch("DETACH DATABASE rekeyed;")
        .map_err(|e| sqlite(copy, e))?;

    // Check the copy with its key before anything relies on it.
    let check = connect(copy, Some(key), false, &mut Vec::new())?;
    let ok: String = check
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|e| sqlite(copy, e))?;
    let version: u32 = check
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| sqlite(copy, e))?;
    let after = rows(&check).map_err(|e| sqlite(copy, e))?;
    if ok != "ok" || version != copied.0 || after != copied.1 {
        return Err(StoreError::Private {
            path: copy.to_path_buf(),
            source: std::io::Error::other(format!(
                "the copy does not match the store (check: {ok}, schema {version} vs {}, rows {after:?} vs {:?}); the store was left as it was",
                copied.0, copied.1
            )),
        });
    }
    Ok(copied)
}

/// A consistent copy of the store at `path` in the new file `out`,
/// encrypted with the store's own `key` (a plaintext store has no backup
/// here: encrypt it first). Safe while the service runs: it reads one snapshot through its own connection and takes no
/// lock. `out` must not exist; it is written mode 0600 and fsynced.
pub fn backup(path: &Path, key: &StoreKey, out: &Path) -> Result<Reencrypted, StoreError> {
    let failed = |e: std::io::Error| StoreError::Private {
        path: out.to_path_buf(),
        source: e,
    };
    let conn = connect(path, Some(key), false, &mut Vec::new())?;
    conn.busy_timeout(std::time::Duration::from_secs(30))
        .map_err(|e| sqlite(path, e))?;
    drop(private::create_new_file(out).map_err(failed)?);
    let copied = copy_into(&conn, out, key).and_then(|c| {
        std::fs::File::open(out)
            .and_then(|f| f.sync_all())
            .map_err(failed)?;
        if let Some(dir) = parent(out) {
            std::fs::File::open(&dir)
                .and_then(|d| d.sync_all())
                .map_err(failed)?;
        }
        Ok(c)
    });
    let (schema_version, rows) = match copied {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_file(out);
            let _ = std::fs::remove_file(sibling(out, "-journal"));
            return Err(e);
        }
    };
    let bytes = std::fs::metadata(out).map(|m| m.len()).map_err(failed)?;
    Ok(Reencrypted {
        schema_version,
        rows,
        bytes,
    })
}

fn parent(path: &Path) -> Option<PathBuf> {
    match path.parent() {
        Some(p) if p.as_os_str().is_empty() => Some(PathBuf::from(".")),
        Some(p) => Some(p.to_path_buf()),
        None => None,
    }
}

/// Rows of every table of the main database, by name.
fn rows(conn: &Connection) -> rusqlite::Result<Vec<(String, u64)>> {
    let mut stmt =
        conn.prepare("SELECT name FROM main.sqlite_master WHERE type = 'table' ORDER BY name")?;
    let names = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    names
        .into_iter()
        .map(|name| {
            let sql = format!(
                "SELECT COUNT(*) FROM main.\"{}\"",
                name.replace('"', "\"\"")
            );
            let n: i64 = conn.query_row(&sql, [], |r| r.get(0))?;
            Ok((name, n as u64))
        })
        .collect()
}
