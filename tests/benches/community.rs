//! Benchmark: a community of 3,000 households and about 9,000 residents.
//! Prints a table; asserts nothing about time (timings are not tests).
//!
//!     cargo bench -p gridsync-tests --bench community [-- HOUSEHOLDS]
//!
//! Measures: importing the roster through `Office` (the API's write path,
//! without the socket), peak memory, the store's size on disk, the cold
//! start of the real `gridsync-node` binary on that store (to a served
//! GetStatus), and the latency of single acknowledged edits. The measuring
//! code is `rows/community.rs`, shared with the floor bench (rows `import`
//! and `start`, each beside its floor).

#[path = "rows/community.rs"]
#[allow(dead_code)]
mod community;
#[path = "rows/load.rs"]
#[allow(dead_code)]
mod load;

use std::time::{Duration, Instant};

use gridsync_core::*;
use gridsync_node::office::Office;

fn now_ms() -> i64 {
    gridsync_testkit::now_ms()
}

fn main() {
    let households: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(3000);
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let rows = community::roster(households);
    let mut table: Vec<(String, String)> = Vec::new();
    let mut row = |k: &str, v: String| {
        println!("{k:<52} {v}");
        table.push((k.to_string(), v));
    };
    println!(
        "gridsync-node community benchmark: {households} households, {} residents\n",
        rows.len()
    );

    // 1. Create the community through the write path, 500 rows a commit.
    let (mut office, imported) = community::import(&data, &rows);
    let me = std::process::id();
    row(
        "create: import roster (500 rows/commit)",
        format!(
            "{:.2} s ({} records)",
            imported.took.as_secs_f64(),
            imported.records_created
        ),
    );
    row(
        "create: rows per second",
        format!("{:.0}", rows.len() as f64 / imported.took.as_secs_f64()),
    );
    row(
        "create: peak RSS of this process",
        format!("{:.0} MiB", community::mib(me).0),
    );
    row(
        "households / residents in the view",
        format!(
            "{} / {}",
            office.view().households.len(),
            office.view().residents.len()
        ),
    );

    // 2. Single acknowledged edits (each one commit, fsync'd).
    let mut lat = Vec::new();
    let hh: Vec<String> = office.view().households.keys().take(200).cloned().collect();
    for id in &hh {
        let mut h = office.view().households[id].clone();
        h.head_name.push('x');
        let t = Instant::now();
        office
            .update(Record::Household(h), now_ms())
            .expect("update");
        lat.push(t.elapsed());
    }
    for id in hh.iter().take(100) {
        let visit = Record::Inspection(Inspection {
            id: String::new(),
            household_id: id.clone(),
            method: InspectionMethod::Visit,
            inspected_at_ms: now_ms() - 1000,
            inspector: "bench".into(),
            knew_member: true,
            notes: None,
        });
        let t = Instant::now();
        office.create(visit, now_ms()).expect("inspection");
        lat.push(t.elapsed());
    }
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p) as usize];
    row(
        "single edit, acknowledged (p50 / p99)",
        format!("{:.1} ms / {:.1} ms", ms(pct(0.5)), ms(pct(0.99))),
    );
    drop(office);

    // 3. Size on disk, after a WAL checkpoint (the store's own).
    let db = community::checkpoint(&data);
    row(
        "store on disk (SQLite file)",
        format!("{:.2} MiB", db as f64 / 1048576.0),
    );
    let office = Office::open(community::office_config(&data), now_ms()).expect("reopen");
    let reg = DocId::Registry(community::community_id());
    let st = office.store().doc_stats(&reg).unwrap();
    row(
        "registry: snapshot + chunks",
        format!(
            "{} KiB + {} chunks {} KiB",
            st.snapshot_bytes / 1024,
            st.chunk_count,
            st.chunk_bytes / 1024
        ),
    );
    drop(office);

    // 4. Cold start in-process: open the store and load the community.
    let mut opens = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let o = Office::open(community::office_config(&data), now_ms()).expect("open");
        opens.push(t.elapsed());
        drop(o);
    }
    opens.sort();
    row(
        "cold start in-process: Office::open (median of 3)",
        format!("{:.0} ms", ms(opens[1])),
    );

    // 4b. Where the open time goes: SQLite reads, Automerge load, hydration.
    let b = community::open_breakdown(&data);
    row(
        "open breakdown: SQLite read / Automerge load / hydrate",
        format!(
            "{:.0} / {:.0} / {:.0} ms ({} chunks)",
            ms(b.read),
            ms(b.load),
            ms(b.hydrate),
            b.chunks
        ),
    );
    assert_eq!(b.households, households);

    // 5. Cold start of the real binary, to a served GetStatus.
    let bin = gridsync_testkit::node_binary();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut starts: Vec<community::ColdStart> = (0..3)
        .map(|_| rt.block_on(community::cold_start(&bin, &data)))
        .collect();
    let (rss, peak) = (starts[2].rss_mib, starts[2].peak_mib);
    starts.sort_by_key(|s| s.took);
    row(
        "cold start of gridsync-node to first GetStatus (median of 3)",
        format!("{:.0} ms", ms(starts[1].took)),
    );
    row(
        "gridsync-node memory after start (RSS / peak)",
        format!("{rss:.0} MiB / {peak:.0} MiB"),
    );

    println!("\n| measure | value |\n|---|---|");
    for (k, v) in &table {
        println!("| {k} | {v} |");
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
