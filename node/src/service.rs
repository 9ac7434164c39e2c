//! The office API over gRPC: wire types in, `TryFrom` to core types (an
//! error names the field), the work done on the blocking pool against the
//! shared `Office`, core types back out. Errors are `ApiError`s, turned into
//! status codes in one place (`gridsync_svc::error`).

use gridsync_core::{Date, Day, Kind, Record};
use gridsync_proto::office::v1 as pb;
use gridsync_proto::request::{
    MAX_IMPORT_ROWS, render_report, report_format, rollup_date, rollup_tz,
};
use gridsync_proto::rollup::v1 as rpb;
use gridsync_svc::{ApiError, Clock, Shared};
use pb::office_server::Office as OfficeApi;
use tonic::{Request, Response, Status};

use crate::link::{LinkHandle, LinkStatus};
use crate::office::{Office, OfficeError};
use crate::writes::WriteQueue;

/// The shared office: locked only on the blocking pool, never across an
/// `.await` (see `gridsync_svc::blocking`, which also says how it is
/// rebuilt after a request panicked while holding it).
#[derive(Clone)]
pub struct OfficeHandle {
    office: Shared<Office>,
    /// The office API's edits waiting for their group commit.
    writes: WriteQueue,
}

impl OfficeHandle {
    pub fn new(office: Office) -> Self {
        Self {
            office: std::sync::Arc::new(std::sync::Mutex::new(office)),
            writes: WriteQueue::default(),
        }
    }

    /// The shared office, for the link to the coordinator.
    pub fn shared(&self) -> Shared<Office> {
        self.office.clone()
    }

    /// Runs `stage` in the next group commit (see [`crate::writes`]): it
    /// stages an edit (`Office::stage_*`), and its result is answered once
    /// the group is durable.
    pub async fn write<T, F>(&self, now_ms: i64, stage: F) -> Result<T, Status>
    where
        T: Send + 'static,
        F: FnOnce(&mut Office) -> Result<T, ApiError> + Send + 'static,
    {
        self.writes.write(&self.office, now_ms, stage).await
    }

    /// Writes waiting for their group commit.
    pub fn queued_writes(&self) -> usize {
        self.writes.queued()
    }

    /// Runs `f` on the blocking pool with the office locked; its error is
    /// answered with the status `ApiError` maps it to.
    pub async fn run<T, F>(&self, f: F) -> Result<T, Status>
    where
        T: Send + 'static,
        F: FnOnce(&mut Office) -> Result<T, ApiError> + Send + 'static,
    {
        gridsync_svc::blocking(&self.office, f)
            .await
            .map_err(ApiError::from)?
            .map_err(Status::from)
    }
}

