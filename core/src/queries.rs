//! The questions an office asks of its community: the tree, one household,
//! today's screening worklist of a contract group, care visits overdue, open
//! tickets. Pure functions of the views; they never fail.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::ids::Day;
use crate::model::*;
use crate::view::{CommunityView, DayView};

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TreeHousehold {
    pub id: String,
    /// "3-201": unit and door.
    pub label: String,
    pub head_name: String,
    pub residents: u32,
}

/// The households of one building contracted to one group (or to none).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TreeGroup {
    /// `None` for households with no contract group (a gap).
    pub contract_group_id: Option<String>,
    pub member_name: Option<String>,
    pub households: Vec<TreeHousehold>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TreeBuilding {
    pub id: String,
    pub name: String,
    pub households: u32,
    pub residents: u32,
    pub groups: Vec<TreeGroup>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TreeCompound {
    pub id: String,
    pub name: String,
    pub households: u32,
    pub residents: u32,
    pub buildings: Vec<TreeBuilding>,
}

/// community → compound → building → contract group → households.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Tree {
    pub community: Option<CommunityInfo>,
    pub households: u32,
    pub residents: u32,
    pub compounds: Vec<TreeCompound>,
    /// Households that the tree cannot place (building or compound missing).
    pub unplaced_households: u32,
}

fn label(h: &Household) -> String {
    if h.unit.is_empty() {
        h.door.clone()
    } else {
        format!("{}-{}", h.unit, h.door)
    }
}

/// The tree of the community, compounds and buildings in name order. Households whose building or compound is
/// missing are counted in `unplaced_households` rather than dropped silently.
pub fn tree(v: &CommunityView) -> Tree {
    let mut residents_per_household: BTreeMap<&str, u32> = BTreeMap::new();
    for r in v.residents.values() {
        *residents_per_household
            .entry(r.household_id.as_str())
            .or_default() += 1;
    }
    // building id -> group key -> households
    let mut by_building: BTreeMap<&str, BTreeMap<Option<&str>, Vec<&Household>>> = BTreeMap::new();
    let mut unplaced = 0;
    for h in v.households.values() {
        match v.buildings.get(&h.building_id) {
            Some(b)
                if b.compound_id == h.compound_id && v.compounds.contains_key(&b.compound_id) =>
            {
                by_building
                    .entry(h.building_id.as_str())
                    .or_default()
                    .entry(
                        h.contract_group_id
                            .as_deref()
                            .filter(|g| v.contract_groups.contains_key(*g)),
                    )
                    .or_default()
                    .push(h);
            }
            _ => unplaced += 1,
        }
    }
    let member_name = |g: &str| {
        v.contract_groups
            .get(g)
            .and_then(|g| v.party_members.get(&g.party_member_id))
            .map(|m| m.name.clone())
    };
    let mut compounds = Vec::new();
    let (mut total_h, mut total_r) = (0, 0);
    let mut compound_list: Vec<&Compound> = v.compounds.values().collect();
    compound_list.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
    let mut building_list: Vec<&Building> = v.buildings.values().collect();
    building_list.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
    for c in compound_list {
        let mut buildings = Vec::new();
        let (mut ch, mut cr) = (0, 0);
        for b in building_list.iter().filter(|b| b.compound_id == c.id) {
            let mut groups = Vec::new();
            let (mut bh, mut br) = (0, 0);
            if let Some(gs) = by_building.get(b.id.as_str()) {
                for (g, hs) in gs {
                    let households: Vec<TreeHousehold> = hs
                        .iter()
                        .map(|h| {
                            let n = residents_per_household
                                .get(h.id.as_str())
                                .copied()
                                .unwrap_or(0);
                            bh += 1;
                            br += n;
                            TreeHousehold {
                                id: h.id.clone(),
                                label: label(h),
                                head_name: h.head_name.clone(),
                                residents: n,
                            }
                        })
                        .collect();
                    groups.push(TreeGroup {
                        contract_group_id: g.map(str::to_string),
                        member_name: g.and_then(member_name),
                        households,
                    });
                }
            }
            ch += bh;
            cr += br;
            buildings.push(TreeBuilding {
                id: b.id.clone(),
                name: b.name.clone(),
                households: bh,
                residents: br,
                groups,
            });
        }
        total_h += ch;
        total_r += cr;
        compounds.push(TreeCompound {
            id: c.id.clone(),
            name: c.name.clone(),
            households: ch,
            residents: cr,
            buildings,
        });
    }
    Tree {
        community: v.community.clone(),
        households: total_h,
        residents: total_r,
        compounds,
        unplaced_households: unplaced,
    }
}

