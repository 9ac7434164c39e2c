//! Benchmark: the speed of the built binaries beside their floor, measured
//! in the same run (issue 14's table). Prints a table; asserts nothing
//! about time (timings are not tests).
//!
//!     cargo build --release -p gridsync-coordinator -p gridsync-node
//!     cargo bench -p gridsync-tests --bench floor [-- ROW…]
//!     GRIDSYNC_BIN_DIR=/other/target/release cargo bench -p gridsync-tests --bench floor
//!
//! ROW picks rows by name (`writes`, `offline`, `unary`, `rollup`,
//! `import`, `start`, `street_rollup`, `catchup`, `memory`; none: all, in
//! that order). Each row is measured `GRIDSYNC_BENCH_REPEAT` times
//! (default 3), each time on a fresh street or store, and reported as
//! median (min–max); its floor is measured in the same run, and the ratio
//! is what the binaries reach of it.
//!
//! - `writes`: acknowledged edits per second at one node through its
//!   office API (a screening visit each, today's activity document), with
//!   1, 4 and 16 concurrent clients on one connection each, and their
//!   latency p50/p99. The node is linked to a coordinator (its sync runs
//!   meanwhile). Floor: single-row SQLite commits in a WAL database with
//!   `synchronous=FULL` (the store's settings), one transaction each.
//! - `offline`: 3,000 screening visits, each acknowledged, at a node whose
//!   coordinator is unreachable, from one client and from 16. Floor: the
//!   same visits applied to the community in process (Automerge and the
//!   node's checks, each change taken for saving as the node does) with
//!   no disk and no gRPC.
//! - `unary`: a small gRPC answer (the node's `GetStatus`) on a warm
//!   connection, p50/p99 of 200 calls. Goal: under 5 ms (Nagle's delay
//!   adds ~40 ms to an answer when TCP_NODELAY is off).
//! - `rollup`: an edit acknowledged at the node → the coordinator's
//!   rollup (`GetRollup`, every level, read back to back) counting it,
//!   p50/p99 of 40; and a rollup read with nothing new, p50/p99 of 100.
//!   Twice: on the one community of 40 households above, and on the demo
//!   street (6 communities and 1 village, 3,000 households each, 30 days
//!   of activity, seeded into the stores) with the built coordinator and
//!   seven built nodes, the edits at the first community's node once every
//!   node is in sync and the first full rollup is done.
//!
//! The rows on a community of 3,000 households (the demo roster, 9,090
//! rows; `floor/office_rows.rs`, built by `rows/community.rs`, shared with
//! the community bench):
//!
//! - `import`: the roster through `Office` in this process (the API's
//!   write path without the socket: roster checks, Automerge, one commit
//!   to the encrypted store per 500 rows). Floor: the same requests applied
//!   to the community in process with no store (each request's changes
//!   taken for saving, as the office takes them), which is most of the
//!   work; the ratio is what the store adds.
//! - `start`: the node binary's cold start on that store (spawn to the
//!   first answered GetStatus; no coordinator). Floor: Automerge loading
//!   the same stored bytes of the documents the node opens (registry,
//!   cases, today's activity) in process, nothing else (no SQLCipher, no
//!   hydration, no process).
//! - `memory`: the node binary on that store, linked to the coordinator
//!   binary: its peak RSS from start through 20,000 screening visits (4
//!   clients) until the coordinator has them all; beside it the RSS when
//!   the last visit was acknowledged, once in sync, and how long after the
//!   last visit that was. Floor: the RSS at start, in sync (the goal is a
//!   day within 2× of it).
//!
//! The rows with the services in this process, as the rollup and catch-up
//! benches run them (`floor/street_rows.rs`, on `rows/street_rollup.rs`
//! and `rows/catchup.rs`, shared with those benches):
//!
//! - `street_rollup`: the coordinator's first full rollup of the demo
//!   street (6 communities and 1 village, 3,000 households each, 30 days
//!   of activity) on its replicas just opened on a copy of the seeded
//!   store. Floor: Automerge loading the stored bytes of the documents it
//!   reads (each community's registry, cases and today's activity, and the
//!   street document), in process.
//! - `catchup`: a node (3,000 households) back after a day offline, 3,000
//!   visits of one change each, to converged with the coordinator over
//!   gRPC and mutual TLS. Floor: Automerge's sync protocol bringing the
//!   coordinator's copy of the day (its heads before the visits) up to the
//!   node's in process, messages encoded and decoded.

