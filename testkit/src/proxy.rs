//! A fault proxy on loopback: a TCP forwarder to put between a node and the
//! coordinator, so that the demo and partition tests can cut, blackhole,
//! reset and slow down a real link.
//!
//! It forwards bytes and understands none of them, so it is transparent to
//! TLS and to HTTP/2. Faults are applied per direction on whole chunks, and
//! it never drops a byte and carries on (that would corrupt the TLS record
//! stream): a connection either gets all its bytes in order, or is held, or
//! is reset.
//!
//! | fault | live connections | new connections |
//! |-------|------------------|-----------------|
//! | [`FaultProxy::cut`] | reset (RST) | accepted and reset at once |
//! | [`FaultProxy::blackhole`] | held open, no byte moves | accepted, upstream not dialled |
//! | [`FaultProxy::blackhole_one_way`] | held open, one direction moves | forwarded, one direction moves |
//! | [`FaultProxy::reset_all`] | reset once | forwarded |
//! | [`FaultProxy::heal`] | reset if they were blackholed | forwarded |
//!
//! ## Tasks
//!
//! One accept task owns the listener and a `JoinSet` of connection tasks,
//! one per accepted connection. Every task watches one `watch` channel of
//! `Control`: a fault that resets connections bumps its `epoch`, and a
//! connection task resets both its sockets and ends as soon as the epoch is
//! no longer the one it was accepted under. [`FaultProxy::shutdown`] (or
//! dropping the last handle) ends the accept task, which stops listening,
//! resets every connection and waits for their tasks, aborting them after a
//! deadline. Nothing polls: tasks sleep on sockets, the channel or a timer.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// Largest chunk read from one side before it is passed to the other.
const CHUNK_BYTES: usize = 16 * 1024;
/// Chunks in flight per direction (read but not yet written, e.g. while
/// delayed); beyond this the proxy stops reading and TCP pushes back.
const QUEUE_CHUNKS: usize = 64;
/// How long shutdown waits for connection tasks before aborting them. They
/// only have to notice the signal and reset two sockets.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(5);
/// Pause after a failed `accept` (e.g. out of file descriptors), so that a
/// persistent failure does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Which way bytes go through the proxy. The client is the side that
/// connects to the proxy (the node); upstream is the coordinator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the client (node) to upstream (coordinator).
    ToUpstream,
    /// From upstream (coordinator) to the client (node).
    ToClient,
}

/// The fault the proxy is applying now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyState {
    /// Every connection is forwarded.
    Open,
    /// Live connections were reset; new ones are reset on accept.
    Cut,
    /// No byte moves either way; new connections are accepted and hang.
    Blackholed,
    /// Bytes going this way are held; the other way flows.
    BlackholedOneWay(Direction),
}

impl ProxyState {
    /// Whether bytes going `dir` are forwarded.
    fn passes(self, dir: Direction) -> bool {
        match self {
            ProxyState::Open => true,
            ProxyState::BlackholedOneWay(blocked) => dir != blocked,
            ProxyState::Cut | ProxyState::Blackholed => false,
        }
    }

    /// Whether a new connection dials upstream (a blackholed one never
    /// reaches it, like a SYN into a dead route).
    fn dials(self) -> bool {
        matches!(self, ProxyState::Open | ProxyState::BlackholedOneWay(_))
    }

    fn is_blackholed(self) -> bool {
        matches!(
            self,
            ProxyState::Blackholed | ProxyState::BlackholedOneWay(_)
        )
    }
}

/// Counters since the proxy started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProxyStats {
    /// Connections accepted from clients (including those reset on accept).
    pub accepted: u64,
    /// Connections whose task is running now.
    pub live: u64,
    /// Connections the proxy reset because of a fault (`cut`, `reset_all`,
    /// `heal` after a blackhole, shutdown, or accepted while cut).
    pub reset: u64,
    /// Connections reset because upstream could not be reached or one side
    /// failed (the failure is passed on to the other side as a reset).
    pub failed: u64,
    /// Bytes written to upstream.
    pub bytes_to_upstream: u64,
    /// Bytes written to clients.
    pub bytes_to_client: u64,
}

/// What every task watches. A change of `epoch` resets every connection
/// accepted under an older one.
#[derive(Debug, Clone, Copy)]
struct Control {
    state: ProxyState,
    epoch: u64,
    delay: Duration,
    shutdown: bool,
}

#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    live: AtomicU64,
    reset: AtomicU64,
    failed: AtomicU64,
    bytes_to_upstream: AtomicU64,
    bytes_to_client: AtomicU64,
}

