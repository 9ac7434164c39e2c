//! Serving the sync and operator APIs (with gRPC health and reflection) on
//! one listener, over mutual TLS or, in development only, plain HTTP/2 with
//! tokens; until shutdown, then sessions are ended and requests in flight
//! get a grace period (`gridsync_svc::grpc::serve_until`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use gridsync_core::sync::{FrameLimits, SyncBudget};
use gridsync_proto::street::v1::street_server::StreetServer;
use gridsync_proto::sync::v1::sync_server::SyncServer;
use tokio::net::TcpListener;
use tokio::sync::watch;

use gridsync_svc::Clock;
use gridsync_svc::grpc;
use gridsync_svc::memory::Ceiling;
use gridsync_sync::accept::{self, AcceptLimits, Acceptor};
use gridsync_sync::identity::Authenticator;
use gridsync_sync::session::SessionLimits;
use gridsync_sync::tls::ServerTls;
use tonic::transport::server::TcpConnectInfo;

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
    pub tls: Option<ServerTls>,
    /// Caps on connections, deadlines on their TLS handshake and preface.
    pub accept: AcceptLimits,
    pub limits: FrameLimits,
    /// What a node's message, and a node over a window, may cost.
    pub budget: SyncBudget,
    /// How long the next part of a message cut into parts may take.
    pub part_timeout: Duration,
    /// How long a node has to send its Hello once connected.
    pub hello_timeout: Duration,
    /// Documents a Hello may list.
    pub max_hello_docs: usize,
    /// The heartbeat of sync sessions (interval and misses: the liveness
    /// window).
    pub heartbeat: gridsync_core::sync::HeartbeatSettings,
    /// The memory ceiling messages in parts reserve under (the replicas
    /// hold the same one for applying them).
    pub memory: Ceiling,
    pub grace: Duration,
    /// HTTP/2 keep-alive ping interval; a peer that does not answer within
    /// `keepalive_timeout` is dropped.
    pub keepalive_interval: Duration,
    pub keepalive_timeout: Duration,
}

impl ServeOptions {
    pub fn new(auth: Authenticator, tls: Option<ServerTls>) -> Self {
        Self {
            auth: Arc::new(auth),
            clock: Clock::system(),
            tls,
            accept: AcceptLimits::default(),
            limits: FrameLimits::default(),
            budget: SyncBudget::default(),
            part_timeout: Duration::from_secs(30),
            hello_timeout: Duration::from_secs(10),
            max_hello_docs: gridsync_sync::handshake::MAX_HELLO_DOCS,
            heartbeat: gridsync_core::sync::HeartbeatSettings::default(),
            memory: Ceiling::none(),
            grace: Duration::from_secs(10),
            keepalive_interval: Duration::from_secs(20),
            keepalive_timeout: Duration::from_secs(10),
        }
    }
}

/// Serves until `shutdown` completes; then ends every sync session, lets
/// requests in flight finish within the grace period, drops the
/// connections still open after a short flush, and returns.
pub async fn serve(
    replicas: ReplicasHandle,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    opts: ServeOptions,
) -> Result<(), ServeError> {
    serve_incoming(replicas, accept::tcp(listener), shutdown, opts).await
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
        + tonic::transport::server::Connected<ConnectInfo = TcpConnectInfo>
        + Unpin
        + Send
        + 'static,
    IE: std::fmt::Display + Send + 'static,
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
        SessionLimits {
            frames: opts.limits,
            budget: opts.budget,
            part_timeout: opts.part_timeout,
            memory: opts.memory.clone(),
        },
        stop_rx,
    )
    .with_handshake(opts.hello_timeout, opts.max_hello_docs)
    .with_heartbeat(opts.heartbeat);
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

    let incoming = Acceptor::new(opts.tls, opts.accept).serve(incoming);
    // A session is ended by the stop below, not waited for like a request.
    let requests = grpc::Requests::new([format!("/{SYNC_SERVICE}/Session")]);
    let router = grpc::server_builder(opts.keepalive_interval, opts.keepalive_timeout, &requests)
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
        requests,
        grace,
    )
    .await
}
