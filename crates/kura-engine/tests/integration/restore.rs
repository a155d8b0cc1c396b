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

#[test]
fn restore_of_a_set_of_paths_writes_exactly_them_in_one_pass_and_lists_the_missing() {
    let mut f = Fixture::new();
    f.write("ward/a.txt", b"allergy: penicillin");
    f.write("ward/b.txt", b"stable");
    f.write("ward/sub/c.txt", b"discharged");
    f.write("lab/d.txt", b"potassium 4.1");
    f.write("lab/e.txt", b"not asked for");
    let snap = f.backup(Verdict::Clean);
    let target = tempfile::tempdir().unwrap();
    let base = f.path("");
    let p = |rel: &str| snapshot_path(&base.join(rel));
    let paths = vec![
        format!("/{}", p("ward/a.txt")),
        p("ward/sub"),
        p("lab/d.txt"),
        p("lab/gone.txt"),
        p("lab/e.txt/under-a-file"),
    ];
    let report = f
        .repo
        .restore(
            &snap.id,
            target.path(),
            &RestoreOptions {
                paths: paths.clone(),
                ..RestoreOptions::default()
            },
        )
        .expect("restore");
    assert_eq!(report.files, 3, "{report:?}");
    let read = |rel: &str| std::fs::read(target.path().join(p(rel))).ok();
    assert_eq!(
        read("ward/a.txt").as_deref(),
        Some(&b"allergy: penicillin"[..])
    );
    assert_eq!(read("ward/sub/c.txt").as_deref(), Some(&b"discharged"[..]));
    assert_eq!(read("lab/d.txt").as_deref(), Some(&b"potassium 4.1"[..]));
    assert_eq!(read("ward/b.txt"), None);
    assert_eq!(read("lab/e.txt"), None);
    let mut missing = report.missing.clone();
    missing.sort();
    let mut want = vec![p("lab/gone.txt"), p("lab/e.txt/under-a-file")];
    want.sort();
    assert_eq!(missing, want);
}
