//! kura-report: answers the MHLW checklist items that concern backup and recovery, with evidence.
//!
//! It owns the item table (one data file, `data/checklist.toml`, so that a new edition is a data
//! change), the evaluation of each item from [`Facts`] (gathered by the caller through the small
//! [`EvidenceSource`] trait) and an attestation file, and the HTML rendering (self-contained, A4,
//! Japanese first). It reads state and never changes it; it depends on no kura crate. The report
//! is evidence for an inspection, not a certification.
//!
//! ```
//! use kura_report::{Attestations, Facts, checklist, evaluate, render_html};
//! let facts = Facts::default();
//! let report = evaluate(&checklist()?, &facts, &Attestations::default(), jiff::Timestamp::UNIX_EPOCH);
//! let offline = report.items.iter().find(|i| i.id == "backup.offline").unwrap();
//! assert_eq!(offline.status, kura_report::Status::No);
//! assert!(render_html(&report).contains("認証ではありません"));
//! # Ok::<(), kura_report::Error>(())
//! ```

mod html;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use html::render_html;

/// Errors of the report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The item table or an attestation file does not parse.
    #[error("{what} is not valid: {reason}")]
    Invalid { what: String, reason: String },
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The item table of one edition.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checklist {
    /// The edition, in Japanese.
    pub edition: String,
    /// The edition, in English.
    pub edition_en: String,
    /// The items.
    #[serde(rename = "item")]
    pub items: Vec<ItemDef>,
}

/// One item as the data file defines it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemDef {
    /// Stable id (`backup.offline`).
    pub id: String,
    /// Where the text is from.
    pub source: String,
    /// The ministry's wording.
    pub text: String,
    /// An English rendering (kura's, not the ministry's).
    pub text_en: String,
    /// What kura checks: `drill`, `generations`, `offline`, or `attest` (a person answers).
    pub evidence: String,
}

/// The item table compiled into kura.
pub fn checklist() -> Result<Checklist> {
    toml::from_str(include_str!("../data/checklist.toml")).map_err(|e| Error::Invalid {
        what: "the checklist data file".into(),
        reason: e.to_string(),
    })
}

/// A copy of the backups, as kura's state knows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CopyFact {
    /// `local`, `disk:LABEL`, `remote:NAME`.
    pub name: String,
    /// Disconnected (offline disk) or immutable (Object Lock).
    pub offline_or_immutable: bool,
    /// The last successful copy or export.
    pub last_copy: Option<jiff::Timestamp>,
}

/// The last restore drill.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DrillFact {
    /// Drill id.
    pub id: u64,
    /// Copy drilled.
    pub copy: String,
    /// When.
    pub at: jiff::Timestamp,
    /// Passed?
    pub passed: bool,
    /// Seconds to a verified restore.
    pub rto_seconds: f64,
    /// Files verified.
    pub files_verified: u64,
}

/// Everything kura knows itself, gathered read-only by the caller.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Facts {
    /// The backup copies.
    pub copies: Vec<CopyFact>,
    /// Clean generations kept in the main repository.
    pub clean_generations: u64,
    /// The oldest clean generation.
    pub oldest_clean: Option<jiff::Timestamp>,
    /// The newest clean generation.
    pub newest_clean: Option<jiff::Timestamp>,
    /// The last drill of any copy.
    pub last_drill: Option<DrillFact>,
    /// The last passed drill of any copy.
    pub last_passed_drill: Option<DrillFact>,
}

/// Where facts come from (kura's state, read-only). The CLI implements it over the repository,
/// the disk registry and the drill history; tests may hand in [`Facts`] directly.
pub trait EvidenceSource {
    /// Gather the facts. Must not change any state.
    fn facts(&self) -> Result<Facts>;
}

impl EvidenceSource for Facts {
    fn facts(&self) -> Result<Facts> {
        Ok(self.clone())
    }
}

