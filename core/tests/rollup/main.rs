//! The five-level rollup: every figure placed by the module's rules,
//! additive at every level whatever concurrent edits leave behind, the same
//! digest for the same documents whatever order their changes arrived in;
//! persons counted once at street level; the sign-off and its state; the
//! daily report as CSV and JSON.
//!
//! - `placement`: every record placed by the rules, and the figures of one
//!   community.
//! - `determinism`: the same changes in any order give the same figures and
//!   digest; digests checked against a node's report.
//! - `street_tree`: a person in two communities is counted once.
//! - `sign_off`: the sign-off written, read back and checked.
//! - `daily_report`: the daily report as CSV and JSON.
//! - `properties`: rollups stay additive under random concurrent edits.
//! - `support`: the helpers they share (rollups of a replica, forks, new
//!   communities); `common` is the fixture shared with the other targets.

#[path = "../common/mod.rs"]
mod common;
mod daily_report;
mod determinism;
mod placement;
mod properties;
mod sign_off;
mod street_tree;
mod support;
