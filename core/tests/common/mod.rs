//! A small community to test against, built through the same edits the
//! node makes.
#![allow(dead_code)]

use automerge::ActorId;
use gridsync_core::*;

pub const NOW: i64 = 1_796_000_000_000; // 2026-11-30T..Z
pub fn ctx() -> EditContext {
    EditContext {
        now_ms: NOW,
        tz: chrono_tz::Asia::Shanghai,
    }
}
pub fn day() -> Day {
    replica::day_of_instant(NOW, chrono_tz::Asia::Shanghai).unwrap()
}
pub fn secret() -> PersonKeySecret {
    PersonKeySecret::new(vec![7u8; 32]).unwrap()
}
pub fn community() -> CommunityId {
    CommunityId::parse("tongbai").unwrap()
}
pub fn actor(n: u8) -> ActorId {
    ActorId::from(&[n; 16][..])
}
pub fn d(s: &str) -> Date {
    Date::parse("test", s).unwrap()
}

/// A valid ID number (checksum computed).
pub fn id_number(region_birth_seq: &str) -> String {
    assert_eq!(region_birth_seq.len(), 17);
    let check = gridsync_core::validate::id_check_char(region_birth_seq).expect("17 digits");
    format!("{region_birth_seq}{check}")
}

pub fn compound(id: &str) -> Record {
    Record::Compound(Compound {
        id: id.into(),
        name: format!("compound {id}"),
        address: None,
    })
}
pub fn building(id: &str, compound: &str) -> Record {
    Record::Building(Building {
        id: id.into(),
        compound_id: compound.into(),
        name: format!("building {id}"),
    })
}
pub fn household(id: &str, compound: &str, building: &str, group: Option<&str>) -> Household {
    Household {
        id: id.into(),
        compound_id: compound.into(),
        building_id: building.into(),
        unit: "1".into(),
        door: id.trim_start_matches("hh_").into(),
        head_name: "张三".into(),
        phone: Some("13800138000".into()),
        contract_group_id: group.map(str::to_string),
    }
}
pub fn resident(id: &str, household: &str) -> Resident {
    Resident {
        id: id.into(),
        household_id: household.into(),
        name: "李四".into(),
        id_number: None,
        person_key: None,
        gender: Some(Gender::Female),
        birth_date: Some(d("1945-03-02")),
        phone: None,
        relation: Some("本人".into()),
        lives_alone: true,
    }
}

/// A community with one of everything the other records can point at.
pub fn fixture() -> CommunityReplica {
    let mut r = CommunityReplica::new(community(), actor(1), Some(secret()));
    r.start_day(day());
    r.apply(&fixture_edits(), &ctx(), "fixture").unwrap();
    r
}

/// The edits that build the fixture.
pub fn fixture_edits() -> Vec<Edit> {
    vec![
        Edit::Create(compound("cp_a")),
        Edit::Create(compound("cp_b")),
        Edit::Create(building("bd_a1", "cp_a")),
        Edit::Create(building("bd_b1", "cp_b")),
        Edit::Create(Record::PartyMember(PartyMember {
            id: "pm_1".into(),
            name: "王党员".into(),
            kind: PartyMemberKind::SelfManaged,
            phone: None,
            resident_id: None,
            workplace: None,
        })),
        Edit::Create(Record::ContractGroup(ContractGroup {
            id: "cg_1".into(),
            party_member_id: "pm_1".into(),
            name: None,
        })),
        Edit::Create(Record::Household(household(
            "hh_1",
            "cp_a",
            "bd_a1",
            Some("cg_1"),
        ))),
        Edit::Create(Record::Resident(resident("rs_1", "hh_1"))),
        Edit::Create(Record::Staff(Staff {
            id: "sf_1".into(),
            name: "网格员甲".into(),
            role: StaffRole::GridWorker,
            phone: None,
            grid_compound_id: Some("cp_a".into()),
            department: None,
            term_start: None,
            term_end: None,
        })),
        Edit::Create(Record::VolunteerTeam(VolunteerTeam {
            id: "vt_1".into(),
            name: "爱民服务队".into(),
            leader: None,
        })),
        Edit::Create(Record::CareRelationship(CareRelationship {
            id: "cr_1".into(),
            resident_id: "rs_1".into(),
            visitor: "网格员甲".into(),
            every_days: 2,
            since: d("2026-11-01"),
            last_visit: None,
            ended_on: None,
        })),
    ]
}

pub fn activity_id(kind: Kind, n: u8) -> String {
    kind.new_id([n; 8], Some(day()))
}
