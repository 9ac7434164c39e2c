//! Hydrated, read-only views of a community's documents, and the gaps in
//! them.
//!
//! A view is what the documents say right now, read without trusting them:
//! a record that does not hydrate is a gap, a reference to a record that does
//! not exist is a gap, a household with no contract group is a gap. Reading
//! never fails and never panics, whatever concurrent edits left behind.

use std::collections::BTreeMap;

use automerge::AutoCommit;
use serde::Serialize;

use crate::docs::{read_all, read_root};
use crate::ids::Day;
use crate::model::*;
use crate::record::{Kind, Record};

/// Why a record is counted as a gap.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum GapReason {
    /// The record could not be read (wrong field types, say).
    Unreadable(String),
    /// A field names a record that does not exist.
    MissingReference {
        field: &'static str,
        target: &'static str,
        target_id: String,
    },
    /// A household with no contract group (网格不漏户).
    NoContractGroup,
    /// A household whose building belongs to another compound than its own.
    CompoundMismatch { building_compound_id: String },
}

/// A record that the figures cannot place, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Gap {
    pub kind: &'static str,
    pub id: String,
    #[serde(flatten)]
    pub reason: GapReason,
}

impl std::fmt::Display for Gap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.reason {
            GapReason::Unreadable(e) => write!(f, "{} {}: unreadable: {e}", self.kind, self.id),
            GapReason::MissingReference {
                field,
                target,
                target_id,
            } => {
                write!(
                    f,
                    "{} {}: {field} names {target} {target_id:?}, which does not exist",
                    self.kind, self.id
                )
            }
            GapReason::NoContractGroup => write!(f, "{} {}: no contract group", self.kind, self.id),
            GapReason::CompoundMismatch {
                building_compound_id,
            } => write!(
                f,
                "{} {}: its building is in compound {building_compound_id:?}, not its own",
                self.kind, self.id
            ),
        }
    }
}

macro_rules! view_struct {
    ($name:ident { $($field:ident : $ty:ident),* $(,)? }) => {
        impl $name {
            /// The record of `kind` with `id`, if this view holds that kind.
            pub fn get(&self, kind: Kind, id: &str) -> Option<Record> {
                match kind {
                    $(Kind::$ty => self.$field.get(id).cloned().map(Record::$ty),)*
                    #[allow(unreachable_patterns)]
                    _ => None,
                }
            }
            pub fn contains(&self, kind: Kind, id: &str) -> bool {
                match kind {
                    $(Kind::$ty => self.$field.contains_key(id),)*
                    #[allow(unreachable_patterns)]
                    _ => false,
                }
            }
            /// Every record of `kind` in id order.
            pub fn list(&self, kind: Kind) -> Vec<Record> {
                match kind {
                    $(Kind::$ty => self.$field.values().cloned().map(Record::$ty).collect(),)*
                    #[allow(unreachable_patterns)]
                    _ => Vec::new(),
                }
            }
            pub fn count(&self, kind: Kind) -> usize {
                match kind {
                    $(Kind::$ty => self.$field.len(),)*
                    #[allow(unreachable_patterns)]
                    _ => 0,
                }
            }
            /// Re-reads one record from `doc` into the view.
            pub(crate) fn refresh(&mut self, doc: &AutoCommit, kind: Kind, id: &str) {
                match kind {
                    $(Kind::$ty => {
                        self.unreadable.retain(|g| !(g.kind == kind.name() && g.id == id));
                        match crate::docs::read_one::<$ty>(doc, kind.collection(), id) {
                            Ok(Some(mut r)) => { r.id = id.to_string(); self.$field.insert(id.to_string(), r); }
                            Ok(None) => { self.$field.remove(id); }
                            Err(e) => {
                                self.$field.remove(id);
                                self.unreadable.push(Gap { kind: kind.name(), id: id.to_string(), reason: GapReason::Unreadable(e) });
                            }
                        }
                    })*
                    #[allow(unreachable_patterns)]
                    _ => {}
                }
            }
        }
    };
}