#[path = "rows/catchup.rs"]
#[allow(dead_code)]
mod catchup;
#[path = "rows/community.rs"]
#[allow(dead_code)]
mod community;
#[path = "rows/load.rs"]
mod load;
#[path = "floor/office_rows.rs"]
mod office_rows;
#[path = "attacks/procs.rs"]
#[allow(dead_code)]
mod procs;
#[path = "rows/street_rollup.rs"]
#[allow(dead_code)]
mod street_rollup;
#[path = "floor/street_rows.rs"]
mod street_rows;
#[path = "floor/table.rs"]
mod table;

use procs::{ms, pct};
use table::{Row, print, repeat, spread};

use std::path::Path;
use std::time::{Duration, Instant};

use automerge::ActorId;
use gridsync_core::access::Principal;
use gridsync_core::{CommunityId, CommunityReplica, Edit, EditContext, Record};
use gridsync_proto::office::v1 as pb;
use gridsync_proto::rollup::v1 as rpb;
use gridsync_proto::street::v1::street_client::StreetClient;
use gridsync_testkit::records::{activity_instant_ms, screening_visit_pb};
use gridsync_testkit::street::{Pki, operator_client, register};
use gridsync_testkit::{PERSON_KEY_SECRET_HEX, TIME_ZONE};
use pb::office_client::OfficeClient;
use pb::record::Record as R;
use tonic::transport::Channel;

type Office = OfficeClient<Channel>;
type Operator = StreetClient<Channel>;

/// The rows, in the order they run.
const ROWS: [&str; 9] = [
    "writes",
    "offline",
    "unary",
    "rollup",
    "import",
    "start",
    "street_rollup",
    "catchup",
    "memory",
];

const COMMUNITY: &str = community::COMMUNITY;
/// Households the visits are spread over, two residents each.
const HOUSEHOLDS: usize = 40;
/// Visits per configuration of the `writes` row, per client count.
const WRITES: [(usize, usize); 3] = [(1, 600), (4, 1_200), (16, 2_400)];
const OFFLINE_VISITS: usize = 3_000;
const UNARY_CALLS: usize = 200;
/// Edits timed from their acknowledgement to the coordinator's rollup.
const VISIBLE_EDITS: usize = 40;
/// Rollup reads with nothing new.
const QUIET_READS: usize = 100;

/// A street of one community: the coordinator and the c01 node (or the
/// node alone, its coordinator unreachable), c01's compound, building and
/// households, each with two residents.
struct Street {
    _dir: tempfile::TempDir,
    _coord: Option<procs::Proc>,
    /// The operator's client at the coordinator (a linked street).
    op: Option<Operator>,
    node: procs::Proc,
    households: Vec<(String, Vec<String>)>,
}

async fn street(bins: &Path, linked: bool) -> Street {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let pki = Pki::new();
    let certs = procs::Certs::write(&pki, &dir.path().join("certs"), &[COMMUNITY]);
    let (coord, op, coord_addr) = if linked {
        let coord = procs::coordinator(bins, &dir.path().join("coordinator"), &certs);
        let mut op = operator_client(
            coord.addr,
            &pki.client(&Principal::Operator("bench".into())),
        )
        .await;
        register(&mut op, &[COMMUNITY]).await;
        let addr = coord.addr;
        (Some(coord), Some(op), addr)
    } else {
        // Nothing listens there: the node works offline.
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let addr = l.local_addr().expect("its address");
        drop(l);
        (None, None, addr)
    };
    let node = procs::node(
        bins,
        &dir.path().join("node"),
        &certs,
        COMMUNITY,
        coord_addr,
    );
    let mut office = gridsync_testkit::connect(node.addr).await;
    let households = setup(&mut office).await;
    Street {
        _dir: dir,
        _coord: coord,
        op,
        node,
        households,
    }
}

async fn create(office: &mut Office, r: R) -> pb::Record {
    office
        .create_record(pb::CreateRecordRequest {
            record: Some(pb::Record { record: Some(r) }),
        })
        .await
        .unwrap_or_else(|s| panic!("the node refused a write: {:?} {}", s.code(), s.message()))
        .into_inner()
        .record
        .expect("the record back")
}

fn id_of(r: &pb::Record) -> String {
    match &r.record {
        Some(R::Compound(c)) => c.id.clone(),
        Some(R::Building(b)) => b.id.clone(),
        Some(R::Household(h)) => h.id.clone(),
        Some(R::Resident(r)) => r.id.clone(),
        other => panic!("not a record this bench writes: {other:?}"),
    }
}

