//! Reading snapshots: entries with their kinds, file contents, and diffs between snapshots.

use kura_engine::{ChangeKind, EntryKind, Error, Verdict};

use super::support::{Fixture, snapshot_path};

#[test]
fn diff_reports_added_removed_modified_and_unchanged_paths() {
    let mut f = Fixture::new();
    f.write("keep.txt", b"same");
    f.write("edit.txt", b"before");
    f.write("gone.txt", b"bye");
    let older = f.backup(Verdict::Clean);
    f.write("edit.txt", b"after, longer");
    f.remove("gone.txt");
    f.write("new/added.txt", b"hello");
    let newer = f.backup(Verdict::Clean);

    let root = f.source.path().to_path_buf();
    let sp = |rel: &str| snapshot_path(&root.join(rel));
    let mut reader = f.repo.reader(&older.id).expect("reader");
    let changes = reader.diff_with(&newer.id).expect("diff");
    let change = |rel: &str| {
        let p = sp(rel);
        changes
            .iter()
            .find(|c| c.path == p)
            .unwrap_or_else(|| panic!("{p} not in diff"))
            .change
    };
    assert_eq!(change("keep.txt"), ChangeKind::Unchanged);
    assert_eq!(change("edit.txt"), ChangeKind::Modified);
    assert_eq!(change("gone.txt"), ChangeKind::Removed);
    assert_eq!(change("new/added.txt"), ChangeKind::Added);
    assert_eq!(change("new"), ChangeKind::Added);
    // The reader stays on the older snapshot.
    assert_eq!(reader.snapshot().id, older.id);
    assert_eq!(reader.read(&sp("edit.txt"), 100).unwrap(), b"before");
}

#[test]
fn entries_have_kinds_that_serialize_as_before() {
    let mut f = Fixture::new();
    f.write("dir/file.txt", b"0123456789");
    std::os::unix::fs::symlink("file.txt", f.path("dir/link")).unwrap();
    let snap = f.backup(Verdict::Clean);
    let root = f.source.path().to_path_buf();
    let sp = |rel: &str| snapshot_path(&root.join(rel));
    let reader = f.repo.reader(&snap.id).expect("reader");
    let entries = reader.entries("").expect("entries");
    let kind = |rel: &str| {
        let p = sp(rel);
        entries.iter().find(|e| e.path == p).expect("entry").kind
    };
    assert_eq!(kind("dir"), EntryKind::Dir);
    assert_eq!(kind("dir/file.txt"), EntryKind::File);
    assert_eq!(kind("dir/link"), EntryKind::Symlink);
    let file = entries
        .iter()
        .find(|e| e.kind == EntryKind::File)
        .expect("file");
    assert_eq!(file.size, 10);
    let json = serde_json::to_value(file).unwrap();
    assert_eq!(json["kind"], "file");
    assert_eq!(EntryKind::Dir, "dir");
    assert_eq!(reader.read(&file.path, 4).unwrap(), b"0123");
    let err = reader.read(&sp("dir"), 4).unwrap_err();
    assert!(matches!(err, Error::NotAFile { .. }), "{err}");
}
