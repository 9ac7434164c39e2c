//! Serving the office API on a listener, with gRPC health and reflection
//! listing exactly what this process serves, until a shutdown signal; then
//! in-flight requests get a grace period.

use std::future::Future;
use std::time::Duration;

use gridsync_proto::office::v1::office_server::OfficeServer;
use gridsync_svc::Clock;
use gridsync_svc::grpc::{self, ServeError};
use gridsync_sync::accept::{self, AcceptLimits, Acceptor};
use tokio::net::TcpListener;

use crate::link::LinkHandle;
use crate::service::{OfficeHandle, OfficeService};

/// The office API's full gRPC name.
pub const OFFICE_SERVICE: &str = "gridsync.office.v1.Office";

/// Largest request the office API accepts (an import page of 2,000 rows is
/// well under this).
pub const MAX_MESSAGE_BYTES: usize = 8 * 1024 * 1024;

/// Serves until `shutdown` completes, then waits up to `grace` for
/// in-flight requests (connections still open after that are dropped, see
/// `gridsync_svc::grpc::serve_until`). Writes in flight finish on the
/// blocking pool either way, and are acknowledged only once committed.
pub async fn serve(
    office: OfficeHandle,
    link: LinkHandle,
    clock: Clock,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> Result<(), ServeError> {
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<OfficeServer<OfficeService>>()
        .await;
    let (reflection, reflection_alpha) = grpc::reflection(&[OFFICE_SERVICE])?;
    let api = OfficeServer::new(OfficeService::new(office, clock).with_link(link))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(64 * 1024 * 1024);
    let requests = grpc::Requests::new([]);
    let router = grpc::server_builder(Duration::from_secs(30), Duration::from_secs(10), &requests)
        .add_service(health_service)
        .add_service(reflection)
        .add_service(reflection_alpha)
        .add_service(api);
    // The office API is plain HTTP/2 on loopback: connections are still
    // capped and must send their preface in time, with TCP_NODELAY.
    let incoming = Acceptor::new(None, AcceptLimits::default()).serve(accept::tcp(listener));
    grpc::serve_until(
        move |stop| router.serve_with_incoming_shutdown(incoming, stop),
        shutdown,
        async {
            health_reporter
                .set_not_serving::<OfficeServer<OfficeService>>()
                .await;
        },
        requests,
        grace,
    )
    .await
}
