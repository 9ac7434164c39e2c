//! The domain model of `DOMAIN.md`: the records of a community and of the
//! street, as they are stored in Automerge (through autosurgeon) and handed
//! to the edges.
//!
//! Records are flat and refer to each other by id (a household names its
//! compound, building and contract group) rather than nesting, so that
//! concurrent structural edits merge key by key and leave, at worst, a
//! reference to nothing, which the readers count as a gap.

use std::collections::BTreeMap;

use autosurgeon::{Hydrate, HydrateError, Reconcile, Reconciler};
use serde::{Deserialize, Serialize};

use crate::ids::Day;

/// A calendar day stored as `"YYYY-MM-DD"` text in Automerge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Date(pub Day);

impl Date {
    /// The earliest date any field takes (a birth date of the oldest
    /// resident, say).
    pub const MIN: chrono::NaiveDate = chrono::NaiveDate::from_ymd_opt(1890, 1, 1).expect("a date");
    /// The latest date any field takes.
    pub const MAX: chrono::NaiveDate =
        chrono::NaiveDate::from_ymd_opt(2199, 12, 31).expect("a date");

    /// A date `YYYY-MM-DD` between [`Date::MIN`] and [`Date::MAX`]: the one
    /// rule every date field of the APIs follows.
    pub fn parse(field: &str, s: &str) -> Result<Self, crate::FieldError> {
        let d = chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| {
            crate::FieldError::new(
                field,
                format!("{} is not a date (YYYY-MM-DD)", crate::error::quote(s)),
            )
        })?;
        if !(Self::MIN..=Self::MAX).contains(&d) {
            return Err(crate::FieldError::new(
                field,
                format!(
                    "{} is outside the dates gridsync takes ({} to {})",
                    Date(d),
                    Date(Self::MIN),
                    Date(Self::MAX)
                ),
            ));
        }
        Ok(Date(d))
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

impl Reconcile for Date {
    type Key<'a> = autosurgeon::reconcile::NoKey;
    fn reconcile<R: Reconciler>(&self, mut reconciler: R) -> Result<(), R::Error> {
        reconciler.str(self.to_string())
    }
}

impl Hydrate for Date {
    fn hydrate_string(s: &'_ str) -> Result<Self, HydrateError> {
        chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(Date)
            .map_err(|_| HydrateError::unexpected("a date YYYY-MM-DD", format!("{s:?}")))
    }
}

/// Community or village (社区 / 村).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub enum CommunityKind {
    Community,
    Village,
}

/// The community this registry belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct CommunityInfo {
    pub id: String,
    pub name: String,
    pub kind: CommunityKind,
}

/// L3: a walled residential compound (楼院).
#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Compound {
    pub id: String,
    pub name: String,
    #[autosurgeon(missing = "Option::default")]
    pub address: Option<String>,
}

/// L4: one building (楼栋) of a compound.
#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Building {
    pub id: String,
    pub compound_id: String,
    pub name: String,
}

/// L5: a party member and the households contracted to them (党员联包户).
/// Households point at their group with `Household::contract_group_id`.
#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct ContractGroup {
    pub id: String,
    pub party_member_id: String,
    #[autosurgeon(missing = "Option::default")]
    pub name: Option<String>,
}

/// A household (户), under one building and at most one contract group.
#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Household {
    pub id: String,
    pub compound_id: String,
    pub building_id: String,
    /// Unit (单元); empty when the building has none.
    pub unit: String,
    /// Door number (门牌号).
    pub door: String,
    /// Name of the head of household (户主姓名).
    pub head_name: String,
    #[autosurgeon(missing = "Option::default")]
    pub phone: Option<String>,
    #[autosurgeon(missing = "Option::default")]
    pub contract_group_id: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub enum Gender {
    Female,
    Male,
}

