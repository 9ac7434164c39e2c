//! Validation: the rules a record must meet on its own (field rules) and
//! against the community as it stands (reference rules). Every error names
//! the field (`household.building_id`) and says why.

use chrono::{Datelike, NaiveDate};

use crate::error::FieldError;
use crate::ids::{Day, MAX_ID_LEN, check_record_id};
use crate::model::*;
use crate::record::{Kind, Record};
use crate::view::CommunityView;

/// Longest free text we accept in a name-like field.
pub const MAX_NAME: usize = 100;
/// Longest free text we accept in notes, summaries, notice bodies.
pub const MAX_TEXT: usize = 4000;
/// The earliest instant we accept (2000-01-01T00:00Z), to catch seconds sent as milliseconds.
pub const MIN_INSTANT_MS: i64 = 946_684_800_000;
/// How far into the future an instant may be (clock skew between offices).
pub const MAX_FUTURE_MS: i64 = 24 * 3600 * 1000;

/// Collects field errors so that one answer names every problem at once.
#[derive(Default)]
pub struct Errors(pub Vec<FieldError>);

impl Errors {
    pub fn push(&mut self, field: String, reason: impl Into<String>) {
        self.0.push(FieldError::new(field, reason));
    }
    pub fn check(&mut self, r: Result<(), FieldError>) {
        if let Err(e) = r {
            self.0.push(e);
        }
    }
    pub fn into_result(self) -> Result<(), Vec<FieldError>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0)
        }
    }
}

pub fn name(field: &str, s: &str) -> Result<(), FieldError> {
    if s.trim().is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    text_len(field, s, MAX_NAME)
}

pub fn text_len(field: &str, s: &str, max: usize) -> Result<(), FieldError> {
    let n = s.chars().count();
    if n > max {
        return Err(FieldError::new(
            field,
            format!("is {n} characters long; at most {max} are allowed"),
        ));
    }
    if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(FieldError::new(field, "contains control characters"));
    }
    Ok(())
}

fn opt_text(field: &str, s: &Option<String>, max: usize) -> Result<(), FieldError> {
    match s {
        Some(s) => text_len(field, s, max),
        None => Ok(()),
    }
}

/// A mainland mobile number (11 digits, 1[3-9]…) or a landline with area
/// code (0371-12345678, 037112345678).
pub fn phone(field: &str, s: &str) -> Result<(), FieldError> {
    let t = s.trim();
    let digits: String = t.chars().filter(|c| *c != '-' && *c != ' ').collect();
    let all_digits = !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit());
    let mobile = all_digits
        && digits.len() == 11
        && digits.starts_with('1')
        && matches!(digits.as_bytes()[1], b'3'..=b'9');
    let landline = all_digits && digits.starts_with('0') && (10..=12).contains(&digits.len());
    if mobile || landline {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!(
                "{} is not a phone number (11-digit mobile like 13800138000, or landline with area code like 0371-12345678)",
                crate::error::quote(t)
            ),
        ))
    }
}

fn opt_phone(field: &str, s: &Option<String>) -> Result<(), FieldError> {
    match s {
        Some(s) => phone(field, s),
        None => Ok(()),
    }
}

/// The check character (GB 11643) of the first 17 digits of an ID number;
/// `None` if they are not 17 ASCII digits.
pub fn id_check_char(first17: &str) -> Option<char> {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const C: &[u8; 11] = b"10X98765432";
    if first17.len() != 17 || !first17.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sum: u32 = first17
        .bytes()
        .zip(W)
        .map(|(d, w)| (d - b'0') as u32 * w)
        .sum();
    Some(C[(sum % 11) as usize] as char)
}

