//! Who a peer is, proven by the transport.
//!
//! Every node has an identity bound to one community, and every operator one
//! bound to a name: a [`Principal`]. In production the proof is a client
//! certificate issued by the street's own CA and checked over mutual TLS.
//! The certificate carries the principal as one URI SAN,
//! `urn:gridsync:node:<community>` or `urn:gridsync:operator:<name>`;
//! nothing a peer says about itself in a request counts. Only when
//! configured, never by default, an *insecure development token*
//! ([`DevTokens`]) may stand in for a certificate.
//!
//! A request with no certificate (or, in development mode, no known token)
//! gets `Unauthenticated` with a message saying what to configure. Token
//! values are never logged nor shown by `Debug`.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use gridsync_core::access::{Principal, PrincipalParseError};
use gridsync_svc::ApiError;
use serde::Deserialize;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::{Request, Status};
use x509_parser::extensions::GeneralName;

use crate::tls::{TlsError, parse_der, read_text};

pub use crate::tls::PRINCIPAL_URI_PREFIX;

/// The shortest development token accepted, in characters.
pub const MIN_TOKEN_LEN: usize = 16;

/// `urn:gridsync:node:c01` for `node:c01`.
pub fn principal_uri(principal: &Principal) -> String {
    format!("{PRINCIPAL_URI_PREFIX}{principal}")
}

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
pub fn authenticate<T>(req: &Request<T>, auth: &Authenticator) -> Result<Principal, ApiError> {
    match auth {
        Authenticator::MutualTls => {
            let certs = req
                .extensions()
                .get::<crate::accept::PeerInfo>()
                .map(|p| p.certs.clone())
                .unwrap_or_else(|| req.peer_certs())
                .ok_or_else(|| {
                    ApiError::Unauthenticated(
                        "no client certificate: connect over TLS (https://) with a certificate \
                     from the street CA and its key (gridctl certs node|operator)"
                            .into(),
                    )
                })?;
            let leaf = certs.first().ok_or_else(|| {
                ApiError::Unauthenticated(
                    "no client certificate: configure the client with a certificate from the \
                     street CA and its key (gridctl certs node|operator)"
                        .into(),
                )
            })?;
            principal_of_cert(leaf).map_err(|e| {
                ApiError::Unauthenticated(format!(
                    "the client certificate is not a gridsync identity: {e}"
                ))
            })
        }
        Authenticator::DevTokens(tokens) => {
            let value = req.metadata().get("authorization").ok_or_else(|| {
                ApiError::Unauthenticated(
                    "no development token: this server uses insecure development tokens; \
                     send the metadata `authorization: Bearer <token>` with a token from its \
                     token file"
                        .into(),
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
                    ApiError::Unauthenticated(
                        "the authorization metadata is not `Bearer <token>`; \
                         send a development token as `authorization: Bearer <token>`"
                            .into(),
                    )
                })?;
            tokens.principal_of(token).cloned().ok_or_else(|| {
                ApiError::Unauthenticated(
                    "unknown development token: use one listed in the server's token file".into(),
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
        let principal = authenticate(&req, &self.auth).map_err(Status::from)?;
        req.extensions_mut().insert(principal);
        Ok(req)
    }
}

/// The principal that [`AuthInterceptor`] put on `req`. An error here means
/// the service was mounted without the interceptor.
pub fn principal_of_request<T>(req: &Request<T>) -> Result<&Principal, ApiError> {
    req.extensions().get::<Principal>().ok_or_else(|| {
        ApiError::Unauthenticated("the request was not authenticated (no AuthInterceptor)".into())
    })
}
