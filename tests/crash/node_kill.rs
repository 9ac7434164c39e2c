//! `kill -9` loses no acknowledged write.
//!
//! A real `gridsync-node` process serves one data folder while a task streams
//! writes through the API (households under a building made in round 0,
//! residents, screening visits, tickets, household updates), remembering each
//! acknowledged record. At a moment drawn from the seed (after N acknowledged
//! writes, with the writer idle or still sending) the process is killed with
//! SIGKILL and started again on the same folder; every acknowledged record
//! must be there, as acknowledged, and nothing else may be: the one write in
//! flight at the kill may have landed or not, but entirely or not at all.
//!
//! `GRIDSYNC_SEED=<n>` replays a run's plan (the moment of a kill while the
//! writer is sending still depends on the scheduler); `GRIDSYNC_KILL_ROUNDS`
//! changes the number of rounds (default 8).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gridsync_proto::office::v1 as pb;
use gridsync_testkit::now_ms;
use gridsync_testkit::*;
use pb::office_client::OfficeClient;
use pb::record::Record as R;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tonic::Code;
use tonic::transport::Channel;

type Client = OfficeClient<Channel>;

const COMPOUND: &str = "cp_kill";
const BUILDING: &str = "bd_kill";
/// Kinds the writer creates, whose records are checked one by one and by
/// listing.
const CHECKED: [&str; 4] = ["household", "resident", "ticket", "screening_visit"];

fn wrap(r: R) -> pb::Record {
    pb::Record { record: Some(r) }
}

/// The write on the wire when the process was killed.
#[derive(Clone, Debug)]
struct InFlight {
    kind: &'static str,
    id: String,
    sent: pb::Record,
    update: bool,
}

/// What the node has acknowledged, as it answered.
#[derive(Default)]
struct Model {
    /// (kind, id) → the record as acknowledged (the last acknowledged
    /// version, for updated ones).
    expected: BTreeMap<(String, String), pb::Record>,
    households: Vec<String>,
    residents_of: BTreeMap<String, Vec<String>>,
    in_flight: Option<InFlight>,
    acknowledged: usize,
}

impl Model {
    fn acknowledge(&mut self, kind: &str, rec: pb::Record) {
        let id = id_of(&rec).to_string();
        match &rec.record {
            Some(R::Household(_)) if !self.households.contains(&id) => {
                self.households.push(id.clone());
            }
            Some(R::Resident(r)) => self
                .residents_of
                .entry(r.household_id.clone())
                .or_default()
                .push(id.clone()),
            _ => {}
        }
        self.expected.insert((kind.to_string(), id), rec);
    }
}

