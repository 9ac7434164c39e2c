//! Seed 3293 (partition suite at 24910e8), reduced to Automerge alone: no
//! network, plain `AutoCommit` + `sync::State` (automerge 0.12).
//!
//! What the coordinator did there:
//!
//! 1. the node (`n`) sends changes X then Y (Y depends on X). The
//!    coordinator's `have` Bloom filter gives a false positive for X, so
//!    `n` sends only Y. The coordinator (`c`) cannot apply Y yet, so Automerge
//!    *queues* it (in memory only: `save()` does not include it; the heads do
//!    not move);
//! 2. `c` asks for X (`need`); before X arrives, `c`'s document is dropped
//!    from memory and loaded again from the store (at 24910e8 the
//!    simulation's observer does this: `StreetReplicas::doc_copy` calls
//!    `unload_if_saved`, which unloads a document whose heads are saved,
//!    even one a live sync session is using). The queue (Y) is gone; the
//!    session's sync states are not;
//! 3. X arrives and applies. `c` now needs Y; `n` has Y in `sent_hashes`
//!    and filters it out even though it is asked for by `need`. Every
//!    message is answered (`in_flight` is cleared on each receipt), so the
//!    two sides exchange empty messages forever: a livelock, frames flowing
//!    both ways, heads different, until the session ends.
//!
//! A new `sync::State` on the sending side (a new session) sends Y again
//! and ends it; so does the fix `SyncSession::receive` applies to every
//! message ([`forget_needed`]: a hash the peer needs is no longer counted
//! as sent), within the session. The trigger at 24910e8 is gone from main
//! (the observer unloads only what it loaded, and `unload_if_saved` keeps
//! a document holding queued changes), but a reload after a failed commit
//! or a panic still drops a queue.

use automerge::sync::{self, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ChangeHash, ROOT, ReadDoc, SaveOptions};
use gridsync_core::sync::forget_needed;

/// What unloading a document and loading it again from the store gives:
/// the store holds what `save_after` wrote (applied changes only, never
/// Automerge's queue of changes waiting for their dependencies).
fn reload_from_store(c: &mut AutoCommit) -> AutoCommit {
    let bytes = c.save_with_options(SaveOptions {
        deflate: true,
        retain_orphans: false,
    });
    AutoCommit::load(&bytes).unwrap().with_actor(actor(2))
}

fn actor(b: u8) -> ActorId {
    ActorId::from(vec![b; 16])
}

/// One message from `from` to `to`, if `from` has one. Returns whether a
/// message went.
fn send(
    from: &mut AutoCommit,
    fs: &mut sync::State,
    to: &mut AutoCommit,
    ts: &mut sync::State,
) -> bool {
    match from.sync().generate_sync_message(fs) {
        Some(m) => {
            // Through the wire format, as the session does.
            let m = sync::Message::decode(&m.encode()).unwrap();
            to.sync().receive_sync_message(ts, m).unwrap();
            true
        }
        None => false,
    }
}

/// Runs the exchange until neither side has anything to say, at most
/// `rounds` rounds; returns the messages sent.
fn exchange(
    a: &mut AutoCommit,
    sa: &mut sync::State,
    b: &mut AutoCommit,
    sb: &mut sync::State,
    rounds: usize,
) -> usize {
    let mut n = 0;
    for _ in 0..rounds {
        let x = send(a, sa, b, sb);
        let y = send(b, sb, a, sa);
        n += x as usize + y as usize;
        if !x && !y {
            break;
        }
    }
    n
}

/// The changes in an encoded sync message.
fn changes_in(m: &sync::Message) -> Vec<ChangeHash> {
    m.changes
        .iter()
        .filter_map(|c| automerge::Change::from_bytes(c.to_vec()).ok())
        .map(|c| c.hash())
        .collect()
}

struct Setup {
    n: AutoCommit,
    sn: sync::State,
    c: AutoCommit,
    sc: sync::State,
    x: ChangeHash,
    y: ChangeHash,
}

/// Builds the state after step 1: `c` holds Y queued, X was left out of
/// `n`'s message because `c`'s filter claims it. Tries contents for X until
/// the filter gives that false positive (well under 1% of tries).
fn queued_at_coordinator() -> Setup {
    for attempt in 0..200_000u32 {
        // A shared past of a few changes (so X and Y are far from a third of
        // the document: Automerge sends changes, not the whole document).
        let mut n = AutoCommit::new().with_actor(actor(1));
        for i in 0..12 {
            n.put(ROOT, format!("base{i}"), i as i64).unwrap();
            n.commit();
        }
        let mut c = AutoCommit::load(&n.save()).unwrap().with_actor(actor(2));
        let (mut sn, mut sc) = (sync::State::new(), sync::State::new());
        exchange(&mut n, &mut sn, &mut c, &mut sc, 10);
        assert_eq!(n.get_heads(), c.get_heads());
        // Concurrent work: a ticket dispatched at the coordinator, and X then
        // Y at the node.
        c.put(ROOT, "ticket", "dispatched").unwrap();
        c.commit();
        n.put(ROOT, "x", attempt as i64).unwrap();
        let x = n.commit().unwrap();
        n.put(ROOT, "y", "after x").unwrap();
        let y = n.commit().unwrap();

        // c speaks first (its heads and a summary of what it has).
        let m1 = c.sync().generate_sync_message(&mut sc).unwrap();
        n.sync().receive_sync_message(&mut sn, m1).unwrap();
        let m2 = n.sync().generate_sync_message(&mut sn).unwrap();
        let sent = changes_in(&m2);
        if sent != vec![y] {
            continue; // no false positive on X this time
        }
        c.sync().receive_sync_message(&mut sc, m2).unwrap();
        return Setup { n, sn, c, sc, x, y };
    }
    panic!("no Bloom false positive found for X");
}

