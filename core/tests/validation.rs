//! Validation, good and bad, for every record kind: a good record is
//! accepted; each bad one is refused with an error naming the field, and
//! the documents are unchanged afterwards.

mod common;
use common::*;
use gridsync_core::*;

/// A valid record of every kind, against the fixture.
fn good(kind: Kind) -> Record {
    let at = NOW - 3_600_000;
    match kind {
        Kind::Compound => compound("cp_new"),
        Kind::Building => building("bd_new", "cp_a"),
        Kind::ContractGroup => Record::ContractGroup(ContractGroup {
            id: "cg_new".into(),
            party_member_id: "pm_1".into(),
            name: Some("1号楼组".into()),
        }),
        Kind::Household => Record::Household(household("hh_new", "cp_a", "bd_a1", Some("cg_1"))),
        Kind::Resident => {
            let mut r = resident("rs_new", "hh_1");
            r.id_number = Some(id_number("41010219450302001"));
            Record::Resident(r)
        }
        Kind::PartyMember => Record::PartyMember(PartyMember {
            id: "pm_new".into(),
            name: "在职党员".into(),
            kind: PartyMemberKind::InService,
            phone: Some("0371-66668888".into()),
            resident_id: Some("rs_1".into()),
            workplace: Some("郑州大学".into()),
        }),
        Kind::Staff => Record::Staff(Staff {
            id: "sf_new".into(),
            name: "挂职干部".into(),
            role: StaffRole::SecondedCadre,
            phone: None,
            grid_compound_id: None,
            department: Some("郑州大学".into()),
            term_start: Some(d("2026-09-01")),
            term_end: Some(d("2027-08-31")),
        }),
        Kind::VolunteerTeam => Record::VolunteerTeam(VolunteerTeam {
            id: "vt_new".into(),
            name: "队".into(),
            leader: None,
        }),
        Kind::Volunteer => Record::Volunteer(Volunteer {
            id: "vo_new".into(),
            name: "志愿者".into(),
            team_id: Some("vt_1".into()),
            phone: None,
            post: Some("流动监督员".into()),
        }),
        Kind::Isolation => Record::Isolation(Isolation {
            id: "is_new".into(),
            resident_id: "rs_1".into(),
            start: d("2026-11-20"),
            planned_end: d("2026-12-04"),
            door_device: DoorDevice::Sensor,
            released_on: None,
            reason: None,
        }),
        Kind::CareRelationship => Record::CareRelationship(CareRelationship {
            id: "cr_new".into(),
            resident_id: "rs_1".into(),
            visitor: "x".into(),
            every_days: 2,
            since: d("2026-11-01"),
            last_visit: None,
            ended_on: None,
        }),
        Kind::Ticket => Record::Ticket(Ticket {
            id: "tk_new".into(),
            received_at_ms: at,
            channel: TicketChannel::Hotline,
            category: "买药".into(),
            summary: "老人需要买药".into(),
            caller_phone: Some("13800138000".into()),
            assigned_compound_id: Some("cp_a".into()),
            assigned_staff_id: Some("sf_1".into()),
            resolved_at_ms: None,
            resolution: None,
        }),
        Kind::Returnee => Record::Returnee(Returnee {
            id: "rt_new".into(),
            resident_id: "rs_1".into(),
            returned_on: d("2026-11-25"),
            from_region: "某市".into(),
            visit_id: None,
        }),
        Kind::Notice => Record::Notice(Notice {
            id: "nt_new".into(),
            title: "通知".into(),
            body: "请配合排查".into(),
            channels: vec![NoticeChannel::Loudspeaker, NoticeChannel::CompoundChat],
            published_at_ms: at,
            compound_id: None,
        }),
        Kind::ScreeningVisit => Record::ScreeningVisit(ScreeningVisit {
            id: activity_id(kind, 9),
            household_id: "hh_1".into(),
            visited_at_ms: NOW - 60_000,
            visitor: "网格员甲".into(),
            residents: [(
                "rs_1".to_string(),
                ScreeningEntry {
                    status: ScreeningStatus::Returned,
                    returned_from: Some("某市".into()),
                    returned_on: Some(Date(day())),
                },
            )]
            .into(),
            notes: None,
        }),
        Kind::CareVisit => Record::CareVisit(CareVisit {
            id: activity_id(kind, 9),
            relationship_id: "cr_1".into(),
            visited_at_ms: NOW - 60_000,
            visitor: "网格员甲".into(),
            notes: Some("送菜和挂面".into()),
        }),
        Kind::Inspection => Record::Inspection(Inspection {
            id: activity_id(kind, 9),
            household_id: "hh_1".into(),
            method: InspectionMethod::Phone,
            inspected_at_ms: NOW - 60_000,
            inspector: "督查".into(),
            knew_member: true,
            notes: None,
        }),
    }
}

