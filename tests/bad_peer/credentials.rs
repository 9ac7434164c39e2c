//! Callers whose credentials fail are refused by the coordinator: no
//! certificate, an expired one, one from another CA; over plain HTTP with
//! development tokens, an unknown or missing token, and a node's token on
//! the Street API. Nothing changes and good callers are served afterwards.

use std::time::Duration;

use gridsync_coordinator::replicas::{ReplicasConfig, StreetReplicas};
use gridsync_coordinator::server::{ServeOptions, serve};
use gridsync_core::access::Principal;
use gridsync_core::sync::FrameLimits;
use gridsync_core::*;
use gridsync_node::link::LinkConfig;
use gridsync_proto::street::v1 as spb;
use gridsync_proto::sync::v1 as pb;
use gridsync_sync::identity::{Authenticator, DevTokens};
use gridsync_sync::issue::{issue_ca, issue_leaf, validity_days};
use gridsync_sync::tls::{ClientAuth, TlsPems, TokenInterceptor, client_tls, endpoint};
use gridsync_testkit::street::*;
use gridsync_testkit::{COMPACT_AFTER_CHUNKS, TIME_ZONE};
use spb::street_client::StreetClient;
use tonic::Code;
use tonic::transport::{Certificate, ClientTlsConfig};

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_without_a_certificate_is_unauthenticated() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let coord = street(&pki, dir.path(), FrameLimits::default()).await;
    let before = stored(&coord).await;

    // Trusts the street CA, presents no certificate.
    let anonymous = ClientAuth::Tls(
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&pki.ca.cert_pem))
            .domain_name("localhost"),
    );
    let heads = coord.community_heads("c01").await;
    let r = refusal(
        &url(&coord),
        &anonymous,
        vec![hello_frame(hello("c01", &heads))],
    )
    .await;
    let r = expect_refusal(r, Code::Unauthenticated, &["certificate"], "Sync.Session");
    assert!(r.frames.is_empty(), "no Welcome for an anonymous caller");

    let mut op = operator_client(coord.addr, &anonymous).await;
    let s = op
        .list_communities(spb::ListCommunitiesRequest {})
        .await
        .expect_err("the Street API answered a caller without a certificate");
    assert_eq!(s.code(), Code::Unauthenticated, "{s:?}");
    assert!(s.message().contains("certificate"), "{s:?}");
    let s = op
        .put_street_record(spb::PutStreetRecordRequest {
            record: Some(spb::StreetRecord {
                record: Some(spb::street_record::Record::Community(
                    spb::StreetCommunity {
                        id: "c05".into(),
                        name: "Anonymous".into(),
                        kind: spb::CommunityKindPb::CommunityKindCommunity as i32,
                    },
                )),
            }),
        })
        .await
        .expect_err("the Street API took a write from a caller without a certificate");
    assert_eq!(s.code(), Code::Unauthenticated, "{s:?}");

    assert_unchanged(&before, &stored(&coord).await, "anonymous calls");
    assert_serving(&coord, &pki).await;
    coord.stop().await;
}

