//! Transport security: the TLS material of a process (the street CA's
//! certificate, its own certificate and key), checked when it is loaded, and
//! the rustls settings of both ends (tonic's rustls with the `ring`
//! provider): the coordinator as server, the nodes and `gridctl` as clients.
//!
//! The server asks for a client certificate but lets a client without one
//! finish the handshake, only so that it gets a clear `Unauthenticated`
//! (see [`crate::identity`]) instead of an opaque handshake failure; a
//! certificate that is expired or from another CA is still refused by
//! rustls during the handshake. Private keys are never logged nor shown by
//! `Debug`.

use std::fmt;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use gridsync_core::access::PrincipalParseError;
use std::sync::Arc;
use time::OffsetDateTime;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;

use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
use tonic::{Request, Status};
use x509_parser::certificate::X509Certificate;
use x509_parser::pem::Pem;

/// What every principal URI SAN of a certificate starts with; the rest is
/// the principal's text form (`node:c01`, `operator:alice`).
pub const PRINCIPAL_URI_PREFIX: &str = "urn:gridsync:";

/// Everything that can go wrong with certificates, keys, tokens and the
/// transport settings. Each message says what was wrong and what to do.
/// Messages include the text of the error underneath, so no variant marks
/// it as a `source` (anyhow's `{:#}` would print it twice).
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {error}; check the path and that this user may read it")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot write {path}: {error}; check that the folder exists and is writable")]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{} holds no CA (ca.pem); make one first with `gridctl certs init --dir {} --street NAME`", dir.display(), dir.display())]
    NoCa { dir: PathBuf },
    #[error("{path} already exists; refusing to overwrite it (move it away, or pass --force)")]
    Exists { path: PathBuf },
    #[error("{what} is not a usable PEM {expected}: {reason}")]
    BadPem {
        what: String,
        expected: &'static str,
        reason: String,
    },
    #[error("{what} expired on {not_after}; issue a new one (gridctl certs …)")]
    Expired { what: String, not_after: String },
    #[error("{key} is not the private key of {cert}; use the key written together with it")]
    KeyMismatch { cert: String, key: String },
    #[error("{what} is not a CA certificate; sign with the street CA made by `gridctl certs init`")]
    NotACa { what: String },
    #[error(
        "{what} would be valid until {not_after}, after its CA expires ({ca_not_after}); \
         ask for fewer days, or make a new CA"
    )]
    OutlivesCa {
        what: String,
        not_after: OffsetDateTime,
        ca_not_after: OffsetDateTime,
    },
    #[error(
        "validity from {not_before} to {not_after} is empty; not_after must come after not_before"
    )]
    BadValidity {
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    },
    #[error("{days} days is not a validity period; give at least 1 day (and less than 100 years)")]
    BadDays { days: u32 },
    #[error("the street name must not be empty and at most 48 characters, got {0:?}")]
    BadStreet(String),
    #[error("a server certificate needs at least one host (a DNS name or an IP address)")]
    NoHosts,
    #[error("{host:?} is not a host name or IP address for a certificate: {reason}")]
    BadHost { host: String, reason: String },
    #[cfg(feature = "issue")]
    #[error("cannot issue {what}: {error}")]
    Issue { what: String, error: rcgen::Error },
    #[error("the certificate is not valid X.509: {0}")]
    BadCertificate(String),
    #[error(
        "the certificate ({subject}) has no {PRINCIPAL_URI_PREFIX}… URI SAN naming a principal \
         (it has: {found}); use a node or operator certificate from `gridctl certs node|operator`"
    )]
    NoPrincipal { subject: String, found: String },
    #[error(
        "the certificate names {count} principals ({found}); a certificate must name exactly one"
    )]
    SeveralPrincipals { count: usize, found: String },
    #[error("the certificate's URI SAN {uri:?} does not name a principal: {error}")]
    BadPrincipal {
        uri: String,
        error: PrincipalParseError,
    },
    #[error("{0}")]
    BadPrincipalName(PrincipalParseError),
    #[error("development token file {file}: {reason}")]
    TokenFile { file: String, reason: String },
    #[error(
        "the development token is not a valid header value; tokens are printable ASCII without spaces"
    )]
    BadToken,
    #[error("{url:?} is not an address like 127.0.0.1:7400 or https://host:port: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("{url} is plain http:// but TLS is configured; use https:// (or leave the scheme out)")]
    PlainUrlWithTls { url: String },
    #[error("{url} is https:// but no TLS is configured; give the CA, certificate and key files")]
    HttpsWithoutTls { url: String },
    #[error("the TLS settings were refused: {0}")]
    Transport(String),
}

