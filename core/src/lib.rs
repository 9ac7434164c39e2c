//! # gridsync-core
//!
//! The pure core of gridsync: the domain model of a street's grid
//! (street → community → compound → building → contract group → household →
//! resident), its validation, its mapping onto Automerge documents, the
//! replica of one community's documents with the edits that change it, the
//! queries an office asks of it, and the parsing of CSV rosters.
//!
//! ## What it refuses to do
//!
//! It does no IO: no sockets, no files, no SQLite, no tokio, no clock and no
//! randomness. Time (`now_ms`), random bytes for ids and actor ids come in as
//! arguments, so every behaviour here is deterministic and can be driven by
//! plain tests, property tests and simulations.
//!
//! ## Code map
//!
//! - [`access`]: `Principal` and the access rules of the street.
//! - [`arrival`]: a peer's changes read back before they are stored.
//! - [`ids`]: `CommunityId`, `DocId`, `PersonKey` and the id rules.
//! - [`mask`]: phone and ID numbers masked for screens and exports.
//! - [`model`]: the records, as autosurgeon `Reconcile`/`Hydrate` structs.
//! - [`record`]: `Record` and `Kind`, one table of every kind.
//! - [`validate`]: field rules and reference rules, with errors naming the field.
//! - [`docs`]: the Automerge layout: genesis, put/remove/read of records, schema checks.
//! - [`view`]: hydrated views of a community's documents and the gaps in them.
//! - [`gap`]: `Gap`, a record the figures cannot place, and why.
//! - [`replica`]: `CommunityReplica`, the documents of one community and the edits on them.
//! - [`queries`]: the tree, a household, the worklist, overdue care, open tickets.
//! - [`sync`]: the sync decision logic: `SyncSession`, frames and limits, backoff.
//! - [`roster`]: CSV rosters with Chinese or English headers.
//! - [`street`]: the street document: its records, `put`/`remove`, `StreetView`.
//! - [`rollup`]: the five-level rollup, its digest, stamps and the street's tree.
//! - [`signoff`]: a community's sign-off of its daily report.
//! - [`report`]: the daily report (每日上报) as CSV and JSON.
//!
//! Main types: [`CommunityReplica`], [`Record`], [`Edit`], [`CommunityView`], [`Gap`].

pub mod access;
pub mod arrival;
pub mod docs;
pub mod encode;
pub mod error;
pub mod gap;
pub mod ids;
pub mod mask;
pub mod model;
pub mod queries;
pub mod record;
pub mod replica;
pub mod report;
pub mod rollup;
pub mod roster;
pub mod signoff;
pub mod street;
pub mod sync;
pub mod validate;
pub mod view;

pub use docs::SCHEMA_VERSION;
pub use error::{CoreError, FieldError};
pub use ids::{CommunityId, Day, DocId, PersonKey, PersonKeySecret};
pub use model::*;
pub use record::{DocClass, Kind, Record};
pub use replica::{CommunityReplica, Edit, EditContext};
pub use view::{CommunityView, DayView, Gap, GapReason};
