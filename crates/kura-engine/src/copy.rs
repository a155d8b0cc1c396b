//! Copy of snapshots to another repository (an offline disk or a remote), and which to copy.

use rustic_core::repofile::SnapshotFile;

use crate::error::{Error, Result, RusticContext};
use crate::forget::KeepPolicy;
use crate::repo::Repo;
use crate::snapshots::SnapshotInfo;

impl Repo {
    /// Copy snapshots (by id) to `dest`, skipping those already there. Returns the ids copied.
    pub fn copy_to(&mut self, dest: &mut Repo, ids: &[String]) -> Result<Vec<String>> {
        let all = self.all_snapshot_files()?;
        let chosen: Vec<SnapshotFile> = all
            .into_iter()
            .filter(|s| ids.contains(&s.id.to_hex().to_string()))
            .collect();
        let src = self
            .take()?
            .to_indexed()
            .ctx("reading the repository index")?;
        let dst = match dest
            .take()
            .and_then(|d| d.to_indexed_ids().ctx("reading the destination index"))
        {
            Ok(d) => d,
            Err(e) => {
                self.repo = Some(src.drop_index());
                return Err(e);
            }
        };
        let result = dst
            .relevant_copy_snapshots(|_| true, &chosen)
            .ctx("comparing snapshots with the destination")
            .and_then(|rel| {
                let todo: Vec<SnapshotFile> = rel
                    .into_iter()
                    .filter(|c| c.relevant)
                    .map(|c| c.sn)
                    .collect();
                src.copy(&dst, todo.iter()).ctx("copying snapshots")?;
                Ok(todo.iter().map(|s| s.id.to_hex().to_string()).collect())
            });
        self.repo = Some(src.drop_index());
        dest.repo = Some(dst.drop_index());
        result
    }

    /// The snapshots to copy to an offline disk or remote: the given references, or by default
    /// the clean generations that `policy` keeps. Refuses a suspicious, pending or unjudged
    /// snapshot unless `force`, so that an attacked generation never lands on a clean copy.
    pub fn select_for_copy(
        &mut self,
        specs: &[String],
        policy: &KeepPolicy,
        force: bool,
    ) -> Result<Vec<SnapshotInfo>> {
        let chosen: Vec<SnapshotInfo> = if specs.is_empty() {
            let plan = self.forget(policy, true, false)?;
            plan.decisions
                .into_iter()
                .filter(|d| d.keep && (force || d.snapshot.verdict == crate::Verdict::Clean))
                .map(|d| d.snapshot)
                .collect()
        } else {
            specs
                .iter()
                .map(|s| self.snapshot(s))
                .collect::<Result<_>>()?
        };
        if !force && let Some(bad) = chosen.iter().find(|s| s.verdict != crate::Verdict::Clean) {
            return Err(Error::NotClean {
                snapshot: bad.short_id.clone(),
                verdict: bad.verdict,
            });
        }
        if chosen.is_empty() {
            return Err(Error::NothingToCopy);
        }
        Ok(chosen)
    }
}