/// A certificate and its private key, both PEM. `Debug` hides the key.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedCert {
    pub cert_pem: String,
    pub key_pem: String,
}

impl fmt::Debug for IssuedCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCert")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<hidden>")
            .finish()
    }
}

impl IssuedCert {
    /// Reads a certificate and its key (e.g. the CA's `ca.pem` and `ca.key`,
    /// to issue more certificates), checking that both parse and belong
    /// together. Errors name the file.
    pub fn load(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let issued = IssuedCert {
            cert_pem: read_text(cert)?,
            key_pem: read_text(key)?,
        };
        let ders = cert_ders(&issued.cert_pem, &cert.display().to_string())?;
        check_key(&issued.key_pem, &key.display().to_string())?;
        check_key_matches(
            &ders[0],
            &issued.key_pem,
            &cert.display().to_string(),
            &key.display().to_string(),
        )?;
        Ok(issued)
    }

    /// Writes the certificate (mode 0644) and the key (mode 0600). Refuses
    /// to replace either file unless `overwrite`; nothing is written if one
    /// of them exists.
    pub fn write(&self, cert: &Path, key: &Path, overwrite: bool) -> Result<(), TlsError> {
        if !overwrite {
            for path in [cert, key] {
                if path.exists() {
                    return Err(TlsError::Exists {
                        path: path.to_path_buf(),
                    });
                }
            }
        }
        write_file(key, &self.key_pem, 0o600, overwrite)?;
        write_file(cert, &self.cert_pem, 0o644, overwrite)
    }

    /// The DER of the (first) certificate.
    pub fn cert_der(&self) -> Result<Vec<u8>, TlsError> {
        Ok(cert_ders(&self.cert_pem, "the certificate")?.remove(0))
    }
}

/// Where a process finds its TLS material: the street CA's certificate and
/// its own certificate and key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The TLS material itself, PEM. `Debug` hides the key.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsPems {
    /// The street CA's certificate.
    pub ca: String,
    /// This process's certificate.
    pub cert: String,
    /// This process's private key.
    pub key: String,
}

impl fmt::Debug for TlsPems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsPems")
            .field("ca", &self.ca)
            .field("cert", &self.cert)
            .field("key", &"<hidden>")
            .finish()
    }
}

impl TlsPems {
    /// The material of `own`, issued by `ca`.
    pub fn new(ca: &IssuedCert, own: &IssuedCert) -> Self {
        TlsPems {
            ca: ca.cert_pem.clone(),
            cert: own.cert_pem.clone(),
            key: own.key_pem.clone(),
        }
    }
}

impl TlsFiles {
    /// The files `gridctl certs` writes: `dir/ca.pem`, `dir/<name>.pem` and
    /// `dir/<name>.key` (`name` like `coordinator`, `node-c01`).
    pub fn in_dir(dir: &Path, name: &str) -> Self {
        TlsFiles {
            ca: dir.join("ca.pem"),
            cert: dir.join(format!("{name}.pem")),
            key: dir.join(format!("{name}.key")),
        }
    }

