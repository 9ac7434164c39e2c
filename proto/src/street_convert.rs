//! Conversions between the street API's messages (`gridsync.street.v1`)
//! and the core's street records ([`gridsync_core::street`]).
//!
//! The same rules as [`crate::convert`]: `TryFrom<pb::X>` checks only the
//! shape of a message (required enums set and known, dates `YYYY-MM-DD`)
//! and names the field as the API spells it (`risk_region.from`,
//! `community.kind`); everything else is the core's `street::validate`.
//! An empty `to` of a risk region is "still in force". `From<core>` cannot
//! fail.

use gridsync_core::street::{StreetCommunity, StreetKind, StreetRecord, StreetView};
use gridsync_core::{
    CommunityKind, Date, FieldError, RiskLevel, RiskRegion, StreetNotice, TaskForce,
};

use crate::convert::FromWire;
use crate::street::v1 as pb;

/// `error` with `at` put before its field name.
fn under(at: &str, mut error: FieldError) -> FieldError {
    error.field = if error.field.is_empty() {
        at.to_owned()
    } else if error.field.starts_with('[') {
        format!("{at}{}", error.field)
    } else {
        format!("{at}.{}", error.field)
    };
    error
}

/// An optional date where `""` is "not set".
fn optional_date(wire: &str) -> Result<Option<Date>, FieldError> {
    if wire.trim().is_empty() {
        Ok(None)
    } else {
        Date::parse("", wire).map(Some)
    }
}

/// Street enums ⇄ their wire enums. The wire names keep their prefix
/// (`COMMUNITY_KIND_VILLAGE`), since the enums are named `…Pb`; messages
/// show them without it. 0 is `UNSPECIFIED` and refused.
macro_rules! street_enums {
    ($($core:ident => $pb:ident, $from_i32:ident { $($cv:ident = $pv:ident),* $(,)? })*) => {$(
        /// The core value of a wire enum number; the error names no field
        /// (the caller puts it under the field's name).
        pub fn $from_i32(wire: i32) -> Result<$core, FieldError> {
            match pb::$pb::try_from(wire) {
                $(Ok(pb::$pb::$pv) => Ok($core::$cv),)*
                // What is left is UNSPECIFIED (0).
                Ok(unspecified) => {
                    let prefix = unspecified.as_str_name().strip_suffix("UNSPECIFIED").unwrap_or("");
                    let names: Vec<&str> = [$(pb::$pb::$pv.as_str_name()),*]
                        .into_iter()
                        .map(|n| n.strip_prefix(prefix).unwrap_or(n))
                        .collect();
                    Err(FieldError::new("", format!("is required (one of: {})", names.join(", "))))
                }
                Err(_) => Err(FieldError::new("", format!("has unknown value {wire}"))),
            }
        }

        impl TryFrom<pb::$pb> for $core {
            type Error = FieldError;
            fn try_from(wire: pb::$pb) -> Result<Self, FieldError> {
                $from_i32(wire as i32)
            }
        }

        impl From<$core> for pb::$pb {
            fn from(value: $core) -> Self {
                match value {
                    $($core::$cv => pb::$pb::$pv,)*
                }
            }
        }
    )*};
}

street_enums! {
    CommunityKind => CommunityKindPb, community_kind_from_i32 {
        Community = CommunityKindCommunity,
        Village = CommunityKindVillage,
    }
    RiskLevel => RiskLevelPb, risk_level_from_i32 {
        Low = RiskLevelLow,
        Medium = RiskLevelMedium,
        High = RiskLevelHigh,
    }
    StreetKind => StreetKindPb, street_kind_from_i32 {
        Community = StreetKindCommunity,
        RiskRegion = StreetKindRiskRegion,
        Notice = StreetKindNotice,
        TaskForce = StreetKindTaskForce,
    }
}

/// The kind of a `RemoveStreetRecordRequest`, its error naming `kind`.
pub fn street_kind(wire: i32) -> Result<StreetKind, FieldError> {
    street_kind_from_i32(wire).map_err(|e| under("kind", e))
}

// ---- messages ----

