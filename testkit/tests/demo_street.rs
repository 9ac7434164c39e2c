//! The demo street generator: deterministic, valid by the core's rules,
//! with only the deliberate gaps, and written into stores that the node
//! and the coordinator open already in sync. Small (120 households a
//! community, 3 days) so that a debug build runs it quickly.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::{NaiveDate, TimeZone};
use gridsync_core::replica::{day_of_instant, load_doc};
use gridsync_core::street::{self, StreetRecord, StreetView};
use gridsync_core::*;
use gridsync_node::office::{Office, OfficeConfig};
use gridsync_store::Store;
use gridsync_testkit::demo_street::{self, DemoStreetError, StreetSpec};
use gridsync_testkit::store_key;

fn spec(seed: u64) -> StreetSpec {
    let as_of = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();
    // 15:30 in Beijing: on the last day, visits stop at that time.
    let now_ms = demo_street::TIME_ZONE
        .with_ymd_and_hms(2026, 11, 29, 15, 30, 0)
        .unwrap()
        .timestamp_millis();
    StreetSpec {
        seed,
        households_per_community: 120,
        days: 3,
        as_of,
        now_ms,
    }
}

fn doc_bytes(replica: &mut CommunityReplica) -> BTreeMap<String, Vec<u8>> {
    replica
        .doc_ids()
        .into_iter()
        .map(|id| (id.to_string(), replica.save_doc(&id).unwrap()))
        .collect()
}

#[test]
fn the_same_seed_gives_the_same_documents_and_another_seed_others() {
    let (mut a, info_a) = demo_street::generate_community(&spec(7), 2).unwrap();
    let (mut b, info_b) = demo_street::generate_community(&spec(7), 2).unwrap();
    let (mut c, _) = demo_street::generate_community(&spec(8), 2).unwrap();
    assert_eq!(info_a, info_b);
    let (bytes_a, bytes_b, bytes_c) = (doc_bytes(&mut a), doc_bytes(&mut b), doc_bytes(&mut c));
    assert_eq!(bytes_a.len(), 2 + 3, "registry, cases and 3 days");
    assert_eq!(bytes_a, bytes_b);
    for (id, bytes) in &bytes_a {
        assert_ne!(
            Some(bytes),
            bytes_c.get(id),
            "{id} is the same under another seed"
        );
    }
    let mut s7 = demo_street::street_document(&spec(7)).unwrap();
    let mut s7b = demo_street::street_document(&spec(7)).unwrap();
    let mut s8 = demo_street::street_document(&spec(8)).unwrap();
    assert_eq!(s7.save(), s7b.save());
    assert_ne!(s7.get_heads(), s8.get_heads());
    assert_ne!(
        demo_street::secret_hex(&spec(7)),
        demo_street::secret_hex(&spec(8))
    );
}

