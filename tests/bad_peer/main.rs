//! Peers that break the rules, each refused with a clear status while
//! nothing stored changes.
//!
//! - `identity`: identity over real sockets (mutual TLS, development
//!   tokens): good, missing, foreign and expired credentials; token files;
//!   principals read from certificates; `gridctl certs` writing files.
//! - `access`: every access rule of the sync protocol.
//! - `credentials`: the coordinator refusing missing, expired and foreign
//!   certificates and unknown development tokens.
//! - `bad_frames`: every kind of bad frame.
//! - `hostile`: a node that follows the protocol but sends what would
//!   exhaust the coordinator (operation and inflation bombs, floods of
//!   haves and documents, stalled parts, idle connections, work over the
//!   memory ceiling), refused by name while another community keeps
//!   syncing and memory stays bounded.
//! - `stored`: what a bad peer left in a store before the budgets (an op
//!   bomb as a chunk, in a snapshot): refused by name when loaded, reported
//!   by `gridctl store check`, quarantined by `gridctl store repair`.
//! - `common`: what `access`, `credentials` and `bad_frames` share: hand-made
//!   frames and sessions, and the checks every refusal gets.

mod access;
mod bad_frames;
mod common;
mod credentials;
mod hostile;
mod identity;
mod stored;
