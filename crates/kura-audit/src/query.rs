//! Reading records back by time, actor and action.

use std::ops::ControlFlow;
use std::path::Path;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::chain::Record;
use crate::log::{read_lines, segments};
use crate::{Error, Result};

/// Which records [`query`] returns; every set field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    /// Records at or after this instant.
    pub since: Option<Timestamp>,
    /// Records before this instant.
    pub until: Option<Timestamp>,
    /// Exact actor.
    pub actor: Option<String>,
    /// Exact action, or a prefix when it ends in `*` (`viewer.*`).
    pub action: Option<String>,
    /// At most this many records, the newest ones.
    pub limit: Option<usize>,
}

impl Filter {
    /// Whether `record` passes the filter (ignoring `limit`).
    pub fn matches(&self, record: &Record) -> bool {
        self.since.is_none_or(|t| record.time_utc >= t)
            && self.until.is_none_or(|t| record.time_utc < t)
            && self.actor.as_ref().is_none_or(|a| &record.actor == a)
            && self
                .action
                .as_ref()
                .is_none_or(|a| match a.strip_suffix('*') {
                    Some(prefix) => record.action.starts_with(prefix),
                    None => &record.action == a,
                })
    }
}

/// The records in `dir` matching `filter`, in log order. This reads; it does not check the chain
/// (that is [`crate::verify`]'s job), but a line that is not a record is an error naming it.
pub fn query(dir: &Path, filter: &Filter) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    let segments = segments(dir)?;
    let last = segments.len().saturating_sub(1);
    // A `Break` only ends the walk at a torn last line.
    let _ = read_lines(&segments, 8 * 1024, |index, segment, line_no, line| {
        if line.last() != Some(&b'\n') && index == last {
            // A torn write at the very end: not a record yet (the next append repairs it).
            return Ok(ControlFlow::Break(()));
        }
        let record: Record = serde_json::from_slice(line).map_err(|e| Error::Corrupt {
            file: segment.path.clone(),
            line: line_no,
            reason: format!("not a valid record: {e}"),
        })?;
        if filter.matches(&record) {
            out.push(record);
        }
        Ok(ControlFlow::Continue(()))
    })?;
    if let Some(limit) = filter.limit {
        let excess = out.len().saturating_sub(limit);
        out.drain(..excess);
    }
    Ok(out)
}
