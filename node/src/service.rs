//! The office API over gRPC: wire types in, `TryFrom` to core types (an
//! error names the field), the work done on the blocking pool against the
//! shared `Office`, core types back out. One `From<OfficeError> for Status`.

use std::sync::{Arc, Mutex};

use gridsync_core::queries::Tree;
use gridsync_core::{CoreError, Date, Day, FieldError, GapReason, Kind, Record};
use gridsync_proto::office::v1 as pb;
use gridsync_proto::rollup::v1 as rpb;
use pb::office_server::Office as OfficeApi;
use tonic::{Request, Response, Status};

use crate::link::{LinkHandle, LinkStatus};
use crate::office::{Office, OfficeError};
use crate::store::StoreError;

/// The shared office. A `std::sync::Mutex` is right here: it is only ever
/// locked inside `spawn_blocking`, never across an `.await`, and the work
/// under it (Automerge, SQLite) is blocking anyway.
#[derive(Clone)]
pub struct OfficeHandle(Arc<Mutex<Office>>);

impl OfficeHandle {
    pub fn new(office: Office) -> Self {
        Self(Arc::new(Mutex::new(office)))
    }

    /// The shared office, for the link to the coordinator.
    pub fn shared(&self) -> Arc<Mutex<Office>> {
        self.0.clone()
    }