/// The next write: a create of a mix of kinds, or an update of a household.
fn next_write(rng: &mut StdRng, m: &Model, round: u32, i: u32) -> InFlight {
    let tag = format!("r{round}i{i}x{:04x}", rng.random_range(0..0x10000u32));
    let roll = if m.households.is_empty() {
        0
    } else {
        rng.random_range(0..100u32)
    };
    let pick = |rng: &mut StdRng, v: &[String]| v[rng.random_range(0..v.len())].clone();
    if roll < 20 {
        let id = format!("hh_{tag}");
        let sent = wrap(R::Household(pb::Household {
            id: id.clone(),
            compound_id: COMPOUND.into(),
            building_id: BUILDING.into(),
            unit: format!("{}", rng.random_range(1..7u32)),
            door: format!("{round}-{i}"),
            head_name: format!("户主{tag}"),
            phone: Some(format!("139{:08}", rng.random_range(0..100_000_000u32))),
            contract_group_id: None,
        }));
        InFlight {
            kind: "household",
            id,
            sent,
            update: false,
        }
    } else if roll < 50 {
        let id = format!("rs_{tag}");
        // A birth date unique to (round, i) keeps ID numbers unique.
        let born = chrono::NaiveDate::from_ymd_opt(1940, 1, 1)
            .and_then(|d| d.checked_add_days(chrono::Days::new((round * 2000 + i) as u64)))
            .expect("a birth date");
        let number = id_number(&format!("410102{}001", born.format("%Y%m%d")));
        let household = pick(rng, &m.households);
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
        InFlight {
            kind: "resident",
            id,
            sent,
            update: false,
        }
    } else if roll < 70 {
        let at = activity_instant_ms();
        let id = format!("sv_{}_{tag}", gridsync_core::ids::day_compact(day_of(at)));
        let household = pick(rng, &m.households);
        let residents = m.residents_of.get(&household).cloned().unwrap_or_default();
        let sent = screening_visit_pb(&id, household, residents, at, || rng.random_bool(0.8));
        InFlight {
            kind: "screening_visit",
            id,
            sent,
            update: false,
        }
    } else if roll < 85 {
        let id = format!("tk_{tag}");
        let sent = wrap(R::Ticket(pb::Ticket {
            id: id.clone(),
            received_at_ms: now_ms() - rng.random_range(0..3_600_000i64),
            channel: rng.random_range(1..4i32),
            category: "求助".into(),
            summary: format!("诉求 {tag}"),
            caller_phone: None,
            assigned_compound_id: Some(COMPOUND.into()),
            assigned_staff_id: None,
            resolved_at_ms: None,
            resolution: None,
        }));
        InFlight {
            kind: "ticket",
            id,
            sent,
            update: false,
        }
    } else {
        let id = pick(rng, &m.households);
        let mut sent = m.expected[&("household".to_string(), id.clone())].clone();
        if let Some(R::Household(h)) = &mut sent.record {
            h.head_name = format!("新户主{tag}");
            h.phone = Some(format!("138{:08}", rng.random_range(0..100_000_000u32)));
        }
        InFlight {
            kind: "household",
            id,
            sent,
            update: true,
        }
    }
}

/// Streams writes until `stop_after` acknowledgements (if set) or the first
/// error, which it returns.
async fn writer(
    mut c: Client,
    model: Arc<Mutex<Model>>,
    mut rng: StdRng,
    round: u32,
    stop_after: Option<usize>,
    acks: tokio::sync::watch::Sender<usize>,
) -> Option<tonic::Status> {
    let mut done = 0;
    for i in 0.. {
        if stop_after.is_some_and(|n| done >= n) {
            return None;
        }
        let w = {
            let mut m = model.lock().expect("the model");
            let w = next_write(&mut rng, &m, round, i);
            m.in_flight = Some(w.clone());
            w
        };
        let res = if w.update {
            c.update_record(pb::UpdateRecordRequest {
                record: Some(w.sent.clone()),
            })
            .await
        } else {
            c.create_record(pb::CreateRecordRequest {
                record: Some(w.sent.clone()),
            })
            .await
        };
        match res {
            Ok(reply) => {
                let rec = reply.into_inner().record.unwrap_or_default();
                let mut m = model.lock().expect("the model");
                m.in_flight = None;
                m.acknowledged += 1;
                m.acknowledge(w.kind, rec);
                done += 1;
                acks.send_replace(done);
            }
            Err(s) => return Some(s),
        }
    }
    None
}

