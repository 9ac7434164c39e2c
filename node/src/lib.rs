//! # gridsync-node
//!
//! The service a community office runs, as a library so that tests and
//! tools can start it in-process. The layers, from the wire inwards:
//!
//! - [`server`]: the tonic server with health, reflection, keep-alive and a
//!   graceful shutdown with a deadline.
//! - [`service`]: the office API; proto ⇄ core conversions at the door
//!   (`TryFrom`, errors naming the field), work sent to the blocking pool.
//! - [`writes`]: group commit of the API's edits: concurrent edits share
//!   one transaction and one fsync, each answered once durable.
//! - [`office`]: `Office`, the community replica bound to its store: edit,
//!   commit, then answer; reload on a failed commit.
//! - [`link`]: the node's link to the coordinator: dial, hand-shake, sync
//!   (the loop is `gridsync_sync::session`), redial; and the digest reports.
//! - [`metrics`]: the Prometheus metrics (link up, last heard,
//!   unacknowledged changes, sessions, sync traffic; commit and rollup
//!   times), read at scrape time.
//! - [`config`]: the one settings struct (file < environment < flags).
//!
//! The store is `gridsync_store`, the session loop and TLS `gridsync_sync`,
//! and what both services share (process start, the clock, the blocking
//! helper, the error → status mapping) `gridsync_svc`.
//!
//! ## What it refuses to do
//!
//! It holds no domain rules (they are in `gridsync-core`), logs no personal
//! data (ids and kinds only), never acknowledges a write before its bytes
//! are committed to SQLite, and reads no clock but the one `main` hands it.

pub mod config;
pub mod link;
pub mod metrics;
pub mod office;
pub mod server;
pub mod service;
pub mod writes;
