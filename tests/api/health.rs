//! gRPC health and reflection report the office service.

use gridsync_testkit::*;
use tonic::Code;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_reflection_report_the_office_service() {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let dir = tempfile::tempdir().expect("a temporary folder");
    let node = InProcessNode::start(dir.path()).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", node.addr))
        .expect("url")
        .connect()
        .await
        .expect("connect");

    let mut health = HealthClient::new(channel.clone());
    let r = health
        .check(HealthCheckRequest {
            service: s("gridsync.office.v1.Office"),
        })
        .await
        .expect("health check")
        .into_inner();
    assert_eq!(r.status, ServingStatus::Serving as i32);
    let e = health
        .check(HealthCheckRequest {
            service: s("gridsync.office.v1.Nothing"),
        })
        .await
        .expect_err("an unknown service has no health");
    assert_eq!(e.code(), Code::NotFound);

    let mut refl = ServerReflectionClient::new(channel);
    let ask = |m: MessageRequest| ServerReflectionRequest {
        host: s(""),
        message_request: Some(m),
    };
    let mut replies = refl
        .server_reflection_info(tokio_stream::iter(vec![
            ask(MessageRequest::ListServices(s(""))),
            ask(MessageRequest::FileContainingSymbol(s(
                "gridsync.office.v1.Office",
            ))),
        ]))
        .await
        .expect("reflection")
        .into_inner();
    let first = replies
        .message()
        .await
        .expect("a reply")
        .expect("a first reply");
    match first.message_response {
        Some(MessageResponse::ListServicesResponse(l)) => {
            let names: Vec<&str> = l.service.iter().map(|x| x.name.as_str()).collect();
            assert!(names.contains(&"gridsync.office.v1.Office"), "{names:?}");
            assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");
        }
        other => panic!("expected the list of services, got {other:?}"),
    }
    let second = replies
        .message()
        .await
        .expect("a reply")
        .expect("a second reply");
    match second.message_response {
        Some(MessageResponse::FileDescriptorResponse(f)) => {
            assert!(!f.file_descriptor_proto.is_empty());
        }
        other => panic!("expected the descriptor of the office service, got {other:?}"),
    }
    node.stop().await;
}
