//! Sync between a coordinator and nodes in this process, over mutual TLS:
//! concurrent edits converge, restarts of either side, resumption from the
//! persisted sync state within a stated bound, catch-ups larger than the
//! message limit; the metrics endpoints of both services (`metrics`).

mod convergence;
mod liveness;
mod metrics;
