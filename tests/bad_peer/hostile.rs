//! Hostile peers with valid certificates and small, crafted messages
//! (`gridsync_testkit::hostile`): op bombs of 2M, 8M and 33M operations
//! through a node's own document and through the read-only street
//! document, an inflate bomb, a flood of summaries, a corrupt change, a
//! Hello listing thousands of documents, and a message whose last part
//! never comes. Each is refused before it is applied, with a status naming
//! the limit, nothing stored changes, the coordinator's memory does not
//! grow past a stated bound, and another community keeps syncing.
//!
//! The coordinator runs in this process, so its memory is this process's:
//! the peak resident set (VmHWM) may grow by at most [`MEMORY_BOUND_MIB`]
//! over all the attacks of a test (an op bomb of 33M operations, applied,
//! asked Automerge for 12 GB at once).

use std::time::Duration;

use gridsync_core::DocId;
use gridsync_core::sync::FrameLimits;
use gridsync_testkit::hostile;
use gridsync_testkit::street::*;
use tonic::Code;

use crate::common::*;

/// How far the peak resident set may grow over a test's attacks, MiB.
const MEMORY_BOUND_MIB: f64 = 48.0;

fn peak_mib() -> f64 {
    gridsync_svc::process::memory(None)
        .map(|m| m.peak_mib())
        .unwrap_or(0.0)
}

/// Sends one crafted message for `doc` after a proper Hello, and checks the
/// refusal: its code, the words of its message, nothing stored changed.
async fn attack(
    coord: &TestCoordinator,
    pki: &Pki,
    doc: &str,
    msg: Vec<u8>,
    code: Code,
    words: &[&str],
    what: &str,
) {
    let before = stored(coord).await;
    let heads = coord.community_heads("c01").await;
    let frames = vec![hello_frame(hello("c01", &heads)), whole(doc, msg)];
    let r = expect_refusal(
        refusal(&url(coord), &pki.node("c01"), frames).await,
        code,
        words,
        what,
    );
    eprintln!(
        "{what}: {:?}: {} (peak {:.1} MiB)",
        r.status.code(),
        r.status.message(),
        peak_mib()
    );
    assert_unchanged(&before, &stored(coord).await, what);
    assert_serving(coord, pki).await;
}

