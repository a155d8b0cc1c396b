//! Training scenarios for `kura train`: what happens to the sandbox share and when, what the
//! trainee is told, the hints, the tabletop sheet, and the grading of the restore.
//!
//! A scenario is a [`Step`] timeline that the caller runs (it owns the backups: this crate knows no
//! repository). Every generation the timeline backs up is recorded with a [`Manifest`] of the share
//! at that moment, so grading compares the trainee's restore with the exact pre-attack bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{attack, tree};

/// The training scenarios.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// A fast mass encryption an hour ago; the newest backup is suspicious.
    Fast,
    /// A slow, dormant attack: a few files damaged each night for three nights, so latest-clean is
    /// days old and `latest` looks almost normal.
    Dormant,
    /// The attacker also encrypted the local backup repository: only the offline disk is left.
    OfflineDisk,
}

impl Scenario {
    /// Every scenario, in the order they are taught.
    pub const ALL: [Scenario; 3] = [Scenario::Fast, Scenario::Dormant, Scenario::OfflineDisk];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Fast => "fast",
            Scenario::Dormant => "dormant",
            Scenario::OfflineDisk => "offline-disk",
        }
    }

    /// The scenario called `name`.
    pub fn from_name(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name() == name)
    }

    /// What happens, in order. Times are hours before the start of the exercise.
    pub fn timeline(self, seed: u64) -> Vec<Step> {
        let nightly = |days: std::ops::RangeInclusive<u32>| {
            days.rev().flat_map(move |d| {
                [
                    Step::Work {
                        work: Work::ClinicDay,
                        seed: seed ^ u64::from(d),
                    },
                    Step::Backup { hours_ago: d * 24 },
                ]
            })
        };
        let mut steps = vec![Step::Backup { hours_ago: 7 * 24 }];
        match self {
            Scenario::Fast => {
                steps.extend(nightly(1..=6));
                steps.push(Step::Work {
                    work: Work::NewScans,
                    seed: seed ^ 0x5c,
                });
                steps.push(Step::Attack {
                    attack: Attack::MassEncryption,
                    seed,
                    hours_ago: 2,
                });
                steps.push(Step::Backup { hours_ago: 1 });
            }
            Scenario::Dormant => {
                steps.extend(nightly(4..=6));
                for (night, hours_ago) in [(1u64, 3 * 24 + 6), (2, 2 * 24 + 6), (3, 24 + 6)] {
                    steps.push(Step::Attack {
                        attack: Attack::Subtle,
                        seed: seed ^ (night << 8),
                        hours_ago,
                    });
                    steps.push(Step::Work {
                        work: Work::ClinicDay,
                        seed: seed ^ (night << 16),
                    });
                    steps.push(Step::Backup {
                        hours_ago: hours_ago - 6,
                    });
                }
            }
            Scenario::OfflineDisk => {
                steps.extend(nightly(4..=6));
                steps.push(Step::ExportToDisk {
                    hours_ago: 4 * 24 - 2,
                });
                steps.extend(nightly(1..=3));
                steps.push(Step::Attack {
                    attack: Attack::MassEncryption,
                    seed,
                    hours_ago: 2,
                });
                steps.push(Step::DestroyRepository { seed });
            }
        }
        steps
    }

    /// What the staff saw and what to do, in Japanese then English.
    pub fn briefing(self) -> &'static str {
        match self {
            Scenario::Fast => {
                "【状況】今朝 7時、外来受付から「共有フォルダのファイルが開けない」と連絡がありました。\
ファイル名の末尾に見慣れない拡張子が付き、各フォルダに HOW_TO_DECRYPT_FILES.txt が置かれています。\
1時間前のバックアップは kura が「suspicious（疑わしい）」と判定しました。\n\
【目標】攻撃前の最後のクリーンな世代を特定し、restore/ に復元してください。暗号化されたファイルを復元してはいけません。\n\
\n\
[Situation] At 7:00 the outpatient desk reported that files on the share cannot be opened. Names end in an\n\
unknown extension and every folder holds HOW_TO_DECRYPT_FILES.txt. kura judged the backup taken an hour\n\
ago suspicious.\n\
[Goal] Find the last clean generation before the attack and restore it into restore/. Restore nothing\n\
encrypted."
            }
            Scenario::Dormant => {
                "【状況】放射線科から「数日前の画像と検査結果の一部が壊れている」と報告がありました。\
共有フォルダは一見正常で、ランサムノートもありません。最新のバックアップは普段通りに見えます。\n\
【目標】いつから壊れ始めたかを突き止め、攻撃前の世代を restore/ に復元してください。最新の世代は信用できません。\n\
\n\
[Situation] Radiology reports that some images and lab results from the last few days are damaged. The\n\
share looks normal, there is no ransom note, and the newest backup looks routine.\n\
[Goal] Find out since when files are damaged and restore the generation from before the attack into\n\
restore/. The newest generation cannot be trusted."
            }
            Scenario::OfflineDisk => {
                "【状況】深夜に共有フォルダが暗号化され、同じサーバ上のバックアップリポジトリ（repo/）も暗号化されました。\
kura backup は「repository not found」で失敗します。先週取り外した外付けディスク（disk/）が保管庫にあります。\n\
【目標】オフラインディスクから攻撃前の世代を restore/ に復元してください。\n\
\n\
[Situation] Overnight the share was encrypted, and so was the backup repository on the same server\n\
(repo/): kura backup fails with \"repository not found\". The external disk unplugged last week (disk/)\n\
is in the safe.\n\
[Goal] Restore the generation from before the attack from the offline disk into restore/."
            }
        }
    }

    /// Hints, from gentle to explicit (Japanese / English).
    pub fn hints(self) -> &'static [&'static str] {
        match self {
            Scenario::Fast => &[
                "まず世代の一覧と判定を見ましょう / First list the generations and their verdicts: kura snapshots",
                "疑わしい世代で何が変わったか確認 / See what changed in the suspicious one: kura diff latest-clean latest",
                "攻撃前の最後のクリーンな世代は latest-clean です / The last clean generation is latest-clean: kura restore latest-clean --target restore",
            ],
            Scenario::Dormant => &[
                "判定を見ましょう。最新が clean とは限りません / Look at the verdicts: kura snapshots",
                "最初に suspicious になった世代と、その前の clean な世代を比べる / Compare the first suspicious one with the clean one before it: kura diff",
                "kura は攻撃が残る限り以降の世代も suspicious と判定します。latest-clean を復元 / kura keeps later generations suspicious while the attack remains: kura restore latest-clean --target restore",
            ],
            Scenario::OfflineDisk => &[
                "ローカルのリポジトリは使えません。登録済みのディスクを確認 / The local repository is gone; list the registered disks: kura media list",
                "ディスク上のリポジトリは disk/kura-repository です / The disk's repository is disk/kura-repository: kura -r disk/kura-repository snapshots",
                "ディスクから復元 / Restore from the disk: kura -r disk/kura-repository restore latest-clean --target restore",
            ],
        }
    }

    /// The printable tabletop sheet (HTML, Japanese first): the attack as the staff would see it,
    /// the decisions to take, and whom to call.
    pub fn tabletop_html(self) -> String {
        let (title, timeline, decisions): (&str, &[&str], &[&str]) = match self {
            Scenario::Fast => (
                "高速な一斉暗号化 / Fast mass encryption",
                &[
                    "7日前〜昨夜: 毎晩のバックアップはすべて clean",
                    "2時間前: VPN 機器経由で侵入、共有フォルダの約3割を暗号化、ランサムノート配置",
                    "1時間前: バックアップが suspicious と判定、アラート送信",
                    "7:00: 外来受付から「ファイルが開けない」と連絡",
                ],
                &[
                    "感染サーバをネットワークから切り離すか（誰が、いつ）",
                    "どの世代から復元するか（失われるデータは何時間分か）",
                    "電子カルテ停止中の診療継続: kura serve による参照",
                ],
            ),
            Scenario::Dormant => (
                "潜伏型の低速攻撃 / Slow, dormant attack",
                &[
                    "7日前〜4日前: バックアップは clean",
                    "3日前の夜から毎晩: 数ファイルずつヘッダを残して暗号化",
                    "3日前以降のバックアップ: suspicious（攻撃が残る限り継続）",
                    "今朝: 放射線科から「画像の一部が壊れている」と報告",
                ],
                &[
                    "いつから攻撃されていたかをどう判断するか（kura snapshots, kura diff）",
                    "数日分の正常な業務データの損失をどう扱うか（再入力、紙運用）",
                    "侵入経路の調査と同時に何を止めるか",
                ],
            ),
            Scenario::OfflineDisk => (
                "バックアップも暗号化 / The backup was encrypted too",
                &[
                    "7日前〜昨夜: 毎晩のバックアップは clean、4日前に外付けディスクへ書き出し・取り外し",
                    "2時間前: 共有フォルダと同じサーバ上のバックアップリポジトリを暗号化",
                    "今朝: kura backup が失敗、repository not found",
                ],
                &[
                    "オフラインディスクを接続する前に、感染サーバを隔離したか",
                    "ディスクから復元した世代以降のデータをどう補うか",
                    "次のローテーション用ディスクをどこから持ってくるか",
                ],
            ),
        };
        let li = |items: &[&str]| {
            items
                .iter()
                .map(|i| format!("<li>{}</li>", escape(i)))
                .collect::<String>()
        };
        format!(
            "<!doctype html><html lang=\"ja\"><head><meta charset=\"utf-8\"><title>kura 訓練シート: {title}</title>\
<style>@page{{size:A4;margin:18mm}}body{{font-family:'Noto Sans CJK JP',sans-serif;line-height:1.5}}\
h1{{font-size:18pt}}h2{{font-size:13pt;border-bottom:1px solid #888}}td,th{{border:1px solid #888;padding:4px 8px}}\
table{{border-collapse:collapse;width:100%}}</style></head><body>\
<h1>ランサムウェア復旧訓練シート / Recovery exercise sheet</h1><p><strong>シナリオ / Scenario:</strong> {title}</p>\
<h2>状況 / Briefing</h2><pre style=\"white-space:pre-wrap\">{briefing}</pre>\
<h2>時系列（職員から見えたこと） / Timeline as the staff saw it</h2><ol>{timeline}</ol>\
<h2>決めること / Decisions to take</h2><ol>{decisions}</ol>\
<h2>連絡先 / Whom to call</h2><table><tr><th>役割 / Role</th><th>氏名・電話 / Name, phone</th></tr>\
<tr><td>医療情報システム管理者 / Head of medical IT</td><td></td></tr>\
<tr><td>病院長・事務長 / Director, administrator</td><td></td></tr>\
<tr><td>電子カルテベンダー / EMR vendor</td><td></td></tr>\
<tr><td>厚生労働省 医療分野サイバー対応窓口 / MHLW cyber incident desk</td><td></td></tr>\
<tr><td>都道府県警察 サイバー犯罪相談窓口 / Prefectural police cybercrime desk</td><td></td></tr></table>\
<h2>記録 / Record</h2><p>実施日 / Date: ________ 参加者 / Participants: ____________________ 結果 / Result (kura train check): ________</p>\
</body></html>",
            briefing = escape(self.briefing()),
            timeline = li(timeline),
            decisions = li(decisions),
        )
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Ordinary work between backups.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Work {
    /// New and corrected HL7 messages, a DICOM study, scans, notes.
    ClinicDay,
    /// A batch of scanned documents.
    NewScans,
}

/// What the attacker does to the share.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Attack {
    /// A third of the files encrypted and renamed, ransom notes in every folder touched.
    MassEncryption,
    /// 1% of the files encrypted in place behind their intact headers.
    Subtle,
}

