//! The coordinator's configuration: one struct, read from a TOML file, then
//! the environment (`GRIDSYNC_*`), then flags; flags win. Every value is
//! checked at start-up with an error naming it.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use gridsync_core::sync::FrameLimits;
use gridsync_sync::tls::TlsFiles;
use serde::{Deserialize, Serialize};

use crate::replicas::ReplicasConfig;

/// The coordinator's settings: the config file's shape and the command
/// line's (every flag is also read from the `GRIDSYNC_…` variable it
/// names). Each doc comment is the setting's help text.
#[derive(Clone, Debug, Default, Deserialize, Serialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The street's id (letters, digits, '-', '_'). Required. A store is
    /// bound to the street it was first opened for.
    #[arg(long, env = "GRIDSYNC_STREET_ID")]
    pub street_id: Option<String>,
    /// The street's name as rollups and reports show it (e.g. 桐柏路街道).
    /// Default: the street id.
    #[arg(long, env = "GRIDSYNC_STREET_NAME")]
    pub street_name: Option<String>,
    /// Folder of the store (`gridsync-coordinator.sqlite3`). Default:
    /// `./coordinator-data`.
    #[arg(long, env = "GRIDSYNC_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address of the sync and operator APIs; port 0 picks a free port (see
    /// --addr-file). Default: 127.0.0.1:7500.
    #[arg(long, env = "GRIDSYNC_LISTEN")]
    pub listen: Option<String>,
    /// IANA time zone of the street's days. Default: Asia/Shanghai.
    #[arg(long, env = "GRIDSYNC_TIME_ZONE")]
    pub time_zone: Option<String>,
    /// The street CA's certificate (PEM): nodes' and operators' client
    /// certificates must be issued by it. Required unless
    /// `insecure_dev_tokens` is set.
    #[arg(long, env = "GRIDSYNC_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// The coordinator's server certificate (PEM), issued by the street CA.
    #[arg(long, env = "GRIDSYNC_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// The coordinator's private key (PEM).
    #[arg(long, env = "GRIDSYNC_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// DEVELOPMENT ONLY: a TOML file of bearer tokens (`[[token]] token = …
    /// principal = "node:c01"`), served over plain, unencrypted HTTP/2
    /// instead of mutual TLS. Off by default; never use it in production.
    #[arg(long, env = "GRIDSYNC_INSECURE_DEV_TOKENS")]
    pub insecure_dev_tokens: Option<PathBuf>,
    /// Largest frame sent or accepted, bytes. Default: 1 MiB.
    #[arg(long, env = "GRIDSYNC_MAX_FRAME_BYTES")]
    pub max_frame_bytes: Option<usize>,
    /// Largest reassembled sync message accepted, bytes. Default: 64 MiB.
    #[arg(long, env = "GRIDSYNC_MAX_MESSAGE_BYTES")]
    pub max_message_bytes: Option<usize>,
    /// Compact a document after this many incremental chunks. Default: 256.
    #[arg(long, env = "GRIDSYNC_COMPACT_AFTER_CHUNKS")]
    pub compact_after_chunks: Option<u64>,
    /// Seconds to let sessions and requests finish on shutdown. Default: 10.
    #[arg(long, env = "GRIDSYNC_SHUTDOWN_GRACE_SECS")]
    pub shutdown_grace_secs: Option<u64>,
    /// A community whose last sync is older than this many seconds is
    /// marked stale in the rollups. Default: 900 (15 minutes).
    #[arg(long, env = "GRIDSYNC_STALE_AFTER_SECS")]
    pub stale_after_secs: Option<u64>,
    /// `text` or `json` logs. Default: text.
    #[arg(long, env = "GRIDSYNC_LOG_FORMAT")]
    pub log_format: Option<String>,
}

/// gridsync-coordinator: the street's service.
#[derive(Clone, Debug, Parser, Default)]
#[command(
    name = "gridsync-coordinator",
    version,
    about = "gridsync street coordinator: every community's replica, synced with the nodes over gRPC, and the operator API"
)]
pub struct Flags {
    /// TOML config file; its values are overridden by GRIDSYNC_* variables and by flags.
    #[arg(long, env = "GRIDSYNC_CONFIG")]
    pub config: Option<PathBuf>,
    /// Write the address actually bound to this file once listening.
    #[arg(long, env = "GRIDSYNC_ADDR_FILE")]
    pub addr_file: Option<PathBuf>,
    #[command(flatten)]
    pub settings: Settings,
}

