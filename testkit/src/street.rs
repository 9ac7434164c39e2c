//! A street in this process: a coordinator and nodes, each with a real
//! SQLite store in a temporary folder, talking real gRPC over mutual TLS on
//! `127.0.0.1:0`, with certificates from a CA made for the test.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use automerge::ChangeHash;
use gridsync_coordinator::replicas::{ReplicasConfig, StreetReplicas};
use gridsync_coordinator::server::{ServeOptions, serve as serve_coordinator};
use gridsync_coordinator::sync_service::ReplicasHandle;
use gridsync_core::access::Principal;
use gridsync_core::sync::{DocHeads, FrameLimits};
use gridsync_core::{CommunityId, CommunityKind, DocId, Record};
use gridsync_node::link::{LinkConfig, LinkHandle, LinkStatus};
use gridsync_node::office::{Office, OfficeConfig};
use gridsync_node::service::OfficeHandle;
use gridsync_proto::street::v1 as spb;
use gridsync_svc::Clock;
use gridsync_sync::identity::Authenticator;
use gridsync_sync::issue::{issue_ca, issue_leaf, issue_server, validity_days};
use gridsync_sync::tls::{ClientAuth, IssuedCert, TlsPems, client_tls, endpoint, server_tls};
use spb::street_client::StreetClient;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tonic::transport::Channel;

use crate::{COMPACT_AFTER_CHUNKS, TIME_ZONE, now_ms, person_key_secret};

/// The street's id in tests.
pub const STREET: &str = "teststreet";
/// The staleness threshold of test coordinators: long enough that a
/// connected community is never stale during a test unless it is cut off.
pub const STALE_AFTER_MS: i64 = 60_000;

/// The test street's CA and certificates.
pub struct Pki {
    pub ca: IssuedCert,
    pub server: IssuedCert,
}

impl Pki {
    pub fn new() -> Pki {
        // The CA outlives every certificate it issues in a test.
        let (from, to) = validity_days(60).expect("60 days is a valid validity");
        let ca = issue_ca("Test Street", from, to).expect("issue the test CA");
        let (from, to) = validity_days(30).expect("30 days is a valid validity");
        let server = issue_server(&ca, &["localhost".into(), "127.0.0.1".into()], from, to)
            .expect("issue the coordinator's certificate");
        Pki { ca, server }
    }

    pub fn leaf(&self, principal: &Principal) -> IssuedCert {
        let (from, to) = validity_days(30).expect("valid days");
        issue_leaf(&self.ca, principal, from, to).expect("issue a leaf certificate")
    }

    pub fn server_pems(&self) -> TlsPems {
        TlsPems::new(&self.ca, &self.server)
    }

    /// Client auth for `principal`, trusting this CA.
    pub fn client(&self, principal: &Principal) -> ClientAuth {
        let leaf = self.leaf(principal);
        ClientAuth::Tls(
            client_tls(&TlsPems::new(&self.ca, &leaf), "localhost").expect("client TLS config"),
        )
    }

    /// Client auth of community `c`'s node.
    pub fn node(&self, c: &str) -> ClientAuth {
        self.client(&Principal::Node(
            CommunityId::parse(c).expect("community id"),
        ))
    }
}

impl Default for Pki {
    fn default() -> Self {
        Self::new()
    }
}

