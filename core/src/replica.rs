//! `CommunityReplica`: the Automerge documents of one community (registry,
//! cases and the activity days that are loaded), their hydrated views, and
//! the edits that change them.
//!
//! An edit group ([`CommunityReplica::apply`]) is all or nothing: every edit
//! is validated against the community as it stands (including the edits
//! before it in the group) before its document is touched, and if any edit
//! fails, the uncommitted operations of the group are rolled back in every
//! document and the views re-read. A successful group is one Automerge
//! change per document it touched. The caller then takes the bytes of those
//! changes with [`CommunityReplica::unsaved`], commits them durably, and
//! only then answers the user; see the node's store.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use automerge::transaction::CommitOptions;
use automerge::{ActorId, AutoCommit, ChangeHash};
use chrono::TimeZone;
use chrono_tz::Tz;

use crate::docs::{self, check_header, delete_in, genesis, put_root};
use crate::error::CoreError;
use crate::ids::{
    CommunityId, Day, DocId, PersonKey, PersonKeySecret, day_compact, day_of_activity_id,
};
use crate::model::*;
use crate::record::{DocClass, Kind, Record};
use crate::validate;
use crate::view::{CommunityView, DayView, Refreshed};

/// One edit asked for by a user.
#[derive(Clone, Debug, PartialEq)]
pub enum Edit {
    /// Create a record. Its id must be set (the caller makes ids: the core
    /// reads no randomness); see [`Kind::new_id`].
    Create(Record),
    /// Replace an existing record's fields with these.
    Update(Record),
    Remove {
        kind: Kind,
        id: String,
    },
}

/// What an edit needs from outside: the time and the street's time zone.
#[derive(Clone, Copy, Debug)]
pub struct EditContext {
    /// Now, in Unix milliseconds.
    pub now_ms: i64,
    /// The time zone whose calendar days split activity documents.
    pub tz: Tz,
}

/// The local day of an instant in `tz`.
/// `None` for an instant outside the years 1000–9000, where calendars and
/// time-zone offsets stop being meaningful (and chrono could overflow).
pub fn day_of_instant(ms: i64, tz: Tz) -> Option<Day> {
    const EARLIEST_MS: i64 = -30_610_224_000_000; // 1000-01-01T00:00Z
    const LATEST_MS: i64 = 221_845_392_000_000; // 9000-01-01T00:00Z
    if !(EARLIEST_MS..=LATEST_MS).contains(&ms) {
        return None;
    }
    tz.timestamp_millis_opt(ms).single().map(|t| t.date_naive())
}

/// The documents of one community and their views.
pub struct CommunityReplica {
    community: CommunityId,
    actor: ActorId,
    secret: Option<PersonKeySecret>,
    registry: AutoCommit,
    cases: AutoCommit,
    days: BTreeMap<Day, (AutoCommit, DayView)>,
    view: CommunityView,
    /// Heads already handed out by `unsaved` (and so, durably stored).
    saved: HashMap<DocId, Vec<ChangeHash>>,
}

impl CommunityReplica {
    /// A new, empty community: the genesis of its registry and cases, not
    /// yet saved.
    pub fn new(community: CommunityId, actor: ActorId, secret: Option<PersonKeySecret>) -> Self {
        let registry = genesis(&DocId::Registry(community.clone()), actor.clone());
        let cases = genesis(&DocId::Cases(community.clone()), actor.clone());
        Self::assemble(community, actor, secret, registry, cases, HashMap::new())
    }

    /// A community from stored documents, which count as saved.
    pub fn from_docs(
        community: CommunityId,
        actor: ActorId,
        secret: Option<PersonKeySecret>,
        registry: AutoCommit,
        cases: AutoCommit,
    ) -> Result<Self, CoreError> {
        check_header(&registry, &DocId::Registry(community.clone()))?;
        check_header(&cases, &DocId::Cases(community.clone()))?;
        let mut registry = registry.with_actor(actor.clone());
        let mut cases = cases.with_actor(actor.clone());
        let mut saved = HashMap::new();
        saved.insert(DocId::Registry(community.clone()), registry.get_heads());
        saved.insert(DocId::Cases(community.clone()), cases.get_heads());
        Ok(Self::assemble(
            community, actor, secret, registry, cases, saved,
        ))
    }