/// How peers are authenticated.
#[derive(Clone, Debug)]
pub enum Security {
    MutualTls(TlsFiles),
    /// Plain HTTP/2 with bearer tokens: development only.
    InsecureDevTokens(PathBuf),
}

/// The checked configuration the coordinator runs with.
#[derive(Clone, Debug)]
pub struct CoordinatorConfig {
    pub replicas: ReplicasConfig,
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub security: Security,
    pub limits: FrameLimits,
    pub shutdown_grace_secs: u64,
    pub json_logs: bool,
    pub addr_file: Option<PathBuf>,
}

/// The largest frame limit allowed (the gRPC message limit stays above it).
pub const MAX_FRAME_LIMIT: usize = 16 * 1024 * 1024;

impl CoordinatorConfig {
    pub fn resolve(flags: Flags) -> anyhow::Result<CoordinatorConfig> {
        let s = gridsync_svc::config::layered(flags.config.as_deref(), &flags.settings)?;
        let street_id = s.street_id.ok_or_else(|| {
            anyhow::anyhow!("street_id is required (--street-id, GRIDSYNC_STREET_ID or street_id in the config file)")
        })?;
        gridsync_core::CommunityId::parse(&street_id)
            .map_err(|e| anyhow::anyhow!("street_id: {}", e.reason))?;
        let street_name = match s.street_name {
            Some(n) => {
                gridsync_core::validate::name("street_name", &n)
                    .map_err(|e| anyhow::anyhow!("{}: {}", e.field, e.reason))?;
                n.trim().to_string()
            }
            None => street_id.clone(),
        };
        let data_dir = s
            .data_dir
            .unwrap_or_else(|| PathBuf::from("coordinator-data"));
        let listen_s = s.listen.unwrap_or_else(|| "127.0.0.1:7500".into());
        let listen: SocketAddr = listen_s.parse().map_err(|e| {
            anyhow::anyhow!("listen: {listen_s:?} is not an address like 127.0.0.1:7500 ({e})")
        })?;
        let tz_s = s.time_zone.unwrap_or_else(|| "Asia/Shanghai".into());
        let tz: chrono_tz::Tz = tz_s.parse().map_err(|_| {
            anyhow::anyhow!("time_zone: {tz_s:?} is not an IANA time zone like Asia/Shanghai")
        })?;
        let tls = (s.tls_ca, s.tls_cert, s.tls_key);
        let dev = s.insecure_dev_tokens;
        let security = match (tls, dev) {
            ((Some(ca), Some(cert), Some(key)), None) => {
                Security::MutualTls(TlsFiles { ca, cert, key })
            }
            ((None, None, None), Some(tokens)) => Security::InsecureDevTokens(tokens),
            ((None, None, None), None) => anyhow::bail!(
                "tls_ca, tls_cert and tls_key are required (create them with `gridctl certs init` and `gridctl certs server`); for development only, insecure_dev_tokens serves plain HTTP/2 with tokens instead"
            ),
            ((_, _, _), Some(_)) => anyhow::bail!(
                "insecure_dev_tokens and tls_* are both set; choose mutual TLS (tls_ca, tls_cert, tls_key) or, for development only, insecure_dev_tokens"
            ),
            ((ca, cert, key), None) => {
                let missing: Vec<&str> = [
                    ("tls_ca", ca.is_none()),
                    ("tls_cert", cert.is_none()),
                    ("tls_key", key.is_none()),
                ]
                .into_iter()
                .filter(|(_, m)| *m)
                .map(|(n, _)| n)
                .collect();
                anyhow::bail!(
                    "{} missing: tls_ca, tls_cert and tls_key go together",
                    missing.join(", ")
                )
            }
        };
        let defaults = FrameLimits::default();
        let max_frame_bytes = s.max_frame_bytes.unwrap_or(defaults.max_frame_bytes);
        if !(1024..=MAX_FRAME_LIMIT).contains(&max_frame_bytes) {
            anyhow::bail!("max_frame_bytes: {max_frame_bytes} is outside 1024..={MAX_FRAME_LIMIT}");
        }
        let max_message_bytes = s.max_message_bytes.unwrap_or(defaults.max_message_bytes);
        if max_message_bytes < max_frame_bytes || max_message_bytes > 1024 * 1024 * 1024 {
            anyhow::bail!(
                "max_message_bytes: {max_message_bytes} must be at least max_frame_bytes ({max_frame_bytes}) and at most 1 GiB"
            );
        }
        let compact_after_chunks = s.compact_after_chunks.unwrap_or(256);
        if compact_after_chunks == 0 {
            anyhow::bail!("compact_after_chunks must be at least 1");
        }
        let stale_after_secs = s.stale_after_secs.unwrap_or(900);
        if stale_after_secs == 0 || stale_after_secs > 30 * 24 * 3600 {
            anyhow::bail!(
                "stale_after_secs: {stale_after_secs} must be between 1 and 2592000 (30 days)"
            );
        }
        let json_logs = match s.log_format.as_deref().unwrap_or("text") {
            "text" => false,
            "json" => true,
            other => anyhow::bail!("log_format: {other:?} is neither \"text\" nor \"json\""),
        };
        Ok(CoordinatorConfig {
            replicas: ReplicasConfig {
                street_id,
                street_name,
                db_path: data_dir.join("gridsync-coordinator.sqlite3"),
                tz,
                compact_after_chunks,
                stale_after_ms: stale_after_secs as i64 * 1000,
            },
            data_dir,
            listen,
            security,
            limits: FrameLimits {
                max_frame_bytes,
                max_message_bytes,
            },
            shutdown_grace_secs: s.shutdown_grace_secs.unwrap_or(10),
            json_logs,
            addr_file: flags.addr_file,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_has_help_text() {
        use clap::CommandFactory;
        let cmd = Flags::command();
        let bare: Vec<String> = cmd
            .get_arguments()
            .filter(|a| a.get_help().is_none() && a.get_long_help().is_none())
            .map(|a| a.get_id().to_string())
            .collect();
        assert!(bare.is_empty(), "flags without help: {bare:?}");
        assert!(cmd.get_arguments().count() > 15);
    }

    fn flags(args: &[&str]) -> Flags {
        let mut v = vec!["gridsync-coordinator"];
        v.extend_from_slice(args);
        Flags::try_parse_from(v).unwrap()
    }

    #[test]
    fn mutual_tls_is_required_unless_dev_tokens_are_asked_for() {
        let e = CoordinatorConfig::resolve(flags(&["--street-id", "s"]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("tls_ca, tls_cert and tls_key are required"),
            "{e}"
        );
        let c = CoordinatorConfig::resolve(flags(&[
            "--street-id",
            "s",
            "--insecure-dev-tokens",
            "t.toml",
        ]))
        .unwrap();
        assert!(matches!(c.security, Security::InsecureDevTokens(_)));
        let e = CoordinatorConfig::resolve(flags(&[
            "--street-id",
            "s",
            "--tls-ca",
            "ca.pem",
            "--tls-cert",
            "c.pem",
        ]))
        .unwrap_err()
        .to_string();
        assert!(e.contains("tls_key missing"), "{e}");
    }

    #[test]
    fn bad_values_name_the_setting() {
        for (args, needle) in [
            (vec!["--street-id", "A B"], "street_id"),
            (
                vec![
                    "--street-id",
                    "s",
                    "--insecure-dev-tokens",
                    "t",
                    "--listen",
                    "x",
                ],
                "listen",
            ),
            (
                vec![
                    "--street-id",
                    "s",
                    "--insecure-dev-tokens",
                    "t",
                    "--time-zone",
                    "Nowhere",
                ],
                "time_zone",
            ),
            (
                vec![
                    "--street-id",
                    "s",
                    "--insecure-dev-tokens",
                    "t",
                    "--max-frame-bytes",
                    "10",
                ],
                "max_frame_bytes",
            ),
            (
                vec![
                    "--street-id",
                    "s",
                    "--insecure-dev-tokens",
                    "t",
                    "--max-message-bytes",
                    "2000",
                ],
                "max_message_bytes",
            ),
            (
                vec![
                    "--street-id",
                    "s",
                    "--insecure-dev-tokens",
                    "t",
                    "--stale-after-secs",
                    "0",
                ],
                "stale_after_secs",
            ),
            (
                vec![
                    "--street-id",
                    "s",
                    "--insecure-dev-tokens",
                    "t",
                    "--street-name",
                    "",
                ],
                "street_name",
            ),
            (vec![], "street_id is required"),
        ] {
            let e = CoordinatorConfig::resolve(flags(&args))
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{args:?}: {e}");
        }
    }
}
