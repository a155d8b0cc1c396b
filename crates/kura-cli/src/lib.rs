//! kura-cli: the `kura` command line. It owns flags, config, wiring of the libraries, output
//! and exit codes; anything beyond wiring lives in a library crate.

mod cli;
mod commands;
mod config;
mod context;
mod detection;
mod exit;
mod output;
mod progress;

use std::process::ExitCode;

use clap::Parser;

/// Run the command line and return the process exit code.
pub fn main_entry() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    context::init_logging(cli.global.verbose, cli.global.quiet);
    let json = cli.global.json;
    match commands::run(cli) {
        Ok(outcome) => exit::code_of_outcome(outcome),
        Err(err) => exit::report_error(&err, json),
    }
}
