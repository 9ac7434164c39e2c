//! `gridctl import FILE` and `roster-columns`: a CSV roster (Chinese or
//! English headers) sent to a node's import API in batches.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use gridsync_core::roster::{self, RowError};
use gridsync_proto::convert::roster_row_to_pb;
use gridsync_proto::office::v1 as pb;
use gridsync_proto::request::MAX_IMPORT_ROWS;
use pb::office_client::OfficeClient;
use tonic::transport::Channel;

use crate::output::{Out, status_err};

/// The roster's columns: key, headers accepted, required, meaning.
pub fn print_columns() {
    println!(
        "{:<18} {:<28} {:<9} meaning",
        "key", "headers accepted", "required"
    );
    for c in roster::COLUMNS {
        println!(
            "{:<18} {:<28} {:<9} {}",
            c.key,
            c.headers.join(" / "),
            if c.required { "yes" } else { "" },
            c.meaning
        );
    }
}

/// Reads a CSV roster, checks every row locally, sends the good ones in
/// batches of `batch` with a progress bar, and reports each bad row by line,
/// column and reason; exits 3 if any row was refused.
pub async fn import(
    c: &mut OfficeClient<Channel>,
    file: &Path,
    batch: usize,
    out: &Out,
) -> anyhow::Result<ExitCode> {
    if batch == 0 || batch > MAX_IMPORT_ROWS {
        bail!("--batch must be between 1 and {MAX_IMPORT_ROWS}");
    }
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let parsed = roster::parse(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    if parsed.encoding != "UTF-8" && !out.json {
        println!(
            "{}: read as {} text (Excel's CSV in a Chinese locale)",
            file.display(),
            parsed.encoding
        );
    }
    let mut report = roster::ImportReport {
        errors: parsed.errors.clone(),
        ..Default::default()
    };
    let bar = if out.json {
        indicatif::ProgressBar::hidden()
    } else {
        let b = indicatif::ProgressBar::new(parsed.rows.len() as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} importing [{bar:30}] {pos}/{len} rows {per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        b
    };
    let started = Instant::now();
    for chunk in parsed.rows.chunks(batch) {
        let rows = chunk
            .iter()
            .map(|r| roster_row_to_pb(r.line, &r.raw_fields()))
            .collect();
        let rep = c
            .import_roster(pb::ImportRosterRequest { rows })
            .await
            .map_err(status_err)?
            .into_inner();
        report.rows_created += rep.rows_created;
        report.rows_updated += rep.rows_updated;
        report.rows_unchanged += rep.rows_unchanged;
        report.records_created += rep.records_created;
        report
            .errors
            .extend(rep.errors.into_iter().map(|e| RowError {
                line: e.line,
                column: e.column,
                reason: e.reason,
            }));
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    report
        .errors
        .sort_by(|a, b| (a.line, &a.column).cmp(&(b.line, &b.column)));
    if out.json {
        out.json(&report)?;
    } else {
        let bad_rows = {
            let mut l: Vec<u64> = report.errors.iter().map(|e| e.line).collect();
            l.dedup();
            l.len()
        };
        println!(
            "{}: {} rows read in {:.1} s: {} new, {} updated, {} unchanged, {} rejected; {} records created",
            file.display(),
            parsed.rows.len() + bad_rows,
            started.elapsed().as_secs_f64(),
            report.rows_created,
            report.rows_updated,
            report.rows_unchanged,
            bad_rows,
            report.records_created
        );
        for e in &report.errors {
            println!("  rejected {e}");
        }
    }
    Ok(if report.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}
