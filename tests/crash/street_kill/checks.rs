//! The checks of the street as it runs: the observer of the street's
//! rollup ((c) additive, (d) never going back), (a) convergence, (e) the
//! digest checks, and (f) the documents a node may hold.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use gridsync_proto::office::v1 as pb;
use gridsync_proto::rollup::v1 as rpb;
use gridsync_proto::street::v1 as spb;
use gridsync_testkit::sim::additive::check_additive;
use tokio::sync::watch;

use super::{COMMUNITIES, GROWING, OBSERVE_EVERY, Office, Operator, Shared, growing, lock, ms};

/// What the observer saw.
#[derive(Default)]
pub(super) struct Observed {
    /// Rollups checked (the observer's polls and the checks' reads).
    pub(super) rollups: u64,
    /// Of those, the observer's polls.
    pub(super) polls: u64,
    pub(super) parents_checked: u64,
    pub(super) held: u64,
    pub(super) unavailable: u64,
    /// (as_of, community) → the largest of each growing figure seen.
    max: BTreeMap<(String, String), [u64; 4]>,
    pub(super) violations: Vec<String>,
}

/// Checks one rollup of the street: additive everywhere, and no
/// community's growing figures below what was seen before.
fn check_rollup(sh: &Shared, r: &rpb::Rollup, when: &str) {
    let starts = *lock(&sh.coordinator_starts);
    let mut o = lock(&sh.observed);
    o.rollups += 1;
    let Some(tree) = &r.tree else {
        o.violations
            .push(format!("{when}: a rollup without a tree: {r:?}"));
        return;
    };
    let mut violations = Vec::new();
    let parents = check_additive(tree, &r.street_id, &mut violations);
    o.parents_checked += parents;
    for v in violations {
        o.violations.push(format!(
            "{when} (coordinator start {starts}): not additive: {v}"
        ));
    }
    for s in &r.stamps {
        o.held += u64::from(s.held);
        o.unavailable += u64::from(!s.unavailable.is_empty());
        let Some(child) = tree.children.iter().find(|c| c.id == s.community_id) else {
            o.violations.push(format!(
                "{when}: community {} has a stamp but no place in the tree",
                s.community_id
            ));
            continue;
        };
        let now = growing(child.figures.as_ref().unwrap_or(&rpb::Figures::default()));
        let key = (r.as_of.clone(), s.community_id.clone());
        let before = o.max.get(&key).copied().unwrap_or_default();
        for (i, name) in GROWING.iter().enumerate() {
            if now[i] < before[i] {
                let v = format!(
                    "{when} (coordinator start {starts}): {} {name} went back from {} to {} \
                     (stamp held={} unavailable={:?} stale={} digest_state={})",
                    s.community_id,
                    before[i],
                    now[i],
                    s.held,
                    s.unavailable,
                    s.stale,
                    s.digest_state
                );
                o.violations.push(v);
            }
        }
        let merged: [u64; 4] = std::array::from_fn(|i| before[i].max(now[i]));
        o.max.insert(key, merged);
    }
}

pub(super) fn rollup_request(depth: u32) -> rpb::RollupRequest {
    rpb::RollupRequest {
        as_of: String::new(),
        tz: String::new(),
        path: Vec::new(),
        depth,
    }
}

/// Reads the street's rollup (all levels) and checks it.
pub(super) async fn read_rollup(
    sh: &Shared,
    op: &mut Operator,
    when: &str,
) -> Result<rpb::Rollup, tonic::Status> {
    let _order = sh.reading.lock().await;
    let started = sh.now();
    let r = op.get_rollup(rollup_request(0)).await?.into_inner();
    check_rollup(sh, &r, when);
    let silent = lock(&sh.liveness).check(&r, started);
    let mut o = lock(&sh.observed);
    for v in silent {
        o.violations.push(format!("{when}: {v}"));
    }
    Ok(r)
}

