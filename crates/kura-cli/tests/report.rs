//! End-to-end: `kura report` (JSON items with stable ids, items that flip with kura's own
//! evidence: offline copy, disk rotation, RPO, generations, encryption, audit chain, training;
//! attestations, and the HTML page and PDF in headless Chromium).
mod testenv;

use kura_testkit::browser::{artifacts_dir, chromium, chromium_available, dump_dom};
use predicates::prelude::*;
use testenv::Env;

fn item(report: &serde_json::Value, id: &str) -> serde_json::Value {
    report["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id)
        .unwrap_or_else(|| panic!("no item {id}: {report}"))
        .clone()
}

#[test]
fn offline_item_is_no_before_a_disk_export_and_yes_after() {
    let (env, _) = Env::backed_up(81, 8);
    let (r, code) = env.json(&["report"]);
    assert_eq!(code, 0, "{r}");
    assert!(r["generated"].is_string());
    let offline = item(&r, "backup.offline");
    assert_eq!(offline["status"], "no");
    assert!(offline["text"].as_str().unwrap().contains("切り離して保管"));
    assert_eq!(item(&r, "backup.recovery_confirmed")["status"], "no");
    assert_eq!(item(&r, "bcp.cyber")["status"], "no");
    assert_eq!(item(&r, "backup.copies")["status"], "no");
    assert_eq!(item(&r, "backup.offline_rotation")["status"], "no");
    assert!(
        r["notice"]
            .as_str()
            .unwrap()
            .contains("not a certification")
    );

    env.add_disk("usb-monday", "monday");
    env.run(&["media", "export", "monday"]).success();
    env.run(&["drill"]).success();
    env.write(
        "attest.toml",
        "[items.\"bcp.cyber\"]\nanswer = \"yes\"\nby = \"山田花子\"\nrole = \"院長\"\ndate = \"2026-11-30\"\nnote = \"事務室の金庫に保管\"\n"
            .as_bytes(),
    );
    let html = env.path("report.html");
    let (r, code) = env.json(&[
        "report",
        "--attest",
        "attest.toml",
        "--out",
        html.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{r}");
    let offline = item(&r, "backup.offline");
    assert_eq!(offline["status"], "yes", "{offline}");
    assert!(
        offline["evidence"]
            .as_str()
            .unwrap()
            .contains("disk:monday")
    );
    assert!(offline["date"].is_string());
    assert_eq!(item(&r, "backup.recovery_confirmed")["status"], "yes");
    let copies = item(&r, "backup.copies");
    assert_eq!(copies["status"], "yes", "{copies}");
    assert!(
        copies["evidence"]
            .as_str()
            .unwrap()
            .contains("offline disk 1")
    );
    let rotation = item(&r, "backup.offline_rotation");
    assert_eq!(rotation["status"], "yes", "{rotation}");
    assert!(rotation["evidence"].as_str().unwrap().contains("monday"));
    let bcp = item(&r, "bcp.cyber");
    assert_eq!(bcp["status"], "attest");
    assert_eq!(bcp["date"], "2026-11-30");

    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("認証ではありません"));
    assert!(page.contains("バックアップの実施と復旧手順を確認している"));
    if chromium_available("kura-cli report") {
        let profile = env.path("chromium-profile");
        let url = format!("file://{}", html.display());
        let dom = dump_dom(&profile, &url);
        assert!(dom.contains("サイバー攻撃を想定した事業継続計画"), "{dom}");
        assert!(dom.contains("id=\"backup.offline\""));
        let png = artifacts_dir().join("kura-report.png");
        let _ = std::fs::remove_file(&png);
        chromium(
            &profile,
            &[
                &format!("--screenshot={}", png.display()),
                "--window-size=900,1273",
                &url,
            ],
        );
        let bytes = std::fs::read(&png).expect("screenshot written");
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
        assert!(
            bytes.len() > 20_000,
            "screenshot too small: {}",
            bytes.len()
        );
    }

    // PDF: real text (pdftotext finds the Japanese item texts).
    if chromium_available("kura-cli report --pdf") && testenv::require_tool("pdftotext") {
        let pdf = env.path("report.pdf");
        env.run(&[
            "report",
            "--attest",
            "attest.toml",
            "--pdf",
            pdf.to_str().unwrap(),
        ])
        .success();
        let out = std::process::Command::new("pdftotext")
            .arg(&pdf)
            .arg("-")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).replace(['\n', ' '], "");
        for needle in [
            "認証ではありません",
            "サイバー攻撃を想定した事業継続計画",
            "復旧手順を確認している",
            "アクセスログの不当な削除",
            "連絡体制図",
            "文言未確認",
        ] {
            assert!(text.contains(needle), "PDF text lacks {needle}: {text}");
        }
    }

    // A bad attestation is refused with one line naming the file.
    env.write(
        "bad.toml",
        b"[items.\"bcp.cyber\"]\nanswer = \"maybe\"\nby = \"a\"\ndate = \"d\"\n",
    );
    env.run(&["report", "--attest", "bad.toml"])
        .code(1)
        .stderr(predicate::str::contains("bad.toml"));
}

/// Write a line of the audit log with one byte changed (a record's action), as an attacker
/// covering their tracks would.
fn tamper_audit_log(env: &Env) {
    let dir = env.path(".local/state/kura/audit");
    let file = walkdir::WalkDir::new(&dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().to_path_buf())
        .min()
        .expect("an audit log file");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("\"init\""), "{text}");
    std::fs::write(&file, text.replacen("\"init\"", "\"inIt\"", 1)).unwrap();
}

