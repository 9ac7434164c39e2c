//! The street document: the street's own records (its communities, risk
//! regions, notices and task forces), written only at the coordinator by
//! operators and replicated read-only to every node.
//!
//! - [`StreetRecord`] and [`StreetKind`]: one table of the street's kinds,
//!   with their collection in the document and the prefix of their ids.
//! - [`validate`]: field rules, every error naming the field
//!   (`risk_region.to`, `task_force.members[2]`).
//! - [`put`] and [`remove`]: one edit, validated before the document is
//!   touched, rolled back if Automerge refuses it, committed as one change
//!   stamped with the caller's time.
//! - [`StreetView`]: the document hydrated; reading never fails, a record
//!   that does not read is a gap (`"collection/id: reason"`).
//!
//! Like the rest of the core this does no IO and reads no clock or
//! randomness: `now_ms` and the random bytes of new ids are arguments.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fmt;
use std::str::FromStr;

use automerge::AutoCommit;
use automerge::transaction::CommitOptions;
use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};

use crate::docs::{Keyed, check_header, delete_in, put_in, read_all, read_one};
use crate::error::{CoreError, FieldError};
use crate::ids::{CommunityId, Day, DocId, MAX_ID_LEN, check_record_id};
use crate::model::{CommunityKind, RiskLevel, RiskRegion, StreetNotice, TaskForce};
use crate::validate::{self, Errors, MAX_TEXT};
use crate::view::{Gap, GapReason};

/// The most members a task force may list. A street's task forces are a
/// handful of people to a few hundred; the bound keeps one record small.
pub const MAX_TASK_FORCE_MEMBERS: usize = 500;

/// A community (or village) of the street, stored in `communities` under
/// its id. The id is the community's [`CommunityId`] text (`tongbai-rd`),
/// the id its node's certificate names, so it is always given, never made.
#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct StreetCommunity {
    pub id: String,
    pub name: String,
    pub kind: CommunityKind,
}

impl Keyed for StreetCommunity {
    fn key_mut(&mut self) -> &mut String {
        &mut self.id
    }
}

macro_rules! street_kinds {
    ($( $variant:ident, $model:ident, $name:literal, $coll:literal, $prefix:expr; )*) => {
        /// A kind of record of the street document.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum StreetKind { $($variant),* }

        impl StreetKind {
            pub const ALL: &'static [StreetKind] = &[$(StreetKind::$variant),*];

            /// The name used in the API and in messages (`risk_region`).
            pub fn name(self) -> &'static str {
                match self { $(StreetKind::$variant => $name),* }
            }
            /// The map of the street document that holds this kind.
            pub fn collection(self) -> &'static str {
                match self { $(StreetKind::$variant => $coll),* }
            }
            /// The prefix of generated ids of this kind (`rr`); `None` for
            /// communities, whose id is their [`CommunityId`].
            pub fn id_prefix(self) -> Option<&'static str> {
                match self { $(StreetKind::$variant => $prefix),* }
            }
            /// The kind named `s` (`"task_force"`).
            pub fn parse(s: &str) -> Option<StreetKind> {
                match s { $($name => Some(StreetKind::$variant),)* _ => None }
            }
        }

        /// One record of any kind of the street document. In JSON it is
        /// `{"kind": "community", "record": {…}}`: adjacently tagged, since a
        /// community has a `kind` field of its own.
        #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(tag = "kind", content = "record", rename_all = "snake_case")]
        pub enum StreetRecord { $($variant($model)),* }

        impl StreetRecord {
            pub fn kind(&self) -> StreetKind {
                match self { $(StreetRecord::$variant(_) => StreetKind::$variant),* }
            }
            pub fn id(&self) -> &str {
                match self { $(StreetRecord::$variant(r) => &r.id),* }
            }
            pub fn set_id(&mut self, id: String) {
                match self { $(StreetRecord::$variant(r) => r.id = id),* }
            }
            fn put_into(&self, doc: &mut AutoCommit) -> Result<(), CoreError> {
                match self { $(StreetRecord::$variant(r) => put_in(doc, $coll, &r.id, r)),* }
            }
        }

        $(impl From<$model> for StreetRecord {
            fn from(r: $model) -> Self { StreetRecord::$variant(r) }
        })*

        /// Reads `collection[id]` as a record of `kind`.
        fn read_record(doc: &AutoCommit, kind: StreetKind, id: &str) -> Result<Option<StreetRecord>, String> {
            match kind {
                $(StreetKind::$variant => Ok(read_one::<$model>(doc, $coll, id)?.map(|mut r| {
                    r.id = id.to_string();
                    StreetRecord::$variant(r)
                })),)*
            }
        }
    };
}

