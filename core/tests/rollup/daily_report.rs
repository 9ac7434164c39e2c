//! The daily report as CSV and JSON: the columns, a row per node of the
//! tree, the stamps of each community; a cell a spreadsheet would run is
//! shown as text.

use gridsync_core::report::{self, DailyReport, ReportStamp};
use gridsync_core::rollup::*;
use gridsync_core::signoff::{self, SignOff, SignOffState};
use gridsync_core::*;

use crate::common::*;
use crate::support::*;

const FIGURE_COLUMNS: [&str; 31] = [
    "households",
    "residents",
    "residents_counted_elsewhere",
    "households_contracted",
    "households_uncontracted",
    "households_screened",
    "households_unscreened",
    "screening_visits",
    "returnees_high",
    "returnees_medium",
    "returnees_low",
    "returnees_none",
    "isolating",
    "isolations_past_end",
    "elderly_alone",
    "care_relationships",
    "care_overdue",
    "care_visits",
    "tickets_opened",
    "tickets_open",
    "tickets_resolved",
    "resolve_lt_1h",
    "resolve_lt_4h",
    "resolve_lt_24h",
    "resolve_lt_72h",
    "resolve_ge_72h",
    "inspections",
    "inspections_knew_member",
    "party_members",
    "staff",
    "gaps",
];

const STAMP_COLUMNS: [&str; 13] = [
    "heads_registry",
    "heads_cases",
    "heads_day",
    "heads_street",
    "digest",
    "last_sync",
    "stale",
    "held",
    "digest_check",
    "sign_off",
    "signed_by",
    "signed_at",
    "unavailable",
];

fn stamp(r: &CommunityRollup, sign_off: SignOffState, check: DigestCheck) -> ReportStamp {
    ReportStamp {
        stamp: Stamp {
            community_id: r.community_id.clone(),
            heads: r.heads.clone(),
            digest: r.digest.clone(),
            last_sync_ms: Some(NOW - 5_000),
            stale: false,
            held: false,
            digest_check: check,
            unavailable: None,
            link: Default::default(),
        },
        sign_off,
    }
}