/// A node of c02 edits and must converge with the coordinator while c01
/// attacks.
async fn c02_converges(coord: &TestCoordinator, node: &TestNode, tag: &str) {
    node.create(compound(&format!("院{tag}"))).await;
    let ok = eventually(Duration::from_secs(60), || converged(node, coord)).await;
    assert!(ok, "c02 did not converge ({tag})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn op_and_inflate_bombs_are_refused_before_they_are_applied() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let coord = street(&pki, &dir.path().join("coord"), FrameLimits::default()).await;
    let c02 = TestNode::start(
        &dir.path().join("c02"),
        "c02",
        Some(test_link_config(
            coord.addr,
            &pki.node("c02"),
            FrameLimits::default(),
        )),
    )
    .await;
    c02_converges(&coord, &c02, "0").await;
    let start = peak_mib();
    for ops in [2_097_152u64, 8_388_608, 33_554_432] {
        let bomb = hostile::sync_message(&[hostile::op_bomb(ops)]);
        assert!(
            bomb.len() < 400,
            "an op bomb is small: {} bytes",
            bomb.len()
        );
        for doc in ["registry/c01", "street"] {
            attack(
                &coord,
                &pki,
                doc,
                bomb.clone(),
                Code::ResourceExhausted,
                &["max_message_ops", &ops.to_string()],
                &format!("an op bomb of {ops} operations through {doc}"),
            )
            .await;
            c02_converges(&coord, &c02, &format!("{ops}-{doc}")).await;
        }
    }
    attack(
        &coord,
        &pki,
        "cases/c01",
        hostile::sync_message(&[hostile::inflate_bomb(200 * 1024 * 1024)]),
        Code::ResourceExhausted,
        &["max_message_inflated_bytes"],
        "an inflate bomb of 200 MiB",
    )
    .await;
    c02_converges(&coord, &c02, "inflate").await;
    let grown = peak_mib() - start;
    eprintln!("peak resident set grew by {grown:.1} MiB over the attacks");
    assert!(
        grown < MEMORY_BOUND_MIB,
        "the peak resident set grew by {grown:.1} MiB"
    );
    c02.stop().await;
    coord.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn floods_and_corrupt_changes_are_refused_not_decoded_or_dropped() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let coord = street(&pki, dir.path(), FrameLimits::default()).await;
    let start = peak_mib();
    attack(
        &coord,
        &pki,
        "registry/c01",
        hostile::have_flood(33_554_432),
        Code::InvalidArgument,
        &["registry/c01", "haves", "33554432 claimed"],
        "a flood of 33.5M summaries claimed",
    )
    .await;
    // A corrupt change: refused naming the document, not silently dropped.
    let good = hostile::sync_message(&[hostile::inflate_bomb(16)]);
    attack(
        &coord,
        &pki,
        "cases/c01",
        hostile::corrupt(&good),
        Code::InvalidArgument,
        &["cases/c01", "checksum"],
        "a corrupt change",
    )
    .await;
    let grown = peak_mib() - start;
    assert!(
        grown < MEMORY_BOUND_MIB,
        "the peak resident set grew by {grown:.1} MiB"
    );
    coord.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hello_listing_thousands_of_documents_is_refused() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let coord = street(&pki, dir.path(), FrameLimits::default()).await;
    let start = peak_mib();
    let mut docs = coord.community_heads("c01").await;
    let first = chrono::NaiveDate::from_ymd_opt(1990, 1, 1).unwrap();
    for i in 0..30_000u64 {
        let day = first + chrono::Days::new(i);
        docs.insert(DocId::Activity(cid("c01"), day), Vec::new());
    }
    let before = stored(&coord).await;
    let r = expect_refusal(
        refusal(
            &url(&coord),
            &pki.node("c01"),
            vec![hello_frame(hello("c01", &docs))],
        )
        .await,
        Code::ResourceExhausted,
        &["max_hello_docs"],
        "a Hello of 30,000 day documents",
    );
    eprintln!("{}", r.status.message());
    assert_unchanged(&before, &stored(&coord).await, "a huge Hello");
    let grown = peak_mib() - start;
    assert!(
        grown < MEMORY_BOUND_MIB,
        "the peak resident set grew by {grown:.1} MiB"
    );
    assert_serving(&coord, &pki).await;
    coord.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_message_whose_last_part_never_comes_ends_the_session() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let limits = FrameLimits {
        max_frame_bytes: 1024,
        ..FrameLimits::default()
    };
    let coord = TestCoordinator::start_with(dir.path(), &pki, 0, limits, |o| {
        o.part_timeout = Duration::from_millis(500);
    })
    .await;
    let mut op = coord.operator(&pki).await;
    register(&mut op, &["c01"]).await;
    let heads = coord.community_heads("c01").await;
    let mut raw = open_raw(
        &url(&coord),
        &pki.node("c01"),
        vec![hello_frame(hello("c01", &heads))],
    )
    .await
    .expect("the session opens");
    raw.welcome().await;
    // Three parts of four, then nothing.
    for part in 0..3 {
        raw.send(sync_frame("registry/c01", vec![0u8; 1024], part, 4, 4096))
            .await;
    }
    let (_, status) = raw.end().await;
    let status = status.expect("the session ends with an error");
    assert_eq!(
        status.code(),
        Code::ResourceExhausted,
        "{}",
        status.message()
    );
    assert!(
        status.message().contains("did not arrive"),
        "{}",
        status.message()
    );
    assert_serving(&coord, &pki).await;
    coord.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idle_connections_are_capped_and_closed_and_operators_still_get_in() {
    use tokio::io::AsyncReadExt;
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let coord = TestCoordinator::start_with(dir.path(), &pki, 0, FrameLimits::default(), |o| {
        o.accept.max_per_address = 8;
        o.accept.preface_timeout = Duration::from_millis(500);
        o.accept.handshake_timeout = Duration::from_millis(500);
    })
    .await;
    // 30 connections from another loopback address that never send a byte.
    let mut idle = Vec::new();
    for _ in 0..30 {
        let s = tokio::net::TcpSocket::new_v4().unwrap();
        s.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        idle.push(s.connect(coord.addr).await.expect("a TCP connection"));
    }
    // An operator from 127.0.0.1 gets in at once.
    let mut op = coord.operator(&pki).await;
    op.list_communities(gridsync_proto::street::v1::ListCommunitiesRequest {})
        .await
        .expect("an operator call succeeds while idle connections are held");
    // Every idle connection is closed: the 22 over the cap at once, the
    // rest when their handshake deadline passes.
    for (i, s) in idle.iter_mut().enumerate() {
        let mut buf = [0u8; 1];
        let r = tokio::time::timeout(Duration::from_secs(30), s.read(&mut buf)).await;
        assert!(
            matches!(r, Ok(Ok(0)) | Ok(Err(_))),
            "idle connection {i} is still open: {r:?}"
        );
    }
    op.list_communities(gridsync_proto::street::v1::ListCommunitiesRequest {})
        .await
        .expect("and after");
    coord.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn work_that_would_pass_the_memory_ceiling_is_refused_and_the_rest_goes_on() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    // A ceiling 48 MiB above what the process holds now: a message in parts
    // of 64 MiB, or one whose 300,000 operations would take about 120 MiB
    // to apply, does not fit; small ones do.
    let resident = gridsync_svc::process::memory(None)
        .map(|m| m.rss_kib * 1024)
        .expect("this process's memory");
    let ceiling = gridsync_svc::memory::Ceiling::new(resident + (48 << 20), "memory_ceiling_mib");
    let coord = TestCoordinator::start_with(dir.path(), &pki, 0, FrameLimits::default(), |o| {
        o.memory = ceiling.clone();
    })
    .await;
    register(&mut coord.operator(&pki).await, &["c01", "c02"]).await;
    attack(
        &coord,
        &pki,
        "registry/c01",
        hostile::sync_message(&[hostile::op_bomb(300_000)]),
        Code::ResourceExhausted,
        &["memory_ceiling_mib", "registry/c01"],
        "300,000 operations over the ceiling",
    )
    .await;

    // A message announced as 64 parts of 64 MiB: refused at its first part.
    let before = stored(&coord).await;
    let heads = coord.community_heads("c01").await;
    let mut raw = open_raw(
        &url(&coord),
        &pki.node("c01"),
        vec![hello_frame(hello("c01", &heads))],
    )
    .await
    .expect("the session opens");
    raw.welcome().await;
    raw.send(sync_frame(
        "registry/c01",
        vec![0u8; 1024 * 1024],
        0,
        64,
        64 * 1024 * 1024,
    ))
    .await;
    let (_, status) = raw.end().await;
    let status = status.expect("the session ends with an error");
    assert_eq!(
        status.code(),
        Code::ResourceExhausted,
        "{}",
        status.message()
    );
    assert!(
        status.message().contains("memory_ceiling_mib"),
        "{}",
        status.message()
    );
    assert_unchanged(
        &before,
        &stored(&coord).await,
        "a message in parts over the ceiling",
    );
    assert_eq!(ceiling.reserved(), 0, "every reservation was given back");

    // Everything else goes on under the ceiling.
    let c02 = TestNode::start(
        &dir.path().join("c02"),
        "c02",
        Some(test_link_config(
            coord.addr,
            &pki.node("c02"),
            FrameLimits::default(),
        )),
    )
    .await;
    c02_converges(&coord, &c02, "under the ceiling").await;
    assert_serving(&coord, &pki).await;
    c02.stop().await;
    coord.stop().await;
}
