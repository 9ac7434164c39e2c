//! Serving gRPC the same way in both services: health and reflection that
//! list exactly the services a process serves, HTTP/2 keep-alive, and a
//! bounded shutdown: stop taking requests, let those in flight finish
//! within a grace period, give the last answers a short flush, and then drop
//! the connections still open rather than wait for them to close (a peer
//! behind a dead link never answers the GOAWAY).
//!
//! [`Requests`] is the tower layer that counts the requests in flight;
//! [`server_builder`] puts it around every service and [`serve_until`]
//! waits on it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::Frame;
use tokio::sync::watch;
use tonic::codegen::http;
use tower::Service;
use tower::layer::util::{Identity, Stack};

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
/// within `keepalive_timeout` is dropped) and TCP_NODELAY; every request is
/// counted by `requests`, which [`serve_until`] must get too.
pub fn server_builder(
    keepalive: Duration,
    keepalive_timeout: Duration,
    requests: &Requests,
) -> tonic::transport::Server<Stack<Requests, Identity>> {
    tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(keepalive))
        .http2_keepalive_timeout(Some(keepalive_timeout))
        .tcp_nodelay(true)
        .layer(requests.clone())
}

/// The health service's `Watch`: a stream that lasts as long as its client
/// wants; it never holds a shutdown.
pub const HEALTH_WATCH: &str = "/grpc.health.v1.Health/Watch";

/// How long the last answers get to reach their clients once no request is
/// in flight, before the connections still open are dropped.
pub const FLUSH: Duration = Duration::from_millis(250);

/// What is in flight, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InFlight {
    /// Requests that hold a shutdown until they have answered (or the grace
    /// period is over).
    pub calls: usize,
    /// Long-lived streams (a sync session, a health watch): the shutdown's
    /// `stopping` ends them, so they do not hold it; what they still have
    /// to send gets the flush.
    pub streams: usize,
}

/// Counts the requests in flight: a tower layer around every service of a
/// server (see [`server_builder`]). A request is in flight from the moment
/// it reaches the router until its response has sent its last frame, or was
/// dropped (a reset stream, a closed connection, a failed handler).
///
/// A cheap `Clone` handle: the counts sit in one `watch` channel, so that
/// [`serve_until`] can wait for them to reach zero without polling.
#[derive(Clone, Debug)]
pub struct Requests {
    counts: Arc<watch::Sender<InFlight>>,
    /// Paths (`/package.Service/Method`) counted as long-lived streams.
    streams: Arc<[String]>,
}

impl Requests {
    /// A counter where `streams` (full paths, e.g.
    /// `/gridsync.sync.v1.Sync/Session`) and [`HEALTH_WATCH`] are
    /// long-lived streams, ended by the caller's `stopping`, and every
    /// other request holds the shutdown until it has answered.
    pub fn new(streams: impl IntoIterator<Item = String>) -> Requests {
        let streams: Vec<String> = streams
            .into_iter()
            .chain([HEALTH_WATCH.to_string()])
            .collect();
        Requests {
            counts: Arc::new(watch::Sender::new(InFlight::default())),
            streams: streams.into(),
        }
    }

    /// What is in flight now.
    pub fn in_flight(&self) -> InFlight {
        *self.counts.borrow()
    }

    /// Completes once no call (long-lived streams aside) is in flight.
    pub async fn calls_done(&self) {
        let mut rx = self.counts.subscribe();
        // The sender lives in `self`: `wait_for` cannot fail.
        let _ = rx.wait_for(|c| c.calls == 0).await;
    }

    fn start(&self, path: &str) -> InFlightGuard {
        let stream = self.streams.iter().any(|s| s == path);
        self.counts.send_modify(|c| {
            if stream {
                c.streams += 1;
            } else {
                c.calls += 1;
            }
        });
        InFlightGuard {
            counts: self.counts.clone(),
            stream,
        }
    }
}

/// One request in flight, until dropped.
#[derive(Debug)]
struct InFlightGuard {
    counts: Arc<watch::Sender<InFlight>>,
    stream: bool,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let stream = self.stream;
        self.counts.send_modify(|c| {
            if stream {
                c.streams = c.streams.saturating_sub(1);
            } else {
                c.calls = c.calls.saturating_sub(1);
            }
        });
    }
}

impl<S> tower::Layer<S> for Requests {
    type Service = CountRequests<S>;

    fn layer(&self, inner: S) -> CountRequests<S> {
        CountRequests {
            inner,
            requests: self.clone(),
        }
    }
}

/// A service whose requests are counted in flight ([`Requests`]).
#[derive(Clone, Debug)]
pub struct CountRequests<S> {
    inner: S,
    requests: Requests,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for CountRequests<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: 'static,
{
    type Response = http::Response<CountedBody<ResBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        // Counted before the handler runs; a handler that fails or is
        // dropped drops the guard with its future.
        let guard = self.requests.start(req.uri().path());
        let answer = self.inner.call(req);
        Box::pin(async move {
            let response = answer.await?;
            Ok(response.map(|body| CountedBody {
                body,
                guard: Some(guard),
            }))
        })
    }
}

/// A response body that keeps its request in flight until its last frame
/// (the trailers that carry the gRPC status) or until it is dropped.
#[derive(Debug)]
pub struct CountedBody<B> {
    body: B,
    guard: Option<InFlightGuard>,
}