    /// Runs `f` on the blocking pool with the office locked.
    pub async fn run<T, F>(&self, f: F) -> Result<T, Status>
    where
        T: Send + 'static,
        F: FnOnce(&mut Office) -> Result<T, Status> + Send + 'static,
    {
        let inner = self.0.clone();
        tokio::task::spawn_blocking(move || {
            let mut office = match inner.lock() {
                Ok(o) => o,
                Err(poisoned) => {
                    // A request panicked while holding the office. Memory may
                    // hold half an edit: rebuild it from the store, then go on.
                    let mut o = poisoned.into_inner();
                    inner.clear_poison();
                    tracing::error!(
                        "a request failed inside the node; reloading the community from the store"
                    );
                    o.reload().map_err(|e| {
                        Status::internal(format!(
                            "the community could not be reloaded after a failure: {e}"
                        ))
                    })?;
                    o
                }
            };
            f(&mut office)
        })
        .await
        .map_err(|e| Status::internal(format!("the request failed inside the node: {e}")))?
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl From<OfficeError> for Status {
    fn from(e: OfficeError) -> Self {
        match e {
            OfficeError::Core(e) => core_status(e),
            OfficeError::Store(e) => store_status(e),
        }
    }
}

/// The gRPC code of a core error: `InvalidArgument` naming the fields,
/// `NotFound`, `AlreadyExists`, `FailedPrecondition`; anything else is ours.
/// Shared with the coordinator's services.
pub fn core_status(e: CoreError) -> Status {
    match e {
        CoreError::Invalid(errs) => invalid(&errs),
        e @ CoreError::NotFound { .. } => Status::not_found(e.to_string()),
        e @ CoreError::AlreadyExists { .. } => Status::already_exists(e.to_string()),
        e @ CoreError::Precondition(_) => Status::failed_precondition(e.to_string()),
        e => Status::internal(e.to_string()),
    }
}

/// The gRPC code of a store error: a store too new for this build is a
/// precondition; anything else means the write was not stored.
pub fn store_status(e: StoreError) -> Status {
    match e {
        e @ StoreError::TooNew { .. } => Status::failed_precondition(e.to_string()),
        e => Status::unavailable(format!("the write was not stored: {e}")),
    }
}

fn invalid(errs: &[FieldError]) -> Status {
    Status::invalid_argument(
        errs.iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("; "),
    )
}

fn field_err(e: FieldError) -> Status {
    invalid(&[e])
}

fn parse_kind(s: &str) -> Result<Kind, Status> {
    // "notice" names a community notice here; the street's own kinds are
    // refused by name.
    if Kind::parse(s.trim()).is_none()
        && gridsync_core::street::StreetKind::parse(s.trim()).is_some()
    {
        return Err(Status::permission_denied(format!(
            "{s:?} is a record of the street document, which is read-only at a node: the street's operators edit it at the coordinator (gridctl street …); read it here with GetStreet"
        )));
    }
    Kind::parse(s.trim()).ok_or_else(|| {
        Status::invalid_argument(format!(
            "kind: {s:?} is not a record kind; use one of {}",
            Kind::ALL
                .iter()
                .map(|k| k.name())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

fn parse_id(field: &str, s: &str) -> Result<String, Status> {
    gridsync_core::ids::check_record_id(field, s).map_err(field_err)?;
    Ok(s.to_string())
}

fn parse_day(field: &str, s: &str, office: &Office, now: i64) -> Result<Day, Status> {
    if s.trim().is_empty() {
        Ok(office.today(now))
    } else {
        Date::parse(field, s).map(|d| d.0).map_err(field_err)
    }
}

fn record_in(r: Option<pb::Record>) -> Result<Record, Status> {
    let r = r.ok_or_else(|| Status::invalid_argument("record: is required"))?;
    Record::try_from(r).map_err(field_err)
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
}

impl OfficeService {
    pub fn new(office: OfficeHandle) -> Self {
        Self {
            office,
            link: LinkHandle::default(),
        }
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
    })
}

fn tree_out(t: Tree) -> pb::Tree {
    pb::Tree {
        community: t.community.map(Into::into),
        households: t.households,
        residents: t.residents,
        unplaced_households: t.unplaced_households,
        compounds: t
            .compounds
            .into_iter()
            .map(|c| pb::TreeCompound {
                id: c.id,
                name: c.name,
                households: c.households,
                residents: c.residents,
                buildings: c
                    .buildings
                    .into_iter()
                    .map(|b| pb::TreeBuilding {
                        id: b.id,
                        name: b.name,
                        households: b.households,
                        residents: b.residents,
                        groups: b
                            .groups
                            .into_iter()
                            .map(|g| pb::TreeGroup {
                                contract_group_id: g.contract_group_id,
                                member_name: g.member_name,
                                households: g
                                    .households
                                    .into_iter()
                                    .map(|h| pb::TreeHousehold {
                                        id: h.id,
                                        label: h.label,
                                        head_name: h.head_name,
                                        residents: h.residents,
                                    })
                                    .collect(),
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn gap_code(r: &GapReason) -> &'static str {
    match r {
        GapReason::Unreadable(_) => "unreadable",
        GapReason::MissingReference { .. } => "missing_reference",
        GapReason::NoContractGroup => "no_contract_group",
        GapReason::CompoundMismatch { .. } => "compound_mismatch",
    }
}

/// The most rows one import request may carry.
pub const MAX_IMPORT_ROWS: usize = 2000;
/// The largest page of `ListRecords`.
pub const MAX_PAGE: u32 = 5000;

#[tonic::async_trait]
impl OfficeApi for OfficeService {
    async fn get_rollup(
        &self,
        req: Request<rpb::RollupRequest>,
    ) -> Result<Response<rpb::Rollup>, Status> {
        self.rollup_api(req.into_inner()).await
    }

    async fn get_street_summary(
        &self,
        _: Request<rpb::StreetSummaryRequest>,
    ) -> Result<Response<rpb::Rollup>, Status> {
        self.street_summary_api().await
    }

    async fn get_daily_report(
        &self,
        req: Request<rpb::DailyReportRequest>,
    ) -> Result<Response<rpb::DailyReport>, Status> {
        self.daily_report_api(req.into_inner()).await
    }

    async fn sign_off_day(
        &self,
        req: Request<rpb::SignOffRequest>,
    ) -> Result<Response<rpb::SignOff>, Status> {
        self.sign_off_api(req.into_inner()).await
    }

    async fn get_status(
        &self,
        _: Request<pb::GetStatusRequest>,
    ) -> Result<Response<pb::NodeStatus>, Status> {
        let now = now_ms();
        let link = self.link.lock().unwrap_or_else(|p| p.into_inner()).clone();
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
                    schema_version: crate::store::STORE_VERSION,
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
        let now = now_ms();
        self.office
            .run(move |o| Ok(reply(o.create(rec, now)?)))
            .await
    }

    async fn update_record(
        &self,
        req: Request<pb::UpdateRecordRequest>,
    ) -> Result<Response<pb::RecordReply>, Status> {
        let rec = record_in(req.into_inner().record)?;
        let field = format!("{}.id", rec.kind());
        parse_id(&field, rec.id())?;
        let now = now_ms();
        self.office
            .run(move |o| Ok(reply(o.update(rec, now)?)))
            .await
    }

    async fn remove_record(
        &self,
        req: Request<pb::RemoveRecordRequest>,
    ) -> Result<Response<pb::RecordReply>, Status> {
        let req = req.into_inner();
        let kind = parse_kind(&req.kind)?;
        let id = parse_id("id", &req.id)?;
        let now = now_ms();
        self.office
            .run(move |o| Ok(reply(o.remove(kind, &id, now)?)))
            .await
    }

    async fn get_record(
        &self,
        req: Request<pb::GetRecordRequest>,
    ) -> Result<Response<pb::RecordReply>, Status> {
        let req = req.into_inner();
        let kind = parse_kind(&req.kind)?;
        let id = parse_id("id", &req.id)?;
        let now = now_ms();
        self.office
            .run(move |o| match o.get(kind, &id, now)? {
                Some(r) => Ok(reply(r)),
                None => Err(Status::not_found(format!("no {kind} with id {id:?}"))),
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
            return Err(Status::invalid_argument(format!(
                "limit: {} is more than {MAX_PAGE}",
                req.limit
            )));
        }
        let limit = if req.limit == 0 { 500 } else { req.limit } as usize;
        let now = now_ms();
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
            .run(|o| Ok(Response::new(tree_out(o.tree()))))
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
                    .ok_or_else(|| Status::not_found(format!("no household with id {id:?}")))?;
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
        let now = now_ms();
        self.office
            .run(move |o| {
                let day = parse_day("day", &req.day, o, now)?;
                let w = o.worklist(&group, day, now)?.ok_or_else(|| {
                    Status::not_found(format!("no contract_group with id {group:?}"))
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
        let now = now_ms();
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
        let now = now_ms();
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
        let now = now_ms();
        self.office
            .run(move |o| {
                let day = parse_day("day", &req.day, o, now)?;
                let gaps = o
                    .gaps(day, now)?
                    .into_iter()
                    .map(|g| pb::Gap {
                        kind: g.kind.into(),
                        id: g.id.clone(),
                        code: gap_code(&g.reason).into(),
                        message: g.to_string(),
                    })
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
            return Err(Status::invalid_argument(format!(
                "rows: {} rows in one request; send at most {MAX_IMPORT_ROWS} per request",
                rows.len()
            )));
        }
        let rows: Vec<(u64, Vec<(&'static str, String)>)> = rows
            .into_iter()
            .map(|r| {
                (
                    r.line,
                    vec![
                        ("compound", r.compound),
                        ("building", r.building),
                        ("unit", r.unit),
                        ("door", r.door),
                        ("head_name", r.head_name),
                        ("household_phone", r.household_phone),
                        ("name", r.name),
                        ("id_number", r.id_number),
                        ("gender", r.gender),
                        ("birth_date", r.birth_date),
                        ("relation", r.relation),
                        ("phone", r.phone),
                        ("lives_alone", r.lives_alone),
                        ("contract_member", r.contract_member),
                    ],
                )
            })
            .collect();
        let now = now_ms();
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

// ---- rollups: shared by the node and the coordinator ----

/// The date of a rollup request: `YYYY-MM-DD`, or today in `tz` when empty;
/// no later than tomorrow (a date to come has no figures, and each date
/// asked for is recorded as served).
pub fn rollup_date(field: &str, wire: &str, tz: chrono_tz::Tz, now_ms: i64) -> Result<Day, Status> {
    if wire.trim().is_empty() {
        return gridsync_core::replica::day_of_instant(now_ms, tz)
            .ok_or_else(|| Status::internal("the clock is outside the years 1000-9000"));
    }
    let day = Date::parse(field, wire)
        .map(|d| d.0)
        .map_err(|e| invalid(&[e]))?;
    let today = gridsync_core::replica::day_of_instant(now_ms, tz)
        .ok_or_else(|| Status::internal("the clock is outside the years 1000-9000"))?;
    if day > today + chrono::Days::new(1) {
        return Err(invalid(&[FieldError::new(
            field,
            format!("{wire} is in the future (today is {})", Date(today)),
        )]));
    }
    Ok(day)
}

/// The time zone of a rollup request, or `default` when empty.
pub fn rollup_tz(wire: &str, default: chrono_tz::Tz) -> Result<chrono_tz::Tz, Status> {
    if wire.trim().is_empty() {
        return Ok(default);
    }
    gridsync_proto::rollup_convert::parse_tz("tz", wire).map_err(|e| invalid(&[e]))
}

/// The format of a report request (CSV when unspecified).
pub fn report_format(wire: i32) -> Result<rpb::ReportFormat, Status> {
    match rpb::ReportFormat::try_from(wire) {
        Ok(rpb::ReportFormat::Unspecified) => Ok(rpb::ReportFormat::Csv),
        Ok(f) => Ok(f),
        Err(_) => Err(invalid(&[FieldError::new(
            "format",
            format!("{wire} is not a report format (1 = CSV, 2 = JSON)"),
        )])),
    }
}

/// A report as the requested format, with a file name.
pub fn render_report(
    r: &gridsync_core::report::DailyReport,
    format: rpb::ReportFormat,
) -> rpb::DailyReport {
    let (body, ext) = match format {
        rpb::ReportFormat::Json => (gridsync_core::report::to_json(r), "json"),
        _ => (gridsync_core::report::to_csv(r), "csv"),
    };
    rpb::DailyReport {
        format: format as i32,
        body,
        file_name: format!("report-{}-{}.{ext}", r.tree.id, Date(r.as_of)),
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
) -> Result<gridsync_core::report::DailyReport, Status> {
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
            },
            sign_off,
        }],
        conflicts: Vec::new(),
        tree: r.tree,
    })
}

impl OfficeService {
    fn link_snapshot(&self) -> LinkStatus {
        self.link.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) async fn rollup_api(
        &self,
        req: rpb::RollupRequest,
    ) -> Result<Response<rpb::Rollup>, Status> {
        let now = now_ms();
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
                        Status::not_found(format!(
                            "nothing at {} in this community",
                            path.join("/")
                        ))
                    })
            })
            .await
    }

    pub(crate) async fn street_summary_api(&self) -> Result<Response<rpb::Rollup>, Status> {
        self.office
            .run(|o| {
                let (bytes, received) = o.street_summary().ok_or_else(|| {
                    Status::not_found(
                        "no figures of the street yet: the node has not reported to the coordinator since its store was created",
                    )
                })?;
                let mut r = <rpb::Rollup as prost::Message>::decode(bytes.as_slice())
                    .map_err(|e| Status::internal(format!("the stored street figures do not decode: {e}")))?;
                r.received_at_ms = received;
                Ok(Response::new(r))
            })
            .await
    }

    pub(crate) async fn daily_report_api(
        &self,
        req: rpb::DailyReportRequest,
    ) -> Result<Response<rpb::DailyReport>, Status> {
        let now = now_ms();
        let link = self.link_snapshot();
        let format = report_format(req.format)?;
        self.office
            .run(move |o| {
                if !req.community_id.is_empty() && req.community_id != o.config().community.as_str()
                {
                    return Err(Status::permission_denied(format!(
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

    pub(crate) async fn sign_off_api(
        &self,
        req: rpb::SignOffRequest,
    ) -> Result<Response<rpb::SignOff>, Status> {
        let now = now_ms();
        self.office
            .run(move |o| {
                let tz = rollup_tz(&req.tz, o.config().tz)?;
                let date = rollup_date("date", &req.date, tz, now)?;
                let s = o.sign_off(date, tz, &req.signed_by, now)?;
                Ok(Response::new((&s).into()))
            })
            .await
    }
}