#[test]
fn the_daily_report_as_csv_and_json() {
    let mut c1 = new_community("aaa", 1);
    let mut c2 = new_community("bbb", 2);
    c1.set_community(
        &CommunityInfo {
            id: "aaa".into(),
            name: "桐柏路社区, \"东\"\n片".into(),
            kind: CommunityKind::Community,
        },
        &ctx(),
    )
    .unwrap();
    apply(
        &mut c2,
        vec![Edit::Create(Record::Household(household(
            "hh_2", "cp_a", "bd_a1", None,
        )))],
    );
    let r1 = rollup(&mut c1);
    let r2 = rollup(&mut c2);
    let s1 = SignOff::of(&r1, "张主任", NOW).unwrap();
    let (tree, conflicts) = street_tree("st", "建设路街道", &[&r1, &r2]);
    let report = DailyReport {
        street_id: "st".into(),
        as_of: day(),
        tz: "Asia/Shanghai".into(),
        rollup_version: ROLLUP_VERSION,
        generated_at_ms: NOW,
        tree,
        stamps: vec![
            stamp(&r1, signoff::state(Some(&s1), &r1), DigestCheck::Match),
            stamp(&r2, SignOffState::NotSigned, DigestCheck::NotReported),
        ],
        conflicts,
    };

    let json = report::to_json(&report);
    assert_eq!(serde_json::from_str::<DailyReport>(&json).unwrap(), report);

    let text = report::to_csv(&report);
    assert!(!text.contains('\r'), "line ends are \\n");
    let mut rd = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = rd.headers().unwrap().iter().map(str::to_string).collect();
    let mut want: Vec<&str> = vec![
        "level",
        "community_id",
        "compound_id",
        "building_id",
        "group_id",
        "name",
    ];
    want.extend(FIGURE_COLUMNS);
    want.extend(STAMP_COLUMNS);
    assert_eq!(header, want);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    let mut nodes = Vec::new();
    walk(&report.tree, &mut Vec::new(), &mut nodes);
    assert_eq!(rows.len(), count_nodes(&report.tree));
    assert_eq!(rows.len(), nodes.len());
    for (row, (path, node)) in rows.iter().zip(&nodes) {
        assert_eq!(row.len(), header.len());
        let level = serde_json::to_value(node.level).unwrap();
        assert_eq!(row.get(col("level")), level.as_str());
        assert_eq!(row.get(col("name")), Some(node.name.as_str()));
        // The ids below the street, each in its level's column.
        let ids: Vec<&str> = ["community_id", "compound_id", "building_id", "group_id"]
            .iter()
            .map(|c| row.get(col(c)).unwrap())
            .collect();
        let below: Vec<&str> = path[1..].to_vec();
        assert_eq!(&ids[..below.len()], &below[..]);
        assert!(ids[below.len()..].iter().all(|s| s.is_empty()));
        for (name, value) in node.figures.columns() {
            assert_eq!(
                row.get(col(name)),
                Some(value.to_string().as_str()),
                "{name}"
            );
        }
        let stamp_cells: Vec<&str> = STAMP_COLUMNS
            .iter()
            .map(|c| row.get(col(c)).unwrap())
            .collect();
        match node.level {
            Level::Street => assert!(stamp_cells.iter().all(|s| s.is_empty()), "{row:?}"),
            Level::Community => {
                let r = if node.id == "aaa" { &r1 } else { &r2 };
                assert_eq!(row.get(col("digest")), Some(r.digest.as_str()));
                assert_eq!(
                    row.get(col("heads_registry")),
                    Some(r.heads.registry.join(";").as_str())
                );
                assert_eq!(
                    row.get(col("heads_day")),
                    Some(r.heads.days[&day().to_string()].join(";").as_str())
                );
                assert_eq!(row.get(col("stale")), Some("false"));
                assert!(!row.get(col("last_sync")).unwrap().is_empty());
                if node.id == "aaa" {
                    assert_eq!(row.get(col("name")), Some("桐柏路社区, \"东\"\n片"));
                    assert_eq!(row.get(col("digest_check")), Some("match"));
                    assert_eq!(row.get(col("sign_off")), Some("signed"));
                    assert_eq!(row.get(col("signed_by")), Some("张主任"));
                    assert!(
                        row.get(col("signed_at"))
                            .unwrap()
                            .starts_with("2026-11-30T08:53")
                    );
                } else {
                    assert_eq!(row.get(col("digest_check")), Some("not_reported"));
                    assert_eq!(row.get(col("sign_off")), Some("not_signed"));
                    assert_eq!(row.get(col("signed_by")), Some(""));
                }
            }
            _ => {}
        }
    }
    // The community's own report: the same columns, community row first.
    let own = DailyReport {
        tree: r2.tree.clone(),
        stamps: vec![stamp(
            &r2,
            SignOffState::NotSigned,
            DigestCheck::NotReported,
        )],
        conflicts: vec![],
        ..report
    };
    let text = report::to_csv(&own);
    let mut rd = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), count_nodes(&r2.tree));
    assert_eq!(rows[0].get(0), Some("community"));
    assert_eq!(rows[0].get(1), Some("bbb"));
    assert_eq!(rows[0].get(col("digest")), Some(r2.digest.as_str()));
}

#[test]
fn a_report_cell_a_spreadsheet_would_run_is_shown_as_text() {
    let mut c1 = new_community("aaa", 1);
    c1.set_community(
        &CommunityInfo {
            id: "aaa".into(),
            name: "=HYPERLINK(\"http://x\")".into(),
            kind: CommunityKind::Community,
        },
        &ctx(),
    )
    .unwrap();
    let r1 = rollup(&mut c1);
    let s1 = SignOff::of(&r1, "@签字", NOW).unwrap();
    let (tree, conflicts) = street_tree("st", "街道", &[&r1]);
    let report = DailyReport {
        street_id: "st".into(),
        as_of: day(),
        tz: "Asia/Shanghai".into(),
        rollup_version: ROLLUP_VERSION,
        generated_at_ms: NOW,
        tree,
        stamps: vec![stamp(
            &r1,
            signoff::state(Some(&s1), &r1),
            DigestCheck::Match,
        )],
        conflicts,
    };
    let text = report::to_csv(&report);
    let mut rd = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = rd.headers().unwrap().iter().map(str::to_string).collect();
    let col = |n: &str| header.iter().position(|h| h == n).unwrap();
    let row = rd
        .records()
        .map(|r| r.unwrap())
        .find(|r| &r[col("level")] == "community")
        .expect("the community's row");
    assert_eq!(&row[col("name")], "'=HYPERLINK(\"http://x\")");
    assert_eq!(&row[col("signed_by")], "'@签字");
    assert_eq!(
        row[col("households")],
        r1.tree.figures.households.to_string(),
        "numbers untouched"
    );
}
