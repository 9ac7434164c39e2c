//! Conversions between the rollup messages (`gridsync.rollup.v1`) and the
//! core's rollup types ([`gridsync_core::rollup`], [`gridsync_core::report`],
//! [`gridsync_core::signoff`]).
//!
//! Rollups only go out (`From<core>`, cannot fail); the one message that
//! comes in from a peer is a node's [`pb::NodeDigest`], checked by
//! `TryFrom` with the field named: a date `YYYY-MM-DD`, a known time zone,
//! hex hashes of the right length, bounded lists.

use std::collections::BTreeMap;

use gridsync_core::report::{DailyReport, ReportStamp};
use gridsync_core::rollup::{
    DigestCheck, Figures, Level, Node, NodeDigest, PersonConflict, RollupHeads, Stamp,
};
use gridsync_core::signoff::{SignOff, SignOffState};
use gridsync_core::{Date, FieldError};

use crate::rollup::v1 as pb;

/// The most heads a document may list in a digest (a document has a few
/// heads at most; thousands would be an attack).
pub const MAX_HEADS: usize = 256;
/// The most activity days a digest may name.
pub const MAX_DAYS: usize = 8;

impl From<Level> for pb::Level {
    fn from(l: Level) -> Self {
        match l {
            Level::Street => pb::Level::Street,
            Level::Community => pb::Level::Community,
            Level::Compound => pb::Level::Compound,
            Level::Building => pb::Level::Building,
            Level::Group => pb::Level::Group,
        }
    }
}

/// The counts the core's `Figures` and the wire's carry under the same
/// names, listed once for both directions (the histogram and the gaps map
/// differ in type and are converted by hand).
macro_rules! figures_both_ways {
    ($($field:ident),* $(,)?) => {
        impl From<&Figures> for pb::Figures {
            fn from(f: &Figures) -> Self {
                pb::Figures {
                    $($field: f.$field,)*
                    resolve_hours: f.resolve_hours.to_vec(),
                    gaps: f.gaps.iter().map(|(k, v)| (k.clone(), *v)).collect(),
                }
            }
        }

        /// The figures of a message, for clients that add or print them
        /// (the histogram is padded or cut to its fixed length).
        impl From<&pb::Figures> for Figures {
            fn from(f: &pb::Figures) -> Self {
                let mut resolve_hours = [0u64; gridsync_core::rollup::RESOLVE_BUCKETS];
                for (mine, wire) in resolve_hours.iter_mut().zip(&f.resolve_hours) {
                    *mine = *wire;
                }
                Figures {
                    $($field: f.$field,)*
                    resolve_hours,
                    gaps: f.gaps.iter().map(|(k, v)| (k.clone(), *v)).collect(),
                }
            }
        }
    };
}

figures_both_ways!(
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

/// The node as a message with `depth` levels below it (0 = all of them):
/// 1 gives the node and its children, without theirs.
pub fn node_to_pb(n: &Node, depth: u32) -> pb::Node {
    node_levels(n, (depth > 0).then_some(depth))
}

fn node_levels(n: &Node, below: Option<u32>) -> pb::Node {
    let (children, omitted) = match below {
        Some(0) => (Vec::new(), n.children.len() as u32),
        _ => (
            n.children
                .iter()
                .map(|c| node_levels(c, below.map(|b| b - 1)))
                .collect(),
            0,
        ),
    };
    pb::Node {
        level: pb::Level::from(n.level) as i32,
        id: n.id.clone(),
        name: n.name.clone(),
        figures: Some((&n.figures).into()),
        children,
        children_omitted: omitted,
    }
}

impl From<&RollupHeads> for pb::RollupHeads {
    fn from(h: &RollupHeads) -> Self {
        pb::RollupHeads {
            registry: h.registry.clone(),
            cases: h.cases.clone(),
            days: h
                .days
                .iter()
                .map(|(d, heads)| {
                    (
                        d.clone(),
                        pb::HeadList {
                            heads: heads.clone(),
                        },
                    )
                })
                .collect(),
            street: h.street.clone(),
        }
    }
}

fn under(at: &str, mut e: FieldError) -> FieldError {
    e.field = if e.field.is_empty() {
        at.to_string()
    } else {
        format!("{at}.{}", e.field)
    };
    e
}

fn hex_list(field: &str, wire: Vec<String>) -> Result<Vec<String>, FieldError> {
    if wire.len() > MAX_HEADS {
        return Err(FieldError::new(
            field,
            format!("{} heads; at most {MAX_HEADS}", wire.len()),
        ));
    }
    let mut out = Vec::with_capacity(wire.len());
    for (i, h) in wire.into_iter().enumerate() {
        if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(FieldError::new(
                format!("{field}[{i}]"),
                "not a change hash (64 hex digits)",
            ));
        }
        out.push(h.to_ascii_lowercase());
    }
    out.sort();
    Ok(out)
}