street_kinds! {
    Community,  StreetCommunity, "community",   "communities",  None;
    RiskRegion, RiskRegion,      "risk_region", "risk_regions", Some("rr");
    Notice,     StreetNotice,    "notice",      "notices",      Some("sn");
    TaskForce,  TaskForce,       "task_force",  "task_forces",  Some("tf");
}

impl StreetKind {
    /// A new id of this kind from 8 random bytes given by the caller (the
    /// core reads no randomness): `rr_0123456789abcdef`. `None` for
    /// communities, whose id is their community id and must be given.
    pub fn new_id(self, random: [u8; 8]) -> Option<String> {
        self.id_prefix()
            .map(|p| format!("{p}_{}", hex::encode(random)))
    }

    fn names() -> String {
        StreetKind::ALL
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for StreetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for StreetKind {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StreetKind::parse(s).ok_or_else(|| {
            FieldError::new(
                "kind",
                format!(
                    "{} is not a kind of street record; use one of {}",
                    crate::error::quote(s),
                    StreetKind::names()
                ),
            )
        })
    }
}

/// The id rule of the kinds whose ids are generated: a plain record id that
/// starts with the kind's prefix (`tf_`).
fn generated_id(e: &mut Errors, kind: StreetKind, id: &str) {
    let field = format!("{}.id", kind.name());
    if let Err(err) = check_record_id(&field, id) {
        let reason = if id.is_empty() {
            "must not be empty; a new record gets one from StreetKind::new_id".to_string()
        } else {
            err.reason
        };
        e.push(field, reason);
        return;
    }
    if let Some(prefix) = kind.id_prefix() {
        let prefix = format!("{prefix}_");
        if id.len() <= MAX_ID_LEN && !id.starts_with(&prefix) {
            e.push(
                field,
                format!("{id:?}: ids of a {} start with {prefix:?}", kind.name()),
            );
        }
    }
}

/// The field rules of a street record. Every problem is reported at once,
/// each naming its field (`risk_region.to`, `task_force.members[2]`).
/// `now_ms` bounds instants (a notice's `published_at_ms`).
pub fn validate(rec: &StreetRecord, now_ms: i64) -> Result<(), CoreError> {
    let k = rec.kind().name();
    let f = |name: &str| format!("{k}.{name}");
    let mut e = Errors::default();
    match rec {
        StreetRecord::Community(c) => {
            if let Err(err) = CommunityId::parse(&c.id) {
                e.push(f("id"), err.reason);
            }
            e.check(validate::name(&f("name"), &c.name));
        }
        StreetRecord::RiskRegion(r) => {
            generated_id(&mut e, rec.kind(), &r.id);
            e.check(validate::name(&f("region"), &r.region));
            if let Some(to) = r.to
                && to < r.from
            {
                e.push(f("to"), format!("{to} is before from {}", r.from));
            }
        }
        StreetRecord::Notice(n) => {
            generated_id(&mut e, rec.kind(), &n.id);
            e.check(validate::name(&f("title"), &n.title));
            if n.body.trim().is_empty() {
                e.push(f("body"), "must not be empty");
            } else {
                e.check(validate::text_len(&f("body"), &n.body, MAX_TEXT));
            }
            e.check(validate::instant(
                &f("published_at_ms"),
                n.published_at_ms,
                now_ms,
            ));
        }
        StreetRecord::TaskForce(t) => {
            generated_id(&mut e, rec.kind(), &t.id);
            e.check(validate::name(&f("name"), &t.name));
            if t.members.len() > MAX_TASK_FORCE_MEMBERS {
                e.push(
                    f("members"),
                    format!(
                        "lists {} members; at most {MAX_TASK_FORCE_MEMBERS} are allowed",
                        t.members.len()
                    ),
                );
            } else {
                let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
                for (i, m) in t.members.iter().enumerate() {
                    let field = f(&format!("members[{i}]"));
                    if let Err(err) = validate::name(&field, m) {
                        e.0.push(err);
                        continue;
                    }
                    match seen.entry(m.trim()) {
                        Entry::Occupied(first) => e.push(
                            field,
                            format!("{m:?} is already listed at members[{}]", first.get()),
                        ),
                        Entry::Vacant(v) => {
                            v.insert(i);
                        }
                    }
                }
            }
        }
    }
    e.into_result().map_err(CoreError::Invalid)
}

fn commit_opts(message: &str, now_ms: i64) -> CommitOptions {
    // Like the community documents: Automerge change times in seconds.
    CommitOptions::default()
        .with_message(message.to_string())
        .with_time(now_ms.div_euclid(1000))
}

/// Creates or replaces `rec` in the street document, as one change stamped
/// with `now_ms` and `message`, and returns it as stored.
///
/// A notice's `published_at_ms` of 0 means "now" and is set to `now_ms`.
/// The record is validated before the document is touched; if Automerge
/// refuses the write part-way, the uncommitted operations are rolled back,
/// so an error leaves the document (and its heads) as they were. Writing a
/// record equal to the stored one makes no change.
pub fn put(
    doc: &mut AutoCommit,
    mut rec: StreetRecord,
    now_ms: i64,
    message: &str,
) -> Result<StreetRecord, CoreError> {
    if let StreetRecord::Notice(n) = &mut rec
        && n.published_at_ms == 0
    {
        n.published_at_ms = now_ms;
    }
    validate(&rec, now_ms)?;
    check_header(doc, &DocId::Street)?;
    if let Err(e) = rec.put_into(doc) {
        doc.rollback();
        return Err(e);
    }
    doc.commit_with(commit_opts(message, now_ms));
    Ok(rec)
}

/// Removes the record of `kind` with `id` as one change stamped with
/// `now_ms`, and returns what was removed.
///
/// `NotFound` if there is no such record. A record that is there but does
/// not read (a gap) is refused with `Precondition`, since there is nothing
/// to return: put a good record under its id first, then remove that.
pub fn remove(
    doc: &mut AutoCommit,
    kind: StreetKind,
    id: &str,
    now_ms: i64,
) -> Result<StreetRecord, CoreError> {
    check_header(doc, &DocId::Street)?;
    let rec = match read_record(doc, kind, id) {
        Ok(Some(rec)) => rec,
        Ok(None) => {
            return Err(CoreError::NotFound {
                kind: kind.name(),
                id: id.to_string(),
            });
        }
        Err(reason) => {
            return Err(CoreError::Precondition(format!(
                "{kind} {id:?} does not read ({reason}); put a record with this id to replace it, then remove that"
            )));
        }
    };
    if let Err(e) = delete_in(doc, kind.collection(), id) {
        doc.rollback();
        return Err(e);
    }
    doc.commit_with(commit_opts(&format!("remove {kind} {id}"), now_ms));
    Ok(rec)
}

/// The record of `kind` with `id`: `Ok(None)` if absent, an error naming
/// the record if it is there but does not read.
pub fn get(
    doc: &AutoCommit,
    kind: StreetKind,
    id: &str,
) -> Result<Option<StreetRecord>, CoreError> {
    read_record(doc, kind, id).map_err(|e| CoreError::doc(format!("street {kind} {id}"), e))
}

/// The heads of the street document as hex, as the API shows them.
pub fn heads_hex(doc: &mut AutoCommit) -> Vec<String> {
    crate::docs::hex_heads(&doc.get_heads())
}

/// The street document, hydrated. Each list is sorted by id; records that
/// do not read are in `gaps` as `"collection/id: reason"`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StreetView {
    pub communities: Vec<StreetCommunity>,
    pub risk_regions: Vec<RiskRegion>,
    pub notices: Vec<StreetNotice>,
    pub task_forces: Vec<TaskForce>,
    pub gaps: Vec<String>,
}

