//! A deterministic simulation of a whole street: the coordinator and N
//! nodes running the real services, the real gRPC stack (tonic, HTTP/2,
//! mutual TLS) and real SQLite stores, over turmoil's simulated network,
//! with faults, a workload and an oracle all drawn from one seed.
//!
//! A run has two phases, like FoundationDB's and TigerBeetle's simulators:
//! a safety phase where offices and operators edit while faults strike (the
//! checkers run at every observation), then a liveness phase where every
//! link heals, the crashed restart, the street goes quiet and must converge.
//!
//! What is decided by the seed: the street's size, the chaos's length, the
//! fault rates and schedule, the network's latencies and the simulator's
//! order of delivery, every edit and every operator action, and the link's
//! redial jitter. What is not: Automerge's actor ids and the thread that
//! runs a store write (the hosts' async code is single-threaded and driven
//! by simulated time). A replay repeats the plan, the workload and the
//! fault schedule exactly; see `tests/partition.rs`.

pub mod net;
pub mod oracle;
pub mod plan;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use automerge::{AutoCommit, ChangeHash, ObjId, ObjType, ReadDoc};
use gridsync_coordinator::replicas::{ReplicasConfig, StreetReplicas};
use gridsync_coordinator::server::{ServeOptions, serve_incoming};
use gridsync_coordinator::sync_service::ReplicasHandle;
use gridsync_core::access::Principal;
use gridsync_core::replica::load_doc;
use gridsync_core::rollup::{Figures, Node};
use gridsync_core::street::{StreetCommunity, StreetRecord};
use gridsync_core::sync::FrameLimits;
use gridsync_core::view::{CommunityView, DayView};
use gridsync_core::*;
use gridsync_node::link::{self, LinkConfig, LinkHandle};
use gridsync_node::office::{Office, OfficeConfig};
use gridsync_node::service::OfficeHandle;
use gridsync_store::Store;
use gridsync_svc::{ApiError, Clock};
use gridsync_sync::identity::Authenticator;
use gridsync_sync::tls::{ClientAuth, endpoint, server_tls};

use crate::now_ms;
use gridsync_proto::rollup::v1 as rpb;
use gridsync_proto::street::v1 as spb;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use spb::street_client::StreetClient;
use tonic::transport::Channel;

use crate::street::{Pki, STREET};
use crate::{COMPACT_AFTER_CHUNKS, TIME_ZONE, activity_instant_ms, day_of, person_key_secret};
use net::PORT;
use oracle::{Expected, OpKind, Oracle, Outcome, SetFull, Snapshot};
use plan::{Action, COORD, FaultKind, Plan};

/// The operators' simulated host (never cut off from the coordinator: the
/// operators sit in the street office).
pub const OPS: &str = "ops";
const TICK: Duration = Duration::from_millis(10);
const BASE_LATENCY: Duration = Duration::from_millis(20);
/// How long the quiet street may take to converge, and then to have every
/// node's digest matched, before the run fails.
const CONVERGE_WITHIN: Duration = Duration::from_secs(120);
const MATCH_WITHIN: Duration = Duration::from_secs(90);
const NODE_DB: &str = "gridsync-node.sqlite3";
const COORD_DB: &str = "gridsync-coordinator.sqlite3";

const CHAOS: u8 = 0;
const QUIET: u8 = 1;

/// One certificate authority for every run of the process.
fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(Pki::new)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn sim_now() -> Duration {
    turmoil::sim_elapsed().unwrap_or_default()
}

/// What an office's workload knows of its community (from acknowledged
/// edits only).
#[derive(Clone, Debug, Default)]
struct Desk {
    next: u64,
    compounds: Vec<String>,
    /// Compounds made without buildings, which the office may remove again.
    bare: Vec<String>,
    buildings: Vec<(String, String)>,
    households: Vec<String>,
    tickets: Vec<String>,
}

/// Counters of a run.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub faults: BTreeMap<FaultKind, u64>,
    pub actions: u64,
    /// Rollups read from the coordinator and checked (additivity, freshness).
    pub rollup_checks: u64,
    /// Rollups computed at nodes and checked for additivity.
    pub node_rollup_checks: u64,
    /// Reads of the coordinator's replicas for the set-full checker.
    pub reads: u64,
    /// Documents whose newer stamp was checked to include the older one.
    pub freshness_comparisons: u64,
    pub node_starts: u64,
    pub coordinator_starts: u64,
}

/// The result of one seed.
#[derive(Clone, Debug)]
pub struct RunReport {
    pub seed: u64,
    pub nodes: usize,
    pub stats: Stats,
    pub set_full: SetFull,
    /// Simulated time from the heal to heads equal everywhere.
    pub convergence: Duration,
    /// Simulated time from the heal to every digest matching.
    pub digests_matched: Duration,
    /// Simulated time of the whole run.
    pub simulated: Duration,
}

/// A failed run: the seed to replay, the plan, what failed.
#[derive(Debug)]
pub struct Failure {
    pub seed: u64,
    pub plan: String,
    pub what: Vec<String>,
    pub events: Vec<String>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "SIMULATION FAILED: seed {}", self.seed)?;
        writeln!(
            f,
            "replay: GRIDSYNC_SEED={} cargo nextest run -p gridsync-tests --test partition --no-capture",
            self.seed
        )?;
        for w in &self.what {
            writeln!(f, "  failed: {w}")?;
        }
        writeln!(
            f,
            "(a replay repeats this plan, workload and fault schedule; the interleaving can differ slightly)"
        )?;
        writeln!(f, "{}", self.plan)?;
        let skip = self.events.len().saturating_sub(60);
        if skip > 0 {
            writeln!(
                f,
                "last {} of {} events:",
                self.events.len() - skip,
                self.events.len()
            )?;
        }
        for e in &self.events[skip..] {
            writeln!(f, "  {e}")?;
        }
        Ok(())
    }
}

struct Shared {
    plan: Plan,
    root: PathBuf,
    as_of: Day,
    activity_ms: i64,
    phase: AtomicU8,
    heal_at: Mutex<Option<Duration>>,
    node_auth: BTreeMap<String, ClientAuth>,
    offices: Mutex<BTreeMap<String, OfficeHandle>>,
    coord: Mutex<Option<ReplicasHandle>>,
    oracle: Mutex<Oracle>,
    desks: Mutex<BTreeMap<String, Desk>>,
    rngs: Mutex<BTreeMap<String, StdRng>>,
    starts: Mutex<BTreeMap<String, u64>>,
    failures: Mutex<Vec<String>>,
    events: Mutex<Vec<String>>,
    stats: Mutex<Stats>,
    done: Mutex<Option<(Duration, Duration)>>,
    /// For each crashed host: whether nothing holds its old state any more
    /// (its store is closed), so it may restart.
    #[allow(clippy::type_complexity)]
    released: Mutex<BTreeMap<String, Box<dyn Fn() -> bool + Send>>>,
    /// The views of the coordinator's last read, by the heads they reflect.
    #[allow(clippy::type_complexity)]
    views: Mutex<BTreeMap<String, (Vec<Option<Vec<ChangeHash>>>, CommunityView, DayView)>>,
}

