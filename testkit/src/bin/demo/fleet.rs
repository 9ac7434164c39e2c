//! The demo's processes: started, watched, stopped (SIGTERM, then SIGKILL
//! after a deadline) on success, on error and on Ctrl-C.

#![allow(unused_imports)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use gridsync_cli::connect::{self, StreetApi as OperatorClient};
use gridsync_cli::output::status_err;
use gridsync_cli::rollup::{self, Additivity, Source};
use gridsync_core::access::Principal;
use gridsync_core::street::StreetRecord;
use gridsync_core::{
    CommunityKind, Date, Record, RiskLevel, RiskRegion, ScreeningEntry, ScreeningStatus,
    ScreeningVisit, Ticket, TicketChannel,
};
use gridsync_proto::office::v1 as pb;
use gridsync_proto::rollup::v1 as rpb;
use gridsync_proto::street::v1 as spb;
use gridsync_sync::issue;
use gridsync_sync::tls::{ClientAuth, IssuedCert, TlsPems, TokenInterceptor, client_tls, endpoint};
use gridsync_testkit::demo_street::{self as generator, SeededStreet, StreetSpec};
use gridsync_testkit::now_ms;
use gridsync_testkit::process::sibling_binary;
use gridsync_testkit::proxy::FaultProxy;
use pb::office_client::OfficeClient;

use crate::helpers::wait_for;
use spb::street_client::StreetClient;
use tonic::transport::Channel;

/// How long stopped processes get to exit after SIGTERM before SIGKILL.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(15);

pub(crate) struct Proc {
    name: String,
    child: std::process::Child,
    log: PathBuf,
}

/// The demo's child processes. Dropping it stops them all: SIGTERM to
/// every one at once, then SIGKILL to those still running at the deadline.
#[derive(Default)]
pub(crate) struct Fleet {
    procs: Vec<Proc>,
}

impl Fleet {
    /// Starts `cmd` (logs at warn, into `log`) and returns its handle.
    pub(crate) fn spawn(
        &mut self,
        name: &str,
        mut cmd: std::process::Command,
        log: PathBuf,
    ) -> anyhow::Result<usize> {
        let out = std::fs::File::create(&log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let err = out.try_clone()?;
        let child = cmd
            .env("GRIDSYNC_LOG", "warn")
            .env_remove("GRIDSYNC_CONFIG")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        self.procs.push(Proc {
            name: name.to_string(),
            child,
            log,
        });
        Ok(self.procs.len() - 1)
    }

    pub(crate) fn pid(&self, i: usize) -> Option<u32> {
        self.procs.get(i).map(|p| p.child.id())
    }

    /// Fails if a process has exited, with the end of its log.
    pub(crate) fn check_alive(&mut self) -> anyhow::Result<()> {
        for p in &mut self.procs {
            if let Ok(Some(status)) = p.child.try_wait() {
                bail!(
                    "{} exited ({status}); the end of its log {}:\n{}",
                    p.name,
                    p.log.display(),
                    tail(&p.log, 20)
                );
            }
        }
        Ok(())
    }

    /// Waits for process `i` to write its address to `file`.
    pub(crate) async fn wait_addr(&mut self, i: usize, file: &Path) -> anyhow::Result<String> {
        let name = self.procs[i].name.clone();
        wait_for(
            self,
            &format!("{name} to listen (its address in {})", file.display()),
            Duration::from_secs(60),
            async || {
                Ok(match std::fs::read_to_string(file) {
                    Ok(a) if !a.trim().is_empty() => Ok(a.trim().to_string()),
                    _ => Err("no address written yet".to_string()),
                })
            },
        )
        .await
    }

    /// Stops every process still running and says how each ended.
    pub(crate) fn stop(&mut self, grace: Duration) -> Vec<(String, String)> {
        let mut procs = std::mem::take(&mut self.procs);
        #[cfg(unix)]
        {
            let pids: Vec<String> = procs
                .iter_mut()
                .filter_map(|p| {
                    matches!(p.child.try_wait(), Ok(None)).then(|| p.child.id().to_string())
                })
                .collect();
            if !pids.is_empty() {
                let _ = std::process::Command::new("kill")
                    .arg("-TERM")
                    .args(&pids)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
        let deadline = Instant::now() + grace;
        let mut how = Vec::new();
        for p in &mut procs {
            let ended = loop {
                match p.child.try_wait() {
                    Ok(Some(status)) => break describe(status),
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    _ => {
                        let _ = p.child.kill();
                        let _ = p.child.wait();
                        break format!("killed after {:.0} s", grace.as_secs_f64());
                    }
                }
            };
            how.push((p.name.clone(), ended));
        }
        how
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.stop(STOP_GRACE);
    }
}

pub(crate) fn describe(status: std::process::ExitStatus) -> String {
    match status.code() {
        Some(c) => format!("exited {c}"),
        None => format!("{status}"),
    }
}

pub(crate) fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
