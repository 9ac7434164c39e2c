//! (b) Every write read back against the oracle, with the street converged
//! and the writers stopped: each node's records listed, the street document
//! read at the coordinator and at every node, the oracle's set-full counts
//! taken against them, every record's content compared with what was
//! acknowledged or sent, nothing there that was never written, no ticket at
//! a community it was not dispatched to, and the coordinator's figures
//! against the oracle's.

use std::collections::{BTreeMap, BTreeSet};

use gridsync_core::{CommunityId, Kind};
use gridsync_proto::office::v1 as pb;
use gridsync_proto::rollup::v1 as rpb;
use gridsync_proto::street::v1 as spb;
use gridsync_testkit::sim::oracle::{Holds, OpKind, Outcome, Present, SetFull};
use gridsync_testkit::{as_stored, day_of_id, id_of};
use pb::record::Record as R;

use super::checks::read_rollup;
use super::{
    COMMUNITIES, GROWING, Log, NODE_KINDS, Office, Operator, Shared, community, growing, lock,
};

/// What a check of every write found: the oracle's set-full counts, and
/// every problem in words (none may be).
pub(super) struct Verdict {
    pub(super) set_full: SetFull,
    pub(super) problems: Vec<String>,
}

/// Everything listed at one node, by kind and id.
type Listed = BTreeMap<Kind, BTreeMap<String, pb::Record>>;

/// Every record of `kind` at a node (of `day` for activity kinds).
async fn list_kind(office: &mut Office, kind: Kind, day: &str) -> Result<Vec<pb::Record>, String> {
    let mut out = Vec::new();
    let mut after = String::new();
    loop {
        let reply = office
            .list_records(pb::ListRecordsRequest {
                kind: kind.name().into(),
                day: day.into(),
                limit: 1000,
                after_id: after.clone(),
            })
            .await
            .map_err(|s| format!("list {kind} {day:?}: {:?} {}", s.code(), s.message()))?
            .into_inner();
        out.extend(reply.records);
        if reply.next_after_id.is_empty() {
            return Ok(out);
        }
        after = reply.next_after_id;
    }
}

/// Every record of every kind the test writes at node `i` (screening visits
/// of each day in `days`), or `None` if a listing failed (said in
/// `problems`: a record that cannot be read fails the run).
async fn list_node(
    office: &mut Office,
    i: usize,
    days: &BTreeSet<String>,
    problems: &mut Vec<String>,
) -> Option<Listed> {
    let mut listed = Listed::new();
    let mut readable = true;
    for kind in NODE_KINDS {
        let days = if kind == Kind::ScreeningVisit {
            days.clone()
        } else {
            [String::new()].into()
        };
        let m = listed.entry(kind).or_default();
        for day in &days {
            match list_kind(office, kind, day).await {
                Ok(recs) => m.extend(recs.into_iter().map(|r| (id_of(&r).to_string(), r))),
                Err(e) => {
                    problems.push(format!("node {}: {e}", COMMUNITIES[i]));
                    readable = false;
                }
            }
        }
    }
    readable.then_some(listed)
}

/// What the oracle is told a read of a node saw.
fn present_of(listed: &Listed) -> Present {
    let mut p = Present::default();
    for (kind, m) in listed {
        for (id, r) in m {
            p.insert(*kind, id);
            if let Some(R::Ticket(t)) = &r.record
                && t.resolved_at_ms.is_some()
            {
                p.resolved.insert(id.clone());
            }
        }
    }
    p
}

/// The street document at the coordinator, then at every node.
async fn read_streets(
    op: &mut Operator,
    offices: &mut [Office],
) -> Vec<(String, Result<spb::StreetDocument, String>)> {
    let mut streets = vec![(
        "the coordinator".to_string(),
        op.get_street(spb::GetStreetRequest {})
            .await
            .map(|r| r.into_inner())
            .map_err(|s| format!("{:?} {}", s.code(), s.message())),
    )];
    for (i, c) in COMMUNITIES.iter().enumerate() {
        streets.push((
            format!("node {c}"),
            offices[i]
                .get_street(pb::GetStreetRequest {})
                .await
                .map(|r| r.into_inner())
                .map_err(|s| format!("{:?} {}", s.code(), s.message())),
        ));
    }
    streets
}

