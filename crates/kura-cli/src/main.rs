//! The `kura` binary: parse, run, print the error once, exit with the code from one table.

use std::process::ExitCode;

fn main() -> ExitCode {
    kura_cli::main_entry()
}
