//! The five-level rollup over real gRPC with mutual TLS on loopback: a node
//! cut off while both sides edit, then healed; monotonic freshness across
//! coordinator restarts and a restore from an older backup; digests reported
//! by nodes and compared; the daily report and its sign-off.

use std::time::Duration;

use gridsync_core::rollup::{self, CommunityInput, RollupHeads};
use gridsync_core::sync::FrameLimits;
use gridsync_core::*;
use gridsync_proto::rollup::v1 as rpb;
use gridsync_proto::street::v1 as spb;
use gridsync_proto::sync::v1 as sypb;
use gridsync_sync::tls::TokenInterceptor;
use gridsync_testkit::now_ms;
use gridsync_testkit::proxy::FaultProxy;
use gridsync_testkit::street::*;
use gridsync_testkit::{TIME_ZONE, activity_instant_ms, day_of};

const WITHIN: Duration = Duration::from_secs(40);

/// A compound, a building, `n` households of two residents each, a
/// contract group for all of them, and a screening visit of every other
/// household today. Returns the household ids.
async fn populate(node: &TestNode, tag: &str, n: usize) -> Vec<String> {
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

async fn visit(
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

fn ticket(summary: &str) -> spb::DispatchTicketRequest {
    dispatched_ticket("c01", summary)
}

async fn street_rollup(
    op: &mut spb::street_client::StreetClient<tonic::transport::Channel>,
) -> rpb::Rollup {
    op.get_rollup(rpb::RollupRequest::default())
        .await
        .expect("the street's rollup")
        .into_inner()
}

fn stamp<'a>(r: &'a rpb::Rollup, c: &str) -> &'a rpb::Stamp {
    r.stamps
        .iter()
        .find(|s| s.community_id == c)
        .unwrap_or_else(|| panic!("no stamp for {c} in {:?}", r.stamps))
}

fn community<'a>(r: &'a rpb::Rollup, c: &str) -> &'a rpb::Node {
    r.tree
        .as_ref()
        .expect("tree")
        .children
        .iter()
        .find(|n| n.id == c)
        .unwrap_or_else(|| panic!("no node for {c}"))
}

fn figures(n: &rpb::Node) -> &rpb::Figures {
    n.figures.as_ref().expect("figures")
}