impl Shared {
    fn fail(&self, what: String) {
        self.event(format!("FAILED {what}"));
        lock(&self.failures).push(what);
    }
    fn event(&self, e: String) {
        self.event_at(sim_now(), e);
    }
    fn event_at(&self, t: Duration, e: String) {
        lock(&self.events).push(format!("{:>8.3}s {e}", t.as_secs_f64()));
    }
    fn quiet(&self) -> bool {
        self.phase.load(Ordering::SeqCst) != CHAOS
    }
    fn community(name: &str) -> CommunityId {
        CommunityId::parse(name).expect("simulated community ids are valid")
    }
    fn gap(&self, who: &str, (lo, hi): (u64, u64)) -> Duration {
        let mut rngs = lock(&self.rngs);
        let rng = rngs.get_mut(who).expect("an rng per actor");
        Duration::from_millis(rng.random_range(lo..=hi))
    }
}

// ---- the hosts ----

fn office_config(root: &Path, c: &str) -> OfficeConfig {
    OfficeConfig {
        community: Shared::community(c),
        community_name: format!("社区 {c}"),
        community_kind: CommunityKind::Community,
        db_path: root.join(c).join(NODE_DB),
        tz: TIME_ZONE,
        secret: Some(person_key_secret()),
        compact_after_chunks: COMPACT_AFTER_CHUNKS,
    }
}

fn coordinator_config(root: &Path) -> ReplicasConfig {
    ReplicasConfig {
        street_id: STREET.into(),
        street_name: "模拟街道 simulated street".into(),
        db_path: root.join(COORD).join(COORD_DB),
        tz: TIME_ZONE,
        compact_after_chunks: COMPACT_AFTER_CHUNKS,
        stale_after_ms: 10_000,
    }
}

async fn coordinator_host(sh: Arc<Shared>) -> turmoil::Result {
    lock(&sh.stats).coordinator_starts += 1;
    let cfg = coordinator_config(&sh.root);
    let replicas = tokio::task::spawn_blocking(move || StreetReplicas::open(cfg)).await??;
    let handle: ReplicasHandle = Arc::new(Mutex::new(replicas));
    *lock(&sh.coord) = Some(handle.clone());
    sh.event("coordinator up".into());
    let incoming = net::incoming(PORT).await?;
    let mut opts = ServeOptions::new(
        Authenticator::MutualTls,
        Some(server_tls(&pki().server_pems())?),
    );
    opts.grace = Duration::from_secs(1);
    opts.keepalive_interval = Duration::from_secs(1);
    opts.keepalive_timeout = Duration::from_secs(1);
    serve_incoming(handle, incoming, std::future::pending(), opts).await?;
    Ok(())
}

fn link_config(sh: &Shared, c: &str, start: u64) -> Result<LinkConfig, Box<dyn std::error::Error>> {
    let ep = endpoint(&format!("https://localhost:{PORT}"), &sh.node_auth[c])?
        .connect_timeout(Duration::from_secs(2))
        .http2_keep_alive_interval(Duration::from_secs(1))
        .keep_alive_timeout(Duration::from_secs(1))
        .keep_alive_while_idle(true);
    Ok(LinkConfig {
        endpoint: ep,
        dev_token: None,
        backoff_base: Duration::from_millis(100),
        backoff_max: Duration::from_secs(2),
        limits: FrameLimits::default(),
        handshake_timeout: Duration::from_secs(3),
        dialer: Some(net::dialer(COORD, PORT)),
        jitter_seed: Some(c.bytes().fold(sh.plan.seed ^ (start << 32), |h, b| {
            h.rotate_left(8) ^ u64::from(b)
        })),
    })
}

async fn node_host(sh: Arc<Shared>, c: &'static str) -> turmoil::Result {
    let start = {
        let mut s = lock(&sh.starts);
        let n = s.entry(c.to_string()).or_default();
        *n += 1;
        *n
    };
    lock(&sh.stats).node_starts += 1;
    let cfg = office_config(&sh.root, c);
    let office = tokio::task::spawn_blocking(move || Office::open(cfg, now_ms())).await??;
    let office = OfficeHandle::new(office);
    lock(&sh.offices).insert(c.to_string(), office.clone());
    sh.event(format!("{c} up (start {start})"));
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(link::run(
        office.shared(),
        link_config(&sh, c, start)?,
        LinkHandle::default(),
        Clock::system(),
        stop_rx,
    ));
    while !sh.quiet() {
        tokio::time::sleep(sh.gap(c, sh.plan.node_gap_ms)).await;
        if sh.quiet() {
            break;
        }
        office_edit(&sh, c, &office).await;
    }
    std::future::pending::<()>().await;
    Ok(())
}

/// One edit by an office's staff, logged in the oracle before it is sent.
async fn office_edit(sh: &Arc<Shared>, c: &'static str, office: &OfficeHandle) {
    let community = Shared::community(c);
    let (edits, ops, kinds) = {
        let mut rngs = lock(&sh.rngs);
        let rng = rngs.get_mut(c).expect("rng");
        let mut desks = lock(&sh.desks);
        let desk = desks.get_mut(c).expect("desk");
        let Some((edits, what)) = draw_office_edit(rng, desk, c, sh.as_of, sh.activity_ms) else {
            return;
        };
        let mut oracle = lock(&sh.oracle);
        let now = sim_now();
        let mut ops = Vec::new();
        let mut kinds = Vec::new();
        for e in &edits {
            let (kind, id, household) = match e {
                Edit::Create(r) | Edit::Update(r) => (
                    r.kind(),
                    r.id().to_string(),
                    match r {
                        Record::ScreeningVisit(v) => Some(v.household_id.clone()),
                        _ => None,
                    },
                ),
                Edit::Remove { kind, id } => (*kind, id.clone(), None),
            };
            let i = oracle.begin(c, &community, kind, &id, what, now);
            oracle.ops[i].household = household;
            ops.push(i);
            kinds.push((kind, id));
        }
        (edits, ops, kinds)
    };
    let resolve = ops
        .first()
        .is_some_and(|i| lock(&sh.oracle).ops[*i].what == OpKind::Resolve);
    let as_of_ms = sh.activity_ms;
    let result = office
        .run(move |o| {
            let edits = if resolve {
                // Resolve the ticket as it stands at the node.
                let Edit::Update(Record::Ticket(t)) = &edits[0] else {
                    unreachable!("a resolve is one ticket update")
                };
                let cur = o
                    .get(Kind::Ticket, &t.id, now_ms())?
                    .ok_or_else(|| ApiError::NotFound("no such ticket here".into()))?;
                let Record::Ticket(mut cur) = cur else {
                    return Err(ApiError::Status(tonic::Status::internal("not a ticket")));
                };
                cur.resolved_at_ms = Some(as_of_ms.max(cur.received_at_ms));
                cur.resolution = Some("已处理".into());
                vec![Edit::Update(Record::Ticket(cur))]
            } else if let Some(Edit::Update(Record::Household(h))) = edits.first() {
                let cur = o
                    .get(Kind::Household, &h.id, now_ms())?
                    .ok_or_else(|| ApiError::NotFound("no such household here".into()))?;
                let Record::Household(mut cur) = cur else {
                    return Err(ApiError::Status(tonic::Status::internal("not a household")));
                };
                cur.phone = h.phone.clone();
                vec![Edit::Update(Record::Household(cur))]
            } else {
                edits
            };
            Ok(o.apply(&edits, now_ms(), "simulated office edit")?)
        })
        .await;
    let now = sim_now();
    let outcome = match &result {
        Ok(_) => Outcome::Acked,
        Err(st) if refused(st.code()) => Outcome::Refused,
        Err(_) => Outcome::Unknown,
    };
    {
        let mut oracle = lock(&sh.oracle);
        for i in &ops {
            oracle.finish(*i, outcome, now);
        }
        if outcome == Outcome::Acked {
            let what = oracle.ops[ops[0]].what;
            drop(oracle);
            let mut desks = lock(&sh.desks);
            let desk = desks.get_mut(c).expect("desk");
            for (kind, id) in &kinds {
                desk_apply(desk, what, *kind, id, result.as_ref().ok());
            }
        }
    }
}

