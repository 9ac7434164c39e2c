//! Benchmark: a node catching up after a day of screening offline.
//! Prints a table; asserts nothing about time (timings are not tests).
//!
//!     cargo bench -p gridsync-tests --bench catchup [-- HOUSEHOLDS]
//!
//! A coordinator and a node run in this process over real gRPC with mutual
//! TLS on loopback, each with its own SQLite store. The node's community
//! (3,000 households from the demo roster) is synced once; then the node
//! goes offline, records one screening visit per household (one change
//! each, like a day of door-to-door work), and reconnects. Measured: the
//! wire bytes and frames of the catch-up, its time, and the size of the same
//! changes as Automerge saves them (`save_after` the day's genesis).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use gridsync_core::replica::load_doc;
use gridsync_core::sync::FrameLimits;
use gridsync_core::*;
use gridsync_testkit::demo_roster;
use gridsync_testkit::now_ms;
use gridsync_testkit::street::*;

fn row(k: &str, v: String) {
    println!("{k:<58} {v}");
}

async fn until_converged(node: &TestNode, coord: &TestCoordinator) -> Duration {
    let t = Instant::now();
    while !converged(node, coord).await {
        assert!(t.elapsed() < Duration::from_secs(600), "did not converge");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    t.elapsed()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let households: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(3000);
    let pki = Pki::new();
    let cdir = tempfile::tempdir().unwrap();
    let ndir = tempfile::tempdir().unwrap();
    let limits = FrameLimits::default();
    let coord = TestCoordinator::start(cdir.path(), &pki, 0, limits).await;
    register(&mut coord.operator(&pki).await, &["c01"]).await;
    let auth = pki.node("c01");
    let link = test_link_config(coord.addr, &auth, limits);
    println!("gridsync catch-up benchmark: {households} households\n");

    // 1. The community, built offline, then its first sync.
    let rows = demo_roster::community_roster(20261129, households);
    let raw: Vec<(u64, Vec<(&'static str, String)>)> =
        rows.iter().map(|r| (r.line, r.raw_fields())).collect();
    let node = TestNode::start(ndir.path(), "c01", None).await;
    node.run(move |o| {
        for chunk in raw.chunks(500) {
            let rep = o.import(chunk, now_ms()).expect("import");
            assert!(rep.errors.is_empty(), "{:?}", &rep.errors[..1]);
        }
    })
    .await;
    node.stop().await;
    let node = TestNode::start(ndir.path(), "c01", Some(link.clone())).await;
    let first = until_converged(&node, &coord).await;
    let st = node.link_status();
    row(
        "first sync of the community: time",
        format!("{:.2} s", first.as_secs_f64()),
    );
    row(
        "first sync: bytes node→coordinator / coordinator→node",
        format!("{} / {}", st.bytes_sent, st.bytes_received),
    );
    row(
        "first sync: frames node→coordinator / coordinator→node",
        format!("{} / {}", st.frames_sent, st.frames_received),
    );
    node.stop().await;

    // 2. A day of screening offline: one visit per household, one change each.
    let offline = TestNode::start(ndir.path(), "c01", None).await;
    let (visits, took, day) = offline
        .run(|o| {
            let v = o.view();
            let mut work: Vec<(String, BTreeMap<String, ScreeningEntry>)> = Vec::new();
            let mut by_household: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            for r in v.residents.values() {
                by_household.entry(&r.household_id).or_default().push(&r.id);
            }
            for h in v.households.keys() {
                let residents = by_household
                    .get(h.as_str())
                    .map(|rs| {
                        rs.iter()
                            .map(|r| {
                                (
                                    r.to_string(),
                                    ScreeningEntry {
                                        status: ScreeningStatus::Present,
                                        returned_from: None,
                                        returned_on: None,
                                    },
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                work.push((h.clone(), residents));
            }
            let t = Instant::now();
            let now = now_ms();
            for (h, residents) in &work {
                o.create(
                    Record::ScreeningVisit(ScreeningVisit {
                        id: String::new(),
                        household_id: h.clone(),
                        visited_at_ms: now,
                        visitor: "网格员 grid worker".into(),
                        residents: residents.clone(),
                        notes: None,
                    }),
                    now,
                )
                .expect("screening visit");
            }
            (work.len(), t.elapsed(), o.today(now))
        })
        .await;
    let day_id = DocId::Activity(CommunityId::parse("c01").unwrap(), day);
    let id2 = day_id.clone();
    let (save_after, save_whole) = offline
        .run(move |o| {
            let s = o
                .store()
                .load_doc(&id2)
                .expect("load")
                .expect("the day is stored");
            let mut doc = load_doc(
                s.snapshot.as_deref(),
                s.chunks.iter().map(Vec::as_slice),
                &id2,
            )
            .expect("the day loads");
            let mut genesis = docs::genesis(&id2, automerge::ActorId::random());
            let g = genesis.get_heads();
            (doc.save_after(&g).len(), doc.save().len())
        })
        .await;
    offline.stop().await;
    row(
        "offline day: screening visits recorded (one change each)",
        format!("{visits} in {:.2} s", took.as_secs_f64()),
    );
    row(
        "the day's changes as Automerge saves them: save_after / save",
        format!("{save_after} / {save_whole} bytes"),
    );

    // 3. Reconnect and catch up.
    let node = TestNode::start(ndir.path(), "c01", Some(link)).await;
    let t = Instant::now();
    let catch_up = until_converged(&node, &coord).await;
    let st = node.link_status();
    row(
        "catch-up after the offline day: time to converge",
        format!("{:.3} s", catch_up.as_secs_f64()),
    );
    row(
        "catch-up: wire bytes node→coordinator / coordinator→node",
        format!("{} / {}", st.bytes_sent, st.bytes_received),
    );
    row(
        "catch-up: wire bytes ÷ save_after",
        format!(
            "{:.2}",
            (st.bytes_sent + st.bytes_received) as f64 / save_after as f64
        ),
    );
    row(
        "catch-up: frames node→coordinator / coordinator→node",
        format!(
            "{} / {}",
            st.session_frames_sent, st.session_frames_received
        ),
    );
    for (doc, d) in &st.docs {
        if d.session_frames_sent + d.session_frames_received > 0 {
            row(
                &format!("catch-up: frames out / in for {doc}"),
                format!("{} / {}", d.session_frames_sent, d.session_frames_received),
            );
        }
    }
    let _ = t;
    node.stop().await;
    coord.stop().await;
}
