//! The coordinator's access rules over real gRPC with mutual TLS: a node
//! speaks only for its own community, never sees nor writes another
//! community's documents, never writes the street document (operators do,
//! through the Street API only), and an unregistered community is told how
//! to register. Each refusal changes nothing and the coordinator keeps
//! serving.

use automerge::transaction::Transactable;
use automerge::{ActorId, ROOT, ReadDoc};
use gridsync_core::access::Principal;
use gridsync_core::sync::{DocHeads, FrameLimits};
use gridsync_core::*;
use gridsync_proto::street::v1 as spb;
use gridsync_proto::sync::v1 as pb;
use gridsync_testkit::street::*;
use tonic::Code;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_may_not_speak_for_another_community() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let coord = street(&pki, dir.path(), FrameLimits::default()).await;
    let before = stored(&coord).await;
    let c01 = pki.node("c01");

    // The Hello names c02.
    let heads = coord.community_heads("c02").await;
    let r = refusal(&url(&coord), &c01, vec![hello_frame(hello("c02", &heads))]).await;
    let r = expect_refusal(
        r,
        Code::PermissionDenied,
        &["node:c01", "c02"],
        "a c01 certificate with a Hello for c02",
    );
    assert!(r.frames.is_empty(), "no Welcome: {:?}", r.frames);

    // The Hello names c01 but lists a document of c02.
    let mut docs = coord.community_heads("c01").await;
    docs.insert(DocId::Registry(cid("c02")), Vec::new());
    let r = refusal(&url(&coord), &c01, vec![hello_frame(hello("c01", &docs))]).await;
    let r = expect_refusal(
        r,
        Code::PermissionDenied,
        &["registry/c02"],
        "a c01 Hello listing registry/c02",
    );
    assert!(r.frames.is_empty(), "no Welcome: {:?}", r.frames);

    assert_unchanged(
        &before,
        &stored(&coord).await,
        "Hellos for another community",
    );
    assert_serving(&coord, &pki).await;
    coord.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_never_sees_nor_writes_another_communitys_documents() {
    let pki = Pki::new();
    let cdir = tempfile::tempdir().unwrap();
    let dir01 = tempfile::tempdir().unwrap();
    let dir02 = tempfile::tempdir().unwrap();
    let coord = street(&pki, cdir.path(), FrameLimits::default()).await;

    // Both communities hold data at the coordinator.
    let link02 = test_link_config(coord.addr, &pki.node("c02"), FrameLimits::default());
    let n02 = TestNode::start(dir02.path(), "c02", Some(link02)).await;
    populate(&n02, "B", 6).await;
    let link01 = test_link_config(coord.addr, &pki.node("c01"), FrameLimits::default());
    let n01 = TestNode::start(dir01.path(), "c01", Some(link01.clone())).await;
    populate(&n01, "A", 3).await;
    for n in [&n01, &n02] {
        assert!(
            eventually(WITHIN, || converged(n, &coord)).await,
            "{} did not converge: {:?}",
            n.community,
            n.link_status()
        );
    }
    n01.stop().await;
    n02.stop().await;
    let c02_heads = coord.community_heads("c02").await;
    assert!(
        c02_heads.contains_key(&DocId::Registry(cid("c02"))),
        "c02's data reached the coordinator: {:?}",
        show_heads(&c02_heads)
    );
    let before = stored(&coord).await;

    // A c01 session that holds nothing: the Welcome lists c01's documents
    // and the street, nothing of c02.
    let mut raw = open_raw(
        &url(&coord),
        &pki.node("c01"),
        vec![hello_frame(hello("c01", &DocHeads::new()))],
    )
    .await
    .expect("c01 is welcome");
    let w = raw.welcome().await;
    let listed: Vec<&str> = w.docs.iter().map(|d| d.doc_id.as_str()).collect();
    assert!(
        listed
            .iter()
            .all(|id| !id.contains("c02") && is_c01_or_street(id)),
        "the Welcome to c01 lists {listed:?}"
    );
    let offered = welcome_heads(&w);
    assert_eq!(offered, coord.community_heads("c01").await);
    assert!(
        offered.contains_key(&DocId::Registry(cid("c01"))),
        "{listed:?}"
    );
    assert!(offered.contains_key(&DocId::Street), "{listed:?}");

    // A full sync of c01 from nothing: every frame is c01's or the street's.
    let mut peer = Peer::new();
    let (mut ids, ended) = pump(&mut raw, &mut peer, |p| {
        offered.iter().all(|(id, h)| p.heads(id) == *h)
    })
    .await;
    assert!(
        ended.is_none(),
        "the session ended during the sync: {ended:?}"
    );
    assert!(
        !ids.is_empty(),
        "the coordinator sent nothing to a node holding nothing"
    );

    // The c01 node sends a (valid) sync message for c02's registry.
    let c02_reg = DocId::Registry(cid("c02"));
    raw.send(whole("registry/c02", valid_message(&c02_reg)))
        .await;
    let (frames, status) = raw.end().await;
    ids.extend(frames.iter().filter_map(|f| match &f.frame {
        Some(pb::coordinator_frame::Frame::Sync(s)) => Some(s.doc_id.clone()),
        _ => None,
    }));
    let status = status.expect("a SyncFrame for registry/c02 from c01 ended the call with OK");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(status.message().contains("registry/c02"), "{status:?}");
    assert!(
        ids.iter().all(|id| is_c01_or_street(id)),
        "c01's session was sent frames of {ids:?}"
    );
    assert_unchanged(
        &before,
        &stored(&coord).await,
        "c01's sync and its frame for c02",
    );
    assert_eq!(coord.community_heads("c02").await, c02_heads);

    // A real c01 node syncs again: its store holds nothing of c02.
    let n01 = TestNode::start(dir01.path(), "c01", Some(link01)).await;
    populate(&n01, "C", 1).await;
    assert!(
        eventually(WITHIN, || converged(&n01, &coord)).await,
        "c01 did not converge: {:?}",
        n01.link_status()
    );
    let held = n01
        .run(|o| o.store().doc_heads().expect("stored heads"))
        .await;
    let held: Vec<String> = held.into_iter().map(|(id, _)| id.to_string()).collect();
    assert!(
        held.iter().all(|id| is_c01_or_street(id)),
        "the c01 node's store holds {held:?}"
    );
    assert_eq!(coord.community_heads("c02").await, c02_heads);
    n01.stop().await;
    coord.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_operators_write_the_street_document_and_only_through_the_street_api() {
    let pki = Pki::new();
    let cdir = tempfile::tempdir().unwrap();
    let ndir = tempfile::tempdir().unwrap();
    let coord = street(&pki, cdir.path(), FrameLimits::default()).await;
    let before = stored(&coord).await;
    let street_before = before.heads["c01"][&DocId::Street].clone();

    // A node-side street document: what the coordinator holds, plus a change.
    let mut mine = coord.doc(DocId::Street).await.with_actor(ActorId::random());
    mine.put(ROOT, "written_by_a_node", "c01").unwrap();
    mine.commit();
    let mut docs = coord.community_heads("c01").await;
    let mut my_heads = mine.get_heads();
    my_heads.sort();
    docs.insert(DocId::Street, my_heads);
    let mut raw = open_raw(
        &url(&coord),
        &pki.node("c01"),
        vec![hello_frame(hello("c01", &docs))],
    )
    .await
    .expect("c01 is welcome");
    raw.welcome().await;
    let mut peer = Peer::new();
    peer.docs.insert(DocId::Street, mine);
    for f in peer.frames(&DocId::Street) {
        raw.send(f).await;
    }
    let (ids, ended) = pump(&mut raw, &mut peer, |_| false).await;
    let status = ended
        .expect("the pump only stops when the call ends")
        .unwrap_or_else(|| {
            panic!(
                "the node's change to the street document was taken (call ended OK; frames {ids:?})"
            )
        });
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(status.message().contains("document street"), "{status:?}");
    assert_unchanged(
        &before,
        &stored(&coord).await,
        "a node's sync of a changed street document",
    );

    // The Street API refuses a node; Sync.Session refuses an operator.
    let mut as_node = operator_client(coord.addr, &pki.node("c01")).await;
    let s = as_node
        .put_street_record(spb::PutStreetRecordRequest {
            record: Some(spb::StreetRecord {
                record: Some(spb::street_record::Record::Community(
                    spb::StreetCommunity {
                        id: "c05".into(),
                        name: "Written by a node".into(),
                        kind: spb::CommunityKindPb::CommunityKindCommunity as i32,
                    },
                )),
            }),
        })
        .await
        .expect_err("a node wrote the street document through the Street API");
    assert_eq!(s.code(), Code::PermissionDenied, "{s:?}");
    assert!(s.message().contains("node:c01"), "{s:?}");
    let op = pki.client(&Principal::Operator("alice".into()));
    let heads = coord.community_heads("c01").await;
    let r = refusal(&url(&coord), &op, vec![hello_frame(hello("c01", &heads))]).await;
    expect_refusal(
        r,
        Code::PermissionDenied,
        &["operator:alice"],
        "an operator opening Sync.Session",
    );
    assert_unchanged(&before, &stored(&coord).await, "a node on the Street API");

    // A real node gets the street document without that change.
    let link = test_link_config(coord.addr, &pki.node("c01"), FrameLimits::default());
    let n01 = TestNode::start(ndir.path(), "c01", Some(link)).await;
    populate(&n01, "A", 1).await;
    assert!(
        eventually(WITHIN, || converged(&n01, &coord)).await,
        "c01 did not converge: {:?}",
        n01.link_status()
    );
    let (street_at_node, key) = n01
        .run(|o| {
            let mut d = o.street_doc().clone();
            let mut h = d.get_heads();
            h.sort();
            (h, d.get(ROOT, "written_by_a_node").unwrap().is_some())
        })
        .await;
    assert!(!key, "the node's street document holds the refused change");
    assert_eq!(street_at_node, street_before);
    assert_eq!(
        coord.community_heads("c01").await[&DocId::Street],
        street_before
    );
    let shown = coord
        .operator(&pki)
        .await
        .get_street(spb::GetStreetRequest {})
        .await
        .expect("GetStreet")
        .into_inner();
    assert!(
        !format!("{shown:?}").contains("written_by_a_node")
            && !format!("{shown:?}").contains("Written by a node"),
        "{shown:?}"
    );
    n01.stop().await;
    assert_serving(&coord, &pki).await;
    coord.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn street_changes_in_a_first_message_or_waiting_for_a_dependency_are_refused() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let coord = street(&pki, dir.path(), FrameLimits::default()).await;
    let before = stored(&coord).await;

    // Two changes on top of the coordinator's street document; the second
    // depends on the first.
    let mut mine = coord.doc(DocId::Street).await.with_actor(ActorId::random());
    mine.put(ROOT, "written_by_a_node", "first").unwrap();
    let h1 = mine.commit().expect("a change");
    mine.put(ROOT, "written_by_a_node", "second").unwrap();
    let h2 = mine.commit().expect("a change");
    let bytes = |h| {
        mine.get_change_by_hash(&h)
            .expect("change")
            .bytes()
            .to_vec()
    };
    let (c1, c2) = (bytes(h1), bytes(h2));
    let message = |changes: Vec<Vec<u8>>| {
        automerge::sync::Message {
            heads: vec![h2],
            need: Vec::new(),
            have: Vec::new(),
            changes: changes.into(),
            flags: None,
            version: automerge::sync::MessageVersion::V1,
        }
        .encode()
    };
    let heads = coord.community_heads("c01").await;
    for (what, msg) in [
        (
            "both changes in the first message",
            message(vec![c1, c2.clone()]),
        ),
        (
            "only the second change (it would wait for the first)",
            message(vec![c2]),
        ),
    ] {
        let r = refusal(
            &url(&coord),
            &pki.node("c01"),
            vec![hello_frame(hello("c01", &heads)), whole("street", msg)],
        )
        .await;
        expect_refusal(r, Code::PermissionDenied, &["document street"], what);
        assert_unchanged(&before, &stored(&coord).await, what);
        let held = coord.doc(DocId::Street).await;
        assert!(
            held.get_missing_deps(&[]).is_empty(),
            "{what}: the coordinator's street document holds a queued change"
        );
        assert!(
            held.get(ROOT, "written_by_a_node").unwrap().is_none(),
            "{what}: the coordinator's street document holds the node's change"
        );
    }
    assert_serving(&coord, &pki).await;
    coord.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unregistered_community_is_told_how_to_register() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let coord = street(&pki, dir.path(), FrameLimits::default()).await;
    let before = stored(&coord).await;
    let heads = coord.community_heads("c09").await;
    let r = refusal(
        &url(&coord),
        &pki.node("c09"),
        vec![hello_frame(hello("c09", &heads))],
    )
    .await;
    let r = expect_refusal(
        r,
        Code::PermissionDenied,
        &[
            "c09",
            "not registered",
            "gridctl street community add --id c09",
        ],
        "an unregistered community",
    );
    assert!(r.frames.is_empty(), "no Welcome: {:?}", r.frames);
    assert_unchanged(&before, &stored(&coord).await, "an unregistered community");
    assert_eq!(
        coord
            .community_heads("c09")
            .await
            .keys()
            .collect::<Vec<_>>(),
        vec![&DocId::Street],
        "nothing of c09 is held"
    );
    assert_serving(&coord, &pki).await;
    coord.stop().await;
}