    fn assemble(
        community: CommunityId,
        actor: ActorId,
        secret: Option<PersonKeySecret>,
        registry: AutoCommit,
        cases: AutoCommit,
        saved: HashMap<DocId, Vec<ChangeHash>>,
    ) -> Self {
        let view = CommunityView::read(&registry, &cases);
        let (mut registry, mut cases) = (registry, cases);
        viewed(&mut registry);
        viewed(&mut cases);
        Self {
            community,
            actor,
            secret,
            registry,
            cases,
            days: BTreeMap::new(),
            view,
            saved,
        }
    }

    pub fn community(&self) -> &CommunityId {
        &self.community
    }

    pub fn view(&self) -> &CommunityView {
        &self.view
    }

    /// Loads a stored activity document for `day` (it counts as saved).
    pub fn attach_day(&mut self, day: Day, doc: AutoCommit) -> Result<(), CoreError> {
        let id = DocId::Activity(self.community.clone(), day);
        check_header(&doc, &id)?;
        let mut doc = doc.with_actor(self.actor.clone());
        self.saved.insert(id, doc.get_heads());
        let view = DayView::read(day, &doc);
        viewed(&mut doc);
        self.days.insert(day, (doc, view));
        Ok(())
    }

    /// Starts the activity document of a day that has none stored yet.
    pub fn start_day(&mut self, day: Day) {
        let mut doc = genesis(
            &DocId::Activity(self.community.clone(), day),
            self.actor.clone(),
        );
        let view = DayView::read(day, &doc);
        viewed(&mut doc);
        self.days.insert(day, (doc, view));
    }

    pub fn has_day(&self, day: Day) -> bool {
        self.days.contains_key(&day)
    }

    /// Drops a loaded day from memory. Its unsaved changes, if any, are kept
    /// (and the day with them) and `false` is returned.
    pub fn detach_day(&mut self, day: Day) -> bool {
        let id = DocId::Activity(self.community.clone(), day);
        if let Some((doc, _)) = self.days.get_mut(&day)
            && self.saved.get(&id) != Some(&doc.get_heads())
        {
            return false;
        }
        self.days.remove(&day);
        self.saved.remove(&id);
        true
    }

    /// Drops a day started by [`Self::start_day`] for a group that was then
    /// refused. Only for days with nothing stored: unlike `detach_day`, it
    /// throws away unsaved changes.
    pub fn discard_day(&mut self, day: Day) {
        self.days.remove(&day);
        self.saved
            .remove(&DocId::Activity(self.community.clone(), day));
    }

    pub fn loaded_days(&self) -> Vec<Day> {
        self.days.keys().copied().collect()
    }

    pub fn day_view(&self, day: Day) -> Option<&DayView> {
        self.days.get(&day).map(|(_, v)| v)
    }

    /// A document of this community, if loaded.
    pub fn doc_mut(&mut self, id: &DocId) -> Option<&mut AutoCommit> {
        if id.community() != Some(&self.community) {
            return None;
        }
        match id {
            DocId::Registry(_) => Some(&mut self.registry),
            DocId::Cases(_) => Some(&mut self.cases),
            DocId::Activity(_, d) => self.days.get_mut(d).map(|(doc, _)| doc),
            DocId::Street => None,
        }
    }

    /// Ids of the loaded documents.
    pub fn doc_ids(&self) -> Vec<DocId> {
        let mut out = vec![
            DocId::Registry(self.community.clone()),
            DocId::Cases(self.community.clone()),
        ];
        out.extend(
            self.days
                .keys()
                .map(|d| DocId::Activity(self.community.clone(), *d)),
        );
        out
    }

