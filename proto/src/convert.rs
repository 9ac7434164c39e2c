//! Conversions between the generated wire messages (`pb`) and the core's
//! records.
//!
//! - `TryFrom<pb::X> for X` checks only the shape of a message: required
//!   enums are set and known, dates are `YYYY-MM-DD`. Everything else (phone
//!   formats, lengths, references) is the core's to validate. Errors name the
//!   field as the API spells it: `household.head_name`,
//!   `screening_visit.residents[rs_1].status`, `notice.channels[2]`.
//! - On optional text and date fields an empty string means "not set", so a
//!   client clears a field by sending `""`.
//! - `From<X> for pb::X` cannot fail.
//!
//! Each message is converted field by field through [`FromWire`] and
//! [`ToWire`], picked by the types on both sides; the `messages!` table below
//! lists the fields, and since it builds both structs without `..`, a field
//! missing on either side is a compile error.

use std::collections::{BTreeMap, HashMap};

use gridsync_core::{
    Building, CareRelationship, CareVisit, CommunityInfo, CommunityKind, Compound, ContractGroup,
    Date, DoorDevice, FieldError, Gender, Household, Inspection, InspectionMethod, Isolation, Kind,
    Notice, NoticeChannel, PartyMember, PartyMemberKind, Record, Resident, Returnee,
    ScreeningEntry, ScreeningStatus, ScreeningVisit, Staff, StaffRole, Ticket, TicketChannel,
    Volunteer, VolunteerTeam,
};

use gridsync_core::queries::Tree;
use gridsync_core::{Gap, GapReason};

use crate::office::v1 as pb;

/// A core value read from its wire form `W`. Errors name the field relative
/// to this value: `""` for the value itself, `"status"` for a field of it,
/// `"[2]"` for an element; the enclosing message puts its name before it.
pub trait FromWire<W>: Sized {
    fn from_wire(wire: W) -> Result<Self, FieldError>;
}

/// A core value written in its wire form `W`.
pub trait ToWire<W> {
    fn to_wire(self) -> W;
}

/// `error` with `at` put before its field name.
fn under(at: &str, mut error: FieldError) -> FieldError {
    error.field = if error.field.is_empty() {
        at.to_owned()
    } else if error.field.starts_with('[') {
        format!("{at}{}", error.field)
    } else {
        format!("{at}.{}", error.field)
    };
    error
}

/// Reads the field `name` of a message.
fn field<W, C: FromWire<W>>(name: &str, wire: W) -> Result<C, FieldError> {
    C::from_wire(wire).map_err(|e| under(name, e))
}

// ---- scalars ----

macro_rules! same_on_the_wire {
    ($($t:ty),* $(,)?) => {$(
        impl FromWire<$t> for $t {
            fn from_wire(wire: $t) -> Result<Self, FieldError> {
                Ok(wire)
            }
        }
        impl ToWire<$t> for $t {
            fn to_wire(self) -> $t {
                self
            }
        }
    )*};
}

same_on_the_wire!(String, bool, u32, i64, Option<i64>);

/// Optional text: `""` is "not set".
impl FromWire<Option<String>> for Option<String> {
    fn from_wire(wire: Option<String>) -> Result<Self, FieldError> {
        Ok(wire.filter(|s| !s.is_empty()))
    }
}

impl ToWire<Option<String>> for Option<String> {
    fn to_wire(self) -> Option<String> {
        self
    }
}

/// A required date, `"YYYY-MM-DD"`.
impl FromWire<String> for Date {
    fn from_wire(wire: String) -> Result<Self, FieldError> {
        if wire.trim().is_empty() {
            return Err(FieldError::new("", "is required (a date YYYY-MM-DD)"));
        }
        Date::parse("", &wire)
    }
}

impl ToWire<String> for Date {
    fn to_wire(self) -> String {
        self.to_string()
    }
}

/// An optional date: `""` is "not set".
impl FromWire<Option<String>> for Option<Date> {
    fn from_wire(wire: Option<String>) -> Result<Self, FieldError> {
        match wire {
            Some(s) if !s.trim().is_empty() => Date::parse("", &s).map(Some),
            _ => Ok(None),
        }
    }
}

