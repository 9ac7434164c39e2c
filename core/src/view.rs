//! Hydrated, read-only views of a community's documents, and the gaps in
//! them.
//!
//! A view is what the documents say right now, read without trusting them:
//! a record that does not hydrate is a gap, a reference to a record that does
//! not exist is a gap, a household with no contract group is a gap. Reading
//! never fails and never panics, whatever concurrent edits left behind.
//!
//! A view follows its documents either by re-reading them whole ([`CommunityView::read`],
//! [`DayView::read`]) or, after a sync or merge changed a document, by
//! re-reading only the records the changes touched ([`CommunityView::refresh_changed`],
//! [`DayView::refresh_changed`]), which falls back to re-reading that
//! document's part of the view whenever the changes are not plainly
//! record edits (see [`WholeReason`]).

use std::collections::{BTreeMap, BTreeSet};

use automerge::{AutoCommit, ChangeHash, PatchAction, Prop};

use crate::docs::{read_all, read_root};
use crate::ids::Day;
use crate::model::*;
use crate::record::{DocClass, Kind, Record};

pub use crate::gap::{Gap, GapReason};

macro_rules! view_struct {
    ($name:ident { $($field:ident : $ty:ident),* $(,)? }) => {
        impl $name {
            /// The record of `kind` with `id`, if this view holds that kind.
            pub fn get(&self, kind: Kind, id: &str) -> Option<Record> {
                match kind {
                    $(Kind::$ty => self.$field.get(id).cloned().map(Record::$ty),)*
                    #[allow(unreachable_patterns)]
                    _ => None,
                }
            }
            pub fn contains(&self, kind: Kind, id: &str) -> bool {
                match kind {
                    $(Kind::$ty => self.$field.contains_key(id),)*
                    #[allow(unreachable_patterns)]
                    _ => false,
                }
            }
            /// Every record of `kind` in id order.
            pub fn list(&self, kind: Kind) -> Vec<Record> {
                match kind {
                    $(Kind::$ty => self.$field.values().cloned().map(Record::$ty).collect(),)*
                    #[allow(unreachable_patterns)]
                    _ => Vec::new(),
                }
            }
            pub fn count(&self, kind: Kind) -> usize {
                match kind {
                    $(Kind::$ty => self.$field.len(),)*
                    #[allow(unreachable_patterns)]
                    _ => 0,
                }
            }
            /// Puts a record just written by the direct encoder into the
            /// view as it is: what a re-read would give (the encoder and
            /// the reader round-trip, `tests/merge.rs`), without the read.
            pub(crate) fn put_written(&mut self, rec: &Record) {
                match rec {
                    $(Record::$ty(r) => {
                        let kind = Kind::$ty;
                        self.unreadable.retain(|g| !(g.kind == kind.name() && g.id == r.id));
                        self.$field.insert(r.id.clone(), r.clone());
                    })*
                    #[allow(unreachable_patterns)]
                    _ => {}
                }
            }
            /// Re-reads one record from `doc` into the view.
            pub(crate) fn refresh(&mut self, doc: &AutoCommit, kind: Kind, id: &str) {
                match kind {
                    $(Kind::$ty => {
                        self.unreadable.retain(|g| !(g.kind == kind.name() && g.id == id));
                        match crate::docs::read_one::<$ty>(doc, kind.collection(), id) {
                            Ok(Some(mut r)) => { r.id = id.to_string(); self.$field.insert(id.to_string(), r); }
                            Ok(None) => { self.$field.remove(id); }
                            Err(e) => {
                                self.$field.remove(id);
                                self.unreadable.push(Gap { kind: kind.name(), id: id.to_string(), reason: GapReason::Unreadable(e) });
                            }
                        }
                    })*
                    #[allow(unreachable_patterns)]
                    _ => {}
                }
            }
        }
    };
}

