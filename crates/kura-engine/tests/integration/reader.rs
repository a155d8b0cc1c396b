//! Reading snapshots: entries with their kinds, file contents, and diffs between snapshots.

use std::sync::Arc;

use kura_engine::{BackupRequest, ChangeKind, EntryKind, Error, NoObserver, Repo, Verdict};

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

/// `changes_to` (only changed folders opened, in parallel) against the full two-tree walk of
/// `diff_with`, over nights of changes in a nested tree: the same changed paths in the same
/// order with the same entries, and the same count of unchanged files. Pairs that skip
/// generations (latest-clean several nights back) are compared too.
#[test]
fn changes_between_any_two_nights_match_the_full_diff() {
    let mut f = Fixture::new();
    for ward in 0..6 {
        for patient in 0..5 {
            for day in 0..4 {
                f.write(
                    &format!("w{ward}/p{patient}/d{day}/order.hl7"),
                    format!("MSH|{ward}|{patient}|{day}").as_bytes(),
                );
            }
        }
    }
    let mut nights = vec![f.backup(Verdict::Clean)];
    // Night 1: scattered edits deep down, a new patient, a removed one.
    f.write("w0/p0/d0/order.hl7", b"edited");
    f.write("w3/p2/d3/order.hl7", b"edited too");
    f.write("w5/p9/d0/order.hl7", b"new patient");
    std::fs::remove_dir_all(f.path("w4/p1")).expect("remove patient");
    nights.push(f.backup(Verdict::Clean));
    // Night 2: a file becomes a folder and a folder becomes a file; a new top-level file.
    f.remove("w1/p1/d1/order.hl7");
    f.write("w1/p1/d1/order.hl7/inside.hl7", b"now a folder");
    std::fs::remove_dir_all(f.path("w2/p2/d2")).expect("remove day");
    f.write("w2/p2/d2", b"now a file");
    f.write("readme.txt", b"top");
    nights.push(f.backup(Verdict::Clean));
    // Night 3: nothing changed.
    nights.push(f.backup(Verdict::Clean));
    // Night 4: every ward touched once.
    for ward in 0..6 {
        f.write(&format!("w{ward}/p3/d1/order.hl7"), b"night 4");
    }
    nights.push(f.backup(Verdict::Clean));

    let key =
        |c: &kura_engine::Change| (c.path.clone(), c.change, c.before.clone(), c.after.clone());
    let mut compared = 0;
    for (i, older) in nights.iter().enumerate() {
        for newer in &nights[i + 1..] {
            let mut reader = f.repo.reader(&older.id).expect("reader");
            let full: Vec<_> = reader
                .diff_with(&newer.id)
                .expect("full diff")
                .iter()
                .map(key)
                .collect();
            let set = reader.changes_to(&newer.id).expect("changes");
            let mut fast: Vec<_> = set.changes.iter().map(key).collect();
            // A path whose kind changed (file <-> folder) is one `Modified` in the full diff and
            // a removal plus an addition in `changes_to`, so the file's content counts as gone.
            let mut changed: Vec<_> = full
                .iter()
                .filter(|c| c.1 != ChangeKind::Unchanged)
                .flat_map(|(path, change, before, after)| {
                    let kinds = (
                        before.as_ref().map(|e| e.kind),
                        after.as_ref().map(|e| e.kind),
                    );
                    match kinds {
                        (Some(b), Some(a)) if b != a => vec![
                            (path.clone(), ChangeKind::Removed, before.clone(), None),
                            (path.clone(), ChangeKind::Added, None, after.clone()),
                        ],
                        _ => vec![(path.clone(), *change, before.clone(), after.clone())],
                    }
                })
                .collect();
            fast.sort_by(|x, y| (&x.0, x.1 as u8).cmp(&(&y.0, y.1 as u8)));
            changed.sort_by(|x, y| (&x.0, x.1 as u8).cmp(&(&y.0, y.1 as u8)));
            assert_eq!(fast, changed, "{} -> {}", older.short_id, newer.short_id);
            let unchanged = full
                .iter()
                .filter(|c| c.1 == ChangeKind::Unchanged)
                .filter(|c| c.3.as_ref().is_some_and(|e| e.kind == EntryKind::File))
                .count() as u64;
            assert_eq!(set.unchanged_files, unchanged);
            compared += 1;
        }
    }
    assert_eq!(compared, 10);
    // The nights really changed something (the comparison is not of empty lists).
    let mut reader = f.repo.reader(&nights[0].id).expect("reader");
    let all = reader.changes_to(&nights[4].id).expect("changes").changes;
    assert!(all.len() > 20, "{} changes", all.len());
}

