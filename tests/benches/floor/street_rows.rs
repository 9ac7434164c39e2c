//! The floor bench's rows on the demo street and the catch-up: measured
//! with the services in this process, as the rollup and catch-up benches
//! measure them, whose code they share (`street_rollup`, `catchup`); and
//! the `rollup` row's runs on the demo street with the built binaries.

use std::time::{Duration, Instant};

use gridsync_core::access::Principal;
use gridsync_core::{CommunityId, CommunityKind, CommunityView, DocId};
use gridsync_testkit::street::{Pki, operator_client};

use crate::office_rows::until_synced;
use crate::table::{Row, repeat, secs};
use crate::{catchup, community, load, procs, street_rollup};

/// Households per community of the demo street, and of the catch-up's.
const HOUSEHOLDS: usize = 3_000;

/// `street_rollup`: the coordinator's first full rollup of the demo street
/// (6 communities and 1 village, 3,000 households each, 30 days of
/// activity) on its replicas just opened, beside Automerge loading the
/// documents it reads from the same store. The street is seeded once; each
/// run opens a fresh copy of the seeded store.
pub fn street_rollup_rows(rows: &mut Vec<Row>) {
    let street = street_rollup::seed(HOUSEHOLDS);
    eprintln!(
        "street_rollup: seeded {} households in {:.1} s",
        street.seeded.counts.households,
        street.seed_took.as_secs_f64()
    );
    let (mut now, mut floors, mut opens) = (Vec::new(), Vec::new(), Vec::new());
    let (mut docs, mut bytes) = (0, 0);
    for run in 0..repeat() {
        let (_copy, db) = street.fresh_copy();
        let (floor, d, b) = street.raw_load(&db);
        (docs, bytes) = (d, b);
        let (r, opened) = street.open(&db);
        let (report, first) = street_rollup::rollup(&r, street.today);
        drop(r);
        eprintln!(
            "street_rollup run {run}: {} households; open {:.3} s, first rollup {:.3} s, raw load {:.3} s",
            report.tree.figures.households,
            opened.as_secs_f64(),
            first.as_secs_f64(),
            floor.as_secs_f64()
        );
        now.push(first.as_secs_f64());
        floors.push(floor.as_secs_f64());
        opens.push(opened.as_secs_f64());
    }
    let (n, now_s) = secs(now, 3);
    let (f, floor_s) = secs(floors, 3);
    let (_, open_s) = secs(opens, 3);
    rows.push(Row {
        what: "coordinator's first full street rollup, demo street (7 communities × 3,000 households), in process".into(),
        now: format!("{now_s}; the replicas' open before it {open_s}"),
        floor: format!(
            "Automerge load of the {docs} documents it reads ({:.1} MiB): {floor_s}",
            bytes as f64 / 1048576.0
        ),
        ratio: format!("{:.1}×", n / f),
        goal: "≤ 1 s",
    });
}

/// `catchup`: a node reconnecting after a day offline (3,000 visits, one
/// change each) to converged with the coordinator, over gRPC and mutual
/// TLS, beside Automerge's sync protocol bringing the coordinator's copy
/// of the day up to the node's in process.
pub async fn catchup_rows(rows: &mut Vec<Row>) {
    let (mut now, mut floors) = (Vec::new(), Vec::new());
    let (mut wire, mut floor_bytes) = (0, 0);
    for run in 0..repeat() {
        let r = catchup::run(HOUSEHOLDS).await;
        eprintln!(
            "catchup run {run}: {} visits, converged in {:.3} s; floor {:.3} s",
            r.visits,
            r.catch_up.as_secs_f64(),
            r.floor.as_secs_f64()
        );
        now.push(r.catch_up.as_secs_f64());
        floors.push(r.floor.as_secs_f64());
        wire = r.status.bytes_sent + r.status.bytes_received;
        floor_bytes = r.floor_bytes;
    }
    let (n, now_s) = secs(now, 3);
    let (f, floor_s) = secs(floors, 3);
    rows.push(Row {
        what: format!(
            "catch-up of a day offline ({} visits) to converged, gRPC + mTLS, in process",
            crate::table::thousands(HOUSEHOLDS)
        ),
        now: format!("{now_s}; {:.1} MiB on the wire", wire as f64 / 1048576.0),
        floor: format!(
            "Automerge sync of the same changes in process: {floor_s}; {:.1} MiB of messages",
            floor_bytes as f64 / 1048576.0
        ),
        ratio: format!("{:.1}×", n / f),
        goal: "≤ 0.3 s",
    });
}

