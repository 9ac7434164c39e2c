//! Benchmark: what encryption at rest costs a commit. Prints a table;
//! asserts nothing about time (timings are not tests).
//!
//!     cargo bench -p gridsync-tests --bench at_rest [-- COMMITS] [-- ROUNDS]
//!
//! For a plaintext store and a SQLCipher store (raw 32-byte key, the
//! services' settings: WAL, `synchronous=FULL`), each in its own temporary
//! folder: open it (the key applied and checked), then commit COMMITS
//! (default 2000) small documents, one transaction each, as an office's
//! acknowledged edit does (the document's bytes, its heads, an audit row),
//! and read them all back. The two stores alternate over ROUNDS (default 3)
//! rounds, so that a busy machine slows both alike; the table gives the
//! median round's figures per store.

use std::time::{Duration, Instant};

use automerge::transaction::Transactable;
use gridsync_core::DocId;
use gridsync_store::{Audit, DocWrite, Store, StoreKey};

fn row(k: &str, v: String) {
    println!("{k:<40} {v}");
}

/// A small document as the office saves one: a registry with one
/// household record.
fn small_doc(i: usize) -> (Vec<u8>, Vec<automerge::ChangeHash>) {
    let mut doc = automerge::AutoCommit::new();
    let hh = doc
        .put_object(automerge::ROOT, "households", automerge::ObjType::Map)
        .expect("put");
    let rec = doc
        .put_object(&hh, format!("hh_{i:08x}"), automerge::ObjType::Map)
        .expect("put");
    for (k, v) in [
        ("building_id", "bd_0001"),
        ("address", "3-2-501"),
        ("head_name", "王秀英"),
        ("phone", "13800138000"),
    ] {
        doc.put(&rec, k, v).expect("put");
    }
    (doc.save(), doc.get_heads())
}

struct Run {
    open: Duration,
    commits: Vec<Duration>,
    total: Duration,
    read_all: Duration,
    bytes: u64,
}

fn run(
    dir: &std::path::Path,
    key: Option<&StoreKey>,
    docs: &[(DocId, Vec<u8>, Vec<automerge::ChangeHash>)],
) -> Run {
    let path = dir.join("bench.sqlite3");
    let t = Instant::now();
    let mut store = Store::open(&path, key).expect("open");
    let open = t.elapsed();
    let mut commits = Vec::with_capacity(docs.len());
    let started = Instant::now();
    for (i, (id, bytes, heads)) in docs.iter().enumerate() {
        let t = Instant::now();
        store
            .commit(
                &[DocWrite {
                    id: id.clone(),
                    bytes: bytes.clone(),
                    heads: heads.clone(),
                }],
                &[],
                Some(&Audit {
                    at_ms: i as i64,
                    actor: "bench",
                    action: "create household",
                }),
            )
            .expect("commit");
        commits.push(t.elapsed());
    }
    let total = started.elapsed();
    let t = Instant::now();
    for (id, _, _) in docs {
        store.load_doc(id).expect("load").expect("stored");
    }
    let read_all = t.elapsed();
    store.checkpoint().expect("checkpoint");
    let bytes = store.file_bytes();
    drop(store);
    std::fs::remove_dir_all(dir).expect("clean up");
    commits.sort();
    Run {
        open,
        commits,
        total,
        read_all,
        bytes,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse::<usize>().ok());
    let n = args.next().unwrap_or(2000);
    let rounds = args.next().unwrap_or(3).max(1);
    let docs: Vec<(DocId, Vec<u8>, Vec<automerge::ChangeHash>)> = (0..n)
        .map(|i| {
            let (bytes, heads) = small_doc(i);
            let id: DocId = format!("registry/c{i:05}").parse().expect("doc id");
            (id, bytes, heads)
        })
        .collect();
    let avg = docs.iter().map(|d| d.1.len()).sum::<usize>() / n.max(1);
    let key = StoreKey::generate().expect("key");
    let tmp = tempfile::tempdir().expect("tempdir");
    println!(
        "gridsync store commit latency: {n} commits of one small document ({avg} bytes) each, {rounds} rounds, plaintext vs SQLCipher\n"
    );
    let mut plain = Vec::new();
    let mut enc = Vec::new();
    for r in 0..rounds {
        plain.push(run(&tmp.path().join(format!("plain-{r}")), None, &docs));
        enc.push(run(&tmp.path().join(format!("enc-{r}")), Some(&key), &docs));
    }
    let median = |runs: &mut Vec<Run>| {
        runs.sort_by_key(|r| r.total);
        runs.remove(runs.len() / 2)
    };
    let (p, e) = (median(&mut plain), median(&mut enc));
    let pct = |r: &Run, q: f64| ms(r.commits[((r.commits.len() as f64 - 1.0) * q) as usize]);
    println!(
        "{:<40} {:>12} {:>12} {:>8}",
        "", "plaintext", "SQLCipher", "ratio"
    );
    let line = |k: &str, a: f64, b: f64, unit: &str| {
        println!(
            "{k:<40} {:>9.3} {unit:<2} {:>9.3} {unit:<2} {:>7.2}×",
            a,
            b,
            b / a
        );
    };
    line(
        "open (key applied and checked)",
        ms(p.open),
        ms(e.open),
        "ms",
    );
    line("commit p50", pct(&p, 0.5), pct(&e, 0.5), "ms");
    line("commit p99", pct(&p, 0.99), pct(&e, 0.99), "ms");
    line("commit max", pct(&p, 1.0), pct(&e, 1.0), "ms");
    line(
        &format!("all {n} commits"),
        p.total.as_secs_f64(),
        e.total.as_secs_f64(),
        "s",
    );
    line(
        &format!("read all {n} back"),
        ms(p.read_all),
        ms(e.read_all),
        "ms",
    );
    line(
        "file after checkpoint",
        p.bytes as f64 / 1024.0,
        e.bytes as f64 / 1024.0,
        "KiB",
    );
    row(
        "\nrounds (total s, plaintext / SQLCipher)",
        format!(
            "{} / {}",
            plain
                .iter()
                .chain([&p])
                .map(|r| format!("{:.2}", r.total.as_secs_f64()))
                .collect::<Vec<_>>()
                .join(" "),
            enc.iter()
                .chain([&e])
                .map(|r| format!("{:.2}", r.total.as_secs_f64()))
                .collect::<Vec<_>>()
                .join(" "),
        ),
    );
}
