//! The `Sync` gRPC service: one session per connected node.
//!
//! The handshake is checked before anything else happens: the caller must
//! be a node (authenticated by its certificate or development token), its
//! Hello must name its own community, speak this protocol version, list
//! only documents it may sync, and its community must be registered in the
//! street. Anything else ends the call at once with a status that says what
//! was wrong. A new session of a community replaces the old one (a half-dead
//! link must not keep the node out).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gridsync_core::access::Principal;
use gridsync_core::rollup::NodeDigest;
use gridsync_core::sync::{self, HeartbeatSettings, Received, SyncSession};
use gridsync_core::{CommunityId, DocId};
use gridsync_proto::rollup::v1 as rpb;
use gridsync_proto::sync::v1 as pb;
use gridsync_svc::blocking::BoxError;
use gridsync_svc::{ApiError, Clock, Recover, on_pool};
use gridsync_sync::handshake::{self, stated_or};
use gridsync_sync::identity::{Authenticator, authenticate};
use gridsync_sync::session::{
    self, Frame, PeerPlan, SessionEvent, SessionIo, SessionLimits, SharedHost,
};
use gridsync_sync::{SessionError, SyncHost};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use crate::replicas::{ReplicasError, StreetReplicas};
use crate::summary::NodeSummary;

/// The replicas, shared by the sync sessions and the operator API: they
/// lock themselves, one community at a time (see `crate::shard`), and are
/// called on the blocking pool (`gridsync_svc::on_pool`), but for a
/// community's published heads, read in memory at each heartbeat
/// (`NodeHost::HEADS_IN_MEMORY`).
pub type ReplicasHandle = Arc<StreetReplicas>;

/// One node's view of the replicas, for the session loop.
struct NodeHost {
    replicas: ReplicasHandle,
    community: CommunityId,
}

/// The host holds no state of its own (the replicas recover themselves).
impl Recover for NodeHost {
    fn recover(&mut self) -> Result<(), BoxError> {
        Ok(())
    }
}

impl SyncHost for NodeHost {
    /// The published heads (`StreetReplicas::community_heads`).
    const HEADS_IN_MEMORY: bool = true;
    fn heads(&mut self) -> Result<sync::DocHeads, SessionError> {
        Ok(self.replicas.community_heads(&self.community))
    }
    fn open(&mut self, session: &mut SyncSession, id: &DocId) -> Result<(), SessionError> {
        self.replicas.open_sync(&self.community, session, id)
    }
    fn generate(
        &mut self,
        session: &mut SyncSession,
        id: &DocId,
    ) -> Result<Option<Vec<u8>>, SessionError> {
        self.replicas.generate(&self.community, session, id)
    }
    fn receive(
        &mut self,
        session: &mut SyncSession,
        id: &DocId,
        bytes: &[u8],
        now_ms: i64,
    ) -> Result<Received, SessionError> {
        self.replicas
            .receive(&self.community, session, id, bytes, now_ms)
    }
    fn settled(&mut self, session: &mut SyncSession, id: &DocId, _now_ms: i64) {
        self.replicas.settled(&self.community, session, id)
    }
    /// A node may state only documents it may sync (as in its Hello).
    fn peer_reported(&mut self, changed: &sync::DocHeads, now_ms: i64) -> Result<(), SessionError> {
        let principal = Principal::Node(self.community.clone());
        for id in changed.keys() {
            if principal.sync_access(id) == gridsync_core::access::SyncAccess::Denied {
                return Err(SessionError::Denied(format!(
                    "the heartbeat states document {id}, which {principal} may not sync"
                )));
            }
        }
        self.replicas
            .node_reported(&self.community, changed, now_ms);
        Ok(())
    }
}

#[derive(Clone)]
pub struct SyncService {
    replicas: ReplicasHandle,
    auth: Arc<Authenticator>,
    clock: Clock,
    limits: SessionLimits,
    handshake_timeout: Duration,
    max_hello_docs: usize,
    /// The heartbeat of every session with a node that takes heartbeats.
    heartbeat: HeartbeatSettings,
    /// Turns true on shutdown: every session ends.
    stop: watch::Receiver<bool>,
    /// The stop switch of each community's current session.
    current: Arc<Mutex<HashMap<CommunityId, CurrentSession>>>,
    next_session: Arc<std::sync::atomic::AtomicU64>,
    tasks: Arc<Mutex<tokio::task::JoinSet<()>>>,
}

