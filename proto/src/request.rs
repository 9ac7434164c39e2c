//! Fields of requests that both services take (a rollup's date and zone, a
//! report's format), read into core types with errors naming the field,
//! and a report rendered as the format asked for.

use gridsync_core::replica::day_of_instant;
use gridsync_core::{Date, Day, FieldError};

use crate::rollup::v1 as pb;
use crate::rollup_convert::parse_tz;

/// The most rows one roster import request may carry.
pub const MAX_IMPORT_ROWS: usize = 2000;

/// The date of a rollup request: `YYYY-MM-DD`, or today in `tz` when empty;
/// no later than tomorrow (a date to come has no figures, and each date
/// asked for is recorded as served).
pub fn rollup_date(
    field: &str,
    wire: &str,
    tz: chrono_tz::Tz,
    now_ms: i64,
) -> Result<Day, FieldError> {
    let today = day_of_instant(now_ms, tz).ok_or_else(|| {
        FieldError::new(
            field,
            "today cannot be told: this machine's clock reads outside the years 1000-9000",
        )
    })?;
    if wire.trim().is_empty() {
        return Ok(today);
    }
    // A date to come is named as such before the range every date keeps.
    if let Ok(d) = chrono::NaiveDate::parse_from_str(wire.trim(), "%Y-%m-%d")
        && d > today + chrono::Days::new(1)
    {
        return Err(FieldError::new(
            field,
            format!("{} is in the future (today is {})", Date(d), Date(today)),
        ));
    }
    Ok(Date::parse(field, wire)?.0)
}

/// The time zone of a rollup request, or `default` when empty.
pub fn rollup_tz(wire: &str, default: chrono_tz::Tz) -> Result<chrono_tz::Tz, FieldError> {
    if wire.trim().is_empty() {
        return Ok(default);
    }
    parse_tz("tz", wire)
}

/// The format of a report request (CSV when unspecified).
pub fn report_format(wire: i32) -> Result<pb::ReportFormat, FieldError> {
    match pb::ReportFormat::try_from(wire) {
        Ok(pb::ReportFormat::Unspecified) => Ok(pb::ReportFormat::Csv),
        Ok(f) => Ok(f),
        Err(_) => Err(FieldError::new(
            "format",
            format!("{wire} is not a report format (1 = CSV, 2 = JSON)"),
        )),
    }
}

/// A report as the requested format, with a file name.
pub fn render_report(
    r: &gridsync_core::report::DailyReport,
    format: pb::ReportFormat,
) -> pb::DailyReport {
    let (body, ext) = match format {
        pb::ReportFormat::Json => (gridsync_core::report::to_json(r), "json"),
        _ => (gridsync_core::report::to_csv(r), "csv"),
    };
    pb::DailyReport {
        format: format as i32,
        body,
        file_name: format!("report-{}-{}.{ext}", r.tree.id, Date(r.as_of)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-30 12:00 in Shanghai.
    const NOON: i64 = 1_796_011_200_000;

    #[test]
    fn a_rollup_date_is_today_when_empty_and_never_after_tomorrow() {
        let tz = chrono_tz::Asia::Shanghai;
        let today = rollup_date("as_of", "", tz, NOON).unwrap();
        assert_eq!(Date(today).to_string(), "2026-11-30");
        assert!(rollup_date("as_of", "2026-12-01", tz, NOON).is_ok());
        let e = rollup_date("as_of", "2026-12-02", tz, NOON).unwrap_err();
        assert_eq!(e.field, "as_of");
        assert!(e.reason.contains("future"), "{e}");
        assert_eq!(
            rollup_date("date", "30/11", tz, NOON).unwrap_err().field,
            "date"
        );
    }

    #[test]
    fn formats_and_zones_are_named_when_wrong() {
        assert_eq!(report_format(0).unwrap(), pb::ReportFormat::Csv);
        assert_eq!(report_format(9).unwrap_err().field, "format");
        assert_eq!(rollup_tz("", chrono_tz::UTC).unwrap(), chrono_tz::UTC);
        assert_eq!(
            rollup_tz("Mars/Base", chrono_tz::UTC).unwrap_err().field,
            "tz"
        );
    }
}