impl TryFrom<pb::StreetCommunity> for StreetCommunity {
    type Error = FieldError;
    fn try_from(wire: pb::StreetCommunity) -> Result<Self, FieldError> {
        Ok(StreetCommunity {
            id: wire.id,
            name: wire.name,
            kind: community_kind_from_i32(wire.kind).map_err(|e| under("community.kind", e))?,
        })
    }
}

impl From<StreetCommunity> for pb::StreetCommunity {
    fn from(c: StreetCommunity) -> Self {
        pb::StreetCommunity {
            id: c.id,
            name: c.name,
            kind: pb::CommunityKindPb::from(c.kind) as i32,
        }
    }
}

impl TryFrom<pb::RiskRegionPb> for RiskRegion {
    type Error = FieldError;
    fn try_from(wire: pb::RiskRegionPb) -> Result<Self, FieldError> {
        let at = |f: &'static str| move |e| under(f, e);
        Ok(RiskRegion {
            id: wire.id,
            region: wire.region,
            level: risk_level_from_i32(wire.level).map_err(at("risk_region.level"))?,
            from: Date::from_wire(wire.from).map_err(at("risk_region.from"))?,
            to: optional_date(&wire.to).map_err(at("risk_region.to"))?,
        })
    }
}

impl From<RiskRegion> for pb::RiskRegionPb {
    fn from(r: RiskRegion) -> Self {
        pb::RiskRegionPb {
            id: r.id,
            region: r.region,
            level: pb::RiskLevelPb::from(r.level) as i32,
            from: r.from.to_string(),
            to: r.to.map(|d| d.to_string()).unwrap_or_default(),
        }
    }
}

/// A notice's `published_at_ms` of 0 ("now") is kept as 0: the core's
/// `street::put` sets it from its `now_ms`.
impl From<pb::StreetNoticePb> for StreetNotice {
    fn from(wire: pb::StreetNoticePb) -> Self {
        StreetNotice {
            id: wire.id,
            title: wire.title,
            body: wire.body,
            published_at_ms: wire.published_at_ms,
        }
    }
}

impl From<StreetNotice> for pb::StreetNoticePb {
    fn from(n: StreetNotice) -> Self {
        pb::StreetNoticePb {
            id: n.id,
            title: n.title,
            body: n.body,
            published_at_ms: n.published_at_ms,
        }
    }
}

impl From<pb::TaskForcePb> for TaskForce {
    fn from(wire: pb::TaskForcePb) -> Self {
        TaskForce {
            id: wire.id,
            name: wire.name,
            members: wire.members,
        }
    }
}

impl From<TaskForce> for pb::TaskForcePb {
    fn from(t: TaskForce) -> Self {
        pb::TaskForcePb {
            id: t.id,
            name: t.name,
            members: t.members,
        }
    }
}

// ---- any record ----

impl TryFrom<pb::StreetRecord> for StreetRecord {
    type Error = FieldError;
    fn try_from(wire: pb::StreetRecord) -> Result<Self, FieldError> {
        use pb::street_record::Record as R;
        match wire.record {
            Some(R::Community(c)) => Ok(StreetRecord::Community(c.try_into()?)),
            Some(R::RiskRegion(r)) => Ok(StreetRecord::RiskRegion(r.try_into()?)),
            Some(R::Notice(n)) => Ok(StreetRecord::Notice(n.into())),
            Some(R::TaskForce(t)) => Ok(StreetRecord::TaskForce(t.into())),
            None => {
                let kinds: Vec<&str> = StreetKind::ALL.iter().map(|k| k.name()).collect();
                Err(FieldError::new(
                    "record",
                    format!("is empty: set one of {}", kinds.join(", ")),
                ))
            }
        }
    }
}

impl From<StreetRecord> for pb::StreetRecord {
    fn from(rec: StreetRecord) -> Self {
        use pb::street_record::Record as R;
        let record = match rec {
            StreetRecord::Community(c) => R::Community(c.into()),
            StreetRecord::RiskRegion(r) => R::RiskRegion(r.into()),
            StreetRecord::Notice(n) => R::Notice(n.into()),
            StreetRecord::TaskForce(t) => R::TaskForce(t.into()),
        };
        pb::StreetRecord {
            record: Some(record),
        }
    }
}