#[test]
fn every_record_passes_validation_and_the_only_gaps_are_the_deliberate_ones() {
    let spec = spec(7);
    let mut totals = demo_street::Counts::default();
    for index in 0..demo_street::COMMUNITY_COUNT {
        let (replica, info) = demo_street::generate_community(&spec, index).unwrap();
        totals.add(&info.counts);
        let v = replica.view();
        assert_eq!(
            v.community.as_ref().map(|c| c.name.as_str()),
            Some(info.name.as_str())
        );
        assert_eq!(v.households.len(), info.households);
        assert_eq!(v.residents.len(), info.residents);
        assert_eq!(v.compounds.len(), info.compounds);
        for kind in Kind::ALL
            .iter()
            .filter(|k| k.doc_class() != DocClass::Activity)
        {
            for rec in v.list(*kind) {
                validate::fields(&rec, spec.now_ms)
                    .and_then(|_| validate::references(&rec, v, None))
                    .unwrap_or_else(|e| panic!("{} {}: {e:?}", info.id, rec.id()));
            }
        }
        // The only gaps: the households left without a contract group.
        let gaps = v.gaps();
        assert!(
            gaps.iter().all(|g| g.reason == GapReason::NoContractGroup),
            "{}: {:?}",
            info.id,
            gaps.iter().find(|g| g.reason != GapReason::NoContractGroup)
        );
        assert_eq!(gaps.len() as u64, info.counts.households_without_group);
        assert!(!gaps.is_empty());

        let mut last_visit: BTreeMap<String, Day> = BTreeMap::new();
        assert_eq!(replica.loaded_days().len(), 3);
        for day in replica.loaded_days() {
            let dv = replica.day_view(day).unwrap();
            assert!(dv.gaps(v).is_empty(), "{} {day}: {:?}", info.id, dv.gaps(v));
            for kind in Kind::of_class(DocClass::Activity) {
                for rec in dv.list(kind) {
                    validate::fields(&rec, spec.now_ms)
                        .and_then(|_| validate::references(&rec, v, Some(day)))
                        .unwrap_or_else(|e| panic!("{} {}: {e:?}", info.id, rec.id()));
                    let at = rec.activity_instant_ms().unwrap();
                    assert!(at <= spec.now_ms, "{} is after now", rec.id());
                    assert_eq!(day_of_instant(at, demo_street::TIME_ZONE), Some(day));
                    assert_eq!(ids::day_of_activity_id(rec.id()), Some(day));
                    if let Record::CareVisit(cv) = rec {
                        let l = last_visit.entry(cv.relationship_id).or_insert(day);
                        *l = (*l).max(day);
                    }
                }
            }
        }
        for rel in v.care_relationships.values() {
            assert_eq!(
                rel.last_visit.map(|d| d.0),
                last_visit.get(&rel.id).copied(),
                "{}: last visit of {}",
                info.id,
                rel.id
            );
        }
    }
    // The street as a whole has every kind of case to show.
    assert!(totals.returnees > 0 && totals.isolations > 0, "{totals:?}");
    assert!(totals.tickets > 0 && totals.tickets_open > 0, "{totals:?}");
    assert!(
        totals.elderly_alone > 0 && totals.care_visits > 0,
        "{totals:?}"
    );
    assert!(
        totals.inspections > 0 && totals.screened_on_as_of > 0,
        "{totals:?}"
    );
    assert_eq!(totals.compounds, 23);
}

fn node_dir(root: &Path, c: &CommunityId) -> std::path::PathBuf {
    root.join(format!("node-{c}"))
}

