//! A repository in memory with a source folder whose backups get chosen times and verdicts.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kura_engine::{
    BackupRequest, Location, LockMode, NoObserver, ObjectStore, Repo, SnapshotInfo, Verdict,
    no_progress,
};
use kura_testkit::store::MemoryStore;

pub const PASSWORD: &str = "test-password";

/// A repository in memory and the folder it backs up.
pub struct Fixture {
    pub repo: Repo,
    pub source: tempfile::TempDir,
    backups: i64,
}

pub fn memory_location() -> Location {
    let store: Arc<dyn ObjectStore> = Arc::new(MemoryStore::new());
    Location::Store(store)
}

impl Fixture {
    pub fn new() -> Fixture {
        let repo = Repo::init(memory_location(), PASSWORD, no_progress()).expect("init");
        let source = tempfile::tempdir().expect("tempdir");
        Fixture {
            repo,
            source,
            backups: 0,
        }
    }

    /// Another handle on the same repository, as a second kura process would open it.
    pub fn another_handle(&self) -> Repo {
        Repo::open(
            self.repo.location().clone(),
            PASSWORD,
            LockMode::Shared,
            no_progress(),
        )
        .expect("another handle")
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.source.path().join(rel)
    }

    pub fn write(&self, rel: &str, bytes: &[u8]) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, bytes).expect("write");
    }

    pub fn remove(&self, rel: &str) {
        std::fs::remove_file(self.path(rel)).expect("remove");
    }

    /// Back up the source with `verdict`, one day after the previous backup (fixed times, so
    /// the order never depends on the clock).
    pub fn backup(&mut self, verdict: Verdict) -> SnapshotInfo {
        self.backup_with(verdict, false)
    }

    /// [`Fixture::backup`], keeping the backup's full index for the next reader or not.
    pub fn backup_with(&mut self, verdict: Verdict, keep_index: bool) -> SnapshotInfo {
        self.backups += 1;
        let time =
            jiff::Timestamp::from_second(1_700_000_000 + self.backups * 86_400).expect("time");
        let req = BackupRequest {
            paths: vec![self.source.path().to_path_buf()],
            initial_verdict: Some(verdict),
            time: Some(time),
            host: Some("ward-server".into()),
            keep_index,
            ..Default::default()
        };
        let report = self
            .repo
            .backup(&req, Arc::new(NoObserver))
            .expect("backup");
        assert!(report.unreadable.is_empty(), "{:?}", report.unreadable);
        assert_eq!(report.snapshot.verdict, verdict);
        report.snapshot
    }
}

pub fn snapshot_path(p: &Path) -> String {
    p.to_string_lossy().trim_start_matches('/').to_string()
}