/// Every household of `community` in the seeded store `db` with its
/// residents' ids, read without opening an office.
fn households_of(db: &std::path::Path, community: &CommunityId) -> Vec<(String, Vec<String>)> {
    let ids = [
        DocId::Registry(community.clone()),
        DocId::Cases(community.clone()),
    ];
    let (docs, _) = load::stored_bytes(db, &ids);
    let (loaded, _) = load::raw_load(&docs);
    community::households_in(&CommunityView::read(&loaded[0], &loaded[1]))
}

/// The `rollup` row's runs on the demo street (6 communities and 1
/// village, 3,000 households each): the built coordinator on the seeded
/// coordinator store and seven built nodes on theirs, over mutual TLS;
/// once every node is in sync and the first full rollup is computed (the
/// `street_rollup` row's measure), the edits at the first community's node
/// timed to the rollup, and the quiet reads. A fresh seeded street a run.
pub async fn demo_street_runs(bins: &std::path::Path) -> Vec<(Vec<Duration>, Vec<Duration>)> {
    let mut runs = Vec::new();
    for run in 0..repeat() {
        let street = street_rollup::seed(HOUSEHOLDS);
        let root = street.dir.path();
        let seeded = &street.seeded;
        let ids: Vec<String> = seeded
            .communities
            .iter()
            .map(|c| c.id.to_string())
            .collect();
        let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let pki = Pki::new();
        let certs = procs::Certs::write(&pki, &root.join("certs"), &id_refs);
        let first = &seeded.communities[0].id;
        let households = households_of(
            &root
                .join("nodes")
                .join(first.as_str())
                .join("data")
                .join(gridsync_testkit::demo_street::NODE_DB_FILE),
            first,
        );
        let t = Instant::now();
        let coord = procs::coordinator_of(
            bins,
            &root.join("coordinator"),
            &certs,
            procs::NOFILE,
            &[],
            &seeded.street_id,
        );
        let mut op: crate::Operator = operator_client(
            coord.addr,
            &pki.client(&Principal::Operator("bench".into())),
        )
        .await;
        let mut nodes = Vec::new();
        for c in &seeded.communities {
            let kind = match c.kind {
                CommunityKind::Community => "community",
                CommunityKind::Village => "village",
            };
            nodes.push(procs::node_of(
                bins,
                &root.join("nodes").join(c.id.as_str()),
                &certs,
                c.id.as_str(),
                coord.addr,
                &seeded.secret_hex,
                &["--community-name", &c.name, "--community-kind", kind],
            ));
        }
        for n in &nodes {
            let mut office = gridsync_testkit::connect(n.addr).await;
            until_synced(
                &mut office,
                "a demo node's first sync",
                Duration::from_secs(300),
            )
            .await;
        }
        let started = t.elapsed();
        let t = Instant::now();
        crate::read_rollup(&mut op).await;
        eprintln!(
            "rollup run {run} (demo street): {} processes up and in sync in {:.1} s, first rollup read {:.2} s",
            nodes.len() + 1,
            started.as_secs_f64(),
            t.elapsed().as_secs_f64()
        );
        let mut office = gridsync_testkit::connect(nodes[0].addr).await;
        runs.push(crate::edits_to_rollup(&mut office, &mut op, first.as_str(), &households).await);
    }
    runs
}