/// The registry and cases of one community, hydrated.
#[derive(Clone, Debug, Default)]
pub struct CommunityView {
    pub community: Option<CommunityInfo>,
    pub compounds: BTreeMap<String, Compound>,
    pub buildings: BTreeMap<String, Building>,
    pub contract_groups: BTreeMap<String, ContractGroup>,
    pub households: BTreeMap<String, Household>,
    pub residents: BTreeMap<String, Resident>,
    pub party_members: BTreeMap<String, PartyMember>,
    pub staff: BTreeMap<String, Staff>,
    pub volunteer_teams: BTreeMap<String, VolunteerTeam>,
    pub volunteers: BTreeMap<String, Volunteer>,
    pub isolations: BTreeMap<String, Isolation>,
    pub care_relationships: BTreeMap<String, CareRelationship>,
    pub tickets: BTreeMap<String, Ticket>,
    pub returnees: BTreeMap<String, Returnee>,
    pub notices: BTreeMap<String, Notice>,
    /// Records that could not be read.
    pub unreadable: Vec<Gap>,
    /// `residents` by who they are (derived; see [`PersonIndex`]).
    pub persons: PersonIndex,
}

/// Residents by who they are: by person key, and by ID number (upper
/// case), for the check that one person is registered once in a community
/// (`validate::references`) without a scan of every resident. Derived from
/// `CommunityView::residents` and kept with it by the only two ways the view
/// changes ([`CommunityView::reread_class`], `refresh_record`); a view whose
/// residents were changed by hand is noticed ([`PersonIndex::covers`]) and
/// checked by a scan instead.
#[derive(Clone, Debug, Default)]
pub struct PersonIndex {
    by_key: BTreeMap<String, BTreeSet<String>>,
    by_number: BTreeMap<String, BTreeSet<String>>,
    indexed: usize,
}

impl PersonIndex {
    fn of(residents: &BTreeMap<String, Resident>) -> PersonIndex {
        let mut index = PersonIndex::default();
        for r in residents.values() {
            index.add(r);
        }
        index
    }

    fn add(&mut self, r: &Resident) {
        if let Some(k) = &r.person_key {
            let ids = self.by_key.entry(k.clone()).or_default();
            ids.insert(r.id.clone());
        }
        if let Some(n) = &r.id_number {
            let ids = self.by_number.entry(n.to_ascii_uppercase()).or_default();
            ids.insert(r.id.clone());
        }
        self.indexed += 1;
    }

    fn remove(&mut self, r: &Resident) {
        let drop_id = |map: &mut BTreeMap<String, BTreeSet<String>>, key: String| {
            if let Some(ids) = map.get_mut(&key) {
                ids.remove(&r.id);
                if ids.is_empty() {
                    map.remove(&key);
                }
            }
        };
        if let Some(k) = &r.person_key {
            drop_id(&mut self.by_key, k.clone());
        }
        if let Some(n) = &r.id_number {
            drop_id(&mut self.by_number, n.to_ascii_uppercase());
        }
        self.indexed = self.indexed.saturating_sub(1);
    }

    /// Whether this index was kept with `residents` (a view changed by
    /// hand is not: its check scans).
    pub fn covers(&self, residents: &BTreeMap<String, Resident>) -> bool {
        self.indexed == residents.len()
    }

    /// Ids of the residents with person key `key`.
    pub fn with_key(&self, key: &str) -> impl Iterator<Item = &String> {
        self.by_key.get(key).into_iter().flatten()
    }

    /// Ids of the residents whose ID number is `number`, in any case.
    pub fn with_number(&self, number: &str) -> impl Iterator<Item = &String> {
        self.by_number
            .get(&number.to_ascii_uppercase())
            .into_iter()
            .flatten()
    }
}

view_struct!(CommunityView {
    compounds: Compound,
    buildings: Building,
    contract_groups: ContractGroup,
    households: Household,
    residents: Resident,
    party_members: PartyMember,
    staff: Staff,
    volunteer_teams: VolunteerTeam,
    volunteers: Volunteer,
    isolations: Isolation,
    care_relationships: CareRelationship,
    tickets: Ticket,
    returnees: Returnee,
    notices: Notice,
});

impl CommunityView {
    /// Reads the registry and cases documents. Never fails.
    pub fn read(registry: &AutoCommit, cases: &AutoCommit) -> Self {
        let mut view = Self::default();
        view.reread_class(registry, DocClass::Registry);
        view.reread_class(cases, DocClass::Cases);
        view
    }

