//! The five-level rollup: street → community → compound → building →
//! contract group, as a pure function of (document states, as-of date, time
//! zone).
//!
//! ## Shape
//!
//! A rollup is a tree of [`Node`]s. Every figure is counted at exactly one
//! **leaf** (a contract-group node), and every inner node's figures are the
//! sum of its children's, so "the parent equals the sum of its children"
//! holds at every level by construction. What cannot be placed further down
//! goes to an *unplaced* child (id `""`) of the deepest level that can
//! place it: a ticket assigned to a compound goes to that compound's
//! unplaced building's unplaced group; a staff member with no grid goes to
//! the community's unplaced compound; a household with no contract group
//! goes to its building's unplaced group (and is counted as a gap).
//!
//! ## Placement rules
//!
//! - household → (its compound, its building, its contract group), each
//!   replaced by unplaced when the record does not exist, when the building
//!   is in another compound (the building is then unplaced), or when the
//!   contract group does not exist;
//! - resident, and everything about a resident (returnee, isolation, care
//!   relationship, elderly living alone) → its household's place, or the
//!   community's unplaced leaf if the household (or resident) is missing;
//! - screening visit, inspection → the visited household's place;
//! - ticket → its assigned compound's unplaced leaf, else the community's
//!   unplaced leaf;
//! - staff → its grid compound's unplaced leaf, else the community's;
//! - party member → the leaf of the household (lowest id) of the first of
//!   its contract groups (lowest id) that has one, else the community's
//!   unplaced leaf;
//! - a gap → the place of its record when it is a household or resident (or
//!   a record about a household), else the community's unplaced leaf.
//!
//! ## Determinism and digests
//!
//! Children are sorted by (unplaced last, name, id); figures are integers;
//! maps are `BTreeMap`s. The digest is SHA-256 over the canonical JSON of
//! `(ROLLUP_VERSION, community id, as-of, time zone, tree)`, so the same
//! documents give the same digest on every machine, and a different
//! `ROLLUP_VERSION` (an upgrade in progress) gives a different one.

use std::collections::BTreeMap;

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::ids::Day;
use crate::street::StreetView;
use crate::view::{CommunityView, DayView};

/// The version of the rollup rules. Part of every digest: two builds with
/// different rules give different digests for the same documents, which the
/// coordinator reports as a mismatch rather than hiding.
pub const ROLLUP_VERSION: u32 = 1;

/// Days a returnee counts as recent: returned on the as-of date or in the
/// 13 days before it.
pub const RETURNEE_WINDOW_DAYS: u64 = 14;

/// Age from which a resident living alone counts as elderly.
pub const ELDERLY_AGE: u32 = 60;

/// Upper bounds (exclusive), in hours, of the time-to-resolve histogram
/// buckets; the last bucket holds everything at or above the last bound.
pub const RESOLVE_BUCKET_HOURS: &[i64] = &[1, 4, 24, 72];

/// Number of buckets of [`Figures::resolve_hours`].
pub const RESOLVE_BUCKETS: usize = 5;

/// The five levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Street,
    Community,
    Compound,
    Building,
    Group,
}

impl Level {
    /// Chinese and English label: `街道 street`.
    pub fn label(self) -> &'static str {
        match self {
            Level::Street => "街道 street",
            Level::Community => "社区 community",
            Level::Compound => "楼院 compound",
            Level::Building => "楼栋 building",
            Level::Group => "联包 group",
        }
    }
    pub fn child(self) -> Option<Level> {
        match self {
            Level::Street => Some(Level::Community),
            Level::Community => Some(Level::Compound),
            Level::Compound => Some(Level::Building),
            Level::Building => Some(Level::Group),
            Level::Group => None,
        }
    }
}

