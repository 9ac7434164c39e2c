//! Refreshes that fall back to a full read of the document: an unknown root
//! key, a replaced collection (shown as a gap), most records changed, heads
//! that do not fit the document, a first sync into an empty view.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT};
use gridsync_core::view::{Refreshed, WholeReason};
use gridsync_core::*;

use crate::common::*;
use crate::support::*;

#[test]
fn an_unknown_root_key_falls_back_to_a_full_read_of_that_document() {
    let mut r = base();
    // The view is stale on purpose in the cases part: a fallback of the
    // registry must re-read the registry's part only.
    let cases = r.doc_mut(&cases_id()).unwrap();
    let before_cases = cases.get_heads();
    gridsync_core::docs::delete_in(cases, "tickets", "tk_e0").unwrap();
    cases.commit();
    let got = refresh_after(&mut r, &registry_id(), |doc| {
        doc.put(ROOT, "added_by_a_newer_version", "x").unwrap();
        let h = record_obj(doc, "households", "hh_e1").unwrap();
        doc.put(&h, "head_name", "新户主").unwrap();
    });
    assert_eq!(
        got,
        Refreshed::Whole(WholeReason::UnknownRootKey(
            "added_by_a_newer_version".into()
        ))
    );
    assert_eq!(r.view().households["hh_e1"].head_name, "新户主");
    assert!(
        r.view().tickets.contains_key("tk_e0"),
        "cases part untouched"
    );
    assert_eq!(
        r.refresh_doc(&cases_id(), &before_cases),
        Some(Refreshed::Records(1))
    );
    assert_equal_to_full_read(&mut r);
}

#[test]
fn a_replaced_collection_falls_back_and_shows_as_a_gap() {
    let mut r = base();
    let got = refresh_after(&mut r, &registry_id(), |doc| {
        doc.put(ROOT, "volunteers", "oops").unwrap();
    });
    assert_eq!(
        got,
        Refreshed::Whole(WholeReason::CollectionReplaced("volunteers"))
    );
    assert!(
        r.view()
            .unreadable
            .iter()
            .any(|g| g.kind == "volunteer" && g.id.is_empty())
    );
    assert_equal_to_full_read(&mut r);
    let got = refresh_after(&mut r, &registry_id(), |doc| {
        doc.put_object(ROOT, "volunteers", ObjType::Map).unwrap();
    });
    assert_eq!(
        got,
        Refreshed::Whole(WholeReason::CollectionReplaced("volunteers"))
    );
    assert!(r.view().unreadable.is_empty());
    assert_equal_to_full_read(&mut r);
}

#[test]
fn most_records_changed_is_one_full_read() {
    let mut r = base();
    let got = refresh_after(&mut r, &day_id(), |doc| {
        for i in 100..108 {
            let v = record_obj(doc, "inspections", &activity_id(Kind::Inspection, i)).unwrap();
            doc.put(&v, "inspector", "另一位").unwrap();
        }
    });
    assert_eq!(
        got,
        Refreshed::Whole(WholeReason::MostRecords {
            touched: 8,
            records: 8
        })
    );
    assert_equal_to_full_read(&mut r);
}

#[test]
fn heads_that_do_not_fit_the_document_fall_back() {
    let mut r = base();
    let reg = registry_id();
    let before = r.heads(&reg).unwrap();
    let mut view = r.view().clone();
    let doc = r.doc_mut(&reg).unwrap();
    let h = record_obj(doc, "households", "hh_e2").unwrap();
    doc.put(&h, "unit", "9").unwrap();
    doc.commit();
    // `after` that is not the document's heads.
    assert_eq!(
        view.refresh_changed(doc, DocClass::Registry, &before, &before),
        Refreshed::Whole(WholeReason::AfterNotCurrent)
    );
    assert_eq!(view.households["hh_e2"].unit, "9");
    // `before` that names a change the document lacks.
    let mut stranger = AutoCommit::new();
    stranger.put(ROOT, "x", 1_i64).unwrap();
    let unknown = stranger.get_heads();
    let after = doc.get_heads();
    assert_eq!(
        view.refresh_changed(doc, DocClass::Registry, &unknown, &after),
        Refreshed::Whole(WholeReason::BeforeUnknown)
    );
    assert_eq!(r.refresh_doc(&DocId::Street, &before), None);
}

#[test]
fn a_first_sync_into_an_empty_view_is_one_full_read() {
    let mut full = base();
    let mut empty = CommunityReplica::new(community(), actor(3), Some(secret()));
    let before = empty.heads(&registry_id()).unwrap();
    let theirs = full.doc_mut(&registry_id()).unwrap();
    empty
        .doc_mut(&registry_id())
        .unwrap()
        .merge(theirs)
        .unwrap();
    assert_eq!(
        empty.refresh_doc(&registry_id(), &before),
        Some(Refreshed::Whole(WholeReason::EmptyView))
    );
    assert_eq!(empty.view().households.len(), full.view().households.len());
}
