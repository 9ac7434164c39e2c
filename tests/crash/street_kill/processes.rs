//! The street's processes: the real binaries (started, killed with SIGKILL,
//! restarted on the same data folder and port; see `crate::services`),
//! each node's fault proxy, and the clients the test calls them with.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use gridsync_testkit::proxy::FaultProxy;
use gridsync_testkit::sim::plan::{COORD, KillPlan, KillTarget, ProxyFault};
use gridsync_testkit::street::{Pki, register};
use gridsync_testkit::{coordinator_binary, node_binary};

use super::{CALL_TIMEOUT, COMMUNITIES, Office, Operator, Shared, lock};
use crate::services::{
    Service, coordinator_args, node_args, node_ready, office_client, operator_client, write_certs,
};

/// What the street's processes get to stop when asked (they are killed
/// with SIGKILL here, so it is only what a stop would take).
const GRACE_SECS: u64 = 1;

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
        write_certs(&pki, &certs, &COMMUNITIES);
        let sh = Arc::new(Shared::new(seed, plan));
        let mut coord = Service::new(
            "coordinator",
            coordinator_binary(),
            coordinator_args(dir, &certs, GRACE_SECS),
            dir,
        );
        if let Err(e) = coord.start().await {
            fail(&sh, &coord, &[], &format!("start the coordinator: {e}"));
        }
        *lock(&sh.coordinator_starts) += 1;
        sh.coordinator_up.store(true, Ordering::SeqCst);
        sh.event(format!("coordinator listening on {}", coord.addr()));
        let mut op = operator_client(&pki, coord.addr(), CALL_TIMEOUT);
        register(&mut op, &COMMUNITIES).await;

        let mut nodes: Vec<Service> = Vec::new();
        let mut proxies = Vec::new();
        for c in COMMUNITIES {
            let p = FaultProxy::start(SocketAddr::from(([127, 0, 0, 1], 0)), coord.addr())
                .await
                .unwrap_or_else(|e| panic!("seed {seed}: start the fault proxy of {c}: {e}"));
            let args = node_args(c, dir, &certs, p.local_addr(), GRACE_SECS);
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
        let offices = nodes
            .iter()
            .map(|n| office_client(n.addr(), CALL_TIMEOUT))
            .collect();
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
        lock(&self.sh.liveness).proxy_fault(COMMUNITIES[node], fault, self.sh.now());
    }

    /// Every proxy back to forwarding, without delay.
    pub(super) fn heal_all(&self) {
        for p in &self.proxies {
            p.heal();
            p.set_delay(Duration::ZERO);
        }
        let names: Vec<String> = COMMUNITIES.iter().map(|c| c.to_string()).collect();
        lock(&self.sh.liveness).heal(&names, self.sh.now());
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
        match target {
            KillTarget::Coordinator => lock(&self.sh.liveness).forget_start(),
            // The kernel closes a killed process's sockets: a loud end.
            KillTarget::Node(i) => {
                lock(&self.sh.liveness).killed(COMMUNITIES[i], false, self.sh.now())
            }
        }
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
        let spawned = self.sh.now();
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
                lock(&self.sh.liveness).restarted(COORD, spawned);
                self.sh.coordinator_up.store(true, Ordering::SeqCst);
            }
            KillTarget::Node(i) => {
                lock(&self.sh.liveness).restarted(COMMUNITIES[i], self.sh.now());
                self.sh.node_up[i].store(true, Ordering::SeqCst)
            }
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