/// One step of a scenario's timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    /// Ordinary work on the share.
    Work {
        /// What kind.
        work: Work,
        /// Its seed.
        seed: u64,
    },
    /// A backup (with detection), dated `hours_ago` before the start.
    Backup {
        /// Hours before the start of the exercise.
        hours_ago: u32,
    },
    /// The clean generations exported to the sandbox's offline disk, which is then unplugged.
    ExportToDisk {
        /// Hours before the start of the exercise.
        hours_ago: u32,
    },
    /// The attack on the share.
    Attack {
        /// What kind.
        attack: Attack,
        /// Its seed (the key is throwaway).
        seed: u64,
        /// Hours before the start of the exercise.
        hours_ago: u32,
    },
    /// The attacker encrypts the local backup repository too.
    DestroyRepository {
        /// Its seed.
        seed: u64,
    },
}

/// Run a work step on `share`.
pub fn do_work(share: &Path, work: Work, seed: u64) -> io::Result<()> {
    match work {
        Work::ClinicDay => tree::clinic_day(share, seed),
        Work::NewScans => tree::new_scans(share, seed),
    }
}

/// Run an attack step on `share` (only files under it). Returns the files touched.
pub fn do_attack(share: &Path, attack: Attack, seed: u64) -> io::Result<Vec<PathBuf>> {
    match attack {
        Attack::MassEncryption => attack::encrypt_whole_with_rename_and_notes(share, seed, 0.3),
        Attack::Subtle => attack::header_preserving(share, seed, 0.01),
    }
}

