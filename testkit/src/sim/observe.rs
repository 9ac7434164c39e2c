//! The observers and checkers: during the run, every rollup read (the
//! coordinator's over gRPC and each node's own) adds up, no community's
//! rollup goes back to older heads, no node holds another community's
//! document, and the coordinator's replicas are read for the set-full
//! checker; once the street is quiet, convergence and the coordinator's
//! figures against the oracle's.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use automerge::ChangeHash;
use gridsync_coordinator::sync_service::ReplicasHandle;
use gridsync_core::rollup::{Figures, Node};
use gridsync_core::view::{CommunityView, DayView};
use gridsync_core::{CommunityId, DocId};
use gridsync_proto::rollup::v1 as rpb;
use gridsync_proto::street::v1::street_client::StreetClient;
use tonic::transport::Channel;

use super::additive::check_additive;
use super::oracle::{Expected, Snapshot};
use super::{Shared, lock, sim_now};
use crate::{TIME_ZONE, now_ms};

/// The last rollup state seen per community, for the freshness check.
#[derive(Default)]
pub(super) struct Watch {
    heads: BTreeMap<String, rpb::RollupHeads>,
}

/// One observation: the coordinator's rollup over gRPC (additive at every
/// level, never older than the last one seen), every node's own rollup
/// (additive), and a read of the coordinator's replicas for the set-full
/// checker.
pub(super) async fn observe(
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
    let silent = lock(&sh.liveness).check(&rollup, read_started);
    for f in silent {
        sh.fail(f);
    }
    Some(rollup)
}

fn read_coordinator(sh: &Shared, replicas: &ReplicasHandle, read_started: Duration) {
    let r = replicas;
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
    let mut violations = Vec::new();
    check_additive(tree, &tree.id, &mut violations);
    if !violations.is_empty() {
        sh.fail(format!(
            "the coordinator's rollup is not additive: {}",
            violations.join("; ")
        ));
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
            let rep = replicas;
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
pub(super) fn converged(sh: &Shared) -> Option<Duration> {
    let replicas = lock(&sh.coord).clone()?;
    let offices = lock(&sh.offices).clone();
    for c in &sh.plan.nodes {
        let office = offices.get(c)?;
        let local = lock(&office.shared()).sync_heads().ok()?;
        let remote = replicas.community_heads(&Shared::community(c));
        if local != remote {
            return None;
        }
    }
    Some(sim_now())
}

pub(super) fn divergence(sh: &Shared) -> String {
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
        let remote = replicas.community_heads(&Shared::community(c));
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
pub(super) fn final_checks(sh: &Shared, r: &rpb::Rollup) {
    let Some(replicas) = lock(&sh.coord).clone() else {
        sh.fail("the coordinator is down at the end".into());
        return;
    };
    let tree = r.tree.clone().unwrap_or_default();
    let rep = &replicas;
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