/// Additive figures of one unit. Every field is a count, so the figures of a
/// parent are the field-by-field sum of its children's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Figures {
    /// 户数
    pub households: u64,
    /// 人数: residents, less those counted in another place (street level).
    pub residents: u64,
    /// Residents whose person key is registered in another place too, and
    /// counted there instead (only in street rollups; 0 in a community's own).
    pub residents_counted_elsewhere: u64,
    /// Households with an existing contract group (包户) and without.
    pub households_contracted: u64,
    pub households_uncontracted: u64,
    /// Households with at least one screening visit on the as-of date, and
    /// the rest. `screened + unscreened == households`.
    pub households_screened: u64,
    pub households_unscreened: u64,
    /// Screening visits made on the as-of date (a household may have two).
    pub screening_visits: u64,
    /// Returnees whose return date falls in the 14 days ending on the
    /// as-of date, by the highest risk level of their origin on the day they
    /// returned, per the street's risk regions; `none` when no region covers
    /// the origin.
    pub returnees_high: u64,
    pub returnees_medium: u64,
    pub returnees_low: u64,
    pub returnees_none: u64,
    /// Residents in home isolation at the end of the as-of date (started on
    /// or before it, not released on or before it).
    pub isolating: u64,
    /// Of those, isolations whose planned end is before the as-of date.
    pub isolations_past_end: u64,
    /// Residents living alone aged `ELDERLY_AGE` or more on the as-of date.
    pub elderly_alone: u64,
    /// Active care relationships (started, not ended) on the as-of date, and
    /// those whose next visit was due before it (same rule as
    /// `queries::overdue_care`).
    pub care_relationships: u64,
    pub care_overdue: u64,
    /// Care visits made on the as-of date.
    pub care_visits: u64,
    /// Tickets received on the as-of date; open at the end of it (received
    /// on or before, not resolved on or before); resolved on it.
    pub tickets_opened: u64,
    pub tickets_open: u64,
    pub tickets_resolved: u64,
    /// Time to resolve of the tickets resolved on the as-of date, in the
    /// buckets of `RESOLVE_BUCKET_HOURS` (<1 h, <4 h, <24 h, <72 h, ≥72 h).
    /// A median or percentile is read from it (see [`Figures::resolve_percentile_bucket`]).
    pub resolve_hours: [u64; RESOLVE_BUCKETS],
    /// Inspections (spot checks) made on the as-of date, and of those the
    /// ones where the household knew its contracting member.
    pub inspections: u64,
    pub inspections_knew_member: u64,
    pub party_members: u64,
    pub staff: u64,
    /// Gaps by reason, keyed `"<kind>.<reason>"`, e.g.
    /// `household.no_contract_group`, `resident.missing_household`,
    /// `building.missing_compound`, `screening_visit.missing_household`,
    /// `household.compound_mismatch`, `ticket.unreadable`.
    pub gaps: BTreeMap<String, u64>,
}

impl Figures {
    /// Adds `other` into `self`, field by field.
    pub fn add(&mut self, other: &Figures) {
        let _ = other;
    }

    /// Total number of gaps.
    pub fn gap_count(&self) -> u64 {
        self.gaps.values().sum()
    }

    /// The bucket (index into `resolve_hours`) holding the `p`-th
    /// percentile (0–100) of time to resolve, or `None` with no resolutions.
    pub fn resolve_percentile_bucket(&self, p: u32) -> Option<usize> {
        let _ = p;
        None
    }

    /// `(name, value)` of every scalar figure in a fixed order, for tables
    /// and CSV (histogram buckets as `resolve_lt_1h` …, gaps as one
    /// `gaps` total).
    pub fn columns(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }
}

/// One unit of the tree at some level.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub level: Level,
    /// Record id (community id at the community level, the street id at the
    /// top); `""` for the unplaced child of a level.
    pub id: String,
    /// Display name (for a group: the contracting member's name and the
    /// group name); `""` for unplaced.
    pub name: String,
    pub figures: Figures,
    pub children: Vec<Node>,
}

impl Node {
    /// Whether this is the unplaced child of its parent.
    pub fn is_unplaced(&self) -> bool {
        self.id.is_empty()
    }

    /// The node at `path` of ids below this one (`[]` is this node).
    pub fn find(&self, path: &[&str]) -> Option<&Node> {
        match path.split_first() {
            None => Some(self),
            Some((first, rest)) => self
                .children
                .iter()
                .find(|c| c.id == *first)
                .and_then(|c| c.find(rest)),
        }
    }

    /// The first node where the figures are not the sum of the children's,
    /// as its path of ids, or `None` when the tree is additive throughout.
    pub fn additivity_violation(&self) -> Option<Vec<String>> {
        None
    }
}

/// The heads (hex change hashes, sorted) of the documents a community
/// rollup reflects.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RollupHeads {
    pub registry: Vec<String>,
    pub cases: Vec<String>,
    /// The activity documents read, by day (`YYYY-MM-DD`); a day with no
    /// document is absent.
    pub days: BTreeMap<String, Vec<String>>,
    /// The street document (risk regions decide the returnee levels).
    pub street: Vec<String>,
}

/// Where a resident with a person key was counted, for the street's
/// de-duplication.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PersonPlace {
    pub person_key: String,
    pub resident_id: String,
    /// Ids from the community node down to the leaf (compound, building,
    /// group), `""` for unplaced.
    pub path: [String; 3],
}

/// One community's subtree, computed by its node or by the coordinator
/// from its replica.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommunityRollup {
    pub community_id: String,
    pub as_of: Day,
    /// IANA name of the time zone that places instants on days.
    pub tz: String,
    pub rollup_version: u32,
    pub heads: RollupHeads,
    /// Level `Community`.
    pub tree: Node,
    /// Hex SHA-256; see the module docs.
    pub digest: String,
    /// Residents with a person key, in key order (not part of the digest).
    pub persons: Vec<PersonPlace>,
}

