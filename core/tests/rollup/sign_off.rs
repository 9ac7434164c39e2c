//! The sign-off: written into the cases document only, read back, checked
//! against later rollups; concurrent sign-offs read as the latest; an
//! unreadable one is none.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ROOT};
use gridsync_core::rollup::*;
use gridsync_core::signoff::{self, SignOff, SignOffState};
use gridsync_core::*;

use crate::common::*;
use crate::support::*;

fn cases_of(r: &mut CommunityReplica) -> &mut AutoCommit {
    let id = DocId::Cases(r.community().clone());
    r.doc_mut(&id).unwrap()
}

fn sign(r: &mut CommunityReplica, s: &SignOff) {
    let cases = cases_of(r);
    signoff::put(cases, s).unwrap();
    cases.commit();
}

#[test]
fn a_sign_off_is_written_read_back_and_checked() {
    let mut r = fixture();
    let ru = rollup(&mut r);
    for bad in ["", "   ", &"名".repeat(65), "a\nb", "tab\there"] {
        match SignOff::of(&ru, bad, NOW) {
            Err(CoreError::Invalid(v)) => assert_eq!(v[0].field, "signed_by", "{bad:?}"),
            other => panic!("{bad:?}: expected Invalid, got {other:?}"),
        }
    }
    let s = SignOff::of(&ru, "  张主任 ", NOW).unwrap();
    // Only into a cases document.
    let reg = DocId::Registry(community());
    let heads = r.heads(&reg);
    let e = signoff::put(r.doc_mut(&reg).unwrap(), &s).unwrap_err();
    assert!(matches!(e, CoreError::Document { .. }), "{e}");
    assert_eq!(r.heads(&reg), heads);
    assert!(signoff::put(&mut AutoCommit::new(), &s).is_err());
    assert_eq!(
        (
            s.signed_by.as_str(),
            s.date,
            s.tz.as_str(),
            s.rollup_version,
            &s.heads,
            &s.digest
        ),
        (
            "张主任",
            day(),
            "Asia/Shanghai",
            ROLLUP_VERSION,
            &ru.heads,
            &ru.digest
        )
    );
    assert_eq!(signoff::get(cases_of(&mut r), day()), None);
    assert_eq!(signoff::state(None, &ru), SignOffState::NotSigned);
    sign(&mut r, &s);
    assert_eq!(signoff::get(cases_of(&mut r), day()), Some(s.clone()));
    assert_eq!(signoff::get(cases_of(&mut r), plus(day(), -1)), None);
    // Through the bytes, as the street gets it; the views still read.
    let bytes = cases_of(&mut r).save();
    let loaded = AutoCommit::load(&bytes).unwrap();
    assert_eq!(signoff::get(&loaded, day()), Some(s.clone()));
    r.reread();
    assert!(r.view().gaps().is_empty(), "{:?}", r.view().gaps());
    // Signing the same again changes nothing.
    let heads = cases_of(&mut r).get_heads();
    sign(&mut r, &s);
    assert_eq!(cases_of(&mut r).get_heads(), heads);

    // Signing wrote into the cases document; the figures are the same, so
    // the sign-off stands.
    let now = rollup(&mut r);
    assert_ne!(now.heads.cases, s.heads.cases);
    assert_eq!(
        signoff::state(Some(&s), &now),
        SignOffState::Signed {
            sign_off: s.clone()
        }
    );
    // An edit that changes no figure of the day: still signed.
    let mut h = r.view().households["hh_1"].clone();
    h.phone = Some("13900139000".into());
    apply(&mut r, vec![Edit::Update(Record::Household(h))]);
    assert!(matches!(
        signoff::state(Some(&s), &rollup(&mut r)),
        SignOffState::Signed { .. }
    ));
    // A rollup of another day says nothing about this one.
    let other = rollup_at(&mut r, &mut street_doc(), plus(day(), 1), SHANGHAI);
    assert!(matches!(
        signoff::state(Some(&s), &other),
        SignOffState::Signed { .. }
    ));

    // A later visit on that day.
    let mut later = fork(&mut r, 2);
    apply(
        &mut later,
        vec![Edit::Create(visit(
            activity_id(Kind::ScreeningVisit, 1),
            "hh_1",
            NOW,
        ))],
    );
    match signoff::state(Some(&s), &rollup(&mut later)) {
        SignOffState::ChangedSinceSignOff { sign_off, why } => {
            assert_eq!(sign_off, s);
            assert!(why.contains("activity of 2026-11-30"), "{why}");
            assert!(why.contains("figures changed"), "{why}");
        }
        other => panic!("expected ChangedSinceSignOff, got {other:?}"),
    }

    // A registry edit that changes that day's figures.
    apply(
        &mut r,
        vec![Edit::Create(Record::Household(household(
            "hh_2",
            "cp_a",
            "bd_a1",
            Some("cg_1"),
        )))],
    );
    match signoff::state(Some(&s), &rollup(&mut r)) {
        SignOffState::ChangedSinceSignOff { why, .. } => {
            assert!(why.contains("registry"), "{why}");
            assert!(!why.contains("activity"), "{why}");
        }
        other => panic!("expected ChangedSinceSignOff, got {other:?}"),
    }
}

#[test]
fn concurrent_sign_offs_read_as_the_latest_one_everywhere() {
    let mut a = fixture();
    let mut b = fork(&mut a, 2);
    let ru = rollup(&mut a);
    let early = SignOff::of(&ru, "甲", NOW).unwrap();
    let late = SignOff::of(&ru, "乙", NOW + 1000).unwrap();
    sign(&mut a, &late);
    sign(&mut b, &early);
    a.merge(&mut b).unwrap();
    b.merge(&mut a).unwrap();
    assert_eq!(signoff::get(cases_of(&mut a), day()), Some(late.clone()));
    assert_eq!(signoff::get(cases_of(&mut b), day()), Some(late));
}

#[test]
fn an_unreadable_sign_off_is_none() {
    let mut r = fixture();
    let key = signoff::key(day());
    let cases = cases_of(&mut r);
    cases.put(ROOT, key.as_str(), "not a sign-off").unwrap();
    cases.commit();
    assert_eq!(signoff::get(cases, day()), None);
    let obj = cases
        .put_object(ROOT, key.as_str(), automerge::ObjType::Map)
        .unwrap();
    cases.put(&obj, "signed_at_ms", "yesterday").unwrap();
    cases.commit();
    assert_eq!(signoff::get(cases, day()), None);
}
