//! What the office API tests share: the client, small constructors (`wrap`,
//! `s`, `some`), the instants a test's records are made against, the
//! fixture (one of everything other records point at), a valid record of
//! every kind and a change to it, and calls that return the status.

use chrono::Days;
use gridsync_core::Kind;
use gridsync_proto::office::v1 as pb;
use gridsync_testkit::now_ms;
use gridsync_testkit::*;
use pb::office_client::OfficeClient;
use pb::record::Record as R;
use tonic::transport::Channel;
use tonic::{Code, Status};

pub type Client = OfficeClient<Channel>;

pub fn wrap(r: R) -> pb::Record {
    pb::Record { record: Some(r) }
}

pub fn s(x: &str) -> String {
    x.to_string()
}

pub fn some(x: &str) -> Option<String> {
    Some(x.to_string())
}

/// Instants and days the records of one test are made against.
pub struct Times {
    pub now: i64,
    /// For activity records: on today, a minute ago at most.
    pub at: i64,
    /// The day of `at`.
    pub day: chrono::NaiveDate,
}

impl Times {
    pub fn new() -> Times {
        let at = activity_instant_ms();
        Times {
            now: now_ms(),
            at,
            day: day_of(at),
        }
    }
    /// `YYYY-MM-DD` of the activity day plus `n` days (negative: before).
    pub fn d(&self, n: i64) -> String {
        let d = if n >= 0 {
            self.day.checked_add_days(Days::new(n as u64))
        } else {
            self.day.checked_sub_days(Days::new((-n) as u64))
        };
        ymd(d.expect("a representable day"))
    }
    pub fn today(&self) -> String {
        ymd(self.day)
    }
}

// ---- the fixture: one of everything other records point at ----

pub const RS1_FIRST17: &str = "41010219450302001";
pub const RS2_FIRST17: &str = "41010219700101002";
pub const RS3_FIRST17: &str = "41010219800101003";

pub fn fixture_records(t: &Times) -> Vec<pb::Record> {
    vec![
        wrap(R::Compound(pb::Compound {
            id: s("cp_a"),
            name: s("Compound A"),
            address: some("1 Tongbai Road"),
        })),
        wrap(R::Compound(pb::Compound {
            id: s("cp_b"),
            name: s("Compound B"),
            address: None,
        })),
        wrap(R::Building(pb::Building {
            id: s("bd_a1"),
            compound_id: s("cp_a"),
            name: s("Building A1"),
        })),
        wrap(R::Building(pb::Building {
            id: s("bd_b1"),
            compound_id: s("cp_b"),
            name: s("Building B1"),
        })),
        wrap(R::PartyMember(pb::PartyMember {
            id: s("pm_1"),
            name: s("王党员"),
            kind: pb::PartyMemberKind::SelfManaged as i32,
            phone: some("13800138001"),
            resident_id: None,
            workplace: None,
        })),
        wrap(R::ContractGroup(pb::ContractGroup {
            id: s("cg_1"),
            party_member_id: s("pm_1"),
            name: some("1号楼组"),
        })),
        wrap(R::Household(pb::Household {
            id: s("hh_1"),
            compound_id: s("cp_a"),
            building_id: s("bd_a1"),
            unit: s("1"),
            door: s("101"),
            head_name: s("张三"),
            phone: some("13800138000"),
            contract_group_id: some("cg_1"),
        })),
        wrap(R::Household(pb::Household {
            id: s("hh_2"),
            compound_id: s("cp_b"),
            building_id: s("bd_b1"),
            unit: s(""),
            door: s("202"),
            head_name: s("赵六"),
            phone: None,
            contract_group_id: None,
        })),
        wrap(R::Resident(pb::Resident {
            id: s("rs_1"),
            household_id: s("hh_1"),
            name: s("李四"),
            id_number: Some(id_number(RS1_FIRST17)),
            person_key: None,
            gender: pb::Gender::Female as i32,
            birth_date: some("1945-03-02"),
            phone: None,
            relation: some("本人"),
            lives_alone: true,
        })),
        wrap(R::Resident(pb::Resident {
            id: s("rs_2"),
            household_id: s("hh_1"),
            name: s("李小四"),
            id_number: Some(id_number(RS2_FIRST17)),
            person_key: None,
            gender: pb::Gender::Male as i32,
            birth_date: some("1970-01-01"),
            phone: some("13900139000"),
            relation: some("子女"),
            lives_alone: false,
        })),
        wrap(R::Resident(pb::Resident {
            id: s("rs_3"),
            household_id: s("hh_2"),
            name: s("赵六"),
            id_number: Some(id_number(RS3_FIRST17)),
            person_key: None,
            gender: 0,
            birth_date: None,
            phone: None,
            relation: None,
            lives_alone: false,
        })),
        wrap(R::Staff(pb::Staff {
            id: s("sf_1"),
            name: s("网格员甲"),
            role: pb::StaffRole::GridWorker as i32,
            phone: None,
            grid_compound_id: some("cp_a"),
            department: None,
            term_start: None,
            term_end: None,
        })),
        wrap(R::VolunteerTeam(pb::VolunteerTeam {
            id: s("vt_1"),
            name: s("爱民服务队"),
            leader: None,
        })),
        wrap(R::CareRelationship(pb::CareRelationship {
            id: s("cr_1"),
            resident_id: s("rs_1"),
            visitor: s("网格员甲"),
            every_days: 2,
            since: t.d(-10),
            last_visit: None,
            ended_on: None,
        })),
    ]
}

