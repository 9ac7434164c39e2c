//! A view refreshed from what changed between two sets of heads
//! (`refresh_changed`, `CommunityReplica::refresh_doc`) is the view a full
//! re-read gives, whatever the edits: accepted edits, raw writes of the
//! wrong types, removed or replaced collections, unknown root keys, and
//! concurrent edits merged from another replica.
//!
//! - `property`: after any random step (edits, raw writes, merges) views
//!   refreshed from the changes equal a full read.
//! - `records`: refreshes record by record: one household, a sign-off, the
//!   community, concurrent last visits, an unreadable community mended.
//! - `fallbacks`: when a refresh falls back to a full read of the document
//!   (unknown root keys, replaced collections, most records changed, heads
//!   that do not fit, a first sync).
//! - `support`: the base replica, forks, full reads and comparisons;
//!   `common` is the fixture shared with the other targets.

#[path = "../common/mod.rs"]
mod common;
mod fallbacks;
mod property;
mod records;
mod support;
