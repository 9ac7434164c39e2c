//! The node's link to the coordinator: dial, hand-shake, run the sync
//! session, and when the link drops, wait (exponential backoff with jitter)
//! and dial again, for as long as the node runs.
//!
//! Heartbeats on the session (every interval, both ways) notice a link that
//! died without a reset within the liveness window; HTTP/2 keep-alive pings
//! (set on the endpoint) remain underneath. A local edit wakes the session at
//! once (the office's change counter), so it is pushed while the link is up.
//! The wait before a redial depends on how the session ended
//! ([`gridsync_core::sync::Ended`]): at once after a clean end, at most a
//! second while the coordinator cannot be reached, growing after refusals.
//! The link's state is kept in a [`LinkStatus`] for the status API.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gridsync_core::sync::{self, Backoff, FrameLimits, HeartbeatSettings};
use gridsync_proto::sync::v1 as pb;
use gridsync_svc::{Clock, blocking};
use gridsync_sync::SessionError;
use gridsync_sync::handshake::{self, stated_or};
use gridsync_sync::session::{
    self, Frame, PeerPlan, SessionEvent, SessionIo, SessionLimits, SharedHost,
};
use pb::sync_client::SyncClient;
use rand::{RngExt, SeedableRng};
use tokio::sync::{mpsc, watch};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};

use crate::office::{COORDINATOR_PEER, Office};

/// How the node reaches the coordinator.
#[derive(Clone, Debug)]
pub struct LinkConfig {
    /// The coordinator's endpoint, with TLS and keep-alive set.
    pub endpoint: tonic::transport::Endpoint,
    /// An insecure development token, sent as `authorization: Bearer`.
    pub dev_token: Option<String>,
    /// First reconnect wait; doubles up to `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub limits: FrameLimits,
    /// How long to wait for the coordinator's Welcome.
    pub handshake_timeout: Duration,
    /// How a connection is made; `None` dials the endpoint over TCP. The
    /// partition simulation dials over simulated TCP with the same endpoint
    /// (TLS, keep-alive) and the same session code.
    pub dialer: Option<Dialer>,
    /// Seeds the jitter of the redial waits (simulations replay from a
    /// seed); `None` draws it at random.
    pub jitter_seed: Option<u64>,
    /// The heartbeat the node asks for (the coordinator's Welcome settles
    /// the one used).
    pub heartbeat: HeartbeatSettings,
    /// How long a dial (TCP and TLS) may take before it counts as failed.
    pub dial_timeout: Duration,
}

/// The default dial timeout.
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(5);

type DialFuture = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Channel, tonic::transport::Error>> + Send>,
>;

/// Makes a channel from the link's endpoint another way than over TCP.
#[derive(Clone)]
pub struct Dialer(Arc<dyn Fn(&Endpoint) -> DialFuture + Send + Sync>);

impl Dialer {
    pub fn new(f: impl Fn(&Endpoint) -> DialFuture + Send + Sync + 'static) -> Dialer {
        Dialer(Arc::new(f))
    }
}

impl std::fmt::Debug for Dialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Dialer")
    }
}

/// One document's link state.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DocLink {
    /// When both sides last held the same heads (Unix ms).
    pub last_sync_ms: Option<i64>,
    /// Whether they did at the last message received.
    pub in_sync: bool,
    /// Frames sent and received for this document in the current session.
    pub session_frames_sent: u64,
    pub session_frames_received: u64,
    /// The heads the coordinator said it holds (what it acknowledged).
    #[serde(skip)]
    pub peer_heads: Option<Vec<automerge::ChangeHash>>,
}

