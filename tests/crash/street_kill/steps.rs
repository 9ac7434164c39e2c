//! The test's steps, in the order the test calls them: the compounds and a
//! first convergence, the observer, per round the kills and faults of the
//! plan while the writers write and then the heal and the checks, the
//! digest checks, the checks at the end, and the summary line.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use gridsync_core::Kind;
use gridsync_proto::office::v1 as pb;
use gridsync_testkit::sim::oracle::Outcome;
use gridsync_testkit::sim::plan::{KillRound, KillTarget, MIN_COORDINATOR_KILLS};
use pb::record::Record as R;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::checks::{
    Observed, access_problems, converged, digests_match, observer, wait_converged,
};
use super::processes::Street;
use super::verify::{Verdict, verify_writes};
use super::writers::{after_a_send, begin_record, finish_record, node_writer, operator_writer};
use super::{
    COMMUNITIES, CONVERGE_WITHIN, DIGESTS_WITHIN, OPERATOR, WRITERS_STOP_WITHIN, Written, lock, ms,
};

/// What the rounds counted, for the summary.
#[derive(Default)]
pub(super) struct Run {
    faults: BTreeMap<&'static str, u32>,
    node_kills: u32,
    coordinator_kills: u32,
    /// Time from each heal to convergence.
    convergence: Vec<Duration>,
    per_round: Vec<String>,
}

