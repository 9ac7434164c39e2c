//! The daily report's sign-off (每日上报): a community office signs off its
//! figures for a date — who, when, which heads, which digest.
//!
//! A sign-off lives in the community's **cases** document, at the root key
//! `sign_off/<YYYY-MM-DD>` (one per date, the latest write wins if two are
//! made concurrently), so it syncs to the street with everything else and
//! needs no new collection in the frozen genesis.

use std::collections::BTreeMap;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT, ReadDoc, Value};
use autosurgeon::{Hydrate, Reconcile, reconcile_prop};
use serde::{Deserialize, Serialize};

use crate::docs;
use crate::error::CoreError;
use crate::ids::{Day, DocId};
use crate::model::Date;
use crate::rollup::{CommunityRollup, RollupHeads};

/// The longest signer name, in characters.
pub const MAX_SIGNER_CHARS: usize = 64;

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
    /// The name is stored trimmed.
    pub fn of(
        rollup: &CommunityRollup,
        signed_by: &str,
        now_ms: i64,
    ) -> Result<SignOff, CoreError> {
        let signed_by = check_signer(signed_by)?;
        Ok(SignOff {
            date: rollup.as_of,
            signed_by,
            signed_at_ms: now_ms,
            tz: rollup.tz.clone(),
            rollup_version: rollup.rollup_version,
            heads: rollup.heads.clone(),
            digest: rollup.digest.clone(),
        })
    }
}

