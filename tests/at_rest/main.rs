//! The stores at rest, with the real binaries: a node and a coordinator
//! started with umask 000 keep every file 0600 and every folder they make
//! 0700, and tighten looser ones left by an older build (logging it); a
//! store is refused by name with the wrong key or none, a key comes from a
//! key file or a systemd credential, and a key rotation with `gridctl
//! store rekey` keeps every record while the old key is refused.

mod keys;
mod modes;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use gridsync_testkit::gridctl_binary;

const WITHIN: Duration = Duration::from_secs(60);

/// A service process started under a umask, its stderr in a file; stopped
/// with SIGTERM (and waited for) when dropped.
pub struct Service {
    child: Option<Child>,
    log: PathBuf,
    pub addr: String,
}

impl Service {
    /// Starts `bin` with `args` under `umask` and returns once it wrote
    /// its address to `addr_file`; `Err` with its log if it exited first.
    pub fn start(
        bin: &Path,
        args: &[String],
        envs: &[(&str, &Path)],
        addr_file: &Path,
        log: PathBuf,
    ) -> Result<Service, String> {
        let _ = std::fs::remove_file(addr_file);
        let err = std::fs::File::create(&log).expect("the log file");
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg("umask 000; exec \"$0\" \"$@\"")
            .arg(bin)
            .args(args);
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().into_owned();
            if k.starts_with("GRIDSYNC_") || k == "CREDENTIALS_DIRECTORY" {
                cmd.env_remove(k);
            }
        }
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let child = cmd
            .env("GRIDSYNC_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut s = Service {
            child: Some(child),
            log,
            addr: String::new(),
        };
        let deadline = Instant::now() + WITHIN;
        loop {
            if let Ok(a) = std::fs::read_to_string(addr_file)
                && !a.trim().is_empty()
            {
                s.addr = a.trim().to_string();
                return Ok(s);
            }
            if let Some(c) = s.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                s.child = None;
                return Err(format!("exited with {status}: {}", s.log()));
            }
            assert!(
                Instant::now() < deadline,
                "no address within {WITHIN:?}: {}",
                s.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then waits for the exit (a clean stop checkpoints).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let _ = c.wait();
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs gridctl under umask 000 in `dir`.
pub fn gridctl(dir: &Path, args: &[&str]) -> Output {
    Command::new("sh")
        .current_dir(dir)
        .arg("-c")
        .arg("umask 000; exec \"$0\" \"$@\"")
        .arg(gridctl_binary())
        .args(args)
        .env_remove("GRIDSYNC_NODE")
        .env_remove("GRIDSYNC_COORDINATOR")
        .output()
        .expect("run gridctl")
}

/// gridctl's stdout, which must have succeeded.
pub fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "gridctl failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

pub fn set_mode(p: &Path, m: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m))
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
}

/// `path` with `suffix` appended.
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

pub fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}