#[test]
fn seeded_stores_open_in_sync_and_hold_the_street() {
    let spec = spec(11);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let seeded = demo_street::seed(
        &spec,
        &root.join("coordinator"),
        &|c| node_dir(&root, c),
        Some(&store_key()),
    )
    .unwrap();
    assert_eq!(seeded.communities.len(), 7);
    assert_eq!(seeded.documents, 1 + 7 * (2 + 3));
    assert_eq!(
        seeded
            .communities
            .iter()
            .filter(|c| c.kind == CommunityKind::Village)
            .count(),
        1
    );

    let coordinator = Store::open(
        &root
            .join("coordinator")
            .join(demo_street::COORDINATOR_DB_FILE),
        Some(&store_key()),
    )
    .unwrap();
    let coordinator_heads: BTreeMap<DocId, Vec<automerge::ChangeHash>> = coordinator
        .doc_heads()
        .unwrap()
        .into_iter()
        .map(|(id, h)| (id, h.expect("heads are stored")))
        .collect();
    assert_eq!(coordinator_heads.len(), seeded.documents);

    // The street document registers the seven communities.
    let stored = coordinator.load_doc(&DocId::Street).unwrap().unwrap();
    let street = load_doc(
        stored.snapshot.as_deref(),
        stored.chunks.iter().map(Vec::as_slice),
        &DocId::Street,
    )
    .unwrap();
    let view = StreetView::read(&street);
    let registered: BTreeSet<String> = view.communities.iter().map(|c| c.id.clone()).collect();
    let expected: BTreeSet<String> = seeded
        .communities
        .iter()
        .map(|c| c.id.to_string())
        .collect();
    assert_eq!(registered, expected);
    assert!(view.gaps.is_empty(), "{:?}", view.gaps);
    let records = (view.communities.iter().cloned().map(StreetRecord::from))
        .chain(view.risk_regions.iter().cloned().map(StreetRecord::from))
        .chain(view.notices.iter().cloned().map(StreetRecord::from))
        .chain(view.task_forces.iter().cloned().map(StreetRecord::from));
    for rec in records {
        street::validate(&rec, spec.now_ms).unwrap_or_else(|e| panic!("{}: {e}", rec.id()));
    }
    assert!(!view.risk_regions.is_empty() && !view.task_forces.is_empty());

    let mut keys: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut node_docs = 0;
    for info in &seeded.communities {
        let path = node_dir(&root, &info.id).join(demo_street::NODE_DB_FILE);
        let store = Store::open(&path, Some(&store_key())).unwrap();
        let heads = store.doc_heads().unwrap();
        assert_eq!(heads.len(), 1 + 2 + 3, "{}", info.id);
        for (id, h) in heads {
            let h = h.expect("heads are stored");
            assert_eq!(coordinator_heads.get(&id), Some(&h), "{id}");
            assert!(id == DocId::Street || id.community() == Some(&info.id));
            let s = store.load_doc(&id).unwrap().unwrap();
            let mut doc = load_doc(
                s.snapshot.as_deref(),
                s.chunks.iter().map(Vec::as_slice),
                &id,
            )
            .unwrap();
            assert_eq!(
                doc.get_heads(),
                h,
                "{id}: the stored heads are the document's"
            );
            if let DocId::Registry(_) = id {
                let v = CommunityView::read(&doc, &automerge::AutoCommit::new());
                assert_eq!(v.households.len(), info.households);
                for r in v.residents.values() {
                    keys.entry(r.person_key.clone().unwrap())
                        .or_default()
                        .insert(info.id.to_string());
                }
            }
            node_docs += usize::from(id != DocId::Street);
        }
        // The same documents as generated in memory.
        let index = demo_street::communities()
            .iter()
            .position(|(id, _, _)| *id == info.id)
            .unwrap();
        let (mut replica, _) = demo_street::generate_community(&spec, index).unwrap();
        let reg = DocId::Registry(info.id.clone());
        assert_eq!(replica.heads(&reg), coordinator_heads.get(&reg).cloned());
    }
    assert_eq!(node_docs + 1, seeded.documents);
    let twice = keys.values().filter(|c| c.len() > 1).count();
    assert_eq!(twice, demo_street::DUPLICATE_PERSONS);
    assert_eq!(seeded.duplicate_persons, demo_street::DUPLICATE_PERSONS);
    drop(coordinator);

    // The node opens its store as it is: no change made on open.
    let info = &seeded.communities[0];
    let path = node_dir(&root, &info.id).join(demo_street::NODE_DB_FILE);
    let before = Store::open(&path, Some(&store_key()))
        .unwrap()
        .doc_heads()
        .unwrap();
    {
        let office = Office::open(
            OfficeConfig {
                community: info.id.clone(),
                community_name: info.name.clone(),
                community_kind: info.kind,
                db_path: path.clone(),
                tz: demo_street::TIME_ZONE,
                secret: Some(PersonKeySecret::from_hex(&seeded.secret_hex).unwrap()),
                compact_after_chunks: 256,
                store_key: Some(store_key()),
            },
            spec.now_ms,
        )
        .unwrap();
        assert_eq!(office.view().households.len(), info.households);
        assert_eq!(office.view().residents.len(), info.residents);
    }
    assert_eq!(
        Store::open(&path, Some(&store_key()))
            .unwrap()
            .doc_heads()
            .unwrap(),
        before
    );

    // Seeding again into used stores is refused.
    match demo_street::seed(
        &spec,
        &root.join("coordinator"),
        &|c| node_dir(&root, c),
        Some(&store_key()),
    ) {
        Err(DemoStreetError::NotEmpty(_)) => {}
        other => panic!("expected NotEmpty, got {:?}", other.map(|s| s.documents)),
    }
}