impl ToWire<Option<String>> for Option<Date> {
    fn to_wire(self) -> Option<String> {
        self.map(|d| d.to_string())
    }
}

// ---- enums ----

/// `(one of: FEMALE, MALE)`, from the wire names without their prefix.
fn one_of(unspecified: &str, names: &[&str]) -> String {
    let prefix = unspecified.strip_suffix("UNSPECIFIED").unwrap_or("");
    let names: Vec<&str> = names
        .iter()
        .map(|n| n.strip_prefix(prefix).unwrap_or(n))
        .collect();
    format!("(one of: {})", names.join(", "))
}

/// Core enum ⇄ wire enum, variant by variant. The generated variants carry
/// the core's names (prost strips the `GENDER_` prefix), and 0 is
/// `UNSPECIFIED`: refused here, read as `None` by `Option<E>`.
macro_rules! enums {
    ($($e:ident { $($v:ident),* $(,)? })*) => {$(
        impl FromWire<i32> for $e {
            fn from_wire(wire: i32) -> Result<Self, FieldError> {
                match pb::$e::try_from(wire) {
                    $(Ok(pb::$e::$v) => Ok($e::$v),)*
                    Ok(pb::$e::Unspecified) => Err(FieldError::new(
                        "",
                        format!(
                            "is required {}",
                            one_of(pb::$e::Unspecified.as_str_name(), &[$(pb::$e::$v.as_str_name()),*]),
                        ),
                    )),
                    Err(_) => Err(FieldError::new("", format!("has unknown value {wire}"))),
                }
            }
        }

        impl ToWire<i32> for $e {
            fn to_wire(self) -> i32 {
                match self {
                    $($e::$v => pb::$e::$v as i32,)*
                }
            }
        }
    )*};
}

enums! {
    CommunityKind { Community, Village }
    Gender { Female, Male }
    PartyMemberKind { SelfManaged, ResidentBased, InService }
    StaffRole { GridChief, GridWorker, SentDown, SecondedCadre }
    ScreeningStatus { Present, Away, MovedOut, MovedIn, Returned }
    DoorDevice { None, Sensor, Lock }
    TicketChannel { Hotline, ChatGroup, Patrol }
    InspectionMethod { Visit, Phone }
    NoticeChannel { Loudspeaker, CompoundChat, MemberGroup }
}

/// An optional enum: `UNSPECIFIED` (0) is `None`.
impl<E: FromWire<i32>> FromWire<i32> for Option<E> {
    fn from_wire(wire: i32) -> Result<Self, FieldError> {
        if wire == 0 {
            Ok(None)
        } else {
            E::from_wire(wire).map(Some)
        }
    }
}

impl<E: ToWire<i32>> ToWire<i32> for Option<E> {
    fn to_wire(self) -> i32 {
        self.map_or(0, E::to_wire)
    }
}

// ---- collections ----

/// A repeated field; errors name the element (`[2]`).
impl<W, C: FromWire<W>> FromWire<Vec<W>> for Vec<C> {
    fn from_wire(wire: Vec<W>) -> Result<Self, FieldError> {
        wire.into_iter()
            .enumerate()
            .map(|(i, w)| C::from_wire(w).map_err(|e| under(&format!("[{i}]"), e)))
            .collect()
    }
}

impl<W, C: ToWire<W>> ToWire<Vec<W>> for Vec<C> {
    fn to_wire(self) -> Vec<W> {
        self.into_iter().map(C::to_wire).collect()
    }
}

/// A map field; errors name the entry by its key (`[rs_1]`), at most its
/// first [`KEY_SHOWN`] characters.
impl<W, C: FromWire<W>> FromWire<HashMap<String, W>> for BTreeMap<String, C> {
    fn from_wire(wire: HashMap<String, W>) -> Result<Self, FieldError> {
        wire.into_iter()
            .map(|(k, w)| match C::from_wire(w) {
                Ok(c) => Ok((k, c)),
                Err(e) => Err(under(&format!("[{}]", shown_key(&k)), e)),
            })
            .collect()
    }
}

