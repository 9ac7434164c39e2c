//! The inputs the fuzz corpora start from, made here from the street model
//! so that they stay true to this build's formats. `gridsync-fuzz-seeds
//! DIR` writes them to `DIR/<target>/seed-<name>`; `tests/fuzz_corpus`
//! runs every one through its harness whatever the corpus holds.
//!
//! - `sync_message`: every message two replicas exchange until they agree,
//!   for a registry made by importing a demo roster (to an empty peer, a
//!   peer at genesis, a peer with half of it, two peers that both
//!   edited), for the street document with a record removed, and for a
//!   list with deletions; the [`crate::hostile`] messages (op bombs of 3 to
//!   33.6M operations, inflate bombs, a `have` flood, a corrupt checksum),
//!   Bloom filters with no bits or a huge probe count, and cut-short
//!   messages.
//! - `frames`: a few fixed pseudo-random byte strings (the harness reads
//!   its steps from them with `arbitrary`).
//! - `records`: one wire record of each office kind, each street kind, a
//!   community, a street document and a roster row, and a few with bad
//!   dates and unknown enum values.
//! - `roster`: demo rosters (Chinese and English headers, GBK, a BOM,
//!   quoted fields) and one with a bad row of every sort.

use std::collections::BTreeMap;

use automerge::sync::{self, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ObjType, ROOT};
use gridsync_core::street::{self, StreetCommunity, StreetKind, StreetRecord};
use gridsync_core::*;
use gridsync_proto::office::v1 as pb;
use gridsync_proto::street::v1 as spb;
use prost::Message as _;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::{NOW_MS, community};
use crate::{demo_roster, hostile};

/// One seed input of one target.
pub struct Seed {
    pub target: &'static str,
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Every seed of every target.
pub fn all() -> Vec<Seed> {
    let mut out = Vec::new();
    let mut add = |target: &'static str, items: Vec<(String, Vec<u8>)>| {
        for (name, bytes) in items {
            out.push(Seed {
                target,
                name,
                bytes,
            });
        }
    };
    add("sync_message", sync_messages());
    add("frames", frames());
    add("records", records());
    add("roster", rosters());
    out
}

fn actor(n: u8) -> ActorId {
    ActorId::from(&[n; 16][..])
}

fn ctx() -> EditContext {
    EditContext {
        now_ms: NOW_MS,
        tz: crate::TIME_ZONE,
    }
}

/// A replica of [`community`] with `households` demo households imported,
/// in two imports (the heads after the first are returned too).
fn imported(households: usize) -> (CommunityReplica, Vec<automerge::ChangeHash>) {
    let mut replica =
        CommunityReplica::new(community(), actor(1), Some(crate::person_key_secret()));
    let rows: Vec<roster::RawRow> = demo_roster::community_roster(7, households)
        .iter()
        .map(|r| (r.line, r.raw_fields()))
        .collect();
    let mut n: u64 = 0;
    let mut new_id = |k: Kind| {
        n += 1;
        k.new_id(n.to_be_bytes(), None)
    };
    let secret = crate::person_key_secret();
    let (a, b) = rows.split_at(rows.len() / 2);
    let id = DocId::Registry(community());
    roster::import_rows(&mut replica, a, &ctx(), Some(&secret), &mut new_id);
    let mid = replica.heads(&id).unwrap_or_default();
    roster::import_rows(&mut replica, b, &ctx(), Some(&secret), &mut new_id);
    (replica, mid)
}

/// A registry document with `households` demo households.
pub fn registry_doc(households: usize) -> AutoCommit {
    let (mut replica, _) = imported(households);
    replica
        .doc_mut(&DocId::Registry(community()))
        .cloned()
        .unwrap_or_default()
}

/// Every message `a` and `b` send each other until they agree, encoded,
/// named `<name>-a<i>` and `<name>-b<i>`.
fn exchange(name: &str, a: &mut AutoCommit, b: &mut AutoCommit) -> Vec<(String, Vec<u8>)> {
    let (mut sa, mut sb) = (sync::State::new(), sync::State::new());
    let mut out = Vec::new();
    for round in 0..20 {
        let ma = a
            .sync()
            .generate_sync_message(&mut sa)
            .map(sync::Message::encode);
        let mb = b
            .sync()
            .generate_sync_message(&mut sb)
            .map(sync::Message::encode);
        if ma.is_none() && mb.is_none() {
            break;
        }
        if let Some(m) = ma {
            if let Ok(msg) = sync::Message::decode(&m) {
                let _ = b.sync().receive_sync_message(&mut sb, msg);
            }
            out.push((format!("{name}-a{round}"), m));
        }
        if let Some(m) = mb {
            if let Ok(msg) = sync::Message::decode(&m) {
                let _ = a.sync().receive_sync_message(&mut sa, msg);
            }
            out.push((format!("{name}-b{round}"), m));
        }
    }
    out
}

