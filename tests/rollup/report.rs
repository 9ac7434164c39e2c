//! The daily report carries the stamps and shows changes since the
//! sign-off; bad sign-offs and bad rollup requests are refused; a bad
//! dispatched ticket is refused and changes nothing.

use gridsync_core::sync::FrameLimits;
use gridsync_core::*;
use gridsync_proto::rollup::v1 as rpb;
use gridsync_testkit::now_ms;
use gridsync_testkit::street::*;
use gridsync_testkit::{TIME_ZONE, day_of};

use crate::common::*;

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
    let Street {
        pki: _pki,
        dir: _cdir,
        coord,
        mut op,
    } = street(&["c01"]).await;
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
