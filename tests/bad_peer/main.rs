//! Peers that break the rules, each refused with a clear status while
//! nothing stored changes.
//!
//! - `identity`: identity over real sockets (mutual TLS, development
//!   tokens): good, missing, foreign and expired credentials; token files;
//!   principals read from certificates; `gridctl certs` writing files.
//! - `access`: every access rule of the sync protocol and every kind of
//!   bad frame.

mod access;
mod identity;
