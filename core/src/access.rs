//! Who may do what to which document: the street's access rules, as pure
//! functions of an authenticated [`Principal`] and a [`DocId`].
//!
//! The rules (DESIGN.md, Security): a node may write only its own
//! community's documents and may read the street document; it never
//! receives another community's documents, not even their ids. Operators
//! alone write the street document, and only through the operator API.

use std::fmt;
use std::str::FromStr;

use crate::ids::{CommunityId, DocId};

/// An authenticated peer. Made by the transport (a client certificate from
/// the street's CA, or a development token), never from what a peer says
/// about itself.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Principal {
    /// A community office's node, bound to one community.
    Node(CommunityId),
    /// A street operator, by name.
    Operator(String),
}

/// What a principal may do with one document over the sync protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncAccess {
    /// Send and receive changes.
    ReadWrite,
    /// Receive changes; any change it sends is refused.
    ReadOnly,
    /// Neither; the document's id is not even disclosed.
    Denied,
}

impl Principal {
    /// The sync access of this principal to `doc`.
    pub fn sync_access(&self, doc: &DocId) -> SyncAccess {
        match (self, doc) {
            (Principal::Node(_), DocId::Street) => SyncAccess::ReadOnly,
            (Principal::Node(c), d) if d.community() == Some(c) => SyncAccess::ReadWrite,
            _ => SyncAccess::Denied,
        }
    }

    /// Whether this principal may write the street document (through the
    /// operator API).
    pub fn may_write_street(&self) -> bool {
        matches!(self, Principal::Operator(_))
    }

    pub fn community(&self) -> Option<&CommunityId> {
        match self {
            Principal::Node(c) => Some(c),
            Principal::Operator(_) => None,
        }
    }
}

/// The text form used in certificates and token files:
/// `node:<community>` or `operator:<name>`.
impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::Node(c) => write!(f, "node:{c}"),
            Principal::Operator(n) => write!(f, "operator:{n}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a principal: write node:<community id> or operator:<name> (name: letters, digits, '-', '_', '.', at most 64)"
)]
pub struct PrincipalParseError(pub String);

impl FromStr for Principal {
    type Err = PrincipalParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || PrincipalParseError(s.to_string());
        match s.split_once(':') {
            Some(("node", c)) => CommunityId::parse(c)
                .map(Principal::Node)
                .map_err(|_| err()),
            Some(("operator", n))
                if !n.is_empty()
                    && n.len() <= 64
                    && n.chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch)) =>
            {
                Ok(Principal::Operator(n.to_string()))
            }
            _ => Err(err()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Day;

    fn c(s: &str) -> CommunityId {
        CommunityId::parse(s).unwrap()
    }

    #[test]
    fn nodes_write_their_own_read_the_street_and_see_nothing_else() {
        let node = Principal::Node(c("c01"));
        let day = Day::from_ymd_opt(2026, 11, 29).unwrap();
        assert_eq!(
            node.sync_access(&DocId::Registry(c("c01"))),
            SyncAccess::ReadWrite
        );
        assert_eq!(
            node.sync_access(&DocId::Activity(c("c01"), day)),
            SyncAccess::ReadWrite
        );
        assert_eq!(node.sync_access(&DocId::Street), SyncAccess::ReadOnly);
        assert_eq!(
            node.sync_access(&DocId::Cases(c("c02"))),
            SyncAccess::Denied
        );
        assert!(!node.may_write_street());
        let op = Principal::Operator("alice".into());
        assert_eq!(op.sync_access(&DocId::Street), SyncAccess::Denied);
        assert!(op.may_write_street());
    }

    #[test]
    fn principals_round_trip_through_text() {
        for s in ["node:c01", "operator:alice.w"] {
            assert_eq!(s.parse::<Principal>().unwrap().to_string(), s);
        }
        for bad in [
            "",
            "node:",
            "node:A B",
            "admin:x",
            "operator:",
            "operator:a b",
            "c01",
        ] {
            assert!(bad.parse::<Principal>().is_err(), "{bad}");
        }
    }
}
