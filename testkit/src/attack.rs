//! Hostile peers as a separate client would be: a raw `Sync.Session`
//! that sends hand-made frames (the messages of [`crate::hostile`]) and
//! holds the call open to see how the coordinator ends it, and TLS
//! connections that finish their handshake and then never send the HTTP/2
//! preface. Nothing here reaches into a coordinator: only gRPC and TCP, so
//! the same attacks run against any built coordinator (the attacks
//! benchmark runs them against old and new binaries).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use gridsync_core::sync::PROTOCOL_VERSION;
use gridsync_proto::sync::v1 as pb;
use gridsync_sync::tls::{ClientAuth, TokenInterceptor, endpoint};
use pb::sync_client::SyncClient;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_rustls::client::TlsStream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// A Hello of `community` listing `docs` (id and heads).
pub fn hello(community: &str, docs: Vec<pb::DocHeads>) -> pb::NodeFrame {
    pb::NodeFrame {
        frame: Some(pb::node_frame::Frame::Hello(pb::Hello {
            protocol_version: PROTOCOL_VERSION,
            community_id: community.into(),
            docs,
            software_version: "hostile".into(),
            max_frame_bytes: 0,
            // A raw client: it sends no heartbeats and expects none.
            heartbeat_interval_ms: 0,
        })),
    }
}

/// `n` of `community`'s day documents (`activity/<community>/<date>`, one
/// per day from 1990-01-01), each with empty heads, as a Hello lists them.
pub fn day_docs(community: &str, n: u64) -> Vec<pb::DocHeads> {
    let first = chrono::NaiveDate::from_ymd_opt(1990, 1, 1).expect("a valid date");
    (0..n)
        .map(|i| pb::DocHeads {
            doc_id: format!("activity/{community}/{}", first + chrono::Days::new(i)),
            heads: Vec::new(),
        })
        .collect()
}

/// Part `part` of `parts` of a message of `total` bytes for `doc`.
pub fn sync_frame(doc: &str, data: Vec<u8>, part: u32, parts: u32, total: u64) -> pb::NodeFrame {
    pb::NodeFrame {
        frame: Some(pb::node_frame::Frame::Sync(pb::SyncFrame {
            doc_id: doc.into(),
            data,
            part,
            parts,
            total_bytes: total,
        })),
    }
}

/// A whole message in one frame.
pub fn whole(doc: &str, data: Vec<u8>) -> pb::NodeFrame {
    let n = data.len() as u64;
    sync_frame(doc, data, 0, 1, n)
}

/// `msg` for `doc` cut into frames of at most `max_frame` bytes each.
pub fn parts(doc: &str, msg: &[u8], max_frame: usize) -> Vec<pb::NodeFrame> {
    let chunks: Vec<&[u8]> = msg.chunks(max_frame.max(1)).collect();
    let n = chunks.len() as u32;
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, c)| sync_frame(doc, c.to_vec(), i as u32, n, msg.len() as u64))
        .collect()
}

/// A sync message that really carries `n` empty summaries, two bytes each
/// (no heads, an empty Bloom filter), and no changes; unlike
/// [`crate::hostile::have_flood`], which only claims them. 33,554,400 of
/// them fill a 64 MiB message.
pub fn have_flood_full(n: u64) -> Vec<u8> {
    let mut m = vec![0x42, 0, 0];
    let mut v = n;
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            m.push(b);
            break;
        }
        m.push(b | 0x80);
    }
    m.resize(m.len() + 2 * n as usize, 0);
    // No changes.
    m.push(0);
    m
}

/// How a hostile session ended, as the attacker saw it.
#[derive(Debug)]
pub enum Ending {
    /// The call ended with this status.
    Refused(Status),
    /// The call ended with OK after this many frames.
    Ended { frames: u64 },
    /// Still open when the attacker let go, after this many frames.
    Open { frames: u64 },
    /// The connection could not be made.
    NoConnection(String),
}

impl Ending {
    /// One short line: the code and the start of the message, or "connection
    /// lost" when the transport broke under the call.
    pub fn describe(&self) -> String {
        match self {
            Ending::Refused(s) => {
                let m = s.message();
                let lost = [
                    "transport",
                    "connection",
                    "h2 protocol",
                    "broken pipe",
                    "reset",
                ]
                .iter()
                .any(|w| m.to_lowercase().contains(w));
                if lost
                    && matches!(
                        s.code(),
                        tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Internal
                    )
                {
                    "connection lost".into()
                } else {
                    format!("{:?}: {}", s.code(), gist(m))
                }
            }
            Ending::Ended { frames } => format!("OK after {frames} frames"),
            Ending::Open { frames } => format!("open, {frames} frames"),
            Ending::NoConnection(e) => {
                format!("no connection: {}", e.chars().take(40).collect::<String>())
            }
        }
    }
}

/// The setting a refusal names (`… (max_message_ops); …`), else the
/// message's first 48 characters.
fn gist(m: &str) -> String {
    let named = m.match_indices('(').find_map(|(at, _)| {
        let rest = &m[at + 1..];
        let end = rest.find(')')?;
        let name = &rest[..end];
        (name.contains('_') && !name.contains(' ')).then(|| name.to_string())
    });
    match named {
        Some(n) => format!("… ({n})"),
        None => m.chars().take(48).collect(),
    }
}

type Client = SyncClient<InterceptedService<Channel, TokenInterceptor>>;

