//! The street's processes: the real binaries (started, killed with SIGKILL,
//! restarted on the same data folder and port), each node's fault proxy,
//! and the clients the test calls them with.

use std::fs::OpenOptions;
use std::io::{Read, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use gridsync_core::access::Principal;
use gridsync_proto::office::v1 as pb;
use gridsync_sync::tls::endpoint;
use gridsync_testkit::proxy::FaultProxy;
use gridsync_testkit::sim::plan::{KillPlan, KillTarget, ProxyFault};
use gridsync_testkit::street::{Pki, STREET, register};
use gridsync_testkit::{PERSON_KEY_SECRET_HEX, TIME_ZONE, coordinator_binary, node_binary};
use pb::office_client::OfficeClient;
use tonic::transport::Endpoint;

use super::{
    CALL_TIMEOUT, COMMUNITIES, Office, Operator, START_WITHIN, Shared, StreetClient, lock, ms,
};

/// A real service binary started on a fixed data folder; restarted on the
/// port it first got. Its stderr (the log) is appended to one file across
/// restarts. Dropping it kills it.
pub(super) struct Service {
    pub(super) name: String,
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
    fn new(name: &str, bin: PathBuf, args: Vec<String>, dir: &Path) -> Service {
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

    pub(super) fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Starts the binary and returns once it has written the address it
    /// listens on. A restart on a port that is not free yet is retried.
    async fn start(&mut self) -> Result<(), String> {
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
                "==== kill_street: start {} of {} on port {} (attempt {attempt}) ====",
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

    /// SIGKILL (`Child::kill` on unix), reaped. Returns the pid, or an error
    /// if the process had already died by itself.
    fn kill9(&mut self) -> Result<u32, String> {
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
        let _ = child.kill();
        let _ = child.wait();
        Ok(pid)
    }

    /// Whether it still runs (it was not found dead).
    pub(super) fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    fn log_tail(&self, lines: usize) -> String {
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
async fn node_ready(addr: SocketAddr) -> Result<(), String> {
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

fn office_client(addr: SocketAddr) -> Office {
    let ch = Endpoint::from_shared(format!("http://{addr}"))
        .expect("a socket address makes a valid URL")
        .connect_timeout(ms(2000))
        .timeout(CALL_TIMEOUT)
        .connect_lazy();
    OfficeClient::new(ch)
}

fn operator_client(pki: &Pki, addr: SocketAddr) -> Operator {
    let auth = pki.client(&Principal::Operator("chaos".into()));
    let ch = endpoint(&format!("https://127.0.0.1:{}", addr.port()), &auth)
        .expect("the operator's endpoint")
        .timeout(CALL_TIMEOUT)
        .connect_lazy();
    StreetClient::new(ch)
}

/// Certificates from a test CA, as files for the binaries.
fn write_certs(pki: &Pki, certs: &Path) {
    std::fs::create_dir_all(certs).expect("certs folder");
    std::fs::write(certs.join("ca.pem"), &pki.ca.cert_pem).expect("write ca.pem");
    pki.server
        .write(
            &certs.join("coordinator.pem"),
            &certs.join("coordinator.key"),
            false,
        )
        .expect("write the coordinator's certificate");
    for c in COMMUNITIES {
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
}

fn path(p: PathBuf) -> String {
    p.to_string_lossy().into_owned()
}

fn coordinator_args(dir: &Path, certs: &Path) -> Vec<String> {
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
        "1",
        "--store-key-file",
        &path(gridsync_testkit::store_key_file(dir)),
    ]
    .map(String::from)
    .to_vec()
}

fn node_args(c: &str, dir: &Path, certs: &Path, proxy: SocketAddr) -> Vec<String> {
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
        "1",
        "--coordinator",
        &proxy.to_string(),
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

/// The street under test: the coordinator, the nodes, each node's proxy,
/// and the clients: the operator's at the coordinator, one per node's
/// office API.
pub(super) struct Street {
    pub(super) sh: Arc<Shared>,
    pub(super) coord: Service,
    pub(super) nodes: Vec<Service>,
    pub(super) proxies: Vec<FaultProxy>,
    pub(super) op: Operator,
    pub(super) offices: Vec<Office>,
}

impl Street {
    /// Writes the certificates, starts the coordinator and registers the
    /// communities, then a fault proxy per node and the nodes dialling
    /// through it.
    pub(super) async fn start(seed: u64, plan: KillPlan, dir: &Path) -> Street {
        let pki = Pki::new();
        let certs = dir.join("certs");
        write_certs(&pki, &certs);
        let sh = Arc::new(Shared::new(seed, plan));
        let mut coord = Service::new(
            "coordinator",
            coordinator_binary(),
            coordinator_args(dir, &certs),
            dir,
        );
        if let Err(e) = coord.start().await {
            fail(&sh, &coord, &[], &format!("start the coordinator: {e}"));
        }
        *lock(&sh.coordinator_starts) += 1;
        sh.coordinator_up.store(true, Ordering::SeqCst);
        sh.event(format!("coordinator listening on {}", coord.addr()));
        let mut op = operator_client(&pki, coord.addr());
        register(&mut op, &COMMUNITIES).await;

        let mut nodes: Vec<Service> = Vec::new();
        let mut proxies = Vec::new();
        for c in COMMUNITIES {
            let p = FaultProxy::start(SocketAddr::from(([127, 0, 0, 1], 0)), coord.addr())
                .await
                .unwrap_or_else(|e| panic!("seed {seed}: start the fault proxy of {c}: {e}"));
            let args = node_args(c, dir, &certs, p.local_addr());
            nodes.push(Service::new(&format!("node-{c}"), node_binary(), args, dir));
            proxies.push(p);
        }
        for i in 0..nodes.len() {
            let started = nodes[i].start().await;
            let ready = match started {
                Ok(()) => node_ready(nodes[i].addr()).await,
                Err(e) => Err(e),
            };
            if let Err(e) = ready {
                fail(
                    &sh,
                    &coord,
                    &nodes,
                    &format!("start {}: {e}", nodes[i].name),
                );
            }
            sh.node_up[i].store(true, Ordering::SeqCst);
            sh.event(format!(
                "{} listening on {}, dialling through its proxy {}",
                nodes[i].name,
                nodes[i].addr(),
                proxies[i].local_addr()
            ));
        }
        let offices = nodes.iter().map(|n| office_client(n.addr())).collect();
        Street {
            sh,
            coord,
            nodes,
            proxies,
            op,
            offices,
        }
    }

    /// Applies a fault of the plan to the proxy of node `node`.
    pub(super) fn fault(&self, node: usize, fault: ProxyFault) {
        let p = &self.proxies[node];
        match fault {
            ProxyFault::Cut => p.cut(),
            ProxyFault::Blackhole => p.blackhole(),
            ProxyFault::OneWay(d) => p.blackhole_one_way(d),
            ProxyFault::Delay(d) => p.set_delay(d),
            ProxyFault::Reset => p.reset_all(),
            ProxyFault::Heal => {
                p.heal();
                p.set_delay(Duration::ZERO);
            }
        }
    }

    /// Every proxy back to forwarding, without delay.
    pub(super) fn heal_all(&self) {
        for p in &self.proxies {
            p.heal();
            p.set_delay(Duration::ZERO);
        }
    }

    /// `kill -9` of the target, down for `down`, restarted on its data
    /// folder and port (a node: until its API answers). Its writer pauses
    /// meanwhile.
    pub(super) async fn kill_and_restart(
        &mut self,
        round: usize,
        target: KillTarget,
        moment: &str,
        down: Duration,
    ) {
        let acked = lock(&self.sh.log)
            .records
            .values()
            .filter(|w| !w.dispatched)
            .count();
        let (up, service) = match target {
            KillTarget::Coordinator => (&self.sh.coordinator_up, &mut self.coord),
            KillTarget::Node(i) => (&self.sh.node_up[i], &mut self.nodes[i]),
        };
        up.store(false, Ordering::SeqCst);
        let pid = match service.kill9() {
            Ok(pid) => pid,
            Err(e) => self.fail(&e),
        };
        let name = match target {
            KillTarget::Coordinator => "coordinator",
            KillTarget::Node(i) => &self.nodes[i].name,
        };
        self.sh.event(format!(
            "round {round}: kill -9 {name} (pid {pid}) {moment}, after {acked} node writes; down {} ms",
            down.as_millis()
        ));
        tokio::time::sleep(down).await;
        let t = Instant::now();
        let restarted = match target {
            KillTarget::Coordinator => self.coord.start().await,
            KillTarget::Node(i) => match self.nodes[i].start().await {
                Ok(()) => node_ready(self.nodes[i].addr()).await,
                Err(e) => Err(e),
            },
        };
        let (name, addr) = match target {
            KillTarget::Coordinator => ("coordinator".to_string(), self.coord.addr()),
            KillTarget::Node(i) => (self.nodes[i].name.clone(), self.nodes[i].addr()),
        };
        if let Err(e) = restarted {
            self.fail(&format!("restart {name}: {e}"));
        }
        match target {
            KillTarget::Coordinator => {
                *lock(&self.sh.coordinator_starts) += 1;
                self.sh.coordinator_up.store(true, Ordering::SeqCst);
            }
            KillTarget::Node(i) => self.sh.node_up[i].store(true, Ordering::SeqCst),
        }
        self.sh.event(format!(
            "round {round}: {name} restarted on {addr} in {} ms",
            t.elapsed().as_millis()
        ));
    }

    /// Fails the test with the seed, the plan, the events so far and the
    /// tail of every process's log.
    pub(super) fn fail(&self, what: &str) -> ! {
        fail(&self.sh, &self.coord, &self.nodes, what)
    }
}

/// The last lines of every process's log, for a failure message.
fn logs(coord: &Service, nodes: &[Service]) -> String {
    let mut s = format!(
        "---- {} log (tail) ----\n{}\n",
        coord.name,
        coord.log_tail(40)
    );
    for n in nodes {
        s.push_str(&format!(
            "---- {} log (tail) ----\n{}\n",
            n.name,
            n.log_tail(25)
        ));
    }
    s
}

fn fail(sh: &Shared, coord: &Service, nodes: &[Service], what: &str) -> ! {
    let events = lock(&sh.events).join("\n");
    panic!(
        "kill_street: seed {seed} (GRIDSYNC_SEED={seed} replays the plan): {what}\n\
         ---- the plan ----\n{plan}\
         ---- the faults and kills so far ----\n{events}\n{}",
        logs(coord, nodes),
        seed = sh.seed,
        plan = sh.plan.describe(),
    );
}
