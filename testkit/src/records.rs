//! Records as tests write them (wire and core), and time as they need it.

use gridsync_core::Day;
use gridsync_proto::office::v1 as pb;

use crate::{TIME_ZONE, now_ms, person_key_secret};

/// A valid 18-character resident ID number from its first 17 digits (the
/// check character is computed, GB 11643).
pub fn id_number(first17: &str) -> String {
    assert!(
        first17.len() == 17 && first17.bytes().all(|b| b.is_ascii_digit()),
        "{first17:?} is not 17 digits"
    );
    let check = gridsync_core::validate::id_check_char(first17).expect("17 digits");
    format!("{first17}{check}")
}

/// The day of an instant in the nodes' time zone.
pub fn day_of(ms: i64) -> Day {
    gridsync_core::replica::day_of_instant(ms, TIME_ZONE).expect("a representable instant")
}

/// `YYYY-MM-DD`.
pub fn ymd(d: Day) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// An instant for an activity record: a minute ago, but never before the
/// start of today in the nodes' time zone (so that it falls on today).
pub fn activity_instant_ms() -> i64 {
    use chrono::TimeZone;
    let now = now_ms();
    let today = day_of(now);
    let start = TIME_ZONE
        .from_local_datetime(&today.and_hms_opt(0, 0, 0).expect("midnight"))
        .earliest()
        .map(|t| t.timestamp_millis())
        .unwrap_or(now);
    (now - 60_000).max(start).min(now)
}

/// A resident of `household` born on `born`, with an ID number, as the kill
/// tests write them.
pub fn resident_pb(
    id: &str,
    household: String,
    name: String,
    id_number: String,
    born: Day,
    gender: i32,
    lives_alone: bool,
) -> pb::Record {
    pb::Record {
        record: Some(pb::record::Record::Resident(pb::Resident {
            id: id.to_string(),
            household_id: household,
            name,
            id_number: Some(id_number),
            person_key: None,
            gender,
            birth_date: Some(ymd(born)),
            phone: None,
            relation: Some("子女".into()),
            lives_alone,
        })),
    }
}

/// A screening visit of `household` at `at_ms`, each of `residents` present
/// or away as `present` says, as a wire record.
pub fn screening_visit_pb(
    id: &str,
    household: String,
    residents: Vec<String>,
    at_ms: i64,
    mut present: impl FnMut() -> bool,
) -> pb::Record {
    let residents = residents
        .into_iter()
        .map(|r| {
            let status = if present() {
                pb::ScreeningStatus::Present
            } else {
                pb::ScreeningStatus::Away
            };
            (
                r,
                pb::ScreeningEntry {
                    status: status as i32,
                    returned_from: None,
                    returned_on: None,
                },
            )
        })
        .collect();
    pb::Record {
        record: Some(pb::record::Record::ScreeningVisit(pb::ScreeningVisit {
            id: id.to_string(),
            household_id: household,
            visited_at_ms: at_ms,
            visitor: "网格员甲".into(),
            residents,
            notes: None,
        })),
    }
}

/// The day an activity record id names (`sv_20261129_…`), as `YYYY-MM-DD`.
pub fn day_of_id(id: &str) -> String {
    let d = gridsync_core::ids::day_of_activity_id(id)
        .unwrap_or_else(|| panic!("{id:?} is not an activity id"));
    ymd(d)
}

/// The kind name of a wire record (`household`), or "" for an empty one.
pub fn kind_of(r: &pb::Record) -> &'static str {
    use pb::record::Record as R;
    match &r.record {
        None => "",
        Some(R::Compound(_)) => "compound",
        Some(R::Building(_)) => "building",
        Some(R::ContractGroup(_)) => "contract_group",
        Some(R::Household(_)) => "household",
        Some(R::Resident(_)) => "resident",
        Some(R::PartyMember(_)) => "party_member",
        Some(R::Staff(_)) => "staff",
        Some(R::VolunteerTeam(_)) => "volunteer_team",
        Some(R::Volunteer(_)) => "volunteer",
        Some(R::Isolation(_)) => "isolation",
        Some(R::CareRelationship(_)) => "care_relationship",
        Some(R::Ticket(_)) => "ticket",
        Some(R::Returnee(_)) => "returnee",
        Some(R::Notice(_)) => "notice",
        Some(R::ScreeningVisit(_)) => "screening_visit",
        Some(R::CareVisit(_)) => "care_visit",
        Some(R::Inspection(_)) => "inspection",
    }
}

