//! The node's configuration: one struct, read from a TOML file, then the
//! environment (`GRIDSYNC_*`), then flags; flags win. Every field has a
//! documented default and is checked at start-up with an error naming it.

use std::net::SocketAddr;
use std::path::PathBuf;

use std::time::Duration;

use clap::Parser;
use gridsync_core::sync::FrameLimits;
use gridsync_core::{CommunityId, CommunityKind, PersonKeySecret};
use gridsync_sync::tls::{ClientAuth, TlsFiles, client_tls};
use serde::{Deserialize, Serialize};

use crate::link::LinkConfig;
use crate::office::OfficeConfig;

/// The node's settings: the config file's shape and the command line's
/// (every flag is also read from the `GRIDSYNC_…` variable it names). Each
/// doc comment is the setting's help text.
#[derive(Clone, Debug, Default, Deserialize, Serialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The community this node serves (an id like `tongbai`). Required.
    #[arg(long, env = "GRIDSYNC_COMMUNITY_ID")]
    pub community_id: Option<String>,
    /// The community's name as shown to people. Default: the id.
    #[arg(long, env = "GRIDSYNC_COMMUNITY_NAME")]
    pub community_name: Option<String>,
    /// `community` or `village`. Default: community.
    #[arg(long, env = "GRIDSYNC_COMMUNITY_KIND")]
    pub community_kind: Option<String>,
    /// Folder of the store (`gridsync-node.sqlite3`). Default: `./data`.
    #[arg(long, env = "GRIDSYNC_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address of the office API; port 0 picks a free port (see
    /// --addr-file). Default: 127.0.0.1:7400.
    #[arg(long, env = "GRIDSYNC_LISTEN")]
    pub listen: Option<String>,
    /// Address of the Prometheus metrics endpoint (plain HTTP, `GET
    /// /metrics`), e.g. 127.0.0.1:9400; port 0 picks a free port. Off when
    /// unset.
    #[arg(long, env = "GRIDSYNC_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// IANA time zone whose days split the activity documents. Default:
    /// Asia/Shanghai.
    #[arg(long, env = "GRIDSYNC_TIME_ZONE")]
    pub time_zone: Option<String>,
    /// The street's shared secret for person keys, hex (32+ digits).
    /// Default: none, and residents carry no person key (a warning is
    /// logged).
    #[arg(long, env = "GRIDSYNC_PERSON_KEY_SECRET", hide_env_values = true)]
    pub person_key_secret: Option<String>,
    /// Compact a document after this many incremental chunks. Default: 256.
    #[arg(long, env = "GRIDSYNC_COMPACT_AFTER_CHUNKS")]
    pub compact_after_chunks: Option<u64>,
    /// Seconds to let in-flight requests finish on shutdown. Default: 10.
    #[arg(long, env = "GRIDSYNC_SHUTDOWN_GRACE_SECS")]
    pub shutdown_grace_secs: Option<u64>,
    /// `text` or `json` logs. Default: text.
    #[arg(long, env = "GRIDSYNC_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// The street coordinator to sync with (`host:port` or a URL). Default:
    /// none; the node works alone and keeps its changes until one is set.
    #[arg(long, env = "GRIDSYNC_COORDINATOR")]
    pub coordinator: Option<String>,
    /// The name the coordinator's certificate carries. Default: the host of
    /// `coordinator`.
    #[arg(long, env = "GRIDSYNC_COORDINATOR_DOMAIN")]
    pub coordinator_domain: Option<String>,
    /// The street CA's certificate (PEM).
    #[arg(long, env = "GRIDSYNC_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// This node's certificate (PEM), issued by the street CA for this
    /// community (`gridctl certs node --community …`).
    #[arg(long, env = "GRIDSYNC_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// This node's private key (PEM).
    #[arg(long, env = "GRIDSYNC_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// DEVELOPMENT ONLY: a bearer token for a coordinator run with
    /// `insecure_dev_tokens`, over plain HTTP/2, instead of a certificate.
    /// Off by default.
    #[arg(long, env = "GRIDSYNC_INSECURE_DEV_TOKEN", hide_env_values = true)]
    pub insecure_dev_token: Option<String>,
    /// First wait before redialling the coordinator, ms; doubles per failed
    /// attempt. Default: 500.
    #[arg(long, env = "GRIDSYNC_RECONNECT_MIN_MS")]
    pub reconnect_min_ms: Option<u64>,
    /// Longest wait before redialling, ms. Default: 60000.
    #[arg(long, env = "GRIDSYNC_RECONNECT_MAX_MS")]
    pub reconnect_max_ms: Option<u64>,
    /// Largest sync frame sent or accepted, bytes. Default: 1 MiB.
    #[arg(long, env = "GRIDSYNC_MAX_FRAME_BYTES")]
    pub max_frame_bytes: Option<usize>,
    /// The heartbeat interval the node asks for, ms (the coordinator's
    /// setting is the one used). Default: 2000.
    #[arg(long, env = "GRIDSYNC_HEARTBEAT_INTERVAL_MS")]
    pub heartbeat_interval_ms: Option<u32>,
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