/// Checks the restarted node against the model. The write in flight at the
/// kill is resolved first (landed or not, whole); returns what was lost or
/// changed, and whether the in-flight write landed.
async fn verify(c: &mut Client, model: &mut Model, seed: u64, round: u32) -> (Vec<String>, bool) {
    let mut bad = Vec::new();
    let mut landed = false;
    if let Some(f) = model.in_flight.take() {
        let got = get(c, f.kind, &f.id).await;
        let sent = as_stored(&f.sent, &f.id);
        let key = (f.kind.to_string(), f.id.clone());
        if f.update {
            let old = model.expected.get(&key).cloned();
            if got.as_ref() == Some(&sent) {
                landed = true;
                model.expected.insert(key, sent);
            } else if got != old {
                bad.push(format!(
                    "the household update in flight left {} as neither the old nor the new version: {got:?}",
                    f.id
                ));
            }
        } else if let Some(got) = got {
            if got == sent {
                landed = true;
                model.acknowledge(f.kind, got);
            } else {
                bad.push(format!(
                    "the {} in flight landed changed: sent {sent:?}, stored {got:?}",
                    f.kind
                ));
            }
        }
    }
    for ((kind, id), want) in &model.expected {
        match get(c, kind, id).await {
            None => bad.push(format!("acknowledged {kind} {id} is gone")),
            Some(got) if &got != want => bad.push(format!(
                "acknowledged {kind} {id} changed: acknowledged {want:?}, stored {got:?}"
            )),
            Some(_) => {}
        }
    }
    // Listing shows exactly the acknowledged records (and a landed one).
    for kind in CHECKED {
        let want: BTreeSet<&str> = model
            .expected
            .keys()
            .filter(|(k, _)| k == kind)
            .map(|(_, id)| id.as_str())
            .collect();
        let days: BTreeSet<String> = if kind == "screening_visit" {
            want.iter().map(|id| day_of_id(id)).collect()
        } else {
            [String::new()].into()
        };
        let mut listed = Vec::new();
        for day in &days {
            listed.extend(list_all(c, kind, day, 97).await);
        }
        let listed: BTreeSet<String> = listed.iter().map(|r| id_of(r).to_string()).collect();
        let listed: BTreeSet<&str> = listed.iter().map(String::as_str).collect();
        for id in want.difference(&listed) {
            bad.push(format!("acknowledged {kind} {id} is not listed"));
        }
        for id in listed.difference(&want) {
            bad.push(format!("{kind} {id} is listed but was never written"));
        }
    }
    let status = c
        .get_status(pb::GetStatusRequest {})
        .await
        .unwrap_or_else(|s| panic!("seed {seed}, round {round}: GetStatus: {s:?}"))
        .into_inner();
    for kc in &status.counts {
        let want = model.expected.keys().filter(|(k, _)| *k == kc.kind).count() as u64;
        if kc.count != want {
            bad.push(format!(
                "GetStatus counts {} {}, {want} were acknowledged",
                kc.count, kc.kind
            ));
        }
    }
    (bad, landed)
}

