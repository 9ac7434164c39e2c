//! # gridsync-cli
//!
//! `gridctl`, the command line of office staff and street operators: a
//! node's records, queries, roster import, rollups and reports over its
//! office API; the street's commands over the coordinator's Street API; the
//! street's certificates. Text for people by default, `--json` for
//! scripts; phone and ID numbers masked unless `--reveal`.
//!
//! One module per command group, each with its `clap` subcommands and the
//! function that runs them:
//!
//! - [`office`]: `status`, `tree`, `household`, `worklist`, `overdue`,
//!   `tickets`, `gaps`, `street-doc`, `get`/`list`/`create`/`update`/`remove`.
//! - [`import`]: `import FILE`, `roster-columns`.
//! - [`rollup`]: `rollup`, `street-summary`; the rollup table and its
//!   additivity check.
//! - [`report`]: `report`, `signoff`.
//! - [`street`]: `street …`, the operators' commands.
//! - [`certs`]: `certs …`, the street CA and its certificates.
//! - [`store_keys`]: `store keygen|encrypt|rekey`, the stores' encryption
//!   keys and their rotation (on the file, the service stopped).
//! - [`store_check`]: `store check`, `store repair`: a stopped service's
//!   store file, its documents over budget found and quarantined.
//!
//! Shared: [`connect`] (reaching a node or the coordinator) and [`output`]
//! (text, JSON, masking, errors in words).
//!
//! ## What it refuses to do
//!
//! It holds no rules of its own: the services check everything and gridctl
//! shows what they answer. It never prints a phone or ID number in full
//! without `--reveal`.

pub mod certs;
pub mod connect;
pub mod import;
pub mod office;
pub mod output;
pub mod report;
pub mod rollup;
pub mod store_check;
pub mod store_keys;
pub mod street;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::connect::CoordinatorArgs;
use crate::output::{Out, explain};
use crate::rollup::Source;

#[derive(Parser)]
#[command(
    name = "gridctl",
    version,
    about = "gridsync command line: office records, queries, rollups and reports, roster import, the street operator's commands, certificates"
)]
pub struct Cli {
    /// The node's office API.
    #[arg(
        long,
        global = true,
        env = "GRIDSYNC_NODE",
        default_value = "127.0.0.1:7400"
    )]
    pub node: String,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Show phone and ID numbers in full (for roles that need them).
    #[arg(long, global = true)]
    pub reveal: bool,
    #[command(flatten)]
    pub coord: CoordinatorArgs,
    #[command(subcommand)]
    pub cmd: Cmd,
}

/// `gridctl store …`: the key commands and the budget checks of a stopped
/// service's store file, side by side.
#[derive(Subcommand)]
pub enum StoreCommand {
    #[command(flatten)]
    Keys(store_keys::StoreKeysCommand),
    #[command(flatten)]
    Check(store_check::StoreCheckCommand),
}

#[derive(Subcommand)]
pub enum Cmd {
    #[command(flatten)]
    Office(office::OfficeCmd),
    /// Imports a CSV roster of households and residents.
    Import {
        /// The CSV file (UTF-8, or GB18030 as Excel writes it in China).
        file: PathBuf,
        /// Rows per request.
        #[arg(long, default_value_t = 500)]
        batch: usize,
    },
    /// Prints the roster's columns (Chinese and English headers).
    RosterColumns,
    #[command(flatten)]
    Rollup(rollup::RollupCmd),
    #[command(flatten)]
    Report(report::ReportCmd),
    /// The street operator's commands, over the coordinator's Street API
    /// (needs --certs/--identity of an operator).
    Street {
        #[command(subcommand)]
        cmd: street::StreetCommand,
    },
    /// Makes the street CA and the certificates it signs (for mutual TLS).
    Certs {
        #[command(subcommand)]
        cmd: certs::CertsCommand,
    },
    /// A stopped service's store file: its encryption key, encrypting a
    /// plaintext store, key rotation, an encrypted backup; documents over
    /// budget found and quarantined.
    Store {
        #[command(subcommand)]
        cmd: StoreCommand,
    },
}

impl Cli {
    fn out(&self) -> Out {
        Out {
            json: self.json,
            reveal: self.reveal,
        }
    }
}

/// Where `rollup` and `report` ask: the coordinator (as an operator) when
/// it was named more directly than the node, else the node.
async fn source(
    node: &str,
    coord: &CoordinatorArgs,
    at_coordinator: bool,
) -> anyhow::Result<Source> {
    Ok(if at_coordinator {
        Source::Street(connect::street(coord).await?)
    } else {
        Source::Node(connect::node(node).await?)
    })
}

/// Runs a parsed command line. `at_coordinator`: whether the coordinator
/// was named more directly than the node (see `main`).
pub async fn run(cli: Cli, at_coordinator: bool) -> anyhow::Result<ExitCode> {
    let out = cli.out();
    let Cli {
        node, coord, cmd, ..
    } = cli;
    match cmd {
        Cmd::RosterColumns => import::print_columns(),
        Cmd::Import { file, batch } => {
            let mut c = connect::node(&node).await?;
            return import::import(&mut c, &file, batch, &out).await;
        }
        Cmd::Rollup(cmd) => {
            // The street's figures as a node received them come from a node.
            let at_coordinator = at_coordinator && !matches!(cmd, rollup::RollupCmd::StreetSummary);
            let s = source(&node, &coord, at_coordinator).await?;
            rollup::run(cmd, s, out).await?;
        }
        Cmd::Report(cmd) => {
            // A community signs off at its node.
            let at_coordinator =
                at_coordinator && !matches!(cmd, report::ReportCmd::Signoff { .. });
            let s = source(&node, &coord, at_coordinator).await?;
            report::run(cmd, s, out).await?;
        }
        Cmd::Certs { cmd } => cmd.run(&mut std::io::stdout())?,
        Cmd::Store {
            cmd: StoreCommand::Keys(cmd),
        } => cmd.run(&mut std::io::stdout())?,
        Cmd::Store {
            cmd: StoreCommand::Check(cmd),
        } => return Ok(store_check::run(cmd, out.json)),
        Cmd::Street { cmd } => {
            let client = connect::street(&coord).await?;
            street::run(cmd, client, out.json).await.map_err(explain)?;
        }
        Cmd::Office(cmd) => {
            let mut c = connect::node(&node).await?;
            office::run(&mut c, cmd, &out).await.map_err(explain)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every argument of every command and subcommand, with its path.
    fn bare(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
        for a in cmd.get_arguments() {
            if a.get_help().is_none() && a.get_long_help().is_none() {
                out.push(format!("{path} {}", a.get_id()));
            }
        }
        for sub in cmd.get_subcommands() {
            bare(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn every_argument_of_every_command_has_help_text() {
        let cmd = super::Cli::command();
        cmd.clone().debug_assert();
        let mut out = Vec::new();
        bare(&cmd, "gridctl", &mut out);
        assert!(out.is_empty(), "arguments without help: {out:#?}");
    }
}
