//! `gridctl certs …`: the street CA and the certificates it signs, for
//! mutual TLS between the nodes, the operators and the coordinator.

use std::path::PathBuf;

use gridsync_core::access::Principal;
use gridsync_sync::issue::{issue_ca, issue_leaf, issue_server, load_ca, not_after, validity_days};
use gridsync_sync::tls::{IssuedCert, TlsError};
use time::OffsetDateTime;

/// `gridctl certs …`: make the street CA and the certificates it signs.
/// Keys are written with mode 0600; existing files are kept unless
/// `--force`.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum CertsCommand {
    /// Makes the street CA: DIR/ca.pem and DIR/ca.key (keep the key offline).
    Init {
        /// The folder of the street's certificates (ca.pem, ca.key, …).
        #[arg(long)]
        dir: PathBuf,
        /// The street's name, written into the CA's subject.
        #[arg(long)]
        street: String,
        /// Days the certificate is valid (at most until the CA expires).
        #[arg(long, default_value_t = 3650)]
        days: u32,
        /// Replace existing files.
        #[arg(long)]
        force: bool,
    },
    /// Makes the coordinator's server certificate: DIR/coordinator.pem/.key.
    Server {
        /// The folder of the street's certificates (ca.pem, ca.key, …).
        #[arg(long)]
        dir: PathBuf,
        /// A DNS name or IP address clients use to reach the coordinator (repeat).
        #[arg(long = "host", required = true)]
        hosts: Vec<String>,
        /// Days the certificate is valid (at most until the CA expires).
        #[arg(long, default_value_t = 825)]
        days: u32,
        /// Replace existing files.
        #[arg(long)]
        force: bool,
    },
    /// Makes a community node's client certificate: DIR/node-<community>.pem/.key.
    Node {
        /// The folder of the street's certificates (ca.pem, ca.key, …).
        #[arg(long)]
        dir: PathBuf,
        /// The community the node serves (its id).
        #[arg(long)]
        community: String,
        /// Days the certificate is valid (at most until the CA expires).
        #[arg(long, default_value_t = 825)]
        days: u32,
        /// Replace existing files.
        #[arg(long)]
        force: bool,
    },
    /// Makes an operator's client certificate: DIR/operator-<name>.pem/.key.
    Operator {
        /// The folder of the street's certificates (ca.pem, ca.key, …).
        #[arg(long)]
        dir: PathBuf,
        /// The operator's name.
        #[arg(long)]
        name: String,
        /// Days the certificate is valid (at most until the CA expires).
        #[arg(long, default_value_t = 825)]
        days: u32,
        /// Replace existing files.
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
            let ca_until = not_after(&ca.cert_pem, "the CA certificate")?;
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
