//! Identity and transport security: who a peer is, proven by the transport.
//!
//! Every node has an identity bound to one community, and every operator one
//! bound to a name: a [`Principal`]. In production the proof is a client
//! certificate issued by the street's own CA and checked over mutual TLS
//! (tonic's rustls with the `ring` provider). The certificate carries the
//! principal as one URI SAN, `urn:gridsync:node:<community>` or
//! `urn:gridsync:operator:<name>`; nothing a peer says about itself in a
//! request counts.
//!
//! The module has four parts:
//!
//! - **Issuance** ([`issue_ca`], [`issue_leaf`], [`issue_server`]): ECDSA
//!   P-256 certificates made with rcgen, with explicit validity bounds so that
//!   tests can make an already expired one. [`IssuedCert`] loads and writes
//!   PEM pairs (keys `0600`, never overwritten unless asked).
//! - **Reading identity** ([`principal_of_cert`], [`Authenticator`],
//!   [`authenticate`], [`AuthInterceptor`]): the principal of a verified peer
//!   certificate, or — only when configured, never by default — of an
//!   *insecure development token* ([`DevTokens`]).
//! - **Transport** ([`TlsFiles`], [`server_tls`], [`client_tls`],
//!   [`ClientAuth`], [`endpoint`], [`TokenInterceptor`]): the rustls configs
//!   for the coordinator (server) and the nodes and `gridctl` (clients).
//! - **`gridctl certs`** ([`CertsCommand`]): creating the CA and its
//!   certificates from the command line.
//!
//! ## What it refuses
//!
//! A request with no certificate (or, in development mode, no known token)
//! gets `Unauthenticated` with a message saying what to configure. The
//! server asks for a client certificate but lets a client without one finish
//! the handshake, only so that it gets that clear message instead of an
//! opaque handshake failure; a certificate that is expired or from another CA
//! is still refused by rustls during the handshake. Token values and private
//! keys are never logged nor shown by `Debug`.

use std::collections::HashMap;
use std::fmt;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use gridsync_core::access::{Principal, PrincipalParseError};
use rcgen::string::Ia5String;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use serde::Deserialize;
use time::OffsetDateTime;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig};
use tonic::{Request, Status};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;

/// What every principal URI SAN starts with; the rest is the principal's
/// text form (`node:c01`, `operator:alice`).
pub const PRINCIPAL_URI_PREFIX: &str = "urn:gridsync:";

/// The shortest development token accepted, in characters.
pub const MIN_TOKEN_LEN: usize = 16;

/// How far back a certificate made by `gridctl certs` starts to be valid,
/// so that a peer whose clock runs a little behind still accepts it.
const CLOCK_SKEW: time::Duration = time::Duration::hours(1);

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

// ---------------------------------------------------------------- issuance

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

/// `(now - 1 hour, now + days)`: the validity `gridctl certs` gives, with an
/// hour of slack for peers whose clock runs behind.
pub fn validity_days(days: u32) -> Result<(OffsetDateTime, OffsetDateTime), TlsError> {
    if days == 0 || days > 36_500 {
        return Err(TlsError::BadDays { days });
    }
    let now = OffsetDateTime::now_utc();
    Ok((
        now - CLOCK_SKEW,
        now + time::Duration::days(i64::from(days)),
    ))
}