/// A resident (人), in exactly one household.
#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Resident {
    pub id: String,
    pub household_id: String,
    pub name: String,
    /// The 18-character resident ID number. Personal data: never logged,
    /// masked on screens unless a role needs it.
    #[autosurgeon(missing = "Option::default")]
    pub id_number: Option<String>,
    /// Street-wide key derived from the ID number (see `PersonKey`).
    #[autosurgeon(missing = "Option::default")]
    pub person_key: Option<String>,
    #[autosurgeon(missing = "Option::default")]
    pub gender: Option<Gender>,
    #[autosurgeon(missing = "Option::default")]
    pub birth_date: Option<Date>,
    #[autosurgeon(missing = "Option::default")]
    pub phone: Option<String>,
    /// Relation to the head of household (与户主关系).
    #[autosurgeon(missing = "Option::default")]
    pub relation: Option<String>,
    /// Lives alone (独居); with age this makes an "elderly living alone".
    pub lives_alone: bool,
}

/// The three kinds of party member in a community.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub enum PartyMemberKind {
    /// 自管党员
    SelfManaged,
    /// 驻区党员
    ResidentBased,
    /// 在职党员报到: in service elsewhere, reported to the community.
    InService,
}

#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct PartyMember {
    pub id: String,
    pub name: String,
    pub kind: PartyMemberKind,
    #[autosurgeon(missing = "Option::default")]
    pub phone: Option<String>,
    /// The resident record of this member, if they live in the community.
    #[autosurgeon(missing = "Option::default")]
    pub resident_id: Option<String>,
    /// Where an in-service member works.
    #[autosurgeon(missing = "Option::default")]
    pub workplace: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub enum StaffRole {
    /// 网格长
    GridChief,
    /// 网格员
    GridWorker,
    /// 下沉科室人员: sent down from a district department.
    SentDown,
    /// Seconded cadre with a fixed term.
    SecondedCadre,
}

#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Staff {
    pub id: String,
    pub name: String,
    pub role: StaffRole,
    #[autosurgeon(missing = "Option::default")]
    pub phone: Option<String>,
    /// The grid (compound) this person answers for, if any.
    #[autosurgeon(missing = "Option::default")]
    pub grid_compound_id: Option<String>,
    /// Department or home unit of sent-down staff and seconded cadres.
    #[autosurgeon(missing = "Option::default")]
    pub department: Option<String>,
    #[autosurgeon(missing = "Option::default")]
    pub term_start: Option<Date>,
    #[autosurgeon(missing = "Option::default")]
    pub term_end: Option<Date>,
}

/// A named volunteer team (e.g. 爱民服务队).
#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct VolunteerTeam {
    pub id: String,
    pub name: String,
    #[autosurgeon(missing = "Option::default")]
    pub leader: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Volunteer {
    pub id: String,
    pub name: String,
    #[autosurgeon(missing = "Option::default")]
    pub team_id: Option<String>,
    #[autosurgeon(missing = "Option::default")]
    pub phone: Option<String>,
    /// Post or role, e.g. "mobile supervisor at the mall entrance".
    #[autosurgeon(missing = "Option::default")]
    pub post: Option<String>,
}

/// What a screening visit found of one resident.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub enum ScreeningStatus {
    Present,
    Away,
    MovedOut,
    MovedIn,
    /// Returned from elsewhere: `returned_from` and `returned_on` are set.
    Returned,
}

#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct ScreeningEntry {
    pub status: ScreeningStatus,
    /// Region returned from (for `Returned`).
    #[autosurgeon(missing = "Option::default")]
    pub returned_from: Option<String>,
    #[autosurgeon(missing = "Option::default")]
    pub returned_on: Option<Date>,
}

/// A door-to-door screening visit of one household (拉网排查), in the
/// activity document of the day it was made.
#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct ScreeningVisit {
    pub id: String,
    pub household_id: String,
    /// When, in Unix milliseconds (UTC).
    pub visited_at_ms: i64,
    pub visitor: String,
    /// Resident id → what was found.
    pub residents: BTreeMap<String, ScreeningEntry>,
    #[autosurgeon(missing = "Option::default")]
    pub notes: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub enum DoorDevice {
    None,
    /// 门磁: an electronic door sensor.
    Sensor,
    /// 电子门锁: an electronic lock.
    Lock,
}

