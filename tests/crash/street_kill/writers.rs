//! The writers: one per node's office API (households, residents,
//! screening visits dated today, tickets) and the operator at the
//! coordinator (risk regions, tickets dispatched to a community). Every
//! write goes into the oracle before it is sent and is finished there with
//! what its answer says.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use gridsync_core::Kind;
use gridsync_proto::office::v1 as pb;
use gridsync_proto::street::v1 as spb;
use gridsync_testkit::sim::oracle::{OpKind, Outcome};
use gridsync_testkit::street::{dispatched_ticket, risk_region};
use gridsync_testkit::{activity_instant_ms, day_of, id_number, resident_pb, screening_visit_pb};
use pb::record::Record as R;
use rand::RngExt;
use rand::rngs::StdRng;
use tokio::sync::watch;

use super::{COMMUNITIES, Log, OPERATOR, Office, Operator, Shared, Written, community, lock, ms};

/// Pauses between writes (ms): a steady stream without starving 2 cores.
const NODE_WRITE_PAUSE_MS: std::ops::Range<u64> = 20..90;
const OPERATOR_WRITE_PAUSE_MS: std::ops::Range<u64> = 80..300;
/// The operator, as the oracle names the writer of a dispatched ticket.
const OPERATOR_ACTOR: &str = "operator";

fn wrap(r: R) -> pb::Record {
    pb::Record { record: Some(r) }
}

/// A node's acknowledged households and the acknowledged residents of
/// each: what new records may refer to.
fn refs(log: &Log, node: usize) -> (Vec<String>, BTreeMap<String, Vec<String>>) {
    let mut households = Vec::new();
    let mut residents: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for w in log.records.values().filter(|w| w.node == node) {
        match w.acked.as_ref().and_then(|r| r.record.as_ref()) {
            Some(R::Household(h)) => households.push(h.id.clone()),
            Some(R::Resident(r)) => residents
                .entry(r.household_id.clone())
                .or_default()
                .push(r.id.clone()),
            _ => {}
        }
    }
    (households, residents)
}

/// The next write at a node: a household, a resident, a screening visit
/// dated today or a ticket, each with an id the test chooses (so that a
/// write of unknown outcome can be looked for afterwards).
fn next_write(
    rng: &mut StdRng,
    node: usize,
    tag: &str,
    serial: u64,
    households: &[String],
    residents_of: &BTreeMap<String, Vec<String>>,
) -> (Kind, String, pb::Record) {
    let c = COMMUNITIES[node];
    let roll = if households.is_empty() {
        0
    } else {
        rng.random_range(0..100u32)
    };
    let pick = |rng: &mut StdRng| households[rng.random_range(0..households.len())].clone();
    if roll < 30 {
        let id = format!("hh_{tag}");
        let sent = wrap(R::Household(pb::Household {
            id: id.clone(),
            compound_id: format!("cp_{c}"),
            building_id: format!("bd_{c}"),
            unit: format!("{}", rng.random_range(1..7u32)),
            door: format!("{}", 100 + serial),
            head_name: format!("户主{tag}"),
            phone: Some(format!("139{:08}", rng.random_range(0..100_000_000u32))),
            contract_group_id: None,
        }));
        (Kind::Household, id, sent)
    } else if roll < 60 {
        let id = format!("rs_{tag}");
        // A birth date unique to the write keeps ID numbers unique in the
        // street (a region code per community).
        let born = chrono::NaiveDate::from_ymd_opt(1940, 1, 1)
            .and_then(|d| d.checked_add_days(chrono::Days::new(serial)))
            .expect("a birth date");
        let number = id_number(&format!("41010{}{}001", node + 1, born.format("%Y%m%d")));
        let household = pick(rng);
        let gender = rng.random_range(0..3i32);
        let alone = rng.random_bool(0.2);
        let sent = resident_pb(
            &id,
            household,
            format!("居民{tag}"),
            number,
            born,
            gender,
            alone,
        );
        (Kind::Resident, id, sent)
    } else if roll < 85 {
        let at = activity_instant_ms();
        let id = format!("sv_{}_{tag}", gridsync_core::ids::day_compact(day_of(at)));
        let household = pick(rng);
        let residents = residents_of.get(&household).cloned().unwrap_or_default();
        let sent = screening_visit_pb(&id, household, residents, at, || rng.random_bool(0.8));
        (Kind::ScreeningVisit, id, sent)
    } else {
        let id = format!("tk_{tag}");
        let sent = wrap(R::Ticket(pb::Ticket {
            id: id.clone(),
            received_at_ms: gridsync_testkit::now_ms() - rng.random_range(0..3_600_000i64),
            channel: rng.random_range(1..4i32),
            category: "求助".into(),
            summary: format!("诉求 {tag}"),
            caller_phone: None,
            assigned_compound_id: Some(format!("cp_{c}")),
            assigned_staff_id: None,
            resolved_at_ms: None,
            resolution: None,
        }));
        (Kind::Ticket, id, sent)
    }
}