/// Bad variants of the good record: (what is broken, the field expected in the error).
fn bad(kind: Kind) -> Vec<(Record, &'static str)> {
    let g = good(kind);
    let mut out: Vec<(Record, &'static str)> = Vec::new();
    macro_rules! case {
        ($variant:ident, $field:literal, |$r:ident| $body:expr) => {{
            let mut rec = g.clone();
            if let Record::$variant($r) = &mut rec {
                $body;
            }
            out.push((rec, $field));
        }};
    }
    match kind {
        Kind::Compound => {
            case!(Compound, "compound.name", |r| r.name = "  ".into());
            case!(Compound, "compound.name", |r| r.name = "x".repeat(101));
            case!(Compound, "compound.id", |r| r.id = "bd_wrongprefix".into());
        }
        Kind::Building => {
            case!(Building, "building.compound_id", |r| r.compound_id =
                "cp_nowhere".into());
            case!(Building, "building.compound_id", |r| r.compound_id =
                "CP A".into());
            case!(Building, "building.name", |r| r.name = String::new());
        }
        Kind::ContractGroup => case!(ContractGroup, "contract_group.party_member_id", |r| r
            .party_member_id =
            "pm_nobody".into()),
        Kind::Household => {
            case!(Household, "household.phone", |r| r.phone =
                Some("12345".into()));
            case!(Household, "household.building_id", |r| r.building_id =
                "bd_b1".into()); // building of another compound
            case!(Household, "household.contract_group_id", |r| r
                .contract_group_id =
                Some("cg_none".into()));
            case!(Household, "household.door", |r| r.door = String::new());
            case!(Household, "household.head_name", |r| r.head_name =
                "a\u{7}b".into());
        }
        Kind::Resident => {
            case!(Resident, "resident.id_number", |r| r.id_number =
                Some("410102194503020011".into()));
            case!(Resident, "resident.id_number", |r| r.id_number =
                Some("4101021945".into()));
            case!(Resident, "resident.birth_date", |r| r.birth_date =
                Some(d("1950-01-01")));
            case!(Resident, "resident.household_id", |r| r.household_id =
                "hh_gone".into());
            case!(Resident, "resident.phone", |r| r.phone =
                Some("1380013800".into()));
        }
        Kind::PartyMember => {
            case!(PartyMember, "party_member.workplace", |r| r.workplace =
                None);
            case!(PartyMember, "party_member.resident_id", |r| r.resident_id =
                Some("rs_nobody".into()));
        }
        Kind::Staff => {
            case!(Staff, "staff.term_end", |r| r.term_end =
                Some(d("2026-01-01")));
            case!(Staff, "staff.term_start", |r| r.term_start = None);
            case!(Staff, "staff.grid_compound_id", |r| r.grid_compound_id =
                Some("cp_zz".into()));
        }
        Kind::VolunteerTeam => case!(VolunteerTeam, "volunteer_team.name", |r| r.name =
            String::new()),
        Kind::Volunteer => {
            case!(Volunteer, "volunteer.team_id", |r| r.team_id =
                Some("vt_zz".into()));
            case!(Volunteer, "volunteer.phone", |r| r.phone =
                Some("phone".into()));
        }
        Kind::Isolation => {
            case!(Isolation, "isolation.planned_end", |r| r.planned_end =
                d("2026-11-01"));
            case!(Isolation, "isolation.released_on", |r| r.released_on =
                Some(d("2026-11-19")));
            case!(Isolation, "isolation.resident_id", |r| r.resident_id =
                "rs_zz".into());
        }
        Kind::CareRelationship => {
            case!(CareRelationship, "care_relationship.every_days", |r| r
                .every_days =
                0);
            case!(CareRelationship, "care_relationship.ended_on", |r| r
                .ended_on =
                Some(d("2026-10-01")));
        }
        Kind::Ticket => {
            case!(Ticket, "ticket.resolution", |r| r.resolved_at_ms =
                Some(NOW - 1000));
            case!(Ticket, "ticket.resolved_at_ms", |r| {
                r.resolved_at_ms = Some(r.received_at_ms - 1);
                r.resolution = Some("done".into())
            });
            case!(Ticket, "ticket.received_at_ms", |r| r.received_at_ms =
                1_700_000_000); // seconds, not ms
            case!(Ticket, "ticket.received_at_ms", |r| r.received_at_ms =
                NOW + 3 * 86_400_000);
            case!(Ticket, "ticket.assigned_staff_id", |r| r
                .assigned_staff_id =
                Some("sf_zz".into()));
        }
        Kind::Returnee => case!(Returnee, "returnee.from_region", |r| r.from_region =
            String::new()),
        Kind::Notice => {
            case!(Notice, "notice.channels", |r| r.channels.clear());
            case!(Notice, "notice.channels", |r| r.channels =
                vec![NoticeChannel::Loudspeaker, NoticeChannel::Loudspeaker]);
            case!(Notice, "notice.body", |r| r.body = "x".repeat(5000));
        }
        Kind::ScreeningVisit => {
            case!(
                ScreeningVisit,
                "screening_visit.residents[rs_1].returned_from",
                |r| { r.residents.get_mut("rs_1").unwrap().returned_from = None }
            );
            case!(
                ScreeningVisit,
                "screening_visit.residents[rs_1].status",
                |r| { r.residents.get_mut("rs_1").unwrap().status = ScreeningStatus::Present }
            );
            case!(ScreeningVisit, "screening_visit.household_id", |r| r
                .household_id =
                "hh_zz".into());
            case!(ScreeningVisit, "screening_visit.id", |r| r.visited_at_ms -=
                3 * 86_400_000); // another day than its id
        }
        Kind::CareVisit => case!(CareVisit, "care_visit.relationship_id", |r| r
            .relationship_id =
            "cr_zz".into()),
        Kind::Inspection => case!(Inspection, "inspection.inspector", |r| r.inspector =
            String::new()),
    }
    out
}

#[test]
fn every_kind_has_a_good_record_that_is_accepted() {
    for &kind in Kind::ALL {
        let mut r = fixture();
        let rec = good(kind);
        let stored = r
            .apply(&[Edit::Create(rec.clone())], &ctx(), "t")
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(stored[0].kind(), kind);
        assert_eq!(r.get(kind, rec.id()).map(|x| x.kind()), Some(kind));
    }
}

#[test]
fn every_bad_record_names_its_field_and_changes_nothing() {
    for &kind in Kind::ALL {
        let cases = bad(kind);
        assert!(!cases.is_empty(), "no bad cases for {kind}");
        for (rec, field) in cases {
            let mut r = fixture();
            let before: Vec<_> = r.doc_ids().iter().map(|id| r.heads(id)).collect();
            let count_before = r.record_count(kind);
            match r.apply(&[Edit::Create(rec.clone())], &ctx(), "t") {
                Err(CoreError::Invalid(errs)) => {
                    assert!(
                        errs.iter().any(|e| e.field == field),
                        "{kind}: expected an error on {field}, got {errs:?}"
                    );
                    assert!(errs.iter().all(|e| !e.reason.is_empty()));
                }
                other => panic!("{kind}: expected Invalid on {field}, got {other:?} for {rec:?}"),
            }
            let after: Vec<_> = r.doc_ids().iter().map(|id| r.heads(id)).collect();
            assert_eq!(before, after, "{kind}: a refused edit changed a document");
            assert_eq!(r.record_count(kind), count_before);
        }
    }
}

#[test]
fn a_building_with_households_cannot_move_compound() {
    let mut r = fixture();
    let Record::Building(mut b) = building("bd_a1", "cp_b") else {
        unreachable!()
    };
    b.name = "building bd_a1".into();
    let e = r
        .apply(&[Edit::Update(Record::Building(b.clone()))], &ctx(), "t")
        .unwrap_err();
    assert!(
        matches!(&e, CoreError::Invalid(v) if v[0].field == "building.compound_id"),
        "{e}"
    );
    // Without households it may move.
    r.apply(&[Edit::Create(building("bd_empty", "cp_a"))], &ctx(), "t")
        .unwrap();
    r.apply(&[Edit::Update(building("bd_empty", "cp_b"))], &ctx(), "t")
        .unwrap();
    assert_eq!(r.view().buildings["bd_empty"].compound_id, "cp_b");
}

#[test]
fn without_a_street_secret_the_id_number_itself_finds_duplicates() {
    let mut r = CommunityReplica::new(community(), actor(1), None);
    let setup: Vec<Edit> = fixture_edits();
    r.apply(&setup, &ctx(), "t").unwrap();
    let Record::Resident(mut res) = good(Kind::Resident) else {
        unreachable!()
    };
    r.apply(&[Edit::Create(Record::Resident(res.clone()))], &ctx(), "t")
        .unwrap();
    assert_eq!(r.view().residents["rs_new"].person_key, None);
    res.id = "rs_dup".into();
    res.id_number = res.id_number.map(|n| n.to_lowercase());
    let e = r
        .apply(&[Edit::Create(Record::Resident(res))], &ctx(), "t")
        .unwrap_err();
    assert!(
        matches!(&e, CoreError::Invalid(v) if v[0].field == "resident.id_number"),
        "{e}"
    );
}

#[test]
fn a_group_with_one_bad_edit_is_rolled_back_whole() {
    let mut r = fixture();
    let heads = r.heads(&DocId::Registry(community()));
    let res = r.apply(
        &[
            Edit::Create(compound("cp_x")),
            Edit::Create(building("bd_x", "cp_x")),
            Edit::Create(building("bd_y", "cp_none")),
        ],
        &ctx(),
        "t",
    );
    assert!(matches!(res, Err(CoreError::Invalid(_))));
    assert_eq!(r.heads(&DocId::Registry(community())), heads);
    assert!(r.get(Kind::Compound, "cp_x").is_none());
    assert!(r.get(Kind::Building, "bd_x").is_none());
}

#[test]
fn create_update_remove_rules() {
    let mut r = fixture();
    assert!(matches!(
        r.apply(&[Edit::Create(compound("cp_a"))], &ctx(), "t"),
        Err(CoreError::AlreadyExists { .. })
    ));
    assert!(matches!(
        r.apply(&[Edit::Update(compound("cp_zz"))], &ctx(), "t"),
        Err(CoreError::NotFound { .. })
    ));
    let e = r
        .apply(
            &[Edit::Remove {
                kind: Kind::Building,
                id: "bd_a1".into(),
            }],
            &ctx(),
            "t",
        )
        .unwrap_err();
    assert!(
        matches!(&e, CoreError::Precondition(m) if m.contains("1 household")),
        "{e}"
    );
    // Update changes only what differs, and reads back.
    let mut h = household("hh_1", "cp_a", "bd_a1", Some("cg_1"));
    h.head_name = "新户主".into();
    r.apply(&[Edit::Update(Record::Household(h))], &ctx(), "t")
        .unwrap();
    assert_eq!(r.view().households["hh_1"].head_name, "新户主");
    // Remove bottom-up works.
    r.apply(
        &[Edit::Remove {
            kind: Kind::CareRelationship,
            id: "cr_1".into(),
        }],
        &ctx(),
        "t",
    )
    .unwrap();
    r.apply(
        &[Edit::Remove {
            kind: Kind::Resident,
            id: "rs_1".into(),
        }],
        &ctx(),
        "t",
    )
    .unwrap();
    r.apply(
        &[Edit::Remove {
            kind: Kind::Household,
            id: "hh_1".into(),
        }],
        &ctx(),
        "t",
    )
    .unwrap();
    r.apply(
        &[Edit::Remove {
            kind: Kind::Building,
            id: "bd_a1".into(),
        }],
        &ctx(),
        "t",
    )
    .unwrap();
    assert!(r.view().households.is_empty());
}

#[test]
fn activity_side_effects_keep_cases_current() {
    let mut r = fixture();
    r.apply(
        &[
            Edit::Create(good(Kind::ScreeningVisit)),
            Edit::Create(good(Kind::CareVisit)),
        ],
        &ctx(),
        "t",
    )
    .unwrap();
    let ret: Vec<_> = r.view().returnees.values().collect();
    assert_eq!(ret.len(), 1);
    assert_eq!(ret[0].resident_id, "rs_1");
    assert_eq!(
        r.view().care_relationships["cr_1"].last_visit,
        Some(Date(day()))
    );
    // The same return found again is the same case, not a second one.
    let mut again = good(Kind::ScreeningVisit);
    again.set_id(activity_id(Kind::ScreeningVisit, 10));
    r.apply(&[Edit::Create(again)], &ctx(), "t").unwrap();
    assert_eq!(r.view().returnees.len(), 1);
}

#[test]
fn person_key_is_derived_not_taken() {
    let mut r = fixture();
    let Record::Resident(mut res) = good(Kind::Resident) else {
        unreachable!()
    };
    res.person_key = Some("pk_00000000000000000000000000000000".into());
    r.apply(&[Edit::Create(Record::Resident(res.clone()))], &ctx(), "t")
        .unwrap();
    let stored = &r.view().residents["rs_new"];
    let expect = PersonKey::derive(&secret(), res.id_number.as_ref().unwrap());
    assert_eq!(stored.person_key.as_deref(), Some(expect.as_str()));
    // The same person cannot be registered twice in one community.
    res.id = "rs_dup".into();
    let e = r
        .apply(&[Edit::Create(Record::Resident(res))], &ctx(), "t")
        .unwrap_err();
    assert!(
        matches!(&e, CoreError::Invalid(v) if v[0].field == "resident.id_number"),
        "{e}"
    );
}

/// The duplicate check follows the residents as they change (it reads the
/// view's index of persons): a number freed by an update or a removal can
/// be registered again, and a number taken by an update cannot.
#[test]
fn a_number_freed_by_an_update_or_a_removal_can_be_registered_again() {
    let mut r = CommunityReplica::new(community(), actor(1), None);
    r.apply(&fixture_edits(), &ctx(), "t").unwrap();
    let Record::Resident(first) = good(Kind::Resident) else {
        unreachable!()
    };
    let create = |r: &mut CommunityReplica, res: &Resident| {
        r.apply(&[Edit::Create(Record::Resident(res.clone()))], &ctx(), "t")
    };
    create(&mut r, &first).unwrap();
    let mut dup = first.clone();
    dup.id = "rs_dup".into();
    assert!(create(&mut r, &dup).is_err(), "the number is taken");
    let mut moved = first.clone();
    moved.id_number = Some(id_number("41010219450302002"));
    r.apply(
        &[Edit::Update(Record::Resident(moved.clone()))],
        &ctx(),
        "t",
    )
    .unwrap();
    create(&mut r, &dup).expect("the old number is free after the update");
    let mut dup2 = moved.clone();
    dup2.id = "rs_dup2".into();
    assert!(create(&mut r, &dup2).is_err(), "the new number is taken");
    r.apply(
        &[Edit::Remove {
            kind: Kind::Resident,
            id: first.id.clone(),
        }],
        &ctx(),
        "t",
    )
    .unwrap();
    create(&mut r, &dup2).expect("a removed resident's number is free");
}
