//! The hosts of a simulated street: the coordinator, each node (its office
//! and its link, and the office's staff editing), the operators' client
//! (editing, observing, then the liveness phase), and the stores each
//! starts from.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use gridsync_coordinator::replicas::{ReplicasConfig, StreetReplicas};
use gridsync_coordinator::server::{ServeOptions, serve_incoming};
use gridsync_coordinator::sync_service::ReplicasHandle;
use gridsync_core::access::Principal;
use gridsync_core::street::{StreetCommunity, StreetRecord};
use gridsync_core::sync::FrameLimits;
use gridsync_core::{Building, CommunityKind, Compound, Edit, Record};
use gridsync_node::link::{self, LinkConfig, LinkHandle};
use gridsync_node::office::{Office, OfficeConfig};
use gridsync_node::service::OfficeHandle;
use gridsync_proto::rollup::v1 as rpb;
use gridsync_proto::street::v1::street_client::StreetClient;
use gridsync_svc::Clock;
use gridsync_sync::identity::Authenticator;
use gridsync_sync::tls::{endpoint, server_tls};
use tonic::transport::Channel;

use super::hostile::check_nothing_stored;
use super::net::{self, PORT};
use super::observe::{Watch, converged, divergence, final_checks, observe};
use super::oracle::{OpKind, Outcome};
use super::plan::{COORD, HOSTILE};
use super::workload::{Desk, new_household, new_resident, office_edit, operator_edit};
use super::{CONVERGE_WITHIN, COORD_DB, MATCH_WITHIN, NODE_DB, OPS, Shared, lock, pki, sim_now};
use crate::street::STREET;
use crate::{COMPACT_AFTER_CHUNKS, TIME_ZONE, now_ms, person_key_secret};

fn office_config(root: &Path, c: &str) -> OfficeConfig {
    OfficeConfig {
        community: Shared::community(c),
        community_name: format!("社区 {c}"),
        community_kind: CommunityKind::Community,
        db_path: root.join(c).join(NODE_DB),
        tz: TIME_ZONE,
        secret: Some(person_key_secret()),
        compact_after_chunks: COMPACT_AFTER_CHUNKS,
        store_key: Some(crate::store_key()),
    }
}

pub(super) fn coordinator_config(root: &Path) -> ReplicasConfig {
    ReplicasConfig {
        street_id: STREET.into(),
        street_name: "模拟街道 simulated street".into(),
        db_path: root.join(COORD).join(COORD_DB),
        tz: TIME_ZONE,
        compact_after_chunks: COMPACT_AFTER_CHUNKS,
        stale_after_ms: 10_000,
        memory: gridsync_svc::memory::Ceiling::none(),
        store_key: Some(crate::store_key()),
    }
}

pub(super) async fn coordinator_host(sh: Arc<Shared>) -> turmoil::Result {
    lock(&sh.stats).coordinator_starts += 1;
    let cfg = coordinator_config(&sh.root);
    let replicas = tokio::task::spawn_blocking(move || StreetReplicas::open(cfg)).await??;
    let handle: ReplicasHandle = Arc::new(replicas);
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
    opts.heartbeat = super::liveness::HEARTBEAT;
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
        heartbeat: super::liveness::HEARTBEAT,
        dial_timeout: Duration::from_secs(3),
    })
}

pub(super) async fn node_host(sh: Arc<Shared>, c: &'static str) -> turmoil::Result {
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
    let status = LinkHandle::default();
    lock(&sh.link_statuses).push(status.clone());
    tokio::spawn(link::run(
        office.shared(),
        link_config(&sh, c, start)?,
        status,
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
pub(super) async fn ops_client(sh: Arc<Shared>) -> turmoil::Result {
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
        // The hostile community is in the street but never syncs: its
        // stamp is never fresh nor matched.
        let expected_stamps = sh.plan.nodes.len() + usize::from(!sh.plan.attacks.is_empty());
        if let Some(r) = &rollup
            && r.stamps.len() == expected_stamps
            && r.stamps
                .iter()
                .filter(|s| s.community_id != HOSTILE)
                .all(|s| s.digest_state == rpb::DigestState::Match as i32 && !s.held && !s.stale)
        {
            final_checks(&sh, r);
            check_nothing_stored(&sh);
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

/// Creates the stores before the simulation starts: the coordinator's with
/// the communities registered, and each office's with a compound, two
/// buildings and a few households with a resident each (acknowledged edits
/// in the oracle).
pub(super) fn setup(sh: &Shared) -> Result<(), String> {
    let now = now_ms();
    std::fs::create_dir_all(sh.root.join(COORD)).map_err(|e| e.to_string())?;
    let coord = StreetReplicas::open(coordinator_config(&sh.root)).map_err(|e| e.to_string())?;
    let hostile = (!sh.plan.attacks.is_empty()).then(|| HOSTILE.to_string());
    for c in sh.plan.nodes.iter().chain(hostile.iter()) {
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
