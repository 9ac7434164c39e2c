//! `gridctl store check` and `gridctl store repair`: a stopped service's
//! store, its documents costed against the stored budget without loading
//! them, and the pieces over it moved into the store's `quarantine` table.
//!
//! These open the store file itself (not a service's API): the service must
//! be stopped, and the store's lock says so if it is not. Exit codes:
//! `check` 0 when every document is within budget, 1 when one is not;
//! both 2 when the store cannot be read (missing, in use, damaged).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use gridsync_core::sync::stored::{StoredBudget, StoredCost};
use gridsync_store::Store;
use gridsync_store::check::{DocCheck, DocRepair};
use serde_json::json;

use crate::output::{now_ms, print_json};
use gridsync_store::StoreKey;

#[derive(Clone, Debug, clap::Subcommand)]
pub enum StoreCheckCommand {
    /// Costs every stored document without loading it (operations, changes,
    /// bytes, chunks) and flags those over budget; exit 1 if any is.
    Check {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Moves each stored piece over budget (a whole document when its
    /// snapshot is) into the store's quarantine table, and records the
    /// heads of what remains. Nothing is deleted.
    Repair {
        #[command(flatten)]
        store: StoreArgs,
        /// Only say what would be moved; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// The store and the budget it is checked against.
#[derive(Clone, Debug, clap::Args)]
pub struct StoreArgs {
    /// The store file: `<data_dir>/gridsync-node.sqlite3` or
    /// `<data_dir>/gridsync-coordinator.sqlite3`. Stop its service first.
    #[arg(long)]
    pub db: PathBuf,
    /// The store's key file (the service's store_key_file, or the file its
    /// credential gridsync-store-key is loaded from). Leave it out only for
    /// a store kept in plaintext (insecure_plaintext_store).
    #[arg(long)]
    pub key_file: Option<PathBuf>,
    /// Operations one stored document may hold.
    #[arg(long, default_value_t = StoredBudget::default().max_ops)]
    pub max_doc_ops: u64,
    /// Changes one stored document may hold.
    #[arg(long, default_value_t = StoredBudget::default().max_changes)]
    pub max_doc_changes: u64,
    /// Bytes one stored document's compressed parts may inflate to.
    #[arg(long, default_value_t = StoredBudget::default().max_inflated_bytes)]
    pub max_doc_inflated_bytes: u64,
}

impl StoreArgs {
    fn budget(&self) -> StoredBudget {
        StoredBudget {
            max_ops: self.max_doc_ops,
            max_changes: self.max_doc_changes,
            max_inflated_bytes: self.max_doc_inflated_bytes,
        }
    }

    /// Opens the store, refusing a path that names no file (opening would
    /// create an empty store there).
    fn open(&self) -> anyhow::Result<Store> {
        if !self.db.is_file() {
            anyhow::bail!(
                "--db {}: no such file; give the service's store file (<data_dir>/gridsync-node.sqlite3 or gridsync-coordinator.sqlite3)",
                self.db.display()
            );
        }
        let key = match &self.key_file {
            Some(f) => Some(StoreKey::read_file(f)?),
            None => None,
        };
        Ok(Store::open(&self.db, key.as_ref())?)
    }
}

/// Runs `store check` or `store repair`; errors are printed here, with exit
/// code 2, so that 1 keeps meaning "over budget".
pub fn run(cmd: StoreCheckCommand, json: bool) -> ExitCode {
    let r = match cmd {
        StoreCheckCommand::Check { store } => check(&store, json),
        StoreCheckCommand::Repair { store, dry_run } => repair(&store, dry_run, json),
    };
    r.unwrap_or_else(|e| {
        eprintln!("gridctl: {e:#}");
        ExitCode::from(2)
    })
}

fn cost_json(c: &StoredCost) -> serde_json::Value {
    json!({
        "ops": c.ops,
        "changes": c.changes,
        "bytes": c.bytes,
        "inflated_bytes": c.inflated_bytes,
        "automerge_chunks": c.chunks,
    })
}

fn budget_json(b: &StoredBudget) -> serde_json::Value {
    json!({
        "max_doc_ops": b.max_ops,
        "max_doc_changes": b.max_changes,
        "max_doc_inflated_bytes": b.max_inflated_bytes,
    })
}

fn doc_json(d: &DocCheck, b: &StoredBudget) -> serde_json::Value {
    let pieces: Vec<_> = d
        .pieces
        .iter()
        .map(|p| {
            let mut v = match &p.cost {
                Ok(c) => cost_json(c),
                Err(_) => json!({ "bytes": p.bytes }),
            };
            v["piece"] = p.name().into();
            v["over"] = p.problem(b).into();
            v
        })
        .collect();
    let mut v = cost_json(&d.total);
    v["doc"] = d.doc.clone().into();
    v["snapshot"] = d.pieces.iter().any(|p| p.seq.is_none()).into();
    v["chunks"] = d.pieces.iter().filter(|p| p.seq.is_some()).count().into();
    v["over"] = d.problem(b).into();
    v["pieces"] = pieces.into();
    v
}

fn check(args: &StoreArgs, json: bool) -> anyhow::Result<ExitCode> {
    let store = args.open()?;
    let budget = args.budget();
    let docs = store.check_docs(&budget)?;
    let quarantined = store.quarantined()?.len();
    let over: Vec<&DocCheck> = docs
        .iter()
        .filter(|d| d.problem(&budget).is_some())
        .collect();
    if json {
        print_json(&json!({
            "db": args.db,
            "budget": budget_json(&budget),
            "documents": docs.iter().map(|d| doc_json(d, &budget)).collect::<Vec<_>>(),
            "over": over.len(),
            "quarantined": quarantined,
        }))?;
    } else {
        print_check(&args.db, &docs, &budget, quarantined);
    }
    Ok(if over.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_check(db: &Path, docs: &[DocCheck], budget: &StoredBudget, quarantined: usize) {
    println!(
        "{:<40} {:>11} {:>9} {:>11} {:>13} {:>8} {:>6}  status",
        "document", "ops", "changes", "bytes", "inflated", "snapshot", "chunks"
    );
    let mut over = 0;
    for d in docs {
        let problem = d.problem(budget);
        println!(
            "{:<40} {:>11} {:>9} {:>11} {:>13} {:>8} {:>6}  {}",
            d.doc,
            d.total.ops,
            d.total.changes,
            d.total.bytes,
            d.total.inflated_bytes,
            if d.pieces.iter().any(|p| p.seq.is_none()) {
                "yes"
            } else {
                "no"
            },
            d.pieces.iter().filter(|p| p.seq.is_some()).count(),
            if problem.is_some() { "OVER" } else { "ok" }
        );
        if let Some(p) = problem {
            over += 1;
            println!("    {p}");
            for piece in &d.pieces {
                if let Some(why) = piece.problem(budget) {
                    println!("    {} ({} bytes): {why}", piece.name(), piece.bytes);
                }
            }
        }
    }
    println!(
        "{} documents, {over} over budget (per document: {} operations, {} changes, {} inflated bytes); pieces in quarantine: {quarantined}",
        docs.len(),
        budget.max_ops,
        budget.max_changes,
        budget.max_inflated_bytes
    );
    if over > 0 {
        println!(
            "the service cannot load these; with it stopped, run `gridctl store repair --db {} --dry-run`, then without --dry-run",
            db.display()
        );
    }
}

fn repair_json(r: &DocRepair) -> serde_json::Value {
    json!({
        "doc": r.doc,
        "whole_document": r.whole,
        "moved": r.moved.iter().map(|m| json!({
            "piece": m.piece,
            "bytes": m.bytes,
            "reason": m.reason,
        })).collect::<Vec<_>>(),
        "heads": r.heads.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
    })
}

fn repair(args: &StoreArgs, dry_run: bool, json: bool) -> anyhow::Result<ExitCode> {
    let mut store = args.open()?;
    let budget = args.budget();
    let repairs = store.repair(&budget, dry_run, now_ms())?;
    let pieces: usize = repairs.iter().map(|r| r.moved.len()).sum();
    if json {
        print_json(&json!({
            "db": args.db,
            "dry_run": dry_run,
            "budget": budget_json(&budget),
            "documents": repairs.iter().map(repair_json).collect::<Vec<_>>(),
            "moved": pieces,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let verb = if dry_run { "would move" } else { "moved" };
    for r in &repairs {
        for m in &r.moved {
            println!(
                "{}: {verb} {} ({} bytes) into quarantine: {}",
                r.doc, m.piece, m.bytes, m.reason
            );
        }
        if r.whole {
            println!(
                "{}: the whole document {}; a peer that holds it sends it again",
                r.doc,
                if dry_run { "would go" } else { "went" }
            );
        } else {
            println!(
                "{}: {} {} head(s) for what remains",
                r.doc,
                if dry_run { "would record" } else { "recorded" },
                r.heads.len()
            );
        }
    }
    println!(
        "{pieces} pieces of {} documents {verb} into quarantine{}",
        repairs.len(),
        if dry_run {
            " (dry run: nothing changed)"
        } else {
            ""
        }
    );
    if pieces > 0 && !dry_run {
        println!(
            "the peer that sent them still holds them and its resends are refused (RESOURCE_EXHAUSTED): repair its store the same way"
        );
    }
    Ok(ExitCode::SUCCESS)
}
