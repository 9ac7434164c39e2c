//! The office API over real gRPC against an in-process node with a real
//! SQLite store: every record kind through its whole life, bad input refused
//! with the field named and nothing changed, the error codes, the queries, a
//! restart on the same store, and gRPC health and reflection.

use chrono::Days;
use gridsync_core::Kind;
use gridsync_proto::office::v1 as pb;
use gridsync_testkit::now_ms;
use gridsync_testkit::*;
use pb::office_client::OfficeClient;
use pb::record::Record as R;
use tonic::transport::Channel;
use tonic::{Code, Status};

type Client = OfficeClient<Channel>;

fn wrap(r: R) -> pb::Record {
    pb::Record { record: Some(r) }
}

fn s(x: &str) -> String {
    x.to_string()
}

fn some(x: &str) -> Option<String> {
    Some(x.to_string())
}

/// Instants and days the records of one test are made against.
struct Times {
    now: i64,
    /// For activity records: on today, a minute ago at most.
    at: i64,
    /// The day of `at`.
    day: chrono::NaiveDate,
}

impl Times {
    fn new() -> Times {
        let at = activity_instant_ms();
        Times {
            now: now_ms(),
            at,
            day: day_of(at),
        }
    }
    /// `YYYY-MM-DD` of the activity day plus `n` days (negative: before).
    fn d(&self, n: i64) -> String {
        let d = if n >= 0 {
            self.day.checked_add_days(Days::new(n as u64))
        } else {
            self.day.checked_sub_days(Days::new((-n) as u64))
        };
        ymd(d.expect("a representable day"))
    }
    fn today(&self) -> String {
        ymd(self.day)
    }
}

// ---- the fixture: one of everything other records point at ----

const RS1_FIRST17: &str = "41010219450302001";
const RS2_FIRST17: &str = "41010219700101002";
const RS3_FIRST17: &str = "41010219800101003";

fn fixture_records(t: &Times) -> Vec<pb::Record> {
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

async fn build_fixture(c: &mut Client, t: &Times) {
    for r in fixture_records(t) {
        create(c, r).await;
    }
}

/// A new node on a fresh store with the fixture in it.
async fn fixture_node() -> (tempfile::TempDir, InProcessNode, Client, Times) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let node = InProcessNode::start(dir.path()).await;
    let mut c = node.client().await;
    let t = Times::new();
    build_fixture(&mut c, &t).await;
    (dir, node, c, t)
}