pub async fn build_fixture(c: &mut Client, t: &Times) {
    for r in fixture_records(t) {
        create(c, r).await;
    }
}

/// A new node on a fresh store with the fixture in it.
pub async fn fixture_node() -> (tempfile::TempDir, InProcessNode, Client, Times) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let node = InProcessNode::start(dir.path()).await;
    let mut c = node.client().await;
    let t = Times::new();
    build_fixture(&mut c, &t).await;
    (dir, node, c, t)
}

/// A valid record of `kind` against the fixture, with an empty id; `n`
/// makes it unique (its name, door, ID number…).
pub fn good(kind: Kind, n: u32, t: &Times) -> pb::Record {
    let hour_ago = t.now - 3_600_000;
    wrap(match kind {
        Kind::Compound => R::Compound(pb::Compound {
            id: s(""),
            name: format!("Compound {n}"),
            address: some("2 Test Road"),
        }),
        Kind::Building => R::Building(pb::Building {
            id: s(""),
            compound_id: s("cp_a"),
            name: format!("Building {n}"),
        }),
        Kind::ContractGroup => R::ContractGroup(pb::ContractGroup {
            id: s(""),
            party_member_id: s("pm_1"),
            name: Some(format!("Group {n}")),
        }),
        Kind::Household => R::Household(pb::Household {
            id: s(""),
            compound_id: s("cp_a"),
            building_id: s("bd_a1"),
            unit: s("2"),
            door: format!("{}", 300 + n),
            head_name: s("王五"),
            phone: some("0371-66668888"),
            contract_group_id: some("cg_1"),
        }),
        Kind::Resident => R::Resident(pb::Resident {
            id: s(""),
            household_id: s("hh_1"),
            name: format!("居民{n}"),
            id_number: Some(id_number(&format!("41010219500101{:03}", n % 1000))),
            // Derived by the node, whatever the client sends.
            person_key: some("pk_00000000000000000000000000000000"),
            gender: pb::Gender::Female as i32,
            birth_date: some("1950-01-01"),
            phone: some("13800138000"),
            relation: some("母亲"),
            lives_alone: false,
        }),
        Kind::PartyMember => R::PartyMember(pb::PartyMember {
            id: s(""),
            name: format!("在职党员{n}"),
            kind: pb::PartyMemberKind::InService as i32,
            phone: some("0371-66668888"),
            resident_id: some("rs_2"),
            workplace: some("郑州大学"),
        }),
        Kind::Staff => R::Staff(pb::Staff {
            id: s(""),
            name: format!("挂职干部{n}"),
            role: pb::StaffRole::SecondedCadre as i32,
            phone: some("13700137000"),
            grid_compound_id: some("cp_a"),
            department: some("区民政局"),
            term_start: some("2026-09-01"),
            term_end: some("2027-08-31"),
        }),
        Kind::VolunteerTeam => R::VolunteerTeam(pb::VolunteerTeam {
            id: s(""),
            name: format!("Team {n}"),
            leader: some("刘队长"),
        }),
        Kind::Volunteer => R::Volunteer(pb::Volunteer {
            id: s(""),
            name: format!("志愿者{n}"),
            team_id: some("vt_1"),
            phone: some("13600136000"),
            post: some("流动监督员"),
        }),
        Kind::Isolation => R::Isolation(pb::Isolation {
            id: s(""),
            resident_id: s("rs_1"),
            start: t.d(-2),
            planned_end: t.d(12),
            door_device: pb::DoorDevice::Sensor as i32,
            released_on: None,
            reason: some("returnee"),
        }),
        Kind::CareRelationship => R::CareRelationship(pb::CareRelationship {
            id: s(""),
            resident_id: s("rs_2"),
            visitor: format!("志愿者{n}"),
            every_days: 3,
            since: t.d(-5),
            last_visit: Some(t.d(-1)),
            ended_on: None,
        }),
        Kind::Ticket => R::Ticket(pb::Ticket {
            id: s(""),
            received_at_ms: hour_ago,
            channel: pb::TicketChannel::Hotline as i32,
            category: s("买药"),
            summary: format!("老人需要买药 {n}"),
            caller_phone: some("13800138000"),
            assigned_compound_id: some("cp_a"),
            assigned_staff_id: some("sf_1"),
            resolved_at_ms: None,
            resolution: None,
        }),
        Kind::Returnee => R::Returnee(pb::Returnee {
            id: s(""),
            resident_id: s("rs_1"),
            returned_on: t.d(-1),
            from_region: format!("某市{n}"),
            visit_id: None,
        }),
        Kind::Notice => R::Notice(pb::Notice {
            id: s(""),
            title: format!("通知 {n}"),
            body: s("请配合排查"),
            channels: vec![
                pb::NoticeChannel::Loudspeaker as i32,
                pb::NoticeChannel::CompoundChat as i32,
            ],
            published_at_ms: hour_ago,
            compound_id: some("cp_a"),
        }),
        Kind::ScreeningVisit => R::ScreeningVisit(pb::ScreeningVisit {
            id: s(""),
            household_id: s("hh_1"),
            visited_at_ms: t.at,
            visitor: format!("网格员{n}"),
            residents: [
                (
                    s("rs_1"),
                    pb::ScreeningEntry {
                        status: pb::ScreeningStatus::Present as i32,
                        returned_from: None,
                        returned_on: None,
                    },
                ),
                (
                    s("rs_2"),
                    pb::ScreeningEntry {
                        status: pb::ScreeningStatus::Away as i32,
                        returned_from: None,
                        returned_on: None,
                    },
                ),
            ]
            .into(),
            notes: some("二楼"),
        }),
        Kind::CareVisit => R::CareVisit(pb::CareVisit {
            id: s(""),
            relationship_id: s("cr_1"),
            visited_at_ms: t.at,
            visitor: format!("网格员{n}"),
            notes: some("送菜和挂面"),
        }),
        Kind::Inspection => R::Inspection(pb::Inspection {
            id: s(""),
            household_id: s("hh_1"),
            method: pb::InspectionMethod::Phone as i32,
            inspected_at_ms: t.at,
            inspector: format!("督查{n}"),
            knew_member: true,
            notes: None,
        }),
    })
}

