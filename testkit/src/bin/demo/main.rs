//! `gridsync-demo`: the demo street, end to end, with the real binaries
//! (and `gridsync-demo community`: one node and what its office sees).
//!
//! It generates the standard street (`gridsync_testkit::demo_street`: six
//! communities and a village, a month of work) straight into the stores,
//! makes the street's certificates in-process, starts `gridsync-coordinator`
//! and seven `gridsync-node` processes over mutual TLS — each node dialling
//! through its own [`FaultProxy`] inside this process — and then walks
//! through what the street office sees: the five-level rollup, a community
//! cut off while both sides keep working (stale, yet the street still adds
//! up), the link healed and every digest matching, the daily report and a
//! sign-off that notices a later change.
//!
//! Every wait polls with a deadline and fails with what did not happen;
//! every child process is stopped (SIGTERM, then SIGKILL after a deadline)
//! by a drop guard, on success, on error and on Ctrl-C.
//!
//! Modules: `street` (the steps), `helpers` (what they share), `fleet`
//! (the processes), `community` (the single-community demo).

mod community;
mod fleet;
mod helpers;
mod street;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

/// How often a wait looks again.
pub(crate) const POLL: Duration = Duration::from_millis(150);

#[derive(Parser)]
#[command(
    name = "gridsync-demo",
    version,
    about = "gridsync's demo: a generated street of seven communities with the real coordinator and nodes, a cut link and its heal; or one community's office"
)]
struct Cli {
    #[command(flatten)]
    street: street::DemoArgs,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// The single-community demo: starts a node on a temporary store with a
    /// generated community, imports it, records a day of work and shows the
    /// tree, worklist and gaps.
    Community {
        /// Households to generate.
        #[arg(long, default_value_t = 300)]
        households: usize,
        /// Every random choice follows from it.
        #[arg(long, default_value_t = 20261129)]
        seed: u64,
        /// Keep the store in this folder instead of a temporary one.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

/// Prints a numbered step.
pub(crate) fn step(n: u32, what: &str) {
    println!("\n== {n}. {what}");
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("gridsync-demo: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        match cli.cmd {
            None => street::run(cli.street).await,
            Some(Cmd::Community {
                households,
                seed,
                data_dir,
            }) => community::run(households, seed, data_dir).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("gridsync-demo: {e:#}");
            ExitCode::FAILURE
        }
    }
}
