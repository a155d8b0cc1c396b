//! Retention: the policy is applied, but the newest clean, a suspicious or pending, and a held
//! snapshot are never removed, and a policy that keeps nothing is refused.

use kura_engine::{Error, ForgetReport, KeepPolicy, Verdict};

use super::support::Fixture;

fn keep_last(n: u32) -> KeepPolicy {
    KeepPolicy {
        last: Some(n),
        ..KeepPolicy::default()
    }
}

fn kept(report: &ForgetReport, id: &str) -> bool {
    report
        .decisions
        .iter()
        .find(|d| d.snapshot.id == id)
        .expect("decision for every snapshot")
        .keep
}

fn reasons(report: &ForgetReport, id: &str) -> Vec<String> {
    report
        .decisions
        .iter()
        .find(|d| d.snapshot.id == id)
        .expect("decision")
        .reasons
        .clone()
}

#[test]
fn newest_clean_survives_a_policy_that_keeps_only_later_suspicious_snapshots() {
    let mut f = Fixture::new();
    f.write("a.txt", b"monday");
    let old_clean = f.backup(Verdict::Clean);
    f.write("a.txt", b"tuesday");
    let newest_clean = f.backup(Verdict::Clean);
    f.write("a.txt", b"encrypted?");
    let attacked = f.backup(Verdict::Suspicious);

    let report = f.repo.forget(&keep_last(1), false, true).expect("forget");
    assert!(kept(&report, &attacked.id));
    assert!(kept(&report, &newest_clean.id), "{report:#?}");
    assert!(
        reasons(&report, &newest_clean.id).contains(&"newest clean generation".to_string()),
        "{:?}",
        reasons(&report, &newest_clean.id)
    );
    assert!(!kept(&report, &old_clean.id));
    assert_eq!(report.removed, vec![old_clean.id.clone()]);
    assert!(report.pruned);

    let left: Vec<String> = f
        .repo
        .snapshots()
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(left, vec![newest_clean.id.clone(), attacked.id.clone()]);
    assert_eq!(f.repo.snapshot("latest-clean").unwrap().id, newest_clean.id);
}

#[test]
fn held_pending_and_suspicious_snapshots_are_kept_whatever_the_policy() {
    let mut f = Fixture::new();
    f.write("a.txt", b"1");
    let held = f.backup(Verdict::Clean);
    let held = f.repo.set_legal_hold(&held.id, true).expect("hold");
    f.write("a.txt", b"2");
    let suspicious = f.backup(Verdict::Suspicious);
    f.write("a.txt", b"3");
    let pending = f.backup(Verdict::Pending);
    f.write("a.txt", b"4");
    let plain = f.backup(Verdict::Clean);
    f.write("a.txt", b"5");
    let newest = f.backup(Verdict::Clean);

    let report = f.repo.forget(&keep_last(1), true, false).expect("plan");
    assert!(report.dry_run);
    assert!(reasons(&report, &held.id).contains(&"legal hold".to_string()));
    assert!(reasons(&report, &suspicious.id).contains(&"quarantined (suspicious)".to_string()));
    assert!(reasons(&report, &pending.id).contains(&"verdict pending".to_string()));
    assert!(kept(&report, &newest.id));
    assert_eq!(report.removed, vec![plain.id.clone()]);
    // A dry run removes nothing.
    assert_eq!(f.repo.snapshots().unwrap().len(), 5);
}

#[test]
fn a_policy_that_keeps_nothing_is_refused_and_removes_nothing() {
    let mut f = Fixture::new();
    f.write("a.txt", b"1");
    f.backup(Verdict::Clean);
    f.write("a.txt", b"2");
    f.backup(Verdict::Clean);
    let err = f.repo.forget(&keep_last(0), false, true).unwrap_err();
    assert!(matches!(err, Error::PolicyRemovesEverything), "{err}");
    assert_eq!(f.repo.snapshots().unwrap().len(), 2);
}

#[test]
fn no_rule_at_all_is_its_own_error() {
    let mut f = Fixture::new();
    f.write("a.txt", b"1");
    f.backup(Verdict::Clean);
    let err = f
        .repo
        .forget(&KeepPolicy::default(), true, false)
        .unwrap_err();
    assert!(matches!(err, Error::NoRetentionRule), "{err}");
    assert!(err.to_string().contains("--keep-"), "{err}");
}

#[test]
fn hospital_default_is_a_policy() {
    let p = KeepPolicy::hospital_default();
    assert!(p.is_set());
    assert_eq!(p.daily, Some(7));
    assert_eq!(p.yearly, Some(5));
}
