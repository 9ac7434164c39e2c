//! Prometheus metrics, written once for both services: the instruments
//! both keep ([`Timings`]: commit and rollup times; [`SyncTraffic`]: sync
//! frames and bytes per community), helpers for the collectors that read
//! a service's state at scrape time ([`gauges`], [`counters`]), and
//! [`MetricsServer`], the plain HTTP/1 endpoint that serves `/metrics` until
//! the service's shutdown signal.
//!
//! The text is `prometheus-client`'s (OpenMetrics 1.0 text, which
//! Prometheus scrapes as is), never formatted by hand. Every name starts
//! with `gridsync_` ([`registry`]). Instruments are handles (an `Arc`
//! inside): a service makes them when it opens, keeps them where it does
//! the work, and registers clones; nothing here is global, so two services
//! in one process (the tests) keep their own.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, header};
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeCounterValue, EncodeGaugeValue, EncodeLabelSet, EncodeMetric,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

pub use prometheus_client;

/// The content type of the OpenMetrics text `prometheus-client` writes.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Scrapes served at once; more connections are closed as they arrive.
const MAX_CONNECTIONS: usize = 32;

/// How long a client may take to send its request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// An empty registry whose metrics are all named `gridsync_…`.
pub fn registry() -> Registry {
    Registry::with_prefix("gridsync")
}

/// The label set of a per-community metric: `{community="c01"}`.
pub type CommunityLabel = [(&'static str, String); 1];

/// `{community="…"}`.
pub fn community_label(c: &str) -> CommunityLabel {
    [("community", c.to_string())]
}

/// How long the store's commits and the rollups take, kept by the
/// service where it does them (see [`Timings::observe`]).
#[derive(Clone, Debug)]
pub struct Timings {
    /// One store transaction (changes, sync states, audit row).
    pub commit_seconds: Histogram,
    /// One rollup asked for (the node's community rollup, the
    /// coordinator's street report), cached or computed.
    pub rollup_seconds: Histogram,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            // 0.25 ms … about 4 s.
            commit_seconds: Histogram::new(exponential_buckets(0.000_25, 2.0, 15)),
            // 1 ms … about 16 s.
            rollup_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
        }
    }
}

impl Timings {
    /// Records the time since `started` in `h`.
    pub fn observe(h: &Histogram, started: Instant) {
        h.observe(started.elapsed().as_secs_f64());
    }

    /// Registers `gridsync_commit_seconds` and `gridsync_rollup_seconds`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register_with_unit(
            "commit",
            "Time of one store commit (the changes, their sync states and audit row in one SQLite transaction)",
            Unit::Seconds,
            self.commit_seconds.clone(),
        );
        registry.register_with_unit(
            "rollup",
            "Time to answer one rollup (node: the community's; coordinator: the street's stamped report), cached or computed",
            Unit::Seconds,
            self.rollup_seconds.clone(),
        );
    }
}

/// Sync frames and their bytes, sent and received, per community.
#[derive(Clone, Debug, Default)]
pub struct SyncTraffic {
    frames_sent: Family<CommunityLabel, Counter>,
    frames_received: Family<CommunityLabel, Counter>,
    bytes_sent: Family<CommunityLabel, Counter>,
    bytes_received: Family<CommunityLabel, Counter>,
}

/// One community's [`SyncTraffic`] counters, taken once per session.
#[derive(Clone, Debug)]
pub struct CommunityTraffic {
    frames_sent: Counter,
    frames_received: Counter,
    bytes_sent: Counter,
    bytes_received: Counter,
}

impl CommunityTraffic {
    /// A frame of `bytes` was sent.
    pub fn sent(&self, bytes: usize) {
        self.frames_sent.inc();
        self.bytes_sent.inc_by(bytes as u64);
    }

    /// A frame of `bytes` was received.
    pub fn received(&self, bytes: usize) {
        self.frames_received.inc();
        self.bytes_received.inc_by(bytes as u64);
    }
}

impl SyncTraffic {
    /// The counters of community `c`.
    pub fn community(&self, c: &str) -> CommunityTraffic {
        let l = community_label(c);
        CommunityTraffic {
            frames_sent: self.frames_sent.get_or_create(&l).clone(),
            frames_received: self.frames_received.get_or_create(&l).clone(),
            bytes_sent: self.bytes_sent.get_or_create(&l).clone(),
            bytes_received: self.bytes_received.get_or_create(&l).clone(),
        }
    }

