//! What kura's own records show for each kind of evidence, and how a person's answer combines with it.

use jiff::{SignedDuration, Timestamp};

use crate::{Attestation, CopyKind, EvidenceKind, Facts, Policy, Status};

/// kura's own finding for one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    /// The records show the measure in place.
    pub yes: bool,
    /// What they show, in Japanese then English.
    pub evidence: String,
    /// The date of the evidence.
    pub date: Option<String>,
}

fn day(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d").to_string()
}

fn yes(evidence: String, date: Option<Timestamp>) -> Option<Found> {
    Some(Found {
        yes: true,
        evidence,
        date: date.map(day),
    })
}

fn no(evidence: String, date: Option<Timestamp>) -> Option<Found> {
    Some(Found {
        yes: false,
        evidence,
        date: date.map(day),
    })
}

/// Whole hours from `then` to `now` (0 when `then` is in the future).
fn hours(then: Timestamp, now: Timestamp) -> i64 {
    now.duration_since(then).as_hours().max(0)
}

/// kura's finding for `kind`; `None` for items only a person can answer.
pub(crate) fn judge(kind: EvidenceKind, f: &Facts, p: &Policy, now: Timestamp) -> Option<Found> {
    match kind {
        EvidenceKind::Attest => None,
        EvidenceKind::Drill => drill(f),
        EvidenceKind::Rpo => rpo(f, p, now),
        EvidenceKind::Generations => generations(f),
        EvidenceKind::Copies => copies(f),
        EvidenceKind::Offline => offline(f),
        EvidenceKind::Rotation => rotation(f, p, now),
        EvidenceKind::Immutable => immutable(f),
        EvidenceKind::Encryption => encryption(f),
        EvidenceKind::Audit => audit(f, now),
        EvidenceKind::Training => training(f),
    }
}

/// Combine kura's finding with a person's answer: kura's `yes` stands; otherwise a person's
/// `yes` makes the item `attest`, keeping kura's own finding in the evidence.
pub(crate) fn with_attestation(
    found: Option<Found>,
    att: Option<&Attestation>,
) -> (Status, String, Option<String>) {
    let said = |a: &Attestation| {
        let role = if a.role.is_empty() {
            String::new()
        } else {
            format!(" ({})", a.role)
        };
        let note = if a.note.is_empty() {
            String::new()
        } else {
            format!(": {}", a.note)
        };
        format!("{}{role} の申告{note} / attested by {}", a.by, a.by)
    };
    match (found, att) {
        (Some(f), _) if f.yes => (Status::Yes, f.evidence, f.date),
        (Some(f), Some(a)) if a.answer == "yes" => (
            Status::Attest,
            format!("{}。kura の記録: {}", said(a), f.evidence),
            Some(a.date.clone()),
        ),
        (Some(f), _) => (Status::No, f.evidence, f.date),
        (None, Some(a)) if a.answer == "yes" => (Status::Attest, said(a), Some(a.date.clone())),
        (None, Some(a)) => (
            Status::No,
            format!("{} の申告: いいえ / {} answered no", a.by, a.by),
            Some(a.date.clone()),
        ),
        (None, None) => (
            Status::No,
            "未回答: 申告ファイル (--attest) で回答してください / not answered: give it in the attestation file (--attest)".into(),
            None,
        ),
    }
}

fn drill(f: &Facts) -> Option<Found> {
    match (&f.last_passed_drill, &f.last_drill) {
        (_, Some(last)) if !last.passed => no(
            format!(
                "直近の復旧訓練 {} ({}) は失敗 / the last restore drill {} of {} failed",
                last.id, last.copy, last.id, last.copy
            ),
            Some(last.at),
        ),
        (Some(p), _) => yes(
            format!(
                "復旧訓練 {} ({}) 合格: {} ファイル検証、RTO {:.1} 秒 / restore drill {} of {} passed: {} files verified, RTO {:.1} s",
                p.id,
                p.copy,
                p.files_verified,
                p.rto_seconds,
                p.id,
                p.copy,
                p.files_verified,
                p.rto_seconds
            ),
            Some(p.at),
        ),
        _ => no(
            "復旧訓練の記録がありません / no restore drill recorded (kura drill)".into(),
            None,
        ),
    }
}