/// An 18-character resident ID number (GB 11643): 17 digits and a check
/// character, with a real birth date and a correct checksum.
pub fn id_number(field: &str, s: &str) -> Result<NaiveDate, FieldError> {
    let t = s.trim().to_ascii_uppercase();
    let b = t.as_bytes();
    if b.len() != 18 {
        return Err(FieldError::new(
            field,
            format!(
                "has {} characters; a resident ID number has 18",
                t.chars().count()
            ),
        ));
    }
    if !b[..17].iter().all(u8::is_ascii_digit) || !(b[17].is_ascii_digit() || b[17] == b'X') {
        return Err(FieldError::new(
            field,
            "must be 17 digits followed by a digit or X",
        ));
    }
    if id_check_char(&t[..17]) != Some(b[17] as char) {
        return Err(FieldError::new(
            field,
            "check digit does not match; the number was probably mistyped",
        ));
    }
    let birth = std::str::from_utf8(&b[6..14])
        .ok()
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y%m%d").ok());
    match birth {
        Some(d) if d.year() >= 1890 => Ok(d),
        _ => Err(FieldError::new(
            field,
            "does not contain a valid birth date (digits 7–14)",
        )),
    }
}

fn id_ref(field: &str, s: &str) -> Result<(), FieldError> {
    check_record_id(field, s)
}

fn opt_id_ref(field: &str, s: &Option<String>) -> Result<(), FieldError> {
    match s {
        Some(s) => check_record_id(field, s),
        None => Ok(()),
    }
}

fn not_before(
    e: &mut Errors,
    field: &str,
    later: Option<Date>,
    earlier_field: &str,
    earlier: Option<Date>,
) {
    if let (Some(l), Some(a)) = (later, earlier)
        && l < a
    {
        e.push(
            field.to_string(),
            format!("{l} is before {earlier_field} {a}"),
        );
    }
}

/// The instant rule: Unix milliseconds from 2000 on, at most a day ahead
/// of `now_ms`.
pub fn instant(field: &str, ms: i64, now_ms: i64) -> Result<(), FieldError> {
    if ms < MIN_INSTANT_MS {
        return Err(FieldError::new(
            field,
            format!("{ms} is before the year 2000; instants are Unix milliseconds"),
        ));
    }
    if ms > now_ms.saturating_add(MAX_FUTURE_MS) {
        return Err(FieldError::new(field, "is more than a day in the future"));
    }
    Ok(())
}

