//! The sync session loop, shared by the node's link (the dialling side) and
//! the coordinator (the answering side): it moves Automerge sync messages
//! for many documents over one stream of `SyncFrame`s.
//!
//! The decisions are the core's ([`SyncSession`]: what to send, what a
//! received message does, frames and limits); the documents and their store
//! belong to a [`SyncHost`] (the node's `Office`, the coordinator's replicas),
//! whose blocking work runs in `spawn_blocking`. This loop only carries
//! frames, wakes up on local changes, and stops on shutdown.
//!
//! Ordering that makes acknowledgement mean durability: a received message
//! is applied *and committed* by the host before this loop generates the
//! answer, and the answer is what tells the peer which heads we hold. So a
//! peer never learns that we have a change we could still lose.

use std::collections::{BTreeSet, VecDeque};

use gridsync_core::DocId;
use std::time::Duration;

use gridsync_core::sync::{
    DocHeads, FrameLimits, HeartbeatSettings, Part, Reassembly, Received, SyncBudget, SyncSession,
    changed_heads, heads_digest, split,
};
use gridsync_proto::sync::v1::{self as pb, SyncFrame};
use gridsync_svc::memory::{Ceiling, Reservation};
use gridsync_svc::{Clock, Recover, Shared, blocking, quick};
use tokio::sync::{mpsc, watch};
use tokio_stream::{Stream, StreamExt};

pub use crate::error::SessionError;

/// The smallest frame size a peer may ask for.
pub const MIN_FRAME_BYTES: usize = 1024;

/// Where the documents of a session live. Every method is blocking and is
/// given the time (`now_ms`, Unix ms) from the session's clock.
pub trait SyncHost: Send + 'static {
    /// True when [`SyncHost::heads`] reads memory only (no store, no
    /// Automerge work): the session then reads them at each heartbeat on
    /// its own thread when the host is free ([`gridsync_svc::quick`]),
    /// not through the blocking pool.
    const HEADS_IN_MEMORY: bool = false;
    /// Heads of every document this side syncs in the session.
    fn heads(&mut self) -> Result<DocHeads, SessionError>;
    /// Starts syncing a document in `session`, from its persisted state.
    fn open(&mut self, session: &mut SyncSession, id: &DocId) -> Result<(), SessionError>;
    /// The next message for a document, if any.
    fn generate(
        &mut self,
        session: &mut SyncSession,
        id: &DocId,
    ) -> Result<Option<Vec<u8>>, SessionError>;
    /// Applies and durably commits a received message (with the sync state).
    fn receive(
        &mut self,
        session: &mut SyncSession,
        id: &DocId,
        bytes: &[u8],
        now_ms: i64,
    ) -> Result<Received, SessionError>;
    /// Called when a document is in sync and nothing is pending for it.
    fn settled(&mut self, _session: &mut SyncSession, _id: &DocId, _now_ms: i64) {}
    /// The peer's heartbeat stated new heads for these documents (what it
    /// holds now, acknowledged or not). A document the peer may not sync
    /// with this side is refused (the session ends).
    fn peer_reported(&mut self, changed: &DocHeads, now_ms: i64) -> Result<(), SessionError>;
}

/// A frame of a session after the handshake, either way.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    Sync(SyncFrame),
    Heartbeat(pb::Heartbeat),
    Goodbye(pb::Goodbye),
}

/// Progress a session reports (to the link status, the operator's list).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    /// A document's state after a message was received.
    Doc {
        id: DocId,
        received: Received,
    },
    /// A frame of this many bytes was sent / received for a document.
    Sent(DocId, usize),
    Got(String, usize),
    /// A frame of any kind was heard from the peer at this time (Unix ms).
    Heard(i64),
    /// The peer's heartbeat arrived (Unix ms): what it holds is known as of
    /// then.
    Reported(i64),
    /// The exchange of a document made no progress for two liveness windows
    /// while the peer, alive, kept reporting other heads: its sync state
    /// was started over.
    Restarted(DocId),
}

/// A host shared between the API and the session (see
/// `gridsync_svc::blocking` for how it is locked and rebuilt after a panic).
pub type SharedHost<H> = Shared<H>;

