//! Retention: forget snapshots by policy and prune unused data, never losing the newest clean,
//! a suspicious or pending, or a held generation.

use rustic_core::{PruneOptions, repofile::SnapshotFile};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, RusticContext};
use crate::repo::Repo;
use crate::snapshots::{SnapshotInfo, info_of};

/// A retention policy (restic's keep-* options).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KeepPolicy {
    /// Keep the last n snapshots.
    pub last: Option<u32>,
    /// Keep the last n hourly snapshots.
    pub hourly: Option<u32>,
    /// Keep the last n daily snapshots.
    pub daily: Option<u32>,
    /// Keep the last n weekly snapshots.
    pub weekly: Option<u32>,
    /// Keep the last n monthly snapshots.
    pub monthly: Option<u32>,
    /// Keep the last n yearly snapshots.
    pub yearly: Option<u32>,
}

impl KeepPolicy {
    /// kura's default: 7 daily, 5 weekly, 12 monthly, 5 yearly (five years of medical records).
    pub fn hospital_default() -> Self {
        KeepPolicy {
            last: None,
            hourly: None,
            daily: Some(7),
            weekly: Some(5),
            monthly: Some(12),
            yearly: Some(5),
        }
    }

    /// Whether any keep-* rule is set.
    pub fn is_set(&self) -> bool {
        [
            self.last,
            self.hourly,
            self.daily,
            self.weekly,
            self.monthly,
            self.yearly,
        ]
        .iter()
        .any(Option::is_some)
    }

    fn to_rustic(&self) -> rustic_core::KeepOptions {
        let c = |v: Option<u32>| v.map(|n| i32::try_from(n).unwrap_or(i32::MAX));
        rustic_core::KeepOptions::default()
            .keep_last(c(self.last))
            .keep_hourly(c(self.hourly))
            .keep_daily(c(self.daily))
            .keep_weekly(c(self.weekly))
            .keep_monthly(c(self.monthly))
            .keep_yearly(c(self.yearly))
    }
}

/// The decision for one snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ForgetDecision {
    /// The snapshot.
    pub snapshot: SnapshotInfo,
    /// Kept?
    pub keep: bool,
    /// Why (policy rules matched, or a protection).
    pub reasons: Vec<String>,
}

/// What forget did or would do.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ForgetReport {
    /// Only planned, nothing removed.
    pub dry_run: bool,
    /// One decision per snapshot, oldest first.
    pub decisions: Vec<ForgetDecision>,
    /// Ids removed.
    pub removed: Vec<String>,
    /// Whether unused data was pruned.
    pub pruned: bool,
    /// Pack files removed by prune (with `dry_run`: that would be removed).
    pub packs_removed: u64,
    /// Bytes freed by prune (with `dry_run`: an estimate).
    pub bytes_freed: u64,
}

/// Newest clean snapshot among `snaps`.
fn newest_clean<'a>(snaps: impl IntoIterator<Item = &'a SnapshotFile>) -> Option<&'a SnapshotFile> {
    snaps
        .into_iter()
        .filter(|s| crate::snapshots::verdict_of(s) == crate::Verdict::Clean)
        .max_by(|a, b| a.time.cmp(&b.time))
}

/// Why a snapshot is kept whatever the policy says. `newest_clean` holds the newest clean
/// snapshot of the whole repository (what `latest-clean` resolves to) and of the snapshot's own
/// source: while an attack on that source is unresolved, later snapshots of it are suspicious,
/// so its newest clean one is the generation recovery starts from, even when another source
/// has a newer clean snapshot.
fn protection(snap: &SnapshotFile, newest_clean: &[Option<&SnapshotFile>]) -> Option<&'static str> {
    let info = info_of(snap);
    if info.legal_hold {
        return Some("legal hold");
    }
    if newest_clean.iter().flatten().any(|c| c.id == snap.id) {
        return Some("newest clean generation");
    }
    match info.verdict {
        crate::Verdict::Suspicious => Some("quarantined (suspicious)"),
        crate::Verdict::Pending => Some("verdict pending"),
        _ => None,
    }
}

/// What a prune frees: packs deleted whole, unused parts of repacked packs, unreferenced packs.
fn bytes_freed(stats: &rustic_core::PruneStats) -> u64 {
    let size = stats.size_sum();
    size.remove + size.repackrm + stats.size_unref
}