/// Polls `cond` every 20 ms until it holds or `within` passes. Returns
/// whether it held; the time is a deadline, never a measurement.
pub async fn eventually<F, Fut>(within: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if cond().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A coordinator served in this process.
pub struct TestCoordinator {
    pub addr: SocketAddr,
    pub dir: PathBuf,
    pub replicas: ReplicasHandle,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl TestCoordinator {
    /// Starts on `127.0.0.1:port` (0 = any) with the store in `dir`.
    pub async fn start(dir: &Path, pki: &Pki, port: u16, limits: FrameLimits) -> TestCoordinator {
        Self::start_with(dir, pki, port, limits, |_| {}).await
    }

    /// [`Self::start`], with the serving options changed by `options`
    /// (limits, timeouts) first.
    pub async fn start_with(
        dir: &Path,
        pki: &Pki,
        port: u16,
        limits: FrameLimits,
        options: impl FnOnce(&mut ServeOptions),
    ) -> TestCoordinator {
        std::fs::create_dir_all(dir).expect("create the coordinator's directory");
        let mut opts = ServeOptions::new(
            Authenticator::MutualTls,
            Some(server_tls(&pki.server_pems()).expect("server TLS")),
        );
        opts.limits = limits;
        opts.grace = Duration::from_secs(5);
        opts.keepalive_interval = Duration::from_secs(2);
        opts.keepalive_timeout = Duration::from_secs(2);
        options(&mut opts);
        let cfg = ReplicasConfig {
            street_id: STREET.into(),
            street_name: "测试街道 test street".into(),
            db_path: dir.join("gridsync-coordinator.sqlite3"),
            tz: TIME_ZONE,
            compact_after_chunks: COMPACT_AFTER_CHUNKS,
            stale_after_ms: STALE_AFTER_MS,
            // The same ceiling for messages in parts and for applying them,
            // as the service sets it.
            memory: opts.memory.clone(),
            store_key: Some(crate::store_key()),
        };
        let replicas = tokio::task::spawn_blocking(move || StreetReplicas::open(cfg))
            .await
            .expect("opening the coordinator panicked")
            .expect("open the coordinator's store");
        let replicas = Arc::new(replicas);
        let listener = bind_retrying(port).await;
        let addr = listener.local_addr().expect("bound");
        let (stop, stopped) = oneshot::channel::<()>();
        let r = replicas.clone();
        let task = tokio::spawn(async move {
            serve_coordinator(
                r,
                listener,
                async {
                    let _ = stopped.await;
                },
                opts,
            )
            .await
            .expect("the coordinator failed");
        });
        TestCoordinator {
            addr,
            dir: dir.to_path_buf(),
            replicas,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops serving (sessions end), checkpoints and drops the store.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.expect("the coordinator task panicked");
        }
        let r = self.replicas.clone();
        tokio::task::spawn_blocking(move || {
            r.checkpoint().expect("checkpoint");
        })
        .await
        .unwrap();
    }

    /// Heads of what a node of `c` syncs, as held here.
    pub async fn community_heads(&self, c: &str) -> DocHeads {
        let r = self.replicas.clone();
        let c = CommunityId::parse(c).unwrap();
        tokio::task::spawn_blocking(move || r.community_heads(&c))
            .await
            .unwrap()
    }

    /// A copy of one document as held here.
    pub async fn doc(&self, id: DocId) -> automerge::AutoCommit {
        let r = self.replicas.clone();
        tokio::task::spawn_blocking(move || r.doc_copy(&id).expect("doc copy"))
            .await
            .unwrap()
    }

    pub async fn operator(&self, pki: &Pki) -> StreetClient<Channel> {
        operator_client(
            self.addr,
            &pki.client(&Principal::Operator("tester".into())),
        )
        .await
    }
}

impl Drop for TestCoordinator {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// Binds a port, retrying for a while (a restarted coordinator takes its
/// old port back once the old socket is gone).
async fn bind_retrying(port: u16) -> tokio::net::TcpListener {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
            Ok(l) => return l,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("cannot bind 127.0.0.1:{port}: {e}"),
        }
    }
}

pub async fn operator_client(addr: SocketAddr, auth: &ClientAuth) -> StreetClient<Channel> {
    let ep = endpoint(&format!("https://localhost:{}", addr.port()), auth).expect("endpoint");
    let channel = ep.connect().await.expect("connect to the coordinator");
    StreetClient::new(channel)
}

/// Registers communities in the street document through the operator API.
pub async fn register(op: &mut StreetClient<Channel>, ids: &[&str]) {
    for id in ids {
        op.put_street_record(spb::PutStreetRecordRequest {
            record: Some(spb::StreetRecord {
                record: Some(spb::street_record::Record::Community(
                    spb::StreetCommunity {
                        id: (*id).into(),
                        name: format!("Community {id}"),
                        kind: spb::CommunityKindPb::CommunityKindCommunity as i32,
                    },
                )),
            }),
        })
        .await
        .expect("register a community");
    }
}

/// A node in this process: its office (served to nobody: tests call it
/// directly) and its link to the coordinator.
pub struct TestNode {
    pub community: CommunityId,
    pub dir: PathBuf,
    pub office: OfficeHandle,
    pub link: LinkHandle,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

/// The link settings tests use: quick redials, so a healed link is used soon.
pub fn test_link_config(
    coordinator: SocketAddr,
    auth: &ClientAuth,
    limits: FrameLimits,
) -> LinkConfig {
    let ep = endpoint(&format!("https://localhost:{}", coordinator.port()), auth)
        .expect("endpoint")
        .http2_keep_alive_interval(Duration::from_secs(2))
        .keep_alive_timeout(Duration::from_secs(2));
    LinkConfig {
        endpoint: ep,
        dev_token: None,
        backoff_base: Duration::from_millis(50),
        backoff_max: Duration::from_millis(500),
        limits,
        handshake_timeout: Duration::from_secs(10),
        dialer: None,
        jitter_seed: None,
        heartbeat: gridsync_core::sync::HeartbeatSettings::default(),
        dial_timeout: gridsync_node::link::DIAL_TIMEOUT,
    }
}

impl TestNode {
    /// Opens the community's store in `dir` and links it to `coordinator`
    /// (if given).
    pub async fn start(dir: &Path, community: &str, link: Option<LinkConfig>) -> TestNode {
        let community = CommunityId::parse(community).expect("community id");
        std::fs::create_dir_all(dir).expect("create the node's directory");
        let cfg = OfficeConfig {
            community: community.clone(),
            community_name: format!("Community {community}"),
            community_kind: CommunityKind::Community,
            db_path: dir.join("gridsync-node.sqlite3"),
            tz: TIME_ZONE,
            secret: Some(person_key_secret()),
            compact_after_chunks: COMPACT_AFTER_CHUNKS,
            store_key: Some(crate::store_key()),
        };
        let office = tokio::task::spawn_blocking(move || Office::open(cfg, now_ms()))
            .await
            .expect("opening the office panicked")
            .expect("open the office");
        let office = OfficeHandle::new(office);
        let status = LinkHandle::default();
        let (stop, stop_rx) = watch::channel(false);
        let task = link.map(|cfg| {
            tokio::spawn(gridsync_node::link::run(
                office.shared(),
                cfg,
                status.clone(),
                Clock::system(),
                stop_rx,
            ))
        });
        TestNode {
            community,
            dir: dir.to_path_buf(),
            office,
            link: status,
            stop,
            task,
        }
    }

    /// Stops the link and checkpoints the store (a clean shutdown).
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            t.await.expect("the link task panicked");
        }
        self.office
            .run(|o| Ok(o.checkpoint()?))
            .await
            .expect("checkpoint");
    }

    pub fn link_status(&self) -> LinkStatus {
        self.link.lock().unwrap().clone()
    }

    /// Heads of every document the node syncs.
    pub async fn heads(&self) -> DocHeads {
        self.office
            .run(|o| Ok(o.sync_heads()?))
            .await
            .expect("sync heads")
    }

    /// Creates a record; returns it as stored.
    pub async fn create(&self, rec: Record) -> Record {
        self.office
            .run(move |o| Ok(o.create(rec, now_ms())?))
            .await
            .expect("create")
    }

    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Office) -> T + Send + 'static,
    ) -> T {
        self.office.run(move |o| Ok(f(o))).await.expect("office")
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// Whether the node and the coordinator hold every document of the node's
/// community, and the street document, at the same heads.
pub async fn converged(node: &TestNode, coord: &TestCoordinator) -> bool {
    let n = node.heads().await;
    let c = coord.community_heads(node.community.as_str()).await;
    n == c
}

/// Heads as hex, for messages.
pub fn show_heads(h: &DocHeads) -> BTreeMap<String, Vec<String>> {
    h.iter()
        .map(|(id, hs)| {
            (
                id.to_string(),
                hs.iter()
                    .map(|c: &ChangeHash| c.to_string()[..8].to_string())
                    .collect(),
            )
        })
        .collect()
}

// ---- records for tests ----

/// A high-risk region in force from 2020 on, as an operator puts it.
pub fn risk_region(region: &str) -> spb::PutStreetRecordRequest {
    spb::PutStreetRecordRequest {
        record: Some(spb::StreetRecord {
            record: Some(spb::street_record::Record::RiskRegion(spb::RiskRegionPb {
                id: String::new(),
                region: region.into(),
                level: spb::RiskLevelPb::RiskLevelHigh as i32,
                from: "2020-01-01".into(),
                to: String::new(),
            })),
        }),
    }
}

/// A hotline ticket received now, dispatched by the street to `community`.
pub fn dispatched_ticket(community: &str, summary: &str) -> spb::DispatchTicketRequest {
    spb::DispatchTicketRequest {
        community_id: community.into(),
        ticket: Some(gridsync_proto::office::v1::Ticket {
            received_at_ms: now_ms(),
            channel: gridsync_proto::office::v1::TicketChannel::Hotline as i32,
            category: "环境".into(),
            summary: summary.into(),
            ..Default::default()
        }),
    }
}

pub fn compound(name: &str) -> Record {
    Record::Compound(gridsync_core::Compound {
        id: String::new(),
        name: name.into(),
        address: None,
    })
}

pub fn building(compound_id: &str, name: &str) -> Record {
    Record::Building(gridsync_core::Building {
        id: String::new(),
        compound_id: compound_id.into(),
        name: name.into(),
    })
}

pub fn household(compound_id: &str, building_id: &str, door: &str) -> Record {
    Record::Household(gridsync_core::Household {
        id: String::new(),
        compound_id: compound_id.into(),
        building_id: building_id.into(),
        unit: "1".into(),
        door: door.into(),
        head_name: format!("户主{door}"),
        phone: None,
        contract_group_id: None,
    })
}

/// A resident of `household_id` with only a name.
pub fn resident(household_id: &str, name: &str) -> Record {
    Record::Resident(gridsync_core::Resident {
        id: String::new(),
        household_id: household_id.into(),
        name: name.into(),
        id_number: None,
        person_key: None,
        gender: None,
        birth_date: None,
        phone: None,
        relation: None,
        lives_alone: false,
    })
}

/// A compound, a building and `n` households made in one edit group (one
/// large change), with head names that do not compress away.
pub async fn bulk_households(node: &TestNode, n: u64) {
    let c = node.create(compound("大院")).await;
    let b = node.create(building(c.id(), "1号楼")).await;
    let (cid, bid) = (c.id().to_string(), b.id().to_string());
    node.run(move |o| {
        let edits: Vec<gridsync_core::Edit> = (0..n)
            .map(|i| {
                let mut h = household(&cid, &bid, &format!("{i}"));
                if let Record::Household(hh) = &mut h {
                    hh.head_name = format!("{:016x}", (i + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                }
                h.set_id(format!("hh_{i:016x}"));
                gridsync_core::Edit::Create(h)
            })
            .collect();
        o.apply(&edits, now_ms(), "bulk").expect("bulk create");
    })
    .await;
}
