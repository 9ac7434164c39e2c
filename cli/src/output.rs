//! How gridctl shows things: text for people, JSON for scripts, personal
//! data masked unless `--reveal`, and a refused call's status in words.

use anyhow::Context;
use chrono::TimeZone;
use gridsync_core::mask::{mask_id_number, mask_phone};
use gridsync_core::{Kind, Record};
use gridsync_proto::office::v1 as pb;

/// Text or JSON, masked or revealed.
#[derive(Clone, Copy, Debug)]
pub struct Out {
    pub json: bool,
    pub reveal: bool,
}

impl Out {
    pub fn json<T: serde::Serialize>(&self, v: &T) -> anyhow::Result<()> {
        print_json(v)
    }

    /// A phone number as shown: masked unless `--reveal`.
    pub fn phone(&self, p: &str) -> String {
        if self.reveal {
            p.to_string()
        } else {
            mask_phone(p)
        }
    }

    /// An ID number as shown: masked unless `--reveal`.
    pub fn id_number(&self, n: &str) -> String {
        if self.reveal {
            n.to_string()
        } else {
            mask_id_number(n)
        }
    }

    /// Masks personal data in a record unless `--reveal`.
    pub fn mask(&self, mut r: Record) -> Record {
        if self.reveal {
            return r;
        }
        let m = |p: &mut Option<String>| {
            if let Some(s) = p {
                *s = mask_phone(s);
            }
        };
        match &mut r {
            Record::Household(h) => m(&mut h.phone),
            Record::Resident(x) => {
                m(&mut x.phone);
                if let Some(n) = &mut x.id_number {
                    *n = mask_id_number(n);
                }
            }
            Record::PartyMember(x) => m(&mut x.phone),
            Record::Staff(x) => m(&mut x.phone),
            Record::Volunteer(x) => m(&mut x.phone),
            Record::Ticket(x) => m(&mut x.caller_phone),
            _ => {}
        }
        r
    }

    /// One record: `field  value` lines, or JSON.
    pub fn record(&self, r: pb::Record) -> anyhow::Result<()> {
        let r = self.mask(Record::try_from(r).map_err(|e| {
            anyhow::anyhow!("the node sent a record this gridctl cannot read: {e}")
        })?);
        if self.json {
            return self.json(&r);
        }
        let v = serde_json::to_value(&r)?;
        if let serde_json::Value::Object(map) = v {
            for (k, v) in map {
                let v = match v {
                    serde_json::Value::String(s) => s,
                    serde_json::Value::Null => "-".into(),
                    other => other.to_string(),
                };
                println!("{k:>22}  {v}");
            }
        }
        Ok(())
    }
}

pub fn print_json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// A refused call as a message: what kind of refusal, in words, then the
/// service's own message.
pub fn status_err(s: tonic::Status) -> anyhow::Error {
    let what = match s.code() {
        tonic::Code::InvalidArgument => "invalid input",
        tonic::Code::NotFound => "not found",
        tonic::Code::AlreadyExists => "already exists",
        tonic::Code::FailedPrecondition => "not allowed now",
        tonic::Code::PermissionDenied => "not allowed",
        tonic::Code::Unauthenticated => {
            "not signed in (an operator certificate or token is needed)"
        }
        tonic::Code::Unavailable => "unavailable",
        _ => "error",
    };
    anyhow::anyhow!("{what}: {}", s.message())
}

/// `status_err` for an error that may be a status underneath.
pub fn explain(e: anyhow::Error) -> anyhow::Error {
    match e.downcast::<tonic::Status>() {
        Ok(s) => status_err(s),
        Err(e) => e,
    }
}

/// The wall clock, Unix ms (for "how long ago" on screen).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub fn parse_kind(s: &str) -> anyhow::Result<Kind> {
    Kind::parse(s).ok_or_else(|| {
        anyhow::anyhow!(
            "{s:?} is not a record kind; use one of {}",
            Kind::ALL
                .iter()
                .map(|k| k.name())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// A record from `{"field": …}` JSON of a kind; `id` may be left out on create.
pub fn record_from_json(kind: Kind, fields: &str) -> anyhow::Result<Record> {
    let mut v: serde_json::Value =
        serde_json::from_str(fields).context("the fields are not JSON")?;
    let obj = v
        .as_object_mut()
        .ok_or_else(|| anyhow::anyhow!("the fields must be a JSON object"))?;
    obj.insert("kind".into(), kind.name().into());
    obj.entry("id").or_insert_with(|| "".into());
    serde_json::from_value(v).map_err(|e| anyhow::anyhow!("the fields do not make a {kind}: {e}"))
}

/// The zone times are shown in: `$TZ` if it names a zone
/// (`Asia/Shanghai`), else the street's default zone, Asia/Shanghai.
fn local_zone() -> chrono_tz::Tz {
    std::env::var("TZ")
        .ok()
        .and_then(|z| z.trim_start_matches(':').parse().ok())
        .unwrap_or(chrono_tz::Asia::Shanghai)
}

/// Unix ms as local time; `never` for 0.
pub fn local_time(ms: i64) -> String {
    if ms <= 0 {
        return "never".into();
    }
    match local_zone().timestamp_millis_opt(ms).single() {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
        None => format!("{ms} ms"),
    }
}

/// What a node last reported ahead of the coordinator:
/// `node 3 documents ahead at 10:02:17`.
pub fn ahead_note(docs: u32, reported_ms: i64) -> String {
    format!(
        "node {docs} document{} ahead at {}",
        if docs == 1 { "" } else { "s" },
        clock_time(reported_ms)
    )
}

/// The local time of day of a Unix ms, `HH:MM:SS`; `never` for 0.
pub fn clock_time(ms: i64) -> String {
    if ms <= 0 {
        return "never".into();
    }
    match local_zone().timestamp_millis_opt(ms).single() {
        Some(t) => t.format("%H:%M:%S").to_string(),
        None => format!("{ms} ms"),
    }
}

/// A duration in ms, short: `42s`, `5m`, `3h12m`, `2d4h`; `-` when never.
pub fn lag(ms: i64) -> String {
    if ms < 0 {
        return "-".into();
    }
    let s = ms / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{}h", s / 86400, s % 86400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lags_and_times_read_short() {
        assert_eq!(lag(-1), "-");
        assert_eq!(lag(42_000), "42s");
        assert_eq!(lag(5 * 60_000 + 1), "5m");
        assert_eq!(lag(3 * 3_600_000 + 12 * 60_000), "3h12m");
        assert_eq!(lag(2 * 86_400_000 + 4 * 3_600_000), "2d4h");
        assert_eq!(local_time(0), "never");
        assert_eq!(local_time(1_580_000_000_000).len(), 19);
    }
}