    /// Re-reads the part of the view that lives in one document: the
    /// community and the registry kinds from a registry, or the case kinds
    /// from a cases document, with their unreadable records. The other
    /// document's part is left as it is. Nothing to do for `Activity`
    /// (see [`DayView`]).
    pub fn reread_class(&mut self, doc: &AutoCommit, class: DocClass) {
        self.unreadable.retain(|g| gap_class(g) != Some(class));
        let mut g = std::mem::take(&mut self.unreadable);
        macro_rules! rd {
            ($k:ident) => {
                read_all(doc, Kind::$k.name(), Kind::$k.collection(), &mut g)
            };
        }
        match class {
            DocClass::Registry => {
                self.community = read_community(doc, &mut g);
                self.compounds = rd!(Compound);
                self.buildings = rd!(Building);
                self.contract_groups = rd!(ContractGroup);
                self.households = rd!(Household);
                self.residents = rd!(Resident);
                self.persons = PersonIndex::of(&self.residents);
                self.party_members = rd!(PartyMember);
                self.staff = rd!(Staff);
                self.volunteer_teams = rd!(VolunteerTeam);
                self.volunteers = rd!(Volunteer);
            }
            DocClass::Cases => {
                self.isolations = rd!(Isolation);
                self.care_relationships = rd!(CareRelationship);
                for (id, rel) in self.care_relationships.iter_mut() {
                    settle_last_visit(doc, id, rel);
                }
                self.tickets = rd!(Ticket);
                self.returnees = rd!(Returnee);
                self.notices = rd!(Notice);
            }
            DocClass::Activity => {}
        }
        self.unreadable = g;
    }

    /// Brings the part of the view that lives in `doc` (a registry or a
    /// cases document, as `class` says) from the document as it was at
    /// `before` to the document as it is, `after` being its current heads.
    /// Only the records the changes between them touched are re-read (a
    /// care relationship's `last_visit` settled as in [`Self::read`]); the
    /// whole part is re-read instead when the changes are not plainly
    /// record edits or touch more than half the records (see
    /// [`WholeReason`]). Either way the view ends equal to a fresh
    /// [`Self::read`], its `unreadable` list perhaps in another order.
    /// Nothing to do for `Activity`.
    ///
    /// Finding what changed costs a scan of the document's operations,
    /// unless `before` is the document's diff cursor
    /// (`AutoCommit::update_diff_cursor`, which [`CommunityReplica`](crate::CommunityReplica)
    /// keeps at the heads its views reflect): then Automerge answers from
    /// the patches it logged since, for a cost of the size of the changes.
    pub fn refresh_changed(
        &mut self,
        doc: &mut AutoCommit,
        class: DocClass,
        before: &[ChangeHash],
        after: &[ChangeHash],
    ) -> Refreshed {
        if class == DocClass::Activity {
            return Refreshed::Records(0);
        }
        let records = Kind::of_class(class).map(|k| self.count(k)).sum();
        match changed(doc, class, records, before, after).and_then(|c| c.few_enough(records)) {
            Ok(c) => {
                if c.community {
                    self.refresh_community(doc);
                }
                for (kind, id) in &c.records {
                    self.refresh_record(doc, *kind, id);
                }
                Refreshed::Records(c.records.len())
            }
            Err(why) => {
                self.reread_class(doc, class);
                Refreshed::Whole(why)
            }
        }
    }

    /// Re-reads the registry's `community`, as [`Self::read`] would read it.
    pub(crate) fn refresh_community(&mut self, registry: &AutoCommit) {
        self.unreadable.retain(|g| g.kind != COMMUNITY);
        self.community = read_community(registry, &mut self.unreadable);
    }

    /// Puts a record just created by the direct encoder into the view, as
    /// [`Self::refresh_record`] would read it, keeping what is derived.
    pub(crate) fn put_created(&mut self, doc: &AutoCommit, rec: &Record) {
        match rec {
            // Its last visit is settled from the document's conflicts.
            Record::CareRelationship(r) => self.refresh_record(doc, Kind::CareRelationship, &r.id),
            _ => self.keeping_persons(rec.kind(), rec.id(), |v| v.put_written(rec)),
        }
    }

