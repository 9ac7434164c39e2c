//! The real service binaries as the crash tests run them: started on a data
//! folder (and restarted on the port they first got), stopped with SIGKILL
//! or SIGTERM; their certificates, flags and clients.

use std::fs::OpenOptions;
use std::io::{Read, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use gridsync_core::access::Principal;
use gridsync_proto::office::v1 as pb;
use gridsync_proto::street::v1::street_client::StreetClient;
use gridsync_sync::tls::endpoint;
use gridsync_testkit::PERSON_KEY_SECRET_HEX;
use gridsync_testkit::TIME_ZONE;
use gridsync_testkit::street::{Pki, STREET};
use pb::office_client::OfficeClient;
use tonic::transport::{Channel, Endpoint};

pub(crate) type Office = OfficeClient<Channel>;
pub(crate) type Operator = StreetClient<Channel>;

/// A (re)started process writes its address within this.
const START_WITHIN: Duration = Duration::from_secs(30);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A real service binary started on a fixed data folder; restarted on the
/// port it first got. Its stderr (the log) is appended to one file across
/// restarts. Dropping it kills it.
pub(crate) struct Service {
    pub(crate) name: String,
    bin: PathBuf,
    args: Vec<String>,
    addr_file: PathBuf,
    log: PathBuf,
    /// 0 until the first start picked one.
    port: u16,
    child: Option<Child>,
    starts: u32,
}

impl Service {
    pub(crate) fn new(name: &str, bin: PathBuf, args: Vec<String>, dir: &Path) -> Service {
        Service {
            name: name.to_string(),
            bin,
            args,
            addr_file: dir.join(format!("{name}.addr")),
            log: dir.join(format!("{name}.log")),
            port: 0,
            child: None,
            starts: 0,
        }
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Starts the binary and returns once it has written the address it
    /// listens on. A restart on a port that is not free yet is retried.
    pub(crate) async fn start(&mut self) -> Result<(), String> {
        let mut last = String::new();
        for attempt in 0..6 {
            match std::fs::remove_file(&self.addr_file) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("cannot remove {}: {e}", self.addr_file.display())),
            }
            let mut log = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.log)
                .map_err(|e| format!("cannot open {}: {e}", self.log.display()))?;
            let _ = writeln!(
                log,
                "==== start {} of {} on port {} (attempt {attempt}) ====",
                self.starts + 1,
                self.name,
                self.port
            );
            let mut cmd = Command::new(&self.bin);
            // Settings come only from the flags.
            for (k, _) in std::env::vars_os() {
                if k.to_string_lossy().starts_with("GRIDSYNC_") {
                    cmd.env_remove(k);
                }
            }
            cmd.args(&self.args)
                .arg("--listen")
                .arg(format!("127.0.0.1:{}", self.port))
                .arg("--addr-file")
                .arg(&self.addr_file)
                .env("GRIDSYNC_LOG", "info")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(log));
            let mut child = cmd
                .spawn()
                .map_err(|e| format!("cannot start {}: {e}", self.bin.display()))?;
            let deadline = Instant::now() + START_WITHIN;
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    last = format!("{} exited with {status} before listening", self.name);
                    break;
                }
                if let Ok(text) = std::fs::read_to_string(&self.addr_file)
                    && let Ok(addr) = text.trim().parse::<SocketAddr>()
                {
                    self.port = addr.port();
                    self.child = Some(child);
                    self.starts += 1;
                    return Ok(());
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "{} wrote no address within {START_WITHIN:?}",
                        self.name
                    ));
                }
                tokio::time::sleep(ms(10)).await;
            }
            if self.port == 0 {
                break;
            }
            tokio::time::sleep(ms(200)).await;
        }
        Err(last)
    }

    /// The running process, taken out of `self` with its pid; an error if
    /// it is not running or had died by itself.
    fn take_running(&mut self) -> Result<(std::process::Child, u32), String> {
        let Some(mut child) = self.child.take() else {
            return Err(format!("{} is not running", self.name));
        };
        let pid = child.id();
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "{} (pid {pid}) had exited by itself with {status}",
                self.name
            ));
        }
        Ok((child, pid))
    }

    /// SIGKILL (`Child::kill` on unix), reaped. Returns the pid, or an error
    /// if the process had already died by itself.
    pub(crate) fn kill9(&mut self) -> Result<u32, String> {
        let (mut child, pid) = self.take_running()?;
        let _ = child.kill();
        let _ = child.wait();
        Ok(pid)
    }

    /// SIGTERM, then waits up to `within` for the process to exit (looking
    /// every 10 ms). Returns its exit status and the time from the signal
    /// to the exit; a process still running at the deadline is killed with
    /// SIGKILL and reported as an error with its log's tail.
    pub(crate) async fn terminate(
        &mut self,
        within: Duration,
    ) -> Result<(ExitStatus, Duration), String> {
        let (mut child, pid) = self.take_running()?;
        let sent = Instant::now();
        let kill = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .map_err(|e| format!("cannot run kill -TERM {pid}: {e}"))?;
        if !kill.success() {
            return Err(format!("kill -TERM {pid} ({}) failed: {kill}", self.name));
        }
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Ok((status, sent.elapsed())),
                Ok(None) => {}
                Err(e) => return Err(format!("cannot wait for {} (pid {pid}): {e}", self.name)),
            }
            if sent.elapsed() > within {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{} (pid {pid}) still ran {within:?} after SIGTERM; killed. Its log's tail:\n{}",
                    self.name,
                    self.log_tail(30)
                ));
            }
            tokio::time::sleep(ms(10)).await;
        }
    }

    /// Whether it still runs (it was not found dead).
    pub(crate) fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    pub(crate) fn log_tail(&self, lines: usize) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        let all: Vec<&str> = s.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Waits until the node's office API answers `GetStatus`.