impl StreetView {
    /// Reads the street document. Never fails and never panics: a record of
    /// the wrong shape, a collection that is not a map, a community stored
    /// under a key that is not a community id, a document of another kind:
    /// each is a gap, and everything else still reads.
    pub fn read(doc: &AutoCommit) -> StreetView {
        let mut gaps: Vec<Gap> = Vec::new();
        let mut notes: Vec<String> = Vec::new();
        if let Err(e) = check_header(doc, &DocId::Street) {
            notes.push(format!("street: {e}"));
        }
        let communities: BTreeMap<String, StreetCommunity> =
            read_all(doc, "communities", "communities", &mut gaps);
        let risk_regions: BTreeMap<String, RiskRegion> =
            read_all(doc, "risk_regions", "risk_regions", &mut gaps);
        let notices: BTreeMap<String, StreetNotice> =
            read_all(doc, "notices", "notices", &mut gaps);
        let task_forces: BTreeMap<String, TaskForce> =
            read_all(doc, "task_forces", "task_forces", &mut gaps);
        let mut communities_ok = Vec::with_capacity(communities.len());
        for (key, c) in communities {
            match CommunityId::parse(&key) {
                Ok(_) => communities_ok.push(c),
                Err(e) => notes.push(format!(
                    "communities/{key}: the key is not a community id ({})",
                    e.reason
                )),
            }
        }
        notes.extend(gaps.iter().map(gap_text));
        notes.sort();
        StreetView {
            communities: communities_ok,
            risk_regions: risk_regions.into_values().collect(),
            notices: notices.into_values().collect(),
            task_forces: task_forces.into_values().collect(),
            gaps: notes,
        }
    }

