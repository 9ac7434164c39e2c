//! [`ApiError`]: the errors a gridsync API answers with, and **the one
//! mapping** from them to gRPC status codes (`From<ApiError> for Status`).
//!
//! Every layer keeps its own error type with typed sources (the core's
//! `CoreError`, the store's `StoreError`, the sync layer's `SessionError`,
//! the node's `OfficeError`, the coordinator's `ReplicasError`); each says
//! how it converts into an `ApiError`, and only this file chooses codes:
//!
//! | what went wrong | code |
//! |---|---|
//! | a field broke a rule, a request did not decode | `INVALID_ARGUMENT` |
//! | no such record, community, path | `NOT_FOUND` |
//! | a record with that id exists | `ALREADY_EXISTS` |
//! | the caller's identity may not do this | `PERMISSION_DENIED` |
//! | no identity | `UNAUTHENTICATED` |
//! | the state does not allow it (a store or document too new, a stored document over budget, a building with households) | `FAILED_PRECONDITION` |
//! | over a limit | `RESOURCE_EXHAUSTED` |
//! | a peer did not answer in time | `DEADLINE_EXCEEDED` |
//! | the caller or the link ended the call | `CANCELLED` |
//! | this side could not do its part (a commit failed) | `UNAVAILABLE` |
//! | a bug (a panic) | `INTERNAL` |

use gridsync_core::error::join_fields;
use gridsync_core::{CoreError, FieldError};
use gridsync_store::StoreError;
use tonic::Status;