/// The compound, building, households and residents the visits go to.
fn setup_records() -> (R, Vec<(R, Vec<R>)>) {
    let compound = R::Compound(pb::Compound {
        id: "cp_bench".into(),
        name: "测试小区".into(),
        address: None,
    });
    let households = (0..HOUSEHOLDS)
        .map(|i| {
            let h = R::Household(pb::Household {
                id: format!("hh_{i}"),
                compound_id: "cp_bench".into(),
                building_id: "bd_bench".into(),
                unit: "1".into(),
                door: format!("{}", 100 + i),
                head_name: format!("户主{i}"),
                phone: None,
                contract_group_id: None,
            });
            let residents = (0..2)
                .map(|j| {
                    R::Resident(pb::Resident {
                        id: format!("rs_{i}_{j}"),
                        household_id: format!("hh_{i}"),
                        name: format!("居民{i}-{j}"),
                        ..Default::default()
                    })
                })
                .collect();
            (h, residents)
        })
        .collect();
    (compound, households)
}

fn building() -> R {
    R::Building(pb::Building {
        id: "bd_bench".into(),
        compound_id: "cp_bench".into(),
        name: "1号楼".into(),
    })
}

async fn setup(office: &mut Office) -> Vec<(String, Vec<String>)> {
    let (compound, households) = setup_records();
    create(office, compound).await;
    create(office, building()).await;
    let mut out = Vec::new();
    for (h, residents) in households {
        let hid = id_of(&create(office, h).await);
        let mut rids = Vec::new();
        for r in residents {
            rids.push(id_of(&create(office, r).await));
        }
        out.push((hid, rids));
    }
    out
}

fn visit(serial: usize, households: &[(String, Vec<String>)]) -> pb::Record {
    let (h, residents) = &households[serial % households.len()];
    let at = activity_instant_ms();
    let id = format!(
        "sv_{}_b{serial}",
        gridsync_core::ids::day_compact(gridsync_testkit::day_of(at))
    );
    screening_visit_pb(&id, h.clone(), residents.clone(), at, || true)
}

/// `total` visits from `clients` concurrent clients (one connection
/// each): the wall time and every call's latency.
async fn write_visits(
    node: &procs::Proc,
    households: &[(String, Vec<String>)],
    clients: usize,
    total: usize,
    first: usize,
) -> (Duration, Vec<Duration>) {
    let mut offices = Vec::new();
    for _ in 0..clients {
        offices.push(gridsync_testkit::connect(node.addr).await);
    }
    let per = total / clients;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (c, mut office) in offices.into_iter().enumerate() {
        let households = households.to_vec();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per);
            for k in 0..per {
                let rec = visit(first + c * per + k, &households);
                let t = Instant::now();
                office
                    .create_record(pb::CreateRecordRequest { record: Some(rec) })
                    .await
                    .unwrap_or_else(|s| {
                        panic!("the node refused a visit: {:?} {}", s.code(), s.message())
                    });
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.expect("a client panicked"));
    }
    let wall = started.elapsed();
    lat.sort();
    (wall, lat)
}

/// Single-row commits per second in a WAL database with
/// `synchronous=FULL`, one transaction each, for about a second.
fn sqlite_floor(dir: &Path) -> f64 {
    let conn = rusqlite::Connection::open(dir.join("floor.sqlite3")).expect("open");
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
         CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, bytes BLOB NOT NULL);",
    )
    .expect("set up");
    let row = vec![7u8; 600];
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < Duration::from_secs(1) {
        conn.execute_batch("BEGIN IMMEDIATE").expect("begin");
        conn.execute("INSERT INTO t (bytes) VALUES (?1)", [&row])
            .expect("insert");
        conn.execute_batch("COMMIT").expect("commit");
        n += 1;
    }
    n as f64 / started.elapsed().as_secs_f64()
}

