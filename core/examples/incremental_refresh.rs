//! How long a view takes to follow a registry that sync changed: re-read
//! whole (`reread_doc`) or refreshed from the changes (`refresh_doc`), for a
//! community of 3,000 households and 9,000 residents.
//!
//! ```text
//! cargo run --release -p gridsync-core --example incremental_refresh
//! ```
//!
//! The other office's edit arrives as a merge of its registry, as a sync
//! message would bring it; each way is timed several times and the median
//! printed. Both ways must end in the same view.

use std::time::{Duration, Instant};

use automerge::{ActorId, AutoCommit, ChangeHash};
use gridsync_core::*;

const HOUSEHOLDS: usize = 3_000;
const RESIDENTS_PER_HOUSEHOLD: usize = 3;
const COMPOUNDS: usize = 10;
const BUILDINGS: usize = 100;
const GROUPS: usize = 30;
/// Households per edit group (one Automerge change each).
const BATCH: usize = 100;
const RUNS: usize = 7;

fn ctx() -> EditContext {
    EditContext {
        now_ms: 1_796_000_000_000,
        tz: chrono_tz::Asia::Shanghai,
    }
}

fn community() -> CommunityId {
    CommunityId::parse("tongbai").expect("a valid community id")
}

fn household(i: usize, phone: &str) -> Record {
    let b = i % BUILDINGS;
    Record::Household(Household {
        id: format!("hh_{i:05}"),
        compound_id: format!("cp_{:02}", b % COMPOUNDS),
        building_id: format!("bd_{b:03}"),
        unit: format!("{}", i % 6 + 1),
        door: format!("{}", 100 + i % 30),
        head_name: "张三".into(),
        phone: Some(phone.into()),
        contract_group_id: Some(format!("cg_{:02}", i % GROUPS)),
    })
}

fn resident(i: usize, j: usize) -> Record {
    Record::Resident(Resident {
        id: format!("rs_{i:05}_{j}"),
        household_id: format!("hh_{i:05}"),
        name: "李四".into(),
        id_number: None,
        person_key: None,
        gender: Some(if j.is_multiple_of(2) {
            Gender::Female
        } else {
            Gender::Male
        }),
        birth_date: None,
        phone: None,
        relation: Some(if j == 0 { "本人" } else { "家属" }.into()),
        lives_alone: false,
    })
}

fn build() -> CommunityReplica {
    let mut r = CommunityReplica::new(community(), ActorId::from(&[1u8; 16][..]), None);
    let mut edits = Vec::new();
    for c in 0..COMPOUNDS {
        edits.push(Edit::Create(Record::Compound(Compound {
            id: format!("cp_{c:02}"),
            name: format!("楼院{c}"),
            address: None,
        })));
    }
    for b in 0..BUILDINGS {
        edits.push(Edit::Create(Record::Building(Building {
            id: format!("bd_{b:03}"),
            compound_id: format!("cp_{:02}", b % COMPOUNDS),
            name: format!("{b}号楼"),
        })));
    }
    for g in 0..GROUPS {
        edits.push(Edit::Create(Record::PartyMember(PartyMember {
            id: format!("pm_{g:02}"),
            name: "王党员".into(),
            kind: PartyMemberKind::SelfManaged,
            phone: None,
            resident_id: None,
            workplace: None,
        })));
        edits.push(Edit::Create(Record::ContractGroup(ContractGroup {
            id: format!("cg_{g:02}"),
            party_member_id: format!("pm_{g:02}"),
            name: None,
        })));
    }
    r.apply(&edits, &ctx(), "structure").expect("structure");
    for start in (0..HOUSEHOLDS).step_by(BATCH) {
        let mut edits = Vec::new();
        for i in start..(start + BATCH).min(HOUSEHOLDS) {
            edits.push(Edit::Create(household(i, "13800138000")));
            for j in 0..RESIDENTS_PER_HOUSEHOLD {
                edits.push(Edit::Create(resident(i, j)));
            }
        }
        r.apply(&edits, &ctx(), "households").expect("a batch");
    }
    r
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// Times `reread_doc` and `refresh_doc` of the registry of `r`, whose view
/// reflects `before`, and checks both give the same view. `from_cursor` is
/// the time of a refresh already made from Automerge's diff cursor (the
/// replica keeps it at the heads its view reflects); the refreshes timed
/// here start from heads that are no longer the cursor, so Automerge scans
/// the document's operations for the diff.
fn time_scan_and_reread(
    r: &mut CommunityReplica,
    before: &[ChangeHash],
) -> (Duration, Duration, String) {
    let reg = DocId::Registry(community());
    let mut scan = Vec::new();
    let mut did = String::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let got = r.refresh_doc(&reg, before);
        scan.push(t.elapsed());
        did = outcome(got);
    }
    let refreshed = r.view().clone();
    let mut reread = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        r.reread_doc(&reg);
        reread.push(t.elapsed());
    }
    let whole = r.view();
    for kind in Kind::of_class(DocClass::Registry) {
        assert_eq!(refreshed.list(kind), whole.list(kind), "{kind} differs");
    }
    assert_eq!(refreshed.gaps(), whole.gaps());
    (median(reread), median(scan), did)
}

