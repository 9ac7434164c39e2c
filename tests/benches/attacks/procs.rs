//! The street of the attacks benchmark as processes: the built coordinator
//! and a built node, configured by flags only, with certificates from the
//! testkit's CA written to files; and a thread watching the coordinator's
//! resident memory in `/proc`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gridsync_core::CommunityId;
use gridsync_core::access::Principal;
use gridsync_testkit::street::Pki;
use gridsync_testkit::{PERSON_KEY_SECRET_HEX, TIME_ZONE};

/// Open files the coordinator may hold: systemd's default, which the old
/// units kept.
pub const NOFILE: u32 = 1024;

/// Where the binaries under test are: `GRIDSYNC_BIN_DIR`, else the profile
/// folder of this bench (`target/release`).
pub fn bin_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("GRIDSYNC_BIN_DIR") {
        return PathBuf::from(d);
    }
    let exe = std::env::current_exe().expect("the bench knows its path");
    let mut dir = exe.parent().expect("in a folder").to_path_buf();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.pop();
    }
    dir
}

pub fn binary(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    assert!(
        p.is_file(),
        "{} is missing: build it (`cargo build --release -p gridsync-coordinator -p gridsync-node`) or set GRIDSYNC_BIN_DIR",
        p.display()
    );
    p
}

/// Certificate files: the CA, the coordinator's, and a node's per community.
pub struct Certs {
    pub dir: PathBuf,
    pub ca_pem: String,
}

impl Certs {
    pub fn write(pki: &Pki, dir: &Path, nodes: &[&str]) -> Certs {
        std::fs::create_dir_all(dir).expect("the certificates' folder");
        std::fs::write(dir.join("ca.pem"), &pki.ca.cert_pem).expect("write ca.pem");
        pki.server
            .write(
                &dir.join("coordinator.pem"),
                &dir.join("coordinator.key"),
                true,
            )
            .expect("write the coordinator's certificate");
        for c in nodes {
            let p = Principal::Node(CommunityId::parse(c).expect("a community id"));
            pki.leaf(&p)
                .write(
                    &dir.join(format!("{c}.pem")),
                    &dir.join(format!("{c}.key")),
                    true,
                )
                .expect("write a node's certificate");
        }
        Certs {
            dir: dir.to_path_buf(),
            ca_pem: pki.ca.cert_pem.clone(),
        }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// A child process, its log, killed when dropped.
pub struct Proc {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: PathBuf,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        let s = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = s.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn command(bin: &Path, dir: &Path) -> (Command, PathBuf, PathBuf) {
    command_nofile(bin, dir, NOFILE)
}

fn command_nofile(bin: &Path, dir: &Path, nofile: u32) -> (Command, PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).expect("the process's folder");
    let log = dir.join("log.txt");
    let addr_file = dir.join("addr");
    // The open-files limit of a unit that sets none; `exec` keeps the pid.
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit -n {nofile} && exec \"$0\" \"$@\""))
        .arg(bin);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("GRIDSYNC_") {
            cmd.env_remove(k);
        }
    }
    // The store's key by environment: a binary from before encryption at
    // rest has no such setting and ignores it (a flag would be refused).
    cmd.env("GRIDSYNC_LOG", "warn")
        .env(
            "GRIDSYNC_STORE_KEY_FILE",
            gridsync_testkit::store_key_file(&dir.join("key")),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("the log file"));
    (cmd, log, addr_file)
}

