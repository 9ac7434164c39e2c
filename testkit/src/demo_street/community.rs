//! One community: its registry, cases and days of work.

use super::*;

// ---- one community ----

pub(crate) struct HouseholdGen {
    pub(crate) id: String,
    pub(crate) compound: usize,
    pub(crate) phone: Option<String>,
    /// The contracting member (an index into `Community::members`), if the
    /// household has a contract group.
    pub(crate) member: Option<usize>,
    pub(crate) residents: Vec<usize>,
}

pub(crate) struct CareGen {
    pub(crate) rel: CareRelationship,
    /// From this day on nobody visits (the overdue ones).
    pub(crate) neglected_from: Option<Day>,
}

/// What the day loop needs of a community, built with its registry.
pub(crate) struct Community {
    pub(crate) households: Vec<HouseholdGen>,
    pub(crate) resident_ids: Vec<String>,
    /// Whether the resident has already returned from elsewhere this month.
    pub(crate) returned: Vec<bool>,
    pub(crate) members: Vec<String>,
    pub(crate) compounds: Vec<String>,
    pub(crate) workers: Vec<Vec<(String, String)>>,
    pub(crate) volunteers: Vec<Vec<String>>,
    pub(crate) inspectors: Vec<String>,
    pub(crate) care: Vec<CareGen>,
}

/// Generates one community, handing over each document once it is
/// complete: the registry, then each day in order, then the cases.
pub(crate) fn build_community(
    spec: &StreetSpec,
    plan: &StreetPlan,
    index: usize,
    emit: &mut dyn FnMut(Built) -> Result<(), DemoStreetError>,
) -> Result<DemoCommunityInfo, DemoStreetError> {
    let def = &COMMUNITIES[index];
    let cid = community_id(def);
    let mut rng = StdRng::seed_from_u64(stream_seed(spec.seed, index as u64 + 1));
    let actor = ActorId::from(&rng.random::<[u8; 16]>()[..]);
    let mut counts = Counts::default();

    let mut registry = DocBuilder::new(&DocId::Registry(cid.clone()), actor.clone());
    let mut c = build_registry(spec, plan, index, &mut rng, &mut registry, &mut counts)?;
    emit(registry.finish(spec))?;

    let mut cases = DocBuilder::new(&DocId::Cases(cid.clone()), actor.clone());
    let mut day = spec.first_day();
    while day <= spec.as_of {
        let id = DocId::Activity(cid.clone(), day);
        let mut doc = DocBuilder::new(&id, actor.clone());
        build_day(
            spec,
            plan,
            &mut rng,
            &mut c,
            day,
            &mut doc,
            &mut cases,
            &mut counts,
        )?;
        emit(doc.finish(spec))?;
        counts.activity_days += 1;
        day = day + Days::new(1);
    }
    finish_cases(spec, &mut rng, &c, &mut cases, &mut counts)?;
    emit(cases.finish(spec))?;

    Ok(DemoCommunityInfo {
        id: cid,
        name: def.name.to_string(),
        kind: def.kind,
        compounds: counts.compounds as usize,
        households: counts.households as usize,
        residents: counts.residents as usize,
        counts,
    })
}

pub(crate) const ORDINALS: &[&str] = &["一", "二", "三", "四", "五", "六", "七", "八", "九", "十"];

/// Writes a record into its collection: `put!(doc, Kind::Household, rec)`.
macro_rules! put {
    ($doc:expr, $kind:expr, $rec:expr) => {
        $doc.put($kind.collection(), &$rec.id, &$rec)?
    };
}

