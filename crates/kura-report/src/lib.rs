//! kura-report: answers the MHLW checklist items that concern backup and recovery, with evidence.
//!
//! It owns the item table (one data file, `data/checklist.toml`, so that a new edition is a data
//! change), the evaluation of each item from [`Facts`] (gathered by the caller through the small
//! [`EvidenceSource`] trait) and an attestation file, and the HTML rendering (self-contained, A4,
//! Japanese first). It reads state and never changes it; it depends on no kura crate. The report
//! is evidence for an inspection, not a certification.
//!
//! ```
//! use kura_report::{Attestations, Facts, Policy, checklist, evaluate, render_html};
//! let facts = Facts::default();
//! let report = evaluate(&checklist()?, &facts, &Attestations::default(), &Policy::default(),
//!     jiff::Timestamp::UNIX_EPOCH);
//! let offline = report.items.iter().find(|i| i.id == "backup.offline").unwrap();
//! assert_eq!(offline.status, kura_report::Status::No);
//! assert!(render_html(&report).contains("認証ではありません"));
//! # Ok::<(), kura_report::Error>(())
//! ```

mod evidence;
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

/// How far an item's text was checked against the ministry's document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Wording {
    /// Copied from the document (through the copy its `source` names).
    Quoted,
    /// The ministry's wording was not found: the text is kura's summary, and says so.
    Unverified,
}

/// What kura checks for an item (the data file's `evidence`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EvidenceKind {
    /// The last restore drill passed.
    Drill,
    /// The last clean backup is within the RPO.
    Rpo,
    /// Two or more clean generations.
    Generations,
    /// Copies of more than one kind.
    Copies,
    /// An offline or immutable copy was made.
    Offline,
    /// Offline disks exported, none overdue for rotation.
    Rotation,
    /// An immutable remote with its Object Lock verified.
    Immutable,
    /// The repository is encrypted.
    Encryption,
    /// The audit chain verifies.
    Audit,
    /// Recovery exercises recorded.
    Training,
    /// Only a person can answer.
    Attest,
}

/// One item as the data file defines it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemDef {
    /// Stable id (`backup.offline`).
    pub id: String,
    /// Where the text is from: document, item number, URL.
    pub source: String,
    /// The ministry's wording (or kura's summary when `wording` is unverified).
    pub text: String,
    /// An English rendering (kura's, not the ministry's).
    pub text_en: String,
    /// Whether `text` was checked against the ministry's document.
    pub wording: Wording,
    /// What kura checks.
    pub evidence: EvidenceKind,
}

/// The item table compiled into kura.
pub fn checklist() -> Result<Checklist> {
    toml::from_str(include_str!("../data/checklist.toml")).map_err(|e| Error::Invalid {
        what: "the checklist data file".into(),
        reason: e.to_string(),
    })
}

/// The kind of a copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CopyKind {
    /// The main repository.
    Local,
    /// An offline disk.
    Disk,
    /// An S3 bucket with Object Lock.
    Remote,
}

/// A copy of the backups, as kura's state knows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CopyFact {
    /// `local`, `disk:LABEL`, `remote:NAME`.
    pub name: String,
    /// Its kind.
    pub kind: CopyKind,
    /// Disconnected (offline disk) or immutable (Object Lock).
    pub offline_or_immutable: bool,
    /// The last successful copy or export.
    pub last_copy: Option<jiff::Timestamp>,
}

/// An offline disk, from the disk registry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DiskFact {
    /// Its label.
    pub label: String,
    /// The last export to it (each export ends with a full read-back).
    pub last_export: Option<jiff::Timestamp>,
    /// Snapshots it holds.
    pub snapshots: u64,
}

/// An immutable remote, from the remote registry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RemoteFact {
    /// Its name.
    pub name: String,
    /// The bucket.
    pub bucket: String,
    /// The Object Lock mode kura writes and verifies (`COMPLIANCE`).
    pub lock_mode: String,
    /// Days a snapshot object stays locked.
    pub snapshot_days: u32,
    /// Days data objects stay locked.
    pub data_days: u32,
    /// The last push.
    pub last_push: Option<jiff::Timestamp>,
    /// The last verification of every object's lock.
    pub last_verify: Option<jiff::Timestamp>,
    /// Problems that verification found.
    pub last_verify_errors: u64,
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

/// What the repository's encryption rests on, as kura checked it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EncryptionFact {
    /// Key files in the repository (each holds the master key, encrypted with a password).
    pub key_files: u64,
    /// The stored config is ciphertext (not readable as JSON) and decrypted with the key.
    pub config_encrypted: bool,
    /// Repository format version.
    pub version: u32,
}

/// The audit chain, as `kura audit verify` checks it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditFact {
    /// Every record intact and linked, every checkpoint matched.
    pub intact: bool,
    /// Records checked.
    pub records: u64,
    /// Checkpoints (kept in the backups) compared.
    pub checkpoints: u64,
    /// The first problem, if any.
    pub problem: Option<String>,
}