/// The registry and cases of one community, hydrated.
#[derive(Clone, Debug, Default)]
pub struct CommunityView {
    pub community: Option<CommunityInfo>,
    pub compounds: BTreeMap<String, Compound>,
    pub buildings: BTreeMap<String, Building>,
    pub contract_groups: BTreeMap<String, ContractGroup>,
    pub households: BTreeMap<String, Household>,
    pub residents: BTreeMap<String, Resident>,
    pub party_members: BTreeMap<String, PartyMember>,
    pub staff: BTreeMap<String, Staff>,
    pub volunteer_teams: BTreeMap<String, VolunteerTeam>,
    pub volunteers: BTreeMap<String, Volunteer>,
    pub isolations: BTreeMap<String, Isolation>,
    pub care_relationships: BTreeMap<String, CareRelationship>,
    pub tickets: BTreeMap<String, Ticket>,
    pub returnees: BTreeMap<String, Returnee>,
    pub notices: BTreeMap<String, Notice>,
    /// Records that could not be read.
    pub unreadable: Vec<Gap>,
}

view_struct!(CommunityView {
    compounds: Compound,
    buildings: Building,
    contract_groups: ContractGroup,
    households: Household,
    residents: Resident,
    party_members: PartyMember,
    staff: Staff,
    volunteer_teams: VolunteerTeam,
    volunteers: Volunteer,
    isolations: Isolation,
    care_relationships: CareRelationship,
    tickets: Ticket,
    returnees: Returnee,
    notices: Notice,
});

impl CommunityView {
    /// Reads the registry and cases documents. Never fails.
    pub fn read(registry: &AutoCommit, cases: &AutoCommit) -> Self {
        let mut g = Vec::new();
        let community = match read_root::<CommunityInfo>(registry, "community") {
            Ok(c) => c,
            Err(e) => {
                g.push(Gap {
                    kind: "community",
                    id: String::new(),
                    reason: GapReason::Unreadable(e),
                });
                None
            }
        };
        macro_rules! rd {
            ($doc:expr, $k:ident) => {
                read_all(&$doc, Kind::$k.name(), Kind::$k.collection(), &mut g)
            };
        }
        let compounds = rd!(registry, Compound);
        let buildings = rd!(registry, Building);
        let contract_groups = rd!(registry, ContractGroup);
        let households = rd!(registry, Household);
        let residents = rd!(registry, Resident);
        let party_members = rd!(registry, PartyMember);
        let staff = rd!(registry, Staff);
        let volunteer_teams = rd!(registry, VolunteerTeam);
        let volunteers = rd!(registry, Volunteer);
        let isolations = rd!(cases, Isolation);
        let mut care_relationships: BTreeMap<String, CareRelationship> =
            rd!(cases, CareRelationship);
        for (id, rel) in care_relationships.iter_mut() {
            settle_last_visit(cases, id, rel);
        }
        let tickets = rd!(cases, Ticket);
        let returnees = rd!(cases, Returnee);
        let notices = rd!(cases, Notice);
        Self {
            community,
            compounds,
            buildings,
            contract_groups,
            households,
            residents,
            party_members,
            staff,
            volunteer_teams,
            volunteers,
            isolations,
            care_relationships,
            tickets,
            returnees,
            notices,
            unreadable: g,
        }
    }

