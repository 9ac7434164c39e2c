//! The coordinator's access rules and its answers to bad frames, over real
//! gRPC with mutual TLS on loopback (and once with development tokens).
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

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ROOT, ReadDoc};
use gridsync_coordinator::replicas::{ReplicasConfig, StreetReplicas};
use gridsync_coordinator::server::{ServeOptions, serve};
use gridsync_core::access::{Principal, SyncAccess};
use gridsync_core::sync::{
    DocHeads, FrameLimits, PROTOCOL_VERSION, Reassembly, SyncSession, split,
};
use gridsync_core::*;
use gridsync_node::link::LinkConfig;
use gridsync_proto::street::v1 as spb;
use gridsync_proto::sync::v1 as pb;
use gridsync_store::StoredHeads;
use gridsync_sync::identity::{Authenticator, DevTokens};
use gridsync_sync::issue::{issue_ca, issue_leaf, validity_days};
use gridsync_sync::tls::{ClientAuth, TlsPems, TokenInterceptor, client_tls, endpoint};
use gridsync_testkit::street::*;
use gridsync_testkit::{COMPACT_AFTER_CHUNKS, TIME_ZONE};
use pb::sync_client::SyncClient;
use spb::street_client::StreetClient;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};
use tonic::{Code, Status};

/// How long convergence may take.
const WITHIN: Duration = Duration::from_secs(30);
/// How long a refusal may take: "a clear error, not a hang".
const PROMPT: Duration = Duration::from_secs(10);

// ------------------------------------------------------------------ helpers

fn cid(c: &str) -> CommunityId {
    CommunityId::parse(c).unwrap()
}

fn node(c: &str) -> Principal {
    Principal::Node(cid(c))
}

fn url(coord: &TestCoordinator) -> String {
    format!("https://localhost:{}", coord.addr.port())
}

/// A compound with one building and `n` households.
async fn populate(node: &TestNode, tag: &str, n: usize) {
    let c = node.create(compound(&format!("{tag}楼院"))).await;
    let b = node.create(building(c.id(), &format!("{tag}1号楼"))).await;
    for i in 0..n {
        node.create(household(c.id(), b.id(), &format!("{tag}{i}")))
            .await;
    }
}

fn heads_pb(heads: &DocHeads) -> Vec<pb::DocHeads> {
    heads
        .iter()
        .map(|(id, h)| pb::DocHeads {
            doc_id: id.to_string(),
            heads: h.iter().map(|c| c.0.to_vec()).collect(),
        })
        .collect()
}

fn welcome_heads(w: &pb::Welcome) -> DocHeads {
    gridsync_sync::handshake::heads_from_pb(&w.docs).expect("the Welcome's heads parse")
}

fn hello(community: &str, docs: &DocHeads) -> pb::Hello {
    pb::Hello {
        protocol_version: PROTOCOL_VERSION,
        community_id: community.into(),
        docs: heads_pb(docs),
        software_version: "access-test".into(),
        max_frame_bytes: 0,
    }
}

fn hello_frame(h: pb::Hello) -> pb::NodeFrame {
    pb::NodeFrame {
        frame: Some(pb::node_frame::Frame::Hello(h)),
    }
}