/// Recovery exercises (`kura train`) in the audit log.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TrainingFact {
    /// Sessions started (`train.start`).
    pub started: u64,
    /// Checks passed (`train.check` with a pass).
    pub passed: u64,
    /// The last passed check.
    pub last_passed: Option<jiff::Timestamp>,
}

/// Everything kura knows itself, gathered read-only by the caller.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Facts {
    /// The backup copies.
    pub copies: Vec<CopyFact>,
    /// Offline disks.
    pub disks: Vec<DiskFact>,
    /// Immutable remotes.
    pub remotes: Vec<RemoteFact>,
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
    /// The repository's encryption (None: not checked).
    pub encryption: Option<EncryptionFact>,
    /// The audit chain (None: not checked).
    pub audit: Option<AuditFact>,
    /// Recovery exercises.
    pub training: TrainingFact,
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

/// The hospital's targets the evidence is judged against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// Recovery point objective: the newest clean backup must be at most this old.
    pub rpo_hours: u32,
    /// An offline disk is overdue when its last export is older than this.
    pub rotation_days: u32,
}

impl Default for Policy {
    /// A nightly backup (24 h) and weekly disk rotation (7 days, as `kura status`).
    fn default() -> Self {
        Policy {
            rpo_hours: 24,
            rotation_days: 7,
        }
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
    /// The ministry's wording (or kura's summary, see `wording`).
    pub text: String,
    /// English rendering.
    pub text_en: String,
    /// Where the text is from.
    pub source: String,
    /// Whether `text` was checked against the ministry's document.
    pub wording: Wording,
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
    /// What the evidence was judged against.
    pub policy: Policy,
    /// What this report is (evidence for an inspection, not a certification).
    pub notice: String,
    /// The items.
    pub items: Vec<ItemReport>,
}

/// The report's notice, in Japanese then English.
pub const NOTICE: &str = "本報告書は立入検査等で確認に用いる証跡資料であり、認証ではありません。 \
This report is evidence for an inspection, not a certification.";

/// Answer every item of `list` from `facts` and `attestations`, judged against `policy`.
pub fn evaluate(
    list: &Checklist,
    facts: &Facts,
    attestations: &Attestations,
    policy: &Policy,
    now: jiff::Timestamp,
) -> Report {
    let items = list
        .items
        .iter()
        .map(|def| {
            let found = evidence::judge(def.evidence, facts, policy, now);
            let (status, evidence, date) =
                evidence::with_attestation(found, attestations.items.get(&def.id));
            ItemReport {
                id: def.id.clone(),
                text: def.text.clone(),
                text_en: def.text_en.clone(),
                source: def.source.clone(),
                wording: def.wording,
                status,
                evidence,
                date,
            }
        })
        .collect();
    Report {
        generated: now,
        edition: list.edition.clone(),
        policy: *policy,
        notice: NOTICE.into(),
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
    fn the_data_file_parses_with_unique_ids_sources_and_flagged_wording() {
        let c = checklist().unwrap();
        let mut ids: Vec<&str> = c.items.iter().map(|i| i.id.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), c.items.len());
        for id in [
            "backup.offline",
            "backup.rpo",
            "backup.copies",
            "backup.offline_rotation",
            "backup.immutable",
            "backup.encrypted",
            "audit.log_protected",
            "incident.contact_list",
            "training.exercise",
        ] {
            assert!(ids.contains(&id), "{id}");
        }
        for i in &c.items {
            assert!(!i.text.is_empty() && !i.source.is_empty(), "{}", i.id);
            // Every source names where it can be read.
            assert!(
                i.source.contains("https://") || i.wording == Wording::Unverified,
                "{}",
                i.id
            );
            // kura's own summaries say so in the text itself.
            assert_eq!(
                i.text.starts_with("(kura による要約)"),
                i.wording == Wording::Unverified,
                "{}",
                i.id
            );
        }
    }

    #[test]
    fn offline_needs_an_offline_copy_that_was_made() {
        let c = checklist().unwrap();
        let mut f = Facts::default();
        f.copies.push(CopyFact {
            name: "disk:monday".into(),
            kind: CopyKind::Disk,
            offline_or_immutable: true,
            last_copy: None,
        });
        let status = |f: &Facts| {
            evaluate(&c, f, &Attestations::default(), &Policy::default(), t(0))
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
        let r = evaluate(&c, &Facts::default(), &a, &Policy::default(), t(0));
        let bcp = r.items.iter().find(|i| i.id == "bcp.cyber").unwrap();
        assert_eq!(bcp.status, Status::Attest);
        assert_eq!(bcp.date.as_deref(), Some("2026-11-30"));
        assert!(bcp.evidence.contains("山田") && bcp.evidence.contains("院長"));
        let contact = r
            .items
            .iter()
            .find(|i| i.id == "incident.contact_list")
            .unwrap();
        assert_eq!(contact.status, Status::No);
        assert!(r.notice.contains("認証ではありません"));
        assert!(
            Attestations::parse("[items.x]\nanswer = \"maybe\"\nby = \"a\"\ndate = \"d\"\n")
                .is_err()
        );
    }
}