pub(crate) async fn node_ready(addr: SocketAddr) -> Result<(), String> {
    let deadline = Instant::now() + START_WITHIN;
    loop {
        let ok = async {
            let ch = Endpoint::from_shared(format!("http://{addr}"))
                .ok()?
                .connect_timeout(ms(1000))
                .timeout(ms(2000))
                .connect()
                .await
                .ok()?;
            OfficeClient::new(ch)
                .get_status(pb::GetStatusRequest {})
                .await
                .ok()
        }
        .await;
        if ok.is_some() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the node at {addr} did not answer within {START_WITHIN:?}"
            ));
        }
        tokio::time::sleep(ms(20)).await;
    }
}

/// A client of a node's office API; each call gives up after `timeout`.
pub(crate) fn office_client(addr: SocketAddr, timeout: Duration) -> Office {
    let ch = Endpoint::from_shared(format!("http://{addr}"))
        .expect("a socket address makes a valid URL")
        .connect_timeout(ms(2000))
        .timeout(timeout)
        .connect_lazy();
    OfficeClient::new(ch)
}

/// An operator's client of the coordinator (mutual TLS); each call gives
/// up after `timeout`.
pub(crate) fn operator_client(pki: &Pki, addr: SocketAddr, timeout: Duration) -> Operator {
    let auth = pki.client(&Principal::Operator("chaos".into()));
    let ch = endpoint(&format!("https://127.0.0.1:{}", addr.port()), &auth)
        .expect("the operator's endpoint")
        .timeout(timeout)
        .connect_lazy();
    StreetClient::new(ch)
}

/// Certificates from a test CA, as files for the binaries: the CA, the
/// coordinator's, and one per community in `communities`.
pub(crate) fn write_certs(pki: &Pki, certs: &Path, communities: &[&str]) {
    std::fs::create_dir_all(certs).expect("certs folder");
    std::fs::write(certs.join("ca.pem"), &pki.ca.cert_pem).expect("write ca.pem");
    pki.server
        .write(
            &certs.join("coordinator.pem"),
            &certs.join("coordinator.key"),
            false,
        )
        .expect("write the coordinator's certificate");
    for c in communities {
        pki.leaf(&Principal::Node(
            gridsync_core::CommunityId::parse(c).expect("community id"),
        ))
        .write(
            &certs.join(format!("node-{c}.pem")),
            &certs.join(format!("node-{c}.key")),
            false,
        )
        .expect("write a node's certificate");
    }
    // An operator, for gridctl.
    pki.leaf(&Principal::Operator(OPERATOR.into()))
        .write(
            &certs.join(format!("operator-{OPERATOR}.pem")),
            &certs.join(format!("operator-{OPERATOR}.key")),
            false,
        )
        .expect("write the operator's certificate");
}

/// The operator whose certificate [`write_certs`] writes (as
/// `operator-<name>` in the folder, for gridctl's `--identity`).
pub(crate) const OPERATOR: &str = "alice";

fn path(p: PathBuf) -> String {
    p.to_string_lossy().into_owned()
}

/// The coordinator's flags: its data under `dir`, the certificates of
/// [`write_certs`], `grace_secs` to stop.
pub(crate) fn coordinator_args(dir: &Path, certs: &Path, grace_secs: u64) -> Vec<String> {
    [
        "--street-id",
        STREET,
        "--data-dir",
        &path(dir.join("street-data")),
        "--time-zone",
        TIME_ZONE.name(),
        "--tls-ca",
        &path(certs.join("ca.pem")),
        "--tls-cert",
        &path(certs.join("coordinator.pem")),
        "--tls-key",
        &path(certs.join("coordinator.key")),
        "--compact-after-chunks",
        "8",
        "--shutdown-grace-secs",
        &grace_secs.to_string(),
        "--store-key-file",
        &path(gridsync_testkit::store_key_file(dir)),
    ]
    .map(String::from)
    .to_vec()
}

/// A node's flags: community `c`, its data under `dir`, dialling the
/// coordinator at `coordinator` (a fault proxy), `grace_secs` to stop.
pub(crate) fn node_args(
    c: &str,
    dir: &Path,
    certs: &Path,
    coordinator: SocketAddr,
    grace_secs: u64,
) -> Vec<String> {
    [
        "--community-id",
        c,
        "--data-dir",
        &path(dir.join(format!("data-{c}"))),
        "--person-key-secret",
        PERSON_KEY_SECRET_HEX,
        "--time-zone",
        TIME_ZONE.name(),
        "--compact-after-chunks",
        "8",
        "--shutdown-grace-secs",
        &grace_secs.to_string(),
        "--coordinator",
        &coordinator.to_string(),
        "--coordinator-domain",
        "localhost",
        "--tls-ca",
        &path(certs.join("ca.pem")),
        "--tls-cert",
        &path(certs.join(format!("node-{c}.pem"))),
        "--tls-key",
        &path(certs.join(format!("node-{c}.key"))),
        "--reconnect-min-ms",
        "50",
        "--reconnect-max-ms",
        "500",
        "--store-key-file",
        &path(gridsync_testkit::store_key_file(dir)),
    ]
    .map(String::from)
    .to_vec()
}
