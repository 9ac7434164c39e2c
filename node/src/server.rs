//! Serving the office API on a listener with gRPC health and reflection,
//! until a shutdown signal; then in-flight requests get a grace period.

use std::future::Future;
use std::time::Duration;

use gridsync_proto::office::v1::office_server::OfficeServer;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

use crate::link::LinkHandle;
use crate::service::{OfficeHandle, OfficeService};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("gRPC reflection could not be set up: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("the gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("the gRPC server task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// gRPC reflection over every gridsync service and tonic-health, so that
/// `grpcurl list` shows them all. Shared with the coordinator.
pub fn reflection_service() -> Result<
    tonic_reflection::server::v1::ServerReflectionServer<
        impl tonic_reflection::server::v1::ServerReflection,
    >,
    ServeError,
> {
    Ok(tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(gridsync_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?)
}

/// Largest request the office API accepts (an import page of 2,000 rows is
/// well under this).
pub const MAX_MESSAGE_BYTES: usize = 8 * 1024 * 1024;

/// Serves until `shutdown` completes, then waits up to `grace` for
/// in-flight requests. Writes in flight finish on the blocking pool either
/// way, and are acknowledged only once committed.
pub async fn serve(
    office: OfficeHandle,
    link: LinkHandle,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> Result<(), ServeError> {
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<OfficeServer<OfficeService>>()
        .await;
    let reflection = reflection_service()?;
    let api = OfficeServer::new(OfficeService::new(office).with_link(link))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(64 * 1024 * 1024);

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .tcp_nodelay(true)
        .add_service(health_service)
        .add_service(reflection)
        .add_service(api)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
            let _ = stop_rx.await;
        });
    let mut server = tokio::spawn(server);
    tokio::select! {
        res = &mut server => return Ok(res??),
        () = shutdown => {}
    }
    tracing::info!(
        grace_secs = grace.as_secs(),
        "shutting down: no new requests, finishing those in flight"
    );
    health_reporter
        .set_not_serving::<OfficeServer<OfficeService>>()
        .await;
    let _ = stop_tx.send(());
    match tokio::time::timeout(grace, &mut server).await {
        Ok(res) => res??,
        Err(_) => {
            tracing::warn!("grace period over with requests still in flight; stopping anyway");
            server.abort();
        }
    }
    Ok(())
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("interrupt received"),
        () = term => tracing::info!("SIGTERM received"),
    }
}