/// The characters of a map key an error shows.
const KEY_SHOWN: usize = 40;

/// A map key as an error names it: whole if short, else its first
/// [`KEY_SHOWN`] characters and `…` (a client's key is any string).
fn shown_key(k: &str) -> String {
    match k.char_indices().nth(KEY_SHOWN) {
        None => k.to_owned(),
        Some((at, _)) => format!("{}…", &k[..at]),
    }
}

impl<W, C: ToWire<W>> ToWire<HashMap<String, W>> for BTreeMap<String, C> {
    fn to_wire(self) -> HashMap<String, W> {
        self.into_iter().map(|(k, c)| (k, c.to_wire())).collect()
    }
}

// ---- messages ----

/// For each message: its name in errors and its fields, which have the same
/// names in the core struct and the generated one.
macro_rules! messages {
    ($($t:ident $name:literal { $($f:ident),* $(,)? })*) => {$(
        impl FromWire<pb::$t> for $t {
            fn from_wire(wire: pb::$t) -> Result<Self, FieldError> {
                Ok($t { $($f: field(stringify!($f), wire.$f)?,)* })
            }
        }

        impl ToWire<pb::$t> for $t {
            fn to_wire(self) -> pb::$t {
                pb::$t { $($f: self.$f.to_wire(),)* }
            }
        }

        impl TryFrom<pb::$t> for $t {
            type Error = FieldError;
            fn try_from(wire: pb::$t) -> Result<Self, FieldError> {
                field($name, wire)
            }
        }

        impl From<$t> for pb::$t {
            fn from(record: $t) -> Self {
                record.to_wire()
            }
        }
    )*};
}

messages! {
    CommunityInfo "community_info" { id, name, kind }
    Compound "compound" { id, name, address }
    Building "building" { id, compound_id, name }
    ContractGroup "contract_group" { id, party_member_id, name }
    Household "household" { id, compound_id, building_id, unit, door, head_name, phone, contract_group_id }
    Resident "resident" {
        id, household_id, name, id_number, person_key, gender, birth_date, phone, relation, lives_alone,
    }
    PartyMember "party_member" { id, name, kind, phone, resident_id, workplace }
    Staff "staff" { id, name, role, phone, grid_compound_id, department, term_start, term_end }
    VolunteerTeam "volunteer_team" { id, name, leader }
    Volunteer "volunteer" { id, name, team_id, phone, post }
    Isolation "isolation" { id, resident_id, start, planned_end, door_device, released_on, reason }
    CareRelationship "care_relationship" { id, resident_id, visitor, every_days, since, last_visit, ended_on }
    Ticket "ticket" {
        id, received_at_ms, channel, category, summary, caller_phone, assigned_compound_id, assigned_staff_id,
        resolved_at_ms, resolution,
    }
    Returnee "returnee" { id, resident_id, returned_on, from_region, visit_id }
    Notice "notice" { id, title, body, channels, published_at_ms, compound_id }
    ScreeningEntry "screening_entry" { status, returned_from, returned_on }
    ScreeningVisit "screening_visit" { id, household_id, visited_at_ms, visitor, residents, notes }
    CareVisit "care_visit" { id, relationship_id, visited_at_ms, visitor, notes }
    Inspection "inspection" { id, household_id, method, inspected_at_ms, inspector, knew_member, notes }
}

// ---- any record ----