/// Reads the street's rollup whenever the coordinator is up, and checks
/// every one it gets.
pub(super) async fn observer(sh: Arc<Shared>, mut op: Operator, stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        if sh.coordinator_up.load(Ordering::SeqCst)
            && read_rollup(&sh, &mut op, "poll").await.is_ok()
        {
            lock(&sh.observed).polls += 1;
        }
        tokio::time::sleep(OBSERVE_EVERY).await;
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn short(h: &[String]) -> String {
    h.iter()
        .map(|x| x.chars().take(8).collect::<String>())
        .collect::<Vec<_>>()
        .join(",")
}

/// Documents a node of `c` may hold: its own and the street's.
pub(super) fn access_problems(c: &str, docs: &[pb::DocStatus]) -> Vec<String> {
    docs.iter()
        .filter(|d| {
            !(d.doc_id == "street"
                || d.doc_id == format!("registry/{c}")
                || d.doc_id == format!("cases/{c}")
                || d.doc_id.starts_with(&format!("activity/{c}/")))
        })
        .map(|d| format!("node {c} holds {} (not its community's)", d.doc_id))
        .collect()
}

/// One look at convergence: `Err` says what is not there yet.
pub(super) async fn converged(op: &mut Operator, offices: &mut [Office]) -> Result<(), String> {
    let st = |what: &str, s: tonic::Status| format!("{what}: {:?} {}", s.code(), s.message());
    let list = op
        .list_communities(spb::ListCommunitiesRequest {})
        .await
        .map_err(|s| st("ListCommunities", s))?
        .into_inner();
    for c in COMMUNITIES {
        let l = list
            .communities
            .iter()
            .find(|l| l.community_id == c)
            .ok_or_else(|| format!("the coordinator does not list {c}"))?;
        if !l.connected || l.docs_behind > 0 {
            return Err(format!(
                "the coordinator: {c} connected={} docs_behind={} last_error={:?}",
                l.connected, l.docs_behind, l.last_error
            ));
        }
    }
    let r = op
        .get_rollup(rollup_request(1))
        .await
        .map_err(|s| st("GetRollup", s))?
        .into_inner();
    let street = op
        .get_street(spb::GetStreetRequest {})
        .await
        .map_err(|s| st("GetStreet at the coordinator", s))?
        .into_inner();
    let street_heads = sorted(street.heads);
    for (i, c) in COMMUNITIES.iter().enumerate() {
        let s = offices[i]
            .get_status(pb::GetStatusRequest {})
            .await
            .map_err(|s| st(&format!("GetStatus at {c}"), s))?
            .into_inner();
        let link = s.link.as_ref().ok_or(format!("node {c} reports no link"))?;
        if !link.connected || link.unacknowledged_changes > 0 {
            return Err(format!(
                "node {c}: connected={} unacknowledged={} last_error={:?}",
                link.connected, link.unacknowledged_changes, link.last_error
            ));
        }
        if let Some(d) = link.docs.iter().find(|d| !d.in_sync) {
            return Err(format!("node {c}: {} not in sync", d.doc_id));
        }
        let ns = offices[i]
            .get_street(pb::GetStreetRequest {})
            .await
            .map_err(|s| st(&format!("GetStreet at {c}"), s))?
            .into_inner();
        let node_street = sorted(ns.heads);
        if node_street != street_heads {
            return Err(format!(
                "node {c}: street heads {} differ from the coordinator's {}",
                short(&node_street),
                short(&street_heads)
            ));
        }
        let stamp = r
            .stamps
            .iter()
            .find(|x| x.community_id == *c)
            .ok_or(format!("no stamp for {c}"))?;
        let heads = stamp
            .heads
            .as_ref()
            .ok_or(format!("the stamp of {c} has no heads"))?;
        let mut wanted: Vec<(String, Vec<String>)> = vec![
            (format!("registry/{c}"), heads.registry.clone()),
            (format!("cases/{c}"), heads.cases.clone()),
            ("street".into(), heads.street.clone()),
            (
                format!("activity/{c}/{}", r.as_of),
                heads
                    .days
                    .get(&r.as_of)
                    .map(|d| d.heads.clone())
                    .unwrap_or_default(),
            ),
        ];
        // The street document's heads at the node come with its copy.
        let mut docs = s.docs.clone();
        docs.push(pb::DocStatus {
            doc_id: "street".into(),
            heads: node_street.clone(),
            ..Default::default()
        });
        for (doc, theirs) in wanted.drain(..) {
            let theirs = sorted(theirs);
            let ours = sorted(
                docs.iter()
                    .find(|d| d.doc_id == doc)
                    .map(|d| d.heads.clone())
                    .unwrap_or_default(),
            );
            if ours != theirs {
                return Err(format!(
                    "node {c}: heads of {doc} {} differ from the coordinator's {}",
                    short(&ours),
                    short(&theirs)
                ));
            }
        }
    }
    Ok(())
}

pub(super) async fn wait_converged(
    op: &mut Operator,
    offices: &mut [Office],
    within: Duration,
) -> Result<Duration, String> {
    let t = Instant::now();
    loop {
        let why = match converged(op, offices).await {
            Ok(()) => return Ok(t.elapsed()),
            Err(why) => why,
        };
        if t.elapsed() > within {
            return Err(format!("not converged within {within:?}: {why}"));
        }
        tokio::time::sleep(ms(50)).await;
    }
}

/// One look at the digest checks: every community MATCH, fresh, not held.
pub(super) async fn digests_match(op: &mut Operator) -> Result<(), String> {
    let r = op
        .get_rollup(rollup_request(1))
        .await
        .map_err(|s| format!("GetRollup: {:?} {}", s.code(), s.message()))?
        .into_inner();
    for c in COMMUNITIES {
        let s = r
            .stamps
            .iter()
            .find(|s| s.community_id == c)
            .ok_or(format!("no stamp for {c}"))?;
        if s.digest_state != rpb::DigestState::Match as i32
            || s.stale
            || s.held
            || !s.unavailable.is_empty()
        {
            return Err(format!(
                "{c}: digest_state={:?} stale={} held={} unavailable={:?} digest={} node_digest={}",
                rpb::DigestState::try_from(s.digest_state),
                s.stale,
                s.held,
                s.unavailable,
                s.digest,
                s.node_digest
            ));
        }
    }
    Ok(())
}
