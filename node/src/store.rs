//! The node's durable store: one SQLite file holding every document of the
//! community as a compacted snapshot plus the incremental chunks written
//! since, and an audit row per acknowledged write.
//!
//! Durability: WAL with `synchronous=FULL`, so a committed transaction
//! survives power loss; every local edit's chunk and its audit row commit in
//! one transaction before the API answers. Versioning: the schema version is
//! SQLite's `user_version`; opening an older store runs the migrations after
//! it in one transaction, a newer one is refused. All of this is blocking
//! and runs off the async threads (see `office`).

use std::path::{Path, PathBuf};

use gridsync_core::{Day, DocId};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

/// The schema version this build writes.
pub const STORE_VERSION: u32 = 2;

/// Migrations, in order: `MIGRATIONS[i]` takes a store from version `i` to
/// `i + 1`. Never edit one that has shipped; add the next.
const MIGRATIONS: &[&str] = &[
    // 0 -> 1: documents as snapshot + chunks.
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
     CREATE TABLE documents (
         doc_id TEXT PRIMARY KEY,
         snapshot BLOB,
         updated_at_ms INTEGER NOT NULL
     );
     CREATE TABLE doc_chunks (
         doc_id TEXT NOT NULL,
         seq INTEGER NOT NULL,
         bytes BLOB NOT NULL,
         PRIMARY KEY (doc_id, seq)
     );",
    // 1 -> 2: an audit row per acknowledged write; per-document chunk
    // accounting so compaction needs no scan.
    "CREATE TABLE audit (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         at_ms INTEGER NOT NULL,
         actor TEXT NOT NULL,
         action TEXT NOT NULL,
         docs TEXT NOT NULL
     );
     ALTER TABLE documents ADD COLUMN chunk_count INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE documents ADD COLUMN chunk_bytes INTEGER NOT NULL DEFAULT 0;
     UPDATE documents SET
         chunk_count = (SELECT COUNT(*) FROM doc_chunks c WHERE c.doc_id = documents.doc_id),
         chunk_bytes = (SELECT COALESCE(SUM(LENGTH(bytes)), 0) FROM doc_chunks c WHERE c.doc_id = documents.doc_id);",
];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "store {path} has schema version {found}, newer than {supported} which this gridsync-node writes; run a newer gridsync-node or restore a backup made by this version"
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
        "store {path} is in use by another process (it holds {lock}); stop that gridsync-node first, or give this one another data_dir"
    )]
    InUse { path: PathBuf, lock: PathBuf },
    #[error("store {path}: cannot create its lock file: {source}")]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("store {path}: document {doc} is damaged: {message}")]
    Damaged {
        path: PathBuf,
        doc: String,
        message: String,
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
    /// to this build's version.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let mut lock_path = path.as_os_str().to_owned();
        lock_path.push(".lock");
        let lock_path = PathBuf::from(lock_path);
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| StoreError::Lock {
                path: path.to_path_buf(),
                source,
            })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::InUse {
                    path: path.to_path_buf(),
                    lock: lock_path,
                });
            }
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(StoreError::Lock {
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
        let conn = Connection::open(path).map_err(|e| sqlite(path, e))?;
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
            _lock: lock,
        };
        store.configure()?;
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
    pub fn commit(
        &mut self,
        chunks: &[(DocId, Vec<u8>)],
        audit: &Audit<'_>,
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| sqlite(&path, e))?;
        for (id, bytes) in chunks {
            let key = id.to_string();
            tx.execute(
                "INSERT INTO documents (doc_id, snapshot, updated_at_ms) VALUES (?1, NULL, ?2)
                 ON CONFLICT(doc_id) DO UPDATE SET updated_at_ms = excluded.updated_at_ms",
                params![key, audit.at_ms],
            )
            .map_err(|e| sqlite(&path, e))?;
            tx.execute(
                "INSERT INTO doc_chunks (doc_id, seq, bytes)
                 VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM doc_chunks WHERE doc_id = ?1), ?2)",
                params![key, bytes],
            )
            .map_err(|e| sqlite(&path, e))?;
            tx.execute(
                "UPDATE documents SET chunk_count = chunk_count + 1, chunk_bytes = chunk_bytes + ?2 WHERE doc_id = ?1",
                params![key, bytes.len() as i64],
            )
            .map_err(|e| sqlite(&path, e))?;
        }
        let docs = chunks
            .iter()
            .map(|(id, _)| id.to_string())
            .collect::<Vec<_>>()
            .join(" ");
        tx.execute(
            "INSERT INTO audit (at_ms, actor, action, docs) VALUES (?1, ?2, ?3, ?4)",
            params![audit.at_ms, audit.actor, audit.action, docs],
        )
        .map_err(|e| sqlite(&path, e))?;
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
            .query_row(
                "SELECT COALESCE(LENGTH(snapshot), 0), chunk_count, chunk_bytes FROM documents WHERE doc_id = ?1",
                [id.to_string()],
                |r| {
                    Ok(DocStats {
                        snapshot_bytes: r.get::<_, i64>(0)? as u64,
                        chunk_count: r.get::<_, i64>(1)? as u64,
                        chunk_bytes: r.get::<_, i64>(2)? as u64,
                    })
                },
            )
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
    pub fn create_at_version(path: &Path, version: u32) -> Result<Connection, StoreError> {
        let conn = Connection::open(path).map_err(|e| sqlite(path, e))?;
        for sql in MIGRATIONS.iter().take(version as usize) {
            conn.execute_batch(sql).map_err(|e| sqlite(path, e))?;
        }
        conn.pragma_update(None, "user_version", version)
            .map_err(|e| sqlite(path, e))?;
        Ok(conn)
    }
}

fn sqlite(path: &Path, source: rusqlite::Error) -> StoreError {
    StoreError::Sqlite {
        path: path.to_path_buf(),
        source,
    }
}