pub(crate) fn build_registry(
    spec: &StreetSpec,
    plan: &StreetPlan,
    index: usize,
    rng: &mut StdRng,
    doc: &mut DocBuilder,
    counts: &mut Counts,
) -> Result<Community, DemoStreetError> {
    let def = &COMMUNITIES[index];
    let as_of = spec.as_of;
    doc.put_root(
        "community",
        &CommunityInfo {
            id: def.id.to_string(),
            name: def.name.to_string(),
            kind: def.kind,
        },
    )?;

    // Compounds (L3).
    let mut compounds = Vec::with_capacity(def.compounds);
    let mut number = rng.random_range(5..30);
    for k in 0..def.compounds {
        let (name, address) = match def.kind {
            CommunityKind::Community => {
                number += rng.random_range(2..12);
                (
                    format!("{}{number}号院", def.place),
                    format!("郑州市中原区{}{number}号", def.place),
                )
            }
            CommunityKind::Village => (
                format!("{}第{}村民组", def.place, ORDINALS[k % ORDINALS.len()]),
                format!("郑州市中原区{}", def.place),
            ),
        };
        let rec = Compound {
            id: new_id(rng, Kind::Compound),
            name,
            address: Some(address),
        };
        put!(doc, Kind::Compound, rec);
        compounds.push(rec.id);
    }
    counts.compounds = compounds.len() as u64;

    // Staff: a grid chief, two grid workers per compound, sent-down staff
    // for every other compound, a seconded cadre.
    let mut staff = Vec::new();
    let mut workers: Vec<Vec<(String, String)>> = vec![Vec::new(); compounds.len()];
    let mut inspectors = Vec::new();
    let mut add_staff = |rng: &mut StdRng,
                         role: StaffRole,
                         grid: Option<usize>,
                         dept: Option<String>| {
        let (term_start, term_end) = if role == StaffRole::SecondedCadre {
            let from = as_of - Days::new(rng.random_range(30..300));
            (Some(Date(from)), Some(Date(from + Days::new(365))))
        } else {
            (None, None)
        };
        let rec = Staff {
            id: new_id(rng, Kind::Staff),
            name: any_name(rng),
            role,
            phone: Some(mobile(rng)),
            grid_compound_id: grid.map(|g| compounds[g].clone()),
            department: dept,
            term_start,
            term_end,
        };
        match (role, grid) {
            (StaffRole::GridWorker, Some(g)) => workers[g].push((rec.id.clone(), rec.name.clone())),
            _ => inspectors.push(rec.name.clone()),
        }
        staff.push(rec);
    };
    add_staff(rng, StaffRole::GridChief, None, None);
    for g in 0..compounds.len() {
        add_staff(rng, StaffRole::GridWorker, Some(g), None);
        add_staff(rng, StaffRole::GridWorker, Some(g), None);
        if g % 2 == 0 {
            let dept = pick(rng, DEPARTMENTS).to_string();
            add_staff(rng, StaffRole::SentDown, Some(g), Some(dept));
        }
    }
    let university = pick(rng, UNIVERSITIES);
    add_staff(
        rng,
        StaffRole::SecondedCadre,
        None,
        Some(format!("{university}（挂职）")),
    );
    for s in &staff {
        put!(doc, Kind::Staff, s);
    }
    counts.staff = staff.len() as u64;

    // Volunteer teams (11 in the street) and their volunteers.
    let first_team: usize = COMMUNITIES[..index].iter().map(|d| d.volunteer_teams).sum();
    let mut volunteers: Vec<Vec<String>> = vec![Vec::new(); compounds.len()];
    for t in 0..def.volunteer_teams {
        let team = VolunteerTeam {
            id: new_id(rng, Kind::VolunteerTeam),
            name: TEAM_NAMES[(first_team + t) % TEAM_NAMES.len()].to_string(),
            leader: Some(any_name(rng)),
        };
        put!(doc, Kind::VolunteerTeam, team);
        counts.volunteer_teams += 1;
        for k in 0..rng.random_range(12..25) {
            let v = Volunteer {
                id: new_id(rng, Kind::Volunteer),
                name: any_name(rng),
                team_id: Some(team.id.clone()),
                phone: Some(mobile(rng)),
                post: rng.random_bool(0.6).then(|| pick(rng, POSTS).to_string()),
            };
            put!(doc, Kind::Volunteer, v);
            volunteers[k % compounds.len()].push(v.name);
            counts.volunteers += 1;
        }
    }

    // Households per compound, a few deliberately without a contract group,
    // and where the persons registered twice live.
    let total = spec.households_per_community;
    let weights: Vec<f64> = (0..compounds.len())
        .map(|_| rng.random_range(0.8..1.2))
        .collect();
    let wsum: f64 = weights.iter().sum();
    let mut per_compound: Vec<usize> = weights
        .iter()
        .map(|w| ((w / wsum) * total as f64) as usize)
        .collect();
    let assigned: usize = per_compound.iter().sum();
    if let Some(last) = per_compound.last_mut() {
        *last += total - assigned;
    }
    let gap_count = ((total as f64 * 0.003).round() as usize).max(1);
    let mut gaps = HashSet::new();
    while gaps.len() < gap_count {
        gaps.insert(rng.random_range(0..total));
    }
    let mut twice: BTreeMap<usize, Vec<&DuplicatePerson>> = BTreeMap::new();
    for d in &plan.duplicates {
        for (c, frac) in d.places {
            if c == index {
                let h = ((frac * total as f64) as usize).min(total - 1);
                twice.entry(h).or_default().push(d);
            }
        }
    }
    let block = (index as u32 * 12)..(index as u32 * 12 + 12);
    let mut used_numbers = HashSet::new();

    let mut c = Community {
        households: Vec::with_capacity(total),
        resident_ids: Vec::with_capacity(total * 3),
        returned: Vec::new(),
        members: Vec::new(),
        compounds,
        workers,
        volunteers,
        inspectors,
        care: Vec::new(),
    };
    // Per resident, for choosing party members: name, age, phone.
    let mut people: Vec<(String, u32, Option<String>)> = Vec::with_capacity(total * 3);

    let mut h_index = 0;
    for (ci, &n_h) in per_compound.iter().enumerate() {
        let compound_id = c.compounds[ci].clone();
        let n_b = n_h.div_ceil(24).max(1);
        for b in 0..n_b {
            let in_building = n_h / n_b + usize::from(b < n_h % n_b);
            if in_building == 0 {
                continue;
            }
            let building = Building {
                id: new_id(rng, Kind::Building),
                compound_id: compound_id.clone(),
                name: match def.kind {
                    CommunityKind::Community => format!("{}号楼", b + 1),
                    CommunityKind::Village => format!("第{}排", b + 1),
                },
            };
            put!(doc, Kind::Building, building);
            counts.buildings += 1;
            // Groups of ten households on average: ⌊n/10⌋ or ⌈n/10⌉ of them.
            let n_g = (in_building / 10
                + usize::from(rng.random_bool((in_building % 10) as f64 / 10.0)))
            .max(1);
            let mut j = 0;
            for g in 0..n_g {
                let in_group = in_building / n_g + usize::from(g < in_building % n_g);
                let group_id = new_id(rng, Kind::ContractGroup);
                let member_index = c.members.len();
                let first_hh = c.households.len();
                for _ in 0..in_group {
                    let gap = gaps.contains(&h_index);
                    let extra = twice.get(&h_index).map(Vec::as_slice).unwrap_or(&[]);
                    let hh_id = new_id(rng, Kind::Household);
                    let phone = if rng.random_bool(0.95) {
                        Some(mobile(rng))
                    } else {
                        Some(format!("0371-6{:07}", rng.random_range(0..10_000_000)))
                    };
                    let (unit, door) = match def.kind {
                        CommunityKind::Community => (
                            format!("{}", j / 12 + 1),
                            format!("{}{:02}", (j % 12) / 2 + 1, j % 2 + 1),
                        ),
                        CommunityKind::Village => (String::new(), format!("{}", j + 1)),
                    };
                    let residents = make_residents(
                        rng,
                        plan,
                        as_of,
                        &hh_id,
                        extra,
                        &block,
                        &mut used_numbers,
                        doc,
                        &mut c,
                        &mut people,
                        ci,
                        counts,
                    )?;
                    let head_name = people[residents[0]].0.clone();
                    let rec = Household {
                        id: hh_id.clone(),
                        compound_id: compound_id.clone(),
                        building_id: building.id.clone(),
                        unit,
                        door,
                        head_name,
                        phone: phone.clone(),
                        contract_group_id: (!gap).then(|| group_id.clone()),
                    };
                    put!(doc, Kind::Household, rec);
                    counts.households += 1;
                    counts.households_without_group += u64::from(gap);
                    c.households.push(HouseholdGen {
                        id: hh_id,
                        compound: ci,
                        phone,
                        member: (!gap).then_some(member_index),
                        residents,
                    });
                    j += 1;
                    h_index += 1;
                }
                // The contracting party member: a resident of one of the
                // group's households, or someone in service elsewhere.
                let roll = rng.random_range(0..100);
                // About 300 in-service members in the street (DOMAIN.md).
                let mut kind = match roll {
                    0..56 => PartyMemberKind::SelfManaged,
                    56..86 => PartyMemberKind::ResidentBased,
                    _ => PartyMemberKind::InService,
                };
                let lives_here = match kind {
                    PartyMemberKind::SelfManaged => true,
                    PartyMemberKind::ResidentBased => rng.random_bool(0.5),
                    PartyMemberKind::InService => rng.random_bool(0.4),
                };
                let group_hh = &c.households[first_hh..];
                let resident = lives_here
                    .then(|| {
                        let start = rng.random_range(0..group_hh.len());
                        (0..group_hh.len())
                            .map(|k| group_hh[(start + k) % group_hh.len()].residents[0])
                            .find(|&r| (22..=75).contains(&people[r].1))
                    })
                    .flatten();
                if resident.is_none() && kind == PartyMemberKind::SelfManaged {
                    kind = PartyMemberKind::InService;
                }
                let (name, phone) = match resident {
                    Some(r) => (
                        people[r].0.clone(),
                        people[r].2.clone().or_else(|| Some(mobile(rng))),
                    ),
                    None => (any_name(rng), Some(mobile(rng))),
                };
                let member = PartyMember {
                    id: new_id(rng, Kind::PartyMember),
                    name,
                    kind,
                    phone,
                    resident_id: resident.map(|r| c.resident_ids[r].clone()),
                    workplace: match kind {
                        PartyMemberKind::SelfManaged => None,
                        PartyMemberKind::ResidentBased => Some(pick(rng, STATIONED_UNITS).into()),
                        PartyMemberKind::InService => Some(pick(rng, WORKPLACES).into()),
                    },
                };
                put!(doc, Kind::PartyMember, member);
                counts.party_members += 1;
                counts.party_members_in_service += u64::from(kind == PartyMemberKind::InService);
                let group = ContractGroup {
                    id: group_id,
                    party_member_id: member.id,
                    name: Some(format!("{}第{}联包组", building.name, g + 1)),
                };
                put!(doc, Kind::ContractGroup, group);
                counts.contract_groups += 1;
                c.members.push(member.name);
            }
        }
    }
    c.returned = vec![false; c.resident_ids.len()];
    counts.residents = c.resident_ids.len() as u64;
    Ok(c)
}

