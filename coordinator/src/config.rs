//! The coordinator's configuration: one struct, read from a TOML file, then
//! the environment (`GRIDSYNC_*`), then flags; flags win. Every value is
//! checked at start-up with an error naming it.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use std::time::Duration;

use gridsync_core::sync::{FrameLimits, HeartbeatSettings, MessageBudget, PeerLimits, SyncBudget};
use gridsync_svc::memory::Ceiling;
use gridsync_sync::accept::AcceptLimits;
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
    /// Address of the Prometheus metrics endpoint (plain HTTP, `GET
    /// /metrics`), e.g. 127.0.0.1:9500; port 0 picks a free port. Off when
    /// unset. Community ids are labels: keep it off public networks.
    #[arg(long, env = "GRIDSYNC_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
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
    /// Deprecated and unused: a community is stale as soon as it is not
    /// fresh (not heard within the heartbeat window, or its node reported
    /// heads not held here). Accepted so older configs still load.
    #[arg(long, env = "GRIDSYNC_STALE_AFTER_SECS")]
    pub stale_after_secs: Option<u64>,
    /// Sync heartbeat interval, ms: both sides send one this often.
    /// Default: 2000.
    #[arg(long, env = "GRIDSYNC_HEARTBEAT_INTERVAL_MS")]
    pub heartbeat_interval_ms: Option<u32>,
    /// Heartbeat intervals without any frame after which a session ends and
    /// its community is down (the liveness window is interval × misses).
    /// Default: 3.
    #[arg(long, env = "GRIDSYNC_HEARTBEAT_MISSES")]
    pub heartbeat_misses: Option<u32>,
    /// `text` or `json` logs. Default: text.
    #[arg(long, env = "GRIDSYNC_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Operations one sync message may add, counted from its encoded
    /// columns before it is applied. Default: 1000000.
    #[arg(long, env = "GRIDSYNC_MAX_MESSAGE_OPS")]
    pub max_message_ops: Option<u64>,
    /// Changes one sync message may carry. Default: 200000.
    #[arg(long, env = "GRIDSYNC_MAX_MESSAGE_CHANGES")]
    pub max_message_changes: Option<u64>,
    /// Bytes the compressed parts of one sync message may inflate to.
    /// Default: 67108864 (64 MiB).
    #[arg(long, env = "GRIDSYNC_MAX_MESSAGE_INFLATED_BYTES")]
    pub max_message_inflated_bytes: Option<u64>,
    /// Operations one node may add per window (`peer_window_secs`).
    /// Default: 8000000.
    #[arg(long, env = "GRIDSYNC_MAX_PEER_OPS_PER_WINDOW")]
    pub max_peer_ops_per_window: Option<u64>,
    /// Inflated bytes one node may send per window. Default: 536870912.
    #[arg(long, env = "GRIDSYNC_MAX_PEER_INFLATED_BYTES_PER_WINDOW")]
    pub max_peer_inflated_bytes_per_window: Option<u64>,
    /// The window of the per-node limits, seconds. Default: 60.
    #[arg(long, env = "GRIDSYNC_PEER_WINDOW_SECS")]
    pub peer_window_secs: Option<u64>,
    /// Seconds the next part of a message cut into parts may take.
    /// Default: 30.
    #[arg(long, env = "GRIDSYNC_PART_TIMEOUT_SECS")]
    pub part_timeout_secs: Option<u64>,
    /// Seconds a node has to send its Hello once connected. Default: 10.
    #[arg(long, env = "GRIDSYNC_HELLO_TIMEOUT_SECS")]
    pub hello_timeout_secs: Option<u64>,
    /// Documents a node's Hello may list. Default: 2000.
    #[arg(long, env = "GRIDSYNC_MAX_HELLO_DOCS")]
    pub max_hello_docs: Option<usize>,
    /// Connections open at once; more are closed as they arrive.
    /// Default: 2048, a street of 1,000 nodes and its operators twice over
    /// (keep LimitNOFILE well above it).
    #[arg(long, env = "GRIDSYNC_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Connections open at once from one address. Default: 64.
    #[arg(long, env = "GRIDSYNC_MAX_CONNECTIONS_PER_ADDRESS")]
    pub max_connections_per_address: Option<usize>,
    /// Seconds for a connection's TLS handshake. Default: 10.
    #[arg(long, env = "GRIDSYNC_TLS_HANDSHAKE_TIMEOUT_SECS")]
    pub tls_handshake_timeout_secs: Option<u64>,
    /// Seconds for a connection's HTTP/2 preface after its handshake.
    /// Default: 10.
    #[arg(long, env = "GRIDSYNC_PREFACE_TIMEOUT_SECS")]
    pub preface_timeout_secs: Option<u64>,
    /// The coordinator's memory ceiling, MiB: a node's message whose parts
    /// or application would take the process past it is refused (the node
    /// sends it again later). Keep it below the unit's MemoryMax.
    /// Default: 3072.
    #[arg(long, env = "GRIDSYNC_MEMORY_CEILING_MIB")]
    pub memory_ceiling_mib: Option<u64>,
    /// File holding the store's encryption key: 64 hex digits, mode 0600,
    /// outside the data folder (`gridctl store keygen --out FILE` makes
    /// one). Default: the systemd credential `gridsync-store-key`
    /// (`$CREDENTIALS_DIRECTORY/gridsync-store-key`) when the unit loads it.
    /// Without a key the service refuses to start unless
    /// `insecure_plaintext_store` is set.
    #[arg(long, env = "GRIDSYNC_STORE_KEY_FILE")]
    pub store_key_file: Option<PathBuf>,
    /// DEVELOPMENT ONLY: keep the store unencrypted on disk (names, phone
    /// and ID numbers readable by anyone who copies the file). Off by
    /// default; warned at start.
    #[arg(
        long,
        env = "GRIDSYNC_INSECURE_PLAINTEXT_STORE",
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub insecure_plaintext_store: Option<bool>,
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
    /// The metrics endpoint's address; `None`: no endpoint.
    pub metrics_listen: Option<SocketAddr>,
    pub security: Security,
    pub limits: FrameLimits,
    /// What a node's messages may cost, per message and per window.
    pub budget: SyncBudget,
    /// Caps on connections and deadlines on their handshakes.
    pub accept: AcceptLimits,
    pub part_timeout: Duration,
    pub hello_timeout: Duration,
    pub max_hello_docs: usize,
    pub heartbeat: HeartbeatSettings,
    pub shutdown_grace_secs: u64,
    pub json_logs: bool,
    pub addr_file: Option<PathBuf>,
}

