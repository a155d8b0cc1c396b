//! Which snapshots go to a copy (never a suspicious one unless forced), and copying them.

use kura_engine::{Error, KeepPolicy, Repo, Verdict, no_progress};

use super::support::{Fixture, PASSWORD, memory_location};

#[test]
fn default_selection_is_the_clean_generations_the_policy_keeps() {
    let mut f = Fixture::new();
    f.write("a.txt", b"1");
    let clean = f.backup(Verdict::Clean);
    f.write("a.txt", b"2");
    let suspicious = f.backup(Verdict::Suspicious);
    let chosen = f
        .repo
        .select_for_copy(&[], &KeepPolicy::hospital_default(), false)
        .expect("selection");
    let ids: Vec<&str> = chosen.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, vec![clean.id.as_str()]);
    // Forced, the kept suspicious generation comes along too.
    let forced = f
        .repo
        .select_for_copy(&[], &KeepPolicy::hospital_default(), true)
        .expect("forced selection");
    assert!(forced.iter().any(|s| s.id == suspicious.id));
}

#[test]
fn a_named_suspicious_snapshot_is_refused_unless_forced() {
    let mut f = Fixture::new();
    f.write("a.txt", b"1");
    f.backup(Verdict::Clean);
    f.write("a.txt", b"2");
    let bad = f.backup(Verdict::Suspicious);
    let specs = vec![bad.short_id.clone()];
    let err = f
        .repo
        .select_for_copy(&specs, &KeepPolicy::hospital_default(), false)
        .unwrap_err();
    match &err {
        Error::NotClean { snapshot, verdict } => {
            assert_eq!(snapshot, &bad.short_id);
            assert_eq!(*verdict, Verdict::Suspicious);
        }
        other => panic!("expected NotClean, got {other}"),
    }
    assert!(err.to_string().contains("--force"), "{err}");
    let forced = f
        .repo
        .select_for_copy(&specs, &KeepPolicy::hospital_default(), true)
        .expect("forced");
    assert_eq!(forced[0].id, bad.id);
}

#[test]
fn nothing_clean_to_copy_is_its_own_error() {
    let mut f = Fixture::new();
    f.write("a.txt", b"1");
    f.backup(Verdict::Suspicious);
    let err = f
        .repo
        .select_for_copy(&[], &KeepPolicy::hospital_default(), false)
        .unwrap_err();
    assert!(matches!(err, Error::NothingToCopy), "{err}");
}

#[test]
fn copy_sends_each_snapshot_once_and_keeps_its_verdict() {
    let mut f = Fixture::new();
    f.write("a.txt", b"1");
    let first = f.backup(Verdict::Clean);
    f.write("b.txt", b"2");
    let second = f.backup(Verdict::Clean);
    let mut dest = Repo::init_like(memory_location(), PASSWORD, &f.repo, no_progress()).unwrap();
    let ids = vec![first.id.clone()];
    assert_eq!(f.repo.copy_to(&mut dest, &ids).unwrap(), ids);
    // Already there: nothing to copy again.
    assert!(f.repo.copy_to(&mut dest, &ids).unwrap().is_empty());
    let both = vec![first.id.clone(), second.id.clone()];
    assert_eq!(
        f.repo.copy_to(&mut dest, &both).unwrap(),
        vec![second.id.clone()]
    );
    let copied = dest.snapshots().unwrap();
    assert_eq!(copied.len(), 2);
    assert!(copied.iter().all(|s| s.verdict == Verdict::Clean));
    assert!(dest.check(true).unwrap().is_ok());
    // The source repository is still usable after the copy.
    assert_eq!(f.repo.snapshots().unwrap().len(), 2);
}