/// Field rules of one record: everything that can be checked without
/// looking at other records. `now_ms` bounds instants.
pub fn fields(rec: &Record, now_ms: i64) -> Result<(), Vec<FieldError>> {
    let k = rec.kind().name();
    let f = |name: &str| format!("{k}.{name}");
    let mut e = Errors::default();
    if !rec.id().is_empty() {
        e.check(check_record_id(&f("id"), rec.id()));
        if rec.id().len() <= MAX_ID_LEN
            && !rec
                .id()
                .starts_with(&format!("{}_", rec.kind().id_prefix()))
        {
            e.push(
                f("id"),
                format!(
                    "ids of a {k} start with {:?}",
                    format!("{}_", rec.kind().id_prefix())
                ),
            );
        }
    }
    match rec {
        Record::Compound(r) => {
            e.check(name(&f("name"), &r.name));
            e.check(opt_text(&f("address"), &r.address, MAX_NAME));
        }
        Record::Building(r) => {
            e.check(id_ref(&f("compound_id"), &r.compound_id));
            e.check(name(&f("name"), &r.name));
        }
        Record::ContractGroup(r) => {
            e.check(id_ref(&f("party_member_id"), &r.party_member_id));
            e.check(opt_text(&f("name"), &r.name, MAX_NAME));
        }
        Record::Household(r) => {
            e.check(id_ref(&f("compound_id"), &r.compound_id));
            e.check(id_ref(&f("building_id"), &r.building_id));
            e.check(text_len(&f("unit"), &r.unit, 20));
            e.check(name(&f("door"), &r.door).and_then(|_| text_len(&f("door"), &r.door, 20)));
            e.check(name(&f("head_name"), &r.head_name));
            e.check(opt_phone(&f("phone"), &r.phone));
            e.check(opt_id_ref(&f("contract_group_id"), &r.contract_group_id));
        }
        Record::Resident(r) => {
            e.check(id_ref(&f("household_id"), &r.household_id));
            e.check(name(&f("name"), &r.name));
            e.check(opt_phone(&f("phone"), &r.phone));
            e.check(opt_text(&f("relation"), &r.relation, 20));
            if let Some(n) = &r.id_number {
                match id_number(&f("id_number"), n) {
                    Ok(born) => {
                        if let Some(b) = r.birth_date
                            && b.0 != born
                        {
                            e.push(
                                f("birth_date"),
                                format!("{b} does not match the ID number's birth date"),
                            );
                        }
                    }
                    Err(err) => e.0.push(err),
                }
            }
            if let Some(pk) = &r.person_key
                && (!pk.starts_with("pk_") || pk.len() != 35)
            {
                e.push(
                    f("person_key"),
                    "is not a person key; it is derived from the ID number by the node",
                );
            }
        }
        Record::PartyMember(r) => {
            e.check(name(&f("name"), &r.name));
            e.check(opt_phone(&f("phone"), &r.phone));
            e.check(opt_id_ref(&f("resident_id"), &r.resident_id));
            e.check(opt_text(&f("workplace"), &r.workplace, MAX_NAME));
            if r.kind == PartyMemberKind::InService && r.workplace.is_none() {
                e.push(
                    f("workplace"),
                    "is required for an in-service member (在职党员): where do they work?",
                );
            }
        }
        Record::Staff(r) => {
            e.check(name(&f("name"), &r.name));
            e.check(opt_phone(&f("phone"), &r.phone));
            e.check(opt_id_ref(&f("grid_compound_id"), &r.grid_compound_id));
            e.check(opt_text(&f("department"), &r.department, MAX_NAME));
            if r.role == StaffRole::SecondedCadre {
                if r.term_start.is_none() {
                    e.push(f("term_start"), "is required for a seconded cadre");
                }
                if r.term_end.is_none() {
                    e.push(f("term_end"), "is required for a seconded cadre");
                }
            }
            not_before(
                &mut e,
                &f("term_end"),
                r.term_end,
                "term_start",
                r.term_start,
            );
        }
        Record::VolunteerTeam(r) => {
            e.check(name(&f("name"), &r.name));
            e.check(opt_text(&f("leader"), &r.leader, MAX_NAME));
        }
        Record::Volunteer(r) => {
            e.check(name(&f("name"), &r.name));
            e.check(opt_id_ref(&f("team_id"), &r.team_id));
            e.check(opt_phone(&f("phone"), &r.phone));
            e.check(opt_text(&f("post"), &r.post, MAX_NAME));
        }
        Record::Isolation(r) => {
            e.check(id_ref(&f("resident_id"), &r.resident_id));
            not_before(
                &mut e,
                &f("planned_end"),
                Some(r.planned_end),
                "start",
                Some(r.start),
            );
            not_before(
                &mut e,
                &f("released_on"),
                r.released_on,
                "start",
                Some(r.start),
            );
            e.check(opt_text(&f("reason"), &r.reason, MAX_NAME));
        }
        Record::CareRelationship(r) => {
            e.check(id_ref(&f("resident_id"), &r.resident_id));
            e.check(name(&f("visitor"), &r.visitor));
            if !(1..=365).contains(&r.every_days) {
                e.push(
                    f("every_days"),
                    format!("{} is not between 1 and 365", r.every_days),
                );
            }
            not_before(
                &mut e,
                &f("last_visit"),
                r.last_visit,
                "since",
                Some(r.since),
            );
            not_before(&mut e, &f("ended_on"), r.ended_on, "since", Some(r.since));
        }
        Record::Ticket(r) => {
            e.check(instant(&f("received_at_ms"), r.received_at_ms, now_ms));
            e.check(name(&f("category"), &r.category));
            e.check(
                name(&f("summary"), &r.summary)
                    .and_then(|_| text_len(&f("summary"), &r.summary, MAX_TEXT)),
            );
            e.check(opt_phone(&f("caller_phone"), &r.caller_phone));
            e.check(opt_id_ref(
                &f("assigned_compound_id"),
                &r.assigned_compound_id,
            ));
            e.check(opt_id_ref(&f("assigned_staff_id"), &r.assigned_staff_id));
            e.check(opt_text(&f("resolution"), &r.resolution, MAX_TEXT));
            match (r.resolved_at_ms, &r.resolution) {
                (Some(at), res) => {
                    e.check(instant(&f("resolved_at_ms"), at, now_ms));
                    if at < r.received_at_ms {
                        e.push(f("resolved_at_ms"), "is before received_at_ms");
                    }
                    if res.as_deref().is_none_or(|s| s.trim().is_empty()) {
                        e.push(
                            f("resolution"),
                            "is required once the ticket is resolved: what was done?",
                        );
                    }
                }
                (None, Some(_)) => e.push(
                    f("resolved_at_ms"),
                    "is required when a resolution is given",
                ),
                (None, None) => {}
            }
        }
        Record::Returnee(r) => {
            e.check(id_ref(&f("resident_id"), &r.resident_id));
            e.check(name(&f("from_region"), &r.from_region));
            e.check(opt_id_ref(&f("visit_id"), &r.visit_id));
        }
        Record::Notice(r) => {
            e.check(name(&f("title"), &r.title));
            e.check(
                name(&f("body"), &r.body).and_then(|_| text_len(&f("body"), &r.body, MAX_TEXT)),
            );
            e.check(instant(&f("published_at_ms"), r.published_at_ms, now_ms));
            e.check(opt_id_ref(&f("compound_id"), &r.compound_id));
            if r.channels.is_empty() {
                e.push(
                    f("channels"),
                    "must name at least one channel (loudspeaker, compound chat, member group)",
                );
            }
            let mut seen = r.channels.clone();
            seen.sort();
            seen.dedup();
            if seen.len() != r.channels.len() {
                e.push(f("channels"), "names a channel twice");
            }
        }
        Record::ScreeningVisit(r) => {
            e.check(id_ref(&f("household_id"), &r.household_id));
            e.check(instant(&f("visited_at_ms"), r.visited_at_ms, now_ms));
            e.check(name(&f("visitor"), &r.visitor));
            e.check(opt_text(&f("notes"), &r.notes, MAX_TEXT));
            if r.residents.len() > 64 {
                e.push(f("residents"), "lists more than 64 residents");
            }
            for (rid, entry) in &r.residents {
                let ef = f(&format!("residents[{rid}]"));
                e.check(id_ref(&ef, rid));
                match entry.status {
                    ScreeningStatus::Returned => {
                        if entry
                            .returned_from
                            .as_deref()
                            .is_none_or(|s| s.trim().is_empty())
                        {
                            e.push(
                                format!("{ef}.returned_from"),
                                "is required for a returnee: which region?",
                            );
                        }
                        if entry.returned_on.is_none() {
                            e.push(
                                format!("{ef}.returned_on"),
                                "is required for a returnee: which day?",
                            );
                        }
                    }
                    _ => {
                        if entry.returned_from.is_some() || entry.returned_on.is_some() {
                            e.push(
                                format!("{ef}.status"),
                                "is not RETURNED but a return region or date is given",
                            );
                        }
                    }
                }
                if let Some(reg) = &entry.returned_from {
                    e.check(text_len(&format!("{ef}.returned_from"), reg, MAX_NAME));
                }
            }
        }
        Record::CareVisit(r) => {
            e.check(id_ref(&f("relationship_id"), &r.relationship_id));
            e.check(instant(&f("visited_at_ms"), r.visited_at_ms, now_ms));
            e.check(name(&f("visitor"), &r.visitor));
            e.check(opt_text(&f("notes"), &r.notes, MAX_TEXT));
        }
        Record::Inspection(r) => {
            e.check(id_ref(&f("household_id"), &r.household_id));
            e.check(instant(&f("inspected_at_ms"), r.inspected_at_ms, now_ms));
            e.check(name(&f("inspector"), &r.inspector));
            e.check(opt_text(&f("notes"), &r.notes, MAX_TEXT));
        }
    }
    e.into_result()
}

