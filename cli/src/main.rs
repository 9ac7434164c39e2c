//! `gridctl`: the command line of office staff and street operators. See
//! `gridsync_cli` for the command groups and `gridctl --help` for the
//! commands.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use gridsync_cli::Cli;

/// How directly a global flag was given: on the command line beats the
/// environment beats the default.
fn given(matches: &clap::ArgMatches, id: &str) -> u8 {
    match matches.value_source(id) {
        Some(clap::parser::ValueSource::CommandLine) => 3,
        Some(clap::parser::ValueSource::EnvVariable) => 2,
        Some(_) => 1,
        None => 0,
    }
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    // `rollup` and `report` ask the coordinator when it was named more
    // directly than the node.
    let at_coordinator = given(&matches, "coordinator") > given(&matches, "node");
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("gridctl: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(gridsync_cli::run(cli, at_coordinator)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("gridctl: {e:#}");
            ExitCode::FAILURE
        }
    }
}