impl SyncService {
    pub fn new(
        replicas: ReplicasHandle,
        auth: Arc<Authenticator>,
        clock: Clock,
        limits: SessionLimits,
        stop: watch::Receiver<bool>,
    ) -> Self {
        Self {
            replicas,
            auth,
            clock,
            limits,
            handshake_timeout: Duration::from_secs(30),
            max_hello_docs: handshake::MAX_HELLO_DOCS,
            heartbeat: HeartbeatSettings::default(),
            stop,
            current: Arc::default(),
            next_session: Arc::default(),
            tasks: Arc::default(),
        }
    }

    /// How long a node has to send its Hello, and how many documents it may
    /// list in it.
    pub fn with_handshake(mut self, hello_timeout: Duration, max_hello_docs: usize) -> Self {
        self.handshake_timeout = hello_timeout;
        self.max_hello_docs = max_hello_docs;
        self
    }

    /// The heartbeat interval and misses of the sessions.
    pub fn with_heartbeat(mut self, heartbeat: HeartbeatSettings) -> Self {
        self.heartbeat = heartbeat;
        self
    }

    /// Waits for every session task to end (after `stop` turned true).
    pub async fn join(&self, deadline: Duration) {
        let mut set = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        let all = async { while set.join_next().await.is_some() {} };
        if tokio::time::timeout(deadline, all).await.is_err() {
            tracing::warn!("sync sessions still running after the grace period");
        }
    }
}

/// A community's current session: its number and its stop switch.
type CurrentSession = (u64, watch::Sender<bool>);

type FrameStream = Pin<Box<dyn Stream<Item = Result<pb::CoordinatorFrame, Status>> + Send>>;

impl SyncService {
    /// A node's digest report (`Report` or `ReportDigest`): checks that the
    /// caller is the community's node, keeps its digest, and gives the
    /// street's figures as nodes get them, with the community.
    async fn take_report(
        &self,
        principal: Principal,
        community_id: &str,
        digest: Option<rpb::NodeDigest>,
    ) -> Result<(String, Arc<NodeSummary>), Status> {
        let Principal::Node(community) = principal else {
            return Err(ApiError::Denied(format!(
                "{principal} is not a node: only nodes report digests"
            ))
            .into());
        };
        if community_id != community.as_str() {
            return Err(ApiError::Denied(format!(
                "this certificate is for community {community}, not {}",
                gridsync_core::error::quote(community_id)
            ))
            .into());
        }
        let digest = match digest {
            Some(d) => Some(NodeDigest::try_from(d).map_err(ApiError::from)?),
            None => None,
        };
        let now = self.clock.now_ms();
        let own = community.to_string();
        let r = self.replicas.clone();
        let summary = on_pool(move || {
            if !r.is_registered(&community)? {
                return Err(ReplicasError::Unregistered(community.clone()));
            }
            if let Some(d) = digest {
                r.node_digest(&community, d);
            }
            r.node_summary(now)
        })
        .await
        .map_err(ApiError::from)?
        .map_err(ApiError::from)?;
        Ok((own, summary))
    }
}

#[tonic::async_trait]
impl pb::sync_server::Sync for SyncService {
    type SessionStream = FrameStream;

    /// A node's digest of its own community; answered with the street's
    /// top figures (the street and each community, no deeper) for the
    /// street's today.
    async fn report(&self, req: Request<pb::NodeReport>) -> Result<Response<rpb::Rollup>, Status> {
        let principal = authenticate(&req, &self.auth)?;
        let report = req.into_inner();
        let (own, summary) = self
            .take_report(principal, &report.community_id, report.digest)
            .await?;
        Ok(Response::new(summary.for_node(&own)))
    }

    async fn report_digest(
        &self,
        req: Request<pb::DigestReport>,
    ) -> Result<Response<pb::DigestAnswer>, Status> {
        let principal = authenticate(&req, &self.auth)?;
        let report = req.into_inner();
        let (own, summary) = self
            .take_report(principal, &report.community_id, report.digest)
            .await?;
        let answer = summary.answer(&own, &report.figures_tag);
        self.replicas.figures_answers().count(&answer);
        Ok(Response::new(answer))
    }