    /// Reads the three files and checks them: each parses, the key belongs
    /// to the certificate, and neither the certificate nor the CA has
    /// expired. Errors name the file.
    pub fn load(&self) -> Result<TlsPems, TlsError> {
        let pems = TlsPems {
            ca: read_text(&self.ca)?,
            cert: read_text(&self.cert)?,
            key: read_text(&self.key)?,
        };
        let now = time::OffsetDateTime::now_utc();
        for (path, text) in [(&self.ca, &pems.ca), (&self.cert, &pems.cert)] {
            let what = path.display().to_string();
            let ders = cert_ders(text, &what)?;
            let not_after = parse_der(&ders[0])?.validity().not_after;
            if not_after.to_datetime() < now {
                return Err(TlsError::Expired {
                    what,
                    not_after: not_after.to_string(),
                });
            }
        }
        check_key(&pems.key, &self.key.display().to_string())?;
        check_key_matches(
            &cert_ders(&pems.cert, "")?[0],
            &pems.key,
            &self.cert.display().to_string(),
            &self.key.display().to_string(),
        )?;
        Ok(pems)
    }
}

/// A server's TLS settings (rustls, the `ring` provider), for
/// [`crate::accept::Acceptor`].
#[derive(Clone)]
pub struct ServerTls(Arc<rustls::ServerConfig>);

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerTls")
    }
}

impl ServerTls {
    pub fn config(&self) -> Arc<rustls::ServerConfig> {
        self.0.clone()
    }
}

/// The coordinator's TLS: its identity, client certificates checked against
/// the street CA, and clients without a certificate let through the
/// handshake so that [`authenticate`](crate::identity::authenticate) can
/// tell them what to configure. Certificates from another CA, or expired
/// ones, fail the handshake.
pub fn server_tls(pems: &TlsPems) -> Result<ServerTls, TlsError> {
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject;
    check_pems(pems)?;
    let refused = |e: rustls::Error| TlsError::Transport(e.to_string());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for der in cert_ders(&pems.ca, "the CA certificate")? {
        roots.add(der.into()).map_err(refused)?;
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()
    .map_err(|e| TlsError::Transport(e.to_string()))?;
    let chain = cert_ders(&pems.cert, "the certificate")?
        .into_iter()
        .map(Into::into)
        .collect();
    let key = PrivateKeyDer::from_pem_slice(pems.key.as_bytes()).map_err(|e| TlsError::BadPem {
        what: "the key".into(),
        expected: "private key",
        reason: e.to_string(),
    })?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(refused)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(refused)?;
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    Ok(ServerTls(Arc::new(cfg)))
}

/// A client's TLS: trusts only the street CA, presents its own certificate,
/// and expects the server's certificate to name `domain` (`localhost`,
/// `coordinator.example`).
pub fn client_tls(pems: &TlsPems, domain: &str) -> Result<ClientTlsConfig, TlsError> {
    check_pems(pems)?;
    Ok(ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&pems.ca))
        .identity(Identity::from_pem(&pems.cert, &pems.key))
        .domain_name(domain)
        .timeout(Duration::from_secs(10)))
}

/// How a client proves who it is. `Debug` hides the token and key.
#[derive(Clone)]
pub enum ClientAuth {
    /// Mutual TLS with a certificate from the street CA.
    Tls(ClientTlsConfig),
    /// An insecure development token, sent as `authorization: Bearer …`.
    DevToken(String),
    /// Nothing (a server that does not authenticate, e.g. a node's local API).
    None,
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClientAuth::Tls(_) => "ClientAuth::Tls",
            ClientAuth::DevToken(_) => "ClientAuth::DevToken(<hidden>)",
            ClientAuth::None => "ClientAuth::None",
        })
    }
}

