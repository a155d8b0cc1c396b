//! Snapshots: listing, resolving `SNAP` references, verdict tags and legal holds.
//!
//! The verdict is stored the way restic accepts: a tag (`kura-verdict:clean`, `…:suspicious`,
//! `…:pending`) plus a JSON document in the snapshot description (`{"kura": {…}}`). Changing it
//! writes a new snapshot file with the same tree and removes the old one, so the snapshot id
//! changes (as with `restic tag`).

use std::str::FromStr;

use rustic_core::repofile::{SnapshotFile, StringList};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, RusticContext};
use crate::repo::Repo;

/// Tag prefix of verdicts.
pub const VERDICT_TAG_PREFIX: &str = "kura-verdict:";
/// Tag of snapshots that must never be removed (legal hold).
pub const LEGAL_HOLD_TAG: &str = "legal-hold";

/// The detection verdict recorded on a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Judged clean.
    Clean,
    /// Judged suspicious: quarantined (never pruned, never copied over clean offline data).
    Suspicious,
    /// Backup saved, judgement not finished (e.g. killed in between). Treated as not clean.
    Pending,
    /// No verdict (made with `--no-detect`, or by restic).
    Unknown,
}

impl Verdict {
    /// The word used in tags, output and flags.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Clean => "clean",
            Verdict::Suspicious => "suspicious",
            Verdict::Pending => "pending",
            Verdict::Unknown => "unknown",
        }
    }

    fn tag(self) -> String {
        format!("{VERDICT_TAG_PREFIX}{}", self.as_str())
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Verdict {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "clean" => Ok(Verdict::Clean),
            "suspicious" => Ok(Verdict::Suspicious),
            "pending" => Ok(Verdict::Pending),
            "unknown" => Ok(Verdict::Unknown),
            other => Err(Error::BadValue(format!(
                "unknown verdict {other:?}: use clean or suspicious"
            ))),
        }
    }
}

/// Counts from a snapshot's summary.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SnapshotCounts {
    /// Files that were new.
    pub files_new: u64,
    /// Files that changed.
    pub files_changed: u64,
    /// Files unchanged.
    pub files_unmodified: u64,
    /// Bytes of all files processed.
    pub bytes_processed: u64,
    /// Bytes of new data added to the repository (before compression).
    pub data_added: u64,
    /// Bytes of new data added, as stored.
    pub data_added_packed: u64,
}

/// One snapshot, as kura shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotInfo {
    /// Full id (hex).
    pub id: String,
    /// First 8 hex digits.
    pub short_id: String,
    /// Time of the backup (RFC 3339).
    pub time: String,
    /// Seconds since the Unix epoch, for sorting and ages.
    pub unix_time: i64,
    /// Host name.
    pub hostname: String,
    /// Backed-up paths.
    pub paths: Vec<String>,
    /// Tags, without kura's verdict tags.
    pub tags: Vec<String>,
    /// Parent snapshot id.
    pub parent: Option<String>,
    /// Detection verdict.
    pub verdict: Verdict,
    /// kura's document from the description (verdict findings, audit checkpoint), if any.
    pub document: Option<serde_json::Value>,
    /// Under legal hold: never removed.
    pub legal_hold: bool,
    /// Counts, when the snapshot has a summary.
    pub counts: Option<SnapshotCounts>,
}

pub(crate) fn verdict_of(snap: &SnapshotFile) -> Verdict {
    for v in [Verdict::Suspicious, Verdict::Pending, Verdict::Clean] {
        if snap.tags.contains(&v.tag()) {
            return v;
        }
    }
    Verdict::Unknown
}

fn details_of(snap: &SnapshotFile) -> Option<serde_json::Value> {
    let d = snap.description.as_deref()?;
    let v: serde_json::Value = serde_json::from_str(d).ok()?;
    v.get("kura").cloned()
}

pub(crate) fn info_of(snap: &SnapshotFile) -> SnapshotInfo {
    let id = snap.id.to_hex().to_string();
    SnapshotInfo {
        short_id: id.chars().take(8).collect(),
        id,
        time: snap.time.timestamp().to_string(),
        unix_time: snap.time.timestamp().as_second(),
        hostname: snap.hostname.clone(),
        paths: snap.paths.iter().cloned().collect(),
        tags: snap
            .tags
            .iter()
            .filter(|t| !t.starts_with(VERDICT_TAG_PREFIX))
            .cloned()
            .collect(),
        parent: snap.parent.map(|p| p.to_hex().to_string()),
        verdict: verdict_of(snap),
        document: details_of(snap),
        legal_hold: snap.tags.contains(LEGAL_HOLD_TAG),
        counts: snap.summary.as_ref().map(|s| SnapshotCounts {
            files_new: s.files_new,
            files_changed: s.files_changed,
            files_unmodified: s.files_unmodified,
            bytes_processed: s.total_bytes_processed,
            data_added: s.data_added,
            data_added_packed: s.data_added_packed,
        }),
    }
}

