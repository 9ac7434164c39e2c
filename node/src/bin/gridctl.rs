//! `gridctl`: the command line for office staff and operators, over the
//! node's office API. Human output by default, `--json` for scripts;
//! phone and ID numbers are masked unless `--reveal` is given.
//!
//! `gridctl import` reads a CSV roster (see `gridctl roster-columns`),
//! checks every row locally, sends the good ones in batches with a progress
//! bar, and reports each bad row by line, column and reason.
//!
//! Modules: `street` (`gridctl street …`, the operator's commands at the
//! coordinator), `rollup` (`rollup`, `street-summary`, `report`, `signoff`:
//! the five-level rollup as a table with its additivity check), and
//! `demo_street` (`gridctl demo`: a generated street of seven communities
//! with the real coordinator and node binaries, a cut link and its heal).
//! `gridctl demo-community` starts one node on a temporary store, imports a
//! generated community and shows what the office sees.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use gridsync_core::roster::{self, RowError};
use gridsync_core::{Kind, Record};
use gridsync_node::client::{connect, mask_id_number, mask_phone};
use gridsync_node::demo;
use gridsync_proto::office::v1 as pb;
use pb::office_client::OfficeClient;
use tonic::transport::Channel;

#[path = "gridctl_demo.rs"]
mod demo_street;
#[path = "gridctl_rollup.rs"]
mod rollup;
#[path = "gridctl_street.rs"]
mod street;

#[derive(Parser)]
#[command(
    name = "gridctl",
    version,
    about = "gridsync command line: office records, queries, rollups and reports, roster import, the street operator's commands, the demo street"
)]
struct Cli {
    /// The node's office API.
    #[arg(
        long,
        global = true,
        env = "GRIDSYNC_NODE",
        default_value = "127.0.0.1:7400"
    )]
    node: String,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Show phone and ID numbers in full (for roles that need them).
    #[arg(long, global = true)]
    reveal: bool,
    #[command(flatten)]
    coord: CoordinatorArgs,
    #[command(subcommand)]
    cmd: Cmd,
}

/// How `gridctl street …` reaches the coordinator.
#[derive(clap::Args)]
struct CoordinatorArgs {
    /// The coordinator's address, for `gridctl street …`, and for `rollup` and
    /// `report` as an operator when given more directly than --node.
    #[arg(
        long,
        global = true,
        env = "GRIDSYNC_COORDINATOR",
        default_value = "localhost:7500"
    )]
    coordinator: String,
    /// The name the coordinator's certificate carries (default: its host).
    #[arg(long, global = true, env = "GRIDSYNC_COORDINATOR_DOMAIN")]
    coordinator_domain: Option<String>,
    /// Folder of certificates written by `gridctl certs` (with --identity).
    #[arg(long, global = true, env = "GRIDSYNC_CERTS")]
    certs: Option<PathBuf>,
    /// Which certificate of --certs to present, e.g. operator-alice.
    #[arg(long, global = true, env = "GRIDSYNC_IDENTITY")]
    identity: Option<String>,
    /// DEVELOPMENT ONLY: a bearer token instead of a certificate (plain HTTP/2).
    #[arg(
        long,
        global = true,
        env = "GRIDSYNC_INSECURE_DEV_TOKEN",
        hide_env_values = true
    )]
    insecure_dev_token: Option<String>,
}

/// A channel to the coordinator's Street API with the operator's identity.
async fn coordinator_channel(
    cli: &CoordinatorArgs,
) -> anyhow::Result<(Channel, gridsync_node::tls::TokenInterceptor)> {
    use gridsync_node::tls::{ClientAuth, TlsFiles, TokenInterceptor, client_tls, endpoint};
    let auth = match (&cli.certs, &cli.identity, &cli.insecure_dev_token) {
        (Some(dir), Some(name), None) => {
            let pems = TlsFiles::in_dir(dir, name).load()?;
            let domain = match &cli.coordinator_domain {
                Some(d) => d.clone(),
                None => cli
                    .coordinator
                    .rsplit_once(':')
                    .map_or(cli.coordinator.as_str(), |(h, _)| h)
                    .trim_start_matches("https://")
                    .to_string(),
            };
            ClientAuth::Tls(client_tls(&pems, &domain)?)
        }
        (None, None, Some(token)) => ClientAuth::DevToken(token.clone()),
        (Some(_), None, _) | (None, Some(_), _) => {
            bail!(
                "--certs and --identity go together (e.g. --certs certs --identity operator-alice)"
            )
        }
        (Some(_), Some(_), Some(_)) => {
            bail!("choose a certificate (--certs, --identity) or a development token, not both")
        }
        (None, None, None) => bail!(
            "the coordinator needs an identity: --certs DIR --identity operator-NAME (from `gridctl certs operator`), or for development only --insecure-dev-token"
        ),
    };
    let ep = endpoint(&cli.coordinator, &auth)?;
    let channel = ep
        .connect()
        .await
        .with_context(|| format!("cannot reach the coordinator at {}", cli.coordinator))?;
    Ok((channel, TokenInterceptor::new(&auth)?))
}