/// Reference rules: every id a record names must exist in the community
/// now, and the structure must hold (a household's building is in the
/// household's compound; a screened resident lives in the screened household).
/// `day` is the day an activity record falls on.
pub fn references(
    rec: &Record,
    v: &CommunityView,
    day: Option<Day>,
) -> Result<(), Vec<FieldError>> {
    let k = rec.kind().name();
    let f = |name: &str| format!("{k}.{name}");
    let mut e = Errors::default();
    let exists = |e: &mut Errors, field: &str, target: Kind, id: &str| {
        if !v.contains(target, id) {
            e.push(
                f(field),
                format!("names {target} {id:?}, which does not exist"),
            );
        }
    };
    match rec {
        Record::Compound(_) | Record::VolunteerTeam(_) => {}
        Record::Building(r) => {
            exists(&mut e, "compound_id", Kind::Compound, &r.compound_id);
            // Moving a building to another compound would strand its
            // households in the old one.
            if let Some(old) = v.buildings.get(&r.id)
                && old.compound_id != r.compound_id
            {
                let n = v
                    .households
                    .values()
                    .filter(|h| h.building_id == r.id)
                    .count();
                if n > 0 {
                    e.push(
                        f("compound_id"),
                        format!(
                            "cannot move the building to another compound while its {n} household(s) are in {:?}; move or remove them first",
                            old.compound_id
                        ),
                    );
                }
            }
        }
        Record::ContractGroup(r) => exists(
            &mut e,
            "party_member_id",
            Kind::PartyMember,
            &r.party_member_id,
        ),
        Record::Household(r) => {
            exists(&mut e, "compound_id", Kind::Compound, &r.compound_id);
            match v.buildings.get(&r.building_id) {
                None => exists(&mut e, "building_id", Kind::Building, &r.building_id),
                Some(b) if b.compound_id != r.compound_id => e.push(
                    f("building_id"),
                    format!(
                        "building {:?} is in compound {:?}, not in the household's compound {:?}",
                        b.id, b.compound_id, r.compound_id
                    ),
                ),
                Some(_) => {}
            }
            if let Some(g) = &r.contract_group_id {
                exists(&mut e, "contract_group_id", Kind::ContractGroup, g);
            }
        }
        Record::Resident(r) => {
            exists(&mut e, "household_id", Kind::Household, &r.household_id);
            // The same person twice: by person key, or by the ID number
            // itself when no street secret is configured.
            let same = |o: &Resident| match (&r.person_key, &r.id_number) {
                (Some(pk), _) => o.person_key.as_ref() == Some(pk),
                (None, Some(n)) => o
                    .id_number
                    .as_ref()
                    .is_some_and(|m| m.eq_ignore_ascii_case(n)),
                (None, None) => false,
            };
            // Through the view's index of persons, unless the view was
            // changed by hand (then a scan, which finds the same).
            let found = if v.persons.covers(&v.residents) {
                let ids: Vec<&String> = match (&r.person_key, &r.id_number) {
                    (Some(pk), _) => v.persons.with_key(pk).collect(),
                    (None, Some(n)) => v.persons.with_number(n).collect(),
                    (None, None) => Vec::new(),
                };
                ids.into_iter()
                    .filter_map(|id| v.residents.get(id))
                    .find(|o| o.id != r.id && same(o))
            } else {
                v.residents.values().find(|o| o.id != r.id && same(o))
            };
            if let Some(other) = found {
                e.push(
                    f("id_number"),
                    format!(
                        "belongs to resident {:?} already registered in this community",
                        other.id
                    ),
                );
            }
        }
        Record::PartyMember(r) => {
            if let Some(x) = &r.resident_id {
                exists(&mut e, "resident_id", Kind::Resident, x);
            }
        }
        Record::Staff(r) => {
            if let Some(x) = &r.grid_compound_id {
                exists(&mut e, "grid_compound_id", Kind::Compound, x);
            }
        }
        Record::Volunteer(r) => {
            if let Some(x) = &r.team_id {
                exists(&mut e, "team_id", Kind::VolunteerTeam, x);
            }
        }
        Record::Isolation(r) => exists(&mut e, "resident_id", Kind::Resident, &r.resident_id),
        Record::CareRelationship(r) => {
            exists(&mut e, "resident_id", Kind::Resident, &r.resident_id)
        }
        Record::Returnee(r) => exists(&mut e, "resident_id", Kind::Resident, &r.resident_id),
        Record::Ticket(r) => {
            if let Some(x) = &r.assigned_compound_id {
                exists(&mut e, "assigned_compound_id", Kind::Compound, x);
            }
            if let Some(x) = &r.assigned_staff_id {
                exists(&mut e, "assigned_staff_id", Kind::Staff, x);
            }
        }
        Record::Notice(r) => {
            if let Some(x) = &r.compound_id {
                exists(&mut e, "compound_id", Kind::Compound, x);
            }
        }
        Record::ScreeningVisit(r) => {
            exists(&mut e, "household_id", Kind::Household, &r.household_id);
            for (rid, entry) in &r.residents {
                match v.residents.get(rid) {
                    None => e.push(
                        f(&format!("residents[{rid}]")),
                        "names a resident who does not exist",
                    ),
                    Some(res) if res.household_id != r.household_id => e.push(
                        f(&format!("residents[{rid}]")),
                        format!(
                            "lives in household {:?}, not in the visited one",
                            res.household_id
                        ),
                    ),
                    Some(_) => {}
                }
                if let (Some(on), Some(d)) = (entry.returned_on, day)
                    && on.0 > d
                {
                    e.push(
                        f(&format!("residents[{rid}].returned_on")),
                        format!("{on} is after the visit day {d}"),
                    );
                }
            }
        }
        Record::CareVisit(r) => exists(
            &mut e,
            "relationship_id",
            Kind::CareRelationship,
            &r.relationship_id,
        ),
        Record::Inspection(r) => exists(&mut e, "household_id", Kind::Household, &r.household_id),
    }
    e.into_result()
}

