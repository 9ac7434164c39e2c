//! A node catching up after a day of screening offline, and its floor; what
//! the `catchup` bench prints and the `floor` bench's `catchup` row.
//!
//! A coordinator and a node run in this process over real gRPC with mutual
//! TLS on loopback, each with its own SQLite store. The node's community
//! (the demo roster) is synced once; then the node goes offline, records
//! one screening visit per household (one change each, like a day of
//! door-to-door work), and reconnects. Measured: the wire bytes and frames
//! of the catch-up, its time, the size of the same changes as Automerge
//! saves them (`save_after` the day's genesis), and the floor: the same
//! changes synced in process by Automerge's sync protocol alone (the day's
//! document at the node against the copy the coordinator had, messages
//! encoded and decoded, no store, no gRPC).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use automerge::sync::{Message, State, SyncDoc};
use automerge::{Automerge, ChangeHash};
use gridsync_core::replica::load_doc;
use gridsync_core::sync::FrameLimits;
use gridsync_core::*;
use gridsync_node::link::LinkStatus;
use gridsync_testkit::now_ms;
use gridsync_testkit::street::*;

async fn until_converged(node: &TestNode, coord: &TestCoordinator) -> Duration {
    let t = Instant::now();
    while !converged(node, coord).await {
        assert!(t.elapsed() < Duration::from_secs(600), "did not converge");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    t.elapsed()
}

/// What one catch-up run measured.
pub struct CatchUp {
    /// The community's first sync: its time and the link's counters.
    pub first_sync: Duration,
    pub first: LinkStatus,
    /// The offline day: visits recorded, and how long that took.
    pub visits: usize,
    pub visits_took: Duration,
    /// The day's changes as Automerge saves them: `save_after` the
    /// genesis, and the whole document.
    pub save_after: usize,
    pub save_whole: usize,
    /// Reconnect to converged, and the link's counters.
    pub catch_up: Duration,
    pub status: LinkStatus,
    /// The floor: the same changes synced in process, and the bytes of its
    /// messages.
    pub floor: Duration,
    pub floor_bytes: usize,
}

/// Automerge's sync protocol between `full` and `behind` in process, every
/// message encoded and decoded, until neither has anything to send: the
/// time and the bytes sent.
pub fn sync_in_process(full: &mut Automerge, behind: &mut Automerge) -> (Duration, usize) {
    let (mut sa, mut sb) = (State::new(), State::new());
    let mut bytes = 0;
    let started = Instant::now();
    loop {
        let mut moved = false;
        if let Some(m) = full.generate_sync_message(&mut sa) {
            let wire = m.encode();
            bytes += wire.len();
            let m = Message::decode(&wire).expect("a sync message");
            behind
                .receive_sync_message(&mut sb, m)
                .expect("the message applies");
            moved = true;
        }
        if let Some(m) = behind.generate_sync_message(&mut sb) {
            let wire = m.encode();
            bytes += wire.len();
            let m = Message::decode(&wire).expect("a sync message");
            full.receive_sync_message(&mut sa, m)
                .expect("the message applies");
            moved = true;
        }
        if !moved {
            break;
        }
    }
    let took = started.elapsed();
    assert_eq!(
        full.get_heads(),
        behind.get_heads(),
        "the floor's sync converged"
    );
    (took, bytes)
}

/// The residents of every household, each present: a day's visits.
fn day_of_work(
    o: &gridsync_node::office::Office,
) -> Vec<(String, BTreeMap<String, ScreeningEntry>)> {
    let v = o.view();
    let mut by_household: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for r in v.residents.values() {
        by_household.entry(&r.household_id).or_default().push(&r.id);
    }
    v.households
        .keys()
        .map(|h| {
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
            (h.clone(), residents)
        })
        .collect()
}

/// The heads of the stored document `id` at the node (none if not stored).
fn stored_heads(o: &gridsync_node::office::Office, id: &DocId) -> Vec<ChangeHash> {
    o.store()
        .read_doc(id)
        .expect("read")
        .map(|mut d| d.get_heads())
        .unwrap_or_default()
}

/// One run on a community of `households` households of the demo roster.
pub async fn run(households: usize) -> CatchUp {
    let pki = Pki::new();
    let cdir = tempfile::tempdir().unwrap();
    let ndir = tempfile::tempdir().unwrap();
    let limits = FrameLimits::default();
    let coord = TestCoordinator::start(cdir.path(), &pki, 0, limits).await;
    register(&mut coord.operator(&pki).await, &["c01"]).await;
    let auth = pki.node("c01");
    let link = test_link_config(coord.addr, &auth, limits);

    // 1. The community, built offline, then its first sync.
    let rows = gridsync_testkit::demo_roster::community_roster(20261129, households);
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
    let first_sync = until_converged(&node, &coord).await;
    let first = node.link_status();
    node.stop().await;

    // 2. A day of screening offline: one visit per household, one change each.
    let offline = TestNode::start(ndir.path(), "c01", None).await;
    let (visits, visits_took, day, before) = offline
        .run(|o| {
            let work = day_of_work(o);
            let now = now_ms();
            let day = o.today(now);
            let before = stored_heads(o, &DocId::Activity(CommunityId::parse("c01").unwrap(), day));
            let t = Instant::now();
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
            (work.len(), t.elapsed(), day, before)
        })
        .await;
    let day_id = DocId::Activity(CommunityId::parse("c01").unwrap(), day);
    let (save_after, save_whole, floor, floor_bytes) = offline
        .run(move |o| {
            let s = o
                .store()
                .load_doc(&day_id)
                .expect("load")
                .expect("the day is stored");
            let mut doc = load_doc(
                s.snapshot.as_deref(),
                s.chunks.iter().map(Vec::as_slice),
                &day_id,
            )
            .expect("the day loads");
            let mut genesis = docs::genesis(&day_id, automerge::ActorId::random());
            let g = genesis.get_heads();
            let (after, whole) = (doc.save_after(&g).len(), doc.save().len());
            // The floor: what the coordinator held of the day (the heads
            // stored before the visits) brought up to the node's day.
            let mut full = doc.document().clone();
            let mut behind = if before.is_empty() {
                Automerge::new()
            } else {
                full.fork_at(&before).expect("the day before the visits")
            };
            let (floor, bytes) = sync_in_process(&mut full, &mut behind);
            (after, whole, floor, bytes)
        })
        .await;
    offline.stop().await;

    // 3. Reconnect and catch up.
    let node = TestNode::start(ndir.path(), "c01", Some(link)).await;
    let catch_up = until_converged(&node, &coord).await;
    let status = node.link_status();
    node.stop().await;
    coord.stop().await;
    CatchUp {
        first_sync,
        first,
        visits,
        visits_took,
        save_after,
        save_whole,
        catch_up,
        status,
        floor,
        floor_bytes,
    }
}