/// A person's answer to an item.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Attestation {
    /// `yes` or `no`.
    pub answer: String,
    /// Who answers.
    pub by: String,
    /// Their role.
    #[serde(default)]
    pub role: String,
    /// When (YYYY-MM-DD).
    pub date: String,
    /// Where the evidence is (e.g. where the BCP is kept).
    #[serde(default)]
    pub note: String,
}

/// The attestation file: `[items."bcp.cyber"] answer = "yes" …`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Attestations {
    /// Answers by item id.
    #[serde(default)]
    pub items: BTreeMap<String, Attestation>,
}

impl Attestations {
    /// Parse an attestation file's text.
    pub fn parse(text: &str) -> Result<Attestations> {
        let a: Attestations = toml::from_str(text).map_err(|e| Error::Invalid {
            what: "the attestation file".into(),
            reason: e.to_string().replace('\n', " "),
        })?;
        for (id, x) in &a.items {
            if x.answer != "yes" && x.answer != "no" {
                return Err(Error::Invalid {
                    what: format!("attestation {id}"),
                    reason: format!("answer {:?} must be \"yes\" or \"no\"", x.answer),
                });
            }
        }
        Ok(a)
    }
}

/// An item's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// kura's evidence shows the measure in place.
    Yes,
    /// It does not (or no person has answered).
    No,
    /// A person answered yes, in the attestation file.
    Attest,
}

/// One answered item.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ItemReport {
    /// Stable id.
    pub id: String,
    /// The ministry's wording.
    pub text: String,
    /// English rendering.
    pub text_en: String,
    /// Where the text is from.
    pub source: String,
    /// The answer.
    pub status: Status,
    /// What shows it, in Japanese then English.
    pub evidence: String,
    /// The date of the evidence (YYYY-MM-DD), if any.
    pub date: Option<String>,
}

/// The report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// When it was made (UTC).
    pub generated: jiff::Timestamp,
    /// The checklist edition.
    pub edition: String,
    /// The items.
    pub items: Vec<ItemReport>,
}

fn day(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%d").to_string()
}

fn judge(def: &ItemDef, f: &Facts, att: &Attestations) -> (Status, String, Option<String>) {
    match def.evidence.as_str() {
        "offline" => {
            let safe: Vec<&CopyFact> = f
                .copies
                .iter()
                .filter(|c| c.offline_or_immutable && c.last_copy.is_some())
                .collect();
            match safe.iter().filter_map(|c| c.last_copy).max() {
                Some(last) => (
                    Status::Yes,
                    format!(
                        "オフライン/改ざん不可のコピー: {} / offline or immutable copies: {}",
                        safe.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", "),
                        safe.len()
                    ),
                    Some(day(last)),
                ),
                None => (
                    Status::No,
                    "オフラインまたは改ざん不可のコピーがありません / no offline or immutable copy has been made (kura media export, kura remote push)".into(),
                    None,
                ),
            }
        }
        "generations" => match (f.clean_generations, f.oldest_clean) {
            (n, Some(oldest)) if n >= 2 => (
                Status::Yes,
                format!(
                    "クリーンな世代 {n} 件 (最古 {}) / {n} clean generations kept, oldest {}",
                    day(oldest),
                    day(oldest)
                ),
                f.newest_clean.map(day),
            ),
            (n, _) => (
                Status::No,
                format!("クリーンな世代が {n} 件のみ / only {n} clean generation(s)"),
                f.newest_clean.map(day),
            ),
        },
        "drill" => match (&f.last_passed_drill, &f.last_drill) {
            (_, Some(last)) if !last.passed => (
                Status::No,
                format!(
                    "直近の復旧訓練 {} ({}) は失敗 / the last restore drill {} of {} failed",
                    last.id, last.copy, last.id, last.copy
                ),
                Some(day(last.at)),
            ),
            (Some(p), _) => (
                Status::Yes,
                format!(
                    "復旧訓練 {} 合格: {} ファイル検証、RTO {:.1} 秒 / restore drill {} of {} passed: {} files verified, RTO {:.1} s",
                    p.id, p.files_verified, p.rto_seconds, p.id, p.copy, p.files_verified, p.rto_seconds
                ),
                Some(day(p.at)),
            ),
            _ => (
                Status::No,
                "復旧訓練の記録がありません / no restore drill recorded (kura drill)".into(),
                None,
            ),
        },
        _ => match att.items.get(&def.id) {
            Some(a) if a.answer == "yes" => (
                Status::Attest,
                format!(
                    "{} ({}) の申告{} / attested by {}",
                    a.by,
                    a.role,
                    if a.note.is_empty() { String::new() } else { format!(": {}", a.note) },
                    a.by
                ),
                Some(a.date.clone()),
            ),
            Some(a) => (
                Status::No,
                format!("{} の申告: いいえ / {} answered no", a.by, a.by),
                Some(a.date.clone()),
            ),
            None => (
                Status::No,
                "未回答: 申告ファイル (--attest) で回答してください / not answered: give it in the attestation file (--attest)".into(),
                None,
            ),
        },
    }
}