impl Counters {
    fn add_bytes(&self, dir: Direction, n: usize) {
        let counter = match dir {
            Direction::ToUpstream => &self.bytes_to_upstream,
            Direction::ToClient => &self.bytes_to_client,
        };
        counter.fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    fn snapshot(&self) -> ProxyStats {
        ProxyStats {
            accepted: self.accepted.load(Ordering::Relaxed),
            live: self.live.load(Ordering::Relaxed),
            reset: self.reset.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            bytes_to_upstream: self.bytes_to_upstream.load(Ordering::Relaxed),
            bytes_to_client: self.bytes_to_client.load(Ordering::Relaxed),
        }
    }
}

/// Counts a connection as live for as long as its task (or the future
/// before it is spawned) exists, however it ends.
struct LiveGuard(Arc<Counters>);

impl LiveGuard {
    fn new(counters: Arc<Counters>) -> Self {
        counters.live.fetch_add(1, Ordering::Relaxed);
        LiveGuard(counters)
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A handle on a running proxy; clones control the same proxy. Dropping the
/// last handle stops it as [`FaultProxy::shutdown`] does, without waiting.
#[derive(Debug, Clone)]
pub struct FaultProxy {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    local_addr: SocketAddr,
    upstream: SocketAddr,
    control: watch::Sender<Control>,
    counters: Arc<Counters>,
    /// Taken by the first `shutdown`. A `std` mutex is enough: it is held
    /// only to take the handle, never across an `.await`.
    accept_task: Mutex<Option<JoinHandle<()>>>,
}

impl FaultProxy {
    /// Listens on `listen` (e.g. `127.0.0.1:0`) and forwards every accepted
    /// connection to `upstream`. Must be called inside a tokio runtime.
    pub async fn start(listen: SocketAddr, upstream: SocketAddr) -> io::Result<FaultProxy> {
        let listener = TcpListener::bind(listen).await.map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("the fault proxy could not listen on {listen}: {e}"),
            )
        })?;
        let local_addr = listener.local_addr().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("the fault proxy's listener on {listen} has no local address: {e}"),
            )
        })?;
        let (control, control_rx) = watch::channel(Control {
            state: ProxyState::Open,
            epoch: 0,
            delay: Duration::ZERO,
            shutdown: false,
        });
        let counters = Arc::new(Counters::default());
        let accept_task = tokio::spawn(accept_loop(
            listener,
            upstream,
            control_rx,
            Arc::clone(&counters),
        ));
        tracing::debug!(%local_addr, %upstream, "fault proxy listening");
        Ok(FaultProxy {
            shared: Arc::new(Shared {
                local_addr,
                upstream,
                control,
                counters,
                accept_task: Mutex::new(Some(accept_task)),
            }),
        })
    }

    /// The address clients should connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// Where connections are forwarded.
    pub fn upstream(&self) -> SocketAddr {
        self.shared.upstream
    }

    /// Resets every live connection (both sides get an RST) and resets new
    /// connections as soon as they are accepted, until [`FaultProxy::heal`].
    pub fn cut(&self) {
        self.shared.control.send_modify(|c| {
            c.state = ProxyState::Cut;
            c.epoch += 1;
        });
        tracing::debug!(proxy = %self.shared.local_addr, "fault proxy: cut");
    }

    /// Silent partition: live connections stay open but no byte moves either
    /// way (bytes are held, never dropped); new connections are accepted and
    /// hang without upstream being dialled. Peers notice only by their own
    /// timeouts (HTTP/2 keep-alive). [`FaultProxy::heal`] then resets every
    /// connection that lived through it, like a NAT that forgot them.
    pub fn blackhole(&self) {
        self.shared
            .control
            .send_modify(|c| c.state = ProxyState::Blackholed);
        tracing::debug!(proxy = %self.shared.local_addr, "fault proxy: blackhole");
    }

    /// A one-way silent partition: bytes going `blocked` are held, the other
    /// way flows, for live and new connections alike. [`FaultProxy::heal`]
    /// resets every connection that lived through it.
    pub fn blackhole_one_way(&self, blocked: Direction) {
        self.shared
            .control
            .send_modify(|c| c.state = ProxyState::BlackholedOneWay(blocked));
        tracing::debug!(proxy = %self.shared.local_addr, ?blocked, "fault proxy: one-way blackhole");
    }

    /// Back to forwarding. Coming out of a blackhole, the connections that
    /// were held are reset (their held bytes are discarded with them); after
    /// a cut there is nothing left to reset. Healing an open proxy does
    /// nothing.
    pub fn heal(&self) {
        self.shared.control.send_if_modified(|c| {
            if c.state == ProxyState::Open {
                return false;
            }
            if c.state.is_blackholed() {
                c.epoch += 1;
            }
            c.state = ProxyState::Open;
            true
        });
        tracing::debug!(proxy = %self.shared.local_addr, "fault proxy: heal");
    }

    /// Resets every live connection once; the state is unchanged, so in an
    /// open proxy new connections are forwarded normally.
    pub fn reset_all(&self) {
        self.shared.control.send_modify(|c| c.epoch += 1);
        tracing::debug!(proxy = %self.shared.local_addr, "fault proxy: reset all");
    }

    /// Holds every chunk read from either side for `delay` before writing it
    /// to the other side (`Duration::ZERO`: none). This is latency, not a
    /// rate limit: chunks are pipelined, and each direction keeps its byte
    /// order. Applies to chunks read from now on.
    pub fn set_delay(&self, delay: Duration) {
        self.shared.control.send_if_modified(|c| {
            let changed = c.delay != delay;
            c.delay = delay;
            changed
        });
    }

    /// The fault applied now.
    pub fn state(&self) -> ProxyState {
        self.shared.control.borrow().state
    }

    /// Counters since the proxy started.
    pub fn stats(&self) -> ProxyStats {
        self.shared.counters.snapshot()
    }

    /// Stops listening, resets every connection and waits for every task of
    /// the proxy to end. Other clones of this handle are left with a stopped
    /// proxy; if one of them already shut it down, this returns at once.
    pub async fn shutdown(self) {
        self.shared.control.send_modify(|c| {
            c.shutdown = true;
            c.epoch += 1;
        });
        let task = self
            .shared
            .accept_task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task
            && let Err(e) = task.await
        {
            tracing::warn!(proxy = %self.shared.local_addr, error = %e, "the fault proxy's accept task failed");
        }
        tracing::debug!(proxy = %self.shared.local_addr, "fault proxy stopped");
    }
}