fn rpo(f: &Facts, p: &Policy, now: Timestamp) -> Option<Found> {
    let Some(newest) = f.newest_clean else {
        return no(
            "クリーンなバックアップがありません / no clean backup (kura backup)".into(),
            None,
        );
    };
    let age = hours(newest, now);
    let within = now.duration_since(newest) <= SignedDuration::from_hours(p.rpo_hours.into());
    let text = format!(
        "最新のクリーンなバックアップは {age} 時間前 (RPO {} 時間) / the newest clean backup is {age} h old (RPO {} h)",
        p.rpo_hours, p.rpo_hours
    );
    if within {
        yes(text, Some(newest))
    } else {
        no(
            format!("{text}: RPO 超過 / older than the RPO"),
            Some(newest),
        )
    }
}

fn generations(f: &Facts) -> Option<Found> {
    match (f.clean_generations, f.oldest_clean) {
        (n, Some(oldest)) if n >= 2 => yes(
            format!(
                "クリーンな世代 {n} 件 (最古 {}) / {n} clean generations kept, oldest {}",
                day(oldest),
                day(oldest)
            ),
            f.newest_clean,
        ),
        (n, _) => no(
            format!("クリーンな世代が {n} 件のみ / only {n} clean generation(s)"),
            f.newest_clean,
        ),
    }
}

fn copies(f: &Facts) -> Option<Found> {
    let made = |k: CopyKind| {
        f.copies
            .iter()
            .filter(|c| c.kind == k && c.last_copy.is_some())
            .count()
    };
    let (local, disk, remote) = (
        made(CopyKind::Local),
        made(CopyKind::Disk),
        made(CopyKind::Remote),
    );
    let kinds = [local, disk, remote].iter().filter(|n| **n > 0).count();
    let last = f.copies.iter().filter_map(|c| c.last_copy).max();
    let text = format!(
        "コピー: ローカル {local}、オフラインディスク {disk}、改ざん不可のリモート {remote} / copies: local {local}, offline disk {disk}, immutable remote {remote}"
    );
    if kinds >= 2 {
        yes(text, last)
    } else {
        no(
            format!("{text}: 1 種類のみ / one kind only (kura media export, kura remote push)"),
            last,
        )
    }
}

fn offline(f: &Facts) -> Option<Found> {
    let safe: Vec<_> = f
        .copies
        .iter()
        .filter(|c| c.offline_or_immutable && c.last_copy.is_some())
        .collect();
    match safe.iter().filter_map(|c| c.last_copy).max() {
        Some(last) => yes(
            format!(
                "オフライン/改ざん不可のコピー: {} / offline or immutable copies: {}",
                safe.iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                safe.len()
            ),
            Some(last),
        ),
        None => no(
            "オフラインまたは改ざん不可のコピーがありません / no offline or immutable copy has been made (kura media export, kura remote push)".into(),
            None,
        ),
    }
}

fn rotation(f: &Facts, p: &Policy, now: Timestamp) -> Option<Found> {
    if f.disks.is_empty() {
        return no(
            "オフラインディスクが登録されていません / no offline disk registered (kura media add)"
                .into(),
            None,
        );
    }
    let limit = SignedDuration::from_hours(i64::from(p.rotation_days) * 24);
    let mut lines = Vec::new();
    let mut overdue = 0;
    for d in &f.disks {
        match d.last_export {
            Some(t) => {
                let late = now.duration_since(t) > limit;
                overdue += usize::from(late);
                lines.push(format!(
                    "{}: 最終書き出し {} ({} 日前{}, {} 世代) / last export {}{}",
                    d.label,
                    day(t),
                    hours(t, now) / 24,
                    if late { "、交換期限超過" } else { "" },
                    d.snapshots,
                    day(t),
                    if late { ", rotation overdue" } else { "" }
                ));
            }
            None => {
                overdue += 1;
                lines.push(format!("{}: 書き出しなし / never exported", d.label));
            }
        }
    }
    let last = f.disks.iter().filter_map(|d| d.last_export).max();
    let text = format!(
        "{} (交換周期 {} 日 / rotation every {} days)",
        lines.join("; "),
        p.rotation_days,
        p.rotation_days
    );
    if overdue == 0 {
        yes(text, last)
    } else {
        no(text, last)
    }
}