/// Runs `f` on the host, on the blocking pool. The session state moves into
/// the call and back: if the call panics it is lost, and so is the session
/// (the peer redials and resumes from the persisted sync states).
async fn on_host<H, R>(
    host: &SharedHost<H>,
    session: &mut Option<SyncSession>,
    f: impl FnOnce(&mut H, &mut SyncSession) -> Result<R, SessionError> + Send + 'static,
) -> Result<R, SessionError>
where
    H: SyncHost + Recover,
    R: Send + 'static,
{
    let mut s = session.take().ok_or(SessionError::Closed)?;
    let (r, s) = blocking(host, move |h| {
        let r = f(h, &mut s);
        (r, s)
    })
    .await?;
    *session = Some(s);
    r
}

/// What the handshake settled about the peer.
#[derive(Clone, Debug)]
pub struct PeerPlan {
    /// Documents whose heads differ: a message for each goes out first.
    pub initial: BTreeSet<DocId>,
    /// The heads the peer stated in the handshake.
    pub remote: DocHeads,
    /// The largest frame the peer accepts (honoured only down to
    /// [`MIN_FRAME_BYTES`]).
    pub max_frame: usize,
    /// The largest message the peer accepts.
    pub max_message: usize,
    /// The session's heartbeat; `None` with a peer that sends none.
    pub heartbeat: Option<HeartbeatSettings>,
    /// The heads this side stated in the handshake (the start of what the
    /// heartbeats tell the peer).
    pub told: DocHeads,
}

/// What a session accepts from its peer, and how long it waits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionLimits {
    pub frames: FrameLimits,
    /// What a message, and the peer over a window, may cost (checked before
    /// a message is applied).
    pub budget: SyncBudget,
    /// How long the next part of a message cut into parts may take to
    /// arrive before the session ends.
    pub part_timeout: Duration,
    /// The process's memory ceiling: a message announced in parts reserves
    /// its whole size under it when its first part arrives, or the session
    /// ends refusing it.
    pub memory: Ceiling,
}

impl SessionLimits {
    /// The default budget and part timeout with `frames`, no ceiling.
    pub fn new(frames: FrameLimits) -> Self {
        SessionLimits {
            frames,
            budget: SyncBudget::default(),
            part_timeout: Duration::from_secs(30),
            memory: Ceiling::none(),
        }
    }
}

/// The session's streams and signals.
pub struct SessionIo<S> {
    /// Frames from the peer.
    pub inbound: S,
    /// Frames to the peer.
    pub outbound: mpsc::Sender<Frame>,
    /// Ticks when this side's documents change.
    pub changed: watch::Receiver<u64>,
    /// Turns true when the session must end; the peer is then told
    /// `goodbye` (where the link allows and it takes heartbeats).
    pub stop: watch::Receiver<bool>,
    pub goodbye: String,
}

