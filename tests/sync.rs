//! Node ⇄ coordinator sync over real gRPC with mutual TLS on loopback:
//! convergence of concurrent edits, restarts on either side, resumption
//! from the persisted sync state, and catch-ups larger than the frame limit.

use std::time::Duration;

use gridsync_core::sync::FrameLimits;
use gridsync_core::*;
use gridsync_proto::street::v1 as spb;
use gridsync_tests::street::*;

const WITHIN: Duration = Duration::from_secs(30);

fn compound(name: &str) -> Record {
    Record::Compound(Compound {
        id: String::new(),
        name: name.into(),
        address: None,
    })
}

fn building(compound_id: &str, name: &str) -> Record {
    Record::Building(Building {
        id: String::new(),
        compound_id: compound_id.into(),
        name: name.into(),
    })
}

fn household(compound_id: &str, building_id: &str, door: &str) -> Record {
    Record::Household(Household {
        id: String::new(),
        compound_id: compound_id.into(),
        building_id: building_id.into(),
        unit: "1".into(),
        door: door.into(),
        head_name: format!("户主{door}"),
        phone: None,
        contract_group_id: None,
    })
}

/// A compound with one building and `n` households; returns the compound id.
async fn populate(node: &TestNode, tag: &str, n: usize) -> String {
    let c = node.create(compound(&format!("{tag}楼院"))).await;
    let b = node.create(building(c.id(), &format!("{tag}1号楼"))).await;
    for i in 0..n {
        node.create(household(c.id(), b.id(), &format!("{tag}{i}"))).await;
    }
    c.id().to_string()
}

fn risk_region(region: &str) -> spb::PutStreetRecordRequest {
    spb::PutStreetRecordRequest {
        record: Some(spb::StreetRecord {
            record: Some(spb::street_record::Record::RiskRegion(spb::RiskRegionPb {
                id: String::new(),
                region: region.into(),
                level: spb::RiskLevelPb::RiskLevelHigh as i32,
                from: "2026-11-01".into(),
                to: String::new(),
            })),
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_edits_at_a_node_and_at_the_coordinator_converge() {
    let pki = Pki::new();
    let cdir = tempfile::tempdir().unwrap();
    let ndir = tempfile::tempdir().unwrap();
    let coord = TestCoordinator::start(cdir.path(), &pki, 0, FrameLimits::default()).await;
    let mut op = coord.operator(&pki).await;
    register(&mut op, &["c01"]).await;
    let auth = pki.client(&gridsync_core::access::Principal::Node(CommunityId::parse("c01").unwrap()));
    let node = TestNode::start(
        ndir.path(),
        "c01",
        Some(test_link_config(coord.addr, &auth, FrameLimits::default())),
    )
    .await;
    // Edits on both sides at once: households at the node; a risk region and
    // a dispatched hotline ticket (into the same cases document the node
    // writes) at the coordinator.
    let node_side = populate(&node, "A", 20);
    let coord_side = async {
        op.put_street_record(risk_region("某市某区")).await.unwrap();
        for i in 0..5 {
            op.dispatch_ticket(spb::DispatchTicketRequest {
                community_id: "c01".into(),
                ticket: Some(gridsync_proto::office::v1::Ticket {
                    received_at_ms: gridsync_node::service::now_ms(),
                    channel: gridsync_proto::office::v1::TicketChannel::Hotline as i32,
                    category: "环境".into(),
                    summary: format!("12345 工单 {i}"),
                    ..Default::default()
                }),
            })
            .await
            .unwrap();
        }
    };
    let (_, ()) = tokio::join!(node_side, coord_side);
    node.run(|o| {
        let t = Record::Ticket(Ticket {
            id: String::new(),
            received_at_ms: gridsync_node::service::now_ms(),
            channel: TicketChannel::Patrol,
            category: "安全".into(),
            summary: "巡查发现".into(),
            caller_phone: None,
            assigned_compound_id: None,
            assigned_staff_id: None,
            resolved_at_ms: None,
            resolution: None,
        });
        o.create(t, gridsync_node::service::now_ms()).unwrap();
    })
    .await;

    let ok = eventually(WITHIN, || converged(&node, &coord)).await;
    assert!(
        ok,
        "not converged: node {:?} coordinator {:?}; link {:?}",
        show_heads(&node.heads().await),
        show_heads(&coord.community_heads("c01").await),
        node.link_status()
    );
    // Same content on both sides.
    let c01 = CommunityId::parse("c01").unwrap();
    let reg = coord.doc(DocId::Registry(c01.clone())).await;
    let cases = coord.doc(DocId::Cases(c01.clone())).await;
    let at_coord = CommunityView::read(&reg, &cases);
    let (households, tickets, regions) = node
        .run(|o| {
            let v = o.view();
            let regions = gridsync_core::street::StreetView::read(o.street_doc()).risk_regions.len();
            (v.households.len(), v.tickets.len(), regions)
        })
        .await;
    assert_eq!(households, 20);
    assert_eq!(at_coord.households.len(), 20);
    assert_eq!(tickets, 6, "5 dispatched at the coordinator + 1 made at the node");
    assert_eq!(at_coord.tickets.len(), 6);
    assert_eq!(regions, 1);
    assert!(node.link_status().connected);
    node.stop().await;
    coord.stop().await;
}