/// Reads back every write (with the street converged and the writers
/// stopped) and checks it against the oracle.
pub(super) async fn verify_writes(
    sh: &Shared,
    op: &mut Operator,
    offices: &mut [Office],
) -> Verdict {
    let read_started = sh.now();
    // The days of the screening visits tried at each node.
    let days: Vec<BTreeSet<String>> = {
        let log = lock(&sh.log);
        (0..COMMUNITIES.len())
            .map(|i| {
                let c = community(i);
                let mut d: BTreeSet<String> = log
                    .oracle
                    .ops
                    .iter()
                    .filter(|o| o.community == c && o.kind == Kind::ScreeningVisit)
                    .map(|o| day_of_id(&o.id))
                    .collect();
                d.insert(String::new());
                d
            })
            .collect()
    };
    let mut problems = Vec::new();
    let mut listed = Vec::new();
    for (i, office) in offices.iter_mut().enumerate() {
        listed.push(list_node(office, i, &days[i], &mut problems).await);
    }
    let streets = read_streets(op, offices).await;
    let rollup = read_rollup(sh, op, "check").await;

    let mut log = lock(&sh.log);
    let presents: BTreeMap<CommunityId, Present> = listed
        .iter()
        .enumerate()
        .filter_map(|(i, l)| l.as_ref().map(|l| (community(i), present_of(l))))
        .collect();
    for (c, p) in &presents {
        log.oracle.observe(c, p, read_started);
    }
    let mut set_full = log.oracle.set_full(&presents);
    problems.extend(
        set_full
            .lost_detail
            .iter()
            .map(|d| format!("SET-FULL: {d}")),
    );
    check_streets(&log, &streets, &mut set_full, &mut problems);
    check_contents(&log, &listed, &mut problems);
    check_nothing_else(&log, &presents, &mut problems);
    match rollup {
        Ok(r) => check_figures(&log, &presents, &r, &mut problems),
        Err(s) => problems.push(format!("GetRollup: {:?} {}", s.code(), s.message())),
    }
    Verdict { set_full, problems }
}

/// The operator's risk regions: the oracle's set-full counts against the
/// coordinator's street document, and what every node's copy lost or holds
/// anyway; each acknowledged region as acknowledged everywhere; no region
/// that was never put.
fn check_streets(
    log: &Log,
    streets: &[(String, Result<spb::StreetDocument, String>)],
    set_full: &mut SetFull,
    problems: &mut Vec<String>,
) {
    for (k, (who, doc)) in streets.iter().enumerate() {
        let doc = match doc {
            Ok(d) => d,
            Err(e) => {
                problems.push(format!("GetStreet at {who}: {e}"));
                continue;
            }
        };
        let have: BTreeMap<&str, &spb::RiskRegionPb> = doc
            .risk_regions
            .iter()
            .map(|r| (r.id.as_str(), r))
            .collect();
        let present: BTreeSet<&str> = have.keys().copied().collect();
        let mut here = SetFull::default();
        log.oracle.street_set_full(&present, &mut here);
        if k == 0 {
            // Writes are counted once, at the coordinator.
            set_full.acked += here.acked;
            set_full.refused += here.refused;
            set_full.unknown += here.unknown;
            set_full.landed += here.landed;
        }
        set_full.lost += here.lost;
        set_full.phantom += here.phantom;
        problems.extend(
            here.lost_detail
                .iter()
                .map(|d| format!("SET-FULL at {who}: {d}")),
        );
        for id in log.oracle.street_never_written(&present) {
            problems.push(format!("{who} holds risk region {id}, never written"));
        }
        for (id, want) in &log.regions {
            if let Some(got) = have.get(id.as_str())
                && *got != want
            {
                problems.push(format!(
                    "CHANGED: risk region {id} at {who} reads {got:?}, acknowledged {want:?}"
                ));
            }
        }
    }
}

