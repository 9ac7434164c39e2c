//! [`SessionError`]: why a sync session, or the handshake before it, ended.
//! Each variant keeps what caused it; [`From<SessionError> for ApiError`]
//! says which status the peer is told (the codes themselves are chosen
//! once, in `gridsync_svc::error`).

use gridsync_core::sync::SyncError;
use gridsync_svc::{ApiError, BlockingError};

/// Boxed error of a host (the office, the street's replicas).
pub type HostError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The peer broke the protocol (a bad frame, garbage bytes, a handshake
    /// out of order).
    #[error("{0}")]
    Protocol(String),
    /// A sync message refused by the core's rules (access, size, shape).
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// The peer went over a limit.
    #[error("{0}")]
    Limit(String),
    /// The peer tried something its identity does not allow.
    #[error("{0}")]
    Denied(String),
    /// The two sides cannot talk (protocol versions differ).
    #[error("{0}")]
    Incompatible(String),
    /// This side could not do its part (its store failed).
    #[error(transparent)]
    Host(HostError),
    /// The blocking work of this side failed (a panic, a lost rebuild).
    #[error(transparent)]
    Blocking(#[from] BlockingError),
    /// The peer could not be reached.
    #[error("cannot reach {uri}")]
    Dial {
        uri: String,
        #[source]
        source: tonic::transport::Error,
    },
    /// The peer's changes would leave a record unreadable: refused, nothing
    /// stored.
    #[error(transparent)]
    Record(gridsync_core::CoreError),
    /// The peer ended the call with a status.
    #[error("the peer ended the session: {}", .0.message())]
    Remote(tonic::Status),
    /// The stream ended.
    #[error("the link closed")]
    Closed,
    /// Nothing was heard from the peer for the liveness window: the link
    /// is taken as down since `last_heard_ms`.
    #[error(
        "nothing heard from the peer for {window_ms} ms (the liveness window); the link is down since the last frame heard"
    )]
    Silent { last_heard_ms: i64, window_ms: i64 },
    /// The peer ended the session on purpose (its Goodbye).
    #[error("the peer said goodbye: {0}")]
    Goodbye(String),
    /// Dialling took longer than the dial timeout.
    #[error("dialling {uri} took longer than {timeout_ms} ms")]
    DialTimeout { uri: String, timeout_ms: u64 },
    /// The peer did not answer the handshake in time (a slow or stuck
    /// peer, not a refusal).
    #[error("{0}")]
    HandshakeTimeout(String),
}

impl SessionError {
    /// A host's own failure.
    pub fn host(e: impl Into<HostError>) -> Self {
        SessionError::Host(e.into())
    }

    /// Whether the peer refused something of ours (redialling at once
    /// would only be refused again), as opposed to the link failing.
    pub fn is_refusal(&self) -> bool {
        match self {
            SessionError::Remote(st) => matches!(
                st.code(),
                tonic::Code::PermissionDenied
                    | tonic::Code::InvalidArgument
                    | tonic::Code::ResourceExhausted
                    | tonic::Code::FailedPrecondition
                    | tonic::Code::Unauthenticated
            ),
            SessionError::Protocol(_)
            | SessionError::Sync(_)
            | SessionError::Record(_)
            | SessionError::Limit(_)
            | SessionError::Denied(_)
            | SessionError::Incompatible(_) => true,
            SessionError::Host(_)
            | SessionError::Blocking(_)
            | SessionError::Dial { .. }
            | SessionError::DialTimeout { .. }
            | SessionError::HandshakeTimeout(_)
            | SessionError::Silent { .. }
            | SessionError::Goodbye(_)
            | SessionError::Closed => false,
        }
    }

    /// How a session ended, for the redial wait: a clean end (the peer said
    /// goodbye or closed the stream) redials at once, a peer that cannot be
    /// reached is redialled at least every second, a refusal waits longer
    /// each time.
    pub fn ended(result: &Result<(), SessionError>) -> gridsync_core::sync::Ended {
        use gridsync_core::sync::Ended;
        match result {
            Ok(()) | Err(SessionError::Goodbye(_) | SessionError::Closed) => Ended::Clean,
            Err(e) if e.is_refusal() => Ended::Failed,
            Err(SessionError::Remote(st)) if st.code() != tonic::Code::Unavailable => Ended::Failed,
            Err(SessionError::Host(_) | SessionError::Blocking(_)) => Ended::Failed,
            Err(_) => Ended::Unreachable,
        }
    }
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Protocol(m) => ApiError::Malformed(m),
            SessionError::Sync(e) => match e {
                SyncError::ReadOnly { .. } | SyncError::Denied { .. } => {
                    ApiError::Denied(e.to_string())
                }
                SyncError::TooLarge(_) | SyncError::OverBudget { .. } => {
                    ApiError::Exhausted(e.to_string())
                }
                SyncError::Garbage { .. }
                | SyncError::Corrupt { .. }
                | SyncError::Apply { .. }
                | SyncError::Frame(_) => ApiError::Malformed(e.to_string()),
            },
            SessionError::Limit(m) => ApiError::Exhausted(m),
            SessionError::Record(e) => ApiError::Core(e),
            SessionError::Denied(m) => ApiError::Denied(m),
            SessionError::Incompatible(m) => ApiError::Precondition(m),
            SessionError::Host(e) => ApiError::unavailable("this side could not do its part", e),
            SessionError::Blocking(e) => ApiError::Blocking(e),
            e @ SessionError::Dial { .. } => ApiError::unavailable("dialling", e),
            SessionError::Remote(s) => ApiError::Status(s),
            SessionError::Closed => ApiError::Cancelled("the link closed".into()),
            e @ SessionError::Silent { .. } => ApiError::unavailable("the link", e),
            SessionError::Goodbye(m) => ApiError::Cancelled(format!("the peer said goodbye: {m}")),
            e @ SessionError::DialTimeout { .. } => ApiError::unavailable("dialling", e),
            SessionError::HandshakeTimeout(m) => ApiError::Timeout(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridsync_core::sync::Ended;

    fn ended(e: SessionError) -> Ended {
        SessionError::ended(&Err(e))
    }

    #[test]
    fn how_a_session_ended_decides_the_redial() {
        assert_eq!(SessionError::ended(&Ok(())), Ended::Clean);
        assert_eq!(
            ended(SessionError::Goodbye("shutting down".into())),
            Ended::Clean
        );
        assert_eq!(ended(SessionError::Closed), Ended::Clean);
        // A link that died or a peer that is slow: redial soon.
        assert_eq!(
            ended(SessionError::Silent {
                last_heard_ms: 1,
                window_ms: 6_000
            }),
            Ended::Unreachable
        );
        assert_eq!(
            ended(SessionError::HandshakeTimeout("no Welcome".into())),
            Ended::Unreachable
        );
        assert_eq!(
            ended(SessionError::Remote(tonic::Status::unavailable(
                "restarting"
            ))),
            Ended::Unreachable
        );
        // Refusals wait longer each time.
        assert_eq!(
            ended(SessionError::Remote(tonic::Status::permission_denied("no"))),
            Ended::Failed
        );
        assert_eq!(ended(SessionError::Protocol("bad".into())), Ended::Failed);
        assert_eq!(
            ended(SessionError::Incompatible("zone".into())),
            Ended::Failed
        );
    }
}
