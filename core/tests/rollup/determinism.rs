//! Determinism: the same changes in any order give the same figures and
//! digest; another date, zone or version gives another digest; digests are
//! checked against what a node reports.

use automerge::AutoCommit;
use gridsync_core::rollup::*;
use gridsync_core::*;

use crate::common::*;
use crate::support::*;

#[test]
fn the_same_changes_in_any_order_give_the_same_figures_and_digest() {
    let mut a = fixture();
    let mut b = fork(&mut a, 2);
    apply(
        &mut a,
        vec![
            Edit::Create(building("bd_a2", "cp_a")),
            Edit::Create(Record::Household(household(
                "hh_a",
                "cp_a",
                "bd_a2",
                Some("cg_1"),
            ))),
            Edit::Create(Record::Resident(resident("rs_a", "hh_a"))),
            Edit::Create(visit(
                activity_id(Kind::ScreeningVisit, 1),
                "hh_1",
                NOW - 60_000,
            )),
        ],
    );
    apply(
        &mut b,
        vec![
            Edit::Create(Record::Household(household("hh_b", "cp_b", "bd_b1", None))),
            Edit::Create(visit(
                activity_id(Kind::ScreeningVisit, 2),
                "hh_1",
                NOW - 50_000,
            )),
        ],
    );
    remove(&mut b, Kind::CareRelationship, "cr_1");
    let mut ab = fork(&mut a, 3);
    ab.merge(&mut b).unwrap();
    let mut ba = fork(&mut b, 4);
    ba.merge(&mut a).unwrap();
    let r_ab = rollup(&mut ab);
    let r_ba = rollup(&mut ba);
    assert_eq!(r_ab.heads, r_ba.heads);
    assert_eq!(r_ab.tree, r_ba.tree);
    assert_eq!(r_ab.digest, r_ba.digest);
    assert_eq!(r_ab.tree.figures.screening_visits, 2);
    assert_eq!(r_ab.tree.figures.households_screened, 1);

    // Every change applied one by one in a shuffled order into empty documents.
    let c = community();
    let mut ids = vec![DocId::Registry(c.clone()), DocId::Cases(c.clone())];
    ids.push(DocId::Activity(c.clone(), day()));
    let mut docs = Vec::new();
    for id in &ids {
        let mut changes = ab.doc_mut(id).unwrap().get_changes(&[]);
        // A fixed shuffle: reversed, then every other one moved to the front.
        changes.reverse();
        let (even, odd): (Vec<_>, Vec<_>) = changes
            .into_iter()
            .enumerate()
            .partition(|(i, _)| i % 2 == 0);
        let mut doc = AutoCommit::new();
        for (_, ch) in odd.into_iter().chain(even) {
            doc.apply_changes([ch]).unwrap();
        }
        docs.push(doc);
    }
    let day_doc = docs.pop().unwrap();
    let cases = docs.pop().unwrap();
    let reg = docs.pop().unwrap();
    let mut shuffled =
        CommunityReplica::from_docs(c, actor(5), Some(secret()), reg, cases).unwrap();
    shuffled.attach_day(day(), day_doc).unwrap();
    let r_sh = rollup(&mut shuffled);
    assert_eq!(r_sh.heads, r_ab.heads);
    assert_eq!(r_sh.tree, r_ab.tree);
    assert_eq!(r_sh.digest, r_ab.digest);

    // Another date, zone or version of the rules: another digest.
    let other_day = rollup_at(&mut ab, &mut street_doc(), plus(day(), 1), SHANGHAI);
    assert_ne!(other_day.digest, r_ab.digest);
    let other_tz = rollup_at(&mut ab, &mut street_doc(), day(), chrono_tz::UTC);
    assert_ne!(other_tz.digest, r_ab.digest);
}

#[test]
fn digests_are_checked_against_the_nodes_report() {
    let mut r = fixture();
    let ours = rollup(&mut r);
    assert_eq!(check_digest(&ours, None), DigestCheck::NotReported);
    let same = NodeDigest::of(&ours, NOW);
    assert_eq!(check_digest(&ours, Some(&same)), DigestCheck::Match);
    let mut upgraded = same.clone();
    upgraded.rollup_version += 1;
    upgraded.digest = "0".repeat(64);
    assert_eq!(
        check_digest(&ours, Some(&upgraded)),
        DigestCheck::Mismatch {
            node_digest: "0".repeat(64),
            node_rollup_version: ROLLUP_VERSION + 1
        }
    );
    let mut newer_version_only = same.clone();
    newer_version_only.rollup_version += 1;
    assert!(matches!(
        check_digest(&ours, Some(&newer_version_only)),
        DigestCheck::Mismatch { .. }
    ));
    let mut behind = same.clone();
    behind.heads.registry = vec!["00".repeat(32)];
    behind.digest = "1".repeat(64);
    assert_eq!(check_digest(&ours, Some(&behind)), DigestCheck::Pending);
    let mut other_day = same.clone();
    other_day.as_of = plus(day(), -1);
    assert_eq!(check_digest(&ours, Some(&other_day)), DigestCheck::Pending);
    let mut other_tz = same;
    other_tz.tz = "UTC".into();
    assert_eq!(check_digest(&ours, Some(&other_tz)), DigestCheck::Pending);
}