#[derive(Subcommand)]
enum Cmd {
    /// The node's community, documents and counts.
    Status,
    /// community → compound → building → contract group → households.
    Tree {
        /// Also list every household.
        #[arg(long)]
        households: bool,
    },
    /// One household with its residents.
    Household { id: String },
    /// A contract group's screening worklist for a day (default today).
    Worklist {
        contract_group_id: String,
        #[arg(long, default_value = "")]
        day: String,
    },
    /// Care visits overdue as of a day (default today).
    Overdue {
        #[arg(long, default_value = "")]
        as_of: String,
    },
    /// Tickets not yet resolved.
    Tickets,
    /// The street operator's commands, over the coordinator's Street API
    /// (needs --certs/--identity of an operator).
    Street {
        #[command(subcommand)]
        cmd: street::StreetCommand,
    },
    /// The street document as the node holds it (read-only at a node).
    StreetDoc,
    /// Makes the street CA and the certificates it signs (for mutual TLS).
    Certs {
        #[command(subcommand)]
        cmd: gridsync_node::tls::CertsCommand,
    },
    /// Records that point at nothing, households without a contract group, …
    Gaps {
        #[arg(long, default_value = "")]
        day: String,
    },
    /// Shows one record.
    Get { kind: String, id: String },
    /// Lists records of a kind (activity kinds: of a day).
    List {
        kind: String,
        #[arg(long, default_value = "")]
        day: String,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Creates a record from JSON fields, e.g.
    /// gridctl create compound '{"name":"桐柏路61号院","address":null}'
    Create { kind: String, fields: String },
    /// Replaces a record's fields from JSON (the JSON holds its "id").
    Update { kind: String, fields: String },
    /// Removes a record.
    Remove { kind: String, id: String },
    /// Imports a CSV roster of households and residents.
    Import {
        file: PathBuf,
        /// Rows per request.
        #[arg(long, default_value_t = 500)]
        batch: usize,
    },
    /// Prints the roster's columns (Chinese and English headers).
    RosterColumns,
    /// The five-level rollup (street → community → compound → building →
    /// contract group) as a table, with a staleness column per community
    /// and a check that every printed parent is the sum of its children.
    /// With --coordinator (or GRIDSYNC_COORDINATOR, unless --node is given
    /// at least as directly): the street's, as an operator (--certs/--identity);
    /// otherwise the node's own community.
    Rollup {
        /// The date, YYYY-MM-DD; default today in the zone.
        #[arg(long, default_value = "")]
        as_of: String,
        /// IANA time zone, e.g. Asia/Shanghai; default the service's.
        #[arg(long, default_value = "")]
        tz: String,
        /// Ids from the community down, e.g. c01/cp_x/bd_y ("-" names an
        /// unplaced part); default the top.
        #[arg(long, default_value = "")]
        path: String,
        /// Levels shown below the node at --path; 0 = all.
        #[arg(long, default_value_t = 0)]
        depth: u32,
    },
    /// The street's top figures (the street and each community) as this
    /// node last received them from the coordinator, and when.
    StreetSummary,
    /// The daily report (每日上报) as CSV or JSON: the street's or one
    /// community's at the coordinator (as with `rollup`), the node's own
    /// community at a node.
    Report {
        /// YYYY-MM-DD; default today.
        #[arg(long, default_value = "")]
        date: String,
        /// One community (at the coordinator); default the whole street.
        #[arg(long, default_value = "")]
        community: String,
        #[arg(long, value_enum, default_value_t = rollup::FormatArg::Csv)]
        format: rollup::FormatArg,
        /// Write to this file (or into this folder, under the suggested
        /// name) instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// IANA time zone; default the service's.
        #[arg(long, default_value = "")]
        tz: String,
    },
    /// Signs off the node's community's daily report for a date: who, when,
    /// and the digest of the figures signed. Synced to the street.
    Signoff {
        /// YYYY-MM-DD; default today.
        #[arg(long, default_value = "")]
        date: String,
        /// Who signs (1-64 characters).
        #[arg(long)]
        by: String,
        /// IANA time zone; default the node's.
        #[arg(long, default_value = "")]
        tz: String,
    },
    /// The demo street: generates a street of seven communities, starts a
    /// coordinator and seven nodes over mutual TLS (each link through a
    /// fault proxy), shows the five-level rollup, cuts and heals a link,
    /// checks convergence and the daily report's sign-off.
    Demo(demo_street::DemoArgs),
    /// The single-community demo: starts a node on a temporary store with a
    /// generated community, imports it, records a day of work and shows the
    /// tree, worklist and gaps.
    DemoCommunity {
        /// Households to generate.
        #[arg(long, default_value_t = 300)]
        households: usize,
        #[arg(long, default_value_t = 20261129)]
        seed: u64,
        /// Keep the store in this folder instead of a temporary one.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

/// How directly a global flag was given: on the command line beats the
/// environment beats the default.
fn given(matches: &clap::ArgMatches, id: &str) -> u8 {
    match matches.value_source(id) {
        Some(clap::parser::ValueSource::CommandLine) => 3,
        Some(clap::parser::ValueSource::EnvVariable) => 2,
        Some(_) => 1,
        None => 0,
    }
}

fn main() -> ExitCode {
    use clap::{CommandFactory, FromArgMatches};
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    // `rollup` and `report` ask the coordinator when it was named more
    // directly than the node.
    let at_coordinator = given(&matches, "coordinator") > given(&matches, "node");
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("gridctl: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli, at_coordinator)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("gridctl: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The node's link to the coordinator, as `gridctl status` shows it.
fn print_link(link: Option<&pb::LinkStatus>) {
    let Some(l) = link.filter(|l| l.configured) else {
        println!("coordinator not configured (this node works alone)");
        return;
    };
    let when = |ms: i64| {
        if ms == 0 {
            "never".to_string()
        } else {
            let ago = (gridsync_node::service::now_ms() - ms).max(0) / 1000;
            format!("{ago} s ago")
        }
    };
    if l.connected {
        println!("coordinator connected since {}", when(l.changed_ms));
    } else {
        println!(
            "coordinator NOT connected (since {}; {} attempts): {}",
            when(l.changed_ms),
            l.attempts,
            if l.last_error.is_empty() {
                "-"
            } else {
                &l.last_error
            }
        );
    }
    println!(
        "  {} changes not yet acknowledged; sent {} frames / {} B, received {} frames / {} B",
        l.unacknowledged_changes, l.frames_sent, l.bytes_sent, l.frames_received, l.bytes_received
    );
    for d in &l.docs {
        println!(
            "  {:<40} {:<8} last sync {:<12} unacknowledged {}",
            d.doc_id,
            if d.in_sync { "in sync" } else { "behind" },
            when(d.last_sync_ms),
            d.unacknowledged_changes
        );
    }
}

fn status_err(s: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{}: {}", code_name(s.code()), s.message())
}

fn code_name(c: tonic::Code) -> &'static str {
    match c {
        tonic::Code::InvalidArgument => "invalid input",
        tonic::Code::NotFound => "not found",
        tonic::Code::AlreadyExists => "already exists",
        tonic::Code::FailedPrecondition => "not allowed now",
        tonic::Code::Unavailable => "unavailable",
        _ => "error",
    }
}

struct Out {
    json: bool,
    reveal: bool,
}

impl Out {
    fn json<T: serde::Serialize>(&self, v: &T) -> anyhow::Result<()> {
        println!("{}", serde_json::to_string_pretty(v)?);
        Ok(())
    }

    /// Masks personal data in a record unless `--reveal`.
    fn mask(&self, mut r: Record) -> Record {
        if self.reveal {
            return r;
        }
        let m = |p: &mut Option<String>| {
            if let Some(s) = p {
                *s = mask_phone(s);
            }
        };
        match &mut r {
            Record::Household(h) => m(&mut h.phone),
            Record::Resident(x) => {
                m(&mut x.phone);
                if let Some(n) = &mut x.id_number {
                    *n = mask_id_number(n);
                }
            }
            Record::PartyMember(x) => m(&mut x.phone),
            Record::Staff(x) => m(&mut x.phone),
            Record::Volunteer(x) => m(&mut x.phone),
            Record::Ticket(x) => m(&mut x.caller_phone),
            _ => {}
        }
        r
    }

    fn record(&self, r: pb::Record) -> anyhow::Result<()> {
        let r = self.mask(Record::try_from(r).map_err(|e| {
            anyhow::anyhow!("the node sent a record this gridctl cannot read: {e}")
        })?);
        if self.json {
            return self.json(&r);
        }
        let v = serde_json::to_value(&r)?;
        if let serde_json::Value::Object(map) = v {
            for (k, v) in map {
                let v = match v {
                    serde_json::Value::String(s) => s,
                    serde_json::Value::Null => "-".into(),
                    other => other.to_string(),
                };
                println!("{k:>22}  {v}");
            }
        }
        Ok(())
    }
}

async fn client(addr: &str) -> anyhow::Result<OfficeClient<Channel>> {
    connect(addr).await.map_err(|e| anyhow::anyhow!(e))
}

fn parse_kind(s: &str) -> anyhow::Result<Kind> {
    Kind::parse(s).ok_or_else(|| {
        anyhow::anyhow!(
            "{s:?} is not a record kind; use one of {}",
            Kind::ALL
                .iter()
                .map(|k| k.name())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// A record from `{"field": …}` JSON of a kind; `id` may be left out on create.
fn record_from_json(kind: Kind, fields: &str) -> anyhow::Result<Record> {
    let mut v: serde_json::Value =
        serde_json::from_str(fields).context("the fields are not JSON")?;
    let obj = v
        .as_object_mut()
        .ok_or_else(|| anyhow::anyhow!("the fields must be a JSON object"))?;
    obj.insert("kind".into(), kind.name().into());
    obj.entry("id").or_insert_with(|| "".into());
    serde_json::from_value(v).map_err(|e| anyhow::anyhow!("the fields do not make a {kind}: {e}"))
}

async fn run(cli: Cli, at_coordinator: bool) -> anyhow::Result<ExitCode> {
    let out = Out {
        json: cli.json,
        reveal: cli.reveal,
    };
    match cli.cmd {
        Cmd::RosterColumns => {
            println!(
                "{:<18} {:<28} {:<9} meaning",
                "key", "headers accepted", "required"
            );
            for c in roster::COLUMNS {
                println!(
                    "{:<18} {:<28} {:<9} {}",
                    c.key,
                    c.headers.join(" / "),
                    if c.required { "yes" } else { "" },
                    c.meaning
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::DemoCommunity {
            households,
            seed,
            data_dir,
        } => demo_community(households, seed, data_dir).await,
        Cmd::Demo(args) => demo_street::run(args).await,
        Cmd::Rollup {
            as_of,
            tz,
            path,
            depth,
        } => {
            let mut source = rollup_source(&cli.coord, &cli.node, at_coordinator).await?;
            let r = source
                .rollup(&as_of, &tz, &rollup::parse_path(&path), depth)
                .await
                .map_err(status_err)?;
            if cli.json {
                out.json(&r)?;
            } else {
                print!("{}", rollup::render(&r));
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Report {
            date,
            community,
            format,
            out: file,
            tz,
        } => {
            let mut source = rollup_source(&cli.coord, &cli.node, at_coordinator).await?;
            let r = source
                .daily_report(gridsync_proto::rollup::v1::DailyReportRequest {
                    date,
                    community_id: community,
                    format: gridsync_proto::rollup::v1::ReportFormat::from(format) as i32,
                    tz,
                })
                .await
                .map_err(status_err)?;
            rollup::write_report(&r, file.as_deref())?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Certs { cmd } => {
            cmd.run(&mut std::io::stdout())?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Street { cmd } => {
            let (channel, interceptor) = coordinator_channel(&cli.coord).await?;
            let client = gridsync_proto::street::v1::street_client::StreetClient::with_interceptor(
                channel,
                interceptor,
            );
            street::run(cmd, client, cli.json).await.map_err(|e| {
                match e.downcast::<tonic::Status>() {
                    Ok(s) => status_err(s),
                    Err(e) => e,
                }
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Import { file, batch } => {
            let mut c = client(&cli.node).await?;
            let code = import(&mut c, &file, batch, &out).await?;
            Ok(code)
        }
        cmd => {
            let mut c = client(&cli.node).await?;
            command(&mut c, cmd, &out)
                .await
                .map_err(|e| match e.downcast::<tonic::Status>() {
                    Ok(s) => status_err(s),
                    Err(e) => e,
                })?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Where `rollup` and `report` ask: the coordinator (as an operator) or
/// the node.
async fn rollup_source(
    coord: &CoordinatorArgs,
    node: &str,
    at_coordinator: bool,
) -> anyhow::Result<rollup::Source> {
    if at_coordinator {
        let (channel, interceptor) = coordinator_channel(coord).await?;
        Ok(rollup::Source::Street(
            gridsync_proto::street::v1::street_client::StreetClient::with_interceptor(
                channel,
                interceptor,
            ),
        ))
    } else {
        Ok(rollup::Source::Node(client(node).await?))
    }
}

async fn command(c: &mut OfficeClient<Channel>, cmd: Cmd, out: &Out) -> anyhow::Result<()> {
    match cmd {
        Cmd::StreetSummary => {
            let r = c
                .get_street_summary(gridsync_proto::rollup::v1::StreetSummaryRequest {})
                .await?
                .into_inner();
            if out.json {
                return out.json(&r);
            }
            print!("{}", rollup::render(&r));
        }
        Cmd::Signoff { date, by, tz } => {
            let s = c
                .sign_off_day(gridsync_proto::rollup::v1::SignOffRequest {
                    date,
                    signed_by: by,
                    tz,
                })
                .await?
                .into_inner();
            if out.json {
                return out.json(&s);
            }
            print!("{}", rollup::sign_off_lines(&s));
        }
        Cmd::StreetDoc => {
            let d = c.get_street(pb::GetStreetRequest {}).await?.into_inner();
            street::print_document(&d, out.json)?;
        }
        Cmd::Status => {
            let s = c.get_status(pb::GetStatusRequest {}).await?.into_inner();
            if out.json {
                return out.json(&s);
            }
            println!("community   {} ({})", s.community_name, s.community_id);
            println!("today       {} ({})", s.today, s.time_zone);
            println!(
                "store       {} bytes, schema v{}, gridsync {}",
                s.store_bytes, s.schema_version, s.version
            );
            println!("gaps        {}", s.gaps);
            for k in &s.counts {
                println!("  {:<18} {}", k.kind, k.count);
            }
            println!("documents:");
            for d in &s.docs {
                let heads: Vec<&str> = d.heads.iter().map(|h| &h[..h.len().min(12)]).collect();
                println!(
                    "  {:<40} snapshot {:>8} B, {:>3} chunks {:>8} B, heads {}",
                    d.doc_id,
                    d.snapshot_bytes,
                    d.chunk_count,
                    d.chunk_bytes,
                    heads.join(",")
                );
            }
            print_link(s.link.as_ref());
        }
        Cmd::Tree { households } => {
            let t = c.get_tree(pb::GetTreeRequest {}).await?.into_inner();
            if out.json {
                return out.json(&t);
            }
            print_tree(&t, households);
        }
        Cmd::Household { id } => {
            let d = c
                .get_household(pb::GetHouseholdRequest { id })
                .await?
                .into_inner();
            if out.json {
                let residents: Vec<Record> = d
                    .residents
                    .into_iter()
                    .filter_map(|r| gridsync_core::Resident::try_from(r).ok())
                    .map(|r| out.mask(Record::Resident(r)))
                    .collect();
                let household = d
                    .household
                    .and_then(|h| gridsync_core::Household::try_from(h).ok())
                    .map(|h| out.mask(Record::Household(h)));
                return out.json(&serde_json::json!({
                    "household": household, "residents": residents,
                    "compound_name": d.compound_name, "building_name": d.building_name,
                    "member": d.member.map(|m| m.name),
                }));
            }
            if let Some(h) = d.household {
                let phone = h
                    .phone
                    .as_deref()
                    .map(|p| {
                        if out.reveal {
                            p.to_string()
                        } else {
                            mask_phone(p)
                        }
                    })
                    .unwrap_or_default();
                println!(
                    "{} {} {}-{}  户主 head: {}  {}",
                    d.compound_name.unwrap_or_default(),
                    d.building_name.unwrap_or_default(),
                    h.unit,
                    h.door,
                    h.head_name,
                    phone
                );
            }
            println!(
                "联包党员 member: {}",
                d.member
                    .map(|m| m.name)
                    .unwrap_or_else(|| "(none: a gap)".into())
            );
            for r in d.residents {
                let idn = r
                    .id_number
                    .as_deref()
                    .map(|n| {
                        if out.reveal {
                            n.to_string()
                        } else {
                            mask_id_number(n)
                        }
                    })
                    .unwrap_or_default();
                println!(
                    "  {:<8} {:<6} {:<20} {}",
                    r.name,
                    r.relation.unwrap_or_default(),
                    idn,
                    if r.lives_alone {
                        "独居 lives alone"
                    } else {
                        ""
                    }
                );
            }
        }
        Cmd::Worklist {
            contract_group_id,
            day,
        } => {
            let w = c
                .get_worklist(pb::GetWorklistRequest {
                    contract_group_id,
                    day,
                })
                .await?
                .into_inner();
            if out.json {
                return out.json(&w);
            }
            println!(
                "{} on {}: {} of {} households screened",
                w.contract_group_id,
                w.day,
                w.screened,
                w.items.len()
            );
            for i in w.items {
                println!(
                    "  [{}] {:<8} {:<8} {:<6} {} residents",
                    if i.visit_ids.is_empty() { " " } else { "x" },
                    i.building_name,
                    i.label,
                    i.head_name,
                    i.residents
                );
            }
        }
        Cmd::Overdue { as_of } => {
            let r = c
                .list_overdue_care(pb::ListOverdueCareRequest { as_of })
                .await?
                .into_inner();
            if out.json {
                return out.json(&r);
            }
            println!("{} care visits overdue", r.items.len());
            for i in r.items {
                let rel = i.relationship.unwrap_or_default();
                println!(
                    "  {:<8} visitor {:<8} every {} days, due {}, {} days overdue",
                    i.resident_name.unwrap_or_default(),
                    rel.visitor,
                    rel.every_days,
                    i.due_on,
                    i.days_overdue
                );
            }
        }
        Cmd::Tickets => {
            let r = c
                .list_open_tickets(pb::ListOpenTicketsRequest {})
                .await?
                .into_inner();
            if out.json {
                return out.json(&r);
            }
            println!("{} tickets open", r.items.len());
            for i in r.items {
                let t = i.ticket.unwrap_or_default();
                println!(
                    "  {:<24} {:<8} open {:>6.1} h  {}",
                    t.id,
                    t.category,
                    i.age_ms as f64 / 3.6e6,
                    t.summary
                );
            }
        }
        Cmd::Gaps { day } => {
            let r = c.list_gaps(pb::ListGapsRequest { day }).await?.into_inner();
            if out.json {
                return out.json(&r);
            }
            println!("{} gaps", r.gaps.len());
            for g in r.gaps {
                println!("  [{}] {}", g.code, g.message);
            }
        }
        Cmd::Get { kind, id } => {
            parse_kind(&kind)?;
            let r = c
                .get_record(pb::GetRecordRequest { kind, id })
                .await?
                .into_inner();
            out.record(r.record.unwrap_or_default())?;
        }
        Cmd::List { kind, day, limit } => {
            parse_kind(&kind)?;
            let r = c
                .list_records(pb::ListRecordsRequest {
                    kind,
                    day,
                    limit,
                    after_id: String::new(),
                })
                .await?
                .into_inner();
            let recs: Vec<Record> = r
                .records
                .into_iter()
                .filter_map(|r| Record::try_from(r).ok())
                .map(|r| out.mask(r))
                .collect();
            if out.json {
                return out.json(&recs);
            }
            for r in &recs {
                println!("{}", serde_json::to_string(r)?);
            }
            if !r.next_after_id.is_empty() {
                eprintln!("(more after {}; raise --limit)", r.next_after_id);
            }
        }
        Cmd::Create { kind, fields } => {
            let rec = record_from_json(parse_kind(&kind)?, &fields)?;
            let r = c
                .create_record(pb::CreateRecordRequest {
                    record: Some(rec.into()),
                })
                .await?
                .into_inner();
            out.record(r.record.unwrap_or_default())?;
        }
        Cmd::Update { kind, fields } => {
            let rec = record_from_json(parse_kind(&kind)?, &fields)?;
            if rec.id().is_empty() {
                bail!("the fields must hold the \"id\" of the record to update");
            }
            let r = c
                .update_record(pb::UpdateRecordRequest {
                    record: Some(rec.into()),
                })
                .await?
                .into_inner();
            out.record(r.record.unwrap_or_default())?;
        }
        Cmd::Remove { kind, id } => {
            parse_kind(&kind)?;
            c.remove_record(pb::RemoveRecordRequest {
                kind: kind.clone(),
                id: id.clone(),
            })
            .await?;
            if out.json {
                return out.json(&serde_json::json!({"removed": {"kind": kind, "id": id}}));
            }
            println!("removed {kind} {id}");
        }
        Cmd::Import { .. }
        | Cmd::RosterColumns
        | Cmd::Demo(_)
        | Cmd::DemoCommunity { .. }
        | Cmd::Rollup { .. }
        | Cmd::Report { .. }
        | Cmd::Certs { .. }
        | Cmd::Street { .. } => {
            unreachable!("handled in run")
        }
    }
    Ok(())
}

fn print_tree(t: &pb::Tree, households: bool) {
    let name = t
        .community
        .as_ref()
        .map(|c| c.name.as_str())
        .unwrap_or("(unnamed)");
    println!(
        "社区 community {name}: {} 户 households, {} 人 residents",
        t.households, t.residents
    );
    for c in &t.compounds {
        println!(
            "├─ 楼院 compound {}: {} 户, {} 人",
            c.name, c.households, c.residents
        );
        for b in &c.buildings {
            println!(
                "│  ├─ 楼栋 building {}: {} 户, {} 人",
                b.name, b.households, b.residents
            );
            for g in &b.groups {
                let who = match (&g.contract_group_id, &g.member_name) {
                    (Some(_), Some(m)) => format!("联包党员 member {m}"),
                    (Some(id), None) => format!("contract group {id}"),
                    _ => "无联包党员 no contracting member (gap)".to_string(),
                };
                println!("│  │  ├─ {who}: {} 户", g.households.len());
                if households {
                    for h in &g.households {
                        println!(
                            "│  │  │    {} {} ({} 人)",
                            h.label, h.head_name, h.residents
                        );
                    }
                }
            }
        }
    }
    if t.unplaced_households > 0 {
        println!(
            "!  {} households could not be placed (their building or compound is missing): see `gridctl gaps`",
            t.unplaced_households
        );
    }
}

fn row_to_pb(r: &roster::RosterRow) -> pb::RosterRow {
    let fields = demo::raw_fields(r);
    let f = |key: &str| {
        fields
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    pb::RosterRow {
        line: r.line,
        compound: f("compound"),
        building: f("building"),
        unit: f("unit"),
        door: f("door"),
        head_name: f("head_name"),
        household_phone: f("household_phone"),
        name: f("name"),
        id_number: f("id_number"),
        gender: f("gender"),
        birth_date: f("birth_date"),
        relation: f("relation"),
        phone: f("phone"),
        lives_alone: f("lives_alone"),
        contract_member: f("contract_member"),
    }
}

async fn import(
    c: &mut OfficeClient<Channel>,
    file: &Path,
    batch: usize,
    out: &Out,
) -> anyhow::Result<ExitCode> {
    if batch == 0 || batch > gridsync_node::service::MAX_IMPORT_ROWS {
        bail!(
            "--batch must be between 1 and {}",
            gridsync_node::service::MAX_IMPORT_ROWS
        );
    }
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let parsed = roster::parse(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    if parsed.encoding != "UTF-8" && !out.json {
        println!(
            "{}: read as {} text (Excel's CSV in a Chinese locale)",
            file.display(),
            parsed.encoding
        );
    }
    let mut report = gridsync_node::office::ImportReport {
        errors: parsed.errors.clone(),
        ..Default::default()
    };
    let bar = if out.json {
        indicatif::ProgressBar::hidden()
    } else {
        let b = indicatif::ProgressBar::new(parsed.rows.len() as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} importing [{bar:30}] {pos}/{len} rows {per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        b
    };
    let started = Instant::now();
    for chunk in parsed.rows.chunks(batch) {
        let rows = chunk.iter().map(row_to_pb).collect();
        let rep = c
            .import_roster(pb::ImportRosterRequest { rows })
            .await
            .map_err(status_err)?
            .into_inner();
        report.rows_created += rep.rows_created;
        report.rows_updated += rep.rows_updated;
        report.rows_unchanged += rep.rows_unchanged;
        report.records_created += rep.records_created;
        report
            .errors
            .extend(rep.errors.into_iter().map(|e| RowError {
                line: e.line,
                column: e.column,
                reason: e.reason,
            }));
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    report
        .errors
        .sort_by(|a, b| (a.line, &a.column).cmp(&(b.line, &b.column)));
    if out.json {
        out.json(&report)?;
    } else {
        let bad_rows = {
            let mut l: Vec<u64> = report.errors.iter().map(|e| e.line).collect();
            l.dedup();
            l.len()
        };
        println!(
            "{}: {} rows read in {:.1} s: {} new, {} updated, {} unchanged, {} rejected; {} records created",
            file.display(),
            parsed.rows.len() + bad_rows,
            started.elapsed().as_secs_f64(),
            report.rows_created,
            report.rows_updated,
            report.rows_unchanged,
            bad_rows,
            report.records_created
        );
        for e in &report.errors {
            println!("  rejected {e}");
        }
    }
    Ok(if report.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}

/// A running node child process, stopped with SIGTERM when dropped.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        #[cfg(unix)]
        {
            let pid = self.0.id().to_string();
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status();
        }
        #[cfg(not(unix))]
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let p = me.with_file_name(name);
    if p.exists() {
        Ok(p)
    } else {
        bail!(
            "cannot find {} next to gridctl; build it with `cargo build --release -p gridsync-node -p gridsync-coordinator --bins`",
            p.display()
        )
    }
}

fn step(n: u32, what: &str) {
    println!("\n== {n}. {what}");
}

/// `gridctl demo-community`: one node, a generated roster imported through
/// the API, a morning of work, and what the office sees.
async fn demo_community(
    households: usize,
    seed: u64,
    data_dir: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let keep = data_dir.is_some();
    let dir = match data_dir {
        Some(d) => d,
        None => std::env::temp_dir().join(format!("gridsync-demo-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir)?;
    let addr_file = dir.join("node.addr");
    let _ = std::fs::remove_file(&addr_file);
    step(
        1,
        &format!(
            "starting gridsync-node for community 'tongbai' on a store in {}",
            dir.display()
        ),
    );
    let node = sibling_binary("gridsync-node")?;
    let child = std::process::Command::new(&node)
        .args([
            "--community-id",
            "tongbai",
            "--community-name",
            "桐柏路社区 Tongbai Road",
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(&dir)
        .arg("--addr-file")
        .arg(&addr_file)
        .env(
            "GRIDSYNC_PERSON_KEY_SECRET",
            "6772696473796e632064656d6f20737472656574206b6579",
        )
        .env("GRIDSYNC_LOG", "warn")
        .spawn()
        .with_context(|| format!("cannot start {}", node.display()))?;
    let mut child = Child(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr = loop {
        if let Ok(a) = std::fs::read_to_string(&addr_file) {
            break a;
        }
        if let Ok(Some(status)) = child.0.try_wait() {
            bail!("gridsync-node exited at start ({status})");
        }
        if Instant::now() > deadline {
            bail!("gridsync-node did not start listening within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!("   node listening on {addr} (gRPC office API, health, reflection)");
    let mut c = client(&addr).await?;

    step(
        2,
        &format!(
            "generating a roster of {households} households (seed {seed}) with Chinese headers"
        ),
    );
    let rows = demo::community_roster(seed, households);
    let csv = dir.join("roster.csv");
    let mut text = demo::to_csv(&rows);
    // Two rows an office would mistype: a bad ID check digit and a short phone.
    text.push_str(
        "桐柏路10号院,1号楼,1,999,错误示例,13800138000,错误示例,410102198001010010,男,,本人,,否,\n",
    );
    text.push_str("桐柏路10号院,1号楼,1,998,错误示例二,1380013800,错误示例二,,女,,本人,,否,\n");
    std::fs::write(&csv, text)?;
    println!(
        "   wrote {} ({} rows + 2 deliberately bad ones)",
        csv.display(),
        rows.len()
    );

    step(
        3,
        "importing it through the API (bad rows are reported, good rows stored)",
    );
    let out = Out {
        json: false,
        reveal: false,
    };
    import(&mut c, &csv, 500, &out).await?;
    step(4, "importing the same file again: nothing is duplicated");
    import(&mut c, &csv, 500, &out).await?;

    step(
        5,
        "recording a morning of work: screening visits, a returnee, a care relationship, a hotline ticket",
    );
    let tree = c
        .get_tree(pb::GetTreeRequest {})
        .await
        .map_err(status_err)?
        .into_inner();
    let first_group = tree
        .compounds
        .iter()
        .flat_map(|c| &c.buildings)
        .flat_map(|b| &b.groups)
        .find(|g| g.contract_group_id.is_some())
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("the demo community has no contract group"))?;
    let group_id = first_group.contract_group_id.clone().unwrap_or_default();
    let now = gridsync_node::service::now_ms() - 60_000;
    // The demo node runs in its default zone, Asia/Shanghai.
    let today =
        gridsync_core::replica::day_of_instant(now, chrono_tz::Asia::Shanghai).unwrap_or_default();
    let worklist = c
        .get_worklist(pb::GetWorklistRequest {
            contract_group_id: group_id.clone(),
            day: String::new(),
        })
        .await
        .map_err(status_err)?
        .into_inner();
    let mut screened = 0;
    // Screen all but the last three households of the group: those stay
    // open on the worklist.
    for h in worklist
        .items
        .iter()
        .take(worklist.items.len().saturating_sub(3))
    {
        let detail = c
            .get_household(pb::GetHouseholdRequest {
                id: h.household_id.clone(),
            })
            .await
            .map_err(status_err)?
            .into_inner();
        let mut residents = std::collections::BTreeMap::new();
        for (i, r) in detail.residents.iter().enumerate() {
            let returned = screened == 0 && i == 0;
            residents.insert(
                r.id.clone(),
                gridsync_core::ScreeningEntry {
                    status: if returned {
                        gridsync_core::ScreeningStatus::Returned
                    } else {
                        gridsync_core::ScreeningStatus::Present
                    },
                    returned_from: returned.then(|| "外省某市 another province".to_string()),
                    returned_on: returned.then_some(gridsync_core::Date(today)),
                },
            );
        }
        let visit = Record::ScreeningVisit(gridsync_core::ScreeningVisit {
            id: String::new(),
            household_id: h.household_id.clone(),
            visited_at_ms: now,
            visitor: "网格员 grid worker".into(),
            residents,
            notes: None,
        });
        c.create_record(pb::CreateRecordRequest {
            record: Some(visit.into()),
        })
        .await
        .map_err(status_err)?;
        screened += 1;
    }
    let elder = tree
        .compounds
        .first()
        .and_then(|c| c.buildings.first())
        .and_then(|b| b.groups.first())
        .and_then(|g| g.households.first())
        .cloned();
    if let Some(e) = elder {
        let d = c
            .get_household(pb::GetHouseholdRequest { id: e.id })
            .await
            .map_err(status_err)?
            .into_inner();
        if let Some(r) = d.residents.first() {
            let since = today - chrono::Days::new(9);
            let rel = Record::CareRelationship(gridsync_core::CareRelationship {
                id: String::new(),
                resident_id: r.id.clone(),
                visitor: "网格员 grid worker".into(),
                every_days: 2,
                since: gridsync_core::Date(since),
                last_visit: None,
                ended_on: None,
            });
            c.create_record(pb::CreateRecordRequest {
                record: Some(rel.into()),
            })
            .await
            .map_err(status_err)?;
        }
    }
    let ticket = Record::Ticket(gridsync_core::Ticket {
        id: String::new(),
        received_at_ms: now - 3_600_000,
        channel: gridsync_core::TicketChannel::Hotline,
        category: "买药 medicine".into(),
        summary: "独居老人需要代买降压药 an elderly resident needs medicine bought".into(),
        caller_phone: Some("13800138000".into()),
        assigned_compound_id: tree.compounds.first().map(|c| c.id.clone()),
        assigned_staff_id: None,
        resolved_at_ms: None,
        resolution: None,
    });
    c.create_record(pb::CreateRecordRequest {
        record: Some(ticket.into()),
    })
    .await
    .map_err(status_err)?;
    println!(
        "   {screened} households screened in contract group {group_id}; 1 returnee; 1 care relationship; 1 ticket"
    );

    step(
        6,
        "the five-level tree (street → community → compound → building → contract group)",
    );
    let tree = c
        .get_tree(pb::GetTreeRequest {})
        .await
        .map_err(status_err)?
        .into_inner();
    print_tree(&tree, false);
    step(
        7,
        "today's worklist of that contract group, overdue care visits, open tickets, gaps",
    );
    for cmd in [
        Cmd::Worklist {
            contract_group_id: group_id,
            day: String::new(),
        },
        Cmd::Overdue {
            as_of: String::new(),
        },
        Cmd::Tickets,
    ] {
        command(&mut c, cmd, &out).await?;
    }
    let gaps = c
        .list_gaps(pb::ListGapsRequest { day: String::new() })
        .await
        .map_err(status_err)?
        .into_inner();
    println!(
        "{} gaps (households without a contracting member, …); first three:",
        gaps.gaps.len()
    );
    for g in gaps.gaps.iter().take(3) {
        println!("  [{}] {}", g.code, g.message);
    }
    step(8, "store status");
    command(&mut c, Cmd::Status, &out).await?;
    step(
        9,
        "stopping the node (SIGTERM: in-flight writes finish, WAL checkpointed)",
    );
    drop(c);
    drop(child);
    if keep {
        println!("   done; the store is in {}", dir.display());
    } else {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("cannot remove the temporary store {}", dir.display()))?;
        println!("   done; removed the temporary store (use --data-dir DIR to keep one)");
    }
    Ok(ExitCode::SUCCESS)
}
