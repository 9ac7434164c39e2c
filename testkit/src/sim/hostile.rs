//! The hostile node: in the seeds that draw attacks, a host with a real
//! certificate of its own registered community ([`HOSTILE`]) follows the
//! protocol as far as its Hello, then sends one of the messages built to
//! exhaust the coordinator (an op bomb through its registry or the street
//! document, an inflate bomb, a `have` flood, a corrupt change, or a Hello
//! of 30,000 documents). Each must be refused with its status and the
//! limit's name, nothing of it stored, while the other communities' edits,
//! convergence and digests are checked as in every seed.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use gridsync_core::sync::DocHeads;
use gridsync_core::{CommunityId, DocId};
use gridsync_proto::sync::v1 as pb;
use gridsync_proto::sync::v1::sync_client::SyncClient;
use gridsync_sync::handshake::heads_to_pb;
use gridsync_sync::tls::endpoint;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

use super::net::{self, PORT};
use super::plan::{Attack, COORD, HOSTILE};
use super::{Shared, lock, pki, sim_now};
use crate::hostile;

/// What the hostile node's attacks came to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostileStats {
    /// Attacks refused with the expected status.
    pub refused: u64,
    /// Attacks not delivered: the coordinator was down or restarting.
    pub undelivered: u64,
}

/// The status and the words a refusal of `attack` must carry.
fn expected(attack: Attack) -> (Code, &'static str) {
    match attack {
        Attack::OpBomb { .. } => (Code::ResourceExhausted, "max_message_ops"),
        Attack::InflateBomb => (Code::ResourceExhausted, "max_message_inflated_bytes"),
        Attack::HaveFlood => (Code::InvalidArgument, "haves"),
        Attack::Corrupt => (Code::InvalidArgument, "checksum"),
        Attack::HugeHello => (Code::ResourceExhausted, "max_hello_docs"),
    }
}

/// The inflate bomb, built once per process (it takes a second).
fn inflate_bomb() -> Vec<u8> {
    static BOMB: OnceLock<Vec<u8>> = OnceLock::new();
    BOMB.get_or_init(|| hostile::sync_message(&[hostile::inflate_bomb(200 * 1024 * 1024)]))
        .clone()
}

fn hello(docs: &DocHeads) -> pb::NodeFrame {
    pb::NodeFrame {
        frame: Some(pb::node_frame::Frame::Hello(pb::Hello {
            protocol_version: gridsync_core::sync::PROTOCOL_VERSION,
            community_id: HOSTILE.into(),
            docs: heads_to_pb(docs),
            software_version: "hostile".into(),
            max_frame_bytes: 0,
            // A raw client: it sends no heartbeats and expects none.
            heartbeat_interval_ms: 0,
        })),
    }
}

fn whole(doc: &DocId, data: Vec<u8>) -> pb::NodeFrame {
    let total = data.len() as u64;
    pb::NodeFrame {
        frame: Some(pb::node_frame::Frame::Sync(pb::SyncFrame {
            doc_id: doc.to_string(),
            data,
            part: 0,
            parts: 1,
            total_bytes: total,
        })),
    }
}

/// The frames of one attack: a Hello, then the message.
fn frames(attack: Attack) -> Vec<pb::NodeFrame> {
    let h = CommunityId::parse(HOSTILE).expect("a valid id");
    let mut docs = DocHeads::new();
    docs.insert(DocId::Registry(h.clone()), Vec::new());
    docs.insert(DocId::Cases(h.clone()), Vec::new());
    let registry = DocId::Registry(h.clone());
    match attack {
        Attack::HugeHello => {
            let first = chrono::NaiveDate::from_ymd_opt(1990, 1, 1).expect("a date");
            for i in 0..30_000u64 {
                docs.insert(
                    DocId::Activity(h.clone(), first + chrono::Days::new(i)),
                    Vec::new(),
                );
            }
            vec![hello(&docs)]
        }
        Attack::OpBomb { ops, street } => {
            let doc = if street { DocId::Street } else { registry };
            let msg = hostile::sync_message(&[hostile::op_bomb(ops)]);
            vec![hello(&docs), whole(&doc, msg)]
        }
        Attack::InflateBomb => vec![hello(&docs), whole(&DocId::Cases(h), inflate_bomb())],
        Attack::HaveFlood => vec![
            hello(&docs),
            whole(&registry, hostile::have_flood(33_554_432)),
        ],
        Attack::Corrupt => {
            let good = hostile::sync_message(&[hostile::op_bomb(3)]);
            vec![hello(&docs), whole(&registry, hostile::corrupt(&good))]
        }
    }
}