impl TryFrom<pb::RollupHeads> for RollupHeads {
    type Error = FieldError;
    fn try_from(w: pb::RollupHeads) -> Result<Self, FieldError> {
        if w.days.len() > MAX_DAYS {
            return Err(FieldError::new(
                "days",
                format!("{} days; at most {MAX_DAYS}", w.days.len()),
            ));
        }
        let mut days = BTreeMap::new();
        for (d, list) in w.days {
            let date = Date::parse("days", &d)?;
            days.insert(
                date.to_string(),
                hex_list(&format!("days[{d}]"), list.heads)?,
            );
        }
        Ok(RollupHeads {
            registry: hex_list("registry", w.registry)?,
            cases: hex_list("cases", w.cases)?,
            days,
            street: hex_list("street", w.street)?,
        })
    }
}

/// Checks a time zone name, returning it as given.
pub fn parse_tz(field: &str, wire: &str) -> Result<chrono_tz::Tz, FieldError> {
    wire.trim().parse::<chrono_tz::Tz>().map_err(|_| {
        FieldError::new(
            field,
            format!(
                "{} is not an IANA time zone (e.g. Asia/Shanghai)",
                gridsync_core::error::quote(wire)
            ),
        )
    })
}

impl TryFrom<pb::NodeDigest> for NodeDigest {
    type Error = FieldError;
    fn try_from(w: pb::NodeDigest) -> Result<Self, FieldError> {
        let as_of = Date::parse("digest.as_of", &w.as_of)?.0;
        let tz = parse_tz("digest.tz", &w.tz)?;
        if w.digest.len() != 64 || !w.digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(FieldError::new(
                "digest.digest",
                "not a SHA-256 digest (64 hex digits)",
            ));
        }
        let heads = w
            .heads
            .ok_or_else(|| FieldError::new("digest.heads", "missing"))?;
        let heads = RollupHeads::try_from(heads).map_err(|e| under("digest.heads", e))?;
        Ok(NodeDigest {
            as_of,
            tz: tz.name().to_string(),
            rollup_version: w.rollup_version,
            heads,
            digest: w.digest.to_ascii_lowercase(),
            computed_at_ms: w.computed_at_ms,
        })
    }
}

impl From<&NodeDigest> for pb::NodeDigest {
    fn from(d: &NodeDigest) -> Self {
        pb::NodeDigest {
            as_of: Date(d.as_of).to_string(),
            tz: d.tz.clone(),
            rollup_version: d.rollup_version,
            heads: Some((&d.heads).into()),
            digest: d.digest.clone(),
            computed_at_ms: d.computed_at_ms,
        }
    }
}

impl From<&SignOff> for pb::SignOff {
    fn from(s: &SignOff) -> Self {
        pb::SignOff {
            date: Date(s.date).to_string(),
            signed_by: s.signed_by.clone(),
            signed_at_ms: s.signed_at_ms,
            tz: s.tz.clone(),
            rollup_version: s.rollup_version,
            heads: Some((&s.heads).into()),
            digest: s.digest.clone(),
        }
    }
}