/// gridsync-node: a community office's node.
#[derive(Clone, Debug, Parser, Default)]
#[command(
    name = "gridsync-node",
    version,
    about = "gridsync community office node: grid data in Automerge, durable in SQLite, served over gRPC"
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

/// How the node reaches its coordinator, checked.
#[derive(Clone, Debug)]
pub struct CoordinatorLink {
    pub url: String,
    pub domain: Option<String>,
    pub auth: LinkAuth,
    pub reconnect_min_ms: u64,
    pub reconnect_max_ms: u64,
    pub max_frame_bytes: usize,
    pub heartbeat: gridsync_core::sync::HeartbeatSettings,
}

#[derive(Clone, Debug)]
pub enum LinkAuth {
    MutualTls(TlsFiles),
    /// Development only.
    InsecureDevToken(String),
}

impl CoordinatorLink {
    /// The link's settings, reading the TLS files.
    pub fn link_config(&self) -> anyhow::Result<LinkConfig> {
        let (auth, dev_token) = match &self.auth {
            LinkAuth::MutualTls(files) => {
                let pems = files.load()?;
                let domain = match &self.domain {
                    Some(d) => d.clone(),
                    None => host_of(&self.url),
                };
                (ClientAuth::Tls(client_tls(&pems, &domain)?), None)
            }
            LinkAuth::InsecureDevToken(t) => (ClientAuth::None, Some(t.clone())),
        };
        let endpoint = gridsync_sync::tls::endpoint(&self.url, &auth)?;
        Ok(LinkConfig {
            endpoint,
            dev_token,
            backoff_base: Duration::from_millis(self.reconnect_min_ms),
            backoff_max: Duration::from_millis(self.reconnect_max_ms),
            limits: FrameLimits {
                max_frame_bytes: self.max_frame_bytes,
                ..FrameLimits::default()
            },
            handshake_timeout: Duration::from_secs(30),
            dialer: None,
            jitter_seed: None,
            heartbeat: self.heartbeat,
            dial_timeout: crate::link::DIAL_TIMEOUT,
        })
    }
}

/// The host part of `host:port` or a URL.
fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let hostport = rest.split('/').next().unwrap_or(rest);
    if let Some(v6) = hostport.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6).to_string();
    }
    hostport
        .rsplit_once(':')
        .map_or(hostport, |(h, _)| h)
        .to_string()
}

/// The checked configuration the node runs with.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub coordinator: Option<CoordinatorLink>,
    pub office: OfficeConfig,
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// The metrics endpoint's address; `None`: no endpoint.
    pub metrics_listen: Option<SocketAddr>,
    pub shutdown_grace_secs: u64,
    pub json_logs: bool,
    pub addr_file: Option<PathBuf>,
}