/// The residents of one household (and, for an elderly person living
/// alone, their care relationship); returns their indices.
#[allow(clippy::too_many_arguments)]
pub(crate) fn make_residents(
    rng: &mut StdRng,
    plan: &StreetPlan,
    as_of: Day,
    household_id: &str,
    registered_twice: &[&DuplicatePerson],
    block: &std::ops::Range<u32>,
    used_numbers: &mut HashSet<String>,
    doc: &mut DocBuilder,
    c: &mut Community,
    people: &mut Vec<(String, u32, Option<String>)>,
    compound: usize,
    counts: &mut Counts,
) -> Result<Vec<usize>, DemoStreetError> {
    let elderly_alone = registered_twice.is_empty() && rng.random_bool(0.09);
    let size = if elderly_alone {
        1
    } else {
        let n = [1, 2, 3, 3, 3, 3, 4, 4, 4, 5][rng.random_range(0..10)];
        if registered_twice.is_empty() {
            n
        } else {
            n.max(2)
        }
    };
    let head_age: u32 = if elderly_alone {
        rng.random_range(70..=92)
    } else if size == 1 {
        rng.random_range(22..=59)
    } else {
        rng.random_range(25..=85)
    };
    let head_gender = if rng.random_bool(0.5) {
        Gender::Male
    } else {
        Gender::Female
    };
    let head_name = person_name(rng, head_gender);
    let surname: String = head_name.chars().take(1).collect();
    let mut out = Vec::with_capacity(size + registered_twice.len());
    for r in 0..size {
        let (age, gender, relation, name) = if r == 0 {
            (head_age, head_gender, "本人", head_name.clone())
        } else if r == 1 {
            let g = match head_gender {
                Gender::Male => Gender::Female,
                Gender::Female => Gender::Male,
            };
            let age = (head_age + rng.random_range(0..9))
                .saturating_sub(4)
                .clamp(20, 95);
            (age, g, "配偶", person_name(rng, g))
        } else {
            let g = if rng.random_bool(0.5) {
                Gender::Male
            } else {
                Gender::Female
            };
            let given = pick(
                rng,
                match g {
                    Gender::Male => GIVEN_MALE,
                    Gender::Female => GIVEN_FEMALE,
                },
            );
            if head_age >= 60 && r >= 3 && rng.random_bool(0.5) {
                (
                    rng.random_range(0..=15),
                    g,
                    "孙子女",
                    format!("{surname}{given}"),
                )
            } else if head_age <= 50 && r == 4 && rng.random_bool(0.5) {
                let age = (head_age + rng.random_range(22..=30)).min(95);
                (age, g, "父母", person_name(rng, g))
            } else {
                let age = head_age.saturating_sub(rng.random_range(22..=34));
                (age, g, "子女", format!("{surname}{given}"))
            }
        };
        let birth = birth_date(rng, as_of, age);
        let number = id_number(rng, birth, gender, block.clone(), used_numbers);
        let phone =
            (r > 0 && (16..=75).contains(&age) && rng.random_bool(0.5)).then(|| mobile(rng));
        let rec = Resident {
            id: new_id(rng, Kind::Resident),
            household_id: household_id.to_string(),
            name,
            person_key: Some(
                PersonKey::derive(&plan.secret, &number)
                    .as_str()
                    .to_string(),
            ),
            id_number: Some(number),
            gender: Some(gender),
            birth_date: Some(Date(birth)),
            phone: phone.clone(),
            relation: Some(relation.to_string()),
            lives_alone: size == 1,
        };
        put!(doc, Kind::Resident, rec);
        if elderly_alone {
            counts.elderly_alone += 1;
            let visitor = if rng.random_bool(0.7) || c.volunteers[compound].is_empty() {
                let w = &c.workers[compound];
                w[rng.random_range(0..w.len())].1.clone()
            } else {
                let v = &c.volunteers[compound];
                v[rng.random_range(0..v.len())].clone()
            };
            let since = as_of - Days::new(rng.random_range(40..400));
            let neglected_from = rng
                .random_bool(0.08)
                .then(|| as_of - Days::new(rng.random_range(2..=5)));
            c.care.push(CareGen {
                rel: CareRelationship {
                    id: new_id(rng, Kind::CareRelationship),
                    resident_id: rec.id.clone(),
                    visitor,
                    every_days: 2,
                    since: Date(since),
                    last_visit: None,
                    ended_on: None,
                },
                neglected_from,
            });
        }
        out.push(c.resident_ids.len());
        c.resident_ids.push(rec.id);
        people.push((rec.name, age, phone));
    }
    for d in registered_twice {
        let rec = Resident {
            id: new_id(rng, Kind::Resident),
            household_id: household_id.to_string(),
            name: d.name.clone(),
            person_key: Some(
                PersonKey::derive(&plan.secret, &d.id_number)
                    .as_str()
                    .to_string(),
            ),
            id_number: Some(d.id_number.clone()),
            gender: Some(d.gender),
            birth_date: Some(Date(d.birth)),
            phone: None,
            relation: Some("其他".into()),
            lives_alone: false,
        };
        put!(doc, Kind::Resident, rec);
        out.push(c.resident_ids.len());
        c.resident_ids.push(rec.id);
        people.push((rec.name, 0, None));
    }
    Ok(out)
}