fn d(s: &str) -> Date {
    Date::parse("seed", s).unwrap_or(Date(chrono::NaiveDate::default()))
}

fn street_records() -> Vec<StreetRecord> {
    vec![
        StreetRecord::Community(StreetCommunity {
            id: "c01".into(),
            name: "桐柏路社区".into(),
            kind: CommunityKind::Community,
        }),
        StreetRecord::Community(StreetCommunity {
            id: "liuzhai".into(),
            name: "刘寨村".into(),
            kind: CommunityKind::Village,
        }),
        StreetRecord::RiskRegion(RiskRegion {
            id: "rr_wuhan".into(),
            region: "湖北省武汉市".into(),
            level: RiskLevel::High,
            from: d("2020-01-23"),
            to: Some(d("2020-04-08")),
        }),
        StreetRecord::Notice(StreetNotice {
            id: "sn_0001".into(),
            title: "返郑人员报备".into(),
            body: "所有返郑人员请向社区报备。".into(),
            published_at_ms: NOW_MS - 3_600_000,
        }),
        StreetRecord::TaskForce(TaskForce {
            id: "tf_checkpoint".into(),
            name: "卡口值守专班".into(),
            members: vec!["张伟".into(), "sf_0001".into()],
        }),
    ]
}

/// The street document with one of each record, then one removed.
fn street_doc() -> AutoCommit {
    let mut doc = docs::genesis(&DocId::Street, actor(9));
    for r in street_records() {
        let _ = street::put(&mut doc, r, NOW_MS, "seed");
    }
    let _ = street::remove(&mut doc, StreetKind::TaskForce, "tf_checkpoint", NOW_MS);
    doc
}

/// A list of 200 numbers of which 150 were deleted again: a document
/// whose deletions are not rows of its op columns.
fn deleted_list() -> AutoCommit {
    let mut doc = AutoCommit::new().with_actor(actor(3));
    if let Ok(list) = doc.put_object(ROOT, "l", ObjType::List) {
        for i in 0..200 {
            let _ = doc.insert(&list, i, i as i64);
        }
        doc.commit();
        for _ in 0..150 {
            let _ = doc.delete(&list, 0);
        }
        doc.commit();
    }
    doc
}

/// A v1 message with one summary whose Bloom filter is `bloom`.
fn with_bloom(bloom: &[u8]) -> Vec<u8> {
    let mut m = vec![0x42, 0, 0, 1, 0, bloom.len() as u8];
    m.extend_from_slice(bloom);
    m.push(0);
    m
}

fn sync_messages() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let (mut replica, mid) = imported(6);
    let id = DocId::Registry(community());
    let mut full = replica.doc_mut(&id).cloned().unwrap_or_default();
    out.extend(exchange(
        "registry-to-empty",
        &mut full.clone(),
        &mut AutoCommit::new(),
    ));
    let mut genesis = docs::genesis(&id, actor(2));
    out.extend(exchange(
        "registry-to-genesis",
        &mut full.clone(),
        &mut genesis,
    ));
    if let Ok(mut half) = full.fork_at(&mid) {
        out.extend(exchange("registry-to-half", &mut full.clone(), &mut half));
    }
    // Both sides edited: needs, haves and changes both ways.
    let mut other = docs::genesis(&id, actor(2));
    let _ = other.put(ROOT, "seed_note", "from the other side");
    other.commit();
    let _ = full.put(ROOT, "seed_note", "from this side");
    full.commit();
    out.extend(exchange("registry-both-edited", &mut full, &mut other));
    out.extend(exchange(
        "street-to-empty",
        &mut street_doc(),
        &mut AutoCommit::new(),
    ));
    let mut street_genesis = docs::genesis(&DocId::Street, actor(8));
    out.extend(exchange(
        "street-to-genesis",
        &mut street_doc(),
        &mut street_genesis,
    ));
    out.extend(exchange(
        "deleted-list",
        &mut deleted_list(),
        &mut AutoCommit::new(),
    ));
    // Cut short: half of each of the first few real messages.
    let cut: Vec<(String, Vec<u8>)> = out
        .iter()
        .take(4)
        .map(|(n, m)| (format!("{n}-cut"), m[..m.len() / 2].to_vec()))
        .collect();
    out.extend(cut);
    // The hostile peers' messages.
    for ops in [3u64, 100, 2_097_152, 8_388_608, 33_554_432] {
        out.push((
            format!("op-bomb-{ops}"),
            hostile::sync_message(&[hostile::op_bomb(ops)]),
        ));
    }
    for bytes in [1_000usize, 8 * 1024 * 1024] {
        out.push((
            format!("inflate-bomb-{bytes}"),
            hostile::sync_message(&[hostile::inflate_bomb(bytes)]),
        ));
    }
    out.push(("have-flood".into(), hostile::have_flood(33_554_432)));
    if let Some((_, m)) = out
        .iter()
        .find(|(n, m)| n.starts_with("registry-to-genesis") && m.len() > 200)
    {
        out.push(("corrupt-checksum".into(), hostile::corrupt(m)));
    }
    out.push(("bloom-no-bits".into(), with_bloom(&[1, 0, 7, 0xff])));
    out.push((
        "bloom-huge-probes".into(),
        with_bloom(&[1, 10, 0x80, 0xe1, 0xeb, 0x17, 0xff]),
    ));
    out
}

