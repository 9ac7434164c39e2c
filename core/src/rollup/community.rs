//! One community's rollup: every figure counted once at a leaf (a contract
//! group, or the unplaced part of a level), the tree assembled over the
//! leaves, and its digest.

use super::*;

/// The rollup of one community for `as_of` in `tz`. Never panics, whatever
/// the documents hold.
pub fn community_rollup(input: &CommunityInput<'_>, as_of: Day, tz: Tz) -> CommunityRollup {
    let leaves = Leaves::count(input, as_of, tz);
    let persons = leaves.persons;
    let tree = assemble(input.community_id, input.view, leaves.figures);
    let tz_name = tz.name().to_string();
    CommunityRollup {
        community_id: input.community_id.to_string(),
        as_of,
        digest: digest(input.community_id, as_of, &tz_name, &tree),
        tz: tz_name,
        rollup_version: ROLLUP_VERSION,
        heads: input.heads.clone(),
        tree,
        persons,
    }
}

/// Where a figure is counted: (compound, building, group) ids, `""` for
/// unplaced.
pub(crate) type Place<'a> = (&'a str, &'a str, &'a str);

/// The community's unplaced leaf.
pub(crate) const UNPLACED: Place<'static> = ("", "", "");

/// The figures of every leaf, and where each person was counted.
pub(crate) struct Leaves<'a> {
    figures: BTreeMap<Place<'a>, Figures>,
    persons: Vec<PersonPlace>,
}

impl<'a> Leaves<'a> {
    fn at(&mut self, place: Place<'a>) -> &mut Figures {
        self.figures.entry(place).or_default()
    }

