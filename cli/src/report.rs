//! `gridctl report` and `signoff`: the daily report (每日上报) as CSV or
//! JSON, and a community's sign-off of its day.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::ValueEnum;
use gridsync_proto::rollup::v1 as rpb;

use crate::output::local_time;
use crate::output::{Out, status_err};
use crate::rollup::Source;

/// `gridctl report` and `signoff`.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum ReportCmd {
    /// The daily report (每日上报) as CSV or JSON: the street's or one
    /// community's at the coordinator (as with `rollup`), the node's own
    /// community at a node.
    Report {
        /// YYYY-MM-DD; default today.
        #[arg(long, default_value = "")]
        date: String,
        /// One community (at the coordinator); default the whole street.
        #[arg(long, default_value = "")]
        community: String,
        /// CSV (for a spreadsheet) or JSON.
        #[arg(long, value_enum, default_value_t = FormatArg::Csv)]
        format: FormatArg,
        /// Write to this file (or into this folder, under the suggested
        /// name) instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// IANA time zone; default the service's.
        #[arg(long, default_value = "")]
        tz: String,
    },
    /// Signs off the node's community's daily report for a date: who, when,
    /// and the digest of the figures signed. Synced to the street.
    Signoff {
        /// YYYY-MM-DD; default today.
        #[arg(long, default_value = "")]
        date: String,
        /// Who signs (1-64 characters).
        #[arg(long)]
        by: String,
        /// IANA time zone; default the node's.
        #[arg(long, default_value = "")]
        tz: String,
    },
}

/// Runs a report command against `source` (`signoff` needs a node).
pub async fn run(cmd: ReportCmd, mut source: Source, out: Out) -> anyhow::Result<()> {
    match cmd {
        ReportCmd::Report {
            date,
            community,
            format,
            out: file,
            tz,
        } => {
            let r = source
                .daily_report(rpb::DailyReportRequest {
                    date,
                    community_id: community,
                    format: rpb::ReportFormat::from(format) as i32,
                    tz,
                })
                .await
                .map_err(status_err)?;
            write_report(&r, file.as_deref())
        }
        ReportCmd::Signoff { date, by, tz } => {
            let Source::Node(c) = &mut source else {
                anyhow::bail!("a community signs off at its node (--node), not at the coordinator");
            };
            let s = c
                .sign_off_day(rpb::SignOffRequest {
                    date,
                    signed_by: by,
                    tz,
                })
                .await
                .map_err(status_err)?
                .into_inner();
            if out.json {
                return out.json(&s);
            }
            print!("{}", sign_off_lines(&s));
            Ok(())
        }
    }
}

/// `--format` of `gridctl report`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FormatArg {
    Csv,
    Json,
}

impl From<FormatArg> for rpb::ReportFormat {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Csv => rpb::ReportFormat::Csv,
            FormatArg::Json => rpb::ReportFormat::Json,
        }
    }
}

/// Where `gridctl report --out` writes: the file, or the suggested file
/// name inside `out` when it is a directory.
pub fn report_path(out: &Path, suggested: &str) -> PathBuf {
    if out.is_dir() && !suggested.is_empty() {
        out.join(suggested)
    } else {
        out.to_path_buf()
    }
}

/// Writes a report's body to `out` (or stdout) and says where it went.
pub fn write_report(r: &rpb::DailyReport, out: Option<&Path>) -> anyhow::Result<()> {
    match out {
        None => {
            print!("{}", r.body);
            if !r.body.ends_with('\n') {
                println!();
            }
        }
        Some(out) => {
            let path = report_path(out, &r.file_name);
            std::fs::write(&path, &r.body)
                .with_context(|| format!("cannot write the report to {}", path.display()))?;
            println!(
                "wrote {} ({} bytes, {} lines)",
                path.display(),
                r.body.len(),
                r.body.lines().count()
            );
        }
    }
    Ok(())
}

/// A sign-off as text: who, when, what.
pub fn sign_off_lines(s: &rpb::SignOff) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "signed off {} ({})", s.date, s.tz);
    let _ = writeln!(out, "  by      {}", s.signed_by);
    let _ = writeln!(out, "  at      {}", local_time(s.signed_at_ms));
    let _ = writeln!(out, "  digest  {} (rollup v{})", s.digest, s.rollup_version);
    if let Some(h) = &s.heads {
        let days: Vec<String> = h
            .days
            .iter()
            .map(|(d, l)| format!("{d}:{}", l.heads.len()))
            .collect();
        let _ = writeln!(
            out,
            "  heads   registry {}, cases {}, street {}, days {}",
            h.registry.len(),
            h.cases.len(),
            h.street.len(),
            if days.is_empty() {
                "-".to_string()
            } else {
                days.join(" ")
            }
        );
    }
    out
}
