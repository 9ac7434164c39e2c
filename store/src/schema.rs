//! The store's schema: its version (SQLite's `user_version`) and the
//! migrations that bring an older store to it. A migration that has shipped
//! is never edited; a change of schema adds the next one.

/// The schema version this build writes.
pub const STORE_VERSION: u32 = 4;

/// Migrations, in order: `MIGRATIONS[i]` takes a store from version `i` to
/// `i + 1`. Never edit one that has shipped; add the next.
pub(crate) const MIGRATIONS: &[&str] = &[
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
    // 2 -> 3: each document's heads (NULL until known: filled in by loading
    // the document), so a sync handshake needs no document loaded; the sync
    // state per (peer, document), so a reconnect resumes.
    "ALTER TABLE documents ADD COLUMN heads BLOB;
     CREATE TABLE sync_state (
         peer TEXT NOT NULL,
         doc_id TEXT NOT NULL,
         state BLOB NOT NULL,
         last_sync_ms INTEGER,
         PRIMARY KEY (peer, doc_id)
     );",
    // 3 -> 4: pieces of documents moved aside by `gridctl store repair`
    // (over the stored budget, or unreadable), kept to be inspected.
    "CREATE TABLE quarantine (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         doc_id TEXT NOT NULL,
         piece TEXT NOT NULL,
         bytes BLOB NOT NULL,
         reason TEXT NOT NULL,
         at_ms INTEGER NOT NULL
     );",
];
