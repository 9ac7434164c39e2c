//! The workload: the offices' staff and the street's operators editing,
//! each edit drawn from the actor's seeded generator and logged in the
//! oracle before it is sent.

use std::sync::Arc;

use gridsync_core::{
    Building, Compound, Day, Edit, Household, Inspection, InspectionMethod, Kind, Record,
    ScreeningVisit, Ticket, TicketChannel,
};
use gridsync_node::service::OfficeHandle;
use gridsync_proto::street::v1 as spb;
use gridsync_proto::street::v1::street_client::StreetClient;
use gridsync_svc::ApiError;
use rand::RngExt;
use rand::rngs::StdRng;
use tonic::transport::Channel;

use super::oracle::{OpKind, Outcome, refused};
use super::{OPS, Shared, lock, sim_now};
use crate::now_ms;

/// What an office's workload knows of its community (from acknowledged
/// edits only).
#[derive(Clone, Debug, Default)]
pub(super) struct Desk {
    pub(super) next: u64,
    pub(super) compounds: Vec<String>,
    /// Compounds made without buildings, which the office may remove again.
    pub(super) bare: Vec<String>,
    pub(super) buildings: Vec<(String, String)>,
    pub(super) households: Vec<String>,
    pub(super) tickets: Vec<String>,
}

/// One edit by an office's staff, logged in the oracle before it is sent.
pub(super) async fn office_edit(sh: &Arc<Shared>, c: &'static str, office: &OfficeHandle) {
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

pub(super) fn new_household(
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

pub(super) fn new_resident(id: String, household: String, name: String) -> Record {
    let mut r = crate::street::resident(&household, &name);
    r.set_id(id);
    r
}

pub(super) async fn operator_edit(
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
        let outcome = Outcome::of(&client.dispatch_ticket(req).await);
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
        let outcome = Outcome::of(&client.put_street_record(req).await);
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
        lock(&sh.oracle).finish_street(i, Outcome::of(&res));
    }
}