#[test]
fn a_false_positive_alone_is_repaired_by_need() {
    let Setup {
        mut n,
        mut sn,
        mut c,
        mut sc,
        x,
        y,
    } = queued_at_coordinator();
    assert!(!c.get_missing_deps(&[]).is_empty(), "Y is queued at c");
    assert!(c.get_change_by_hash(&y).is_none() && c.get_change_by_hash(&x).is_none());
    let msgs = exchange(&mut c, &mut sc, &mut n, &mut sn, 20);
    assert_eq!(
        c.get_heads(),
        n.get_heads(),
        "converged after {msgs} messages"
    );
}

#[test]
fn a_queue_lost_mid_session_livelocks_until_the_sync_state_is_restarted() {
    let Setup {
        mut n,
        mut sn,
        mut c,
        mut sc,
        x,
        y,
    } = queued_at_coordinator();
    assert!(!c.get_missing_deps(&[]).is_empty(), "Y is queued at c");
    // c asks for X...
    let m3 = c.sync().generate_sync_message(&mut sc).unwrap();
    assert!(m3.need.contains(&x), "c needs X: {:?}", m3.need);
    // ...and, before X arrives, c's document is unloaded and loaded again
    // from what was saved (the heads are saved, so nothing applied is lost;
    // the queue is).
    c = reload_from_store(&mut c);
    assert!(c.get_missing_deps(&[]).is_empty(), "the queue is gone");
    n.sync().receive_sync_message(&mut sn, m3).unwrap();

    // The session goes on: X arrives, then the two sides keep talking.
    let before = sn.sent_hashes.clone();
    assert!(before.contains(&y), "n recorded Y as sent");
    let mut msgs = 0;
    for _ in 0..500 {
        msgs += send(&mut n, &mut sn, &mut c, &mut sc) as usize;
        msgs += send(&mut c, &mut sc, &mut n, &mut sn) as usize;
    }
    assert!(c.get_change_by_hash(&x).is_some(), "X did arrive");
    assert!(c.get_change_by_hash(&y).is_none(), "Y never does");
    assert_ne!(c.get_heads(), n.get_heads());
    assert_eq!(c.get_heads().len(), 2, "c: the ticket and X");
    assert_eq!(n.get_heads().len(), 2, "n: the ticket and Y");
    // Not a quiet stall: every message is answered (a livelock).
    assert_eq!(msgs, 1000, "both sides sent a message every round");
    // c keeps asking for Y (it knows Y from n's heads) ...
    assert!(sc.their_heads.as_ref().unwrap().contains(&y));
    // ... and n keeps leaving it out: Y is in its sent_hashes.
    assert!(sn.sent_hashes.contains(&y));

    // A fresh state on the node's side (a new session, or main's
    // restart_doc) sends Y again.
    let mut sn = sync::State::new();
    let mut sc = sync::State::new();
    let m = exchange(&mut n, &mut sn, &mut c, &mut sc, 20);
    assert_eq!(c.get_heads(), n.get_heads(), "converged after {m} messages");
}

#[test]
fn restarting_only_the_side_that_lost_its_queue_is_not_enough() {
    let Setup {
        mut n,
        mut sn,
        mut c,
        mut sc,
        x: _,
        y,
    } = queued_at_coordinator();
    let m3 = c.sync().generate_sync_message(&mut sc).unwrap();
    c = reload_from_store(&mut c);
    n.sync().receive_sync_message(&mut sn, m3).unwrap();
    for _ in 0..20 {
        send(&mut n, &mut sn, &mut c, &mut sc);
        send(&mut c, &mut sc, &mut n, &mut sn);
    }
    assert!(c.get_change_by_hash(&y).is_none());
    // Only the coordinator's state started over: the node still filters Y
    // by its sent_hashes (a fresh state on c states c's real heads, which do
    // not make n forget what it sent).
    let mut sc = sync::State::new();
    for _ in 0..50 {
        send(&mut c, &mut sc, &mut n, &mut sn);
        send(&mut n, &mut sn, &mut c, &mut sc);
    }
    assert!(
        c.get_change_by_hash(&y).is_none(),
        "a restart on the side that lost the queue does not bring Y back"
    );
}

/// A message received as `SyncSession::receive` receives it: applied,
/// then what the peer needs forgotten as sent
/// ([`gridsync_core::sync::forget_needed`]).
fn receive_as_the_session_does(doc: &mut AutoCommit, st: &mut sync::State, m: sync::Message) {
    doc.sync().receive_sync_message(st, m).unwrap();
    forget_needed(st);
}

#[test]
fn forgetting_needed_hashes_on_receipt_ends_the_livelock() {
    let Setup {
        mut n,
        mut sn,
        mut c,
        mut sc,
        x: _,
        y,
    } = queued_at_coordinator();
    let m3 = c.sync().generate_sync_message(&mut sc).unwrap();
    c = reload_from_store(&mut c);
    receive_as_the_session_does(&mut n, &mut sn, m3);
    let mut rounds = 0;
    while c.get_heads() != n.get_heads() && rounds < 20 {
        if let Some(m) = n.sync().generate_sync_message(&mut sn) {
            receive_as_the_session_does(&mut c, &mut sc, m);
        }
        if let Some(m) = c.sync().generate_sync_message(&mut sc) {
            receive_as_the_session_does(&mut n, &mut sn, m);
        }
        rounds += 1;
    }
    assert!(c.get_change_by_hash(&y).is_some());
    assert_eq!(c.get_heads(), n.get_heads(), "converged in {rounds} rounds");
}
