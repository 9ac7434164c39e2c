//! Benchmark: a community of 3,000 households and about 9,000 residents.
//! Prints a table; asserts nothing about time (timings are not tests).
//!
//!     cargo bench -p gridsync-tests --bench community [-- HOUSEHOLDS]
//!
//! Measures: importing the roster through `Office` (the API's write path,
//! without the socket), peak memory, the store's size on disk, the cold
//! start of the real `gridsync-node` binary on that store (to a served
//! GetStatus), and the latency of single acknowledged edits.

use std::time::{Duration, Instant};

use gridsync_core::*;
use gridsync_node::office::{Office, OfficeConfig};
use gridsync_testkit::demo_roster;

fn now_ms() -> i64 {
    gridsync_testkit::now_ms()
}

/// Peak and current resident memory of a process, in MiB (NaN where
/// /proc does not say).
fn mib(pid: u32) -> (f64, f64) {
    gridsync_svc::process::memory(Some(pid))
        .map_or((f64::NAN, f64::NAN), |m| (m.peak_mib(), m.rss_mib()))
}

fn cfg(dir: &std::path::Path) -> OfficeConfig {
    OfficeConfig {
        community: CommunityId::parse("bench").unwrap(),
        community_name: "bench".into(),
        community_kind: CommunityKind::Community,
        db_path: dir.join("gridsync-node.sqlite3"),
        tz: chrono_tz::Asia::Shanghai,
        secret: Some(PersonKeySecret::new(vec![9u8; 32]).unwrap()),
        compact_after_chunks: 256,
        store_key: Some(gridsync_testkit::store_key()),
    }
}

fn main() {
    let households: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(3000);
    let dir = tempfile::tempdir().expect("tempdir");
    let rows = demo_roster::community_roster(20261129, households);
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
    let started = Instant::now();
    let mut office = Office::open(cfg(dir.path()), now_ms()).expect("open");
    let raw: Vec<(u64, Vec<(&'static str, String)>)> =
        rows.iter().map(|r| (r.line, r.raw_fields())).collect();
    let mut created = 0;
    for chunk in raw.chunks(500) {
        let rep = office.import(chunk, now_ms()).expect("import");
        assert!(
            rep.errors.is_empty(),
            "the demo roster has bad rows: {:?}",
            &rep.errors[..1]
        );
        created += rep.records_created;
    }
    let create = started.elapsed();
    let me = std::process::id();
    row(
        "create: import roster (500 rows/commit)",
        format!("{:.2} s ({created} records)", create.as_secs_f64()),
    );
    row(
        "create: rows per second",
        format!("{:.0}", rows.len() as f64 / create.as_secs_f64()),
    );
    row(
        "create: peak RSS of this process",
        format!("{:.0} MiB", mib(me).0),
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
    let db = {
        let store = gridsync_store::Store::open(
            &dir.path().join("gridsync-node.sqlite3"),
            Some(&gridsync_testkit::store_key()),
        )
        .unwrap();
        store.checkpoint().unwrap();
        store.file_bytes()
    };
    row(
        "store on disk (SQLite file)",
        format!("{:.2} MiB", db as f64 / 1048576.0),
    );
    let office = Office::open(cfg(dir.path()), now_ms()).expect("reopen");
    let reg = DocId::Registry(CommunityId::parse("bench").unwrap());
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
        let o = Office::open(cfg(dir.path()), now_ms()).expect("open");
        opens.push(t.elapsed());
        drop(o);
    }
    opens.sort();
    row(
        "cold start in-process: Office::open (median of 3)",
        format!("{:.0} ms", ms(opens[1])),
    );

    // 4b. Where the open time goes: SQLite reads, Automerge load, hydration.
    {
        let store = gridsync_store::Store::open(
            &dir.path().join("gridsync-node.sqlite3"),
            Some(&gridsync_testkit::store_key()),
        )
        .unwrap();
        let cases = DocId::Cases(CommunityId::parse("bench").unwrap());
        let t = Instant::now();
        let r = store.load_doc(&reg).unwrap().unwrap();
        let c = store.load_doc(&cases).unwrap().unwrap();
        let read = t.elapsed();
        let t = Instant::now();
        let rd = gridsync_core::replica::load_doc(
            r.snapshot.as_deref(),
            r.chunks.iter().map(Vec::as_slice),
            &reg,
        )
        .unwrap();
        let cd = gridsync_core::replica::load_doc(
            c.snapshot.as_deref(),
            c.chunks.iter().map(Vec::as_slice),
            &cases,
        )
        .unwrap();
        let load = t.elapsed();
        let t = Instant::now();
        let v = CommunityView::read(&rd, &cd);
        let hydrate = t.elapsed();
        row(
            "open breakdown: SQLite read / Automerge load / hydrate",
            format!(
                "{:.0} / {:.0} / {:.0} ms ({} chunks)",
                ms(read),
                ms(load),
                ms(hydrate),
                r.chunks.len() + c.chunks.len()
            ),
        );
        assert_eq!(v.households.len(), households);
    }

    // 5. Cold start of the real binary, to a served GetStatus.
    let bin = gridsync_testkit::node_binary();
    let addr_file = dir.path().join("addr");
    let mut starts = Vec::new();
    let mut rss = (f64::NAN, f64::NAN);
    let rt = tokio::runtime::Runtime::new().unwrap();
    for _ in 0..3 {
        let _ = std::fs::remove_file(&addr_file);
        let t = Instant::now();
        let mut child = std::process::Command::new(&bin)
            .args([
                "--community-id",
                "bench",
                "--listen",
                "127.0.0.1:0",
                "--person-key-secret",
                &"09".repeat(32),
            ])
            .arg("--data-dir")
            .arg(dir.path())
            .arg("--addr-file")
            .arg(&addr_file)
            .arg("--store-key-file")
            .arg(gridsync_testkit::store_key_file(dir.path()))
            .env("GRIDSYNC_LOG", "warn")
            .spawn()
            .expect("spawn node");
        let deadline = Instant::now() + Duration::from_secs(60);
        let addr = loop {
            if let Ok(a) = std::fs::read_to_string(&addr_file) {
                break a;
            }
            assert!(Instant::now() < deadline, "node did not start");
            std::thread::sleep(Duration::from_millis(2));
        };
        rt.block_on(async {
            let mut c = gridsync_cli::connect::node(&addr).await.expect("connect");
            c.get_status(gridsync_proto::office::v1::GetStatusRequest {})
                .await
                .expect("status");
        });
        starts.push(t.elapsed());
        let (peak, now) = mib(child.id());
        rss = (now, peak);
        let pid = child.id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        let _ = child.wait();
    }
    starts.sort();
    row(
        "cold start of gridsync-node to first GetStatus (median of 3)",
        format!("{:.0} ms", ms(starts[1])),
    );
    row(
        "gridsync-node memory after start (RSS / peak)",
        format!("{:.0} MiB / {:.0} MiB", rss.0, rss.1),
    );

    println!("\n| measure | value |\n|---|---|");
    for (k, v) in &table {
        println!("| {k} | {v} |");
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
