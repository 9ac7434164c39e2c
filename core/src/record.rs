//! `Record` and `Kind`: every record kind of a community in one table, with
//! the document class it lives in, its collection name in that document and
//! the prefix of its ids.

use serde::{Deserialize, Serialize};

use crate::ids::{Day, day_compact};
use crate::model::*;

/// Which document of a community a kind of record lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DocClass {
    Registry,
    Cases,
    Activity,
}

macro_rules! record_kinds {
    ($( $variant:ident, $name:literal, $coll:literal, $prefix:literal, $class:ident; )*) => {
        /// A kind of community record.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Kind { $($variant),* }

        impl Kind {
            pub const ALL: &'static [Kind] = &[$(Kind::$variant),*];

            /// The name used in the API and in messages (`household`).
            pub fn name(self) -> &'static str {
                match self { $(Kind::$variant => $name),* }
            }
            /// The map in the document that holds this kind (`households`).
            pub fn collection(self) -> &'static str {
                match self { $(Kind::$variant => $coll),* }
            }
            /// The prefix of ids of this kind (`hh`).
            pub fn id_prefix(self) -> &'static str {
                match self { $(Kind::$variant => $prefix),* }
            }
            pub fn doc_class(self) -> DocClass {
                match self { $(Kind::$variant => DocClass::$class),* }
            }
            pub fn parse(s: &str) -> Option<Kind> {
                match s { $($name => Some(Kind::$variant),)* _ => None }
            }
        }

        /// One record of any community kind.
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "kind", rename_all = "snake_case")]
        pub enum Record { $($variant($variant)),* }

        impl Record {
            pub fn kind(&self) -> Kind {
                match self { $(Record::$variant(_) => Kind::$variant),* }
            }
            pub fn id(&self) -> &str {
                match self { $(Record::$variant(r) => &r.id),* }
            }
            pub fn set_id(&mut self, id: String) {
                match self { $(Record::$variant(r) => r.id = id),* }
            }
        }

        $(impl From<$variant> for Record {
            fn from(r: $variant) -> Self { Record::$variant(r) }
        })*

        /// A record is written as its kind's struct is: `docs::put_in(doc,
        /// rec.kind().collection(), id, &rec)` writes the same operations as
        /// writing the struct itself.
        impl autosurgeon::Reconcile for Record {
            type Key<'a> = autosurgeon::reconcile::NoKey;
            fn reconcile<R: autosurgeon::Reconciler>(&self, r: R) -> Result<(), R::Error> {
                match self { $(Record::$variant(x) => x.reconcile(r)),* }
            }
        }
    };
}

record_kinds! {
    Compound,         "compound",          "compounds",          "cp", Registry;
    Building,         "building",          "buildings",          "bd", Registry;
    ContractGroup,    "contract_group",    "contract_groups",    "cg", Registry;
    Household,        "household",         "households",         "hh", Registry;
    Resident,         "resident",          "residents",          "rs", Registry;
    PartyMember,      "party_member",      "party_members",      "pm", Registry;
    Staff,            "staff",             "staff",              "sf", Registry;
    VolunteerTeam,    "volunteer_team",    "volunteer_teams",    "vt", Registry;
    Volunteer,        "volunteer",         "volunteers",         "vo", Registry;
    Isolation,        "isolation",         "isolations",         "is", Cases;
    CareRelationship, "care_relationship", "care_relationships", "cr", Cases;
    Ticket,           "ticket",            "tickets",            "tk", Cases;
    Returnee,         "returnee",          "returnees",          "rt", Cases;
    Notice,           "notice",            "notices",            "nt", Cases;
    ScreeningVisit,   "screening_visit",   "screening_visits",   "sv", Activity;
    CareVisit,        "care_visit",        "care_visits",        "cv", Activity;
    Inspection,       "inspection",        "inspections",        "in", Activity;
}

impl Kind {
    /// Kinds stored in documents of `class`.
    pub fn of_class(class: DocClass) -> impl Iterator<Item = Kind> {
        Kind::ALL
            .iter()
            .copied()
            .filter(move |k| k.doc_class() == class)
    }

    /// A new id of this kind from 8 random bytes given by the caller (the
    /// core reads no randomness). Activity ids carry their day.
    pub fn new_id(self, random: [u8; 8], day: Option<Day>) -> String {
        let r = hex::encode(random);
        match (self.doc_class(), day) {
            (DocClass::Activity, Some(d)) => format!("{}_{}_{r}", self.id_prefix(), day_compact(d)),
            _ => format!("{}_{r}", self.id_prefix()),
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Record {
    /// For activity records, the instant that places them on a day.
    pub fn activity_instant_ms(&self) -> Option<i64> {
        match self {
            Record::ScreeningVisit(v) => Some(v.visited_at_ms),
            Record::CareVisit(v) => Some(v.visited_at_ms),
            Record::Inspection(v) => Some(v.inspected_at_ms),
            _ => None,
        }
    }
}
