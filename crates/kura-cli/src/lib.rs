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

/// clap's error text without its "Usage:" line: that line lists the options taken from the
/// environment (KURA_REPOSITORY, KURA_PASSWORD_FILE) as if they were required, which sends
/// people looking for the wrong problem. The error itself and the pointer to --help stay.
fn without_usage(text: &str) -> String {
    let mut out = String::new();
    let mut skip_blank = false;
    for line in text.lines() {
        if line.starts_with("Usage:") {
            skip_blank = true;
            continue;
        }
        if skip_blank && line.trim().is_empty() {
            skip_blank = false;
            continue;
        }
        skip_blank = false;
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Run the command line and return the process exit code.
pub fn main_entry() -> ExitCode {
    // Everything kura creates (repository files, keys, audit log, events, configs) is for its
    // owner only: 0600 files, 0700 folders. Restored files get their modes from the snapshot.
    rustix::process::umask(rustix::fs::Mode::RWXG | rustix::fs::Mode::RWXO);
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprint!("{}", without_usage(&e.render().to_string()));
            return ExitCode::from(1);
        }
    };
    context::init_logging(cli.global.verbose, cli.global.quiet);
    let json = cli.global.json;
    match commands::run(cli) {
        Ok(outcome) => exit::code_of_outcome(outcome),
        Err(err) => exit::report_error(&err, json),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn clap_errors_lose_only_the_usage_line() {
        let text = "error: the following required arguments were not provided:\n  --reason <REASON>\n\nUsage: kura --repo <REPO> verdict --reason <REASON> <SNAPSHOT>\n\nFor more information, try '--help'.\n";
        assert_eq!(
            super::without_usage(text),
            "error: the following required arguments were not provided:\n  --reason <REASON>\n\nFor more information, try '--help'.\n"
        );
    }
}
