//! The store: a restart keeps exactly what was acknowledged; an older store
//! is migrated; a newer one, or another community's, is refused; a refused
//! edit leaves the file as it was; the street figures kept survive a restart.

use gridsync_core::*;
use gridsync_node::office::{Office, OfficeConfig};
use gridsync_store::{STORE_VERSION, Store, StoreError};

const NOW: i64 = 1_796_000_000_000;

/// The stores of these tests are encrypted, as production's are.
static KEY: std::sync::LazyLock<gridsync_store::StoreKey> =
    std::sync::LazyLock::new(|| gridsync_store::StoreKey::generate().unwrap());

fn cfg(dir: &std::path::Path, compact_after: u64) -> OfficeConfig {
    OfficeConfig {
        community: CommunityId::parse("tongbai").unwrap(),
        community_name: "桐柏路社区".into(),
        community_kind: CommunityKind::Community,
        db_path: dir.join("gridsync-node.sqlite3"),
        tz: chrono_tz::Asia::Shanghai,
        secret: Some(PersonKeySecret::new(vec![3u8; 32]).unwrap()),
        store_key: Some(KEY.clone()),
        compact_after_chunks: compact_after,
    }
}

fn compound(name: &str) -> Record {
    Record::Compound(Compound {
        id: String::new(),
        name: name.into(),
        address: None,
    })
}

/// Everything the view holds, as comparable text.
fn snapshot(o: &mut Office) -> String {
    let mut out = String::new();
    for k in Kind::ALL {
        for r in o.list(*k, o.today(NOW), "", usize::MAX, NOW).unwrap() {
            out.push_str(&serde_json::to_string(&r).unwrap());
            out.push('\n');
        }
    }
    out
}

#[test]
fn restart_keeps_exactly_what_was_acknowledged_across_compactions() {
    let dir = tempfile::tempdir().unwrap();
    let mut acked = Vec::new();
    let before;
    {
        // Compact every 4 chunks so restarts read snapshots and chunks both.
        let mut o = Office::open(cfg(dir.path(), 4), NOW).unwrap();
        for i in 0..23 {
            let r = o.create(compound(&format!("院{i}")), NOW + i).unwrap();
            acked.push(r.id().to_string());
        }
        let b = o
            .create(
                Record::Building(Building {
                    id: String::new(),
                    compound_id: acked[0].clone(),
                    name: "1号楼".into(),
                }),
                NOW,
            )
            .unwrap();
        o.remove(Kind::Compound, &acked[22], NOW).unwrap();
        acked.pop();
        let visit = o.create(
            Record::Inspection(Inspection {
                id: String::new(),
                household_id: "hh_x".into(),
                method: InspectionMethod::Phone,
                inspected_at_ms: NOW - 1000,
                inspector: "x".into(),
                knew_member: true,
                notes: None,
            }),
            NOW,
        );
        assert!(
            visit.is_err(),
            "an inspection of a household that does not exist is refused"
        );
        assert!(
            o.store()
                .doc_stats(&DocId::Registry(CommunityId::parse("tongbai").unwrap()))
                .unwrap()
                .snapshot_bytes
                > 0,
            "compaction ran"
        );
        before = (snapshot(&mut o), b.id().to_string());
    }
    let mut o = Office::open(cfg(dir.path(), 4), NOW).unwrap();
    assert_eq!(snapshot(&mut o), before.0);
    for id in &acked {
        assert!(
            o.get(Kind::Compound, id, NOW).unwrap().is_some(),
            "acknowledged compound {id} lost"
        );
    }
    assert!(o.get(Kind::Building, &before.1, NOW).unwrap().is_some());
    assert_eq!(o.view().compounds.len(), 22);
    assert_eq!(
        o.view().community.as_ref().map(|c| c.name.as_str()),
        Some("桐柏路社区")
    );
}