/// Encrypt every file of the repository folder `repo` (renamed, with ransom notes): what kura then
/// finds there is no repository.
pub fn destroy_repository(repo: &Path, seed: u64) -> io::Result<Vec<PathBuf>> {
    attack::encrypt_whole_with_rename_and_notes(repo, seed, 1.0)
}

/// A fresh random password for a sandbox repository (24 letters and digits).
pub fn sandbox_password() -> String {
    use rand::Rng as _;
    const ALNUM: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut r = rand::rng();
    (0..24)
        .map(|_| ALNUM[r.random_range(0..ALNUM.len())] as char)
        .collect()
}

/// Every regular file under a folder (relative path → SHA-256 hex).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest(pub BTreeMap<String, String>);

impl Manifest {
    /// The manifest of `dir` (empty when it does not exist).
    pub fn of(dir: &Path) -> io::Result<Manifest> {
        let mut m = BTreeMap::new();
        if !dir.is_dir() {
            return Ok(Manifest(m));
        }
        for path in tree::list_files(dir)? {
            let rel = path
                .strip_prefix(dir)
                .map_err(io::Error::other)?
                .to_string_lossy()
                .into_owned();
            let digest = Sha256::digest(std::fs::read(&path)?);
            m.insert(rel, digest.iter().map(|b| format!("{b:02x}")).collect());
        }
        Ok(Manifest(m))
    }