fn seed() -> u64 {
    match std::env::var("GRIDSYNC_SEED") {
        Ok(s) => s
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("GRIDSYNC_SEED={s:?} is not a number")),
        Err(_) => rand::random(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_acknowledged_write() {
    let seed = seed();
    eprintln!("kill test: seed {seed} (GRIDSYNC_SEED={seed} replays this run's plan)");
    let rounds: u32 = std::env::var("GRIDSYNC_KILL_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    assert!(
        rounds >= 1,
        "seed {seed}: GRIDSYNC_KILL_ROUNDS must be at least 1"
    );
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut rng = StdRng::seed_from_u64(seed);
    let model = Arc::new(Mutex::new(Model::default()));
    let (mut in_flight_at_kill, mut landed_total) = (0, 0);

    for round in 0..=rounds {
        let mut node = NodeProcess::spawn(dir.path(), COMMUNITY).await;
        let mut c = node.client().await;

        // Everything acknowledged before the last kill is there.
        let (bad, landed) = {
            let mut m = std::mem::take(&mut *model.lock().expect("the model"));
            let out = verify(&mut c, &mut m, seed, round).await;
            *model.lock().expect("the model") = m;
            out
        };
        landed_total += usize::from(landed);
        if !bad.is_empty() {
            let m = model.lock().expect("the model");
            eprintln!(
                "kill test summary: seed {seed}, rounds {round}, acknowledged {}, lost {}",
                m.acknowledged,
                bad.len()
            );
            panic!(
                "seed {seed}, after kill {round}: {} problems:\n{}\nnode log:\n{}",
                bad.len(),
                bad.join("\n"),
                node.log_tail()
            );
        }
        if round == rounds {
            node.kill9();
            break;
        }

        if round == 0 {
            for r in [
                wrap(R::Compound(pb::Compound {
                    id: COMPOUND.into(),
                    name: "Kill Compound".into(),
                    address: None,
                })),
                wrap(R::Building(pb::Building {
                    id: BUILDING.into(),
                    compound_id: COMPOUND.into(),
                    name: "Kill Building".into(),
                })),
            ] {
                let kind = kind_of(&r);
                let stored = create(&mut c, r).await;
                let mut m = model.lock().expect("the model");
                m.acknowledged += 1;
                m.acknowledge(kind, stored);
            }
        }

        let target = rng.random_range(20..200usize);
        let while_sending = rng.random_bool(0.5);
        let delay_us = rng.random_range(0..3000u64);
        let writer_rng = StdRng::seed_from_u64(rng.random());
        let (acks_tx, mut acks_rx) = tokio::sync::watch::channel(0usize);
        let task = tokio::spawn(writer(
            c.clone(),
            model.clone(),
            writer_rng,
            round,
            (!while_sending).then_some(target),
            acks_tx,
        ));
        // The deadlines below only turn a stuck node into a failure instead
        // of a hang; nothing is timed.
        let ended = if while_sending {
            // Kill at a moment after `target` acknowledgements, with the
            // writer still sending.
            // (The `Ref` that `wait_for` returns holds the channel's lock,
            // which the writer needs: drop it at once.)
            let reached = tokio::time::timeout(Duration::from_secs(120), async {
                acks_rx.wait_for(|n| *n >= target).await.is_ok()
            })
            .await;
            assert!(
                matches!(reached, Ok(true)),
                "seed {seed}, round {round}: the writer stopped or stalled before {target} acknowledged writes; \
                 node log:\n{}",
                node.log_tail()
            );
            tokio::time::sleep(Duration::from_micros(delay_us)).await;
            node.kill9();
            tokio::time::timeout(Duration::from_secs(60), task)
                .await
                .unwrap_or_else(|_| {
                    panic!("seed {seed}, round {round}: the writer hangs after the kill")
                })
                .expect("the writer panicked")
        } else {
            // Kill with the writer idle after exactly `target` acknowledgements.
            let ended = tokio::time::timeout(Duration::from_secs(120), task)
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "seed {seed}, round {round}: the writer stalled before {target} acknowledged writes; \
                         node log:\n{}",
                        node.log_tail()
                    )
                })
                .expect("the writer panicked");
            assert!(
                ended.is_none(),
                "seed {seed}, round {round}: a write failed before the kill: {ended:?}; node log:\n{}",
                node.log_tail()
            );
            node.kill9();
            ended
        };
        if let Some(st) = &ended {
            assert!(
                !matches!(
                    st.code(),
                    Code::InvalidArgument
                        | Code::AlreadyExists
                        | Code::NotFound
                        | Code::FailedPrecondition
                ),
                "seed {seed}, round {round}: a write was refused, not cut off: {st:?}"
            );
        }
        let m = model.lock().expect("the model");
        if m.in_flight.is_some() {
            in_flight_at_kill += 1;
        }
        eprintln!(
            "kill test: seed {seed}, round {round}: killed after {} acknowledged writes this round ({}), \
             {} in all, a write in flight: {}",
            *acks_rx.borrow(),
            if while_sending {
                "while sending"
            } else {
                "writer idle"
            },
            m.acknowledged,
            m.in_flight.is_some()
        );
    }
    let m = model.lock().expect("the model");
    eprintln!(
        "kill test summary: seed {seed}, rounds {rounds}, acknowledged {}, in flight at a kill {in_flight_at_kill}, \
         of which landed {landed_total}, lost 0",
        m.acknowledged
    );
    assert!(
        m.acknowledged >= rounds as usize * 20,
        "seed {seed}: only {} writes were acknowledged",
        m.acknowledged
    );
}
