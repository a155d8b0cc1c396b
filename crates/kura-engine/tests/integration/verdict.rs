//! Verdict tags: recorded on backup, changed later, and what `latest-clean` resolves to.

use kura_engine::{Error, VERDICT_TAG_PREFIX, Verdict};

use super::support::Fixture;

#[test]
fn latest_clean_follows_verdict_changes() {
    let mut f = Fixture::new();
    f.write("a.txt", b"1");
    let first = f.backup(Verdict::Clean);
    f.write("a.txt", b"2");
    let second = f.backup(Verdict::Pending);
    assert_eq!(second.verdict, Verdict::Pending);
    assert_eq!(f.repo.snapshot("latest-clean").unwrap().id, first.id);
    assert_eq!(f.repo.snapshot("latest").unwrap().id, second.id);

    let judged = f
        .repo
        .set_verdict(
            &second.id,
            Verdict::Clean,
            serde_json::json!({ "score": 0 }),
        )
        .expect("verdict");
    assert_eq!(judged.verdict, Verdict::Clean);
    // The snapshot file is rewritten (new id); verdict tags are shown as the verdict only.
    assert_ne!(judged.id, second.id);
    assert!(
        judged
            .tags
            .iter()
            .all(|t| !t.starts_with(VERDICT_TAG_PREFIX)),
        "{:?}",
        judged.tags
    );
    assert_eq!(judged.document.as_ref().unwrap()["score"], 0);
    assert_eq!(f.repo.snapshot("latest-clean").unwrap().id, judged.id);
    assert_eq!(f.repo.snapshots().unwrap().len(), 2);

    let marked = f
        .repo
        .set_verdict(&judged.id, Verdict::Suspicious, serde_json::json!({}))
        .unwrap();
    assert_eq!(marked.verdict, Verdict::Suspicious);
    assert_eq!(f.repo.snapshot("latest-clean").unwrap().id, first.id);
}

#[test]
fn unknown_snapshot_and_verdict_names_are_errors() {
    let mut f = Fixture::new();
    f.write("a.txt", b"1");
    f.backup(Verdict::Unknown);
    let err = f.repo.snapshot("latest-clean").unwrap_err();
    assert!(matches!(err, Error::SnapshotNotFound(_)), "{err}");
    let err = "dirty".parse::<Verdict>().unwrap_err();
    assert!(matches!(err, Error::BadValue(_)), "{err}");
    assert_eq!(
        "suspicious".parse::<Verdict>().unwrap(),
        Verdict::Suspicious
    );
}