impl NodeConfig {
    /// Merges file < environment < flags (clap already put env under flags)
    /// and checks every value.
    pub fn resolve(flags: Flags) -> anyhow::Result<NodeConfig> {
        let s = gridsync_svc::config::layered(flags.config.as_deref(), &flags.settings)?;
        let community_id = s.community_id
            .ok_or_else(|| anyhow::anyhow!("community_id is required (--community-id, GRIDSYNC_COMMUNITY_ID or community_id in the config file)"))?;
        let community = CommunityId::parse(&community_id).map_err(|e| anyhow::anyhow!("{e}"))?;
        let community_name = s.community_name.unwrap_or_else(|| community_id.clone());
        gridsync_core::validate::name("community_name", &community_name)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let community_kind = match s.community_kind.as_deref().unwrap_or("community") {
            "community" => CommunityKind::Community,
            "village" => CommunityKind::Village,
            other => {
                anyhow::bail!("community_kind: {other:?} is neither \"community\" nor \"village\"")
            }
        };
        let data_dir = s.data_dir.unwrap_or_else(|| PathBuf::from("data"));
        let listen_s = s.listen.unwrap_or_else(|| "127.0.0.1:7400".into());
        let listen: SocketAddr = listen_s.parse().map_err(|e| {
            anyhow::anyhow!("listen: {listen_s:?} is not an address like 127.0.0.1:7400 ({e})")
        })?;
        let metrics_listen =
            gridsync_svc::metrics::listen_setting(s.metrics_listen.as_deref(), listen)
                .map_err(anyhow::Error::msg)?;
        let tz_s = s.time_zone.unwrap_or_else(|| "Asia/Shanghai".into());
        let tz: chrono_tz::Tz = tz_s.parse().map_err(|_| {
            anyhow::anyhow!("time_zone: {tz_s:?} is not an IANA time zone like Asia/Shanghai")
        })?;
        let secret = match s.person_key_secret {
            Some(s) => Some(PersonKeySecret::from_hex(&s).map_err(|e| anyhow::anyhow!("{e}"))?),
            None => None,
        };
        let compact_after_chunks = s.compact_after_chunks.unwrap_or(256);
        if compact_after_chunks == 0 {
            anyhow::bail!("compact_after_chunks must be at least 1");
        }
        let json_logs = match s.log_format.as_deref().unwrap_or("text") {
            "text" => false,
            "json" => true,
            other => anyhow::bail!("log_format: {other:?} is neither \"text\" nor \"json\""),
        };
        let coordinator = match s.coordinator {
            None => None,
            Some(url) => {
                let tls = (s.tls_ca, s.tls_cert, s.tls_key);
                let dev = s.insecure_dev_token;
                let auth = match (tls, dev) {
                    ((Some(ca), Some(cert), Some(key)), None) => {
                        LinkAuth::MutualTls(TlsFiles { ca, cert, key })
                    }
                    ((None, None, None), Some(t)) => LinkAuth::InsecureDevToken(t),
                    ((None, None, None), None) => anyhow::bail!(
                        "coordinator is set, so tls_ca, tls_cert and tls_key are required (the street's operators issue them with `gridctl certs node`); for development only, insecure_dev_token instead"
                    ),
                    (_, Some(_)) => anyhow::bail!(
                        "insecure_dev_token and tls_* are both set; choose mutual TLS or, for development only, a token"
                    ),
                    _ => anyhow::bail!(
                        "tls_ca, tls_cert and tls_key go together; one of them is missing"
                    ),
                };
                let reconnect_min_ms = s.reconnect_min_ms.unwrap_or(500);
                let reconnect_max_ms = s.reconnect_max_ms.unwrap_or(60_000);
                if reconnect_min_ms == 0 || reconnect_max_ms < reconnect_min_ms {
                    anyhow::bail!(
                        "reconnect_min_ms ({reconnect_min_ms}) must be at least 1 and at most reconnect_max_ms ({reconnect_max_ms})"
                    );
                }
                let max_frame_bytes = s
                    .max_frame_bytes
                    .unwrap_or(FrameLimits::default().max_frame_bytes);
                if !(1024..=16 * 1024 * 1024).contains(&max_frame_bytes) {
                    anyhow::bail!("max_frame_bytes: {max_frame_bytes} is outside 1024..=16777216");
                }
                let defaults = gridsync_core::sync::HeartbeatSettings::default();
                let heartbeat = gridsync_core::sync::HeartbeatSettings::new(
                    s.heartbeat_interval_ms.unwrap_or(defaults.interval_ms),
                    defaults.misses,
                )
                .map_err(anyhow::Error::msg)?;
                Some(CoordinatorLink {
                    url,
                    domain: s.coordinator_domain,
                    auth,
                    reconnect_min_ms,
                    reconnect_max_ms,
                    max_frame_bytes,
                    heartbeat,
                })
            }
        };
        let store_key = gridsync_svc::config::store_key(
            s.store_key_file.as_deref(),
            s.insecure_plaintext_store.unwrap_or(false),
            std::env::var_os("CREDENTIALS_DIRECTORY")
                .map(PathBuf::from)
                .as_deref(),
        )?;
        Ok(NodeConfig {
            coordinator,
            office: OfficeConfig {
                community,
                community_name,
                community_kind,
                db_path: data_dir.join("gridsync-node.sqlite3"),
                tz,
                secret,
                compact_after_chunks,
                store_key,
            },
            data_dir,
            listen,
            metrics_listen,
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
        let mut v = vec!["gridsync-node"];
        v.extend_from_slice(args);
        Flags::try_parse_from(v).unwrap()
    }

    #[test]
    fn flags_win_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("node.toml");
        std::fs::write(
            &p,
            "community_id = \"fromfile\"\nlisten = \"127.0.0.1:9\"\ntime_zone = \"UTC\"\n",
        )
        .unwrap();
        let c = NodeConfig::resolve(flags(&[
            "--config",
            p.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--insecure-plaintext-store",
        ]))
        .unwrap();
        assert!(c.office.store_key.is_none());
        assert_eq!(c.office.community.as_str(), "fromfile");
        assert_eq!(c.listen.port(), 0);
        assert_eq!(c.office.tz, chrono_tz::UTC);
    }

    #[test]
    fn the_store_key_is_required_read_from_its_file_and_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("node-store.key");
        let k = gridsync_store::StoreKey::generate().unwrap();
        k.write_new_file(&key).unwrap();
        let key_s = key.to_str().unwrap();
        let c = NodeConfig::resolve(flags(&["--community-id", "a", "--store-key-file", key_s]))
            .unwrap();
        assert_eq!(c.office.store_key, Some(k));
        assert!(!format!("{c:?}").contains(&std::fs::read_to_string(&key).unwrap()[..16]));
        let bad = dir.path().join("bad.key");
        std::fs::write(&bad, "0123456789").unwrap();
        for (args, needle) in [
            (vec!["--community-id", "a"], "no store key"),
            (
                vec![
                    "--community-id",
                    "a",
                    "--store-key-file",
                    bad.to_str().unwrap(),
                ],
                "store_key_file: store key file",
            ),
            (
                vec![
                    "--community-id",
                    "a",
                    "--store-key-file",
                    key_s,
                    "--insecure-plaintext-store",
                ],
                "choose one",
            ),
        ] {
            let e = NodeConfig::resolve(flags(&args)).unwrap_err().to_string();
            assert!(e.contains(needle), "{args:?}: {e}");
            assert!(
                !e.contains("0123456789"),
                "the key file's text is shown: {e}"
            );
        }
    }

