//! Identifiers: newtypes with their own parse errors, document ids, and the
//! street-wide person key.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::error::FieldError;

/// The longest id we accept. Ids are keys in Automerge maps and SQLite rows;
/// bounding them bounds what a bad request can make us store.
pub const MAX_ID_LEN: usize = 64;

fn check_id(field: &str, s: &str) -> Result<(), FieldError> {
    if s.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if s.len() > MAX_ID_LEN {
        return Err(FieldError::new(
            field,
            format!(
                "is {} characters long; at most {MAX_ID_LEN} are allowed",
                s.len()
            ),
        ));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-'))
    {
        return Err(FieldError::new(
            field,
            format!("contains {c:?}; ids use only a-z, 0-9, '_' and '-'"),
        ));
    }
    Ok(())
}

/// The id of a community (or village) of the street, e.g. `tongbai-rd`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CommunityId(String);

impl CommunityId {
    pub fn parse(s: &str) -> Result<Self, FieldError> {
        check_id("community_id", s)?;
        Ok(Self(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CommunityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for CommunityId {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Checks a record id given for `field`. Record ids are opaque strings made
/// by the node (`hh_3f9a…`); activity record ids carry their day
/// (`sv_20261129_…`) so that the day document can be found from the id alone.
pub fn check_record_id(field: &str, id: &str) -> Result<(), FieldError> {
    check_id(field, id)
}

/// A calendar day in the street's time zone.
pub type Day = NaiveDate;

/// Formats a day as the compact form used in document and record ids.
pub fn day_compact(day: Day) -> String {
    day.format("%Y%m%d").to_string()
}

/// The day an activity record id names (`sv_20261129_ab12` → 2026-11-29).
pub fn day_of_activity_id(id: &str) -> Option<Day> {
    let mut parts = id.split('_');
    let _prefix = parts.next()?;
    let day = parts.next()?;
    if day.len() != 8 {
        return None;
    }
    NaiveDate::parse_from_str(day, "%Y%m%d").ok()
}

/// Which document a record lives in. Every community has one registry, one
/// cases document, and one activity document per day; the street has one
/// street document.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DocId {
    /// Structure and people: compounds … residents, members, staff, volunteers.
    Registry(CommunityId),
    /// Long-lived cases: isolations, care relationships, tickets, returnees, notices.
    Cases(CommunityId),
    /// One day of work: screening visits, care visits, inspections.
    Activity(CommunityId, Day),
    /// The street's own document, written only at the coordinator.
    Street,
}

impl DocId {
    pub fn community(&self) -> Option<&CommunityId> {
        match self {
            DocId::Registry(c) | DocId::Cases(c) | DocId::Activity(c, _) => Some(c),
            DocId::Street => None,
        }
    }

    /// The kind of document as stored in its root (`doc_kind`).
    pub fn kind_name(&self) -> &'static str {
        match self {
            DocId::Registry(_) => "registry",
            DocId::Cases(_) => "cases",
            DocId::Activity(..) => "activity",
            DocId::Street => "street",
        }
    }
}

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DocId::Registry(c) => write!(f, "registry/{c}"),
            DocId::Cases(c) => write!(f, "cases/{c}"),
            DocId::Activity(c, d) => write!(f, "activity/{c}/{}", d.format("%Y-%m-%d")),
            DocId::Street => f.write_str("street"),
        }
    }
}

impl FromStr for DocId {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            FieldError::new(
                "doc_id",
                format!(
                    "{} is not a document id (registry/<community>, cases/<community>, activity/<community>/<YYYY-MM-DD> or street)",
                    crate::error::quote(s)
                ),
            )
        };
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            ["street"] => Ok(DocId::Street),
            ["registry", c] => Ok(DocId::Registry(CommunityId::parse(c)?)),
            ["cases", c] => Ok(DocId::Cases(CommunityId::parse(c)?)),
            ["activity", c, d] => {
                let day = NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| bad())?;
                Ok(DocId::Activity(CommunityId::parse(c)?, day))
            }
            _ => Err(bad()),
        }
    }
}

/// The street's secret for person keys. Every office of one street uses the
/// same secret so the same ID number gives the same key everywhere.
#[derive(Clone)]
pub struct PersonKeySecret(Vec<u8>);

impl PersonKeySecret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, FieldError> {
        let bytes = bytes.into();
        if bytes.len() < 16 {
            return Err(FieldError::new(
                "person_key_secret",
                "must be at least 16 bytes (32 hex digits)",
            ));
        }
        Ok(Self(bytes))
    }
    pub fn from_hex(s: &str) -> Result<Self, FieldError> {
        let bytes = hex::decode(s.trim())
            .map_err(|e| FieldError::new("person_key_secret", format!("is not hex: {e}")))?;
        Self::new(bytes)
    }
}

impl fmt::Debug for PersonKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PersonKeySecret(..)")
    }
}

/// A street-wide key for a person: HMAC-SHA256 of the normalised ID number
/// under the street's secret, first 16 bytes, hex. It lets the street find a
/// person registered in two communities without handling the raw number.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PersonKey(String);

impl PersonKey {
    /// Derives the key from an ID number that has already been validated.
    pub fn derive(secret: &PersonKeySecret, id_number: &str) -> Self {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&secret.0)
            .expect("HMAC accepts keys of any length");
        mac.update(b"gridsync/person-key/v1\0");
        mac.update(id_number.trim().to_ascii_uppercase().as_bytes());
        let out = mac.finalize().into_bytes();
        Self(format!("pk_{}", hex::encode(&out[..16])))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PersonKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_ids_round_trip_through_text() {
        let c = CommunityId::parse("tongbai").unwrap();
        for d in [
            DocId::Registry(c.clone()),
            DocId::Cases(c.clone()),
            DocId::Activity(c.clone(), NaiveDate::from_ymd_opt(2026, 11, 29).unwrap()),
            DocId::Street,
        ] {
            assert_eq!(d.to_string().parse::<DocId>().unwrap(), d);
        }
        assert!("activity/tongbai/2026-13-01".parse::<DocId>().is_err());
        assert!("registry/Tong Bai".parse::<DocId>().is_err());
    }

    #[test]
    fn ids_are_bounded_and_plain() {
        assert!(CommunityId::parse("").is_err());
        assert!(CommunityId::parse(&"a".repeat(65)).is_err());
        let e = CommunityId::parse("a/b").unwrap_err();
        assert_eq!(e.field, "community_id");
        assert!(e.reason.contains("'/'"), "{}", e.reason);
    }

    #[test]
    fn activity_ids_name_their_day() {
        assert_eq!(
            day_of_activity_id("sv_20261129_ab12"),
            NaiveDate::from_ymd_opt(2026, 11, 29)
        );
        assert_eq!(day_of_activity_id("hh_ab12"), None);
        assert_eq!(day_of_activity_id("sv_20261399_ab12"), None);
    }

    #[test]
    fn person_key_is_keyed_and_normalised() {
        let s1 = PersonKeySecret::new(vec![1u8; 32]).unwrap();
        let s2 = PersonKeySecret::new(vec![2u8; 32]).unwrap();
        let a = PersonKey::derive(&s1, "41010219800101001x");
        assert_eq!(a, PersonKey::derive(&s1, " 41010219800101001X "));
        assert_ne!(a, PersonKey::derive(&s2, "41010219800101001X"));
        assert!(!a.as_str().contains("410102"));
        assert!(PersonKeySecret::new(vec![0u8; 4]).is_err());
    }
}
