//! The index a roster import matches its rows through.

use std::collections::{BTreeSet, HashMap};

use crate::model::*;
use crate::record::Kind;
use crate::view::CommunityView;

/// The records a roster row is matched against, indexed once per import
/// and kept up to date with every row applied. An index gives candidates
/// (every record that could match, perhaps more); [`plan_row`](super::plan_row) checks each
/// against the view in id order and takes the first that matches, so it
/// finds what a scan of the view in id order would, without the scan.
#[derive(Debug, Default)]
pub struct Lookup {
    pub(super) compounds: HashMap<String, BTreeSet<String>>,
    pub(super) buildings: HashMap<(String, String), BTreeSet<String>>,
    pub(super) members: HashMap<String, BTreeSet<String>>,
    pub(super) groups: HashMap<String, BTreeSet<String>>,
    pub(super) households: HashMap<(String, String, String), BTreeSet<String>>,
    pub(super) residents_by_key: HashMap<String, BTreeSet<String>>,
    pub(super) residents_by_name: HashMap<(String, String), BTreeSet<String>>,
}

pub(super) fn candidates<'a, K: std::hash::Hash + Eq>(
    index: &'a HashMap<K, BTreeSet<String>>,
    key: &K,
) -> impl Iterator<Item = &'a String> {
    index.get(key).into_iter().flatten()
}

impl Lookup {
    /// Every record of the view that a row can match.
    pub fn new(v: &CommunityView) -> Lookup {
        let mut l = Lookup::default();
        for c in v.compounds.values() {
            l.add_compound(c);
        }
        for b in v.buildings.values() {
            l.add_building(b);
        }
        for p in v.party_members.values() {
            l.add_member(p);
        }
        for g in v.contract_groups.values() {
            l.add_group(g);
        }
        for h in v.households.values() {
            l.add_household(h);
        }
        for r in v.residents.values() {
            l.add_resident(r);
        }
        l
    }

    /// The record `kind`/`id` as the view now holds it (after a row was
    /// applied). Keys a record no longer has stay: they are candidates
    /// that the check in [`plan_row`] turns down.
    pub fn update(&mut self, v: &CommunityView, kind: Kind, id: &str) {
        match kind {
            Kind::Compound => v.compounds.get(id).map(|c| self.add_compound(c)),
            Kind::Building => v.buildings.get(id).map(|b| self.add_building(b)),
            Kind::PartyMember => v.party_members.get(id).map(|p| self.add_member(p)),
            Kind::ContractGroup => v.contract_groups.get(id).map(|g| self.add_group(g)),
            Kind::Household => v.households.get(id).map(|h| self.add_household(h)),
            Kind::Resident => v.residents.get(id).map(|r| self.add_resident(r)),
            _ => None,
        };
    }

    fn add_compound(&mut self, c: &Compound) {
        let ids = self.compounds.entry(c.name.clone()).or_default();
        ids.insert(c.id.clone());
    }

    fn add_building(&mut self, b: &Building) {
        let key = (b.compound_id.clone(), b.name.clone());
        self.buildings.entry(key).or_default().insert(b.id.clone());
    }

    fn add_member(&mut self, p: &PartyMember) {
        let ids = self.members.entry(p.name.clone()).or_default();
        ids.insert(p.id.clone());
    }

    fn add_group(&mut self, g: &ContractGroup) {
        let ids = self.groups.entry(g.party_member_id.clone()).or_default();
        ids.insert(g.id.clone());
    }

    fn add_household(&mut self, h: &Household) {
        let key = (h.building_id.clone(), h.unit.clone(), h.door.clone());
        self.households.entry(key).or_default().insert(h.id.clone());
    }

    fn add_resident(&mut self, r: &Resident) {
        if let Some(k) = &r.person_key {
            let ids = self.residents_by_key.entry(k.clone()).or_default();
            ids.insert(r.id.clone());
        }
        let key = (r.household_id.clone(), r.name.clone());
        self.residents_by_name
            .entry(key)
            .or_default()
            .insert(r.id.clone());
    }
}