    /// Number of files.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// No files.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One generation the scenario backed up.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Generation {
    /// Snapshot id in the local repository.
    pub snapshot: String,
    /// When it was taken (backdated).
    pub time: Timestamp,
    /// kura's verdict.
    pub verdict: String,
    /// Whether the trainee can still restore it (from the local repository or the offline disk).
    pub reachable: bool,
    /// The share at that moment.
    pub manifest: Manifest,
}

impl Generation {
    fn is_clean(&self) -> bool {
        self.verdict == "clean"
    }
}

/// A training session, kept in `DIR/.train/session.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Session {
    /// The scenario.
    pub scenario: Scenario,
    /// Its seed.
    pub seed: u64,
    /// When `train start` finished and the clock started.
    pub started: Timestamp,
    /// When the attack began.
    pub attack_time: Timestamp,
    /// The sandbox share (absolute).
    pub share: PathBuf,
    /// Every generation backed up, oldest first.
    pub generations: Vec<Generation>,
    /// Hints taken.
    pub hints_used: u32,
    /// Checks that did not pass.
    pub failed_checks: u32,
    /// When the first passing check ran.
    pub passed_at: Option<Timestamp>,
    /// The operator's real audit log, where every start, hint and check is also recorded.
    pub operator_audit_dir: Option<PathBuf>,
}

/// The result of `kura train check`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Grade {
    /// The restore holds a clean, reachable generation, byte for byte, and nothing else.
    pub passed: bool,
    /// 0–100: 100 minus 10 per hint, 5 per failed check, 20 per newer clean generation passed over,
    /// and 1 per 2 minutes beyond the first 30.
    pub score: u32,
    /// From the start to the first passing check (or to now).
    pub elapsed_seconds: i64,
    /// What went wrong, for the debriefing.
    pub mistakes: Vec<String>,
    /// Hints taken.
    pub hints_used: u32,
    /// The generation restored (snapshot id, in the local repository), when one matched.
    pub generation: Option<String>,
    /// Hours of work lost: from the restored generation to the start of the exercise.
    pub data_lost_hours: Option<f64>,
}

/// Where the trainee's restore holds the share: `restore/<share path>` (what `kura restore
/// --target restore` writes) or `restore/` itself.
fn restored_root(session: &Session, restore_dir: &Path) -> PathBuf {
    let nested = restore_dir.join(
        session
            .share
            .strip_prefix("/")
            .unwrap_or(session.share.as_path()),
    );
    if nested.is_dir() {
        nested
    } else {
        restore_dir.to_path_buf()
    }
}

