//! The `Street` operator API: the communities with their link state, the
//! street document, and hotline tickets dispatched to communities. Only an
//! authenticated operator may call it; a node gets `PermissionDenied`.

use std::sync::Arc;

use gridsync_core::access::Principal;
use gridsync_core::{CommunityId, Ticket};
use gridsync_proto::request::{render_report, report_format, rollup_date, rollup_tz};
use gridsync_proto::rollup::v1 as rpb;
use gridsync_proto::rollup_convert::report_to_pb;
use gridsync_proto::street::v1 as pb;
use gridsync_proto::street_convert;
use gridsync_svc::{ApiError, Clock};
use gridsync_sync::identity::{Authenticator, authenticate};
use tonic::{Request, Response, Status};

use crate::replicas::StreetReplicas;
use crate::rollups::community_report;
use crate::sync_service::ReplicasHandle;

#[derive(Clone)]
pub struct OperatorService {
    replicas: ReplicasHandle,
    auth: Arc<Authenticator>,
    clock: Clock,
}

impl OperatorService {
    pub fn new(replicas: ReplicasHandle, auth: Arc<Authenticator>, clock: Clock) -> Self {
        Self {
            replicas,
            auth,
            clock,
        }
    }

    /// The operator's name, or `PermissionDenied` for anyone else.
    fn operator<T>(&self, req: &Request<T>) -> Result<String, ApiError> {
        match authenticate(req, &self.auth)? {
            Principal::Operator(name) => Ok(name),
            other => Err(ApiError::Denied(format!(
                "{other} is not an operator: the Street API is for the street's operators"
            ))),
        }
    }

    /// Runs `f` on the replicas on the blocking pool; its error is
    /// answered with the status `ApiError` maps it to.
    async fn run<T, F>(&self, f: F) -> Result<T, Status>
    where
        T: Send + 'static,
        F: FnOnce(&StreetReplicas) -> Result<T, ApiError> + Send + 'static,
    {
        let r = self.replicas.clone();
        gridsync_svc::on_pool(move || f(&r))
            .await
            .map_err(ApiError::from)?
            .map_err(Status::from)
    }
}

#[tonic::async_trait]
impl pb::street_server::Street for OperatorService {
    async fn get_rollup(
        &self,
        req: Request<rpb::RollupRequest>,
    ) -> Result<Response<rpb::Rollup>, Status> {
        self.operator(&req)?;
        let req = req.into_inner();
        let now = self.clock.now_ms();
        self.run(move |r| {
            let tz = rollup_tz(&req.tz, r.config().tz)?;
            let as_of = rollup_date("as_of", &req.as_of, tz, now)?;
            let report = r.street_report(as_of, tz, now)?;
            report_to_pb(&report, &req.path, req.depth, r.stale_after_ms())
                .map(Response::new)
                .ok_or_else(|| {
                    ApiError::NotFound(format!(
                        "nothing at {:?} in the street's rollup (ids from the community down; \"-\" names an unplaced part)",
                        req.path.join("/")
                    ))
                })
        })
        .await
    }

    async fn get_daily_report(
        &self,
        req: Request<rpb::DailyReportRequest>,
    ) -> Result<Response<rpb::DailyReport>, Status> {
        self.operator(&req)?;
        let req = req.into_inner();
        let format = report_format(req.format).map_err(ApiError::from)?;
        let now = self.clock.now_ms();
        self.run(move |r| {
            let tz = rollup_tz(&req.tz, r.config().tz)?;
            let as_of = rollup_date("date", &req.date, tz, now)?;
            let street = r.street_report(as_of, tz, now)?;
            let report = if req.community_id.is_empty() {
                street
            } else {
                community_report(&street, &req.community_id).ok_or_else(|| {
                    ApiError::NotFound(format!(
                        "community {:?} is not in this street",
                        req.community_id
                    ))
                })?
            };
            Ok(Response::new(render_report(&report, format)))
        })
        .await
    }

