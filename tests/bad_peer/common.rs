//! What the bad-peer tests of the coordinator share: a coordinator with
//! c01 and c02 registered, hand-made frames and sessions, and the checks
//! every refusal gets.
//!
//! Every refusal is checked three ways: the status says what was wrong,
//! nothing the coordinator holds changed (the heads of every community's
//! documents and of the street document, in memory and in the store, and
//! the audit log), and the coordinator goes on serving others afterwards.
//!
//! Most tests speak the sync protocol by hand: a raw `Sync.Session` whose
//! frames are crafted here and sent over time through a channel, with real
//! Automerge sync messages made by `gridsync_core::sync::SyncSession` where a
//! valid one is needed.

use std::collections::BTreeMap;
use std::time::Duration;

use automerge::{ActorId, AutoCommit};
use gridsync_core::access::{Principal, SyncAccess};
use gridsync_core::sync::{
    DocHeads, FrameLimits, PROTOCOL_VERSION, Reassembly, SyncSession, split,
};
use gridsync_core::*;
use gridsync_proto::street::v1 as spb;
use gridsync_proto::sync::v1 as pb;
use gridsync_store::StoredHeads;
use gridsync_sync::tls::{ClientAuth, TokenInterceptor, endpoint};
use gridsync_testkit::street::*;
use pb::sync_client::SyncClient;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Code, Status};

/// How long convergence may take.
pub const WITHIN: Duration = Duration::from_secs(30);
/// How long a refusal may take: "a clear error, not a hang".
pub const PROMPT: Duration = Duration::from_secs(10);

pub fn cid(c: &str) -> CommunityId {
    CommunityId::parse(c).unwrap()
}

pub fn node(c: &str) -> Principal {
    Principal::Node(cid(c))
}

pub fn url(coord: &TestCoordinator) -> String {
    format!("https://localhost:{}", coord.addr.port())
}

/// A compound with one building and `n` households.
pub async fn populate(node: &TestNode, tag: &str, n: usize) {
    let c = node.create(compound(&format!("{tag}楼院"))).await;
    let b = node.create(building(c.id(), &format!("{tag}1号楼"))).await;
    for i in 0..n {
        node.create(household(c.id(), b.id(), &format!("{tag}{i}")))
            .await;
    }
}

pub fn heads_pb(heads: &DocHeads) -> Vec<pb::DocHeads> {
    heads
        .iter()
        .map(|(id, h)| pb::DocHeads {
            doc_id: id.to_string(),
            heads: h.iter().map(|c| c.0.to_vec()).collect(),
        })
        .collect()
}

pub fn welcome_heads(w: &pb::Welcome) -> DocHeads {
    gridsync_sync::handshake::heads_from_pb(&w.docs).expect("the Welcome's heads parse")
}

pub fn hello(community: &str, docs: &DocHeads) -> pb::Hello {
    pb::Hello {
        protocol_version: PROTOCOL_VERSION,
        community_id: community.into(),
        docs: heads_pb(docs),
        software_version: "access-test".into(),
        max_frame_bytes: 0,
        // A raw client: it sends no heartbeats and expects none.
        heartbeat_interval_ms: 0,
    }
}

pub fn hello_frame(h: pb::Hello) -> pb::NodeFrame {
    pb::NodeFrame {
        frame: Some(pb::node_frame::Frame::Hello(h)),
    }
}

pub fn sync_frame(doc_id: &str, data: Vec<u8>, part: u32, parts: u32, total: u64) -> pb::NodeFrame {
    pb::NodeFrame {
        frame: Some(pb::node_frame::Frame::Sync(pb::SyncFrame {
            doc_id: doc_id.into(),
            data,
            part,
            parts,
            total_bytes: total,
        })),
    }
}

/// A whole message in one frame.
pub fn whole(doc_id: &str, data: Vec<u8>) -> pb::NodeFrame {
    let n = data.len() as u64;
    sync_frame(doc_id, data, 0, 1, n)
}

