//! `gridctl demo`: the demo street, end to end, with the real binaries.
//!
//! It generates the standard street (`gridsync_node::demo_street`: six
//! communities and a village, a month of work) straight into the stores,
//! makes the street's certificates in-process, starts `gridsync-coordinator`
//! and seven `gridsync-node` processes over mutual TLS — each node dialling
//! through its own [`FaultProxy`] inside this process — and then walks
//! through what the street office sees: the five-level rollup, a community
//! cut off while both sides keep working (stale, yet the street still adds
//! up), the link healed and every digest matching, the daily report and a
//! sign-off that notices a later change.
//!
//! Every wait polls with a deadline and fails with what did not happen;
//! every child process is stopped (SIGTERM, then SIGKILL after a deadline)
//! by a drop guard, on success, on error and on Ctrl-C.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use gridsync_core::access::Principal;
use gridsync_core::street::StreetRecord;
use gridsync_core::{
    CommunityKind, Date, Record, RiskLevel, RiskRegion, ScreeningEntry, ScreeningStatus,
    ScreeningVisit, Ticket, TicketChannel,
};
use gridsync_node::client::connect;
use gridsync_node::demo_street::{self as generator, SeededStreet, StreetSpec};
use gridsync_node::proxy::FaultProxy;
use gridsync_node::tls::{
    self, ClientAuth, IssuedCert, TlsPems, TokenInterceptor, client_tls, endpoint,
};
use gridsync_proto::office::v1 as pb;
use gridsync_proto::rollup::v1 as rpb;
use gridsync_proto::street::v1 as spb;
use pb::office_client::OfficeClient;
use spb::street_client::StreetClient;
use tonic::transport::Channel;

use crate::rollup::{self, Additivity, Source};
use crate::street::Client as OperatorClient;
use crate::{sibling_binary, step};

/// `gridctl demo`'s flags. The hidden ones make a small street for tests.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// Every random choice of the generated street follows from it.
    #[arg(long, default_value_t = 20261129)]
    seed: u64,
    /// Keep the street (stores, certificates, logs, the report) in this
    /// folder, which must not hold a street yet, instead of a temporary one.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Households per community.
    #[arg(long, default_value_t = 3000, hide = true)]
    households: usize,
    /// Days of generated activity, ending today.
    #[arg(long, default_value_t = 30, hide = true)]
    days: u32,
    /// The coordinator's staleness threshold, seconds.
    #[arg(long, default_value_t = 4, hide = true)]
    stale_after_secs: u64,
}

/// How many screening visits the cut-off community records while its link is down.
const VISITS_WHILE_CUT: usize = 20;
/// Where the demo's street tree is shown from: the first community.
const SHOWN: usize = 0;
/// The community whose link is cut.
const CUT: usize = 0;
/// The community that signs off its day.
const SIGNS: usize = 1;
/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(150);

pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let keep = args.data_dir.is_some();
    let dir = match &args.data_dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("gridsync-demo-street-{}", std::process::id())),
    };
    let mut fleet = Fleet::default();
    let result = tokio::select! {
        r = demo(&args, &dir, &mut fleet) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    // Stopped here as well as on drop, so a failure reports after the stop.
    fleet.stop(STOP_GRACE);
    match result {
        Ok(()) => {
            if keep {
                println!("   the street is in {}", dir.display());
            } else {
                std::fs::remove_dir_all(&dir).with_context(|| {
                    format!("cannot remove the demo's folder {}", dir.display())
                })?;
                println!(
                    "   removed {} (use --data-dir DIR to keep the street)",
                    dir.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("\ngridctl demo FAILED: {e:#}");
            eprintln!("the stores and logs are kept in {}", dir.display());
            Ok(ExitCode::FAILURE)
        }
    }
}

/// One community of the running street.
struct Member {
    id: String,
    name: String,
    proxy: FaultProxy,
    office: OfficeClient<Channel>,
}

async fn demo(args: &DemoArgs, dir: &Path, fleet: &mut Fleet) -> anyhow::Result<()> {
    let started = Instant::now();
    let tz = generator::TIME_ZONE;
    let now = gridsync_node::service::now_ms();
    let as_of = gridsync_core::replica::day_of_instant(now, tz)
        .ok_or_else(|| anyhow::anyhow!("the clock reads {now} ms, which is not a date"))?;
    let today = Date(as_of).to_string();
    // Found first, so that a missing binary fails before the generation.
    let coord_bin = sibling_binary("gridsync-coordinator")?;
    let node_bin = sibling_binary("gridsync-node")?;

    // ---- 1
    step(
        1,
        &format!(
            "generating the demo street into {}: 6 communities and a village, {} households each, {} days of work ending {today} (seed {})",
            dir.display(),
            args.households,
            args.days,
            args.seed
        ),
    );
    let spec = StreetSpec {
        households_per_community: args.households,
        days: args.days,
        ..StreetSpec::standard(args.seed, as_of, now)
    };
    let coord_dir = dir.join("coordinator");
    let nodes_dir = dir.join("nodes");
    let seeded = {
        let (spec, coord_dir, nodes_dir) = (spec.clone(), coord_dir.clone(), nodes_dir.clone());
        tokio::task::spawn_blocking(move || {
            generator::seed(&spec, &coord_dir, &|c| nodes_dir.join(c.as_str()))
        })
        .await
        .context("the generator thread failed")?
        .context("cannot generate the demo street")?
    };
    print_seeded(&seeded);

    // ---- 2
    step(
        2,
        "making the street's certificates in-process: a CA, the coordinator's (localhost, 127.0.0.1), one per node, one operator",
    );
    let t = Instant::now();
    let certs = dir.join("certs");
    let pki = make_certs(&certs, &seeded)?;
    println!(
        "   {} certificates in {} ({:.1} s), ECDSA P-256, valid 1 day",
        seeded.communities.len() + 3,
        certs.display(),
        t.elapsed().as_secs_f64()
    );

    // ---- 3
    step(
        3,
        "starting gridsync-coordinator and 7 gridsync-node processes; each node dials the coordinator through its own fault proxy in this process",
    );
    let t = Instant::now();
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs)?;
    let caddr_file = dir.join("coordinator.addr");
    let _ = std::fs::remove_file(&caddr_file);
    let mut cmd = std::process::Command::new(&coord_bin);
    // As deploy/systemd/gridsync-coordinator.service runs it.
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        cmd.env("MALLOC_ARENA_MAX", "2");
    }
    cmd.arg("--street-id")
        .arg(&seeded.street_id)
        .arg("--street-name")
        .arg(&seeded.street_name)
        .arg("--data-dir")
        .arg(&coord_dir)
        .args(["--listen", "127.0.0.1:0", "--time-zone", tz.name()])
        .arg("--addr-file")
        .arg(&caddr_file)
        .arg("--stale-after-secs")
        .arg(args.stale_after_secs.to_string())
        .arg("--tls-ca")
        .arg(certs.join("ca.pem"))
        .arg("--tls-cert")
        .arg(certs.join("coordinator.pem"))
        .arg("--tls-key")
        .arg(certs.join("coordinator.key"));
    let coord = fleet.spawn("gridsync-coordinator", cmd, logs.join("coordinator.log"))?;
    let caddr = fleet.wait_addr(coord, &caddr_file).await?;
    let caddr: std::net::SocketAddr = caddr
        .trim()
        .parse()
        .with_context(|| format!("the coordinator wrote {caddr:?} as its address"))?;
    println!(
        "   coordinator {} on {caddr} (mutual TLS; stale after {} s)",
        seeded.street_id, args.stale_after_secs
    );

    let mut pending = Vec::new();
    for c in &seeded.communities {
        let id = c.id.to_string();
        let proxy = FaultProxy::start("127.0.0.1:0".parse()?, caddr)
            .await
            .with_context(|| format!("cannot start the fault proxy of {id}"))?;
        let addr_file = dir.join(format!("node-{id}.addr"));
        let _ = std::fs::remove_file(&addr_file);
        let files = tls::TlsFiles::in_dir(&certs, &format!("node-{id}"));
        let mut cmd = std::process::Command::new(&node_bin);
        cmd.arg("--community-id")
            .arg(&id)
            .arg("--community-name")
            .arg(&c.name)
            .arg("--community-kind")
            .arg(match c.kind {
                CommunityKind::Community => "community",
                CommunityKind::Village => "village",
            })
            .arg("--data-dir")
            .arg(nodes_dir.join(&id))
            .args(["--listen", "127.0.0.1:0", "--time-zone", tz.name()])
            .arg("--addr-file")
            .arg(&addr_file)
            .arg("--coordinator")
            .arg(proxy.local_addr().to_string())
            .args(["--coordinator-domain", "localhost"])
            .arg("--tls-ca")
            .arg(&files.ca)
            .arg("--tls-cert")
            .arg(&files.cert)
            .arg("--tls-key")
            .arg(&files.key)
            .args(["--reconnect-min-ms", "200", "--reconnect-max-ms", "1000"])
            .env("GRIDSYNC_PERSON_KEY_SECRET", &seeded.secret_hex);
        let p = fleet.spawn(
            &format!("node {id}"),
            cmd,
            logs.join(format!("node-{id}.log")),
        )?;
        pending.push((id, c.name.clone(), proxy, p, addr_file));
    }
    let mut street = Vec::new();
    for (id, name, proxy, p, addr_file) in pending {
        let addr = fleet.wait_addr(p, &addr_file).await?;
        let office = connect(addr.trim())
            .await
            .map_err(|e| anyhow::anyhow!("cannot reach node {id} at {addr}: {e}"))?;
        println!(
            "   node {id:<18} office API {:<16} → proxy {} → coordinator",
            addr.trim(),
            proxy.local_addr()
        );
        street.push(Member {
            id,
            name,
            proxy,
            office,
        });
    }
    let mut op = operator_client(&pki, caddr).await?;
    println!(
        "   8 processes up in {:.1} s; logs in {}",
        t.elapsed().as_secs_f64(),
        logs.display()
    );

    // ---- 4
    step(
        4,
        "waiting for every community to connect and be in sync, then the five-level rollup",
    );
    let t = Instant::now();
    let n = street.len();
    wait_for(
        fleet,
        "every community connected and in sync",
        Duration::from_secs(60),
        async || {
            let l = list(&mut op).await?;
            let ok = l
                .iter()
                .filter(|c| c.connected && c.docs_behind == 0)
                .count();
            Ok(if ok == n && l.len() == n {
                Ok(())
            } else {
                Err(format!(
                    "{ok} of {n} connected and in sync: {}",
                    link_summary(&l)
                ))
            })
        },
    )
    .await?;
    println!(
        "   all {n} connected and in sync after {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let mut source = Source::Street(op.clone());
    let top = show(&mut source, &today, &[], "the street and its 7 communities").await?;
    let shown = &street[SHOWN].id;
    let community = show(
        &mut source,
        &today,
        std::slice::from_ref(shown),
        &format!("community {shown} down to its compounds"),
    )
    .await?;
    let compound = first_placed(&community)
        .ok_or_else(|| anyhow::anyhow!("community {shown} has no compound in the rollup"))?;
    let at_compound = show(
        &mut source,
        &today,
        &[shown.clone(), compound.clone()],
        "one compound's buildings",
    )
    .await?;
    let building = first_placed(&at_compound)
        .ok_or_else(|| anyhow::anyhow!("compound {compound} has no building in the rollup"))?;
    show(
        &mut source,
        &today,
        &[shown.clone(), compound, building],
        "one building's contract groups (党员联包户)",
    )
    .await?;
    let before = community_figures(&top, &street[CUT].id);

    // ---- 5
    let cut = &street[CUT];
    step(
        5,
        &format!(
            "cutting {} ({})'s link, then working on both sides",
            cut.id, cut.name
        ),
    );
    cut.proxy.cut();
    let mut cut_office = cut.office.clone();
    wait_for(
        fleet,
        &format!("{} to see its link down", cut.id),
        Duration::from_secs(30),
        async || {
            let s = cut_office
                .get_status(pb::GetStatusRequest {})
                .await?
                .into_inner();
            Ok(match s.link {
                Some(l) if !l.connected => Ok(()),
                _ => Err("the node still reports its link up".to_string()),
            })
        },
    )
    .await?;
    println!(
        "   the proxy resets every connection of {}; the node sees its link down and keeps working",
        cut.id
    );
    let visited = screen_households(&mut cut_office, &today, VISITS_WHILE_CUT).await?;
    println!(
        "   at node {}: {visited} screening visits recorded for today through its office API (committed locally, not yet acknowledged)",
        cut.id
    );
    let ticket = op
        .dispatch_ticket(spb::DispatchTicketRequest {
            community_id: cut.id.clone(),
            ticket: Some(
                Ticket {
                    id: String::new(),
                    received_at_ms: gridsync_node::service::now_ms(),
                    channel: TicketChannel::Hotline,
                    category: "就医购药 medicine".into(),
                    summary: "12345 热线: 独居老人需代购降压药 an elderly resident needs medicine"
                        .into(),
                    caller_phone: Some("13800138000".into()),
                    assigned_compound_id: None,
                    assigned_staff_id: None,
                    resolved_at_ms: None,
                    resolution: None,
                }
                .into(),
            ),
        })
        .await
        .map_err(crate::status_err)?
        .into_inner();
    println!(
        "   at the coordinator, as operator: hotline ticket {} dispatched to {}",
        ticket.id, cut.id
    );
    let region = StreetRecord::RiskRegion(RiskRegion {
        id: String::new(),
        region: "河南省洛阳市".into(),
        level: RiskLevel::Medium,
        from: Date(as_of - chrono::Days::new(13)),
        to: None,
    });
    let region = op
        .put_street_record(spb::PutStreetRecordRequest {
            record: Some(region.into()),
        })
        .await
        .map_err(crate::status_err)?
        .into_inner();
    let region_id = match region.record {
        Some(spb::street_record::Record::RiskRegion(r)) => r.id,
        _ => "?".into(),
    };
    println!(
        "   at the coordinator, as operator: risk region {region_id} 河南省洛阳市 (medium, the last 14 days) added to the street document"
    );
    let t = Instant::now();
    let stale_wait = Duration::from_secs(args.stale_after_secs + 30);
    let cut_id = cut.id.clone();
    let stale = wait_for(
        fleet,
        &format!("the coordinator to mark {cut_id} stale"),
        stale_wait,
        async || {
            let r = source.rollup(&today, "", &[], 1).await?;
            let s = stamp(&r, &cut_id)?;
            Ok(if s.stale {
                Ok(r)
            } else {
                Err(format!(
                    "its stamp: {}",
                    rollup::stamp_cell(&s, r.generated_at_ms, false)
                ))
            })
        },
    )
    .await?;
    let st = stamp(&stale, &cut.id)?;
    println!(
        "   after {:.1} s the street marks {} stale: its last sync was {} ago, over the {} s threshold",
        t.elapsed().as_secs_f64(),
        cut.id,
        crate::street::lag(stale.generated_at_ms.saturating_sub(st.last_sync_ms)),
        args.stale_after_secs
    );
    print!("{}", indent(&rollup::render(&stale)));
    check_street_additive(&stale, "while it is stale")?;
    let during = community_figures(&stale, &cut.id);
    println!(
        "   the coordinator counts the dispatched ticket already (open tickets {} → {}) but not the visits made behind the cut (screening visits {} → {})",
        before.tickets_open, during.tickets_open, before.screening_visits, during.screening_visits
    );

    // ---- 6
    step(
        6,
        &format!(
            "healing {}'s link; waiting until everything has converged",
            cut.id
        ),
    );
    cut.proxy.heal();
    let t = Instant::now();
    let mut offices: Vec<(String, OfficeClient<Channel>)> = street
        .iter()
        .map(|m| (m.id.clone(), m.office.clone()))
        .collect();
    let converged = wait_for(
        fleet,
        "convergence (every node in sync with nothing unacknowledged, equal heads, every digest MATCH)",
        Duration::from_secs(60),
        async || converged(&mut op, &mut source, &mut offices, &today).await,
    )
    .await?;
    println!(
        "   converged after {:.1} s: every node in sync with 0 unacknowledged changes, the coordinator 0 documents behind, heads equal per document",
        t.elapsed().as_secs_f64()
    );
    print!("{}", indent(&rollup::render(&converged)));
    check_street_additive(&converged, "after the heal")?;
    let after = community_figures(&converged, &cut.id);
    println!(
        "   {}: fresh again; screening visits {} → {} (+{}), households screened {} → {}, open tickets {} → {} (the dispatched one)",
        cut.id,
        before.screening_visits,
        after.screening_visits,
        after
            .screening_visits
            .saturating_sub(before.screening_visits),
        before.households_screened,
        after.households_screened,
        before.tickets_open,
        after.tickets_open
    );
    if after.screening_visits < before.screening_visits + visited as u64
        || after.tickets_open < before.tickets_open + 1
    {
        bail!(
            "the street's rollup of {} does not count the work done behind the cut: {visited} visits and a ticket were added, the figures went from {} to {} visits and {} to {} open tickets",
            cut.id,
            before.screening_visits,
            after.screening_visits,
            before.tickets_open,
            after.tickets_open
        );
    }
    let (b, a) = (
        rollup::figures(top.tree.as_ref().and_then(|t| t.figures.as_ref())),
        rollup::figures(converged.tree.as_ref().and_then(|t| t.figures.as_ref())),
    );
    let hml = |f: &gridsync_core::rollup::Figures| {
        format!(
            "{}/{}/{}",
            f.returnees_high, f.returnees_medium, f.returnees_low
        )
    };
    println!(
        "   the street's returnees h/m/l {} → {}{}",
        hml(&b),
        hml(&a),
        if hml(&b) == hml(&a) {
            ": no returnee of the last 14 days came back from 河南省洛阳市, so the new risk region changes no figure"
        } else {
            ": returnees of the last 14 days from 河南省洛阳市 now count at the new risk region's level"
        }
    );
    println!("   converged: digests match for all {n} communities");

    // ---- 7
    let signer = &street[SIGNS];
    step(
        7,
        &format!(
            "the daily report (每日上报): the street's CSV, {} signs off its day, then one more visit",
            signer.id
        ),
    );
    let report = source
        .daily_report(rpb::DailyReportRequest {
            date: today.clone(),
            community_id: String::new(),
            format: rpb::ReportFormat::Csv as i32,
            tz: String::new(),
        })
        .await
        .map_err(crate::status_err)?;
    let name = if report.file_name.is_empty() {
        format!("report-{}-{today}.csv", seeded.street_id)
    } else {
        report.file_name.clone()
    };
    let path = dir.join(&name);
    std::fs::write(&path, &report.body)
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!(
        "   wrote {} ({} rows, {} KiB)",
        path.display(),
        report.body.lines().count().saturating_sub(1),
        report.body.len() / 1024
    );
    let mut signer_office = signer.office.clone();
    let signed = signer_office
        .sign_off_day(rpb::SignOffRequest {
            date: today.clone(),
            signed_by: "社区书记 community secretary".into(),
            tz: String::new(),
        })
        .await
        .map_err(crate::status_err)?
        .into_inner();
    println!("   at node {}:", signer.id);
    print!("{}", indent(&rollup::sign_off_lines(&signed)));
    let signer_id = signer.id.clone();
    let s = wait_for(
        fleet,
        &format!("the street to see {signer_id}'s sign-off"),
        Duration::from_secs(30),
        async || sign_off_is(&mut source, &today, &signer_id, rpb::SignOffStatus::Signed).await,
    )
    .await?;
    println!(
        "   at the street, {}: {}",
        signer.id,
        rollup::stamp_cell(&s, gridsync_node::service::now_ms(), false)
    );
    let more = screen_households(&mut signer_office, &today, 1).await?;
    println!(
        "   at node {}: {more} more screening visit after the sign-off",
        signer.id
    );
    let s = wait_for(
        fleet,
        &format!("the street to see {signer_id}'s report changed since its sign-off"),
        Duration::from_secs(30),
        async || {
            sign_off_is(
                &mut source,
                &today,
                &signer_id,
                rpb::SignOffStatus::ChangedSinceSignOff,
            )
            .await
        },
    )
    .await?;
    println!(
        "   at the street, {}: {}",
        signer.id,
        rollup::stamp_cell(&s, gridsync_node::service::now_ms(), false)
    );
    println!(
        "   changed since sign-off: {}",
        if s.sign_off_changed.is_empty() {
            "-"
        } else {
            &s.sign_off_changed
        }
    );

    // ---- 8
    step(
        8,
        "the coordinator's memory, the time taken, and stopping every process",
    );
    if let Some(pid) = fleet.pid(coord) {
        match gridsync_node::process::memory(Some(pid)) {
            Some(m) => println!(
                "   gridsync-coordinator (pid {pid}): peak resident {} MiB (VmHWM), now {} MiB (VmRSS), holding {} documents of {} households (MALLOC_ARENA_MAX={})",
                m.peak_kib / 1024,
                m.rss_kib / 1024,
                seeded.documents,
                seeded.counts.households,
                std::env::var("MALLOC_ARENA_MAX").unwrap_or_else(|_| "2".into())
            ),
            None => println!(
                "   gridsync-coordinator (pid {pid}): /proc/{pid}/status is not readable here"
            ),
        }
    }
    drop(op);
    drop(source);
    drop(offices);
    let stopping = Instant::now();
    let stopped = fleet.stop(STOP_GRACE);
    println!(
        "   stopped {} processes with SIGTERM in {:.1} s{}",
        stopped.len(),
        stopping.elapsed().as_secs_f64(),
        {
            let bad: Vec<String> = stopped
                .iter()
                .filter(|(_, how)| how != "exited 0")
                .map(|(name, how)| format!("{name}: {how}"))
                .collect();
            if bad.is_empty() {
                ", every one exited cleanly".to_string()
            } else {
                format!("; {}", bad.join("; "))
            }
        }
    );
    for m in street {
        m.proxy.shutdown().await;
    }
    println!(
        "   the demo took {:.1} s in all",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

// ------------------------------------------------------------------ steps

fn print_seeded(s: &SeededStreet) {
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
struct Pki {
    ca: IssuedCert,
    operator: IssuedCert,
}

fn make_certs(dir: &Path, s: &SeededStreet) -> anyhow::Result<Pki> {
    std::fs::create_dir_all(dir)?;
    let (from, until) = tls::validity_days(1)?;
    let ca = tls::issue_ca("桐柏路街道", from, until)?;
    ca.write(&dir.join("ca.pem"), &dir.join("ca.key"), true)?;
    let server = tls::issue_server(
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
        let leaf = tls::issue_leaf(&ca, &principal, from, until)?;
        leaf.write(
            &dir.join(format!("node-{}.pem", c.id)),
            &dir.join(format!("node-{}.key", c.id)),
            true,
        )?;
    }
    let principal: Principal = "operator:demo"
        .parse()
        .map_err(|e| anyhow::anyhow!("operator:demo: {e:?}"))?;
    let operator = tls::issue_leaf(&ca, &principal, from, until)?;
    operator.write(
        &dir.join("operator-demo.pem"),
        &dir.join("operator-demo.key"),
        true,
    )?;
    Ok(Pki { ca, operator })
}

/// This process's operator client of the coordinator, straight to it (not
/// through a proxy), over mutual TLS.
async fn operator_client(
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

async fn list(op: &mut OperatorClient) -> anyhow::Result<Vec<spb::CommunityLink>> {
    Ok(op
        .list_communities(spb::ListCommunitiesRequest {})
        .await
        .map_err(crate::status_err)?
        .into_inner()
        .communities)
}

fn link_summary(l: &[spb::CommunityLink]) -> String {
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
async fn show(
    source: &mut Source,
    today: &str,
    path: &[String],
    what: &str,
) -> anyhow::Result<rpb::Rollup> {
    let r = source
        .rollup(today, "", path, 1)
        .await
        .map_err(crate::status_err)?;
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

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("   {l}\n")).collect()
}

/// The id of the first child that is placed (not the unplaced part).
fn first_placed(r: &rpb::Rollup) -> Option<String> {
    r.tree
        .as_ref()?
        .children
        .iter()
        .find(|c| !c.id.is_empty())
        .map(|c| c.id.clone())
}

fn community_figures(r: &rpb::Rollup, id: &str) -> gridsync_core::rollup::Figures {
    rollup::figures(
        r.tree
            .as_ref()
            .and_then(|t| t.children.iter().find(|c| c.id == id))
            .and_then(|c| c.figures.as_ref()),
    )
}

fn stamp(r: &rpb::Rollup, id: &str) -> anyhow::Result<rpb::Stamp> {
    r.stamps
        .iter()
        .find(|s| s.community_id == id)
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("the street's rollup has no stamp for {id}"))
}

/// Fails unless the street's figures are the sum of its communities' in
/// every column.
fn check_street_additive(r: &rpb::Rollup, when: &str) -> anyhow::Result<()> {
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
async fn screen_households(
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
        .map_err(crate::status_err)?
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
    let now = gridsync_node::service::now_ms();
    for g in groups {
        let w = office
            .get_worklist(pb::GetWorklistRequest {
                contract_group_id: g,
                day: today.to_string(),
            })
            .await
            .map_err(crate::status_err)?
            .into_inner();
        for item in w.items.iter().filter(|i| i.visit_ids.is_empty()) {
            let h = office
                .get_household(pb::GetHouseholdRequest {
                    id: item.household_id.clone(),
                })
                .await
                .map_err(crate::status_err)?
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
                .map_err(crate::status_err)?;
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
async fn converged(
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
fn heads_differ(
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

async fn sign_off_is(
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
async fn wait_for<T>(
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

// ---------------------------------------------------------- the processes

/// How long stopped processes get to exit after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(15);

struct Proc {
    name: String,
    child: std::process::Child,
    log: PathBuf,
}

/// The demo's child processes. Dropping it stops them all: SIGTERM to
/// every one at once, then SIGKILL to those still running at the deadline.
#[derive(Default)]
struct Fleet {
    procs: Vec<Proc>,
}

impl Fleet {
    /// Starts `cmd` (logs at warn, into `log`) and returns its handle.
    fn spawn(
        &mut self,
        name: &str,
        mut cmd: std::process::Command,
        log: PathBuf,
    ) -> anyhow::Result<usize> {
        let out = std::fs::File::create(&log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let err = out.try_clone()?;
        let child = cmd
            .env("GRIDSYNC_LOG", "warn")
            .env_remove("GRIDSYNC_CONFIG")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        self.procs.push(Proc {
            name: name.to_string(),
            child,
            log,
        });
        Ok(self.procs.len() - 1)
    }

    fn pid(&self, i: usize) -> Option<u32> {
        self.procs.get(i).map(|p| p.child.id())
    }

    /// Fails if a process has exited, with the end of its log.
    fn check_alive(&mut self) -> anyhow::Result<()> {
        for p in &mut self.procs {
            if let Ok(Some(status)) = p.child.try_wait() {
                bail!(
                    "{} exited ({status}); the end of its log {}:\n{}",
                    p.name,
                    p.log.display(),
                    tail(&p.log, 20)
                );
            }
        }
        Ok(())
    }

    /// Waits for process `i` to write its address to `file`.
    async fn wait_addr(&mut self, i: usize, file: &Path) -> anyhow::Result<String> {
        let name = self.procs[i].name.clone();
        wait_for(
            self,
            &format!("{name} to listen (its address in {})", file.display()),
            Duration::from_secs(60),
            async || {
                Ok(match std::fs::read_to_string(file) {
                    Ok(a) if !a.trim().is_empty() => Ok(a.trim().to_string()),
                    _ => Err("no address written yet".to_string()),
                })
            },
        )
        .await
    }

    /// Stops every process still running and says how each ended.
    fn stop(&mut self, grace: Duration) -> Vec<(String, String)> {
        let mut procs = std::mem::take(&mut self.procs);
        #[cfg(unix)]
        {
            let pids: Vec<String> = procs
                .iter_mut()
                .filter_map(|p| {
                    matches!(p.child.try_wait(), Ok(None)).then(|| p.child.id().to_string())
                })
                .collect();
            if !pids.is_empty() {
                let _ = std::process::Command::new("kill")
                    .arg("-TERM")
                    .args(&pids)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
        let deadline = Instant::now() + grace;
        let mut how = Vec::new();
        for p in &mut procs {
            let ended = loop {
                match p.child.try_wait() {
                    Ok(Some(status)) => break describe(status),
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    _ => {
                        let _ = p.child.kill();
                        let _ = p.child.wait();
                        break format!("killed after {:.0} s", grace.as_secs_f64());
                    }
                }
            };
            how.push((p.name.clone(), ended));
        }
        how
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.stop(STOP_GRACE);
    }
}

fn describe(status: std::process::ExitStatus) -> String {
    match status.code() {
        Some(c) => format!("exited {c}"),
        None => format!("{status}"),
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

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
            "--stale-after-secs",
            "2",
        ])
        .unwrap();
        assert_eq!(
            (c.demo.households, c.demo.days, c.demo.stale_after_secs),
            (150, 3, 2)
        );
        let c = Cli::try_parse_from(["demo"]).unwrap();
        assert_eq!((c.demo.households, c.demo.days), (3000, 30));
    }
}