/// The record of a `PutStreetRecordRequest`; a missing one names `record`.
pub fn put_request_record(wire: pb::PutStreetRecordRequest) -> Result<StreetRecord, FieldError> {
    match wire.record {
        Some(r) => r.try_into(),
        None => Err(FieldError::new(
            "record",
            "is required (a community, risk_region, notice or task_force)",
        )),
    }
}

// ---- the document ----

/// The street document as the API shows it, with `heads` (hex, from
/// `gridsync_core::street::heads_hex`) that a view does not hold.
pub fn street_document(view: StreetView, heads: Vec<String>) -> pb::StreetDocument {
    pb::StreetDocument {
        communities: view.communities.into_iter().map(Into::into).collect(),
        risk_regions: view.risk_regions.into_iter().map(Into::into).collect(),
        notices: view.notices.into_iter().map(Into::into).collect(),
        task_forces: view.task_forces.into_iter().map(Into::into).collect(),
        heads,
        gaps: view.gaps,
    }
}

/// The view as a document with no `heads`; see [`street_document`].
impl From<StreetView> for pb::StreetDocument {
    fn from(view: StreetView) -> Self {
        street_document(view, Vec::new())
    }
}

/// A street document read back into a view (for clients). Records that do
/// not convert are added to `gaps` (`"risk_regions/rr_1: risk_region.level:
/// has unknown value 9"`), like records that do not read in the core.
impl From<pb::StreetDocument> for StreetView {
    fn from(doc: pb::StreetDocument) -> Self {
        let mut gaps = doc.gaps;
        let mut take = |coll: &str, id: &str, e: FieldError| gaps.push(format!("{coll}/{id}: {e}"));
        let mut communities = Vec::new();
        for c in doc.communities {
            let id = c.id.clone();
            match StreetCommunity::try_from(c) {
                Ok(c) => communities.push(c),
                Err(e) => take("communities", &id, e),
            }
        }
        let mut risk_regions = Vec::new();
        for r in doc.risk_regions {
            let id = r.id.clone();
            match RiskRegion::try_from(r) {
                Ok(r) => risk_regions.push(r),
                Err(e) => take("risk_regions", &id, e),
            }
        }
        StreetView {
            communities,
            risk_regions,
            notices: doc.notices.into_iter().map(Into::into).collect(),
            task_forces: doc.task_forces.into_iter().map(Into::into).collect(),
            gaps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> Date {
        Date::parse("test", s).expect("a test date")
    }

    fn round_trip(rec: StreetRecord) {
        let wire = pb::StreetRecord::from(rec.clone());
        let bytes = prost::Message::encode_to_vec(&wire);
        let decoded: pb::StreetRecord = prost::Message::decode(bytes.as_slice()).expect("decodes");
        assert_eq!(decoded, wire);
        assert_eq!(StreetRecord::try_from(decoded).expect("converts back"), rec);
    }

    fn records() -> Vec<StreetRecord> {
        vec![
            StreetRecord::Community(StreetCommunity {
                id: "tongbai-rd".into(),
                name: "桐柏路社区".into(),
                kind: CommunityKind::Community,
            }),
            StreetRecord::Community(StreetCommunity {
                id: "liuzhai".into(),
                name: "刘寨村".into(),
                kind: CommunityKind::Village,
            }),
            StreetRecord::RiskRegion(RiskRegion {
                id: "rr_1".into(),
                region: "湖北省武汉市".into(),
                level: RiskLevel::High,
                from: day("2020-01-23"),
                to: Some(day("2020-04-08")),
            }),
            StreetRecord::RiskRegion(RiskRegion {
                id: "rr_2".into(),
                region: "湖北省".into(),
                level: RiskLevel::Low,
                from: day("2020-01-20"),
                to: None,
            }),
            StreetRecord::Notice(StreetNotice {
                id: "sn_1".into(),
                title: "返郑人员报备".into(),
                body: "请报备。".into(),
                published_at_ms: 1_580_000_000_000,
            }),
            StreetRecord::TaskForce(TaskForce {
                id: "tf_1".into(),
                name: "卡口值守专班".into(),
                members: vec!["张伟".into(), "sf_01".into()],
            }),
        ]
    }

    #[test]
    fn every_kind_round_trips() {
        for rec in records() {
            round_trip(rec);
        }
    }

    #[test]
    fn kinds_round_trip_and_zero_is_refused_naming_the_field() {
        for k in StreetKind::ALL {
            let wire = pb::StreetKindPb::from(*k);
            assert_eq!(StreetKind::try_from(wire).unwrap(), *k);
            assert_eq!(street_kind(wire as i32).unwrap(), *k);
        }
        let e = street_kind(0).unwrap_err();
        assert_eq!(e.field, "kind");
        assert_eq!(
            e.reason,
            "is required (one of: COMMUNITY, RISK_REGION, NOTICE, TASK_FORCE)"
        );
        assert_eq!(street_kind(99).unwrap_err().reason, "has unknown value 99");
    }

    #[test]
    fn shape_errors_name_the_field() {
        let bad_kind = pb::StreetRecord {
            record: Some(pb::street_record::Record::Community(pb::StreetCommunity {
                id: "c01".into(),
                name: "x".into(),
                kind: 0,
            })),
        };
        let e = StreetRecord::try_from(bad_kind).unwrap_err();
        assert_eq!(e.field, "community.kind");
        assert!(e.reason.contains("COMMUNITY, VILLAGE"), "{}", e.reason);

        let region = |level: i32, from: &str, to: &str| pb::StreetRecord {
            record: Some(pb::street_record::Record::RiskRegion(pb::RiskRegionPb {
                id: "rr_1".into(),
                region: "x".into(),
                level,
                from: from.into(),
                to: to.into(),
            })),
        };
        let field = |w: pb::StreetRecord| StreetRecord::try_from(w).unwrap_err().field;
        assert_eq!(field(region(0, "2020-01-01", "")), "risk_region.level");
        assert_eq!(field(region(7, "2020-01-01", "")), "risk_region.level");
        assert_eq!(field(region(1, "", "")), "risk_region.from");
        assert_eq!(field(region(1, "2020-02-30", "")), "risk_region.from");
        assert_eq!(
            field(region(1, "2020-01-01", "01/02/2020")),
            "risk_region.to"
        );
        assert_eq!(field(pb::StreetRecord { record: None }), "record");
        assert_eq!(
            put_request_record(pb::PutStreetRecordRequest { record: None })
                .unwrap_err()
                .field,
            "record"
        );
    }

    #[test]
    fn an_empty_to_is_still_in_force() {
        let wire = pb::RiskRegionPb {
            id: "rr_1".into(),
            region: "x".into(),
            level: pb::RiskLevelPb::RiskLevelMedium as i32,
            from: "2020-01-01".into(),
            to: "  ".into(),
        };
        assert_eq!(RiskRegion::try_from(wire).unwrap().to, None);
    }

    #[test]
    fn a_view_round_trips_through_the_document() {
        let mut view = StreetView::default();
        for rec in records() {
            match rec {
                StreetRecord::Community(c) => view.communities.push(c),
                StreetRecord::RiskRegion(r) => view.risk_regions.push(r),
                StreetRecord::Notice(n) => view.notices.push(n),
                StreetRecord::TaskForce(t) => view.task_forces.push(t),
            }
        }
        view.gaps
            .push("task_forces/tf_9: unreadable: unexpected int".into());
        let doc = street_document(view.clone(), vec!["ab12".into()]);
        assert_eq!(doc.heads, ["ab12"]);
        assert_eq!(StreetView::from(doc), view);
        assert!(pb::StreetDocument::from(view).heads.is_empty());

        // A record the client cannot read becomes a gap there too.
        let mut doc = pb::StreetDocument::default();
        doc.risk_regions.push(pb::RiskRegionPb {
            id: "rr_x".into(),
            level: 9,
            from: "2020-01-01".into(),
            ..Default::default()
        });
        let v = StreetView::from(doc);
        assert!(v.risk_regions.is_empty());
        assert_eq!(
            v.gaps,
            ["risk_regions/rr_x: risk_region.level: has unknown value 9"]
        );
    }
}
