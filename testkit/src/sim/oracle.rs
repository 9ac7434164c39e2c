//! The oracle: every edit anyone attempted, with what came of it
//! (acknowledged, refused, or unknown because the process or the link died
//! under it), and the checks made against it: Jepsen's set-full counts
//! (lost, stale, never-read) and the figures a rollup must show once the
//! street is quiet.
//!
//! The checks take reads of a community as anything that [`Holds`]
//! records: the simulation's reads are core views ([`Snapshot`]); a test
//! that reads over gRPC, like the street kill test of real processes, hands
//! in what it listed ([`Present`]).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use gridsync_core::rollup::Figures;
use gridsync_core::view::{CommunityView, DayView};
use gridsync_core::{CommunityId, Kind};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Sent, no answer yet.
    InFlight,
    /// Committed and acknowledged.
    Acked,
    /// Refused with a clear error (validation, a missing reference).
    Refused,
    /// No answer: the writer's process crashed, or its call failed without
    /// saying whether the edit landed.
    Unknown,
}

impl Outcome {
    /// What a call's answer says of its edit: acknowledged, refused (a
    /// status that says the edit was wrong, see [`refused`]), or unknown
    /// (a timeout, a cut, a process killed under it: it may have landed).
    pub fn of<T>(res: &Result<T, tonic::Status>) -> Outcome {
        match res {
            Ok(_) => Outcome::Acked,
            Err(st) if refused(st.code()) => Outcome::Refused,
            Err(_) => Outcome::Unknown,
        }
    }
}

/// A status that no cut, crash or timeout explains: the service refused
/// the edit itself, and it did not land.
pub fn refused(code: tonic::Code) -> bool {
    matches!(
        code,
        tonic::Code::InvalidArgument
            | tonic::Code::NotFound
            | tonic::Code::AlreadyExists
            | tonic::Code::FailedPrecondition
            | tonic::Code::PermissionDenied
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    Create,
    /// A field update that leaves every figure alone (a household's phone).
    Update,
    /// A ticket resolved (on the as-of date).
    Resolve,
    Remove,
}

#[derive(Clone, Debug)]
pub struct Op {
    pub actor: String,
    pub community: CommunityId,
    pub kind: Kind,
    pub id: String,
    pub what: OpKind,
    /// For a screening visit: its household.
    pub household: Option<String>,
    pub outcome: Outcome,
    pub started: Duration,
    pub acked_at: Option<Duration>,
    /// Seen at the coordinator by some read (for creates).
    pub seen: bool,
    /// Missing from a read of the coordinator made after it was acknowledged
    /// (expected while links are down; it must show up later).
    pub stale: bool,
}

/// A read of one community, as the oracle's checks see it: which records
/// it holds, and which tickets it holds resolved.
pub trait Holds {
    fn contains(&self, kind: Kind, id: &str) -> bool;
    fn resolved(&self, ticket: &str) -> bool;
}

/// What one read of the coordinator saw of one community.
pub struct Snapshot<'a> {
    pub view: &'a CommunityView,
    pub day: Option<&'a DayView>,
}

impl Snapshot<'_> {
    pub fn contains(&self, kind: Kind, id: &str) -> bool {
        match kind {
            Kind::ScreeningVisit => self
                .day
                .is_some_and(|d| d.screening_visits.contains_key(id)),
            Kind::Inspection => self.day.is_some_and(|d| d.inspections.contains_key(id)),
            Kind::CareVisit => self.day.is_some_and(|d| d.care_visits.contains_key(id)),
            k => self.view.contains(k, id),
        }
    }

    pub fn resolved(&self, ticket: &str) -> bool {
        self.view
            .tickets
            .get(ticket)
            .is_some_and(|t| t.resolved_at_ms.is_some())
    }
}

impl Holds for Snapshot<'_> {
    fn contains(&self, kind: Kind, id: &str) -> bool {
        Snapshot::contains(self, kind, id)
    }
    fn resolved(&self, ticket: &str) -> bool {
        Snapshot::resolved(self, ticket)
    }
}

/// What a read saw of one community without core views: the records it
/// listed, by kind and id, and the tickets among them that are resolved.
/// (A test that reads over gRPC builds this from its listings.)
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Present {
    pub records: BTreeSet<(Kind, String)>,
    pub resolved: BTreeSet<String>,
}

impl Present {
    pub fn insert(&mut self, kind: Kind, id: &str) {
        self.records.insert((kind, id.to_string()));
    }
}

