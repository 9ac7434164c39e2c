//! Accepting connections the way a service open to a network must: no
//! door left open to an idle peer.
//!
//! Every accepted connection is counted (in all, and per remote address);
//! one over either cap is closed at once, before any handshake. The TLS
//! handshake (when TLS is on) must finish within `handshake_timeout`, and
//! the HTTP/2 preface must follow within `preface_timeout`; a connection
//! that does neither is closed, its slot freed. Handshakes run side by
//! side, so one slow peer never holds up the next. What comes out is a
//! stream of ready connections for tonic to serve, each carrying its
//! [`PeerInfo`] (remote address, verified client certificates) into every
//! request's extensions, where [`crate::identity::authenticate`] reads it.
//! TCP_NODELAY is set on every accepted TCP socket.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;
use tokio_stream::{Stream, StreamExt};
use tonic::transport::server::{Connected, TcpConnectInfo};

/// The first bytes of every HTTP/2 connection.
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Caps and deadlines on accepted connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AcceptLimits {
    /// Connections open at once; more are closed as they arrive.
    pub max_connections: usize,
    /// Connections open at once from one remote address.
    pub max_per_address: usize,
    /// Time for the TLS handshake.
    pub handshake_timeout: Duration,
    /// Time for the HTTP/2 preface once the handshake is done.
    pub preface_timeout: Duration,
}

impl Default for AcceptLimits {
    /// Room for a street of nodes and its operators, well under systemd's
    /// default of 1,024 open files.
    fn default() -> Self {
        AcceptLimits {
            max_connections: 512,
            max_per_address: 64,
            handshake_timeout: Duration::from_secs(10),
            preface_timeout: Duration::from_secs(10),
        }
    }
}

/// What a request knows of the connection it came on.
#[derive(Clone, Debug, Default)]
pub struct PeerInfo {
    pub remote: Option<SocketAddr>,
    /// The client's certificate chain, verified against the street CA
    /// during the handshake (`None` without TLS or without a certificate).
    pub certs: Option<Arc<Vec<CertificateDer<'static>>>>,
}

/// Open connections, in all and per address.
#[derive(Default)]
struct Counts {
    total: usize,
    per: HashMap<IpAddr, usize>,
}

/// A connection's place in the counts, given back when it closes.
struct Slot {
    counts: Arc<Mutex<Counts>>,
    ip: Option<IpAddr>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        c.total = c.total.saturating_sub(1);
        if let Some(ip) = self.ip
            && let Some(n) = c.per.get_mut(&ip)
        {
            *n -= 1;
            if *n == 0 {
                c.per.remove(&ip);
            }
        }
    }
}