/// What the node knows about its link, for the status API.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct LinkStatus {
    pub configured: bool,
    pub connected: bool,
    /// When the link last came up or went down (Unix ms).
    pub changed_ms: Option<i64>,
    pub last_error: Option<String>,
    /// "Last heard": the last frame of any kind from the coordinator (Unix
    /// ms).
    pub last_heard_ms: Option<i64>,
    /// The liveness window of the current (or last) session, ms; `None`
    /// with a coordinator that sends no heartbeats.
    pub liveness_window_ms: Option<i64>,
    /// Dial attempts since the last session that got through its handshake.
    pub attempts: u32,
    /// Sessions that got through their handshake since the node started.
    pub sessions: u64,
    pub docs: BTreeMap<String, DocLink>,
    pub frames_sent: u64,
    pub frames_received: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Frames of the current (or last) session only.
    pub session_frames_sent: u64,
    pub session_frames_received: u64,
    /// The largest frame sent, in bytes of data.
    pub largest_frame_sent: u64,
    /// Documents whose stalled exchange had its sync state started over.
    pub stalls_restarted: u64,
}

pub type LinkHandle = Arc<Mutex<LinkStatus>>;

fn lock(s: &LinkHandle) -> std::sync::MutexGuard<'_, LinkStatus> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs the link until `stop` turns true. Never returns an error: every
/// failure is logged, shown in the status, and followed by a redial.
pub async fn run(
    office: SharedHost<Office>,
    cfg: LinkConfig,
    status: LinkHandle,
    clock: Clock,
    mut stop: watch::Receiver<bool>,
) {
    lock(&status).configured = true;
    let mut jitter = match cfg.jitter_seed {
        Some(seed) => rand::rngs::StdRng::seed_from_u64(seed),
        None => rand::rngs::StdRng::seed_from_u64(rand::random()),
    };
    let mut backoff = Backoff::new(
        cfg.backoff_base.as_millis() as u64,
        cfg.backoff_max.as_millis() as u64,
    );
    loop {
        if *stop.borrow() {
            return;
        }
        lock(&status).attempts += 1;
        // A stop ends the dial and the handshake too (they wait on a dead
        // link for their own timeouts): what is dropped here holds nothing
        // that must be finished, since commits run to their end on the
        // blocking pool.
        let mut halt = stop.clone();
        let result = tokio::select! {
            r = session_once(&office, &cfg, &status, &clock, stop.clone(), &mut backoff) => r,
            _ = halt.wait_for(|s| *s) => return,
        };
        {
            let mut st = lock(&status);
            if st.connected {
                st.connected = false;
                st.changed_ms = Some(clock.now_ms());
            }
            match &result {
                Ok(()) => {}
                Err(e) => st.last_error = Some(e.to_string()),
            }
        }
        if *stop.borrow() {
            return;
        }
        let ended = SessionError::ended(&result);
        match &result {
            Ok(()) => return,
            Err(e) => tracing::warn!(error = %e, ?ended, "link to the coordinator is down"),
        }
        let unit: f64 = jitter.random();
        let wait = Duration::from_millis(backoff.after(ended, unit));
        tracing::info!(
            wait_ms = wait.as_millis() as u64,
            "redialling the coordinator after a wait"
        );
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => {}
        }
    }
}

/// How often the node reports its digest (and fetches the street's figures)
/// when nothing changes.
pub const REPORT_INTERVAL: Duration = Duration::from_secs(20);

/// The least time between two digest reports (a catch-up changes the heads
/// many times a second).
pub const MIN_REPORT_GAP: Duration = Duration::from_secs(2);