/// The memory ceiling when none is set, MiB: several times the demo
/// street's coordinator (see docs/operations.md), under the unit's
/// MemoryMax.
pub const DEFAULT_MEMORY_CEILING_MIB: u64 = 3072;

/// Connections the coordinator keeps open at once when none is set: a
/// street of 1,000 nodes (`cargo bench --bench fanin`) and its operators
/// twice over. The node's office API keeps the acceptor's own default.
pub const DEFAULT_MAX_CONNECTIONS: usize = 2048;

/// The largest frame limit allowed (the gRPC message limit stays above it).
pub const MAX_FRAME_LIMIT: usize = 16 * 1024 * 1024;

impl CoordinatorConfig {
    pub fn resolve(flags: Flags) -> anyhow::Result<CoordinatorConfig> {
        let s = gridsync_svc::config::layered(flags.config.as_deref(), &flags.settings)?;
        let budget = resolve_budget(&s)?;
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
        let metrics_listen =
            gridsync_svc::metrics::listen_setting(s.metrics_listen.as_deref(), listen)
                .map_err(anyhow::Error::msg)?;
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
        if let Some(v) = s.stale_after_secs {
            tracing::warn!(
                stale_after_secs = v,
                "stale_after_secs is no longer used: a community is stale as soon as it is not heard within the heartbeat window (heartbeat_interval_ms × heartbeat_misses) or its node is ahead"
            );
        }
        let hb = HeartbeatSettings::default();
        let heartbeat = HeartbeatSettings::new(
            s.heartbeat_interval_ms.unwrap_or(hb.interval_ms),
            s.heartbeat_misses.unwrap_or(hb.misses),
        )
        .map_err(anyhow::Error::msg)?;
        let json_logs = match s.log_format.as_deref().unwrap_or("text") {
            "text" => false,
            "json" => true,
            other => anyhow::bail!("log_format: {other:?} is neither \"text\" nor \"json\""),
        };
        let accept_defaults = AcceptLimits::default();
        let accept = AcceptLimits {
            max_connections: within(
                "max_connections",
                s.max_connections,
                DEFAULT_MAX_CONNECTIONS,
                1..=100_000,
            )?,
            max_per_address: within(
                "max_connections_per_address",
                s.max_connections_per_address,
                accept_defaults.max_per_address,
                1..=100_000,
            )?,
            handshake_timeout: secs(
                "tls_handshake_timeout_secs",
                s.tls_handshake_timeout_secs,
                accept_defaults.handshake_timeout.as_secs(),
            )?,
            preface_timeout: secs(
                "preface_timeout_secs",
                s.preface_timeout_secs,
                accept_defaults.preface_timeout.as_secs(),
            )?,
        };
        if accept.max_per_address > accept.max_connections {
            anyhow::bail!(
                "max_connections_per_address: {} is above max_connections ({})",
                accept.max_per_address,
                accept.max_connections
            );
        }
        let memory_ceiling_mib = within(
            "memory_ceiling_mib",
            s.memory_ceiling_mib,
            DEFAULT_MEMORY_CEILING_MIB,
            256..=1024 * 1024,
        )?;
        let part_timeout = secs("part_timeout_secs", s.part_timeout_secs, 30)?;
        let hello_timeout = secs("hello_timeout_secs", s.hello_timeout_secs, 10)?;
        let max_hello_docs = within(
            "max_hello_docs",
            s.max_hello_docs,
            gridsync_sync::handshake::MAX_HELLO_DOCS,
            1..=1_000_000,
        )?;
        let store_key = gridsync_svc::config::store_key(
            s.store_key_file.as_deref(),
            s.insecure_plaintext_store.unwrap_or(false),
            std::env::var_os("CREDENTIALS_DIRECTORY")
                .map(PathBuf::from)
                .as_deref(),
        )?;
        Ok(CoordinatorConfig {
            replicas: ReplicasConfig {
                street_id,
                street_name,
                db_path: data_dir.join("gridsync-coordinator.sqlite3"),
                tz,
                compact_after_chunks,
                stale_after_ms: heartbeat.window_ms(),
                memory: Ceiling::new(memory_ceiling_mib << 20, "memory_ceiling_mib"),
                store_key,
            },
            data_dir,
            listen,
            metrics_listen,
            security,
            limits: FrameLimits {
                max_frame_bytes,
                max_message_bytes,
            },
            budget,
            accept,
            part_timeout,
            hello_timeout,
            max_hello_docs,
            heartbeat,
            shutdown_grace_secs: s.shutdown_grace_secs.unwrap_or(10),
            json_logs,
            addr_file: flags.addr_file,
        })
    }
}