#[test]
fn rpo_generations_encryption_and_audit_items_follow_kuras_records() {
    let env = Env::new();
    env.init();
    let src = env.sample_tree("src", 82, 6);
    let day_and_a_half_ago =
        (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(36)).to_string();
    env.run(&[
        "backup",
        "--time",
        &day_and_a_half_ago,
        src.to_str().unwrap(),
    ])
    .success();
    let (r, code) = env.json(&["report"]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["policy"]["rpo_hours"], 24);
    let rpo = item(&r, "backup.rpo");
    assert_eq!(rpo["status"], "no", "{rpo}");
    assert!(
        rpo["evidence"].as_str().unwrap().contains("36 h old"),
        "{rpo}"
    );
    assert_eq!(item(&r, "backup.generations")["status"], "no");
    let enc = item(&r, "backup.encrypted");
    assert_eq!(enc["status"], "yes", "{enc}");
    assert!(
        enc["evidence"]
            .as_str()
            .unwrap()
            .contains("1 password-protected key file")
    );
    let audit = item(&r, "audit.log_protected");
    assert_eq!(audit["status"], "yes", "{audit}");
    assert_eq!(audit["wording"], "quoted");
    assert!(audit["text"].as_str().unwrap().contains("改ざん"));

    // A wider RPO in kura.toml: the same backup is within it.
    env.write("kura.toml", b"[report]\nrpo_hours = 48\n");
    let (r, _) = env.json(&["report"]);
    assert_eq!(item(&r, "backup.rpo")["status"], "yes");
    std::fs::remove_file(env.path("kura.toml")).unwrap();

    // A backup now: within the RPO, and two clean generations.
    std::fs::write(src.join("new-note.txt"), "今日の記録").unwrap();
    env.run(&["backup", src.to_str().unwrap()]).success();
    let (r, _) = env.json(&["report"]);
    let rpo = item(&r, "backup.rpo");
    assert_eq!(rpo["status"], "yes", "{rpo}");
    assert_eq!(item(&r, "backup.generations")["status"], "yes");

    // A changed audit record: the chain no longer verifies, and the report says where.
    tamper_audit_log(&env);
    let (r, code) = env.json(&["report"]);
    assert_eq!(code, 0, "{r}");
    let audit = item(&r, "audit.log_protected");
    assert_eq!(audit["status"], "no", "{audit}");
    assert!(
        audit["evidence"].as_str().unwrap().contains("record 1"),
        "{audit}"
    );
}

#[test]
fn training_item_is_yes_once_a_recovery_exercise_passed() {
    let (env, _) = Env::backed_up(83, 4);
    let (r, _) = env.json(&["report"]);
    let training = item(&r, "training.exercise");
    assert_eq!(training["status"], "no");

    let sandbox = env.path("exercise");
    env.run(&[
        "train",
        "start",
        sandbox.to_str().unwrap(),
        "--scenario",
        "fast",
        "--seed",
        "21",
    ])
    .success();
    let (r, _) = env.json(&["report"]);
    let training = item(&r, "training.exercise");
    assert_eq!(training["status"], "no", "started, not passed: {training}");
    assert!(
        training["evidence"]
            .as_str()
            .unwrap()
            .contains("1 started, 0 passed")
    );

    // The trainee restores the right generation inside the sandbox and asks for the grade.
    let trainee = |args: &[&str]| {
        let mut cmd = env.kura();
        cmd.current_dir(&sandbox)
            .env_remove("KURA_REPOSITORY")
            .env_remove("KURA_PASSWORD")
            .args(args);
        assert_cmd::assert::OutputAssertExt::assert(&mut cmd)
    };
    trainee(&["restore", "latest-clean", "--target", "restore"]).success();
    trainee(&["train", "check", "."]).success();
    let (r, _) = env.json(&["report"]);
    let training = item(&r, "training.exercise");
    assert_eq!(training["status"], "yes", "{training}");
    assert!(training["date"].is_string());
}