/// Waits until `condition` holds; `false` if every handle is gone.
async fn wait_until(
    control: &mut watch::Receiver<Control>,
    condition: impl FnMut(&Control) -> bool,
) -> bool {
    control.wait_for(condition).await.is_ok()
}

/// Completes once connections accepted under `epoch` must be reset: a fault
/// bumped the epoch, the proxy is shutting down, or every handle is gone.
async fn reset_requested(mut control: watch::Receiver<Control>, epoch: u64) {
    wait_until(&mut control, |c| c.epoch != epoch || c.shutdown).await;
}

/// Sends an RST rather than a FIN: `SO_LINGER` 0, then close.
fn reset(stream: TcpStream) {
    if let Err(e) = stream.set_zero_linger() {
        // The close still happens, as a FIN: the peer sees EOF, not a reset.
        tracing::debug!(error = %e, "fault proxy: could not set SO_LINGER 0");
    }
    drop(stream);
}

async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    mut control: watch::Receiver<Control>,
    counters: Arc<Counters>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            () = async { wait_until(&mut control, |c| c.shutdown).await; } => break,
            Some(ended) = connections.join_next(), if !connections.is_empty() => {
                if let Err(e) = ended {
                    tracing::warn!(error = %e, "a fault proxy connection task failed");
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((client, peer)) => {
                    counters.accepted.fetch_add(1, Ordering::Relaxed);
                    let Control { state, epoch, .. } = *control.borrow();
                    if state == ProxyState::Cut {
                        counters.reset.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(%peer, "fault proxy: cut, resetting a new connection");
                        reset(client);
                        continue;
                    }
                    if let Err(e) = client.set_nodelay(true) {
                        tracing::debug!(%peer, error = %e, "fault proxy: could not set TCP_NODELAY");
                    }
                    let live = LiveGuard::new(Arc::clone(&counters));
                    connections.spawn(connection(client, upstream, epoch, control.clone(), live));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the fault proxy could not accept a connection; retrying");
                    tokio::select! {
                        () = async { wait_until(&mut control, |c| c.shutdown).await; } => break,
                        () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                    }
                }
            },
        }
    }
    drop(listener);
    // Every connection task has seen the shutdown (or the handles go away)
    // and is resetting its sockets; wait for them, within a deadline.
    let drained = tokio::time::timeout(SHUTDOWN_DEADLINE, async {
        while let Some(ended) = connections.join_next().await {
            if let Err(e) = ended {
                tracing::warn!(error = %e, "a fault proxy connection task failed");
            }
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            left = connections.len(),
            "fault proxy connection tasks did not stop in time; aborting them"
        );
        connections.shutdown().await;
    }
}

/// How a connection ended.
enum Ending {
    /// Both directions reached EOF and were passed on.
    Closed,
    /// A fault or the shutdown reset it.
    Reset,
    /// Upstream could not be reached or a side failed.
    Failed,
}

