//! Reaching the services: a node's office API (on the node's machine, no
//! identity), and the coordinator's Street API with an operator's
//! certificate (or, in development only, a token).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use gridsync_proto::office::v1::office_client::OfficeClient;
use gridsync_proto::street::v1::street_client::StreetClient;
use gridsync_sync::tls::{ClientAuth, TlsFiles, TokenInterceptor, client_tls, endpoint};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

/// The operator's client of the coordinator's `Street` API: a channel
/// (TLS or plain) with the development token added when there is one.
pub type StreetApi = StreetClient<InterceptedService<Channel, TokenInterceptor>>;

/// Connects to a node's office API at `addr` (`127.0.0.1:7400` or a URL).
pub async fn node(addr: &str) -> anyhow::Result<OfficeClient<Channel>> {
    let url = if addr.contains("://") {
        addr.to_string()
    } else {
        format!("http://{addr}")
    };
    let endpoint = Endpoint::from_shared(url.clone())
        .with_context(|| format!("{addr:?} is not an address like 127.0.0.1:7400"))?
        .connect_timeout(Duration::from_secs(5))
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10));
    let channel = endpoint.connect().await.with_context(|| {
        format!("cannot reach the node at {url}; is gridsync-node running there?")
    })?;
    Ok(OfficeClient::new(channel)
        .max_decoding_message_size(64 * 1024 * 1024)
        .max_encoding_message_size(8 * 1024 * 1024))
}

/// How `gridctl street …` (and `rollup`/`report` as an operator) reach the
/// coordinator.
#[derive(Clone, Debug, clap::Args)]
pub struct CoordinatorArgs {
    /// The coordinator's address, for `gridctl street …`, and for `rollup` and
    /// `report` as an operator when given more directly than --node.
    #[arg(
        long,
        global = true,
        env = "GRIDSYNC_COORDINATOR",
        default_value = "localhost:7500"
    )]
    pub coordinator: String,
    /// The name the coordinator's certificate carries (default: its host).
    #[arg(long, global = true, env = "GRIDSYNC_COORDINATOR_DOMAIN")]
    pub coordinator_domain: Option<String>,
    /// Folder of certificates written by `gridctl certs` (with --identity).
    #[arg(long, global = true, env = "GRIDSYNC_CERTS")]
    pub certs: Option<PathBuf>,
    /// Which certificate of --certs to present, e.g. operator-alice.
    #[arg(long, global = true, env = "GRIDSYNC_IDENTITY")]
    pub identity: Option<String>,
    /// DEVELOPMENT ONLY: a bearer token instead of a certificate (plain HTTP/2).
    #[arg(
        long,
        global = true,
        env = "GRIDSYNC_INSECURE_DEV_TOKEN",
        hide_env_values = true
    )]
    pub insecure_dev_token: Option<String>,
}

/// The coordinator's Street API with the operator's identity.
pub async fn street(cli: &CoordinatorArgs) -> anyhow::Result<StreetApi> {
    let auth = match (&cli.certs, &cli.identity, &cli.insecure_dev_token) {
        (Some(dir), Some(name), None) => {
            let pems = TlsFiles::in_dir(dir, name).load()?;
            let domain = match &cli.coordinator_domain {
                Some(d) => d.clone(),
                None => cli
                    .coordinator
                    .rsplit_once(':')
                    .map_or(cli.coordinator.as_str(), |(h, _)| h)
                    .trim_start_matches("https://")
                    .to_string(),
            };
            ClientAuth::Tls(client_tls(&pems, &domain)?)
        }
        (None, None, Some(token)) => ClientAuth::DevToken(token.clone()),
        (Some(_), None, _) | (None, Some(_), _) => {
            bail!(
                "--certs and --identity go together (e.g. --certs certs --identity operator-alice)"
            )
        }
        (Some(_), Some(_), Some(_)) => {
            bail!("choose a certificate (--certs, --identity) or a development token, not both")
        }
        (None, None, None) => bail!(
            "the coordinator needs an identity: --certs DIR --identity operator-NAME (from `gridctl certs operator`), or for development only --insecure-dev-token"
        ),
    };
    let ep = endpoint(&cli.coordinator, &auth)?;
    let channel = ep
        .connect()
        .await
        .with_context(|| format!("cannot reach the coordinator at {}", cli.coordinator))?;
    Ok(StreetClient::with_interceptor(
        channel,
        TokenInterceptor::new(&auth)?,
    ))
}
