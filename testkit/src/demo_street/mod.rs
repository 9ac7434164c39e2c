//! A deterministic demo street, written straight into real stores: the
//! seed's street of `DOMAIN.md` (桐柏路街道, six communities and a village,
//! 23 compounds) with a month of daily work, for demonstrations, rollup
//! checks and load tests.
//!
//! The same [`StreetSpec`] gives the same documents, byte for byte: every
//! random choice comes from a `StdRng` seeded from the spec (one stream for
//! the street, one per community), actors are derived from the seed, and
//! every change is stamped with `now_ms`.
//!
//! ## What is generated
//!
//! - The **street document**: the seven communities (so the coordinator
//!   accepts their nodes), risk regions at high, medium and low level, a
//!   notice and six task forces.
//! - Per community, a **registry**: compounds, buildings of about 24
//!   households, contract groups of about 10 households each led by a party
//!   member (self-managed, resident-based, or in service: about 300 in the
//!   street), households (about 0.3% deliberately without a contract group:
//!   gaps to show), residents with valid ID numbers and the street-wide
//!   person key, staff (a grid chief, grid workers per compound, sent-down
//!   staff, a seconded cadre), volunteer teams (11 in the street) and
//!   volunteers. About 3% of the residents are elderly people living alone
//!   with a care relationship.
//!   Five persons are registered in two communities each (same ID number,
//!   so the same person key), for the street's conflict report.
//! - A **cases** document: care relationships (visit every 2 days, their
//!   `last_visit` the day of their latest generated visit; a few overdue),
//!   returnees found by screening (from the street's risk regions and from
//!   elsewhere), home isolations of those from medium- and high-risk regions
//!   (most released, some past their planned end), tickets received over
//!   the month (hotline mostly; most resolved after 0.5–80 hours, some
//!   open) and community notices.
//! - One **activity** document per day of `days` ending at `as_of`:
//!   screening visits (about 93% of households a day; on `as_of` about 60%
//!   and none after `now_ms`), care visits and spot-check inspections (about
//!   2% of households a day, about 95% knowing their member), all between
//!   08:00 and 20:00 Beijing time.
//!
//! Every record meets the core's field and reference rules, but documents
//! are not written through `CommunityReplica::apply` (which validates each
//! record against the whole community) nor with `docs::put_in` in a
//! transaction (Automerge 0.12 splices each operation into its columnar op
//! set as it is made, tens of µs apiece: minutes for a street). Each
//! document is its frozen genesis plus **one change** holding all its
//! records, built as operations in the op set's own order and encoded the
//! way autosurgeon encodes the records (a test compares the two).
//!
//! ## Writing the stores
//!
//! [`seed`] generates community by community (two worker threads) and day
//! by day, turns each document into store bytes as soon as it is complete
//! and drops it, and writes the same bytes with their heads into the
//! community's node store and into the coordinator's store, so node and
//! coordinator start in sync. The working set the services load all the
//! time (registry, cases, today and yesterday, the street document) is
//! stored as a compacted snapshot (`AutoCommit::save`); earlier days as
//! their genesis and generated change chunks, as any edit is stored, which
//! are much cheaper to make and load about 2.5 times slower, on the rare
//! occasion a past day is loaded (the services compact them like any other
//! chunks). The
//! stores are the services' own files ([`NODE_DB_FILE`],
//! [`COORDINATOR_DB_FILE`] in their data directories) and must be empty.
//! [`generate_community`] builds one community in memory instead, for tests.
//!
//! The nodes must be configured with the street's person-key secret
//! ([`SeededStreet::secret_hex`]), time zone Asia/Shanghai, and their
//! community's id, name and kind as reported in [`DemoCommunityInfo`]; the
//! coordinator with street id [`STREET_ID`].

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use automerge::{ActorId, AutoCommit};
use chrono::{Datelike, Days, TimeZone};
use chrono_tz::Tz;
use gridsync_core::docs::{collection_obj, collections, genesis};
use gridsync_core::replica::returnee_id;
use gridsync_core::street::StreetCommunity;
use gridsync_core::validate::id_check_char;
use gridsync_core::*;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use gridsync_store::{Audit, DocWrite, Store, StoreError, StoreKey};

