//! # gridsync-store
//!
//! The SQLite file each gridsync service keeps: every document as a
//! compacted snapshot plus the incremental chunks written since, the sync
//! state per (peer, document), and an audit row per acknowledged write.
//!
//! - [`Store`]: open (with an exclusive lock file and, normally, a
//!   [`StoreKey`]), claim for a community or a street, commit chunks + sync
//!   states + audit in one transaction, compact, read documents back
//!   ([`Store::read_doc`]).
//! - [`key`]: [`StoreKey`], the SQLCipher key, and its key file.
//! - [`reencrypt`]: a stopped store re-encrypted under a new key (or a
//!   plaintext one encrypted), crash-safe (a copy swapped in by rename);
//!   [`backup`]: an encrypted copy of a running store.
//! - [`private`]: files 0600 and folders 0700 whatever the umask.
//! - [`check`]: every stored document costed against a `StoredBudget`
//!   before Automerge loads it; `read_doc` refuses one over it by name, and
//!   `gridctl store check`/`repair` find and quarantine what made it so.
//! - [`schema`]: the schema version and the migrations from every older one.
//! - [`StoreError`]: what can go wrong, each variant naming the file.
//!
//! ## At rest
//!
//! A store opened with a key is encrypted with SQLCipher (AES-256 pages with
//! an HMAC each, the key applied raw as the connection's first statement
//! and checked by reading `sqlite_master`): the database, its WAL and the
//! backups made from it are unreadable without the key. A store is opened
//! without a key only when the service was told `insecure_plaintext_store`.
//! The database, `-wal`, `-shm` and `.lock` files are mode 0600 whatever the
//! umask (the database file is created 0600 before SQLite opens it, and
//! SQLite gives its `-wal`/`-shm` the database's mode); looser ones found on
//! open are tightened and logged once.
//!
//! ## What it refuses to do
//!
//! It holds no domain rules and no Automerge logic beyond loading stored
//! bytes (the core's `load_doc`); it never serves two processes at once
//! (the lock file), never opens a store newer than this build, and never
//! reports a commit as done before SQLite has it durably (WAL with
//! `synchronous=FULL`). Everything here is blocking: callers run it off the
//! async threads.

use std::path::{Path, PathBuf};

use automerge::ChangeHash;
use gridsync_core::sync::PersistedSync;
use gridsync_core::sync::stored::{Refusal, StoredBudget};
use gridsync_core::{Day, DocId};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

pub mod check;
pub mod key;
pub mod private;
mod reencrypt;
pub mod schema;

pub use key::StoreKey;
pub use reencrypt::{Reencrypted, backup, reencrypt};
use schema::MIGRATIONS;
pub use schema::STORE_VERSION;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "store {path} has schema version {found}, newer than {supported} which this build of gridsync writes; run a newer gridsync-node or gridsync-coordinator, or restore a backup made by this version"
    )]
    TooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error(
        "store {path} belongs to community {stored:?}, but this node is configured for {configured:?}; point data_dir at that community's store"
    )]
    WrongCommunity {
        path: PathBuf,
        stored: String,
        configured: String,
    },
    #[error(
        "store {path} is in use by another process (it holds {lock}); stop that process (gridsync-node or gridsync-coordinator) first, or give this one another data_dir"
    )]
    InUse { path: PathBuf, lock: PathBuf },
    #[error("store {path}: cannot create its lock file: {source}")]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "store {path}: the store key does not open it (wrong key, or the store is not encrypted); give the key it was encrypted with, or encrypt a plaintext store first with `gridctl store encrypt`"
    )]
    WrongKey { path: PathBuf },
    #[error(
        "store {path} cannot be read without a key: it is encrypted (or it is not a SQLite file); give its key (store_key_file, or the systemd credential gridsync-store-key)"
    )]
    NeedsKey { path: PathBuf },
    #[error(
        "store {path}: a key was given but this build of gridsync has no SQLCipher to apply it; build it with rusqlite's bundled-sqlcipher feature"
    )]
    NoCipher { path: PathBuf },
    #[error("store key file {path}: {reason}")]
    KeyFile { path: PathBuf, reason: String },
    #[error("cannot make a store key: the system's random source failed: {0}")]
    Random(String),
    #[error(
        "store {path}: the new key is the same as the old one; make a new key with `gridctl store keygen --out FILE`"
    )]
    SameKey { path: PathBuf },
    #[error("store {path} does not exist")]
    Missing { path: PathBuf },
    #[error(
        "{path}: cannot make it readable by this service alone (files 0600, folders 0700): {source}"
    )]
    Private {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A stored document's bytes do not load (damaged), or it was written
    /// by a newer version of gridsync.
    #[error("store {path}: document {doc}: {source}")]
    Document {
        path: PathBuf,
        doc: DocId,
        #[source]
        source: gridsync_core::CoreError,
    },
    /// A stored document over the stored budget (or whose bytes do not
    /// read), refused before Automerge loads it.
    #[error(
        "store {path}: document {doc} was not loaded: {refusal}. Stop the service and run `gridctl store check --db {path} --key-file <its key file>`, then `gridctl store repair` the same way (see docs/operations.md)"
    )]
    OverBudget {
        path: PathBuf,
        doc: DocId,
        refusal: Refusal,
    },
}

