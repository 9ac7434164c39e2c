//! [`Gap`]: a record the figures cannot place, and why (网格不漏户: gaps
//! are counted and shown, never hidden).

use serde::Serialize;

/// Why a record is counted as a gap.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum GapReason {
    /// The record could not be read (wrong field types, say).
    Unreadable(String),
    /// A field names a record that does not exist.
    MissingReference {
        field: &'static str,
        target: &'static str,
        target_id: String,
    },
    /// A household with no contract group (网格不漏户).
    NoContractGroup,
    /// A household whose building belongs to another compound than its own.
    CompoundMismatch { building_compound_id: String },
}

/// A record that the figures cannot place, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Gap {
    pub kind: &'static str,
    pub id: String,
    #[serde(flatten)]
    pub reason: GapReason,
}

impl std::fmt::Display for Gap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.reason {
            GapReason::Unreadable(e) => write!(f, "{} {}: unreadable: {e}", self.kind, self.id),
            GapReason::MissingReference {
                field,
                target,
                target_id,
            } => {
                write!(
                    f,
                    "{} {}: {field} names {target} {target_id:?}, which does not exist",
                    self.kind, self.id
                )
            }
            GapReason::NoContractGroup => write!(f, "{} {}: no contract group", self.kind, self.id),
            GapReason::CompoundMismatch {
                building_compound_id,
            } => write!(
                f,
                "{} {}: its building is in compound {building_compound_id:?}, not its own",
                self.kind, self.id
            ),
        }
    }
}
