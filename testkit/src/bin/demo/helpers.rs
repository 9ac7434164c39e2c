//! What the demo's steps share: certificates, the operator's client,
//! showing and checking rollups, screening households, waiting for
//! convergence.

#![allow(unused_imports)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use gridsync_cli::connect::{self, StreetApi as OperatorClient};
use gridsync_cli::output::status_err;
use gridsync_cli::rollup::{self, Additivity, Source};
use gridsync_core::access::Principal;
use gridsync_core::street::StreetRecord;
use gridsync_core::{
    CommunityKind, Date, Record, RiskLevel, RiskRegion, ScreeningEntry, ScreeningStatus,
    ScreeningVisit, Ticket, TicketChannel,
};
use gridsync_proto::office::v1 as pb;
use gridsync_proto::rollup::v1 as rpb;
use gridsync_proto::street::v1 as spb;
use gridsync_sync::issue;
use gridsync_sync::tls::{ClientAuth, IssuedCert, TlsPems, TokenInterceptor, client_tls, endpoint};
use gridsync_testkit::demo_street::{self as generator, SeededStreet, StreetSpec};
use gridsync_testkit::now_ms;
use gridsync_testkit::process::sibling_binary;
use gridsync_testkit::proxy::FaultProxy;
use pb::office_client::OfficeClient;
use spb::street_client::StreetClient;
use tonic::transport::Channel;

use crate::POLL;
use crate::fleet::Fleet;