/// A stored document: its snapshot (if compacted) and chunks since, in order.
pub struct StoredDoc {
    pub snapshot: Option<Vec<u8>>,
    pub chunks: Vec<Vec<u8>>,
}

/// Sizes of one stored document.
#[derive(Clone, Copy, Debug, Default)]
pub struct DocStats {
    pub snapshot_bytes: u64,
    pub chunk_count: u64,
    pub chunk_bytes: u64,
}

/// Chunk bytes below which size alone never triggers a compaction.
const COMPACT_MIN_BYTES: u64 = 256 * 1024;

impl DocStats {
    /// Whether the document should be compacted into one snapshot: chunks
    /// are uncompressed changes, a snapshot is compressed and loads faster;
    /// compact when they are many, or large next to the snapshot.
    pub fn wants_compaction(&self, after_chunks: u64) -> bool {
        let large = self.chunk_bytes > (4 * self.snapshot_bytes).max(COMPACT_MIN_BYTES);
        self.chunk_count >= after_chunks || large
    }
}

/// New changes of one document: the bytes to append and the heads they reach.
pub struct DocWrite {
    pub id: DocId,
    pub bytes: Vec<u8>,
    pub heads: Vec<ChangeHash>,
}

/// The sync state of one document with one peer, stored with the changes
/// it came with.
pub struct SyncWrite<'a> {
    pub peer: &'a str,
    pub id: DocId,
    pub state: PersistedSync,
}

/// A stored document's id and heads (`None` where not yet recorded).
pub type StoredHeads = (DocId, Option<Vec<ChangeHash>>);

/// Heads as stored: the 32-byte hashes one after the other.
pub fn encode_heads(heads: &[ChangeHash]) -> Vec<u8> {
    heads.iter().flat_map(|h| h.0).collect()
}

pub fn decode_heads(bytes: &[u8]) -> Option<Vec<ChangeHash>> {
    if !bytes.len().is_multiple_of(32) {
        return None;
    }
    bytes
        .chunks(32)
        .map(|c| <[u8; 32]>::try_from(c).ok().map(ChangeHash))
        .collect()
}

/// What an acknowledged write is audited as. No personal data: the action
/// names kinds and ids only.
pub struct Audit<'a> {
    pub at_ms: i64,
    pub actor: &'a str,
    pub action: &'a str,
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// An exclusive lock on `<path>.lock`, held while the store is open: two
    /// processes compacting one file from their own memory would delete each
    /// other's chunks.
    _lock: std::fs::File,
}