/// Logs a record created at a node's office API in the oracle, before it
/// is sent; returns the oracle's index of the write.
pub(super) fn begin_record(
    sh: &Shared,
    actor: &str,
    node: usize,
    kind: Kind,
    sent: &pb::Record,
) -> usize {
    let id = gridsync_testkit::id_of(sent);
    let mut log = lock(&sh.log);
    let i = log
        .oracle
        .begin(actor, &community(node), kind, id, OpKind::Create, sh.now());
    if let Some(R::ScreeningVisit(v)) = &sent.record {
        log.oracle.ops[i].household = Some(v.household_id.clone());
    }
    i
}

/// Finishes a write begun with [`begin_record`].
pub(super) fn finish_record(sh: &Shared, i: usize, outcome: Outcome, w: Written) {
    let mut log = lock(&sh.log);
    log.oracle.finish(i, outcome, sh.now());
    log.records.insert(i, w);
}

/// Writes at one node's office API until told to stop, pausing while the
/// node is down.
pub(super) async fn node_writer(
    sh: Arc<Shared>,
    node: usize,
    mut office: Office,
    mut rng: StdRng,
    round: usize,
    stop: watch::Receiver<bool>,
) {
    let c = COMMUNITIES[node];
    let (mut households, mut residents_of) = refs(&lock(&sh.log), node);
    let mut i: u64 = 0;
    while !*stop.borrow() {
        if !sh.node_up[node].load(Ordering::SeqCst) {
            tokio::time::sleep(ms(20)).await;
            continue;
        }
        let tag = format!("{c}r{round}i{i}");
        let serial = (round as u64) * 4000 + i;
        i += 1;
        let (kind, id, sent) = next_write(&mut rng, node, &tag, serial, &households, &residents_of);
        let op = begin_record(&sh, c, node, kind, &sent);
        sh.sending[node].send_modify(|n| *n += 1);
        let res = office
            .create_record(pb::CreateRecordRequest {
                record: Some(sent.clone()),
            })
            .await;
        let outcome = Outcome::of(&res);
        let mut w = Written {
            node,
            sent,
            acked: None,
            error: None,
            dispatched: false,
        };
        match res {
            Ok(reply) => {
                let rec = reply.into_inner().record.unwrap_or_default();
                match &rec.record {
                    Some(R::Household(h)) => households.push(h.id.clone()),
                    Some(R::Resident(r)) => residents_of
                        .entry(r.household_id.clone())
                        .or_default()
                        .push(r.id.clone()),
                    _ => {}
                }
                w.acked = Some(rec);
            }
            Err(s) => {
                if outcome == Outcome::Refused {
                    lock(&sh.refused).push(format!(
                        "node {c}: create {kind} {id} refused: {:?} {}",
                        s.code(),
                        s.message()
                    ));
                }
                w.error = Some(format!("{:?} {}", s.code(), s.message()));
                tokio::time::sleep(ms(50)).await;
            }
        }
        finish_record(&sh, op, outcome, w);
        tokio::time::sleep(ms(rng.random_range(NODE_WRITE_PAUSE_MS))).await;
    }
}

