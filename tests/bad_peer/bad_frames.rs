//! Bad frames on `Sync.Session`, each refused with a clear status while
//! nothing stored changes and the coordinator keeps serving: malformed
//! frames, oversized frames and messages, a newer protocol version (a clear
//! error, not a hang), and bytes that are not an Automerge sync message.

use std::collections::BTreeSet;

use gridsync_core::sync::{FrameLimits, PROTOCOL_VERSION};
use gridsync_core::*;
use gridsync_proto::sync::v1 as pb;
use gridsync_testkit::street::*;
use tonic::Code;

use crate::common::*;

/// Checks each case on a fresh session; collects what went wrong.
async fn check_cases(
    coord: &TestCoordinator,
    pki: &Pki,
    cases: Vec<(&str, Vec<pb::NodeFrame>, Code, Vec<&str>)>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (what, frames, code, words) in cases {
        let before = stored(coord).await;
        match refusal(&url(coord), &pki.node("c01"), frames).await {
            Err(e) => problems.push(format!("{what}: expected {code:?}, but {e}")),
            Ok(r) => {
                eprintln!(
                    "{what}: {:?}: {} (after {} frame(s))",
                    r.status.code(),
                    r.status.message(),
                    r.frames.len()
                );
                if r.status.code() != code {
                    problems.push(format!(
                        "{what}: expected {code:?}, got {:?}: {}",
                        r.status.code(),
                        r.status.message()
                    ));
                }
                for w in words {
                    if !r.status.message().contains(w) {
                        problems.push(format!(
                            "{what}: the message does not mention {w:?}: {}",
                            r.status.message()
                        ));
                    }
                }
            }
        }
        if stored(coord).await != before {
            problems.push(format!("{what}: the coordinator's documents changed"));
        }
        assert_serving(coord, pki).await;
    }
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_frames_are_refused_with_invalid_argument() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let coord = street(&pki, dir.path(), FrameLimits::default()).await;
    let heads = coord.community_heads("c01").await;
    let good = || hello_frame(hello("c01", &heads));
    let reg = DocId::Registry(cid("c01"));
    let msg = valid_message(&reg);
    let n = msg.len() as u64;
    let cases = vec![
        (
            "a SyncFrame before the Hello",
            vec![whole("registry/c01", msg.clone())],
            Code::InvalidArgument,
            vec!["Hello"],
        ),
        (
            "an empty NodeFrame before the Hello",
            vec![pb::NodeFrame { frame: None }],
            Code::InvalidArgument,
            vec!["Hello"],
        ),
        (
            "an empty NodeFrame after the Hello",
            vec![good(), pb::NodeFrame { frame: None }],
            Code::InvalidArgument,
            vec!["SyncFrame"],
        ),
        (
            "a second Hello",
            vec![good(), good()],
            Code::InvalidArgument,
            vec!["SyncFrame"],
        ),
        (
            "a SyncFrame naming \"nonsense\"",
            vec![good(), whole("nonsense", msg.clone())],
            Code::InvalidArgument,
            vec!["nonsense"],
        ),
        (
            "part 1 of 2 without part 0",
            vec![good(), sync_frame("registry/c01", msg.clone(), 1, 2, 2 * n)],
            Code::InvalidArgument,
            vec!["registry/c01", "part 0"],
        ),
        (
            "parts = 0",
            vec![good(), sync_frame("registry/c01", msg.clone(), 0, 0, n)],
            Code::InvalidArgument,
            vec!["registry/c01", "part"],
        ),
        (
            "a whole message whose total_bytes lies",
            vec![good(), sync_frame("registry/c01", msg.clone(), 0, 1, n + 1)],
            Code::InvalidArgument,
            vec!["registry/c01"],
        ),
        (
            "part 0 of 2 then a part of another document",
            vec![
                good(),
                sync_frame("registry/c01", msg[..1].to_vec(), 0, 2, n),
                sync_frame("cases/c01", msg[1..].to_vec(), 1, 2, n),
            ],
            Code::InvalidArgument,
            vec!["cases/c01"],
        ),
    ];
    let problems = check_cases(&coord, &pki, cases).await;
    assert!(
        problems.is_empty(),
        "malformed frames:\n{}",
        problems.join("\n")
    );
    coord.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn oversized_frames_are_refused_and_the_coordinator_keeps_serving() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let limits = FrameLimits {
        max_frame_bytes: 16 * 1024,
        max_message_bytes: 64 * 1024,
    };
    let coord = street(&pki, dir.path(), limits).await;
    let heads = coord.community_heads("c01").await;
    let good = || hello_frame(hello("c01", &heads));
    let over_frame = limits.max_frame_bytes + 1000;
    assert!(over_frame < limits.grpc_message_limit() - 100);
    let cases = vec![
        (
            "a frame of data above max_frame_bytes (under the gRPC limit)",
            vec![
                good(),
                sync_frame(
                    "registry/c01",
                    vec![0x42; over_frame],
                    0,
                    1,
                    over_frame as u64,
                ),
            ],
            Code::ResourceExhausted,
            vec!["16384"],
        ),
        (
            "a frame announcing a message above max_message_bytes",
            vec![
                good(),
                sync_frame(
                    "registry/c01",
                    vec![0x42; 1024],
                    0,
                    8,
                    limits.max_message_bytes as u64 + 1,
                ),
            ],
            Code::ResourceExhausted,
            vec!["65536"],
        ),
        (
            "parts adding up to more than max_message_bytes",
            {
                let mut v = vec![good()];
                let total = (limits.max_message_bytes + limits.max_frame_bytes) as u64;
                for i in 0..5 {
                    v.push(sync_frame(
                        "registry/c01",
                        vec![0x42; limits.max_frame_bytes],
                        i,
                        5,
                        total,
                    ));
                }
                v
            },
            Code::ResourceExhausted,
            vec![],
        ),
    ];
    let mut problems = check_cases(&coord, &pki, cases).await;

    // A gRPC message above the gRPC decoding limit: any error status, not
    // an OK ending and not a hang; the coordinator keeps serving.
    let before = stored(&coord).await;
    let huge = limits.max_frame_bytes + 64 * 1024 + 1024;
    let r = refusal(
        &url(&coord),
        &pki.node("c01"),
        vec![
            good(),
            sync_frame("registry/c01", vec![0x42; huge], 0, 1, huge as u64),
        ],
    )
    .await;
    match r {
        Err(e) => problems.push(format!(
            "a gRPC message of {huge} bytes (limit {}): {e}",
            limits.grpc_message_limit()
        )),
        Ok(r) => {
            eprintln!(
                "a gRPC message above the limit: {:?}: {}",
                r.status.code(),
                r.status.message()
            );
            if r.status.code() == Code::Ok {
                problems.push("a gRPC message above the limit: status OK".into());
            }
        }
    }
    if stored(&coord).await != before {
        problems.push("a gRPC message above the limit changed the documents".into());
    }
    assert_serving(&coord, &pki).await;
    assert!(
        problems.is_empty(),
        "oversized frames:\n{}",
        problems.join("\n")
    );
    coord.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_newer_protocol_version_gets_a_clear_error_not_a_hang() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let coord = street(&pki, dir.path(), FrameLimits::default()).await;
    let before = stored(&coord).await;
    let mut h = hello("c01", &coord.community_heads("c01").await);
    h.protocol_version = 2;
    let r = tokio::time::timeout(
        PROMPT,
        refusal(&url(&coord), &pki.node("c01"), vec![hello_frame(h)]),
    )
    .await
    .expect("a Hello of protocol 2 got no answer within 10 s: a hang, not a clear error");
    let r = expect_refusal(r, Code::FailedPrecondition, &[], "protocol version 2");
    let numbers: BTreeSet<&str> = r
        .status
        .message()
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .collect();
    assert!(
        numbers.contains(PROTOCOL_VERSION.to_string().as_str()) && numbers.contains("2"),
        "the message should name both versions: {}",
        r.status.message()
    );
    assert!(r.frames.is_empty(), "no Welcome: {:?}", r.frames);
    assert_unchanged(&before, &stored(&coord).await, "protocol version 2");
    assert_serving(&coord, &pki).await;
    coord.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn garbage_instead_of_an_automerge_message_is_refused() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let coord = street(&pki, dir.path(), FrameLimits::default()).await;
    let heads = coord.community_heads("c01").await;
    let good = || hello_frame(hello("c01", &heads));
    let cases = vec![
        (
            "random bytes for registry/c01",
            vec![good(), whole("registry/c01", garbage(300))],
            Code::InvalidArgument,
            vec!["registry/c01", "not an Automerge sync message"],
        ),
        (
            "random bytes for the street document",
            vec![good(), whole("street", garbage(40))],
            Code::InvalidArgument,
            vec!["street", "not an Automerge sync message"],
        ),
        (
            "an empty message for cases/c01",
            vec![good(), whole("cases/c01", Vec::new())],
            Code::InvalidArgument,
            vec!["cases/c01", "not an Automerge sync message"],
        ),
        (
            "a sync message cut short",
            {
                let m = valid_message(&DocId::Registry(cid("c01")));
                vec![good(), whole("registry/c01", m[..m.len() / 2].to_vec())]
            },
            Code::InvalidArgument,
            vec!["registry/c01", "not an Automerge sync message"],
        ),
    ];
    let problems = check_cases(&coord, &pki, cases).await;
    assert!(problems.is_empty(), "garbage:\n{}", problems.join("\n"));
    coord.stop().await;
}

