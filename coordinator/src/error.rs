//! [`ReplicasError`]: what can go wrong with the street's replicas, and
//! what a node or an operator is told about it.

use gridsync_core::{CommunityId, CoreError};
use gridsync_store::StoreError;
use gridsync_svc::{ApiError, BlockingError};
use gridsync_sync::SessionError;

#[derive(Debug, thiserror::Error)]
pub enum ReplicasError {
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "community {0} is not registered in this street; an operator adds it with `gridctl street community add --id {0} --name …`"
    )]
    Unregistered(CommunityId),
    #[error("the record of the rollups served could not be read or written: {0}")]
    Served(#[source] std::io::Error),
    #[error(
        "community {community} is busy applying a sync message from its node and stayed busy for {waited:?}; try again"
    )]
    Busy {
        community: CommunityId,
        waited: std::time::Duration,
    },
    #[error(transparent)]
    Blocking(#[from] BlockingError),
}

impl From<ReplicasError> for SessionError {
    fn from(e: ReplicasError) -> Self {
        match e {
            ReplicasError::Unregistered(_) => SessionError::Denied(e.to_string()),
            ReplicasError::Blocking(e) => e.into(),
            e => SessionError::host(e),
        }
    }
}

impl From<ReplicasError> for ApiError {
    fn from(e: ReplicasError) -> Self {
        match e {
            ReplicasError::Core(e) => e.into(),
            ReplicasError::Store(e) => e.into(),
            e @ ReplicasError::Unregistered(_) => ApiError::Precondition(e.to_string()),
            ReplicasError::Served(e) => {
                ApiError::unavailable("the record of the rollups served", e)
            }
            e @ ReplicasError::Busy { .. } => ApiError::unavailable("the community", e),
            ReplicasError::Blocking(e) => e.into(),
        }
    }
}