/// Answer every item of `list` from `facts` and `attestations`.
pub fn evaluate(
    list: &Checklist,
    facts: &Facts,
    attestations: &Attestations,
    now: jiff::Timestamp,
) -> Report {
    let items = list
        .items
        .iter()
        .map(|def| {
            let (status, evidence, date) = judge(def, facts, attestations);
            ItemReport {
                id: def.id.clone(),
                text: def.text.clone(),
                text_en: def.text_en.clone(),
                source: def.source.clone(),
                status,
                evidence,
                date,
            }
        })
        .collect();
    Report {
        generated: now,
        edition: list.edition.clone(),
        items,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_760_000_000 + s).unwrap()
    }

    #[test]
    fn the_data_file_parses_with_unique_ids_and_known_evidence() {
        let c = checklist().unwrap();
        let mut ids: Vec<&str> = c.items.iter().map(|i| i.id.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), c.items.len());
        assert!(ids.contains(&"backup.offline"));
        for i in &c.items {
            assert!(["drill", "generations", "offline", "attest"].contains(&i.evidence.as_str()));
            assert!(!i.text.is_empty() && !i.source.is_empty());
        }
    }

    #[test]
    fn offline_needs_an_offline_copy_that_was_made() {
        let c = checklist().unwrap();
        let mut f = Facts::default();
        f.copies.push(CopyFact {
            name: "disk:monday".into(),
            offline_or_immutable: true,
            last_copy: None,
        });
        let status = |f: &Facts| {
            evaluate(&c, f, &Attestations::default(), t(0))
                .items
                .into_iter()
                .find(|i| i.id == "backup.offline")
                .unwrap()
        };
        assert_eq!(status(&f).status, Status::No);
        f.copies[0].last_copy = Some(t(0));
        let item = status(&f);
        assert_eq!(item.status, Status::Yes);
        assert!(item.evidence.contains("disk:monday"));
    }

    #[test]
    fn attestations_answer_person_only_items_and_bad_answers_are_refused() {
        let c = checklist().unwrap();
        let a = Attestations::parse(
            "[items.\"bcp.cyber\"]\nanswer = \"yes\"\nby = \"山田\"\nrole = \"院長\"\ndate = \"2026-11-30\"\nnote = \"事務室の金庫\"\n",
        )
        .unwrap();
        let r = evaluate(&c, &Facts::default(), &a, t(0));
        let bcp = r.items.iter().find(|i| i.id == "bcp.cyber").unwrap();
        assert_eq!(bcp.status, Status::Attest);
        assert_eq!(bcp.date.as_deref(), Some("2026-11-30"));
        assert!(
            Attestations::parse("[items.x]\nanswer = \"maybe\"\nby = \"a\"\ndate = \"d\"\n")
                .is_err()
        );
    }
}
