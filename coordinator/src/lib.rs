//! # gridsync-coordinator
//!
//! The street's service. It holds a replica of every community's documents
//! and the street's own document in one SQLite file, syncs with every
//! community's node over one long-lived gRPC stream per node, and serves the
//! street's operators. The layers, from the wire inwards:
//!
//! - [`server`]: the tonic server (mutual TLS, health, reflection,
//!   keep-alive, graceful shutdown that ends every session).
//! - [`sync_service`]: the `Sync` service: authentication, the handshake
//!   checks, one session task per node (the loop is
//!   `gridsync_sync::session`, the decisions are `gridsync_core::sync`).
//! - [`operator`]: the `Street` operator API: communities and their links,
//!   the street document, tickets dispatched to communities.
//! - [`replicas`]: `StreetReplicas`: receive → commit (with the sync
//!   state) → answer; operators' edits; each commit brings the rollups up
//!   to date. It locks itself one part at a time, so that one community
//!   never stalls another. It is made of:
//!   - [`shard`]: the parts and their locks: each community's documents and
//!     rollups, the street document; the lock order;
//!   - [`docs`]: `DocSet`, one part's documents bound to the store, loaded
//!     on demand, their heads published for reading without the part's
//!     lock;
//!   - [`links`]: each community's link and the operators' list;
//!   - [`rollups`]: `CommunityRollups`, one community's views and rollups
//!     kept current from each commit;
//!   - [`report`]: the street's stamped report across the communities,
//!     never served older than already served, waiting on a busy community
//!     at most `report::BUSY_WAIT`;
//!   - [`summary`]: `NodeSummary`, the street's top figures as nodes get
//!     them with their reports, cut once per computation to what a node may
//!     see;
//!   - [`served`]: `ServedLog`, the record of the last rollup served per
//!     community and date, in files beside the store.
//! - [`metrics`]: the Prometheus metrics (per community: link, fresh,
//!   last heard, last in sync, documents behind and ahead, held, digest
//!   check; commit and report times; sync traffic), read at scrape time
//!   from the same definitions as the rollup stamps.
//! - [`config`]: the one settings struct (file < environment < flags).
//!
//! ## What it refuses to do
//!
//! It never applies a change a peer may not make (a node writing another
//! community's documents or the street document), never sends a node
//! another community's documents or even their ids, never answers a sync
//! message before the changes it brought are committed, and without a
//! certificate (or, in development, a token) serves nobody.
//!
//! The store is `gridsync_store`, the session loop and TLS
//! `gridsync_sync`, and what both services share `gridsync_svc`; the
//! coordinator never depends on the node.

pub mod config;
pub mod docs;
pub mod error;
pub mod links;
pub mod metrics;
pub mod operator;
pub mod replicas;
pub mod report;
pub mod rollups;
pub mod served;
pub mod server;
pub mod shard;
pub mod summary;
pub mod sync_service;
