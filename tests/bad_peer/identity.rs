//! Identity over real sockets: a tonic server on 127.0.0.1:0 with the
//! street's mutual TLS (or insecure development tokens) serving
//! tonic-health behind `AuthInterceptor`, and clients with good, missing,
//! foreign and expired credentials. Also the token file's errors, reading
//! principals from certificates, and `gridctl certs` writing files.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gridsync_cli::certs::CertsCommand;
use gridsync_core::CommunityId;
use gridsync_core::access::Principal;
use gridsync_sync::accept::{self, AcceptLimits, Acceptor};
use gridsync_sync::identity::{
    AuthInterceptor, Authenticator, DevTokens, principal_of_cert, principal_of_request,
};
use gridsync_sync::issue::{issue_ca, issue_leaf, issue_server};
use gridsync_sync::tls::{
    ClientAuth, IssuedCert, ServerTls, TlsError, TlsFiles, TlsPems, TokenInterceptor, client_tls,
    endpoint, server_tls,
};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, ClientTlsConfig, Server};
use tonic::{Code, Request, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

/// Bounds every client call so that a hang fails the test instead of
/// stalling it; no test waits for time to pass.
const CALL_LIMIT: Duration = Duration::from_secs(30);

fn valid() -> (OffsetDateTime, OffsetDateTime) {
    let now = OffsetDateTime::now_utc();
    (
        now - time::Duration::hours(1),
        now + time::Duration::days(30),
    )
}

fn node(c: &str) -> Principal {
    Principal::Node(CommunityId::parse(c).expect("community id"))
}

fn operator(n: &str) -> Principal {
    Principal::Operator(n.to_string())
}

/// A street CA with the coordinator's server certificate.
struct Street {
    ca: IssuedCert,
    server: IssuedCert,
    /// The validity of everything issued here (the CA's too, so that no
    /// certificate outlives it).
    validity: (OffsetDateTime, OffsetDateTime),
}

impl Street {
    fn new(name: &str) -> Self {
        let (nb, na) = valid();
        let ca = issue_ca(name, nb, na).expect("CA");
        let hosts = ["localhost".to_string(), "127.0.0.1".to_string()];
        let server = issue_server(&ca, &hosts, nb, na).expect("server certificate");
        Street {
            ca,
            server,
            validity: (nb, na),
        }
    }

    fn leaf(&self, p: &Principal) -> IssuedCert {
        let (nb, na) = self.validity;
        issue_leaf(&self.ca, p, nb, na).expect("leaf certificate")
    }

    fn server_tls(&self) -> ServerTls {
        server_tls(&TlsPems::new(&self.ca, &self.server)).expect("server TLS")
    }

    fn client(&self, own: &IssuedCert) -> ClientAuth {
        ClientAuth::Tls(client_tls(&TlsPems::new(&self.ca, own), "localhost").expect("client TLS"))
    }
}

/// A health server whose every request goes through `AuthInterceptor`; the
/// principals it authenticated come out of `seen`.
struct TestServer {
    addr: SocketAddr,
    seen: mpsc::UnboundedReceiver<Principal>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
}

impl TestServer {
    async fn start(auth: Authenticator, tls: Option<ServerTls>) -> Self {
        let (_reporter, health) = tonic_health::server::health_reporter();
        let (tx, seen) = mpsc::unbounded_channel();
        let mut auth = AuthInterceptor::new(Arc::new(auth));
        let svc = InterceptedService::new(health, move |req: Request<()>| {
            let req = auth.call(req)?;
            let principal = principal_of_request(&req)?.clone();
            let _ = tx.send(principal);
            Ok(req)
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        // The servers' own way in: the TLS handshake done by the acceptor.
        let incoming = Acceptor::new(tls, AcceptLimits::default()).serve(accept::tcp(listener));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(
            Server::builder()
                .add_service(svc)
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = stopped.await;
                }),
        );
        TestServer {
            addr,
            seen,
            stop: Some(stop),
            task,
        }
    }

    /// One health check as `auth`; `Ok` with the principal the server saw.
    async fn call(&mut self, auth: &ClientAuth) -> Result<Principal, Status> {
        let addr = self.addr.to_string();
        let attempt = async {
            let channel = endpoint(&addr, auth)
                .expect("endpoint")
                .connect()
                .await
                .map_err(|e| Status::unavailable(format!("connect: {e:?}")))?;
            let mut client = HealthClient::with_interceptor(
                channel,
                TokenInterceptor::new(auth).expect("token"),
            );
            client
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await
        };
        tokio::time::timeout(CALL_LIMIT, attempt)
            .await
            .expect("the call neither succeeded nor failed in time")?;
        Ok(self
            .seen
            .try_recv()
            .expect("a successful call passed the interceptor"))
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task
            .await
            .expect("server task")
            .expect("server ended cleanly");
    }
}

#[tokio::test]
async fn node_and_operator_certificates_from_the_street_ca_name_their_principal() {
    let street = Street::new("桐柏路街道");
    let mut server = TestServer::start(Authenticator::MutualTls, Some(street.server_tls())).await;
    for p in [node("c01"), operator("alice")] {
        let got = server
            .call(&street.client(&street.leaf(&p)))
            .await
            .expect("a certificate from the street CA is accepted");
        assert_eq!(got, p);
    }
    server.stop().await;
}

#[tokio::test]
async fn a_client_without_a_certificate_is_told_what_to_configure() {
    let street = Street::new("s");
    let mut server = TestServer::start(Authenticator::MutualTls, Some(street.server_tls())).await;
    let anonymous = ClientAuth::Tls(
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&street.ca.cert_pem))
            .domain_name("localhost"),
    );
    let status = server.call(&anonymous).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(
        status.message().contains("no client certificate"),
        "{status:?}"
    );
    // The same over plain HTTP/2: nothing to read a principal from.
    let mut plain = TestServer::start(Authenticator::MutualTls, None).await;
    let status = plain.call(&ClientAuth::None).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    server.stop().await;
    plain.stop().await;
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused_and_the_server_keeps_serving() {
    let street = Street::new("s");
    let other = Street::new("another street");
    let mut server = TestServer::start(Authenticator::MutualTls, Some(street.server_tls())).await;
    // A client of the other street trusting our server, with its own cert.
    let foreign_leaf = other.leaf(&node("c01"));
    let foreign = ClientAuth::Tls(
        client_tls(
            &TlsPems {
                ca: street.ca.cert_pem.clone(),
                cert: foreign_leaf.cert_pem,
                key: foreign_leaf.key_pem,
            },
            "localhost",
        )
        .expect("client TLS"),
    );
    let refused = server.call(&foreign).await;
    assert!(refused.is_err(), "a foreign certificate was accepted");
    assert!(
        server.seen.try_recv().is_err(),
        "the refused call reached the service"
    );
    let p = node("c02");
    assert_eq!(
        server
            .call(&street.client(&street.leaf(&p)))
            .await
            .expect("good client"),
        p
    );
    server.stop().await;
}