/// `Record` ⇄ the `record` oneof. Each oneof variant is named like the core
/// variant (`contract_group` ⇄ `ContractGroup`); the match on both sides is
/// exhaustive, so a kind missing from the proto is a compile error.
macro_rules! records {
    ($($t:ident),* $(,)?) => {
        impl TryFrom<pb::Record> for Record {
            type Error = FieldError;
            fn try_from(wire: pb::Record) -> Result<Self, FieldError> {
                match wire.record {
                    $(Some(pb::record::Record::$t(r)) => Ok(Record::$t(r.try_into()?)),)*
                    None => {
                        let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
                        Err(FieldError::new("record", format!("is empty: set one of {}", kinds.join(", "))))
                    }
                }
            }
        }

        impl From<Record> for pb::Record {
            fn from(record: Record) -> Self {
                let record = match record {
                    $(Record::$t(r) => pb::record::Record::$t(r.into()),)*
                };
                pb::Record { record: Some(record) }
            }
        }
    };
}

records! {
    Compound, Building, ContractGroup, Household, Resident, PartyMember, Staff, VolunteerTeam, Volunteer,
    Isolation, CareRelationship, Ticket, Returnee, Notice, ScreeningVisit, CareVisit, Inspection,
}

/// The tree of a community as the office API gives it.
impl From<Tree> for pb::Tree {
    fn from(t: Tree) -> pb::Tree {
        pb::Tree {
            community: t.community.map(Into::into),
            households: t.households,
            residents: t.residents,
            unplaced_households: t.unplaced_households,
            compounds: t
                .compounds
                .into_iter()
                .map(|c| pb::TreeCompound {
                    id: c.id,
                    name: c.name,
                    households: c.households,
                    residents: c.residents,
                    buildings: c
                        .buildings
                        .into_iter()
                        .map(|b| pb::TreeBuilding {
                            id: b.id,
                            name: b.name,
                            households: b.households,
                            residents: b.residents,
                            groups: b
                                .groups
                                .into_iter()
                                .map(|g| pb::TreeGroup {
                                    contract_group_id: g.contract_group_id,
                                    member_name: g.member_name,
                                    households: g
                                        .households
                                        .into_iter()
                                        .map(|h| pb::TreeHousehold {
                                            id: h.id,
                                            label: h.label,
                                            head_name: h.head_name,
                                            residents: h.residents,
                                        })
                                        .collect(),
                                })
                                .collect(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// A gap as the office API gives it: its kind, id, a stable code and the
/// message.
impl From<&Gap> for pb::Gap {
    fn from(g: &Gap) -> pb::Gap {
        let code = match &g.reason {
            GapReason::Unreadable(_) => "unreadable",
            GapReason::MissingReference { .. } => "missing_reference",
            GapReason::NoContractGroup => "no_contract_group",
            GapReason::CompoundMismatch { .. } => "compound_mismatch",
        };
        pb::Gap {
            kind: g.kind.into(),
            id: g.id.clone(),
            code: code.into(),
            message: g.to_string(),
        }
    }
}

/// A roster row as the import request carries it, from its fields by
/// column key (see `gridsync_core::roster::COLUMNS`).
pub fn roster_row_to_pb(line: u64, fields: &[(&'static str, String)]) -> pb::RosterRow {
    let f = |key: &str| {
        fields
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    pb::RosterRow {
        line,
        compound: f("compound"),
        building: f("building"),
        unit: f("unit"),
        door: f("door"),
        head_name: f("head_name"),
        household_phone: f("household_phone"),
        name: f("name"),
        id_number: f("id_number"),
        gender: f("gender"),
        birth_date: f("birth_date"),
        relation: f("relation"),
        phone: f("phone"),
        lives_alone: f("lives_alone"),
        contract_member: f("contract_member"),
    }
}

/// An import request's row as its line and fields by column key, the way
/// `gridsync_core::roster::import_rows` takes it.
pub fn roster_row_from_pb(r: pb::RosterRow) -> gridsync_core::roster::RawRow {
    (
        r.line,
        vec![
            ("compound", r.compound),
            ("building", r.building),
            ("unit", r.unit),
            ("door", r.door),
            ("head_name", r.head_name),
            ("household_phone", r.household_phone),
            ("name", r.name),
            ("id_number", r.id_number),
            ("gender", r.gender),
            ("birth_date", r.birth_date),
            ("relation", r.relation),
            ("phone", r.phone),
            ("lives_alone", r.lives_alone),
            ("contract_member", r.contract_member),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> Date {
        Date::parse("test", s).expect("a test date")
    }

    fn round_trip(record: Record) {
        let wire = pb::Record::from(record.clone());
        // Through the bytes too, as a client would see it.
        let bytes = prost::Message::encode_to_vec(&wire);
        let decoded: pb::Record = prost::Message::decode(bytes.as_slice()).expect("decodes");
        assert_eq!(decoded, wire);
        assert_eq!(Record::try_from(decoded).expect("converts back"), record);
    }

    fn resident() -> Resident {
        Resident {
            id: "rs_01".into(),
            household_id: "hh_01".into(),
            name: "Wang Fang".into(),
            id_number: Some("110101199003071234".into()),
            person_key: None,
            gender: Some(Gender::Female),
            birth_date: Some(day("1990-03-07")),
            phone: Some("13800000000".into()),
            relation: None,
            lives_alone: true,
        }
    }

    #[test]
    fn resident_round_trips() {
        round_trip(Record::Resident(resident()));
        round_trip(Record::Resident(Resident {
            gender: None,
            birth_date: None,
            ..resident()
        }));
    }

    #[test]
    fn screening_visit_round_trips_with_entries() {
        let mut residents = BTreeMap::new();
        residents.insert(
            "rs_01".to_owned(),
            ScreeningEntry {
                status: ScreeningStatus::Present,
                returned_from: None,
                returned_on: None,
            },
        );
        residents.insert(
            "rs_02".to_owned(),
            ScreeningEntry {
                status: ScreeningStatus::Returned,
                returned_from: Some("Wuhan".into()),
                returned_on: Some(day("2020-01-20")),
            },
        );
        round_trip(Record::ScreeningVisit(ScreeningVisit {
            id: "sv_20200125_0001".into(),
            household_id: "hh_01".into(),
            visited_at_ms: 1_579_935_600_000,
            visitor: "Li Ming".into(),
            residents,
            notes: Some("second floor".into()),
        }));
    }

    #[test]
    fn notice_round_trips_with_channels() {
        round_trip(Record::Notice(Notice {
            id: "nt_01".into(),
            title: "Stay home".into(),
            body: "Please stay home.".into(),
            channels: vec![NoticeChannel::Loudspeaker, NoticeChannel::MemberGroup],
            published_at_ms: 1_580_000_000_000,
            compound_id: None,
        }));
    }

    #[test]
    fn staff_round_trips_with_dates() {
        round_trip(Record::Staff(Staff {
            id: "sf_01".into(),
            name: "Zhao Lei".into(),
            role: StaffRole::SecondedCadre,
            phone: None,
            grid_compound_id: Some("cp_01".into()),
            department: Some("District Bureau".into()),
            term_start: Some(day("2020-02-01")),
            term_end: Some(day("2020-07-31")),
        }));
    }

    #[test]
    fn other_kinds_round_trip() {
        round_trip(Record::Isolation(Isolation {
            id: "is_01".into(),
            resident_id: "rs_01".into(),
            start: day("2020-01-21"),
            planned_end: day("2020-02-04"),
            door_device: DoorDevice::None,
            released_on: None,
            reason: Some("returnee".into()),
        }));
        round_trip(Record::Ticket(Ticket {
            id: "tk_01".into(),
            received_at_ms: 1,
            channel: TicketChannel::ChatGroup,
            category: "supplies".into(),
            summary: "needs rice".into(),
            caller_phone: None,
            assigned_compound_id: Some("cp_01".into()),
            assigned_staff_id: None,
            resolved_at_ms: Some(2),
            resolution: Some("delivered".into()),
        }));
        round_trip(Record::CareRelationship(CareRelationship {
            id: "cr_01".into(),
            resident_id: "rs_01".into(),
            visitor: "Li Ming".into(),
            every_days: 2,
            since: day("2020-01-01"),
            last_visit: Some(day("2020-01-30")),
            ended_on: None,
        }));
    }

    #[test]
    fn empty_optional_strings_and_dates_are_none() {
        let wire = pb::Resident {
            id: "rs_01".into(),
            household_id: "hh_01".into(),
            name: "Wang Fang".into(),
            phone: Some(String::new()),
            birth_date: Some(String::new()),
            ..Default::default()
        };
        let r = Resident::try_from(wire).expect("converts");
        assert_eq!(r.phone, None);
        assert_eq!(r.birth_date, None);
        assert_eq!(r.gender, None);
    }

    #[test]
    fn unspecified_required_enum_names_the_field() {
        let wire = pb::Staff {
            id: "sf_01".into(),
            name: "Zhao Lei".into(),
            ..Default::default()
        };
        let e = Staff::try_from(wire).expect_err("role is required");
        assert_eq!(e.field, "staff.role");
        assert_eq!(
            e.reason,
            "is required (one of: GRID_CHIEF, GRID_WORKER, SENT_DOWN, SECONDED_CADRE)"
        );
    }

    #[test]
    fn unknown_enum_value_names_the_field() {
        let wire = pb::Resident {
            gender: 17,
            ..Default::default()
        };
        let e = Resident::try_from(wire).expect_err("17 is no gender");
        assert_eq!(
            e,
            FieldError::new("resident.gender", "has unknown value 17")
        );

        let wire = pb::Notice {
            channels: vec![1, 0],
            ..Default::default()
        };
        let e = Notice::try_from(wire).expect_err("channel 0 is unspecified");
        assert_eq!(e.field, "notice.channels[1]");
    }

    #[test]
    fn bad_date_names_the_field() {
        let wire = pb::Isolation {
            id: "is_01".into(),
            start: "2020-01-21".into(),
            planned_end: "2020-02-30".into(),
            door_device: pb::DoorDevice::Sensor as i32,
            ..Default::default()
        };
        let e = Isolation::try_from(wire).expect_err("February has no 30th");
        assert_eq!(e.field, "isolation.planned_end");

        let wire = pb::Isolation {
            door_device: pb::DoorDevice::Lock as i32,
            ..Default::default()
        };
        let e = Isolation::try_from(wire).expect_err("start is required");
        assert_eq!(e.field, "isolation.start");

        let wire = pb::Staff {
            role: 1,
            term_end: Some("31/07/2020".into()),
            ..Default::default()
        };
        let e = Staff::try_from(wire).expect_err("not YYYY-MM-DD");
        assert_eq!(e.field, "staff.term_end");
    }

    #[test]
    fn nested_errors_name_the_entry() {
        let mut residents = HashMap::new();
        residents.insert(
            "rs_02".to_owned(),
            pb::ScreeningEntry {
                status: 5,
                returned_on: Some("yesterday".into()),
                ..Default::default()
            },
        );
        let wire = pb::Record {
            record: Some(pb::record::Record::ScreeningVisit(pb::ScreeningVisit {
                residents,
                ..Default::default()
            })),
        };
        let e = Record::try_from(wire).expect_err("bad date in an entry");
        assert_eq!(e.field, "screening_visit.residents[rs_02].returned_on");
    }

    #[test]
    fn a_long_key_is_named_by_its_start() {
        // A client's key is echoed at most 40 characters long (the `records`
        // fuzz harness bounds every error).
        let key = "键".repeat(10_000);
        let residents = HashMap::from([(key, pb::ScreeningEntry::default())]);
        let wire = pb::Record {
            record: Some(pb::record::Record::ScreeningVisit(pb::ScreeningVisit {
                residents,
                ..Default::default()
            })),
        };
        let e = Record::try_from(wire).expect_err("no status");
        let want = format!("screening_visit.residents[{}…].status", "键".repeat(40));
        assert_eq!(e.field, want);
    }

    #[test]
    fn empty_record_is_refused() {
        let e = Record::try_from(pb::Record { record: None }).expect_err("no kind set");
        assert_eq!(e.field, "record");
        assert!(
            e.reason
                .starts_with("is empty: set one of compound, building, contract_group"),
            "{}",
            e.reason
        );
    }
}