fn outcome(got: Option<view::Refreshed>) -> String {
    match got {
        Some(view::Refreshed::Records(n)) => format!("{n} records"),
        Some(view::Refreshed::Whole(why)) => format!("whole: {why:?}"),
        None => "not held".into(),
    }
}

fn row(label: &str, reread: Duration, cursor: (Duration, String), scan: (Duration, String)) {
    println!(
        "| {label:<27} | {:>10} | {:>13} | {:>11} | {} / {}",
        ms(reread),
        ms(cursor.0),
        ms(scan.0),
        cursor.1,
        scan.1
    );
}

fn main() {
    let t = Instant::now();
    let mut a = build();
    println!(
        "built {} households, {} residents in {:.1} s",
        a.view().households.len(),
        a.view().residents.len(),
        t.elapsed().as_secs_f64()
    );
    let reg = DocId::Registry(community());
    // The other office: the same registry, loaded from a save.
    let saved = a.save_doc(&reg).expect("registry");
    let cases = a.save_doc(&DocId::Cases(community())).expect("cases");
    let mut b = CommunityReplica::from_docs(
        community(),
        ActorId::from(&[2u8; 16][..]),
        None,
        AutoCommit::load(&saved).expect("load"),
        AutoCommit::load(&cases).expect("load"),
    )
    .expect("fork");

    println!();
    println!(
        "| change received             | reread_doc | refresh_doc   | refresh_doc | refresh_doc did (cursor / scan)"
    );
    println!("|                             |            | (from cursor) | (scan)      |");
    println!(
        "|-----------------------------|------------|---------------|-------------|----------------"
    );
    for (label, edited) in [("1 household edited", 1), ("100 households edited", 100)] {
        let mut from_cursor = Vec::new();
        let mut before = Vec::new();
        let mut did = String::new();
        for run in 0..RUNS {
            let edits: Vec<Edit> = (0..edited)
                .map(|i| {
                    let phone = format!("139{run:04}{i:04}");
                    Edit::Update(household(i * 17 % HOUSEHOLDS, &phone))
                })
                .collect();
            b.apply(&edits, &ctx(), "edit").expect("edit");
            before = a.heads(&reg).expect("heads");
            let theirs = b.doc_mut(&reg).expect("registry");
            a.doc_mut(&reg)
                .expect("registry")
                .merge(theirs)
                .expect("merge");
            let t = Instant::now();
            let got = a.refresh_doc(&reg, &before);
            from_cursor.push(t.elapsed());
            did = outcome(got);
        }
        let (reread, scan, scan_did) = time_scan_and_reread(&mut a, &before);
        row(label, reread, (median(from_cursor), did), (scan, scan_did));
    }
    // The whole registry since its genesis, as a first sync brings it to a
    // replica that had only the genesis: the refresh falls back to a full
    // read, after paying for the diff.
    let mut fresh = CommunityReplica::new(community(), ActorId::from(&[3u8; 16][..]), None);
    let genesis = fresh.heads(&reg).expect("heads");
    let theirs = a.doc_mut(&reg).expect("registry");
    fresh
        .doc_mut(&reg)
        .expect("registry")
        .merge(theirs)
        .expect("merge");
    let t = Instant::now();
    let did = outcome(fresh.refresh_doc(&reg, &genesis));
    let from_cursor = t.elapsed();
    let (reread, scan, scan_did) = time_scan_and_reread(&mut fresh, &genesis);
    row(
        "whole registry (first sync)",
        reread,
        (from_cursor, did),
        (scan, scan_did),
    );
}