    async fn list_communities(
        &self,
        req: Request<pb::ListCommunitiesRequest>,
    ) -> Result<Response<pb::ListCommunitiesReply>, Status> {
        self.operator(&req)?;
        let now = self.clock.now_ms();
        let list = self.run(|r| Ok(r.communities()?)).await?;
        let communities = list
            .into_iter()
            .map(|c| {
                // The same words as the rollup's stamp (crate::links).
                let fresh = c.fresh(now);
                let last_in_sync = c.last_in_sync_ms(now);
                pb::CommunityLink {
                    community_id: c.id.to_string(),
                    name: c.name,
                    registered: c.registered,
                    connected: c.link.connected,
                    link_changed_ms: c.link.changed_ms.unwrap_or(0),
                    last_sync_ms: last_in_sync.unwrap_or(0),
                    lag_ms: last_in_sync.map_or(-1, |t| (now - t).max(0)),
                    docs: c.docs,
                    docs_behind: c.docs_behind,
                    software_version: c.link.software_version,
                    last_error: c.link.last_error.unwrap_or_default(),
                    last_heard_ms: c.link.last_heard_ms.unwrap_or(0),
                    fresh,
                    node_docs_ahead: c.link.ahead.len() as u32,
                    node_reported_ms: c.link.node_reported_ms.unwrap_or(0),
                    liveness_window_ms: c.link.window_ms.unwrap_or(0),
                }
            })
            .collect();
        Ok(Response::new(pb::ListCommunitiesReply {
            communities,
            now_ms: now,
        }))
    }

    async fn get_street(
        &self,
        req: Request<pb::GetStreetRequest>,
    ) -> Result<Response<pb::StreetDocument>, Status> {
        self.operator(&req)?;
        let (view, heads) = self
            .run(|r| {
                let heads = r
                    .heads_of(&gridsync_core::DocId::Street)
                    .unwrap_or_default()
                    .iter()
                    .map(|h| h.to_string())
                    .collect();
                Ok((r.street_view()?, heads))
            })
            .await?;
        Ok(Response::new(street_convert::street_document(view, heads)))
    }

    async fn put_street_record(
        &self,
        req: Request<pb::PutStreetRecordRequest>,
    ) -> Result<Response<pb::StreetRecord>, Status> {
        let operator = self.operator(&req)?;
        let rec = street_convert::put_request_record(req.into_inner()).map_err(ApiError::from)?;
        let who = Principal::Operator(operator).to_string();
        let now = self.clock.now_ms();
        let rec = self.run(move |r| Ok(r.put_street(rec, &who, now)?)).await?;
        Ok(Response::new(rec.into()))
    }

    async fn remove_street_record(
        &self,
        req: Request<pb::RemoveStreetRecordRequest>,
    ) -> Result<Response<pb::StreetRecord>, Status> {
        let operator = self.operator(&req)?;
        let req = req.into_inner();
        let kind = street_convert::street_kind(req.kind).map_err(ApiError::from)?;
        if req.id.is_empty() {
            return Err(ApiError::field("id", "must not be empty").into());
        }
        let who = Principal::Operator(operator).to_string();
        let now = self.clock.now_ms();
        let rec = self
            .run(move |r| Ok(r.remove_street(kind, &req.id, &who, now)?))
            .await?;
        Ok(Response::new(rec.into()))
    }

    async fn dispatch_ticket(
        &self,
        req: Request<pb::DispatchTicketRequest>,
    ) -> Result<Response<gridsync_proto::office::v1::Ticket>, Status> {
        let operator = self.operator(&req)?;
        let req = req.into_inner();
        let community = CommunityId::parse(&req.community_id).map_err(ApiError::from)?;
        let ticket: Ticket = req
            .ticket
            .ok_or_else(|| ApiError::field("ticket", "is required"))?
            .try_into()
            .map_err(|e: gridsync_core::FieldError| ApiError::from(e))?;
        let who = Principal::Operator(operator).to_string();
        let now = self.clock.now_ms();
        let ticket = self
            .run(move |r| Ok(r.dispatch_ticket(&community, ticket, &who, now)?))
            .await?;
        Ok(Response::new(ticket.into()))
    }
}