/// A valid record of `kind` against the fixture, with an empty id; `n`
/// makes it unique (its name, door, ID number…).
fn good(kind: Kind, n: u32, t: &Times) -> pb::Record {
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
fn changed(stored: &pb::Record, t: &Times) -> (pb::Record, pb::Record) {
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
fn client_id(kind: Kind, t: &Times, tag: &str) -> String {
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
fn list_day(kind: Kind, id: &str) -> String {
    if kind.doc_class() == gridsync_core::DocClass::Activity {
        day_of_id(id)
    } else {
        String::new()
    }
}

#[track_caller]
fn assert_refused(res: Result<(), Status>, code: Code, what: &str) -> Status {
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

async fn try_create(c: &mut Client, r: pb::Record) -> Result<(), Status> {
    c.create_record(pb::CreateRecordRequest { record: Some(r) })
        .await
        .map(|_| ())
}

async fn try_update(c: &mut Client, r: pb::Record) -> Result<(), Status> {
    c.update_record(pb::UpdateRecordRequest { record: Some(r) })
        .await
        .map(|_| ())
}

async fn try_remove(c: &mut Client, kind: &str, id: &str) -> Result<(), Status> {
    c.remove_record(pb::RemoveRecordRequest {
        kind: s(kind),
        id: s(id),
    })
    .await
    .map(|_| ())
}

// ---- every kind through its whole life ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_is_created_read_updated_listed_and_removed() {
    let (_dir, node, mut c, t) = fixture_node().await;
    for (i, &kind) in Kind::ALL.iter().enumerate() {
        let name = kind.name();
        let n = 10 * i as u32;

        // Created with no id: the node makes one of the kind's form.
        let sent = good(kind, n, &t);
        let stored = create(&mut c, sent.clone()).await;
        let auto_id = id_of(&stored).to_string();
        assert!(
            auto_id.starts_with(&format!("{}_", kind.id_prefix())),
            "{name}: the node made id {auto_id:?}"
        );
        if kind.doc_class() == gridsync_core::DocClass::Activity {
            assert_eq!(
                day_of_id(&auto_id),
                t.today(),
                "{name}: the id {auto_id:?} does not carry the record's day"
            );
        }
        assert_eq!(stored, as_stored(&sent, &auto_id), "{name}: the reply");
        assert_eq!(
            get(&mut c, name, &auto_id).await,
            Some(as_stored(&sent, &auto_id)),
            "{name}: read back"
        );

        // Created with a client-given id: that id is kept.
        let given = client_id(kind, &t, &format!("given{i}"));
        let mut sent2 = good(kind, n + 1, &t);
        set_id(&mut sent2, &given);
        let stored2 = create(&mut c, sent2.clone()).await;
        assert_eq!(id_of(&stored2), given, "{name}: the client's id");
        assert_eq!(
            get(&mut c, name, &given).await,
            Some(as_stored(&sent2, &given)),
            "{name}: read back the client-given id"
        );

        // Updated: the change reads back, the other record is untouched.
        let (update, expect) = changed(&stored2, &t);
        let reply = c
            .update_record(pb::UpdateRecordRequest {
                record: Some(update),
            })
            .await
            .unwrap_or_else(|e| panic!("{name}: update: {:?} {}", e.code(), e.message()))
            .into_inner()
            .record;
        assert_eq!(reply.as_ref(), Some(&expect), "{name}: the update's reply");
        assert_eq!(
            get(&mut c, name, &given).await.as_ref(),
            Some(&expect),
            "{name}: the update read back"
        );
        assert_eq!(
            get(&mut c, name, &auto_id).await,
            Some(as_stored(&sent, &auto_id)),
            "{name}: the other record changed"
        );

        // Listed: both, as read back.
        let day = list_day(kind, &given);
        let listed = list_all(&mut c, name, &day, 0).await;
        for (id, want) in [
            (&auto_id, as_stored(&sent, &auto_id)),
            (&given, expect.clone()),
        ] {
            let found: Vec<&pb::Record> = listed.iter().filter(|r| id_of(r) == id).collect();
            assert_eq!(found, vec![&want], "{name}: {id} in ListRecords");
        }
        let ids: Vec<&str> = listed.iter().map(id_of).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(ids, sorted, "{name}: ListRecords is in id order, once each");

        // Removed: the reply is the record; then it is gone.
        for (id, was) in [(&auto_id, as_stored(&sent, &auto_id)), (&given, expect)] {
            let reply = c
                .remove_record(pb::RemoveRecordRequest {
                    kind: s(name),
                    id: id.clone(),
                })
                .await
                .unwrap_or_else(|e| panic!("{name}: remove {id}: {:?} {}", e.code(), e.message()))
                .into_inner()
                .record;
            assert_eq!(reply, Some(was), "{name}: the remove's reply");
            let e = c
                .get_record(pb::GetRecordRequest {
                    kind: s(name),
                    id: id.clone(),
                })
                .await
                .expect_err("removed");
            assert_eq!(e.code(), Code::NotFound, "{name}: {id} after remove: {e:?}");
            assert_refused(
                try_remove(&mut c, name, id).await,
                Code::NotFound,
                &format!("{name}: removing {id} twice"),
            );
        }
        let listed = list_all(&mut c, name, &day, 0).await;
        assert!(
            !listed
                .iter()
                .any(|r| id_of(r) == auto_id || id_of(r) == given),
            "{name}: removed records still listed"
        );
    }
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_records_pages_with_limit_and_after_id() {
    let (_dir, node, mut c, t) = fixture_node().await;
    let mut made = Vec::new();
    for n in 0..7 {
        made.push(s(id_of(
            &create(&mut c, good(Kind::VolunteerTeam, n, &t)).await,
        )));
    }
    made.push(s("vt_1"));
    made.sort();

    let first = c
        .list_records(pb::ListRecordsRequest {
            kind: s("volunteer_team"),
            day: s(""),
            limit: 3,
            after_id: s(""),
        })
        .await
        .expect("first page")
        .into_inner();
    let ids: Vec<&str> = first.records.iter().map(id_of).collect();
    assert_eq!(
        ids,
        made[..3].iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(first.next_after_id, made[2]);

    let second = c
        .list_records(pb::ListRecordsRequest {
            kind: s("volunteer_team"),
            day: s(""),
            limit: 3,
            after_id: first.next_after_id.clone(),
        })
        .await
        .expect("second page")
        .into_inner();
    let ids: Vec<&str> = second.records.iter().map(id_of).collect();
    assert_eq!(
        ids,
        made[3..6].iter().map(String::as_str).collect::<Vec<_>>()
    );

    let last = c
        .list_records(pb::ListRecordsRequest {
            kind: s("volunteer_team"),
            day: s(""),
            limit: 3,
            after_id: second.next_after_id.clone(),
        })
        .await
        .expect("last page")
        .into_inner();
    let ids: Vec<&str> = last.records.iter().map(id_of).collect();
    assert_eq!(
        ids,
        made[6..].iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(last.next_after_id, "", "a short page is the last");

    // A last page that is exactly full also says it is the last (8 teams, pages of 4).
    let full = c
        .list_records(pb::ListRecordsRequest {
            kind: s("volunteer_team"),
            day: s(""),
            limit: 4,
            after_id: made[3].clone(),
        })
        .await
        .expect("exactly full last page")
        .into_inner();
    assert_eq!(full.records.len(), 4);
    assert_eq!(
        full.next_after_id, "",
        "an exactly full last page is the last"
    );

    // Every page size gives the same records.
    let all: Vec<String> = list_all(&mut c, "volunteer_team", "", 0)
        .await
        .iter()
        .map(|r| s(id_of(r)))
        .collect();
    assert_eq!(all, made);
    for page in [1, 2, 4, 8, 9] {
        let paged: Vec<String> = list_all(&mut c, "volunteer_team", "", page)
            .await
            .iter()
            .map(|r| s(id_of(r)))
            .collect();
        assert_eq!(paged, made, "page size {page}");
    }

    // Activity kinds page within their day.
    let mut visits = Vec::new();
    for n in 0..5 {
        visits.push(s(id_of(
            &create(&mut c, good(Kind::ScreeningVisit, n, &t)).await,
        )));
    }
    visits.sort();
    let paged: Vec<String> = list_all(&mut c, "screening_visit", &t.today(), 2)
        .await
        .iter()
        .map(|r| s(id_of(r)))
        .collect();
    assert_eq!(paged, visits);
    let other_day = list_all(&mut c, "screening_visit", &t.d(-3), 2).await;
    assert!(other_day.is_empty(), "another day has no visits");
    node.stop().await;
}

// ---- bad input ----

/// One refused request and the field its error must name.
enum Call {
    Create(Option<pb::Record>),
    Update(pb::Record),
    Get(&'static str, String),
    Remove(&'static str, String),
    List(pb::ListRecordsRequest),
    Household(String),
    Worklist(String, String),
    Overdue(String),
    Gaps(String),
    Import(usize),
}

struct Bad {
    what: String,
    call: Call,
    field: String,
}

async fn run(c: &mut Client, call: Call) -> Result<(), Status> {
    match call {
        Call::Create(r) => c
            .create_record(pb::CreateRecordRequest { record: r })
            .await
            .map(|_| ()),
        Call::Update(r) => try_update(c, r).await,
        Call::Get(kind, id) => c
            .get_record(pb::GetRecordRequest { kind: s(kind), id })
            .await
            .map(|_| ()),
        Call::Remove(kind, id) => try_remove(c, kind, &id).await,
        Call::List(req) => c.list_records(req).await.map(|_| ()),
        Call::Household(id) => c
            .get_household(pb::GetHouseholdRequest { id })
            .await
            .map(|_| ()),
        Call::Worklist(g, day) => c
            .get_worklist(pb::GetWorklistRequest {
                contract_group_id: g,
                day,
            })
            .await
            .map(|_| ()),
        Call::Overdue(as_of) => c
            .list_overdue_care(pb::ListOverdueCareRequest { as_of })
            .await
            .map(|_| ()),
        Call::Gaps(day) => c.list_gaps(pb::ListGapsRequest { day }).await.map(|_| ()),
        Call::Import(n) => c
            .import_roster(pb::ImportRosterRequest {
                rows: vec![pb::RosterRow::default(); n],
            })
            .await
            .map(|_| ()),
    }
}

/// Bad variants of `good(kind)`, each with the field its error must name.
fn bad_records(kind: Kind, t: &Times) -> Vec<Bad> {
    let g = good(kind, 900, t);
    let mut out = Vec::new();
    macro_rules! case {
        ($variant:ident, $field:expr, |$r:ident| $body:expr) => {{
            let mut rec = g.clone();
            match &mut rec.record {
                Some(R::$variant($r)) => {
                    $body;
                }
                _ => unreachable!(),
            }
            out.push(Bad {
                what: format!("{} with {}", kind.name(), stringify!($body)),
                call: Call::Create(Some(rec)),
                field: $field.to_string(),
            });
        }};
    }
    let wrong_check = {
        let mut n = id_number(RS2_FIRST17);
        let last = n.pop().expect("18 characters");
        n.push(if last == '0' { '1' } else { '0' });
        n
    };
    match kind {
        Kind::Compound => {
            case!(Compound, "compound.name", |r| r.name = s("  "));
            case!(Compound, "compound.name", |r| r.name = "x".repeat(101));
            case!(Compound, "compound.address", |r| r.address =
                some("a\u{1}b"));
            case!(Compound, "compound.id", |r| r.id = s("bd_wrongprefix"));
            case!(Compound, "compound.id", |r| r.id = s("CP A"));
            case!(Compound, "compound.id", |r| r.id =
                format!("cp_{}", "a".repeat(70)));
        }
        Kind::Building => {
            case!(Building, "building.compound_id", |r| r.compound_id =
                s("cp_nowhere"));
            case!(Building, "building.compound_id", |r| r.compound_id =
                s("CP A"));
            case!(Building, "building.name", |r| r.name = s(""));
        }
        Kind::ContractGroup => {
            case!(ContractGroup, "contract_group.party_member_id", |r| r
                .party_member_id =
                s("pm_nobody"));
        }
        Kind::Household => {
            case!(Household, "household.phone", |r| r.phone = some("12345"));
            case!(Household, "household.building_id", |r| r.building_id =
                s("bd_b1"));
            case!(Household, "household.contract_group_id", |r| r
                .contract_group_id =
                some("cg_none"));
            case!(Household, "household.door", |r| r.door = s(""));
            case!(Household, "household.head_name", |r| r.head_name =
                s("a\u{7}b"));
            case!(Household, "household.compound_id", |r| r.compound_id =
                s("cp_zz"));
        }
        Kind::Resident => {
            case!(Resident, "resident.id_number", |r| r.id_number =
                Some(wrong_check.clone()));
            case!(Resident, "resident.id_number", |r| r.id_number =
                some("4101021945"));
            // rs_1's number: the same person registered twice.
            case!(Resident, "resident.id_number", |r| {
                r.id_number = Some(id_number(RS1_FIRST17));
                r.birth_date = some("1945-03-02")
            });
            case!(Resident, "resident.birth_date", |r| r.birth_date =
                some("1951-01-01"));
            case!(Resident, "resident.birth_date", |r| r.birth_date =
                some("1950/01/01"));
            case!(Resident, "resident.household_id", |r| r.household_id =
                s("hh_gone"));
            case!(Resident, "resident.phone", |r| r.phone = some("1380013800"));
            case!(Resident, "resident.gender", |r| r.gender = 17);
            case!(Resident, "resident.name", |r| r.name = s(""));
        }
        Kind::PartyMember => {
            case!(PartyMember, "party_member.workplace", |r| r.workplace =
                None);
            case!(PartyMember, "party_member.resident_id", |r| r.resident_id =
                some("rs_nobody"));
            case!(PartyMember, "party_member.kind", |r| r.kind = 0);
        }
        Kind::Staff => {
            case!(Staff, "staff.role", |r| r.role = 0);
            case!(Staff, "staff.term_end", |r| r.term_end = some("2026-01-01"));
            case!(Staff, "staff.term_start", |r| r.term_start = None);
            case!(Staff, "staff.grid_compound_id", |r| r.grid_compound_id =
                some("cp_zz"));
            case!(Staff, "staff.term_end", |r| r.term_end = some("31/07/2027"));
        }
        Kind::VolunteerTeam => {
            case!(VolunteerTeam, "volunteer_team.name", |r| r.name = s(""));
        }
        Kind::Volunteer => {
            case!(Volunteer, "volunteer.team_id", |r| r.team_id =
                some("vt_zz"));
            case!(Volunteer, "volunteer.phone", |r| r.phone = some("phone"));
        }
        Kind::Isolation => {
            case!(Isolation, "isolation.planned_end", |r| r.planned_end =
                t.d(-5));
            case!(Isolation, "isolation.released_on", |r| r.released_on =
                Some(t.d(-3)));
            case!(Isolation, "isolation.resident_id", |r| r.resident_id =
                s("rs_zz"));
            case!(Isolation, "isolation.planned_end", |r| r.planned_end =
                s("2026-02-30"));
            case!(Isolation, "isolation.start", |r| r.start = s(""));
            case!(Isolation, "isolation.door_device", |r| r.door_device = 0);
        }
        Kind::CareRelationship => {
            case!(CareRelationship, "care_relationship.every_days", |r| r
                .every_days =
                0);
            case!(CareRelationship, "care_relationship.ended_on", |r| r
                .ended_on =
                Some(t.d(-30)));
            case!(CareRelationship, "care_relationship.since", |r| r.since =
                s("someday"));
            case!(CareRelationship, "care_relationship.resident_id", |r| r
                .resident_id =
                s("rs_zz"));
        }
        Kind::Ticket => {
            case!(Ticket, "ticket.resolution", |r| r.resolved_at_ms =
                Some(t.now - 1000));
            case!(Ticket, "ticket.resolved_at_ms", |r| {
                r.resolved_at_ms = Some(r.received_at_ms - 1);
                r.resolution = some("done")
            });
            case!(Ticket, "ticket.resolved_at_ms", |r| r.resolution =
                some("done"));
            case!(Ticket, "ticket.received_at_ms", |r| r.received_at_ms =
                1_700_000_000);
            case!(Ticket, "ticket.received_at_ms", |r| r.received_at_ms =
                t.now + 3 * 86_400_000);
            case!(Ticket, "ticket.assigned_staff_id", |r| r
                .assigned_staff_id =
                some("sf_zz"));
            case!(Ticket, "ticket.channel", |r| r.channel = 0);
        }
        Kind::Returnee => {
            case!(Returnee, "returnee.from_region", |r| r.from_region = s(""));
            case!(Returnee, "returnee.returned_on", |r| r.returned_on = s(""));
            case!(Returnee, "returnee.resident_id", |r| r.resident_id =
                s("rs_zz"));
        }
        Kind::Notice => {
            case!(Notice, "notice.channels", |r| r.channels.clear());
            case!(Notice, "notice.channels", |r| r.channels = vec![1, 1]);
            case!(Notice, "notice.body", |r| r.body = "x".repeat(5000));
            case!(Notice, "notice.channels[1]", |r| r.channels = vec![1, 0]);
            case!(Notice, "notice.channels[0]", |r| r.channels = vec![99]);
            case!(Notice, "notice.compound_id", |r| r.compound_id =
                some("cp_zz"));
        }
        Kind::ScreeningVisit => {
            let returned = |from: Option<String>, on: Option<String>| pb::ScreeningEntry {
                status: pb::ScreeningStatus::Returned as i32,
                returned_from: from,
                returned_on: on,
            };
            case!(
                ScreeningVisit,
                "screening_visit.residents[rs_1].returned_from",
                |r| r.residents.insert(s("rs_1"), returned(None, Some(t.d(-1))))
            );
            case!(
                ScreeningVisit,
                "screening_visit.residents[rs_1].returned_on",
                |r| r.residents.insert(s("rs_1"), returned(some("某市"), None))
            );
            case!(
                ScreeningVisit,
                "screening_visit.residents[rs_1].returned_on",
                |r| r
                    .residents
                    .insert(s("rs_1"), returned(some("某市"), Some(t.d(1))))
            );
            case!(
                ScreeningVisit,
                "screening_visit.residents[rs_1].returned_on",
                |r| r
                    .residents
                    .insert(s("rs_1"), returned(some("某市"), some("yesterday")))
            );
            case!(
                ScreeningVisit,
                "screening_visit.residents[rs_1].status",
                |r| r
                    .residents
                    .get_mut("rs_1")
                    .expect("rs_1 is in the good visit")
                    .returned_on = Some(t.d(-1))
            );
            case!(
                ScreeningVisit,
                "screening_visit.residents[rs_1].status",
                |r| r
                    .residents
                    .get_mut("rs_1")
                    .expect("rs_1 is in the good visit")
                    .status = 0
            );
            case!(ScreeningVisit, "screening_visit.residents[rs_3]", |r| r
                .residents
                .insert(
                    s("rs_3"),
                    pb::ScreeningEntry {
                        status: 1,
                        ..Default::default()
                    }
                ));
            case!(ScreeningVisit, "screening_visit.residents[rs_zz]", |r| r
                .residents
                .insert(
                    s("rs_zz"),
                    pb::ScreeningEntry {
                        status: 1,
                        ..Default::default()
                    }
                ));
            case!(ScreeningVisit, "screening_visit.household_id", |r| r
                .household_id =
                s("hh_zz"));
            case!(ScreeningVisit, "screening_visit.visitor", |r| r.visitor =
                s(" "));
            // Its id says today, its time says three days ago.
            case!(ScreeningVisit, "screening_visit.id", |r| {
                r.id = client_id(Kind::ScreeningVisit, t, "wrongday");
                r.visited_at_ms -= 3 * 86_400_000
            });
            case!(ScreeningVisit, "screening_visit.id", |r| r.id =
                s("sv_notaday_1"));
            // A visit two days ago of a household that does not exist: the
            // refused record must not leave that day's document behind.
            case!(ScreeningVisit, "screening_visit.household_id", |r| {
                r.household_id = s("hh_zz");
                r.visited_at_ms -= 2 * 86_400_000
            });
            case!(ScreeningVisit, "screening_visit.visited_at_ms", |r| r
                .visited_at_ms =
                5);
        }
        Kind::CareVisit => {
            case!(CareVisit, "care_visit.relationship_id", |r| r
                .relationship_id =
                s("cr_zz"));
            case!(CareVisit, "care_visit.visitor", |r| r.visitor = s(""));
        }
        Kind::Inspection => {
            case!(Inspection, "inspection.inspector", |r| r.inspector = s(""));
            case!(Inspection, "inspection.method", |r| r.method = 0);
            case!(Inspection, "inspection.household_id", |r| r.household_id =
                s("hh_zz"));
        }
    }
    out
}

/// Requests refused for their shape, not their record.
fn bad_requests(t: &Times) -> Vec<Bad> {
    let bad = |what: &str, call: Call, field: &str| Bad {
        what: s(what),
        call,
        field: s(field),
    };
    let hh1 = fixture_records(t)
        .into_iter()
        .find(|r| id_of(r) == "hh_1")
        .expect("hh_1 is in the fixture");
    let with_hh = |f: &dyn Fn(&mut pb::Household)| {
        let mut r = hh1.clone();
        if let Some(R::Household(h)) = &mut r.record {
            f(h);
        }
        r
    };
    let list = |kind: &str, day: &str, limit: u32| pb::ListRecordsRequest {
        kind: s(kind),
        day: s(day),
        limit,
        after_id: s(""),
    };
    vec![
        bad("create with no record", Call::Create(None), "record"),
        bad(
            "create with an empty record oneof",
            Call::Create(Some(pb::Record { record: None })),
            "record",
        ),
        bad(
            "update with an empty record oneof",
            Call::Update(pb::Record { record: None }),
            "record",
        ),
        bad(
            "update of hh_1 with a bad phone",
            Call::Update(with_hh(&|h| h.phone = some("12345"))),
            "household.phone",
        ),
        bad(
            "update of hh_1 into another compound's building",
            Call::Update(with_hh(&|h| h.building_id = s("bd_b1"))),
            "household.building_id",
        ),
        bad(
            "update with no id",
            Call::Update(with_hh(&|h| h.id = s(""))),
            "household.id",
        ),
        bad(
            "update with an id in capitals",
            Call::Update(with_hh(&|h| h.id = s("HH_1"))),
            "household.id",
        ),
        bad(
            "update of a staff member to no role",
            Call::Update(wrap(R::Staff(pb::Staff {
                id: s("sf_1"),
                name: s("网格员甲"),
                role: 0,
                ..Default::default()
            }))),
            "staff.role",
        ),
        bad(
            "get of an unknown kind",
            Call::Get("houses", s("hh_1")),
            "kind",
        ),
        bad("get of an empty kind", Call::Get("", s("hh_1")), "kind"),
        bad("get with no id", Call::Get("household", s("")), "id"),
        bad("get with a bad id", Call::Get("household", s("hh/1")), "id"),
        bad(
            "remove of an unknown kind",
            Call::Remove("Household", s("hh_1")),
            "kind",
        ),
        bad(
            "remove with a bad id",
            Call::Remove("household", s("../hh_1")),
            "id",
        ),
        bad(
            "list with limit 999999",
            Call::List(list("household", "", 999_999)),
            "limit",
        ),
        bad(
            "list of an unknown kind",
            Call::List(list("households", "", 10)),
            "kind",
        ),
        bad(
            "list with a malformed day",
            Call::List(list("screening_visit", "2026-13-01", 10)),
            "day",
        ),
        bad("household with no id", Call::Household(s("")), "id"),
        bad(
            "worklist with no group",
            Call::Worklist(s(""), s("")),
            "contract_group_id",
        ),
        bad(
            "worklist with a malformed day",
            Call::Worklist(s("cg_1"), s("tomorrow")),
            "day",
        ),
        bad(
            "overdue care as of a malformed day",
            Call::Overdue(s("29/11/2026")),
            "as_of",
        ),
        bad(
            "gaps with a malformed day",
            Call::Gaps(s("2026-11-31")),
            "day",
        ),
        bad("import of 2001 rows", Call::Import(2001), "rows"),
    ]
}

/// Whether `message` (errors joined by "; ", each "field: reason") names `field`.
fn names_field(message: &str, field: &str) -> bool {
    message
        .split("; ")
        .any(|part| part.starts_with(&format!("{field}: ")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_names_the_field_and_changes_nothing() {
    let (_dir, node, mut c, t) = fixture_node().await;
    let mut cases = bad_requests(&t);
    for &kind in Kind::ALL {
        let mine = bad_records(kind, &t);
        assert!(!mine.is_empty(), "no bad cases for {kind}");
        cases.extend(mine);
    }
    let total = cases.len();
    let mut failures = Vec::new();
    for case in cases {
        let before = store_state(&mut c).await;
        let res = run(&mut c, case.call).await;
        let after = store_state(&mut c).await;
        // A document that appears out of nothing is checked by
        // `a_refused_activity_edit_leaves_no_day_document_behind`.
        let after = after.only_docs_of(&before);
        match res {
            Ok(()) => failures.push(format!("{}: accepted", case.what)),
            Err(st) if st.code() != Code::InvalidArgument => failures.push(format!(
                "{}: expected InvalidArgument naming {}, got {:?}: {}",
                case.what,
                case.field,
                st.code(),
                st.message()
            )),
            Err(st) if !names_field(st.message(), &case.field) => failures.push(format!(
                "{}: the error does not name {}: {}",
                case.what,
                case.field,
                st.message()
            )),
            Err(_) => {}
        }
        if before != after {
            failures.push(format!(
                "{}: the refused request changed the store:\n  before {before:?}\n  after  {after:?}",
                case.what
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} bad requests went wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Still fully working afterwards.
    create(&mut c, good(Kind::Household, 1, &t)).await;
    node.stop().await;
}

/// A refused activity edit must leave nothing behind, not even the empty
/// document of the day it named: `Office::apply` starts (`ensure_day`) the
/// day's document before the edit is validated, a refusal leaves that
/// unsaved genesis in memory, and the next acknowledged write commits it to
/// the store. So any bad instant (`visited_at_ms: 5` → 1970-01-01) makes a
/// stored document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_activity_edit_leaves_no_day_document_behind() {
    let (dir, node, mut c, t) = fixture_node().await;
    let before = store_state(&mut c).await;
    assert!(
        before
            .heads_of(&format!("activity/{COMMUNITY}/"))
            .is_empty(),
        "the fixture has no activity yet: {before:?}"
    );
    let mut epoch = good(Kind::ScreeningVisit, 1, &t);
    if let Some(R::ScreeningVisit(v)) = &mut epoch.record {
        v.visited_at_ms = 5;
    }
    assert_refused(
        try_create(&mut c, epoch).await,
        Code::InvalidArgument,
        "a visit in 1970",
    );
    let mut nowhere = good(Kind::Inspection, 1, &t);
    if let Some(R::Inspection(v)) = &mut nowhere.record {
        v.household_id = s("hh_zz");
        v.inspected_at_ms -= 2 * 86_400_000;
    }
    assert_refused(
        try_create(&mut c, nowhere).await,
        Code::InvalidArgument,
        "an inspection two days ago of no household",
    );
    let mut missing = good(Kind::CareVisit, 1, &t);
    set_id(&mut missing, &client_id(Kind::CareVisit, &t, "missing"));
    assert_refused(
        try_update(&mut c, missing).await,
        Code::NotFound,
        "an update of a missing care visit",
    );
    let after = store_state(&mut c).await;
    let appeared = after.docs_not_in(&before);

    // One acknowledged write, then a restart: a refused request's document
    // must not be in the store.
    create(&mut c, good(Kind::Compound, 1, &t)).await;
    node.stop().await;
    let node = InProcessNode::start(dir.path()).await;
    let mut c = node.client().await;
    assert!(
        list_all(&mut c, "screening_visit", "1970-01-01", 0)
            .await
            .is_empty()
    );
    assert!(list_all(&mut c, "inspection", &t.d(-2), 0).await.is_empty());
    let stored = store_state(&mut c).await;
    let stored: Vec<&String> = stored
        .heads
        .iter()
        .map(|(d, _)| d)
        .filter(|d| d.starts_with("activity/"))
        .collect();
    node.stop().await;
    assert!(
        appeared.is_empty() && stored.is_empty(),
        "refused activity edits made documents: after the refusals GetStatus lists {appeared:?} \
         that were not there before; after one good write and a restart the store holds {stored:?}"
    );
}

// ---- other refusals ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_have_their_codes_and_change_nothing() {
    let (_dir, node, mut c, t) = fixture_node().await;

    let before = store_state(&mut c).await;
    let st = assert_refused(
        try_remove(&mut c, "building", "bd_a1").await,
        Code::FailedPrecondition,
        "removing a building with a household",
    );
    assert!(st.message().contains("household"), "{}", st.message());
    assert_refused(
        try_remove(&mut c, "compound", "cp_b").await,
        Code::FailedPrecondition,
        "removing a compound with a building",
    );
    assert_refused(
        try_remove(&mut c, "household", "hh_1").await,
        Code::FailedPrecondition,
        "removing a household with residents",
    );
    assert_refused(
        try_remove(&mut c, "party_member", "pm_1").await,
        Code::FailedPrecondition,
        "removing a party member with a contract group",
    );
    assert_refused(
        try_remove(&mut c, "resident", "rs_1").await,
        Code::FailedPrecondition,
        "removing a resident with a care relationship",
    );
    let dup = wrap(R::Compound(pb::Compound {
        id: s("cp_a"),
        name: s("Another A"),
        address: None,
    }));
    assert_refused(
        try_create(&mut c, dup).await,
        Code::AlreadyExists,
        "a duplicate compound id",
    );
    let missing = wrap(R::Compound(pb::Compound {
        id: s("cp_zz"),
        name: s("Nowhere"),
        address: None,
    }));
    assert_refused(
        try_update(&mut c, missing).await,
        Code::NotFound,
        "updating a missing compound",
    );
    assert_refused(
        try_remove(&mut c, "compound", "cp_zz").await,
        Code::NotFound,
        "removing a missing compound",
    );
    let mut visit = good(Kind::ScreeningVisit, 1, &t);
    set_id(&mut visit, &client_id(Kind::ScreeningVisit, &t, "missing"));
    assert_refused(
        try_update(&mut c, visit.clone()).await,
        Code::NotFound,
        "updating a missing screening visit",
    );
    assert_eq!(get(&mut c, "compound", "cp_zz").await, None);
    assert_eq!(get(&mut c, "screening_visit", id_of(&visit)).await, None);
    assert_eq!(
        c.get_household(pb::GetHouseholdRequest { id: s("hh_zz") })
            .await
            .expect_err("no such household")
            .code(),
        Code::NotFound
    );
    assert_eq!(
        c.get_worklist(pb::GetWorklistRequest {
            contract_group_id: s("cg_zz"),
            day: s("")
        })
        .await
        .expect_err("no such group")
        .code(),
        Code::NotFound
    );
    assert_eq!(
        store_state(&mut c).await.only_docs_of(&before),
        before,
        "a refused request changed the store"
    );
    assert_eq!(
        get(&mut c, "compound", "cp_a")
            .await
            .map(|r| match r.record {
                Some(R::Compound(x)) => x.name,
                _ => String::new(),
            }),
        Some(s("Compound A")),
        "the duplicate overwrote the original"
    );

    // Activity ids are unique too.
    create(&mut c, visit.clone()).await;
    let before = store_state(&mut c).await;
    assert_refused(
        try_create(&mut c, visit).await,
        Code::AlreadyExists,
        "a duplicate screening visit id",
    );
    assert_eq!(store_state(&mut c).await, before);

    // Removing bottom-up works where top-down was refused.
    for (kind, id) in [
        ("care_relationship", "cr_1"),
        ("resident", "rs_3"),
        ("household", "hh_2"),
        ("building", "bd_b1"),
        ("compound", "cp_b"),
    ] {
        try_remove(&mut c, kind, id)
            .await
            .unwrap_or_else(|e| panic!("remove {kind} {id}: {e:?}"));
        assert_eq!(get(&mut c, kind, id).await, None, "{kind} {id}");
    }
    node.stop().await;
}

/// office.proto: RemoveRecord is "refused while other records still point
/// at it". Every reference a create checks must hold a removal back, or a
/// single office makes, alone, the dangling references that ListGaps reports
/// as the traces of concurrent edits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_record_others_point_at_is_refused() {
    let (_dir, node, mut c, t) = fixture_node().await;
    let compound = |id: &str| {
        wrap(R::Compound(pb::Compound {
            id: s(id),
            name: format!("Compound {id}"),
            address: None,
        }))
    };
    let staff = |id: &str, grid: Option<&str>| {
        wrap(R::Staff(pb::Staff {
            id: s(id),
            name: s("网格员乙"),
            role: pb::StaffRole::GridWorker as i32,
            grid_compound_id: grid.map(s),
            ..Default::default()
        }))
    };
    let ticket = |id: &str, cp: Option<&str>, sf: Option<&str>| {
        let mut r = good(Kind::Ticket, 7, &t);
        if let Some(R::Ticket(x)) = &mut r.record {
            x.id = s(id);
            x.assigned_compound_id = cp.map(s);
            x.assigned_staff_id = sf.map(s);
        }
        r
    };
    let mut resident = good(Kind::Resident, 7, &t);
    set_id(&mut resident, "rs_target");
    let mut returnee = good(Kind::Returnee, 7, &t);
    if let Some(R::Returnee(x)) = &mut returnee.record {
        x.id = s("rt_pointing");
        x.resident_id = s("rs_target");
    }
    let mut notice = good(Kind::Notice, 7, &t);
    if let Some(R::Notice(x)) = &mut notice.record {
        x.id = s("nt_pointing");
        x.compound_id = some("cp_notice");
    }
    // (what points, the records to make, the record pointed at)
    let cases: Vec<(&str, Vec<pb::Record>, (&str, &str))> = vec![
        (
            "staff.grid_compound_id",
            vec![compound("cp_grid"), staff("sf_pointing", Some("cp_grid"))],
            ("compound", "cp_grid"),
        ),
        (
            "ticket.assigned_compound_id",
            vec![
                compound("cp_ticket"),
                ticket("tk_pointing1", Some("cp_ticket"), None),
            ],
            ("compound", "cp_ticket"),
        ),
        (
            "notice.compound_id",
            vec![compound("cp_notice"), notice],
            ("compound", "cp_notice"),
        ),
        (
            "ticket.assigned_staff_id",
            vec![
                staff("sf_target", None),
                ticket("tk_pointing2", None, Some("sf_target")),
            ],
            ("staff", "sf_target"),
        ),
        (
            "returnee.resident_id",
            vec![resident, returnee],
            ("resident", "rs_target"),
        ),
    ];
    let gaps = |c: &mut Client| {
        let mut c = c.clone();
        async move {
            let mut g: Vec<String> = c
                .list_gaps(pb::ListGapsRequest { day: s("") })
                .await
                .expect("gaps")
                .into_inner()
                .gaps
                .into_iter()
                .map(|g| g.message)
                .collect();
            g.sort();
            g
        }
    };
    let mut failures = Vec::new();
    for (pointer, records, (kind, id)) in cases {
        for r in records {
            create(&mut c, r).await;
        }
        let gaps_before = gaps(&mut c).await;
        match try_remove(&mut c, kind, id).await {
            Err(st) if st.code() == Code::FailedPrecondition => {
                assert!(get(&mut c, kind, id).await.is_some(), "{kind} {id} is gone");
            }
            Err(st) => failures.push(format!(
                "removing {kind} {id} ({pointer} points at it): {:?} {}",
                st.code(),
                st.message()
            )),
            Ok(()) => {
                let new: Vec<String> = gaps(&mut c)
                    .await
                    .into_iter()
                    .filter(|g| !gaps_before.contains(g))
                    .collect();
                failures.push(format!(
                    "removing {kind} {id} was accepted though {pointer} points at it; new gaps: {new:?}"
                ));
            }
        }
    }
    node.stop().await;
    assert!(
        failures.is_empty(),
        "{} removals were not refused:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---- queries ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_answer_from_the_records() {
    let (_dir, node, mut c, t) = fixture_node().await;

    // The tree.
    let tree = c
        .get_tree(pb::GetTreeRequest {})
        .await
        .expect("tree")
        .into_inner();
    assert_eq!(
        tree.community.as_ref().map(|x| x.id.as_str()),
        Some(COMMUNITY)
    );
    assert_eq!((tree.households, tree.residents), (2, 3));
    assert_eq!(tree.unplaced_households, 0);
    let names: Vec<&str> = tree.compounds.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(names, ["Compound A", "Compound B"]);
    let a = &tree.compounds[0];
    assert_eq!((a.households, a.residents), (1, 2));
    assert_eq!(a.buildings.len(), 1);
    let a1 = &a.buildings[0];
    assert_eq!(
        (a1.id.as_str(), a1.households, a1.residents),
        ("bd_a1", 1, 2)
    );
    assert_eq!(a1.groups.len(), 1);
    assert_eq!(a1.groups[0].contract_group_id.as_deref(), Some("cg_1"));
    assert_eq!(a1.groups[0].member_name.as_deref(), Some("王党员"));
    let h: Vec<(&str, &str, u32)> = a1.groups[0]
        .households
        .iter()
        .map(|h| (h.id.as_str(), h.label.as_str(), h.residents))
        .collect();
    assert_eq!(h, [("hh_1", "1-101", 2)]);
    let b1 = &tree.compounds[1].buildings[0];
    assert_eq!(b1.groups.len(), 1);
    assert_eq!(b1.groups[0].contract_group_id, None);
    assert_eq!(b1.groups[0].households[0].label, "202");

    // A new household and resident show in the counts.
    let hh = create(&mut c, good(Kind::Household, 1, &t)).await;
    let mut res = good(Kind::Resident, 1, &t);
    if let Some(R::Resident(r)) = &mut res.record {
        r.household_id = s(id_of(&hh));
    }
    create(&mut c, res).await;
    let tree = c
        .get_tree(pb::GetTreeRequest {})
        .await
        .expect("tree")
        .into_inner();
    assert_eq!((tree.households, tree.residents), (3, 4));
    assert_eq!(
        (
            tree.compounds[0].buildings[0].households,
            tree.compounds[0].buildings[0].residents
        ),
        (2, 3)
    );

    // One household.
    let d = c
        .get_household(pb::GetHouseholdRequest { id: s("hh_1") })
        .await
        .expect("hh_1")
        .into_inner();
    assert_eq!(d.household.as_ref().map(|h| h.id.as_str()), Some("hh_1"));
    let mut ids: Vec<&str> = d.residents.iter().map(|r| r.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["rs_1", "rs_2"]);
    assert_eq!(d.compound_name.as_deref(), Some("Compound A"));
    assert_eq!(d.building_name.as_deref(), Some("Building A1"));
    assert_eq!(d.member.as_ref().map(|m| m.id.as_str()), Some("pm_1"));
    let d2 = c
        .get_household(pb::GetHouseholdRequest { id: s("hh_2") })
        .await
        .expect("hh_2")
        .into_inner();
    assert_eq!(d2.member, None);
    assert_eq!(d2.residents.len(), 1);

    // The worklist: screened goes from 0 to 1 with a visit.
    let worklist = |c: &mut Client| {
        let mut c = c.clone();
        let day = t.today();
        async move {
            c.get_worklist(pb::GetWorklistRequest {
                contract_group_id: s("cg_1"),
                day,
            })
            .await
            .expect("worklist")
            .into_inner()
        }
    };
    let w = worklist(&mut c).await;
    assert_eq!(w.day, t.today());
    assert_eq!(w.screened, 0);
    let items: Vec<&str> = w.items.iter().map(|i| i.household_id.as_str()).collect();
    assert_eq!(items.len(), 2, "{items:?}");
    assert!(items.contains(&"hh_1") && items.contains(&id_of(&hh)));
    assert!(w.items.iter().all(|i| i.visit_ids.is_empty()));
    let visit = create(&mut c, good(Kind::ScreeningVisit, 1, &t)).await;
    let w = worklist(&mut c).await;
    assert_eq!(w.screened, 1);
    let hh1 = w
        .items
        .iter()
        .find(|i| i.household_id == "hh_1")
        .expect("hh_1 in the worklist");
    assert_eq!(hh1.visit_ids, [id_of(&visit)]);
    assert_eq!(hh1.residents, 2);
    assert_eq!(hh1.building_name, "Building A1");
    // Another day's worklist is not screened.
    let other = c
        .get_worklist(pb::GetWorklistRequest {
            contract_group_id: s("cg_1"),
            day: t.d(-1),
        })
        .await
        .expect("yesterday's worklist")
        .into_inner();
    assert_eq!(other.screened, 0);

    // A return found by a screening visit becomes a returnee case.
    let returnees_before = list_all(&mut c, "returnee", "", 0).await.len();
    let mut ret = good(Kind::ScreeningVisit, 2, &t);
    if let Some(R::ScreeningVisit(v)) = &mut ret.record {
        v.residents.insert(
            s("rs_2"),
            pb::ScreeningEntry {
                status: pb::ScreeningStatus::Returned as i32,
                returned_from: some("某市"),
                returned_on: Some(t.d(-1)),
            },
        );
    }
    let ret = create(&mut c, ret).await;
    let returnees = list_all(&mut c, "returnee", "", 0).await;
    assert_eq!(returnees.len(), returnees_before + 1);
    assert!(returnees.iter().any(|r| matches!(&r.record,
        Some(R::Returnee(x)) if x.resident_id == "rs_2"
            && x.returned_on == t.d(-1)
            && x.visit_id.as_deref() == Some(id_of(&ret)))));

    // Overdue care: cr_1 started ten days ago, every two days, never visited.
    let overdue = |c: &mut Client, as_of: String| {
        let mut c = c.clone();
        async move {
            c.list_overdue_care(pb::ListOverdueCareRequest { as_of })
                .await
                .expect("overdue care")
                .into_inner()
                .items
        }
    };
    let items = overdue(&mut c, t.today()).await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(
        items[0].relationship.as_ref().map(|r| r.id.as_str()),
        Some("cr_1")
    );
    assert_eq!(items[0].due_on, t.d(-8));
    assert_eq!(items[0].days_overdue, 8);
    assert_eq!(items[0].resident_name.as_deref(), Some("李四"));
    // A care visit today moves last_visit to today: no longer overdue.
    create(&mut c, good(Kind::CareVisit, 1, &t)).await;
    match get(&mut c, "care_relationship", "cr_1")
        .await
        .and_then(|r| r.record)
    {
        Some(R::CareRelationship(r)) => assert_eq!(r.last_visit, Some(t.today())),
        other => panic!("cr_1: {other:?}"),
    }
    assert!(overdue(&mut c, t.today()).await.is_empty());
    let later = overdue(&mut c, t.d(5)).await;
    assert_eq!(later.len(), 1);
    assert_eq!(
        (later[0].due_on.clone(), later[0].days_overdue),
        (t.d(2), 3)
    );

    // Open tickets, oldest first; a resolved one is not open.
    let ticket = |n: u32, age_ms: i64| {
        let mut r = good(Kind::Ticket, n, &t);
        if let Some(R::Ticket(x)) = &mut r.record {
            x.received_at_ms = t.now - age_ms;
        }
        r
    };
    let newer = create(&mut c, ticket(1, 3_600_000)).await;
    let older = create(&mut c, ticket(2, 7_200_000)).await;
    let mut resolved = ticket(3, 10_800_000);
    if let Some(R::Ticket(x)) = &mut resolved.record {
        x.resolved_at_ms = Some(t.now - 1_000);
        x.resolution = some("已办结");
    }
    create(&mut c, resolved).await;
    let open = |c: &mut Client| {
        let mut c = c.clone();
        async move {
            c.list_open_tickets(pb::ListOpenTicketsRequest {})
                .await
                .expect("open tickets")
                .into_inner()
                .items
        }
    };
    let items = open(&mut c).await;
    let ids: Vec<String> = items
        .iter()
        .map(|i| i.ticket.as_ref().map(|x| x.id.clone()).unwrap_or_default())
        .collect();
    assert_eq!(ids, [s(id_of(&older)), s(id_of(&newer))]);
    assert!(items[0].age_ms >= 7_200_000, "{}", items[0].age_ms);
    let mut close = older.clone();
    if let Some(R::Ticket(x)) = &mut close.record {
        x.resolved_at_ms = Some(now_ms());
        x.resolution = some("已办结");
    }
    try_update(&mut c, close).await.expect("close the ticket");
    let ids: Vec<String> = open(&mut c)
        .await
        .iter()
        .map(|i| i.ticket.as_ref().map(|x| x.id.clone()).unwrap_or_default())
        .collect();
    assert_eq!(ids, [s(id_of(&newer))]);

    // Gaps: hh_2 has no contract group; once it has one, no gap.
    let gaps = |c: &mut Client| {
        let mut c = c.clone();
        async move {
            c.list_gaps(pb::ListGapsRequest { day: s("") })
                .await
                .expect("gaps")
                .into_inner()
                .gaps
        }
    };
    let g = gaps(&mut c).await;
    assert!(
        g.iter()
            .any(|x| x.kind == "household" && x.id == "hh_2" && x.code == "no_contract_group"),
        "{g:?}"
    );
    assert!(!g.iter().any(|x| x.id == "hh_1"), "{g:?}");
    let status = c
        .get_status(pb::GetStatusRequest {})
        .await
        .expect("status")
        .into_inner();
    assert_eq!(status.gaps, g.len() as u64);
    let mut hh2 = get(&mut c, "household", "hh_2").await.expect("hh_2");
    if let Some(R::Household(x)) = &mut hh2.record {
        x.contract_group_id = some("cg_1");
    }
    try_update(&mut c, hh2).await.expect("give hh_2 a group");
    let g = gaps(&mut c).await;
    assert!(!g.iter().any(|x| x.id == "hh_2"), "{g:?}");
    node.stop().await;
}

// ---- restart ----

async fn snapshot(c: &mut Client, t: &Times) -> Vec<(String, Vec<pb::Record>)> {
    let mut out = Vec::new();
    for &kind in Kind::ALL {
        let day = if kind.doc_class() == gridsync_core::DocClass::Activity {
            t.today()
        } else {
            String::new()
        };
        out.push((s(kind.name()), list_all(c, kind.name(), &day, 0).await));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_has_everything_it_acknowledged() {
    let (dir, node, mut c, t) = fixture_node().await;
    for (i, &kind) in Kind::ALL.iter().enumerate() {
        create(&mut c, good(kind, 100 + i as u32, &t)).await;
    }
    // Enough writes to compact the registry several times over.
    for n in 0..30 {
        let hh = create(&mut c, good(Kind::Household, 200 + n, &t)).await;
        if n % 3 == 0 {
            let (update, _) = changed(&hh, &t);
            try_update(&mut c, update).await.expect("update");
        }
    }
    let removed = create(&mut c, good(Kind::Compound, 300, &t)).await;
    try_remove(&mut c, "compound", id_of(&removed))
        .await
        .expect("remove");

    let records = snapshot(&mut c, &t).await;
    assert!(records.iter().all(|(_, r)| !r.is_empty()));
    let state = store_state(&mut c).await;
    let tree = c
        .get_tree(pb::GetTreeRequest {})
        .await
        .expect("tree")
        .into_inner();
    let status = c
        .get_status(pb::GetStatusRequest {})
        .await
        .expect("status")
        .into_inner();
    let registry = status
        .docs
        .iter()
        .find(|d| d.doc_id == format!("registry/{COMMUNITY}"))
        .expect("the registry in the status");
    assert!(
        registry.snapshot_bytes > 0 && registry.chunk_count < COMPACT_AFTER_CHUNKS,
        "the registry was never compacted: {registry:?}"
    );

    // Stop, start on the same store, compare; twice, so that the second
    // start reads what the first one wrote (including the write below).
    node.stop().await;
    let mut expect_records = records;
    let mut expect_state = state;
    let mut expect_tree = tree;
    for round in 0..2 {
        let again = InProcessNode::start(dir.path()).await;
        let mut c = again.client().await;
        assert_eq!(
            snapshot(&mut c, &t).await,
            expect_records,
            "round {round}: the records after a restart"
        );
        let now = store_state(&mut c).await;
        for prefix in ["registry/", "cases/"] {
            assert_eq!(
                now.heads_of(prefix),
                expect_state.heads_of(prefix),
                "round {round}: the heads of {prefix} after a restart"
            );
        }
        assert_eq!(now.counts, expect_state.counts, "round {round}: counts");
        let tree = c
            .get_tree(pb::GetTreeRequest {})
            .await
            .expect("tree")
            .into_inner();
        assert_eq!(tree, expect_tree, "round {round}: the tree after a restart");
        assert_eq!(get(&mut c, "compound", id_of(&removed)).await, None);
        // It still takes writes, and they count.
        let after = create(&mut c, good(Kind::Compound, 301 + round, &t)).await;
        assert_eq!(
            get(&mut c, "compound", id_of(&after)).await.as_ref(),
            Some(&after)
        );
        expect_records = snapshot(&mut c, &t).await;
        expect_state = store_state(&mut c).await;
        expect_tree = c
            .get_tree(pb::GetTreeRequest {})
            .await
            .expect("tree")
            .into_inner();
        again.stop().await;
    }
}

// ---- health and reflection ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_reflection_report_the_office_service() {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let dir = tempfile::tempdir().expect("a temporary folder");
    let node = InProcessNode::start(dir.path()).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", node.addr))
        .expect("url")
        .connect()
        .await
        .expect("connect");

    let mut health = HealthClient::new(channel.clone());
    let r = health
        .check(HealthCheckRequest {
            service: s("gridsync.office.v1.Office"),
        })
        .await
        .expect("health check")
        .into_inner();
    assert_eq!(r.status, ServingStatus::Serving as i32);
    let e = health
        .check(HealthCheckRequest {
            service: s("gridsync.office.v1.Nothing"),
        })
        .await
        .expect_err("an unknown service has no health");
    assert_eq!(e.code(), Code::NotFound);

    let mut refl = ServerReflectionClient::new(channel);
    let ask = |m: MessageRequest| ServerReflectionRequest {
        host: s(""),
        message_request: Some(m),
    };
    let mut replies = refl
        .server_reflection_info(tokio_stream::iter(vec![
            ask(MessageRequest::ListServices(s(""))),
            ask(MessageRequest::FileContainingSymbol(s(
                "gridsync.office.v1.Office",
            ))),
        ]))
        .await
        .expect("reflection")
        .into_inner();
    let first = replies
        .message()
        .await
        .expect("a reply")
        .expect("a first reply");
    match first.message_response {
        Some(MessageResponse::ListServicesResponse(l)) => {
            let names: Vec<&str> = l.service.iter().map(|x| x.name.as_str()).collect();
            assert!(names.contains(&"gridsync.office.v1.Office"), "{names:?}");
            assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");
        }
        other => panic!("expected the list of services, got {other:?}"),
    }
    let second = replies
        .message()
        .await
        .expect("a reply")
        .expect("a second reply");
    match second.message_response {
        Some(MessageResponse::FileDescriptorResponse(f)) => {
            assert!(!f.file_descriptor_proto.is_empty());
        }
        other => panic!("expected the descriptor of the office service, got {other:?}"),
    }
    node.stop().await;
}