/// Runs one session until the stream ends, an error, or `stop` turns true.
///
/// A message for each document of `plan.initial` goes out first; later, a
/// tick of `changed` makes the loop look for documents whose local heads
/// the peer does not hold yet: for a document this session has synced, by
/// its sync state; for one it has not touched, by the heads the peer last
/// stated (handshake, then heartbeats).
///
/// With a heartbeat, a [`pb::Heartbeat`] goes out every interval (this
/// side's heads that changed since it last told the peer, and the digest of
/// all), and a peer heard from not at all for the window ends the session
/// with [`SessionError::Silent`]: the link is down since its last frame.
/// And a document whose heads have differed from those the peer reports
/// for two windows, with no frame for it either way in that time, has its
/// sync state started over and a message sent (a stalled exchange: both
/// sides alive, both waiting); [`SessionEvent::Restarted`] says so.
pub async fn run<H, S>(
    host: SharedHost<H>,
    clock: Clock,
    plan: PeerPlan,
    io: SessionIo<S>,
    limits: SessionLimits,
    events: impl Fn(SessionEvent) + Send,
) -> Result<(), SessionError>
where
    H: SyncHost + Recover,
    S: Stream<Item = Result<Frame, tonic::Status>> + Unpin,
{
    let SessionIo {
        mut inbound,
        outbound,
        mut changed,
        mut stop,
        goodbye,
    } = io;
    let heartbeat = plan.heartbeat;
    let window = heartbeat.map(|h| Duration::from_millis(h.window_ms() as u64));
    let mut ticker = tokio::time::interval(Duration::from_millis(
        heartbeat.map_or(3_600_000, |h| u64::from(h.interval_ms)),
    ));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is at once; the handshake just stated our heads.
    ticker.tick().await;
    // What the peer was told of our heads, and what it told us of its own.
    let mut told = plan.told.clone();
    let mut peer_heads = plan.remote.clone();
    let mut last_heard = tokio::time::Instant::now();
    let mut last_heard_ms = clock.now_ms();
    // When a frame for each document last went either way, and when the
    // peer last reported its heads.
    let mut doc_active: std::collections::HashMap<DocId, tokio::time::Instant> =
        std::collections::HashMap::new();
    let mut last_report = tokio::time::Instant::now();
    // Since when each document's heads have differed from the peer's, as
    // seen at each heartbeat.
    let mut differ_since: std::collections::HashMap<DocId, tokio::time::Instant> =
        std::collections::HashMap::new();
    let stall_after = window.map(|w| w * 2);
    let started = tokio::time::Instant::now();
    let SessionLimits {
        frames: limits,
        budget,
        part_timeout,
        memory,
    } = limits;
    // What the message being put together from its parts holds reserved.
    let mut parts_reserved: Option<Reservation> = None;
    let mut session = Some(SyncSession::with_budget(budget));
    // When the next part of a message cut into parts is due.
    let mut part_due = tokio::time::Instant::now() + part_timeout;
    // A peer's stated frame size is honoured only down to a sane minimum:
    // a tiny one would make us cut a message into millions of parts.
    let frame_max = limits
        .max_frame_bytes
        .min(plan.max_frame.max(MIN_FRAME_BYTES));
    let peer_max_message = plan.max_message;
    let mut reassembly = Reassembly::new(limits);
    // Frames waiting for room in the outbound queue. Every received message
    // is answered at once (Automerge's protocol expects a reply to each
    // message: answering two with one can leave the peer without our new
    // heads), but the answer waits here, so the inbound side keeps being
    // read while the peer is slow to read ours: two sides catching up on
    // each other at once do not wait on each other's full queues. Reading
    // pauses only when this holds `max_message_bytes` or more.
    let mut out: VecDeque<SyncFrame> = VecDeque::new();
    let mut out_bytes: usize = 0;
    let out_cap = limits.max_message_bytes;
    for id in plan.initial {
        let msg = generate(&host, &mut session, &id, clock.now_ms()).await?;
        out_bytes += queue(&mut out, &id, msg, frame_max, peer_max_message)?;
    }
    loop {
        tokio::select! {
            biased;
            res = stop.changed() => {
                if res.is_err() || *stop.borrow() {
                    if heartbeat.is_some() {
                        // Where the link allows: a full queue or a closed
                        // stream gets no goodbye.
                        let _ = outbound.try_send(Frame::Goodbye(pb::Goodbye { reason: goodbye }));
                    }
                    return Ok(());
                }
            }
            _ = ticker.tick(), if heartbeat.is_some() => {
                // Heads held in memory are read here when the host is
                // free, not on the pool (a thousand sessions beat every
                // two seconds); others (a store's) on the pool.
                let heads = if H::HEADS_IN_MEMORY {
                    quick(&host, |h| h.heads()).await??
                } else {
                    on_host(&host, &mut session, |h, _| h.heads()).await?
                };
                let changed_docs = changed_heads(&told, &heads);
                let mut next = told.clone();
                next.extend(changed_docs.clone());
                let beat = pb::Heartbeat {
                    sent_ms: clock.now_ms(),
                    heads_digest: heads_digest(&next).to_vec(),
                    changed: crate::handshake::heads_to_pb(&changed_docs),
                };
                match outbound.try_send(Frame::Heartbeat(beat)) {
                    Ok(()) => told = next,
                    // The peer is not reading: it hears nothing this time.
                    Err(mpsc::error::TrySendError::Full(_)) => {}
                    Err(mpsc::error::TrySendError::Closed(_)) => return Err(SessionError::Closed),
                }
                // A stalled exchange: the heads have differed from those the
                // peer reports for two windows, the peer reported since, and
                // no frame for the document went either way in that time
                // (a document that just changed here is not stalled: the
                // change's own tick sends it). Start its sync state over.
                let now = tokio::time::Instant::now();
                differ_since.retain(|id, _| heads.get(id).is_some_and(|h| peer_heads.get(id) != Some(h)));
                for (id, h) in &heads {
                    if peer_heads.get(id) != Some(h) {
                        differ_since.entry(id.clone()).or_insert(now);
                    }
                }
                let stalled: Vec<DocId> = match stall_after {
                    Some(after) if out.is_empty() && !reassembly.pending() => differ_since
                        .iter()
                        .filter(|(id, since)| {
                            let active = doc_active.get(*id).copied().unwrap_or(started);
                            now.saturating_duration_since(**since) >= after
                                && now.saturating_duration_since(active) >= after
                                && last_report > **since
                        })
                        .map(|(id, _)| id.clone())
                        .collect(),
                    _ => Vec::new(),
                };
                for id in stalled {
                    let rid = id.clone();
                    on_host(&host, &mut session, move |h, s| {
                        if !s.has_doc(&rid) {
                            h.open(s, &rid)?;
                        }
                        s.restart_doc(&rid);
                        Ok(())
                    })
                    .await?;
                    doc_active.insert(id.clone(), now);
                    differ_since.insert(id.clone(), now);
                    events(SessionEvent::Restarted(id.clone()));
                    let msg = generate(&host, &mut session, &id, clock.now_ms()).await?;
                    out_bytes += queue(&mut out, &id, msg, frame_max, peer_max_message)?;
                }
            }
            permit = outbound.reserve(), if !out.is_empty() => {
                let permit = permit.map_err(|_| SessionError::Closed)?;
                if let Some(frame) = out.pop_front() {
                    let len = frame.data.len();
                    out_bytes = out_bytes.saturating_sub(len);
                    let doc = frame.doc_id.parse::<DocId>().ok();
                    permit.send(Frame::Sync(frame));
                    if let Some(doc) = doc {
                        doc_active.insert(doc.clone(), tokio::time::Instant::now());
                        events(SessionEvent::Sent(doc, len));
                    }
                }
            }
            frame = inbound.next(), if out_bytes < out_cap => {
                let frame = match frame {
                    None => return Err(SessionError::Closed),
                    Some(Err(status)) => return Err(SessionError::Remote(status)),
                    Some(Ok(f)) => f,
                };
                last_heard = tokio::time::Instant::now();
                last_heard_ms = clock.now_ms();
                events(SessionEvent::Heard(last_heard_ms));
                let frame = match frame {
                    Frame::Sync(f) => f,
                    Frame::Goodbye(g) => return Err(SessionError::Goodbye(g.reason)),
                    Frame::Heartbeat(beat) => {
                        let changed_docs = crate::handshake::heads_from_pb(&beat.changed)?;
                        peer_heads.extend(changed_docs.clone());
                        if beat.heads_digest.as_slice() != heads_digest(&peer_heads) {
                            return Err(SessionError::Incompatible(
                                "the heartbeat's heads digest does not match the heads stated in this session (handshake and heartbeats); redial".into(),
                            ));
                        }
                        if !changed_docs.is_empty() {
                            let now = last_heard_ms;
                            on_host(&host, &mut session, move |h, _| {
                                h.peer_reported(&changed_docs, now)
                            })
                            .await?;
                        }
                        last_report = tokio::time::Instant::now();
                        events(SessionEvent::Reported(last_heard_ms));
                        continue;
                    }
                };
                events(SessionEvent::Got(frame.doc_id.clone(), frame.data.len()));
                let doc: DocId = frame.doc_id.parse().map_err(|e| {
                    SessionError::Protocol(format!("a sync frame names no document: {e}"))
                })?;
                doc_active.insert(doc.clone(), tokio::time::Instant::now());
                let part = Part {
                    doc,
                    data: frame.data,
                    index: frame.part,
                    count: frame.parts,
                    total: frame.total_bytes,
                };
                part_due = tokio::time::Instant::now() + part_timeout;
                if !reassembly.pending() && part.count > 1 {
                    let what = format!("a sync message for {} in {} parts", part.doc, part.count);
                    parts_reserved = Some(
                        memory
                            .reserve(part.total, &what)
                            .map_err(|e| SessionError::Limit(e.to_string()))?,
                    );
                }
                let Some((id, bytes)) = reassembly.push(part)? else { continue };
                // Held until the whole message was applied.
                let _reserved = parts_reserved.take();
                let rid = id.clone();
                let now = clock.now_ms();
                let received = on_host(&host, &mut session, move |h, s| {
                    if !s.has_doc(&rid) {
                        h.open(s, &rid)?;
                    }
                    h.receive(s, &rid, &bytes, now)
                })
                .await?;
                events(SessionEvent::Doc { id: id.clone(), received });
                let msg = generate(&host, &mut session, &id, clock.now_ms()).await?;
                out_bytes += queue(&mut out, &id, msg, frame_max, peer_max_message)?;
            }
            // The deadlines come last: a frame that is already waiting
            // wins over a deadline that passed while this task was not
            // scheduled (a busy machine is not a silent peer).
            () = tokio::time::sleep_until(last_heard + window.unwrap_or(Duration::ZERO)), if window.is_some() => {
                return Err(SessionError::Silent {
                    last_heard_ms,
                    window_ms: heartbeat.map_or(0, |h| h.window_ms()),
                });
            }
            () = tokio::time::sleep_until(part_due), if reassembly.pending() => {
                return Err(SessionError::Limit(format!(
                    "the next part of a message cut into parts did not arrive within {part_timeout:?}; the parts received are dropped"
                )));
            }
            res = changed.changed() => {
                if res.is_err() {
                    // The host is gone: the service is shutting down.
                    return Ok(());
                }
                changed.borrow_and_update();
                let remote = peer_heads.clone();
                let stale = on_host(&host, &mut session, move |h, s| {
                    let heads = h.heads()?;
                    Ok(heads
                        .into_iter()
                        .filter(|(id, heads)| {
                            if s.has_doc(id) {
                                !s.in_sync(id, heads)
                            } else {
                                remote.get(id) != Some(heads)
                            }
                        })
                        .map(|(id, _)| id)
                        .collect::<Vec<_>>())
                })
                .await?;
                for id in stale {
                    let msg = generate(&host, &mut session, &id, clock.now_ms()).await?;
                    out_bytes += queue(&mut out, &id, msg, frame_max, peer_max_message)?;
                }
            }
        }
    }
}

