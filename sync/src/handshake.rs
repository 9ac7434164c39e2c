//! The handshake on the wire: the node's `Hello` (its community, its
//! documents' heads, its frame size) and the coordinator's `Welcome` (its
//! heads of the same documents, its limits), and the checks each side makes
//! of the other's before a session starts.

use gridsync_core::access::{Principal, SyncAccess};
use gridsync_core::sync::{DocHeads, FrameLimits, HeartbeatSettings, PROTOCOL_VERSION};
use gridsync_core::{CommunityId, DocId};
use gridsync_proto::sync::v1 as pb;

use crate::error::SessionError;

/// Documents and heads as the handshake carries them.
pub fn heads_to_pb(heads: &DocHeads) -> Vec<pb::DocHeads> {
    heads
        .iter()
        .map(|(id, h)| pb::DocHeads {
            doc_id: id.to_string(),
            heads: h.iter().map(|c| c.0.to_vec()).collect(),
        })
        .collect()
}

/// Reads a peer's list of documents and heads, refusing what does not parse.
pub fn heads_from_pb(docs: &[pb::DocHeads]) -> Result<DocHeads, SessionError> {
    let mut out = DocHeads::new();
    for (i, d) in docs.iter().enumerate() {
        let id: DocId = d
            .doc_id
            .parse()
            .map_err(|e| SessionError::Protocol(format!("docs[{i}].doc_id: {e}")))?;
        let mut heads = Vec::with_capacity(d.heads.len());
        for (j, h) in d.heads.iter().enumerate() {
            let bytes: [u8; 32] = h.as_slice().try_into().map_err(|_| {
                SessionError::Protocol(format!(
                    "docs[{i}].heads[{j}]: a change hash is 32 bytes, not {}",
                    h.len()
                ))
            })?;
            heads.push(automerge::ChangeHash(bytes));
        }
        heads.sort();
        out.insert(id, heads);
    }
    Ok(out)
}

/// The node's first frame; `heartbeat` is the interval it would like
/// (`None`: it sends no heartbeats).
pub fn hello(
    community: &CommunityId,
    local: &DocHeads,
    limits: &FrameLimits,
    heartbeat: Option<HeartbeatSettings>,
) -> pb::NodeFrame {
    pb::NodeFrame {
        frame: Some(pb::node_frame::Frame::Hello(pb::Hello {
            protocol_version: PROTOCOL_VERSION,
            community_id: community.to_string(),
            docs: heads_to_pb(local),
            software_version: env!("CARGO_PKG_VERSION").to_string(),
            max_frame_bytes: limits.max_frame_bytes as u64,
            heartbeat_interval_ms: heartbeat.map_or(0, |h| h.interval_ms),
        })),
    }
}

/// The heartbeat of a session, as the coordinator settles it from a Hello:
/// its own settings when the node asked for heartbeats, none when it did
/// not (an older node).
pub fn settle_heartbeat(hello: &pb::Hello, ours: HeartbeatSettings) -> Option<HeartbeatSettings> {
    (hello.heartbeat_interval_ms != 0).then_some(ours)
}

/// The coordinator's first frame.
pub fn welcome(
    local: &DocHeads,
    limits: &FrameLimits,
    heartbeat: Option<HeartbeatSettings>,
    time_zone: &str,
) -> pb::CoordinatorFrame {
    pb::CoordinatorFrame {
        frame: Some(pb::coordinator_frame::Frame::Welcome(pb::Welcome {
            protocol_version: PROTOCOL_VERSION,
            docs: heads_to_pb(local),
            max_frame_bytes: limits.max_frame_bytes as u64,
            max_message_bytes: limits.max_message_bytes as u64,
            heartbeat_interval_ms: heartbeat.map_or(0, |h| h.interval_ms),
            heartbeat_misses: heartbeat.map_or(0, |h| h.misses),
            time_zone: time_zone.to_string(),
        })),
    }
}

/// A peer's stated limit, or ours where it states none (0).
pub fn stated_or(stated: u64, ours: usize) -> usize {
    if stated == 0 {
        ours
    } else {
        usize::try_from(stated).unwrap_or(usize::MAX)
    }
}

/// Documents a Hello may list by default: a community's registry, cases
/// and street documents, and five years of days.
pub const MAX_HELLO_DOCS: usize = 2_000;

/// The coordinator's check of a Hello from `principal`: the same protocol,
/// a node, naming its own community, listing only documents it may sync,
/// and at most `max_docs` of them (each is a document the coordinator
/// would open for the session). Returns the community and the heads the
/// node stated.
pub fn check_hello(
    principal: &Principal,
    hello: &pb::Hello,
    max_docs: usize,
) -> Result<(CommunityId, DocHeads), SessionError> {
    if hello.docs.len() > max_docs {
        return Err(SessionError::Limit(format!(
            "the Hello lists {} documents; at most {max_docs} are accepted (max_hello_docs)",
            hello.docs.len()
        )));
    }
    if hello.protocol_version != PROTOCOL_VERSION {
        return Err(SessionError::Incompatible(format!(
            "this coordinator speaks sync protocol {PROTOCOL_VERSION}; the node speaks {}: upgrade the older side",
            hello.protocol_version
        )));
    }
    let Principal::Node(mine) = principal else {
        return Err(SessionError::Denied(format!(
            "{principal} is not a node: only nodes sync; operators use the Street API"
        )));
    };
    if hello.community_id != mine.as_str() {
        return Err(SessionError::Denied(format!(
            "this identity is {principal}, but the Hello names community {}",
            gridsync_core::error::quote(&hello.community_id)
        )));
    }
    let docs = heads_from_pb(&hello.docs)?;
    for id in docs.keys() {
        if principal.sync_access(id) == SyncAccess::Denied {
            return Err(SessionError::Denied(format!(
                "document {id} is not one {principal} may sync"
            )));
        }
    }
    Ok((mine.clone(), docs))
}

/// The node's check of the coordinator's Welcome: the same protocol, the
/// node's own time zone (when the coordinator states one: a node in another
/// zone would name its days' documents differently), and only documents of
/// `community` or the street's. Returns the heads the coordinator stated.
pub fn check_welcome(
    community: &CommunityId,
    welcome: &pb::Welcome,
    time_zone: &str,
) -> Result<DocHeads, SessionError> {
    if !welcome.time_zone.is_empty() && welcome.time_zone != time_zone {
        return Err(SessionError::Incompatible(format!(
            "the street's time zone is {}, this node's is {time_zone}: a day's activity document would be named differently on each side; set tz to {}",
            gridsync_core::error::quote(&welcome.time_zone),
            gridsync_core::error::quote(&welcome.time_zone)
        )));
    }
    if welcome.protocol_version != PROTOCOL_VERSION {
        return Err(SessionError::Incompatible(format!(
            "the coordinator speaks sync protocol {}, this node {PROTOCOL_VERSION}; upgrade the older side",
            welcome.protocol_version
        )));
    }
    let remote = heads_from_pb(&welcome.docs)?;
    for id in remote.keys() {
        if *id != DocId::Street && id.community() != Some(community) {
            return Err(SessionError::Protocol(format!(
                "the coordinator offered document {id}, which is not this community's"
            )));
        }
    }
    Ok(remote)
}
