//! The partition suite: seeded simulations of a whole street (see
//! `gridsync_testkit::sim`).
//!
//! - `GRIDSYNC_SEED=<n>` replays one seed (printing its plan);
//! - `GRIDSYNC_SEEDS=<n>` runs n seeds (default 200), from
//!   `GRIDSYNC_SEED_BASE` (default 1);
//! - `GRIDSYNC_SIM_THREADS` runs that many seeds at once (default 2);
//! - `GRIDSYNC_MAX_NODES` caps the street's size (default 9).
//!
//! A failing seed prints itself, the plan drawn and the last events; the run
//! ends with one summary line.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use gridsync_testkit::sim::{Summary, run_seed};

fn env(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

#[test]
fn a_street_under_partitions_loses_no_acknowledged_edit_and_converges() {
    let max_nodes = env("GRIDSYNC_MAX_NODES", 9) as usize;
    let seeds: Vec<u64> = match std::env::var("GRIDSYNC_SEED") {
        Ok(s) => vec![s.trim().parse().expect("GRIDSYNC_SEED is a number")],
        Err(_) => {
            let base = env("GRIDSYNC_SEED_BASE", 1);
            (base..base + env("GRIDSYNC_SEEDS", 200)).collect()
        }
    };
    if seeds.len() == 1 {
        println!(
            "{}",
            gridsync_testkit::sim::plan::Plan::draw(seeds[0], max_nodes).describe()
        );
    }
    let threads = env("GRIDSYNC_SIM_THREADS", 2).max(1) as usize;
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let summary = Arc::new(Mutex::new(Summary::default()));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let seeds = Arc::new(seeds);
    std::thread::scope(|s| {
        for _ in 0..threads {
            let (next, summary, failures, seeds) = (
                next.clone(),
                summary.clone(),
                failures.clone(),
                seeds.clone(),
            );
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst) as usize;
                    let Some(&seed) = seeds.get(i) else { return };
                    match run_seed(seed, max_nodes) {
                        Ok(r) => {
                            if r.stats.stalls_restarted > 0 {
                                eprintln!(
                                    "seed {seed}: {} stalled exchanges restarted by nodes",
                                    r.stats.stalls_restarted
                                );
                            }
                            summary.lock().unwrap().add(&r)
                        }
                        Err(f) => {
                            eprintln!("{f}");
                            summary.lock().unwrap().failed.push(seed);
                            failures.lock().unwrap().push(seed);
                        }
                    }
                    // Progress of long runs, on stderr.
                    if (i + 1).is_multiple_of(500) {
                        let s = summary.lock().unwrap();
                        eprintln!(
                            "partition progress: {} of {} seeds, {} failed, {:.0}s",
                            i + 1,
                            seeds.len(),
                            s.failed.len(),
                            started.elapsed().as_secs_f64()
                        );
                    }
                }
            });
        }
    });
    let summary = summary.lock().unwrap().clone();
    println!(
        "{} wall={:.1}s threads={threads}",
        summary.line(),
        started.elapsed().as_secs_f64()
    );
    let failures = failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "seeds failed: {failures:?}; replay one with GRIDSYNC_SEED=<seed>"
    );
    assert_eq!(summary.lost, 0);
    assert_eq!(summary.phantom, 0);
    // The checkers ran: edits were acknowledged, rollups read, and newer
    // stamps compared with older ones.
    assert!(summary.acked > 0 && summary.rollup_checks > 0);
    assert!(summary.freshness_comparisons > 0 || seeds.len() < 5);
}
