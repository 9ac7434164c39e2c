//! The loopback fault proxy: bytes through it, each fault on live and new
//! connections, delay keeping order, no task left behind, and a real gRPC
//! health check through it.
//!
//! No assertion depends on timing in the direction that could flake: the
//! tests wait for a condition with a generous deadline that only a hang
//! reaches. The blackhole checks are negative ("nothing moved") and can only
//! pass spuriously, never fail spuriously.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use gridsync_testkit::proxy::{Direction, FaultProxy, ProxyState, ProxyStats};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Channel, Endpoint, Server};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Only a hang (a bug) reaches this.
const DEADLINE: Duration = Duration::from_secs(10);
/// How long a negative check ("nothing moved") gives the proxy to misbehave.
const QUIET: Duration = Duration::from_millis(300);

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Polls `condition` until it holds, failing after `DEADLINE`.
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn write_all(stream: &TcpStream, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        stream.writable().await?;
        match stream.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn read_some(stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        stream.readable().await?;
        match stream.try_read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
}

/// Reads exactly `n` bytes, or fails on EOF or error.
async fn read_exact(stream: &TcpStream, n: usize) -> io::Result<Vec<u8>> {
    let mut out = vec![0u8; n];
    let mut filled = 0;
    while filled < n {
        let got = read_some(stream, &mut out[filled..]).await?;
        if got == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        filled += got;
    }
    Ok(out)
}

/// Writes `msg` and expects it echoed, within the deadline.
async fn echo_round_trip(stream: &TcpStream, msg: &[u8]) -> io::Result<()> {
    timeout(DEADLINE, async {
        write_all(stream, msg).await?;
        let back = read_exact(stream, msg.len()).await?;
        assert_eq!(back, msg, "the echo came back altered");
        Ok(())
    })
    .await
    .expect("echo round trip hung")
}

/// Waits until the peer resets or closes `stream`; reading returns an error
/// or EOF. Data still in flight is read past.
async fn expect_dead(stream: &TcpStream, what: &str) {
    let ended = timeout(DEADLINE, async {
        let mut buf = [0u8; 1024];
        loop {
            match read_some(stream, &mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "{what}: the connection stayed alive");
}

/// Waits until the peer resets `stream` with an RST (not a FIN): reading
/// fails with `ConnectionReset`.
async fn expect_reset(stream: &TcpStream, what: &str) {
    let ended = timeout(DEADLINE, async {
        let mut buf = [0u8; 1024];
        loop {
            match read_some(stream, &mut buf).await {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what}: the connection stayed alive"));
    match ended {
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
        other => panic!("{what}: expected a reset, got {other:?}"),
    }
}

/// A connection through the proxy that is refused or dies at once.
async fn expect_refused(addr: SocketAddr, what: &str) {
    let Ok(stream) = TcpStream::connect(addr).await else {
        return;
    };
    // The kernel may complete the handshake before the proxy resets it;
    // a write may even succeed, but nothing comes back.
    let _ = write_all(&stream, b"anyone?").await;
    expect_dead(&stream, what).await;
}

/// An echo server counting what it accepted and echoed.
struct Echo {
    addr: SocketAddr,
    accepted: Arc<AtomicU64>,
    echoed: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl Echo {
    async fn start() -> Echo {
        let listener = TcpListener::bind(loopback()).await.expect("bind echo");
        let addr = listener.local_addr().expect("echo addr");
        let accepted = Arc::new(AtomicU64::new(0));
        let echoed = Arc::new(AtomicU64::new(0));
        let (acc, ech) = (Arc::clone(&accepted), Arc::clone(&echoed));
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                acc.fetch_add(1, Ordering::SeqCst);
                let ech = Arc::clone(&ech);
                conns.spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    while let Ok(n) = read_some(&stream, &mut buf).await {
                        if n == 0 || write_all(&stream, &buf[..n]).await.is_err() {
                            break;
                        }
                        ech.fetch_add(n as u64, Ordering::SeqCst);
                    }
                });
            }
        });
        Echo {
            addr,
            accepted,
            echoed,
            task,
        }
    }

    fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }

    fn echoed(&self) -> u64 {
        self.echoed.load(Ordering::SeqCst)
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn proxy_to(upstream: SocketAddr) -> FaultProxy {
    FaultProxy::start(loopback(), upstream)
        .await
        .expect("start the proxy")
}

async fn connect(proxy: &FaultProxy) -> TcpStream {
    TcpStream::connect(proxy.local_addr())
        .await
        .expect("connect to the proxy")
}

#[tokio::test]
async fn bytes_flow_both_ways() {
    let echo = Echo::start().await;
    let proxy = proxy_to(echo.addr).await;
    assert_eq!(proxy.state(), ProxyState::Open);

    let client = connect(&proxy).await;
    echo_round_trip(&client, b"hello, coordinator")
        .await
        .expect("small echo");

    // More than the proxy's queues and the socket buffers hold, written and
    // read at once, so backpressure is exercised.
    let big: Vec<u8> = (0..4 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let (wrote, back) = timeout(DEADLINE, async {
        tokio::join!(write_all(&client, &big), read_exact(&client, big.len()))
    })
    .await
    .expect("large echo hung");
    wrote.expect("write the large message");
    assert!(
        back.expect("read the large echo") == big,
        "large echo altered"
    );

    let total = (18 + big.len()) as u64;
    eventually("the byte counters catch up", || {
        let s = proxy.stats();
        s.bytes_to_upstream == total && s.bytes_to_client == total
    })
    .await;
    let stats = proxy.stats();
    assert_eq!((stats.accepted, stats.live, stats.reset), (1, 1, 0));

    drop(client);
    eventually("the closed connection's task ends", || {
        proxy.stats().live == 0
    })
    .await;
    assert_eq!(
        proxy.stats().failed + proxy.stats().reset,
        0,
        "a clean close is no reset"
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn cut_resets_live_and_new_connections_until_heal() {
    let echo = Echo::start().await;
    let proxy = proxy_to(echo.addr).await;
    let live = connect(&proxy).await;
    echo_round_trip(&live, b"before")
        .await
        .expect("echo before the cut");

    proxy.cut();
    assert_eq!(proxy.state(), ProxyState::Cut);
    expect_reset(&live, "a live connection after cut").await;
    // The upstream side was reset too.
    expect_refused(proxy.local_addr(), "a new connection while cut").await;
    expect_refused(proxy.local_addr(), "another new connection while cut").await;
    eventually("every connection task has ended", || {
        proxy.stats().live == 0
    })
    .await;
    assert!(proxy.stats().reset >= 3, "{:?}", proxy.stats());

    proxy.heal();
    assert_eq!(proxy.state(), ProxyState::Open);
    let fresh = connect(&proxy).await;
    echo_round_trip(&fresh, b"after")
        .await
        .expect("echo after heal");
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_cut_proxy_leaks_no_connection_task() {
    let echo = Echo::start().await;
    let proxy = proxy_to(echo.addr).await;
    let mut clients = Vec::new();
    for i in 0..20u8 {
        let client = connect(&proxy).await;
        echo_round_trip(&client, &[i]).await.expect("echo");
        clients.push(client);
    }
    assert_eq!(proxy.stats().live, 20);
    proxy.cut();
    for client in &clients {
        expect_reset(client, "a connection after cut").await;
    }
    eventually("every connection task has ended", || {
        proxy.stats().live == 0
    })
    .await;
    assert_eq!(proxy.stats().reset, 20);
    proxy.shutdown().await;
}

#[tokio::test]
async fn blackhole_moves_nothing_and_heal_resets_the_held_connections() {
    let echo = Echo::start().await;
    let proxy = proxy_to(echo.addr).await;
    let held = connect(&proxy).await;
    echo_round_trip(&held, b"before")
        .await
        .expect("echo before the blackhole");

    proxy.blackhole();
    assert_eq!(proxy.state(), ProxyState::Blackholed);
    let before = proxy.stats();
    write_all(&held, b"into the void")
        .await
        .expect("the write is accepted locally");
    // A new connection is accepted by the proxy but never reaches upstream.
    let hanging = connect(&proxy).await;
    write_all(&hanging, b"hello?")
        .await
        .expect("write on the hanging connection");
    eventually("the proxy accepted the new connection", || {
        proxy.stats().accepted == before.accepted + 1
    })
    .await;

    tokio::time::sleep(QUIET).await;
    let during = proxy.stats();
    assert_eq!(
        (during.bytes_to_upstream, during.bytes_to_client),
        (before.bytes_to_upstream, before.bytes_to_client),
        "bytes moved through a blackhole"
    );
    assert_eq!(
        echo.echoed(),
        6,
        "upstream received bytes through a blackhole"
    );
    assert_eq!(
        echo.accepted(),
        1,
        "upstream was dialled through a blackhole"
    );
    assert_eq!(during.live, 2, "blackholed connections stay open");
    let mut buf = [0u8; 16];
    assert!(
        timeout(QUIET, read_some(&held, &mut buf)).await.is_err(),
        "something came back through a blackhole"
    );

    proxy.heal();
    assert_eq!(proxy.state(), ProxyState::Open);
    expect_reset(&held, "a held connection after heal").await;
    expect_reset(&hanging, "a hanging connection after heal").await;
    eventually("the held connections' tasks end", || {
        proxy.stats().live == 0
    })
    .await;
    let fresh = connect(&proxy).await;
    echo_round_trip(&fresh, b"after")
        .await
        .expect("echo after heal");
    proxy.shutdown().await;
}

#[tokio::test]
async fn one_way_blackhole_holds_one_direction_only() {
    let echo = Echo::start().await;
    let proxy = proxy_to(echo.addr).await;
    let client = connect(&proxy).await;
    echo_round_trip(&client, b"before")
        .await
        .expect("echo before");

    proxy.blackhole_one_way(Direction::ToClient);
    assert_eq!(
        proxy.state(),
        ProxyState::BlackholedOneWay(Direction::ToClient)
    );
    let before = proxy.stats();
    write_all(&client, b"ping").await.expect("write");
    // The request reaches upstream, which echoes it...
    eventually("upstream echoed the request", || echo.echoed() == 10).await;
    // ...but the answer is held.
    tokio::time::sleep(QUIET).await;
    let during = proxy.stats();
    assert_eq!(during.bytes_to_upstream, before.bytes_to_upstream + 4);
    assert_eq!(
        during.bytes_to_client, before.bytes_to_client,
        "the answer got through"
    );

    proxy.heal();
    expect_reset(&client, "a half-held connection after heal").await;
    let fresh = connect(&proxy).await;
    echo_round_trip(&fresh, b"after")
        .await
        .expect("echo after heal");
    proxy.shutdown().await;
}

#[tokio::test]
async fn reset_all_resets_live_connections_once() {
    let echo = Echo::start().await;
    let proxy = proxy_to(echo.addr).await;
    let first = connect(&proxy).await;
    let second = connect(&proxy).await;
    echo_round_trip(&first, b"one").await.expect("echo one");
    echo_round_trip(&second, b"two").await.expect("echo two");

    proxy.reset_all();
    assert_eq!(proxy.state(), ProxyState::Open);
    expect_reset(&first, "the first connection after reset_all").await;
    expect_reset(&second, "the second connection after reset_all").await;
    eventually("the reset connections' tasks end", || {
        proxy.stats().live == 0
    })
    .await;
    assert_eq!(proxy.stats().reset, 2);

    let fresh = connect(&proxy).await;
    echo_round_trip(&fresh, b"again")
        .await
        .expect("echo after reset_all");
    assert_eq!(proxy.stats().live, 1);
    proxy.shutdown().await;
}

#[tokio::test]
async fn delay_keeps_the_byte_order_of_many_small_writes() {
    let echo = Echo::start().await;
    let proxy = proxy_to(echo.addr).await;
    let delay = Duration::from_millis(20);
    proxy.set_delay(delay);
    let client = connect(&proxy).await;

    // A round trip crosses the proxy twice; tokio never wakes a timer early,
    // so this lower bound cannot flake.
    let start = Instant::now();
    echo_round_trip(&client, b"x").await.expect("delayed echo");
    assert!(start.elapsed() >= 2 * delay, "the delay was not applied");

    let sent: Vec<u8> = (0..2000u32).flat_map(|i| i.to_be_bytes()).collect();
    let reader = async {
        timeout(DEADLINE, read_exact(&client, sent.len()))
            .await
            .expect("the delayed echo hung")
    };
    let writer = async {
        for word in sent.chunks(4) {
            write_all(&client, word).await?;
            tokio::task::yield_now().await;
        }
        io::Result::Ok(())
    };
    let (wrote, back) = tokio::join!(writer, reader);
    wrote.expect("write the sequence");
    let back = back.expect("read the sequence");
    let first_out_of_order = back
        .chunks(4)
        .zip(sent.chunks(4))
        .position(|(got, want)| got != want);
    assert_eq!(first_out_of_order, None, "the delayed bytes were reordered");

    proxy.set_delay(Duration::ZERO);
    echo_round_trip(&client, b"undelayed")
        .await
        .expect("echo without delay");
    proxy.shutdown().await;
}

#[tokio::test]
async fn shutdown_resets_everything_and_stops_listening() {
    let echo = Echo::start().await;
    let proxy = proxy_to(echo.addr).await;
    let addr = proxy.local_addr();
    let observer = proxy.clone();
    let live = connect(&proxy).await;
    echo_round_trip(&live, b"hi").await.expect("echo");

    timeout(DEADLINE, proxy.shutdown())
        .await
        .expect("shutdown hung");
    let stats: ProxyStats = observer.stats();
    assert_eq!((stats.live, stats.reset), (0, 1));
    expect_reset(&live, "a live connection after shutdown").await;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the proxy still listens after shutdown"
    );
    // A second shutdown from another handle returns at once.
    timeout(DEADLINE, observer.shutdown())
        .await
        .expect("second shutdown hung");
}

#[tokio::test]
async fn dropping_the_last_handle_stops_the_proxy() {
    let echo = Echo::start().await;
    let proxy = proxy_to(echo.addr).await;
    let addr = proxy.local_addr();
    let live = connect(&proxy).await;
    echo_round_trip(&live, b"hi").await.expect("echo");

    drop(proxy);
    expect_reset(&live, "a live connection after the last handle is dropped").await;
    let start = Instant::now();
    while TcpStream::connect(addr).await.is_ok() {
        assert!(
            start.elapsed() < DEADLINE,
            "the dropped proxy still listens"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn an_unreachable_upstream_resets_the_client() {
    // Bind then drop, so nothing listens there.
    let upstream = {
        let l = TcpListener::bind(loopback()).await.expect("bind");
        l.local_addr().expect("addr")
    };
    let proxy = proxy_to(upstream).await;
    expect_refused(proxy.local_addr(), "a connection to a dead upstream").await;
    eventually("the failure is counted", || proxy.stats().failed == 1).await;
    proxy.shutdown().await;
}

/// A tonic health server on 127.0.0.1:0.
struct HealthServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl HealthServer {
    async fn start() -> HealthServer {
        let (_reporter, health) = tonic_health::server::health_reporter();
        let listener = TcpListener::bind(loopback()).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(
            Server::builder()
                .add_service(health)
                .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                    let _ = stopped.await;
                }),
        );
        HealthServer {
            addr,
            stop: Some(stop),
            task,
        }
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let served = timeout(DEADLINE, &mut self.task)
            .await
            .expect("the health server did not stop");
        served.expect("server task").expect("serve");
    }
}

fn endpoint(addr: SocketAddr) -> Endpoint {
    Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect_timeout(Duration::from_secs(5))
}

/// One health check on `channel`, bounded by the deadline.
async fn check(channel: Channel) -> Result<ServingStatus, String> {
    let call = async {
        HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .map(|r| r.into_inner().status())
            .map_err(|s| format!("{s:?}"))
    };
    timeout(DEADLINE, call)
        .await
        .expect("the health check hung")
}

/// Connects a fresh channel and checks health.
async fn check_fresh(endpoint: Endpoint) -> Result<ServingStatus, String> {
    let connected = timeout(DEADLINE, endpoint.connect())
        .await
        .expect("connect hung")
        .map_err(|e| format!("connect: {e:?}"))?;
    check(connected).await
}

#[tokio::test]
async fn a_grpc_health_check_through_the_proxy_fails_when_cut_and_works_after_heal() {
    let server = HealthServer::start().await;
    let proxy = proxy_to(server.addr).await;
    let through = endpoint(proxy.local_addr());

    let channel = through.connect().await.expect("connect through the proxy");
    assert_eq!(check(channel.clone()).await, Ok(ServingStatus::Serving));

    proxy.cut();
    assert!(
        check(channel).await.is_err(),
        "a check on the cut channel succeeded"
    );
    assert!(
        check_fresh(through.clone()).await.is_err(),
        "a check on a fresh channel through a cut proxy succeeded"
    );

    proxy.heal();
    assert_eq!(
        check_fresh(through).await,
        Ok(ServingStatus::Serving),
        "a fresh channel after heal"
    );
    proxy.shutdown().await;
    server.stop().await;
}

#[tokio::test]
async fn a_blackholed_grpc_channel_is_noticed_by_keep_alive() {
    let server = HealthServer::start().await;
    let proxy = proxy_to(server.addr).await;
    let through = endpoint(proxy.local_addr())
        .http2_keep_alive_interval(Duration::from_millis(200))
        .keep_alive_timeout(Duration::from_millis(500))
        .keep_alive_while_idle(true);
    let channel = through.connect().await.expect("connect through the proxy");
    assert_eq!(check(channel.clone()).await, Ok(ServingStatus::Serving));

    proxy.blackhole();
    // No request timeout: only the keep-alive can end this call.
    assert!(
        check(channel).await.is_err(),
        "a check through a blackhole succeeded"
    );

    proxy.heal();
    assert_eq!(
        check_fresh(through).await,
        Ok(ServingStatus::Serving),
        "a fresh channel after heal"
    );
    proxy.shutdown().await;
    server.stop().await;
}
