//! The street document: every kind written, read back and removed; bad
//! input refused by field with the document untouched; replicas started
//! independently from genesis merge; any shape of document reads.

mod common;
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT, ReadDoc};
use common::*;
use gridsync_core::street::{self, StreetCommunity, StreetKind, StreetRecord, StreetView};
use gridsync_core::*;
use proptest::prelude::*;

fn street_doc(n: u8) -> AutoCommit {
    docs::genesis(&DocId::Street, actor(n))
}

fn community_rec(id: &str, name: &str) -> StreetRecord {
    StreetRecord::Community(StreetCommunity {
        id: id.into(),
        name: name.into(),
        kind: CommunityKind::Community,
    })
}

fn one_of_each() -> Vec<StreetRecord> {
    vec![
        StreetRecord::Community(StreetCommunity {
            id: "tongbai-rd".into(),
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
        StreetRecord::RiskRegion(RiskRegion {
            id: "rr_open".into(),
            region: "湖北省".into(),
            level: RiskLevel::Medium,
            from: d("2020-01-20"),
            to: None,
        }),
        StreetRecord::Notice(StreetNotice {
            id: "sn_0001".into(),
            title: "返郑人员报备".into(),
            body: "所有返郑人员请向社区报备。\nReport to your community on return.".into(),
            published_at_ms: NOW - 3_600_000,
        }),
        StreetRecord::TaskForce(TaskForce {
            id: "tf_checkpoint".into(),
            name: "卡口值守专班".into(),
            members: vec!["张伟".into(), "sf_0001".into()],
        }),
    ]
}

fn view_list(v: &StreetView, kind: StreetKind) -> Vec<StreetRecord> {
    match kind {
        StreetKind::Community => v.communities.iter().cloned().map(Into::into).collect(),
        StreetKind::RiskRegion => v.risk_regions.iter().cloned().map(Into::into).collect(),
        StreetKind::Notice => v.notices.iter().cloned().map(Into::into).collect(),
        StreetKind::TaskForce => v.task_forces.iter().cloned().map(Into::into).collect(),
    }
}

fn invalid_fields(e: CoreError) -> Vec<String> {
    match e {
        CoreError::Invalid(v) => v.into_iter().map(|f| f.field).collect(),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn every_kind_is_put_read_and_removed() {
    let mut doc = street_doc(1);
    let records = one_of_each();
    for rec in &records {
        let stored = street::put(&mut doc, rec.clone(), NOW, "put").unwrap();
        assert_eq!(&stored, rec);
    }
    // Through the bytes, as another node would get it.
    let loaded = AutoCommit::load(&doc.save()).unwrap();
    let v = StreetView::read(&loaded);
    assert!(v.gaps.is_empty(), "{:?}", v.gaps);
    for kind in StreetKind::ALL {
        let mut want: Vec<StreetRecord> = records
            .iter()
            .filter(|r| r.kind() == *kind)
            .cloned()
            .collect();
        want.sort_by(|a, b| a.id().cmp(b.id()));
        assert_eq!(view_list(&v, *kind), want, "{kind}");
        for r in &want {
            assert_eq!(v.get(*kind, r.id()).as_ref(), Some(r));
            assert_eq!(
                street::get(&loaded, *kind, r.id()).unwrap().as_ref(),
                Some(r)
            );
        }
    }
    assert_eq!(
        v.community("liuzhai").map(|c| c.kind),
        Some(CommunityKind::Village)
    );
    assert!(v.community("nowhere").is_none());

    // Replace one, then remove every record.
    let mut renamed = records[0].clone();
    if let StreetRecord::Community(c) = &mut renamed {
        c.name = "桐柏路社区（新）".into();
    }
    street::put(&mut doc, renamed.clone(), NOW, "rename").unwrap();
    assert_eq!(
        StreetView::read(&doc).get(StreetKind::Community, "tongbai-rd"),
        Some(renamed.clone())
    );
    for rec in &records {
        let want = if rec.id() == "tongbai-rd" {
            &renamed
        } else {
            rec
        };
        let removed = street::remove(&mut doc, rec.kind(), rec.id(), NOW + 1000).unwrap();
        assert_eq!(&removed, want);
        match street::remove(&mut doc, rec.kind(), rec.id(), NOW + 1000) {
            Err(CoreError::NotFound { kind, id }) => {
                assert_eq!((kind, id.as_str()), (rec.kind().name(), rec.id()));
            }
            other => panic!("expected NotFound, got {other:?}"),
        }
    }
    let v = StreetView::read(&doc);
    assert_eq!(v, StreetView::default());
}

#[test]
fn commits_carry_the_callers_time_and_message() {
    let mut doc = street_doc(1);
    street::put(&mut doc, community_rec("c01", "桐柏路社区"), NOW, "add c01").unwrap();
    street::remove(&mut doc, StreetKind::Community, "c01", NOW + 5_000).unwrap();
    let changes = doc.get_changes(&[]);
    let last_two: Vec<(i64, Option<String>)> = changes[changes.len() - 2..]
        .iter()
        .map(|c| (c.timestamp(), c.message().map(str::to_string)))
        .collect();
    assert_eq!(
        last_two,
        [
            (NOW / 1000, Some("add c01".to_string())),
            (NOW / 1000 + 5, Some("remove community c01".to_string())),
        ]
    );
}

#[test]
fn bad_fields_are_named_and_change_nothing() {
    let mut doc = street_doc(1);
    street::put(&mut doc, community_rec("c01", "桐柏路社区"), NOW, "t").unwrap();
    let heads = doc.get_heads();
    let bad: Vec<(StreetRecord, &[&str])> = vec![
        (community_rec("C 01", "x"), &["community.id"]),
        (community_rec("c02", ""), &["community.name"]),
        (
            StreetRecord::RiskRegion(RiskRegion {
                id: "rr_1".into(),
                region: "湖北省".into(),
                level: RiskLevel::Low,
                from: d("2020-02-01"),
                to: Some(d("2020-01-31")),
            }),
            &["risk_region.to"],
        ),
        (
            StreetRecord::RiskRegion(RiskRegion {
                id: "sn_1".into(),
                region: "x".repeat(101),
                level: RiskLevel::Low,
                from: d("2020-02-01"),
                to: None,
            }),
            &["risk_region.id", "risk_region.region"],
        ),
        (
            StreetRecord::Notice(StreetNotice {
                id: "sn_1".into(),
                title: "t".into(),
                body: "   ".into(),
                published_at_ms: NOW / 1000,
            }),
            &["notice.body", "notice.published_at_ms"],
        ),
        (
            StreetRecord::TaskForce(TaskForce {
                id: "".into(),
                name: "专班".into(),
                members: vec!["a".into(), "b\u{0}".into()],
            }),
            &["task_force.id", "task_force.members[1]"],
        ),
    ];
    for (rec, want) in bad {
        let e = street::put(&mut doc, rec.clone(), NOW, "t").unwrap_err();
        assert_eq!(invalid_fields(e), *want, "{rec:?}");
        assert_eq!(doc.get_heads(), heads, "{rec:?} changed the document");
    }
    assert_eq!(StreetView::read(&doc).communities.len(), 1);
}

#[test]
fn replicas_started_from_genesis_merge_concurrent_puts() {
    let mut a = street_doc(1);
    let mut b = street_doc(2);
    assert_eq!(a.get_heads(), b.get_heads());
    street::put(&mut a, community_rec("c01", "桐柏路社区"), NOW, "a").unwrap();
    street::put(&mut b, community_rec("c02", "建设路社区"), NOW, "b").unwrap();
    // The same record edited on both sides: both converge on one value.
    street::put(&mut a, community_rec("c03", "from a"), NOW, "a").unwrap();
    street::put(&mut b, community_rec("c03", "from b"), NOW, "b").unwrap();
    let rr = RiskRegion {
        id: "rr_1".into(),
        region: "湖北省".into(),
        level: RiskLevel::High,
        from: d("2020-01-23"),
        to: None,
    };
    street::put(&mut b, rr.clone().into(), NOW, "b").unwrap();
    a.merge(&mut b).unwrap();
    b.merge(&mut a).unwrap();
    assert_eq!(a.get_heads(), b.get_heads());
    let (va, vb) = (StreetView::read(&a), StreetView::read(&b));
    assert_eq!(va, vb);
    assert!(va.gaps.is_empty(), "{:?}", va.gaps);
    let ids: Vec<&str> = va.communities.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["c01", "c02", "c03"]);
    assert!(["from a", "from b"].contains(&va.communities[2].name.as_str()));
    assert_eq!(va.risk_regions, [rr]);
    assert_eq!(
        va.risk_level_on("湖北省武汉市", d("2020-02-01").0),
        Some(RiskLevel::High)
    );
}

#[test]
fn a_remove_and_a_concurrent_edit_of_the_same_record_converge() {
    let mut a = street_doc(1);
    street::put(&mut a, community_rec("c01", "one"), NOW, "a").unwrap();
    let mut b = AutoCommit::load(&a.save()).unwrap().with_actor(actor(2));
    street::remove(&mut a, StreetKind::Community, "c01", NOW).unwrap();
    street::put(&mut b, community_rec("c01", "renamed"), NOW, "b").unwrap();
    a.merge(&mut b).unwrap();
    b.merge(&mut a).unwrap();
    let (va, vb) = (StreetView::read(&a), StreetView::read(&b));
    assert_eq!(va, vb);
    assert!(va.gaps.is_empty(), "{:?}", va.gaps);
}

#[test]
fn wrong_shapes_read_as_gaps_not_panics() {
    let mut doc = street_doc(1);
    for rec in one_of_each() {
        street::put(&mut doc, rec, NOW, "t").unwrap();
    }
    // Another version (or a bug) writes fields of the wrong type.
    let regions = docs::collection_obj(&doc, "risk_regions").unwrap();
    let (_, rr) = doc.get(&regions, "rr_wuhan").unwrap().unwrap();
    doc.put(&rr, "level", 42).unwrap();
    let forces = docs::collection_obj(&doc, "task_forces").unwrap();
    doc.put(&forces, "tf_scalar", "not a map").unwrap();
    let communities = docs::collection_obj(&doc, "communities").unwrap();
    let bad_key = doc
        .put_object(&communities, "Not An Id", ObjType::Map)
        .unwrap();
    doc.put(&bad_key, "id", "Not An Id").unwrap();
    doc.put(&bad_key, "name", "x").unwrap();
    doc.put(&bad_key, "kind", "Community").unwrap();
    // And a whole collection replaced by a list.
    doc.put_object(ROOT, "notices", ObjType::List).unwrap();
    doc.commit();

    let v = StreetView::read(&doc);
    let prefixes: Vec<&str> = v
        .gaps
        .iter()
        .map(|g| g.split(':').next().unwrap_or(""))
        .collect();
    assert_eq!(
        prefixes,
        [
            "communities/Not An Id",
            "notices",
            "risk_regions/rr_wuhan",
            "task_forces/tf_scalar"
        ],
        "{:#?}",
        v.gaps
    );
    // Everything else still reads.
    assert_eq!(v.communities.len(), 2);
    assert_eq!(v.risk_regions.len(), 1);
    assert_eq!(v.task_forces.len(), 1);
    assert!(v.notices.is_empty());

    // An unreadable record cannot be removed as a record (there is nothing
    // to return) but can be replaced by a good one, which then removes.
    let heads = doc.get_heads();
    assert!(matches!(
        street::remove(&mut doc, StreetKind::RiskRegion, "rr_wuhan", NOW),
        Err(CoreError::Precondition(_))
    ));
    assert_eq!(doc.get_heads(), heads);
    let fixed = RiskRegion {
        id: "rr_wuhan".into(),
        region: "湖北省武汉市".into(),
        level: RiskLevel::High,
        from: d("2020-01-23"),
        to: None,
    };
    street::put(&mut doc, fixed.clone().into(), NOW, "fix").unwrap();
    assert_eq!(
        street::remove(&mut doc, StreetKind::RiskRegion, "rr_wuhan", NOW).unwrap(),
        fixed.into()
    );
    // A put into the list-shaped collection makes it a map again.
    let n = StreetNotice {
        id: "sn_1".into(),
        title: "t".into(),
        body: "b".into(),
        published_at_ms: NOW,
    };
    street::put(&mut doc, n.clone().into(), NOW, "t").unwrap();
    assert_eq!(StreetView::read(&doc).notices, [n]);
}

#[test]
fn a_document_of_nothing_reads_as_an_empty_street() {
    let v = StreetView::read(&AutoCommit::new());
    assert!(v.communities.is_empty() && v.risk_regions.is_empty());
    assert_eq!(v.gaps.len(), 1, "{:?}", v.gaps);
    assert!(v.gaps[0].starts_with("street:"), "{:?}", v.gaps);
}

#[derive(Clone, Debug)]
enum Op {
    Put(u8, u8, String),
    Remove(u8, u8),
    Sync,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..2, 0u8..4, "[a-c]{1,3}").prop_map(|(s, i, n)| Op::Put(s, i, n)),
        2 => (0u8..2, 0u8..4).prop_map(|(s, i)| Op::Remove(s, i)),
        1 => Just(Op::Sync),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever two operators do concurrently, the replicas converge on
    /// one view once merged, and reading never reports a gap.
    #[test]
    fn concurrent_edits_converge(ops in prop::collection::vec(op(), 1..30)) {
        let mut sides = [street_doc(1), street_doc(2)];
        for op in ops {
            match op {
                Op::Put(s, i, name) => {
                    let rec = if i % 2 == 0 {
                        community_rec(&format!("c{i}"), &name)
                    } else {
                        StreetRecord::TaskForce(TaskForce {
                            id: format!("tf_{i}"),
                            name: name.clone(),
                            members: vec![name],
                        })
                    };
                    street::put(&mut sides[s as usize], rec, NOW, "p").unwrap();
                }
                Op::Remove(s, i) => {
                    let (kind, id) = if i % 2 == 0 {
                        (StreetKind::Community, format!("c{i}"))
                    } else {
                        (StreetKind::TaskForce, format!("tf_{i}"))
                    };
                    let _ = street::remove(&mut sides[s as usize], kind, &id, NOW);
                }
                Op::Sync => {
                    let [a, b] = &mut sides;
                    a.merge(b).unwrap();
                }
            }
        }
        let [a, b] = &mut sides;
        a.merge(b).unwrap();
        b.merge(a).unwrap();
        let (va, vb) = (StreetView::read(a), StreetView::read(b));
        prop_assert_eq!(&va, &vb);
        prop_assert!(va.gaps.is_empty(), "{:?}", va.gaps);
    }
}