/// Whether a call with `auth` failed (refused, or no connection at all).
async fn call_fails(coord: &TestCoordinator, auth: &ClientAuth) -> Result<String, String> {
    let heads = coord.community_heads("c01").await;
    let sync = refusal(&url(coord), auth, vec![hello_frame(hello("c01", &heads))]).await?;
    if sync
        .frames
        .iter()
        .any(|f| matches!(f.frame, Some(pb::coordinator_frame::Frame::Welcome(_))))
    {
        return Err(format!("got a Welcome before {:?}", sync.status));
    }
    // The Street API too (the certificate may be an operator's).
    let ep = endpoint(&url(coord), auth).map_err(|e| e.to_string())?;
    let street = match tokio::time::timeout(PROMPT, ep.connect()).await {
        Err(_) => return Err("connecting did not end".into()),
        Ok(Err(e)) => format!("no connection: {e:?}"),
        Ok(Ok(ch)) => {
            match tokio::time::timeout(
                PROMPT,
                StreetClient::new(ch).list_communities(spb::ListCommunitiesRequest {}),
            )
            .await
            {
                Err(_) => return Err("ListCommunities did not end".into()),
                Ok(Ok(r)) => return Err(format!("ListCommunities answered {r:?}")),
                Ok(Err(s)) => format!("{:?}: {}", s.code(), s.message()),
            }
        }
    };
    Ok(format!(
        "Sync.Session {:?}: {}; Street {street}",
        sync.status.code(),
        sync.status.message()
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expired_and_foreign_certificates_are_refused() {
    let pki = Pki::new();
    let cdir = tempfile::tempdir().unwrap();
    let ndir = tempfile::tempdir().unwrap();
    let coord = street(&pki, cdir.path(), FrameLimits::default()).await;
    let before = stored(&coord).await;

    // Expired: valid from 10 days ago until 5 days ago, from the street CA.
    let (from, _) = validity_days(1).unwrap();
    let day = Duration::from_secs(86_400);
    let expired = issue_leaf(&pki.ca, &node("c01"), from - 10 * day, from - 5 * day)
        .expect("issue an expired leaf");
    let auth = ClientAuth::Tls(
        client_tls(&TlsPems::new(&pki.ca, &expired), "localhost").expect("client TLS"),
    );
    let how = call_fails(&coord, &auth)
        .await
        .unwrap_or_else(|e| panic!("an expired certificate was accepted: {e}"));
    eprintln!("expired certificate: {how}");
    let expired_op = issue_leaf(
        &pki.ca,
        &Principal::Operator("alice".into()),
        from - 10 * day,
        from - 5 * day,
    )
    .unwrap();
    let auth = ClientAuth::Tls(
        client_tls(&TlsPems::new(&pki.ca, &expired_op), "localhost").expect("client TLS"),
    );
    let how = call_fails(&coord, &auth)
        .await
        .unwrap_or_else(|e| panic!("an expired operator certificate was accepted: {e}"));
    eprintln!("expired operator certificate: {how}");

    // Foreign: a valid leaf naming node:c01, from another CA.
    let (from, to) = validity_days(30).unwrap();
    let other = issue_ca("Other Street", from, to).unwrap();
    for p in [node("c01"), Principal::Operator("alice".into())] {
        let foreign = issue_leaf(&other, &p, from, to - day).unwrap();
        let auth = ClientAuth::Tls(
            client_tls(
                &TlsPems {
                    ca: pki.ca.cert_pem.clone(),
                    cert: foreign.cert_pem,
                    key: foreign.key_pem,
                },
                "localhost",
            )
            .expect("client TLS"),
        );
        let how = call_fails(&coord, &auth)
            .await
            .unwrap_or_else(|e| panic!("a {p} certificate from another CA was accepted: {e}"));
        eprintln!("foreign certificate of {p}: {how}");
    }
    assert_unchanged(
        &before,
        &stored(&coord).await,
        "expired and foreign certificates",
    );

    // A good node still syncs.
    let link = test_link_config(coord.addr, &pki.node("c01"), FrameLimits::default());
    let n01 = TestNode::start(ndir.path(), "c01", Some(link)).await;
    populate(&n01, "A", 2).await;
    assert!(
        eventually(WITHIN, || converged(&n01, &coord)).await,
        "a good node did not converge after the refusals: {:?}",
        n01.link_status()
    );
    n01.stop().await;
    assert_serving(&coord, &pki).await;
    coord.stop().await;
}

const NODE_TOKEN: &str = "node-c01-token-0123456789abcdef";
const OPERATOR_TOKEN: &str = "operator-dev-token-0123456789abcdef";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn development_tokens_over_plain_http_sync_and_unknown_tokens_are_refused() {
    let cdir = tempfile::tempdir().unwrap();
    let ndir = tempfile::tempdir().unwrap();
    let tokens = DevTokens::from_toml_str(
        &format!(
            "[[token]]\ntoken = \"{NODE_TOKEN}\"\nprincipal = \"node:c01\"\n\
             [[token]]\ntoken = \"{OPERATOR_TOKEN}\"\nprincipal = \"operator:dev\"\n"
        ),
        "test tokens",
    )
    .expect("tokens");
    let cfg = ReplicasConfig {
        street_id: STREET.into(),
        street_name: "测试街道 test street".into(),
        db_path: cdir.path().join("gridsync-coordinator.sqlite3"),
        tz: TIME_ZONE,
        compact_after_chunks: COMPACT_AFTER_CHUNKS,
        stale_after_ms: gridsync_testkit::street::STALE_AFTER_MS,
        memory: gridsync_svc::memory::Ceiling::none(),
        store_key: Some(gridsync_testkit::store_key()),
    };
    let replicas = tokio::task::spawn_blocking(move || StreetReplicas::open(cfg))
        .await
        .unwrap()
        .expect("open the coordinator's store");
    let replicas = std::sync::Arc::new(replicas);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut opts = ServeOptions::new(Authenticator::DevTokens(tokens), None);
    opts.grace = Duration::from_secs(5);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        replicas.clone(),
        listener,
        async {
            let _ = stopped.await;
        },
        opts,
    ));
    let http = format!("http://127.0.0.1:{port}");

    // The operator registers c01 with its token.
    let op_auth = ClientAuth::DevToken(OPERATOR_TOKEN.into());
    let ch = endpoint(&http, &op_auth).unwrap().connect().await.unwrap();
    let mut op = StreetClient::with_interceptor(ch, TokenInterceptor::new(&op_auth).unwrap());
    op.put_street_record(spb::PutStreetRecordRequest {
        record: Some(spb::StreetRecord {
            record: Some(spb::street_record::Record::Community(
                spb::StreetCommunity {
                    id: "c01".into(),
                    name: "Community c01".into(),
                    kind: spb::CommunityKindPb::CommunityKindCommunity as i32,
                },
            )),
        }),
    })
    .await
    .expect("the operator registers c01 with a dev token");

    // A node with its token syncs over http://.
    let node_auth = ClientAuth::DevToken(NODE_TOKEN.into());
    let link = LinkConfig {
        endpoint: endpoint(&http, &node_auth).unwrap(),
        dev_token: Some(NODE_TOKEN.into()),
        backoff_base: Duration::from_millis(50),
        backoff_max: Duration::from_millis(500),
        limits: FrameLimits::default(),
        handshake_timeout: Duration::from_secs(10),
        dialer: None,
        jitter_seed: None,
        heartbeat: gridsync_core::sync::HeartbeatSettings::default(),
        dial_timeout: gridsync_node::link::DIAL_TIMEOUT,
    };
    let n01 = TestNode::start(ndir.path(), "c01", Some(link)).await;
    populate(&n01, "A", 2).await;
    let heads_at_coord = || {
        let r = replicas.clone();
        async move {
            tokio::task::spawn_blocking(move || r.community_heads(&cid("c01")))
                .await
                .unwrap()
        }
    };
    assert!(
        eventually(WITHIN, || async {
            n01.heads().await == heads_at_coord().await
        })
        .await,
        "the node did not converge over dev tokens: node {:?} coordinator {:?}; link {:?}",
        show_heads(&n01.heads().await),
        show_heads(&heads_at_coord().await),
        n01.link_status()
    );
    assert!(
        heads_at_coord()
            .await
            .contains_key(&DocId::Registry(cid("c01")))
    );
    n01.stop().await;

    // Unknown and missing tokens.
    let heads = heads_at_coord().await;
    for (what, auth) in [
        (
            "an unknown token",
            ClientAuth::DevToken("not-a-known-token-0123456789".into()),
        ),
        ("no token", ClientAuth::None),
    ] {
        let r = refusal(&http, &auth, vec![hello_frame(hello("c01", &heads))]).await;
        let r = expect_refusal(r, Code::Unauthenticated, &["token"], what);
        assert!(r.frames.is_empty(), "{what}: {:?}", r.frames);
        let ch = endpoint(&http, &auth).unwrap().connect().await.unwrap();
        let s = StreetClient::with_interceptor(ch, TokenInterceptor::new(&auth).unwrap())
            .list_communities(spb::ListCommunitiesRequest {})
            .await
            .expect_err("the Street API answered without a known token");
        assert_eq!(s.code(), Code::Unauthenticated, "{what}: {s:?}");
    }
    // A node's token on the Street API.
    let ch = endpoint(&http, &node_auth)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let s = StreetClient::with_interceptor(ch, TokenInterceptor::new(&node_auth).unwrap())
        .list_communities(spb::ListCommunitiesRequest {})
        .await
        .expect_err("a node's token opened the Street API");
    assert_eq!(s.code(), Code::PermissionDenied, "{s:?}");
    assert_eq!(heads_at_coord().await, heads, "refusals changed nothing");
    op.list_communities(spb::ListCommunitiesRequest {})
        .await
        .expect("still serving");

    let _ = stop.send(());
    server
        .await
        .unwrap()
        .expect("the coordinator stops cleanly");
}