    #[test]
    fn the_coordinator_host_is_the_default_tls_name() {
        assert_eq!(host_of("street.example:7500"), "street.example");
        assert_eq!(host_of("https://127.0.0.1:7500/"), "127.0.0.1");
        assert_eq!(host_of("[::1]:7500"), "::1");
    }

    #[test]
    fn bad_values_name_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("node.toml");
        std::fs::write(&p, "community_id = \"x\"\nlisten_on = 1\n").unwrap();
        let e = NodeConfig::resolve(flags(&["--config", p.to_str().unwrap()]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("listen_on"), "{e}");
        for (args, needle) in [
            (vec!["--community-id", "A B"], "community_id"),
            (
                vec!["--community-id", "a", "--time-zone", "Mars/Base"],
                "time_zone",
            ),
            (vec!["--community-id", "a", "--listen", "nowhere"], "listen"),
            (
                vec!["--community-id", "a", "--metrics-listen", "nowhere:x"],
                "metrics_listen",
            ),
            (
                vec![
                    "--community-id",
                    "a",
                    "--listen",
                    "127.0.0.1:7400",
                    "--metrics-listen",
                    "127.0.0.1:7400",
                ],
                "metrics_listen",
            ),
            (
                vec!["--community-id", "a", "--person-key-secret", "abc"],
                "person_key_secret",
            ),
            (
                vec!["--community-id", "a", "--community-kind", "town"],
                "community_kind",
            ),
            (vec![], "community_id is required"),
            (
                vec!["--community-id", "a", "--coordinator", "127.0.0.1:7500"],
                "tls_ca, tls_cert and tls_key are required",
            ),
            (
                vec![
                    "--community-id",
                    "a",
                    "--coordinator",
                    "x:1",
                    "--tls-ca",
                    "ca.pem",
                ],
                "go together",
            ),
            (
                vec![
                    "--community-id",
                    "a",
                    "--coordinator",
                    "x:1",
                    "--insecure-dev-token",
                    "t",
                    "--reconnect-min-ms",
                    "0",
                ],
                "reconnect_min_ms",
            ),
        ] {
            let e = NodeConfig::resolve(flags(&args)).unwrap_err().to_string();
            assert!(e.contains(needle), "{args:?}: {e}");
        }
    }
}
