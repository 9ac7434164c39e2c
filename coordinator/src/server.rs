//! Serving the sync and operator APIs (with gRPC health and reflection) on
//! one listener, over mutual TLS or, in development only, plain HTTP/2 with
//! tokens; until shutdown, then sessions and requests get a grace period.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use gridsync_core::sync::FrameLimits;
use gridsync_proto::street::v1::street_server::StreetServer;
use gridsync_proto::sync::v1::sync_server::SyncServer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_stream::wrappers::TcpListenerStream;

use gridsync_svc::Clock;
use gridsync_svc::grpc;
use gridsync_sync::identity::Authenticator;

use crate::operator::OperatorService;
use crate::sync_service::{ReplicasHandle, SyncService};

pub use gridsync_svc::grpc::ServeError;

/// The full gRPC names of the services the coordinator serves.
pub const SYNC_SERVICE: &str = "gridsync.sync.v1.Sync";
pub const STREET_SERVICE: &str = "gridsync.street.v1.Street";

/// What the server needs besides the replicas.
pub struct ServeOptions {
    pub auth: Arc<Authenticator>,
    /// The one clock of the process.
    pub clock: Clock,
    /// `None` serves plain HTTP/2: development tokens only.
    pub tls: Option<tonic::transport::ServerTlsConfig>,
    pub limits: FrameLimits,
    pub grace: Duration,
    /// HTTP/2 keep-alive ping interval; a peer that does not answer within
    /// `keepalive_timeout` is dropped.
    pub keepalive_interval: Duration,
    pub keepalive_timeout: Duration,
}

impl ServeOptions {
    pub fn new(auth: Authenticator, tls: Option<tonic::transport::ServerTlsConfig>) -> Self {
        Self {
            auth: Arc::new(auth),
            clock: Clock::system(),
            tls,
            limits: FrameLimits::default(),
            grace: Duration::from_secs(10),
            keepalive_interval: Duration::from_secs(20),
            keepalive_timeout: Duration::from_secs(10),
        }
    }
}

/// Serves until `shutdown` completes; then ends every sync session, lets
/// requests in flight finish within the grace period, and returns.
pub async fn serve(
    replicas: ReplicasHandle,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    opts: ServeOptions,
) -> Result<(), ServeError> {
    serve_incoming(replicas, TcpListenerStream::new(listener), shutdown, opts).await
}

/// [`serve`] over any stream of accepted connections (the partition
/// simulation's simulated TCP): the same services, TLS and limits.
pub async fn serve_incoming<I, IO, IE>(
    replicas: ReplicasHandle,
    incoming: I,
    shutdown: impl Future<Output = ()> + Send + 'static,
    opts: ServeOptions,
) -> Result<(), ServeError>
where
    I: tokio_stream::Stream<Item = Result<IO, IE>> + Send + 'static,
    IO: tokio::io::AsyncRead
        + tokio::io::AsyncWrite
        + tonic::transport::server::Connected
        + Unpin
        + Send
        + 'static,
    IO::ConnectInfo: Clone + Send + Sync + 'static,
    IE: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
{
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<SyncServer<SyncService>>()
        .await;
    health_reporter
        .set_serving::<StreetServer<OperatorService>>()
        .await;
    let (reflection, reflection_alpha) = grpc::reflection(&[SYNC_SERVICE, STREET_SERVICE])?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let sync = SyncService::new(
        replicas.clone(),
        opts.auth.clone(),
        opts.clock.clone(),
        opts.limits,
        stop_rx,
    );
    let grpc_limit = opts.limits.grpc_message_limit();
    let sync_api = SyncServer::new(sync.clone())
        .max_decoding_message_size(grpc_limit)
        .max_encoding_message_size(grpc_limit);
    let street_api = StreetServer::new(OperatorService::new(
        replicas,
        opts.auth.clone(),
        opts.clock.clone(),
    ))
    .max_decoding_message_size(1024 * 1024);

    let mut builder = grpc::server_builder(opts.keepalive_interval, opts.keepalive_timeout);
    if let Some(tls) = opts.tls {
        builder = builder.tls_config(tls)?;
    }
    let router = builder
        .add_service(health_service)
        .add_service(reflection)
        .add_service(reflection_alpha)
        .add_service(sync_api)
        .add_service(street_api);
    let grace = opts.grace;
    grpc::serve_until(
        move |stop| router.serve_with_incoming_shutdown(incoming, stop),
        shutdown,
        async {
            tracing::info!("ending sync sessions");
            health_reporter
                .set_not_serving::<SyncServer<SyncService>>()
                .await;
            health_reporter
                .set_not_serving::<StreetServer<OperatorService>>()
                .await;
            let _ = stop_tx.send(true);
            sync.join(grace).await;
        },
        grace,
    )
    .await
}
