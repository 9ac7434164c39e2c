//! gRPC reflection lists exactly the services a process serves, over both
//! reflection versions (v1, and v1alpha which clients such as grpcio's
//! reflection library speak), and health answers for each of them.

use std::collections::BTreeSet;
use std::time::Duration;

use gridsync_core::access::Principal;
use gridsync_core::sync::FrameLimits;
use gridsync_sync::tls::endpoint;
use gridsync_testkit::InProcessNode;
use gridsync_testkit::street::{Pki, TestCoordinator};
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const REFLECTION: [&str; 2] = [
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// The services listed by reflection v1.
async fn listed_v1(channel: Channel) -> BTreeSet<String> {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let mut c = ServerReflectionClient::new(channel);
    let mut replies = c
        .server_reflection_info(tokio_stream::iter([ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        }]))
        .await
        .expect("reflection v1 answers")
        .into_inner();
    match replies
        .message()
        .await
        .expect("a reply")
        .map(|r| r.message_response)
    {
        Some(Some(MessageResponse::ListServicesResponse(l))) => {
            l.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("expected the list of services, got {other:?}"),
    }
}

/// The services listed by reflection v1alpha.
async fn listed_v1alpha(channel: Channel) -> BTreeSet<String> {
    use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;
    let mut c = ServerReflectionClient::new(channel);
    let mut replies = c
        .server_reflection_info(tokio_stream::iter([ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        }]))
        .await
        .expect("reflection v1alpha answers")
        .into_inner();
    match replies
        .message()
        .await
        .expect("a reply")
        .map(|r| r.message_response)
    {
        Some(Some(MessageResponse::ListServicesResponse(l))) => {
            l.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("expected the list of services, got {other:?}"),
    }
}

fn expected(own: &[&str]) -> BTreeSet<String> {
    own.iter()
        .chain(&["grpc.health.v1.Health"])
        .chain(REFLECTION.iter())
        .map(|s| s.to_string())
        .collect()
}

async fn serving(channel: Channel, service: &str) -> bool {
    HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .is_ok_and(|r| r.into_inner().status == ServingStatus::Serving as i32)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_lists_the_office_service_and_nothing_of_the_street() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let node = InProcessNode::start(dir.path()).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", node.addr))
        .expect("url")
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .expect("connect");
    let want = expected(&["gridsync.office.v1.Office"]);
    assert_eq!(listed_v1(channel.clone()).await, want);
    assert_eq!(listed_v1alpha(channel.clone()).await, want);
    assert!(serving(channel.clone(), "gridsync.office.v1.Office").await);
    assert!(!serving(channel, "gridsync.sync.v1.Sync").await);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_coordinator_lists_the_sync_and_street_services_and_not_the_office() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let pki = Pki::new();
    let coord = TestCoordinator::start(dir.path(), &pki, 0, FrameLimits::default()).await;
    let auth = pki.client(&Principal::Operator("tester".into()));
    let channel = endpoint(&format!("https://localhost:{}", coord.addr.port()), &auth)
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    let want = expected(&["gridsync.street.v1.Street", "gridsync.sync.v1.Sync"]);
    assert_eq!(listed_v1(channel.clone()).await, want);
    assert_eq!(listed_v1alpha(channel.clone()).await, want);
    assert!(serving(channel.clone(), "gridsync.sync.v1.Sync").await);
    assert!(serving(channel.clone(), "gridsync.street.v1.Street").await);
    assert!(!serving(channel, "gridsync.office.v1.Office").await);
    coord.stop().await;
}