/// The id of the demo street (the coordinator's `street_id`).
pub const STREET_ID: &str = "tongbai-street";
/// The demo street's display name.
pub const STREET_NAME: &str = "桐柏路街道 Tongbai Road Street";
/// The time zone whose days split the activity documents.
pub const TIME_ZONE: Tz = chrono_tz::Asia::Shanghai;
/// The node's store file in its data directory (as `gridsync-node` opens it).
pub const NODE_DB_FILE: &str = "gridsync-node.sqlite3";
/// The coordinator's store file in its data directory.
pub const COORDINATOR_DB_FILE: &str = "gridsync-coordinator.sqlite3";
/// How many persons are registered in two communities.
pub const DUPLICATE_PERSONS: usize = 5;

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreetSpec {
    /// Every random choice follows from it.
    pub seed: u64,
    /// Households of each community (at least 10); residents are about three
    /// times as many.
    pub households_per_community: usize,
    /// Days of activity, ending on `as_of` (1 to 366).
    pub days: u32,
    /// The last day of activity, in Beijing time.
    pub as_of: Day,
    /// Now, Unix ms: no instant is generated after it, and every change is
    /// stamped with it. Must not be before the start of `as_of`.
    pub now_ms: i64,
}

impl StreetSpec {
    /// The standard street: 3,000 households per community, 30 days.
    pub fn standard(seed: u64, as_of: Day, now_ms: i64) -> Self {
        StreetSpec {
            seed,
            households_per_community: 3000,
            days: 30,
            as_of,
            now_ms,
        }
    }

    fn first_day(&self) -> Day {
        self.as_of - Days::new(u64::from(self.days.saturating_sub(1)))
    }

    fn check(&self) -> Result<(), DemoStreetError> {
        let bad = |s: String| Err(DemoStreetError::Spec(s));
        if self.households_per_community < 10 {
            return bad(format!(
                "households_per_community is {}; at least 10 are needed to fill the compounds",
                self.households_per_community
            ));
        }
        if !(1..=366).contains(&self.days) {
            return bad(format!("days is {}; give 1 to 366", self.days));
        }
        if self.first_day().year() < 2001 || self.as_of.year() > 8999 {
            return bad(format!(
                "as_of {} is out of range (activity from 2001 to 8999)",
                self.as_of
            ));
        }
        if self.now_ms < day_start_ms(self.as_of) {
            return bad(format!(
                "now_ms {} is before the start of as_of {} in {}; give an as_of no later than today",
                self.now_ms,
                self.as_of,
                TIME_ZONE.name()
            ));
        }
        Ok(())
    }
}

/// Why the demo street could not be generated or written.
#[derive(Debug, thiserror::Error)]
pub enum DemoStreetError {
    /// The spec is out of range; the message says which field and why.
    #[error("demo street spec: {0}")]
    Spec(String),
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("store {0} already holds documents; seed the demo street into empty data directories")]
    NotEmpty(PathBuf),
    #[error("a demo street worker thread panicked")]
    Worker,
    /// A generated record or change that Automerge refused: a bug here.
    #[error("generating the demo street: {0}")]
    Generate(String),
}

/// Record counts of a community, or of the whole street.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub compounds: u64,
    pub buildings: u64,
    pub contract_groups: u64,
    pub households: u64,
    /// Households deliberately left without a contract group (gaps).
    pub households_without_group: u64,
    pub residents: u64,
    pub party_members: u64,
    /// Of those, in service elsewhere and reported to the community.
    pub party_members_in_service: u64,
    pub staff: u64,
    pub volunteer_teams: u64,
    pub volunteers: u64,
    /// Residents living alone aged 70 or more, each with a care relationship.
    pub elderly_alone: u64,
    pub care_relationships: u64,
    /// Relationships whose next visit was due before `as_of`.
    pub care_overdue: u64,
    pub care_visits: u64,
    pub screening_visits: u64,
    /// Households screened on `as_of`.
    pub screened_on_as_of: u64,
    pub inspections: u64,
    pub inspections_knew_member: u64,
    pub returnees: u64,
    pub isolations: u64,
    /// Isolations not released at the end of `as_of`, and of those the ones
    /// past their planned end.
    pub isolating: u64,
    pub isolations_past_end: u64,
    pub tickets: u64,
    pub tickets_open: u64,
    pub notices: u64,
    pub activity_days: u64,
}