/// A stamp as a message; `sign_off` fills the sign-off fields when known.
pub fn stamp_to_pb(s: &Stamp, sign_off: Option<&SignOffState>) -> pb::Stamp {
    let (digest_state, node_digest, node_rollup_version) = match &s.digest_check {
        DigestCheck::Match => (pb::DigestState::Match, String::new(), 0),
        DigestCheck::Mismatch {
            node_digest,
            node_rollup_version,
        } => (
            pb::DigestState::Mismatch,
            node_digest.clone(),
            *node_rollup_version,
        ),
        DigestCheck::Pending => (pb::DigestState::Pending, String::new(), 0),
        DigestCheck::NotReported => (pb::DigestState::NotReported, String::new(), 0),
    };
    let (status, signed, why) = match sign_off {
        None => (pb::SignOffStatus::Unspecified, None, String::new()),
        Some(SignOffState::NotSigned) => (pb::SignOffStatus::NotSigned, None, String::new()),
        Some(SignOffState::Signed { sign_off }) => (
            pb::SignOffStatus::Signed,
            Some(sign_off.into()),
            String::new(),
        ),
        Some(SignOffState::ChangedSinceSignOff { sign_off, why }) => (
            pb::SignOffStatus::ChangedSinceSignOff,
            Some(sign_off.into()),
            why.clone(),
        ),
    };
    pb::Stamp {
        community_id: s.community_id.clone(),
        heads: Some((&s.heads).into()),
        digest: s.digest.clone(),
        last_sync_ms: s.last_sync_ms.unwrap_or(0),
        stale: s.stale,
        held: s.held,
        digest_state: digest_state as i32,
        node_digest,
        node_rollup_version,
        sign_off_status: status as i32,
        sign_off: signed,
        sign_off_changed: why,
        unavailable: s.unavailable.clone().unwrap_or_default(),
        connected: s.link.connected,
        last_heard_ms: s.link.last_heard_ms.unwrap_or(0),
        node_docs_ahead: s.link.node_docs_ahead,
        node_reported_ms: s.link.node_reported_ms.unwrap_or(0),
    }
}

impl From<&PersonConflict> for pb::PersonConflict {
    fn from(c: &PersonConflict) -> Self {
        pb::PersonConflict {
            person_key: c.person_key.clone(),
            registrations: c
                .registrations
                .iter()
                .map(|(community_id, resident_id)| pb::Registration {
                    community_id: community_id.clone(),
                    resident_id: resident_id.clone(),
                })
                .collect(),
        }
    }
}