    async fn session(
        &self,
        req: Request<Streaming<pb::NodeFrame>>,
    ) -> Result<Response<FrameStream>, Status> {
        let principal = authenticate(&req, &self.auth)?;
        if !matches!(principal, Principal::Node(_)) {
            return Err(ApiError::Denied(format!(
                "{principal} is not a node: only nodes sync; operators use the Street API"
            ))
            .into());
        }
        let mut inbound = req.into_inner();
        let first = tokio::time::timeout(self.handshake_timeout, inbound.message())
            .await
            .map_err(|_| ApiError::Timeout("no Hello within the handshake timeout".into()))??;
        let hello = match first {
            Some(pb::NodeFrame {
                frame: Some(pb::node_frame::Frame::Hello(h)),
            }) => h,
            Some(_) => {
                return Err(ApiError::Malformed(
                    "the first frame of a session must be a Hello".into(),
                )
                .into());
            }
            None => {
                return Err(ApiError::Cancelled("the node closed before its Hello".into()).into());
            }
        };
        let (community, node_docs) =
            handshake::check_hello(&principal, &hello, self.max_hello_docs)
                .map_err(ApiError::from)?;
        let c = community.clone();
        // Subscribed before the heads are read: a change committed after
        // the read is a tick the session will see.
        let r = self.replicas.clone();
        let (registered, local, changed) = on_pool(move || {
            let changed = r.subscribe();
            Ok::<_, ReplicasError>((r.is_registered(&c)?, r.community_heads(&c), changed))
        })
        .await
        .map_err(ApiError::from)?
        .map_err(ApiError::from)?;
        if !registered {
            return Err(
                ApiError::Denied(ReplicasError::Unregistered(community).to_string()).into(),
            );
        }
        let plan = sync::plan(&local, &node_docs);
        let heartbeat = handshake::settle_heartbeat(&hello, self.heartbeat);

        // Replace any earlier session of this community.
        let (stop_tx, stop_rx) = watch::channel(false);
        let session_no = self
            .next_session
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some((_, old)) = self
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(community.clone(), (session_no, stop_tx))
        {
            let _ = old.send(true);
        }
        let version = hello.software_version.clone();
        let c = community.clone();
        let stated = node_docs.clone();
        let now = self.clock.now_ms();
        let r = self.replicas.clone();
        let window = heartbeat.map(|h| h.window_ms());
        on_pool(move || r.link_opened(&c, &version, &stated, window, now))
            .await
            .map_err(ApiError::from)?;
        tracing::info!(community = %community, docs = node_docs.len(), differ = plan.len(), "node connected");

        let welcome = handshake::welcome(
            &local,
            &self.limits.frames,
            heartbeat,
            self.replicas.cfg.tz.name(),
        );
        let peer = PeerPlan {
            initial: plan,
            remote: node_docs,
            max_frame: stated_or(hello.max_frame_bytes, self.limits.frames.max_frame_bytes),
            // The node states no message limit; its default is ours.
            max_message: self.limits.frames.max_message_bytes,
            heartbeat,
            told: local,
        };
        let (sync_tx, sync_rx) = mpsc::channel::<Frame>(16);
        let (end_tx, end_rx) = mpsc::channel::<Result<pb::CoordinatorFrame, Status>>(1);

        // Either the server's stop or this community's replacement ends it.
        let mut server_stop = self.stop.clone();
        let (merged_tx, merged_rx) = watch::channel(false);
        let mut replaced = stop_rx;
        let replicas = self.replicas.clone();
        let limits = self.limits.clone();
        let frame_limits = limits.frames;
        let current = self.current.clone();
        let clock = self.clock.clone();
        let host = Arc::new(Mutex::new(NodeHost {
            replicas: replicas.clone(),
            community: community.clone(),
        }));
        let frames = inbound.map(|f| {
            use pb::node_frame::Frame as F;
            match f?.frame {
                Some(F::Sync(s)) => Ok(Frame::Sync(s)),
                Some(F::Heartbeat(h)) => Ok(Frame::Heartbeat(h)),
                Some(F::Goodbye(g)) => Ok(Frame::Goodbye(g)),
                Some(F::Hello(_)) | None => Err(ApiError::Malformed(
                    "a frame after the Hello that is not a SyncFrame, Heartbeat or Goodbye".into(),
                )
                .into()),
            }
        });
        let heard = (self.replicas.clone(), community.clone());
        let traffic = self.replicas.traffic().community(community.as_str());
        let task = async move {
            // Turns the server's stop or this community's replacement into
            // the session's stop (the session then says goodbye), and waits.
            let watcher = async {
                loop {
                    tokio::select! {
                        r = server_stop.changed() => if r.is_err() || *server_stop.borrow() { break },
                        r = replaced.changed() => if r.is_err() || *replaced.borrow() { break },
                    }
                }
                let _ = merged_tx.send(true);
                std::future::pending::<()>().await
            };
            // Messages are booked in `receive`, reported heads in
            // `peer_reported`; here only the time a frame was heard and
            // the frames counted for the metrics.
            let run = session::run(
                host as SharedHost<NodeHost>,
                clock.clone(),
                peer,
                SessionIo {
                    inbound: Box::pin(frames),
                    outbound: sync_tx,
                    changed,
                    stop: merged_rx,
                    goodbye: "the coordinator ended the session (shutting down, or a newer session of this community replaced it)".into(),
                },
                limits,
                move |ev| match ev {
                    SessionEvent::Heard(ms) => heard.0.link_heard(&heard.1, ms),
                    SessionEvent::Restarted(id) => tracing::warn!(
                        community = %heard.1,
                        doc = %id,
                        "the exchange of a document stalled; its sync state was started over"
                    ),
                    SessionEvent::Sent(_, n) => traffic.sent(n),
                    SessionEvent::Got(_, n) => traffic.received(n),
                    _ => {}
                },
            );
            let result = tokio::select! {
                r = run => r,
                () = watcher => Ok(()),
            };
            let error = match &result {
                Ok(()) | Err(SessionError::Closed) => None,
                Err(SessionError::Remote(s)) => Some(s.message().to_string()),
                Err(e) => Some(e.to_string()),
            };
            match &result {
                Ok(()) | Err(SessionError::Closed | SessionError::Goodbye(_)) => {
                    tracing::info!(community = %community, "session ended")
                }
                Err(e) => tracing::warn!(community = %community, error = %e, "session ended"),
            }
            // Every error here is ours to report to the node: on this side
            // an inbound error is tonic's decoder refusing the node's frame
            // (too large, not a frame) or the filter above, never a status
            // the node sent.
            if let Err(e) = result {
                let status = match e {
                    SessionError::Closed | SessionError::Goodbye(_) => None,
                    SessionError::Remote(s) if s.code() == tonic::Code::OutOfRange => {
                        Some(Status::from(ApiError::Exhausted(format!(
                            "a frame over the message limit ({} bytes): {}",
                            frame_limits.grpc_message_limit(),
                            s.message()
                        ))))
                    }
                    SessionError::Remote(s) => Some(s),
                    other => Some(Status::from(ApiError::from(other))),
                };
                if let Some(status) = status {
                    let _ = end_tx.send(Err(status)).await;
                }
            }
            // Only the current session of the community marks it closed.
            let mine = {
                let mut cur = current.lock().unwrap_or_else(|p| p.into_inner());
                if cur.get(&community).is_some_and(|(n, _)| *n == session_no) {
                    cur.remove(&community);
                    true
                } else {
                    false
                }
            };
            let c = community.clone();
            let now = clock.now_ms();
            let r = replicas.clone();
            let ended = on_pool(move || {
                if mine {
                    r.link_closed(&c, error, now);
                }
                r.session_ended(&c)
            })
            .await;
            if let Ok(Err(e)) | Err(e) = ended.map_err(ReplicasError::from) {
                tracing::warn!(error = %e, "putting the session's documents back failed");
            }
        };
        {
            let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
            // Reap the sessions that have ended.
            while tasks.try_join_next().is_some() {}
            tasks.spawn(task);
        }

        let out = tokio_stream::once(Ok(welcome))
            .chain(ReceiverStream::new(sync_rx).map(|f| {
                use pb::coordinator_frame::Frame as F;
                Ok(pb::CoordinatorFrame {
                    frame: Some(match f {
                        Frame::Sync(s) => F::Sync(s),
                        Frame::Heartbeat(h) => F::Heartbeat(h),
                        Frame::Goodbye(g) => F::Goodbye(g),
                    }),
                })
            }))
            .chain(ReceiverStream::new(end_rx));
        Ok(Response::new(Box::pin(out)))
    }
}