    /// The community with `id`, if the street lists it.
    pub fn community(&self, id: &str) -> Option<&StreetCommunity> {
        self.communities
            .binary_search_by(|c| c.id.as_str().cmp(id))
            .ok()
            .map(|i| &self.communities[i])
    }

    /// The record of `kind` with `id`.
    pub fn get(&self, kind: StreetKind, id: &str) -> Option<StreetRecord> {
        fn find<T: Clone>(v: &[T], key: impl Fn(&T) -> &str, id: &str) -> Option<T> {
            v.binary_search_by(|r| key(r).cmp(id))
                .ok()
                .map(|i| v[i].clone())
        }
        match kind {
            StreetKind::Community => {
                find(&self.communities, |r| &r.id, id).map(StreetRecord::Community)
            }
            StreetKind::RiskRegion => {
                find(&self.risk_regions, |r| &r.id, id).map(StreetRecord::RiskRegion)
            }
            StreetKind::Notice => find(&self.notices, |r| &r.id, id).map(StreetRecord::Notice),
            StreetKind::TaskForce => {
                find(&self.task_forces, |r| &r.id, id).map(StreetRecord::TaskForce)
            }
        }
    }

    /// The highest risk level in force on `day` for the place `region`
    /// (a returnee's `from_region`, say), or `None` if no risk region covers
    /// it that day.
    ///
    /// A risk region covers a place when the place's name, trimmed and
    /// ASCII case folded, equals the region's name or starts with it: names
    /// run from the province down (`上海市浦东新区张江镇` is inside
    /// `上海市浦东新区`). A region is in force from its `from` day through
    /// its `to` day, both included, or with no end while `to` is unset.
    pub fn risk_level_on(&self, region: &str, day: Day) -> Option<RiskLevel> {
        let place = region.trim().to_lowercase();
        if place.is_empty() {
            return None;
        }
        self.risk_regions
            .iter()
            .filter(|r| {
                let name = r.region.trim().to_lowercase();
                !name.is_empty() && place.starts_with(&name)
            })
            .filter(|r| r.from.0 <= day && r.to.is_none_or(|to| day <= to.0))
            .map(|r| r.level)
            .max()
    }
}

