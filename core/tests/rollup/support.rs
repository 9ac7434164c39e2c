//! What the rollup tests share: the rollup of a replica as of a day in a
//! zone, lookups into its tree, edits, a second replica of a community
//! (another office), new communities from the fixture, and tree walks.

use std::collections::BTreeMap;

use automerge::{AutoCommit, ChangeHash};
use chrono_tz::Tz;
use gridsync_core::rollup::*;
use gridsync_core::street::{self, StreetView};
use gridsync_core::*;

use crate::common::*;

pub const SHANGHAI: Tz = chrono_tz::Asia::Shanghai;

pub fn hex(heads: Option<Vec<ChangeHash>>) -> Vec<String> {
    let mut v: Vec<String> = heads
        .unwrap_or_default()
        .iter()
        .map(|h| h.to_string())
        .collect();
    v.sort();
    v
}

pub fn plus(day: Day, n: i64) -> Day {
    day + chrono::Duration::days(n)
}

pub fn street_doc() -> AutoCommit {
    docs::genesis(&DocId::Street, actor(9))
}

/// The rollup of a replica as of `as_of` in `tz`, reading the loaded
/// activity documents of the day before, the day and the day after.
pub fn rollup_at(
    r: &mut CommunityReplica,
    street: &mut AutoCommit,
    as_of: Day,
    tz: Tz,
) -> CommunityRollup {
    let c = r.community().clone();
    let days: Vec<Day> = [plus(as_of, -1), as_of, plus(as_of, 1)]
        .into_iter()
        .filter(|d| r.has_day(*d))
        .collect();
    let mut heads = RollupHeads {
        registry: hex(r.heads(&DocId::Registry(c.clone()))),
        cases: hex(r.heads(&DocId::Cases(c.clone()))),
        days: BTreeMap::new(),
        street: street::heads_hex(street),
    };
    heads.street.sort();
    for d in &days {
        heads.days.insert(
            d.format("%Y-%m-%d").to_string(),
            hex(r.heads(&DocId::Activity(c.clone(), *d))),
        );
    }
    let sv = StreetView::read(street);
    let views: Vec<&DayView> = days.iter().filter_map(|d| r.day_view(*d)).collect();
    community_rollup(
        &CommunityInput {
            community_id: c.as_str(),
            view: r.view(),
            days: &views,
            street: &sv,
            heads,
        },
        as_of,
        tz,
    )
}

pub fn rollup(r: &mut CommunityReplica) -> CommunityRollup {
    rollup_at(r, &mut street_doc(), day(), SHANGHAI)
}

pub fn leaf<'a>(r: &'a CommunityRollup, path: [&str; 3]) -> &'a Figures {
    &r.tree
        .find(&path)
        .unwrap_or_else(|| panic!("no node at {path:?}"))
        .figures
}

pub fn apply(r: &mut CommunityReplica, edits: Vec<Edit>) {
    r.apply(&edits, &ctx(), "test").unwrap();
}

pub fn remove(r: &mut CommunityReplica, kind: Kind, id: &str) {
    apply(
        r,
        vec![Edit::Remove {
            kind,
            id: id.into(),
        }],
    );
}

/// A second replica of `r`'s community, as another office would hold it.
pub fn fork(r: &mut CommunityReplica, n: u8) -> CommunityReplica {
    let c = r.community().clone();
    let load =
        |r: &mut CommunityReplica, id: DocId| AutoCommit::load(&r.save_doc(&id).unwrap()).unwrap();
    let reg = load(r, DocId::Registry(c.clone()));
    let cases = load(r, DocId::Cases(c.clone()));
    let mut f =
        CommunityReplica::from_docs(c.clone(), actor(n), Some(secret()), reg, cases).unwrap();
    for d in r.loaded_days() {
        let doc = load(r, DocId::Activity(c.clone(), d));
        f.attach_day(d, doc).unwrap();
    }
    f
}

pub fn new_community(id: &str, n: u8) -> CommunityReplica {
    let mut r = CommunityReplica::new(CommunityId::parse(id).unwrap(), actor(n), Some(secret()));
    r.start_day(day());
    r.apply(&fixture_edits(), &ctx(), "fixture").unwrap();
    r
}

pub fn visit(id: String, household: &str, at_ms: i64) -> Record {
    Record::ScreeningVisit(ScreeningVisit {
        id,
        household_id: household.into(),
        visited_at_ms: at_ms,
        visitor: "网格员甲".into(),
        residents: BTreeMap::new(),
        notes: None,
    })
}

pub fn with_id_number(mut r: Resident, seq: u32) -> Resident {
    // Born 1945-03-02, like every resident of the fixture.
    r.id_number = Some(id_number(&format!("41010219450302{:03}", seq % 1000)));
    r
}

pub fn count_nodes(n: &Node) -> usize {
    1 + n.children.iter().map(count_nodes).sum::<usize>()
}

/// Every node, depth first, with the ids of its path from the top.
pub fn walk<'a>(n: &'a Node, path: &mut Vec<&'a str>, out: &mut Vec<(Vec<&'a str>, &'a Node)>) {
    path.push(&n.id);
    out.push((path.clone(), n));
    for c in &n.children {
        walk(c, path, out);
    }
    path.pop();
}
