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
use std::sync::{Arc, Mutex};

use gridsync_core::DocId;
use gridsync_core::sync::{
    DocHeads, FrameLimits, Part, Reassembly, Received, SyncError, SyncSession, split,
};
use gridsync_proto::sync::v1::SyncFrame;
use tokio::sync::{mpsc, watch};
use tokio_stream::{Stream, StreamExt};

/// The smallest frame size a peer may ask for.
pub const MIN_FRAME_BYTES: usize = 1024;

/// Where the documents of a session live. Every method is blocking.
pub trait SyncHost: Send + 'static {
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
    ) -> Result<Received, SessionError>;
    /// Called when a document is in sync and nothing is pending for it.
    fn settled(&mut self, _session: &mut SyncSession, _id: &DocId) {}
    /// Called when an earlier call panicked while holding the host: memory
    /// may hold half a change, so it is rebuilt from the store.
    fn recover(&mut self) -> Result<(), SessionError> {
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The peer broke the protocol (a bad frame, garbage bytes).
    #[error("{0}")]
    Protocol(String),
    /// The peer went over a limit.
    #[error("{0}")]
    Limit(String),
    /// The peer tried something its identity does not allow.
    #[error("{0}")]
    Denied(String),
    /// This side could not do its part (its store failed).
    #[error("{0}")]
    Host(String),
    /// The peer ended the call with a status.
    #[error("the peer ended the session: {0}")]
    Remote(tonic::Status),
    /// The stream ended.
    #[error("the link closed")]
    Closed,
}

impl From<SyncError> for SessionError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::ReadOnly { .. } | SyncError::Denied { .. } => {
                SessionError::Denied(e.to_string())
            }
            SyncError::TooLarge(_) => SessionError::Limit(e.to_string()),
            SyncError::Garbage { .. } | SyncError::Apply { .. } | SyncError::Frame(_) => {
                SessionError::Protocol(e.to_string())
            }
        }
    }
}

impl From<SessionError> for tonic::Status {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Protocol(m) => tonic::Status::invalid_argument(m),
            SessionError::Limit(m) => tonic::Status::resource_exhausted(m),
            SessionError::Denied(m) => tonic::Status::permission_denied(m),
            SessionError::Host(m) => tonic::Status::unavailable(m),
            SessionError::Remote(s) => s,
            SessionError::Closed => tonic::Status::cancelled("the link closed"),
        }
    }
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
}

/// A host shared between the API and the session; the lock is only taken
/// inside `spawn_blocking` and never held across an `.await`.
pub type SharedHost<H> = Arc<Mutex<H>>;

async fn blocking<H: SyncHost, R: Send + 'static>(
    host: &SharedHost<H>,
    session: &Arc<Mutex<SyncSession>>,
    f: impl FnOnce(&mut H, &mut SyncSession) -> Result<R, SessionError> + Send + 'static,
) -> Result<R, SessionError> {
    let host = host.clone();
    let session = session.clone();
    tokio::task::spawn_blocking(move || {
        let mut h = match host.lock() {
            Ok(h) => h,
            Err(poisoned) => {
                let mut h = poisoned.into_inner();
                host.clear_poison();
                tracing::error!(
                    "a sync step failed inside this process; rebuilding from the store"
                );
                h.recover()?;
                h
            }
        };
        let mut s = session.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut h, &mut s)
    })
    .await
    .map_err(|e| SessionError::Host(format!("a sync task failed: {e}")))?
}

/// Runs one session until the stream ends, an error, or `stop` turns true.
///
/// `initial` is the plan from the handshake (documents whose heads differ)
/// and `remote` the heads the peer stated in it; later, a tick of `changed`
/// makes the loop look for documents whose local heads the peer does not
/// hold yet: for a document this session has synced, by its sync state; for
/// one it has not touched, by the peer's handshake heads.
#[allow(clippy::too_many_arguments)]
pub async fn run<H: SyncHost, S>(
    host: SharedHost<H>,
    initial: BTreeSet<DocId>,
    remote: DocHeads,
    mut inbound: S,
    outbound: mpsc::Sender<SyncFrame>,
    mut changed: watch::Receiver<u64>,
    mut stop: watch::Receiver<bool>,
    limits: FrameLimits,
    peer_max_frame: usize,
    peer_max_message: usize,
    events: impl Fn(SessionEvent) + Send,
) -> Result<(), SessionError>
where
    S: Stream<Item = Result<SyncFrame, tonic::Status>> + Unpin,
{
    let session = Arc::new(Mutex::new(SyncSession::new()));
    // A peer's stated frame size is honoured only down to a sane minimum:
    // a tiny one would make us cut a message into millions of parts.
    let frame_max = limits
        .max_frame_bytes
        .min(peer_max_frame.max(MIN_FRAME_BYTES));
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
    for id in initial {
        let msg = generate(&host, &session, &id).await?;
        out_bytes += queue(&mut out, &id, msg, frame_max, peer_max_message)?;
    }
    loop {
        tokio::select! {
            biased;
            res = stop.changed() => {
                if res.is_err() || *stop.borrow() { return Ok(()); }
            }
            permit = outbound.reserve(), if !out.is_empty() => {
                let permit = permit.map_err(|_| SessionError::Closed)?;
                if let Some(frame) = out.pop_front() {
                    let len = frame.data.len();
                    out_bytes = out_bytes.saturating_sub(len);
                    let doc = frame.doc_id.parse::<DocId>().ok();
                    permit.send(frame);
                    if let Some(doc) = doc {
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
                events(SessionEvent::Got(frame.doc_id.clone(), frame.data.len()));
                let doc: DocId = frame.doc_id.parse().map_err(|e| {
                    SessionError::Protocol(format!("a sync frame names no document: {e}"))
                })?;
                let part = Part {
                    doc,
                    data: frame.data,
                    index: frame.part,
                    count: frame.parts,
                    total: frame.total_bytes,
                };
                let Some((id, bytes)) = reassembly.push(part)? else { continue };
                let rid = id.clone();
                let received = blocking(&host, &session, move |h, s| {
                    if !s.has_doc(&rid) {
                        h.open(s, &rid)?;
                    }
                    h.receive(s, &rid, &bytes)
                })
                .await?;
                events(SessionEvent::Doc { id: id.clone(), received });
                let msg = generate(&host, &session, &id).await?;
                out_bytes += queue(&mut out, &id, msg, frame_max, peer_max_message)?;
            }
            res = changed.changed() => {
                if res.is_err() {
                    // The host is gone: the service is shutting down.
                    return Ok(());
                }
                changed.borrow_and_update();
                let remote = remote.clone();
                let stale = blocking(&host, &session, move |h, s| {
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
                    let msg = generate(&host, &session, &id).await?;
                    out_bytes += queue(&mut out, &id, msg, frame_max, peer_max_message)?;
                }
            }
        }
    }
}

/// The next message for `id` (opening it if needed); tells the host when
/// there is nothing to say.
async fn generate<H: SyncHost>(
    host: &SharedHost<H>,
    session: &Arc<Mutex<SyncSession>>,
    id: &DocId,
) -> Result<Option<Vec<u8>>, SessionError> {
    let gid = id.clone();
    blocking(host, session, move |h, s| {
        if !s.has_doc(&gid) {
            h.open(s, &gid)?;
        }
        let msg = h.generate(s, &gid)?;
        if msg.is_none() {
            h.settled(s, &gid);
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