fn frames() -> Vec<(String, Vec<u8>)> {
    let mut rng = StdRng::seed_from_u64(12);
    [0usize, 16, 64, 256, 1024, 4096]
        .into_iter()
        .map(|len| {
            let bytes: Vec<u8> = (0..len).map(|_| rng.random::<u8>()).collect();
            (format!("random-{len}"), bytes)
        })
        .collect()
}

/// One record of each office kind, as the street model holds them.
fn office_records() -> Vec<Record> {
    let (replica, _) = imported(2);
    let v = replica.view();
    let mut out: Vec<Record> = Vec::new();
    out.extend(v.compounds.values().take(1).cloned().map(Record::Compound));
    out.extend(v.buildings.values().take(1).cloned().map(Record::Building));
    out.extend(
        v.contract_groups
            .values()
            .take(1)
            .cloned()
            .map(Record::ContractGroup),
    );
    out.extend(
        v.households
            .values()
            .take(1)
            .cloned()
            .map(Record::Household),
    );
    out.extend(v.residents.values().take(2).cloned().map(Record::Resident));
    out.extend(
        v.party_members
            .values()
            .take(1)
            .cloned()
            .map(Record::PartyMember),
    );
    let day = |s: &str| Some(d(s));
    out.extend([
        Record::Staff(Staff {
            id: "sf_0001".into(),
            name: "王芳".into(),
            role: StaffRole::GridWorker,
            phone: Some("13800138000".into()),
            grid_compound_id: Some("cp_0001".into()),
            department: None,
            term_start: day("2026-01-01"),
            term_end: None,
        }),
        Record::VolunteerTeam(VolunteerTeam {
            id: "vt_0001".into(),
            name: "青年突击队".into(),
            leader: Some("李强".into()),
        }),
        Record::Volunteer(Volunteer {
            id: "vo_0001".into(),
            name: "赵敏".into(),
            team_id: Some("vt_0001".into()),
            phone: None,
            post: Some("卡口".into()),
        }),
        Record::Isolation(Isolation {
            id: "is_0001".into(),
            resident_id: "rs_0001".into(),
            start: d("2026-11-20"),
            planned_end: d("2026-12-04"),
            door_device: DoorDevice::Sensor,
            released_on: None,
            reason: Some("密接".into()),
        }),
        Record::CareRelationship(CareRelationship {
            id: "cr_0001".into(),
            resident_id: "rs_0001".into(),
            visitor: "王芳".into(),
            every_days: 7,
            since: d("2026-01-01"),
            last_visit: day("2026-11-28"),
            ended_on: None,
        }),
        Record::Ticket(Ticket {
            id: "tk_0001".into(),
            received_at_ms: NOW_MS - 7_200_000,
            channel: TicketChannel::Hotline,
            category: "供暖".into(),
            summary: "暖气不热".into(),
            caller_phone: Some("13900139000".into()),
            assigned_compound_id: None,
            assigned_staff_id: Some("sf_0001".into()),
            resolved_at_ms: Some(NOW_MS - 3_600_000),
            resolution: Some("已修复".into()),
        }),
        Record::Returnee(Returnee {
            id: "rt_0001".into(),
            resident_id: "rs_0001".into(),
            returned_on: d("2026-11-25"),
            from_region: "湖北省武汉市".into(),
            visit_id: None,
        }),
        Record::Notice(Notice {
            id: "nt_0001".into(),
            title: "核酸检测".into(),
            body: "明早八点开始。".into(),
            channels: vec![NoticeChannel::Loudspeaker, NoticeChannel::CompoundChat],
            published_at_ms: NOW_MS - 600_000,
            compound_id: None,
        }),
        Record::ScreeningVisit(ScreeningVisit {
            id: "sv_20261130_0001".into(),
            household_id: "hh_0001".into(),
            visited_at_ms: NOW_MS - 60_000,
            visitor: "网格员甲".into(),
            residents: BTreeMap::from([(
                "rs_0001".to_string(),
                ScreeningEntry {
                    status: ScreeningStatus::Returned,
                    returned_from: Some("武汉".into()),
                    returned_on: day("2026-11-25"),
                },
            )]),
            notes: None,
        }),
        Record::CareVisit(CareVisit {
            id: "cv_20261130_0001".into(),
            relationship_id: "cr_0001".into(),
            visited_at_ms: NOW_MS - 60_000,
            visitor: "王芳".into(),
            notes: Some("身体好".into()),
        }),
        Record::Inspection(Inspection {
            id: "in_20261130_0001".into(),
            household_id: "hh_0001".into(),
            method: InspectionMethod::Phone,
            inspected_at_ms: NOW_MS - 60_000,
            inspector: "李强".into(),
            knew_member: true,
            notes: None,
        }),
    ]);
    out
}

