//! Restore out of the in-memory repository: contents, the include's layout, and bad targets.

use kura_engine::{Error, RestoreOptions, Verdict};

use super::support::{Fixture, snapshot_path};

#[test]
fn restore_writes_the_snapshot_and_refuses_a_file_as_target() {
    let mut f = Fixture::new();
    f.write("ward/a.txt", b"allergy: penicillin");
    f.write("ward/b.txt", b"stable");
    let snap = f.backup(Verdict::Clean);
    let target = tempfile::tempdir().unwrap();
    let include = snapshot_path(&f.path("ward/a.txt"));
    let report = f
        .repo
        .restore(
            &snap.id,
            target.path(),
            &RestoreOptions {
                include: Some(include.clone()),
                ..RestoreOptions::default()
            },
        )
        .expect("restore");
    assert_eq!(report.files, 1);
    // The include keeps its path from the snapshot root, as a full restore would.
    let restored = std::fs::read(target.path().join(&include)).unwrap();
    assert_eq!(restored, b"allergy: penicillin");
    assert!(
        !target
            .path()
            .join(snapshot_path(&f.path("ward/b.txt")))
            .exists()
    );

    let file = target.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let err = f
        .repo
        .restore(&snap.id, &file, &RestoreOptions::default())
        .unwrap_err();
    assert!(matches!(err, Error::BadTarget { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "restore target {} is a file: give a folder (created if missing)",
            file.display()
        )
    );
}