/// Every printed parent is the field-by-field sum of its children.
fn assert_additive(n: &rpb::Node) {
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
async fn oracle(node: &TestNode, coord: &TestCoordinator, as_of: Day) -> rollup::CommunityRollup {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_cut_off_while_both_sides_edit_converges_to_the_union_with_matching_digests() {
    let pki = Pki::new();
    let (cdir, d1, d2) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let coord = TestCoordinator::start(cdir.path(), &pki, 0, FrameLimits::default()).await;
    let mut op = coord.operator(&pki).await;
    register(&mut op, &["c01", "c02"]).await;
    let proxy = FaultProxy::start("127.0.0.1:0".parse().unwrap(), coord.addr)
        .await
        .expect("proxy");
    let n1 = TestNode::start(
        d1.path(),
        "c01",
        Some(test_link_config(
            proxy.local_addr(),
            &pki.node("c01"),
            FrameLimits::default(),
        )),
    )
    .await;
    let n2 = TestNode::start(
        d2.path(),
        "c02",
        Some(test_link_config(
            coord.addr,
            &pki.node("c02"),
            FrameLimits::default(),
        )),
    )
    .await;
    let hh1 = populate(&n1, "A", 6).await;
    populate(&n2, "B", 4).await;
    assert!(
        eventually(WITHIN, || converged(&n1, &coord)).await,
        "c01 did not converge"
    );
    assert!(
        eventually(WITHIN, || converged(&n2, &coord)).await,
        "c02 did not converge"
    );

    // Cut c01 off; edit on both sides.
    proxy.cut();
    assert!(
        eventually(WITHIN, || async { !n1.link_status().connected }).await,
        "the node did not notice the cut"
    );
    let before = street_rollup(&mut op).await;
    for i in 0..3 {
        let h = n1
            .create(household(
                &{
                    let v = n1.run(|o| o.view().compounds.keys().next().cloned()).await;
                    v.expect("a compound")
                },
                &n1.run(|o| o.view().buildings.keys().next().cloned())
                    .await
                    .expect("a building"),
                &format!("X{i}"),
            ))
            .await;
        visit(&n1, h.id(), Default::default()).await;
    }
    visit(&n1, &hh1[1], Default::default()).await;
    op.dispatch_ticket(ticket("停电 power cut"))
        .await
        .expect("dispatch");
    op.put_street_record(risk_region("某省某市"))
        .await
        .expect("risk region");
    let during = street_rollup(&mut op).await;
    assert_additive(during.tree.as_ref().unwrap());
    let c01_during = figures(community(&during, "c01"));
    assert_eq!(
        c01_during.households,
        figures(community(&before, "c01")).households,
        "the coordinator cannot see the node's offline households"
    );
    assert_eq!(
        c01_during.tickets_opened, 1,
        "the dispatched ticket counts at once"
    );

    // Heal: converged, and the node's digest matches the coordinator's.
    proxy.heal();
    assert!(
        eventually(WITHIN, || converged(&n1, &coord)).await,
        "c01 did not converge after the heal"
    );
    let ok = eventually(WITHIN, || async {
        let r = street_rollup(&mut op.clone()).await;
        r.stamps
            .iter()
            .all(|s| s.digest_state == rpb::DigestState::Match as i32)
    })
    .await;
    let after = street_rollup(&mut op).await;
    assert!(ok, "digests did not all match: {:?}", after.stamps);
    assert_additive(after.tree.as_ref().unwrap());
    let today = day_of(now_ms());
    let expected = oracle(&n1, &coord, today).await;
    let s = stamp(&after, "c01");
    assert_eq!(
        s.digest, expected.digest,
        "the coordinator's figures are not those of the union"
    );
    let f = figures(community(&after, "c01"));
    assert_eq!(f.households, 9);
    assert_eq!(f.households, expected.tree.figures.households);
    assert_eq!(
        f.households_screened,
        expected.tree.figures.households_screened
    );
    assert_eq!(
        f.screening_visits,
        3 + 3 + 1,
        "6 households half visited, 3 new ones, 1 more"
    );
    assert_eq!(f.tickets_opened, 1);
    let node_digest = n1
        .run(move |o| o.rollup(today, TIME_ZONE, now_ms()).expect("rollup").digest)
        .await;
    assert_eq!(node_digest, expected.digest, "the node's own digest");
    let street = figures(after.tree.as_ref().unwrap());
    assert_eq!(street.households, 9 + 4);
    // The node keeps a read-only copy of the street's top figures.
    let ok = eventually(WITHIN, || async {
        let summary = n2.run(|o| o.street_summary()).await;
        summary.is_some_and(|(bytes, _)| {
            <rpb::Rollup as prost::Message>::decode(bytes.as_slice()).is_ok_and(|r| {
                r.tree.as_ref().is_some_and(|t| {
                    t.children.len() == 2 && t.figures.as_ref().is_some_and(|f| f.households == 13)
                })
            })
        })
    })
    .await;
    assert!(ok, "node c02 has no current copy of the street's figures");
    n1.stop().await;
    n2.stop().await;
    coord.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rollups_never_go_back_across_restarts_even_from_an_older_backup() {
    let pki = Pki::new();
    let (cdir, d1) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let coord = TestCoordinator::start(cdir.path(), &pki, 0, FrameLimits::default()).await;
    let port = coord.addr.port();
    let mut op = coord.operator(&pki).await;
    register(&mut op, &["c01"]).await;
    let link = test_link_config(coord.addr, &pki.node("c01"), FrameLimits::default());
    let node = TestNode::start(d1.path(), "c01", Some(link.clone())).await;
    populate(&node, "A", 3).await;
    assert!(eventually(WITHIN, || converged(&node, &coord)).await);
    let r1 = street_rollup(&mut op).await;
    assert_eq!(figures(community(&r1, "c01")).households, 3);
    node.stop().await;
    coord.stop().await;

    // A backup of the store with 3 households.
    let db = cdir.path().join("gridsync-coordinator.sqlite3");
    let backup = cdir.path().join("backup.sqlite3");
    std::fs::copy(&db, &backup).expect("backup");

    // Two more households reach the coordinator and are served.
    let coord = TestCoordinator::start(cdir.path(), &pki, port, FrameLimits::default()).await;
    let mut op = coord.operator(&pki).await;
    let node = TestNode::start(d1.path(), "c01", Some(link.clone())).await;
    populate(&node, "B", 2).await;
    assert!(eventually(WITHIN, || converged(&node, &coord)).await);
    let r2 = street_rollup(&mut op).await;
    assert_eq!(figures(community(&r2, "c01")).households, 5);
    node.stop().await;
    coord.stop().await;

    // A plain restart serves the same state, not held.
    let coord = TestCoordinator::start(cdir.path(), &pki, port, FrameLimits::default()).await;
    let mut op = coord.operator(&pki).await;
    let r3 = street_rollup(&mut op).await;
    assert_eq!(figures(community(&r3, "c01")).households, 5);
    assert_eq!(stamp(&r3, "c01").heads, stamp(&r2, "c01").heads);
    assert!(!stamp(&r3, "c01").held);
    coord.stop().await;

    // Restored from the older backup: what was served is served again,
    // marked held, never the older figures.
    for suffix in ["", "-wal", "-shm"] {
        let p = std::path::PathBuf::from(format!("{}{suffix}", db.display()));
        if suffix.is_empty() {
            std::fs::copy(&backup, &p).expect("restore");
        } else {
            let _ = std::fs::remove_file(&p);
        }
    }
    let coord = TestCoordinator::start(cdir.path(), &pki, port, FrameLimits::default()).await;
    let mut op = coord.operator(&pki).await;
    let r4 = street_rollup(&mut op).await;
    let s4 = stamp(&r4, "c01");
    assert!(
        s4.held,
        "a replica behind what was served must be held: {s4:?}"
    );
    assert_eq!(
        figures(community(&r4, "c01")).households,
        5,
        "never back to 3"
    );
    assert_eq!(s4.heads, stamp(&r2, "c01").heads);
    assert_additive(r4.tree.as_ref().unwrap());

    // The node syncs what the backup lacked; the hold ends.
    let node = TestNode::start(d1.path(), "c01", Some(link)).await;
    assert!(eventually(WITHIN, || converged(&node, &coord)).await);
    let r5 = street_rollup(&mut op).await;
    assert!(!stamp(&r5, "c01").held);
    assert_eq!(figures(community(&r5, "c01")).households, 5);
    node.stop().await;
    coord.stop().await;
}

type SyncClient = sypb::sync_client::SyncClient<
    tonic::codegen::InterceptedService<tonic::transport::Channel, TokenInterceptor>,
>;

async fn sync_client(coord: &TestCoordinator, auth: &gridsync_sync::tls::ClientAuth) -> SyncClient {
    let ep =
        gridsync_sync::tls::endpoint(&format!("https://localhost:{}", coord.addr.port()), auth)
            .expect("endpoint");
    let channel = ep.connect().await.expect("connect");
    sypb::sync_client::SyncClient::with_interceptor(
        channel,
        TokenInterceptor::new(auth).expect("interceptor"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_digest_that_differs_at_the_same_heads_is_reported_as_a_mismatch() {
    let pki = Pki::new();
    let cdir = tempfile::tempdir().unwrap();
    let coord = TestCoordinator::start(cdir.path(), &pki, 0, FrameLimits::default()).await;
    let mut op = coord.operator(&pki).await;
    register(&mut op, &["c01", "c02"]).await;
    let r = street_rollup(&mut op).await;
    let ours = stamp(&r, "c02").clone();
    assert_eq!(r.tree.as_ref().unwrap().name, "测试街道 test street");
    assert_eq!(ours.digest_state, rpb::DigestState::NotReported as i32);
    let mut client = sync_client(&coord, &pki.node("c02")).await;
    let digest = |d: &str| rpb::NodeDigest {
        as_of: r.as_of.clone(),
        tz: r.tz.clone(),
        rollup_version: r.rollup_version,
        heads: ours.heads.clone(),
        digest: d.into(),
        computed_at_ms: now_ms(),
    };
    // The same heads, another digest (say, another version's rules).
    let bogus = "ab".repeat(32);
    let summary = client
        .report(sypb::NodeReport {
            community_id: "c02".into(),
            digest: Some(digest(&bogus)),
        })
        .await
        .expect("report")
        .into_inner();
    assert_eq!(
        summary.tree.as_ref().unwrap().children.len(),
        2,
        "the street's top figures: both communities"
    );
    assert!(
        summary
            .tree
            .as_ref()
            .unwrap()
            .children
            .iter()
            .all(|c| c.children.is_empty())
    );
    // Of another community a node learns the figures and the freshness,
    // nothing of its documents, sign-off or people.
    let other = summary
        .stamps
        .iter()
        .find(|s| s.community_id == "c01")
        .expect("c01's freshness");
    assert!(other.heads.is_none(), "{other:?}");
    assert!(
        other.digest.is_empty() && other.sign_off.is_none(),
        "{other:?}"
    );
    assert!(summary.conflicts.is_empty());
    let own = summary
        .stamps
        .iter()
        .find(|s| s.community_id == "c02")
        .expect("its own stamp");
    assert_eq!(own.digest, ours.digest);
    let r2 = street_rollup(&mut op).await;
    let s = stamp(&r2, "c02");
    assert_eq!(s.digest_state, rpb::DigestState::Mismatch as i32, "{s:?}");
    assert_eq!(s.node_digest, bogus);
    // The right digest: a match.
    client
        .report(sypb::NodeReport {
            community_id: "c02".into(),
            digest: Some(digest(&ours.digest)),
        })
        .await
        .expect("report");
    let r3 = street_rollup(&mut op).await;
    assert_eq!(
        stamp(&r3, "c02").digest_state,
        rpb::DigestState::Match as i32
    );

    // Bad reports change nothing.
    let err = client
        .report(sypb::NodeReport {
            community_id: "c02".into(),
            digest: Some(digest("not hex")),
        })
        .await
        .expect_err("a digest that is not hex");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("digest"), "{}", err.message());
    let err = client
        .report(sypb::NodeReport {
            community_id: "c01".into(),
            digest: Some(digest(&bogus)),
        })
        .await
        .expect_err("another community");
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    let mut bad_tz = digest(&bogus);
    bad_tz.tz = "Mars/Olympus".into();
    let err = client
        .report(sypb::NodeReport {
            community_id: "c02".into(),
            digest: Some(bad_tz),
        })
        .await
        .expect_err("an unknown zone");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    let r4 = street_rollup(&mut op).await;
    assert_eq!(
        stamp(&r4, "c02").digest_state,
        rpb::DigestState::Match as i32
    );
    coord.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_daily_report_carries_stamps_and_shows_changes_since_sign_off() {
    let pki = Pki::new();
    let (cdir, d1) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let coord = TestCoordinator::start(cdir.path(), &pki, 0, FrameLimits::default()).await;
    let mut op = coord.operator(&pki).await;
    register(&mut op, &["c01"]).await;
    let node = TestNode::start(
        d1.path(),
        "c01",
        Some(test_link_config(
            coord.addr,
            &pki.node("c01"),
            FrameLimits::default(),
        )),
    )
    .await;
    let hh = populate(&node, "A", 4).await;
    assert!(eventually(WITHIN, || converged(&node, &coord)).await);
    let today = day_of(now_ms());
    let signed = node
        .run(move |o| {
            o.sign_off(today, TIME_ZONE, "王主任", now_ms())
                .expect("sign off")
        })
        .await;
    assert_eq!(signed.signed_by, "王主任");
    assert!(eventually(WITHIN, || converged(&node, &coord)).await);

    let op2 = op.clone();
    let report = |format: rpb::ReportFormat| {
        let mut op = op2.clone();
        async move {
            op.get_daily_report(rpb::DailyReportRequest {
                date: Date(today).to_string(),
                community_id: String::new(),
                format: format as i32,
                tz: String::new(),
            })
            .await
            .expect("report")
            .into_inner()
        }
    };
    let csv = report(rpb::ReportFormat::Csv).await;
    assert!(csv.file_name.ends_with(".csv"));
    let mut rd = csv::Reader::from_reader(csv.body.as_bytes());
    let header: Vec<String> = rd.headers().unwrap().iter().map(str::to_string).collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name} in {header:?}"))
    };
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    let c01 = rows
        .iter()
        .find(|r| &r[col("level")] == "community" && &r[col("community_id")] == "c01")
        .expect("a row for c01");
    assert_eq!(&c01[col("households")], "4");
    assert_eq!(&c01[col("digest")], signed.digest);
    assert_eq!(&c01[col("sign_off")], "signed", "{c01:?}");
    assert_eq!(&c01[col("signed_by")], "王主任");
    assert!(!c01[col("heads_registry")].is_empty());
    let json = report(rpb::ReportFormat::Json).await;
    let v: serde_json::Value = serde_json::from_str(&json.body).expect("JSON");
    assert_eq!(v["as_of"], Date(today).to_string());
    assert_eq!(v["stamps"][0]["community_id"], "c01");
    assert_eq!(v["stamps"][0]["sign_off"]["state"], "signed");
    assert_eq!(v["tree"]["figures"]["households"], 4);

    // A visit after the sign-off: the street sees the report changed.
    visit(&node, &hh[1], Default::default()).await;
    assert!(eventually(WITHIN, || converged(&node, &coord)).await);
    let r = street_rollup(&mut op).await;
    let s = stamp(&r, "c01");
    assert_eq!(
        s.sign_off_status,
        rpb::SignOffStatus::ChangedSinceSignOff as i32,
        "{s:?}"
    );
    assert!(!s.sign_off_changed.is_empty());
    let json = report(rpb::ReportFormat::Json).await;
    let v: serde_json::Value = serde_json::from_str(&json.body).expect("JSON");
    assert_eq!(
        v["stamps"][0]["sign_off"]["state"],
        "changed_since_sign_off"
    );

    // A bad sign-off changes nothing.
    let err = node
        .run(move |o| o.sign_off(today, TIME_ZONE, "  ", now_ms()).map(|_| ()))
        .await
        .expect_err("an empty signer");
    assert!(err.to_string().contains("signed_by"), "{err}");
    let tomorrow = today.succ_opt().unwrap();
    let err = node
        .run(move |o| {
            o.sign_off(tomorrow, TIME_ZONE, "王主任", now_ms())
                .map(|_| ())
        })
        .await
        .expect_err("a day to come");
    assert!(err.to_string().contains("date"), "{err}");
    let e = op
        .get_rollup(rpb::RollupRequest {
            as_of: "2999-01-01".into(),
            ..Default::default()
        })
        .await
        .expect_err("a date far ahead");
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(
        e.message().contains("as_of") && e.message().contains("future"),
        "{}",
        e.message()
    );
    let e = op
        .get_rollup(rpb::RollupRequest {
            tz: "Mars/Olympus".into(),
            ..Default::default()
        })
        .await
        .expect_err("an unknown zone");
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(e.message().contains("tz"), "{}", e.message());
    let e = op
        .get_rollup(rpb::RollupRequest {
            path: vec!["c01".into(), "cp_nothing".into()],
            ..Default::default()
        })
        .await
        .expect_err("a path to nothing");
    assert_eq!(e.code(), tonic::Code::NotFound);
    node.stop().await;
    coord.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bad_dispatched_ticket_is_refused_and_changes_nothing() {
    let pki = Pki::new();
    let cdir = tempfile::tempdir().unwrap();
    let coord = TestCoordinator::start(cdir.path(), &pki, 0, FrameLimits::default()).await;
    let mut op = coord.operator(&pki).await;
    register(&mut op, &["c01"]).await;
    let ok = op
        .dispatch_ticket(ticket("漏水 a leak"))
        .await
        .expect("a good ticket")
        .into_inner();
    let before = coord.community_heads("c01").await;
    let r_before = street_rollup(&mut op).await;

    let mut nowhere = ticket("无处 nowhere");
    nowhere.ticket.as_mut().unwrap().assigned_compound_id = Some("cp_0000000000000000".into());
    let e = op
        .dispatch_ticket(nowhere)
        .await
        .expect_err("a compound that does not exist");
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
    assert!(
        e.message().contains("assigned_compound_id"),
        "{}",
        e.message()
    );

    let mut empty = ticket("");
    empty.ticket.as_mut().unwrap().summary = " ".into();
    let e = op
        .dispatch_ticket(empty)
        .await
        .expect_err("an empty summary");
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("summary"), "{}", e.message());

    let mut again = ticket("重复 again");
    again.ticket.as_mut().unwrap().id = ok.id.clone();
    let e = op
        .dispatch_ticket(again)
        .await
        .expect_err("an id already used");
    assert_eq!(e.code(), tonic::Code::AlreadyExists, "{e:?}");

    let mut elsewhere = ticket("外街 another street");
    elsewhere.community_id = "c99".into();
    let e = op
        .dispatch_ticket(elsewhere)
        .await
        .expect_err("an unregistered community");
    assert_eq!(e.code(), tonic::Code::FailedPrecondition, "{e:?}");

    assert_eq!(
        coord.community_heads("c01").await,
        before,
        "nothing stored changed"
    );
    let r_after = street_rollup(&mut op).await;
    assert_eq!(community(&r_after, "c01"), community(&r_before, "c01"));
    assert_eq!(figures(community(&r_after, "c01")).tickets_opened, 1);
    coord.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_community_that_cannot_be_computed_is_marked_and_the_street_goes_on() {
    let pki = Pki::new();
    let (cdir, d1) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let coord = TestCoordinator::start(cdir.path(), &pki, 0, FrameLimits::default()).await;
    let port = coord.addr.port();
    let mut op = coord.operator(&pki).await;
    register(&mut op, &["c01", "c02"]).await;
    let node = TestNode::start(
        d1.path(),
        "c01",
        Some(test_link_config(
            coord.addr,
            &pki.node("c01"),
            FrameLimits::default(),
        )),
    )
    .await;
    populate(&node, "A", 3).await;
    assert!(eventually(WITHIN, || converged(&node, &coord)).await);
    let before = street_rollup(&mut op).await;
    node.stop().await;
    coord.stop().await;

    // The record of what was served for c01 is damaged.
    let served = cdir.path().join("rollup-served").join("c01");
    let files: Vec<_> = std::fs::read_dir(&served)
        .expect("c01's served records")
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!files.is_empty());
    for f in &files {
        std::fs::write(f, b"{damaged").unwrap();
    }
    let coord = TestCoordinator::start(cdir.path(), &pki, port, FrameLimits::default()).await;
    let mut op = coord.operator(&pki).await;
    let r = street_rollup(&mut op).await;
    let s = stamp(&r, "c01");
    assert!(s.unavailable.contains("not a record"), "{s:?}");
    assert!(stamp(&r, "c02").unavailable.is_empty());
    assert_eq!(community(&r, "c02"), community(&before, "c02"));
    assert_additive(r.tree.as_ref().unwrap());
    // Nothing stored was changed by it.
    for f in &files {
        assert_eq!(std::fs::read(f).unwrap(), b"{damaged");
    }
    coord.stop().await;
}