impl Counts {
    /// Adds `o` into `self`, field by field.
    pub fn add(&mut self, o: &Counts) {
        macro_rules! sum {
            ($($f:ident),*) => { $(self.$f += o.$f;)* };
        }
        sum!(
            compounds,
            buildings,
            contract_groups,
            households,
            households_without_group,
            residents,
            party_members,
            party_members_in_service,
            staff,
            volunteer_teams,
            volunteers,
            elderly_alone,
            care_relationships,
            care_overdue,
            care_visits,
            screening_visits,
            screened_on_as_of,
            inspections,
            inspections_knew_member,
            returnees,
            isolations,
            isolating,
            isolations_past_end,
            tickets,
            tickets_open,
            notices,
            activity_days
        );
    }
}

/// One generated community: what its node must be configured with, and
/// what it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoCommunityInfo {
    pub id: CommunityId,
    pub name: String,
    pub kind: CommunityKind,
    pub compounds: usize,
    pub households: usize,
    pub residents: usize,
    pub counts: Counts,
}

/// Wall time of each phase of [`seed`]. The per-community phases run on
/// two workers at once and are summed over them, so they can add up to
/// more than `total`.
#[derive(Clone, Debug, Default)]
pub struct SeedTimings {
    /// Generating and saving the street document.
    pub street: Duration,
    /// Generating records and their changes (summed over workers).
    pub generate: Duration,
    /// Turning documents into store bytes: applying and saving the working
    /// set, encoding the earlier days' chunks (summed over workers).
    pub save: Duration,
    /// Committing into the node stores (summed over workers).
    pub write_nodes: Duration,
    /// Committing into the coordinator's store.
    pub write_coordinator: Duration,
    pub total: Duration,
}

/// What [`seed`] wrote.
#[derive(Clone, Debug)]
pub struct SeededStreet {
    pub street_id: String,
    pub street_name: String,
    /// The street's person-key secret, hex: every node of the street needs
    /// it (`person_key_secret`) to derive the same keys.
    pub secret_hex: String,
    pub communities: Vec<DemoCommunityInfo>,
    /// The sum over the communities.
    pub counts: Counts,
    /// Persons registered in two communities (same person key).
    pub duplicate_persons: usize,
    /// The number of documents written, each with its heads, into its
    /// node's store and the coordinator's (the street document into all).
    pub documents: usize,
    pub timings: SeedTimings,
}

mod builder;
mod community;
mod names;
mod plan;
mod stores;
mod tree;

use builder::*;
use community::*;
use names::*;
pub use names::{COMMUNITY_COUNT, communities};
use plan::*;
pub use plan::{secret_hex, street_document};
pub use stores::seed;
use stores::*;

// ---- in memory ----