#[tokio::test]
async fn an_expired_certificate_is_refused() {
    let street = Street::new("s");
    let mut server = TestServer::start(Authenticator::MutualTls, Some(street.server_tls())).await;
    let now = OffsetDateTime::now_utc();
    let expired = issue_leaf(
        &street.ca,
        &node("c01"),
        now - time::Duration::days(10),
        now - time::Duration::days(1),
    )
    .expect("an expired leaf can be issued");
    assert!(server.call(&street.client(&expired)).await.is_err());
    let p = node("c01");
    assert_eq!(
        server
            .call(&street.client(&street.leaf(&p)))
            .await
            .expect("good client"),
        p
    );
    server.stop().await;
}

const TOKENS: &str = r#"
[[token]]
token = "dev-token-for-c01-0123456789"
principal = "node:c01"

[[token]]
token = "dev-token-for-bob-9876543210"
principal = "operator:bob"
"#;

#[tokio::test]
async fn development_tokens_name_their_principal_and_nothing_else_passes() {
    let tokens = DevTokens::from_toml_str(TOKENS, "tokens.toml").expect("token file");
    assert_eq!(tokens.len(), 2);
    let mut server = TestServer::start(Authenticator::DevTokens(tokens), None).await;
    let c01 = ClientAuth::DevToken("dev-token-for-c01-0123456789".into());
    assert_eq!(server.call(&c01).await.expect("good token"), node("c01"));
    let bob = ClientAuth::DevToken("dev-token-for-bob-9876543210".into());
    assert_eq!(
        server.call(&bob).await.expect("good token"),
        operator("bob")
    );

    let unknown = ClientAuth::DevToken("dev-token-for-c01-0123456780".into());
    let status = server.call(&unknown).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("unknown development token"));
    assert!(!status.message().contains("0123456780"), "{status:?}");

    let status = server.call(&ClientAuth::None).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(
        status.message().contains("authorization: Bearer"),
        "{status:?}"
    );
    server.stop().await;
}

