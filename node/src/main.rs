//! `gridsync-node`: the service a community office runs. It opens the
//! community's store, serves the office API (with gRPC health and
//! reflection), syncs with the street's coordinator, and stops cleanly on
//! SIGTERM. See `gridsync_node` for the layers and `--help` for the
//! settings.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use gridsync_node::config::{Flags, NodeConfig};
use gridsync_node::link::{self, LinkHandle};
use gridsync_node::office::Office;
use gridsync_node::server::serve;
use gridsync_node::service::OfficeHandle;
use gridsync_svc::Clock;
use gridsync_svc::grpc::shutdown_signal;
use gridsync_svc::metrics::MetricsServer;

fn main() -> ExitCode {
    gridsync_svc::process::main_with(
        "gridsync-node",
        NodeConfig::resolve(Flags::parse()),
        |c| c.json_logs,
        run,
    )
}

async fn run(cfg: NodeConfig) -> anyhow::Result<()> {
    let clock = Clock::system();
    if gridsync_store::private::create_dir(&cfg.data_dir).with_context(|| {
        format!(
            "cannot create data_dir {} (mode 0700)",
            cfg.data_dir.display()
        )
    })? {
        tracing::info!(data_dir = %cfg.data_dir.display(), "data_dir was open to other users; tightened to mode 0700");
    }
    if cfg.office.store_key.is_none() {
        tracing::warn!(
            store = %cfg.office.db_path.display(),
            "INSECURE: insecure_plaintext_store is set: the store is NOT encrypted, and names, phone and ID numbers are readable by anyone who copies the file; never use this in production"
        );
    }
    if cfg.office.secret.is_none() {
        tracing::warn!(
            "no person_key_secret configured: residents get no person key, so the street cannot find people registered twice"
        );
    }
    let started = std::time::Instant::now();
    let office_cfg = cfg.office.clone();
    let now = clock.now_ms();
    let office = tokio::task::spawn_blocking(move || Office::open(office_cfg, now))
        .await
        .context("opening the store panicked")??;
    tracing::info!(
        community = %cfg.office.community,
        store = %cfg.office.db_path.display(),
        households = office.view().households.len(),
        residents = office.view().residents.len(),
        open_ms = started.elapsed().as_millis() as u64,
        "community loaded"
    );
    let timings = office.timings().clone();
    let handle = OfficeHandle::new(office);
    let link_status = LinkHandle::default();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let metrics = match cfg.metrics_listen {
        Some(at) => {
            let registry = gridsync_node::metrics::registry(
                cfg.office.community.clone(),
                handle.shared(),
                &timings,
                link_status.clone(),
                clock.clone(),
            );
            Some(MetricsServer::start(at, registry, stop_rx.clone()).await?)
        }
        None => None,
    };
    let link_task = match &cfg.coordinator {
        Some(link) => {
            let link_cfg = link.link_config()?;
            tracing::info!(coordinator = %link.url, "syncing with the coordinator");
            Some(tokio::spawn(link::run(
                handle.shared(),
                link_cfg,
                link_status.clone(),
                clock.clone(),
                stop_rx,
            )))
        }
        None => {
            tracing::warn!(
                "no coordinator configured: this node keeps its changes until one is set"
            );
            None
        }
    };
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    if let Some(path) = &cfg.addr_file {
        gridsync_svc::process::write_addr_file(path, addr)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    tracing::info!(%addr, "office API listening (gRPC, health, reflection)");
    let grace = Duration::from_secs(cfg.shutdown_grace_secs);
    // The link stops as soon as shutdown begins, while the office API
    // finishes its requests in flight: it ends at once, even on a dead link.
    let shutdown = async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    };
    serve(
        handle.clone(),
        link_status,
        clock,
        listener,
        shutdown,
        grace,
    )
    .await?;
    if let Some(m) = metrics {
        m.join(Duration::from_secs(2)).await;
    }
    if let Some(mut task) = link_task
        && tokio::time::timeout(grace, &mut task).await.is_err()
    {
        tracing::warn!("the link to the coordinator did not stop within the grace period");
        task.abort();
    }
    handle
        .run(|o| Ok(o.checkpoint()?))
        .await
        .map_err(|s| anyhow::anyhow!("final checkpoint: {}", s.message()))?;
    tracing::info!("stopped");
    Ok(())
}
