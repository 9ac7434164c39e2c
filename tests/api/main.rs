//! The office API over real gRPC against a node with a real SQLite store.
//!
//! - `common`: what the office tests share: the client, the fixture, a
//!   valid record of every kind and a change to it, calls that return the
//!   status.
//! - `records`: every record kind through its whole life; listing page by
//!   page.
//! - `bad_input`: bad input refused with the field named and nothing
//!   changed, not even a day document.
//! - `refusals`: the other error codes, and removals refused while other
//!   records point at the record.
//! - `queries`: the queries answer from the records.
//! - `restart`: a restart on the same store keeps everything acknowledged.
//! - `health`: gRPC health and reflection of the office service.
//! - `import`: roster import through the API.
//! - `reflection`: reflection lists exactly what a process serves.

mod bad_input;
mod common;
mod health;
mod import;
mod queries;
mod records;
mod reflection;
mod refusals;
mod restart;
