//! End-to-end: `kura report` (JSON items with stable ids, the offline item before and after a disk
//! export, attestations, and the HTML page in headless Chromium).
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
    let env = Env::new();
    env.init();
    let src = env.sample_tree("src", 81, 8);
    env.run(&["backup", src.to_str().unwrap()]).success();
    let (r, code) = env.json(&["report"]);
    assert_eq!(code, 0, "{r}");
    assert!(r["generated"].is_string());
    let offline = item(&r, "backup.offline");
    assert_eq!(offline["status"], "no");
    assert!(offline["text"].as_str().unwrap().contains("切り離して保管"));
    assert_eq!(item(&r, "backup.recovery_confirmed")["status"], "no");
    assert_eq!(item(&r, "bcp.cyber")["status"], "no");

    let disk = env.path("usb-monday");
    std::fs::create_dir_all(&disk).unwrap();
    env.run(&["media", "add", disk.to_str().unwrap(), "--label", "monday"])
        .success();
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