fn wait_addr(mut p: Proc, addr_file: &Path, what: &str) -> Proc {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(s) = p.exited() {
            panic!(
                "{what} exited with {s} at start; its log:\n{}",
                p.log_tail(30)
            );
        }
        if let Some(a) = std::fs::read_to_string(addr_file)
            .ok()
            .and_then(|t| t.trim().parse().ok())
        {
            p.addr = a;
            return p;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not write its address within 30 s; its log:\n{}",
            p.log_tail(30)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts the coordinator on `127.0.0.1:0` with its store in `dir`.
pub fn coordinator(bins: &Path, dir: &Path, certs: &Certs) -> Proc {
    coordinator_with(bins, dir, certs, NOFILE, &[])
}

/// [`coordinator`] with an open-files limit and settings by environment
/// (`GRIDSYNC_…`).
pub fn coordinator_with(
    bins: &Path,
    dir: &Path,
    certs: &Certs,
    nofile: u32,
    env: &[(&str, &str)],
) -> Proc {
    coordinator_of(bins, dir, certs, nofile, env, "bench-street")
}

/// [`coordinator_with`] for the street `street_id` (a seeded street's
/// store is claimed by its id).
pub fn coordinator_of(
    bins: &Path,
    dir: &Path,
    certs: &Certs,
    nofile: u32,
    env: &[(&str, &str)],
    street_id: &str,
) -> Proc {
    let bin = binary(bins, "gridsync-coordinator");
    let (mut cmd, log, addr_file) = command_nofile(&bin, dir, nofile);
    cmd.envs(env.iter().copied());
    cmd.args(["--street-id", street_id, "--listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--addr-file")
        .arg(&addr_file)
        .args([
            "--time-zone",
            TIME_ZONE.name(),
            "--shutdown-grace-secs",
            "1",
        ])
        .arg("--tls-ca")
        .arg(certs.file("ca.pem"))
        .arg("--tls-cert")
        .arg(certs.file("coordinator.pem"))
        .arg("--tls-key")
        .arg(certs.file("coordinator.key"));
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let p = Proc {
        child,
        addr: "127.0.0.1:0".parse().expect("an address"),
        log,
    };
    wait_addr(p, &addr_file, "the coordinator")
}

/// Starts the node of `community` with its store in `dir`, linked to the
/// coordinator at `coordinator` with the community's certificate.
pub fn node(
    bins: &Path,
    dir: &Path,
    certs: &Certs,
    community: &str,
    coordinator: SocketAddr,
) -> Proc {
    node_of(
        bins,
        dir,
        certs,
        community,
        coordinator,
        PERSON_KEY_SECRET_HEX,
        &[],
    )
}

/// [`node`] with the street's person-key secret `secret_hex` (a seeded
/// street has its own) and more flags (`--community-name` …).
pub fn node_of(
    bins: &Path,
    dir: &Path,
    certs: &Certs,
    community: &str,
    coordinator: SocketAddr,
    secret_hex: &str,
    more: &[&str],
) -> Proc {
    let bin = binary(bins, "gridsync-node");
    let (mut cmd, log, addr_file) = command(&bin, dir);
    cmd.args(["--community-id", community, "--listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--addr-file")
        .arg(&addr_file)
        .args(["--person-key-secret", secret_hex])
        .args([
            "--time-zone",
            TIME_ZONE.name(),
            "--shutdown-grace-secs",
            "1",
        ])
        .arg("--coordinator")
        .arg(format!("127.0.0.1:{}", coordinator.port()))
        .args(["--coordinator-domain", "localhost"])
        .args(["--reconnect-min-ms", "50", "--reconnect-max-ms", "500"])
        .arg("--tls-ca")
        .arg(certs.file("ca.pem"))
        .arg("--tls-cert")
        .arg(certs.file(&format!("{community}.pem")))
        .arg("--tls-key")
        .arg(certs.file(&format!("{community}.key")))
        .args(more);
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let p = Proc {
        child,
        addr: "127.0.0.1:0".parse().expect("an address"),
        log,
    };
    wait_addr(p, &addr_file, "the node")
}

/// What the memory watch saw.
#[derive(Clone, Copy, Debug, Default)]
pub struct Memory {
    /// The kernel's high-water mark of the resident set (VmHWM), last read.
    pub hwm_kib: u64,
    /// The largest resident set (VmRSS) seen by polling.
    pub max_rss_kib: u64,
    /// The resident set when the watch started.
    pub start_rss_kib: u64,
    /// The resident set at its last read.
    pub last_rss_kib: u64,
}

impl Memory {
    pub fn peak_mib(&self) -> f64 {
        self.hwm_kib.max(self.max_rss_kib) as f64 / 1024.0
    }
}

// The next three serve the floor and fan-in benches, not the attacks one.

/// The resident set of `pid` now, MiB (0 once it is gone).
#[allow(dead_code)]
pub fn rss_mib(pid: u32) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status_kib(&text, "VmRSS:").map_or(0.0, |kib| kib as f64 / 1024.0)
}

/// The `p` quantile of `sorted` (nearest rank); zero when empty.
#[allow(dead_code)]
pub fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[allow(dead_code)]
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A thread reading `/proc/<pid>/status` every 50 ms.
pub struct MemoryWatch {
    stop: Arc<AtomicBool>,
    /// Set once the process is gone or a zombie.
    pub dead: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Memory>>,
}

fn status_kib(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

impl MemoryWatch {
    pub fn start(pid: u32) -> MemoryWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let dead = Arc::new(AtomicBool::new(false));
        let (s, d) = (stop.clone(), dead.clone());
        let path = format!("/proc/{pid}/status");
        let thread = std::thread::spawn(move || {
            let mut m = Memory::default();
            let mut first = true;
            while !s.load(Ordering::Relaxed) {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let rss = status_kib(&text, "VmRSS:");
                if text.is_empty() || rss.is_none() {
                    // Gone, or a zombie (no memory lines).
                    d.store(true, Ordering::Relaxed);
                } else {
                    let rss = rss.unwrap_or(0);
                    if first {
                        m.start_rss_kib = rss;
                        first = false;
                    }
                    m.last_rss_kib = rss;
                    m.max_rss_kib = m.max_rss_kib.max(rss);
                    m.hwm_kib = status_kib(&text, "VmHWM:").unwrap_or(m.hwm_kib);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            m
        });
        MemoryWatch {
            stop,
            dead,
            thread: Some(thread),
        }
    }

    pub fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Relaxed)
    }

    pub fn finish(mut self) -> Memory {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}