impl<B> http_body::Body for CountedBody<B>
where
    B: http_body::Body + Unpin,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        let last = match &polled {
            Poll::Ready(None | Some(Err(_))) => true,
            Poll::Ready(Some(Ok(frame))) => frame.is_trailers(),
            Poll::Pending => false,
        };
        if last {
            this.guard = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The signal a server built by the caller waits for to stop accepting.
pub type StopAccepting = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Runs a server until `shutdown` completes; then stops it within about
/// `grace` plus [`FLUSH`], whatever its peers do:
///
/// 1. runs `stopping` (health to NOT_SERVING, long-lived sessions told to
///    end, and waits for them within its own deadline);
/// 2. tells the server to stop accepting;
/// 3. waits until no request counted by `requests` (the same counter given
///    to [`server_builder`]) is in flight, or until `grace` from the
///    shutdown is over (logging how many were left);
/// 4. gives the last answers [`FLUSH`] to reach their clients: a server
///    whose connections all close in that time ends by itself; otherwise
///    the connections still open (a peer behind a dead link never answers
///    the GOAWAY) are dropped with the server.
///
/// `start` gets the future on which the server must stop accepting
/// (`serve_with_incoming_shutdown`'s signal) and returns the server.
pub async fn serve_until<S, F>(
    start: S,
    shutdown: impl Future<Output = ()> + Send + 'static,
    stopping: impl Future<Output = ()>,
    requests: Requests,
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
    let began = tokio::time::Instant::now();
    let at_start = requests.in_flight();
    tracing::info!(
        grace_ms = grace.as_millis() as u64,
        calls_in_flight = at_start.calls,
        streams_open = at_start.streams,
        "shutting down: no new requests, finishing those in flight"
    );
    stopping.await;
    let _ = stop_tx.send(());
    let drained = tokio::time::timeout_at(began + grace, requests.calls_done())
        .await
        .is_ok();
    if !drained {
        let left = requests.in_flight();
        tracing::warn!(
            calls_in_flight = left.calls,
            streams_open = left.streams,
            "grace period over with {} request(s) still in flight; stopping anyway",
            left.calls
        );
        server.abort();
        let _ = server.await;
        return Ok(());
    }
    match tokio::time::timeout(FLUSH, &mut server).await {
        Ok(res) => res??,
        Err(_) => {
            let left = requests.in_flight();
            tracing::info!(
                streams_open = left.streams,
                waited_ms = began.elapsed().as_millis() as u64,
                "no request in flight; connections still open after the flush (a peer that does not answer) are dropped"
            );
            server.abort();
            // Aborted, the server ends at once: its listener is closed when
            // this returns.
            let _ = server.await;
        }
    }
    tracing::info!(
        took_ms = began.elapsed().as_millis() as u64,
        "gRPC server stopped"
    );
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

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::future::poll_fn;

    use http_body::Body as _;
    use tokio::sync::mpsc;
    use tonic::codegen::Bytes;
    use tower::{Layer, ServiceExt};

    use super::*;

    const STREAM: &str = "/gridsync.test.v1.T/Stream";
    const CALL: &str = "/gridsync.test.v1.T/Call";

    type Frames = mpsc::Receiver<Result<Frame<Bytes>, Infallible>>;

    /// A body that yields what its channel holds, then ends.
    struct ChannelBody(Frames);

    impl http_body::Body for ChannelBody {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            self.0.poll_recv(cx)
        }
    }

    /// Answers every request with a body of one data frame.
    #[derive(Clone)]
    struct OneFrame;

    impl Service<http::Request<()>> for OneFrame {
        type Response = http::Response<ChannelBody>;
        type Error = Infallible;
        type Future = std::future::Ready<Result<Self::Response, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: http::Request<()>) -> Self::Future {
            let (tx, rx) = mpsc::channel(1);
            tx.try_send(Ok(Frame::data(Bytes::from_static(b"x"))))
                .expect("room for one frame");
            std::future::ready(Ok(http::Response::new(ChannelBody(rx))))
        }
    }

    async fn answer(
        svc: &CountRequests<OneFrame>,
        path: &str,
    ) -> http::Response<CountedBody<ChannelBody>> {
        let req = http::Request::builder()
            .uri(path)
            .body(())
            .expect("a request");
        svc.clone().oneshot(req).await.expect("an answer")
    }

    async fn next_frame(
        body: &mut CountedBody<ChannelBody>,
    ) -> Option<Result<Frame<Bytes>, Infallible>> {
        poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await
    }

    #[tokio::test]
    async fn a_call_is_in_flight_until_its_body_has_ended() {
        let requests = Requests::new([STREAM.to_string()]);
        let svc = requests.layer(OneFrame);
        let mut body = answer(&svc, CALL).await.into_body();
        assert_eq!(
            requests.in_flight(),
            InFlight {
                calls: 1,
                streams: 0
            }
        );
        assert!(next_frame(&mut body).await.is_some(), "the data frame");
        assert_eq!(requests.in_flight().calls, 1, "not ended yet");
        assert!(next_frame(&mut body).await.is_none(), "the end");
        assert_eq!(requests.in_flight(), InFlight::default());
        tokio::time::timeout(Duration::from_secs(5), requests.calls_done())
            .await
            .expect("no call in flight");
    }

    #[tokio::test]
    async fn a_dropped_body_ends_its_call_and_streams_do_not_hold_shutdown() {
        let requests = Requests::new([STREAM.to_string()]);
        let svc = requests.layer(OneFrame);
        let call = answer(&svc, CALL).await;
        let stream = answer(&svc, STREAM).await;
        let watch = answer(&svc, HEALTH_WATCH).await;
        assert_eq!(
            requests.in_flight(),
            InFlight {
                calls: 1,
                streams: 2
            }
        );
        drop(call);
        assert_eq!(
            requests.in_flight(),
            InFlight {
                calls: 0,
                streams: 2
            }
        );
        tokio::time::timeout(Duration::from_secs(5), requests.calls_done())
            .await
            .expect("streams do not count as calls");
        drop((stream, watch));
        assert_eq!(requests.in_flight(), InFlight::default());
    }
}