    /// Changes one record with `change`, keeping the person index with the
    /// residents.
    fn keeping_persons(&mut self, kind: Kind, id: &str, change: impl FnOnce(&mut Self)) {
        let resident = kind == Kind::Resident;
        if resident && let Some(old) = self.residents.get(id) {
            let old = old.clone();
            self.persons.remove(&old);
        }
        change(self);
        if resident && let Some(new) = self.residents.get(id) {
            let new = new.clone();
            self.persons.add(&new);
        }
    }

    /// Re-reads one record of the registry or cases, as [`Self::read`]
    /// would read it.
    pub(crate) fn refresh_record(&mut self, doc: &AutoCommit, kind: Kind, id: &str) {
        self.keeping_persons(kind, id, |v| v.refresh(doc, kind, id));
        if kind == Kind::CareRelationship
            && let Some(rel) = self.care_relationships.get_mut(id)
        {
            settle_last_visit(doc, id, rel);
        }
    }

    /// Every gap: unreadable records, references to nothing, households
    /// without a contract group, households whose building is in another
    /// compound. Sorted, so that the same documents give the same list.
    pub fn gaps(&self) -> Vec<Gap> {
        let mut out = self.unreadable.clone();
        let mut missing =
            |kind: Kind, id: &str, field: &'static str, target: Kind, target_id: &str| {
                out.push(gap_ref(kind, id, field, target, target_id))
            };
        for b in self.buildings.values() {
            if !self.compounds.contains_key(&b.compound_id) {
                missing(
                    Kind::Building,
                    &b.id,
                    "compound_id",
                    Kind::Compound,
                    &b.compound_id,
                );
            }
        }
        for g in self.contract_groups.values() {
            if !self.party_members.contains_key(&g.party_member_id) {
                missing(
                    Kind::ContractGroup,
                    &g.id,
                    "party_member_id",
                    Kind::PartyMember,
                    &g.party_member_id,
                );
            }
        }
        // Pushed after the loop: `missing` holds `out` mutably until then.
        let mut structural: Vec<(String, GapReason)> = Vec::new();
        for h in self.households.values() {
            if !self.compounds.contains_key(&h.compound_id) {
                missing(
                    Kind::Household,
                    &h.id,
                    "compound_id",
                    Kind::Compound,
                    &h.compound_id,
                );
            }
            match self.buildings.get(&h.building_id) {
                None => missing(
                    Kind::Household,
                    &h.id,
                    "building_id",
                    Kind::Building,
                    &h.building_id,
                ),
                Some(b) if b.compound_id != h.compound_id => structural.push((
                    h.id.clone(),
                    GapReason::CompoundMismatch {
                        building_compound_id: b.compound_id.clone(),
                    },
                )),
                Some(_) => {}
            }
            match &h.contract_group_id {
                Some(g) if !self.contract_groups.contains_key(g) => missing(
                    Kind::Household,
                    &h.id,
                    "contract_group_id",
                    Kind::ContractGroup,
                    g,
                ),
                Some(_) => {}
                None => structural.push((h.id.clone(), GapReason::NoContractGroup)),
            }
        }
        for r in self.residents.values() {
            if !self.households.contains_key(&r.household_id) {
                missing(
                    Kind::Resident,
                    &r.id,
                    "household_id",
                    Kind::Household,
                    &r.household_id,
                );
            }
        }
        for m in self.party_members.values() {
            if let Some(rid) = &m.resident_id
                && !self.residents.contains_key(rid)
            {
                missing(Kind::PartyMember, &m.id, "resident_id", Kind::Resident, rid);
            }
        }
        for s in self.staff.values() {
            if let Some(c) = &s.grid_compound_id
                && !self.compounds.contains_key(c)
            {
                missing(Kind::Staff, &s.id, "grid_compound_id", Kind::Compound, c);
            }
        }
        for v in self.volunteers.values() {
            if let Some(t) = &v.team_id
                && !self.volunteer_teams.contains_key(t)
            {
                missing(Kind::Volunteer, &v.id, "team_id", Kind::VolunteerTeam, t);
            }
        }
        for i in self.isolations.values() {
            if !self.residents.contains_key(&i.resident_id) {
                missing(
                    Kind::Isolation,
                    &i.id,
                    "resident_id",
                    Kind::Resident,
                    &i.resident_id,
                );
            }
        }
        for c in self.care_relationships.values() {
            if !self.residents.contains_key(&c.resident_id) {
                missing(
                    Kind::CareRelationship,
                    &c.id,
                    "resident_id",
                    Kind::Resident,
                    &c.resident_id,
                );
            }
        }
        for r in self.returnees.values() {
            if !self.residents.contains_key(&r.resident_id) {
                missing(
                    Kind::Returnee,
                    &r.id,
                    "resident_id",
                    Kind::Resident,
                    &r.resident_id,
                );
            }
        }
        for t in self.tickets.values() {
            if let Some(c) = &t.assigned_compound_id
                && !self.compounds.contains_key(c)
            {
                missing(
                    Kind::Ticket,
                    &t.id,
                    "assigned_compound_id",
                    Kind::Compound,
                    c,
                );
            }
            if let Some(s) = &t.assigned_staff_id
                && !self.staff.contains_key(s)
            {
                missing(Kind::Ticket, &t.id, "assigned_staff_id", Kind::Staff, s);
            }
        }
        for n in self.notices.values() {
            if let Some(c) = &n.compound_id
                && !self.compounds.contains_key(c)
            {
                missing(Kind::Notice, &n.id, "compound_id", Kind::Compound, c);
            }
        }
        for (id, reason) in structural {
            out.push(Gap {
                kind: Kind::Household.name(),
                id,
                reason,
            });
        }
        out.sort_by(|a, b| (a.kind, &a.id, &a.reason).cmp(&(b.kind, &b.id, &b.reason)));
        out
    }

    /// Residents of a household, in id order.
    pub fn residents_of<'a>(
        &'a self,
        household_id: &'a str,
    ) -> impl Iterator<Item = &'a Resident> + 'a {
        self.residents
            .values()
            .filter(move |r| r.household_id == household_id)
    }
}