/// A change to a stored record, and the record expected back: fields sent
/// as "" are cleared.
pub fn changed(stored: &pb::Record, t: &Times) -> (pb::Record, pb::Record) {
    let mut sent = stored.clone();
    let mut expect = stored.clone();
    match (&mut sent.record, &mut expect.record) {
        (Some(R::Compound(a)), Some(R::Compound(b))) => {
            a.name = s("Renamed compound");
            a.address = some("");
            b.name = a.name.clone();
            b.address = None;
        }
        (Some(R::Building(a)), Some(R::Building(b))) => {
            a.name = s("Renamed building");
            b.name = a.name.clone();
        }
        (Some(R::ContractGroup(a)), Some(R::ContractGroup(b))) => {
            a.name = some("");
            b.name = None;
        }
        (Some(R::Household(a)), Some(R::Household(b))) => {
            a.head_name = s("新户主");
            a.phone = some("");
            a.contract_group_id = None;
            b.head_name = a.head_name.clone();
            b.phone = None;
            b.contract_group_id = None;
        }
        (Some(R::Resident(a)), Some(R::Resident(b))) => {
            a.phone = some("13700137000");
            a.relation = some("");
            a.lives_alone = true;
            b.phone = a.phone.clone();
            b.relation = None;
            b.lives_alone = true;
        }
        (Some(R::PartyMember(a)), Some(R::PartyMember(b))) => {
            a.kind = pb::PartyMemberKind::ResidentBased as i32;
            a.workplace = None;
            b.kind = a.kind;
            b.workplace = None;
        }
        (Some(R::Staff(a)), Some(R::Staff(b))) => {
            a.department = some("区卫健委");
            a.term_end = some("2027-12-31");
            b.department = a.department.clone();
            b.term_end = a.term_end.clone();
        }
        (Some(R::VolunteerTeam(a)), Some(R::VolunteerTeam(b))) => {
            a.leader = some("新队长");
            b.leader = a.leader.clone();
        }
        (Some(R::Volunteer(a)), Some(R::Volunteer(b))) => {
            a.team_id = None;
            a.post = some("商场入口");
            b.team_id = None;
            b.post = a.post.clone();
        }
        (Some(R::Isolation(a)), Some(R::Isolation(b))) => {
            a.released_on = Some(t.today());
            a.door_device = pb::DoorDevice::Lock as i32;
            b.released_on = a.released_on.clone();
            b.door_device = a.door_device;
        }
        (Some(R::CareRelationship(a)), Some(R::CareRelationship(b))) => {
            a.every_days = 7;
            a.ended_on = Some(t.today());
            b.every_days = 7;
            b.ended_on = a.ended_on.clone();
        }
        (Some(R::Ticket(a)), Some(R::Ticket(b))) => {
            a.resolved_at_ms = Some(t.now - 1000);
            a.resolution = some("药已送到");
            b.resolved_at_ms = a.resolved_at_ms;
            b.resolution = a.resolution.clone();
        }
        (Some(R::Returnee(a)), Some(R::Returnee(b))) => {
            a.from_region = s("另一市");
            b.from_region = a.from_region.clone();
        }
        (Some(R::Notice(a)), Some(R::Notice(b))) => {
            a.channels = vec![pb::NoticeChannel::MemberGroup as i32];
            a.compound_id = some("");
            b.channels = a.channels.clone();
            b.compound_id = None;
        }
        (Some(R::ScreeningVisit(a)), Some(R::ScreeningVisit(b))) => {
            a.notes = some("");
            a.residents.remove("rs_2");
            b.notes = None;
            b.residents.remove("rs_2");
        }
        (Some(R::CareVisit(a)), Some(R::CareVisit(b))) => {
            a.notes = some("量了血压");
            b.notes = a.notes.clone();
        }
        (Some(R::Inspection(a)), Some(R::Inspection(b))) => {
            a.knew_member = false;
            a.method = pb::InspectionMethod::Visit as i32;
            b.knew_member = false;
            b.method = a.method;
        }
        _ => unreachable!("both sides are the same kind"),
    }
    (sent, expect)
}