/// The signer's name, trimmed, or why it is refused.
fn check_signer(name: &str) -> Result<String, CoreError> {
    let name = name.trim();
    let n = name.chars().count();
    if n == 0 {
        return Err(CoreError::invalid(
            "signed_by",
            "must not be empty: who signs the report?",
        ));
    }
    if n > MAX_SIGNER_CHARS {
        return Err(CoreError::invalid(
            "signed_by",
            format!("is {n} characters long; at most {MAX_SIGNER_CHARS} are allowed"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(CoreError::invalid(
            "signed_by",
            "contains control characters",
        ));
    }
    Ok(name.to_string())
}

/// The root key of the sign-off of `date`: `sign_off/2026-11-30`.
pub fn key(date: Day) -> String {
    format!("sign_off/{}", date.format("%Y-%m-%d"))
}

/// A sign-off as stored: the date as `YYYY-MM-DD` text, heads as lists of
/// hex strings.
#[derive(Reconcile, Hydrate)]
struct Stored {
    date: Date,
    signed_by: String,
    signed_at_ms: i64,
    tz: String,
    rollup_version: u32,
    heads: StoredHeads,
    digest: String,
}

#[derive(Reconcile, Hydrate)]
struct StoredHeads {
    registry: Vec<String>,
    cases: Vec<String>,
    days: BTreeMap<String, Vec<String>>,
    street: Vec<String>,
}

impl From<&SignOff> for Stored {
    fn from(s: &SignOff) -> Self {
        Stored {
            date: Date(s.date),
            signed_by: s.signed_by.clone(),
            signed_at_ms: s.signed_at_ms,
            tz: s.tz.clone(),
            rollup_version: s.rollup_version,
            heads: StoredHeads {
                registry: s.heads.registry.clone(),
                cases: s.heads.cases.clone(),
                days: s.heads.days.clone(),
                street: s.heads.street.clone(),
            },
            digest: s.digest.clone(),
        }
    }
}

impl From<Stored> for SignOff {
    fn from(s: Stored) -> Self {
        SignOff {
            date: s.date.0,
            signed_by: s.signed_by,
            signed_at_ms: s.signed_at_ms,
            tz: s.tz,
            rollup_version: s.rollup_version,
            heads: RollupHeads {
                registry: s.heads.registry,
                cases: s.heads.cases,
                days: s.heads.days,
                street: s.heads.street,
            },
            digest: s.digest,
        }
    }
}

/// Writes `s` into the cases document (uncommitted: the caller commits).
///
/// The sign-off is written as a new map replacing the whole value at its
/// key, never field by field, so two sign-offs made concurrently do not
/// merge into a mixture of both: Automerge keeps both as conflicting values
/// and [`get`] reads the latest (by `signed_at_ms`). Writing the sign-off
/// that is already there makes no change.
pub fn put(cases: &mut AutoCommit, s: &SignOff) -> Result<(), CoreError> {
    check_signer(&s.signed_by)?;
    let doc_id = match cases.get(ROOT, "doc_id") {
        Ok(Some((Value::Scalar(v), _))) => v.as_str().and_then(|t| t.parse::<DocId>().ok()),
        _ => None,
    };
    match doc_id {
        Some(id @ DocId::Cases(_)) => docs::check_header(cases, &id)?,
        other => {
            return Err(CoreError::doc(
                other.map_or("(unknown)".to_string(), |d| d.to_string()),
                "is not a community's cases document; a sign-off lives in the cases document",
            ));
        }
    }
    if get(cases, s.date).as_ref() == Some(s) {
        return Ok(());
    }
    let key = key(s.date);
    let doc = format!("cases {key}");
    cases
        .put_object(ROOT, key.as_str(), ObjType::Map)
        .map_err(|e| CoreError::doc(&doc, e))?;
    reconcile_prop(cases, ROOT, key.as_str(), Stored::from(s)).map_err(|e| CoreError::doc(&doc, e))
}

/// The sign-off for `date`, if any; an unreadable one is `None`. Of
/// sign-offs written concurrently, the latest (`signed_at_ms`, then the
/// other fields, so every replica picks the same) is the one.
pub fn get(cases: &AutoCommit, date: Day) -> Option<SignOff> {
    let values = cases.get_all(ROOT, key(date).as_str()).ok()?;
    values
        .into_iter()
        .filter_map(|(value, obj)| match value {
            Value::Object(ObjType::Map) => Stored::hydrate_map(cases, &obj).ok(),
            _ => None,
        })
        .map(SignOff::from)
        .filter(|s| s.date == date)
        .max_by(|a, b| {
            (
                a.signed_at_ms,
                &a.digest,
                &a.signed_by,
                &a.tz,
                a.rollup_version,
                &a.heads,
            )
                .cmp(&(
                    b.signed_at_ms,
                    &b.digest,
                    &b.signed_by,
                    &b.tz,
                    b.rollup_version,
                    &b.heads,
                ))
        })
}

/// Where a community's report for a date stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SignOffState {
    NotSigned,
    Signed {
        sign_off: SignOff,
    },
    /// Signed, then the day's activity document got edits the sign-off did
    /// not see, or the figures changed (edits to the registry or cases that
    /// change that day's figures).
    ChangedSinceSignOff {
        sign_off: SignOff,
        why: String,
    },
}

/// Compares a sign-off with the current rollup of its community and date.
///
/// Changed when the heads of the date's activity document differ from the
/// signed ones (edits to that day), or when the digest does (the figures
/// changed). A rollup of another date or time zone says nothing about the
/// signed figures: the sign-off then stands as `Signed`.
pub fn state(sign_off: Option<&SignOff>, current: &CommunityRollup) -> SignOffState {
    let Some(s) = sign_off else {
        return SignOffState::NotSigned;
    };
    let signed = || SignOffState::Signed {
        sign_off: s.clone(),
    };
    if current.as_of != s.date || current.tz != s.tz {
        return signed();
    }
    let date = s.date.format("%Y-%m-%d").to_string();
    let day_edited = s.heads.days.get(&date) != current.heads.days.get(&date);
    let figures_changed = s.digest != current.digest;
    let why = match (day_edited, figures_changed) {
        (false, false) => return signed(),
        (true, true) => {
            format!("the activity of {date} got edits after the sign-off, and the figures changed")
        }
        (true, false) => format!(
            "the activity of {date} got edits after the sign-off (the figures are the same)"
        ),
        (false, true) => {
            let edited = edited_documents(&s.heads, &current.heads, &date);
            if !edited.is_empty() {
                format!(
                    "the figures changed after the sign-off (edits in the {})",
                    edited.join(" and ")
                )
            } else if s.rollup_version != current.rollup_version {
                format!(
                    "the figures differ from the signed ones for the same documents: signed under rollup version {}, computed now under {}",
                    s.rollup_version, current.rollup_version
                )
            } else {
                "the figures differ from the signed ones for the same documents".to_string()
            }
        }
    };
    SignOffState::ChangedSinceSignOff {
        sign_off: s.clone(),
        why,
    }
}

/// The documents, other than the date's activity, whose heads differ.
fn edited_documents(signed: &RollupHeads, now: &RollupHeads, date: &str) -> Vec<String> {
    let mut out = Vec::new();
    if signed.registry != now.registry {
        out.push("registry".to_string());
    }
    if signed.cases != now.cases {
        out.push("cases".to_string());
    }
    if signed.street != now.street {
        out.push("street document".to_string());
    }
    let days: std::collections::BTreeSet<&String> =
        signed.days.keys().chain(now.days.keys()).collect();
    for d in days {
        if d != date && signed.days.get(d) != now.days.get(d) {
            out.push(format!("activity of {d}"));
        }
    }
    out
}
