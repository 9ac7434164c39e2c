//! `gridsync-coordinator`: the street's service. It opens the street's
//! store, serves the sync API to the nodes and the Street API to operators
//! (with gRPC health and reflection), and stops cleanly on SIGTERM. See
//! `gridsync_coordinator` for the layers and `--help` for the settings.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use gridsync_coordinator::config::{CoordinatorConfig, Flags, Security};
use gridsync_coordinator::replicas::StreetReplicas;
use gridsync_coordinator::server::{ServeOptions, serve};
use gridsync_svc::Clock;
use gridsync_svc::grpc::shutdown_signal;
use gridsync_svc::metrics::MetricsServer;
use gridsync_sync::identity::{Authenticator, DevTokens};
use gridsync_sync::tls::server_tls;

fn main() -> ExitCode {
    gridsync_svc::process::main_with(
        "gridsync-coordinator",
        CoordinatorConfig::resolve(Flags::parse()),
        |c| c.json_logs,
        run,
    )
}

async fn run(cfg: CoordinatorConfig) -> anyhow::Result<()> {
    if gridsync_store::private::create_dir(&cfg.data_dir).with_context(|| {
        format!(
            "cannot create data_dir {} (mode 0700)",
            cfg.data_dir.display()
        )
    })? {
        tracing::info!(data_dir = %cfg.data_dir.display(), "data_dir was open to other users; tightened to mode 0700");
    }
    let served = cfg.data_dir.join(gridsync_coordinator::served::SERVED_DIR);
    let tightened = gridsync_store::private::tighten_tree(&served).with_context(|| {
        format!(
            "cannot make {} private (folders 0700, files 0600)",
            served.display()
        )
    })?;
    if !tightened.is_empty() {
        tracing::info!(folder = %served.display(), files = tightened.len(), "records of rollups served were open to other users; tightened to 0700/0600");
    }
    if cfg.replicas.store_key.is_none() {
        tracing::warn!(
            store = %cfg.replicas.db_path.display(),
            "INSECURE: insecure_plaintext_store is set: the store is NOT encrypted, and every community's names, phone and ID numbers are readable by anyone who copies the file; never use this in production"
        );
    }
    let (auth, tls) = match &cfg.security {
        Security::MutualTls(files) => (Authenticator::MutualTls, Some(server_tls(&files.load()?)?)),
        Security::InsecureDevTokens(path) => {
            tracing::warn!(
                tokens = %path.display(),
                "INSECURE DEVELOPMENT MODE: plain HTTP/2 with bearer tokens, no TLS; never use this in production"
            );
            (Authenticator::DevTokens(DevTokens::load(path)?), None)
        }
    };
    let started = std::time::Instant::now();
    let rcfg = cfg.replicas.clone();
    let replicas = tokio::task::spawn_blocking(move || StreetReplicas::open(rcfg))
        .await
        .context("opening the store panicked")??;
    tracing::info!(
        street = %cfg.replicas.street_id,
        store = %cfg.replicas.db_path.display(),
        open_ms = started.elapsed().as_millis() as u64,
        "street loaded"
    );
    let replicas = Arc::new(replicas);
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    if let Some(path) = &cfg.addr_file {
        gridsync_svc::process::write_addr_file(path, addr)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    tracing::info!(%addr, tls = tls.is_some(), "sync and Street APIs listening (gRPC, health, reflection)");
    // One shutdown signal for the gRPC server and the metrics endpoint.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let clock = Clock::system();
    let metrics = match cfg.metrics_listen {
        Some(at) => Some(
            MetricsServer::start(
                at,
                gridsync_coordinator::metrics::registry(replicas.clone(), clock.clone()),
                stop_rx.clone(),
            )
            .await?,
        ),
        None => None,
    };
    let shutdown = async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    };
    let mut opts = ServeOptions::new(auth, tls);
    opts.clock = clock;
    opts.limits = cfg.limits;
    opts.budget = cfg.budget;
    opts.accept = cfg.accept;
    opts.part_timeout = cfg.part_timeout;
    opts.hello_timeout = cfg.hello_timeout;
    opts.max_hello_docs = cfg.max_hello_docs;
    opts.heartbeat = cfg.heartbeat;
    opts.memory = cfg.replicas.memory.clone();
    opts.grace = Duration::from_secs(cfg.shutdown_grace_secs);
    serve(replicas.clone(), listener, shutdown, opts).await?;
    if let Some(m) = metrics {
        m.join(Duration::from_secs(2)).await;
    }
    let r = replicas.clone();
    gridsync_svc::on_pool(move || r.checkpoint())
        .await
        .context("final checkpoint")??;
    tracing::info!("stopped");
    Ok(())
}
