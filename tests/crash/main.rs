//! Real processes killed with SIGKILL in a stream of acknowledged writes:
//! nothing acknowledged is lost.
//!
//! - `node_kill`: one `gridsync-node` killed at seeded moments.
//! - `street_kill`: a coordinator and three nodes behind fault proxies,
//!   twenty kills of either side (`GRIDSYNC_SEED`, `GRIDSYNC_KILLS`).

mod node_kill;
mod street_kill;