/// While a session runs: computes the digest of the community's rollup for
/// today and reports it to the coordinator whenever the heads change (after
/// a short pause, so a burst of edits makes one report) and every
/// `REPORT_INTERVAL`; keeps the street's figures it gets back. A coordinator
/// that does not know `Report` (an older version) is asked no more.
async fn report_loop<S>(
    mut client: SyncClient<S>,
    office: SharedHost<Office>,
    community: gridsync_core::CommunityId,
    clock: Clock,
    mut changed: watch::Receiver<u64>,
) where
    S: tonic::client::GrpcService<tonic::body::Body> + Clone + Send + 'static,
    S::Error: Into<tonic::codegen::StdError>,
    S::ResponseBody: tonic::codegen::Body<Data = tonic::codegen::Bytes> + Send + 'static,
    <S::ResponseBody as tonic::codegen::Body>::Error: Into<tonic::codegen::StdError> + Send,
    S::Future: Send,
{
    let mut last: Option<(gridsync_core::Day, gridsync_core::rollup::RollupHeads)> = None;
    let mut last_at = tokio::time::Instant::now();
    // The coordinator knows `Report` only (an older version).
    let mut older = false;
    loop {
        let now = clock.now_ms();
        let digest = blocking(&office, move |o| {
            let tz = o.config().tz;
            let today = o.today(now);
            o.rollup(today, tz, now)
                .map(|r| gridsync_core::rollup::NodeDigest::of(&r, now))
                .map_err(SessionError::from)
        })
        .await
        .map_err(SessionError::from)
        .and_then(|r| r);
        match digest {
            Ok(d) => {
                let due = last_at.elapsed() >= REPORT_INTERVAL;
                if due || last.as_ref() != Some(&(d.as_of, d.heads.clone())) {
                    match report_once(&mut client, &office, &community, &d, &clock, &mut older)
                        .await
                    {
                        Ok(()) => {
                            last = Some((d.as_of, d.heads));
                            last_at = tokio::time::Instant::now();
                        }
                        Err(st) if st.code() == tonic::Code::Unimplemented => {
                            tracing::info!("the coordinator takes no digests (an older version)");
                            std::future::pending::<()>().await;
                        }
                        Err(st) => {
                            tracing::debug!(error = %st, "reporting the digest failed");
                            last_at = tokio::time::Instant::now();
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "computing the community's digest failed"),
        }
        tokio::select! {
            res = changed.changed() => {
                if res.is_err() {
                    std::future::pending::<()>().await;
                }
                // A burst of edits makes one report, and reports come at
                // most every MIN_REPORT_GAP.
                let wait = MIN_REPORT_GAP
                    .saturating_sub(last_at.elapsed())
                    .max(Duration::from_millis(300));
                tokio::time::sleep(wait).await;
                changed.borrow_and_update();
            }
            _ = tokio::time::sleep(REPORT_INTERVAL) => {}
        }
    }
}

/// One digest report, and the street's figures it brings back kept:
/// `ReportDigest` with the tag of the figures held (answered with the
/// figures only when they changed), or `Report` for an older coordinator
/// (which answers every report with them whole).
async fn report_once<S>(
    client: &mut SyncClient<S>,
    office: &SharedHost<Office>,
    community: &gridsync_core::CommunityId,
    d: &gridsync_core::rollup::NodeDigest,
    clock: &Clock,
    older: &mut bool,
) -> Result<(), tonic::Status>
where
    S: tonic::client::GrpcService<tonic::body::Body> + Clone + Send + 'static,
    S::Error: Into<tonic::codegen::StdError>,
    S::ResponseBody: tonic::codegen::Body<Data = tonic::codegen::Bytes> + Send + 'static,
    <S::ResponseBody as tonic::codegen::Body>::Error: Into<tonic::codegen::StdError> + Send,
    S::Future: Send,
{
    // A second round only when the answer was for figures no longer held:
    // it states no tag and gets them whole.
    for round in 0..2 {
        if *older {
            break;
        }
        let figures_tag = if round == 0 {
            blocking(office, |o| o.street_summary_tag())
                .await
                .unwrap_or_default()
        } else {
            String::new()
        };
        let req = pb::DigestReport {
            community_id: community.to_string(),
            digest: Some(d.into()),
            figures_tag,
        };
        match client.report_digest(req).await {
            Ok(resp) => {
                let answer = resp.into_inner();
                let now = clock.now_ms();
                let taken = blocking(office, move |o| o.take_street_answer(answer, now)).await;
                if !matches!(taken, Ok(false)) {
                    return Ok(());
                }
            }
            Err(st) if st.code() == tonic::Code::Unimplemented => {
                tracing::info!("the coordinator answers Report only (an older version)");
                *older = true;
            }
            Err(st) => return Err(st),
        }
    }
    if !*older {
        return Ok(());
    }
    let req = pb::NodeReport {
        community_id: community.to_string(),
        digest: Some(d.into()),
    };
    let figures = client.report(req).await?.into_inner();
    let now = clock.now_ms();
    let _ = blocking(office, move |o| o.set_street_summary(figures, now)).await;
    Ok(())
}

async fn session_once(
    office: &SharedHost<Office>,
    cfg: &LinkConfig,
    status: &LinkHandle,
    clock: &Clock,
    stop: watch::Receiver<bool>,
    backoff: &mut Backoff,
) -> Result<(), SessionError> {
    let dial = async {
        match &cfg.dialer {
            Some(d) => (d.0)(&cfg.endpoint).await,
            None => cfg.endpoint.connect().await,
        }
    };
    let uri = || format!("the coordinator at {}", cfg.endpoint.uri());
    let dialled = tokio::time::timeout(cfg.dial_timeout, dial)
        .await
        .map_err(|_| SessionError::DialTimeout {
            uri: uri(),
            timeout_ms: cfg.dial_timeout.as_millis() as u64,
        })?;
    let channel = dialled.map_err(|source| SessionError::Dial { uri: uri(), source })?;
    let token = match &cfg.dev_token {
        Some(t) => Some(
            format!("Bearer {t}")
                .parse::<tonic::metadata::MetadataValue<_>>()
                .map_err(SessionError::host)?,
        ),
        None => None,
    };
    let mut client = SyncClient::with_interceptor(channel, move |mut req: tonic::Request<()>| {
        if let Some(t) = &token {
            req.metadata_mut().insert("authorization", t.clone());
        }
        Ok(req)
    })
    .max_decoding_message_size(cfg.limits.grpc_message_limit())
    .max_encoding_message_size(cfg.limits.grpc_message_limit());

    let (community, tz, local, changed, stored_sync) = blocking(office, |o| {
        Ok::<_, crate::office::OfficeError>((
            o.config().community.clone(),
            o.config().tz,
            o.sync_heads()?,
            o.subscribe(),
            o.store().sync_states(COORDINATOR_PEER)?,
        ))
    })
    .await??;
    let hello = handshake::hello(&community, &local, &cfg.limits, Some(cfg.heartbeat));
    let (tx, rx) = mpsc::channel::<Frame>(16);
    let outbound = tokio_stream::once(hello).chain(ReceiverStream::new(rx).map(|f| {
        use pb::node_frame::Frame as F;
        pb::NodeFrame {
            frame: Some(match f {
                Frame::Sync(s) => F::Sync(s),
                Frame::Heartbeat(h) => F::Heartbeat(h),
                Frame::Goodbye(g) => F::Goodbye(g),
            }),
        }
    }));
    // The coordinator answers (headers and Welcome) only after it has read
    // the Hello: bound the whole wait.
    let response = tokio::time::timeout(cfg.handshake_timeout, client.session(outbound))
        .await
        .map_err(|_| {
            SessionError::HandshakeTimeout(format!(
                "the coordinator did not answer the Hello within {:?}",
                cfg.handshake_timeout
            ))
        })?
        .map_err(SessionError::Remote)?;
    let mut inbound = response.into_inner();
    let welcome = tokio::time::timeout(cfg.handshake_timeout, inbound.next())
        .await
        .map_err(|_| {
            SessionError::HandshakeTimeout(format!(
                "no Welcome from the coordinator within {:?}",
                cfg.handshake_timeout
            ))
        })?;
    let welcome = match welcome {
        Some(Ok(pb::CoordinatorFrame {
            frame: Some(pb::coordinator_frame::Frame::Welcome(w)),
        })) => w,
        Some(Ok(_)) => {
            return Err(SessionError::Protocol(
                "the coordinator's first frame is not a Welcome".into(),
            ));
        }
        Some(Err(status)) => return Err(SessionError::Remote(status)),
        None => return Err(SessionError::Closed),
    };
    let remote = handshake::check_welcome(&community, &welcome, tz.name())?;
    let heartbeat =
        HeartbeatSettings::settle(welcome.heartbeat_interval_ms, welcome.heartbeat_misses);
    let plan = sync::plan(&local, &remote);
    {
        let now = clock.now_ms();
        let mut st = lock(status);
        st.connected = true;
        st.changed_ms = Some(now);
        st.last_heard_ms = Some(now);
        st.liveness_window_ms = heartbeat.map(|h| h.window_ms());
        st.last_error = None;
        st.attempts = 0;
        st.sessions += 1;
        st.session_frames_sent = 0;
        st.session_frames_received = 0;
        for d in st.docs.values_mut() {
            d.session_frames_sent = 0;
            d.session_frames_received = 0;
        }
        for (id, heads) in &local {
            let d = st.docs.entry(id.to_string()).or_default();
            if d.last_sync_ms.is_none() {
                d.last_sync_ms = stored_sync.get(id).and_then(|p| p.last_sync_ms);
            }
            d.in_sync = remote.get(id) == Some(heads);
            if d.in_sync {
                // Equal at the handshake: in sync as of now, though no
                // message will be exchanged for it.
                d.last_sync_ms = Some(now);
            }
            d.peer_heads = remote.get(id).cloned();
        }
    }
    tracing::info!(
        docs = local.len(),
        differ = plan.len(),
        "connected to the coordinator"
    );
    let inbound = inbound.map(|f| {
        use pb::coordinator_frame::Frame as F;
        match f?.frame {
            Some(F::Sync(s)) => Ok(Frame::Sync(s)),
            Some(F::Heartbeat(h)) => Ok(Frame::Heartbeat(h)),
            Some(F::Goodbye(g)) => Ok(Frame::Goodbye(g)),
            Some(F::Welcome(_)) | None => Err(gridsync_svc::ApiError::Malformed(
                "a frame after the Welcome that is not a SyncFrame, Heartbeat or Goodbye".into(),
            )
            .into()),
        }
    });
    let status2 = status.clone();
    let events_clock = clock.clone();
    let all_changes = blocking(office, |o| o.subscribe_all()).await?;
    let reporter = report_loop(
        client.clone(),
        office.clone(),
        community.clone(),
        clock.clone(),
        all_changes,
    );
    let session = session::run(
        office.clone(),
        clock.clone(),
        PeerPlan {
            initial: plan,
            remote,
            max_frame: stated_or(welcome.max_frame_bytes, cfg.limits.max_frame_bytes),
            max_message: stated_or(welcome.max_message_bytes, cfg.limits.max_message_bytes),
            heartbeat,
            told: local,
        },
        SessionIo {
            inbound: Box::pin(inbound),
            outbound: tx,
            changed,
            stop,
            goodbye: "the node is shutting down".into(),
        },
        SessionLimits::new(cfg.limits),
        move |ev| {
            let mut st = lock(&status2);
            match ev {
                SessionEvent::Sent(id, n) => {
                    st.docs
                        .entry(id.to_string())
                        .or_default()
                        .session_frames_sent += 1;
                    st.frames_sent += 1;
                    st.session_frames_sent += 1;
                    st.bytes_sent += n as u64;
                    st.largest_frame_sent = st.largest_frame_sent.max(n as u64);
                }
                SessionEvent::Got(id, n) => {
                    if let Some(d) = st.docs.get_mut(&id) {
                        d.session_frames_received += 1;
                    }
                    st.frames_received += 1;
                    st.session_frames_received += 1;
                    st.bytes_received += n as u64;
                }
                SessionEvent::Heard(ms) => st.last_heard_ms = Some(ms),
                SessionEvent::Reported(_) => {}
                SessionEvent::Restarted(id) => {
                    tracing::warn!(doc = %id, "the exchange of a document stalled; its sync state was started over");
                    st.stalls_restarted += 1;
                }
                SessionEvent::Doc { id, received } => {
                    let d = st.docs.entry(id.to_string()).or_default();
                    d.in_sync = received.in_sync;
                    d.peer_heads = Some(received.peer_heads);
                    if received.in_sync {
                        d.last_sync_ms = Some(events_clock.now_ms());
                    }
                }
            }
        },
    );
    // The reporter never ends by itself; the session decides.
    let result = tokio::select! {
        r = session => r,
        () = reporter => Err(SessionError::Closed),
    };
    // A session that got through its handshake resets the backoff, unless
    // the coordinator refused something of ours: redialling at once would
    // only be refused again, so the waits keep growing.
    if !result.as_ref().err().is_some_and(SessionError::is_refusal) {
        backoff.reset();
    }
    result
}