/// One household with its residents and its contracting member.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct HouseholdDetail {
    pub household: Household,
    pub residents: Vec<Resident>,
    pub compound_name: Option<String>,
    pub building_name: Option<String>,
    pub member: Option<PartyMember>,
}

pub fn household(v: &CommunityView, id: &str) -> Option<HouseholdDetail> {
    let h = v.households.get(id)?.clone();
    let member = h
        .contract_group_id
        .as_ref()
        .and_then(|g| v.contract_groups.get(g))
        .and_then(|g| v.party_members.get(&g.party_member_id))
        .cloned();
    Some(HouseholdDetail {
        residents: v.residents_of(id).cloned().collect(),
        compound_name: v.compounds.get(&h.compound_id).map(|c| c.name.clone()),
        building_name: v.buildings.get(&h.building_id).map(|b| b.name.clone()),
        member,
        household: h,
    })
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct WorkItem {
    pub household_id: String,
    pub label: String,
    pub building_name: String,
    pub head_name: String,
    pub residents: u32,
    /// The visits of the day, if it was screened.
    pub visit_ids: Vec<String>,
}

/// A contract group's households for a day, screened or not.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Worklist {
    pub contract_group_id: String,
    pub day: Day,
    pub items: Vec<WorkItem>,
    pub screened: u32,
}

/// The screening worklist of a contract group on `day`. `day_view` is the
/// day's activity (none if nothing was recorded that day).
pub fn worklist(
    v: &CommunityView,
    group_id: &str,
    day: Day,
    day_view: Option<&DayView>,
) -> Option<Worklist> {
    v.contract_groups.get(group_id)?;
    let mut visits: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    if let Some(dv) = day_view {
        for s in dv.screening_visits.values() {
            visits
                .entry(s.household_id.as_str())
                .or_default()
                .push(s.id.clone());
        }
    }
    let mut items: Vec<WorkItem> = v
        .households
        .values()
        .filter(|h| h.contract_group_id.as_deref() == Some(group_id))
        .map(|h| WorkItem {
            household_id: h.id.clone(),
            label: label(h),
            building_name: v
                .buildings
                .get(&h.building_id)
                .map(|b| b.name.clone())
                .unwrap_or_default(),
            head_name: h.head_name.clone(),
            residents: v.residents_of(&h.id).count() as u32,
            visit_ids: visits.get(h.id.as_str()).cloned().unwrap_or_default(),
        })
        .collect();
    items.sort_by(|a, b| (&a.building_name, &a.label).cmp(&(&b.building_name, &b.label)));
    let screened = items.iter().filter(|i| !i.visit_ids.is_empty()).count() as u32;
    Some(Worklist {
        contract_group_id: group_id.to_string(),
        day,
        items,
        screened,
    })
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct OverdueCare {
    pub relationship: CareRelationship,
    pub resident_name: Option<String>,
    /// The day the next visit was due.
    pub due_on: Day,
    pub days_overdue: i64,
}

/// Care relationships whose next visit was due before `as_of`: the last
/// visit (or the start) plus `every_days`. Ended relationships are skipped.
pub fn overdue_care(v: &CommunityView, as_of: Day) -> Vec<OverdueCare> {
    let mut out: Vec<OverdueCare> = v
        .care_relationships
        .values()
        .filter(|c| c.ended_on.is_none_or(|e| e.0 > as_of) && c.since.0 <= as_of)
        .filter_map(|c| {
            let from = c.last_visit.unwrap_or(c.since).0;
            let due_on = from.checked_add_days(chrono::Days::new(c.every_days as u64))?;
            let days_overdue = (as_of - due_on).num_days();
            (days_overdue > 0).then(|| OverdueCare {
                resident_name: v.residents.get(&c.resident_id).map(|r| r.name.clone()),
                relationship: c.clone(),
                due_on,
                days_overdue,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.days_overdue
            .cmp(&a.days_overdue)
            .then(a.relationship.id.cmp(&b.relationship.id))
    });
    out
}

/// Tickets not yet resolved, oldest first, with their age at `now_ms`.
pub fn open_tickets(v: &CommunityView, now_ms: i64) -> Vec<(Ticket, i64)> {
    let mut out: Vec<(Ticket, i64)> = v
        .tickets
        .values()
        .filter(|t| t.resolved_at_ms.is_none())
        .map(|t| (t.clone(), (now_ms - t.received_at_ms).max(0)))
        .collect();
    out.sort_by(|a, b| {
        a.0.received_at_ms
            .cmp(&b.0.received_at_ms)
            .then(a.0.id.cmp(&b.0.id))
    });
    out
}