/// A care relationship's `last_visit` only moves forward: after a merge of
/// concurrent visits it is the latest of them, not whichever one won.
pub(crate) fn settle_last_visit(cases: &AutoCommit, id: &str, rel: &mut CareRelationship) {
    if let Some(latest) =
        crate::docs::latest_date_of(cases, Kind::CareRelationship.collection(), id, "last_visit")
        && rel.last_visit.is_none_or(|l| l < latest)
    {
        rel.last_visit = Some(latest);
    }
}

/// One day's activity document, hydrated.
#[derive(Clone, Debug)]
pub struct DayView {
    pub day: Day,
    pub screening_visits: BTreeMap<String, ScreeningVisit>,
    pub care_visits: BTreeMap<String, CareVisit>,
    pub inspections: BTreeMap<String, Inspection>,
    pub unreadable: Vec<Gap>,
}

view_struct!(DayView {
    screening_visits: ScreeningVisit,
    care_visits: CareVisit,
    inspections: Inspection,
});

impl DayView {
    pub fn read(day: Day, doc: &AutoCommit) -> Self {
        let mut g = Vec::new();
        let screening_visits = read_all(
            doc,
            Kind::ScreeningVisit.name(),
            Kind::ScreeningVisit.collection(),
            &mut g,
        );
        let care_visits = read_all(
            doc,
            Kind::CareVisit.name(),
            Kind::CareVisit.collection(),
            &mut g,
        );
        let inspections = read_all(
            doc,
            Kind::Inspection.name(),
            Kind::Inspection.collection(),
            &mut g,
        );
        Self {
            day,
            screening_visits,
            care_visits,
            inspections,
            unreadable: g,
        }
    }