impl Repo {
    /// Packs and bytes a prune would free once the snapshots `removed` are gone: the plan is
    /// made ignoring them, and never executed.
    fn prune_estimate(&self, snaps: &[SnapshotFile], removed: &[String]) -> Result<(u64, u64)> {
        let repo = self.open_repo()?;
        let ignore: Vec<_> = snaps
            .iter()
            .filter(|s| removed.contains(&s.id.to_hex().to_string()))
            .map(|s| s.id)
            .collect();
        let opts = PruneOptions::default().ignore_snaps(ignore);
        let plan = repo.prune_plan(&opts).ctx("estimating the prune")?;
        let packs = plan.stats.packs_to_delete.remove + plan.stats.packs_to_delete.recover;
        Ok((packs, bytes_freed(&plan.stats)))
    }

    /// Apply a retention policy. Never removes a suspicious or pending snapshot, a snapshot under
    /// legal hold, or the newest clean snapshot (of the repository and of each source); refuses a
    /// plan that would keep nothing.
    pub fn forget(
        &mut self,
        policy: &KeepPolicy,
        dry_run: bool,
        prune: bool,
    ) -> Result<ForgetReport> {
        if !policy.is_set() {
            return Err(Error::NoRetentionRule);
        }
        let snaps = self.all_snapshot_files()?;
        let newest_clean_overall = newest_clean(&snaps);
        let now = rustic_core::jiff::Zoned::now();
        let grouped = rustic_core::Grouped::from_items(
            snaps.clone(),
            rustic_core::SnapshotGroupCriterion::default(),
        );
        let keep = policy.to_rustic();
        let mut decisions = Vec::new();
        let mut policy_keeps_any = false;
        for group in grouped.groups {
            let group_clean = newest_clean(&group.items).cloned();
            let protected = [newest_clean_overall, group_clean.as_ref()];
            for fs in keep
                .apply(group.items, &now)
                .ctx("applying the retention policy")?
            {
                policy_keeps_any |= fs.keep;
                let mut d = ForgetDecision {
                    snapshot: info_of(&fs.snapshot),
                    keep: fs.keep,
                    reasons: fs.reasons,
                };
                if let Some(why) = protection(&fs.snapshot, &protected) {
                    d.keep = true;
                    d.reasons.push(why.into());
                }
                decisions.push(d);
            }
        }
        // Oldest first, by the exact snapshot time (several backups can share one second).
        let order: std::collections::HashMap<String, usize> = snaps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.to_hex().to_string(), i))
            .collect();
        decisions.sort_by_key(|d| order.get(&d.snapshot.id).copied().unwrap_or(usize::MAX));
        // A policy that by itself keeps nothing is a mistake (e.g. --keep-last 0), even though
        // the protections below would still keep some snapshots.
        if !decisions.is_empty() && !policy_keeps_any {
            return Err(Error::PolicyRemovesEverything);
        }
        let removed: Vec<String> = decisions
            .iter()
            .filter(|d| !d.keep)
            .map(|d| d.snapshot.id.clone())
            .collect();
        let mut report = ForgetReport {
            dry_run,
            decisions,
            removed: removed.clone(),
            pruned: false,
            packs_removed: 0,
            bytes_freed: 0,
        };
        if dry_run {
            if prune {
                (report.packs_removed, report.bytes_freed) =
                    self.prune_estimate(&snaps, &removed)?;
            }
            return Ok(report);
        }
        let repo = self.open_repo()?;
        let ids: Vec<_> = snaps
            .iter()
            .filter(|s| removed.contains(&s.id.to_hex().to_string()))
            .map(|s| s.id)
            .collect();
        if !ids.is_empty() {
            repo.delete_snapshots(&ids).ctx("removing snapshots")?;
        }
        if prune {
            // kura holds the exclusive repository lock here, so unused packs can go at once
            // instead of after restic's 23-hour grace period.
            let opts = PruneOptions::default().instant_delete(true);
            let plan = repo.prune_plan(&opts).ctx("planning the prune")?;
            report.packs_removed =
                plan.stats.packs_to_delete.remove + plan.stats.packs_to_delete.recover;
            report.bytes_freed = bytes_freed(&plan.stats);
            repo.prune(&opts, plan).ctx("pruning unused data")?;
            report.pruned = true;
        }
        Ok(report)
    }
}