/// Makes the street's CA: a self-signed ECDSA P-256 certificate that may
/// sign end-entity certificates only (path length 0).
pub fn issue_ca(
    street: &str,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<IssuedCert, TlsError> {
    let street = street.trim();
    if street.is_empty() || street.chars().count() > 48 {
        return Err(TlsError::BadStreet(street.to_string()));
    }
    let mut params = base_params(not_before, not_after)?;
    params
        .distinguished_name
        .push(DnType::CommonName, format!("gridsync CA {street}"));
    params
        .distinguished_name
        .push(DnType::OrganizationName, street);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let what = || format!("the CA of {street}");
    let key = new_key(&what())?;
    let cert = params.self_signed(&key).map_err(|error| TlsError::Issue {
        what: what(),
        error,
    })?;
    Ok(IssuedCert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// A client certificate for `principal`, signed by `ca`: the principal as
/// the URI SAN `urn:gridsync:<principal>` and as the subject CN, extended
/// key usage clientAuth.
pub fn issue_leaf(
    ca: &IssuedCert,
    principal: &Principal,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<IssuedCert, TlsError> {
    let what = format!("the certificate of {principal}");
    let uri = principal_uri(principal);
    let mut params = base_params(not_before, not_after)?;
    params
        .distinguished_name
        .push(DnType::CommonName, principal.to_string());
    let uri = Ia5String::try_from(uri).map_err(|error| TlsError::Issue {
        what: what.clone(),
        error,
    })?;
    params.subject_alt_names = vec![SanType::URI(uri)];
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    sign(ca, params, what)
}

/// The coordinator's server certificate, signed by `ca`: a DNS or IP SAN
/// for each of `hosts` (`localhost`, `127.0.0.1`, `coordinator.example`),
/// extended key usage serverAuth.
pub fn issue_server(
    ca: &IssuedCert,
    hosts: &[String],
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<IssuedCert, TlsError> {
    let first = hosts.first().ok_or(TlsError::NoHosts)?;
    let mut params = base_params(not_before, not_after)?;
    params
        .distinguished_name
        .push(DnType::CommonName, first.as_str());
    for host in hosts {
        let bad = |reason: String| TlsError::BadHost {
            host: host.clone(),
            reason,
        };
        let san = match host.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => {
                if host.is_empty()
                    || !host
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-.*".contains(c))
                {
                    return Err(bad(
                        "use letters, digits, '-' and '.' (or an IP address)".into()
                    ));
                }
                SanType::DnsName(
                    Ia5String::try_from(host.as_str()).map_err(|e| bad(e.to_string()))?,
                )
            }
        };
        params.subject_alt_names.push(san);
    }
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    sign(
        ca,
        params,
        format!("the server certificate for {}", hosts.join(", ")),
    )
}

/// `urn:gridsync:node:c01` for `node:c01`.
pub fn principal_uri(principal: &Principal) -> String {
    format!("{PRINCIPAL_URI_PREFIX}{principal}")
}

fn base_params(
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<CertificateParams, TlsError> {
    // Certificates hold whole seconds; truncate now so that comparisons
    // with what a certificate says (the CA's expiry) are exact.
    let whole = |t: OffsetDateTime| t - time::Duration::nanoseconds(i64::from(t.nanosecond()));
    let (not_before, not_after) = (whole(not_before), whole(not_after));
    if not_after <= not_before {
        return Err(TlsError::BadValidity {
            not_before,
            not_after,
        });
    }
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.not_before = not_before;
    params.not_after = not_after;
    Ok(params)
}

fn new_key(what: &str) -> Result<KeyPair, TlsError> {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|error| TlsError::Issue {
        what: what.to_string(),
        error,
    })
}

/// Signs `params` with the CA in `ca` after checking that it is a CA, that
/// its key is its own and that the new certificate does not outlive it.
fn sign(
    ca: &IssuedCert,
    mut params: CertificateParams,
    what: String,
) -> Result<IssuedCert, TlsError> {
    let ca_what = "the CA certificate";
    let ders = cert_ders(&ca.cert_pem, ca_what)?;
    let ca_cert = parse_der(&ders[0])?;
    if !ca_cert.is_ca() {
        return Err(TlsError::NotACa {
            what: ca_what.into(),
        });
    }
    check_key_matches(&ders[0], &ca.key_pem, ca_what, "the CA key")?;
    let ca_not_after = ca_cert.validity().not_after.to_datetime();
    if params.not_after > ca_not_after {
        return Err(TlsError::OutlivesCa {
            what,
            not_after: params.not_after,
            ca_not_after,
        });
    }
    let ca_key = KeyPair::from_pem(&ca.key_pem).map_err(|e| TlsError::BadPem {
        what: "the CA key".into(),
        expected: "private key",
        reason: e.to_string(),
    })?;
    let issuer =
        Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key).map_err(|error| TlsError::Issue {
            what: what.clone(),
            error,
        })?;
    params.use_authority_key_identifier_extension = true;
    let key = new_key(&what)?;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(|error| TlsError::Issue { what, error })?;
    Ok(IssuedCert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

// -------------------------------------------------------- reading identity

/// The principal named by a certificate: its one `urn:gridsync:…` URI SAN.
/// The certificate's chain, validity and usage are the TLS layer's to
/// check; this only reads.
pub fn principal_of_cert(der: &[u8]) -> Result<Principal, TlsError> {
    let cert = parse_der(der)?;
    let sans = cert
        .subject_alternative_name()
        .map_err(|e| TlsError::BadCertificate(format!("subject alternative names: {e}")))?;
    let mut ours = Vec::new();
    let mut others = Vec::new();
    for name in sans.iter().flat_map(|s| s.value.general_names.iter()) {
        match name {
            GeneralName::URI(uri) if uri.starts_with(PRINCIPAL_URI_PREFIX) => ours.push(*uri),
            GeneralName::URI(uri) => others.push(format!("URI {uri}")),
            GeneralName::DNSName(dns) => others.push(format!("DNS {dns}")),
            GeneralName::IPAddress(ip) => others.push(format!("IP {}", ip_text(ip))),
            other => others.push(other.to_string()),
        }
    }
    match ours.as_slice() {
        [] => Err(TlsError::NoPrincipal {
            subject: cert.subject().to_string(),
            found: if others.is_empty() {
                "no subject alternative names".into()
            } else {
                others.join(", ")
            },
        }),
        [uri] => {
            uri[PRINCIPAL_URI_PREFIX.len()..]
                .parse()
                .map_err(|error| TlsError::BadPrincipal {
                    uri: uri.to_string(),
                    error,
                })
        }
        many => Err(TlsError::SeveralPrincipals {
            count: many.len(),
            found: many.join(", "),
        }),
    }
}

fn ip_text(bytes: &[u8]) -> String {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        IpAddr::from(v4).to_string()
    } else if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
        IpAddr::from(v6).to_string()
    } else {
        format!("of {} bytes", bytes.len())
    }
}

/// Insecure development tokens: a map from token to principal, for trying
/// things out without a CA. Off unless configured; anyone who sees a token
/// (they travel in the clear without TLS) can use it. `Debug` shows the
/// principals only.
#[derive(Clone)]
pub struct DevTokens {
    entries: Vec<(Vec<u8>, Principal)>,
}

impl fmt::Debug for DevTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevTokens")
            .field(
                "principals",
                &self
                    .entries
                    .iter()
                    .map(|(_, p)| p.to_string())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenFile {
    #[serde(default)]
    token: Vec<TokenEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    token: String,
    principal: String,
}

impl DevTokens {
    /// Reads a token file:
    ///
    /// ```toml
    /// [[token]]
    /// token = "a-long-random-string"
    /// principal = "node:c01"
    /// ```
    pub fn load(path: &Path) -> Result<Self, TlsError> {
        let text = read_text(path)?;
        let tokens = Self::from_toml_str(&text, &path.display().to_string())?;
        tracing::warn!(
            file = %path.display(),
            tokens = tokens.len(),
            "INSECURE development tokens are enabled; use mutual TLS in production"
        );
        Ok(tokens)
    }

    /// Parses a token file's text; `file` names it in errors. Entries are
    /// numbered from 1 in errors and named by their principal, never by
    /// their token.
    pub fn from_toml_str(text: &str, file: &str) -> Result<Self, TlsError> {
        let err = |reason: String| TlsError::TokenFile {
            file: file.to_string(),
            reason,
        };
        // Only the message and the line: toml's full error quotes the
        // offending line, which may hold a token.
        let parsed: TokenFile = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| format!("line {}: ", text[..s.start.min(text.len())].lines().count().max(1)))
                .unwrap_or_default();
            err(format!(
                "{line}{}; write entries as [[token]] token = \"…\" principal = \"node:<community>\"",
                e.message().trim_end()
            ))
        })?;
        if parsed.token.is_empty() {
            return Err(err(
                "it has no [[token]] entries; add one per node or operator".into(),
            ));
        }
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let mut entries = Vec::with_capacity(parsed.token.len());
        for (i, e) in parsed.token.iter().enumerate() {
            let n = i + 1;
            let principal: Principal = e
                .principal
                .parse()
                .map_err(|p: PrincipalParseError| err(format!("entry {n}: {p}")))?;
            let len = e.token.chars().count();
            if len < MIN_TOKEN_LEN {
                return Err(err(format!(
                    "entry {n} ({principal}): the token has {len} characters; \
                     use at least {MIN_TOKEN_LEN} random ones"
                )));
            }
            if MetadataValue::<Ascii>::try_from(format!("Bearer {}", e.token)).is_err()
                || e.token.contains(char::is_whitespace)
            {
                return Err(err(format!(
                    "entry {n} ({principal}): the token must be printable ASCII without spaces"
                )));
            }
            if let Some(first) = seen.insert(e.token.as_str(), n) {
                return Err(err(format!(
                    "entry {n} ({principal}) has the same token as entry {first}; \
                     give every principal its own token"
                )));
            }
            entries.push((e.token.as_bytes().to_vec(), principal));
        }
        Ok(DevTokens { entries })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The principal of `token`. Compares against every entry without
    /// stopping at the first differing byte or the first match.
    pub fn principal_of(&self, token: &str) -> Option<&Principal> {
        let token = token.as_bytes();
        let mut found = None;
        for (t, p) in &self.entries {
            if constant_time_eq(t, token) && found.is_none() {
                found = Some(p);
            }
        }
        found
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// How a server learns who is calling.
#[derive(Clone, Debug)]
pub enum Authenticator {
    /// The verified client certificate (production).
    MutualTls,
    /// Insecure development tokens in the `authorization` metadata.
    DevTokens(DevTokens),
}

impl fmt::Display for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Authenticator::MutualTls => f.write_str("mutual TLS (certificates from the street CA)"),
            Authenticator::DevTokens(t) => {
                write!(f, "INSECURE development tokens ({} tokens)", t.len())
            }
        }
    }
}

/// The principal making `req`, or `Unauthenticated` saying what the client
/// must configure.
pub fn authenticate<T>(req: &Request<T>, auth: &Authenticator) -> Result<Principal, Status> {
    match auth {
        Authenticator::MutualTls => {
            let certs = req.peer_certs().ok_or_else(|| {
                Status::unauthenticated(
                    "no client certificate: connect over TLS (https://) with a certificate \
                     from the street CA and its key (gridctl certs node|operator)",
                )
            })?;
            let leaf = certs.first().ok_or_else(|| {
                Status::unauthenticated(
                    "no client certificate: configure the client with a certificate from the \
                     street CA and its key (gridctl certs node|operator)",
                )
            })?;
            principal_of_cert(leaf).map_err(|e| {
                Status::unauthenticated(format!(
                    "the client certificate is not a gridsync identity: {e}"
                ))
            })
        }
        Authenticator::DevTokens(tokens) => {
            let value = req.metadata().get("authorization").ok_or_else(|| {
                Status::unauthenticated(
                    "no development token: this server uses insecure development tokens; \
                     send the metadata `authorization: Bearer <token>` with a token from its \
                     token file",
                )
            })?;
            let token = value
                .to_str()
                .ok()
                .and_then(|v| {
                    v.strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("bearer "))
                })
                .map(str::trim)
                .ok_or_else(|| {
                    Status::unauthenticated(
                        "the authorization metadata is not `Bearer <token>`; \
                         send a development token as `authorization: Bearer <token>`",
                    )
                })?;
            tokens.principal_of(token).cloned().ok_or_else(|| {
                Status::unauthenticated(
                    "unknown development token: use one listed in the server's token file",
                )
            })
        }
    }
}