/// The next message for `id` (opening it if needed); tells the host when
/// there is nothing to say.
async fn generate<H: SyncHost + Recover>(
    host: &SharedHost<H>,
    session: &mut Option<SyncSession>,
    id: &DocId,
    now_ms: i64,
) -> Result<Option<Vec<u8>>, SessionError> {
    let gid = id.clone();
    on_host(host, session, move |h, s| {
        if !s.has_doc(&gid) {
            h.open(s, &gid)?;
        }
        let msg = h.generate(s, &gid)?;
        if msg.is_none() {
            h.settled(s, &gid, now_ms);
        }
        Ok(msg)
    })
    .await
}

/// Cuts a message into frames at the back of `out`; returns their bytes.
/// A message the peer would refuse as too large is not sent at all.
fn queue(
    out: &mut VecDeque<SyncFrame>,
    id: &DocId,
    msg: Option<Vec<u8>>,
    frame_max: usize,
    peer_max_message: usize,
) -> Result<usize, SessionError> {
    let Some(msg) = msg else { return Ok(0) };
    let len = msg.len();
    if len > peer_max_message {
        return Err(SessionError::Limit(format!(
            "document {id}: a sync message of {len} bytes is over the peer's limit of {peer_max_message}; raise max_message_bytes there"
        )));
    }
    out.extend(split(id, msg, frame_max).into_iter().map(|p| SyncFrame {
        doc_id: p.doc.to_string(),
        data: p.data,
        part: p.index,
        parts: p.count,
        total_bytes: p.total,
    }));
    Ok(len)
}