/// A stream with bytes already read put back in front of it.
struct Rewind<S> {
    prefix: Option<Vec<u8>>,
    inner: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(p) = self.prefix.take() {
            let n = p.len().min(buf.remaining());
            buf.put_slice(&p[..n]);
            if n < p.len() {
                self.prefix = Some(p[n..].to_vec());
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

type BoxIo = Box<dyn Io>;

/// What a connection's bytes travel over: plain, or TLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// A connection that passed every check, ready to serve.
pub struct Conn {
    io: Rewind<BoxIo>,
    info: PeerInfo,
    _slot: Slot,
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

impl Connected for Conn {
    type ConnectInfo = PeerInfo;
    fn connect_info(&self) -> PeerInfo {
        self.info.clone()
    }
}

/// How accepted connections are checked: TLS (or none, for development
/// tokens) and the limits.
#[derive(Clone)]
pub struct Acceptor {
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: AcceptLimits,
    counts: Arc<Mutex<Counts>>,
}

impl Acceptor {
    pub fn new(tls: Option<crate::tls::ServerTls>, limits: AcceptLimits) -> Self {
        Acceptor {
            tls: tls.map(|t| tokio_rustls::TlsAcceptor::from(t.config())),
            limits,
            counts: Arc::default(),
        }
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.counts.lock().unwrap_or_else(|p| p.into_inner()).total
    }

    /// Takes a place for a connection from `ip`, or `None` over a cap.
    fn slot(&self, ip: Option<IpAddr>) -> Option<Slot> {
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if c.total >= self.limits.max_connections {
            return None;
        }
        if let Some(ip) = ip {
            let n = c.per.entry(ip).or_default();
            if *n >= self.limits.max_per_address {
                return None;
            }
            *n += 1;
        }
        c.total += 1;
        Some(Slot {
            counts: self.counts.clone(),
            ip,
        })
    }

    /// The handshake and the preface of one connection, within their
    /// deadlines.
    async fn ready<IO>(&self, io: IO, remote: Option<SocketAddr>, slot: Slot) -> io::Result<Conn>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let timeout = |d: Duration, what: &'static str| {
            move |_| {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{what} took longer than {d:?}"),
                )
            }
        };
        let (mut io, certs): (BoxIo, _) = match &self.tls {
            Some(acceptor) => {
                let tls = tokio::time::timeout(self.limits.handshake_timeout, acceptor.accept(io))
                    .await
                    .map_err(timeout(self.limits.handshake_timeout, "the TLS handshake"))??;
                let certs = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .map(|c| Arc::new(c.iter().map(|d| d.clone().into_owned()).collect()));
                (Box::new(tls), certs)
            }
            None => (Box::new(io), None),
        };
        let mut preface = [0u8; 24];
        tokio::time::timeout(self.limits.preface_timeout, io.read_exact(&mut preface))
            .await
            .map_err(timeout(self.limits.preface_timeout, "the HTTP/2 preface"))??;
        if &preface != PREFACE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not an HTTP/2 connection (no preface)",
            ));
        }
        Ok(Conn {
            io: Rewind {
                prefix: Some(preface.to_vec()),
                inner: io,
            },
            info: PeerInfo { remote, certs },
            _slot: slot,
        })
    }

    /// The connections of `incoming` that pass, as a stream for tonic's
    /// `serve_with_incoming`. Refused connections are closed and logged.
    pub fn serve<I, IO, E>(
        self,
        incoming: I,
    ) -> impl Stream<Item = io::Result<Conn>> + Send + 'static
    where
        I: Stream<Item = Result<IO, E>> + Send + 'static,
        IO: AsyncRead
            + AsyncWrite
            + Connected<ConnectInfo = TcpConnectInfo>
            + Unpin
            + Send
            + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        let (tx, rx) = mpsc::channel::<io::Result<Conn>>(64);
        tokio::spawn(async move {
            let mut incoming = std::pin::pin!(incoming);
            loop {
                // The listener is dropped as soon as the server stops
                // taking connections, not when the next one arrives.
                let next = tokio::select! {
                    n = incoming.next() => n,
                    () = tx.closed() => return,
                };
                let Some(next) = next else { return };
                let io = match next {
                    Ok(io) => io,
                    Err(e) => {
                        tracing::warn!(error = %e, "accepting a connection failed");
                        continue;
                    }
                };
                let remote = io.connect_info().remote_addr();
                let Some(slot) = self.slot(remote.map(|a| a.ip())) else {
                    tracing::warn!(
                        remote = ?remote,
                        max = self.limits.max_connections,
                        per_address = self.limits.max_per_address,
                        "connection refused: too many open"
                    );
                    drop(io);
                    continue;
                };
                let me = self.clone();
                let ready_tx = tx.clone();
                tokio::spawn(async move {
                    match me.ready(io, remote, slot).await {
                        Ok(conn) => {
                            let _ = ready_tx.send(Ok(conn)).await;
                        }
                        Err(e) => {
                            tracing::debug!(remote = ?remote, error = %e, "connection closed before it was ready")
                        }
                    }
                });
            }
        });
        tokio_stream::wrappers::ReceiverStream::new(rx)
    }
}

/// A TCP listener's connections, with TCP_NODELAY set on each.
pub fn tcp(
    listener: tokio::net::TcpListener,
) -> impl Stream<Item = io::Result<tokio::net::TcpStream>> + Send + 'static {
    tokio_stream::wrappers::TcpListenerStream::new(listener).map(|s| {
        let s = s?;
        s.set_nodelay(true)?;
        Ok(s)
    })
}

#[cfg(test)]
mod tests {
    use tokio_stream::StreamExt;

    use super::*;

    /// Every socket the services accept has TCP_NODELAY: a small answer is
    /// not held back (Nagle's algorithm waiting on the peer's delayed ACK
    /// adds ~40 ms to it). The services serve their own listener, where
    /// tonic's own `tcp_nodelay` setting does not apply.
    #[tokio::test]
    async fn accepted_sockets_have_tcp_nodelay() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut incoming = Box::pin(tcp(listener));
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let accepted = incoming.next().await.unwrap().unwrap();
        assert!(accepted.nodelay().unwrap());
    }
}
