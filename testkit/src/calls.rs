//! Calls of the office API as tests make them: a refusal panics with its
//! status, and the store's state is compared before and after.

use gridsync_proto::office::v1 as pb;
use pb::office_client::OfficeClient;
use tonic::transport::Channel;

use crate::records::{id_of, kind_of};

/// Creates a record and returns it as stored; panics with the status if
/// refused.
pub async fn create(c: &mut OfficeClient<Channel>, r: pb::Record) -> pb::Record {
    let what = format!("create {} {:?}", kind_of(&r), id_of(&r));
    c.create_record(pb::CreateRecordRequest { record: Some(r) })
        .await
        .unwrap_or_else(|s| panic!("{what}: {:?} {}", s.code(), s.message()))
        .into_inner()
        .record
        .unwrap_or_else(|| panic!("{what}: the reply carries no record"))
}

/// Reads a record; `None` if NOT_FOUND, panics on any other error.
pub async fn get(c: &mut OfficeClient<Channel>, kind: &str, id: &str) -> Option<pb::Record> {
    match c
        .get_record(pb::GetRecordRequest {
            kind: kind.into(),
            id: id.into(),
        })
        .await
    {
        Ok(r) => Some(
            r.into_inner()
                .record
                .unwrap_or_else(|| panic!("get {kind} {id}: the reply carries no record")),
        ),
        Err(s) if s.code() == tonic::Code::NotFound => None,
        Err(s) => panic!("get {kind} {id}: {:?} {}", s.code(), s.message()),
    }
}

/// Every record of `kind` (of `day` for activity kinds; "" is today),
/// following `next_after_id` page by page.
pub async fn list_all(
    c: &mut OfficeClient<Channel>,
    kind: &str,
    day: &str,
    page: u32,
) -> Vec<pb::Record> {
    let mut out = Vec::new();
    let mut after = String::new();
    for _ in 0..100_000 {
        let reply = c
            .list_records(pb::ListRecordsRequest {
                kind: kind.into(),
                day: day.into(),
                limit: page,
                after_id: after.clone(),
            })
            .await
            .unwrap_or_else(|s| panic!("list {kind} {day}: {:?} {}", s.code(), s.message()))
            .into_inner();
        out.extend(reply.records);
        if reply.next_after_id.is_empty() {
            return out;
        }
        after = reply.next_after_id;
    }
    panic!("list {kind}: paging never ended");
}

/// What a node reports of its store: every loaded document's heads and the
/// record count of every kind. Equal before and after a refused request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreState {
    pub heads: Vec<(String, Vec<String>)>,
    pub counts: Vec<(String, u64)>,
}

impl StoreState {
    /// This state with only the documents `other` has (to compare the
    /// documents that existed before a request, ignoring new ones).
    pub fn only_docs_of(mut self, other: &StoreState) -> StoreState {
        self.heads
            .retain(|(d, _)| other.heads.iter().any(|(o, _)| o == d));
        self
    }

    /// The ids of documents in this state that `other` lacks.
    pub fn docs_not_in(&self, other: &StoreState) -> Vec<String> {
        self.heads
            .iter()
            .filter(|(d, _)| !other.heads.iter().any(|(o, _)| o == d))
            .map(|(d, _)| d.clone())
            .collect()
    }

    pub fn heads_of(&self, doc_prefix: &str) -> Vec<(String, Vec<String>)> {
        self.heads
            .iter()
            .filter(|(d, _)| d.starts_with(doc_prefix))
            .cloned()
            .collect()
    }
}

pub async fn store_state(c: &mut OfficeClient<Channel>) -> StoreState {
    let s = c
        .get_status(pb::GetStatusRequest {})
        .await
        .unwrap_or_else(|s| panic!("GetStatus: {:?} {}", s.code(), s.message()))
        .into_inner();
    let mut heads: Vec<(String, Vec<String>)> = s
        .docs
        .into_iter()
        .map(|d| {
            let mut h = d.heads;
            h.sort();
            (d.doc_id, h)
        })
        .collect();
    heads.sort();
    let mut counts: Vec<(String, u64)> = s.counts.into_iter().map(|k| (k.kind, k.count)).collect();
    counts.sort();
    StoreState { heads, counts }
}