#[test]
fn a_refused_edit_changes_nothing_stored() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = Office::open(cfg(dir.path(), 256), NOW).unwrap();
    o.create(compound("院"), NOW).unwrap();
    let audits = o.store().audit_count().unwrap();
    let stats = o
        .store()
        .doc_stats(&DocId::Registry(CommunityId::parse("tongbai").unwrap()))
        .unwrap();
    let e = o.create(
        Record::Building(Building {
            id: String::new(),
            compound_id: "cp_nowhere".into(),
            name: "x".into(),
        }),
        NOW,
    );
    assert!(e.is_err());
    assert_eq!(o.store().audit_count().unwrap(), audits);
    let after = o
        .store()
        .doc_stats(&DocId::Registry(CommunityId::parse("tongbai").unwrap()))
        .unwrap();
    assert_eq!(
        (after.chunk_count, after.chunk_bytes),
        (stats.chunk_count, stats.chunk_bytes)
    );
}

#[test]
fn an_older_store_is_migrated_and_keeps_its_documents() {
    let dir = tempfile::tempdir().unwrap();
    // Write a community with the current code, then turn the file back into
    // a version-1 store (no audit table, no chunk accounting).
    {
        let mut o = Office::open(cfg(dir.path(), 256), NOW).unwrap();
        o.create(compound("老院"), NOW).unwrap();
    }
    let path = dir.path().join("gridsync-node.sqlite3");
    {
        let conn = Store::raw_connection(&path, Some(&KEY)).unwrap();
        conn.execute_batch(
            "DROP TABLE audit;
             DROP TABLE sync_state;
             DROP TABLE quarantine;
             CREATE TABLE documents_v1 (doc_id TEXT PRIMARY KEY, snapshot BLOB, updated_at_ms INTEGER NOT NULL);
             INSERT INTO documents_v1 SELECT doc_id, snapshot, updated_at_ms FROM documents;
             DROP TABLE documents;
             ALTER TABLE documents_v1 RENAME TO documents;
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let mut o = Office::open(cfg(dir.path(), 256), NOW).unwrap();
    assert_eq!(o.store().schema_version().unwrap(), STORE_VERSION);
    assert_eq!(
        o.view()
            .compounds
            .values()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        vec!["老院"]
    );
    let stats = o
        .store()
        .doc_stats(&DocId::Registry(CommunityId::parse("tongbai").unwrap()))
        .unwrap();
    assert!(
        stats.chunk_count > 0 && stats.chunk_bytes > 0,
        "chunk accounting was rebuilt: {stats:?}"
    );
    o.create(compound("新院"), NOW).unwrap();
    assert_eq!(o.store().audit_count().unwrap(), 1);
}

#[test]
fn a_fresh_version_one_store_migrates_to_current() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gridsync-node.sqlite3");
    drop(Store::create_at_version(&path, 1, Some(&KEY)).unwrap());
    let s = Store::open(&path, Some(&KEY)).unwrap();
    assert_eq!(s.schema_version().unwrap(), STORE_VERSION);
    assert_eq!(s.audit_count().unwrap(), 0);
}

#[test]
fn a_newer_store_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut o = Office::open(cfg(dir.path(), 256), NOW).unwrap();
        o.create(compound("院"), NOW).unwrap();
    }
    let path = dir.path().join("gridsync-node.sqlite3");
    Store::raw_connection(&path, Some(&KEY))
        .unwrap()
        .pragma_update(None, "user_version", STORE_VERSION + 1)
        .unwrap();
    let bytes_before = std::fs::read(&path).unwrap();
    match Office::open(cfg(dir.path(), 256), NOW) {
        Err(gridsync_node::office::OfficeError::Store(StoreError::TooNew {
            found,
            supported,
            ..
        })) => {
            assert_eq!((found, supported), (STORE_VERSION + 1, STORE_VERSION));
        }
        Err(e) => panic!("expected TooNew, got {e}"),
        Ok(_) => panic!("a newer store was opened"),
    }
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes_before,
        "the refused store was modified"
    );
    let msg = Store::open(&path, Some(&KEY)).err().unwrap().to_string();
    assert!(msg.contains("newer"), "{msg}");
}

#[test]
fn another_communitys_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(Office::open(cfg(dir.path(), 256), NOW).unwrap());
    let mut other = cfg(dir.path(), 256);
    other.community = CommunityId::parse("jianshe").unwrap();
    let e = Office::open(other, NOW).err().unwrap().to_string();
    assert!(e.contains("tongbai") && e.contains("jianshe"), "{e}");
}