    /// Every gap: unreadable records, references to nothing, households
    /// without a contract group, households whose building is in another
    /// compound. Sorted, so that the same documents give the same list.
    pub fn gaps(&self) -> Vec<Gap> {
        let mut out = self.unreadable.clone();
        let mut missing =
            |kind: Kind, id: &str, field: &'static str, target: Kind, target_id: &str| {
                out.push(gap_ref(kind, id, field, target, target_id))
            };
        for b in self.buildings.values() {
            if !self.compounds.contains_key(&b.compound_id) {
                missing(
                    Kind::Building,
                    &b.id,
                    "compound_id",
                    Kind::Compound,
                    &b.compound_id,
                );
            }
        }
        for g in self.contract_groups.values() {
            if !self.party_members.contains_key(&g.party_member_id) {
                missing(
                    Kind::ContractGroup,
                    &g.id,
                    "party_member_id",
                    Kind::PartyMember,
                    &g.party_member_id,
                );
            }
        }
        // Pushed after the loop: `missing` holds `out` mutably until then.
        let mut structural: Vec<(String, GapReason)> = Vec::new();
        for h in self.households.values() {
            if !self.compounds.contains_key(&h.compound_id) {
                missing(
                    Kind::Household,
                    &h.id,
                    "compound_id",
                    Kind::Compound,
                    &h.compound_id,
                );
            }
            match self.buildings.get(&h.building_id) {
                None => missing(
                    Kind::Household,
                    &h.id,
                    "building_id",
                    Kind::Building,
                    &h.building_id,
                ),
                Some(b) if b.compound_id != h.compound_id => structural.push((
                    h.id.clone(),
                    GapReason::CompoundMismatch {
                        building_compound_id: b.compound_id.clone(),
                    },
                )),
                Some(_) => {}
            }
            match &h.contract_group_id {
                Some(g) if !self.contract_groups.contains_key(g) => missing(
                    Kind::Household,
                    &h.id,
                    "contract_group_id",
                    Kind::ContractGroup,
                    g,
                ),
                Some(_) => {}
                None => structural.push((h.id.clone(), GapReason::NoContractGroup)),
            }
        }
        for r in self.residents.values() {
            if !self.households.contains_key(&r.household_id) {
                missing(
                    Kind::Resident,
                    &r.id,
                    "household_id",
                    Kind::Household,
                    &r.household_id,
                );
            }
        }
        for m in self.party_members.values() {
            if let Some(rid) = &m.resident_id
                && !self.residents.contains_key(rid)
            {
                missing(Kind::PartyMember, &m.id, "resident_id", Kind::Resident, rid);
            }
        }
        for s in self.staff.values() {
            if let Some(c) = &s.grid_compound_id
                && !self.compounds.contains_key(c)
            {
                missing(Kind::Staff, &s.id, "grid_compound_id", Kind::Compound, c);
            }
        }
        for v in self.volunteers.values() {
            if let Some(t) = &v.team_id
                && !self.volunteer_teams.contains_key(t)
            {
                missing(Kind::Volunteer, &v.id, "team_id", Kind::VolunteerTeam, t);
            }
        }
        for i in self.isolations.values() {
            if !self.residents.contains_key(&i.resident_id) {
                missing(
                    Kind::Isolation,
                    &i.id,
                    "resident_id",
                    Kind::Resident,
                    &i.resident_id,
                );
            }
        }
        for c in self.care_relationships.values() {
            if !self.residents.contains_key(&c.resident_id) {
                missing(
                    Kind::CareRelationship,
                    &c.id,
                    "resident_id",
                    Kind::Resident,
                    &c.resident_id,
                );
            }
        }
        for r in self.returnees.values() {
            if !self.residents.contains_key(&r.resident_id) {
                missing(
                    Kind::Returnee,
                    &r.id,
                    "resident_id",
                    Kind::Resident,
                    &r.resident_id,
                );
            }
        }
        for t in self.tickets.values() {
            if let Some(c) = &t.assigned_compound_id
                && !self.compounds.contains_key(c)
            {
                missing(
                    Kind::Ticket,
                    &t.id,
                    "assigned_compound_id",
                    Kind::Compound,
                    c,
                );
            }
            if let Some(s) = &t.assigned_staff_id
                && !self.staff.contains_key(s)
            {
                missing(Kind::Ticket, &t.id, "assigned_staff_id", Kind::Staff, s);
            }
        }
        for n in self.notices.values() {
            if let Some(c) = &n.compound_id
                && !self.compounds.contains_key(c)
            {
                missing(Kind::Notice, &n.id, "compound_id", Kind::Compound, c);
            }
        }
        for (id, reason) in structural {
            out.push(Gap {
                kind: Kind::Household.name(),
                id,
                reason,
            });
        }
        out.sort_by(|a, b| (a.kind, &a.id, &a.reason).cmp(&(b.kind, &b.id, &b.reason)));
        out
    }

    /// Residents of a household, in id order.
    pub fn residents_of<'a>(
        &'a self,
        household_id: &'a str,
    ) -> impl Iterator<Item = &'a Resident> + 'a {
        self.residents
            .values()
            .filter(move |r| r.household_id == household_id)
    }
}