/// An endpoint for `url` (`host:port` or a URL; without a scheme, https
/// when TLS is configured, http otherwise) with TLS when configured,
/// HTTP/2 keep-alive every 10 s (also while idle, 10 s timeout) and a 5 s
/// connect timeout. For a dev token, also wrap the client with
/// [`TokenInterceptor`].
pub fn endpoint(url: &str, auth: &ClientAuth) -> Result<Endpoint, TlsError> {
    let tls = matches!(auth, ClientAuth::Tls(_));
    let full = if url.contains("://") {
        url.to_string()
    } else if tls {
        format!("https://{url}")
    } else {
        format!("http://{url}")
    };
    match (full.split("://").next(), tls) {
        (Some("http"), true) => return Err(TlsError::PlainUrlWithTls { url: full }),
        (Some("https"), false) => return Err(TlsError::HttpsWithoutTls { url: full }),
        _ => {}
    }
    let mut ep = Endpoint::from_shared(full.clone())
        .map_err(|e| TlsError::BadUrl {
            url: url.to_string(),
            reason: e.to_string(),
        })?
        .connect_timeout(Duration::from_secs(5))
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_timeout(Duration::from_secs(10))
        .keep_alive_while_idle(true);
    if let ClientAuth::Tls(config) = auth {
        ep = ep.tls_config(config.clone()).map_err(|e| {
            let mut text = e.to_string();
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                text.push_str(&format!(": {c}"));
                cause = c.source();
            }
            TlsError::Transport(text)
        })?;
    }
    Ok(ep)
}

/// A client interceptor adding `authorization: Bearer <token>` for
/// [`ClientAuth::DevToken`] and nothing otherwise:
/// `XClient::with_interceptor(channel, TokenInterceptor::new(&auth)?)`.
#[derive(Clone)]
pub struct TokenInterceptor {
    header: Option<MetadataValue<Ascii>>,
}

impl fmt::Debug for TokenInterceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenInterceptor")
            .field("token", &self.header.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

impl TokenInterceptor {
    pub fn new(auth: &ClientAuth) -> Result<Self, TlsError> {
        let header = match auth {
            ClientAuth::DevToken(token) => {
                let mut value = MetadataValue::<Ascii>::try_from(format!("Bearer {token}"))
                    .map_err(|_| TlsError::BadToken)?;
                value.set_sensitive(true);
                Some(value)
            }
            ClientAuth::Tls(_) | ClientAuth::None => None,
        };
        Ok(TokenInterceptor { header })
    }
}

impl Interceptor for TokenInterceptor {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.header {
            req.metadata_mut().insert("authorization", value.clone());
        }
        Ok(req)
    }
}

// ----------------------------------------------------------------- helpers

pub(crate) fn read_text(path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|error| TlsError::Read {
        path: path.to_path_buf(),
        error,
    })
}

pub(crate) fn write_file(
    path: &Path,
    text: &str,
    mode: u32,
    overwrite: bool,
) -> Result<(), TlsError> {
    let mut opts = OpenOptions::new();
    opts.write(true);
    if overwrite {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, mode);
    let failed = |source: std::io::Error| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            TlsError::Exists {
                path: path.to_path_buf(),
            }
        } else {
            TlsError::Write {
                path: path.to_path_buf(),
                error: source,
            }
        }
    };
    let mut file = opts.open(path).map_err(failed)?;
    // An existing file keeps its old mode on open; set it.
    #[cfg(unix)]
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))
        .map_err(failed)?;
    #[cfg(not(unix))]
    let _ = mode;
    file.write_all(text.as_bytes()).map_err(failed)?;
    file.sync_all().map_err(failed)
}

pub(crate) fn parse_der(der: &[u8]) -> Result<X509Certificate<'_>, TlsError> {
    x509_parser::parse_x509_certificate(der)
        .map(|(_, cert)| cert)
        .map_err(|e| TlsError::BadCertificate(e.to_string()))
}

/// The DER of every certificate in `text` (at least one, each parsing).
pub(crate) fn cert_ders(text: &str, what: &str) -> Result<Vec<Vec<u8>>, TlsError> {
    let bad = |reason: String| TlsError::BadPem {
        what: what.to_string(),
        expected: "certificate",
        reason,
    };
    let mut ders = Vec::new();
    for pem in Pem::iter_from_buffer(text.as_bytes()) {
        let pem = pem.map_err(|e| bad(e.to_string()))?;
        if pem.label != "CERTIFICATE" {
            return Err(bad(format!(
                "it holds a {:?} block where a CERTIFICATE was expected",
                pem.label
            )));
        }
        pem.parse_x509().map_err(|e| bad(e.to_string()))?;
        ders.push(pem.contents);
    }
    if ders.is_empty() {
        return Err(bad("no -----BEGIN CERTIFICATE----- block found".into()));
    }
    Ok(ders)
}