/// The street's figures as received are kept across a restart, with the
/// time of the last answer that said they had not changed; an answer for
/// figures the node does not hold leaves its copy as it was and makes the
/// next report ask for them whole.
#[test]
fn the_street_figures_kept_survive_a_restart_brought_up_to_date() {
    use gridsync_proto::rollup::v1 as rpb;
    use gridsync_proto::street_figures::figures_tag;
    use gridsync_proto::sync::v1 as sypb;
    let dir = tempfile::tempdir().unwrap();
    let stamp = |c: &str, at: i64| rpb::Stamp {
        community_id: c.into(),
        last_sync_ms: at,
        ..Default::default()
    };
    let figures = rpb::Rollup {
        as_of: "2026-12-05".into(),
        generated_at_ms: NOW,
        tree: Some(rpb::Node {
            figures: Some(rpb::Figures {
                households: 13,
                ..Default::default()
            }),
            ..Default::default()
        }),
        stamps: vec![stamp("tongbai", NOW), stamp("other", NOW)],
        ..Default::default()
    };
    let tag = figures_tag(&figures);
    {
        let mut o = Office::open(cfg(dir.path(), 0), NOW).unwrap();
        assert_eq!(o.street_summary_tag(), "");
        o.set_street_summary(figures.clone(), NOW + 1);
        assert_eq!(o.street_summary_tag(), tag);
        // Unchanged, an hour later.
        let taken = o.take_street_answer(
            sypb::DigestAnswer {
                figures: None,
                generated_at_ms: NOW + 3_600_000,
                own: Some(rpb::Stamp {
                    digest: "own-digest".into(),
                    ..stamp("tongbai", NOW + 3_600_000)
                }),
                figures_tag: tag.clone(),
                // The other community went stale meanwhile.
                unusual: vec![rpb::Stamp {
                    stale: true,
                    ..stamp("other", NOW + 5)
                }],
                delta: None,
            },
            NOW + 3_600_001,
        );
        assert!(taken);
        let (r, received) = o.street_summary().unwrap();
        assert_eq!(r.stamps[0].digest, "own-digest");
        assert_eq!(received, NOW + 3_600_001);
        assert_eq!(r.generated_at_ms, NOW + 3_600_000);
        assert_eq!(r.stamps[0].last_sync_ms, NOW + 3_600_000);
        assert_eq!(
            (r.stamps[1].stale, r.stamps[1].last_sync_ms),
            (true, NOW + 5)
        );
    }
    let mut o = Office::open(cfg(dir.path(), 0), NOW + 3_600_002).unwrap();
    assert_eq!(o.street_summary_tag(), tag);
    let (r, received) = o.street_summary().unwrap();
    assert_eq!(received, NOW + 3_600_001);
    assert_eq!(r.generated_at_ms, NOW + 3_600_000);
    assert_eq!(r.tree, figures.tree);
    assert_eq!(r.stamps[0].last_sync_ms, NOW + 3_600_000);
    // The freshness as last answered.
    assert_eq!(
        (r.stamps[1].stale, r.stamps[1].last_sync_ms),
        (true, NOW + 5)
    );
    // The own stamp as last sent, not as first received.
    assert_eq!(r.stamps[0].digest, "own-digest");
    assert_eq!(r.stamps[1].digest, "");
    // An answer for other figures: the copy stays, the tag is dropped, and
    // the caller is told to ask again.
    let taken = o.take_street_answer(
        sypb::DigestAnswer {
            figures: None,
            generated_at_ms: NOW + 7_200_000,
            own: None,
            figures_tag: "another".into(),
            unusual: Vec::new(),
            delta: None,
        },
        NOW + 7_200_001,
    );
    assert!(!taken);
    assert_eq!(o.street_summary_tag(), "");
    assert_eq!(o.street_summary().unwrap().0, r);
}

