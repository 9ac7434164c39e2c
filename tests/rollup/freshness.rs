//! Rollups never go back: across coordinator restarts and a restore from
//! an older backup what was served is served again, marked held; a
//! community that cannot be computed is marked and the street goes on.

use gridsync_core::sync::FrameLimits;
use gridsync_testkit::street::*;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rollups_never_go_back_across_restarts_even_from_an_older_backup() {
    let pki = Pki::new();
    let (cdir, d1) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let coord = TestCoordinator::start(cdir.path(), &pki, 0, FrameLimits::default()).await;
    let port = coord.addr.port();
    let mut op = coord.operator(&pki).await;
    register(&mut op, &["c01"]).await;
    let link = test_link_config(coord.addr, &pki.node("c01"), FrameLimits::default());
    let node = TestNode::start(d1.path(), "c01", Some(link.clone())).await;
    populate(&node, "A", 3).await;
    assert!(eventually(WITHIN, || converged(&node, &coord)).await);
    let r1 = street_rollup(&mut op).await;
    assert_eq!(figures(community(&r1, "c01")).households, 3);
    node.stop().await;
    coord.stop().await;

    // A backup of the store with 3 households.
    let db = cdir.path().join("gridsync-coordinator.sqlite3");
    let backup = cdir.path().join("backup.sqlite3");
    std::fs::copy(&db, &backup).expect("backup");

    // Two more households reach the coordinator and are served.
    let coord = TestCoordinator::start(cdir.path(), &pki, port, FrameLimits::default()).await;
    let mut op = coord.operator(&pki).await;
    let node = TestNode::start(d1.path(), "c01", Some(link.clone())).await;
    populate(&node, "B", 2).await;
    assert!(eventually(WITHIN, || converged(&node, &coord)).await);
    let r2 = street_rollup(&mut op).await;
    assert_eq!(figures(community(&r2, "c01")).households, 5);
    node.stop().await;
    coord.stop().await;

    // A plain restart serves the same state, not held.
    let coord = TestCoordinator::start(cdir.path(), &pki, port, FrameLimits::default()).await;
    let mut op = coord.operator(&pki).await;
    let r3 = street_rollup(&mut op).await;
    assert_eq!(figures(community(&r3, "c01")).households, 5);
    assert_eq!(stamp(&r3, "c01").heads, stamp(&r2, "c01").heads);
    assert!(!stamp(&r3, "c01").held);
    coord.stop().await;

    // Restored from the older backup: what was served is served again,
    // marked held, never the older figures.
    for suffix in ["", "-wal", "-shm"] {
        let p = std::path::PathBuf::from(format!("{}{suffix}", db.display()));
        if suffix.is_empty() {
            std::fs::copy(&backup, &p).expect("restore");
        } else {
            let _ = std::fs::remove_file(&p);
        }
    }
    let coord = TestCoordinator::start(cdir.path(), &pki, port, FrameLimits::default()).await;
    let mut op = coord.operator(&pki).await;
    let r4 = street_rollup(&mut op).await;
    let s4 = stamp(&r4, "c01");
    assert!(
        s4.held,
        "a replica behind what was served must be held: {s4:?}"
    );
    assert_eq!(
        figures(community(&r4, "c01")).households,
        5,
        "never back to 3"
    );
    assert_eq!(s4.heads, stamp(&r2, "c01").heads);
    assert_additive(r4.tree.as_ref().unwrap());

    // The node syncs what the backup lacked; the hold ends.
    let node = TestNode::start(d1.path(), "c01", Some(link)).await;
    assert!(eventually(WITHIN, || converged(&node, &coord)).await);
    let r5 = street_rollup(&mut op).await;
    assert!(!stamp(&r5, "c01").held);
    assert_eq!(figures(community(&r5, "c01")).households, 5);
    node.stop().await;
    coord.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_community_that_cannot_be_computed_is_marked_and_the_street_goes_on() {
    let pki = Pki::new();
    let (cdir, d1) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let coord = TestCoordinator::start(cdir.path(), &pki, 0, FrameLimits::default()).await;
    let port = coord.addr.port();
    let mut op = coord.operator(&pki).await;
    register(&mut op, &["c01", "c02"]).await;
    let node = TestNode::start(
        d1.path(),
        "c01",
        Some(test_link_config(
            coord.addr,
            &pki.node("c01"),
            FrameLimits::default(),
        )),
    )
    .await;
    populate(&node, "A", 3).await;
    assert!(eventually(WITHIN, || converged(&node, &coord)).await);
    let before = street_rollup(&mut op).await;
    node.stop().await;
    coord.stop().await;

    // The record of what was served for c01 is damaged.
    let served = cdir.path().join("rollup-served").join("c01");
    let files: Vec<_> = std::fs::read_dir(&served)
        .expect("c01's served records")
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!files.is_empty());
    for f in &files {
        std::fs::write(f, b"{damaged").unwrap();
    }
    let coord = TestCoordinator::start(cdir.path(), &pki, port, FrameLimits::default()).await;
    let mut op = coord.operator(&pki).await;
    let r = street_rollup(&mut op).await;
    let s = stamp(&r, "c01");
    assert!(s.unavailable.contains("not a record"), "{s:?}");
    assert!(stamp(&r, "c02").unavailable.is_empty());
    assert_eq!(community(&r, "c02"), community(&before, "c02"));
    assert_additive(r.tree.as_ref().unwrap());
    // Nothing stored was changed by it.
    for f in &files {
        assert_eq!(std::fs::read(f).unwrap(), b"{damaged");
    }
    coord.stop().await;
}