fn outcome_of<T>(res: &Result<T, tonic::Status>) -> Outcome {
    match res {
        Ok(_) => Outcome::Acked,
        Err(st) if refused(st.code()) => Outcome::Refused,
        Err(_) => Outcome::Unknown,
    }
}

fn refused(code: tonic::Code) -> bool {
    matches!(
        code,
        tonic::Code::InvalidArgument
            | tonic::Code::NotFound
            | tonic::Code::AlreadyExists
            | tonic::Code::FailedPrecondition
            | tonic::Code::PermissionDenied
    )
}

fn desk_apply(desk: &mut Desk, what: OpKind, kind: Kind, id: &str, recs: Option<&Vec<Record>>) {
    match (what, kind) {
        (OpKind::Create, Kind::Compound) => {
            desk.compounds.push(id.into());
            let has_building = recs.is_some_and(|r| r.iter().any(|r| r.kind() == Kind::Building));
            if !has_building {
                desk.bare.push(id.into());
            }
        }
        (OpKind::Create, Kind::Building) => {
            if let Some(Record::Building(b)) = recs.and_then(|r| r.iter().find(|r| r.id() == id)) {
                desk.buildings.push((b.compound_id.clone(), id.into()));
            }
        }
        (OpKind::Create, Kind::Household) => desk.households.push(id.into()),
        (OpKind::Create, Kind::Ticket) => desk.tickets.push(id.into()),
        (OpKind::Remove, Kind::Household) => desk.households.retain(|h| h != id),
        (OpKind::Remove, Kind::Compound) => {
            desk.compounds.retain(|x| x != id);
            desk.bare.retain(|x| x != id);
        }
        (OpKind::Resolve, Kind::Ticket) => desk.tickets.retain(|t| t != id),
        _ => {}
    }
}

fn pick<T: Clone>(rng: &mut StdRng, v: &[T]) -> Option<T> {
    if v.is_empty() {
        None
    } else {
        Some(v[rng.random_range(0..v.len())].clone())
    }
}

/// Draws one office edit: every kind the rollup counts, updates, removals
/// that may be refused (a household with residents), and structural edits
/// that conflict with the street's (a compound removed while the street
/// dispatches a ticket to it).
fn draw_office_edit(
    rng: &mut StdRng,
    desk: &mut Desk,
    c: &str,
    as_of: Day,
    at_ms: i64,
) -> Option<(Vec<Edit>, OpKind)> {
    desk.next += 1;
    let k = desk.next;
    let day = gridsync_core::ids::day_compact(as_of);
    let roll = rng.random_range(0..100u32);
    let hh = pick(rng, &desk.households);
    Some(match roll {
        0..=24 => {
            let (cp, bd) = pick(rng, &desk.buildings)?;
            (
                vec![Edit::Create(new_household(
                    format!("hh_{c}_{k}"),
                    cp,
                    bd,
                    format!("{}", 100 + k),
                    format!("户主{k}"),
                ))],
                OpKind::Create,
            )
        }
        25..=44 => (
            vec![Edit::Create(new_resident(
                format!("rs_{c}_{k}"),
                hh?,
                format!("居民{k}"),
            ))],
            OpKind::Create,
        ),
        45..=64 => (
            vec![Edit::Create(Record::ScreeningVisit(ScreeningVisit {
                id: format!("sv_{day}_{c}_{k}"),
                household_id: hh?,
                visited_at_ms: at_ms,
                visitor: "网格员".into(),
                residents: Default::default(),
                notes: None,
            }))],
            OpKind::Create,
        ),
        65..=69 => (
            vec![Edit::Create(Record::Inspection(Inspection {
                id: format!("in_{day}_{c}_{k}"),
                household_id: hh?,
                method: InspectionMethod::Visit,
                inspected_at_ms: at_ms,
                inspector: "督查员".into(),
                knew_member: rng.random_bool(0.5),
                notes: None,
            }))],
            OpKind::Create,
        ),
        70..=77 => {
            let assigned = if rng.random_bool(0.5) {
                pick(rng, &desk.compounds)
            } else {
                None
            };
            (
                vec![Edit::Create(Record::Ticket(ticket(
                    format!("tk_{c}_{k}"),
                    at_ms,
                    assigned,
                )))],
                OpKind::Create,
            )
        }
        78..=83 => {
            let t = pick(rng, &desk.tickets)?;
            (
                vec![Edit::Update(Record::Ticket(ticket(t, at_ms, None)))],
                OpKind::Resolve,
            )
        }
        84..=87 => {
            let mut h = household_stub(hh?);
            if let Record::Household(h) = &mut h {
                h.phone = Some(format!("138{:08}", k));
            }
            (vec![Edit::Update(h)], OpKind::Update)
        }
        88..=91 => (
            vec![Edit::Remove {
                kind: Kind::Household,
                id: hh?,
            }],
            OpKind::Remove,
        ),
        92..=95 => {
            let cp = format!("cp_{c}_{k}");
            let mut edits = vec![Edit::Create(Record::Compound(Compound {
                id: cp.clone(),
                name: format!("新院{k}"),
                address: None,
            }))];
            if rng.random_bool(0.5) {
                edits.push(Edit::Create(Record::Building(Building {
                    id: format!("bd_{c}_{k}"),
                    compound_id: cp,
                    name: format!("{k}号楼"),
                })));
            }
            (edits, OpKind::Create)
        }
        _ => (
            vec![Edit::Remove {
                kind: Kind::Compound,
                id: pick(rng, &desk.bare)?,
            }],
            OpKind::Remove,
        ),
    })
}

fn ticket(id: String, at_ms: i64, assigned: Option<String>) -> Ticket {
    Ticket {
        id,
        received_at_ms: at_ms,
        channel: TicketChannel::Hotline,
        category: "环境".into(),
        summary: "楼道堆物".into(),
        caller_phone: None,
        assigned_compound_id: assigned,
        assigned_staff_id: None,
        resolved_at_ms: None,
        resolution: None,
    }
}

fn household_stub(id: String) -> Record {
    new_household(
        id,
        String::new(),
        String::new(),
        String::new(),
        String::new(),
    )
}

fn new_household(
    id: String,
    compound: String,
    building: String,
    door: String,
    head: String,
) -> Record {
    Record::Household(Household {
        id,
        compound_id: compound,
        building_id: building,
        unit: "1".into(),
        door,
        head_name: head,
        phone: None,
        contract_group_id: None,
    })
}

fn new_resident(id: String, household: String, name: String) -> Record {
    let mut r = crate::street::resident(&household, &name);
    r.set_id(id);
    r
}

// ---- the operators and the observers ----