#[test]
fn the_coordinators_tag_of_the_street_figures_is_kept_over_the_one_computed_here() {
    use gridsync_proto::rollup::v1 as rpb;
    use gridsync_proto::street_figures::figures_tag;
    use gridsync_proto::sync::v1 as sypb;
    let dir = tempfile::tempdir().unwrap();
    let figures = rpb::Rollup {
        as_of: "2026-12-07".into(),
        generated_at_ms: NOW,
        ..Default::default()
    };
    // A coordinator of another version tags the same figures otherwise.
    assert_ne!(figures_tag(&figures), "theirs");
    let theirs = sypb::DigestAnswer {
        figures: Some(figures.clone()),
        generated_at_ms: NOW,
        own: None,
        figures_tag: "theirs".into(),
        unusual: Vec::new(),
        delta: None,
    };
    {
        let mut o = Office::open(cfg(dir.path(), 0), NOW).unwrap();
        let taken = o.take_street_answer(theirs.clone(), NOW + 1);
        assert!(taken);
        assert_eq!(o.street_summary_tag(), "theirs");
        // An older coordinator's Report carries no tag: it is computed here.
        o.set_street_summary(figures.clone(), NOW + 2);
        assert_eq!(o.street_summary_tag(), figures_tag(&figures));
        o.take_street_answer(theirs, NOW + 3);
    }
    let mut o = Office::open(cfg(dir.path(), 0), NOW + 4).unwrap();
    assert_eq!(o.street_summary_tag(), "theirs");
    assert_eq!(o.street_summary().unwrap(), (figures, NOW + 3));
}

#[test]
fn a_delta_of_the_street_figures_is_applied_checked_and_kept() {
    use gridsync_proto::rollup::v1 as rpb;
    use gridsync_proto::street_figures::{delta, figures_tag, outline};
    use gridsync_proto::sync::v1 as sypb;
    let dir = tempfile::tempdir().unwrap();
    let street = |at: i64, households: [u64; 2]| rpb::Rollup {
        as_of: "2026-12-07".into(),
        generated_at_ms: at,
        tree: Some(rpb::Node {
            figures: Some(rpb::Figures {
                households: households.iter().sum(),
                ..Default::default()
            }),
            children: households
                .iter()
                .enumerate()
                .map(|(i, h)| rpb::Node {
                    id: format!("c0{i}"),
                    figures: Some(rpb::Figures {
                        households: *h,
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }),
        stamps: ["c00", "c01"]
            .iter()
            .map(|c| rpb::Stamp {
                community_id: c.to_string(),
                last_sync_ms: at,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let (before, after) = (street(NOW, [3, 4]), street(NOW + 2_000, [3, 9]));
    let (tag_before, tag_after) = (figures_tag(&before), figures_tag(&after));
    let d = delta(&tag_before, &outline(&before), &after, &outline(&after)).unwrap();
    let answer = |d: sypb::FiguresDelta, tag: &str| sypb::DigestAnswer {
        figures: None,
        generated_at_ms: NOW + 2_000,
        own: None,
        figures_tag: tag.into(),
        unusual: Vec::new(),
        delta: Some(d),
    };
    {
        let mut o = Office::open(cfg(dir.path(), 0), NOW).unwrap();
        o.set_street_summary(before.clone(), NOW + 1);
        // A delta that does not make the figures answered is refused: the
        // copy stays, its tag is dropped, the caller asks again.
        assert!(!o.take_street_answer(answer(d.clone(), "another tag"), NOW + 2_001));
        assert_eq!(o.street_summary_tag(), "");
        assert_eq!(o.street_summary().unwrap().0, before);
        o.set_street_summary(before.clone(), NOW + 1);
        assert!(o.take_street_answer(answer(d.clone(), &tag_after), NOW + 2_001));
        assert_eq!(o.street_summary_tag(), tag_after);
        assert_eq!(o.street_summary().unwrap(), (after.clone(), NOW + 2_001));
        // A delta for figures no longer held (the same again) is refused.
        assert!(!o.take_street_answer(answer(d, &tag_after), NOW + 2_002));
        assert_eq!(o.street_summary_tag(), "");
    }
    // The copy the delta made was kept whole.
    let mut o = Office::open(cfg(dir.path(), 0), NOW + 3_000).unwrap();
    assert_eq!(o.street_summary().unwrap(), (after, NOW + 2_001));
}
