//! The daily report's sign-off (每日上报): a community office signs off its
//! figures for a date — who, when, which heads, which digest.
//!
//! A sign-off lives in the community's **cases** document, at the root key
//! `sign_off/<YYYY-MM-DD>` (one per date, the latest write wins if two are
//! made concurrently), so it syncs to the street with everything else and
//! needs no new collection in the frozen genesis.

use automerge::AutoCommit;
use serde::{Deserialize, Serialize};

use crate::error::CoreError;
use crate::ids::Day;
use crate::rollup::{CommunityRollup, RollupHeads};

/// A community's sign-off of its figures for one date.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignOff {
    pub date: Day,
    /// Who signed (a name; 1–64 characters).
    pub signed_by: String,
    pub signed_at_ms: i64,
    /// The time zone of the rollup signed.
    pub tz: String,
    pub rollup_version: u32,
    /// The heads the signed figures reflect.
    pub heads: RollupHeads,
    /// The digest of the signed figures.
    pub digest: String,
}

impl SignOff {
    /// The sign-off of `rollup` by `signed_by` at `now_ms`, validated
    /// (signer name 1–64 characters after trimming, no control characters).
    pub fn of(rollup: &CommunityRollup, signed_by: &str, now_ms: i64) -> Result<SignOff, CoreError> {
        let _ = (rollup, signed_by, now_ms);
        Err(CoreError::invalid("signed_by", "not implemented"))
    }
}

/// Writes `s` into the cases document (uncommitted: the caller commits).
pub fn put(cases: &mut AutoCommit, s: &SignOff) -> Result<(), CoreError> {
    let _ = (cases, s);
    Ok(())
}

/// The sign-off for `date`, if any; an unreadable one is `None`.
pub fn get(cases: &AutoCommit, date: Day) -> Option<SignOff> {
    let _ = (cases, date);
    None
}

/// Where a community's report for a date stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SignOffState {
    NotSigned,
    Signed { sign_off: SignOff },
    /// Signed, then the day's activity document got edits the sign-off did
    /// not see, or the figures changed (edits to the registry or cases that
    /// change that day's figures).
    ChangedSinceSignOff { sign_off: SignOff, why: String },
}

/// Compares a sign-off with the current rollup of its community and date.
pub fn state(sign_off: Option<&SignOff>, current: &CommunityRollup) -> SignOffState {
    let _ = current;
    match sign_off {
        None => SignOffState::NotSigned,
        Some(s) => SignOffState::Signed { sign_off: s.clone() },
    }
}
