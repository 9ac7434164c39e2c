//! What the rollup tests over gRPC share: a community populated through a
//! node, the street's rollup as an operator reads it, lookups into it, the
//! additivity check, and the oracle (the rollup of the union of a node's
//! and the coordinator's documents).

use std::time::Duration;

use gridsync_core::rollup::{self, CommunityInput, RollupHeads};
use gridsync_core::*;
use gridsync_proto::rollup::v1 as rpb;
use gridsync_proto::street::v1 as spb;
use gridsync_testkit::street::*;
use gridsync_testkit::{TIME_ZONE, activity_instant_ms};

pub const WITHIN: Duration = Duration::from_secs(40);

/// The operator's client of the Street API.
pub type Operator = spb::street_client::StreetClient<tonic::transport::Channel>;

/// A street for a test: a coordinator with the default limits in its own
/// directory, and an operator who has registered `ids`.
pub struct Street {
    pub pki: Pki,
    /// The coordinator's directory, removed when dropped: bind it for as
    /// long as the coordinator runs.
    pub dir: tempfile::TempDir,
    pub coord: TestCoordinator,
    pub op: Operator,
}

pub async fn street(ids: &[&str]) -> Street {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let coord = TestCoordinator::start(
        dir.path(),
        &pki,
        0,
        gridsync_core::sync::FrameLimits::default(),
    )
    .await;
    let mut op = coord.operator(&pki).await;
    register(&mut op, ids).await;
    Street {
        pki,
        dir,
        coord,
        op,
    }
}

/// A compound, a building, `n` households of two residents each, a
/// contract group for all of them, and a screening visit of every other
/// household today. Returns the household ids.
pub async fn populate(node: &TestNode, tag: &str, n: usize) -> Vec<String> {
    let c = node.create(compound(&format!("{tag}楼院"))).await;
    let b = node.create(building(c.id(), &format!("{tag}1号楼"))).await;
    let pm = node
        .create(Record::PartyMember(PartyMember {
            id: String::new(),
            name: format!("{tag}党员"),
            kind: PartyMemberKind::SelfManaged,
            phone: None,
            resident_id: None,
            workplace: None,
        }))
        .await;
    let g = node
        .create(Record::ContractGroup(ContractGroup {
            id: String::new(),
            party_member_id: pm.id().to_string(),
            name: None,
        }))
        .await;
    let mut ids = Vec::new();
    for i in 0..n {
        let mut h = household(c.id(), b.id(), &format!("{tag}{i}"));
        if let Record::Household(hh) = &mut h {
            hh.contract_group_id = Some(g.id().to_string());
        }
        let h = node.create(h).await;
        let mut residents = std::collections::BTreeMap::new();
        for j in 0..2 {
            let r = node
                .create(resident(h.id(), &format!("{tag}居民{i}-{j}")))
                .await;
            residents.insert(
                r.id().to_string(),
                ScreeningEntry {
                    status: ScreeningStatus::Present,
                    returned_from: None,
                    returned_on: None,
                },
            );
        }
        if i % 2 == 0 {
            visit(node, h.id(), residents).await;
        }
        ids.push(h.id().to_string());
    }
    ids
}

pub async fn visit(
    node: &TestNode,
    household_id: &str,
    residents: std::collections::BTreeMap<String, ScreeningEntry>,
) {
    node.create(Record::ScreeningVisit(ScreeningVisit {
        id: String::new(),
        household_id: household_id.into(),
        visited_at_ms: activity_instant_ms(),
        visitor: "网格员".into(),
        residents,
        notes: None,
    }))
    .await;
}

pub fn ticket(summary: &str) -> spb::DispatchTicketRequest {
    dispatched_ticket("c01", summary)
}

pub async fn street_rollup(
    op: &mut spb::street_client::StreetClient<tonic::transport::Channel>,
) -> rpb::Rollup {
    op.get_rollup(rpb::RollupRequest::default())
        .await
        .expect("the street's rollup")
        .into_inner()
}

pub fn stamp<'a>(r: &'a rpb::Rollup, c: &str) -> &'a rpb::Stamp {
    r.stamps
        .iter()
        .find(|s| s.community_id == c)
        .unwrap_or_else(|| panic!("no stamp for {c} in {:?}", r.stamps))
}

pub fn community<'a>(r: &'a rpb::Rollup, c: &str) -> &'a rpb::Node {
    r.tree
        .as_ref()
        .expect("tree")
        .children
        .iter()
        .find(|n| n.id == c)
        .unwrap_or_else(|| panic!("no node for {c}"))
}

pub fn figures(n: &rpb::Node) -> &rpb::Figures {
    n.figures.as_ref().expect("figures")
}

/// Every printed parent is the field-by-field sum of its children.
pub fn assert_additive(n: &rpb::Node) {
    if n.children.is_empty() {
        return;
    }
    let f = figures(n);
    let sum =
        |get: fn(&rpb::Figures) -> u64| n.children.iter().map(|c| get(figures(c))).sum::<u64>();
    type Get = fn(&rpb::Figures) -> u64;
    let checks: [(&str, Get); 8] = [
        ("households", |f| f.households),
        ("residents", |f| f.residents),
        ("households_screened", |f| f.households_screened),
        ("households_unscreened", |f| f.households_unscreened),
        ("tickets_open", |f| f.tickets_open),
        ("tickets_opened", |f| f.tickets_opened),
        ("screening_visits", |f| f.screening_visits),
        ("households_contracted", |f| f.households_contracted),
    ];
    for (name, get) in checks {
        assert_eq!(
            get(f),
            sum(get),
            "{name} of {:?} {} is not the sum of its children",
            n.level,
            n.id
        );
    }
    for c in &n.children {
        assert_additive(c);
    }
}

/// The rollup of community `c` computed here from the union of the node's
/// and the coordinator's documents (every acknowledged edit of either side).
pub async fn oracle(
    node: &TestNode,
    coord: &TestCoordinator,
    as_of: Day,
) -> rollup::CommunityRollup {
    let c = node.community.clone();
    let ids = [
        DocId::Registry(c.clone()),
        DocId::Cases(c.clone()),
        DocId::Activity(c.clone(), as_of),
        DocId::Street,
    ];
    let mut docs = Vec::new();
    for id in &ids {
        let mut at_coord = coord.doc(id.clone()).await;
        let idc = id.clone();
        let at_node = node
            .run(move |o| {
                o.store().load_doc(&idc).expect("load").map(|s| {
                    gridsync_core::replica::load_doc(
                        s.snapshot.as_deref(),
                        s.chunks.iter().map(Vec::as_slice),
                        &idc,
                    )
                    .expect("stored doc loads")
                })
            })
            .await;
        if let Some(mut n) = at_node {
            at_coord.merge(&mut n).expect("merge");
        }
        docs.push(at_coord);
    }
    let view = CommunityView::read(&docs[0], &docs[1]);
    let day = DayView::read(as_of, &docs[2]);
    let street = gridsync_core::street::StreetView::read(&docs[3]);
    let h: Vec<Vec<automerge::ChangeHash>> = docs.iter_mut().map(|d| d.get_heads()).collect();
    let mut heads = RollupHeads::new(&h[0], &h[1], &h[3]);
    heads.add_day(as_of, &h[2]);
    let input = CommunityInput {
        community_id: c.as_str(),
        view: &view,
        days: &[&day],
        street: &street,
        heads,
    };
    rollup::community_rollup(&input, as_of, TIME_ZONE)
}