fn operator_client() -> Result<StreetClient<Channel>, Box<dyn std::error::Error>> {
    let auth = pki().client(&Principal::Operator("sim-operator".into()));
    let ep = endpoint(&format!("https://localhost:{PORT}"), &auth)?
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(5))
        .http2_keep_alive_interval(Duration::from_secs(1))
        .keep_alive_timeout(Duration::from_secs(1));
    Ok(StreetClient::new(net::lazy_channel(&ep, COORD, PORT)))
}

/// The operators' host: street edits and dispatched tickets during the
/// chaos, rollups read and checked all along, then the liveness phase and
/// the final checks.
async fn ops_client(sh: Arc<Shared>) -> turmoil::Result {
    let mut client = operator_client()?;
    let mut watch = Watch::default();
    let mut next_edit = sh.gap(OPS, sh.plan.ops_gap_ms);
    let mut next_observe = Duration::from_millis(500);
    let mut regions: Vec<String> = Vec::new();
    let mut n = 0u64;
    while !sh.quiet() {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if !lock(&sh.failures).is_empty() {
            return Err("a checker failed".into());
        }
        let now = sim_now();
        if now >= next_edit {
            n += 1;
            operator_edit(&sh, &mut client, &mut regions, n).await;
            next_edit = sim_now() + sh.gap(OPS, sh.plan.ops_gap_ms);
        }
        if now >= next_observe {
            observe(&sh, &mut client, &mut watch).await;
            next_observe = sim_now() + Duration::from_millis(700);
        }
    }
    // Liveness: the street heals and goes quiet; it must converge.
    let heal_at = lock(&sh.heal_at).unwrap_or_else(sim_now);
    let converged_at = loop {
        if let Some(t) = converged(&sh) {
            break t;
        }
        if sim_now() - heal_at > CONVERGE_WITHIN {
            sh.fail(format!(
                "no convergence within {CONVERGE_WITHIN:?} of the heal: {}",
                divergence(&sh)
            ));
            return Err("no convergence".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    sh.event(format!(
        "converged {:.2}s after the heal",
        (converged_at - heal_at).as_secs_f64()
    ));
    let matched_at = loop {
        let rollup = observe(&sh, &mut client, &mut watch).await;
        if !lock(&sh.failures).is_empty() {
            return Err("a checker failed".into());
        }
        if let Some(r) = &rollup
            && r.stamps.len() == sh.plan.nodes.len()
            && r.stamps
                .iter()
                .all(|s| s.digest_state == rpb::DigestState::Match as i32 && !s.held && !s.stale)
        {
            final_checks(&sh, r);
            break sim_now();
        }
        if sim_now() - heal_at > CONVERGE_WITHIN + MATCH_WITHIN {
            let states: Vec<String> = rollup
                .map(|r| {
                    r.stamps
                        .iter()
                        .map(|s| {
                            format!(
                                "{}: digest {:?} held {} stale {}",
                                s.community_id,
                                rpb::DigestState::try_from(s.digest_state),
                                s.held,
                                s.stale
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            sh.fail(format!(
                "digests not all matched within {MATCH_WITHIN:?} of convergence: {states:?}"
            ));
            return Err("digests did not match".into());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    *lock(&sh.done) = Some((converged_at - heal_at, matched_at - heal_at));
    if !lock(&sh.failures).is_empty() {
        return Err("a checker failed".into());
    }
    Ok(())
}

async fn operator_edit(
    sh: &Arc<Shared>,
    client: &mut StreetClient<Channel>,
    regions: &mut Vec<String>,
    n: u64,
) {
    let (roll, community, compound) = {
        let mut rngs = lock(&sh.rngs);
        let rng = rngs.get_mut(OPS).expect("rng");
        let roll = rng.random_range(0..100u32);
        let c = sh.plan.nodes[rng.random_range(0..sh.plan.nodes.len())].clone();
        let desks = lock(&sh.desks);
        // A compound the office holds as far as the street's operators
        // know: one being removed at the office races the dispatch.
        let compound = pick(rng, &desks[&c].compounds);
        (roll, c, compound)
    };
    let c = Shared::community(&community);
    if roll < 55 {
        let id = format!("tk_ops_{n}");
        let i = lock(&sh.oracle).begin(OPS, &c, Kind::Ticket, &id, OpKind::Create, sim_now());
        let req = spb::DispatchTicketRequest {
            community_id: community.clone(),
            ticket: Some(gridsync_proto::office::v1::Ticket {
                id: id.clone(),
                received_at_ms: sh.activity_ms,
                channel: gridsync_proto::office::v1::TicketChannel::Hotline as i32,
                category: "环境".into(),
                summary: format!("热线转办 {n}"),
                assigned_compound_id: compound,
                ..Default::default()
            }),
        };
        let outcome = outcome_of(&client.dispatch_ticket(req).await);
        lock(&sh.oracle).finish(i, outcome, sim_now());
        if outcome == Outcome::Acked {
            lock(&sh.desks)
                .get_mut(&community)
                .expect("desk")
                .tickets
                .push(id);
        }
    } else if roll < 85 || regions.is_empty() {
        let id = format!("rr_ops_{n}");
        let mut req = crate::street::risk_region(&format!("模拟省 {n} 区"));
        if let Some(spb::street_record::Record::RiskRegion(rr)) =
            req.record.as_mut().and_then(|r| r.record.as_mut())
        {
            rr.id = id.clone();
        }
        let i = lock(&sh.oracle).begin_street(&id, OpKind::Create, sim_now());
        let outcome = outcome_of(&client.put_street_record(req).await);
        lock(&sh.oracle).finish_street(i, outcome);
        if outcome == Outcome::Acked {
            regions.push(id);
        }
    } else {
        let id = regions.remove(0);
        let i = lock(&sh.oracle).begin_street(&id, OpKind::Remove, sim_now());
        let res = client
            .remove_street_record(spb::RemoveStreetRecordRequest {
                kind: spb::StreetKindPb::StreetKindRiskRegion as i32,
                id,
            })
            .await;
        lock(&sh.oracle).finish_street(i, outcome_of(&res));
    }
}

/// The last rollup state seen per community, for the freshness check.
#[derive(Default)]
struct Watch {
    heads: BTreeMap<String, rpb::RollupHeads>,
}

/// One observation: the coordinator's rollup over gRPC (additive at every
/// level, never older than the last one seen), every node's own rollup
/// (additive), and a read of the coordinator's replicas for the set-full
/// checker.
async fn observe(
    sh: &Arc<Shared>,
    client: &mut StreetClient<Channel>,
    watch: &mut Watch,
) -> Option<rpb::Rollup> {
    let read_started = sim_now();
    // The nodes' own rollups.
    // (Each handle is taken just before its use: one held across awaits
    // could keep a crashed node's store open.)
    let names: Vec<String> = lock(&sh.offices).keys().cloned().collect();
    for c in names {
        let Some(office) = lock(&sh.offices).get(&c).cloned() else {
            continue;
        };
        let as_of = sh.as_of;
        let r = office
            .run(move |o| {
                let docs = o.store().doc_heads()?;
                let r = o.rollup(as_of, TIME_ZONE, now_ms())?;
                Ok((r, docs.into_iter().map(|(id, _)| id).collect::<Vec<_>>()))
            })
            .await;
        match r {
            Ok((r, docs)) => {
                lock(&sh.stats).node_rollup_checks += 1;
                if let Some(v) = additivity(&r.tree) {
                    sh.fail(format!("{c}'s own rollup is not additive: {v}"));
                }
                // Access: a node never holds another community's document.
                let cid = Shared::community(&c);
                for id in docs {
                    if id != DocId::Street && id.community() != Some(&cid) {
                        sh.fail(format!("access: {c} holds {id}"));
                    }
                }
            }
            Err(e) if e.code() == tonic::Code::Unavailable => {}
            Err(e) => sh.fail(format!("{c}'s rollup failed: {e}")),
        }
    }
    // The coordinator's replicas, for the set-full reads. The handle is
    // dropped before the next await: holding it there would keep a crashed
    // coordinator's store open, and its restart would find it locked.
    if let Some(r) = lock(&sh.coord).clone() {
        read_coordinator(sh, &r, read_started);
    }
    // The coordinator's rollup, as operators get it.
    let req = rpb::RollupRequest {
        as_of: sh.as_of.format("%Y-%m-%d").to_string(),
        tz: TIME_ZONE.name().into(),
        path: vec![],
        depth: 8,
    };
    let rollup = match tokio::time::timeout(Duration::from_secs(5), client.get_rollup(req)).await {
        Ok(Ok(r)) => r.into_inner(),
        _ => return None,
    };
    lock(&sh.stats).rollup_checks += 1;
    check_rollup(sh, &rollup, watch);
    Some(rollup)
}

fn read_coordinator(sh: &Shared, replicas: &ReplicasHandle, read_started: Duration) {
    let mut r = lock(replicas);
    lock(&sh.stats).reads += 1;
    let mut cache = lock(&sh.views);
    for c in &sh.plan.nodes {
        let cid = Shared::community(c);
        let ids = [
            DocId::Registry(cid.clone()),
            DocId::Cases(cid.clone()),
            DocId::Activity(cid.clone(), sh.as_of),
        ];
        let heads: Vec<Option<Vec<ChangeHash>>> = ids.iter().map(|id| r.heads_of(id)).collect();
        if cache.get(c).is_none_or(|(h, _, _)| *h != heads) {
            let (Ok(reg), Ok(cases), Ok(day)) = (
                r.doc_copy(&ids[0]),
                r.doc_copy(&ids[1]),
                r.doc_copy(&ids[2]),
            ) else {
                sh.fail(format!("the coordinator could not read {c}'s documents"));
                return;
            };
            cache.insert(
                c.clone(),
                (
                    heads,
                    CommunityView::read(&reg, &cases),
                    DayView::read(sh.as_of, &day),
                ),
            );
        }
        let (_, view, day) = &cache[c];
        lock(&sh.oracle).observe(
            &cid,
            &Snapshot {
                view,
                day: Some(day),
            },
            read_started,
        );
    }
}

/// Additivity at every level: each parent's figures are the sum of its
/// children's. Returns the first violation.
fn additivity(n: &Node) -> Option<String> {
    if let Some(v) = n.additivity_violation() {
        return Some(format!("{:?} {:?}: {}", n.level, n.id, v.join(", ")));
    }
    n.children.iter().find_map(additivity)
}

fn additivity_pb(n: &rpb::Node, path: &str) -> Option<String> {
    let here = format!("{path}/{}", n.id);
    if !n.children.is_empty() {
        let mut sum = Figures::default();
        for c in &n.children {
            sum.add(&Figures::from(&c.figures.clone().unwrap_or_default()));
        }
        let mine = Figures::from(&n.figures.clone().unwrap_or_default());
        if !sum.same_as(&mine) {
            return Some(format!("{here}: {mine:?} != Σ children {sum:?}"));
        }
    }
    n.children.iter().find_map(|c| additivity_pb(c, &here))
}

fn hashes(hex: &[String]) -> Result<Vec<ChangeHash>, String> {
    hex.iter()
        .map(|h| h.parse().map_err(|_| format!("{h:?} is not a change hash")))
        .collect()
}

/// Each document's heads of a community's stamp.
fn stamp_docs(c: &CommunityId, h: &rpb::RollupHeads) -> Vec<(DocId, Vec<String>)> {
    let mut out = vec![
        (DocId::Registry(c.clone()), h.registry.clone()),
        (DocId::Cases(c.clone()), h.cases.clone()),
        (DocId::Street, h.street.clone()),
    ];
    for (d, l) in &h.days {
        if let Ok(day) = chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d") {
            out.push((DocId::Activity(c.clone(), day), l.heads.clone()));
        }
    }
    out
}

fn check_rollup(sh: &Shared, r: &rpb::Rollup, watch: &mut Watch) {
    let Some(tree) = &r.tree else {
        sh.fail("a rollup without a tree".into());
        return;
    };
    if let Some(v) = additivity_pb(tree, "") {
        sh.fail(format!("the coordinator's rollup is not additive: {v}"));
    }
    // Monotonic freshness: what a community's figures include never goes
    // back: the heads seen before are in the past of the heads seen now.
    let replicas = lock(&sh.coord).clone();
    for s in &r.stamps {
        let Some(new) = &s.heads else { continue };
        let Ok(c) = CommunityId::parse(&s.community_id) else {
            continue;
        };
        if let (Some(old), Some(replicas)) = (watch.heads.get(&s.community_id), &replicas)
            && old != new
        {
            let mut rep = lock(replicas);
            let new_docs: BTreeMap<DocId, Vec<String>> = stamp_docs(&c, new).into_iter().collect();
            for (id, old_heads) in stamp_docs(&c, old) {
                let new_heads = new_docs.get(&id).cloned().unwrap_or_default();
                if old_heads == new_heads || old_heads.is_empty() {
                    continue;
                }
                let mut doc = match rep.doc_copy(&id) {
                    Ok(d) => d,
                    Err(e) => {
                        sh.fail(format!(
                            "freshness: cannot read {id} at the coordinator: {e}"
                        ));
                        continue;
                    }
                };
                let (new_h, old_h) = match (hashes(&new_heads), hashes(&old_heads)) {
                    (Ok(n), Ok(o)) => (n, o),
                    (Err(e), _) | (_, Err(e)) => {
                        sh.fail(format!(
                            "freshness: a stamp of {c} names {id}'s heads badly: {e}"
                        ));
                        continue;
                    }
                };
                lock(&sh.stats).freshness_comparisons += 1;
                let after: BTreeSet<ChangeHash> =
                    doc.get_changes(&new_h).iter().map(|ch| ch.hash()).collect();
                for h in old_h {
                    if after.contains(&h) || doc.get_change_by_hash(&h).is_none() {
                        sh.fail(format!(
                            "the rollup of {c} went back: {id} was at {old_heads:?}, now {new_heads:?} (held {})",
                            s.held
                        ));
                    }
                }
            }
        }
        watch.heads.insert(s.community_id.clone(), new.clone());
    }
}

/// `Some(now)` when every node and the coordinator hold the same heads of
/// every document the node syncs.
fn converged(sh: &Shared) -> Option<Duration> {
    let replicas = lock(&sh.coord).clone()?;
    let offices = lock(&sh.offices).clone();
    for c in &sh.plan.nodes {
        let office = offices.get(c)?;
        let local = lock(&office.shared()).sync_heads().ok()?;
        let remote = lock(&replicas).community_heads(&Shared::community(c));
        if local != remote {
            return None;
        }
    }
    Some(sim_now())
}

fn divergence(sh: &Shared) -> String {
    let Some(replicas) = lock(&sh.coord).clone() else {
        return "the coordinator is down".into();
    };
    let offices = lock(&sh.offices).clone();
    let mut out = Vec::new();
    for c in &sh.plan.nodes {
        let Some(office) = offices.get(c) else {
            out.push(format!("{c} is down"));
            continue;
        };
        let local = lock(&office.shared()).sync_heads().unwrap_or_default();
        let remote = lock(&replicas).community_heads(&Shared::community(c));
        let short = |h: &[ChangeHash]| -> Vec<String> {
            h.iter().map(|x| x.to_string()[..8].to_string()).collect()
        };
        for (id, h) in &local {
            if remote.get(id) != Some(h) {
                out.push(format!(
                    "{id}: node at {:?}, coordinator at {:?}",
                    short(h),
                    remote.get(id).map(|r| short(r))
                ));
            }
        }
        for id in remote.keys() {
            if !local.contains_key(id) {
                out.push(format!("{id}: only at the coordinator"));
            }
        }
    }
    out.join("; ")
}

/// After quiescence: the coordinator's figures equal the oracle's, per
/// community, and the street's are their sum.
fn final_checks(sh: &Shared, r: &rpb::Rollup) {
    let Some(replicas) = lock(&sh.coord).clone() else {
        sh.fail("the coordinator is down at the end".into());
        return;
    };
    let tree = r.tree.clone().unwrap_or_default();
    let mut rep = lock(&replicas);
    for c in &sh.plan.nodes {
        let cid = Shared::community(c);
        let (Ok(reg), Ok(cases), Ok(day)) = (
            rep.doc_copy(&DocId::Registry(cid.clone())),
            rep.doc_copy(&DocId::Cases(cid.clone())),
            rep.doc_copy(&DocId::Activity(cid.clone(), sh.as_of)),
        ) else {
            sh.fail(format!("cannot read {c} at the end"));
            continue;
        };
        let view = CommunityView::read(&reg, &cases);
        let day = DayView::read(sh.as_of, &day);
        let snap = Snapshot {
            view: &view,
            day: Some(&day),
        };
        let expected = lock(&sh.oracle).expected(&cid, &snap);
        let Some(node) = tree.children.iter().find(|n| n.id == *c) else {
            sh.fail(format!("{c} is missing from the street's rollup"));
            continue;
        };
        let got = Expected::of(&Figures::from(&node.figures.clone().unwrap_or_default()));
        if got != expected {
            sh.fail(format!(
                "{c}: the coordinator's rollup shows {got:?}, the oracle expects {expected:?}"
            ));
        }
    }
}

// ---- the driver ----

/// Creates the stores before the simulation starts: the coordinator's with
/// the communities registered, and each office's with a compound, two
/// buildings and a few households with a resident each (acknowledged edits
/// in the oracle).
fn setup(sh: &Shared) -> Result<(), String> {
    let now = now_ms();
    std::fs::create_dir_all(sh.root.join(COORD)).map_err(|e| e.to_string())?;
    let mut coord =
        StreetReplicas::open(coordinator_config(&sh.root)).map_err(|e| e.to_string())?;
    for c in &sh.plan.nodes {
        coord
            .put_street(
                StreetRecord::Community(StreetCommunity {
                    id: c.clone(),
                    name: format!("社区 {c}"),
                    kind: CommunityKind::Community,
                }),
                "setup",
                now,
            )
            .map_err(|e| e.to_string())?;
    }
    coord.checkpoint().map_err(|e| e.to_string())?;
    drop(coord);
    for c in &sh.plan.nodes {
        std::fs::create_dir_all(sh.root.join(c)).map_err(|e| e.to_string())?;
        let mut office =
            Office::open(office_config(&sh.root, c), now).map_err(|e| e.to_string())?;
        let cp = format!("cp_{c}_base");
        let mut edits = vec![Edit::Create(Record::Compound(Compound {
            id: cp.clone(),
            name: "老院".into(),
            address: None,
        }))];
        let mut desk = Desk::default();
        desk.compounds.push(cp.clone());
        for b in 1..=2 {
            let bd = format!("bd_{c}_base{b}");
            edits.push(Edit::Create(Record::Building(Building {
                id: bd.clone(),
                compound_id: cp.clone(),
                name: format!("{b}号楼"),
            })));
            desk.buildings.push((cp.clone(), bd.clone()));
            for h in 1..=2 {
                let hh = format!("hh_{c}_base{b}{h}");
                edits.push(Edit::Create(new_household(
                    hh.clone(),
                    cp.clone(),
                    bd.clone(),
                    format!("{b}0{h}"),
                    format!("户主{b}{h}"),
                )));
                edits.push(Edit::Create(new_resident(
                    format!("rs_{c}_base{b}{h}"),
                    hh.clone(),
                    format!("居民{b}{h}"),
                )));
                desk.households.push(hh);
            }
        }
        office
            .apply(&edits, now, "simulation setup")
            .map_err(|e| e.to_string())?;
        let cid = Shared::community(c);
        let mut oracle = lock(&sh.oracle);
        for e in &edits {
            if let Edit::Create(r) = e {
                let i = oracle.begin(
                    "setup",
                    &cid,
                    r.kind(),
                    r.id(),
                    OpKind::Create,
                    Duration::ZERO,
                );
                oracle.finish(i, Outcome::Acked, Duration::ZERO);
            }
        }
        lock(&sh.desks).insert(c.clone(), desk);
        office.checkpoint().map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Restarts the hosts due to restart whose old state nothing holds any more
/// (a restarted process opens its store; the old one must be closed, as it
/// is once a real process has died).
fn restart_released(
    sim: &mut turmoil::Sim<'_>,
    sh: &Shared,
    crashed: &mut BTreeSet<String>,
    restarting: &mut BTreeSet<String>,
) {
    for h in restarting.clone() {
        let free = lock(&sh.released).get(&h).is_none_or(|f| f());
        if free {
            restarting.remove(&h);
            crashed.remove(&h);
            lock(&sh.released).remove(&h);
            sim.bounce(h.as_str());
        }
    }
}

fn apply(
    sim: &mut turmoil::Sim<'_>,
    sh: &Shared,
    crashed: &mut BTreeSet<String>,
    restarting: &mut BTreeSet<String>,
    a: &Action,
) {
    sh.event_at(sim.elapsed(), a.to_string());
    lock(&sh.stats).actions += 1;
    match a {
        Action::Partition(n) => sim.partition(n.as_str(), COORD),
        Action::Repair(n) => sim.repair(n.as_str(), COORD),
        Action::OneWay { from, to } => sim.partition_oneway(from.as_str(), to.as_str()),
        Action::RepairOneWay { from, to } => sim.repair_oneway(from.as_str(), to.as_str()),
        Action::Hold(n) => sim.hold(n.as_str(), COORD),
        Action::Release(n) => sim.release(n.as_str(), COORD),
        Action::Latency(n, d) => {
            sim.set_link_max_message_latency(n.as_str(), COORD, (*d).max(BASE_LATENCY))
        }
        Action::Crash(h) => {
            if crashed.insert(h.clone()) {
                sim.crash(h.as_str());
                let released: Box<dyn Fn() -> bool + Send> = if h == COORD {
                    let old = lock(&sh.coord).take().map(|r| Arc::downgrade(&r));
                    Box::new(move || old.as_ref().is_none_or(|w| w.strong_count() == 0))
                } else {
                    let old = lock(&sh.offices)
                        .remove(h)
                        .map(|o| Arc::downgrade(&o.shared()));
                    Box::new(move || old.as_ref().is_none_or(|w| w.strong_count() == 0))
                };
                lock(&sh.released).insert(h.clone(), released);
                lock(&sh.oracle).crashed(h);
            }
        }
        Action::Restart(h) => {
            if crashed.contains(h) {
                restarting.insert(h.clone());
                restart_released(sim, sh, crashed, restarting);
            }
        }
    }
}

/// Runs one seed with at most `max_nodes` offices. A run that fails after
/// the day changed under it (the nodes report today's digest, the
/// simulation checks the day it started on) is run once more.
pub fn run_seed(seed: u64, max_nodes: usize) -> Result<RunReport, Failure> {
    let day = day_of(now_ms());
    match run_seed_once(seed, max_nodes) {
        Err(_) if day_of(now_ms()) != day => {
            eprintln!("seed {seed} ran across midnight; running it again");
            run_seed_once(seed, max_nodes)
        }
        r => r,
    }
}

fn run_seed_once(seed: u64, max_nodes: usize) -> Result<RunReport, Failure> {
    let plan = Plan::draw(seed, max_nodes);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let activity_ms = activity_instant_ms();
    let mut rngs = BTreeMap::new();
    let mut node_auth = BTreeMap::new();
    for (i, c) in plan.nodes.iter().enumerate() {
        rngs.insert(
            c.clone(),
            StdRng::seed_from_u64(seed.wrapping_mul(31).wrapping_add(i as u64 + 1)),
        );
        node_auth.insert(c.clone(), pki().node(c));
    }
    rngs.insert(
        OPS.to_string(),
        StdRng::seed_from_u64(seed.wrapping_mul(31)),
    );
    let sh = Arc::new(Shared {
        plan: plan.clone(),
        root: dir.path().to_path_buf(),
        as_of: day_of(activity_ms),
        activity_ms,
        phase: AtomicU8::new(CHAOS),
        heal_at: Mutex::new(None),
        node_auth,
        offices: Mutex::new(BTreeMap::new()),
        coord: Mutex::new(None),
        oracle: Mutex::new(Oracle::default()),
        desks: Mutex::new(BTreeMap::new()),
        rngs: Mutex::new(rngs),
        starts: Mutex::new(BTreeMap::new()),
        failures: Mutex::new(Vec::new()),
        events: Mutex::new(Vec::new()),
        stats: Mutex::new(Stats::default()),
        done: Mutex::new(None),
        released: Mutex::new(BTreeMap::new()),
        views: Mutex::new(BTreeMap::new()),
    });
    let failure = |sh: &Shared, mut what: Vec<String>| {
        what.extend(lock(&sh.failures).iter().cloned());
        what.dedup();
        Failure {
            seed,
            plan: sh.plan.describe(),
            what,
            events: lock(&sh.events).clone(),
        }
    };
    if let Err(e) = setup(&sh) {
        return Err(failure(&sh, vec![format!("setting up the stores: {e}")]));
    }
    for f in &plan.faults {
        *lock(&sh.stats).faults.entry(f.kind).or_default() += 1;
    }

    let mut sim = turmoil::Builder::new()
        .simulation_duration(plan.chaos + CONVERGE_WITHIN + MATCH_WITHIN + Duration::from_secs(30))
        .tick_duration(TICK)
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(BASE_LATENCY)
        .tcp_capacity(1 << 16)
        .rng_seed(seed)
        .build();
    {
        let s = sh.clone();
        sim.host(COORD, move || coordinator_host(s.clone()));
    }
    for c in &plan.nodes {
        let s = sh.clone();
        let c: &'static str = Box::leak(c.clone().into_boxed_str());
        sim.host(c, move || node_host(s.clone(), c));
    }
    sim.client(OPS, ops_client(sh.clone()));

    let schedule = plan.schedule();
    let mut next = 0;
    let mut crashed = BTreeSet::new();
    let mut restarting = BTreeSet::new();
    let result = loop {
        let now = sim.elapsed();
        while next < schedule.len() && schedule[next].0 <= now && !sh.quiet() {
            apply(
                &mut sim,
                &sh,
                &mut crashed,
                &mut restarting,
                &schedule[next].1,
            );
            next += 1;
        }
        if !sh.quiet() && now >= plan.chaos {
            sh.event_at(now, "heal: every link repaired and released, latency reset, crashed hosts restarted; edits stop".into());
            sh.phase.store(QUIET, Ordering::SeqCst);
            *lock(&sh.heal_at) = Some(now);
            for n in &plan.nodes {
                sim.release(n.as_str(), COORD);
                sim.repair(n.as_str(), COORD);
                sim.set_link_max_message_latency(n.as_str(), COORD, BASE_LATENCY);
            }
            restarting.extend(crashed.iter().cloned());
        }
        if !restarting.is_empty() {
            restart_released(&mut sim, &sh, &mut crashed, &mut restarting);
        }
        match sim.step() {
            Ok(true) => break Ok(()),
            Ok(false) => {}
            Err(e) => break Err(e.to_string()),
        }
    };
    let simulated = sim.elapsed();
    drop(sim);
    // The stores are closed before they are read from disk.
    *lock(&sh.coord) = None;
    lock(&sh.offices).clear();
    if let Err(e) = result {
        return Err(failure(&sh, vec![format!("the simulation stopped: {e}")]));
    }
    let Some((convergence, digests_matched)) = *lock(&sh.done) else {
        return Err(failure(&sh, vec!["the run did not finish".into()]));
    };
    // After the simulation: the durable stores, read from disk.
    let mut what: Vec<String> = lock(&sh.failures).clone();
    let set_full = match durable_checks(&sh) {
        Ok(s) => s,
        Err(e) => {
            what.extend(e);
            SetFull::default()
        }
    };
    if set_full.lost > 0 || set_full.phantom > 0 {
        what.push(format!(
            "{} acknowledged edits lost, {} refused edits there anyway: {:?}",
            set_full.lost, set_full.phantom, set_full.lost_detail
        ));
    }
    if !what.is_empty() {
        return Err(failure(&sh, what));
    }
    let stats = lock(&sh.stats).clone();
    Ok(RunReport {
        seed,
        nodes: plan.nodes.len(),
        stats,
        set_full,
        convergence,
        digests_matched,
        simulated,
    })
}

fn load(store: &Store, id: &DocId) -> Result<AutoCommit, String> {
    match store.load_doc(id).map_err(|e| e.to_string())? {
        Some(s) => load_doc(
            s.snapshot.as_deref(),
            s.chunks.iter().map(Vec::as_slice),
            id,
        )
        .map_err(|e| format!("{id}: {e}")),
        // Never written: the document as every replica starts it.
        None => Ok(gridsync_core::docs::genesis(
            id,
            automerge::ActorId::random(),
        )),
    }
}

/// A document's content as JSON (the winning value of each key).
fn content(doc: &AutoCommit) -> serde_json::Value {
    fn obj(doc: &AutoCommit, o: &ObjId) -> serde_json::Value {
        match doc.object_type(o) {
            Ok(ObjType::Map | ObjType::Table) => serde_json::Value::Object(
                doc.keys(o)
                    .filter_map(|k| {
                        let (v, id) = doc.get(o, &k).ok()??;
                        Some((k, val(doc, v, &id)))
                    })
                    .collect(),
            ),
            Ok(ObjType::List) => serde_json::Value::Array(
                (0..doc.length(o))
                    .filter_map(|i| {
                        let (v, id) = doc.get(o, i).ok()??;
                        Some(val(doc, v, &id))
                    })
                    .collect(),
            ),
            Ok(ObjType::Text) => serde_json::Value::String(doc.text(o).unwrap_or_default()),
            Err(e) => serde_json::Value::String(format!("unreadable: {e}")),
        }
    }
    fn val(doc: &AutoCommit, v: automerge::Value<'_>, id: &ObjId) -> serde_json::Value {
        match v {
            automerge::Value::Object(_) => obj(doc, id),
            automerge::Value::Scalar(s) => serde_json::Value::String(format!("{s:?}")),
        }
    }
    obj(doc, &automerge::ROOT)
}

/// Reads every store from disk after the run: each node's documents equal
/// the coordinator's (heads and content), no node holds another
/// community's document, and the set-full counts against the final state.
fn durable_checks(sh: &Shared) -> Result<SetFull, Vec<String>> {
    let mut what = Vec::new();
    let coord =
        Store::open(&sh.root.join(COORD).join(COORD_DB)).map_err(|e| vec![e.to_string()])?;
    let mut finals: BTreeMap<CommunityId, (CommunityView, DayView)> = BTreeMap::new();
    for c in &sh.plan.nodes {
        let cid = Shared::community(c);
        let node = match Store::open(&sh.root.join(c).join(NODE_DB)) {
            Ok(s) => s,
            Err(e) => {
                what.push(format!("{c}'s store: {e}"));
                continue;
            }
        };
        let ids = match node.doc_heads() {
            Ok(h) => h.into_iter().map(|(id, _)| id).collect::<Vec<_>>(),
            Err(e) => {
                what.push(format!("{c}'s store: {e}"));
                continue;
            }
        };
        for id in &ids {
            if *id != DocId::Street && id.community() != Some(&cid) {
                what.push(format!("access: {c}'s store holds {id}"));
            }
        }
        let mut all: BTreeSet<DocId> = ids.into_iter().collect();
        if let Ok(h) = coord.doc_heads() {
            all.extend(
                h.into_iter()
                    .map(|(id, _)| id)
                    .filter(|id| id.community() == Some(&cid)),
            );
        }
        all.insert(DocId::Street);
        for id in &all {
            match (load(&node, id), load(&coord, id)) {
                (Ok(mut a), Ok(mut b)) => {
                    if a.get_heads() != b.get_heads() {
                        what.push(format!(
                            "{id}: the node's heads differ from the coordinator's on disk"
                        ));
                    } else if content(&a) != content(&b) {
                        what.push(format!("{id}: same heads, different content"));
                    }
                }
                (Err(e), _) | (_, Err(e)) => what.push(format!("loading {id}: {e}")),
            }
        }
        let (Ok(reg), Ok(cases), Ok(day)) = (
            load(&coord, &DocId::Registry(cid.clone())),
            load(&coord, &DocId::Cases(cid.clone())),
            load(&coord, &DocId::Activity(cid.clone(), sh.as_of)),
        ) else {
            what.push(format!(
                "cannot load {c}'s documents from the coordinator's store"
            ));
            continue;
        };
        finals.insert(
            cid,
            (
                CommunityView::read(&reg, &cases),
                DayView::read(sh.as_of, &day),
            ),
        );
    }
    let snaps: BTreeMap<CommunityId, Snapshot<'_>> = finals
        .iter()
        .map(|(c, (v, d))| {
            (
                c.clone(),
                Snapshot {
                    view: v,
                    day: Some(d),
                },
            )
        })
        .collect();
    let mut set_full = lock(&sh.oracle).set_full(&snaps);
    match load(&coord, &DocId::Street) {
        Ok(street) => {
            let view = gridsync_core::street::StreetView::read(&street);
            let regions: BTreeSet<&str> = view.risk_regions.iter().map(|r| r.id.as_str()).collect();
            lock(&sh.oracle).street_set_full(&regions, &mut set_full);
        }
        Err(e) => what.push(format!("loading the street document: {e}")),
    }
    if what.is_empty() {
        Ok(set_full)
    } else {
        Err(what)
    }
}

/// What many seeds add up to.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub seeds: u64,
    pub failed: Vec<u64>,
    pub faults: BTreeMap<FaultKind, u64>,
    pub acked: u64,
    pub refused: u64,
    pub unknown: u64,
    pub lost: u64,
    pub stale: u64,
    pub never_read: u64,
    pub convergence_ms: Vec<u64>,
    pub matched_ms: Vec<u64>,
    pub rollup_checks: u64,
    pub node_rollup_checks: u64,
    pub reads: u64,
    pub freshness_comparisons: u64,
    pub phantom: u64,
    pub restarts: u64,
    pub simulated: Duration,
}

impl Summary {
    pub fn add(&mut self, r: &RunReport) {
        self.seeds += 1;
        for (k, v) in &r.stats.faults {
            *self.faults.entry(*k).or_default() += v;
        }
        self.acked += r.set_full.acked;
        self.refused += r.set_full.refused;
        self.unknown += r.set_full.unknown;
        self.lost += r.set_full.lost;
        self.stale += r.set_full.stale;
        self.never_read += r.set_full.never_read;
        self.convergence_ms.push(r.convergence.as_millis() as u64);
        self.matched_ms.push(r.digests_matched.as_millis() as u64);
        self.rollup_checks += r.stats.rollup_checks;
        self.node_rollup_checks += r.stats.node_rollup_checks;
        self.reads += r.stats.reads;
        self.freshness_comparisons += r.stats.freshness_comparisons;
        self.phantom += r.set_full.phantom;
        self.restarts += r.stats.node_starts + r.stats.coordinator_starts - (r.nodes as u64 + 1);
        self.simulated += r.simulated;
    }

    fn pct(v: &[u64], p: f64) -> u64 {
        if v.is_empty() {
            return 0;
        }
        let mut v = v.to_vec();
        v.sort_unstable();
        v[((v.len() - 1) as f64 * p).round() as usize]
    }

    pub fn line(&self) -> String {
        let faults: Vec<String> = self
            .faults
            .iter()
            .map(|(k, v)| format!("{}={v}", k.name()))
            .collect();
        format!(
            "partition summary: seeds={} failed={} faults[{}] restarts={} edits acked={} refused={} unknown={} lost={} phantom={} stale={} never-read={} convergence after heal p50={}ms p99={}ms max={}ms digests matched p50={}ms p99={}ms rollup checks={} (node rollups {}, freshness comparisons {}) set-full reads={} simulated={:.0}s",
            self.seeds,
            self.failed.len(),
            faults.join(" "),
            self.restarts,
            self.acked,
            self.refused,
            self.unknown,
            self.lost,
            self.phantom,
            self.stale,
            self.never_read,
            Self::pct(&self.convergence_ms, 0.5),
            Self::pct(&self.convergence_ms, 0.99),
            Self::pct(&self.convergence_ms, 1.0),
            Self::pct(&self.matched_ms, 0.5),
            Self::pct(&self.matched_ms, 0.99),
            self.rollup_checks,
            self.node_rollup_checks,
            self.freshness_comparisons,
            self.reads,
            self.simulated.as_secs_f64(),
        )
    }
}