/// A server interceptor that authenticates every request and puts the
/// [`Principal`] into its extensions (read it with [`principal_of_request`]),
/// or refuses it with `Unauthenticated`.
#[derive(Clone, Debug)]
pub struct AuthInterceptor {
    auth: Arc<Authenticator>,
}

impl AuthInterceptor {
    pub fn new(auth: Arc<Authenticator>) -> Self {
        AuthInterceptor { auth }
    }
}

impl Interceptor for AuthInterceptor {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        let principal = authenticate(&req, &self.auth)?;
        req.extensions_mut().insert(principal);
        Ok(req)
    }
}

/// The principal that [`AuthInterceptor`] put on `req`. An error here means
/// the service was mounted without the interceptor.
pub fn principal_of_request<T>(req: &Request<T>) -> Result<&Principal, Status> {
    req.extensions()
        .get::<Principal>()
        .ok_or_else(|| Status::internal("the request was not authenticated (no AuthInterceptor)"))
}

// ---------------------------------------------------------------- transport

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
        let now = OffsetDateTime::now_utc();
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

/// The coordinator's TLS: its identity, client certificates checked against
/// the street CA, and clients without a certificate let through the
/// handshake so that [`authenticate`] can tell them what to configure.
/// Certificates from another CA, or expired ones, fail the handshake.
pub fn server_tls(pems: &TlsPems) -> Result<ServerTlsConfig, TlsError> {
    check_pems(pems)?;
    Ok(ServerTlsConfig::new()
        .identity(Identity::from_pem(&pems.cert, &pems.key))
        .client_ca_root(Certificate::from_pem(&pems.ca))
        .client_auth_optional(true)
        .timeout(Duration::from_secs(10)))
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

// ------------------------------------------------------------ gridctl certs

/// `gridctl certs …`: make the street CA and the certificates it signs.
/// Keys are written with mode 0600; existing files are kept unless
/// `--force`.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum CertsCommand {
    /// Makes the street CA: DIR/ca.pem and DIR/ca.key (keep the key offline).
    Init {
        #[arg(long)]
        dir: PathBuf,
        /// The street's name, written into the CA's subject.
        #[arg(long)]
        street: String,
        #[arg(long, default_value_t = 3650)]
        days: u32,
        /// Replace existing files.
        #[arg(long)]
        force: bool,
    },
    /// Makes the coordinator's server certificate: DIR/coordinator.pem/.key.
    Server {
        #[arg(long)]
        dir: PathBuf,
        /// A DNS name or IP address clients use to reach the coordinator (repeat).
        #[arg(long = "host", required = true)]
        hosts: Vec<String>,
        #[arg(long, default_value_t = 825)]
        days: u32,
        #[arg(long)]
        force: bool,
    },
    /// Makes a community node's client certificate: DIR/node-<community>.pem/.key.
    Node {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        community: String,
        #[arg(long, default_value_t = 825)]
        days: u32,
        #[arg(long)]
        force: bool,
    },
    /// Makes an operator's client certificate: DIR/operator-<name>.pem/.key.
    Operator {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        name: String,
        #[arg(long, default_value_t = 825)]
        days: u32,
        #[arg(long)]
        force: bool,
    },
}

