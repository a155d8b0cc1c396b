//! The offline disk registry.

use jiff::Timestamp;
use kura_copies::media::{DISK_ID_FILE, MediaRegistry, read_disk_id};
use kura_copies::{Error, media::DEFAULT_OVERDUE_DAYS};

fn t(days: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + days * 86_400).unwrap()
}

#[test]
fn added_disk_gets_an_id_file_and_passes_identity_check() {
    let (state, disk) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut reg = MediaRegistry::open(state.path()).unwrap();
    let rec = reg.add(disk.path(), "disk-a").unwrap();
    let id = read_disk_id(disk.path()).unwrap();
    assert_eq!(id.disk_id, rec.disk_id);
    assert_eq!(id.label, "disk-a");
    assert_eq!(
        reg.check_identity("disk-a", disk.path()).unwrap().disk_id,
        rec.disk_id
    );
    // Persisted: a reopened registry knows the disk.
    let reg = MediaRegistry::open(state.path()).unwrap();
    assert_eq!(reg.disk("disk-a").unwrap().disk_id, rec.disk_id);
}

#[test]
fn wrong_disk_is_refused() {
    let (state, a, b) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let mut reg = MediaRegistry::open(state.path()).unwrap();
    reg.add(a.path(), "disk-a").unwrap();
    reg.add(b.path(), "disk-b").unwrap();
    let err = reg.check_identity("disk-a", b.path()).unwrap_err();
    assert!(matches!(err, Error::WrongDisk { .. }), "{err}");
    assert!(
        err.to_string().contains("is disk disk-b, not disk-a"),
        "{err}"
    );
    // A blank disk is not a kura disk.
    let blank = tempfile::tempdir().unwrap();
    let err = reg.check_identity("disk-a", blank.path()).unwrap_err();
    assert!(matches!(err, Error::NotAKuraDisk { .. }), "{err}");
    // An unknown label.
    assert!(matches!(
        reg.check_identity("disk-z", a.path()).unwrap_err(),
        Error::UnknownDisk { .. }
    ));
}

#[test]
fn same_disk_or_label_twice_is_refused() {
    let (state, a, b) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let mut reg = MediaRegistry::open(state.path()).unwrap();
    reg.add(a.path(), "disk-a").unwrap();
    assert!(matches!(
        reg.add(a.path(), "disk-b").unwrap_err(),
        Error::AlreadyRegistered { .. }
    ));
    assert!(matches!(
        reg.add(b.path(), "disk-a").unwrap_err(),
        Error::AlreadyRegistered { .. }
    ));
    assert!(reg.add(b.path(), "").is_err());
    assert_eq!(reg.disks().len(), 1);
}

#[test]
fn overdue_is_computed_from_the_last_export() {
    let (state, a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let mut reg = MediaRegistry::open(state.path()).unwrap();
    reg.add(a.path(), "fresh").unwrap();
    reg.add(b.path(), "stale").unwrap();
    reg.add(c.path(), "never").unwrap();
    reg.record_export("fresh", &["s2".into(), "s1".into(), "s2".into()], t(10))
        .unwrap();
    reg.record_export("stale", &["s1".into()], t(1)).unwrap();
    reg.record_export("stale", &["s0".into()], t(0)).unwrap(); // recorded late, older
    let now = t(10) + jiff::SignedDuration::from_hours(1);
    let list = MediaRegistry::open(state.path())
        .unwrap()
        .list(now, DEFAULT_OVERDUE_DAYS);
    let get = |l: &str| list.iter().find(|d| d.label == l).unwrap().clone();
    let fresh = get("fresh");
    assert!(!fresh.overdue);
    assert_eq!(fresh.snapshots, vec!["s1".to_string(), "s2".to_string()]);
    assert_eq!(fresh.last_export, Some(t(10)));
    assert_eq!(fresh.age_days, 0);
    let stale = get("stale");
    assert!(stale.overdue);
    assert_eq!(stale.age_days, 9);
    assert_eq!(stale.snapshots, vec!["s1".to_string()]);
    assert!(get("never").overdue);
    assert!(get("never").last_export.is_none());
    // A longer rotation period makes the stale disk fine.
    assert!(
        !reg.list(now, 30)
            .iter()
            .find(|d| d.label == "stale")
            .unwrap()
            .overdue
    );
    assert!(matches!(
        reg.record_export("nope", &[], t(0)).unwrap_err(),
        Error::UnknownDisk { .. }
    ));
}

#[test]
fn unwritable_disk_is_an_error() {
    let state = tempfile::tempdir().unwrap();
    let mut reg = MediaRegistry::open(state.path()).unwrap();
    // A regular file where the mount point should be: nothing can be written "on" it (this also
    // holds for root, unlike permission bits).
    let file = state.path().join("not-a-disk");
    std::fs::write(&file, b"x").unwrap();
    let err = reg.add(&file, "disk-a").unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert!(err.to_string().contains("not-a-disk"), "{err}");
    let err = reg
        .add(&state.path().join("missing"), "disk-a")
        .unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert!(reg.disks().is_empty());
    assert!(!file.join(DISK_ID_FILE).exists());
}

#[test]
fn corrupt_registry_is_a_clear_error() {
    let state = tempfile::tempdir().unwrap();
    std::fs::write(state.path().join("disks.json"), b"{not json").unwrap();
    let err = MediaRegistry::open(state.path()).unwrap_err();
    assert!(matches!(err, Error::Json { .. }), "{err}");
    assert!(err.to_string().contains("disks.json"), "{err}");
}