fn parse_kind(s: &str) -> Result<Kind, ApiError> {
    // "notice" names a community notice here; the street's own kinds are
    // refused by name.
    if Kind::parse(s.trim()).is_none()
        && gridsync_core::street::StreetKind::parse(s.trim()).is_some()
    {
        return Err(ApiError::Denied(format!(
            "{} is a record of the street document, which is read-only at a node: the street's operators edit it at the coordinator (gridctl street …); read it here with GetStreet",
            gridsync_core::error::quote(s)
        )));
    }
    Kind::parse(s.trim()).ok_or_else(|| {
        ApiError::field(
            "kind",
            format!(
                "{} is not a record kind; use one of {}",
                gridsync_core::error::quote(s),
                Kind::ALL
                    .iter()
                    .map(|k| k.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })
}

fn parse_id(field: &str, s: &str) -> Result<String, ApiError> {
    gridsync_core::ids::check_record_id(field, s)?;
    Ok(s.to_string())
}

fn parse_day(field: &str, s: &str, office: &Office, now: i64) -> Result<Day, ApiError> {
    if s.trim().is_empty() {
        Ok(office.today(now))
    } else {
        Ok(Date::parse(field, s)?.0)
    }
}

fn record_in(r: Option<pb::Record>) -> Result<Record, ApiError> {
    let r = r.ok_or_else(|| ApiError::field("record", "is required"))?;
    Ok(Record::try_from(r)?)
}

fn reply(r: Record) -> Response<pb::RecordReply> {
    Response::new(pb::RecordReply {
        record: Some(r.into()),
    })
}

/// The office API service.
#[derive(Clone)]
pub struct OfficeService {
    office: OfficeHandle,
    link: LinkHandle,
    clock: Clock,
}

impl OfficeService {
    pub fn new(office: OfficeHandle, clock: Clock) -> Self {
        Self {
            office,
            link: LinkHandle::default(),
            clock,
        }
    }

    fn link_snapshot(&self) -> LinkStatus {
        self.link.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Shows this link's state in the status.
    pub fn with_link(mut self, link: LinkHandle) -> Self {
        self.link = link;
        self
    }
}

/// The link's state for the status reply, with unacknowledged changes
/// counted against the office's documents.
pub fn link_status(o: &mut Office, link: &LinkStatus) -> Result<pb::LinkStatus, OfficeError> {
    let heads = o.sync_heads()?;
    let mut docs = Vec::new();
    let mut total = 0;
    for (id, h) in &heads {
        let d = link.docs.get(&id.to_string()).cloned().unwrap_or_default();
        let pending = if link.configured {
            o.unacknowledged(id, h, d.peer_heads.as_deref())
        } else {
            0
        };
        total += pending;
        docs.push(pb::DocLinkStatus {
            doc_id: id.to_string(),
            last_sync_ms: d.last_sync_ms.unwrap_or(0),
            in_sync: d.in_sync && pending == 0,
            unacknowledged_changes: pending,
        });
    }
    Ok(pb::LinkStatus {
        configured: link.configured,
        connected: link.connected,
        changed_ms: link.changed_ms.unwrap_or(0),
        last_error: link.last_error.clone().unwrap_or_default(),
        attempts: link.attempts,
        sessions: link.sessions,
        docs,
        frames_sent: link.frames_sent,
        frames_received: link.frames_received,
        bytes_sent: link.bytes_sent,
        bytes_received: link.bytes_received,
        unacknowledged_changes: total,
        last_heard_ms: link.last_heard_ms.unwrap_or(0),
        liveness_window_ms: link.liveness_window_ms.unwrap_or(0),
    })
}

/// The largest page of `ListRecords`.
pub const MAX_PAGE: u32 = 5000;

#[tonic::async_trait]
impl OfficeApi for OfficeService {
    async fn get_rollup(
        &self,
        req: Request<rpb::RollupRequest>,
    ) -> Result<Response<rpb::Rollup>, Status> {
        let req = req.into_inner();
        let now = self.clock.now_ms();
        let link = self.link_snapshot();
        self.office
            .run(move |o| {
                let tz = rollup_tz(&req.tz, o.config().tz)?;
                let as_of = rollup_date("as_of", &req.as_of, tz, now)?;
                let report = own_report(o, &link, as_of, tz, now)?;
                let mut path = req.path;
                if path.first().map(String::as_str) != Some(report.tree.id.as_str()) {
                    path.insert(0, report.tree.id.clone());
                }
                gridsync_proto::rollup_convert::report_to_pb(&report, &path, req.depth, 0)
                    .map(Response::new)
                    .ok_or_else(|| {
                        ApiError::NotFound(format!(
                            "nothing at {} in this community",
                            path.join("/")
                        ))
                    })
            })
            .await
    }

    async fn get_street_summary(
        &self,
        _: Request<rpb::StreetSummaryRequest>,
    ) -> Result<Response<rpb::Rollup>, Status> {
        self.office
            .run(|o| {
                let (mut r, received) = o.street_summary().ok_or_else(|| {
                    ApiError::NotFound(
                        "no figures of the street yet: the node has not reported to the coordinator since its store was created"
                            .into(),
                    )
                })?;
                r.received_at_ms = received;
                Ok(Response::new(r))
            })
            .await
    }

    async fn get_daily_report(
        &self,
        req: Request<rpb::DailyReportRequest>,
    ) -> Result<Response<rpb::DailyReport>, Status> {
        let req = req.into_inner();
        let now = self.clock.now_ms();
        let link = self.link_snapshot();
        let format = report_format(req.format).map_err(ApiError::from)?;
        self.office
            .run(move |o| {
                if !req.community_id.is_empty() && req.community_id != o.config().community.as_str()
                {
                    return Err(ApiError::Denied(format!(
                        "this node serves community {} only; ask the coordinator for {}",
                        o.config().community,
                        req.community_id
                    )));
                }
                let tz = rollup_tz(&req.tz, o.config().tz)?;
                let as_of = rollup_date("date", &req.date, tz, now)?;
                let report = own_report(o, &link, as_of, tz, now)?;
                Ok(Response::new(render_report(&report, format)))
            })
            .await
    }

    async fn sign_off_day(
        &self,
        req: Request<rpb::SignOffRequest>,
    ) -> Result<Response<rpb::SignOff>, Status> {
        let req = req.into_inner();
        let now = self.clock.now_ms();
        self.office
            .run(move |o| {
                let tz = rollup_tz(&req.tz, o.config().tz)?;
                let date = rollup_date("date", &req.date, tz, now)?;
                let s = o.sign_off(date, tz, &req.signed_by, now)?;
                Ok(Response::new((&s).into()))
            })
            .await
    }

    async fn get_status(
        &self,
        _: Request<pb::GetStatusRequest>,
    ) -> Result<Response<pb::NodeStatus>, Status> {
        let now = self.clock.now_ms();
        let link = self.link_snapshot();
        self.office
            .run(move |o| {
                let link = link_status(o, &link)?;
                let docs = o
                    .doc_infos()?
                    .into_iter()
                    .map(|d| pb::DocStatus {
                        doc_id: d.id.to_string(),
                        heads: d.heads,
                        snapshot_bytes: d.stats.snapshot_bytes,
                        chunk_count: d.stats.chunk_count,
                        chunk_bytes: d.stats.chunk_bytes,
                    })
                    .collect();
                let today = o.today(now);
                let gaps = o.gaps(today, now)?.len() as u64;
                let cfg = o.config();
                Ok(Response::new(pb::NodeStatus {
                    community_id: cfg.community.to_string(),
                    community_name: o
                        .view()
                        .community
                        .as_ref()
                        .map(|c| c.name.clone())
                        .unwrap_or_default(),
                    time_zone: cfg.tz.name().to_string(),
                    today: today.format("%Y-%m-%d").to_string(),
                    counts: Kind::ALL
                        .iter()
                        .filter(|k| k.doc_class() != gridsync_core::DocClass::Activity)
                        .map(|k| pb::KindCount {
                            kind: k.name().into(),
                            count: o.record_count(*k) as u64,
                        })
                        .collect(),
                    docs,
                    gaps,
                    store_bytes: o.store().file_bytes(),
                    schema_version: gridsync_store::STORE_VERSION,
                    version: env!("CARGO_PKG_VERSION").into(),
                    link: Some(link),
                }))
            })
            .await
    }

    async fn create_record(
        &self,
        req: Request<pb::CreateRecordRequest>,
    ) -> Result<Response<pb::RecordReply>, Status> {
        let rec = record_in(req.into_inner().record)?;
        let now = self.clock.now_ms();
        self.office
            .write(now, move |o| Ok(reply(o.stage_create(rec, now)?)))
            .await
    }

    async fn update_record(
        &self,
        req: Request<pb::UpdateRecordRequest>,
    ) -> Result<Response<pb::RecordReply>, Status> {
        let rec = record_in(req.into_inner().record)?;
        let field = format!("{}.id", rec.kind());
        parse_id(&field, rec.id())?;
        let now = self.clock.now_ms();
        self.office
            .write(now, move |o| Ok(reply(o.stage_update(rec, now)?)))
            .await
    }

    async fn remove_record(
        &self,
        req: Request<pb::RemoveRecordRequest>,
    ) -> Result<Response<pb::RecordReply>, Status> {
        let req = req.into_inner();
        let kind = parse_kind(&req.kind)?;
        let id = parse_id("id", &req.id)?;
        let now = self.clock.now_ms();
        self.office
            .write(now, move |o| Ok(reply(o.stage_remove(kind, &id, now)?)))
            .await
    }

    async fn get_record(
        &self,
        req: Request<pb::GetRecordRequest>,
    ) -> Result<Response<pb::RecordReply>, Status> {
        let req = req.into_inner();
        let kind = parse_kind(&req.kind)?;
        let id = parse_id("id", &req.id)?;
        let now = self.clock.now_ms();
        self.office
            .run(move |o| match o.get(kind, &id, now)? {
                Some(r) => Ok(reply(r)),
                None => Err(ApiError::NotFound(format!("no {kind} with id {id:?}"))),
            })
            .await
    }

    async fn list_records(
        &self,
        req: Request<pb::ListRecordsRequest>,
    ) -> Result<Response<pb::ListRecordsReply>, Status> {
        let req = req.into_inner();
        let kind = parse_kind(&req.kind)?;
        if req.limit > MAX_PAGE {
            return Err(
                ApiError::field("limit", format!("{} is more than {MAX_PAGE}", req.limit)).into(),
            );
        }
        let limit = if req.limit == 0 { 500 } else { req.limit } as usize;
        let now = self.clock.now_ms();
        self.office
            .run(move |o| {
                let day = parse_day("day", &req.day, o, now)?;
                // One more than the page tells whether there is a next page.
                let mut recs = o.list(kind, day, &req.after_id, limit + 1, now)?;
                let more = recs.len() > limit;
                recs.truncate(limit);
                let next = if more {
                    recs.last().map(|r| r.id().to_string()).unwrap_or_default()
                } else {
                    String::new()
                };
                Ok(Response::new(pb::ListRecordsReply {
                    records: recs.into_iter().map(Into::into).collect(),
                    next_after_id: next,
                }))
            })
            .await
    }

    async fn get_tree(&self, _: Request<pb::GetTreeRequest>) -> Result<Response<pb::Tree>, Status> {
        self.office
            .run(|o| Ok(Response::new(o.tree().into())))
            .await
    }

    async fn get_household(
        &self,
        req: Request<pb::GetHouseholdRequest>,
    ) -> Result<Response<pb::HouseholdDetail>, Status> {
        let id = parse_id("id", &req.into_inner().id)?;
        self.office
            .run(move |o| {
                let d = o
                    .household(&id)
                    .ok_or_else(|| ApiError::NotFound(format!("no household with id {id:?}")))?;
                Ok(Response::new(pb::HouseholdDetail {
                    household: Some(d.household.into()),
                    residents: d.residents.into_iter().map(Into::into).collect(),
                    compound_name: d.compound_name,
                    building_name: d.building_name,
                    member: d.member.map(Into::into),
                }))
            })
            .await
    }

    async fn get_worklist(
        &self,
        req: Request<pb::GetWorklistRequest>,
    ) -> Result<Response<pb::Worklist>, Status> {
        let req = req.into_inner();
        let group = parse_id("contract_group_id", &req.contract_group_id)?;
        let now = self.clock.now_ms();
        self.office
            .run(move |o| {
                let day = parse_day("day", &req.day, o, now)?;
                let w = o.worklist(&group, day, now)?.ok_or_else(|| {
                    ApiError::NotFound(format!("no contract_group with id {group:?}"))
                })?;
                Ok(Response::new(pb::Worklist {
                    contract_group_id: w.contract_group_id,
                    day: w.day.format("%Y-%m-%d").to_string(),
                    screened: w.screened,
                    items: w
                        .items
                        .into_iter()
                        .map(|i| pb::WorkItem {
                            household_id: i.household_id,
                            label: i.label,
                            building_name: i.building_name,
                            head_name: i.head_name,
                            residents: i.residents,
                            visit_ids: i.visit_ids,
                        })
                        .collect(),
                }))
            })
            .await
    }

    async fn list_overdue_care(
        &self,
        req: Request<pb::ListOverdueCareRequest>,
    ) -> Result<Response<pb::ListOverdueCareReply>, Status> {
        let req = req.into_inner();
        let now = self.clock.now_ms();
        self.office
            .run(move |o| {
                let as_of = parse_day("as_of", &req.as_of, o, now)?;
                let items = o
                    .overdue_care(as_of)
                    .into_iter()
                    .map(|c| pb::OverdueCare {
                        relationship: Some(c.relationship.into()),
                        resident_name: c.resident_name,
                        due_on: c.due_on.format("%Y-%m-%d").to_string(),
                        days_overdue: c.days_overdue,
                    })
                    .collect();
                Ok(Response::new(pb::ListOverdueCareReply { items }))
            })
            .await
    }

    async fn list_open_tickets(
        &self,
        _: Request<pb::ListOpenTicketsRequest>,
    ) -> Result<Response<pb::ListOpenTicketsReply>, Status> {
        let now = self.clock.now_ms();
        self.office
            .run(move |o| {
                let items = o
                    .open_tickets(now)
                    .into_iter()
                    .map(|(t, age)| pb::OpenTicket {
                        ticket: Some(t.into()),
                        age_ms: age,
                    })
                    .collect();
                Ok(Response::new(pb::ListOpenTicketsReply { items }))
            })
            .await
    }

    async fn list_gaps(
        &self,
        req: Request<pb::ListGapsRequest>,
    ) -> Result<Response<pb::ListGapsReply>, Status> {
        let req = req.into_inner();
        let now = self.clock.now_ms();
        self.office
            .run(move |o| {
                let day = parse_day("day", &req.day, o, now)?;
                let gaps = o
                    .gaps(day, now)?
                    .into_iter()
                    .map(|g| pb::Gap::from(&g))
                    .collect();
                Ok(Response::new(pb::ListGapsReply { gaps }))
            })
            .await
    }

    async fn get_street(
        &self,
        _: Request<pb::GetStreetRequest>,
    ) -> Result<Response<gridsync_proto::street::v1::StreetDocument>, Status> {
        self.office
            .run(|o| {
                let view = gridsync_core::street::StreetView::read(o.street_doc());
                let heads = o
                    .sync_heads()?
                    .remove(&gridsync_core::DocId::Street)
                    .unwrap_or_default()
                    .iter()
                    .map(|h| h.to_string())
                    .collect();
                Ok(Response::new(
                    gridsync_proto::street_convert::street_document(view, heads),
                ))
            })
            .await
    }

    async fn import_roster(
        &self,
        req: Request<pb::ImportRosterRequest>,
    ) -> Result<Response<pb::ImportRosterReply>, Status> {
        let rows = req.into_inner().rows;
        if rows.len() > MAX_IMPORT_ROWS {
            return Err(ApiError::field(
                "rows",
                format!(
                    "{} rows in one request; send at most {MAX_IMPORT_ROWS} per request",
                    rows.len()
                ),
            )
            .into());
        }
        let rows: Vec<gridsync_core::roster::RawRow> = rows
            .into_iter()
            .map(gridsync_proto::convert::roster_row_from_pb)
            .collect();
        let now = self.clock.now_ms();
        self.office
            .run(move |o| {
                let rep = o.import(&rows, now)?;
                Ok(Response::new(pb::ImportRosterReply {
                    rows_created: rep.rows_created,
                    rows_updated: rep.rows_updated,
                    rows_unchanged: rep.rows_unchanged,
                    records_created: rep.records_created,
                    errors: rep
                        .errors
                        .into_iter()
                        .map(|e| pb::RowError {
                            line: e.line,
                            column: e.column,
                            reason: e.reason,
                        })
                        .collect(),
                }))
            })
            .await
    }
}

/// The node's own community as a one-community report: its rollup with
/// its stamp (heads, digest, the link's last sync) and sign-off state.
fn own_report(
    o: &mut Office,
    link: &LinkStatus,
    as_of: Day,
    tz: chrono_tz::Tz,
    now: i64,
) -> Result<gridsync_core::report::DailyReport, ApiError> {
    use gridsync_core::report::{DailyReport, ReportStamp};
    use gridsync_core::rollup::{DigestCheck, Stamp};
    let r = o.rollup(as_of, tz, now)?;
    let sign_off = o.sign_off_state(&r);
    let last_sync_ms = link.docs.values().filter_map(|d| d.last_sync_ms).max();
    Ok(DailyReport {
        street_id: String::new(),
        as_of,
        tz: tz.name().to_string(),
        rollup_version: r.rollup_version,
        generated_at_ms: now,
        stamps: vec![ReportStamp {
            stamp: Stamp {
                community_id: r.community_id.clone(),
                heads: r.heads.clone(),
                digest: r.digest.clone(),
                last_sync_ms,
                stale: false,
                held: false,
                digest_check: DigestCheck::Pending,
                unavailable: None,
                link: Default::default(),
            },
            sign_off,
        }],
        conflicts: Vec::new(),
        tree: r.tree,
    })
}
