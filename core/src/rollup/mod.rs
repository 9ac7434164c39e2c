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
//! The three parts of a household's place are replaced independently: a
//! household whose building is gone keeps its compound and its contract
//! group (`cp / "" / cg`); one whose compound is gone while its building
//! (in that same missing compound) exists sits in that building under the
//! community's unplaced compound.
//!
//! ## Which nodes there are
//!
//! Every existing compound; every existing building under its compound
//! (a building whose compound does not exist shows only where a household
//! places something in it); a group node for each (building, contract
//! group) pair that holds a figure; an unplaced child only where it holds
//! a figure.
//!
//! ## The day's figures
//!
//! Visits, care visits, inspections, and tickets received or resolved count
//! on the as-of date when their instant falls on it in the rollup's time
//! zone ([`crate::replica::day_of_instant`]), whichever activity document
//! holds them; an activity record found in two of the documents given
//! counts once. Likewise the gaps of activity records: only those of
//! records on the as-of date count (an unreadable one by the day its id
//! names, else by its document's day), each once.
//!
//! ## Determinism and digests
//!
//! Children are sorted by (unplaced last, name, id); figures are integers;
//! maps are `BTreeMap`s. The digest is SHA-256 over the canonical JSON of
//! `(ROLLUP_VERSION, community id, as-of, time zone, tree)`, so the same
//! documents give the same digest on every machine, and a different
//! `ROLLUP_VERSION` (an upgrade in progress) gives a different one.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use automerge::ChangeHash;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::docs::hex_heads;
use crate::ids::{Day, day_of_activity_id};
use crate::model::{CareRelationship, RiskLevel};
use crate::record::Kind;
use crate::replica::day_of_instant;
use crate::street::StreetView;
use crate::validate::age_on;
use crate::view::{CommunityView, DayView, Gap, GapReason};

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
    /// Adds `other` into `self`, field by field. Gap reasons with a count of
    /// 0 are not carried over, so a map never grows an entry it does not need.
    pub fn add(&mut self, other: &Figures) {
        // Destructured so that a new field cannot be forgotten here.
        let Figures {
            households,
            residents,
            residents_counted_elsewhere,
            households_contracted,
            households_uncontracted,
            households_screened,
            households_unscreened,
            screening_visits,
            returnees_high,
            returnees_medium,
            returnees_low,
            returnees_none,
            isolating,
            isolations_past_end,
            elderly_alone,
            care_relationships,
            care_overdue,
            care_visits,
            tickets_opened,
            tickets_open,
            tickets_resolved,
            resolve_hours,
            inspections,
            inspections_knew_member,
            party_members,
            staff,
            gaps,
        } = other;
        macro_rules! sum {
            ($($f:ident),* $(,)?) => { $( self.$f = self.$f.saturating_add(*$f); )* };
        }
        sum!(
            households,
            residents,
            residents_counted_elsewhere,
            households_contracted,
            households_uncontracted,
            households_screened,
            households_unscreened,
            screening_visits,
            returnees_high,
            returnees_medium,
            returnees_low,
            returnees_none,
            isolating,
            isolations_past_end,
            elderly_alone,
            care_relationships,
            care_overdue,
            care_visits,
            tickets_opened,
            tickets_open,
            tickets_resolved,
            inspections,
            inspections_knew_member,
            party_members,
            staff,
        );
        for (mine, theirs) in self.resolve_hours.iter_mut().zip(resolve_hours) {
            *mine = mine.saturating_add(*theirs);
        }
        for (reason, n) in gaps {
            if *n > 0 {
                let e = self.gaps.entry(reason.clone()).or_default();
                *e = e.saturating_add(*n);
            }
        }
    }

    /// Total number of gaps.
    pub fn gap_count(&self) -> u64 {
        self.gaps.values().fold(0, |a, n| a.saturating_add(*n))
    }

    /// Whether every figure is 0.
    pub fn is_zero(&self) -> bool {
        self.columns().iter().all(|(_, n)| *n == 0)
    }

    /// Whether `self` and `other` hold the same figures, a gap reason
    /// counted 0 being the same as one not listed.
    pub fn same_as(&self, other: &Figures) -> bool {
        let nonzero = |f: &Figures| {
            let mut f = f.clone();
            f.gaps.retain(|_, n| *n > 0);
            f
        };
        nonzero(self) == nonzero(other)
    }

    /// The bucket (index into `resolve_hours`) holding the `p`-th
    /// percentile (0–100) of time to resolve, or `None` with no resolutions.
    ///
    /// Nearest rank: the bucket of the `ceil(p/100 × n)`-th fastest of the
    /// `n` resolutions (at least the first), so `p = 50` is the median's
    /// bucket and `p = 100` the slowest one's. `p` above 100 counts as 100.
    pub fn resolve_percentile_bucket(&self, p: u32) -> Option<usize> {
        let total: u128 = self.resolve_hours.iter().map(|n| u128::from(*n)).sum();
        if total == 0 {
            return None;
        }
        let p = u128::from(p.min(100));
        let rank = (p * total).div_ceil(100).max(1);
        let mut seen = 0u128;
        for (i, n) in self.resolve_hours.iter().enumerate() {
            seen += u128::from(*n);
            if seen >= rank {
                return Some(i);
            }
        }
        Some(RESOLVE_BUCKETS - 1)
    }

    /// `(name, value)` of every scalar figure in a fixed order, for tables
    /// and CSV (histogram buckets as `resolve_lt_1h` …, gaps as one
    /// `gaps` total).
    pub fn columns(&self) -> Vec<(&'static str, u64)> {
        let [lt_1h, lt_4h, lt_24h, lt_72h, ge_72h] = self.resolve_hours;
        vec![
            ("households", self.households),
            ("residents", self.residents),
            (
                "residents_counted_elsewhere",
                self.residents_counted_elsewhere,
            ),
            ("households_contracted", self.households_contracted),
            ("households_uncontracted", self.households_uncontracted),
            ("households_screened", self.households_screened),
            ("households_unscreened", self.households_unscreened),
            ("screening_visits", self.screening_visits),
            ("returnees_high", self.returnees_high),
            ("returnees_medium", self.returnees_medium),
            ("returnees_low", self.returnees_low),
            ("returnees_none", self.returnees_none),
            ("isolating", self.isolating),
            ("isolations_past_end", self.isolations_past_end),
            ("elderly_alone", self.elderly_alone),
            ("care_relationships", self.care_relationships),
            ("care_overdue", self.care_overdue),
            ("care_visits", self.care_visits),
            ("tickets_opened", self.tickets_opened),
            ("tickets_open", self.tickets_open),
            ("tickets_resolved", self.tickets_resolved),
            ("resolve_lt_1h", lt_1h),
            ("resolve_lt_4h", lt_4h),
            ("resolve_lt_24h", lt_24h),
            ("resolve_lt_72h", lt_72h),
            ("resolve_ge_72h", ge_72h),
            ("inspections", self.inspections),
            ("inspections_knew_member", self.inspections_knew_member),
            ("party_members", self.party_members),
            ("staff", self.staff),
            ("gaps", self.gap_count()),
        ]
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

    /// The first node (depth first) where the figures are not the sum of
    /// the children's, as its path of ids below this node (the path
    /// [`Node::find`] takes; `[]` is this node), or `None` when the tree is
    /// additive throughout. A node of a level above `Group` with no
    /// children must hold zero figures (the sum of nothing).
    pub fn additivity_violation(&self) -> Option<Vec<String>> {
        if self.level.child().is_some() || !self.children.is_empty() {
            let mut sum = Figures::default();
            for c in &self.children {
                sum.add(&c.figures);
            }
            if !sum.same_as(&self.figures) {
                return Some(Vec::new());
            }
        }
        self.children.iter().find_map(|c| {
            c.additivity_violation().map(|mut path| {
                path.insert(0, c.id.clone());
                path
            })
        })
    }

    fn find_mut(&mut self, path: &[&str]) -> Option<&mut Node> {
        match path.split_first() {
            None => Some(self),
            Some((first, rest)) => self
                .children
                .iter_mut()
                .find(|c| c.id == *first)
                .and_then(|c| c.find_mut(rest)),
        }
    }

    /// Sets every inner node's figures to the sum of its children's.
    fn resum(&mut self) {
        if self.children.is_empty() {
            return;
        }
        let mut sum = Figures::default();
        for c in &mut self.children {
            c.resum();
            sum.add(&c.figures);
        }
        self.figures = sum;
    }

    /// A node whose figures are the sum of `children`'s, which are sorted
    /// (unplaced last, then by name and id).
    fn inner(level: Level, id: &str, name: String, mut children: Vec<Node>) -> Node {
        children.sort_by(|a, b| {
            (a.is_unplaced(), &a.name, &a.id).cmp(&(b.is_unplaced(), &b.name, &b.id))
        });
        let mut figures = Figures::default();
        for c in &children {
            figures.add(&c.figures);
        }
        Node {
            level,
            id: id.to_string(),
            name,
            figures,
            children,
        }
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

impl RollupHeads {
    /// The heads of the registry, cases and street documents; days are
    /// added with [`RollupHeads::add_day`].
    pub fn new(registry: &[ChangeHash], cases: &[ChangeHash], street: &[ChangeHash]) -> Self {
        RollupHeads {
            registry: hex_heads(registry),
            cases: hex_heads(cases),
            days: BTreeMap::new(),
            street: hex_heads(street),
        }
    }

    /// Records that the activity document of `day` was read at `heads`.
    pub fn add_day(&mut self, day: Day, heads: &[ChangeHash]) {
        self.days
            .insert(crate::model::Date(day).to_string(), hex_heads(heads));
    }
}

/// The days whose activity documents a rollup of `as_of` in `tz` reads,
/// when the documents are split into days by `split_tz`: the day itself in
/// the same zone, else its neighbours too (an instant may sit in the
/// previous or next document).
pub fn days_read(as_of: Day, tz: Tz, split_tz: Tz) -> Vec<Day> {
    if tz == split_tz {
        vec![as_of]
    } else {
        [as_of.pred_opt(), Some(as_of), as_of.succ_opt()]
            .into_iter()
            .flatten()
            .collect()
    }
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

mod community;
mod street_tree;

pub use community::{community_rollup, digest};
pub use street_tree::{
    DigestCheck, NodeDigest, PersonConflict, Stamp, StampLink, check_digest, street_tree,
};

#[cfg(test)]
mod tests {
    use super::community::{gap_key, resolve_bucket};
    use super::*;

    /// Every field set, each to a different value.
    fn every_field() -> Figures {
        Figures {
            households: 1,
            residents: 2,
            residents_counted_elsewhere: 3,
            households_contracted: 4,
            households_uncontracted: 5,
            households_screened: 6,
            households_unscreened: 7,
            screening_visits: 8,
            returnees_high: 9,
            returnees_medium: 10,
            returnees_low: 11,
            returnees_none: 12,
            isolating: 13,
            isolations_past_end: 14,
            elderly_alone: 15,
            care_relationships: 16,
            care_overdue: 17,
            care_visits: 18,
            tickets_opened: 19,
            tickets_open: 20,
            tickets_resolved: 21,
            resolve_hours: [22, 23, 24, 25, 26],
            inspections: 27,
            inspections_knew_member: 28,
            party_members: 29,
            staff: 30,
            gaps: [("household.no_contract_group".to_string(), 31)].into(),
        }
    }

    #[test]
    fn add_sums_every_field() {
        let one = every_field();
        let mut sum = Figures::default();
        sum.add(&one);
        assert_eq!(sum, one);
        sum.add(&one);
        let doubled: Vec<u64> = one.columns().iter().map(|(_, n)| 2 * n).collect();
        let got: Vec<u64> = sum.columns().iter().map(|(_, n)| *n).collect();
        assert_eq!(got, doubled);
        // A zero count is not carried into the map.
        let mut zero = Figures::default();
        zero.gaps.insert("ticket.unreadable".into(), 0);
        sum.add(&zero);
        assert!(!sum.gaps.contains_key("ticket.unreadable"));
        assert!(zero.same_as(&Figures::default()));
        assert!(zero.is_zero());
    }

    #[test]
    fn columns_name_every_figure_once_in_a_fixed_order() {
        let cols = every_field().columns();
        let names: Vec<&str> = cols.iter().map(|(n, _)| *n).collect();
        let values: Vec<u64> = cols.iter().map(|(_, v)| *v).collect();
        // Each field's own value, in declaration order, histogram in place.
        assert_eq!(values, (1..=31).collect::<Vec<u64>>());
        assert_eq!(
            names[21..26],
            [
                "resolve_lt_1h",
                "resolve_lt_4h",
                "resolve_lt_24h",
                "resolve_lt_72h",
                "resolve_ge_72h"
            ]
        );
        assert_eq!(names.last(), Some(&"gaps"));
        let unique: BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(unique.len(), names.len());
        assert!(names.iter().all(|n| {
            n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        }));
    }

    #[test]
    fn percentile_bucket_is_the_nearest_rank() {
        let f = |h: [u64; RESOLVE_BUCKETS]| Figures {
            resolve_hours: h,
            ..Figures::default()
        };
        assert_eq!(f([0; 5]).resolve_percentile_bucket(50), None);
        let h = f([1, 2, 1, 0, 1]);
        let got: Vec<Option<usize>> = [0, 20, 21, 50, 60, 61, 80, 81, 100, 250]
            .iter()
            .map(|p| h.resolve_percentile_bucket(*p))
            .collect();
        assert_eq!(
            got,
            [0, 0, 1, 1, 1, 2, 2, 4, 4, 4].map(Some).to_vec(),
            "ranks 1, 1, 2, 3, 3, 4, 4, 5, 5, 5 of 5"
        );
        assert_eq!(f([0, 0, 0, 0, 3]).resolve_percentile_bucket(0), Some(4));
    }

    #[test]
    fn resolve_buckets_have_exclusive_upper_bounds() {
        let h = 3_600_000;
        let got: Vec<usize> = [
            -5,
            0,
            h - 1,
            h,
            4 * h - 1,
            4 * h,
            24 * h,
            72 * h - 1,
            72 * h,
        ]
        .iter()
        .map(|ms| resolve_bucket(*ms))
        .collect();
        assert_eq!(got, [0, 0, 0, 1, 1, 2, 3, 3, 4]);
        assert_eq!(resolve_bucket(i64::MAX), 4);
        assert_eq!(resolve_bucket(i64::MIN), 0);
    }

    fn node(level: Level, id: &str, households: u64, children: Vec<Node>) -> Node {
        Node {
            level,
            id: id.into(),
            name: String::new(),
            figures: Figures {
                households,
                ..Figures::default()
            },
            children,
        }
    }

    #[test]
    fn additivity_violation_names_the_first_node_that_does_not_add_up() {
        let group = |id: &str, n| node(Level::Group, id, n, vec![]);
        let building = node(Level::Building, "b", 3, vec![group("g", 1), group("", 2)]);
        let compound = node(Level::Compound, "c", 3, vec![building]);
        let mut tree = node(Level::Community, "x", 3, vec![compound]);
        assert_eq!(tree.additivity_violation(), None);
        tree.children[0].children[0].children[1].figures.households = 1;
        assert_eq!(
            tree.additivity_violation(),
            Some(vec!["c".to_string(), "b".to_string()])
        );
        tree.figures.households = 5;
        assert_eq!(tree.additivity_violation(), Some(vec![]));
        // An inner node with no children holds the sum of nothing.
        let empty = node(Level::Building, "b", 1, vec![]);
        assert_eq!(empty.additivity_violation(), Some(vec![]));
        // A zero gap count is no different from none.
        let mut leaf = group("g", 1);
        leaf.figures.gaps.insert("x.unreadable".into(), 0);
        let parent = node(Level::Building, "b", 1, vec![leaf]);
        assert_eq!(parent.additivity_violation(), None);
    }

    #[test]
    fn gap_keys_name_kind_and_reason() {
        let g = |kind, reason| {
            gap_key(&Gap {
                kind,
                id: "x".into(),
                reason,
            })
        };
        assert_eq!(
            g("ticket", GapReason::Unreadable("bad".into())),
            "ticket.unreadable"
        );
        assert_eq!(
            g(
                "resident",
                GapReason::MissingReference {
                    field: "household_id",
                    target: "household",
                    target_id: "hh_1".into()
                }
            ),
            "resident.missing_household"
        );
        assert_eq!(
            g("household", GapReason::NoContractGroup),
            "household.no_contract_group"
        );
        assert_eq!(
            g(
                "household",
                GapReason::CompoundMismatch {
                    building_compound_id: "cp".into()
                }
            ),
            "household.compound_mismatch"
        );
    }
}