/// One day of work: screening visits, care visits and inspections into the
/// day's document; returnees, isolations and tickets into the cases.
#[allow(clippy::too_many_arguments)]
pub(crate) fn build_day(
    spec: &StreetSpec,
    plan: &StreetPlan,
    rng: &mut StdRng,
    c: &mut Community,
    day: Day,
    doc: &mut DocBuilder,
    cases: &mut DocBuilder,
    counts: &mut Counts,
) -> Result<(), DemoStreetError> {
    let start = day_start_ms(day);
    let today = day == spec.as_of;
    let lo = start + 8 * HOUR_MS;
    let hi = if today {
        (start + 20 * HOUR_MS).min(spec.now_ms)
    } else {
        start + 20 * HOUR_MS
    };
    let open = hi > lo;
    let screen_p = if today { 0.60 } else { 0.93 };

    if open {
        for h in 0..c.households.len() {
            if !rng.random_bool(screen_p) {
                continue;
            }
            let hh = &c.households[h];
            let visit_id = activity_id(rng, Kind::ScreeningVisit, day);
            // The contracting member mostly, else a grid worker or a volunteer.
            let roll = rng.random_range(0..100);
            let visitor = match hh.member {
                Some(m) if roll < 65 => c.members[m].clone(),
                _ if roll < 90 || c.volunteers[hh.compound].is_empty() => {
                    let w = &c.workers[hh.compound];
                    w[rng.random_range(0..w.len())].1.clone()
                }
                _ => {
                    let v = &c.volunteers[hh.compound];
                    v[rng.random_range(0..v.len())].clone()
                }
            };
            let returnee_slot = rng
                .random_bool(0.0035)
                .then(|| rng.random_range(0..hh.residents.len()));
            let mut residents = BTreeMap::new();
            let mut notes = None;
            for (k, &r) in hh.residents.iter().enumerate() {
                let rid = &c.resident_ids[r];
                let entry = if returnee_slot == Some(k) && !c.returned[r] {
                    c.returned[r] = true;
                    let on = day - Days::new(rng.random_range(0..=1));
                    let origin = origin(rng, plan);
                    let returnee = Returnee {
                        id: returnee_id(rid, on),
                        resident_id: rid.clone(),
                        returned_on: Date(on),
                        from_region: origin.clone(),
                        visit_id: Some(visit_id.clone()),
                    };
                    put!(cases, Kind::Returnee, returnee);
                    counts.returnees += 1;
                    if let Some(level @ (RiskLevel::High | RiskLevel::Medium)) =
                        plan.risk_on(&origin, on)
                    {
                        isolate(spec, rng, cases, rid, on, &origin, level, counts)?;
                    }
                    notes = Some(format!("{origin}返回人员已登记"));
                    ScreeningEntry {
                        status: ScreeningStatus::Returned,
                        returned_from: Some(origin),
                        returned_on: Some(Date(on)),
                    }
                } else {
                    let away = rng.random_bool(0.03);
                    ScreeningEntry {
                        status: if away {
                            ScreeningStatus::Away
                        } else {
                            ScreeningStatus::Present
                        },
                        returned_from: None,
                        returned_on: None,
                    }
                };
                residents.insert(rid.clone(), entry);
            }
            let visit = ScreeningVisit {
                id: visit_id,
                household_id: hh.id.clone(),
                visited_at_ms: rng.random_range(lo..hi),
                visitor,
                residents,
                notes,
            };
            put!(doc, Kind::ScreeningVisit, visit);
            counts.screening_visits += 1;
            counts.screened_on_as_of += u64::from(today);
        }

        // Care visits: every two days, a few skipped, the neglected ones
        // not at all in their last days.
        for cg in c.care.iter_mut() {
            if cg.rel.since.0 > day || cg.neglected_from.is_some_and(|n| day >= n) {
                continue;
            }
            let p = match cg.rel.last_visit.map(|l| (day - l.0).num_days()) {
                None => 0.7,
                Some(g) if g >= 3 => 1.0,
                Some(2) => 0.92,
                Some(_) => 0.08,
            };
            if !rng.random_bool(p) {
                continue;
            }
            let visit = CareVisit {
                id: activity_id(rng, Kind::CareVisit, day),
                relationship_id: cg.rel.id.clone(),
                visited_at_ms: rng.random_range(lo..hi),
                visitor: cg.rel.visitor.clone(),
                notes: rng
                    .random_bool(0.5)
                    .then(|| pick(rng, CARE_NOTES).to_string()),
            };
            put!(doc, Kind::CareVisit, visit);
            cg.rel.last_visit = Some(Date(day));
            counts.care_visits += 1;
        }

        // Spot checks of about 2% of the households.
        for hh in &c.households {
            if !rng.random_bool(0.02) {
                continue;
            }
            let knew = hh.member.is_some() && rng.random_bool(0.95);
            let rec = Inspection {
                id: activity_id(rng, Kind::Inspection, day),
                household_id: hh.id.clone(),
                method: if rng.random_bool(0.6) {
                    InspectionMethod::Visit
                } else {
                    InspectionMethod::Phone
                },
                inspected_at_ms: rng.random_range(lo..hi),
                inspector: c.inspectors[rng.random_range(0..c.inspectors.len())].clone(),
                knew_member: knew,
                notes: if knew {
                    rng.random_bool(0.3)
                        .then(|| pick(rng, INSPECTION_NOTES).to_string())
                } else {
                    Some("不清楚自己的联包党员".into())
                },
            };
            put!(doc, Kind::Inspection, rec);
            counts.inspections += 1;
            counts.inspections_knew_member += u64::from(knew);
        }
    }

    // Tickets: about one household in 300 calls a day, around the clock
    // (the hotline answers 24 hours), mostly in the daytime.
    for hh in &c.households {
        if !rng.random_bool(1.0 / 300.0) {
            continue;
        }
        let received = if rng.random_bool(0.85) {
            start + rng.random_range(7 * HOUR_MS..22 * HOUR_MS)
        } else {
            start + rng.random_range(0..24 * HOUR_MS)
        };
        if received > spec.now_ms {
            continue;
        }
        let channel = match rng.random_range(0..100) {
            0..75 => TicketChannel::Hotline,
            75..92 => TicketChannel::ChatGroup,
            _ => TicketChannel::Patrol,
        };
        let (category, summary, resolution) = TICKET_KINDS[rng.random_range(0..TICKET_KINDS.len())];
        let resolved_at = (!rng.random_bool(0.03))
            .then(|| {
                let hours = 0.5 * 160f64.powf(rng.random::<f64>());
                received + (hours * HOUR_MS as f64) as i64
            })
            .filter(|&at| at <= spec.now_ms);
        let workers = &c.workers[hh.compound];
        let ticket = Ticket {
            id: new_id(rng, Kind::Ticket),
            received_at_ms: received,
            channel,
            category: category.into(),
            summary: summary.into(),
            caller_phone: if channel == TicketChannel::Patrol {
                None
            } else {
                hh.phone.clone()
            },
            assigned_compound_id: Some(c.compounds[hh.compound].clone()),
            assigned_staff_id: Some(workers[rng.random_range(0..workers.len())].0.clone()),
            resolved_at_ms: resolved_at,
            resolution: resolved_at.map(|_| resolution.to_string()),
        };
        put!(cases, Kind::Ticket, ticket);
        counts.tickets += 1;
        counts.tickets_open += u64::from(resolved_at.is_none());
    }
    Ok(())
}

