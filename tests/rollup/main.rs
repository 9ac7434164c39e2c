//! The five-level rollups over real gRPC: additive at every level, stamped
//! with what they include, never going back, the daily report and sign-off.
//!
//! - `digests`: a node cut off while both sides edit converges to the
//!   union with matching digests; mismatched digests are reported.
//! - `freshness`: rollups never go back across restarts and restores; a
//!   community that cannot be computed is marked.
//! - `isolation`: a community busy applying a message stalls neither
//!   another community's sync nor the operators' calls.
//! - `report`: the daily report, its stamps and sign-off; bad dispatched
//!   tickets.
//! - `common`: what they share: populating a node, reading the rollup,
//!   the additivity check and the oracle.

mod common;
mod digests;
mod freshness;
mod isolation;
mod report;
