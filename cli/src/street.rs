//! `gridctl street …`: the street operator's commands, over the
//! coordinator's `Street` API: the communities and their link state, the
//! street document (communities, risk regions, notices, task forces) and
//! hotline tickets dispatched to a community.
//!
//! Records are built as core records and converted with
//! `gridsync_proto::street_convert`, so the CLI and the coordinator agree on
//! the wire form; the coordinator validates (`street::validate`) and answers
//! with the record as stored. Dates are checked here first so that a typo
//! fails before any request.

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use gridsync_core::mask::mask_phone;
use gridsync_core::street::{StreetCommunity, StreetKind, StreetRecord, StreetView};
use gridsync_core::{
    CommunityKind, Date, RiskLevel, RiskRegion, StreetNotice, TaskForce, Ticket, TicketChannel,
};
use gridsync_proto::street::v1 as pb;

use crate::connect::StreetApi;
use crate::output::{lag, local_time, now_ms, print_json, status_err};

#[derive(Subcommand)]
pub enum StreetCommand {
    /// The communities of the street with their link state (connected,
    /// last sync, lag, documents behind).
    Communities,
    /// The street document as it stands at the coordinator.
    Show,
    /// The communities (and villages) of the street.
    Community {
        #[command(subcommand)]
        cmd: CommunityCmd,
    },
    /// Risk regions (中高风险地区): where returnees come from.
    Risk {
        #[command(subcommand)]
        cmd: RiskCmd,
    },
    /// Street notices.
    Notice {
        #[command(subcommand)]
        cmd: NoticeCmd,
    },
    /// Task forces (专班) and their members.
    Taskforce {
        #[command(subcommand)]
        cmd: TaskForceCmd,
    },
    /// Dispatches a hotline ticket (12345 接诉即办) received at the street to
    /// a community: it is written into the community's cases and synced to
    /// its node.
    DispatchTicket {
        /// The community id, e.g. tongbai-rd.
        #[arg(long)]
        community: String,
        /// What the request is about (买药 medicine, 物资 supplies, …).
        #[arg(long)]
        category: String,
        /// What the caller asked for, in a sentence.
        #[arg(long)]
        summary: String,
        /// How the request came in.
        #[arg(long, value_enum, default_value_t = ChannelArg::Hotline)]
        channel: ChannelArg,
        /// The caller's phone number (masked on screens unless --reveal).
        #[arg(long)]
        caller_phone: Option<String>,
        /// The compound of the community it is assigned to.
        #[arg(long)]
        compound: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum CommunityCmd {
    /// Adds a community of the street, or renames it.
    Add {
        /// The community id its node's certificate names, e.g. tongbai-rd.
        #[arg(long)]
        id: String,
        /// Its name as people see it (桐柏路社区).
        #[arg(long)]
        name: String,
        /// A community (社区) or a village (村).
        #[arg(long, value_enum, default_value_t = KindArg::Community)]
        kind: KindArg,
    },
    /// Removes a community from the street document.
    Remove {
        /// The community's id.
        id: String,
    },
}

#[derive(Subcommand)]
pub enum RiskCmd {
    /// Adds a risk region, or replaces one (with --id).
    Add {
        /// The region as people name it, from the province down (湖北省武汉市).
        #[arg(long)]
        region: String,
        /// The risk level the authorities gave it.
        #[arg(long, value_enum)]
        level: LevelArg,
        /// First day in force, YYYY-MM-DD.
        #[arg(long)]
        from: String,
        /// Last day in force, YYYY-MM-DD; none while it lasts.
        #[arg(long)]
        to: Option<String>,
        /// The id to write (rr_…); a new one if none.
        #[arg(long)]
        id: Option<String>,
    },
    /// Removes a risk region.
    Remove {
        /// The region's id (rr_…).
        id: String,
    },
}

#[derive(Subcommand)]
pub enum NoticeCmd {
    /// Publishes a street notice, now.
    Add {
        /// The notice's title.
        #[arg(long)]
        title: String,
        /// The notice's text.
        #[arg(long)]
        body: String,
        /// The id to write (sn_…); a new one if none.
        #[arg(long)]
        id: Option<String>,
    },
    /// Withdraws a notice.
    Remove {
        /// The notice's id (sn_…).
        id: String,
    },
}

#[derive(Subcommand)]
pub enum TaskForceCmd {
    /// Adds a task force, or replaces one (with --id).
    Add {
        /// The task force's name (e.g. 卡口值守专班).
        #[arg(long)]
        name: String,
        /// A member, by name or staff id; repeat for each.
        #[arg(long = "member")]
        members: Vec<String>,
        /// The id to write (tf_…); a new one if none.
        #[arg(long)]
        id: Option<String>,
    },
    /// Disbands a task force.
    Remove {
        /// The task force's id (tf_…).
        id: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum KindArg {
    Community,
    Village,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum LevelArg {
    Low,
    Medium,
    High,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ChannelArg {
    Hotline,
    ChatGroup,
    Patrol,
}

impl From<KindArg> for CommunityKind {
    fn from(k: KindArg) -> Self {
        match k {
            KindArg::Community => CommunityKind::Community,
            KindArg::Village => CommunityKind::Village,
        }
    }
}

impl From<LevelArg> for RiskLevel {
    fn from(l: LevelArg) -> Self {
        match l {
            LevelArg::Low => RiskLevel::Low,
            LevelArg::Medium => RiskLevel::Medium,
            LevelArg::High => RiskLevel::High,
        }
    }
}

impl From<ChannelArg> for TicketChannel {
    fn from(c: ChannelArg) -> Self {
        match c {
            ChannelArg::Hotline => TicketChannel::Hotline,
            ChannelArg::ChatGroup => TicketChannel::ChatGroup,
            ChannelArg::Patrol => TicketChannel::Patrol,
        }
    }
}

fn date(flag: &str, s: &str) -> anyhow::Result<Date> {
    Date::parse(flag, s).map_err(|e| anyhow::anyhow!("{e}"))
}

/// A record as the coordinator stored it: `field  value` lines, or JSON.
fn print_record(r: pb::StreetRecord, json: bool) -> anyhow::Result<()> {
    let r = StreetRecord::try_from(r).map_err(|e| {
        anyhow::anyhow!("the coordinator sent a record this gridctl cannot read: {e}")
    })?;
    if json {
        return print_json(&r);
    }
    println!("{} {}", r.kind(), r.id());
    let v = serde_json::to_value(&r)?;
    if let Some(serde_json::Value::Object(map)) = v.get("record") {
        for (k, v) in map.iter().filter(|(k, _)| *k != "id") {
            let v = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => "-".into(),
                serde_json::Value::Array(a) => a
                    .iter()
                    .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
                    .collect::<Vec<_>>()
                    .join(", "),
                other => other.to_string(),
            };
            println!("{k:>16}  {v}");
        }
    }
    Ok(())
}

/// Runs one street command against the coordinator's `Street` API.
pub async fn run(cmd: StreetCommand, mut client: StreetApi, json: bool) -> anyhow::Result<()> {
    let c = &mut client;
    match cmd {
        StreetCommand::Communities => communities(c, json).await,
        StreetCommand::Show => show(c, json).await,
        StreetCommand::Community { cmd } => match cmd {
            CommunityCmd::Add { id, name, kind } => {
                let rec = StreetRecord::Community(StreetCommunity {
                    id,
                    name,
                    kind: kind.into(),
                });
                put(c, rec, json).await
            }
            CommunityCmd::Remove { id } => remove(c, StreetKind::Community, id, json).await,
        },
        StreetCommand::Risk { cmd } => match cmd {
            RiskCmd::Add {
                region,
                level,
                from,
                to,
                id,
            } => {
                let rec = StreetRecord::RiskRegion(RiskRegion {
                    id: id.unwrap_or_default(),
                    region,
                    level: level.into(),
                    from: date("--from", &from)?,
                    to: to.map(|t| date("--to", &t)).transpose()?,
                });
                put(c, rec, json).await
            }
            RiskCmd::Remove { id } => remove(c, StreetKind::RiskRegion, id, json).await,
        },
        StreetCommand::Notice { cmd } => match cmd {
            NoticeCmd::Add { title, body, id } => {
                // 0 is "now" at the coordinator: its clock, not this machine's.
                let rec = StreetRecord::Notice(StreetNotice {
                    id: id.unwrap_or_default(),
                    title,
                    body,
                    published_at_ms: 0,
                });
                put(c, rec, json).await
            }
            NoticeCmd::Remove { id } => remove(c, StreetKind::Notice, id, json).await,
        },
        StreetCommand::Taskforce { cmd } => match cmd {
            TaskForceCmd::Add { name, members, id } => {
                let rec = StreetRecord::TaskForce(TaskForce {
                    id: id.unwrap_or_default(),
                    name,
                    members,
                });
                put(c, rec, json).await
            }
            TaskForceCmd::Remove { id } => remove(c, StreetKind::TaskForce, id, json).await,
        },
        StreetCommand::DispatchTicket {
            community,
            category,
            summary,
            channel,
            caller_phone,
            compound,
        } => {
            let ticket = Ticket {
                id: String::new(),
                received_at_ms: now_ms(),
                channel: channel.into(),
                category,
                summary,
                caller_phone,
                assigned_compound_id: compound,
                assigned_staff_id: None,
                resolved_at_ms: None,
                resolution: None,
            };
            let t = c
                .dispatch_ticket(pb::DispatchTicketRequest {
                    community_id: community.clone(),
                    ticket: Some(ticket.into()),
                })
                .await
                .map_err(status_err)?
                .into_inner();
            let mut t = Ticket::try_from(t).map_err(|e| {
                anyhow::anyhow!("the coordinator sent a ticket this gridctl cannot read: {e}")
            })?;
            if let Some(p) = &mut t.caller_phone {
                *p = mask_phone(p);
            }
            if json {
                return print_json(&serde_json::json!({"community_id": community, "ticket": t}));
            }
            println!(
                "dispatched ticket {} to community {community}: [{}] {}",
                t.id, t.category, t.summary
            );
            Ok(())
        }
    }
}

async fn communities(c: &mut StreetApi, json: bool) -> anyhow::Result<()> {
    let r = c
        .list_communities(pb::ListCommunitiesRequest {})
        .await
        .map_err(status_err)?
        .into_inner();
    if json {
        return print_json(&r);
    }
    let connected = r.communities.iter().filter(|l| l.connected).count();
    let fresh = r.communities.iter().filter(|l| l.fresh).count();
    println!(
        "{} communities, {connected} connected, {fresh} fresh, as of {}",
        r.communities.len(),
        local_time(r.now_ms)
    );
    println!(
        "{:<16} {:<12} {:<5} {:<6} {:>9} {:>9} {:>6} {:<10} note",
        "id", "name", "reg", "link", "heard", "in sync", "behind", "version"
    );
    for l in &r.communities {
        let mut note = Vec::new();
        if l.node_docs_ahead > 0 {
            note.push(crate::output::ahead_note(
                l.node_docs_ahead,
                l.node_reported_ms,
            ));
        }
        if !l.last_error.is_empty() {
            note.push(l.last_error.clone());
        }
        let ago = |ms: i64| {
            if ms <= 0 {
                "never".to_string()
            } else {
                format!("{} ago", lag(r.now_ms.saturating_sub(ms)))
            }
        };
        println!(
            "{:<16} {:<12} {:<5} {:<6} {:>9} {:>9} {:>6} {:<10} {}",
            l.community_id,
            l.name,
            if l.registered { "yes" } else { "no" },
            link_word(l),
            ago(l.last_heard_ms),
            ago(l.last_sync_ms),
            format!("{}/{}", l.docs_behind, l.docs),
            if l.software_version.is_empty() {
                "-"
            } else {
                &l.software_version
            },
            note.join("; ")
        );
    }
    Ok(())
}

/// A community's link in one word, the same as the rollup's stamp: `fresh`
/// (heard within the window, nothing of the node's missing here), `stale`
/// (a session is open but one of those fails) or `down` (no session).
pub fn link_word(l: &pb::CommunityLink) -> &'static str {
    match (l.connected, l.fresh) {
        (false, _) => "down",
        (true, true) => "fresh",
        (true, false) => "stale",
    }
}

async fn show(c: &mut StreetApi, json: bool) -> anyhow::Result<()> {
    let doc = c
        .get_street(pb::GetStreetRequest {})
        .await
        .map_err(status_err)?
        .into_inner();
    print_document(&doc, json)
}

/// Prints a street document (from the coordinator, or a node's read-only copy).
pub fn print_document(doc: &pb::StreetDocument, json: bool) -> anyhow::Result<()> {
    let doc = doc.clone();
    let heads = doc.heads.clone();
    let v = StreetView::from(doc);
    if json {
        #[derive(serde::Serialize)]
        struct Shown {
            heads: Vec<String>,
            #[serde(flatten)]
            view: StreetView,
        }
        return print_json(&Shown { heads, view: v });
    }
    let short: Vec<&str> = heads.iter().map(|h| &h[..h.len().min(12)]).collect();
    println!("street document, heads {}", short.join(","));
    println!("社区 communities: {}", v.communities.len());
    for x in &v.communities {
        let kind = match x.kind {
            CommunityKind::Community => "社区 community",
            CommunityKind::Village => "村 village",
        };
        println!("  {:<16} {:<12} {kind}", x.id, x.name);
    }
    println!("风险地区 risk regions: {}", v.risk_regions.len());
    for x in &v.risk_regions {
        let level = match x.level {
            RiskLevel::Low => "低 low",
            RiskLevel::Medium => "中 medium",
            RiskLevel::High => "高 high",
        };
        let to =
            x.to.map_or_else(|| "(in force)".to_string(), |t| t.to_string());
        println!(
            "  {:<22} {:<10} {}  {} → {to}",
            x.id, level, x.region, x.from
        );
    }
    println!("通知 notices: {}", v.notices.len());
    for x in &v.notices {
        println!(
            "  {:<22} {}  {}",
            x.id,
            local_time(x.published_at_ms),
            x.title
        );
        for line in x.body.lines() {
            println!("  {:<22} {line}", "");
        }
    }
    println!("专班 task forces: {}", v.task_forces.len());
    for x in &v.task_forces {
        println!(
            "  {:<22} {} ({} members): {}",
            x.id,
            x.name,
            x.members.len(),
            x.members.join(", ")
        );
    }
    if !v.gaps.is_empty() {
        println!("{} records do not read:", v.gaps.len());
        for g in &v.gaps {
            println!("  {g}");
        }
    }
    Ok(())
}

async fn put(c: &mut StreetApi, rec: StreetRecord, json: bool) -> anyhow::Result<()> {
    let kind = rec.kind();
    let r = c
        .put_street_record(pb::PutStreetRecordRequest {
            record: Some(rec.into()),
        })
        .await
        .map_err(status_err)
        .with_context(|| format!("cannot write the {kind}"))?
        .into_inner();
    print_record(r, json)
}

async fn remove(c: &mut StreetApi, kind: StreetKind, id: String, json: bool) -> anyhow::Result<()> {
    let r = c
        .remove_street_record(pb::RemoveStreetRecordRequest {
            kind: pb::StreetKindPb::from(kind) as i32,
            id: id.clone(),
        })
        .await
        .map_err(status_err)?
        .into_inner();
    if json {
        let removed = StreetRecord::try_from(r).map_err(|e| {
            anyhow::anyhow!("the coordinator sent a record this gridctl cannot read: {e}")
        })?;
        return print_json(&serde_json::json!({ "removed": removed }));
    }
    println!("removed {kind} {id}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use automerge::{ActorId, AutoCommit};
    use clap::Parser;
    use gridsync_core::{CoreError, DocId, street};
    use gridsync_proto::office::v1 as office_pb;
    use gridsync_proto::street::v1::street_client::StreetClient;
    use gridsync_proto::street::v1::street_server::{Street, StreetServer};
    use gridsync_proto::street_convert;
    use tonic::{Request, Response, Status};

    use super::*;

    #[test]
    fn bad_dates_name_the_flag() {
        let e = date("--from", "2020-13-01").unwrap_err().to_string();
        assert!(e.starts_with("--from: "), "{e}");
    }

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: StreetCommand,
    }

    fn parse(args: &[&str]) -> Result<StreetCommand, clap::Error> {
        Cli::try_parse_from(std::iter::once("street").chain(args.iter().copied())).map(|c| c.cmd)
    }

    #[test]
    fn the_commands_parse() {
        for args in [
            &["communities"][..],
            &["show"],
            &["community", "add", "--id", "c01", "--name", "桐柏路社区"],
            &[
                "community",
                "add",
                "--id",
                "c02",
                "--name",
                "刘寨村",
                "--kind",
                "village",
            ],
            &["community", "remove", "c01"],
            &[
                "risk",
                "add",
                "--region",
                "湖北省",
                "--level",
                "high",
                "--from",
                "2020-01-23",
            ],
            &[
                "risk",
                "add",
                "--region",
                "R",
                "--level",
                "low",
                "--from",
                "2020-01-23",
                "--to",
                "2020-02-01",
                "--id",
                "rr_1",
            ],
            &["risk", "remove", "rr_1"],
            &["notice", "add", "--title", "T", "--body", "B"],
            &["notice", "remove", "sn_1"],
            &[
                "taskforce",
                "add",
                "--name",
                "N",
                "--member",
                "M",
                "--member",
                "M2",
            ],
            &["taskforce", "remove", "tf_1"],
            &[
                "dispatch-ticket",
                "--community",
                "c01",
                "--category",
                "X",
                "--summary",
                "S",
            ],
            &[
                "dispatch-ticket",
                "--community",
                "c01",
                "--category",
                "X",
                "--summary",
                "S",
                "--channel",
                "chat-group",
                "--caller-phone",
                "13800138000",
                "--compound",
                "cp_1",
            ],
        ] {
            if let Err(e) = parse(args) {
                panic!("{args:?}: {e}");
            }
        }
        assert!(
            parse(&[
                "risk",
                "add",
                "--region",
                "R",
                "--level",
                "severe",
                "--from",
                "2020-01-01"
            ])
            .is_err()
        );
        assert!(parse(&["community", "add", "--name", "x"]).is_err());
    }

    /// A coordinator's Street API over one street document, enough to
    /// drive the runner end to end.
    struct FakeCoordinator {
        doc: Mutex<AutoCommit>,
        next: Mutex<u8>,
    }

    const NOW: i64 = 1_580_000_000_000;

    fn status(e: CoreError) -> Status {
        match e {
            CoreError::Invalid(_) => Status::invalid_argument(e.to_string()),
            CoreError::NotFound { .. } => Status::not_found(e.to_string()),
            _ => Status::failed_precondition(e.to_string()),
        }
    }

    #[tonic::async_trait]
    impl Street for FakeCoordinator {
        async fn get_rollup(
            &self,
            _: Request<gridsync_proto::rollup::v1::RollupRequest>,
        ) -> Result<Response<gridsync_proto::rollup::v1::Rollup>, Status> {
            Err(Status::unimplemented(
                "rollups are tested against the real coordinator",
            ))
        }
        async fn get_daily_report(
            &self,
            _: Request<gridsync_proto::rollup::v1::DailyReportRequest>,
        ) -> Result<Response<gridsync_proto::rollup::v1::DailyReport>, Status> {
            Err(Status::unimplemented(
                "reports are tested against the real coordinator",
            ))
        }
        async fn list_communities(
            &self,
            _: Request<pb::ListCommunitiesRequest>,
        ) -> Result<Response<pb::ListCommunitiesReply>, Status> {
            let view = StreetView::read(&self.doc.lock().unwrap());
            let communities = view
                .communities
                .into_iter()
                .map(|c| pb::CommunityLink {
                    community_id: c.id,
                    name: c.name,
                    registered: true,
                    lag_ms: -1,
                    ..Default::default()
                })
                .collect();
            Ok(Response::new(pb::ListCommunitiesReply {
                communities,
                now_ms: NOW,
            }))
        }
        async fn get_street(
            &self,
            _: Request<pb::GetStreetRequest>,
        ) -> Result<Response<pb::StreetDocument>, Status> {
            let mut doc = self.doc.lock().unwrap();
            let view = StreetView::read(&doc);
            Ok(Response::new(street_convert::street_document(
                view,
                street::heads_hex(&mut doc),
            )))
        }
        async fn put_street_record(
            &self,
            req: Request<pb::PutStreetRecordRequest>,
        ) -> Result<Response<pb::StreetRecord>, Status> {
            let mut rec = street_convert::put_request_record(req.into_inner())
                .map_err(|e| Status::invalid_argument(e.to_string()))?;
            if rec.id().is_empty() {
                let mut n = self.next.lock().unwrap();
                *n += 1;
                if let Some(id) = rec.kind().new_id([*n; 8]) {
                    rec.set_id(id);
                }
            }
            let stored =
                street::put(&mut self.doc.lock().unwrap(), rec, NOW, "put").map_err(status)?;
            Ok(Response::new(stored.into()))
        }
        async fn remove_street_record(
            &self,
            req: Request<pb::RemoveStreetRecordRequest>,
        ) -> Result<Response<pb::StreetRecord>, Status> {
            let req = req.into_inner();
            let kind = street_convert::street_kind(req.kind)
                .map_err(|e| Status::invalid_argument(e.to_string()))?;
            let removed = street::remove(&mut self.doc.lock().unwrap(), kind, &req.id, NOW)
                .map_err(status)?;
            Ok(Response::new(removed.into()))
        }
        async fn dispatch_ticket(
            &self,
            req: Request<pb::DispatchTicketRequest>,
        ) -> Result<Response<office_pb::Ticket>, Status> {
            let mut t = req
                .into_inner()
                .ticket
                .ok_or_else(|| Status::invalid_argument("ticket: is required"))?;
            t.id = "tk_1".into();
            Ok(Response::new(t))
        }
    }

    async fn fake() -> StreetApi {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let svc = StreetServer::new(FakeCoordinator {
            doc: Mutex::new(gridsync_core::docs::genesis(
                &DocId::Street,
                ActorId::from(&[1u8; 16][..]),
            )),
            next: Mutex::new(0),
        });
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(svc)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        StreetClient::with_interceptor(
            channel,
            gridsync_sync::tls::TokenInterceptor::new(&gridsync_sync::tls::ClientAuth::None)
                .unwrap(),
        )
    }

    async fn doc(c: &StreetApi) -> StreetView {
        StreetView::from(
            c.clone()
                .get_street(pb::GetStreetRequest {})
                .await
                .unwrap()
                .into_inner(),
        )
    }

    #[tokio::test]
    async fn the_runner_writes_reads_and_removes_through_the_api() {
        let c = fake().await;
        for args in [
            &["community", "add", "--id", "c01", "--name", "桐柏路社区"][..],
            &[
                "risk",
                "add",
                "--region",
                "湖北省",
                "--level",
                "high",
                "--from",
                "2020-01-23",
            ],
            &["notice", "add", "--title", "T", "--body", "B"],
            &[
                "taskforce",
                "add",
                "--name",
                "卡口专班",
                "--member",
                "张伟",
                "--member",
                "李娜",
            ],
            &[
                "dispatch-ticket",
                "--community",
                "c01",
                "--category",
                "X",
                "--summary",
                "S",
                "--caller-phone",
                "13800138000",
            ],
        ] {
            run(parse(args).unwrap(), c.clone(), false).await.unwrap();
            run(parse(args).unwrap(), c.clone(), true).await.unwrap();
        }
        run(parse(&["communities"]).unwrap(), c.clone(), false)
            .await
            .unwrap();
        run(parse(&["show"]).unwrap(), c.clone(), false)
            .await
            .unwrap();
        run(parse(&["show"]).unwrap(), c.clone(), true)
            .await
            .unwrap();
        let v = doc(&c).await;
        assert_eq!(v.communities.len(), 1);
        // Added twice without an id: two records.
        assert_eq!(v.risk_regions.len(), 2);
        assert_eq!(v.notices.len(), 2);
        assert_eq!(v.notices[0].published_at_ms, NOW);
        assert_eq!(v.task_forces[0].members, ["张伟", "李娜"]);

        let rr = v.risk_regions[0].id.clone();
        run(parse(&["risk", "remove", &rr]).unwrap(), c.clone(), false)
            .await
            .unwrap();
        assert_eq!(doc(&c).await.risk_regions.len(), 1);
        let e = run(parse(&["risk", "remove", &rr]).unwrap(), c.clone(), false)
            .await
            .unwrap_err();
        assert!(format!("{e:#}").starts_with("not found: "), "{e:#}");
        let e = run(
            parse(&[
                "risk",
                "add",
                "--region",
                "R",
                "--level",
                "low",
                "--from",
                "2020-02-01",
                "--to",
                "2020-01-01",
            ])
            .unwrap(),
            c.clone(),
            false,
        )
        .await
        .unwrap_err();
        assert!(format!("{e:#}").contains("risk_region.to"), "{e:#}");
        let e = run(
            parse(&["community", "add", "--id", "C 1", "--name", "x"]).unwrap(),
            c.clone(),
            false,
        )
        .await
        .unwrap_err();
        assert!(format!("{e:#}").contains("community.id"), "{e:#}");
    }
}