/// Where a returnee came from: a risk region of the street or elsewhere.
pub(crate) fn origin(rng: &mut StdRng, plan: &StreetPlan) -> String {
    let level = match rng.random_range(0..100) {
        0..12 => Some(RiskLevel::High),
        12..30 => Some(RiskLevel::Medium),
        30..45 => Some(RiskLevel::Low),
        _ => None,
    };
    let regions: Vec<&RiskRegion> = plan
        .risk_regions
        .iter()
        .filter(|r| Some(r.level) == level)
        .collect();
    if regions.is_empty() {
        pick(rng, OTHER_ORIGINS).to_string()
    } else {
        regions[rng.random_range(0..regions.len())].region.clone()
    }
}

/// A home isolation for a returnee from a medium- or high-risk region: 14
/// or 7 days; most of those ended by `as_of` are released, a few are not.
#[allow(clippy::too_many_arguments)]
pub(crate) fn isolate(
    spec: &StreetSpec,
    rng: &mut StdRng,
    cases: &mut DocBuilder,
    resident_id: &str,
    start: Day,
    origin: &str,
    level: RiskLevel,
    counts: &mut Counts,
) -> Result<(), DemoStreetError> {
    let (days, level_name) = match level {
        RiskLevel::High => (14, "高"),
        _ => (7, "中"),
    };
    let planned_end = start + Days::new(days);
    let released_on = (planned_end <= spec.as_of && rng.random_bool(0.8)).then_some(planned_end);
    let door_device = match (level, rng.random_range(0..10)) {
        (RiskLevel::High, 0..5) => DoorDevice::Lock,
        (RiskLevel::High, _) | (_, 0..6) => DoorDevice::Sensor,
        _ => DoorDevice::None,
    };
    let rec = Isolation {
        id: new_id(rng, Kind::Isolation),
        resident_id: resident_id.to_string(),
        start: Date(start),
        planned_end: Date(planned_end),
        door_device,
        released_on: released_on.map(Date),
        reason: Some(format!("自{origin}返回（{level_name}风险地区）")),
    };
    put!(cases, Kind::Isolation, rec);
    counts.isolations += 1;
    if released_on.is_none() {
        counts.isolating += 1;
        counts.isolations_past_end += u64::from(planned_end < spec.as_of);
    }
    Ok(())
}

