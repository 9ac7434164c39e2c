//! The floor bench's rows on a community of 3,000 households (the demo
//! roster, 9,090 rows): `import`, `start` and `memory`. The community is
//! built by `rows/community.rs` (shared with the community bench); one
//! built store, checkpointed, is the template each row copies.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gridsync_core::access::Principal;
use gridsync_testkit::street::{Pki, operator_client, register};

use crate::table::{self, Row, repeat, secs, spread};
use crate::{community, load, procs};

/// Households of the community (the demo roster's 3,000: 9,090 rows).
const HOUSEHOLDS: usize = 3_000;
/// Screening visits of the busy day of the `memory` row, and its clients.
const BUSY_DAY_VISITS: usize = 20_000;
const BUSY_DAY_CLIENTS: usize = 4;

/// A built community store, checkpointed and closed, and its households
/// with their residents.
pub struct Template {
    _dir: tempfile::TempDir,
    data: PathBuf,
    households: Vec<(String, Vec<String>)>,
}

/// Imports the roster into a new store: the import's time and the store.
fn build(rows: &[gridsync_core::roster::RawRow]) -> (Duration, Template) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let data = dir.path().join("data");
    let (office, imported) = community::import(&data, rows);
    let households = community::households(&office);
    drop(office);
    community::checkpoint(&data);
    let template = Template {
        _dir: dir,
        data,
        households,
    };
    (imported.took, template)
}

/// The template, built now if no `import` row built one.
fn template(t: &mut Option<Template>) -> &Template {
    t.get_or_insert_with(|| build(&community::roster(HOUSEHOLDS)).1)
}

/// A copy of the template's store as `<dir>/data`, the layout of
/// `procs::node`.
fn copy(t: &Template, dir: &Path) -> PathBuf {
    let data = dir.join("data");
    community::copy_store(&t.data, &data);
    data
}

/// `import`: the roster through `Office` (500 rows a commit, each
/// committed to the encrypted store) beside the same requests applied in
/// process with no store.
pub fn import_rows(t: &mut Option<Template>, rows: &mut Vec<Row>) {
    let roster = community::roster(HOUSEHOLDS);
    let (mut now, mut floors) = (Vec::new(), Vec::new());
    for run in 0..repeat() {
        let floor = community::import_floor(&roster).as_secs_f64();
        let (took, built) = build(&roster);
        eprintln!(
            "import run {run}: {} rows in {:.2} s, floor {floor:.2} s",
            roster.len(),
            took.as_secs_f64()
        );
        now.push(took.as_secs_f64());
        floors.push(floor);
        *t = Some(built);
    }
    let (n, now_s) = secs(now, 2);
    let (f, floor_s) = secs(floors, 2);
    rows.push(Row {
        what: format!(
            "roster import, {} rows ({} households), through Office, 500 rows a commit",
            table::thousands(roster.len()),
            table::thousands(HOUSEHOLDS)
        ),
        now: format!(
            "{now_s}; {} rows/s",
            table::thousands((roster.len() as f64 / n) as usize)
        ),
        floor: format!("same requests in process, no store: {floor_s}"),
        ratio: format!("{:.1}×", n / f),
        goal: "≤ 1 s",
    });
}

/// `start`: the node binary's cold start on the community's store, to its
/// first answered GetStatus, beside Automerge loading the documents it
/// opens (registry, cases, today's activity) from the same bytes.
pub async fn start_rows(bins: &Path, t: &mut Option<Template>, rows: &mut Vec<Row>) {
    let bin = procs::binary(bins, "gridsync-node");
    let t = template(t);
    let (mut now, mut floors, mut rss) = (Vec::new(), Vec::new(), Vec::new());
    let mut loaded = 0;
    for run in 0..repeat() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let data = copy(t, dir.path());
        let db = data.join(gridsync_testkit::STORE_FILE);
        let (docs, _read) = load::stored_bytes(&db, &community::open_docs());
        loaded = load::bytes(&docs);
        let (_, floor) = load::raw_load(&docs);
        let s = community::cold_start(&bin, &data).await;
        eprintln!(
            "start run {run}: {:.0} ms to the first answer, RSS {:.0} MiB; raw load {:.0} ms",
            crate::ms(s.took),
            s.rss_mib,
            crate::ms(floor)
        );
        now.push(crate::ms(s.took));
        floors.push(crate::ms(floor));
        rss.push(s.rss_mib);
    }
    let (n, nmin, nmax) = spread(now);
    let (f, fmin, fmax) = spread(floors);
    let (r, _, _) = spread(rss);
    rows.push(Row {
        what: format!(
            "node cold start to its first answer (GetStatus), {} households",
            table::thousands(HOUSEHOLDS)
        ),
        now: format!("{n:.0} ms ({nmin:.0}–{nmax:.0}); RSS then {r:.0} MiB"),
        floor: format!(
            "Automerge load of the same {:.1} MiB in process: {f:.0} ms ({fmin:.0}–{fmax:.0})",
            loaded as f64 / 1048576.0
        ),
        ratio: format!("{:.1}×", n / f),
        goal: "≤ 1.5× raw load",
    });
}