    /// The day document an edit needs loaded, if it is an activity edit.
    /// For a create or update the day comes from the record's instant; for a
    /// remove, from the id.
    pub fn day_needed(edit: &Edit, tz: Tz) -> Result<Option<Day>, CoreError> {
        match edit {
            Edit::Create(r) | Edit::Update(r) if r.kind().doc_class() == DocClass::Activity => {
                let kind = r.kind();
                let ms = r.activity_instant_ms().unwrap_or_default();
                let instant_day = day_of_instant(ms, tz).ok_or_else(|| {
                    CoreError::invalid(
                        format!("{kind}.instant"),
                        format!("{ms} is not an instant between the years 1000 and 9000 (Unix milliseconds)"),
                    )
                })?;
                if r.id().is_empty() {
                    return Ok(Some(instant_day));
                }
                let id_day = activity_day_of_id(kind, r.id())?;
                if id_day != instant_day {
                    return Err(CoreError::invalid(
                        format!("{kind}.id"),
                        format!(
                            "is for day {id_day}, but the record's time falls on {instant_day}; an activity record stays on its day (remove it and create a new one)"
                        ),
                    ));
                }
                Ok(Some(id_day))
            }
            Edit::Remove { kind, id } if kind.doc_class() == DocClass::Activity => {
                Ok(Some(activity_day_of_id(*kind, id)?))
            }
            _ => Ok(None),
        }
    }

    /// Sets the community's own name and kind.
    pub fn set_community(
        &mut self,
        info: &CommunityInfo,
        ctx: &EditContext,
    ) -> Result<(), CoreError> {
        validate::name("community.name", &info.name)?;
        if info.id != self.community.as_str() {
            return Err(CoreError::invalid(
                "community.id",
                format!(
                    "is {:?}, but this replica is community {:?}",
                    info.id,
                    self.community.as_str()
                ),
            ));
        }
        put_root(&mut self.registry, "community", info)?;
        self.registry.commit_with(commit_opts("set community", ctx));
        // Re-read rather than assigned: a gap of an unreadable community goes too.
        self.view.refresh_community(&self.registry);
        viewed(&mut self.registry);
        Ok(())
    }

    /// Applies a group of edits, all or nothing, as one change per document
    /// touched. Returns the records as stored (for removes, the record that
    /// was removed).
    pub fn apply(
        &mut self,
        edits: &[Edit],
        ctx: &EditContext,
        message: &str,
    ) -> Result<Vec<Record>, CoreError> {
        let mut touched: BTreeSet<(Option<Day>, Kind, String)> = BTreeSet::new();
        let mut out = Vec::with_capacity(edits.len());
        for edit in edits {
            match self.apply_one(edit, ctx, &mut touched) {
                Ok(rec) => out.push(rec),
                Err(e) => {
                    // Every loaded document, not just those a put reached: a
                    // write that failed part-way may have left operations pending.
                    self.registry.rollback();
                    self.cases.rollback();
                    for (doc, _) in self.days.values_mut() {
                        doc.rollback();
                    }
                    for (day, kind, id) in touched {
                        self.refresh(kind, day, &id);
                    }
                    return Err(e);
                }
            }
        }
        let docs: BTreeSet<(DocClass, Option<Day>)> = touched
            .iter()
            .map(|(day, kind, _)| (kind.doc_class(), *day))
            .collect();
        for (class, day) in docs {
            if let Some(doc) = self.doc_for(class, day) {
                doc.commit_with(commit_opts(message, ctx));
                viewed(doc);
            }
        }
        Ok(out)
    }

    fn doc_for(&mut self, class: DocClass, day: Option<Day>) -> Option<&mut AutoCommit> {
        match (class, day) {
            (DocClass::Registry, _) => Some(&mut self.registry),
            (DocClass::Cases, _) => Some(&mut self.cases),
            (DocClass::Activity, Some(d)) => self.days.get_mut(&d).map(|(doc, _)| doc),
            (DocClass::Activity, None) => None,
        }
    }