/// A client-given id of `kind` (activity ids carry the day of `t.at`).
pub fn client_id(kind: Kind, t: &Times, tag: &str) -> String {
    if kind.doc_class() == gridsync_core::DocClass::Activity {
        format!(
            "{}_{}_{tag}",
            kind.id_prefix(),
            gridsync_core::ids::day_compact(t.day)
        )
    } else {
        format!("{}_{tag}", kind.id_prefix())
    }
}

/// The `day` to list an activity record under ("" for other kinds).
pub fn list_day(kind: Kind, id: &str) -> String {
    if kind.doc_class() == gridsync_core::DocClass::Activity {
        day_of_id(id)
    } else {
        String::new()
    }
}

#[track_caller]
pub fn assert_refused(res: Result<(), Status>, code: Code, what: &str) -> Status {
    match res {
        Ok(()) => panic!("{what}: expected {code:?}, but the node accepted it"),
        Err(s) => {
            assert_eq!(
                s.code(),
                code,
                "{what}: expected {code:?}, got {:?}: {}",
                s.code(),
                s.message()
            );
            s
        }
    }
}

pub async fn try_create(c: &mut Client, r: pb::Record) -> Result<(), Status> {
    c.create_record(pb::CreateRecordRequest { record: Some(r) })
        .await
        .map(|_| ())
}

pub async fn try_update(c: &mut Client, r: pb::Record) -> Result<(), Status> {
    c.update_record(pb::UpdateRecordRequest { record: Some(r) })
        .await
        .map(|_| ())
}

pub async fn try_remove(c: &mut Client, kind: &str, id: &str) -> Result<(), Status> {
    c.remove_record(pb::RemoveRecordRequest {
        kind: s(kind),
        id: s(id),
    })
    .await
    .map(|_| ())
}
