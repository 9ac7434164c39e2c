//! The daily report (每日上报) of a date, for one community or for the
//! street: the rollup tree, stamped with what each community's figures
//! include and where its sign-off stands, as CSV and JSON.

use std::collections::HashMap;

use chrono::{SecondsFormat, TimeZone};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::ids::Day;
use crate::rollup::{DigestCheck, Level, Node, PersonConflict, Stamp};
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
/// `Figures::columns` (which ends with the `gaps` total), then the
/// community's stamp columns (`heads_registry, heads_cases, heads_day,
/// heads_street, digest, last_sync, stale, held, digest_check, sign_off,
/// signed_by, signed_at`; empty on rows above the community level). Heads
/// are `;`-joined hex; `heads_day` is the heads of the as-of date's
/// activity document. Instants (`last_sync`, `signed_at`) are RFC 3339 in
/// the report's time zone (UTC if it is not a known zone). Fields holding a
/// comma, quote or newline are quoted.
pub fn to_csv(r: &DailyReport) -> String {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let mut header: Vec<&str> = vec![
        "level",
        "community_id",
        "compound_id",
        "building_id",
        "group_id",
        "name",
    ];
    header.extend(r.tree.figures.columns().iter().map(|(name, _)| *name));
    header.extend(STAMP_COLUMNS);
    // Writing into a Vec cannot fail; a failed row would only shorten the text.
    let _ = w.write_record(&header);
    let stamps: HashMap<&str, &ReportStamp> = r
        .stamps
        .iter()
        .map(|s| (s.stamp.community_id.as_str(), s))
        .collect();
    let ctx = RowContext {
        report: r,
        stamps: &stamps,
        tz: r.tz.parse().unwrap_or(chrono_tz::UTC),
    };
    write_rows(&mut w, &ctx, &r.tree, &mut Vec::new());
    let bytes = w.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

const STAMP_COLUMNS: [&str; 13] = [
    "heads_registry",
    "heads_cases",
    "heads_day",
    "heads_street",
    "digest",
    "last_sync",
    "stale",
    "held",
    "digest_check",
    "sign_off",
    "signed_by",
    "signed_at",
    "unavailable",
];

struct RowContext<'a> {
    report: &'a DailyReport,
    stamps: &'a HashMap<&'a str, &'a ReportStamp>,
    tz: Tz,
}

/// Writes `node`'s row and its children's, depth first. `path` holds the
/// ids from the community node down to `node`'s parent.
fn write_rows<'a>(
    w: &mut csv::Writer<Vec<u8>>,
    ctx: &RowContext<'_>,
    node: &'a Node,
    path: &mut Vec<&'a str>,
) {
    let below_street = node.level != Level::Street;
    if below_street {
        path.push(&node.id);
    }
    let mut ids = ["", "", "", ""];
    for (slot, id) in ids.iter_mut().zip(path.iter()) {
        *slot = id;
    }
    let mut row: Vec<String> = vec![level_name(node.level).to_string()];
    row.extend(ids.iter().map(|s| s.to_string()));
    row.push(node.name.clone());
    row.extend(node.figures.columns().iter().map(|(_, n)| n.to_string()));
    let stamp = if below_street {
        path.first().and_then(|c| ctx.stamps.get(c))
    } else {
        None
    };
    match stamp {
        Some(s) => row.extend(stamp_columns(ctx, s)),
        None => row.extend(STAMP_COLUMNS.iter().map(|_| String::new())),
    }
    let _ = w.write_record(row.into_iter().map(neutralized));
    for c in &node.children {
        write_rows(w, ctx, c, path);
    }
    if below_street {
        path.pop();
    }
}

fn level_name(l: Level) -> &'static str {
    match l {
        Level::Street => "street",
        Level::Community => "community",
        Level::Compound => "compound",
        Level::Building => "building",
        Level::Group => "group",
    }
}

fn stamp_columns(ctx: &RowContext<'_>, s: &ReportStamp) -> Vec<String> {
    let heads = &s.stamp.heads;
    let day = ctx.report.as_of.format("%Y-%m-%d").to_string();
    let instant = |ms: i64| {
        ctx.tz
            .timestamp_millis_opt(ms)
            .single()
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, false))
            .unwrap_or_else(|| ms.to_string())
    };
    let digest_check = match &s.stamp.digest_check {
        DigestCheck::Match => "match",
        DigestCheck::Mismatch { .. } => "mismatch",
        DigestCheck::Pending => "pending",
        DigestCheck::NotReported => "not_reported",
    };
    let (sign_off, signed) = match &s.sign_off {
        SignOffState::NotSigned => ("not_signed", None),
        SignOffState::Signed { sign_off } => ("signed", Some(sign_off)),
        SignOffState::ChangedSinceSignOff { sign_off, .. } => {
            ("changed_since_sign_off", Some(sign_off))
        }
    };
    vec![
        heads.registry.join(";"),
        heads.cases.join(";"),
        heads
            .days
            .get(&day)
            .map(|h| h.join(";"))
            .unwrap_or_default(),
        heads.street.join(";"),
        s.stamp.digest.clone(),
        s.stamp.last_sync_ms.map(instant).unwrap_or_default(),
        s.stamp.stale.to_string(),
        s.stamp.held.to_string(),
        digest_check.to_string(),
        sign_off.to_string(),
        signed.map(|x| x.signed_by.clone()).unwrap_or_default(),
        signed.map(|x| instant(x.signed_at_ms)).unwrap_or_default(),
        s.stamp.unavailable.clone().unwrap_or_default(),
    ]
}

/// A cell a spreadsheet would run as a formula (`=…`, `+…`, `-…`, `@…`)
/// gets a leading `'`: a name or a signer typed as `=HYPERLINK(…)` is shown,
/// not run, when the street office opens the report.
fn neutralized(cell: String) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell,
    }
}