fn immutable(f: &Facts) -> Option<Found> {
    if f.remotes.is_empty() {
        return no(
            "Object Lock のリモートが登録されていません / no Object Lock remote registered (kura remote add)".into(),
            None,
        );
    }
    let mut ok = false;
    let lines: Vec<String> = f
        .remotes
        .iter()
        .map(|r| {
            let verified = r.last_push.is_some() && r.last_verify.is_some() && r.last_verify_errors == 0;
            ok |= verified;
            let state = match (r.last_push, r.last_verify) {
                (None, _) => "未送信 / never pushed".to_string(),
                (Some(_), Some(v)) if r.last_verify_errors == 0 => format!(
                    "{} に全オブジェクトのロックを確認 / every object's lock verified {}",
                    day(v),
                    day(v)
                ),
                (Some(_), Some(v)) => format!(
                    "{} の確認で {} 件の問題 / verification {} found {} problems",
                    day(v),
                    r.last_verify_errors,
                    day(v),
                    r.last_verify_errors
                ),
                (Some(_), None) => "未確認 / never verified".to_string(),
            };
            format!(
                "{} (バケット {}): Object Lock {}、保持 スナップショット {} 日・データ {} 日、{state} / bucket {}, {} mode, retention {}/{} days",
                r.name, r.bucket, r.lock_mode, r.snapshot_days, r.data_days, r.bucket, r.lock_mode, r.snapshot_days, r.data_days
            )
        })
        .collect();
    let last = f
        .remotes
        .iter()
        .filter_map(|r| r.last_verify.or(r.last_push))
        .max();
    if ok {
        yes(lines.join("; "), last)
    } else {
        no(lines.join("; "), last)
    }
}

fn encryption(f: &Facts) -> Option<Found> {
    match &f.encryption {
        Some(e) if e.config_encrypted && e.key_files > 0 => yes(
            format!(
                "リポジトリは暗号化 (restic 形式 v{}: AES-256-CTR + Poly1305、パスワードで保護された鍵ファイル {} 件、設定ファイルは暗号文) / repository encrypted (restic format v{}: AES-256-CTR + Poly1305; {} password-protected key file(s); the stored config is ciphertext and opened only with the key)",
                e.version, e.key_files, e.version, e.key_files
            ),
            None,
        ),
        Some(e) => no(
            format!(
                "暗号化を確認できません (鍵ファイル {} 件、設定ファイル暗号文: {}) / encryption not confirmed ({} key files, config ciphertext: {})",
                e.key_files, e.config_encrypted, e.key_files, e.config_encrypted
            ),
            None,
        ),
        None => no(
            "暗号化を確認していません / encryption not checked".into(),
            None,
        ),
    }
}

fn audit(f: &Facts, now: Timestamp) -> Option<Found> {
    match &f.audit {
        Some(a) if a.intact => yes(
            format!(
                "監査ログのハッシュチェーンを検証: {} 件すべて改ざんなし、バックアップ内のチェックポイント {} 件と一致 / audit chain verified: {} records intact, {} checkpoints kept in the backups matched",
                a.records, a.checkpoints, a.records, a.checkpoints
            ),
            Some(now),
        ),
        Some(a) => no(
            format!(
                "監査ログの改ざんまたは破損 / audit log tampered or damaged: {}",
                a.problem.as_deref().unwrap_or("verification failed")
            ),
            Some(now),
        ),
        None => no(
            "監査ログを検証していません / audit log not verified".into(),
            None,
        ),
    }
}