impl CertsCommand {
    /// Issues and writes, then tells `out` what was written.
    pub fn run(&self, out: &mut dyn std::io::Write) -> Result<(), TlsError> {
        let (dir, days, force) = match self {
            CertsCommand::Init {
                dir, days, force, ..
            }
            | CertsCommand::Server {
                dir, days, force, ..
            }
            | CertsCommand::Node {
                dir, days, force, ..
            }
            | CertsCommand::Operator {
                dir, days, force, ..
            } => (dir, *days, *force),
        };
        let (not_before, asked_until) = validity_days(days)?;
        // A certificate signed by the CA ends when the CA does at the latest.
        let signer = || -> Result<(IssuedCert, OffsetDateTime), TlsError> {
            let ca = load_ca(dir)?;
            let ders = cert_ders(&ca.cert_pem, "the CA certificate")?;
            let ca_until = parse_der(&ders[0])?.validity().not_after.to_datetime();
            Ok((ca, asked_until.min(ca_until)))
        };
        let (name, what, issued, not_after) = match self {
            CertsCommand::Init { street, .. } => (
                "ca".to_string(),
                format!("the CA of {}", street.trim()),
                issue_ca(street, not_before, asked_until)?,
                asked_until,
            ),
            CertsCommand::Server { hosts, .. } => {
                let (ca, until) = signer()?;
                (
                    "coordinator".to_string(),
                    format!(
                        "the coordinator's server certificate for {}",
                        hosts.join(", ")
                    ),
                    issue_server(&ca, hosts, not_before, until)?,
                    until,
                )
            }
            CertsCommand::Node { community: who, .. }
            | CertsCommand::Operator { name: who, .. } => {
                let kind = if matches!(self, CertsCommand::Node { .. }) {
                    "node"
                } else {
                    "operator"
                };
                let text = format!("{kind}:{who}");
                let principal: Principal = text.parse().map_err(TlsError::BadPrincipalName)?;
                let (ca, until) = signer()?;
                (
                    format!("{kind}-{who}"),
                    format!("the certificate of {principal}"),
                    issue_leaf(&ca, &principal, not_before, until)?,
                    until,
                )
            }
        };
        let clamped = if not_after < asked_until {
            ", the CA's expiry"
        } else {
            ""
        };
        std::fs::create_dir_all(dir).map_err(|error| TlsError::Write {
            path: dir.clone(),
            error,
        })?;
        let cert = dir.join(format!("{name}.pem"));
        let key = dir.join(format!("{name}.key"));
        issued.write(&cert, &key, force)?;
        let written = |e| TlsError::Write {
            path: PathBuf::from("standard output"),
            error: e,
        };
        writeln!(
            out,
            "wrote {} ({what}, valid until {}{clamped})",
            cert.display(),
            not_after.date()
        )
        .map_err(written)?;
        writeln!(out, "wrote {} (its private key, mode 0600)", key.display()).map_err(written)?;
        Ok(())
    }
}