#[test]
fn token_file_errors_name_the_entry_and_never_the_token() {
    let cases = [
        (
            "[[token]]\ntoken = \"short-secret\"\nprincipal = \"node:c01\"\n",
            "entry 1 (node:c01)",
            "at least 16",
        ),
        (
            "[[token]]\ntoken = \"0123456789abcdef-secret\"\nprincipal = \"node:c01\"\n\
             [[token]]\ntoken = \"0123456789abcdef-secret\"\nprincipal = \"node:c02\"\n",
            "entry 2 (node:c02)",
            "same token as entry 1",
        ),
        (
            "[[token]]\ntoken = \"0123456789abcdef-secret\"\nprincipal = \"nod:c01\"\n",
            "entry 1",
            "\"nod:c01\" is not a principal",
        ),
        (
            "[[token]]\ntoken = \"0123456789abcdef-secret\"\nprincipal = \"node:C 01\"\n",
            "entry 1",
            "is not a principal",
        ),
        ("", "tokens.toml", "no [[token]] entries"),
        (
            "[[token]]\ntoken = \"0123456789abcdef-secret\nprincipal = \"node:c01\"\n",
            "tokens.toml: line",
            "[[token]]",
        ),
        (
            "[[token]]\ntoken = \"0123456789abcdef-secret\"\nprincipal = \"node:c01\"\nrole = \"x\"\n",
            "tokens.toml",
            "role",
        ),
    ];
    for (text, names, says) in cases {
        let err = DevTokens::from_toml_str(text, "tokens.toml").unwrap_err();
        assert!(matches!(err, TlsError::TokenFile { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains(names), "{msg:?} should name {names:?}");
        assert!(msg.contains(says), "{msg:?} should say {says:?}");
        assert!(!msg.contains("secret"), "{msg:?} shows a token");
    }
}

#[test]
fn a_certificate_without_a_gridsync_uri_is_refused_clearly() {
    let street = Street::new("s");
    let err = principal_of_cert(&street.server.cert_der().expect("der")).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, TlsError::NoPrincipal { .. }), "{msg}");
    assert!(msg.contains("urn:gridsync:"), "{msg}");
    assert!(msg.contains("DNS localhost"), "{msg}");
    assert!(msg.contains("CN=localhost"), "{msg}");

    // A URI in our namespace that names no principal, and two principals.
    let (nb, na) = valid();
    let self_signed = |uris: &[&str]| {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.not_before = nb;
        params.not_after = na;
        for uri in uris {
            params.subject_alt_names.push(rcgen::SanType::URI(
                rcgen::string::Ia5String::try_from(*uri).expect("ia5"),
            ));
        }
        let key = rcgen::KeyPair::generate().expect("key");
        params.self_signed(&key).expect("cert").der().to_vec()
    };
    let err = principal_of_cert(&self_signed(&["urn:gridsync:root:x"])).unwrap_err();
    assert!(
        err.to_string()
            .contains("\"urn:gridsync:root:x\" does not name a principal"),
        "{err}"
    );
    let err = principal_of_cert(&self_signed(&[
        "urn:gridsync:node:c01",
        "urn:gridsync:node:c02",
    ]))
    .unwrap_err();
    assert!(err.to_string().contains("2 principals"), "{err}");
    let err = principal_of_cert(b"not a certificate").unwrap_err();
    assert!(matches!(err, TlsError::BadCertificate(_)), "{err}");
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

fn run(cmd: CertsCommand) -> Result<String, TlsError> {
    let mut out = Vec::new();
    cmd.run(&mut out)?;
    Ok(String::from_utf8(out).expect("utf-8"))
}

#[tokio::test]
async fn gridctl_certs_writes_files_that_serve_mutual_tls() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("pki");
    let init = |force| CertsCommand::Init {
        dir: dir.clone(),
        street: "桐柏路街道".into(),
        days: 3650,
        force,
    };
    // Before a CA exists, issuing says how to make one.
    let err = run(CertsCommand::Node {
        dir: dir.clone(),
        community: "c01".into(),
        days: 825,
        force: false,
    })
    .unwrap_err();
    assert!(err.to_string().contains("gridctl certs init"), "{err}");

    let said = run(init(false)).expect("init");
    assert!(
        said.contains(&dir.join("ca.pem").display().to_string()),
        "{said}"
    );
    assert!(
        said.contains(&dir.join("ca.key").display().to_string()),
        "{said}"
    );
    let ca_before = std::fs::read_to_string(dir.join("ca.pem")).expect("ca.pem");
    let err = run(init(false)).unwrap_err();
    assert!(matches!(err, TlsError::Exists { .. }), "{err}");
    assert!(err.to_string().contains("--force"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.join("ca.pem")).expect("ca.pem"),
        ca_before,
        "a refused init left the CA alone"
    );

    let said = run(CertsCommand::Server {
        dir: dir.clone(),
        hosts: vec!["localhost".into(), "127.0.0.1".into()],
        days: 825,
        force: false,
    })
    .expect("server");
    assert!(said.contains("coordinator.pem"), "{said}");
    for (cmd, name) in [
        (
            CertsCommand::Node {
                dir: dir.clone(),
                community: "c01".into(),
                days: 825,
                force: false,
            },
            "node-c01",
        ),
        (
            CertsCommand::Operator {
                dir: dir.clone(),
                name: "alice".into(),
                days: 825,
                force: false,
            },
            "operator-alice",
        ),
    ] {
        let again = cmd.clone();
        let said = run(cmd).expect("leaf");
        assert!(said.contains(&format!("{name}.pem")), "{said}");
        assert!(matches!(run(again), Err(TlsError::Exists { .. })));
    }
    let err = run(CertsCommand::Operator {
        dir: dir.clone(),
        name: "alice w".into(),
        days: 825,
        force: false,
    })
    .unwrap_err();
    assert!(err.to_string().contains("operator:alice w"), "{err}");
    // A certificate asked to outlive the CA ends with it, and says so.
    let said = run(CertsCommand::Operator {
        dir: dir.clone(),
        name: "long".into(),
        days: 20_000,
        force: false,
    })
    .expect("clamped");
    assert!(said.contains("the CA's expiry"), "{said}");

    #[cfg(unix)]
    for key in [
        "ca.key",
        "coordinator.key",
        "node-c01.key",
        "operator-alice.key",
    ] {
        assert_eq!(mode(&dir.join(key)), 0o600, "{key}");
    }

    // The files as the coordinator and a node would load them.
    let coordinator = TlsFiles::in_dir(&dir, "coordinator").load().expect("load");
    let c01 = TlsFiles::in_dir(&dir, "node-c01").load().expect("load");
    let mut server = TestServer::start(
        Authenticator::MutualTls,
        Some(server_tls(&coordinator).expect("server TLS")),
    )
    .await;
    let auth = ClientAuth::Tls(client_tls(&c01, "localhost").expect("client TLS"));
    assert_eq!(server.call(&auth).await.expect("node"), node("c01"));

    // --force replaces the node's certificate; the old one is gone.
    run(CertsCommand::Node {
        dir: dir.clone(),
        community: "c01".into(),
        days: 825,
        force: true,
    })
    .expect("forced");
    let replaced = TlsFiles::in_dir(&dir, "node-c01").load().expect("load");
    assert_ne!(replaced.cert, c01.cert);
    #[cfg(unix)]
    assert_eq!(mode(&dir.join("node-c01.key")), 0o600);
    server.stop().await;

    // After a forced init, a key that is not the certificate's is refused.
    run(init(true)).expect("forced init");
    let mixed = TlsFiles {
        ca: dir.join("ca.pem"),
        cert: dir.join("ca.pem"),
        key: dir.join("node-c01.key"),
    };
    let err = mixed.load().unwrap_err();
    assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err}");
}

