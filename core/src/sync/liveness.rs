//! Liveness of a sync session: the heartbeat both sides send, the window
//! after which a silent peer is taken as gone, and the digest of a side's
//! heads a heartbeat carries (defined exactly in `sync.proto`, so that a node
//! written elsewhere can compute it).

use sha2::{Digest, Sha256};

use super::DocHeads;

/// How often each side sends a heartbeat, and how many intervals without
/// any frame end the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeartbeatSettings {
    pub interval_ms: u32,
    pub misses: u32,
}

impl HeartbeatSettings {
    /// The shortest interval a side may ask for: shorter would make the
    /// heartbeats themselves the traffic.
    pub const MIN_INTERVAL_MS: u32 = 100;
    /// The longest: a window longer than a few minutes is no liveness.
    pub const MAX_INTERVAL_MS: u32 = 60_000;
    pub const MIN_MISSES: u32 = 1;
    pub const MAX_MISSES: u32 = 20;

    /// Checks a configured interval and number of misses; the error says
    /// which is out of range.
    pub fn new(interval_ms: u32, misses: u32) -> Result<Self, String> {
        if !(Self::MIN_INTERVAL_MS..=Self::MAX_INTERVAL_MS).contains(&interval_ms) {
            return Err(format!(
                "heartbeat_interval_ms: {interval_ms} must be between {} and {}",
                Self::MIN_INTERVAL_MS,
                Self::MAX_INTERVAL_MS
            ));
        }
        if !(Self::MIN_MISSES..=Self::MAX_MISSES).contains(&misses) {
            return Err(format!(
                "heartbeat_misses: {misses} must be between {} and {}",
                Self::MIN_MISSES,
                Self::MAX_MISSES
            ));
        }
        Ok(HeartbeatSettings {
            interval_ms,
            misses,
        })
    }

    /// How long a side waits without hearing any frame before it ends the
    /// session.
    pub fn window_ms(&self) -> i64 {
        i64::from(self.interval_ms) * i64::from(self.misses)
    }

    /// What a peer stated in its handshake, made safe to use: an interval
    /// or a number of misses out of range is brought to the nearest bound
    /// (a peer cannot make us send a heartbeat every millisecond, nor hold
    /// a dead session for hours). `None` when the peer stated no interval.
    pub fn settle(interval_ms: u32, misses: u32) -> Option<Self> {
        if interval_ms == 0 {
            return None;
        }
        Some(HeartbeatSettings {
            interval_ms: interval_ms.clamp(Self::MIN_INTERVAL_MS, Self::MAX_INTERVAL_MS),
            misses: misses.clamp(Self::MIN_MISSES, Self::MAX_MISSES),
        })
    }
}

impl Default for HeartbeatSettings {
    /// A heartbeat every 2 s; three missed end the session (6 s).
    fn default() -> Self {
        HeartbeatSettings {
            interval_ms: 2_000,
            misses: 3,
        }
    }
}

/// The digest of a side's heads: SHA-256 over the documents sorted by their
/// id's text (bytewise), for each the id, a 0x00 byte, the number of heads
/// as 4 bytes big-endian, then the heads sorted bytewise.
pub fn heads_digest(heads: &DocHeads) -> [u8; 32] {
    let mut docs: Vec<(String, Vec<[u8; 32]>)> = heads
        .iter()
        .map(|(id, hs)| {
            let mut hs: Vec<[u8; 32]> = hs.iter().map(|h| h.0).collect();
            hs.sort_unstable();
            (id.to_string(), hs)
        })
        .collect();
    docs.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut h = Sha256::new();
    for (id, hs) in &docs {
        h.update(id.as_bytes());
        h.update([0u8]);
        h.update((hs.len() as u32).to_be_bytes());
        for x in hs {
            h.update(x);
        }
    }
    h.finalize().into()
}

/// The documents of `now` whose heads differ from those in `told` (what the
/// peer was last told), with their heads now.
pub fn changed_heads(told: &DocHeads, now: &DocHeads) -> DocHeads {
    now.iter()
        .filter(|(id, hs)| told.get(*id) != Some(*hs))
        .map(|(id, hs)| (id.clone(), hs.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{CommunityId, DocId};
    use automerge::ChangeHash;

    fn heads(pairs: &[(&DocId, &[u8])]) -> DocHeads {
        pairs
            .iter()
            .map(|(id, hs)| {
                (
                    (*id).clone(),
                    hs.iter().map(|b| ChangeHash([*b; 32])).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn the_digest_does_not_depend_on_the_order_of_heads_and_tells_documents_apart() {
        let c = CommunityId::parse("c01").unwrap();
        let reg = DocId::Registry(c.clone());
        let cases = DocId::Cases(c);
        let a = heads(&[(&reg, &[1, 2]), (&cases, &[3])]);
        let b = heads(&[(&reg, &[2, 1]), (&cases, &[3])]);
        assert_eq!(heads_digest(&a), heads_digest(&b));
        // The same heads under the other document differ.
        let swapped = heads(&[(&reg, &[3]), (&cases, &[1, 2])]);
        assert_ne!(heads_digest(&a), heads_digest(&swapped));
        // A document with no heads still counts.
        let empty = heads(&[(&reg, &[1, 2]), (&cases, &[3]), (&DocId::Street, &[])]);
        assert_ne!(heads_digest(&a), heads_digest(&empty));
    }

    #[test]
    fn the_digest_follows_the_definition_in_the_protocol() {
        let reg = DocId::Registry(CommunityId::parse("c01").unwrap());
        let a = heads(&[(&reg, &[9, 7])]);
        let mut bytes = b"registry/c01".to_vec();
        bytes.push(0);
        bytes.extend_from_slice(&2u32.to_be_bytes());
        bytes.extend_from_slice(&[7; 32]);
        bytes.extend_from_slice(&[9; 32]);
        let want: [u8; 32] = Sha256::digest(&bytes).into();
        assert_eq!(heads_digest(&a), want);
    }

    #[test]
    fn changed_heads_lists_only_what_the_peer_was_not_told() {
        let c = CommunityId::parse("c01").unwrap();
        let reg = DocId::Registry(c.clone());
        let cases = DocId::Cases(c);
        let told = heads(&[(&reg, &[1]), (&cases, &[2])]);
        let now = heads(&[(&reg, &[1]), (&cases, &[4]), (&DocId::Street, &[5])]);
        let changed = changed_heads(&told, &now);
        assert_eq!(changed.len(), 2);
        assert!(changed.contains_key(&cases) && changed.contains_key(&DocId::Street));
        assert!(!changed.contains_key(&reg));
        assert!(changed_heads(&now, &now).is_empty());
    }

    #[test]
    fn settings_are_checked_and_a_peers_are_brought_into_range() {
        assert!(HeartbeatSettings::new(2_000, 3).is_ok());
        assert!(
            HeartbeatSettings::new(50, 3)
                .unwrap_err()
                .contains("heartbeat_interval_ms")
        );
        assert!(
            HeartbeatSettings::new(2_000, 0)
                .unwrap_err()
                .contains("heartbeat_misses")
        );
        assert_eq!(HeartbeatSettings::default().window_ms(), 6_000);
        assert_eq!(HeartbeatSettings::settle(0, 3), None);
        let s = HeartbeatSettings::settle(1, 1_000).unwrap();
        assert_eq!((s.interval_ms, s.misses), (100, 20));
    }
}