/// Every record at its node as acknowledged; one of unknown outcome that
/// landed, as it was sent (a dispatched ticket: with the summary sent).
fn check_contents(log: &Log, listed: &[Option<Listed>], problems: &mut Vec<String>) {
    for (i, w) in &log.records {
        let op = &log.oracle.ops[*i];
        let c = COMMUNITIES[w.node];
        // An unreadable node was reported already.
        let Some(Some(l)) = listed.get(w.node) else {
            continue;
        };
        let got = l.get(&op.kind).and_then(|m| m.get(&op.id));
        match (&w.acked, got) {
            (Some(want), Some(got)) if want != got => problems.push(format!(
                "CHANGED: node {c}: {} {} reads {got:?}, acknowledged {want:?}",
                op.kind, op.id
            )),
            (None, Some(got)) if w.dispatched => {
                let summary = |r: &pb::Record| match &r.record {
                    Some(R::Ticket(t)) => Some(t.summary.clone()),
                    _ => None,
                };
                if summary(got) != summary(&w.sent) {
                    problems.push(format!(
                        "dispatched ticket {} landed changed at {c}: {got:?}, sent {:?}",
                        op.id, w.sent
                    ));
                }
            }
            (None, Some(got)) => {
                let want = as_stored(&w.sent, &op.id);
                if *got != want {
                    problems.push(format!(
                        "node {c}: {:?} {} {} ({:?}) landed changed: sent {want:?}, stored {got:?}",
                        op.outcome, op.kind, op.id, w.error
                    ));
                }
            }
            // Missing: the oracle counts it (lost, or never read).
            _ => {}
        }
    }
}

/// Nothing listed at a node that was never written there, and no ticket
/// dispatched to another community.
fn check_nothing_else(
    log: &Log,
    presents: &BTreeMap<CommunityId, Present>,
    problems: &mut Vec<String>,
) {
    for (c, p) in presents {
        for (i, w) in log.records.iter().filter(|(_, w)| w.dispatched) {
            let id = &log.oracle.ops[*i].id;
            if community(w.node) != *c && p.contains(Kind::Ticket, id) {
                problems.push(format!(
                    "ACCESS: node {c} holds ticket {id} dispatched to {}",
                    COMMUNITIES[w.node]
                ));
            }
        }
        for what in log.oracle.never_written(c, p) {
            problems.push(format!("node {c} lists {what}, never written there"));
        }
    }
}

/// The coordinator's figures per community (households, residents, the
/// rollup's day's screening visits, open tickets) equal the oracle's:
/// acknowledged records and those of unknown outcome that landed.
fn check_figures(
    log: &Log,
    presents: &BTreeMap<CommunityId, Present>,
    r: &rpb::Rollup,
    problems: &mut Vec<String>,
) {
    for (i, c) in COMMUNITIES.iter().enumerate() {
        let cid = community(i);
        let Some(p) = presents.get(&cid) else {
            continue;
        };
        let e = log.oracle.expected(&cid, p);
        // Screening visits of another day (a run across midnight) are not
        // in the rollup's day.
        let other_days = log
            .oracle
            .ops
            .iter()
            .filter(|o| {
                o.community == cid
                    && o.kind == Kind::ScreeningVisit
                    && o.what == OpKind::Create
                    && day_of_id(&o.id) != r.as_of
                    && match o.outcome {
                        Outcome::Acked => true,
                        Outcome::Refused => false,
                        Outcome::Unknown | Outcome::InFlight => p.contains(o.kind, &o.id),
                    }
            })
            .count() as u64;
        let want = [
            e.households,
            e.residents,
            e.screening_visits - other_days,
            e.tickets_open,
        ];
        let got = r
            .tree
            .as_ref()
            .and_then(|t| t.children.iter().find(|n| n.id == *c))
            .and_then(|n| n.figures.as_ref())
            .map(growing);
        let Some(got) = got else {
            problems.push(format!("the coordinator's rollup has no figures for {c}"));
            continue;
        };
        for (k, name) in GROWING.iter().enumerate() {
            if want[k] != got[k] {
                problems.push(format!(
                    "ROLLUP: the coordinator counts {} {name} for {c}, the oracle expects {} \
                     (acknowledged + unknown that landed)",
                    got[k], want[k]
                ));
            }
        }
    }
}