#[test]
fn loading_files_names_the_file_that_is_wrong() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let street = Street::new("s");
    let now = OffsetDateTime::now_utc();
    let expired = issue_leaf(
        &street.ca,
        &node("c01"),
        now - time::Duration::days(10),
        now - time::Duration::days(1),
    )
    .expect("expired leaf");
    street
        .ca
        .write(&dir.join("ca.pem"), &dir.join("ca.key"), false)
        .expect("write");
    expired
        .write(&dir.join("old.pem"), &dir.join("old.key"), false)
        .expect("write");
    let err = TlsFiles::in_dir(dir, "old").load().unwrap_err();
    assert!(matches!(err, TlsError::Expired { .. }), "{err}");
    assert!(err.to_string().contains("old.pem"), "{err}");

    let err = TlsFiles::in_dir(dir, "missing").load().unwrap_err();
    assert!(err.to_string().contains("missing.pem"), "{err}");

    std::fs::write(dir.join("garbage.pem"), "hello").expect("write");
    std::fs::write(dir.join("garbage.key"), "hello").expect("write");
    let err = TlsFiles::in_dir(dir, "garbage").load().unwrap_err();
    assert!(matches!(err, TlsError::BadPem { .. }), "{err}");
    assert!(err.to_string().contains("garbage.pem"), "{err}");

    // A certificate where the key should be.
    let files = TlsFiles {
        ca: dir.join("ca.pem"),
        cert: dir.join("ca.pem"),
        key: dir.join("ca.pem"),
    };
    let err = files.load().unwrap_err();
    assert!(err.to_string().contains("not a private key"), "{err}");
}