/// Every file of `snap` read through `repo`'s reader, by path, with its bytes.
fn contents(repo: &mut Repo, snap: &str) -> Vec<(String, Vec<u8>)> {
    let reader = repo.reader(snap).expect("reader");
    let mut files = Vec::new();
    reader
        .walk("", |e| {
            if e.kind == EntryKind::File {
                let bytes = reader.read_entry(&e, u64::MAX).expect("read a file");
                files.push((e.path, bytes));
            }
            Ok(())
        })
        .expect("walk");
    files
}

#[test]
fn a_reader_after_a_backup_that_kept_its_index_reads_what_it_wrote_night_after_night() {
    let mut f = Fixture::new();
    // Another handle on the same repository, backing up another folder between a backup and
    // the reader that follows it: its index files are new to the kept index too.
    let mut other = f.another_handle();
    let other_source = tempfile::tempdir().expect("tempdir");
    let mut nights = Vec::new();
    for night in 0..5u64 {
        // New content every night (new data blobs in new packs, listed by new index files),
        // some of it larger than one chunk, plus a file unchanged since the first night.
        for ward in 0..4 {
            let bytes = kura_testkit::noise::incompressible(
                night * 10 + ward,
                3_000 + 400_000 * (ward as usize % 2),
            );
            f.write(&format!("w{ward}/n{night}.bin"), &bytes);
        }
        f.write(
            &format!("w0/orders/{night}.hl7"),
            format!("MSH|night {night}").as_bytes(),
        );
        if night == 0 {
            f.write("steady.txt", b"unchanged every night");
        }
        let snap = f.backup_with(Verdict::Clean, true);
        if night == 2 {
            std::fs::write(other_source.path().join("lab.hl7"), b"MSH|lab results").expect("write");
            let req = BackupRequest {
                paths: vec![other_source.path().to_path_buf()],
                ..Default::default()
            };
            let lab = other
                .backup(&req, Arc::new(NoObserver))
                .expect("other backup");
            let lab = contents(&mut f.repo, &lab.snapshot.id);
            assert_eq!(lab.len(), 1);
            assert_eq!(lab[0].1, b"MSH|lab results");
            // That reader used the kept index; the next backup keeps a new one.
            f.write("w1/after-lab.hl7", b"MSH|after lab");
            nights.push(f.backup_with(Verdict::Clean, true));
        } else {
            nights.push(snap);
        }
        // The new snapshot, read with the kept index, is byte for byte the source folder ...
        let new = contents(&mut f.repo, &nights.last().expect("night").id);
        let root = snapshot_path(f.source.path());
        assert_eq!(
            new.len() as u64,
            5 * (night + 1) + 1 + u64::from(night >= 2)
        );
        for (path, bytes) in &new {
            let rel = path.strip_prefix(&root).expect("under the source");
            let on_disk = std::fs::read(f.path(rel.trim_start_matches('/'))).expect("source");
            assert!(on_disk == *bytes, "{path} differs from the source");
        }
        // ... and what a handle that read the whole index reads, for every night so far.
        let mut fresh = f.another_handle();
        for earlier in &nights {
            assert!(contents(&mut f.repo, &earlier.id) == contents(&mut fresh, &earlier.id));
        }
    }
}

#[test]
fn a_large_file_is_read_back_in_order_up_to_any_limit() {
    let mut f = Fixture::new();
    // More blobs than one parallel batch (8), so batches must join in order. Chunk boundaries
    // depend on the repository's random polynomial (512 KiB to 8 MiB, ~1.5 MiB on average): at
    // 40 MiB the file has ~27 blobs, and 8 or fewer would need chunks of 5 MiB on average.
    let bytes = kura_testkit::noise::incompressible(7, 40 << 20);
    f.write("scan.dcm", &bytes);
    let snap = f.backup(Verdict::Clean);
    let reader = f.repo.reader(&snap.id).expect("reader");
    let entry = reader
        .entries("")
        .expect("entries")
        .into_iter()
        .find(|e| e.path.ends_with("scan.dcm"))
        .expect("the file");
    assert!(
        entry.content_key.len() / 64 > 8,
        "{} blobs",
        entry.content_key.len() / 64
    );
    for max in [0, 1, 700_000, (9 << 20) + 3, 40 << 20, u64::MAX] {
        let got = reader.read_entry(&entry, max).expect("read");
        let want = &bytes[..bytes.len().min(usize::try_from(max).unwrap_or(usize::MAX))];
        assert!(got == want, "first {max} bytes differ ({} read)", got.len());
        let mut pieces = 0;
        let mut streamed = Vec::new();
        reader
            .read_entry_with(&entry, max, |b| {
                pieces += 1;
                streamed.extend_from_slice(b);
            })
            .expect("stream");
        assert!(streamed == want, "streamed first {max} bytes differ");
        assert!(
            max < 1 << 20 || pieces > 1,
            "{pieces} pieces for {max} bytes"
        );
    }
}
