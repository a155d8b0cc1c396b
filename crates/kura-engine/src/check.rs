//! Check of a repository's structure and, with `read_data`, of every pack's contents.

use rustic_core::{CheckOptions, CheckResults};
use serde::{Deserialize, Serialize};

use crate::error::{Result, RusticContext};
use crate::repo::Repo;

/// A check message from rustic_core without its advice to run rustic commands, which kura's
/// users do not have.
fn in_kura_words(line: &str) -> String {
    let line = line.replace(
        "Run prune to correct this!",
        "`kura forget --prune` corrects this.",
    );
    match line.find(" To repair: 'rustic") {
        Some(i) => line[..i].to_string(),
        None => line,
    }
}

/// The result of a check.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CheckReport {
    /// Whether all data was read and verified.
    pub read_data: bool,
    /// Errors (the repository is damaged).
    pub errors: Vec<String>,
    /// Warnings (integrity not affected).
    pub warnings: Vec<String>,
}

impl CheckReport {
    /// No errors.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

impl Repo {
    /// Check the repository's structure, and with `read_data` decrypt and hash every pack.
    pub fn check(&self, read_data: bool) -> Result<CheckReport> {
        let repo = self.open_repo()?;
        let results = repo
            .check(CheckOptions::default().read_data(read_data))
            .ctx("checking the repository")?;
        let mut report = CheckReport {
            read_data,
            ..CheckReport::default()
        };
        let mut unindexed = 0u64;
        for (level, err) in results.0 {
            let line = err
                .to_string()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            if line.contains("not referenced in index") {
                unindexed += 1;
                continue;
            }
            let line = in_kura_words(&line);
            // rustic_core does not export its `CheckErrorLevel`; its own `CheckResults::is_ok`
            // is the typed way to ask whether a finding is an error rather than a warning.
            let is_error = CheckResults(vec![(level, err)]).is_ok().is_err();
            if is_error {
                report.errors.push(line);
            } else {
                report.warnings.push(line);
            }
        }
        if unindexed > 0 {
            report.warnings.insert(
                0,
                format!(
                    "{unindexed} data pack(s) are not in the index yet: a backup is running now, or one was interrupted. This is not damage: run `kura check` again after the backup; packs an interrupted backup left behind are removed by `kura forget --prune`"
                ),
            );
        }
        Ok(report)
    }
}