/// The id of a wire record ("" for an empty one).
pub fn id_of(r: &pb::Record) -> &str {
    use pb::record::Record as R;
    match &r.record {
        None => "",
        Some(R::Compound(x)) => &x.id,
        Some(R::Building(x)) => &x.id,
        Some(R::ContractGroup(x)) => &x.id,
        Some(R::Household(x)) => &x.id,
        Some(R::Resident(x)) => &x.id,
        Some(R::PartyMember(x)) => &x.id,
        Some(R::Staff(x)) => &x.id,
        Some(R::VolunteerTeam(x)) => &x.id,
        Some(R::Volunteer(x)) => &x.id,
        Some(R::Isolation(x)) => &x.id,
        Some(R::CareRelationship(x)) => &x.id,
        Some(R::Ticket(x)) => &x.id,
        Some(R::Returnee(x)) => &x.id,
        Some(R::Notice(x)) => &x.id,
        Some(R::ScreeningVisit(x)) => &x.id,
        Some(R::CareVisit(x)) => &x.id,
        Some(R::Inspection(x)) => &x.id,
    }
}

/// Sets the id of a wire record.
pub fn set_id(r: &mut pb::Record, id: &str) {
    use pb::record::Record as R;
    let id = id.to_string();
    match &mut r.record {
        None => {}
        Some(R::Compound(x)) => x.id = id,
        Some(R::Building(x)) => x.id = id,
        Some(R::ContractGroup(x)) => x.id = id,
        Some(R::Household(x)) => x.id = id,
        Some(R::Resident(x)) => x.id = id,
        Some(R::PartyMember(x)) => x.id = id,
        Some(R::Staff(x)) => x.id = id,
        Some(R::VolunteerTeam(x)) => x.id = id,
        Some(R::Volunteer(x)) => x.id = id,
        Some(R::Isolation(x)) => x.id = id,
        Some(R::CareRelationship(x)) => x.id = id,
        Some(R::Ticket(x)) => x.id = id,
        Some(R::Returnee(x)) => x.id = id,
        Some(R::Notice(x)) => x.id = id,
        Some(R::ScreeningVisit(x)) => x.id = id,
        Some(R::CareVisit(x)) => x.id = id,
        Some(R::Inspection(x)) => x.id = id,
    }
}

/// What a node is expected to store for `sent` under `id`: the id set, the
/// ID number in capitals and the person key derived from it (never taken
/// from the client).
pub fn as_stored(sent: &pb::Record, id: &str) -> pb::Record {
    let mut r = sent.clone();
    set_id(&mut r, id);
    if let Some(pb::record::Record::Resident(res)) = &mut r.record {
        res.id_number = res
            .id_number
            .as_ref()
            .map(|n| n.trim().to_ascii_uppercase());
        res.person_key = res.id_number.as_ref().map(|n| {
            gridsync_core::PersonKey::derive(&person_key_secret(), n)
                .as_str()
                .to_string()
        });
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_numbers_have_their_check_character() {
        let n = id_number("11010519491231002");
        assert_eq!(n, "11010519491231002X");
        gridsync_core::validate::id_number("t", &n).expect("valid");
    }

    #[test]
    fn activity_instants_fall_on_today() {
        let ms = activity_instant_ms();
        assert!(ms <= now_ms());
        assert_eq!(day_of(ms), day_of(now_ms()));
    }
}
