//! Issuing the street's certificates (built with the `issue` feature; the
//! services only read certificates): the CA, the coordinator's server
//! certificate, and a client certificate per node and operator, all ECDSA
//! P-256 made with rcgen, with explicit validity bounds so that tests can
//! make an already expired one.

use std::net::IpAddr;
use std::path::Path;

use gridsync_core::access::Principal;
use rcgen::string::Ia5String;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use time::OffsetDateTime;

use crate::identity::principal_uri;
use crate::tls::{IssuedCert, TlsError, cert_ders, check_key_matches, parse_der};

/// How far back a certificate made by `gridctl certs` starts to be valid,
/// so that a peer whose clock runs a little behind still accepts it.
const CLOCK_SKEW: time::Duration = time::Duration::hours(1);

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

/// The street CA in `dir` (`ca.pem`, `ca.key`), to sign more certificates.
pub fn load_ca(dir: &Path) -> Result<IssuedCert, TlsError> {
    let cert = dir.join("ca.pem");
    if !cert.exists() {
        return Err(TlsError::NoCa {
            dir: dir.to_path_buf(),
        });
    }
    IssuedCert::load(&cert, &dir.join("ca.key"))
}

/// When the (first) certificate of `pem` expires.
pub fn not_after(pem: &str, what: &str) -> Result<OffsetDateTime, TlsError> {
    let ders = cert_ders(pem, what)?;
    Ok(parse_der(&ders[0])?.validity().not_after.to_datetime())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::principal_of_cert;

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
    fn debug_of_an_issued_ca_hides_its_key() {
        let (nb, na) = days(1);
        let ca = issue_ca("s", nb, na).expect("ca");
        assert!(!format!("{ca:?}").contains("PRIVATE KEY"));
    }
}