/// A round's writers, and how to stop them.
pub(super) struct Writers {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// Round 0: each node's compound and building (acknowledged writes in the
/// oracle), then a first convergence.
pub(super) async fn write_the_compounds(street: &mut Street) {
    for (i, c) in COMMUNITIES.iter().enumerate() {
        for sent in [
            pb::Record {
                record: Some(R::Compound(pb::Compound {
                    id: format!("cp_{c}"),
                    name: format!("{c} 一号院"),
                    address: None,
                })),
            },
            pb::Record {
                record: Some(R::Building(pb::Building {
                    id: format!("bd_{c}"),
                    compound_id: format!("cp_{c}"),
                    name: "1号楼".into(),
                })),
            },
        ] {
            let kind = if matches!(sent.record, Some(R::Compound(_))) {
                Kind::Compound
            } else {
                Kind::Building
            };
            let op = begin_record(&street.sh, "setup", i, kind, &sent);
            let res = street.offices[i]
                .create_record(pb::CreateRecordRequest {
                    record: Some(sent.clone()),
                })
                .await;
            match res {
                Ok(reply) => finish_record(
                    &street.sh,
                    op,
                    Outcome::Acked,
                    Written {
                        node: i,
                        sent,
                        acked: reply.into_inner().record,
                        error: None,
                        dispatched: false,
                    },
                ),
                Err(s) => street.fail(&format!(
                    "create {kind} {} at {c}: {s:?}",
                    gridsync_testkit::id_of(&sent)
                )),
            }
        }
    }
    let first = match wait_converged(&mut street.op, &mut street.offices, CONVERGE_WITHIN).await {
        Ok(d) => d,
        Err(e) => street.fail(&format!("round 0: {e}")),
    };
    street.sh.event(format!(
        "round 0: converged {:.2} s after the start",
        first.as_secs_f64()
    ));
}

/// The observer of the street's rollup, until told to stop.
pub(super) fn start_observer(street: &Street) -> (watch::Sender<bool>, JoinHandle<()>) {
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(observer(street.sh.clone(), street.op.clone(), stop_rx));
    (stop, task)
}

/// A round of the plan: the writers start, and before each kill the
/// plan's proxy faults; each kill comes at a random moment or a drawn
/// number of µs after the target's writer sent a write (the operator's,
/// for the coordinator), and the process restarts after its time down.
pub(super) async fn kill_and_fault(
    street: &mut Street,
    round: usize,
    plan: &KillRound,
    run: &mut Run,
) -> Writers {
    let (stop, stop_rx) = watch::channel(false);
    let mut tasks: Vec<JoinHandle<()>> = Vec::new();
    for (i, office) in street.offices.iter().enumerate() {
        tasks.push(tokio::spawn(node_writer(
            street.sh.clone(),
            i,
            office.clone(),
            StdRng::seed_from_u64(plan.writers[i]),
            round,
            stop_rx.clone(),
        )));
    }
    tasks.push(tokio::spawn(operator_writer(
        street.sh.clone(),
        street.op.clone(),
        StdRng::seed_from_u64(plan.writers[OPERATOR]),
        round,
        stop_rx.clone(),
    )));
    for kill in &plan.kills {
        for f in &kill.faults {
            tokio::time::sleep(f.wait).await;
            street.fault(f.node, f.fault);
            *run.faults.entry(f.fault.name()).or_default() += 1;
            street.sh.event(format!(
                "round {round}: proxy of {}: {}",
                COMMUNITIES[f.node], f.fault
            ));
        }
        tokio::time::sleep(kill.wait).await;
        let moment = match kill.after_send {
            Some(after) => {
                let writer = match kill.target {
                    KillTarget::Coordinator => OPERATOR,
                    KillTarget::Node(i) => i,
                };
                after_a_send(&street.sh, writer, after).await
            }
            None => "at a random moment".to_string(),
        };
        match kill.target {
            KillTarget::Coordinator => run.coordinator_kills += 1,
            KillTarget::Node(_) => run.node_kills += 1,
        }
        street
            .kill_and_restart(round, kill.target, &moment, kill.down)
            .await;
    }
    tokio::time::sleep(plan.settle).await;
    Writers { stop, tasks }
}

/// The end of a round: the writers stop, every link heals, and the street
/// must converge (a) with nothing lost (b), its rollup having broken no
/// rule (c, d) and no write refused.
pub(super) async fn heal_and_verify(
    street: &mut Street,
    round: usize,
    writers: Writers,
    run: &mut Run,
) {
    let _ = writers.stop.send(true);
    let joined = tokio::time::timeout(WRITERS_STOP_WITHIN, async {
        for w in writers.tasks {
            w.await.expect("a writer panicked");
        }
    })
    .await;
    if joined.is_err() {
        street.fail("the writers did not stop");
    }
    street.heal_all();
    street.sh.event(format!(
        "round {round}: writers stopped, every proxy healed"
    ));
    let took = match wait_converged(&mut street.op, &mut street.offices, CONVERGE_WITHIN).await {
        Ok(d) => d,
        Err(e) => street.fail(&format!("round {round}: {e}")),
    };
    run.convergence.push(took);
    run.per_round
        .push(format!("r{round}={:.2}s", took.as_secs_f64()));
    let v = verify_writes(&street.sh, &mut street.op, &mut street.offices).await;
    let s = &v.set_full;
    street.sh.event(format!(
        "round {round}: converged {:.2} s after the heal; writes acked={} indeterminate={} landed={} lost={} stale={} never-read={}",
        took.as_secs_f64(),
        s.acked,
        s.unknown,
        s.landed,
        s.lost,
        s.stale,
        s.never_read
    ));
    if !v.problems.is_empty() || s.lost > 0 || s.phantom > 0 {
        street.fail(&format!(
            "round {round}: {} problems (lost={} stale={} never-read={} phantom={}):\n{}",
            v.problems.len(),
            s.lost,
            s.stale,
            s.never_read,
            s.phantom,
            v.problems.join("\n")
        ));
    }
    let mut broken = lock(&street.sh.observed).violations.clone();
    broken.extend(lock(&street.sh.refused).iter().cloned());
    if !broken.is_empty() {
        street.fail(&format!(
            "round {round}: the street's rollup broke a rule, or a write was refused:\n{}",
            broken.join("\n")
        ));
    }
}

/// (e) Quiescence: every community's digest check MATCH, fresh, not held.
/// Returns how long it took after the last round's convergence.
pub(super) async fn wait_digests_match(street: &mut Street) -> Duration {
    let t = Instant::now();
    loop {
        let why = match digests_match(&mut street.op).await {
            Ok(()) => break,
            Err(why) => why,
        };
        if t.elapsed() > DIGESTS_WITHIN {
            street.fail(&format!(
                "the digest checks did not all MATCH within {DIGESTS_WITHIN:?}: {why}"
            ));
        }
        tokio::time::sleep(ms(200)).await;
    }
    let took = t.elapsed();
    street.sh.event(format!(
        "every digest check MATCH {:.1} s after the last heal's convergence",
        took.as_secs_f64()
    ));
    took
}

/// What the checks at the end found.
pub(super) struct End {
    verdict: Verdict,
    observed: Observed,
    problems: Vec<String>,
}

/// The final read of everything (a, b), access (f), no write refused, no
/// process dead by itself, and what the observer saw (c, d).
pub(super) async fn check_the_end(
    street: &mut Street,
    (stop, task): (watch::Sender<bool>, JoinHandle<()>),
) -> End {
    if let Err(e) = converged(&mut street.op, &mut street.offices).await {
        street.fail(&format!("at the end: {e}"));
    }
    let verdict = verify_writes(&street.sh, &mut street.op, &mut street.offices).await;
    let mut problems = verdict.problems.clone();
    for (i, c) in COMMUNITIES.iter().enumerate() {
        match street.offices[i].get_status(pb::GetStatusRequest {}).await {
            Ok(s) => problems.extend(access_problems(c, &s.into_inner().docs)),
            Err(s) => problems.push(format!("GetStatus at {c}: {s:?}")),
        }
    }
    problems.extend(lock(&street.sh.refused).iter().cloned());
    if !street.coord.running() {
        problems.push("the coordinator died by itself".into());
    }
    for n in &mut street.nodes {
        if !n.running() {
            problems.push(format!("{} died by itself", n.name));
        }
    }
    let _ = stop.send(true);
    let _ = task.await;
    let observed = std::mem::take(&mut *lock(&street.sh.observed));
    problems.extend(observed.violations.iter().cloned());
    End {
        verdict,
        observed,
        problems,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// A percentile of sorted milliseconds, "-" when there are none.
fn pct_ms(sorted: &[u64], p: f64) -> String {
    if sorted.is_empty() {
        return "-".into();
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].to_string()
}

/// The summary line (other tooling reads it), then the assertions.
pub(super) async fn summarise_and_assert(
    mut street: Street,
    run: &Run,
    end: End,
    digest_wait: Duration,
    kills: usize,
    started: Instant,
) {
    let seed = street.sh.seed;
    let rounds = street.sh.plan.rounds.len();
    let (fin, observed) = (&end.verdict.set_full, &end.observed);
    let mut convergence = run.convergence.clone();
    convergence.sort();
    let faults = run
        .faults
        .iter()
        .map(|(k, n)| format!("{k}={n}"))
        .collect::<Vec<_>>()
        .join(" ");
    let (cut_to_stale, bound, all_connected) = {
        let l = lock(&street.sh.liveness);
        let mut cuts = l.cut_to_stale_ms.clone();
        cuts.sort_unstable();
        let mut starts = l.all_connected_ms.clone();
        starts.sort_unstable();
        (cuts, l.bound(), starts)
    };
    let summary = format!(
        "kill_street: seed={seed} kills node={} coordinator={} \
         proxy faults by kind {faults}, writes acked={} indeterminate={} (landed {}), \
         lost={} stale={} never-read={}, convergence after heal p50={:.2}s p99={:.2}s ({}), \
         rollup checks={} (polls {}, parents summed {}, held {}, unavailable {}), \
         digests MATCH {:.1}s after, \
         silent cut to stale ({} cuts, bound {} ms) p50={} p99={} max={} ms, \
         coordinator start to every node connected ({} starts) p50={} max={} ms, \
         rounds={rounds}, took {:.1}s",
        run.node_kills,
        run.coordinator_kills,
        fin.acked,
        fin.unknown,
        fin.landed,
        fin.lost,
        fin.stale,
        fin.never_read,
        percentile(&convergence, 0.5).as_secs_f64(),
        percentile(&convergence, 0.99).as_secs_f64(),
        run.per_round.join(" "),
        observed.rollups,
        observed.polls,
        observed.parents_checked,
        observed.held,
        observed.unavailable,
        digest_wait.as_secs_f64(),
        cut_to_stale.len(),
        bound.as_millis(),
        pct_ms(&cut_to_stale, 0.5),
        pct_ms(&cut_to_stale, 0.99),
        pct_ms(&cut_to_stale, 1.0),
        all_connected.len(),
        pct_ms(&all_connected, 0.5),
        pct_ms(&all_connected, 1.0),
        started.elapsed().as_secs_f64()
    );
    eprintln!("{summary}");
    if !end.problems.is_empty() || fin.lost > 0 || fin.phantom > 0 {
        street.fail(&format!(
            "{} problems at the end:\n{}\n{summary}",
            end.problems.len(),
            end.problems.join("\n")
        ));
    }
    assert_eq!(fin.lost, 0, "seed {seed}: {summary}");
    assert_eq!(fin.phantom, 0, "seed {seed}: {summary}");
    assert_eq!(
        (run.node_kills + run.coordinator_kills) as usize,
        kills,
        "seed {seed}: {summary}"
    );
    assert!(
        run.coordinator_kills as usize >= MIN_COORDINATOR_KILLS.min(kills),
        "seed {seed}: {summary}"
    );
    assert!(
        fin.acked >= 10 * rounds as u64,
        "seed {seed}: too few writes were acknowledged for the test to mean much: {summary}"
    );
    assert!(
        observed.polls >= rounds as u64,
        "seed {seed}: the observer read the rollup only {} times: {summary}",
        observed.polls
    );
    for p in std::mem::take(&mut street.proxies) {
        p.shutdown().await;
    }
}