/// A care relationship's `last_visit` only moves forward: after a merge of
/// concurrent visits it is the latest of them, not whichever one won.
pub(crate) fn settle_last_visit(cases: &AutoCommit, id: &str, rel: &mut CareRelationship) {
    if let Some(latest) =
        crate::docs::latest_date_of(cases, Kind::CareRelationship.collection(), id, "last_visit")
        && rel.last_visit.is_none_or(|l| l < latest)
    {
        rel.last_visit = Some(latest);
    }
}

/// One day's activity document, hydrated.
#[derive(Clone, Debug)]
pub struct DayView {
    pub day: Day,
    pub screening_visits: BTreeMap<String, ScreeningVisit>,
    pub care_visits: BTreeMap<String, CareVisit>,
    pub inspections: BTreeMap<String, Inspection>,
    pub unreadable: Vec<Gap>,
}

view_struct!(DayView {
    screening_visits: ScreeningVisit,
    care_visits: CareVisit,
    inspections: Inspection,
});

impl DayView {
    pub fn read(day: Day, doc: &AutoCommit) -> Self {
        let mut g = Vec::new();
        let screening_visits = read_all(
            doc,
            Kind::ScreeningVisit.name(),
            Kind::ScreeningVisit.collection(),
            &mut g,
        );
        let care_visits = read_all(
            doc,
            Kind::CareVisit.name(),
            Kind::CareVisit.collection(),
            &mut g,
        );
        let inspections = read_all(
            doc,
            Kind::Inspection.name(),
            Kind::Inspection.collection(),
            &mut g,
        );
        Self {
            day,
            screening_visits,
            care_visits,
            inspections,
            unreadable: g,
        }
    }

    /// Gaps of this day relative to the community: visits of households or
    /// relationships that do not exist.
    pub fn gaps(&self, community: &CommunityView) -> Vec<Gap> {
        let mut out = self.unreadable.clone();
        for v in self.screening_visits.values() {
            if !community.households.contains_key(&v.household_id) {
                out.push(gap_ref(
                    Kind::ScreeningVisit,
                    &v.id,
                    "household_id",
                    Kind::Household,
                    &v.household_id,
                ));
            }
            for rid in v.residents.keys() {
                if !community.residents.contains_key(rid) {
                    out.push(gap_ref(
                        Kind::ScreeningVisit,
                        &v.id,
                        "residents",
                        Kind::Resident,
                        rid,
                    ));
                }
            }
        }
        for v in self.care_visits.values() {
            if !community
                .care_relationships
                .contains_key(&v.relationship_id)
            {
                out.push(gap_ref(
                    Kind::CareVisit,
                    &v.id,
                    "relationship_id",
                    Kind::CareRelationship,
                    &v.relationship_id,
                ));
            }
        }
        for v in self.inspections.values() {
            if !community.households.contains_key(&v.household_id) {
                out.push(gap_ref(
                    Kind::Inspection,
                    &v.id,
                    "household_id",
                    Kind::Household,
                    &v.household_id,
                ));
            }
        }
        out
    }
}

fn gap_ref(kind: Kind, id: &str, field: &'static str, target: Kind, target_id: &str) -> Gap {
    Gap {
        kind: kind.name(),
        id: id.to_string(),
        reason: GapReason::MissingReference {
            field,
            target: target.name(),
            target_id: target_id.to_string(),
        },
    }
}