    /// Brings the view from the document as it was at `before` to the
    /// document as it is, `after` being its current heads, re-reading only
    /// the records the changes touched, or the whole day when the changes
    /// are not plainly record edits (see [`CommunityView::refresh_changed`]).
    pub fn refresh_changed(
        &mut self,
        doc: &mut AutoCommit,
        before: &[ChangeHash],
        after: &[ChangeHash],
    ) -> Refreshed {
        let records = Kind::of_class(DocClass::Activity)
            .map(|k| self.count(k))
            .sum();
        match changed(doc, DocClass::Activity, records, before, after)
            .and_then(|c| c.few_enough(records))
        {
            Ok(c) => {
                for (kind, id) in &c.records {
                    self.refresh(doc, *kind, id);
                }
                Refreshed::Records(c.records.len())
            }
            Err(why) => {
                *self = DayView::read(self.day, doc);
                Refreshed::Whole(why)
            }
        }
    }

    /// Gaps of this day relative to the community: visits of households or
    /// relationships that do not exist.
    pub fn gaps(&self, community: &CommunityView) -> Vec<Gap> {
        let mut out = self.unreadable.clone();
        for v in self.screening_visits.values() {
            if !community.households.contains_key(&v.household_id) {
                out.push(gap_ref(
                    Kind::ScreeningVisit,
                    &v.id,
                    "household_id",
                    Kind::Household,
                    &v.household_id,
                ));
            }
            for rid in v.residents.keys() {
                if !community.residents.contains_key(rid) {
                    out.push(gap_ref(
                        Kind::ScreeningVisit,
                        &v.id,
                        "residents",
                        Kind::Resident,
                        rid,
                    ));
                }
            }
        }
        for v in self.care_visits.values() {
            if !community
                .care_relationships
                .contains_key(&v.relationship_id)
            {
                out.push(gap_ref(
                    Kind::CareVisit,
                    &v.id,
                    "relationship_id",
                    Kind::CareRelationship,
                    &v.relationship_id,
                ));
            }
        }
        for v in self.inspections.values() {
            if !community.households.contains_key(&v.household_id) {
                out.push(gap_ref(
                    Kind::Inspection,
                    &v.id,
                    "household_id",
                    Kind::Household,
                    &v.household_id,
                ));
            }
        }
        out
    }
}

fn gap_ref(kind: Kind, id: &str, field: &'static str, target: Kind, target_id: &str) -> Gap {
    Gap {
        kind: kind.name(),
        id: id.to_string(),
        reason: GapReason::MissingReference {
            field,
            target: target.name(),
            target_id: target_id.to_string(),
        },
    }
}

/// The `kind` of the gap of an unreadable `community` record.
const COMMUNITY: &str = "community";

fn read_community(registry: &AutoCommit, gaps: &mut Vec<Gap>) -> Option<CommunityInfo> {
    match read_root::<CommunityInfo>(registry, COMMUNITY) {
        Ok(c) => c,
        Err(e) => {
            gaps.push(Gap {
                kind: COMMUNITY,
                id: String::new(),
                reason: GapReason::Unreadable(e),
            });
            None
        }
    }
}

/// The document class an unreadable gap was read from.
fn gap_class(g: &Gap) -> Option<DocClass> {
    if g.kind == COMMUNITY {
        return Some(DocClass::Registry);
    }
    Kind::parse(g.kind).map(Kind::doc_class)
}

/// How a view was brought up to date with a document's changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refreshed {
    /// Only what the changes touched was re-read: this many records, and
    /// the community if it changed.
    Records(usize),
    /// The document's whole part of the view was re-read, for this reason.
    Whole(WholeReason),
}