fn training(f: &Facts) -> Option<Found> {
    let t = &f.training;
    let text = format!(
        "復旧演習 (kura train): 開始 {} 回、合格 {} 回 / recovery exercises: {} started, {} passed",
        t.started, t.passed, t.started, t.passed
    );
    if t.passed > 0 {
        yes(text, t.last_passed)
    } else {
        no(text, t.last_passed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AuditFact, CopyFact, DiskFact, EncryptionFact, RemoteFact, TrainingFact};

    fn t(days: i64) -> Timestamp {
        Timestamp::from_second(1_760_000_000 + days * 86_400).unwrap()
    }

    fn found(kind: EvidenceKind, f: &Facts, now: Timestamp) -> Found {
        judge(kind, f, &Policy::default(), now).unwrap()
    }

    #[test]
    fn rpo_is_yes_within_and_no_beyond_the_objective() {
        let mut f = Facts::default();
        assert!(!found(EvidenceKind::Rpo, &f, t(0)).yes);
        f.newest_clean = Some(t(0));
        let now = t(0) + SignedDuration::from_hours(23);
        let r = found(EvidenceKind::Rpo, &f, now);
        assert!(r.yes, "{r:?}");
        assert!(r.evidence.contains("23 時間前"));
        let r = found(EvidenceKind::Rpo, &f, t(0) + SignedDuration::from_hours(25));
        assert!(!r.yes && r.evidence.contains("RPO 超過"), "{r:?}");
        let wide = Policy {
            rpo_hours: 48,
            ..Policy::default()
        };
        assert!(
            judge(
                EvidenceKind::Rpo,
                &f,
                &wide,
                t(0) + SignedDuration::from_hours(25)
            )
            .unwrap()
            .yes
        );
    }

    #[test]
    fn copies_need_two_kinds_that_were_made() {
        let copy = |name: &str, kind, at| CopyFact {
            name: name.into(),
            kind,
            offline_or_immutable: kind != CopyKind::Local,
            last_copy: at,
        };
        let mut f = Facts::default();
        f.copies.push(copy("local", CopyKind::Local, Some(t(0))));
        f.copies.push(copy("disk:a", CopyKind::Disk, None));
        let r = found(EvidenceKind::Copies, &f, t(0));
        assert!(
            !r.yes && r.evidence.contains("オフラインディスク 0"),
            "{r:?}"
        );
        f.copies
            .push(copy("remote:s3", CopyKind::Remote, Some(t(1))));
        let r = found(EvidenceKind::Copies, &f, t(1));
        assert!(r.yes && r.evidence.contains("immutable remote 1"), "{r:?}");
    }

    #[test]
    fn rotation_is_overdue_after_the_rotation_period_or_without_an_export() {
        let mut f = Facts::default();
        assert!(!found(EvidenceKind::Rotation, &f, t(0)).yes);
        f.disks.push(DiskFact {
            label: "monday".into(),
            last_export: Some(t(0)),
            snapshots: 3,
        });
        let r = found(EvidenceKind::Rotation, &f, t(6));
        assert!(r.yes && r.evidence.contains("6 日前"), "{r:?}");
        let r = found(EvidenceKind::Rotation, &f, t(8));
        assert!(!r.yes && r.evidence.contains("rotation overdue"), "{r:?}");
        f.disks[0].last_export = None;
        assert!(!found(EvidenceKind::Rotation, &f, t(0)).yes);
    }

    #[test]
    fn immutable_needs_a_push_with_every_lock_verified() {
        let mut f = Facts::default();
        f.remotes.push(RemoteFact {
            name: "offsite".into(),
            bucket: "b".into(),
            lock_mode: "COMPLIANCE".into(),
            snapshot_days: 30,
            data_days: 60,
            last_push: None,
            last_verify: None,
            last_verify_errors: 0,
        });
        assert!(!found(EvidenceKind::Immutable, &f, t(0)).yes);
        f.remotes[0].last_push = Some(t(0));
        f.remotes[0].last_verify = Some(t(0));
        let r = found(EvidenceKind::Immutable, &f, t(0));
        assert!(r.yes, "{r:?}");
        assert!(r.evidence.contains("COMPLIANCE") && r.evidence.contains("30/60 days"));
        f.remotes[0].last_verify_errors = 2;
        let r = found(EvidenceKind::Immutable, &f, t(0));
        assert!(!r.yes && r.evidence.contains("2 problems"), "{r:?}");
    }

    #[test]
    fn encryption_audit_and_training_follow_their_facts() {
        let mut f = Facts::default();
        for k in [
            EvidenceKind::Encryption,
            EvidenceKind::Audit,
            EvidenceKind::Training,
        ] {
            assert!(!found(k, &f, t(0)).yes, "{k:?}");
        }
        f.encryption = Some(EncryptionFact {
            key_files: 1,
            config_encrypted: true,
            version: 2,
        });
        f.audit = Some(AuditFact {
            intact: true,
            records: 12,
            checkpoints: 2,
            problem: None,
        });
        f.training = TrainingFact {
            started: 2,
            passed: 1,
            last_passed: Some(t(0)),
        };
        for k in [
            EvidenceKind::Encryption,
            EvidenceKind::Audit,
            EvidenceKind::Training,
        ] {
            assert!(found(k, &f, t(0)).yes, "{k:?}");
        }
        f.audit.as_mut().unwrap().intact = false;
        f.audit.as_mut().unwrap().problem = Some("record 7: hash mismatch".into());
        let r = found(EvidenceKind::Audit, &f, t(0));
        assert!(!r.yes && r.evidence.contains("record 7"));
    }

    #[test]
    fn a_persons_yes_never_hides_kuras_no() {
        let a = Attestation {
            answer: "yes".into(),
            by: "山田".into(),
            role: "院長".into(),
            date: "2026-11-30".into(),
            note: "院内研修を実施".into(),
        };
        let kura_no = found(EvidenceKind::Training, &Facts::default(), t(0));
        let (status, evidence, date) = with_attestation(Some(kura_no), Some(&a));
        assert_eq!(status, Status::Attest);
        assert!(
            evidence.contains("山田") && evidence.contains("合格 0 回"),
            "{evidence}"
        );
        assert_eq!(date.as_deref(), Some("2026-11-30"));
        let (status, ..) = with_attestation(None, None);
        assert_eq!(status, Status::No);
    }
}