async fn writes_rows(bins: &Path, rows: &mut Vec<Row>) {
    let floor_dir = tempfile::tempdir().expect("a temporary folder");
    let mut floors = Vec::new();
    let mut by_clients: Vec<(Vec<f64>, Vec<f64>, Vec<f64>)> =
        WRITES.iter().map(|_| Default::default()).collect();
    for run in 0..repeat() {
        floors.push(sqlite_floor(floor_dir.path()));
        let s = street(bins, true).await;
        let mut first = 0;
        for (i, (clients, total)) in WRITES.iter().enumerate() {
            let (wall, lat) = write_visits(&s.node, &s.households, *clients, *total, first).await;
            first += total;
            let rate = *total as f64 / wall.as_secs_f64();
            eprintln!(
                "writes run {run}: {clients} clients, {total} visits in {:.2} s: {rate:.0}/s, p50 {:.1} ms, p99 {:.1} ms",
                wall.as_secs_f64(),
                ms(pct(&lat, 0.5)),
                ms(pct(&lat, 0.99))
            );
            by_clients[i].0.push(rate);
            by_clients[i].1.push(ms(pct(&lat, 0.5)));
            by_clients[i].2.push(ms(pct(&lat, 0.99)));
        }
    }
    let (floor, fmin, fmax) = spread(floors);
    for (i, (clients, _)) in WRITES.iter().enumerate() {
        let (rate, rmin, rmax) = spread(by_clients[i].0.clone());
        let (p50, _, _) = spread(by_clients[i].1.clone());
        let (p99, p99min, p99max) = spread(by_clients[i].2.clone());
        rows.push(Row {
            what: format!("acknowledged edits/s at one node, {clients} client(s)"),
            now: format!(
                "{rate:.0}/s ({rmin:.0}–{rmax:.0}); p50 {p50:.1} ms, p99 {p99:.1} ms ({p99min:.1}–{p99max:.1})"
            ),
            floor: format!("SQLite WAL FULL commits {floor:.0}/s ({fmin:.0}–{fmax:.0})"),
            ratio: format!("{:.0}%", 100.0 * rate / floor),
            goal: match clients {
                1 => "≥ 600/s",
                16 => "≥ 2,000/s, p99 ≤ 20 ms",
                _ => "–",
            },
        });
    }
}

/// The new changes' bytes, as the node takes them for its commit, then
/// marked saved.
fn take_for_saving(replica: &mut CommunityReplica) {
    for (id, _bytes, heads) in replica.unsaved() {
        replica.mark_saved(&id, heads);
    }
}

