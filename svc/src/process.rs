//! What the service binaries (`gridsync-node`, `gridsync-coordinator`)
//! share around their `main`: a checked config, logs, a runtime, an exit
//! code; and the file that tells a supervisor or a test the bound address.

use std::fmt::Display;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

/// Runs a service: a configuration error exits 2 before anything starts;
/// otherwise logs go to stderr (text or JSON, filtered by `GRIDSYNC_LOG`)
/// and `run` runs on a multi-threaded runtime; its error exits 1.
pub fn main_with<C, E, F, Fut, E2>(
    name: &str,
    cfg: Result<C, E>,
    json_logs: impl Fn(&C) -> bool,
    run: F,
) -> ExitCode
where
    E: Display,
    F: FnOnce(C) -> Fut,
    Fut: Future<Output = Result<(), E2>>,
    E2: Display,
{
    let cfg = match cfg {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{name}: configuration: {e:#}");
            return ExitCode::from(2);
        }
    };
    init_tracing(json_logs(&cfg));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{name}: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("{name}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GRIDSYNC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Writes the bound address to `path` atomically (write, then rename), so
/// a reader never sees half of it.
pub fn write_addr_file(path: &Path, addr: SocketAddr) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, addr.to_string())?;
    std::fs::rename(&tmp, path)
}

/// A process's resident memory, from `/proc/<pid>/status` (Linux).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Memory {
    /// Peak resident set (VmHWM), KiB.
    pub peak_kib: u64,
    /// Resident set now (VmRSS), KiB.
    pub rss_kib: u64,
}

impl Memory {
    pub fn peak_mib(&self) -> f64 {
        self.peak_kib as f64 / 1024.0
    }
    pub fn rss_mib(&self) -> f64 {
        self.rss_kib as f64 / 1024.0
    }
}

/// The memory of process `pid` (this one if `None`), or `None` where
/// `/proc` does not say (not Linux, the process is gone).
pub fn memory(pid: Option<u32>) -> Option<Memory> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/status"),
        None => "/proc/self/status".to_string(),
    };
    let text = std::fs::read_to_string(path).ok()?;
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse::<u64>()
            .ok()
    };
    Some(Memory {
        peak_kib: field("VmHWM:")?,
        rss_kib: field("VmRSS:")?,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_process_has_a_resident_set_no_larger_than_its_peak() {
        // Only where /proc exists; elsewhere `None` is the answer.
        if let Some(m) = super::memory(None) {
            assert!(m.rss_kib > 0 && m.peak_kib >= m.rss_kib, "{m:?}");
        } else {
            assert!(!std::path::Path::new("/proc/self/status").exists());
        }
    }
}
