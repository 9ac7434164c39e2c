//! # gridsync-proto
//!
//! The wire types and gRPC services of gridsync: the messages of every
//! community record kind (`gridsync.office.v1`) and the office service,
//! generated at build time from the `.proto` files under `proto/` with protox
//! (pure Rust; no system `protoc` is needed) and tonic-prost-build.
//!
//! ## What it refuses to do
//!
//! It holds no business logic: no validation beyond the shape of a message
//! (a required enum left unspecified, a date that is not `YYYY-MM-DD`), no
//! IO and no state. The rules on what a record may contain live in
//! `gridsync-core`, and the serving lives in `gridsync-node`.
//!
//! ## Code map
//!
//! - [`office::v1`]: the office API's messages, clients and servers.
//! - [`sync::v1`]: the sync protocol (`Sync.Session`, frames, handshake).
//! - [`street::v1`]: the operator API (`Street`: communities, street document).
//! - [`rollup::v1`]: the rollup tree, stamps, daily report and sign-off messages.
//! - [`rollup_convert`]: core rollup types → messages, and the node's digest back.
//! - [`street_figures`]: the street's figures as nodes get them: what every
//!   node is sent alike, its tag, and a node's copy brought up to date.
//! - [`convert`]: conversions between the generated messages and the core's
//!   records (`TryFrom<pb::X> for core::X`, `From<core::X> for pb::X`).
//! - [`codec`]: the wire codec (a request that does not decode is
//!   `INVALID_ARGUMENT`).
//! - [`FILE_DESCRIPTOR_SET`]: the encoded descriptors, for gRPC reflection.

/// `gridsync.office.v1`: the community office API.
pub mod office {
    pub mod v1 {
        tonic::include_proto!("gridsync.office.v1");
    }
}

/// `gridsync.sync.v1`: the node ⇄ coordinator sync protocol.
pub mod sync {
    pub mod v1 {
        tonic::include_proto!("gridsync.sync.v1");
    }
}

/// `gridsync.street.v1`: the street operator API of the coordinator.
pub mod street {
    pub mod v1 {
        tonic::include_proto!("gridsync.street.v1");
    }
}

/// `gridsync.rollup.v1`: the rollup, its stamps, the daily report.
pub mod rollup {
    pub mod v1 {
        tonic::include_proto!("gridsync.rollup.v1");
    }
}

pub mod codec;
pub mod convert;
pub mod request;
pub mod rollup_convert;
pub mod street_convert;
pub mod street_figures;

/// The encoded `FileDescriptorSet` of every `.proto` file of this crate,
/// with source info (comments), for `tonic-reflection`.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/gridsync_descriptor.bin"));