fn records() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    for r in office_records() {
        let name = r.kind().name().to_string();
        out.push((name, pb::Record::from(r).encode_to_vec()));
    }
    for r in street_records() {
        let name = format!("street-{}", r.kind().name());
        out.push((name, spb::StreetRecord::from(r).encode_to_vec()));
    }
    let info = CommunityInfo {
        id: "c01".into(),
        name: "桐柏路社区".into(),
        kind: CommunityKind::Community,
    };
    out.push((
        "community-info".into(),
        pb::CommunityInfo::from(info).encode_to_vec(),
    ));
    let view = street::StreetView::read(&street_doc());
    out.push((
        "street-document".into(),
        spb::StreetDocument::from(view).encode_to_vec(),
    ));
    if let Some(row) = demo_roster::community_roster(7, 1).first() {
        let wire = gridsync_proto::convert::roster_row_to_pb(row.line, &row.raw_fields());
        out.push(("roster-row".into(), wire.encode_to_vec()));
    }
    // Bad ones: a date that is no date, one out of range, an unknown enum.
    let mut bad_date = crate::resident_pb(
        "rs_bad",
        "hh_0001".into(),
        "张三".into(),
        "11010519491231002X".into(),
        chrono::NaiveDate::from_ymd_opt(1949, 12, 31).unwrap_or_default(),
        1,
        false,
    );
    if let Some(pb::record::Record::Resident(r)) = &mut bad_date.record {
        r.birth_date = Some("1949-13-31".into());
    }
    out.push(("resident-bad-date".into(), bad_date.encode_to_vec()));
    let mut old = bad_date.clone();
    if let Some(pb::record::Record::Resident(r)) = &mut old.record {
        r.birth_date = Some("1800-01-01".into());
        r.gender = 99;
    }
    out.push(("resident-1800-unknown-gender".into(), old.encode_to_vec()));
    out
}

fn rosters() -> Vec<(String, Vec<u8>)> {
    let rows = demo_roster::community_roster(7, 8);
    let zh = demo_roster::to_csv(&rows);
    let mut out = vec![("demo-zh".to_string(), zh.clone().into_bytes())];
    let (gbk, _, _) = encoding_rs::GBK.encode(&zh);
    out.push(("demo-gbk".into(), gbk.into_owned()));
    out.push(("demo-bom".into(), format!("\u{feff}{zh}").into_bytes()));
    let en = "compound,building,unit,door,head_name,household_phone,name,id_number,gender,birth_date,relation,phone,lives_alone,contract_member\n\
              \"Tongbai Rd, No. 61\",1,2,201,张三,13800138000,张三,11010519491231002X,female,1949-12-31,本人,,no,李四\n\
              \"Tongbai Rd, No. 61\",1,2,201,张三,13800138000,\"张\n小三\",,male,2001-02-03,子女,13900139000,yes,李四\r\n";
    out.push(("english-quoted".into(), en.as_bytes().to_vec()));
    let bad = "楼院,楼栋,门牌号,户主姓名,姓名,身份证号,联系电话,性别,出生日期,独居\n\
               A,1,101,王五,王五,11010519491231002X,13800138000,男,1949-12-31,否\n\
               A,1,102,赵六,赵六,110105194912310021,13800138000,女,,是\n\
               A,1,103,钱七,钱七,,12345,x,2300-01-01,maybe\n\
               A,,104,孙八,孙八,,,,,\n\
               A,1,105,周九\n\
               A,2,201,赵六,赵六,11010519491231002x,,,,\n";
    out.push(("bad-rows".into(), bad.as_bytes().to_vec()));
    out.push((
        "unknown-column".into(),
        "楼院,楼栋,门牌号,户主姓名,姓名,shoe size\n"
            .as_bytes()
            .to_vec(),
    ));
    out
}