impl Holds for Present {
    fn contains(&self, kind: Kind, id: &str) -> bool {
        self.records.contains(&(kind, id.to_string()))
    }
    fn resolved(&self, ticket: &str) -> bool {
        self.resolved.contains(ticket)
    }
}

/// The set-full result of one run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetFull {
    pub acked: u64,
    pub refused: u64,
    pub unknown: u64,
    /// Acknowledged and not there at the end (a create, a removal undone, a
    /// resolution gone). Must be 0.
    pub lost: u64,
    /// Acknowledged, missed by a later read, there at the end.
    pub stale: u64,
    /// Unknown outcome, never seen by any read.
    pub never_read: u64,
    /// Unknown outcome, there at the end (Jepsen's "recovered").
    pub landed: u64,
    /// Refused, and there at the end anyway. Must be 0.
    pub phantom: u64,
    /// What was lost, for the failure message.
    pub lost_detail: Vec<String>,
}

/// An operator's edit of the street document (a risk region).
#[derive(Clone, Debug)]
pub struct StreetOp {
    pub id: String,
    pub what: OpKind,
    pub outcome: Outcome,
}

#[derive(Default)]
pub struct Oracle {
    pub ops: Vec<Op>,
    pub street: Vec<StreetOp>,
}

impl Oracle {
    pub fn begin(
        &mut self,
        actor: &str,
        community: &CommunityId,
        kind: Kind,
        id: &str,
        what: OpKind,
        now: Duration,
    ) -> usize {
        self.ops.push(Op {
            actor: actor.to_string(),
            community: community.clone(),
            kind,
            id: id.to_string(),
            what,
            household: None,
            outcome: Outcome::InFlight,
            started: now,
            acked_at: None,
            seen: false,
            stale: false,
        });
        self.ops.len() - 1
    }

    pub fn finish(&mut self, i: usize, outcome: Outcome, now: Duration) {
        let op = &mut self.ops[i];
        op.outcome = outcome;
        if outcome == Outcome::Acked {
            op.acked_at = Some(now);
        }
    }

    pub fn begin_street(&mut self, id: &str, what: OpKind, _now: Duration) -> usize {
        self.street.push(StreetOp {
            id: id.to_string(),
            what,
            outcome: Outcome::InFlight,
        });
        self.street.len() - 1
    }

    pub fn finish_street(&mut self, i: usize, outcome: Outcome) {
        self.street[i].outcome = outcome;
    }

    /// Set-full counts of the street's risk regions against the
    /// coordinator's final street document: an acknowledged put is there
    /// unless a removal of it was tried, an acknowledged removal holds, and
    /// a refused put is not there.
    pub fn street_set_full(&self, present: &BTreeSet<&str>, r: &mut SetFull) {
        for op in &self.street {
            let here = present.contains(op.id.as_str());
            let removal_tried = self.street.iter().any(|o| {
                o.id == op.id && o.what == OpKind::Remove && o.outcome != Outcome::Refused
            });
            match op.outcome {
                Outcome::Acked => r.acked += 1,
                Outcome::Refused => r.refused += 1,
                Outcome::Unknown | Outcome::InFlight => r.unknown += 1,
            }
            match (op.what, op.outcome) {
                (OpKind::Create, Outcome::Acked) if !here && !removal_tried => {
                    r.lost += 1;
                    r.lost_detail.push(format!("street risk region {}", op.id));
                }
                (OpKind::Remove, Outcome::Acked) if here => {
                    r.lost += 1;
                    r.lost_detail.push(format!(
                        "street risk region {} came back after its removal",
                        op.id
                    ));
                }
                (OpKind::Create, Outcome::Refused) if here => {
                    r.phantom += 1;
                    r.lost_detail
                        .push(format!("refused street risk region {} is there", op.id));
                }
                (OpKind::Create, Outcome::Unknown | Outcome::InFlight) if here => {
                    r.landed += 1;
                }
                _ => {}
            }
        }
    }

    /// A crashed actor's edits in flight become unknown.
    pub fn crashed(&mut self, actor: &str) {
        for op in &mut self.ops {
            if op.actor == actor && op.outcome == Outcome::InFlight {
                op.outcome = Outcome::Unknown;
            }
        }
        if actor == crate::sim::plan::COORD {
            // An operator's call in flight when the coordinator died.
            for op in &mut self.street {
                if op.outcome == Outcome::InFlight {
                    op.outcome = Outcome::Unknown;
                }
            }
        }
    }

