//! A node in this process over real gRPC, a node process of the built
//! binary, and where the built binaries are.

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use gridsync_core::{CommunityId, CommunityKind};
use gridsync_node::office::{Office, OfficeConfig};
use gridsync_node::server::serve;
use gridsync_node::service::OfficeHandle;
use gridsync_proto::office::v1 as pb;
use gridsync_svc::Clock;
use gridsync_svc::grpc::ServeError;
use pb::office_client::OfficeClient;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint};

use crate::{
    COMMUNITY, COMPACT_AFTER_CHUNKS, PERSON_KEY_SECRET_HEX, START_DEADLINE, STORE_FILE, TIME_ZONE,
    now_ms, person_key_secret,
};

/// Connects an office client to `addr`, with a bounded connect time.
pub async fn connect(addr: SocketAddr) -> OfficeClient<Channel> {
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .expect("a socket address makes a valid URL")
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the node at {addr}: {e}"));
    OfficeClient::new(channel)
}

/// An office served in this process over real gRPC on `127.0.0.1:0`, with
/// its store in `dir`.
pub struct InProcessNode {
    pub addr: SocketAddr,
    pub dir: PathBuf,
    handle: OfficeHandle,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServeError>>>,
}

impl InProcessNode {
    /// Opens (or creates) the store `dir/gridsync-node.sqlite3` and serves it.
    pub async fn start(dir: &Path) -> InProcessNode {
        let cfg = OfficeConfig {
            community: CommunityId::parse(COMMUNITY).expect("a valid community id"),
            community_name: "Test Community".into(),
            community_kind: CommunityKind::Community,
            db_path: dir.join(STORE_FILE),
            tz: TIME_ZONE,
            secret: Some(person_key_secret()),
            compact_after_chunks: COMPACT_AFTER_CHUNKS,
            store_key: Some(crate::store_key()),
        };
        let office = tokio::task::spawn_blocking(move || Office::open(cfg, now_ms()))
            .await
            .expect("opening the office panicked")
            .unwrap_or_else(|e| panic!("cannot open the office in {}: {e}", dir.display()));
        let handle = OfficeHandle::new(office);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(
            handle.clone(),
            Default::default(),
            Clock::system(),
            listener,
            async {
                let _ = stopped.await;
            },
            Duration::from_secs(5),
        ));
        InProcessNode {
            addr,
            dir: dir.to_path_buf(),
            handle,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub async fn client(&self) -> OfficeClient<Channel> {
        connect(self.addr).await
    }

    /// Stops serving (in-flight requests finish), checkpoints the store and
    /// drops the office, as the binary does on SIGTERM.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("the server task panicked")
                .expect("the server failed");
        }
        self.handle
            .run(|o| Ok(o.checkpoint()?))
            .await
            .expect("final checkpoint");
    }
}

impl Drop for InProcessNode {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

// ---- the built binaries ----

fn target_binary(name: &str, env_var: &str) -> PathBuf {
    if let Ok(p) = std::env::var(env_var) {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "{env_var}={} does not name an executable file",
            p.display()
        );
        return p;
    }
    let exe = std::env::current_exe().expect("the test binary knows its path");
    // target/<profile>/deps/<test>-<hash> → target/<profile>/<name>
    let mut dir = exe
        .parent()
        .expect("the test binary is in a folder")
        .to_path_buf();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.pop();
    }
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is missing: the process tests run the built binary. Run `cargo build --workspace --bins` \
         (the README's test command `scripts/deps.sh && cargo build --workspace --bins && cargo nextest run --workspace` does it), \
         or point {env_var} at the executable",
        path.display()
    );
    path
}

/// The built `gridsync-node` executable (`GRIDSYNC_NODE_BIN` if set).
pub fn node_binary() -> PathBuf {
    target_binary("gridsync-node", "GRIDSYNC_NODE_BIN")
}

/// The built `gridsync-coordinator` executable (`GRIDSYNC_COORDINATOR_BIN` if set).
pub fn coordinator_binary() -> PathBuf {
    target_binary("gridsync-coordinator", "GRIDSYNC_COORDINATOR_BIN")
}

