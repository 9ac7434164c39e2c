//! `Office` edge cases found in review: instants at the edge of the
//! calendar, two processes on one store, days loaded by reads, duplicate
//! people in one import request.

use gridsync_core::*;
use gridsync_node::office::{Office, OfficeConfig, OfficeError};
use gridsync_store::StoreError;

const NOW: i64 = 1_796_000_000_000;

/// The stores of these tests are encrypted, as production's are.
static KEY: std::sync::LazyLock<gridsync_store::StoreKey> =
    std::sync::LazyLock::new(|| gridsync_store::StoreKey::generate().unwrap());

fn cfg(dir: &std::path::Path) -> OfficeConfig {
    OfficeConfig {
        community: CommunityId::parse("tongbai").unwrap(),
        community_name: "桐柏路社区".into(),
        community_kind: CommunityKind::Community,
        db_path: dir.join("gridsync-node.sqlite3"),
        tz: chrono_tz::Asia::Shanghai,
        secret: Some(PersonKeySecret::new(vec![3u8; 32]).unwrap()),
        store_key: Some(KEY.clone()),
        compact_after_chunks: 256,
    }
}

fn inspection(at_ms: i64) -> Record {
    Record::Inspection(Inspection {
        id: String::new(),
        household_id: "hh_x".into(),
        method: InspectionMethod::Phone,
        inspected_at_ms: at_ms,
        inspector: "x".into(),
        knew_member: true,
        notes: None,
    })
}

#[test]
fn instants_at_the_edge_of_the_calendar_are_refused_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = Office::open(cfg(dir.path()), NOW).unwrap();
    // Within hours of chrono's last representable time: this used to panic.
    for at in [
        8_210_266_873_199_999,
        i64::MAX,
        i64::MIN,
        -62_135_596_800_001,
    ] {
        match o.create(inspection(at), NOW) {
            Err(OfficeError::Core(CoreError::Invalid(errs))) => {
                assert!(errs[0].field.starts_with("inspection."), "{errs:?}");
            }
            other => panic!("{at}: expected Invalid, got {other:?}"),
        }
    }
    assert!(
        o.loaded_days().iter().all(|d| *d == o.today(NOW)),
        "{:?}",
        o.loaded_days()
    );
    // The office still works.
    o.create(
        Record::Compound(Compound {
            id: String::new(),
            name: "院".into(),
            address: None,
        }),
        NOW,
    )
    .unwrap();
}

#[test]
fn a_second_process_on_the_same_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = Office::open(cfg(dir.path()), NOW).unwrap();
    match Office::open(cfg(dir.path()), NOW) {
        Err(OfficeError::Store(e @ StoreError::InUse { .. })) => {
            assert!(e.to_string().contains("in use by another process"), "{e}")
        }
        Err(e) => panic!("expected InUse, got {e}"),
        Ok(_) => panic!("two offices opened one store"),
    }
    drop(first);
    Office::open(cfg(dir.path()), NOW).expect("the store opens once the first office is gone");
}

#[test]
fn reading_a_past_day_does_not_keep_it_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = Office::open(cfg(dir.path()), NOW).unwrap();
    let c = o
        .create(
            Record::Compound(Compound {
                id: String::new(),
                name: "院".into(),
                address: None,
            }),
            NOW,
        )
        .unwrap();
    let b = o
        .create(
            Record::Building(Building {
                id: String::new(),
                compound_id: c.id().into(),
                name: "1".into(),
            }),
            NOW,
        )
        .unwrap();
    let h = o
        .create(
            Record::Household(Household {
                id: String::new(),
                compound_id: c.id().into(),
                building_id: b.id().into(),
                unit: String::new(),
                door: "101".into(),
                head_name: "张".into(),
                phone: None,
                contract_group_id: None,
            }),
            NOW,
        )
        .unwrap();
    // Visits on ten past days, each written "on its day".
    for back in 1..=10i64 {
        let then = NOW - back * 86_400_000;
        let Record::Inspection(mut i) = inspection(then) else {
            unreachable!()
        };
        i.household_id = h.id().into();
        o.create(Record::Inspection(i), then).unwrap();
    }
    let today = o.today(NOW);
    for back in 1..=10u64 {
        let day = today - chrono::Days::new(back);
        assert_eq!(
            o.list(Kind::Inspection, day, "", 10, NOW).unwrap().len(),
            1,
            "{day}"
        );
        o.gaps(day, NOW).unwrap();
    }
    let loaded = o.loaded_days();
    assert!(
        loaded.iter().all(|d| (today - *d).num_days() <= 1),
        "old days stayed loaded: {loaded:?}"
    );
}

#[test]
fn one_person_twice_in_an_api_import_request_is_refused_on_the_second_row() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = Office::open(cfg(dir.path()), NOW).unwrap();
    let row = |line: u64, building: &str| {
        (
            line,
            vec![
                ("compound", "院".to_string()),
                ("building", building.to_string()),
                ("door", "101".to_string()),
                ("head_name", "王五".to_string()),
                ("name", "王五".to_string()),
                ("id_number", "11010519491231002X".to_string()),
            ],
        )
    };
    let rows = vec![row(2, "1号楼"), row(3, "2号楼")];
    let first = o.import(&rows, NOW).unwrap();
    assert_eq!(first.rows_created, 1);
    assert_eq!(first.errors.len(), 1);
    assert_eq!(
        (first.errors[0].line, first.errors[0].column.as_str()),
        (3, "id_number")
    );
    // Run again: the person stays where the first row put them.
    let second = o.import(&rows, NOW).unwrap();
    assert_eq!((second.rows_unchanged, second.rows_updated), (1, 0));
    let r = o.view().residents.values().next().unwrap().clone();
    let h = &o.view().households[&r.household_id];
    assert_eq!(o.view().buildings[&h.building_id].name, "1号楼");
}