/// One community of the street, in memory: its replica (registry, cases and
/// every day loaded) and what it holds. `index` is its place in
/// [`communities`].
pub fn generate_community(
    spec: &StreetSpec,
    index: usize,
) -> Result<(CommunityReplica, DemoCommunityInfo), DemoStreetError> {
    spec.check()?;
    if index >= COMMUNITY_COUNT {
        return Err(DemoStreetError::Spec(format!(
            "community index {index}: the street has {COMMUNITY_COUNT} communities"
        )));
    }
    let plan = StreetPlan::new(spec);
    let (mut registry, mut cases, mut days) = (None, None, Vec::new());
    let info = build_community(spec, &plan, index, &mut |built| {
        match built.id.clone() {
            DocId::Registry(_) => registry = Some(built.into_doc()?),
            DocId::Cases(_) => cases = Some(built.into_doc()?),
            DocId::Activity(_, d) => days.push((d, built.into_doc()?)),
            DocId::Street => {}
        }
        Ok(())
    })?;
    let (Some(registry), Some(cases)) = (registry, cases) else {
        unreachable!("build_community emits a registry and a cases document");
    };
    let actor = registry.get_actor().clone();
    let mut replica = CommunityReplica::from_docs(
        info.id.clone(),
        actor,
        Some(plan.secret.clone()),
        registry,
        cases,
    )?;
    for (d, doc) in days {
        replica.attach_day(d, doc)?;
    }
    Ok((replica, info))
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::ReadDoc;
    use gridsync_core::docs::put_in;
    use gridsync_core::street::StreetView;

    fn spec() -> StreetSpec {
        let as_of = Day::from_ymd_opt(2026, 11, 29).unwrap();
        StreetSpec {
            seed: 3,
            households_per_community: 400,
            days: 6,
            as_of,
            now_ms: day_start_ms(as_of) + 15 * HOUR_MS,
        }
    }

    fn root(doc: &AutoCommit) -> automerge::hydrate::Value {
        doc.hydrate(automerge::ROOT, None).unwrap()
    }

    /// The builder writes what autosurgeon writes: every generated record,
    /// written again with the core's `put_in` into a fresh genesis, gives
    /// the same document content.
    #[test]
    fn the_builder_encodes_records_as_autosurgeon_does() {
        let spec = spec();
        let (mut replica, info) = generate_community(&spec, 0).unwrap();
        let actor = ActorId::from(&[7u8; 16][..]);
        let v = replica.view().clone();
        let mut registry = genesis(&DocId::Registry(info.id.clone()), actor.clone());
        let mut cases = genesis(&DocId::Cases(info.id.clone()), actor.clone());
        gridsync_core::docs::put_root(&mut registry, "community", v.community.as_ref().unwrap())
            .unwrap();
        macro_rules! rewrite {
            ($doc:expr, $src:expr; $($field:ident: $kind:ident),*) => {$(
                assert!(!$src.$field.is_empty(), "no {} generated", stringify!($field));
                for r in $src.$field.values() {
                    put_in(&mut $doc, Kind::$kind.collection(), &r.id, r).unwrap();
                }
            )*};
        }
        rewrite!(registry, v; compounds: Compound, buildings: Building,
            contract_groups: ContractGroup, households: Household, residents: Resident,
            party_members: PartyMember, staff: Staff, volunteer_teams: VolunteerTeam,
            volunteers: Volunteer);
        rewrite!(cases, v; isolations: Isolation, care_relationships: CareRelationship,
            tickets: Ticket, returnees: Returnee, notices: Notice);
        for (id, doc) in [
            (DocId::Registry(info.id.clone()), &mut registry),
            (DocId::Cases(info.id.clone()), &mut cases),
        ] {
            doc.commit();
            let built = replica.doc_mut(&id).unwrap();
            assert_eq!(root(built), root(doc), "{id}");
        }
        for day in replica.loaded_days() {
            let dv = replica.day_view(day).unwrap().clone();
            let id = DocId::Activity(info.id.clone(), day);
            let mut doc = genesis(&id, actor.clone());
            rewrite!(doc, dv; screening_visits: ScreeningVisit, care_visits: CareVisit,
                inspections: Inspection);
            doc.commit();
            assert_eq!(root(replica.doc_mut(&id).unwrap()), root(&doc), "{id}");
        }

        let built = street_document(&spec).unwrap();
        let sv = StreetView::read(&built);
        let mut doc = genesis(&DocId::Street, actor);
        for r in &sv.communities {
            put_in(&mut doc, "communities", &r.id, r).unwrap();
        }
        for r in &sv.risk_regions {
            put_in(&mut doc, "risk_regions", &r.id, r).unwrap();
        }
        for r in &sv.notices {
            put_in(&mut doc, "notices", &r.id, r).unwrap();
        }
        for r in &sv.task_forces {
            put_in(&mut doc, "task_forces", &r.id, r).unwrap();
        }
        doc.commit();
        assert_eq!(root(&built), root(&doc));
    }

    #[test]
    fn a_spec_out_of_range_is_refused_with_the_reason() {
        let mut s = spec();
        s.households_per_community = 3;
        assert!(matches!(s.check(), Err(DemoStreetError::Spec(m)) if m.contains("households")));
        let mut s = spec();
        s.now_ms = day_start_ms(s.as_of) - 1;
        assert!(matches!(s.check(), Err(DemoStreetError::Spec(m)) if m.contains("now_ms")));
        let mut s = spec();
        s.days = 0;
        assert!(s.check().is_err());
        assert!(generate_community(&spec(), COMMUNITY_COUNT).is_err());
    }
}