/// `value` (or `default`) if it lies in `range`, else an error naming `name`.
fn within<T>(
    name: &str,
    value: Option<T>,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> anyhow::Result<T>
where
    T: PartialOrd + std::fmt::Display + Copy,
{
    let v = value.unwrap_or(default);
    if !range.contains(&v) {
        anyhow::bail!("{name}: {v} is outside {}..={}", range.start(), range.end());
    }
    Ok(v)
}

/// A timeout in whole seconds, 1 to 3600.
fn secs(name: &str, value: Option<u64>, default: u64) -> anyhow::Result<Duration> {
    within(name, value, default, 1..=3600).map(Duration::from_secs)
}

/// What one node's messages may cost, from the settings.
fn resolve_budget(s: &Settings) -> anyhow::Result<SyncBudget> {
    let m = MessageBudget::default();
    let p = PeerLimits::default();
    let message = MessageBudget {
        max_ops: within(
            "max_message_ops",
            s.max_message_ops,
            m.max_ops,
            1_000..=u32::MAX as u64,
        )?,
        max_changes: within(
            "max_message_changes",
            s.max_message_changes,
            m.max_changes,
            100..=u32::MAX as u64,
        )?,
        max_inflated_bytes: within(
            "max_message_inflated_bytes",
            s.max_message_inflated_bytes,
            m.max_inflated_bytes,
            1024 * 1024..=4 * 1024 * 1024 * 1024,
        )?,
        ..m
    };
    let peer = PeerLimits {
        max_ops: within(
            "max_peer_ops_per_window",
            s.max_peer_ops_per_window,
            p.max_ops,
            message.max_ops..=u64::from(u32::MAX) * 16,
        )?,
        max_inflated_bytes: within(
            "max_peer_inflated_bytes_per_window",
            s.max_peer_inflated_bytes_per_window,
            p.max_inflated_bytes,
            message.max_inflated_bytes..=64 * 1024 * 1024 * 1024,
        )?,
        window_ms: within(
            "peer_window_secs",
            s.peer_window_secs,
            (p.window_ms / 1000) as u64,
            1..=24 * 3600,
        )? as i64
            * 1000,
    };
    Ok(SyncBudget { message, peer })
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
        let e = CoordinatorConfig::resolve(flags(&[
            "--street-id",
            "s",
            "--insecure-dev-tokens",
            "t.toml",
        ]))
        .unwrap_err()
        .to_string();
        assert!(e.contains("no store key"), "{e}");
        let c = CoordinatorConfig::resolve(flags(&[
            "--street-id",
            "s",
            "--insecure-dev-tokens",
            "t.toml",
            "--insecure-plaintext-store=true",
        ]))
        .unwrap();
        assert!(matches!(c.security, Security::InsecureDevTokens(_)));
        assert!(c.replicas.store_key.is_none());
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("coordinator-store.key");
        let k = gridsync_store::StoreKey::generate().unwrap();
        k.write_new_file(&key).unwrap();
        let c = CoordinatorConfig::resolve(flags(&[
            "--street-id",
            "s",
            "--insecure-dev-tokens",
            "t.toml",
            "--store-key-file",
            key.to_str().unwrap(),
        ]))
        .unwrap();
        assert_eq!(c.replicas.store_key, Some(k));
        let e = CoordinatorConfig::resolve(flags(&[
            "--street-id",
            "s",
            "--insecure-dev-tokens",
            "t.toml",
            "--store-key-file",
            dir.path().join("missing.key").to_str().unwrap(),
        ]))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("store_key_file") && e.contains("missing.key"),
            "{e}"
        );
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
                    "--heartbeat-interval-ms",
                    "10",
                ],
                "heartbeat_interval_ms",
            ),
            (
                vec![
                    "--street-id",
                    "s",
                    "--insecure-dev-tokens",
                    "t",
                    "--heartbeat-misses",
                    "0",
                ],
                "heartbeat_misses",
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
            (
                vec![
                    "--street-id",
                    "s",
                    "--insecure-dev-tokens",
                    "t",
                    "--metrics-listen",
                    "9500",
                ],
                "metrics_listen",
            ),
            (
                vec![
                    "--street-id",
                    "s",
                    "--insecure-dev-tokens",
                    "t",
                    "--max-message-ops",
                    "5",
                ],
                "max_message_ops",
            ),
            (
                vec![
                    "--street-id",
                    "s",
                    "--insecure-dev-tokens",
                    "t",
                    "--max-peer-ops-per-window",
                    "10",
                ],
                "max_peer_ops_per_window",
            ),
            (
                vec![
                    "--street-id",
                    "s",
                    "--insecure-dev-tokens",
                    "t",
                    "--part-timeout-secs",
                    "0",
                ],
                "part_timeout_secs",
            ),
            (
                vec![
                    "--street-id",
                    "s",
                    "--insecure-dev-tokens",
                    "t",
                    "--max-connections",
                    "4",
                    "--max-connections-per-address",
                    "8",
                ],
                "max_connections_per_address",
            ),
            (
                vec![
                    "--street-id",
                    "s",
                    "--insecure-dev-tokens",
                    "t",
                    "--max-hello-docs",
                    "0",
                ],
                "max_hello_docs",
            ),
        ] {
            let e = CoordinatorConfig::resolve(flags(&args))
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{args:?}: {e}");
        }
    }
}