fn sync_frame(doc_id: &str, data: Vec<u8>, part: u32, parts: u32, total: u64) -> pb::NodeFrame {
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
fn whole(doc_id: &str, data: Vec<u8>) -> pb::NodeFrame {
    let n = data.len() as u64;
    sync_frame(doc_id, data, 0, 1, n)
}

/// A valid Automerge sync message for `id`: the first message of a new
/// sync with a document holding only its genesis.
fn valid_message(id: &DocId) -> Vec<u8> {
    let mut s = SyncSession::new();
    s.open_doc(id, None);
    let mut doc = docs::genesis(id, ActorId::random());
    s.generate(id, &mut doc).expect("a first message")
}

/// Deterministic bytes that are not an Automerge sync message (those start
/// with 0x42 or 0x43).
fn garbage(n: usize) -> Vec<u8> {
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
struct Stored {
    heads: BTreeMap<String, DocHeads>,
    store: Vec<StoredHeads>,
    audit: u64,
}

async fn stored(coord: &TestCoordinator) -> Stored {
    let r = coord.replicas.clone();
    tokio::task::spawn_blocking(move || {
        let r = r.lock().unwrap();
        let heads = ["c01", "c02", "c09"]
            .into_iter()
            .map(|c| (c.to_string(), r.community_heads(&cid(c))))
            .collect();
        Stored {
            heads,
            store: r.store().doc_heads().expect("stored heads"),
            audit: r.store().audit_count().expect("audit count"),
        }
    })
    .await
    .unwrap()
}

fn assert_unchanged(before: &Stored, after: &Stored, what: &str) {
    assert_eq!(
        before, after,
        "{what}: the coordinator's documents changed although the request was refused"
    );
}

type Client = SyncClient<InterceptedService<Channel, TokenInterceptor>>;

/// A sync client; `Err` with the reason when the connection fails.
async fn sync_client(url: &str, auth: &ClientAuth) -> Result<Client, String> {
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
struct Raw {
    _client: Client,
    tx: mpsc::Sender<pb::NodeFrame>,
    inbound: tonic::Streaming<pb::CoordinatorFrame>,
}

/// Opens `Sync.Session`, sending `first` before anything else. `Err` is the
/// status the call was refused with (a failed connection as `Unavailable`).
async fn open_raw(url: &str, auth: &ClientAuth, first: Vec<pb::NodeFrame>) -> Result<Raw, Status> {
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
    async fn send(&self, f: pb::NodeFrame) {
        let _ = self.tx.send(f).await;
    }

    /// The next frame (`None` once the call ended with OK), or the status.
    async fn next(&mut self) -> Result<Option<pb::CoordinatorFrame>, Status> {
        tokio::time::timeout(PROMPT, self.inbound.message())
            .await
            .unwrap_or_else(|_| panic!("no frame and no end of the call within {PROMPT:?}"))
    }

    async fn welcome(&mut self) -> pb::Welcome {
        match self.next().await {
            Ok(Some(pb::CoordinatorFrame {
                frame: Some(pb::coordinator_frame::Frame::Welcome(w)),
            })) => w,
            other => panic!("expected a Welcome, got {other:?}"),
        }
    }

    /// Reads until the call ends, keeping the request stream open: the
    /// frames read and the final status (`None`: it ended with OK).
    async fn end(&mut self) -> (Vec<pb::CoordinatorFrame>, Option<Status>) {
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
struct Refusal {
    status: Status,
    frames: Vec<pb::CoordinatorFrame>,
}

/// Opens a session with `frames` and waits for the call to end with an
/// error; `Err` describes what happened instead.
async fn refusal(
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

fn frame_name(f: &pb::CoordinatorFrame) -> String {
    match &f.frame {
        Some(pb::coordinator_frame::Frame::Welcome(_)) => "Welcome".into(),
        Some(pb::coordinator_frame::Frame::Sync(s)) => format!("SyncFrame {}", s.doc_id),
        None => "empty frame".into(),
    }
}

/// Asserts a refusal with `code` whose message contains every one of
/// `words`; returns it.
fn expect_refusal(r: Result<Refusal, String>, code: Code, words: &[&str], what: &str) -> Refusal {
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
async fn assert_serving(coord: &TestCoordinator, pki: &Pki) {
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
async fn street(pki: &Pki, dir: &std::path::Path, limits: FrameLimits) -> TestCoordinator {
    let coord = TestCoordinator::start(dir, pki, 0, limits).await;
    register(&mut coord.operator(pki).await, &["c01", "c02"]).await;
    coord
}

/// One side of a sync done by hand: documents and their sync states.
struct Peer {
    session: SyncSession,
    docs: BTreeMap<DocId, AutoCommit>,
    actor: ActorId,
    reassembly: Reassembly,
}

impl Peer {
    fn new() -> Peer {
        Peer {
            session: SyncSession::new(),
            docs: BTreeMap::new(),
            actor: ActorId::random(),
            reassembly: Reassembly::new(FrameLimits::default()),
        }
    }

    fn doc(&mut self, id: &DocId) -> &mut AutoCommit {
        let actor = self.actor.clone();
        self.docs
            .entry(id.clone())
            .or_insert_with(|| docs::genesis(id, actor))
    }

    /// The next message for `id`, as frames.
    fn frames(&mut self, id: &DocId) -> Vec<pb::NodeFrame> {
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
    fn take(&mut self, f: pb::SyncFrame) -> Vec<pb::NodeFrame> {
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
        let msg = SyncSession::decode(&id, &bytes).expect("the coordinator's message decodes");
        let doc = self.docs.get_mut(&id).unwrap();
        self.session
            .receive(&id, doc, msg, SyncAccess::ReadWrite, 0)
            .expect("the coordinator's message applies");
        self.frames(&id)
    }

    fn heads(&mut self, id: &DocId) -> Vec<automerge::ChangeHash> {
        let mut h = self.doc(id).get_heads();
        h.sort();
        h
    }
}

/// Syncs `peer` over `raw` until `done` holds or the call ends. Returns the
/// document ids of the frames received and how the call ended (`None`:
/// still open; `Some(None)`: ended with OK).
async fn pump(
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

fn is_c01_or_street(doc_id: &str) -> bool {
    match doc_id.parse::<DocId>() {
        Ok(DocId::Street) => true,
        Ok(id) => id.community() == Some(&cid("c01")),
        Err(_) => false,
    }
}

// ------------------------------------------------------------- access rules

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_without_a_certificate_is_unauthenticated() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let coord = street(&pki, dir.path(), FrameLimits::default()).await;
    let before = stored(&coord).await;

    // Trusts the street CA, presents no certificate.
    let anonymous = ClientAuth::Tls(
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&pki.ca.cert_pem))
            .domain_name("localhost"),
    );
    let heads = coord.community_heads("c01").await;
    let r = refusal(
        &url(&coord),
        &anonymous,
        vec![hello_frame(hello("c01", &heads))],
    )
    .await;
    let r = expect_refusal(r, Code::Unauthenticated, &["certificate"], "Sync.Session");
    assert!(r.frames.is_empty(), "no Welcome for an anonymous caller");

    let mut op = operator_client(coord.addr, &anonymous).await;
    let s = op
        .list_communities(spb::ListCommunitiesRequest {})
        .await
        .expect_err("the Street API answered a caller without a certificate");
    assert_eq!(s.code(), Code::Unauthenticated, "{s:?}");
    assert!(s.message().contains("certificate"), "{s:?}");
    let s = op
        .put_street_record(spb::PutStreetRecordRequest {
            record: Some(spb::StreetRecord {
                record: Some(spb::street_record::Record::Community(
                    spb::StreetCommunity {
                        id: "c05".into(),
                        name: "Anonymous".into(),
                        kind: spb::CommunityKindPb::CommunityKindCommunity as i32,
                    },
                )),
            }),
        })
        .await
        .expect_err("the Street API took a write from a caller without a certificate");
    assert_eq!(s.code(), Code::Unauthenticated, "{s:?}");

    assert_unchanged(&before, &stored(&coord).await, "anonymous calls");
    assert_serving(&coord, &pki).await;
    coord.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_may_not_speak_for_another_community() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let coord = street(&pki, dir.path(), FrameLimits::default()).await;
    let before = stored(&coord).await;
    let c01 = pki.node("c01");

    // The Hello names c02.
    let heads = coord.community_heads("c02").await;
    let r = refusal(&url(&coord), &c01, vec![hello_frame(hello("c02", &heads))]).await;
    let r = expect_refusal(
        r,
        Code::PermissionDenied,
        &["node:c01", "c02"],
        "a c01 certificate with a Hello for c02",
    );
    assert!(r.frames.is_empty(), "no Welcome: {:?}", r.frames);

    // The Hello names c01 but lists a document of c02.
    let mut docs = coord.community_heads("c01").await;
    docs.insert(DocId::Registry(cid("c02")), Vec::new());
    let r = refusal(&url(&coord), &c01, vec![hello_frame(hello("c01", &docs))]).await;
    let r = expect_refusal(
        r,
        Code::PermissionDenied,
        &["registry/c02"],
        "a c01 Hello listing registry/c02",
    );
    assert!(r.frames.is_empty(), "no Welcome: {:?}", r.frames);

    assert_unchanged(
        &before,
        &stored(&coord).await,
        "Hellos for another community",
    );
    assert_serving(&coord, &pki).await;
    coord.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_never_sees_nor_writes_another_communitys_documents() {
    let pki = Pki::new();
    let cdir = tempfile::tempdir().unwrap();
    let dir01 = tempfile::tempdir().unwrap();
    let dir02 = tempfile::tempdir().unwrap();
    let coord = street(&pki, cdir.path(), FrameLimits::default()).await;

    // Both communities hold data at the coordinator.
    let link02 = test_link_config(coord.addr, &pki.node("c02"), FrameLimits::default());
    let n02 = TestNode::start(dir02.path(), "c02", Some(link02)).await;
    populate(&n02, "B", 6).await;
    let link01 = test_link_config(coord.addr, &pki.node("c01"), FrameLimits::default());
    let n01 = TestNode::start(dir01.path(), "c01", Some(link01.clone())).await;
    populate(&n01, "A", 3).await;
    for n in [&n01, &n02] {
        assert!(
            eventually(WITHIN, || converged(n, &coord)).await,
            "{} did not converge: {:?}",
            n.community,
            n.link_status()
        );
    }
    n01.stop().await;
    n02.stop().await;
    let c02_heads = coord.community_heads("c02").await;
    assert!(
        c02_heads.contains_key(&DocId::Registry(cid("c02"))),
        "c02's data reached the coordinator: {:?}",
        show_heads(&c02_heads)
    );
    let before = stored(&coord).await;

    // A c01 session that holds nothing: the Welcome lists c01's documents
    // and the street, nothing of c02.
    let mut raw = open_raw(
        &url(&coord),
        &pki.node("c01"),
        vec![hello_frame(hello("c01", &DocHeads::new()))],
    )
    .await
    .expect("c01 is welcome");
    let w = raw.welcome().await;
    let listed: Vec<&str> = w.docs.iter().map(|d| d.doc_id.as_str()).collect();
    assert!(
        listed
            .iter()
            .all(|id| !id.contains("c02") && is_c01_or_street(id)),
        "the Welcome to c01 lists {listed:?}"
    );
    let offered = welcome_heads(&w);
    assert_eq!(offered, coord.community_heads("c01").await);
    assert!(
        offered.contains_key(&DocId::Registry(cid("c01"))),
        "{listed:?}"
    );
    assert!(offered.contains_key(&DocId::Street), "{listed:?}");

    // A full sync of c01 from nothing: every frame is c01's or the street's.
    let mut peer = Peer::new();
    let (mut ids, ended) = pump(&mut raw, &mut peer, |p| {
        offered.iter().all(|(id, h)| p.heads(id) == *h)
    })
    .await;
    assert!(
        ended.is_none(),
        "the session ended during the sync: {ended:?}"
    );
    assert!(
        !ids.is_empty(),
        "the coordinator sent nothing to a node holding nothing"
    );

    // The c01 node sends a (valid) sync message for c02's registry.
    let c02_reg = DocId::Registry(cid("c02"));
    raw.send(whole("registry/c02", valid_message(&c02_reg)))
        .await;
    let (frames, status) = raw.end().await;
    ids.extend(frames.iter().filter_map(|f| match &f.frame {
        Some(pb::coordinator_frame::Frame::Sync(s)) => Some(s.doc_id.clone()),
        _ => None,
    }));
    let status = status.expect("a SyncFrame for registry/c02 from c01 ended the call with OK");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(status.message().contains("registry/c02"), "{status:?}");
    assert!(
        ids.iter().all(|id| is_c01_or_street(id)),
        "c01's session was sent frames of {ids:?}"
    );
    assert_unchanged(
        &before,
        &stored(&coord).await,
        "c01's sync and its frame for c02",
    );
    assert_eq!(coord.community_heads("c02").await, c02_heads);

    // A real c01 node syncs again: its store holds nothing of c02.
    let n01 = TestNode::start(dir01.path(), "c01", Some(link01)).await;
    populate(&n01, "C", 1).await;
    assert!(
        eventually(WITHIN, || converged(&n01, &coord)).await,
        "c01 did not converge: {:?}",
        n01.link_status()
    );
    let held = n01
        .run(|o| o.store().doc_heads().expect("stored heads"))
        .await;
    let held: Vec<String> = held.into_iter().map(|(id, _)| id.to_string()).collect();
    assert!(
        held.iter().all(|id| is_c01_or_street(id)),
        "the c01 node's store holds {held:?}"
    );
    assert_eq!(coord.community_heads("c02").await, c02_heads);
    n01.stop().await;
    coord.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_operators_write_the_street_document_and_only_through_the_street_api() {
    let pki = Pki::new();
    let cdir = tempfile::tempdir().unwrap();
    let ndir = tempfile::tempdir().unwrap();
    let coord = street(&pki, cdir.path(), FrameLimits::default()).await;
    let before = stored(&coord).await;
    let street_before = before.heads["c01"][&DocId::Street].clone();

    // A node-side street document: what the coordinator holds, plus a change.
    let mut mine = coord.doc(DocId::Street).await.with_actor(ActorId::random());
    mine.put(ROOT, "written_by_a_node", "c01").unwrap();
    mine.commit();
    let mut docs = coord.community_heads("c01").await;
    let mut my_heads = mine.get_heads();
    my_heads.sort();
    docs.insert(DocId::Street, my_heads);
    let mut raw = open_raw(
        &url(&coord),
        &pki.node("c01"),
        vec![hello_frame(hello("c01", &docs))],
    )
    .await
    .expect("c01 is welcome");
    raw.welcome().await;
    let mut peer = Peer::new();
    peer.docs.insert(DocId::Street, mine);
    for f in peer.frames(&DocId::Street) {
        raw.send(f).await;
    }
    let (ids, ended) = pump(&mut raw, &mut peer, |_| false).await;
    let status = ended
        .expect("the pump only stops when the call ends")
        .unwrap_or_else(|| {
            panic!(
                "the node's change to the street document was taken (call ended OK; frames {ids:?})"
            )
        });
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(status.message().contains("document street"), "{status:?}");
    assert_unchanged(
        &before,
        &stored(&coord).await,
        "a node's sync of a changed street document",
    );

    // The Street API refuses a node; Sync.Session refuses an operator.
    let mut as_node = operator_client(coord.addr, &pki.node("c01")).await;
    let s = as_node
        .put_street_record(spb::PutStreetRecordRequest {
            record: Some(spb::StreetRecord {
                record: Some(spb::street_record::Record::Community(
                    spb::StreetCommunity {
                        id: "c05".into(),
                        name: "Written by a node".into(),
                        kind: spb::CommunityKindPb::CommunityKindCommunity as i32,
                    },
                )),
            }),
        })
        .await
        .expect_err("a node wrote the street document through the Street API");
    assert_eq!(s.code(), Code::PermissionDenied, "{s:?}");
    assert!(s.message().contains("node:c01"), "{s:?}");
    let op = pki.client(&Principal::Operator("alice".into()));
    let heads = coord.community_heads("c01").await;
    let r = refusal(&url(&coord), &op, vec![hello_frame(hello("c01", &heads))]).await;
    expect_refusal(
        r,
        Code::PermissionDenied,
        &["operator:alice"],
        "an operator opening Sync.Session",
    );
    assert_unchanged(&before, &stored(&coord).await, "a node on the Street API");

    // A real node gets the street document without that change.
    let link = test_link_config(coord.addr, &pki.node("c01"), FrameLimits::default());
    let n01 = TestNode::start(ndir.path(), "c01", Some(link)).await;
    populate(&n01, "A", 1).await;
    assert!(
        eventually(WITHIN, || converged(&n01, &coord)).await,
        "c01 did not converge: {:?}",
        n01.link_status()
    );
    let (street_at_node, key) = n01
        .run(|o| {
            let mut d = o.street_doc().clone();
            let mut h = d.get_heads();
            h.sort();
            (h, d.get(ROOT, "written_by_a_node").unwrap().is_some())
        })
        .await;
    assert!(!key, "the node's street document holds the refused change");
    assert_eq!(street_at_node, street_before);
    assert_eq!(
        coord.community_heads("c01").await[&DocId::Street],
        street_before
    );
    let shown = coord
        .operator(&pki)
        .await
        .get_street(spb::GetStreetRequest {})
        .await
        .expect("GetStreet")
        .into_inner();
    assert!(
        !format!("{shown:?}").contains("written_by_a_node")
            && !format!("{shown:?}").contains("Written by a node"),
        "{shown:?}"
    );
    n01.stop().await;
    assert_serving(&coord, &pki).await;
    coord.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn street_changes_in_a_first_message_or_waiting_for_a_dependency_are_refused() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let coord = street(&pki, dir.path(), FrameLimits::default()).await;
    let before = stored(&coord).await;

    // Two changes on top of the coordinator's street document; the second
    // depends on the first.
    let mut mine = coord.doc(DocId::Street).await.with_actor(ActorId::random());
    mine.put(ROOT, "written_by_a_node", "first").unwrap();
    let h1 = mine.commit().expect("a change");
    mine.put(ROOT, "written_by_a_node", "second").unwrap();
    let h2 = mine.commit().expect("a change");
    let bytes = |h| {
        mine.get_change_by_hash(&h)
            .expect("change")
            .bytes()
            .to_vec()
    };
    let (c1, c2) = (bytes(h1), bytes(h2));
    let message = |changes: Vec<Vec<u8>>| {
        automerge::sync::Message {
            heads: vec![h2],
            need: Vec::new(),
            have: Vec::new(),
            changes: changes.into(),
            flags: None,
            version: automerge::sync::MessageVersion::V1,
        }
        .encode()
    };
    let heads = coord.community_heads("c01").await;
    for (what, msg) in [
        (
            "both changes in the first message",
            message(vec![c1, c2.clone()]),
        ),
        (
            "only the second change (it would wait for the first)",
            message(vec![c2]),
        ),
    ] {
        let r = refusal(
            &url(&coord),
            &pki.node("c01"),
            vec![hello_frame(hello("c01", &heads)), whole("street", msg)],
        )
        .await;
        expect_refusal(r, Code::PermissionDenied, &["document street"], what);
        assert_unchanged(&before, &stored(&coord).await, what);
        let held = coord.doc(DocId::Street).await;
        assert!(
            held.get_missing_deps(&[]).is_empty(),
            "{what}: the coordinator's street document holds a queued change"
        );
        assert!(
            held.get(ROOT, "written_by_a_node").unwrap().is_none(),
            "{what}: the coordinator's street document holds the node's change"
        );
    }
    assert_serving(&coord, &pki).await;
    coord.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unregistered_community_is_told_how_to_register() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let coord = street(&pki, dir.path(), FrameLimits::default()).await;
    let before = stored(&coord).await;
    let heads = coord.community_heads("c09").await;
    let r = refusal(
        &url(&coord),
        &pki.node("c09"),
        vec![hello_frame(hello("c09", &heads))],
    )
    .await;
    let r = expect_refusal(
        r,
        Code::PermissionDenied,
        &[
            "c09",
            "not registered",
            "gridctl street community add --id c09",
        ],
        "an unregistered community",
    );
    assert!(r.frames.is_empty(), "no Welcome: {:?}", r.frames);
    assert_unchanged(&before, &stored(&coord).await, "an unregistered community");
    assert_eq!(
        coord
            .community_heads("c09")
            .await
            .keys()
            .collect::<Vec<_>>(),
        vec![&DocId::Street],
        "nothing of c09 is held"
    );
    assert_serving(&coord, &pki).await;
    coord.stop().await;
}

/// Whether a call with `auth` failed (refused, or no connection at all).
async fn call_fails(coord: &TestCoordinator, auth: &ClientAuth) -> Result<String, String> {
    let heads = coord.community_heads("c01").await;
    let sync = refusal(&url(coord), auth, vec![hello_frame(hello("c01", &heads))]).await?;
    if sync
        .frames
        .iter()
        .any(|f| matches!(f.frame, Some(pb::coordinator_frame::Frame::Welcome(_))))
    {
        return Err(format!("got a Welcome before {:?}", sync.status));
    }
    // The Street API too (the certificate may be an operator's).
    let ep = endpoint(&url(coord), auth).map_err(|e| e.to_string())?;
    let street = match tokio::time::timeout(PROMPT, ep.connect()).await {
        Err(_) => return Err("connecting did not end".into()),
        Ok(Err(e)) => format!("no connection: {e:?}"),
        Ok(Ok(ch)) => {
            match tokio::time::timeout(
                PROMPT,
                StreetClient::new(ch).list_communities(spb::ListCommunitiesRequest {}),
            )
            .await
            {
                Err(_) => return Err("ListCommunities did not end".into()),
                Ok(Ok(r)) => return Err(format!("ListCommunities answered {r:?}")),
                Ok(Err(s)) => format!("{:?}: {}", s.code(), s.message()),
            }
        }
    };
    Ok(format!(
        "Sync.Session {:?}: {}; Street {street}",
        sync.status.code(),
        sync.status.message()
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expired_and_foreign_certificates_are_refused() {
    let pki = Pki::new();
    let cdir = tempfile::tempdir().unwrap();
    let ndir = tempfile::tempdir().unwrap();
    let coord = street(&pki, cdir.path(), FrameLimits::default()).await;
    let before = stored(&coord).await;

    // Expired: valid from 10 days ago until 5 days ago, from the street CA.
    let (from, _) = validity_days(1).unwrap();
    let day = Duration::from_secs(86_400);
    let expired = issue_leaf(&pki.ca, &node("c01"), from - 10 * day, from - 5 * day)
        .expect("issue an expired leaf");
    let auth = ClientAuth::Tls(
        client_tls(&TlsPems::new(&pki.ca, &expired), "localhost").expect("client TLS"),
    );
    let how = call_fails(&coord, &auth)
        .await
        .unwrap_or_else(|e| panic!("an expired certificate was accepted: {e}"));
    eprintln!("expired certificate: {how}");
    let expired_op = issue_leaf(
        &pki.ca,
        &Principal::Operator("alice".into()),
        from - 10 * day,
        from - 5 * day,
    )
    .unwrap();
    let auth = ClientAuth::Tls(
        client_tls(&TlsPems::new(&pki.ca, &expired_op), "localhost").expect("client TLS"),
    );
    let how = call_fails(&coord, &auth)
        .await
        .unwrap_or_else(|e| panic!("an expired operator certificate was accepted: {e}"));
    eprintln!("expired operator certificate: {how}");

    // Foreign: a valid leaf naming node:c01, from another CA.
    let (from, to) = validity_days(30).unwrap();
    let other = issue_ca("Other Street", from, to).unwrap();
    for p in [node("c01"), Principal::Operator("alice".into())] {
        let foreign = issue_leaf(&other, &p, from, to - day).unwrap();
        let auth = ClientAuth::Tls(
            client_tls(
                &TlsPems {
                    ca: pki.ca.cert_pem.clone(),
                    cert: foreign.cert_pem,
                    key: foreign.key_pem,
                },
                "localhost",
            )
            .expect("client TLS"),
        );
        let how = call_fails(&coord, &auth)
            .await
            .unwrap_or_else(|e| panic!("a {p} certificate from another CA was accepted: {e}"));
        eprintln!("foreign certificate of {p}: {how}");
    }
    assert_unchanged(
        &before,
        &stored(&coord).await,
        "expired and foreign certificates",
    );

    // A good node still syncs.
    let link = test_link_config(coord.addr, &pki.node("c01"), FrameLimits::default());
    let n01 = TestNode::start(ndir.path(), "c01", Some(link)).await;
    populate(&n01, "A", 2).await;
    assert!(
        eventually(WITHIN, || converged(&n01, &coord)).await,
        "a good node did not converge after the refusals: {:?}",
        n01.link_status()
    );
    n01.stop().await;
    assert_serving(&coord, &pki).await;
    coord.stop().await;
}

// --------------------------------------------------------------- bad frames

/// Checks each case on a fresh session; collects what went wrong.
async fn check_cases(
    coord: &TestCoordinator,
    pki: &Pki,
    cases: Vec<(&str, Vec<pb::NodeFrame>, Code, Vec<&str>)>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (what, frames, code, words) in cases {
        let before = stored(coord).await;
        match refusal(&url(coord), &pki.node("c01"), frames).await {
            Err(e) => problems.push(format!("{what}: expected {code:?}, but {e}")),
            Ok(r) => {
                eprintln!(
                    "{what}: {:?}: {} (after {} frame(s))",
                    r.status.code(),
                    r.status.message(),
                    r.frames.len()
                );
                if r.status.code() != code {
                    problems.push(format!(
                        "{what}: expected {code:?}, got {:?}: {}",
                        r.status.code(),
                        r.status.message()
                    ));
                }
                for w in words {
                    if !r.status.message().contains(w) {
                        problems.push(format!(
                            "{what}: the message does not mention {w:?}: {}",
                            r.status.message()
                        ));
                    }
                }
            }
        }
        if stored(coord).await != before {
            problems.push(format!("{what}: the coordinator's documents changed"));
        }
        assert_serving(coord, pki).await;
    }
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_frames_are_refused_with_invalid_argument() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let coord = street(&pki, dir.path(), FrameLimits::default()).await;
    let heads = coord.community_heads("c01").await;
    let good = || hello_frame(hello("c01", &heads));
    let reg = DocId::Registry(cid("c01"));
    let msg = valid_message(&reg);
    let n = msg.len() as u64;
    let cases = vec![
        (
            "a SyncFrame before the Hello",
            vec![whole("registry/c01", msg.clone())],
            Code::InvalidArgument,
            vec!["Hello"],
        ),
        (
            "an empty NodeFrame before the Hello",
            vec![pb::NodeFrame { frame: None }],
            Code::InvalidArgument,
            vec!["Hello"],
        ),
        (
            "an empty NodeFrame after the Hello",
            vec![good(), pb::NodeFrame { frame: None }],
            Code::InvalidArgument,
            vec!["SyncFrame"],
        ),
        (
            "a second Hello",
            vec![good(), good()],
            Code::InvalidArgument,
            vec!["SyncFrame"],
        ),
        (
            "a SyncFrame naming \"nonsense\"",
            vec![good(), whole("nonsense", msg.clone())],
            Code::InvalidArgument,
            vec!["nonsense"],
        ),
        (
            "part 1 of 2 without part 0",
            vec![good(), sync_frame("registry/c01", msg.clone(), 1, 2, 2 * n)],
            Code::InvalidArgument,
            vec!["registry/c01", "part 0"],
        ),
        (
            "parts = 0",
            vec![good(), sync_frame("registry/c01", msg.clone(), 0, 0, n)],
            Code::InvalidArgument,
            vec!["registry/c01", "part"],
        ),
        (
            "a whole message whose total_bytes lies",
            vec![good(), sync_frame("registry/c01", msg.clone(), 0, 1, n + 1)],
            Code::InvalidArgument,
            vec!["registry/c01"],
        ),
        (
            "part 0 of 2 then a part of another document",
            vec![
                good(),
                sync_frame("registry/c01", msg[..1].to_vec(), 0, 2, n),
                sync_frame("cases/c01", msg[1..].to_vec(), 1, 2, n),
            ],
            Code::InvalidArgument,
            vec!["cases/c01"],
        ),
    ];
    let problems = check_cases(&coord, &pki, cases).await;
    assert!(
        problems.is_empty(),
        "malformed frames:\n{}",
        problems.join("\n")
    );
    coord.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn oversized_frames_are_refused_and_the_coordinator_keeps_serving() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let limits = FrameLimits {
        max_frame_bytes: 16 * 1024,
        max_message_bytes: 64 * 1024,
    };
    let coord = street(&pki, dir.path(), limits).await;
    let heads = coord.community_heads("c01").await;
    let good = || hello_frame(hello("c01", &heads));
    let over_frame = limits.max_frame_bytes + 1000;
    assert!(over_frame < limits.grpc_message_limit() - 100);
    let cases = vec![
        (
            "a frame of data above max_frame_bytes (under the gRPC limit)",
            vec![
                good(),
                sync_frame(
                    "registry/c01",
                    vec![0x42; over_frame],
                    0,
                    1,
                    over_frame as u64,
                ),
            ],
            Code::ResourceExhausted,
            vec!["16384"],
        ),
        (
            "a frame announcing a message above max_message_bytes",
            vec![
                good(),
                sync_frame(
                    "registry/c01",
                    vec![0x42; 1024],
                    0,
                    8,
                    limits.max_message_bytes as u64 + 1,
                ),
            ],
            Code::ResourceExhausted,
            vec!["65536"],
        ),
        (
            "parts adding up to more than max_message_bytes",
            {
                let mut v = vec![good()];
                let total = (limits.max_message_bytes + limits.max_frame_bytes) as u64;
                for i in 0..5 {
                    v.push(sync_frame(
                        "registry/c01",
                        vec![0x42; limits.max_frame_bytes],
                        i,
                        5,
                        total,
                    ));
                }
                v
            },
            Code::ResourceExhausted,
            vec![],
        ),
    ];
    let mut problems = check_cases(&coord, &pki, cases).await;

    // A gRPC message above the gRPC decoding limit: any error status, not
    // an OK ending and not a hang; the coordinator keeps serving.
    let before = stored(&coord).await;
    let huge = limits.max_frame_bytes + 64 * 1024 + 1024;
    let r = refusal(
        &url(&coord),
        &pki.node("c01"),
        vec![
            good(),
            sync_frame("registry/c01", vec![0x42; huge], 0, 1, huge as u64),
        ],
    )
    .await;
    match r {
        Err(e) => problems.push(format!(
            "a gRPC message of {huge} bytes (limit {}): {e}",
            limits.grpc_message_limit()
        )),
        Ok(r) => {
            eprintln!(
                "a gRPC message above the limit: {:?}: {}",
                r.status.code(),
                r.status.message()
            );
            if r.status.code() == Code::Ok {
                problems.push("a gRPC message above the limit: status OK".into());
            }
        }
    }
    if stored(&coord).await != before {
        problems.push("a gRPC message above the limit changed the documents".into());
    }
    assert_serving(&coord, &pki).await;
    assert!(
        problems.is_empty(),
        "oversized frames:\n{}",
        problems.join("\n")
    );
    coord.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_newer_protocol_version_gets_a_clear_error_not_a_hang() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let coord = street(&pki, dir.path(), FrameLimits::default()).await;
    let before = stored(&coord).await;
    let mut h = hello("c01", &coord.community_heads("c01").await);
    h.protocol_version = 2;
    let r = tokio::time::timeout(
        PROMPT,
        refusal(&url(&coord), &pki.node("c01"), vec![hello_frame(h)]),
    )
    .await
    .expect("a Hello of protocol 2 got no answer within 10 s: a hang, not a clear error");
    let r = expect_refusal(r, Code::FailedPrecondition, &[], "protocol version 2");
    let numbers: BTreeSet<&str> = r
        .status
        .message()
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .collect();
    assert!(
        numbers.contains(PROTOCOL_VERSION.to_string().as_str()) && numbers.contains("2"),
        "the message should name both versions: {}",
        r.status.message()
    );
    assert!(r.frames.is_empty(), "no Welcome: {:?}", r.frames);
    assert_unchanged(&before, &stored(&coord).await, "protocol version 2");
    assert_serving(&coord, &pki).await;
    coord.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn garbage_instead_of_an_automerge_message_is_refused() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let coord = street(&pki, dir.path(), FrameLimits::default()).await;
    let heads = coord.community_heads("c01").await;
    let good = || hello_frame(hello("c01", &heads));
    let cases = vec![
        (
            "random bytes for registry/c01",
            vec![good(), whole("registry/c01", garbage(300))],
            Code::InvalidArgument,
            vec!["registry/c01", "not an Automerge sync message"],
        ),
        (
            "random bytes for the street document",
            vec![good(), whole("street", garbage(40))],
            Code::InvalidArgument,
            vec!["street", "not an Automerge sync message"],
        ),
        (
            "an empty message for cases/c01",
            vec![good(), whole("cases/c01", Vec::new())],
            Code::InvalidArgument,
            vec!["cases/c01", "not an Automerge sync message"],
        ),
        (
            "a sync message cut short",
            {
                let m = valid_message(&DocId::Registry(cid("c01")));
                vec![good(), whole("registry/c01", m[..m.len() / 2].to_vec())]
            },
            Code::InvalidArgument,
            vec!["registry/c01", "not an Automerge sync message"],
        ),
    ];
    let problems = check_cases(&coord, &pki, cases).await;
    assert!(problems.is_empty(), "garbage:\n{}", problems.join("\n"));
    coord.stop().await;
}

// ------------------------------------------------------ development tokens

const NODE_TOKEN: &str = "node-c01-token-0123456789abcdef";
const OPERATOR_TOKEN: &str = "operator-dev-token-0123456789abcdef";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn development_tokens_over_plain_http_sync_and_unknown_tokens_are_refused() {
    let cdir = tempfile::tempdir().unwrap();
    let ndir = tempfile::tempdir().unwrap();
    let tokens = DevTokens::from_toml_str(
        &format!(
            "[[token]]\ntoken = \"{NODE_TOKEN}\"\nprincipal = \"node:c01\"\n\
             [[token]]\ntoken = \"{OPERATOR_TOKEN}\"\nprincipal = \"operator:dev\"\n"
        ),
        "test tokens",
    )
    .expect("tokens");
    let cfg = ReplicasConfig {
        street_id: STREET.into(),
        street_name: "测试街道 test street".into(),
        db_path: cdir.path().join("gridsync-coordinator.sqlite3"),
        tz: TIME_ZONE,
        compact_after_chunks: COMPACT_AFTER_CHUNKS,
        stale_after_ms: gridsync_testkit::street::STALE_AFTER_MS,
    };
    let replicas = tokio::task::spawn_blocking(move || StreetReplicas::open(cfg))
        .await
        .unwrap()
        .expect("open the coordinator's store");
    let replicas = std::sync::Arc::new(std::sync::Mutex::new(replicas));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut opts = ServeOptions::new(Authenticator::DevTokens(tokens), None);
    opts.grace = Duration::from_secs(5);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        replicas.clone(),
        listener,
        async {
            let _ = stopped.await;
        },
        opts,
    ));
    let http = format!("http://127.0.0.1:{port}");

    // The operator registers c01 with its token.
    let op_auth = ClientAuth::DevToken(OPERATOR_TOKEN.into());
    let ch = endpoint(&http, &op_auth).unwrap().connect().await.unwrap();
    let mut op = StreetClient::with_interceptor(ch, TokenInterceptor::new(&op_auth).unwrap());
    op.put_street_record(spb::PutStreetRecordRequest {
        record: Some(spb::StreetRecord {
            record: Some(spb::street_record::Record::Community(
                spb::StreetCommunity {
                    id: "c01".into(),
                    name: "Community c01".into(),
                    kind: spb::CommunityKindPb::CommunityKindCommunity as i32,
                },
            )),
        }),
    })
    .await
    .expect("the operator registers c01 with a dev token");

    // A node with its token syncs over http://.
    let node_auth = ClientAuth::DevToken(NODE_TOKEN.into());
    let link = LinkConfig {
        endpoint: endpoint(&http, &node_auth).unwrap(),
        dev_token: Some(NODE_TOKEN.into()),
        backoff_base: Duration::from_millis(50),
        backoff_max: Duration::from_millis(500),
        limits: FrameLimits::default(),
        handshake_timeout: Duration::from_secs(10),
        dialer: None,
        jitter_seed: None,
    };
    let n01 = TestNode::start(ndir.path(), "c01", Some(link)).await;
    populate(&n01, "A", 2).await;
    let heads_at_coord = || {
        let r = replicas.clone();
        async move {
            tokio::task::spawn_blocking(move || r.lock().unwrap().community_heads(&cid("c01")))
                .await
                .unwrap()
        }
    };
    assert!(
        eventually(WITHIN, || async {
            n01.heads().await == heads_at_coord().await
        })
        .await,
        "the node did not converge over dev tokens: node {:?} coordinator {:?}; link {:?}",
        show_heads(&n01.heads().await),
        show_heads(&heads_at_coord().await),
        n01.link_status()
    );
    assert!(
        heads_at_coord()
            .await
            .contains_key(&DocId::Registry(cid("c01")))
    );
    n01.stop().await;

    // Unknown and missing tokens.
    let heads = heads_at_coord().await;
    for (what, auth) in [
        (
            "an unknown token",
            ClientAuth::DevToken("not-a-known-token-0123456789".into()),
        ),
        ("no token", ClientAuth::None),
    ] {
        let r = refusal(&http, &auth, vec![hello_frame(hello("c01", &heads))]).await;
        let r = expect_refusal(r, Code::Unauthenticated, &["token"], what);
        assert!(r.frames.is_empty(), "{what}: {:?}", r.frames);
        let ch = endpoint(&http, &auth).unwrap().connect().await.unwrap();
        let s = StreetClient::with_interceptor(ch, TokenInterceptor::new(&auth).unwrap())
            .list_communities(spb::ListCommunitiesRequest {})
            .await
            .expect_err("the Street API answered without a known token");
        assert_eq!(s.code(), Code::Unauthenticated, "{what}: {s:?}");
    }
    // A node's token on the Street API.
    let ch = endpoint(&http, &node_auth)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let s = StreetClient::with_interceptor(ch, TokenInterceptor::new(&node_auth).unwrap())
        .list_communities(spb::ListCommunitiesRequest {})
        .await
        .expect_err("a node's token opened the Street API");
    assert_eq!(s.code(), Code::PermissionDenied, "{s:?}");
    assert_eq!(heads_at_coord().await, heads, "refusals changed nothing");
    op.list_communities(spb::ListCommunitiesRequest {})
        .await
        .expect("still serving");

    let _ = stop.send(());
    server
        .await
        .unwrap()
        .expect("the coordinator stops cleanly");
}
