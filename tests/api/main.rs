//! The office API over real gRPC against a node with a real SQLite store.
//!
//! - `office`: every record kind through its whole life, bad input refused
//!   with the field named and nothing changed, the error codes, the
//!   queries, a restart on the same store, gRPC health and reflection.
//! - `import`: roster import through the API.
//! - `reflection`: reflection lists exactly what a process serves.

mod import;
mod office;
mod reflection;