/// The built `gridsync-demo` executable (`GRIDSYNC_DEMO_BIN` if set).
pub fn demo_binary() -> PathBuf {
    target_binary("gridsync-demo", "GRIDSYNC_DEMO_BIN")
}

/// The built `gridctl` executable (`GRIDCTL_BIN` if set).
pub fn gridctl_binary() -> PathBuf {
    target_binary("gridctl", "GRIDCTL_BIN")
}

// ---- a node process ----

/// A `gridsync-node` process serving the store in `dir` on `127.0.0.1:0`.
/// Its log goes to `dir/node-<pid>.log`. Dropping it kills it.
pub struct NodeProcess {
    pub addr: SocketAddr,
    pub dir: PathBuf,
    pub log: PathBuf,
    child: Child,
    exited: Option<ExitStatus>,
}

impl NodeProcess {
    /// Starts the binary on `dir` for `community` and returns once its API
    /// answers `GetStatus` (within [`START_DEADLINE`]).
    pub async fn spawn(dir: &Path, community: &str) -> NodeProcess {
        let addr_file = dir.join("addr");
        match std::fs::remove_file(&addr_file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("cannot remove the stale {}: {e}", addr_file.display()),
        }
        let log = dir.join(format!(
            "node-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        let log_file = std::fs::File::create(&log).expect("create the node log");
        let mut cmd = Command::new(node_binary());
        // Settings come only from the flags below.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("GRIDSYNC_") {
                cmd.env_remove(k);
            }
        }
        cmd.arg("--community-id")
            .arg(community)
            .arg("--data-dir")
            .arg(dir)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--addr-file")
            .arg(&addr_file)
            .arg("--person-key-secret")
            .arg(PERSON_KEY_SECRET_HEX)
            .arg("--time-zone")
            .arg(TIME_ZONE.name())
            .arg("--compact-after-chunks")
            .arg(COMPACT_AFTER_CHUNKS.to_string())
            .arg("--shutdown-grace-secs")
            .arg("2")
            .arg("--store-key-file")
            .arg(crate::store_key_file(dir))
            .env("GRIDSYNC_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", node_binary().display()));
        let mut node = NodeProcess {
            addr: "127.0.0.1:0".parse().expect("an address"),
            dir: dir.to_path_buf(),
            log,
            child,
            exited: None,
        };
        node.wait_ready(&addr_file).await;
        node
    }

    async fn wait_ready(&mut self, addr_file: &Path) {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll the node process") {
                self.exited = Some(status);
                panic!(
                    "gridsync-node exited with {status} before answering; its log:\n{}",
                    self.log_tail()
                );
            }
            if let Ok(text) = std::fs::read_to_string(addr_file)
                && let Ok(addr) = text.trim().parse::<SocketAddr>()
            {
                self.addr = addr;
                if let Ok(Ok(mut c)) = tokio::time::timeout(
                    Duration::from_secs(2),
                    Endpoint::from_shared(format!("http://{addr}"))
                        .expect("a valid URL")
                        .connect(),
                )
                .await
                .map(|r| r.map(OfficeClient::new))
                    && c.get_status(pb::GetStatusRequest {}).await.is_ok()
                {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "gridsync-node did not answer within {START_DEADLINE:?}; its log:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn client(&self) -> OfficeClient<Channel> {
        connect(self.addr).await
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process with SIGKILL (`Child::kill` on unix) and reaps it.
    pub fn kill9(&mut self) -> ExitStatus {
        if let Some(s) = self.exited {
            return s;
        }
        self.child.kill().expect("kill -9 the node");
        self.wait()
    }

    /// Waits for the process to exit.
    pub fn wait(&mut self) -> ExitStatus {
        if let Some(s) = self.exited {
            return s;
        }
        let s = self.child.wait().expect("wait for the node");
        self.exited = Some(s);
        s
    }

    /// The last lines of the node's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
