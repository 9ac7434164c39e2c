//! Serving gRPC the same way in both services: health and reflection that
//! list exactly the services a process serves, HTTP/2 keep-alive, and a
//! shutdown that stops taking requests, lets those in flight finish within
//! a grace period, and then stops anyway.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// The health service's full name, as reflection lists it.
pub const HEALTH_SERVICE: &str = "grpc.health.v1.Health";
/// The reflection services' full names (both versions are served: some
/// clients, such as grpcio's reflection library, speak only v1alpha).
pub const REFLECTION_V1: &str = "grpc.reflection.v1.ServerReflection";
pub const REFLECTION_V1ALPHA: &str = "grpc.reflection.v1alpha.ServerReflection";

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("gRPC reflection could not be set up: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("the gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("the gRPC server task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

fn reflection_builder(services: &[&str]) -> tonic_reflection::server::Builder<'static> {
    let mut b = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(gridsync_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
    for name in services
        .iter()
        .copied()
        .chain([HEALTH_SERVICE, REFLECTION_V1, REFLECTION_V1ALPHA])
    {
        b = b.with_service_name(name);
    }
    b
}

/// The reflection services (v1 and v1alpha) listing `services` (full
/// names, e.g. `gridsync.office.v1.Office`), health and reflection.
#[allow(clippy::type_complexity)]
pub fn reflection(
    services: &[&str],
) -> Result<
    (
        tonic_reflection::server::v1::ServerReflectionServer<
            impl tonic_reflection::server::v1::ServerReflection,
        >,
        tonic_reflection::server::v1alpha::ServerReflectionServer<
            impl tonic_reflection::server::v1alpha::ServerReflection,
        >,
    ),
    ServeError,
> {
    Ok((
        reflection_builder(services).build_v1()?,
        reflection_builder(services).build_v1alpha()?,
    ))
}

/// A tonic server builder with the services' common transport settings:
/// HTTP/2 keep-alive pings every `keepalive` (a peer that does not answer
/// within `keepalive_timeout` is dropped) and TCP_NODELAY.
pub fn server_builder(
    keepalive: Duration,
    keepalive_timeout: Duration,
) -> tonic::transport::Server {
    tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(keepalive))
        .http2_keepalive_timeout(Some(keepalive_timeout))
        .tcp_nodelay(true)
}

/// The signal a server built by the caller waits for to stop accepting.
pub type StopAccepting = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Runs a server until `shutdown` completes; then runs `stopping` (health
/// to NOT_SERVING, long-lived sessions told to end), tells the server to
/// stop accepting, and waits up to `grace` for requests in flight before
/// stopping anyway.
///
/// `start` gets the future on which the server must stop accepting
/// (`serve_with_incoming_shutdown`'s signal) and returns the server.
pub async fn serve_until<S, F>(
    start: S,
    shutdown: impl Future<Output = ()> + Send + 'static,
    stopping: impl Future<Output = ()>,
    grace: Duration,
) -> Result<(), ServeError>
where
    S: FnOnce(StopAccepting) -> F,
    F: Future<Output = Result<(), tonic::transport::Error>> + Send + 'static,
{
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = start(Box::pin(async {
        let _ = stop_rx.await;
    }));
    let mut server = tokio::spawn(server);
    tokio::select! {
        res = &mut server => return Ok(res??),
        () = shutdown => {}
    }
    tracing::info!(
        grace_ms = grace.as_millis() as u64,
        "shutting down: no new requests, finishing those in flight"
    );
    stopping.await;
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