/// What still points at a record, which must be moved or removed before it.
/// Concurrent edits can still leave such references behind; those are gaps.
pub fn dependents(kind: Kind, id: &str, v: &CommunityView) -> Vec<String> {
    let mut out = Vec::new();
    let mut count = |what: &str, n: usize| {
        if n > 0 {
            out.push(format!("{n} {what}"));
        }
    };
    match kind {
        Kind::Compound => {
            count(
                "building(s)",
                v.buildings.values().filter(|b| b.compound_id == id).count(),
            );
            count(
                "staff member(s) whose grid it is",
                v.staff
                    .values()
                    .filter(|x| x.grid_compound_id.as_deref() == Some(id))
                    .count(),
            );
            count(
                "ticket(s) assigned to it",
                v.tickets
                    .values()
                    .filter(|x| x.assigned_compound_id.as_deref() == Some(id))
                    .count(),
            );
            count(
                "notice(s) for it",
                v.notices
                    .values()
                    .filter(|x| x.compound_id.as_deref() == Some(id))
                    .count(),
            );
            count(
                "household(s)",
                v.households
                    .values()
                    .filter(|h| h.compound_id == id)
                    .count(),
            );
        }
        Kind::Building => count(
            "household(s)",
            v.households
                .values()
                .filter(|h| h.building_id == id)
                .count(),
        ),
        Kind::ContractGroup => count(
            "household(s)",
            v.households
                .values()
                .filter(|h| h.contract_group_id.as_deref() == Some(id))
                .count(),
        ),
        Kind::Household => count(
            "resident(s)",
            v.residents
                .values()
                .filter(|r| r.household_id == id)
                .count(),
        ),
        Kind::Resident => {
            count(
                "isolation(s)",
                v.isolations
                    .values()
                    .filter(|x| x.resident_id == id)
                    .count(),
            );
            count(
                "care relationship(s)",
                v.care_relationships
                    .values()
                    .filter(|x| x.resident_id == id)
                    .count(),
            );
            count(
                "party member record(s)",
                v.party_members
                    .values()
                    .filter(|x| x.resident_id.as_deref() == Some(id))
                    .count(),
            );
            count(
                "returnee case(s)",
                v.returnees.values().filter(|x| x.resident_id == id).count(),
            );
        }
        Kind::PartyMember => count(
            "contract group(s)",
            v.contract_groups
                .values()
                .filter(|g| g.party_member_id == id)
                .count(),
        ),
        Kind::VolunteerTeam => count(
            "volunteer(s)",
            v.volunteers
                .values()
                .filter(|x| x.team_id.as_deref() == Some(id))
                .count(),
        ),
        Kind::Staff => count(
            "ticket(s) assigned to them",
            v.tickets
                .values()
                .filter(|x| x.assigned_staff_id.as_deref() == Some(id))
                .count(),
        ),
        // Activity records (visits, inspections) are history: they keep
        // naming what they named, and show as gaps if it goes.
        _ => {}
    }
    out
}

/// The age in whole years on `on` of someone born on `born`.
pub fn age_on(born: Day, on: Day) -> i32 {
    let mut age = on.year() - born.year();
    if (on.month(), on.day()) < (born.month(), born.day()) {
        age -= 1;
    }
    age
}
