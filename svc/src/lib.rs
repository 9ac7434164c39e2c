//! # gridsync-svc
//!
//! What both gridsync services (`gridsync-node`, `gridsync-coordinator`)
//! share around their own logic, so that each is written once:
//!
//! - [`process`]: `main` for a service: a checked config (exit 2 if it is
//!   wrong), logs, a runtime, an exit code; the address file; a process's
//!   memory.
//! - [`config`]: settings from a TOML file, the environment and flags, in
//!   that order of precedence.
//! - [`grpc`]: health and reflection listing exactly the services served,
//!   common transport settings, serving until a shutdown signal with a
//!   grace period.
//! - [`clock`]: [`Clock`], the one clock, made in `main` and passed down.
//! - [`blocking`]: [`blocking()`], the one way to run blocking work on shared
//!   state, with the one answer to a poisoned lock ([`Recover`]).
//! - [`memory`]: [`memory::Ceiling`], a memory ceiling kept by refusing
//!   work (reservations) rather than growing past it.
//! - [`error`]: [`ApiError`] and the one mapping to gRPC status codes.
//! - [`metrics`]: Prometheus metrics: the instruments both services keep
//!   (commit and rollup times, sync traffic), helpers for scrape-time
//!   collectors, and the `/metrics` HTTP endpoint.
//!
//! ## What it refuses to do
//!
//! No domain logic and no service of its own: it knows the store's and the
//! core's errors only to give them a status code. Nothing here reads the
//! wall clock except [`Clock::system`].

pub mod blocking;
pub mod clock;
pub mod config;
pub mod error;
pub mod grpc;
pub mod memory;
pub mod metrics;
pub mod process;

pub use blocking::{BlockingError, Recover, Shared, blocking, on_pool, quick};
pub use clock::Clock;
pub use error::ApiError;