/// The offline visits applied in process: the floor of the `offline` row.
fn offline_floor() -> Duration {
    let community = CommunityId::parse(COMMUNITY).expect("an id");
    let secret =
        gridsync_core::PersonKeySecret::new(hex::decode(PERSON_KEY_SECRET_HEX).expect("hex"))
            .expect("a secret");
    let mut replica = CommunityReplica::new(community, ActorId::from(&[1u8; 16][..]), Some(secret));
    let ctx = EditContext {
        now_ms: gridsync_testkit::now_ms(),
        tz: TIME_ZONE,
    };
    let core = |r: R| Record::try_from(pb::Record { record: Some(r) }).expect("a record");
    let (compound, households) = setup_records();
    let mut setup = vec![Edit::Create(core(compound)), Edit::Create(core(building()))];
    let mut ids = Vec::new();
    for (h, residents) in households {
        let rids = residents
            .iter()
            .map(|r| {
                id_of(&pb::Record {
                    record: Some(r.clone()),
                })
            })
            .collect();
        ids.push((
            id_of(&pb::Record {
                record: Some(h.clone()),
            }),
            rids,
        ));
        setup.push(Edit::Create(core(h)));
        setup.extend(residents.into_iter().map(|r| Edit::Create(core(r))));
    }
    replica
        .apply(&setup, &ctx, "setup")
        .expect("the setup applies");
    replica.start_day(gridsync_testkit::day_of(activity_instant_ms()));
    take_for_saving(&mut replica);
    let started = Instant::now();
    for k in 0..OFFLINE_VISITS {
        let v = visit(k, &ids);
        let rec = Record::try_from(v).expect("a visit");
        replica
            .apply(&[Edit::Create(rec)], &ctx, "create visit")
            .expect("a visit applies");
        take_for_saving(&mut replica);
        if std::env::var_os("GRIDSYNC_BENCH_TRACE").is_some() && (k + 1) % 500 == 0 {
            eprintln!(
                "offline floor: {} visits in {:.2} s",
                k + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }
    started.elapsed()
}

async fn offline_rows(bins: &Path, rows: &mut Vec<Row>) {
    let mut floors = Vec::new();
    let mut one = Vec::new();
    let mut sixteen = Vec::new();
    for run in 0..repeat() {
        floors.push(offline_floor().as_secs_f64());
        let s = street(bins, false).await;
        let (w1, _) = write_visits(&s.node, &s.households, 1, OFFLINE_VISITS, 0).await;
        let s = street(bins, false).await;
        let (w16, _) = write_visits(&s.node, &s.households, 16, OFFLINE_VISITS, 0).await;
        eprintln!(
            "offline run {run}: 1 client {:.2} s, 16 clients {:.2} s, floor {:.2} s",
            w1.as_secs_f64(),
            w16.as_secs_f64(),
            floors[run]
        );
        one.push(w1.as_secs_f64());
        sixteen.push(w16.as_secs_f64());
    }
    let (floor, fmin, fmax) = spread(floors);
    for (clients, v) in [(1, one), (16, sixteen)] {
        let (t, tmin, tmax) = spread(v);
        rows.push(Row {
            what: format!("3,000 offline screening visits, each acknowledged, {clients} client(s)"),
            now: format!("{t:.2} s ({tmin:.2}–{tmax:.2})"),
            floor: format!("in process, no disk: {floor:.2} s ({fmin:.2}–{fmax:.2})"),
            ratio: format!("{:.1}×", t / floor),
            goal: "≤ 1.5 s",
        });
    }
}

async fn unary_rows(bins: &Path, rows: &mut Vec<Row>) {
    let mut p50s = Vec::new();
    let mut p99s = Vec::new();
    for run in 0..repeat() {
        let s = street(bins, true).await;
        let mut office = gridsync_testkit::connect(s.node.addr).await;
        let mut lat = Vec::with_capacity(UNARY_CALLS);
        for _ in 0..UNARY_CALLS {
            let t = Instant::now();
            office
                .get_status(pb::GetStatusRequest {})
                .await
                .expect("GetStatus");
            lat.push(t.elapsed());
        }
        lat.sort();
        eprintln!(
            "unary run {run}: GetStatus p50 {:.2} ms p99 {:.2} ms",
            ms(pct(&lat, 0.5)),
            ms(pct(&lat, 0.99))
        );
        p50s.push(ms(pct(&lat, 0.5)));
        p99s.push(ms(pct(&lat, 0.99)));
    }
    let (p50, p50min, p50max) = spread(p50s);
    let (p99, _, _) = spread(p99s);
    rows.push(Row {
        what: "a small gRPC answer (node GetStatus, warm connection)".into(),
        now: format!("p50 {p50:.2} ms ({p50min:.2}–{p50max:.2}), p99 {p99:.2} ms"),
        floor: "–".into(),
        ratio: "–".into(),
        goal: "< 5 ms",
    });
}

/// The street's rollup of today, every level.
async fn read_rollup(op: &mut Operator) -> rpb::Rollup {
    op.get_rollup(rpb::RollupRequest {
        as_of: String::new(),
        tz: String::new(),
        path: Vec::new(),
        depth: 0,
    })
    .await
    .expect("GetRollup")
    .into_inner()
}

/// Today's screening visits the rollup counts for `community`.
fn visits_in(r: &rpb::Rollup, community: &str) -> u64 {
    r.tree
        .as_ref()
        .and_then(|t| t.children.iter().find(|c| c.id == community))
        .and_then(|c| c.figures.as_ref())
        .map_or(0, |f| f.screening_visits)
}

/// [`VISIBLE_EDITS`] visits at the node of `community`, each timed from
/// its acknowledgement to the coordinator's rollup (read back to back)
/// counting it; then [`QUIET_READS`] rollup reads with nothing new. Both
/// sorted.
async fn edits_to_rollup(
    office: &mut Office,
    op: &mut Operator,
    community: &str,
    households: &[(String, Vec<String>)],
) -> (Vec<Duration>, Vec<Duration>) {
    let mut seen = visits_in(&read_rollup(op).await, community);
    let mut visible = Vec::with_capacity(VISIBLE_EDITS);
    for k in 0..VISIBLE_EDITS {
        office
            .create_record(pb::CreateRecordRequest {
                record: Some(visit(k, households)),
            })
            .await
            .expect("a visit");
        let acked = Instant::now();
        loop {
            let n = visits_in(&read_rollup(op).await, community);
            if n > seen {
                seen = n;
                break;
            }
            assert!(
                acked.elapsed() < Duration::from_secs(60),
                "an acknowledged visit was not in the rollup within 60 s"
            );
        }
        visible.push(acked.elapsed());
    }
    let mut quiet = Vec::with_capacity(QUIET_READS);
    for _ in 0..QUIET_READS {
        let t = Instant::now();
        read_rollup(op).await;
        quiet.push(t.elapsed());
    }
    visible.sort();
    quiet.sort();
    (visible, quiet)
}

/// The two rollup rows of `runs` (each run's edits → visible and quiet
/// reads, from [`edits_to_rollup`]) on the street `of`.
fn rollup_table(of: &str, runs: &[(Vec<Duration>, Vec<Duration>)], rows: &mut Vec<Row>) {
    let p = |i: usize, q: f64| -> Vec<f64> {
        runs.iter()
            .map(|r| ms(pct(if i == 0 { &r.0 } else { &r.1 }, q)))
            .collect()
    };
    for (run, (visible, quiet)) in runs.iter().enumerate() {
        eprintln!(
            "rollup run {run} ({of}): edit → visible p50 {:.1} ms p99 {:.1} ms; a read with nothing new p50 {:.2} ms p99 {:.2} ms",
            ms(pct(visible, 0.5)),
            ms(pct(visible, 0.99)),
            ms(pct(quiet, 0.5)),
            ms(pct(quiet, 0.99))
        );
    }
    let (v50, v50min, v50max) = spread(p(0, 0.5));
    let (v99, v99min, v99max) = spread(p(0, 0.99));
    rows.push(Row {
        what: format!("edit acknowledged at a node → visible in the coordinator's rollup ({of})"),
        now: format!(
            "p50 {v50:.1} ms ({v50min:.1}–{v50max:.1}), p99 {v99:.1} ms ({v99min:.1}–{v99max:.1})"
        ),
        floor: "–".into(),
        ratio: "–".into(),
        goal: "p99 ≤ 20 ms",
    });
    let (q50, q50min, q50max) = spread(p(1, 0.5));
    let (q99, _, _) = spread(p(1, 0.99));
    rows.push(Row {
        what: format!("a rollup read with nothing new ({of})"),
        now: format!("p50 {q50:.2} ms ({q50min:.2}–{q50max:.2}), p99 {q99:.2} ms"),
        floor: "–".into(),
        ratio: "–".into(),
        goal: "≤ 2 ms",
    });
}

async fn rollup_rows(bins: &Path, rows: &mut Vec<Row>) {
    let mut runs = Vec::new();
    for _ in 0..repeat() {
        let s = street(bins, true).await;
        let mut op = s.op.clone().expect("a linked street");
        let mut office = gridsync_testkit::connect(s.node.addr).await;
        runs.push(edits_to_rollup(&mut office, &mut op, COMMUNITY, &s.households).await);
    }
    rollup_table("one node, 40 households", &runs, rows);
    let runs = street_rows::demo_street_runs(bins).await;
    rollup_table("demo street: 7 nodes × 3,000 households", &runs, rows);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if let Some(f) = filters.iter().find(|f| !ROWS.contains(&f.as_str())) {
        eprintln!("no row {f:?}: the rows are {}", ROWS.join(", "));
        std::process::exit(2);
    }
    let wanted = |name: &str| filters.is_empty() || filters.iter().any(|f| f == name);
    let bins = procs::bin_dir();
    println!(
        "gridsync floor benchmark: binaries from {}, {} run(s) per row, {} cores",
        bins.display(),
        repeat(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut rows = Vec::new();
    // The community store the import builds, which start and memory copy.
    let mut template = None;
    if wanted("writes") {
        writes_rows(&bins, &mut rows).await;
    }
    if wanted("offline") {
        offline_rows(&bins, &mut rows).await;
    }
    if wanted("unary") {
        unary_rows(&bins, &mut rows).await;
    }
    if wanted("rollup") {
        rollup_rows(&bins, &mut rows).await;
    }
    if wanted("import") {
        office_rows::import_rows(&mut template, &mut rows);
    }
    if wanted("start") {
        office_rows::start_rows(&bins, &mut template, &mut rows).await;
    }
    if wanted("street_rollup") {
        street_rows::street_rollup_rows(&mut rows);
    }
    if wanted("catchup") {
        street_rows::catchup_rows(&mut rows).await;
    }
    if wanted("memory") {
        office_rows::memory_rows(&bins, &mut template, &mut rows).await;
    }
    print(&rows);
    println!(
        "\nIdle CPU and connect time at 100/300/1,000 nodes: `cargo bench -p gridsync-tests --bench fanin`."
    );
}