    /// Registers `gridsync_sync_{frames,bytes}_{sent,received}_total`.
    pub fn register(&self, registry: &mut Registry) {
        let families = [
            &self.frames_sent,
            &self.frames_received,
            &self.bytes_sent,
            &self.bytes_received,
        ];
        for ((name, help), family) in SYNC_TRAFFIC.into_iter().zip(families) {
            registry.register(name, help, family.clone());
        }
    }
}

/// The names (without `gridsync_` and `_total`) and help of the sync
/// traffic counters, in the order frames sent, frames received, bytes
/// sent, bytes received: the coordinator counts them in [`SyncTraffic`],
/// the node reads them from its link's status ([`counters`]).
pub const SYNC_TRAFFIC: [(&str, &str); 4] = [
    ("sync_frames_sent", "Sync frames sent to the peer"),
    ("sync_frames_received", "Sync frames received from the peer"),
    ("sync_bytes_sent", "Bytes of sync frames sent to the peer"),
    (
        "sync_bytes_received",
        "Bytes of sync frames received from the peer",
    ),
];

/// Writes one gauge family read at scrape time (for a `Collector`):
/// `name{labels} value` per row; nothing when there are no rows.
pub fn gauges<L: EncodeLabelSet, V: EncodeGaugeValue + Copy>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    rows: &[(L, V)],
) -> Result<(), std::fmt::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut family = encoder.encode_descriptor(name, help, unit, MetricType::Gauge)?;
    for (labels, v) in rows {
        ConstGauge::new(*v).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}

/// [`gauges`] for counters read at scrape time (`name_total`).
pub fn counters<L: EncodeLabelSet, V: EncodeCounterValue + Copy>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: &[(L, V)],
) -> Result<(), std::fmt::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, v) in rows {
        ConstCounter::new(*v).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}

/// Seconds from `then_ms` to `now_ms` (never negative).
pub fn age_seconds(now_ms: i64, then_ms: i64) -> f64 {
    now_ms.saturating_sub(then_ms).max(0) as f64 / 1000.0
}

/// The `metrics_listen` setting of either service: `None` (no endpoint)
/// when unset; else an address like `127.0.0.1:9500` (port 0 picks one),
/// not the address of the service's own API (`listen`). The error names
/// the setting.
pub fn listen_setting(value: Option<&str>, api: SocketAddr) -> Result<Option<SocketAddr>, String> {
    let Some(v) = value else { return Ok(None) };
    let addr: SocketAddr = v.trim().parse().map_err(|e| {
        format!("metrics_listen: {v:?} is not an address like 127.0.0.1:9500 ({e}); leave it unset for no metrics endpoint")
    })?;
    if addr.port() != 0 && addr == api {
        return Err(format!(
            "metrics_listen: {addr} is also the address of listen (the gRPC API); give the metrics endpoint a port of its own"
        ));
    }
    Ok(Some(addr))
}

/// The `/metrics` endpoint: plain HTTP/1, `GET /metrics` only, each scrape
/// encoded on the blocking pool (collectors may read a store).
pub struct MetricsServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl MetricsServer {
    /// Serves `registry` on `listener` until `stop` completes; then stops
    /// accepting and drops the open connections (a scrape is short; a
    /// Prometheus keep-alive connection simply reconnects elsewhere).
    pub fn serve(
        listener: TcpListener,
        registry: Registry,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<MetricsServer> {
        let addr = listener.local_addr()?;
        let task = tokio::spawn(accept_until(listener, Arc::new(registry), stop));
        Ok(MetricsServer { addr, task })
    }

    /// Binds `metrics_listen` (`at`), serves `registry` there until `stop`
    /// turns true, and logs the address bound: what both services do.
    pub async fn start(
        at: SocketAddr,
        registry: Registry,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> std::io::Result<MetricsServer> {
        let listener = TcpListener::bind(at).await.map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot listen on metrics_listen {at}: {e}"),
            )
        })?;
        let server = Self::serve(listener, registry, async move {
            let _ = stop.wait_for(|s| *s).await;
        })?;
        tracing::info!(addr = %server.local_addr(), "metrics endpoint listening (Prometheus, GET /metrics)");
        Ok(server)
    }

    /// The address bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits, at most `deadline`, for the server to stop after its `stop`
    /// completed; aborts it after that.
    pub async fn join(mut self, deadline: Duration) {
        if tokio::time::timeout(deadline, &mut self.task)
            .await
            .is_err()
        {
            tracing::warn!("the metrics endpoint did not stop in time; aborted");
            self.task.abort();
            let _ = self.task.await;
        }
    }
}