/// Resolve a reference among snapshots (sorted oldest first): an id prefix, `latest` or `latest-clean`.
pub(crate) fn resolve<'a>(snaps: &'a [SnapshotFile], spec: &str) -> Result<&'a SnapshotFile> {
    let newest = |pred: &dyn Fn(&SnapshotFile) -> bool| {
        snaps
            .iter()
            .filter(|s| pred(s))
            .max_by(|a, b| a.time.cmp(&b.time))
    };
    match spec {
        "latest" => newest(&|_| true).ok_or_else(|| Error::SnapshotNotFound(spec.into())),
        "latest-clean" => newest(&|s| verdict_of(s) == Verdict::Clean).ok_or_else(|| {
            Error::SnapshotNotFound("latest-clean (no snapshot is judged clean yet)".into())
        }),
        prefix => {
            if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(Error::SnapshotNotFound(prefix.into()));
            }
            let lower = prefix.to_ascii_lowercase();
            let mut found = snaps.iter().filter(|s| s.id.to_hex().starts_with(&lower));
            match (found.next(), found.next()) {
                (Some(s), None) => Ok(s),
                (Some(_), Some(_)) => Err(Error::AmbiguousSnapshot(prefix.into())),
                (None, _) => Err(Error::SnapshotNotFound(prefix.into())),
            }
        }
    }
}

impl Repo {
    pub(crate) fn all_snapshot_files(&self) -> Result<Vec<SnapshotFile>> {
        let mut snaps = self
            .open_repo()?
            .get_all_snapshots()
            .ctx("listing snapshots")?;
        snaps.sort_by(|a, b| a.time.cmp(&b.time));
        Ok(snaps)
    }

    pub(crate) fn snapshot_file(&self, spec: &str) -> Result<SnapshotFile> {
        let snaps = self.all_snapshot_files()?;
        resolve(&snaps, spec).cloned()
    }

    /// All snapshots, oldest first.
    pub fn snapshots(&self) -> Result<Vec<SnapshotInfo>> {
        Ok(self.all_snapshot_files()?.iter().map(info_of).collect())
    }

    /// One snapshot by reference (id prefix, `latest`, `latest-clean`).
    pub fn snapshot(&self, spec: &str) -> Result<SnapshotInfo> {
        Ok(info_of(&self.snapshot_file(spec)?))
    }

    /// Record a verdict on a snapshot and merge `details` (an object) into kura's document in
    /// its description. Returns the updated snapshot: the file is rewritten with the same tree,
    /// so the id changes.
    pub fn set_verdict(
        &self,
        spec: &str,
        verdict: Verdict,
        details: serde_json::Value,
    ) -> Result<SnapshotInfo> {
        self.modify_snapshot(spec, |snap| {
            let old: Vec<StringList> = [
                Verdict::Clean,
                Verdict::Suspicious,
                Verdict::Pending,
                Verdict::Unknown,
            ]
            .iter()
            .filter_map(|v| StringList::from_str(&v.tag()).ok())
            .collect();
            snap.remove_tags(&old);
            if verdict != Verdict::Unknown {
                snap.add_tags(vec![string_list(&verdict.tag())?]);
            }
            let mut doc = details_of(snap).unwrap_or_else(|| serde_json::json!({}));
            if let (Some(target), serde_json::Value::Object(add)) = (doc.as_object_mut(), details) {
                target.extend(add);
            }
            snap.description = Some(serde_json::json!({ "kura": doc }).to_string());
            Ok(())
        })
    }

    /// Put a snapshot under legal hold, or release it.
    pub fn set_legal_hold(&self, spec: &str, hold: bool) -> Result<SnapshotInfo> {
        self.modify_snapshot(spec, |snap| {
            let tag = string_list(LEGAL_HOLD_TAG)?;
            if hold {
                snap.add_tags(vec![tag]);
            } else {
                snap.remove_tags(&[tag]);
            }
            Ok(())
        })
    }

    fn modify_snapshot(
        &self,
        spec: &str,
        change: impl FnOnce(&mut SnapshotFile) -> Result<()>,
    ) -> Result<SnapshotInfo> {
        let repo = self.open_repo()?;
        let old = self.snapshot_file(spec)?;
        let mut new = old.clone();
        change(&mut new)?;
        let wanted_tags = new.tags.clone();
        // Write the new one first: a crash in between leaves two snapshots of one tree, never none.
        repo.save_snapshots(vec![new])
            .ctx("saving the updated snapshot")?;
        let saved = self
            .all_snapshot_files()?
            .into_iter()
            .find(|s| {
                s.id != old.id && s.time == old.time && s.tree == old.tree && s.tags == wanted_tags
            })
            .ok_or_else(|| Error::Repository {
                context: format!("updating the tags of snapshot {}", old.id),
                message: "the updated snapshot was not found after saving".into(),
            })?;
        repo.delete_snapshots(&[old.id])
            .ctx("removing the replaced snapshot file")?;
        Ok(info_of(&saved))
    }
}

fn string_list(s: &str) -> Result<StringList> {
    StringList::from_str(s).map_err(|e| Error::BadValue(format!("bad tag {s:?}: {e}")))
}