impl Store {
    /// Opens (creating if needed) the store at `path` and brings its schema
    /// to this build's version. With `key`, the store is encrypted with it
    /// (a new one is created encrypted); a store the key does not open is
    /// refused ([`StoreError::WrongKey`]), as is an encrypted one opened
    /// without a key ([`StoreError::NeedsKey`]).
    pub fn open(path: &Path, key: Option<&StoreKey>) -> Result<Store, StoreError> {
        let mut tightened = Vec::new();
        let lock = lock(path, &mut tightened)?;
        let conn = connect(path, key, true, &mut tightened)?;
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
            _lock: lock,
        };
        store.configure()?;
        // SQLite gives the -wal and -shm it just made the database's mode;
        // check them anyway.
        tighten_files(path, &mut tightened)?;
        if !tightened.is_empty() {
            tracing::info!(
                store = %path.display(),
                tightened = %tightened.join(", "),
                "store files were open to other users; tightened to mode 0600"
            );
        }
        store.migrate()?;
        Ok(store)
    }

    fn err(&self, e: rusqlite::Error) -> StoreError {
        sqlite(&self.path, e)
    }

    fn configure(&self) -> Result<(), StoreError> {
        self.conn
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = FULL;
                 PRAGMA foreign_keys = ON;
                 PRAGMA busy_timeout = 5000;",
            )
            .map_err(|e| self.err(e))
    }

    pub fn schema_version(&self) -> Result<u32, StoreError> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let found = self.schema_version()?;
        if found > STORE_VERSION {
            return Err(StoreError::TooNew {
                path: self.path.clone(),
                found,
                supported: STORE_VERSION,
            });
        }
        if found == STORE_VERSION {
            return Ok(());
        }
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Exclusive)
            .map_err(|e| sqlite(&path, e))?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            tx.execute_batch(sql).map_err(|e| sqlite(&path, e))?;
            tracing::info!(from = i, to = i + 1, "migrated store schema");
        }
        tx.pragma_update(None, "user_version", STORE_VERSION)
            .map_err(|e| sqlite(&path, e))?;
        tx.commit().map_err(|e| sqlite(&path, e))
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn
            .execute("INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value", [key, value])
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Binds an empty store to `community`, or checks that a used one
    /// belongs to it.
    pub fn claim_community(&self, community: &str) -> Result<(), StoreError> {
        if self.meta("street_id")?.is_some() {
            return Err(StoreError::WrongCommunity {
                path: self.path.clone(),
                stored: "(a coordinator's store)".into(),
                configured: community.to_string(),
            });
        }
        match self.meta("community_id")? {
            Some(stored) if stored != community => Err(StoreError::WrongCommunity {
                path: self.path.clone(),
                stored,
                configured: community.to_string(),
            }),
            Some(_) => Ok(()),
            None => self.set_meta("community_id", community),
        }
    }

    /// Binds an empty store to a street's coordinator, or checks that a used
    /// one is that coordinator's.
    pub fn claim_street(&self, street: &str) -> Result<(), StoreError> {
        if let Some(c) = self.meta("community_id")? {
            return Err(StoreError::WrongCommunity {
                path: self.path.clone(),
                stored: c,
                configured: format!("(the coordinator of street {street})"),
            });
        }
        match self.meta("street_id")? {
            Some(stored) if stored != street => Err(StoreError::WrongCommunity {
                path: self.path.clone(),
                stored: format!("(the coordinator of street {stored})"),
                configured: format!("(the coordinator of street {street})"),
            }),
            Some(_) => Ok(()),
            None => self.set_meta("street_id", street),
        }
    }

    /// Every stored document with its heads (`None` where not yet known).
    pub fn doc_heads(&self) -> Result<Vec<StoredHeads>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT doc_id, heads FROM documents ORDER BY doc_id")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Option<Vec<u8>>>(1)?))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.err(e))?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, heads)| {
                let id = id.parse::<DocId>().ok()?;
                Some((id, heads.as_deref().and_then(decode_heads)))
            })
            .collect())
    }

    /// Records a document's heads (after loading one whose heads were not
    /// yet stored).
    pub fn set_heads(&self, id: &DocId, heads: &[ChangeHash]) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE documents SET heads = ?2 WHERE doc_id = ?1",
                params![id.to_string(), encode_heads(heads)],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// The stored sync state of one document with `peer`.
    pub fn sync_state(&self, peer: &str, id: &DocId) -> Result<Option<PersistedSync>, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT state, last_sync_ms FROM sync_state WHERE peer = ?1 AND doc_id = ?2",
            )
            .and_then(|mut stmt| {
                stmt.query_row(params![peer, id.to_string()], |r| {
                    Ok(PersistedSync {
                        state: r.get(0)?,
                        last_sync_ms: r.get(1)?,
                    })
                })
                .optional()
            })
            .map_err(|e| self.err(e))
    }

    /// The stored sync states with `peer`.
    pub fn sync_states(
        &self,
        peer: &str,
    ) -> Result<std::collections::HashMap<DocId, PersistedSync>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT doc_id, state, last_sync_ms FROM sync_state WHERE peer = ?1")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([peer], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                ))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.err(e))?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, state, last_sync_ms)| {
                Some((
                    id.parse::<DocId>().ok()?,
                    PersistedSync {
                        state,
                        last_sync_ms,
                    },
                ))
            })
            .collect())
    }

    pub fn load_doc(&self, id: &DocId) -> Result<Option<StoredDoc>, StoreError> {
        let key = id.to_string();
        let snapshot: Option<Option<Vec<u8>>> = self
            .conn
            .query_row(
                "SELECT snapshot FROM documents WHERE doc_id = ?1",
                [&key],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let Some(snapshot) = snapshot else {
            return Ok(None);
        };
        let mut stmt = self
            .conn
            .prepare_cached("SELECT bytes FROM doc_chunks WHERE doc_id = ?1 ORDER BY seq")
            .map_err(|e| self.err(e))?;
        let chunks = stmt
            .query_map([&key], |r| r.get::<_, Vec<u8>>(0))
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.err(e))?;
        Ok(Some(StoredDoc { snapshot, chunks }))
    }

    /// A stored document as Automerge loads it (snapshot, then chunks), its
    /// header checked; `None` if it was never stored. Its bytes are costed
    /// first: a document over the default [`StoredBudget`] is refused
    /// ([`StoreError::OverBudget`]) before Automerge sees it.
    pub fn read_doc(&self, id: &DocId) -> Result<Option<automerge::AutoCommit>, StoreError> {
        let Some(s) = self.load_doc(id)? else {
            return Ok(None);
        };
        check::refuse_over_budget(self, id, &s, &StoredBudget::default())?;
        gridsync_core::replica::load_doc(
            s.snapshot.as_deref(),
            s.chunks.iter().map(Vec::as_slice),
            id,
        )
        .map(Some)
        .map_err(|source| StoreError::Document {
            path: self.path.clone(),
            doc: id.clone(),
            source,
        })
    }

    /// The days of this community that have an activity document.
    pub fn activity_days(&self, community: &str) -> Result<Vec<Day>, StoreError> {
        let prefix = format!("activity/{community}/");
        let mut stmt = self
            .conn
            .prepare(
                "SELECT doc_id FROM documents WHERE doc_id >= ?1 AND doc_id < ?2 ORDER BY doc_id",
            )
            .map_err(|e| self.err(e))?;
        let ids = stmt
            .query_map(params![prefix, format!("{prefix}\u{ffff}")], |r| {
                r.get::<_, String>(0)
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.err(e))?;
        Ok(ids
            .iter()
            .filter_map(|s| match s.parse::<DocId>() {
                Ok(DocId::Activity(_, d)) => Some(d),
                _ => None,
            })
            .collect())
    }

    /// Commits the new chunks of several documents and the audit row in one
    /// transaction. When this returns `Ok`, the write is durable.
    ///
    /// `sync` states are stored in the same transaction, so a peer's changes
    /// and what we tell ourselves about that peer never disagree.
    pub fn commit(
        &mut self,
        chunks: &[DocWrite],
        sync: &[SyncWrite<'_>],
        audit: Option<&Audit<'_>>,
    ) -> Result<(), StoreError> {
        self.commit_group(
            chunks,
            sync,
            audit.map(std::slice::from_ref).unwrap_or_default(),
        )
    }

    /// [`Store::commit`] of a group of writes (a group commit: several
    /// acknowledged edits share one transaction and one fsync), with an
    /// audit row for each; every row names the documents the whole group
    /// wrote.
    pub fn commit_group(
        &mut self,
        chunks: &[DocWrite],
        sync: &[SyncWrite<'_>],
        audits: &[Audit<'_>],
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| sqlite(&path, e))?;
        let at_ms = audits.iter().map(|a| a.at_ms).max().unwrap_or(0);
        for DocWrite { id, bytes, heads } in chunks {
            let key = id.to_string();
            tx.prepare_cached(
                "INSERT INTO documents (doc_id, snapshot, updated_at_ms, heads) VALUES (?1, NULL, ?2, ?3)
                 ON CONFLICT(doc_id) DO UPDATE SET updated_at_ms = excluded.updated_at_ms, heads = excluded.heads",
            )
            .and_then(|mut st| st.execute(params![key, at_ms, encode_heads(heads)]))
            .map_err(|e| sqlite(&path, e))?;
            tx.prepare_cached(
                "INSERT INTO doc_chunks (doc_id, seq, bytes)
                 VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM doc_chunks WHERE doc_id = ?1), ?2)",
            )
            .and_then(|mut st| st.execute(params![key, bytes]))
            .map_err(|e| sqlite(&path, e))?;
            tx.prepare_cached(
                "UPDATE documents SET chunk_count = chunk_count + 1, chunk_bytes = chunk_bytes + ?2 WHERE doc_id = ?1",
            )
            .and_then(|mut st| st.execute(params![key, bytes.len() as i64]))
            .map_err(|e| sqlite(&path, e))?;
        }
        for w in sync {
            tx.prepare_cached(
                "INSERT INTO sync_state (peer, doc_id, state, last_sync_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(peer, doc_id) DO UPDATE SET state = excluded.state, last_sync_ms = excluded.last_sync_ms",
            )
            .and_then(|mut st| st.execute(params![w.peer, w.id.to_string(), w.state.state, w.state.last_sync_ms]))
            .map_err(|e| sqlite(&path, e))?;
        }
        let docs = chunks
            .iter()
            .map(|w| w.id.to_string())
            .collect::<Vec<_>>()
            .join(" ");
        for audit in audits {
            tx.prepare_cached(
                "INSERT INTO audit (at_ms, actor, action, docs) VALUES (?1, ?2, ?3, ?4)",
            )
            .and_then(|mut st| st.execute(params![audit.at_ms, audit.actor, audit.action, docs]))
            .map_err(|e| sqlite(&path, e))?;
        }
        tx.commit().map_err(|e| sqlite(&path, e))
    }

    /// Replaces a document's snapshot and chunks with one compacted
    /// snapshot, in one transaction. `snapshot` must contain every change of
    /// the stored chunks (it is the whole document, saved).
    pub fn compact(&mut self, id: &DocId, snapshot: &[u8], at_ms: i64) -> Result<(), StoreError> {
        let path = self.path.clone();
        let key = id.to_string();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| sqlite(&path, e))?;
        tx.execute(
            "INSERT INTO documents (doc_id, snapshot, updated_at_ms, chunk_count, chunk_bytes) VALUES (?1, ?2, ?3, 0, 0)
             ON CONFLICT(doc_id) DO UPDATE SET snapshot = excluded.snapshot, updated_at_ms = excluded.updated_at_ms, chunk_count = 0, chunk_bytes = 0",
            params![key, snapshot, at_ms],
        )
        .map_err(|e| sqlite(&path, e))?;
        tx.execute("DELETE FROM doc_chunks WHERE doc_id = ?1", [&key])
            .map_err(|e| sqlite(&path, e))?;
        tx.commit().map_err(|e| sqlite(&path, e))
    }

    pub fn doc_stats(&self, id: &DocId) -> Result<DocStats, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT COALESCE(LENGTH(snapshot), 0), chunk_count, chunk_bytes FROM documents WHERE doc_id = ?1",
            )
            .and_then(|mut st| {
                st.query_row([id.to_string()], |r| {
                    Ok(DocStats {
                        snapshot_bytes: r.get::<_, i64>(0)? as u64,
                        chunk_count: r.get::<_, i64>(1)? as u64,
                        chunk_bytes: r.get::<_, i64>(2)? as u64,
                    })
                })
            })
            .optional()
            .map(|o| o.unwrap_or_default())
            .map_err(|e| self.err(e))
    }

    /// Bytes of the database file and its WAL.
    pub fn file_bytes(&self) -> u64 {
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        size(&self.path) + size(Path::new(&wal))
    }

    pub fn audit_count(&self) -> Result<u64, StoreError> {
        self.conn
            .query_row("SELECT COUNT(*) FROM audit", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(|e| self.err(e))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs a WAL checkpoint so the main file holds everything (for backups
    /// and shutdown).
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        self.conn
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .map_err(|e| self.err(e))
    }

    /// Builds a store at an older schema version, for migration tests.
    #[doc(hidden)]
    pub fn create_at_version(
        path: &Path,
        version: u32,
        key: Option<&StoreKey>,
    ) -> Result<Connection, StoreError> {
        let conn = Store::raw_connection(path, key)?;
        for sql in MIGRATIONS.iter().take(version as usize) {
            conn.execute_batch(sql).map_err(|e| sqlite(path, e))?;
        }
        conn.pragma_update(None, "user_version", version)
            .map_err(|e| sqlite(path, e))?;
        Ok(conn)
    }

    /// A bare connection to the store at `path`, keyed, without its lock,
    /// for tests that damage or rewind a store.
    #[doc(hidden)]
    pub fn raw_connection(path: &Path, key: Option<&StoreKey>) -> Result<Connection, StoreError> {
        connect(path, key, true, &mut Vec::new())
    }
}

/// Takes the store's exclusive `<path>.lock` (mode 0600).
fn lock(path: &Path, tightened: &mut Vec<String>) -> Result<std::fs::File, StoreError> {
    let lock_path = sibling(path, ".lock");
    let (lock, loose) = private::open_file(&lock_path).map_err(|source| StoreError::Lock {
        path: path.to_path_buf(),
        source,
    })?;
    if loose {
        tightened.push(lock_path.display().to_string());
    }
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::InUse {
            path: path.to_path_buf(),
            lock: lock_path,
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(StoreError::Lock {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// `path` with `suffix` appended (`x.sqlite3` + `-wal`).
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// Tightens the database and the files SQLite keeps beside it.
fn tighten_files(path: &Path, tightened: &mut Vec<String>) -> Result<(), StoreError> {
    for p in [
        path.to_path_buf(),
        sibling(path, "-wal"),
        sibling(path, "-shm"),
        sibling(path, "-journal"),
    ] {
        if private::tighten(&p).map_err(|source| StoreError::Private {
            path: p.clone(),
            source,
        })? {
            tightened.push(p.display().to_string());
        }
    }
    Ok(())
}

/// A connection to the database at `path` (created mode 0600 if missing
/// and `create`), keyed with `key` as its first statement, and checked to
/// read: the key's errors are told apart from others.
fn connect(
    path: &Path,
    key: Option<&StoreKey>,
    create: bool,
    tightened: &mut Vec<String>,
) -> Result<Connection, StoreError> {
    tighten_files(path, tightened)?;
    if !path.exists() {
        if !create {
            return Err(StoreError::Missing {
                path: path.to_path_buf(),
            });
        }
        match private::create_new_file(path) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(source) => {
                return Err(StoreError::Private {
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
    }
    let conn = Connection::open(path).map_err(|e| sqlite(path, e))?;
    if let Some(key) = key {
        // SQLCipher's own log (a wrong key's HMAC failures) would go to
        // stderr beside the service's structured logs; the errors below
        // say what happened.
        conn.execute_batch(&format!("{} PRAGMA cipher_log_level = NONE;", key.pragma()))
            .map_err(|e| sqlite(path, e))?;
        let cipher: Option<String> = conn
            .query_row("PRAGMA cipher_version", [], |r| r.get(0))
            .optional()
            .map_err(|e| sqlite(path, e))?;
        if cipher.is_none() {
            return Err(StoreError::NoCipher {
                path: path.to_path_buf(),
            });
        }
    }
    match conn.query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    }) {
        Ok(_) => Ok(conn),
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase) => {
            let path = path.to_path_buf();
            Err(match key {
                Some(_) => StoreError::WrongKey { path },
                None => StoreError::NeedsKey { path },
            })
        }
        Err(e) => Err(sqlite(path, e)),
    }
}

fn sqlite(path: &Path, source: rusqlite::Error) -> StoreError {
    StoreError::Sqlite {
        path: path.to_path_buf(),
        source,
    }
}