/// Polls the node's status until its link is up with nothing
/// unacknowledged and every document in sync (`within` at most, else a
/// panic naming `what`); the time it took.
pub async fn until_synced(office: &mut crate::Office, what: &str, within: Duration) -> Duration {
    let t = Instant::now();
    loop {
        let s = office
            .get_status(gridsync_proto::office::v1::GetStatusRequest {})
            .await
            .expect("GetStatus")
            .into_inner();
        let link = s.link.unwrap_or_default();
        if link.connected
            && link.unacknowledged_changes == 0
            && !link.docs.is_empty()
            && link.docs.iter().all(|d| d.in_sync)
        {
            return t.elapsed();
        }
        assert!(
            t.elapsed() < within,
            "{what}: the node was not in sync within {within:?}: {link:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `memory`: the node binary on the community's store, linked to the
/// coordinator binary; its resident set once started and synced (its
/// status: link up, nothing unacknowledged, every document in sync), then
/// over a busy day of 20,000 screening visits from 4 clients until all are
/// acknowledged and in sync again: the row's figure is the peak (polled
/// every 50 ms, and the kernel's high-water mark), beside it the RSS when
/// the last visit was acknowledged, once in sync, and how long after the
/// last visit that was. The floor is the RSS at start: the goal is a day
/// that stays within 2× of it.
pub async fn memory_rows(bins: &Path, t: &mut Option<Template>, rows: &mut Vec<Row>) {
    let t = template(t);
    let (mut start, mut acked, mut in_sync, mut peak, mut walls, mut lags) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    for run in 0..repeat() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let pki = Pki::new();
        let certs = procs::Certs::write(&pki, &dir.path().join("certs"), &[crate::COMMUNITY]);
        let coord = procs::coordinator(bins, &dir.path().join("coordinator"), &certs);
        let mut op: crate::Operator = operator_client(
            coord.addr,
            &pki.client(&Principal::Operator("bench".into())),
        )
        .await;
        register(&mut op, &[crate::COMMUNITY]).await;
        copy(t, &dir.path().join("node"));
        let node = procs::node(
            bins,
            &dir.path().join("node"),
            &certs,
            crate::COMMUNITY,
            coord.addr,
        );
        let mut office = gridsync_testkit::connect(node.addr).await;
        until_synced(&mut office, "the first sync", Duration::from_secs(120)).await;
        let at_start = procs::rss_mib(node.pid());
        let watch = procs::MemoryWatch::start(node.pid());
        let (wall, _) =
            crate::write_visits(&node, &t.households, BUSY_DAY_CLIENTS, BUSY_DAY_VISITS, 0).await;
        let at_acked = procs::rss_mib(node.pid());
        let synced = until_synced(&mut office, "the busy day", Duration::from_secs(900)).await;
        let at_synced = procs::rss_mib(node.pid());
        let m = watch.finish();
        eprintln!(
            "memory run {run}: RSS {at_start:.0} MiB at start, {at_acked:.0} MiB after {BUSY_DAY_VISITS} visits in {:.1} s, \
             {at_synced:.0} MiB in sync {:.1} s later, peak {:.0} MiB",
            wall.as_secs_f64(),
            synced.as_secs_f64(),
            m.peak_mib()
        );
        start.push(at_start);
        acked.push(at_acked);
        in_sync.push(at_synced);
        peak.push(m.peak_mib());
        walls.push(wall.as_secs_f64());
        lags.push(synced.as_secs_f64());
    }
    let (s, smin, smax) = spread(start);
    let (a, _, _) = spread(acked);
    let (y, _, _) = spread(in_sync);
    let (p, pmin, pmax) = spread(peak);
    let (w, _, _) = spread(walls);
    let (_, lag) = secs(lags, 0);
    rows.push(Row {
        what: format!(
            "node memory over a busy day: peak RSS from start through {} visits ({BUSY_DAY_CLIENTS} clients, {w:.0} s) until in sync, linked",
            table::thousands(BUSY_DAY_VISITS)
        ),
        now: format!(
            "peak {p:.0} MiB ({pmin:.0}–{pmax:.0}); {a:.0} MiB when the last visit was acknowledged, {y:.0} MiB once in sync, {lag} after it"
        ),
        floor: format!("RSS at start, in sync: {s:.0} MiB ({smin:.0}–{smax:.0})"),
        ratio: format!("{:.1}×", p / s),
        goal: "≤ 2× start",
    });
}
