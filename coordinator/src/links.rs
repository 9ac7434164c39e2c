//! [`Links`]: each community's link as the coordinator sees it (in memory;
//! the last sync per document is also in the store's sync states), and the
//! operators' list of communities built from it.
//!
//! The one definition of the words every output uses (operators' list,
//! rollup stamps, gridctl):
//! - **last heard**: the last frame of any kind from the node;
//! - **fresh**: a session is open, the node was heard within the liveness
//!   window, and every head it last reported (handshake, heartbeats, sync
//!   messages) is held here ([`CommunityStatus::fresh`]);
//! - **last in sync**: what the figures are known to include: now while
//!   fresh, else the oldest of the documents' last syncs
//!   ([`CommunityStatus::last_in_sync_ms`]).

use std::collections::{BTreeMap, BTreeSet};

use gridsync_core::access::Principal;
use gridsync_core::street::StreetView;
use gridsync_core::sync::DocHeads;
use gridsync_core::{CommunityId, DocId};
use gridsync_store::StoreError;

use crate::docs::SharedStore;

/// A community's link.
#[derive(Clone, Debug, Default)]
pub struct LinkRecord {
    pub connected: bool,
    pub changed_ms: Option<i64>,
    pub software_version: String,
    pub last_error: Option<String>,
    /// Per document: last time both sides held the same heads, and whether
    /// they did at the last message.
    pub docs: BTreeMap<DocId, (Option<i64>, bool)>,
    /// Sessions opened since the coordinator started.
    pub sessions: u64,
    /// The last frame of any kind from the node (Unix ms).
    pub last_heard_ms: Option<i64>,
    /// The session's liveness window, ms; `None` for a node that sends no
    /// heartbeats (only its keep-alive ends a dead session).
    pub window_ms: Option<i64>,
    /// The heads the node last reported for each of its documents.
    pub node_heads: DocHeads,
    /// Its documents whose last reported heads are not all held here.
    pub ahead: BTreeSet<DocId>,
    /// When the node last reported its heads (handshake or heartbeat).
    pub node_reported_ms: Option<i64>,
}

/// One community in the operators' list.
#[derive(Clone, Debug)]
pub struct CommunityStatus {
    pub id: CommunityId,
    pub name: String,
    pub registered: bool,
    pub docs: u32,
    pub docs_behind: u32,
    pub last_sync_ms: Option<i64>,
    /// The oldest of its documents' last syncs: what every document held
    /// here is known to include; `None` if one never synced.
    pub oldest_sync_ms: Option<i64>,
    pub link: LinkRecord,
}

impl CommunityStatus {
    /// Fresh: a session is open, the node was heard within the liveness
    /// window, and every head it last reported is held here.
    pub fn fresh(&self, now_ms: i64) -> bool {
        let l = &self.link;
        l.connected
            && l.window_ms.is_none_or(|w| {
                l.last_heard_ms
                    .is_some_and(|t| now_ms.saturating_sub(t) <= w)
            })
            && l.ahead.is_empty()
    }

    /// Last in sync: the time up to which the figures are known to include
    /// everything the node had: now while fresh, else the oldest of the
    /// documents' last syncs (`None` if one never synced).
    pub fn last_in_sync_ms(&self, now_ms: i64) -> Option<i64> {
        if self.fresh(now_ms) {
            Some(now_ms)
        } else {
            self.oldest_sync_ms
        }
    }
}

/// The peer name under which a node's sync states are stored.
pub fn peer_name(c: &CommunityId) -> String {
    Principal::Node(c.clone()).to_string()
}

/// Every community's link.
#[derive(Clone, Default)]
pub struct Links(BTreeMap<CommunityId, LinkRecord>);

impl Links {
    /// A session of `c` got through its handshake; `node_docs` are the
    /// heads its Hello stated and `held` the heads of its documents held
    /// here. A document whose heads are equal on both sides is in sync as
    /// of now, though no message will be exchanged for it; anything else is
    /// behind until a message says otherwise, whatever an earlier session
    /// left recorded.
    #[allow(clippy::too_many_arguments)]
    pub fn opened(
        &mut self,
        c: &CommunityId,
        version: &str,
        node_docs: &DocHeads,
        held: &DocHeads,
        ahead: BTreeSet<DocId>,
        window_ms: Option<i64>,
        now_ms: i64,
    ) {
        let mut docs: BTreeMap<DocId, bool> = held
            .iter()
            .map(|(id, h)| (id.clone(), node_docs.get(id) == Some(h)))
            .collect();
        for id in node_docs.keys() {
            docs.entry(id.clone()).or_insert(false);
        }
        let l = self.0.entry(c.clone()).or_default();
        l.connected = true;
        l.changed_ms = Some(now_ms);
        l.software_version = version.to_string();
        l.last_error = None;
        l.sessions += 1;
        l.last_heard_ms = Some(now_ms);
        l.window_ms = window_ms;
        l.node_heads = node_docs.clone();
        l.ahead = ahead;
        l.node_reported_ms = Some(now_ms);
        for (id, equal) in docs {
            let entry = l.docs.entry(id).or_default();
            if equal {
                *entry = (Some(now_ms), true);
            } else {
                entry.1 = false;
            }
        }
    }

