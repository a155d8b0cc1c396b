//! The drill history: one JSON line per drill or sign-off, appended, never rewritten.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::drill::DrillReport;
use crate::error::{Error, Result};

/// A person's sign-off of a drill (who reviewed the result, in which role).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SignOff {
    /// The drill signed.
    pub drill: u64,
    /// Who signed.
    pub by: String,
    /// Their role (e.g. `情報システム担当`, `IT manager`).
    pub role: String,
    /// When (UTC).
    pub at: jiff::Timestamp,
}

/// A drill with its sign-offs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DrillEntry {
    /// The drill.
    #[serde(flatten)]
    pub report: DrillReport,
    /// Sign-offs, oldest first.
    pub signoffs: Vec<SignOff>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Line {
    Drill(Box<DrillReport>),
    Sign(SignOff),
}

/// The history of drills, in a directory of kura's state.
#[derive(Debug, Clone)]
pub struct DrillHistory {
    path: PathBuf,
}

impl DrillHistory {
    /// Open (creating the directory) the history kept in `dir`.
    pub fn open(dir: &Path) -> Result<DrillHistory> {
        std::fs::create_dir_all(dir).map_err(|e| Error::History {
            path: dir.to_path_buf(),
            source: e,
        })?;
        Ok(DrillHistory {
            path: dir.join("drills.jsonl"),
        })
    }

    fn lines(&self) -> Result<Vec<Line>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(Error::History {
                    path: self.path.clone(),
                    source: e,
                });
            }
        };
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str(l).map_err(|e| Error::Damaged {
                    path: self.path.clone(),
                    line: i + 1,
                    reason: e.to_string(),
                })
            })
            .collect()
    }

    fn append(&self, line: &Line) -> Result<()> {
        let mut text = serde_json::to_string(line).map_err(|e| Error::Invalid(e.to_string()))?;
        text.push('\n');
        let io = |e| Error::History {
            path: self.path.clone(),
            source: e,
        };
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(io)?;
        // One write per line: O_APPEND keeps concurrent lines whole.
        f.write_all(text.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)
    }

    /// Every drill with its sign-offs, oldest first.
    pub fn list(&self) -> Result<Vec<DrillEntry>> {
        let mut out: Vec<DrillEntry> = Vec::new();
        for line in self.lines()? {
            match line {
                Line::Drill(r) => out.push(DrillEntry {
                    report: *r,
                    signoffs: Vec::new(),
                }),
                Line::Sign(s) => {
                    if let Some(d) = out.iter_mut().find(|d| d.report.id == s.drill) {
                        d.signoffs.push(s);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Record a drill, giving it the next id; returns it with the id set.
    pub fn record(&self, mut report: DrillReport) -> Result<DrillReport> {
        report.id = self.list()?.iter().map(|d| d.report.id).max().unwrap_or(0) + 1;
        self.append(&Line::Drill(Box::new(report.clone())))?;
        Ok(report)
    }

    /// Record a sign-off of drill `id`.
    pub fn sign(&self, id: u64, by: &str, role: &str, at: jiff::Timestamp) -> Result<SignOff> {
        if by.trim().is_empty() || role.trim().is_empty() {
            return Err(Error::Invalid(
                "a sign-off needs a name (--by) and a role (--role)".into(),
            ));
        }
        if !self.list()?.iter().any(|d| d.report.id == id) {
            return Err(Error::NoSuchDrill(id));
        }
        let s = SignOff {
            drill: id,
            by: by.trim().into(),
            role: role.trim().into(),
            at,
        };
        self.append(&Line::Sign(s.clone()))?;
        Ok(s)
    }

    /// The part of the packs the next drill of `copy` reads, `(part, of)`: one after the last
    /// part read on that copy, wrapping, so that `of` drills read every pack.
    pub fn next_read_part(&self, copy: &str, of: u32) -> Result<(u32, u32)> {
        let of = of.max(1);
        let last = self
            .list()?
            .into_iter()
            .rev()
            .filter(|d| d.report.copy == copy)
            .find_map(|d| d.report.pack_read);
        Ok(match last {
            Some(p) if p.of == of => (p.part % of + 1, of),
            _ => (1, of),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drill::{DrillResult, DrillScope};

    fn report(copy: &str, part: Option<(u32, u32)>) -> DrillReport {
        let mut r = DrillReport::not_started(
            copy,
            DrillScope::Full,
            jiff::Timestamp::UNIX_EPOCH,
            "x".into(),
        );
        r.result = DrillResult::Pass;
        r.pack_read = part.map(|(part, of)| kura_engine::PackReadReport {
            part,
            of,
            packs_read: 0,
            packs_total: 0,
            errors: Vec::new(),
            secs: 0.0,
        });
        r
    }

    #[test]
    fn ids_count_up_and_signoffs_attach() {
        let dir = tempfile::tempdir().unwrap();
        let h = DrillHistory::open(dir.path()).unwrap();
        assert_eq!(h.record(report("local", None)).unwrap().id, 1);
        assert_eq!(h.record(report("local", None)).unwrap().id, 2);
        h.sign(2, "山田", "情報システム担当", jiff::Timestamp::UNIX_EPOCH)
            .unwrap();
        assert!(matches!(
            h.sign(9, "a", "b", jiff::Timestamp::UNIX_EPOCH),
            Err(Error::NoSuchDrill(9))
        ));
        assert!(h.sign(1, " ", "b", jiff::Timestamp::UNIX_EPOCH).is_err());
        let all = h.list().unwrap();
        assert_eq!(all[1].signoffs[0].by, "山田");
        assert!(all[0].signoffs.is_empty());
    }

    #[test]
    fn read_parts_rotate_per_copy_and_cover_every_part() {
        let dir = tempfile::tempdir().unwrap();
        let h = DrillHistory::open(dir.path()).unwrap();
        let mut seen = Vec::new();
        for _ in 0..4 {
            let p = h.next_read_part("local", 3).unwrap();
            seen.push(p.0);
            h.record(report("local", Some(p))).unwrap();
            h.record(report("disk:a", Some((1, 3)))).unwrap();
        }
        assert_eq!(seen, vec![1, 2, 3, 1]);
        // A changed part count starts over.
        assert_eq!(h.next_read_part("local", 5).unwrap(), (1, 5));
    }
}