    /// Records a read of the coordinator that started at `read_started`.
    pub fn observe(&mut self, c: &CommunityId, snap: &impl Holds, read_started: Duration) {
        // A record someone tried to remove may rightly be missing.
        let removing: BTreeSet<(Kind, String)> = self
            .ops
            .iter()
            .filter(|o| &o.community == c && o.what == OpKind::Remove)
            .map(|o| (o.kind, o.id.clone()))
            .collect();
        for op in self.ops.iter_mut().filter(|o| &o.community == c) {
            if op.what != OpKind::Create {
                continue;
            }
            if snap.contains(op.kind, &op.id) {
                op.seen = true;
            } else if op.outcome == Outcome::Acked
                && op.acked_at.is_some_and(|t| t < read_started)
                && !removing.contains(&(op.kind, op.id.clone()))
            {
                op.stale = true;
            }
        }
    }

    /// The records `read` holds of `c` that no edit in the oracle ever
    /// tried to create there (not even a refused one, or one of unknown
    /// outcome), as `kind id`.
    pub fn never_written(&self, c: &CommunityId, read: &Present) -> Vec<String> {
        let tried: BTreeSet<(Kind, &str)> = self
            .ops
            .iter()
            .filter(|o| &o.community == c && o.what == OpKind::Create)
            .map(|o| (o.kind, o.id.as_str()))
            .collect();
        read.records
            .iter()
            .filter(|(k, id)| !tried.contains(&(*k, id.as_str())))
            .map(|(k, id)| format!("{k} {id}"))
            .collect()
    }

    /// The street's risk regions in `present` that no operator ever tried
    /// to put.
    pub fn street_never_written<'a>(&self, present: &BTreeSet<&'a str>) -> Vec<&'a str> {
        present
            .iter()
            .filter(|id| !self.street.iter().any(|o| o.id == **id))
            .copied()
            .collect()
    }

    /// Ids removed by an acknowledged removal, or by one of unknown outcome.
    fn removals(&self) -> BTreeMap<(CommunityId, Kind, String), Outcome> {
        let mut out = BTreeMap::new();
        for op in self.ops.iter().filter(|o| o.what == OpKind::Remove) {
            if matches!(op.outcome, Outcome::Acked | Outcome::Unknown) {
                let e = out
                    .entry((op.community.clone(), op.kind, op.id.clone()))
                    .or_insert(op.outcome);
                if op.outcome == Outcome::Acked {
                    *e = Outcome::Acked;
                }
            }
        }
        out
    }

    /// Set-full counts against the final state of every community.
    pub fn set_full<H: Holds>(&self, finals: &BTreeMap<CommunityId, H>) -> SetFull {
        let removals = self.removals();
        let mut r = SetFull::default();
        for op in &self.ops {
            match op.outcome {
                Outcome::Acked => r.acked += 1,
                Outcome::Refused => r.refused += 1,
                Outcome::Unknown | Outcome::InFlight => r.unknown += 1,
            }
            let Some(snap) = finals.get(&op.community) else {
                continue;
            };
            let present = snap.contains(op.kind, &op.id);
            let key = (op.community.clone(), op.kind, op.id.clone());
            match (op.what, op.outcome) {
                (OpKind::Create, Outcome::Acked) => {
                    let removed = removals.contains_key(&key);
                    if !present && !removed {
                        r.lost += 1;
                        r.lost_detail.push(format!(
                            "{} {} {} (by {})",
                            op.community, op.kind, op.id, op.actor
                        ));
                    } else if op.stale {
                        r.stale += 1;
                    }
                }
                (OpKind::Create, Outcome::Refused) if present => {
                    r.phantom += 1;
                    r.lost_detail.push(format!(
                        "{} {} {} was refused yet is there",
                        op.community, op.kind, op.id
                    ));
                }
                (OpKind::Create, Outcome::Unknown | Outcome::InFlight) if !present && !op.seen => {
                    r.never_read += 1;
                }
                (OpKind::Create, Outcome::Unknown | Outcome::InFlight) if present => {
                    r.landed += 1;
                }
                (OpKind::Remove, Outcome::Acked) if present => {
                    r.lost += 1;
                    r.lost_detail.push(format!(
                        "{} {} {} came back after its acknowledged removal",
                        op.community, op.kind, op.id
                    ));
                }
                (OpKind::Resolve, Outcome::Acked) if !snap.resolved(&op.id) => {
                    r.lost += 1;
                    r.lost_detail.push(format!(
                        "{} ticket {} lost its acknowledged resolution",
                        op.community, op.id
                    ));
                }
                _ => {}
            }
        }
        r
    }

    /// The figures a community's rollup must show once quiet, from the
    /// edits alone: acknowledged ones, and those of unknown outcome that the
    /// final read shows landed.
    pub fn expected(&self, c: &CommunityId, fin: &impl Holds) -> Expected {
        let removals = self.removals();
        let landed = |op: &Op| match op.outcome {
            Outcome::Acked => true,
            Outcome::Unknown | Outcome::InFlight => fin.contains(op.kind, &op.id),
            Outcome::Refused => false,
        };
        let live = |op: &Op| {
            let key = (op.community.clone(), op.kind, op.id.clone());
            landed(op)
                && match removals.get(&key) {
                    Some(Outcome::Acked) => false,
                    Some(_) => fin.contains(op.kind, &op.id),
                    None => true,
                }
        };
        let mut households = BTreeSet::new();
        let mut residents = 0;
        let mut visits: Vec<&str> = Vec::new();
        let mut inspections = 0;
        let mut tickets = BTreeSet::new();
        for op in self.ops.iter().filter(|o| &o.community == c) {
            if op.what != OpKind::Create || !live(op) {
                continue;
            }
            match op.kind {
                Kind::Household => {
                    households.insert(op.id.as_str());
                }
                Kind::Resident => residents += 1,
                Kind::ScreeningVisit => visits.push(op.household.as_deref().unwrap_or("")),
                Kind::Inspection => inspections += 1,
                Kind::Ticket => {
                    tickets.insert(op.id.as_str());
                }
                _ => {}
            }
        }
        let resolved = self
            .ops
            .iter()
            .filter(|o| &o.community == c && o.what == OpKind::Resolve)
            .filter(|o| tickets.contains(o.id.as_str()))
            .filter(|o| match o.outcome {
                Outcome::Acked => true,
                Outcome::Unknown | Outcome::InFlight => fin.resolved(&o.id),
                Outcome::Refused => false,
            })
            .map(|o| o.id.as_str())
            .collect::<BTreeSet<_>>()
            .len() as u64;
        let screened = households.iter().filter(|h| visits.contains(h)).count() as u64;
        Expected {
            households: households.len() as u64,
            residents,
            screening_visits: visits.len() as u64,
            households_screened: screened,
            inspections,
            tickets_opened: tickets.len() as u64,
            tickets_resolved: resolved,
            tickets_open: tickets.len() as u64 - resolved,
        }
    }
}