    fn count(input: &CommunityInput<'a>, as_of: Day, tz: Tz) -> Leaves<'a> {
        let v: &'a CommunityView = input.view;
        let on_day = |ms: i64| day_of_instant(ms, tz) == Some(as_of);
        let mut out = Leaves {
            figures: BTreeMap::new(),
            persons: Vec::new(),
        };

        // Where each household, and so each resident, is placed.
        let household_place: HashMap<&'a str, Place<'a>> = v
            .households
            .values()
            .map(|h| {
                let compound = if v.compounds.contains_key(&h.compound_id) {
                    h.compound_id.as_str()
                } else {
                    ""
                };
                let building = match v.buildings.get(&h.building_id) {
                    Some(b) if b.compound_id == h.compound_id => h.building_id.as_str(),
                    _ => "",
                };
                let group = match &h.contract_group_id {
                    Some(g) if v.contract_groups.contains_key(g) => g.as_str(),
                    _ => "",
                };
                (h.id.as_str(), (compound, building, group))
            })
            .collect();
        let of_household = |id: &str| household_place.get(id).copied().unwrap_or(UNPLACED);
        let of_resident = |id: &str| {
            v.residents
                .get(id)
                .map_or(UNPLACED, |r| of_household(&r.household_id))
        };
        let of_compound = |id: Option<&'a String>| match id {
            Some(c) if v.compounds.contains_key(c) => (c.as_str(), "", ""),
            _ => UNPLACED,
        };

        // The day's activity, each record once whichever documents hold it.
        let mut screening = BTreeMap::new();
        let mut care_visits = BTreeMap::new();
        let mut inspections = BTreeMap::new();
        for dv in input.days {
            for (id, x) in &dv.screening_visits {
                screening.entry(id.as_str()).or_insert(x);
            }
            for (id, x) in &dv.care_visits {
                care_visits.entry(id.as_str()).or_insert(x);
            }
            for (id, x) in &dv.inspections {
                inspections.entry(id.as_str()).or_insert(x);
            }
        }
        screening.retain(|_, x| on_day(x.visited_at_ms));
        care_visits.retain(|_, x| on_day(x.visited_at_ms));
        inspections.retain(|_, x| on_day(x.inspected_at_ms));

        let mut screened: BTreeSet<&str> = BTreeSet::new();
        for x in screening.values() {
            if v.households.contains_key(&x.household_id) {
                screened.insert(x.household_id.as_str());
            }
            out.at(of_household(&x.household_id)).screening_visits += 1;
        }
        for x in inspections.values() {
            let f = out.at(of_household(&x.household_id));
            f.inspections += 1;
            if x.knew_member {
                f.inspections_knew_member += 1;
            }
        }
        for x in care_visits.values() {
            let place = v
                .care_relationships
                .get(&x.relationship_id)
                .map_or(UNPLACED, |c| of_resident(&c.resident_id));
            out.at(place).care_visits += 1;
        }

        for h in v.households.values() {
            let f = out.at(of_household(&h.id));
            f.households += 1;
            if h.contract_group_id
                .as_ref()
                .is_some_and(|g| v.contract_groups.contains_key(g))
            {
                f.households_contracted += 1;
            } else {
                f.households_uncontracted += 1;
            }
            if screened.contains(h.id.as_str()) {
                f.households_screened += 1;
            } else {
                f.households_unscreened += 1;
            }
        }

        for r in v.residents.values() {
            let place = of_household(&r.household_id);
            let f = out.at(place);
            f.residents += 1;
            if r.lives_alone
                && r.birth_date
                    .is_some_and(|b| age_on(b.0, as_of) >= ELDERLY_AGE as i32)
            {
                f.elderly_alone += 1;
            }
            if let Some(key) = &r.person_key {
                out.persons.push(PersonPlace {
                    person_key: key.clone(),
                    resident_id: r.id.clone(),
                    path: [place.0.into(), place.1.into(), place.2.into()],
                });
            }
        }
        out.persons.sort();

        let window_start = as_of
            .checked_sub_days(chrono::Days::new(RETURNEE_WINDOW_DAYS - 1))
            .unwrap_or(Day::MIN);
        for r in v.returnees.values() {
            let on = r.returned_on.0;
            if on < window_start || on > as_of {
                continue;
            }
            let f = out.at(of_resident(&r.resident_id));
            match input.street.risk_level_on(&r.from_region, on) {
                Some(RiskLevel::High) => f.returnees_high += 1,
                Some(RiskLevel::Medium) => f.returnees_medium += 1,
                Some(RiskLevel::Low) => f.returnees_low += 1,
                None => f.returnees_none += 1,
            }
        }

        for i in v.isolations.values() {
            if i.start.0 > as_of || i.released_on.is_some_and(|r| r.0 <= as_of) {
                continue;
            }
            let f = out.at(of_resident(&i.resident_id));
            f.isolating += 1;
            if i.planned_end.0 < as_of {
                f.isolations_past_end += 1;
            }
        }

        for c in v.care_relationships.values() {
            if c.since.0 > as_of || c.ended_on.is_some_and(|e| e.0 <= as_of) {
                continue;
            }
            let f = out.at(of_resident(&c.resident_id));
            f.care_relationships += 1;
            if care_overdue(c, as_of) {
                f.care_overdue += 1;
            }
        }

        for t in v.tickets.values() {
            let received = day_of_instant(t.received_at_ms, tz);
            let resolved = t.resolved_at_ms.and_then(|ms| day_of_instant(ms, tz));
            let f = out.at(of_compound(t.assigned_compound_id.as_ref()));
            if received == Some(as_of) {
                f.tickets_opened += 1;
            }
            if received.is_some_and(|d| d <= as_of) && resolved.is_none_or(|d| d > as_of) {
                f.tickets_open += 1;
            }
            if let (Some(at), Some(day)) = (t.resolved_at_ms, resolved)
                && day == as_of
            {
                f.tickets_resolved += 1;
                f.resolve_hours[resolve_bucket(at.saturating_sub(t.received_at_ms))] += 1;
            }
        }

        // A party member: the place of the first household (lowest id) of
        // their first contract group (lowest id) that has one.
        let mut first_household: HashMap<&str, &str> = HashMap::new();
        for h in v.households.values() {
            if let Some(g) = &h.contract_group_id {
                first_household.entry(g.as_str()).or_insert(h.id.as_str());
            }
        }
        let mut groups_of: HashMap<&str, Vec<&str>> = HashMap::new();
        for g in v.contract_groups.values() {
            groups_of
                .entry(g.party_member_id.as_str())
                .or_default()
                .push(g.id.as_str());
        }
        for m in v.party_members.values() {
            let place = groups_of
                .get(m.id.as_str())
                .and_then(|gs| gs.iter().find_map(|g| first_household.get(g)))
                .map_or(UNPLACED, |h| of_household(h));
            out.at(place).party_members += 1;
        }

        for s in v.staff.values() {
            out.at(of_compound(s.grid_compound_id.as_ref())).staff += 1;
        }

        // Gaps: the community's, then the day's activity records that fall
        // on the as-of date (each once, whichever documents hold them).
        for g in v.gaps() {
            let place = match g.kind {
                "household" => of_household(&g.id),
                "resident" => of_resident(&g.id),
                _ => UNPLACED,
            };
            *out.at(place).gaps.entry(gap_key(&g)).or_default() += 1;
        }
        let mut seen: BTreeSet<(&'static str, String, GapReason)> = BTreeSet::new();
        for dv in input.days {
            for g in dv.gaps(v) {
                let (on, place) = match Kind::parse(g.kind) {
                    Some(Kind::ScreeningVisit) => match dv.screening_visits.get(&g.id) {
                        Some(x) => (on_day(x.visited_at_ms), of_household(&x.household_id)),
                        None => (unreadable_on(&g.id, dv.day, as_of), UNPLACED),
                    },
                    Some(Kind::Inspection) => match dv.inspections.get(&g.id) {
                        Some(x) => (on_day(x.inspected_at_ms), of_household(&x.household_id)),
                        None => (unreadable_on(&g.id, dv.day, as_of), UNPLACED),
                    },
                    Some(Kind::CareVisit) => match dv.care_visits.get(&g.id) {
                        Some(x) => (on_day(x.visited_at_ms), UNPLACED),
                        None => (unreadable_on(&g.id, dv.day, as_of), UNPLACED),
                    },
                    _ => (dv.day == as_of, UNPLACED),
                };
                if !on {
                    continue;
                }
                let key = gap_key(&g);
                if seen.insert((g.kind, g.id, g.reason)) {
                    *out.at(place).gaps.entry(key).or_default() += 1;
                }
            }
        }
        out
    }
}

/// Whether an activity record that does not read counts on `as_of`: by the
/// day its id names, else by the day of the document holding it.
pub(crate) fn unreadable_on(id: &str, doc_day: Day, as_of: Day) -> bool {
    day_of_activity_id(id).unwrap_or(doc_day) == as_of
}

/// A care relationship's next visit was due before `as_of`: the rule of
/// [`crate::queries::overdue_care`].
pub(crate) fn care_overdue(c: &CareRelationship, as_of: Day) -> bool {
    let from = c.last_visit.unwrap_or(c.since).0;
    from.checked_add_days(chrono::Days::new(u64::from(c.every_days)))
        .is_some_and(|due| (as_of - due).num_days() > 0)
}

/// The bucket of `resolve_hours` for a time to resolve of `ms`
/// (a negative time goes to the first).
pub(crate) fn resolve_bucket(ms: i64) -> usize {
    RESOLVE_BUCKET_HOURS
        .iter()
        .position(|h| ms < h * 3_600_000)
        .unwrap_or(RESOLVE_BUCKETS - 1)
}

/// `"<kind>.<reason>"`: `household.no_contract_group`,
/// `resident.missing_household`, `ticket.unreadable`.
pub(crate) fn gap_key(g: &Gap) -> String {
    let reason = match &g.reason {
        GapReason::Unreadable(_) => "unreadable".to_string(),
        GapReason::MissingReference { target, .. } => format!("missing_{target}"),
        GapReason::NoContractGroup => "no_contract_group".to_string(),
        GapReason::CompoundMismatch { .. } => "compound_mismatch".to_string(),
    };
    format!("{}.{reason}", g.kind)
}

/// The community's tree from the figures of its leaves: every compound,
/// every building under its (existing) compound, every leaf that holds a
/// figure, and unplaced children only where they hold one.
pub(crate) fn assemble(
    community_id: &str,
    v: &CommunityView,
    leaves: BTreeMap<Place<'_>, Figures>,
) -> Node {
    type Groups<'a> = BTreeMap<&'a str, Figures>;
    let mut nested: BTreeMap<&str, BTreeMap<&str, Groups<'_>>> = BTreeMap::new();
    for c in v.compounds.keys() {
        nested.entry(c.as_str()).or_default();
    }
    for b in v.buildings.values() {
        if v.compounds.contains_key(&b.compound_id) {
            nested
                .entry(b.compound_id.as_str())
                .or_default()
                .entry(b.id.as_str())
                .or_default();
        }
    }
    for ((c, b, g), f) in leaves {
        if !f.is_zero() {
            nested
                .entry(c)
                .or_default()
                .entry(b)
                .or_default()
                .insert(g, f);
        }
    }
    let group_name = |id: &str| {
        let Some(g) = v.contract_groups.get(id) else {
            return String::new();
        };
        let member = v
            .party_members
            .get(&g.party_member_id)
            .map(|m| m.name.as_str());
        match (member, g.name.as_deref().filter(|n| !n.trim().is_empty())) {
            (Some(m), Some(n)) => format!("{m} ({n})"),
            (Some(m), None) => m.to_string(),
            (None, Some(n)) => n.to_string(),
            (None, None) => String::new(),
        }
    };
    let mut compounds = Vec::new();
    for (c, buildings) in nested {
        let mut building_nodes = Vec::new();
        for (b, groups) in buildings {
            let group_nodes = groups
                .into_iter()
                .map(|(g, figures)| Node {
                    level: Level::Group,
                    id: g.to_string(),
                    name: group_name(g),
                    figures,
                    children: Vec::new(),
                })
                .collect();
            let name = v
                .buildings
                .get(b)
                .map(|x| x.name.clone())
                .unwrap_or_default();
            let node = Node::inner(Level::Building, b, name, group_nodes);
            if !(node.is_unplaced() && node.figures.is_zero()) {
                building_nodes.push(node);
            }
        }
        let name = v
            .compounds
            .get(c)
            .map(|x| x.name.clone())
            .unwrap_or_default();
        let node = Node::inner(Level::Compound, c, name, building_nodes);
        if !(node.is_unplaced() && node.figures.is_zero()) {
            compounds.push(node);
        }
    }
    let name = v
        .community
        .as_ref()
        .map(|c| c.name.clone())
        .unwrap_or_default();
    Node::inner(Level::Community, community_id, name, compounds)
}

/// The digest of a community subtree (see the module docs).
pub fn digest(community_id: &str, as_of: Day, tz: &str, tree: &Node) -> String {
    let date = as_of.format("%Y-%m-%d").to_string();
    // Serialising these types cannot fail: every map key is a string.
    let bytes =
        serde_json::to_vec(&(ROLLUP_VERSION, community_id, date, tz, tree)).unwrap_or_default();
    hex::encode(Sha256::digest(&bytes))
}