/// A node's heartbeat frame.
fn heartbeat_frame(digest: Vec<u8>, changed: Vec<pb::DocHeads>) -> pb::NodeFrame {
    pb::NodeFrame {
        frame: Some(pb::node_frame::Frame::Heartbeat(pb::Heartbeat {
            sent_ms: 0,
            heads_digest: digest,
            changed,
        })),
    }
}

/// Heartbeats are checked like everything else a node sends: one whose
/// digest does not match the heads the session was told ends it with
/// FAILED_PRECONDITION; one that states another community's document ends
/// it with PERMISSION_DENIED; a node that asked for heartbeats and then
/// goes silent is ended by the coordinator once the window has passed.
/// Nothing stored changes, the coordinator keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_heartbeats_and_silence_end_the_session_with_a_clear_status() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let coord = street(&pki, dir.path(), FrameLimits::default()).await;
    let before = stored(&coord).await;
    let heads = coord.community_heads("c01").await;
    let with_heartbeat = || {
        let mut h = hello("c01", &heads);
        h.heartbeat_interval_ms = 2_000;
        hello_frame(h)
    };

    // A digest that matches nothing stated.
    let r = refusal(
        &url(&coord),
        &pki.node("c01"),
        vec![with_heartbeat(), heartbeat_frame(vec![0; 32], vec![])],
    )
    .await;
    expect_refusal(
        r,
        Code::FailedPrecondition,
        &["digest"],
        "a wrong heads digest",
    );

    // Another community's document, with the digest it would make.
    let other = DocId::Registry(CommunityId::parse("c02").unwrap());
    let mut stated = gridsync_sync::handshake::heads_from_pb(&hello("c01", &heads).docs).unwrap();
    stated.insert(other.clone(), vec![]);
    let digest = gridsync_core::sync::heads_digest(&stated).to_vec();
    let r = refusal(
        &url(&coord),
        &pki.node("c01"),
        vec![
            with_heartbeat(),
            heartbeat_frame(
                digest,
                vec![pb::DocHeads {
                    doc_id: other.to_string(),
                    heads: vec![],
                }],
            ),
        ],
    )
    .await;
    expect_refusal(
        r,
        Code::PermissionDenied,
        &["registry/c02"],
        "another community's document in a heartbeat",
    );

    // Silence after asking for heartbeats: the coordinator sends its own,
    // then ends the call (UNAVAILABLE, naming the window) by itself.
    let mut raw = open_raw(&url(&coord), &pki.node("c01"), vec![with_heartbeat()])
        .await
        .expect("the session opens");
    let welcome = raw.welcome().await;
    assert_eq!(
        (welcome.heartbeat_interval_ms, welcome.heartbeat_misses),
        (2_000, 3),
        "{welcome:?}"
    );
    assert_eq!(welcome.time_zone, gridsync_testkit::TIME_ZONE.name());
    let mut beats = 0;
    let status = loop {
        match tokio::time::timeout(WITHIN, raw.inbound_next()).await {
            Err(_) => panic!("the silent session was not ended within {WITHIN:?}"),
            Ok(Ok(Some(f))) => {
                if matches!(f.frame, Some(pb::coordinator_frame::Frame::Heartbeat(_))) {
                    beats += 1;
                }
            }
            Ok(Ok(None)) => panic!("the silent session ended with OK, not a status"),
            Ok(Err(s)) => break s,
        }
    };
    assert!(
        beats >= 1,
        "the coordinator sent no heartbeat before ending"
    );
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("liveness window"), "{status:?}");
    assert_unchanged(&before, &stored(&coord).await, "bad heartbeats and silence");
    assert_serving(&coord, &pki).await;
    coord.stop().await;
}
