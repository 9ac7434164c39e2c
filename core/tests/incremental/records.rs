//! Refreshes record by record: one household edited is one record
//! refreshed, a sign-off at the root of cases is not a fallback, the
//! community is refreshed on its own, concurrent last visits settle on the
//! latest, an unreadable community mended leaves no gap.

use automerge::transaction::Transactable;
use automerge::{ObjType, ROOT};
use gridsync_core::view::Refreshed;
use gridsync_core::*;

use crate::common::*;
use crate::support::*;

#[test]
fn one_household_edited_is_one_record_refreshed() {
    let mut r = base();
    let got = refresh_after(&mut r, &registry_id(), |doc| {
        let h = record_obj(doc, "households", "hh_e3").unwrap();
        doc.put(&h, "door", 7_i64).unwrap();
    });
    assert_eq!(got, Refreshed::Records(1));
    assert!(!r.view().households.contains_key("hh_e3"));
    assert!(
        r.view()
            .unreadable
            .iter()
            .any(|g| g.id == "hh_e3" && matches!(g.reason, GapReason::Unreadable(_)))
    );
    assert_equal_to_full_read(&mut r);
    // Mended, the gap goes.
    let got = refresh_after(&mut r, &registry_id(), |doc| {
        let h = record_obj(doc, "households", "hh_e3").unwrap();
        doc.put(&h, "door", "7").unwrap();
    });
    assert_eq!(got, Refreshed::Records(1));
    assert_eq!(r.view().households["hh_e3"].door, "7");
    assert!(r.view().unreadable.is_empty());
    assert_equal_to_full_read(&mut r);
}

#[test]
fn a_sign_off_at_the_root_of_cases_is_not_a_fallback() {
    let mut r = base();
    let got = refresh_after(&mut r, &cases_id(), |doc| {
        let s = doc
            .put_object(ROOT, "sign_off/2026-11-30", ObjType::Map)
            .unwrap();
        doc.put(&s, "signed_by", "主任").unwrap();
    });
    assert_eq!(got, Refreshed::Records(0));
    assert_equal_to_full_read(&mut r);
}

#[test]
fn the_community_is_refreshed_on_its_own() {
    let mut r = base();
    let got = refresh_after(&mut r, &registry_id(), |doc| {
        doc.put(ROOT, "community", 5_i64).unwrap();
    });
    assert_eq!(got, Refreshed::Records(0));
    assert_eq!(r.view().community, None);
    assert!(r.view().unreadable.iter().any(|g| g.kind == "community"));
    assert_equal_to_full_read(&mut r);
}

#[test]
fn concurrent_last_visits_settle_on_the_latest_when_refreshed() {
    let mut a = base();
    let mut b = fork(&mut a, 2);
    let write = |r: &mut CommunityReplica, date: &str| {
        refresh_after(r, &cases_id(), |doc| {
            let c = record_obj(doc, "care_relationships", "cr_1").unwrap();
            doc.put(&c, "last_visit", date).unwrap();
        })
    };
    assert_eq!(write(&mut a, "2026-11-25"), Refreshed::Records(1));
    assert_eq!(write(&mut b, "2026-11-20"), Refreshed::Records(1));
    for into_b in [false, true] {
        let (mine, theirs) = if into_b {
            (&mut b, &mut a)
        } else {
            (&mut a, &mut b)
        };
        let before = mine.heads(&cases_id()).unwrap();
        let doc = theirs.doc_mut(&cases_id()).unwrap();
        mine.doc_mut(&cases_id()).unwrap().merge(doc).unwrap();
        assert_eq!(
            mine.refresh_doc(&cases_id(), &before),
            Some(Refreshed::Records(1))
        );
        assert_eq!(
            mine.view().care_relationships["cr_1"].last_visit,
            Some(d("2026-11-25"))
        );
        assert_equal_to_full_read(mine);
    }
}

#[test]
fn an_unreadable_community_mended_leaves_no_gap() {
    let mut r = base();
    refresh_after(&mut r, &registry_id(), |doc| {
        doc.put(ROOT, "community", 5_i64).unwrap();
    });
    let got = refresh_after(&mut r, &registry_id(), |doc| {
        doc.put(ROOT, "community", "still not a map").unwrap();
    });
    assert_eq!(got, Refreshed::Records(0));
    assert_eq!(
        r.view()
            .unreadable
            .iter()
            .filter(|g| g.kind == "community")
            .count(),
        1
    );
    let info = CommunityInfo {
        id: community().as_str().into(),
        name: "桐柏路社区".into(),
        kind: CommunityKind::Community,
    };
    refresh_after(&mut r, &registry_id(), |doc| {
        gridsync_core::docs::put_root(doc, "community", &info).unwrap();
    });
    assert_eq!(r.view().community, Some(info));
    assert!(r.view().unreadable.is_empty());
    assert_equal_to_full_read(&mut r);
}