/// The operator at the coordinator: risk regions and tickets dispatched to
/// a community, pausing while the coordinator is down.
pub(super) async fn operator_writer(
    sh: Arc<Shared>,
    mut op: Operator,
    mut rng: StdRng,
    round: usize,
    stop: watch::Receiver<bool>,
) {
    let mut i = 0u64;
    while !*stop.borrow() {
        if !sh.coordinator_up.load(Ordering::SeqCst) {
            tokio::time::sleep(ms(20)).await;
            continue;
        }
        let tag = format!("opr{round}i{i}");
        i += 1;
        if rng.random_bool(0.4) {
            put_region(&sh, &mut op, &tag).await;
        } else {
            let node = rng.random_range(0..COMMUNITIES.len());
            dispatch(&sh, &mut op, node, &tag).await;
        }
        tokio::time::sleep(ms(rng.random_range(OPERATOR_WRITE_PAUSE_MS))).await;
    }
}

/// A risk region put at the coordinator: an edit of the street document.
async fn put_region(sh: &Shared, op: &mut Operator, tag: &str) {
    let id = format!("rr_{tag}");
    let mut req = risk_region(&format!("测试市{tag}区"));
    if let Some(spb::StreetRecord {
        record: Some(spb::street_record::Record::RiskRegion(r)),
    }) = &mut req.record
    {
        r.id = id.clone();
    }
    let i = lock(&sh.log)
        .oracle
        .begin_street(&id, OpKind::Create, sh.now());
    sh.sending[OPERATOR].send_modify(|n| *n += 1);
    let res = op.put_street_record(req).await;
    let mut outcome = Outcome::of(&res);
    let mut acked = None;
    match res {
        Ok(reply) => match reply.into_inner().record {
            Some(spb::street_record::Record::RiskRegion(r)) => acked = Some(r),
            other => {
                lock(&sh.refused).push(format!(
                    "put risk region {id}: the reply is not a risk region: {other:?}"
                ));
                outcome = Outcome::Unknown;
            }
        },
        Err(s) => {
            if outcome == Outcome::Refused {
                lock(&sh.refused).push(format!(
                    "put risk region {id} refused: {:?} {}",
                    s.code(),
                    s.message()
                ));
            }
            tokio::time::sleep(ms(50)).await;
        }
    }
    let mut log = lock(&sh.log);
    log.oracle.finish_street(i, outcome);
    if let Some(r) = acked {
        log.regions.insert(id, r);
    }
}

/// A ticket dispatched to node `node`'s community: a record of that
/// community, written at the coordinator.
async fn dispatch(sh: &Shared, op: &mut Operator, node: usize, tag: &str) {
    let id = format!("tk_{tag}");
    let mut req = dispatched_ticket(COMMUNITIES[node], &format!("12345 工单 {tag}"));
    if let Some(t) = &mut req.ticket {
        t.id = id.clone();
    }
    let sent = wrap(R::Ticket(req.ticket.clone().unwrap_or_default()));
    let i = begin_record(sh, OPERATOR_ACTOR, node, Kind::Ticket, &sent);
    sh.sending[OPERATOR].send_modify(|n| *n += 1);
    let res = op.dispatch_ticket(req).await;
    let outcome = Outcome::of(&res);
    let mut w = Written {
        node,
        sent,
        acked: None,
        error: None,
        dispatched: true,
    };
    match res {
        Ok(reply) => w.acked = Some(wrap(R::Ticket(reply.into_inner()))),
        Err(s) => {
            if outcome == Outcome::Refused {
                lock(&sh.refused).push(format!(
                    "dispatch ticket {id} to {} refused: {:?} {}",
                    COMMUNITIES[node],
                    s.code(),
                    s.message()
                ));
            }
            w.error = Some(format!("{:?} {}", s.code(), s.message()));
            tokio::time::sleep(ms(50)).await;
        }
    }
    finish_record(sh, i, outcome, w);
}

/// How long after a write of `writer` was sent a kill comes: waits for the
/// next send (at most 2 s), then blocks this worker for `after` (shorter
/// than a timer tick). Says which it was.
pub(super) async fn after_a_send(sh: &Shared, writer: usize, after: Duration) -> String {
    let mut sent = sh.sending[writer].subscribe();
    let caught = tokio::time::timeout(Duration::from_secs(2), sent.changed())
        .await
        .is_ok();
    std::thread::sleep(after);
    if caught {
        format!("{} µs after a write was sent", after.as_micros())
    } else {
        "no write sent within 2 s".to_string()
    }
}