async fn accept_until(
    listener: TcpListener,
    registry: Arc<Registry>,
    stop: impl Future<Output = ()> + Send + 'static,
) {
    let mut stop = std::pin::pin!(stop);
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            () = &mut stop => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((s, _)) => s,
                    Err(e) => {
                        // Out of file descriptors, say: try again shortly.
                        tracing::warn!(error = %e, "metrics endpoint: accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                if conns.len() >= MAX_CONNECTIONS {
                    continue;
                }
                let registry = registry.clone();
                conns.spawn(async move {
                    let answer = service_fn(move |req| answer(req, registry.clone()));
                    let conn = http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(HEADER_TIMEOUT)
                        .serve_connection(TokioIo::new(stream), answer);
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "metrics endpoint: connection ended");
                    }
                });
            }
        }
    }
    conns.abort_all();
    while conns.join_next().await.is_some() {}
    tracing::info!("metrics endpoint stopped");
}

fn plain(status: StatusCode, text: &str) -> Response<String> {
    let mut r = Response::new(format!("{text}\n"));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

async fn answer(
    req: Request<Incoming>,
    registry: Arc<Registry>,
) -> Result<Response<String>, Infallible> {
    if req.uri().path() != "/metrics" {
        return Ok(plain(
            StatusCode::NOT_FOUND,
            "not found: the metrics are at /metrics",
        ));
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Ok(plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET /metrics is served",
        ));
    }
    let text = crate::on_pool(move || {
        let mut s = String::new();
        prometheus_client::encoding::text::encode(&mut s, &registry).map(|()| s)
    })
    .await;
    Ok(match text {
        Ok(Ok(body)) => {
            let mut r = Response::new(body);
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static(CONTENT_TYPE),
            );
            r
        }
        Ok(Err(_)) | Err(_) => {
            tracing::error!("metrics could not be encoded");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the metrics could not be encoded; see the service's log",
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    async fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[test]
    fn the_listen_setting_is_checked_and_named() {
        let api: SocketAddr = "127.0.0.1:7500".parse().unwrap();
        assert_eq!(listen_setting(None, api), Ok(None));
        assert_eq!(
            listen_setting(Some("127.0.0.1:9500"), api),
            Ok(Some("127.0.0.1:9500".parse().unwrap()))
        );
        let e = listen_setting(Some("localhost"), api).unwrap_err();
        assert!(e.starts_with("metrics_listen: \"localhost\""), "{e}");
        let e = listen_setting(Some("127.0.0.1:7500"), api).unwrap_err();
        assert!(e.contains("metrics_listen") && e.contains("listen"), "{e}");
    }

    #[tokio::test]
    async fn serves_the_registry_at_metrics_and_stops_on_its_signal() {
        let mut reg = registry();
        let timings = Timings::default();
        timings.register(&mut reg);
        let traffic = SyncTraffic::default();
        traffic.register(&mut reg);
        traffic.community("c01").sent(100);
        Timings::observe(&timings.commit_seconds, Instant::now());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = MetricsServer::serve(listener, reg, async {
            let _ = stop_rx.await;
        })
        .unwrap();
        let addr = server.local_addr();
        let ok = get(addr, "/metrics").await;
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        assert!(ok.contains(CONTENT_TYPE), "{ok}");
        assert!(
            ok.contains("gridsync_sync_bytes_sent_total{community=\"c01\"} 100"),
            "{ok}"
        );
        assert!(ok.contains("gridsync_commit_seconds_count 1"), "{ok}");
        assert!(ok.contains("gridsync_rollup_seconds_count 0"), "{ok}");
        let missing = get(addr, "/other").await;
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
        stop_tx.send(()).unwrap();
        server.join(Duration::from_secs(5)).await;
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }
}