/// A valid Automerge sync message for `id`: the first message of a new
/// sync with a document holding only its genesis.
pub fn valid_message(id: &DocId) -> Vec<u8> {
    let mut s = SyncSession::new();
    s.open_doc(id, None);
    let mut doc = docs::genesis(id, ActorId::random());
    s.generate(id, &mut doc).expect("a first message")
}

/// Deterministic bytes that are not an Automerge sync message (those start
/// with 0x42 or 0x43).
pub fn garbage(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out: Vec<u8> = (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    out[0] = 0xFF;
    out
}

/// What the coordinator holds: the heads of what a node of each community
/// syncs (in memory), every stored document's heads, and the audit rows.
#[derive(Debug, PartialEq, Eq)]
pub struct Stored {
    pub heads: BTreeMap<String, DocHeads>,
    pub store: Vec<StoredHeads>,
    pub audit: u64,
}

pub async fn stored(coord: &TestCoordinator) -> Stored {
    let r = coord.replicas.clone();
    tokio::task::spawn_blocking(move || {
        let heads = ["c01", "c02", "c09"]
            .into_iter()
            .map(|c| (c.to_string(), r.community_heads(&cid(c))))
            .collect();
        Stored {
            heads,
            store: r.with_store(|s| s.doc_heads().expect("stored heads")),
            audit: r.with_store(|s| s.audit_count().expect("audit count")),
        }
    })
    .await
    .unwrap()
}

pub fn assert_unchanged(before: &Stored, after: &Stored, what: &str) {
    assert_eq!(
        before, after,
        "{what}: the coordinator's documents changed although the request was refused"
    );
}

pub type Client = SyncClient<InterceptedService<Channel, TokenInterceptor>>;

/// A sync client; `Err` with the reason when the connection fails.
pub async fn sync_client(url: &str, auth: &ClientAuth) -> Result<Client, String> {
    let ep = endpoint(url, auth).map_err(|e| e.to_string())?;
    let channel = tokio::time::timeout(PROMPT, ep.connect())
        .await
        .map_err(|_| format!("connecting to {url} took more than {PROMPT:?}"))?
        .map_err(|e| format!("cannot connect: {e:?}"))?;
    Ok(SyncClient::with_interceptor(
        channel,
        TokenInterceptor::new(auth).expect("interceptor"),
    ))
}

/// A raw session: frames sent when the test wants, frames read as they come.
pub struct Raw {
    _client: Client,
    tx: mpsc::Sender<pb::NodeFrame>,
    inbound: tonic::Streaming<pb::CoordinatorFrame>,
}

/// Opens `Sync.Session`, sending `first` before anything else. `Err` is the
/// status the call was refused with (a failed connection as `Unavailable`).
pub async fn open_raw(
    url: &str,
    auth: &ClientAuth,
    first: Vec<pb::NodeFrame>,
) -> Result<Raw, Status> {
    let mut client = sync_client(url, auth).await.map_err(Status::unavailable)?;
    let (tx, rx) = mpsc::channel(64);
    for f in first {
        tx.send(f).await.expect("queue a frame");
    }
    let response = tokio::time::timeout(PROMPT, client.session(ReceiverStream::new(rx)))
        .await
        .unwrap_or_else(|_| panic!("Sync.Session neither answered nor failed within {PROMPT:?}"))?;
    Ok(Raw {
        _client: client,
        tx,
        inbound: response.into_inner(),
    })
}

impl Raw {
    /// Sends a frame; the coordinator may already have ended the call.
    pub async fn send(&self, f: pb::NodeFrame) {
        let _ = self.tx.send(f).await;
    }

    /// The next frame (`None` once the call ended with OK), or the status.
    pub async fn next(&mut self) -> Result<Option<pb::CoordinatorFrame>, Status> {
        tokio::time::timeout(PROMPT, self.inbound.message())
            .await
            .unwrap_or_else(|_| panic!("no frame and no end of the call within {PROMPT:?}"))
    }

    /// The next frame without the short deadline of [`Raw::next`].
    pub async fn inbound_next(&mut self) -> Result<Option<pb::CoordinatorFrame>, Status> {
        self.inbound.message().await
    }

    pub async fn welcome(&mut self) -> pb::Welcome {
        match self.next().await {
            Ok(Some(pb::CoordinatorFrame {
                frame: Some(pb::coordinator_frame::Frame::Welcome(w)),
            })) => w,
            other => panic!("expected a Welcome, got {other:?}"),
        }
    }

    /// Reads until the call ends, keeping the request stream open: the
    /// frames read and the final status (`None`: it ended with OK).
    pub async fn end(&mut self) -> (Vec<pb::CoordinatorFrame>, Option<Status>) {
        let mut frames = Vec::new();
        loop {
            match self.next().await {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => return (frames, None),
                Err(s) => return (frames, Some(s)),
            }
        }
    }
}

/// How a refused call went: its status and the frames it got before.
pub struct Refusal {
    pub status: Status,
    pub frames: Vec<pb::CoordinatorFrame>,
}

/// Opens a session with `frames` and waits for the call to end with an
/// error; `Err` describes what happened instead.
pub async fn refusal(
    url: &str,
    auth: &ClientAuth,
    frames: Vec<pb::NodeFrame>,
) -> Result<Refusal, String> {
    let mut raw = match open_raw(url, auth, frames).await {
        Err(status) => {
            return Ok(Refusal {
                status,
                frames: Vec::new(),
            });
        }
        Ok(raw) => raw,
    };
    match raw.end().await {
        (frames, Some(status)) => Ok(Refusal { status, frames }),
        (frames, None) => Err(format!(
            "the call ended with OK and no error status, after {} frame(s) ({})",
            frames.len(),
            frames.iter().map(frame_name).collect::<Vec<_>>().join(", ")
        )),
    }
}

pub fn frame_name(f: &pb::CoordinatorFrame) -> String {
    match &f.frame {
        Some(pb::coordinator_frame::Frame::Welcome(_)) => "Welcome".into(),
        Some(pb::coordinator_frame::Frame::Sync(s)) => format!("SyncFrame {}", s.doc_id),
        Some(pb::coordinator_frame::Frame::Heartbeat(_)) => "Heartbeat".into(),
        Some(pb::coordinator_frame::Frame::Goodbye(g)) => format!("Goodbye ({})", g.reason),
        None => "empty frame".into(),
    }
}

/// Asserts a refusal with `code` whose message contains every one of
/// `words`; returns it.
pub fn expect_refusal(
    r: Result<Refusal, String>,
    code: Code,
    words: &[&str],
    what: &str,
) -> Refusal {
    let r = r.unwrap_or_else(|e| panic!("{what}: expected {code:?}, but {e}"));
    assert_eq!(
        r.status.code(),
        code,
        "{what}: expected {code:?}, got {:?}: {}",
        r.status.code(),
        r.status.message()
    );
    for w in words {
        assert!(
            r.status.message().contains(w),
            "{what}: the message should mention {w:?}: {}",
            r.status.message()
        );
    }
    r
}

/// The operator API answers and a good node of c01 gets its Welcome.
pub async fn assert_serving(coord: &TestCoordinator, pki: &Pki) {
    let mut op = coord.operator(pki).await;
    op.list_communities(spb::ListCommunitiesRequest {})
        .await
        .expect("the operator API still answers");
    let heads = coord.community_heads("c01").await;
    let mut raw = open_raw(
        &url(coord),
        &pki.node("c01"),
        vec![hello_frame(hello("c01", &heads))],
    )
    .await
    .unwrap_or_else(|s| panic!("a good node is refused afterwards: {s:?}"));
    let w = raw.welcome().await;
    assert_eq!(w.protocol_version, PROTOCOL_VERSION);
    assert!(w.docs.iter().any(|d| d.doc_id == "street"), "{w:?}");
}

/// A coordinator with c01 and c02 registered.
pub async fn street(pki: &Pki, dir: &std::path::Path, limits: FrameLimits) -> TestCoordinator {
    let coord = TestCoordinator::start(dir, pki, 0, limits).await;
    register(&mut coord.operator(pki).await, &["c01", "c02"]).await;
    coord
}

/// One side of a sync done by hand: documents and their sync states.
pub struct Peer {
    session: SyncSession,
    pub docs: BTreeMap<DocId, AutoCommit>,
    actor: ActorId,
    reassembly: Reassembly,
}

impl Peer {
    pub fn new() -> Peer {
        Peer {
            session: SyncSession::new(),
            docs: BTreeMap::new(),
            actor: ActorId::random(),
            reassembly: Reassembly::new(FrameLimits::default()),
        }
    }

    pub fn doc(&mut self, id: &DocId) -> &mut AutoCommit {
        let actor = self.actor.clone();
        self.docs
            .entry(id.clone())
            .or_insert_with(|| docs::genesis(id, actor))
    }

    /// The next message for `id`, as frames.
    pub fn frames(&mut self, id: &DocId) -> Vec<pb::NodeFrame> {
        self.session.open_doc(id, None);
        self.doc(id);
        let doc = self.docs.get_mut(id).unwrap();
        let Some(msg) = self.session.generate(id, doc) else {
            return Vec::new();
        };
        split(id, msg, FrameLimits::default().max_frame_bytes)
            .into_iter()
            .map(|p| sync_frame(&p.doc.to_string(), p.data, p.index, p.count, p.total))
            .collect()
    }

    /// Takes a frame from the coordinator; returns the answer's frames.
    pub fn take(&mut self, f: pb::SyncFrame) -> Vec<pb::NodeFrame> {
        let doc: DocId = f
            .doc_id
            .parse()
            .unwrap_or_else(|e| panic!("the coordinator named {:?}: {e}", f.doc_id));
        let part = gridsync_core::sync::Part {
            doc,
            data: f.data,
            index: f.part,
            count: f.parts,
            total: f.total_bytes,
        };
        let Some((id, bytes)) = self
            .reassembly
            .push(part)
            .expect("the coordinator's frames")
        else {
            return Vec::new();
        };
        self.session.open_doc(&id, None);
        self.doc(&id);
        let checked = self
            .session
            .check(&id, &bytes, 0)
            .expect("the coordinator's message passes its checks");
        let doc = self.docs.get_mut(&id).unwrap();
        self.session
            .receive(&id, doc, checked, SyncAccess::ReadWrite, 0)
            .expect("the coordinator's message applies");
        self.frames(&id)
    }

    pub fn heads(&mut self, id: &DocId) -> Vec<automerge::ChangeHash> {
        let mut h = self.doc(id).get_heads();
        h.sort();
        h
    }
}

/// Syncs `peer` over `raw` until `done` holds or the call ends. Returns the
/// document ids of the frames received and how the call ended (`None`:
/// still open; `Some(None)`: ended with OK).
pub async fn pump(
    raw: &mut Raw,
    peer: &mut Peer,
    mut done: impl FnMut(&mut Peer) -> bool,
) -> (Vec<String>, Option<Option<Status>>) {
    let deadline = tokio::time::Instant::now() + WITHIN;
    let mut ids = Vec::new();
    loop {
        if done(peer) {
            return (ids, None);
        }
        let next = tokio::time::timeout_at(deadline, raw.inbound.message())
            .await
            .unwrap_or_else(|_| {
                panic!("the sync did not finish within {WITHIN:?}; frames so far: {ids:?}")
            });
        match next {
            Ok(Some(pb::CoordinatorFrame {
                frame: Some(pb::coordinator_frame::Frame::Sync(f)),
            })) => {
                ids.push(f.doc_id.clone());
                for out in peer.take(f) {
                    raw.send(out).await;
                }
            }
            Ok(Some(other)) => {
                panic!("a frame that is not a SyncFrame after the Welcome: {other:?}")
            }
            Ok(None) => return (ids, Some(None)),
            Err(s) => return (ids, Some(Some(s))),
        }
    }
}

pub fn is_c01_or_street(doc_id: &str) -> bool {
    match doc_id.parse::<DocId>() {
        Ok(DocId::Street) => true,
        Ok(id) => id.community() == Some(&cid("c01")),
        Err(_) => false,
    }
}