/// Sends one attack and waits for the call to end; the status it ended
/// with (`None`: it ended OK, which is wrong for every attack).
async fn send(attack: Attack) -> Result<Option<tonic::Status>, String> {
    let auth = pki().node(HOSTILE);
    let ep = endpoint(&format!("https://localhost:{PORT}"), &auth)
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(20));
    let mut client = SyncClient::new(net::lazy_channel(&ep, COORD, PORT));
    let (tx, rx) = mpsc::channel(4);
    for f in frames(attack) {
        tx.send(f).await.map_err(|e| e.to_string())?;
    }
    let mut inbound = match client.session(ReceiverStream::new(rx)).await {
        Ok(r) => r.into_inner(),
        Err(s) => return Ok(Some(s)),
    };
    loop {
        match inbound.message().await {
            Ok(Some(_)) => {}
            Ok(None) => return Ok(None),
            Err(s) => return Ok(Some(s)),
        }
    }
}

/// The hostile node's host: each attack of the plan at its moment.
pub(super) async fn hostile_host(sh: Arc<Shared>) -> turmoil::Result {
    for (at, attack) in sh.plan.attacks.clone() {
        let now = sim_now();
        if at > now {
            tokio::time::sleep(at - now).await;
        }
        let starts = lock(&sh.stats).coordinator_starts;
        let up = lock(&sh.coord).is_some();
        sh.event(format!("{HOSTILE} sends: {attack}"));
        let got = send(attack).await;
        let (code, words) = expected(attack);
        let delivered =
            up && lock(&sh.coord).is_some() && lock(&sh.stats).coordinator_starts == starts;
        match got {
            Ok(Some(s)) if s.code() == code && s.message().contains(words) => {
                sh.event(format!(
                    "{HOSTILE} refused: {:?}: {}",
                    s.code(),
                    s.message()
                ));
                lock(&sh.stats).hostile.refused += 1;
            }
            // The coordinator crashed or restarted during the attack, or was
            // down: nothing to say of the refusal.
            _ if !delivered => {
                sh.event(format!(
                    "{HOSTILE}: {attack} not delivered (the coordinator was down)"
                ));
                lock(&sh.stats).hostile.undelivered += 1;
            }
            Ok(Some(s)) if s.code() == Code::Unavailable => {
                sh.event(format!(
                    "{HOSTILE}: {attack} not delivered: {}",
                    s.message()
                ));
                lock(&sh.stats).hostile.undelivered += 1;
            }
            other => sh.fail(format!(
                "{HOSTILE}'s {attack}: expected {code:?} naming {words:?}, got {other:?}"
            )),
        }
    }
    std::future::pending::<()>().await;
    Ok(())
}

/// After the run: nothing the hostile node sent is held by the coordinator
/// (its community holds no document; the street document only what the
/// operators wrote, which the freshness and final checks cover).
pub(super) fn check_nothing_stored(sh: &Shared) {
    if sh.plan.attacks.is_empty() {
        return;
    }
    let Some(replicas) = lock(&sh.coord).clone() else {
        return;
    };
    let h = CommunityId::parse(HOSTILE).expect("a valid id");
    let held: Vec<DocId> = replicas
        .community_heads(&h)
        .into_keys()
        .filter(|id| *id != DocId::Street)
        .collect();
    if !held.is_empty() {
        sh.fail(format!(
            "the coordinator stored documents of {HOSTILE}'s attacks: {held:?}"
        ));
    }
}