/// The demo's store key: `dir/store.key` (made, mode 0600, if missing).
/// The stores of the demo are encrypted as production's are; one key
/// serves all of them here, where production gives each service its own.
pub(crate) fn demo_store_key(dir: &Path) -> anyhow::Result<(gridsync_store::StoreKey, PathBuf)> {
    let file = dir.join("store.key");
    if !file.exists() {
        gridsync_store::private::create_dir(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        gridsync_store::StoreKey::generate()?.write_new_file(&file)?;
    }
    Ok((gridsync_store::StoreKey::read_file(&file)?, file))
}

pub(crate) fn print_seeded(s: &SeededStreet) {
    let c = &s.counts;
    println!(
        "   {} ({}): {} communities, {} compounds, {} buildings, {} contract groups",
        s.street_name,
        s.street_id,
        s.communities.len(),
        c.compounds,
        c.buildings,
        c.contract_groups
    );
    println!(
        "   {} households ({} without a contract group), {} residents, {} party members, {} staff, {} volunteers",
        c.households,
        c.households_without_group,
        c.residents,
        c.party_members,
        c.staff,
        c.volunteers
    );
    println!(
        "   {} screening visits, {} care visits, {} inspections, {} returnees, {} isolations, {} tickets over {} days; {} persons registered twice",
        c.screening_visits,
        c.care_visits,
        c.inspections,
        c.returnees,
        c.isolations,
        c.tickets,
        c.activity_days / s.communities.len().max(1) as u64,
        s.duplicate_persons
    );
    println!(
        "   {} documents written to the coordinator's store and the 7 node stores in {:.1} s",
        s.documents,
        s.timings.total.as_secs_f64()
    );
}

/// The CA, the coordinator's server certificate, one per node and one
/// operator's, written where the processes read them; the operator's is
/// returned for this process's own client.
pub(crate) struct Pki {
    pub(crate) ca: IssuedCert,
    pub(crate) operator: IssuedCert,
}

pub(crate) fn make_certs(dir: &Path, s: &SeededStreet) -> anyhow::Result<Pki> {
    std::fs::create_dir_all(dir)?;
    let (from, until) = issue::validity_days(1)?;
    let ca = issue::issue_ca("桐柏路街道", from, until)?;
    ca.write(&dir.join("ca.pem"), &dir.join("ca.key"), true)?;
    let server = issue::issue_server(
        &ca,
        &["localhost".to_string(), "127.0.0.1".to_string()],
        from,
        until,
    )?;
    server.write(
        &dir.join("coordinator.pem"),
        &dir.join("coordinator.key"),
        true,
    )?;
    for c in &s.communities {
        let principal: Principal = format!("node:{}", c.id)
            .parse()
            .map_err(|e| anyhow::anyhow!("community id {}: {e:?}", c.id))?;
        let leaf = issue::issue_leaf(&ca, &principal, from, until)?;
        leaf.write(
            &dir.join(format!("node-{}.pem", c.id)),
            &dir.join(format!("node-{}.key", c.id)),
            true,
        )?;
    }
    let principal: Principal = "operator:demo"
        .parse()
        .map_err(|e| anyhow::anyhow!("operator:demo: {e:?}"))?;
    let operator = issue::issue_leaf(&ca, &principal, from, until)?;
    operator.write(
        &dir.join("operator-demo.pem"),
        &dir.join("operator-demo.key"),
        true,
    )?;
    Ok(Pki { ca, operator })
}

/// This process's operator client of the coordinator, straight to it (not
/// through a proxy), over mutual TLS.
pub(crate) async fn operator_client(
    pki: &Pki,
    coordinator: std::net::SocketAddr,
) -> anyhow::Result<OperatorClient> {
    let auth = ClientAuth::Tls(client_tls(
        &TlsPems::new(&pki.ca, &pki.operator),
        "localhost",
    )?);
    let channel = endpoint(&coordinator.to_string(), &auth)?
        .connect()
        .await
        .with_context(|| format!("cannot reach the coordinator at {coordinator} as operator"))?;
    Ok(StreetClient::with_interceptor(
        channel,
        TokenInterceptor::new(&auth)?,
    ))
}

pub(crate) async fn list(op: &mut OperatorClient) -> anyhow::Result<Vec<spb::CommunityLink>> {
    Ok(op
        .list_communities(spb::ListCommunitiesRequest {})
        .await
        .map_err(status_err)?
        .into_inner()
        .communities)
}

pub(crate) fn link_summary(l: &[spb::CommunityLink]) -> String {
    l.iter()
        .map(|c| {
            format!(
                "{} {}{}",
                c.community_id,
                if c.connected { "up" } else { "down" },
                if c.docs_behind > 0 {
                    format!(" {} behind", c.docs_behind)
                } else {
                    String::new()
                }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Prints the rollup at `path` one level deep, under a heading.
pub(crate) async fn show(
    source: &mut Source,
    today: &str,
    path: &[String],
    what: &str,
) -> anyhow::Result<rpb::Rollup> {
    let r = source
        .rollup(today, "", path, 1)
        .await
        .map_err(status_err)?;
    println!("\n   — {what}:");
    print!("{}", indent(&rollup::render(&r)));
    if let Some(t) = &r.tree
        && let Additivity::Violation { .. } = rollup::check_additivity(t)
    {
        bail!(
            "the rollup of {what} does not add up: {}",
            rollup::additivity_footer(t)
        );
    }
    Ok(r)
}

pub(crate) fn indent(text: &str) -> String {
    text.lines().map(|l| format!("   {l}\n")).collect()
}

/// The id of the first child that is placed (not the unplaced part).
pub(crate) fn first_placed(r: &rpb::Rollup) -> Option<String> {
    r.tree
        .as_ref()?
        .children
        .iter()
        .find(|c| !c.id.is_empty())
        .map(|c| c.id.clone())
}

pub(crate) fn community_figures(r: &rpb::Rollup, id: &str) -> gridsync_core::rollup::Figures {
    rollup::figures(
        r.tree
            .as_ref()
            .and_then(|t| t.children.iter().find(|c| c.id == id))
            .and_then(|c| c.figures.as_ref()),
    )
}

pub(crate) fn stamp(r: &rpb::Rollup, id: &str) -> anyhow::Result<rpb::Stamp> {
    r.stamps
        .iter()
        .find(|s| s.community_id == id)
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("the street's rollup has no stamp for {id}"))
}

/// Fails unless the street's figures are the sum of its communities' in
/// every column.
pub(crate) fn check_street_additive(r: &rpb::Rollup, when: &str) -> anyhow::Result<()> {
    let t = r
        .tree
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("the rollup has no tree"))?;
    match rollup::check_additivity(t) {
        Additivity::Additive { columns, .. } => {
            println!(
                "   street total = Σ its {} communities in every one of the {columns} figures {when} ✓",
                t.children.len()
            );
            Ok(())
        }
        Additivity::Violation { .. } => bail!(
            "{when}, the street is not the sum of its communities: {}",
            rollup::additivity_footer(t)
        ),
    }
}

/// Records a screening visit, now, at up to `n` households not yet
/// screened today (found through the community's own rollup and the
/// worklists of its contract groups). Returns how many.
pub(crate) async fn screen_households(
    office: &mut OfficeClient<Channel>,
    today: &str,
    n: usize,
) -> anyhow::Result<usize> {
    let r = office
        .get_rollup(rpb::RollupRequest {
            as_of: today.to_string(),
            tz: String::new(),
            path: Vec::new(),
            depth: 0,
        })
        .await
        .map_err(status_err)?
        .into_inner();
    let mut groups = Vec::new();
    fn collect(n: &rpb::Node, out: &mut Vec<String>) {
        let unscreened = n.figures.as_ref().map_or(0, |f| f.households_unscreened);
        if n.level == rpb::Level::Group as i32 && !n.id.is_empty() && unscreened > 0 {
            out.push(n.id.clone());
        }
        for c in &n.children {
            collect(c, out);
        }
    }
    if let Some(t) = &r.tree {
        collect(t, &mut groups);
    }
    let mut done = 0;
    let now = now_ms();
    for g in groups {
        let w = office
            .get_worklist(pb::GetWorklistRequest {
                contract_group_id: g,
                day: today.to_string(),
            })
            .await
            .map_err(status_err)?
            .into_inner();
        for item in w.items.iter().filter(|i| i.visit_ids.is_empty()) {
            let h = office
                .get_household(pb::GetHouseholdRequest {
                    id: item.household_id.clone(),
                })
                .await
                .map_err(status_err)?
                .into_inner();
            let residents: BTreeMap<String, ScreeningEntry> = h
                .residents
                .iter()
                .map(|r| {
                    (
                        r.id.clone(),
                        ScreeningEntry {
                            status: ScreeningStatus::Present,
                            returned_from: None,
                            returned_on: None,
                        },
                    )
                })
                .collect();
            let visit = Record::ScreeningVisit(ScreeningVisit {
                id: String::new(),
                household_id: item.household_id.clone(),
                visited_at_ms: now,
                visitor: "网格员 grid worker (demo)".into(),
                residents,
                notes: None,
            });
            office
                .create_record(pb::CreateRecordRequest {
                    record: Some(visit.into()),
                })
                .await
                .map_err(status_err)?;
            done += 1;
            if done == n {
                return Ok(done);
            }
        }
    }
    if done == 0 {
        bail!("no household is left unscreened today to visit");
    }
    Ok(done)
}

/// One look at convergence: `Ok(rollup)` once every node and the
/// coordinator agree, else what is still missing.
pub(crate) async fn converged(
    op: &mut OperatorClient,
    source: &mut Source,
    offices: &mut [(String, OfficeClient<Channel>)],
    today: &str,
) -> anyhow::Result<Result<rpb::Rollup, String>> {
    let l = list(op).await?;
    if let Some(c) = l.iter().find(|c| !c.connected || c.docs_behind > 0) {
        return Ok(Err(format!(
            "the coordinator: {} {} ({} documents behind)",
            c.community_id,
            if c.connected {
                "connected"
            } else {
                "not connected"
            },
            c.docs_behind
        )));
    }
    let r = source.rollup(today, "", &[], 1).await?;
    for (id, office) in offices.iter_mut() {
        let s = office
            .get_status(pb::GetStatusRequest {})
            .await?
            .into_inner();
        let Some(link) = s.link else {
            return Ok(Err(format!("node {id} reports no link")));
        };
        if !link.connected || link.unacknowledged_changes > 0 {
            return Ok(Err(format!(
                "node {id}: {}, {} changes unacknowledged",
                if link.connected {
                    "connected"
                } else {
                    "not connected"
                },
                link.unacknowledged_changes
            )));
        }
        if let Some(d) = link.docs.iter().find(|d| !d.in_sync) {
            return Ok(Err(format!("node {id}: {} not in sync", d.doc_id)));
        }
        // The node lists its own documents; the street document's heads
        // come with its read-only copy.
        let street = office
            .get_street(pb::GetStreetRequest {})
            .await?
            .into_inner();
        let mut docs = s.docs;
        docs.push(pb::DocStatus {
            doc_id: "street".into(),
            heads: street.heads,
            ..Default::default()
        });
        let st = stamp(&r, id)?;
        if let Some(doc) = heads_differ(id, today, &docs, st.heads.as_ref()) {
            return Ok(Err(format!(
                "node {id}: heads of {doc} differ from the coordinator's"
            )));
        }
        if st.stale || st.digest_state != rpb::DigestState::Match as i32 {
            return Ok(Err(format!(
                "{id} at the street: {}",
                rollup::stamp_cell(&st, r.generated_at_ms, false)
            )));
        }
    }
    Ok(Ok(r))
}

/// The first document whose heads at the node differ from those the
/// coordinator's rollup reflects, if any.
pub(crate) fn heads_differ(
    community: &str,
    today: &str,
    docs: &[pb::DocStatus],
    heads: Option<&rpb::RollupHeads>,
) -> Option<String> {
    let heads = heads?;
    let mut wanted: Vec<(String, &Vec<String>)> = vec![
        (format!("registry/{community}"), &heads.registry),
        (format!("cases/{community}"), &heads.cases),
        ("street".to_string(), &heads.street),
    ];
    if let Some(d) = heads.days.get(today) {
        wanted.push((format!("activity/{community}/{today}"), &d.heads));
    }
    for (doc, theirs) in wanted {
        let mut theirs = theirs.clone();
        theirs.sort();
        let mut ours = docs
            .iter()
            .find(|d| d.doc_id == doc)
            .map(|d| d.heads.clone())
            .unwrap_or_default();
        ours.sort();
        if ours != theirs {
            let short = |h: &[String]| {
                h.iter()
                    .map(|x| x.chars().take(8).collect::<String>())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            return Some(format!(
                "{doc} (node {}, coordinator {})",
                short(&ours),
                short(&theirs)
            ));
        }
    }
    None
}

pub(crate) async fn sign_off_is(
    source: &mut Source,
    today: &str,
    id: &str,
    want: rpb::SignOffStatus,
) -> anyhow::Result<Result<rpb::Stamp, String>> {
    let r = source.rollup(today, "", &[], 1).await?;
    let s = stamp(&r, id)?;
    Ok(if s.sign_off_status == want as i32 {
        Ok(s)
    } else {
        Err(format!(
            "its stamp: {}",
            rollup::stamp_cell(&s, r.generated_at_ms, false)
        ))
    })
}

/// Polls `probe` until it gives `Ok(Ok(value))`, failing after `within`
/// with what it last saw, or as soon as a child process has exited.
pub(crate) async fn wait_for<T>(
    fleet: &mut Fleet,
    what: &str,
    within: Duration,
    mut probe: impl AsyncFnMut() -> anyhow::Result<Result<T, String>>,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + within;
    let mut last;
    loop {
        fleet.check_alive()?;
        match probe().await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(seen)) => last = seen,
            Err(e) => last = format!("{e:#}"),
        }
        if Instant::now() >= deadline {
            bail!(
                "waited {:.0} s for {what}, and it did not happen; last seen: {last}",
                within.as_secs_f64()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::street::DemoArgs;

    #[test]
    fn heads_are_compared_per_document_in_any_order() {
        let doc = |id: &str, heads: &[&str]| pb::DocStatus {
            doc_id: id.into(),
            heads: heads.iter().map(|h| h.to_string()).collect(),
            ..Default::default()
        };
        let docs = vec![
            doc("registry/c1", &["a", "b"]),
            doc("cases/c1", &["c"]),
            doc("street", &["s"]),
            doc("activity/c1/2026-11-29", &["d"]),
        ];
        let mut heads = rpb::RollupHeads {
            registry: vec!["b".into(), "a".into()],
            cases: vec!["c".into()],
            street: vec!["s".into()],
            days: [(
                "2026-11-29".to_string(),
                rpb::HeadList {
                    heads: vec!["d".into()],
                },
            )]
            .into(),
        };
        assert_eq!(heads_differ("c1", "2026-11-29", &docs, Some(&heads)), None);
        heads.cases.push("e".into());
        assert_eq!(
            heads_differ("c1", "2026-11-29", &docs, Some(&heads)).as_deref(),
            Some("cases/c1 (node c, coordinator c,e)")
        );
    }

    #[test]
    fn the_demo_flags_parse_with_the_hidden_ones() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            demo: DemoArgs,
        }
        let c = Cli::try_parse_from([
            "demo",
            "--households",
            "150",
            "--days",
            "3",
            "--heartbeat-interval-ms",
            "500",
        ])
        .unwrap();
        assert_eq!(
            (c.demo.households, c.demo.days, c.demo.heartbeat_interval_ms),
            (150, 3, 500)
        );
        let c = Cli::try_parse_from(["demo"]).unwrap();
        assert_eq!((c.demo.households, c.demo.days), (3000, 30));
    }
}