fn load_ca(dir: &Path) -> Result<IssuedCert, TlsError> {
    let cert = dir.join("ca.pem");
    if !cert.exists() {
        return Err(TlsError::NoCa {
            dir: dir.to_path_buf(),
        });
    }
    IssuedCert::load(&cert, &dir.join("ca.key"))
}

// ----------------------------------------------------------------- helpers

fn read_text(path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|error| TlsError::Read {
        path: path.to_path_buf(),
        error,
    })
}

fn write_file(path: &Path, text: &str, mode: u32, overwrite: bool) -> Result<(), TlsError> {
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

fn parse_der(der: &[u8]) -> Result<X509Certificate<'_>, TlsError> {
    x509_parser::parse_x509_certificate(der)
        .map(|(_, cert)| cert)
        .map_err(|e| TlsError::BadCertificate(e.to_string()))
}

/// The DER of every certificate in `text` (at least one, each parsing).
fn cert_ders(text: &str, what: &str) -> Result<Vec<Vec<u8>>, TlsError> {
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

fn check_key(text: &str, what: &str) -> Result<(), TlsError> {
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
/// key is of a kind rcgen reads (ECDSA, Ed25519, RSA PKCS#8); other keys are
/// left to rustls.
fn check_key_matches(
    cert_der: &[u8],
    key_pem: &str,
    cert: &str,
    key: &str,
) -> Result<(), TlsError> {
    let Ok(pair) = KeyPair::from_pem(key_pem) else {
        return Ok(());
    };
    let parsed = parse_der(cert_der)?;
    if parsed.public_key().subject_public_key.data.as_ref() != pair.public_key_raw() {
        return Err(TlsError::KeyMismatch {
            cert: cert.to_string(),
            key: key.to_string(),
        });
    }
    Ok(())
}

fn check_pems(pems: &TlsPems) -> Result<(), TlsError> {
    cert_ders(&pems.ca, "the CA certificate")?;
    let own = cert_ders(&pems.cert, "the certificate")?;
    check_key(&pems.key, "the key")?;
    check_key_matches(&own[0], &pems.key, "the certificate", "the key")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(n: i64) -> (OffsetDateTime, OffsetDateTime) {
        let now = OffsetDateTime::now_utc();
        (
            now - time::Duration::hours(1),
            now + time::Duration::days(n),
        )
    }

    #[test]
    fn leaf_certificates_carry_their_principal() {
        let (nb, na) = days(30);
        let ca = issue_ca("桐柏路街道", nb, na).expect("ca");
        for text in ["node:c01", "operator:alice.w"] {
            let p: Principal = text.parse().expect("principal");
            let leaf = issue_leaf(&ca, &p, nb, na).expect("leaf");
            let der = leaf.cert_der().expect("der");
            assert_eq!(principal_of_cert(&der).expect("principal"), p);
            let cert = parse_der(&der).expect("parse");
            assert_eq!(cert.subject().to_string(), format!("CN={text}"));
        }
    }

    #[test]
    fn a_leaf_may_not_outlive_its_ca_and_validity_must_not_be_empty() {
        let (nb, na) = days(30);
        let ca = issue_ca("s", nb, na).expect("ca");
        let p: Principal = "node:c01".parse().expect("principal");
        let err = issue_leaf(&ca, &p, nb, na + time::Duration::days(1)).unwrap_err();
        assert!(matches!(err, TlsError::OutlivesCa { .. }), "{err}");
        let err = issue_leaf(&ca, &p, na, nb).unwrap_err();
        assert!(matches!(err, TlsError::BadValidity { .. }), "{err}");
        assert!(matches!(
            validity_days(0),
            Err(TlsError::BadDays { days: 0 })
        ));
    }

    #[test]
    fn a_leaf_cannot_sign_and_a_foreign_key_is_refused() {
        let (nb, na) = days(30);
        let ca = issue_ca("s", nb, na).expect("ca");
        let other = issue_ca("t", nb, na).expect("ca");
        let p: Principal = "node:c01".parse().expect("principal");
        let leaf = issue_leaf(&ca, &p, nb, na).expect("leaf");
        let err = issue_leaf(&leaf, &p, nb, na).unwrap_err();
        assert!(matches!(err, TlsError::NotACa { .. }), "{err}");
        let mixed = IssuedCert {
            cert_pem: ca.cert_pem.clone(),
            key_pem: other.key_pem.clone(),
        };
        let err = issue_leaf(&mixed, &p, nb, na).unwrap_err();
        assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err}");
    }

    #[test]
    fn server_hosts_are_checked() {
        let (nb, na) = days(30);
        let ca = issue_ca("s", nb, na).expect("ca");
        assert!(matches!(
            issue_server(&ca, &[], nb, na),
            Err(TlsError::NoHosts)
        ));
        let err = issue_server(&ca, &["bad host".into()], nb, na).unwrap_err();
        assert!(err.to_string().contains("\"bad host\""), "{err}");
        let ok =
            issue_server(&ca, &["localhost".into(), "127.0.0.1".into()], nb, na).expect("server");
        let err = principal_of_cert(&ok.cert_der().expect("der")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("DNS localhost") && text.contains("127.0.0.1"),
            "{text}"
        );
    }

    #[test]
    fn debug_hides_secrets() {
        let tokens = DevTokens::from_toml_str(
            "[[token]]\ntoken = \"0123456789abcdef-secret\"\nprincipal = \"node:c01\"\n",
            "t.toml",
        )
        .expect("tokens");
        let shown = format!(
            "{tokens:?} {:?} {:?}",
            ClientAuth::DevToken("0123456789abcdef-secret".into()),
            TokenInterceptor::new(&ClientAuth::DevToken("0123456789abcdef-secret".into()))
                .expect("interceptor")
        );
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("node:c01"), "{shown}");
        let (nb, na) = days(1);
        let ca = issue_ca("s", nb, na).expect("ca");
        assert!(!format!("{ca:?}").contains("PRIVATE KEY"));
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
