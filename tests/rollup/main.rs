//! The five-level rollups over real gRPC: additive at every level, stamped
//! with what they include, never going back, the daily report and sign-off.
//!
//! - `digests`: a node cut off while both sides edit converges to the
//!   union with matching digests; mismatched digests are reported.
//! - `freshness`: rollups never go back across restarts and restores; a
//!   community that cannot be computed is marked.
//! - `report`: the daily report, its stamps and sign-off; bad dispatched
//!   tickets.
//! - `common`: what they share: populating a node, reading the rollup,
//!   the additivity check and the oracle.

mod common;
mod digests;
mod freshness;
mod report;