use crate::blocking::{BlockingError, BoxError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Fields of a request broke their rules (each names its field).
    #[error("{}", join_fields(.0))]
    Invalid(Vec<FieldError>),
    /// A request or frame that does not decode, or breaks the protocol.
    #[error("{0}")]
    Malformed(String),
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Denied(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Precondition(String),
    #[error("{0}")]
    Exhausted(String),
    /// This side could not do its part; `what` says what was being done.
    #[error("{what}: {source}")]
    Unavailable {
        what: String,
        #[source]
        source: BoxError,
    },
    #[error(transparent)]
    Blocking(#[from] BlockingError),
    /// The caller or the link ended the call.
    #[error("{0}")]
    Cancelled(String),
    /// A peer did not answer in time.
    #[error("{0}")]
    Timeout(String),
    /// A status from a peer, passed on as it is.
    #[error("{}", .0.message())]
    Status(Status),
}

impl ApiError {
    /// One field that broke a rule.
    pub fn field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ApiError::Invalid(vec![FieldError::new(field, reason)])
    }

    pub fn unavailable(what: impl Into<String>, source: impl Into<BoxError>) -> Self {
        ApiError::Unavailable {
            what: what.into(),
            source: source.into(),
        }
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::Invalid(vec![e])
    }
}

/// The code of a core error.
fn core_status(e: CoreError) -> Status {
    match e {
        CoreError::Invalid(errs) => Status::invalid_argument(join_fields(&errs)),
        e @ CoreError::NotFound { .. } => Status::not_found(e.to_string()),
        e @ CoreError::AlreadyExists { .. } => Status::already_exists(e.to_string()),
        e @ (CoreError::Precondition(_) | CoreError::SchemaTooNew { .. }) => {
            Status::failed_precondition(e.to_string())
        }
        e @ CoreError::Document { .. } => Status::internal(e.to_string()),
    }
}

/// The code of a store error: a store or document too new for this build,
/// or a stored document over budget (an operator must repair the store),
/// is a precondition; anything else means the work was not stored.
fn store_status(e: StoreError) -> Status {
    match e {
        e @ (StoreError::TooNew { .. }
        | StoreError::OverBudget { .. }
        | StoreError::Document {
            source: CoreError::SchemaTooNew { .. },
            ..
        }) => Status::failed_precondition(e.to_string()),
        e => Status::unavailable(format!("the write was not stored: {e}")),
    }
}

impl From<ApiError> for Status {
    fn from(e: ApiError) -> Status {
        match e {
            e @ (ApiError::Invalid(_) | ApiError::Malformed(_)) => {
                Status::invalid_argument(e.to_string())
            }
            ApiError::Core(e) => core_status(e),
            ApiError::Store(e) => store_status(e),
            ApiError::NotFound(m) => Status::not_found(m),
            ApiError::Denied(m) => Status::permission_denied(m),
            ApiError::Unauthenticated(m) => Status::unauthenticated(m),
            ApiError::Precondition(m) => Status::failed_precondition(m),
            ApiError::Exhausted(m) => Status::resource_exhausted(m),
            e @ ApiError::Unavailable { .. } => Status::unavailable(e.to_string()),
            ApiError::Blocking(e @ BlockingError::Panicked(_)) => Status::internal(e.to_string()),
            ApiError::Blocking(e @ BlockingError::Unrecovered(_)) => {
                Status::unavailable(e.to_string())
            }
            ApiError::Cancelled(m) => Status::cancelled(m),
            ApiError::Timeout(m) => Status::deadline_exceeded(m),
            ApiError::Status(s) => s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn each_kind_of_error_has_its_code() {
        let cases: Vec<(ApiError, Code, &str)> = vec![
            (
                ApiError::field("household.name", "is required"),
                Code::InvalidArgument,
                "household.name: is required",
            ),
            (
                ApiError::Malformed("not a frame".into()),
                Code::InvalidArgument,
                "not a frame",
            ),
            (
                CoreError::invalid("x", "bad").into(),
                Code::InvalidArgument,
                "x: bad",
            ),
            (
                CoreError::NotFound {
                    kind: "household",
                    id: "hh_1".into(),
                }
                .into(),
                Code::NotFound,
                "hh_1",
            ),
            (
                CoreError::AlreadyExists {
                    kind: "household",
                    id: "hh_1".into(),
                }
                .into(),
                Code::AlreadyExists,
                "hh_1",
            ),
            (
                CoreError::Precondition("has households".into()).into(),
                Code::FailedPrecondition,
                "has households",
            ),
            (
                CoreError::SchemaTooNew {
                    doc: "d".into(),
                    found: 9,
                    supported: 1,
                }
                .into(),
                Code::FailedPrecondition,
                "schema version 9",
            ),
            (
                StoreError::OverBudget {
                    path: "/var/lib/gridsync-coordinator/gridsync-coordinator.sqlite3".into(),
                    doc: "registry/c01".parse().unwrap(),
                    refusal: gridsync_core::sync::stored::Refusal {
                        piece: gridsync_core::sync::stored::Piece::Chunk(0),
                        error: gridsync_core::sync::stored::StoredError::Over(
                            gridsync_core::sync::stored::Over {
                                limit: "max_doc_ops",
                                what: "operations",
                                value: 33_554_432,
                                max: 4_000_000,
                            },
                        ),
                    },
                }
                .into(),
                Code::FailedPrecondition,
                "document registry/c01 was not loaded: 33554432 operations, over the limit of 4000000 (max_doc_ops)",
            ),
            (
                ApiError::NotFound("no such path".into()),
                Code::NotFound,
                "no such path",
            ),
            (
                ApiError::Denied("not an operator".into()),
                Code::PermissionDenied,
                "not an operator",
            ),
            (
                ApiError::Unauthenticated("no certificate".into()),
                Code::Unauthenticated,
                "no certificate",
            ),
            (
                ApiError::Exhausted("over the limit".into()),
                Code::ResourceExhausted,
                "over the limit",
            ),
            (
                ApiError::unavailable("committing", "disk full"),
                Code::Unavailable,
                "committing: disk full",
            ),
            (
                ApiError::Cancelled("the link closed".into()),
                Code::Cancelled,
                "the link closed",
            ),
            (
                ApiError::Timeout("no Hello".into()),
                Code::DeadlineExceeded,
                "no Hello",
            ),
            (
                ApiError::Status(Status::aborted("peer")),
                Code::Aborted,
                "peer",
            ),
        ];
        for (e, code, words) in cases {
            let s = Status::from(e);
            assert_eq!(s.code(), code, "{}", s.message());
            assert!(
                s.message().contains(words),
                "{words:?} not in {:?}",
                s.message()
            );
        }
    }

    #[test]
    fn field_errors_are_named_in_the_message() {
        let s = Status::from(ApiError::Invalid(vec![
            FieldError::new("a", "is required"),
            FieldError::new("b.c", "is too long"),
        ]));
        assert_eq!(s.message(), "a: is required; b.c: is too long");
    }
}
