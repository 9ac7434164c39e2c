//! # gridsync-sync
//!
//! How a node and the coordinator talk: the session loop that carries
//! Automerge sync messages for many documents over one gRPC stream, the
//! handshake before it, and who each side is (identity and mutual TLS).
//!
//! - [`session`]: the loop ([`session::run`]) and [`SyncHost`], where a
//!   session's documents live (the node's office, the street's replicas).
//! - [`handshake`]: the `Hello` and `Welcome` frames and each side's checks
//!   of the other's.
//! - [`identity`]: the [`Principal`](gridsync_core::access::Principal) of a
//!   peer, from its client certificate (or, in development only, a token).
//! - [`tls`]: loading TLS material, the rustls settings of both ends.
//! - [`accept`]: accepting connections with caps and deadlines (TLS
//!   handshake, HTTP/2 preface), so no idle peer holds a door open.
//! - [`issue`] (feature `issue`): making the street CA and the
//!   certificates it signs (`gridctl certs`).
//! - [`SessionError`]: why a session ended, and what the peer is told.
//!
//! ## What it refuses to do
//!
//! It decides nothing about documents (that is `gridsync_core::sync`) and
//! stores nothing itself (the host does, before the loop answers: so an
//! answer, which tells the peer our heads, is an acknowledgement of
//! durability). It never trusts what a peer says about itself: identity
//! comes from the transport.

pub mod accept;
pub mod error;
pub mod handshake;
pub mod identity;
#[cfg(feature = "issue")]
pub mod issue;
pub mod session;
pub mod tls;

pub use error::SessionError;
pub use session::{SharedHost, SyncHost};
