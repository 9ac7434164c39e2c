//! The demo street, step by step (see `main.rs`).

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

use crate::fleet::{Fleet, STOP_GRACE};
use crate::helpers::*;
use crate::{POLL, step};

/// `gridsync-demo`'s flags. The hidden ones make a small street for tests.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// Every random choice of the generated street follows from it.
    #[arg(long, default_value_t = 20261129)]
    pub(crate) seed: u64,
    /// Keep the street (stores, certificates, logs, the report) in this
    /// folder, which must not hold a street yet, instead of a temporary one.
    #[arg(long)]
    pub(crate) data_dir: Option<PathBuf>,
    /// Households per community.
    #[arg(long, default_value_t = 3000, hide = true)]
    pub(crate) households: usize,
    /// Days of generated activity, ending today.
    #[arg(long, default_value_t = 30, hide = true)]
    pub(crate) days: u32,
    /// The sync heartbeat interval, ms: a community is stale when not
    /// heard for three of them.
    #[arg(long, default_value_t = 1000, hide = true)]
    pub(crate) heartbeat_interval_ms: u32,
}

/// How many screening visits the cut-off community records while its link is down.
const VISITS_WHILE_CUT: usize = 20;
/// Where the demo's street tree is shown from: the first community.
const SHOWN: usize = 0;
/// The community whose link is cut.
const CUT: usize = 0;
/// The community that signs off its day.
const SIGNS: usize = 1;

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
            eprintln!("\ngridsync-demo FAILED: {e:#}");
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
    let now = now_ms();
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
    let (key, key_file) = demo_store_key(dir)?;
    let seeded = {
        let (spec, coord_dir, nodes_dir) = (spec.clone(), coord_dir.clone(), nodes_dir.clone());
        tokio::task::spawn_blocking(move || {
            generator::seed(
                &spec,
                &coord_dir,
                &|c| nodes_dir.join(c.as_str()),
                Some(&key),
            )
        })
        .await
        .context("the generator thread failed")?
        .context("cannot generate the demo street")?
    };
    print_seeded(&seeded);
    println!(
        "   every store encrypted (SQLCipher) with the key in {}",
        key_file.display()
    );

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
        .arg("--heartbeat-interval-ms")
        .arg(args.heartbeat_interval_ms.to_string())
        .arg("--tls-ca")
        .arg(certs.join("ca.pem"))
        .arg("--tls-cert")
        .arg(certs.join("coordinator.pem"))
        .arg("--tls-key")
        .arg(certs.join("coordinator.key"))
        .arg("--store-key-file")
        .arg(&key_file);
    let coord = fleet.spawn("gridsync-coordinator", cmd, logs.join("coordinator.log"))?;
    let caddr = fleet.wait_addr(coord, &caddr_file).await?;
    let caddr: std::net::SocketAddr = caddr
        .trim()
        .parse()
        .with_context(|| format!("the coordinator wrote {caddr:?} as its address"))?;
    println!(
        "   coordinator {} on {caddr} (mutual TLS; a community not heard for {} ms is stale)",
        seeded.street_id,
        args.heartbeat_interval_ms * 3
    );

    let mut pending = Vec::new();
    for c in &seeded.communities {
        let id = c.id.to_string();
        let proxy = FaultProxy::start("127.0.0.1:0".parse()?, caddr)
            .await
            .with_context(|| format!("cannot start the fault proxy of {id}"))?;
        let addr_file = dir.join(format!("node-{id}.addr"));
        let _ = std::fs::remove_file(&addr_file);
        let files = gridsync_sync::tls::TlsFiles::in_dir(&certs, &format!("node-{id}"));
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
            .arg("--store-key-file")
            .arg(&key_file)
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
        let office = connect::node(addr.trim())
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
                    received_at_ms: now_ms(),
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
        .map_err(status_err)?
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
        .map_err(status_err)?
        .into_inner();
    let region_id = match region.record {
        Some(spb::street_record::Record::RiskRegion(r)) => r.id,
        _ => "?".into(),
    };
    println!(
        "   at the coordinator, as operator: risk region {region_id} 河南省洛阳市 (medium, the last 14 days) added to the street document"
    );
    let t = Instant::now();
    let stale_wait =
        Duration::from_millis(u64::from(args.heartbeat_interval_ms) * 3) + Duration::from_secs(30);
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
        "   after {:.1} s the street marks {} {}: last heard {} ago, in sync {} ago",
        t.elapsed().as_secs_f64(),
        cut.id,
        rollup::staleness(&st),
        gridsync_cli::output::lag(stale.generated_at_ms.saturating_sub(st.last_heard_ms)),
        gridsync_cli::output::lag(stale.generated_at_ms.saturating_sub(st.last_sync_ms)),
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
        .map_err(status_err)?;
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
        .map_err(status_err)?
        .into_inner();
    println!("   at node {}:", signer.id);
    print!("{}", indent(&gridsync_cli::report::sign_off_lines(&signed)));
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
        rollup::stamp_cell(&s, now_ms(), false)
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
        rollup::stamp_cell(&s, now_ms(), false)
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
        match gridsync_svc::process::memory(Some(pid)) {
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