/// The cases written once the days are done: care relationships with their
/// last visit, and the community's notices.
pub(crate) fn finish_cases(
    spec: &StreetSpec,
    rng: &mut StdRng,
    c: &Community,
    cases: &mut DocBuilder,
    counts: &mut Counts,
) -> Result<(), DemoStreetError> {
    for cg in &c.care {
        put!(cases, Kind::CareRelationship, cg.rel);
        counts.care_relationships += 1;
        let from = cg.rel.last_visit.unwrap_or(cg.rel.since).0;
        let due = from + Days::new(u64::from(cg.rel.every_days));
        counts.care_overdue += u64::from(spec.as_of > due);
    }
    let first = spec.first_day();
    let notices: [(&str, &str, &[NoticeChannel], Option<usize>); 3] = [
        (
            "全员核酸检测安排",
            "请各楼院居民按楼栋顺序到指定地点进行核酸检测，保持一米间距，全程佩戴口罩。",
            &[NoticeChannel::Loudspeaker, NoticeChannel::CompoundChat],
            None,
        ),
        (
            "返郑人员报备提醒",
            "从外地返郑人员请提前向所在楼院网格员报备，中高风险地区返回人员落实居家隔离。",
            &[NoticeChannel::CompoundChat, NoticeChannel::MemberGroup],
            None,
        ),
        (
            "楼院消杀通知",
            "本周六上午对楼道、电梯和垃圾站进行集中消杀，请居民关好门窗。",
            &[NoticeChannel::Loudspeaker],
            Some(rng.random_range(0..c.compounds.len())),
        ),
    ];
    for (k, (title, body, channels, compound)) in notices.into_iter().enumerate() {
        let day = (first + Days::new(k as u64 * u64::from(spec.days) / 3)).min(spec.as_of);
        let rec = Notice {
            id: new_id(rng, Kind::Notice),
            title: title.into(),
            body: body.into(),
            channels: channels.to_vec(),
            published_at_ms: (day_start_ms(day) + 9 * HOUR_MS).min(spec.now_ms),
            compound_id: compound.map(|i| c.compounds[i].clone()),
        };
        put!(cases, Kind::Notice, rec);
        counts.notices += 1;
    }
    Ok(())
}