    fn refresh(&mut self, kind: Kind, day: Option<Day>, id: &str) {
        match (kind.doc_class(), day) {
            (DocClass::Registry, _) => self.view.refresh_record(&self.registry, kind, id),
            (DocClass::Cases, _) => self.view.refresh_record(&self.cases, kind, id),
            (DocClass::Activity, Some(d)) => {
                if let Some((doc, view)) = self.days.get_mut(&d) {
                    view.refresh(doc, kind, id);
                }
            }
            (DocClass::Activity, None) => {}
        }
    }

    /// Looks a record up in the loaded documents.
    pub fn get(&self, kind: Kind, id: &str) -> Option<Record> {
        match kind.doc_class() {
            DocClass::Activity => {
                let day = day_of_activity_id(id)?;
                self.days.get(&day)?.1.get(kind, id)
            }
            _ => self.view.get(kind, id),
        }
    }

    fn put(
        &mut self,
        rec: &Record,
        creating: bool,
        day: Option<Day>,
        touched: &mut BTreeSet<(Option<Day>, Kind, String)>,
    ) -> Result<(), CoreError> {
        let kind = rec.kind();
        let id = rec.id().to_string();
        let doc = self.doc_for(kind.doc_class(), day).ok_or_else(|| {
            CoreError::Precondition(format!("the activity document of {day:?} is not loaded"))
        })?;
        let direct = if creating {
            docs::create_in(doc, kind.collection(), &id, rec)?
        } else {
            docs::put_in(doc, kind.collection(), &id, rec)?;
            false
        };
        touched.insert((day, kind, id.clone()));
        if direct {
            self.show_created(rec, day);
        } else {
            self.refresh(kind, day, &id);
        }
        Ok(())
    }

    /// Puts a record the direct encoder just wrote into its view, as
    /// [`Self::refresh`] would re-read it (a day's view has nothing derived).
    fn show_created(&mut self, rec: &Record, day: Option<Day>) {
        match (rec.kind().doc_class(), day) {
            (DocClass::Registry, _) => self.view.put_created(&self.registry, rec),
            (DocClass::Cases, _) => self.view.put_created(&self.cases, rec),
            (DocClass::Activity, Some(d)) => {
                if let Some((_, view)) = self.days.get_mut(&d) {
                    view.put_written(rec);
                }
            }
            (DocClass::Activity, None) => {}
        }
    }

    fn apply_one(
        &mut self,
        edit: &Edit,
        ctx: &EditContext,
        touched: &mut BTreeSet<(Option<Day>, Kind, String)>,
    ) -> Result<Record, CoreError> {
        let day = Self::day_needed(edit, ctx.tz)?;
        if let Some(d) = day
            && !self.days.contains_key(&d)
        {
            return Err(CoreError::Precondition(format!(
                "the activity document of {d} is not loaded"
            )));
        }
        match edit {
            Edit::Create(rec) | Edit::Update(rec) => {
                let creating = matches!(edit, Edit::Create(_));
                let kind = rec.kind();
                if rec.id().is_empty() {
                    return Err(CoreError::invalid(format!("{kind}.id"), "is required"));
                }
                let mut rec = rec.clone();
                self.derive_fields(&mut rec);
                validate::fields(&rec, ctx.now_ms).map_err(CoreError::Invalid)?;
                let exists = self.get(kind, rec.id()).is_some();
                if creating && exists {
                    return Err(CoreError::AlreadyExists {
                        kind: kind.name(),
                        id: rec.id().to_string(),
                    });
                }
                if !creating && !exists {
                    return Err(CoreError::NotFound {
                        kind: kind.name(),
                        id: rec.id().to_string(),
                    });
                }
                validate::references(&rec, &self.view, day).map_err(CoreError::Invalid)?;
                self.put(&rec, creating, day, touched)?;
                self.side_effects(&rec, day, touched)?;
                Ok(self.get(kind, rec.id()).unwrap_or(rec))
            }
            Edit::Remove { kind, id } => {
                let Some(old) = self.get(*kind, id) else {
                    return Err(CoreError::NotFound {
                        kind: kind.name(),
                        id: id.clone(),
                    });
                };
                let deps = validate::dependents(*kind, id, &self.view);
                if !deps.is_empty() {
                    return Err(CoreError::Precondition(format!(
                        "{kind} {id:?} still has {}; move or remove them first",
                        deps.join(" and ")
                    )));
                }
                let doc = self
                    .doc_for(kind.doc_class(), day)
                    .ok_or_else(|| CoreError::Precondition("document not loaded".into()))?;
                delete_in(doc, kind.collection(), id)?;
                touched.insert((day, *kind, id.clone()));
                self.refresh(*kind, day, id);
                Ok(old)
            }
        }
    }