    /// A message of `c`'s session about `id` was received and committed;
    /// it stated the node's heads of `id` (`node_heads`), all held here or
    /// not (`held`).
    pub fn received(
        &mut self,
        c: &CommunityId,
        id: &DocId,
        in_sync: bool,
        node_heads: Vec<automerge::ChangeHash>,
        held: bool,
        now_ms: i64,
    ) {
        let link = self.0.entry(c.clone()).or_default();
        let entry = link.docs.entry(id.clone()).or_default();
        entry.1 = in_sync;
        if in_sync {
            entry.0 = Some(now_ms);
        }
        link.node_heads.insert(id.clone(), node_heads);
        if held {
            link.ahead.remove(id);
        } else {
            link.ahead.insert(id.clone());
        }
    }

    /// A frame of `c`'s current session was heard.
    pub fn heard(&mut self, c: &CommunityId, now_ms: i64) {
        if let Some(l) = self.0.get_mut(c) {
            l.last_heard_ms = Some(now_ms);
        }
    }

    /// `c`'s heartbeat reported its heads: `changed` are the documents
    /// whose heads it stated anew, each held here or not.
    pub fn reported(
        &mut self,
        c: &CommunityId,
        changed: &DocHeads,
        held: &BTreeMap<DocId, bool>,
        now_ms: i64,
    ) {
        let Some(l) = self.0.get_mut(c) else { return };
        l.node_reported_ms = Some(now_ms);
        for (id, heads) in changed {
            l.node_heads.insert(id.clone(), heads.clone());
            if held.get(id).copied().unwrap_or(false) {
                l.ahead.remove(id);
            } else {
                l.ahead.insert(id.clone());
            }
        }
    }

    /// The session of `c` ended. Documents in sync when it ended were in
    /// sync until the node was last heard.
    pub fn closed(&mut self, c: &CommunityId, error: Option<String>, now_ms: i64) {
        let l = self.0.entry(c.clone()).or_default();
        if l.connected {
            let until = l.last_heard_ms.unwrap_or(now_ms).min(now_ms);
            for (last, in_sync) in l.docs.values_mut() {
                if *in_sync {
                    *last = Some(until);
                }
            }
        }
        l.connected = false;
        l.changed_ms = Some(now_ms);
        l.last_error = error;
    }

    /// Every community the coordinator knows (registered in `street`,
    /// holding documents (`held`: each community's stored documents), or
    /// linked), with its link and stored sync times.
    pub fn communities(
        &self,
        street: &StreetView,
        held: &BTreeMap<CommunityId, Vec<DocId>>,
        store: &SharedStore,
    ) -> Result<Vec<CommunityStatus>, StoreError> {
        let mut ids: BTreeMap<CommunityId, Option<String>> = BTreeMap::new();
        for sc in &street.communities {
            if let Ok(c) = CommunityId::parse(&sc.id) {
                ids.insert(c, Some(sc.name.clone()));
            }
        }
        for (c, docs) in held {
            if !docs.is_empty() {
                ids.entry(c.clone()).or_insert(None);
            }
        }
        for c in self.0.keys() {
            ids.entry(c.clone()).or_insert(None);
        }
        let none = Vec::new();
        let mut out = Vec::new();
        for (c, name) in ids {
            let link = self.0.get(&c).cloned().unwrap_or_default();
            let docs: &Vec<DocId> = held.get(&c).unwrap_or(&none);
            // The stored sync states only for a document this run has not
            // synced (a street report reads every community's status, and
            // the store's lock is the writers' too).
            let stored = if docs
                .iter()
                .all(|id| link.docs.get(id).is_some_and(|(last, _)| last.is_some()))
            {
                Default::default()
            } else {
                store.lock().sync_states(&peer_name(&c))?
            };
            let mut last_sync_ms = None;
            let mut oldest_sync_ms = docs.first().map(|_| i64::MAX);
            let mut behind = 0;
            for id in docs {
                let (mem_last, mem_in_sync) = link.docs.get(id).cloned().unwrap_or_default();
                let last = mem_last.or(stored.get(id).and_then(|p| p.last_sync_ms));
                last_sync_ms = last_sync_ms.max(last);
                oldest_sync_ms = match (oldest_sync_ms, last) {
                    (Some(o), Some(l)) => Some(o.min(l)),
                    _ => None,
                };
                if !(mem_in_sync || (!link.docs.contains_key(id) && last.is_some())) {
                    behind += 1;
                }
            }
            out.push(CommunityStatus {
                registered: name.is_some(),
                name: name.unwrap_or_default(),
                id: c,
                docs: docs.len() as u32,
                docs_behind: behind,
                last_sync_ms,
                oldest_sync_ms,
                link,
            });
        }
        Ok(out)
    }
}
