//! The fuzz corpora as a regression suite on stable: every file of every
//! `fuzz/corpus/<target>/` folder, and every seed the corpora started from
//! (`gridsync_testkit::fuzzing::seeds`), run through the same harness the
//! cargo-fuzz target runs (`gridsync_testkit::fuzzing`), which panics on
//! any property it finds broken. `scripts/fuzz.sh` runs the fuzzers
//! themselves (nightly); this test is what CI runs.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use gridsync_testkit::fuzzing::{self, TARGETS};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus")
}

/// Runs `target`'s harness on each input; the names of those that panicked.
fn failures<'a>(target: &str, inputs: impl Iterator<Item = (String, &'a [u8])>) -> Vec<String> {
    let mut failed = Vec::new();
    for (name, bytes) in inputs {
        let ran = catch_unwind(AssertUnwindSafe(|| fuzzing::run(target, bytes)));
        match ran {
            Ok(true) => {}
            Ok(false) => failed.push(format!("{name}: no harness named {target}")),
            Err(_) => failed.push(name),
        }
    }
    failed
}

fn replay(target: &str) {
    let dir = corpus_dir().join(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the corpus {} cannot be read: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("a corpus entry").path();
            let bytes = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("{} cannot be read: {e}", path.display()));
            (path.display().to_string(), bytes)
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 5,
        "{}: {} inputs; the corpus is missing",
        dir.display(),
        files.len()
    );
    let failed = failures(target, files.iter().map(|(n, b)| (n.clone(), b.as_slice())));
    assert!(
        failed.is_empty(),
        "{} of {} inputs of {target} broke a property: {failed:#?}",
        failed.len(),
        files.len()
    );
}

#[test]
fn sync_message_corpus() {
    replay("sync_message");
}

#[test]
fn frames_corpus() {
    replay("frames");
}

#[test]
fn records_corpus() {
    replay("records");
}

#[test]
fn roster_corpus() {
    replay("roster");
}

#[test]
fn every_target_has_its_corpus_and_its_test() {
    for t in TARGETS {
        assert!(corpus_dir().join(t).is_dir(), "no corpus for {t}");
    }
    assert_eq!(TARGETS, ["sync_message", "frames", "records", "roster"]);
}

#[test]
fn every_seed_passes_its_harness() {
    let seeds = fuzzing::seeds::all();
    for t in TARGETS {
        assert!(
            seeds.iter().filter(|s| s.target == *t).count() >= 5,
            "too few seeds for {t}"
        );
    }
    let mut failed = Vec::new();
    for t in TARGETS {
        failed.extend(failures(
            t,
            seeds
                .iter()
                .filter(|s| s.target == *t)
                .map(|s| (format!("{t}/seed-{}", s.name), s.bytes.as_slice())),
        ));
    }
    assert!(
        failed.is_empty(),
        "seeds that broke a property: {failed:#?}"
    );
}

/// The hostile messages stop at the budget, naming it, before Automerge
/// sees them; the harness's small budget is what the fuzzer ran under.
#[test]
fn hostile_seeds_are_refused_by_the_small_budget() {
    use gridsync_core::sync::budget::{BudgetError, cost};
    let seeds = fuzzing::seeds::all();
    let get = |name: &str| {
        &seeds
            .iter()
            .find(|s| s.target == "sync_message" && s.name == name)
            .unwrap_or_else(|| panic!("no seed {name}"))
            .bytes
    };
    let budget = fuzzing::small_budget();
    for (name, limit) in [
        ("op-bomb-2097152", "max_message_ops"),
        ("op-bomb-33554432", "max_message_ops"),
        ("inflate-bomb-8388608", "max_message_inflated_bytes"),
    ] {
        match cost(get(name), &budget) {
            Err(BudgetError::Over { limit: l, .. }) => assert_eq!(l, limit, "{name}"),
            other => panic!("{name}: {other:?}"),
        }
    }
    for name in ["have-flood", "corrupt-checksum"] {
        assert!(
            matches!(cost(get(name), &budget), Err(BudgetError::Corrupt(_))),
            "{name}"
        );
    }
}

/// Found by the `sync_message` harness on its seeds: a change whose run
/// lengths were rewritten to claim a few operations (within any budget)
/// was applied, and the save that followed panicked inside Automerge
/// (`collector.rs`: `MissingDep`), since Automerge re-encodes the change
/// under another hash. It is refused before it is applied now: its cost is
/// counted first (that expands nothing), then, once the memory for it is
/// reserved, its encoding is checked (that expands its operations).
#[test]
fn a_small_op_bomb_is_refused_as_not_automerges_encoding() {
    use gridsync_core::sync::budget::{BudgetError, MessageBudget, check_encodings, cost};
    for ops in [3, 100, 1_000] {
        let change = gridsync_testkit::hostile::op_bomb(ops);
        let bomb = gridsync_testkit::hostile::sync_message(std::slice::from_ref(&change));
        let c = cost(&bomb, &MessageBudget::default()).expect("within budget, counted");
        assert_eq!(c.ops, ops);
        match check_encodings([change.as_slice()], &MessageBudget::default()) {
            Err(BudgetError::Corrupt(reason)) => {
                assert!(reason.contains("Automerge's own encoding"), "{reason}")
            }
            other => panic!("an op bomb of {ops}: {other:?}"),
        }
        fuzzing::sync_message(&bomb);
    }
}
