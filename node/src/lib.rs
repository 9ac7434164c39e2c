//! # gridsync-node
//!
//! The service a community office runs, as a library so that tests and
//! tools can start it in-process. The layers, from the wire inwards:
//!
//! - [`server`]: the tonic server with health, reflection, keep-alive and a
//!   graceful shutdown with a deadline.
//! - [`service`]: the office API; proto ⇄ core conversions at the door
//!   (`TryFrom`, errors naming the field), work sent to the blocking pool,
//!   one `From<OfficeError> for Status`.
//! - [`office`]: `Office`, the community replica bound to its store: edit,
//!   commit, then answer; reload on a failed commit.
//! - [`link`]: the node's link to the coordinator: dial, hand-shake, sync, redial.
//! - [`session`]: the sync session loop shared with the coordinator.
//! - [`store`]: the SQLite file: snapshot + chunks per document, audit rows,
//!   versioned schema with migrations.
//! - [`process`]: what the service binaries share around `main`.
//! - [`proxy`]: a loopback TCP fault proxy for the demo and partition tests.
//! - [`config`]: the one settings struct (file < environment < flags).
//! - [`demo`]: a deterministic demo community, as a roster.
//! - [`demo_street`]: a deterministic demo street (seven communities, a
//!   month of work) written straight into node and coordinator stores.
//! - [`tls`]: the street CA's certificates, identities from certificates or
//!   development tokens, TLS settings for both ends, `gridctl certs`.
//! - [`client`]: what `gridctl` uses: connecting, masking personal data.
//!
//! ## What it refuses to do
//!
//! It holds no domain rules (they are in `gridsync-core`), logs no personal
//! data (ids and kinds only), and never acknowledges a write before its bytes
//! are committed to SQLite.

pub mod client;
pub mod config;
pub mod demo;
pub mod demo_street;
pub mod link;
pub mod office;
pub mod process;
pub mod proxy;
pub mod server;
pub mod service;
pub mod session;
pub mod store;
pub mod tls;