/// A home isolation (居家隔离), a long-lived case.
#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Isolation {
    pub id: String,
    pub resident_id: String,
    pub start: Date,
    pub planned_end: Date,
    pub door_device: DoorDevice,
    #[autosurgeon(missing = "Option::default")]
    pub released_on: Option<Date>,
    #[autosurgeon(missing = "Option::default")]
    pub reason: Option<String>,
}

/// Who visits whom and how often (e.g. an elderly person living alone,
/// every two days). Carries the last visit so that "overdue" needs no past
/// activity documents.
#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct CareRelationship {
    pub id: String,
    pub resident_id: String,
    /// Name (or staff id) of the visitor.
    pub visitor: String,
    pub every_days: u32,
    pub since: Date,
    #[autosurgeon(missing = "Option::default")]
    pub last_visit: Option<Date>,
    #[autosurgeon(missing = "Option::default")]
    pub ended_on: Option<Date>,
}

#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct CareVisit {
    pub id: String,
    pub relationship_id: String,
    pub visited_at_ms: i64,
    pub visitor: String,
    #[autosurgeon(missing = "Option::default")]
    pub notes: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub enum TicketChannel {
    Hotline,
    ChatGroup,
    Patrol,
}

/// A resident's request (诉求) as a ticket: received, assigned to a grid,
/// resolved.
#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Ticket {
    pub id: String,
    pub received_at_ms: i64,
    pub channel: TicketChannel,
    pub category: String,
    pub summary: String,
    #[autosurgeon(missing = "Option::default")]
    pub caller_phone: Option<String>,
    #[autosurgeon(missing = "Option::default")]
    pub assigned_compound_id: Option<String>,
    #[autosurgeon(missing = "Option::default")]
    pub assigned_staff_id: Option<String>,
    #[autosurgeon(missing = "Option::default")]
    pub resolved_at_ms: Option<i64>,
    #[autosurgeon(missing = "Option::default")]
    pub resolution: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub enum InspectionMethod {
    Visit,
    Phone,
}

/// A spot check (晒网督查): does the household know its contracting member?
#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Inspection {
    pub id: String,
    pub household_id: String,
    pub method: InspectionMethod,
    pub inspected_at_ms: i64,
    pub inspector: String,
    pub knew_member: bool,
    #[autosurgeon(missing = "Option::default")]
    pub notes: Option<String>,
}

/// A returnee, kept as a case so that "returned in the last 14 days" needs
/// no past activity documents.
#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Returnee {
    pub id: String,
    pub resident_id: String,
    pub returned_on: Date,
    pub from_region: String,
    /// The screening visit that found the return, if any.
    #[autosurgeon(missing = "Option::default")]
    pub visit_id: Option<String>,
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Reconcile, Hydrate, Serialize, Deserialize,
)]
pub enum NoticeChannel {
    Loudspeaker,
    CompoundChat,
    MemberGroup,
}

/// A community notice pushed through loudspeakers and chat groups.
#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Notice {
    pub id: String,
    pub title: String,
    pub body: String,
    pub channels: Vec<NoticeChannel>,
    pub published_at_ms: i64,
    /// The compound it is for; none means the whole community.
    #[autosurgeon(missing = "Option::default")]
    pub compound_id: Option<String>,
}

// ---- the street document (read-only at a node) ----

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Reconcile, Hydrate, Serialize, Deserialize,
)]
pub enum RiskLevel {
    Low,
    Medium,
    High,
}

#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct RiskRegion {
    pub id: String,
    pub region: String,
    pub level: RiskLevel,
    pub from: Date,
    #[autosurgeon(missing = "Option::default")]
    pub to: Option<Date>,
}

#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct TaskForce {
    pub id: String,
    pub name: String,
    pub members: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct StreetNotice {
    pub id: String,
    pub title: String,
    pub body: String,
    pub published_at_ms: i64,
}