/// A report (the served form of a rollup) as a `Rollup` message: the node
/// at `path` below the report's tree, `depth` levels deep (0 = all), with
/// the stamps of the communities under it. `None` when `path` names nothing.
pub fn report_to_pb(
    r: &DailyReport,
    path: &[String],
    depth: u32,
    stale_after_ms: i64,
) -> Option<pb::Rollup> {
    let ids: Vec<&str> = path
        .iter()
        .map(|p| if p == "-" { "" } else { p.as_str() })
        .collect();
    // A community-level report's tree starts at the community itself.
    let node = if r.tree.level == Level::Community {
        match ids.split_first() {
            None => Some(&r.tree),
            Some((first, rest)) if *first == r.tree.id => r.tree.find(rest),
            Some(_) => None,
        }
    } else {
        r.tree.find(&ids)
    }?;
    let community = match r.tree.level {
        Level::Community => Some(r.tree.id.as_str()),
        _ => ids.first().copied(),
    };
    let stamps = r
        .stamps
        .iter()
        .filter(|s| community.is_none_or(|c| c == s.stamp.community_id))
        .map(|s: &ReportStamp| stamp_to_pb(&s.stamp, Some(&s.sign_off)))
        .collect();
    Some(pb::Rollup {
        street_id: r.street_id.clone(),
        as_of: Date(r.as_of).to_string(),
        tz: r.tz.clone(),
        rollup_version: r.rollup_version,
        generated_at_ms: r.generated_at_ms,
        tree: Some(node_to_pb(node, depth)),
        stamps,
        conflicts: r
            .conflicts
            .iter()
            .filter(|c| community.is_none_or(|id| c.registrations.iter().any(|(cid, _)| cid == id)))
            .map(Into::into)
            .collect(),
        path: path.to_vec(),
        stale_after_ms,
        received_at_ms: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field distinct and non-zero, so a field dropped or swapped
    /// either way shows.
    fn every_field() -> Figures {
        let mut f = Figures::default();
        let mut n = 0u64;
        let mut next = || {
            n += 1;
            n
        };
        f.households = next();
        f.residents = next();
        f.residents_counted_elsewhere = next();
        f.households_contracted = next();
        f.households_uncontracted = next();
        f.households_screened = next();
        f.households_unscreened = next();
        f.screening_visits = next();
        f.returnees_high = next();
        f.returnees_medium = next();
        f.returnees_low = next();
        f.returnees_none = next();
        f.isolating = next();
        f.isolations_past_end = next();
        f.elderly_alone = next();
        f.care_relationships = next();
        f.care_overdue = next();
        f.care_visits = next();
        f.tickets_opened = next();
        f.tickets_open = next();
        f.tickets_resolved = next();
        for b in f.resolve_hours.iter_mut() {
            *b = next();
        }
        f.inspections = next();
        f.inspections_knew_member = next();
        f.party_members = next();
        f.staff = next();
        f.gaps.insert("household.no_contract_group".into(), next());
        f
    }

    #[test]
    fn figures_survive_the_wire_both_ways() {
        let f = every_field();
        let wire = pb::Figures::from(&f);
        assert_eq!(Figures::from(&wire), f);
        // Every column the core names has its own value on the wire.
        let cols = f.columns();
        let mut values: Vec<u64> = cols.iter().map(|(_, v)| *v).collect();
        values.sort();
        values.dedup();
        assert_eq!(values.len(), cols.len(), "{cols:?}");
    }

    #[test]
    fn a_short_or_long_histogram_is_padded_or_cut() {
        let mut wire = pb::Figures::from(&every_field());
        wire.resolve_hours = vec![7];
        assert_eq!(Figures::from(&wire).resolve_hours[0], 7);
        assert_eq!(Figures::from(&wire).resolve_hours[1..], [0; 4]);
        wire.resolve_hours = vec![1; 50];
        assert_eq!(Figures::from(&wire).resolve_hours, [1; 5]);
    }

    #[test]
    fn a_node_digest_is_checked_field_by_field() {
        let good = pb::NodeDigest {
            as_of: "2026-11-29".into(),
            tz: "Asia/Shanghai".into(),
            rollup_version: 1,
            heads: Some(pb::RollupHeads {
                registry: vec!["a".repeat(64)],
                ..Default::default()
            }),
            digest: "b".repeat(64),
            computed_at_ms: 0,
        };
        assert!(NodeDigest::try_from(good.clone()).is_ok());
        let field = |w: pb::NodeDigest| NodeDigest::try_from(w).unwrap_err().field;
        let mut w = good.clone();
        w.as_of = "2026-02-30".into();
        assert_eq!(field(w), "digest.as_of");
        let mut w = good.clone();
        w.tz = "Mars/Olympus".into();
        assert_eq!(field(w), "digest.tz");
        let mut w = good.clone();
        w.digest = "xyz".into();
        assert_eq!(field(w), "digest.digest");
        let mut w = good.clone();
        w.heads = None;
        assert_eq!(field(w), "digest.heads");
        let mut w = good.clone();
        w.heads.as_mut().unwrap().cases = vec!["c".repeat(63)];
        assert_eq!(field(w), "digest.heads.cases[0]");
        let mut w = good.clone();
        w.heads.as_mut().unwrap().street = vec!["d".repeat(64); MAX_HEADS + 1];
        assert_eq!(field(w), "digest.heads.street");
        let mut w = good;
        w.heads.as_mut().unwrap().days = (1..=MAX_DAYS + 1)
            .map(|d| (format!("2026-11-{d:02}"), pb::HeadList::default()))
            .collect();
        assert_eq!(field(w), "digest.heads.days");
    }
}