/// The figures the oracle knows without the system's help.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    pub households: u64,
    pub residents: u64,
    pub screening_visits: u64,
    pub households_screened: u64,
    pub inspections: u64,
    pub tickets_opened: u64,
    pub tickets_resolved: u64,
    pub tickets_open: u64,
}

impl Expected {
    /// The same figures as a rollup shows them.
    pub fn of(f: &Figures) -> Expected {
        Expected {
            households: f.households,
            residents: f.residents,
            screening_visits: f.screening_visits,
            households_screened: f.households_screened,
            inspections: f.inspections,
            tickets_opened: f.tickets_opened,
            tickets_resolved: f.tickets_resolved,
            tickets_open: f.tickets_open,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridsync_core::{Household, Ticket, TicketChannel};

    fn c() -> CommunityId {
        CommunityId::parse("c01").unwrap()
    }

    fn household(id: &str) -> Household {
        Household {
            id: id.into(),
            compound_id: "cp".into(),
            building_id: "bd".into(),
            unit: "1".into(),
            door: "101".into(),
            head_name: "户主".into(),
            phone: None,
            contract_group_id: None,
        }
    }

    fn view(households: &[&str]) -> CommunityView {
        let mut v = CommunityView::default();
        for h in households {
            v.households.insert((*h).into(), household(h));
        }
        v
    }

    fn op(o: &mut Oracle, id: &str, what: OpKind, outcome: Outcome, t: u64) -> usize {
        let i = o.begin(
            "c01",
            &c(),
            Kind::Household,
            id,
            what,
            Duration::from_secs(t),
        );
        o.finish(i, outcome, Duration::from_secs(t));
        i
    }

    fn full(o: &Oracle, v: &CommunityView) -> SetFull {
        let finals = BTreeMap::from([(c(), Snapshot { view: v, day: None })]);
        o.set_full(&finals)
    }

    #[test]
    fn an_acknowledged_create_missing_at_the_end_is_lost_and_named() {
        let mut o = Oracle::default();
        op(&mut o, "hh_a", OpKind::Create, Outcome::Acked, 1);
        op(&mut o, "hh_b", OpKind::Create, Outcome::Acked, 1);
        let r = full(&o, &view(&["hh_a"]));
        assert_eq!((r.acked, r.lost), (2, 1));
        assert!(r.lost_detail[0].contains("hh_b"), "{:?}", r.lost_detail);
    }

    #[test]
    fn a_create_missed_by_a_read_after_its_ack_is_stale_not_lost() {
        let mut o = Oracle::default();
        op(&mut o, "hh_a", OpKind::Create, Outcome::Acked, 1);
        // A read that started before the ack does not count; one after does.
        o.observe(
            &c(),
            &Snapshot {
                view: &view(&[]),
                day: None,
            },
            Duration::ZERO,
        );
        assert_eq!(full(&o, &view(&["hh_a"])).stale, 0);
        o.observe(
            &c(),
            &Snapshot {
                view: &view(&[]),
                day: None,
            },
            Duration::from_secs(2),
        );
        let r = full(&o, &view(&["hh_a"]));
        assert_eq!((r.stale, r.lost), (1, 0));
    }

    #[test]
    fn unknown_outcomes_never_seen_are_never_read_and_removals_must_hold() {
        let mut o = Oracle::default();
        let i = o.begin(
            "c01",
            &c(),
            Kind::Household,
            "hh_u",
            OpKind::Create,
            Duration::ZERO,
        );
        o.crashed("c01");
        assert_eq!(o.ops[i].outcome, Outcome::Unknown);
        op(&mut o, "hh_r", OpKind::Create, Outcome::Acked, 1);
        op(&mut o, "hh_r", OpKind::Remove, Outcome::Acked, 2);
        op(&mut o, "hh_x", OpKind::Create, Outcome::Refused, 3);
        let r = full(&o, &view(&[]));
        assert_eq!((r.never_read, r.lost, r.refused), (1, 0, 1));
        // The removed household coming back is a lost acknowledged edit.
        let r = full(&o, &view(&["hh_r"]));
        assert_eq!(r.lost, 1, "{:?}", r.lost_detail);
    }

    #[test]
    fn expected_figures_follow_the_acknowledged_edits_and_what_landed() {
        let mut o = Oracle::default();
        op(&mut o, "hh_a", OpKind::Create, Outcome::Acked, 1);
        op(&mut o, "hh_b", OpKind::Create, Outcome::Acked, 1);
        op(&mut o, "hh_b", OpKind::Remove, Outcome::Acked, 2);
        // Unknown: counted only if the final read shows it landed.
        o.begin(
            "c01",
            &c(),
            Kind::Household,
            "hh_u",
            OpKind::Create,
            Duration::ZERO,
        );
        o.begin(
            "c01",
            &c(),
            Kind::Household,
            "hh_v",
            OpKind::Create,
            Duration::ZERO,
        );
        o.crashed("c01");
        let t = o.begin(
            "ops",
            &c(),
            Kind::Ticket,
            "tk_1",
            OpKind::Create,
            Duration::ZERO,
        );
        o.finish(t, Outcome::Acked, Duration::ZERO);
        let r = o.begin(
            "c01",
            &c(),
            Kind::Ticket,
            "tk_1",
            OpKind::Resolve,
            Duration::ZERO,
        );
        o.finish(r, Outcome::Acked, Duration::ZERO);
        let mut v = view(&["hh_a", "hh_u"]);
        v.tickets.insert(
            "tk_1".into(),
            Ticket {
                id: "tk_1".into(),
                received_at_ms: 0,
                channel: TicketChannel::Hotline,
                category: "x".into(),
                summary: "x".into(),
                caller_phone: None,
                assigned_compound_id: None,
                assigned_staff_id: None,
                resolved_at_ms: Some(1),
                resolution: Some("ok".into()),
            },
        );
        let e = o.expected(
            &c(),
            &Snapshot {
                view: &v,
                day: None,
            },
        );
        assert_eq!(e.households, 2, "hh_a and the unknown hh_u that landed");
        assert_eq!(
            (e.tickets_opened, e.tickets_resolved, e.tickets_open),
            (1, 1, 0)
        );
    }

    fn present(records: &[(Kind, &str)]) -> Present {
        let mut p = Present::default();
        for (k, id) in records {
            p.insert(*k, id);
        }
        p
    }

    #[test]
    fn a_read_without_views_is_checked_the_same_way() {
        let mut o = Oracle::default();
        op(&mut o, "hh_a", OpKind::Create, Outcome::Acked, 1);
        op(&mut o, "hh_b", OpKind::Create, Outcome::Acked, 1);
        for id in ["hh_u", "hh_v"] {
            o.begin(
                "c01",
                &c(),
                Kind::Household,
                id,
                OpKind::Create,
                Duration::ZERO,
            );
        }
        o.crashed("c01");
        // A read after the acks that misses hh_b: stale if it shows up later.
        o.observe(
            &c(),
            &present(&[(Kind::Household, "hh_a")]),
            Duration::from_secs(2),
        );
        let fin = present(&[
            (Kind::Household, "hh_a"),
            (Kind::Household, "hh_b"),
            (Kind::Household, "hh_u"),
        ]);
        let r = o.set_full(&BTreeMap::from([(c(), fin.clone())]));
        assert_eq!(
            (r.acked, r.unknown, r.lost, r.stale, r.never_read, r.landed),
            (2, 2, 0, 1, 1, 1),
            "{r:?}"
        );
        assert_eq!(o.expected(&c(), &fin).households, 3);
        // hh_b missing at the end is lost.
        let fin = present(&[(Kind::Household, "hh_a")]);
        let r = o.set_full(&BTreeMap::from([(c(), fin)]));
        assert_eq!(r.lost, 1, "{r:?}");
        assert!(r.lost_detail[0].contains("hh_b"), "{:?}", r.lost_detail);
    }

    #[test]
    fn records_no_edit_tried_to_create_are_named() {
        let mut o = Oracle::default();
        op(&mut o, "hh_a", OpKind::Create, Outcome::Acked, 1);
        op(&mut o, "hh_r", OpKind::Create, Outcome::Refused, 1);
        let read = present(&[
            (Kind::Household, "hh_a"),
            (Kind::Household, "hh_r"),
            (Kind::Household, "hh_z"),
            (Kind::Ticket, "hh_a"),
        ]);
        assert_eq!(
            o.never_written(&c(), &read),
            vec!["household hh_z".to_string(), "ticket hh_a".to_string()]
        );
        let a = o.begin_street("rr_a", OpKind::Create, Duration::ZERO);
        o.finish_street(a, Outcome::Unknown);
        let street = BTreeSet::from(["rr_a", "rr_z"]);
        assert_eq!(o.street_never_written(&street), vec!["rr_z"]);
        let mut r = SetFull::default();
        o.street_set_full(&street, &mut r);
        assert_eq!((r.unknown, r.landed, r.lost), (1, 1, 0));
    }

    #[test]
    fn a_call_s_answer_says_acked_refused_or_unknown() {
        let ok: Result<(), tonic::Status> = Ok(());
        assert_eq!(Outcome::of(&ok), Outcome::Acked);
        for (code, outcome) in [
            (tonic::Code::InvalidArgument, Outcome::Refused),
            (tonic::Code::AlreadyExists, Outcome::Refused),
            (tonic::Code::Unavailable, Outcome::Unknown),
            (tonic::Code::DeadlineExceeded, Outcome::Unknown),
            (tonic::Code::Cancelled, Outcome::Unknown),
        ] {
            let res: Result<(), _> = Err(tonic::Status::new(code, "x"));
            assert_eq!(Outcome::of(&res), outcome, "{code:?}");
        }
    }

    #[test]
    fn street_edits_are_counted_lost_or_phantom_against_the_final_street() {
        let mut o = Oracle::default();
        let a = o.begin_street("rr_a", OpKind::Create, Duration::ZERO);
        o.finish_street(a, Outcome::Acked);
        let b = o.begin_street("rr_b", OpKind::Create, Duration::ZERO);
        o.finish_street(b, Outcome::Refused);
        let c = o.begin_street("rr_c", OpKind::Create, Duration::ZERO);
        o.finish_street(c, Outcome::Acked);
        let d = o.begin_street("rr_c", OpKind::Remove, Duration::ZERO);
        o.finish_street(d, Outcome::Acked);
        let mut r = SetFull::default();
        o.street_set_full(&BTreeSet::from(["rr_a"]), &mut r);
        assert_eq!((r.lost, r.phantom), (0, 0), "{:?}", r.lost_detail);
        let mut r = SetFull::default();
        o.street_set_full(&BTreeSet::from(["rr_b", "rr_c"]), &mut r);
        // rr_a lost, rr_c came back, rr_b refused yet there.
        assert_eq!((r.lost, r.phantom), (2, 1), "{:?}", r.lost_detail);
    }
}