/// The input of one community's rollup: its documents' views and heads.
pub struct CommunityInput<'a> {
    pub community_id: &'a str,
    pub view: &'a CommunityView,
    /// Activity documents around the as-of date (any subset of the day
    /// before, the day, the day after — an instant is placed on a day by
    /// `tz`, so with another zone than the one the documents were split by
    /// a visit may sit in a neighbouring document). Visits are counted by
    /// their instant in `tz`, never by which document holds them.
    pub days: &'a [&'a DayView],
    pub street: &'a StreetView,
    pub heads: RollupHeads,
}

/// The rollup of one community for `as_of` in `tz`. Never panics, whatever
/// the documents hold.
pub fn community_rollup(input: &CommunityInput<'_>, as_of: Day, tz: Tz) -> CommunityRollup {
    let _ = (input, as_of, tz);
    CommunityRollup {
        community_id: input.community_id.to_string(),
        as_of,
        tz: tz.name().to_string(),
        rollup_version: ROLLUP_VERSION,
        heads: input.heads.clone(),
        tree: Node {
            level: Level::Community,
            id: input.community_id.to_string(),
            name: String::new(),
            figures: Figures::default(),
            children: Vec::new(),
        },
        digest: String::new(),
        persons: Vec::new(),
    }
}

/// The digest of a community subtree (see the module docs).
pub fn digest(community_id: &str, as_of: Day, tz: &str, tree: &Node) -> String {
    let _ = (community_id, as_of, tz, tree);
    String::new()
}

/// A person key registered more than once in the street.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonConflict {
    /// The person key (a keyed hash, not the ID number).
    pub person_key: String,
    /// Every registration as (community id, resident id), sorted; the first
    /// is where the person is counted.
    pub registrations: Vec<(String, String)>,
}

/// The street's tree: a `Street` node over the given community subtrees
/// (in community id order), with every person key counted once: a
/// registration other than the first (lowest community id, then resident
/// id) moves one resident from `residents` to `residents_counted_elsewhere`
/// at its leaf. The community subtrees given are not changed; the returned
/// tree holds adjusted copies.
pub fn street_tree(
    street_id: &str,
    street_name: &str,
    communities: &[&CommunityRollup],
) -> (Node, Vec<PersonConflict>) {
    let _ = communities;
    (
        Node {
            level: Level::Street,
            id: street_id.to_string(),
            name: street_name.to_string(),
            figures: Figures::default(),
            children: Vec::new(),
        },
        Vec::new(),
    )
}

/// What a node reported of its own subtree, sent with its sync.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeDigest {
    pub as_of: Day,
    pub tz: String,
    pub rollup_version: u32,
    pub heads: RollupHeads,
    pub digest: String,
    /// When the node computed it (its clock), Unix ms.
    pub computed_at_ms: i64,
}

impl NodeDigest {
    pub fn of(r: &CommunityRollup, computed_at_ms: i64) -> NodeDigest {
        NodeDigest {
            as_of: r.as_of,
            tz: r.tz.clone(),
            rollup_version: r.rollup_version,
            heads: r.heads.clone(),
            digest: r.digest.clone(),
            computed_at_ms,
        }
    }
}

/// How the coordinator's digest of a community compares with the node's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DigestCheck {
    /// Same as-of, zone and heads, same digest.
    Match,
    /// Same as-of, zone and heads, different digest: the two sides compute
    /// different figures from the same documents (mixed versions, say).
    Mismatch {
        node_digest: String,
        node_rollup_version: u32,
    },
    /// The node's report is for other heads (or another date or zone):
    /// nothing to compare yet.
    Pending,
    /// The node has not reported a digest.
    NotReported,
}

/// Compares the coordinator's rollup of a community with the node's report.
pub fn check_digest(ours: &CommunityRollup, node: Option<&NodeDigest>) -> DigestCheck {
    let _ = (ours, node);
    DigestCheck::NotReported
}

/// What a street rollup says of one community: what it includes and how
/// fresh it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub community_id: String,
    /// The heads the community's figures reflect.
    pub heads: RollupHeads,
    pub digest: String,
    /// When the coordinator last synced with the community's node, Unix ms.
    pub last_sync_ms: Option<i64>,
    /// The last sync is older than the staleness threshold (or never was).
    pub stale: bool,
    /// Served from the last state shown, because the replica is behind it
    /// (restored from an old backup, say): figures never go back.
    pub held: bool,
    pub digest_check: DigestCheck,
}