fn gap_text(g: &Gap) -> String {
    match &g.reason {
        GapReason::Unreadable(reason) if g.id.is_empty() => format!("{}: {reason}", g.kind),
        GapReason::Unreadable(reason) => format!("{}/{}: unreadable: {reason}", g.kind, g.id),
        other => format!("{}/{}: {other:?}", g.kind, g.id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docs;
    use crate::model::Date;
    use crate::validate::MAX_NAME;
    use automerge::ActorId;

    const NOW: i64 = 1_580_000_000_000;

    fn day(s: &str) -> Day {
        Date::parse("test", s).unwrap().0
    }

    fn doc() -> AutoCommit {
        docs::genesis(&DocId::Street, ActorId::from(&[7u8; 16][..]))
    }

    fn region(id: &str, name: &str, level: RiskLevel, from: &str, to: Option<&str>) -> RiskRegion {
        RiskRegion {
            id: id.into(),
            region: name.into(),
            level,
            from: Date(day(from)),
            to: to.map(|t| Date(day(t))),
        }
    }

    fn fields(e: CoreError) -> Vec<String> {
        match e {
            CoreError::Invalid(v) => v.into_iter().map(|f| f.field).collect(),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn kinds_parse_display_and_make_ids() {
        for k in StreetKind::ALL {
            assert_eq!(StreetKind::parse(k.name()), Some(*k));
            assert_eq!(k.to_string().parse::<StreetKind>().unwrap(), *k);
            assert!(docs::STREET_COLLECTIONS.contains(&k.collection()));
        }
        assert_eq!(
            StreetKind::RiskRegion.new_id([0, 1, 2, 3, 4, 5, 6, 0xff]),
            Some("rr_00010203040506ff".to_string())
        );
        assert_eq!(StreetKind::Community.new_id([0; 8]), None);
        let e = "household".parse::<StreetKind>().unwrap_err();
        assert_eq!(e.field, "kind");
        assert!(e.reason.contains("task_force"), "{}", e.reason);
        for k in [
            StreetKind::RiskRegion,
            StreetKind::Notice,
            StreetKind::TaskForce,
        ] {
            let mut e = Errors::default();
            generated_id(&mut e, k, &k.new_id([9; 8]).unwrap());
            assert!(e.0.is_empty(), "{k}: {:?}", e.0);
        }
    }

    #[test]
    fn field_rules_name_the_field() {
        let r = region(
            "rr_1",
            "武汉市",
            RiskLevel::High,
            "2020-01-23",
            Some("2020-01-01"),
        );
        assert_eq!(
            fields(validate(&r.into(), NOW).unwrap_err()),
            ["risk_region.to"]
        );
        let c = StreetCommunity {
            id: "Tong Bai".into(),
            name: " ".into(),
            kind: CommunityKind::Community,
        };
        assert_eq!(
            fields(validate(&c.into(), NOW).unwrap_err()),
            ["community.id", "community.name"]
        );
        let t = TaskForce {
            id: "checkpoint".into(),
            name: "卡口专班".into(),
            members: vec!["Li".into(), "".into(), "Li".into()],
        };
        assert_eq!(
            fields(validate(&t.into(), NOW).unwrap_err()),
            [
                "task_force.id",
                "task_force.members[1]",
                "task_force.members[2]"
            ]
        );
        let t = TaskForce {
            id: "tf_1".into(),
            name: "x".into(),
            members: vec!["m".into(); MAX_TASK_FORCE_MEMBERS + 1],
        };
        assert_eq!(
            fields(validate(&t.into(), NOW).unwrap_err()),
            ["task_force.members"]
        );
        let n = StreetNotice {
            id: "".into(),
            title: "t".repeat(MAX_NAME + 1),
            body: "b".repeat(MAX_TEXT + 1),
            published_at_ms: NOW / 1000,
        };
        assert_eq!(
            fields(validate(&n.into(), NOW).unwrap_err()),
            [
                "notice.id",
                "notice.title",
                "notice.body",
                "notice.published_at_ms"
            ]
        );
        let n = StreetNotice {
            id: "sn_1".into(),
            title: "t".into(),
            body: "long ".repeat(100),
            published_at_ms: NOW + 2 * validate::MAX_FUTURE_MS,
        };
        assert_eq!(
            fields(validate(&n.into(), NOW).unwrap_err()),
            ["notice.published_at_ms"]
        );
    }

    #[test]
    fn records_round_trip_through_json() {
        let c = StreetRecord::Community(StreetCommunity {
            id: "c01".into(),
            name: "桐柏路社区".into(),
            kind: CommunityKind::Village,
        });
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["kind"], "community");
        assert_eq!(v["record"]["kind"], "Village");
        assert_eq!(serde_json::from_value::<StreetRecord>(v).unwrap(), c);
    }

    #[test]
    fn put_fills_a_notice_published_at_zero_with_now() {
        let mut d = doc();
        let n = StreetNotice {
            id: "sn_1".into(),
            title: "Stay home".into(),
            body: "Please.".into(),
            published_at_ms: 0,
        };
        let stored = put(&mut d, n.into(), NOW, "t").unwrap();
        let StreetRecord::Notice(stored) = stored else {
            panic!("a notice")
        };
        assert_eq!(stored.published_at_ms, NOW);
        assert_eq!(StreetView::read(&d).notices, [stored]);
    }

    #[test]
    fn put_of_the_same_record_makes_no_change() {
        let mut d = doc();
        let r = region("rr_1", "武汉市", RiskLevel::High, "2020-01-23", None);
        put(&mut d, r.clone().into(), NOW, "t").unwrap();
        let heads = d.get_heads();
        put(&mut d, r.into(), NOW + 1000, "t").unwrap();
        assert_eq!(d.get_heads(), heads);
    }

    #[test]
    fn put_refuses_a_document_of_another_kind() {
        let c = CommunityId::parse("c1").unwrap();
        let mut d = docs::genesis(&DocId::Cases(c), ActorId::from(&[1u8; 16][..]));
        let heads = d.get_heads();
        let r = region("rr_1", "武汉市", RiskLevel::High, "2020-01-23", None);
        assert!(matches!(
            put(&mut d, r.into(), NOW, "t"),
            Err(CoreError::Document { .. })
        ));
        assert_eq!(d.get_heads(), heads);
        assert_eq!(StreetView::read(&d).gaps.len(), 1);
    }

    #[test]
    fn risk_level_is_the_highest_in_force_over_the_place() {
        let v = StreetView {
            risk_regions: vec![
                region(
                    "rr_1",
                    "湖北省武汉市",
                    RiskLevel::High,
                    "2020-01-23",
                    Some("2020-04-08"),
                ),
                region("rr_2", "湖北省", RiskLevel::Medium, "2020-01-20", None),
                region("rr_3", "Shanghai", RiskLevel::Low, "2020-02-01", None),
                region("rr_4", " ", RiskLevel::High, "2020-01-01", None),
            ],
            ..StreetView::default()
        };
        let on = |place: &str, d: &str| v.risk_level_on(place, day(d));
        assert_eq!(
            on("湖北省武汉市江汉区", "2020-02-01"),
            Some(RiskLevel::High)
        );
        assert_eq!(on("湖北省武汉市", "2020-04-08"), Some(RiskLevel::High));
        assert_eq!(on("湖北省武汉市", "2020-04-09"), Some(RiskLevel::Medium));
        assert_eq!(on("湖北省武汉市", "2020-01-19"), None);
        assert_eq!(on("  shanghai pudong ", "2020-03-01"), Some(RiskLevel::Low));
        assert_eq!(on("河南省郑州市", "2020-03-01"), None);
        assert_eq!(on("", "2020-03-01"), None);
    }
}