    /// Fields the replica derives rather than takes from the user.
    fn derive_fields(&self, rec: &mut Record) {
        if let Record::Resident(r) = rec {
            r.person_key = match (&r.id_number, &self.secret) {
                (Some(n), Some(s)) if validate::id_number("resident.id_number", n).is_ok() => {
                    Some(PersonKey::derive(s, n).as_str().to_string())
                }
                _ => None,
            };
            if let Some(n) = &r.id_number {
                r.id_number = Some(n.trim().to_ascii_uppercase());
            }
        }
    }

    /// Long-lived cases kept up to date by activity: a returnee found by a
    /// screening visit becomes a `Returnee` case; a care visit moves its
    /// relationship's `last_visit` forward (never back).
    fn side_effects(
        &mut self,
        rec: &Record,
        day: Option<Day>,
        touched: &mut BTreeSet<(Option<Day>, Kind, String)>,
    ) -> Result<(), CoreError> {
        match rec {
            Record::ScreeningVisit(v) => {
                for (rid, entry) in &v.residents {
                    if entry.status != ScreeningStatus::Returned {
                        continue;
                    }
                    let (Some(on), Some(from)) = (entry.returned_on, entry.returned_from.clone())
                    else {
                        continue;
                    };
                    let returnee = Returnee {
                        id: returnee_id(rid, on.0),
                        resident_id: rid.clone(),
                        returned_on: on,
                        from_region: from,
                        visit_id: Some(v.id.clone()),
                    };
                    self.put(&Record::Returnee(returnee), false, None, touched)?;
                }
            }
            Record::CareVisit(v) => {
                if let (Some(rel), Some(d)) = (
                    self.view
                        .care_relationships
                        .get(&v.relationship_id)
                        .cloned(),
                    day,
                ) && rel.last_visit.is_none_or(|l| l.0 < d)
                    && rel.since.0 <= d
                {
                    let mut rel = rel;
                    rel.last_visit = Some(Date(d));
                    self.put(&Record::CareRelationship(rel), false, None, touched)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The changes of each document not yet handed out, as bytes that
    /// `AutoCommit::load_incremental` accepts, with the heads they reach.
    /// Call [`Self::mark_saved`] once they are durably stored.
    pub fn unsaved(&mut self) -> Vec<(DocId, Vec<u8>, Vec<ChangeHash>)> {
        let mut out = Vec::new();
        for id in self.doc_ids() {
            let saved = self.saved.get(&id).cloned().unwrap_or_default();
            let Some(doc) = self.doc_mut(&id) else {
                continue;
            };
            let heads = doc.get_heads();
            if heads == saved {
                continue;
            }
            let bytes = doc.save_after(&saved);
            out.push((id, bytes, heads));
        }
        out
    }

    /// Records that a document's changes up to `heads` are durably stored.
    pub fn mark_saved(&mut self, id: &DocId, heads: Vec<ChangeHash>) {
        self.saved.insert(id.clone(), heads);
    }

    /// The whole document, compacted, for a snapshot.
    pub fn save_doc(&mut self, id: &DocId) -> Option<Vec<u8>> {
        self.doc_mut(id).map(|d| d.save())
    }

    pub fn heads(&mut self, id: &DocId) -> Option<Vec<ChangeHash>> {
        self.doc_mut(id).map(|d| d.get_heads())
    }

    /// Re-reads every view from the documents (after a merge).
    pub fn reread(&mut self) {
        self.view = CommunityView::read(&self.registry, &self.cases);
        viewed(&mut self.registry);
        viewed(&mut self.cases);
        for (day, (doc, view)) in self.days.iter_mut() {
            *view = DayView::read(*day, doc);
            viewed(doc);
        }
    }

    /// Re-reads the view of one document (after sync changed it).
    pub fn reread_doc(&mut self, id: &DocId) {
        match id {
            DocId::Registry(_) | DocId::Cases(_) => {
                self.view = CommunityView::read(&self.registry, &self.cases);
                viewed(&mut self.registry);
                viewed(&mut self.cases);
            }
            DocId::Activity(_, day) => {
                if let Some((doc, view)) = self.days.get_mut(day) {
                    *view = DayView::read(*day, doc);
                    viewed(doc);
                }
            }
            DocId::Street => {}
        }
    }

    /// Brings the view of one document up to date after sync changed it,
    /// `before` being the document's heads the view last reflected: only
    /// the records changed since then are re-read, unless the changes call
    /// for re-reading the document's whole part of the view (see
    /// [`WholeReason`](crate::view::WholeReason)). Gives the same view as
    /// [`Self::reread_doc`], for less when few records changed. `None` if
    /// this replica does not hold the document.
    pub fn refresh_doc(&mut self, id: &DocId, before: &[ChangeHash]) -> Option<Refreshed> {
        if id.community() != Some(&self.community) {
            return None;
        }
        let (doc, refreshed) = match id {
            DocId::Registry(_) => {
                let after = self.registry.get_heads();
                let r = self.view.refresh_changed(
                    &mut self.registry,
                    DocClass::Registry,
                    before,
                    &after,
                );
                (&mut self.registry, r)
            }
            DocId::Cases(_) => {
                let after = self.cases.get_heads();
                let r = self
                    .view
                    .refresh_changed(&mut self.cases, DocClass::Cases, before, &after);
                (&mut self.cases, r)
            }
            DocId::Activity(_, day) => {
                let (doc, view) = self.days.get_mut(day)?;
                let after = doc.get_heads();
                let r = view.refresh_changed(doc, before, &after);
                (doc, r)
            }
            DocId::Street => return None,
        };
        viewed(doc);
        Some(refreshed)
    }

    /// Merges every document of `other` (the same community) into this
    /// replica, starting any day this one lacks from its genesis, and re-reads
    /// the views. The merged changes are unsaved until taken with `unsaved`.
    pub fn merge(&mut self, other: &mut CommunityReplica) -> Result<(), CoreError> {
        if other.community != self.community {
            return Err(CoreError::Precondition(format!(
                "cannot merge community {} into {}",
                other.community, self.community
            )));
        }
        let id = DocId::Registry(self.community.clone());
        self.registry
            .merge(&mut other.registry)
            .map_err(|e| CoreError::doc(&id, e))?;
        let id = DocId::Cases(self.community.clone());
        self.cases
            .merge(&mut other.cases)
            .map_err(|e| CoreError::doc(&id, e))?;
        for (day, (doc, _)) in other.days.iter_mut() {
            if !self.days.contains_key(day) {
                self.start_day(*day);
            }
            let id = DocId::Activity(self.community.clone(), *day);
            if let Some((mine, _)) = self.days.get_mut(day) {
                mine.merge(doc).map_err(|e| CoreError::doc(&id, e))?;
            }
        }
        self.reread();
        Ok(())
    }

    /// The number of records of `kind` in the loaded documents.
    pub fn record_count(&self, kind: Kind) -> usize {
        match kind.doc_class() {
            DocClass::Activity => self.days.values().map(|(_, v)| v.count(kind)).sum(),
            _ => self.view.count(kind),
        }
    }
}

/// Marks `doc` as reflected by its view as it is now: Automerge's diff
/// cursor is set to its heads, so that a later refresh (`refresh_doc`,
/// `CommunityView::refresh_changed`) from these
/// heads reads the patches Automerge logged since rather than scanning the
/// whole document. Speed only: a refresh from other heads is as correct,
/// and slower.
pub fn viewed(doc: &mut AutoCommit) {
    doc.update_diff_cursor();
    // `AutoCommit::diff` keeps a copy of the patches it last gave; an empty
    // diff (read from the just-emptied log) replaces that copy, which after
    // a large sync would be a copy of much of the document.
    let heads = doc.get_heads();
    let _ = doc.diff(&heads, &heads);
}

/// The id of the returnee case of a resident who returned on a day: the same
/// wherever and however often the return is recorded, so it is not counted twice.
pub fn returnee_id(resident_id: &str, on: Day) -> String {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(resident_id.as_bytes());
    format!(
        "{}_{}_{}",
        Kind::Returnee.id_prefix(),
        day_compact(on),
        hex::encode(&h[..8])
    )
}

fn activity_day_of_id(kind: Kind, id: &str) -> Result<Day, CoreError> {
    day_of_activity_id(id).ok_or_else(|| {
        CoreError::invalid(
            format!("{kind}.id"),
            format!(
                "{id:?} is not an id of a {kind} (they look like {}_20261129_…)",
                kind.id_prefix()
            ),
        )
    })
}

fn commit_opts(message: &str, ctx: &EditContext) -> CommitOptions {
    CommitOptions::default()
        .with_message(message.to_string())
        .with_time(ctx.now_ms.div_euclid(1000))
}

/// Creates a record of a cases-document kind (a ticket dispatched by the
/// street, say) straight in `cases`, checked against `view` — the
/// community's registry and cases as they stand: the field rules, no record
/// of that id yet, the references. Committed in `cases` with `message`;
/// on any error nothing is changed. For a holder of the documents and a
/// current view (the coordinator) that does not keep a `CommunityReplica`;
/// cases kinds have no side effects on other records.
pub fn create_case(
    cases: &mut AutoCommit,
    view: &CommunityView,
    rec: Record,
    ctx: &EditContext,
    message: &str,
) -> Result<Record, CoreError> {
    let kind = rec.kind();
    if kind.doc_class() != DocClass::Cases {
        return Err(CoreError::Precondition(format!(
            "a {kind} is not a record of the cases document"
        )));
    }
    if rec.id().is_empty() {
        return Err(CoreError::invalid(format!("{kind}.id"), "is required"));
    }
    validate::fields(&rec, ctx.now_ms).map_err(CoreError::Invalid)?;
    if view.contains(kind, rec.id()) {
        return Err(CoreError::AlreadyExists {
            kind: kind.name(),
            id: rec.id().to_string(),
        });
    }
    validate::references(&rec, view, None).map_err(CoreError::Invalid)?;
    if let Err(e) = docs::put_in(cases, rec.kind().collection(), rec.id(), &rec) {
        cases.rollback();
        return Err(e);
    }
    cases.commit_with(commit_opts(message, ctx));
    Ok(rec)
}

/// Loads a document from stored parts: a snapshot (or nothing) followed by
/// incremental chunks in order.
pub fn load_doc<'a>(
    snapshot: Option<&[u8]>,
    chunks: impl IntoIterator<Item = &'a [u8]>,
    id: &DocId,
) -> Result<AutoCommit, CoreError> {
    let mut doc = match snapshot {
        Some(s) if !s.is_empty() => AutoCommit::load(s).map_err(|e| CoreError::doc(id, e))?,
        _ => AutoCommit::new(),
    };
    for c in chunks {
        doc.load_incremental(c).map_err(|e| CoreError::doc(id, e))?;
    }
    docs::check_header(&doc, id)?;
    Ok(doc)
}
