//! A node restarted on the same store has everything it acknowledged,
//! across registry compactions, twice over.

use gridsync_core::Kind;
use gridsync_proto::office::v1 as pb;
use gridsync_testkit::*;

use crate::common::*;

async fn snapshot(c: &mut Client, t: &Times) -> Vec<(String, Vec<pb::Record>)> {
    let mut out = Vec::new();
    for &kind in Kind::ALL {
        let day = if kind.doc_class() == gridsync_core::DocClass::Activity {
            t.today()
        } else {
            String::new()
        };
        out.push((s(kind.name()), list_all(c, kind.name(), &day, 0).await));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_has_everything_it_acknowledged() {
    let (dir, node, mut c, t) = fixture_node().await;
    for (i, &kind) in Kind::ALL.iter().enumerate() {
        create(&mut c, good(kind, 100 + i as u32, &t)).await;
    }
    // Enough writes to compact the registry several times over.
    for n in 0..30 {
        let hh = create(&mut c, good(Kind::Household, 200 + n, &t)).await;
        if n % 3 == 0 {
            let (update, _) = changed(&hh, &t);
            try_update(&mut c, update).await.expect("update");
        }
    }
    let removed = create(&mut c, good(Kind::Compound, 300, &t)).await;
    try_remove(&mut c, "compound", id_of(&removed))
        .await
        .expect("remove");

    let records = snapshot(&mut c, &t).await;
    assert!(records.iter().all(|(_, r)| !r.is_empty()));
    let state = store_state(&mut c).await;
    let tree = c
        .get_tree(pb::GetTreeRequest {})
        .await
        .expect("tree")
        .into_inner();
    let status = c
        .get_status(pb::GetStatusRequest {})
        .await
        .expect("status")
        .into_inner();
    let registry = status
        .docs
        .iter()
        .find(|d| d.doc_id == format!("registry/{COMMUNITY}"))
        .expect("the registry in the status");
    assert!(
        registry.snapshot_bytes > 0 && registry.chunk_count < COMPACT_AFTER_CHUNKS,
        "the registry was never compacted: {registry:?}"
    );

    // Stop, start on the same store, compare; twice, so that the second
    // start reads what the first one wrote (including the write below).
    node.stop().await;
    let mut expect_records = records;
    let mut expect_state = state;
    let mut expect_tree = tree;
    for round in 0..2 {
        let again = InProcessNode::start(dir.path()).await;
        let mut c = again.client().await;
        assert_eq!(
            snapshot(&mut c, &t).await,
            expect_records,
            "round {round}: the records after a restart"
        );
        let now = store_state(&mut c).await;
        for prefix in ["registry/", "cases/"] {
            assert_eq!(
                now.heads_of(prefix),
                expect_state.heads_of(prefix),
                "round {round}: the heads of {prefix} after a restart"
            );
        }
        assert_eq!(now.counts, expect_state.counts, "round {round}: counts");
        let tree = c
            .get_tree(pb::GetTreeRequest {})
            .await
            .expect("tree")
            .into_inner();
        assert_eq!(tree, expect_tree, "round {round}: the tree after a restart");
        assert_eq!(get(&mut c, "compound", id_of(&removed)).await, None);
        // It still takes writes, and they count.
        let after = create(&mut c, good(Kind::Compound, 301 + round, &t)).await;
        assert_eq!(
            get(&mut c, "compound", id_of(&after)).await.as_ref(),
            Some(&after)
        );
        expect_records = snapshot(&mut c, &t).await;
        expect_state = store_state(&mut c).await;
        expect_tree = c
            .get_tree(pb::GetTreeRequest {})
            .await
            .expect("tree")
            .into_inner();
        again.stop().await;
    }
}