/// A raw sync session of a hostile node: frames sent when the attacker
/// wants, everything the coordinator sends read and thrown away.
pub struct HostileSession {
    _client: Client,
    tx: mpsc::Sender<pb::NodeFrame>,
    inbound: tonic::Streaming<pb::CoordinatorFrame>,
    frames: u64,
}

impl HostileSession {
    /// Connects to `url` as `auth` and opens `Sync.Session`, sending
    /// `first` (a Hello, maybe more) before anything else. `Err` is how the
    /// call ended before it got going (a refusal, or no connection), or
    /// that it did not answer within `within`.
    pub async fn open(
        url: &str,
        auth: &ClientAuth,
        first: Vec<pb::NodeFrame>,
        within: Duration,
    ) -> Result<HostileSession, Ending> {
        let ep = endpoint(url, auth).map_err(|e| Ending::NoConnection(e.to_string()))?;
        let channel = tokio::time::timeout(within, ep.connect())
            .await
            .map_err(|_| Ending::NoConnection(format!("no connection within {within:?}")))?
            .map_err(|e| Ending::NoConnection(format!("{e:?}")))?;
        let interceptor =
            TokenInterceptor::new(auth).map_err(|e| Ending::NoConnection(e.to_string()))?;
        let mut client = SyncClient::with_interceptor(channel, interceptor)
            .max_decoding_message_size(64 * 1024 * 1024)
            .max_encoding_message_size(64 * 1024 * 1024);
        let (tx, rx) = mpsc::channel(128);
        for f in first {
            let _ = tx.send(f).await;
        }
        let response = tokio::time::timeout(within, client.session(ReceiverStream::new(rx)))
            .await
            .map_err(|_| Ending::Open { frames: 0 })?
            .map_err(Ending::Refused)?;
        Ok(HostileSession {
            _client: client,
            tx,
            inbound: response.into_inner(),
            frames: 0,
        })
    }

    /// Sends a frame; false if the call is already over.
    pub async fn send(&self, f: pb::NodeFrame) -> bool {
        self.tx.send(f).await.is_ok()
    }

    /// Reads (and drops) what the coordinator sends until the call ends or
    /// `within` passes; the request stream stays open meanwhile.
    pub async fn hold(&mut self, within: Duration) -> Ending {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.inbound.message()).await {
                Err(_) => {
                    return Ending::Open {
                        frames: self.frames,
                    };
                }
                Ok(Ok(Some(_))) => self.frames += 1,
                Ok(Ok(None)) => {
                    return Ending::Ended {
                        frames: self.frames,
                    };
                }
                Ok(Err(s)) => return Ending::Refused(s),
            }
        }
    }
}

/// TLS connections held open without a word of HTTP/2.
pub struct IdleConnections {
    /// Connections whose TLS handshake finished.
    pub held: Vec<TlsStream<TcpStream>>,
    /// Connections refused or closed before their handshake finished.
    pub refused: usize,
}

/// Opens `n` TCP connections from `from` (a loopback address such as
/// 127.0.0.2, so that the attacker is another address than the operators)
/// to `server`, each finishing a TLS handshake without a client
/// certificate, trusting `ca_pem` and expecting the name `localhost`, and
/// then sending nothing. Handshakes run 100 at a time, each given 10 s.
pub async fn idle_tls(server: SocketAddr, from: IpAddr, ca_pem: &str, n: usize) -> IdleConnections {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for der in CertificateDer::pem_slice_iter(ca_pem.as_bytes()).flatten() {
        let _ = roots.add(der);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let mut out = IdleConnections {
        held: Vec::with_capacity(n),
        refused: 0,
    };
    let mut left = n;
    while left > 0 {
        let batch = left.min(100);
        left -= batch;
        let mut set = JoinSet::new();
        for _ in 0..batch {
            let connector = connector.clone();
            set.spawn(async move {
                let s = if from.is_ipv4() {
                    TcpSocket::new_v4()
                } else {
                    TcpSocket::new_v6()
                }
                .ok()?;
                s.bind(SocketAddr::new(from, 0)).ok()?;
                let tcp = tokio::time::timeout(Duration::from_secs(10), s.connect(server))
                    .await
                    .ok()?
                    .ok()?;
                let name = ServerName::try_from("localhost").ok()?;
                tokio::time::timeout(Duration::from_secs(10), connector.connect(name, tcp))
                    .await
                    .ok()?
                    .ok()
            });
        }
        while let Some(r) = set.join_next().await {
            match r.ok().flatten() {
                Some(tls) => out.held.push(tls),
                None => out.refused += 1,
            }
        }
    }
    out
}

/// Reads from every held connection for `within` (throwing away whatever
/// the server sends, such as its HTTP/2 settings) and returns how many the
/// server closed in that time; all are dropped afterwards.
pub async fn closed_within(held: Vec<TlsStream<TcpStream>>, within: Duration) -> usize {
    let deadline = tokio::time::Instant::now() + within;
    let mut set = JoinSet::new();
    for mut s in held {
        set.spawn(async move {
            let mut buf = [0u8; 1024];
            loop {
                match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
                    Err(_) => return false,
                    Ok(Ok(0)) | Ok(Err(_)) => return true,
                    Ok(Ok(_)) => {}
                }
            }
        });
    }
    let mut closed = 0;
    while let Some(r) = set.join_next().await {
        if r.unwrap_or(false) {
            closed += 1;
        }
    }
    closed
}