/// One accepted connection, from dialling upstream to its end.
async fn connection(
    mut client: TcpStream,
    upstream_addr: SocketAddr,
    epoch: u64,
    control: watch::Receiver<Control>,
    live: LiveGuard,
) {
    let counters = Arc::clone(&live.0);
    let mut upstream = None;
    let ending = tokio::select! {
        biased;
        () = reset_requested(control.clone(), epoch) => Ending::Reset,
        ending = forward(&mut client, &mut upstream, upstream_addr, control, &counters) => ending,
    };
    let counter = match ending {
        Ending::Closed => return,
        Ending::Reset => &counters.reset,
        Ending::Failed => &counters.failed,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    reset(client);
    if let Some(upstream) = upstream {
        reset(upstream);
    }
    drop(live);
}

/// Dials upstream (once the state lets it) into `upstream`, then pumps both
/// directions until both end.
async fn forward(
    client: &mut TcpStream,
    upstream: &mut Option<TcpStream>,
    upstream_addr: SocketAddr,
    mut control: watch::Receiver<Control>,
    counters: &Counters,
) -> Ending {
    if !wait_until(&mut control, |c| c.state.dials()).await {
        return Ending::Reset;
    }
    let dialled = match TcpStream::connect(upstream_addr).await {
        Ok(stream) => stream,
        Err(e) => {
            tracing::debug!(upstream = %upstream_addr, error = %e, "fault proxy: upstream unreachable; resetting the client");
            return Ending::Failed;
        }
    };
    if let Err(e) = dialled.set_nodelay(true) {
        tracing::debug!(error = %e, "fault proxy: could not set TCP_NODELAY upstream");
    }
    let upstream = upstream.insert(dialled);
    let (client_read, client_write) = client.split();
    let (upstream_read, upstream_write) = upstream.split();
    let pumped = tokio::try_join!(
        pump(
            client_read,
            upstream_write,
            Direction::ToUpstream,
            control.clone(),
            counters
        ),
        pump(
            upstream_read,
            client_write,
            Direction::ToClient,
            control,
            counters
        ),
    );
    match pumped {
        Ok(((), ())) => Ending::Closed,
        Err(e) => {
            tracing::debug!(error = %e, "fault proxy: a side of the connection failed; resetting both");
            Ending::Failed
        }
    }
}

/// Moves bytes one way: a reader stamps each chunk with when it is due, a
/// writer holds it until then (and while this direction is blocked) and
/// writes it. Both run in this task; the bounded queue between them keeps
/// order and pushes back on the sender. At EOF the writer half-closes the
/// other side once every chunk is written.
async fn pump(
    mut from: ReadHalf<'_>,
    mut to: WriteHalf<'_>,
    dir: Direction,
    control: watch::Receiver<Control>,
    counters: &Counters,
) -> io::Result<()> {
    let (queue, mut queued) = mpsc::channel::<(Instant, Vec<u8>)>(QUEUE_CHUNKS);
    let mut read_control = control.clone();
    let mut write_control = control;
    let reader = async move {
        let mut buf = vec![0u8; CHUNK_BYTES];
        loop {
            if !wait_until(&mut read_control, |c| c.state.passes(dir)).await {
                return Err(proxy_stopped());
            }
            let n = read_some(&mut from, &mut buf).await?;
            if n == 0 {
                return Ok(()); // drops `queue`: the writer drains and half-closes
            }
            let due = Instant::now() + read_control.borrow().delay;
            if queue.send((due, buf[..n].to_vec())).await.is_err() {
                // The writer stopped on an error, which `try_join!` reports.
                return Ok(());
            }
        }
    };
    let writer = async move {
        while let Some((due, chunk)) = queued.recv().await {
            if due > Instant::now() {
                tokio::time::sleep_until(due).await;
            }
            if !wait_until(&mut write_control, |c| c.state.passes(dir)).await {
                return Err(proxy_stopped());
            }
            write_all(&mut to, &chunk).await?;
            counters.add_bytes(dir, chunk.len());
        }
        poll_fn(|cx| Pin::new(&mut to).poll_shutdown(cx)).await
    };
    tokio::try_join!(reader, writer).map(|((), ())| ())
}

fn proxy_stopped() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "the fault proxy was stopped",
    )
}

async fn read_some(from: &mut ReadHalf<'_>, buf: &mut [u8]) -> io::Result<usize> {
    let mut read = ReadBuf::new(buf);
    poll_fn(|cx| Pin::new(&mut *from).poll_read(cx, &mut read)).await?;
    Ok(read.filled().len())
}

async fn write_all(to: &mut WriteHalf<'_>, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        let n = poll_fn(|cx| Pin::new(&mut *to).poll_write(cx, bytes)).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "the fault proxy could not write to a closed connection",
            ));
        }
        bytes = &bytes[n..];
    }
    Ok(())
}
