//! The core's errors. Every message says what was wrong and, where it helps,
//! what to do about it.

use std::fmt;

/// One field that failed validation, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The field's name as the API spells it (`household.building_id`).
    pub field: String,
    /// Why it was refused, in words an office worker can act on.
    pub reason: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The same error with `prefix.` put before the field name.
    pub fn within(mut self, prefix: &str) -> Self {
        self.field = format!("{prefix}.{}", self.field);
        self
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

impl std::error::Error for FieldError {}

/// Errors of the pure core.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The input broke one or more validation rules; nothing was changed.
    #[error("invalid input: {}", join_fields(.0))]
    Invalid(Vec<FieldError>),
    #[error("no {kind} with id {id:?}")]
    NotFound { kind: &'static str, id: String },
    #[error("a {kind} with id {id:?} already exists")]
    AlreadyExists { kind: &'static str, id: String },
    /// The edit is well formed but the current state does not allow it
    /// (removing a building that still has households, say).
    #[error("{0}")]
    Precondition(String),
    /// The document could not be read or written by Automerge.
    #[error("document {doc}: {source}")]
    Document {
        doc: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A stored document's schema is newer than this program understands.
    #[error(
        "document {doc} has schema version {found}, newer than {supported} which this version of gridsync reads; upgrade gridsync"
    )]
    SchemaTooNew {
        doc: String,
        found: u64,
        supported: u64,
    },
}

impl CoreError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        CoreError::Invalid(vec![FieldError::new(field, reason)])
    }
    /// What Automerge (or the mapping onto it) refused of document `doc`,
    /// keeping the error underneath.
    pub fn doc(
        doc: impl fmt::Display,
        e: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        CoreError::Document {
            doc: doc.to_string(),
            source: e.into(),
        }
    }
}

/// A value from outside as an error message quotes it: at most 40
/// characters, then how many more there were. A 100 kB value makes a
/// message a client can still read.
pub fn quote(s: &str) -> String {
    const KEEP: usize = 40;
    let mut chars = s.chars();
    let head: String = chars.by_ref().take(KEEP).collect();
    let more = chars.count();
    if more == 0 {
        format!("{head:?}")
    } else {
        format!("{head:?}… ({more} more characters)")
    }
}

impl From<FieldError> for CoreError {
    fn from(e: FieldError) -> Self {
        CoreError::Invalid(vec![e])
    }
}

/// Field errors as one message: each names its field, `; ` between them.
pub fn join_fields(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}
