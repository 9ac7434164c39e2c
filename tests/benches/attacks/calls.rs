//! What the attacks benchmark measures over gRPC, as an operator and as
//! the c02 office would: an operator call's latency on a fresh connection,
//! the heads the coordinator's rollup stamps for a community, the c02
//! node's own heads, and an edit at the node.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gridsync_proto::office::v1 as opb;
use gridsync_proto::rollup::v1 as rpb;
use gridsync_proto::street::v1 as spb;
use gridsync_sync::tls::{ClientAuth, endpoint};
use opb::office_client::OfficeClient;
use spb::street_client::StreetClient;
use tonic::transport::Channel;

/// A Street API client on a new connection, within `within`.
pub async fn operator(
    addr: SocketAddr,
    auth: &ClientAuth,
    within: Duration,
) -> Result<StreetClient<Channel>, String> {
    let ep =
        endpoint(&format!("https://localhost:{}", addr.port()), auth).map_err(|e| e.to_string())?;
    let ch = tokio::time::timeout(within, ep.connect())
        .await
        .map_err(|_| format!("no connection within {within:?}"))?
        .map_err(|e| format!("cannot connect: {e}"))?;
    Ok(StreetClient::new(ch).max_decoding_message_size(64 * 1024 * 1024))
}

/// One `ListCommunities` on a new connection: its time, or why it failed.
pub async fn list_communities(
    addr: SocketAddr,
    auth: &ClientAuth,
    within: Duration,
) -> Result<Duration, String> {
    let t = Instant::now();
    let mut op = operator(addr, auth, within).await?;
    let left = within.saturating_sub(t.elapsed());
    tokio::time::timeout(left, op.list_communities(spb::ListCommunitiesRequest {}))
        .await
        .map_err(|_| format!("no answer within {within:?}"))?
        .map_err(|s| format!("{:?}: {}", s.code(), s.message()))?;
    Ok(t.elapsed())
}

/// The registry heads (hex, sorted) the coordinator's rollup is stamped
/// with for `community`: what the coordinator holds of it.
pub async fn coordinator_registry_heads(
    op: &mut StreetClient<Channel>,
    community: &str,
) -> Option<Vec<String>> {
    let r = op
        .get_rollup(rpb::RollupRequest {
            as_of: String::new(),
            tz: String::new(),
            path: vec![community.into()],
            depth: 1,
        })
        .await
        .ok()?
        .into_inner();
    let mut h = r
        .stamps
        .into_iter()
        .find(|s| s.community_id == community)?
        .heads?
        .registry;
    h.sort();
    Some(h)
}

/// The node's heads of its registry document (hex, sorted).
pub async fn node_registry_heads(
    office: &mut OfficeClient<Channel>,
    community: &str,
) -> Option<Vec<String>> {
    let st = office
        .get_status(opb::GetStatusRequest {})
        .await
        .ok()?
        .into_inner();
    let id = format!("registry/{community}");
    let mut h = st.docs.into_iter().find(|d| d.doc_id == id)?.heads;
    h.sort();
    Some(h)
}

/// Creates a compound at the node (an office edit of its registry).
pub async fn edit(office: &mut OfficeClient<Channel>, name: &str) {
    office
        .create_record(opb::CreateRecordRequest {
            record: Some(opb::Record {
                record: Some(opb::record::Record::Compound(opb::Compound {
                    id: String::new(),
                    name: name.into(),
                    address: None,
                })),
            }),
        })
        .await
        .unwrap_or_else(|s| panic!("the node refused an edit: {:?} {}", s.code(), s.message()));
}

/// How a convergence went.
#[derive(Clone, Copy, Debug)]
pub enum Converged {
    After(Duration),
    NotWithin(Duration),
    /// The coordinator died first.
    Dead,
}

impl Converged {
    pub fn describe(&self) -> String {
        match self {
            Converged::After(d) => format!("{:.2}", d.as_secs_f64()),
            Converged::NotWithin(d) => format!(">{}", d.as_secs()),
            Converged::Dead => "never (died)".into(),
        }
    }
}

/// Polls every 50 ms until the coordinator's rollup stamps `community`
/// with `target` as its registry heads, or `cap` passes, or `dead()`.
pub async fn until_held(
    op: &mut StreetClient<Channel>,
    community: &str,
    target: &[String],
    cap: Duration,
    dead: impl Fn() -> bool,
) -> Converged {
    let t = Instant::now();
    loop {
        if dead() {
            return Converged::Dead;
        }
        let left = cap.saturating_sub(t.elapsed());
        if left.is_zero() {
            return Converged::NotWithin(cap);
        }
        if let Ok(Some(h)) =
            tokio::time::timeout(left, coordinator_registry_heads(op, community)).await
            && h == target
        {
            return Converged::After(t.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Operator calls made one after another (100 ms apart) while an attack
/// runs: the slowest, and how many failed.
#[derive(Default)]
struct Calls {
    made: u32,
    failed: u32,
    slowest: Duration,
    first_error: Option<String>,
    in_flight: Option<Instant>,
}

pub struct OperatorPoller {
    calls: Arc<Mutex<Calls>>,
    task: tokio::task::JoinHandle<()>,
}

impl OperatorPoller {
    pub fn start(addr: SocketAddr, auth: ClientAuth) -> OperatorPoller {
        let calls = Arc::new(Mutex::new(Calls::default()));
        let c = calls.clone();
        let task = tokio::spawn(async move {
            loop {
                c.lock().expect("calls").in_flight = Some(Instant::now());
                let r = list_communities(addr, &auth, Duration::from_secs(300)).await;
                {
                    let mut g = c.lock().expect("calls");
                    g.in_flight = None;
                    g.made += 1;
                    match r {
                        Ok(d) => g.slowest = g.slowest.max(d),
                        Err(e) => {
                            g.failed += 1;
                            g.first_error.get_or_insert(e);
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        OperatorPoller { calls, task }
    }

    /// Stops polling: "slowest ms (calls)", a call still waiting counted
    /// as at least as long as it has waited.
    pub fn finish(self) -> String {
        self.task.abort();
        let g = self.calls.lock().expect("calls");
        let waiting = g.in_flight.map(|t| t.elapsed());
        let mut s = match waiting {
            Some(w) if w > g.slowest => format!(
                "≥{:.0} ({} done, 1 waiting)",
                w.as_secs_f64() * 1000.0,
                g.made
            ),
            _ => format!(
                "{:.0} (max of {})",
                g.slowest.as_secs_f64() * 1000.0,
                g.made
            ),
        };
        if g.failed > 0 {
            let e: String = g
                .first_error
                .as_deref()
                .unwrap_or("")
                .chars()
                .take(40)
                .collect();
            s = format!("{} of {} failed: {e}", g.failed, g.made);
        }
        s
    }
}
