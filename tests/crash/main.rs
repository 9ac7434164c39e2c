//! Real processes killed with SIGKILL in a stream of acknowledged writes:
//! nothing acknowledged is lost; and stopped with SIGTERM: promptly.
//!
//! - `node_kill`: one `gridsync-node` killed at seeded moments.
//! - `street_kill`: a coordinator and three nodes behind fault proxies,
//!   twenty kills of either side (`GRIDSYNC_SEED`, `GRIDSYNC_KILLS`).
//! - `shutdown`: SIGTERM with the link between them healthy, silently cut,
//!   or with a redial hanging: each side exits well inside its grace.
//! - `services`: the binaries as these tests start and stop them, their
//!   certificates, flags and clients.

mod node_kill;
mod services;
mod shutdown;
mod street_kill;