pub(crate) fn check_key(text: &str, what: &str) -> Result<(), TlsError> {
    let bad = |reason: String| TlsError::BadPem {
        what: what.to_string(),
        expected: "private key",
        reason,
    };
    let mut keys = 0;
    for pem in Pem::iter_from_buffer(text.as_bytes()) {
        let pem = pem.map_err(|e| bad(e.to_string()))?;
        match pem.label.as_str() {
            "PRIVATE KEY" | "EC PRIVATE KEY" | "RSA PRIVATE KEY" => keys += 1,
            other => {
                return Err(bad(format!(
                    "it holds a {other:?} block, not a private key"
                )));
            }
        }
    }
    match keys {
        1 => Ok(()),
        0 => Err(bad("no -----BEGIN PRIVATE KEY----- block found".into())),
        n => Err(bad(format!("it holds {n} keys; keep one key per file"))),
    }
}

/// Checks that `key_pem` is the key of the certificate `cert_der`, when the
/// key is of a kind rustls signs with (ECDSA, Ed25519, RSA); other keys are
/// left to rustls's own handshake.
pub(crate) fn check_key_matches(
    cert_der: &[u8],
    key_pem: &str,
    cert: &str,
    key: &str,
) -> Result<(), TlsError> {
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject;
    use x509_parser::prelude::FromDer;
    let Ok(der) = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()) else {
        return Ok(());
    };
    let Ok(signer) = rustls::crypto::ring::sign::any_supported_type(&der) else {
        return Ok(());
    };
    let Some(spki) = signer.public_key() else {
        return Ok(());
    };
    let Ok((_, from_key)) = x509_parser::x509::SubjectPublicKeyInfo::from_der(spki.as_ref()) else {
        return Ok(());
    };
    let parsed = parse_der(cert_der)?;
    if parsed.public_key().subject_public_key.data != from_key.subject_public_key.data {
        return Err(TlsError::KeyMismatch {
            cert: cert.to_string(),
            key: key.to_string(),
        });
    }
    Ok(())
}

pub(crate) fn check_pems(pems: &TlsPems) -> Result<(), TlsError> {
    cert_ders(&pems.ca, "the CA certificate")?;
    let own = cert_ders(&pems.cert, "the certificate")?;
    check_key(&pems.key, "the key")?;
    check_key_matches(&own[0], &pems.key, "the certificate", "the key")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::DevTokens;

    #[test]
    fn debug_hides_secrets() {
        let tokens = DevTokens::from_toml_str(
            "[[token]]\ntoken = \"0123456789abcdef-secret\"\nprincipal = \"node:c01\"\n",
            "t.toml",
        )
        .expect("tokens");
        let shown = format!(
            "{tokens:?} {:?} {:?} {:?}",
            ClientAuth::DevToken("0123456789abcdef-secret".into()),
            TokenInterceptor::new(&ClientAuth::DevToken("0123456789abcdef-secret".into()))
                .expect("interceptor"),
            IssuedCert {
                cert_pem: "CERT".into(),
                key_pem: "-----BEGIN PRIVATE KEY----- secret".into(),
            }
        );
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("node:c01"), "{shown}");
    }

    #[test]
    fn endpoints_refuse_a_scheme_that_contradicts_the_tls_setting() {
        let tls = ClientAuth::Tls(ClientTlsConfig::new());
        assert!(matches!(
            endpoint("http://127.0.0.1:1", &tls),
            Err(TlsError::PlainUrlWithTls { .. })
        ));
        assert!(matches!(
            endpoint("https://127.0.0.1:1", &ClientAuth::None),
            Err(TlsError::HttpsWithoutTls { .. })
        ));
        let ep = endpoint("127.0.0.1:1", &tls).expect("endpoint");
        assert_eq!(ep.uri().scheme_str(), Some("https"));
        let ep = endpoint("127.0.0.1:1", &ClientAuth::DevToken("x".into())).expect("endpoint");
        assert_eq!(ep.uri().scheme_str(), Some("http"));
    }
}
