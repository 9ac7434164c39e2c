//! The street: a person registered in two communities is counted once, where
//! the lowest community id is, and the conflict is reported.

use std::collections::BTreeSet;

use gridsync_core::rollup::*;
use gridsync_core::*;

use crate::common::*;
use crate::support::*;

#[test]
fn a_person_in_two_communities_is_counted_once_where_the_lowest_id_is() {
    let mut c1 = new_community("aaa", 1);
    let mut c2 = new_community("bbb", 2);
    let mut c3 = new_community("ccc", 3);
    // The same ID number in aaa and bbb, and a person only in ccc.
    let both = |r: &mut CommunityReplica, id: &str, hh: &str| {
        apply(
            r,
            vec![Edit::Create(Record::Resident(with_id_number(
                resident(id, hh),
                7,
            )))],
        );
    };
    both(&mut c2, "rs_b", "hh_1");
    both(&mut c1, "rs_a", "hh_1");
    apply(
        &mut c3,
        vec![Edit::Create(Record::Resident(with_id_number(
            resident("rs_c", "hh_1"),
            8,
        )))],
    );
    let r1 = rollup(&mut c1);
    let r2 = rollup(&mut c2);
    let r3 = rollup(&mut c3);
    let before = (r1.clone(), r2.clone(), r3.clone());
    assert_eq!(r1.persons.len(), 1);
    assert_eq!(
        r1.persons[0].path,
        ["cp_a", "bd_a1", "cg_1"].map(String::from)
    );
    assert_eq!(r1.persons[0].person_key, r2.persons[0].person_key);

    let (street, conflicts) = street_tree("st", "建设路街道", &[&r3, &r2, &r1]);
    assert_eq!(
        (before.0, before.1, before.2),
        (r1.clone(), r2.clone(), r3.clone())
    );
    assert_eq!(street.additivity_violation(), None);
    assert_eq!(
        (street.level, street.id.as_str(), street.name.as_str()),
        (Level::Street, "st", "建设路街道")
    );
    let ids: Vec<&str> = street.children.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["aaa", "bbb", "ccc"]);

    // Each community has rs_1 (no ID number) and its own person; aaa and bbb share one.
    let distinct_keys: BTreeSet<&str> = [&r1, &r2, &r3]
        .iter()
        .flat_map(|r| r.persons.iter().map(|p| p.person_key.as_str()))
        .collect();
    let without_key = 3;
    assert_eq!(
        street.figures.residents,
        distinct_keys.len() as u64 + without_key
    );
    assert_eq!(street.figures.residents_counted_elsewhere, 1);
    assert_eq!(
        street.figures.residents + street.figures.residents_counted_elsewhere,
        r1.tree.figures.residents + r2.tree.figures.residents + r3.tree.figures.residents
    );
    // Counted in aaa, moved out of bbb at its leaf.
    let at = |c: &str| {
        street
            .find(&[c, "cp_a", "bd_a1", "cg_1"])
            .unwrap()
            .figures
            .clone()
    };
    assert_eq!(
        (at("aaa").residents, at("aaa").residents_counted_elsewhere),
        (2, 0)
    );
    assert_eq!(
        (at("bbb").residents, at("bbb").residents_counted_elsewhere),
        (1, 1)
    );
    assert_eq!(r2.tree.figures.residents_counted_elsewhere, 0);
    assert_eq!(
        conflicts,
        [PersonConflict {
            person_key: r1.persons[0].person_key.clone(),
            registrations: vec![
                ("aaa".to_string(), "rs_a".to_string()),
                ("bbb".to_string(), "rs_b".to_string())
            ],
        }]
    );

    // A registration whose path is not in the tree (a stale persons list):
    // moved at the community's unplaced leaf if there is one, else not moved;
    // never a panic, and the conflict is still reported.
    let mut stale = r2.clone();
    stale.persons[0].path = ["cp_gone".into(), "".into(), "".into()];
    let (street, conflicts) = street_tree("st", "s", &[&r1, &stale]);
    assert_eq!(street.additivity_violation(), None);
    assert_eq!(conflicts.len(), 1);
    assert_eq!(street.figures.residents_counted_elsewhere, 0);
}
