//! tonic over turmoil's simulated TCP: the server's incoming connections
//! and the client's dialer, with the same TLS, keep-alive and services as
//! over real sockets.

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::pin::Pin;
use std::task::{Context, Poll};

use gridsync_node::link::Dialer;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::{Connected, TcpConnectInfo};
use tonic::transport::{Channel, Endpoint, Uri};

/// The port the coordinator listens on in a simulated street.
pub const PORT: u16 = 7443;

/// An accepted simulated connection. It reports its addresses the way a
/// real TCP stream does, so that tonic's TLS layer hands the service the
/// client's certificate (`Request::peer_certs`).
pub struct SimConn(turmoil::net::TcpStream);

impl AsyncRead for SimConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for SimConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl Connected for SimConn {
    type ConnectInfo = TcpConnectInfo;
    fn connect_info(&self) -> TcpConnectInfo {
        TcpConnectInfo {
            local_addr: self.0.local_addr().ok(),
            remote_addr: self.0.peer_addr().ok(),
        }
    }
}

/// Binds the simulated host's port and yields its connections.
pub async fn incoming(port: u16) -> io::Result<ReceiverStream<io::Result<SimConn>>> {
    let listener =
        turmoil::net::TcpListener::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)).await?;
    let (tx, rx) = mpsc::channel(8);
    tokio::spawn(async move {
        loop {
            let conn = listener.accept().await.map(|(s, _)| SimConn(s));
            if tx.send(conn).await.is_err() {
                return;
            }
        }
    });
    Ok(ReceiverStream::new(rx))
}

async fn dial(host: &'static str, port: u16) -> io::Result<TokioIo<turmoil::net::TcpStream>> {
    turmoil::net::TcpStream::connect((host, port))
        .await
        .map(TokioIo::new)
}

/// A channel to `host:port` over simulated TCP, connected when first used
/// and redialled by tonic after a failure.
pub fn lazy_channel(endpoint: &Endpoint, host: &'static str, port: u16) -> Channel {
    endpoint.connect_with_connector_lazy(tower::service_fn(move |_: Uri| dial(host, port)))
}

/// The node link's dialer: one connection per session, over simulated TCP.
pub fn dialer(host: &'static str, port: u16) -> Dialer {
    Dialer::new(move |endpoint| {
        let endpoint = endpoint.clone();
        Box::pin(async move {
            endpoint
                .connect_with_connector(tower::service_fn(move |_: Uri| dial(host, port)))
                .await
        })
    })
}