/// Why a refresh from changes re-read a document's whole part of the view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WholeReason {
    /// `after` is not the document's current heads: the view can only be
    /// brought to the document as it is.
    AfterNotCurrent,
    /// `before` names a change the document does not have, so what changed
    /// since then cannot be told.
    BeforeUnknown,
    /// A collection itself was put, replaced or removed at the root.
    CollectionReplaced(&'static str),
    /// A root key that the view does not know changed.
    UnknownRootKey(String),
    /// Something changed inside a collection but not under a record's key
    /// (the collection is a list, say).
    NotARecord(&'static str),
    /// More than half the records changed: one pass costs less than a
    /// look-up per record.
    MostRecords { touched: usize, records: usize },
    /// The view held no record of the document (a first sync, say): the
    /// diff would only tell that one read is needed, after costing about
    /// as much.
    EmptyView,
}

/// Root keys that are no view's business: the header, and a community's
/// daily sign-offs in its cases document (read by `signoff`, not here).
fn outside_views(root_key: &str) -> bool {
    matches!(root_key, "doc_kind" | "doc_id" | "schema_version")
        || root_key.starts_with("sign_off/")
}

/// What changed between two sets of heads of one document, as records.
#[derive(Debug, Default)]
struct Changed {
    records: BTreeSet<(Kind, String)>,
    /// The registry's `community` root key changed.
    community: bool,
}

impl Changed {
    fn few_enough(self, records: usize) -> Result<Self, WholeReason> {
        let touched = self.records.len();
        if touched * 2 > records {
            return Err(WholeReason::MostRecords { touched, records });
        }
        Ok(self)
    }
}

/// The records of a document of `class` (of which the view holds
/// `records`) that differ between `before` and `after`, from Automerge's
/// patches between them: a patch whose path starts at a collection then a
/// record key (a field edit, at any depth), or a put or delete of a record
/// key on the collection itself. Anything else at the root, but the
/// registry's community and the keys [`outside_views`], is refused with
/// the reason, for the caller to re-read instead.
fn changed(
    doc: &mut AutoCommit,
    class: DocClass,
    records: usize,
    before: &[ChangeHash],
    after: &[ChangeHash],
) -> Result<Changed, WholeReason> {
    if records == 0 {
        return Err(WholeReason::EmptyView);
    }
    let mut after = after.to_vec();
    after.sort_unstable();
    after.dedup();
    if doc.get_heads() != after {
        return Err(WholeReason::AfterNotCurrent);
    }
    // A head the document lacks would be dropped from the diff's starting
    // point, and a record made and removed since then would be missed.
    let missing = doc.get_missing_deps(before);
    if before.iter().any(|h| missing.contains(h)) {
        return Err(WholeReason::BeforeUnknown);
    }
    let mut out = Changed::default();
    let mut before = before.to_vec();
    before.sort_unstable();
    before.dedup();
    if before == after {
        return Ok(out);
    }
    let patches = if doc.diff_cursor() == before {
        // From the patch log Automerge keeps since the cursor was set (see
        // `AutoCommit::update_diff_cursor`): as long as the changes, not
        // the document.
        doc.diff(&before, &after)
    } else {
        // A scan of every operation of the document: for a registry of
        // 3,000 households, some 30 ms where hydrating it takes 400 (see
        // examples/incremental_refresh.rs). `Automerge::diff` rather than
        // `AutoCommit::diff`, which would keep a copy of the patches.
        doc.document().diff(&before, &after)
    };
    for patch in patches {
        let own = action_prop(&patch.action);
        let mut path = patch.path.iter().map(|(_, p)| p).chain(own.as_ref());
        let (root, below) = (path.next(), path.next());
        let Some(Prop::Map(root)) = root else {
            return Err(WholeReason::UnknownRootKey(format!("{root:?}")));
        };
        if outside_views(root) {
            continue;
        }
        if class == DocClass::Registry && root == COMMUNITY {
            out.community = true;
            continue;
        }
        let Some(kind) = Kind::of_class(class).find(|k| k.collection() == root) else {
            return Err(WholeReason::UnknownRootKey(root.clone()));
        };
        match below {
            Some(Prop::Map(id)) => {
                out.records.insert((kind, id.clone()));
            }
            Some(Prop::Seq(_)) => return Err(WholeReason::NotARecord(kind.collection())),
            None => return Err(WholeReason::CollectionReplaced(kind.collection())),
        }
    }
    Ok(out)
}

/// The key or index in its object that a patch changes, if it names one.
fn action_prop(action: &PatchAction) -> Option<Prop> {
    match action {
        PatchAction::PutMap { key, .. } | PatchAction::DeleteMap { key } => {
            Some(Prop::Map(key.clone()))
        }
        PatchAction::PutSeq { index, .. }
        | PatchAction::Insert { index, .. }
        | PatchAction::SpliceText { index, .. }
        | PatchAction::DeleteSeq { index, .. } => Some(Prop::Seq(*index)),
        PatchAction::Increment { prop, .. } | PatchAction::Conflict { prop } => Some(prop.clone()),
        PatchAction::Mark { .. } => None,
    }
}