/// Grade the restore in `restore_dir` at time `now`.
pub fn grade(session: &Session, restore_dir: &Path, now: Timestamp) -> io::Result<Grade> {
    let root = restored_root(session, restore_dir);
    let restored = Manifest::of(&root)?;
    let mut mistakes = Vec::new();
    let clean_hashes: BTreeSet<&str> = session
        .generations
        .iter()
        .filter(|g| g.is_clean())
        .flat_map(|g| g.manifest.0.values().map(String::as_str))
        .collect();
    let matched = session
        .generations
        .iter()
        .rev()
        .find(|g| g.manifest == restored && !restored.is_empty());
    let best = session
        .generations
        .iter()
        .rev()
        .find(|g| g.is_clean() && g.reachable);
    let mut passed = false;
    match matched {
        _ if restored.is_empty() => mistakes.push(format!(
            "nothing restored in {}: restore the pre-attack generation there",
            restore_dir.display()
        )),
        Some(g) if !g.is_clean() => mistakes.push(format!(
            "restored snapshot {}, which kura judged {}: it holds the attacker's changes",
            g.snapshot, g.verdict
        )),
        Some(g) if !g.reachable => mistakes.push(format!(
            "restored snapshot {}, which the attack destroyed: this cannot be the real recovery",
            g.snapshot
        )),
        Some(_) => passed = true,
        None => {
            let foreign: Vec<&String> = restored
                .0
                .iter()
                .filter(|(_, h)| !clean_hashes.contains(h.as_str()))
                .map(|(p, _)| p)
                .collect();
            if !foreign.is_empty() {
                mistakes.push(format!(
                    "{} restored files are encrypted, damaged or the attacker's (e.g. {})",
                    foreign.len(),
                    foreign[0]
                ));
            }
            if let Some(b) = best {
                let missing = b
                    .manifest
                    .0
                    .keys()
                    .filter(|p| !restored.0.contains_key(*p))
                    .count();
                if missing > 0 {
                    mistakes.push(format!(
                        "{missing} files of the pre-attack share are missing from the restore"
                    ));
                }
            }
            if mistakes.is_empty() {
                mistakes.push("the restore matches no generation of the share".into());
            }
        }
    }
    let passed_at = session.passed_at.or(passed.then_some(now));
    let elapsed_seconds =
        (passed_at.unwrap_or(now).as_second() - session.started.as_second()).max(0);
    let generation = matched.filter(|_| passed);
    let data_lost_hours = generation
        .map(|g| ((session.started.as_second() - g.time.as_second()) as f64 / 3600.0).max(0.0));
    let passed_over = generation.map_or(0, |g| {
        session
            .generations
            .iter()
            .filter(|o| o.is_clean() && o.reachable && o.time > g.time)
            .count() as i64
    });
    let score = if passed {
        let slow = ((elapsed_seconds - 30 * 60).max(0) / 120).min(30);
        (100 - 10 * i64::from(session.hints_used)
            - 5 * i64::from(session.failed_checks)
            - 20 * passed_over
            - slow)
            .clamp(0, 100) as u32
    } else {
        0
    };
    if passed_over > 0 {
        mistakes.push(format!(
            "{passed_over} newer clean generation(s) were passed over: more work was lost than needed"
        ));
    }
    Ok(Grade {
        passed,
        score,
        elapsed_seconds,
        mistakes,
        hints_used: session.hints_used,
        generation: generation.map(|g| g.snapshot.clone()),
        data_lost_hours,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generation(snapshot: &str, hours: i64, verdict: &str, files: &[(&str, &str)]) -> Generation {
        Generation {
            snapshot: snapshot.into(),
            time: Timestamp::from_second(1_800_000_000 + hours * 3600).unwrap(),
            verdict: verdict.into(),
            reachable: true,
            manifest: Manifest(
                files
                    .iter()
                    .map(|(p, h)| (p.to_string(), h.to_string()))
                    .collect(),
            ),
        }
    }

    fn session(share: &Path) -> Session {
        Session {
            scenario: Scenario::Fast,
            seed: 1,
            started: Timestamp::from_second(1_800_000_000 + 30 * 3600).unwrap(),
            attack_time: Timestamp::from_second(1_800_000_000 + 28 * 3600).unwrap(),
            share: share.to_path_buf(),
            generations: vec![
                generation("aaaa", 0, "clean", &[("a.txt", "h1"), ("b.txt", "h2")]),
                generation("bbbb", 24, "clean", &[("a.txt", "h1"), ("b.txt", "h3")]),
                generation(
                    "cccc",
                    29,
                    "suspicious",
                    &[("a.txt", "h1"), ("b.txt.enc", "x")],
                ),
            ],
            hints_used: 1,
            failed_checks: 0,
            passed_at: None,
            operator_audit_dir: None,
        }
    }

    fn restore(dir: &Path, files: &[(&str, &[u8])]) {
        for (p, b) in files {
            std::fs::write(dir.join(p), b).unwrap();
        }
    }

    /// A session whose generations hash what `restore` writes.
    fn real_session(dir: &Path) -> Session {
        let mut s = session(Path::new("/nonexistent-share"));
        for (g, files) in s.generations.iter_mut().zip([
            &[("a.txt", &b"A"[..]), ("b.txt", b"B1")][..],
            &[("a.txt", &b"A"[..]), ("b.txt", b"B2")][..],
            &[("a.txt", &b"A"[..]), ("b.txt.enc", b"ZZ")][..],
        ]) {
            let tmp = dir.join(format!("gen-{}", g.snapshot));
            std::fs::create_dir_all(&tmp).unwrap();
            restore(&tmp, files);
            g.manifest = Manifest::of(&tmp).unwrap();
        }
        s
    }

    #[test]
    fn restoring_latest_clean_passes_and_counts_lost_hours() {
        let d = tempfile::tempdir().unwrap();
        let s = real_session(d.path());
        let r = d.path().join("restore");
        std::fs::create_dir_all(&r).unwrap();
        restore(&r, &[("a.txt", b"A"), ("b.txt", b"B2")]);
        let now = Timestamp::from_second(1_800_000_000 + 31 * 3600).unwrap();
        let g = grade(&s, &r, now).unwrap();
        assert!(g.passed, "{g:?}");
        assert_eq!(g.generation.as_deref(), Some("bbbb"));
        assert_eq!(g.data_lost_hours, Some(6.0));
        assert_eq!(g.elapsed_seconds, 3600);
        // 100 - 10 (one hint) - 15 (an hour: 30 minutes beyond the first 30, 1 per 2 minutes).
        assert_eq!(g.score, 75);
    }

    #[test]
    fn restoring_the_attacked_generation_fails() {
        let d = tempfile::tempdir().unwrap();
        let s = real_session(d.path());
        let r = d.path().join("restore");
        std::fs::create_dir_all(&r).unwrap();
        restore(&r, &[("a.txt", b"A"), ("b.txt.enc", b"ZZ")]);
        let g = grade(&s, &r, s.started).unwrap();
        assert!(!g.passed);
        assert_eq!(g.score, 0);
        assert!(g.mistakes[0].contains("suspicious"), "{g:?}");
    }

    #[test]
    fn an_older_clean_generation_passes_with_a_lower_score_and_a_mixed_restore_fails() {
        let d = tempfile::tempdir().unwrap();
        let s = real_session(d.path());
        let r = d.path().join("restore");
        std::fs::create_dir_all(&r).unwrap();
        restore(&r, &[("a.txt", b"A"), ("b.txt", b"B1")]);
        let g = grade(&s, &r, s.started).unwrap();
        assert!(g.passed);
        assert_eq!(g.score, 70, "{g:?}");
        assert!(g.mistakes.iter().any(|m| m.contains("passed over")));
        restore(&r, &[("b.txt.enc", b"ZZ")]);
        let g = grade(&s, &r, s.started).unwrap();
        assert!(!g.passed);
        assert!(g.mistakes[0].contains("encrypted"), "{g:?}");
    }

    #[test]
    fn nothing_restored_is_a_mistake_not_an_error() {
        let d = tempfile::tempdir().unwrap();
        let s = real_session(d.path());
        let g = grade(&s, &d.path().join("restore"), s.started).unwrap();
        assert!(!g.passed);
        assert!(g.mistakes[0].starts_with("nothing restored"));
    }

    #[test]
    fn every_scenario_has_a_suspicious_or_destroyed_end_and_hints() {
        for s in Scenario::ALL {
            let t = s.timeline(3);
            assert!(t.iter().any(|x| matches!(x, Step::Attack { .. })), "{s}");
            assert!(s.hints().len() >= 3);
            assert!(s.tabletop_html().contains("連絡先"));
            assert_eq!(Scenario::from_name(s.name()), Some(s));
        }
    }
}
