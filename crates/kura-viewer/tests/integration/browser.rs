//! Headless Chromium renders the pages: the DOM shows the data and a screenshot is written to
//! `target/test-artifacts/viewer-patient.png`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{pct, start};

const CHROMIUM: &str = "/usr/bin/chromium";

fn chromium_available() -> bool {
    if Path::new(CHROMIUM).exists() {
        return true;
    }
    if std::env::var("KURA_REQUIRE_TOOLS").as_deref() == Ok("1") {
        panic!(
            "{CHROMIUM} not found and KURA_REQUIRE_TOOLS=1: install it with `apt-get install chromium`"
        );
    }
    eprintln!(
        "\n*** SKIPPED: headless Chromium test: {CHROMIUM} not found (apt-get install chromium) ***\n"
    );
    false
}

/// Runs Chromium headless with a fresh profile, bounded by coreutils `timeout`.
fn chromium(profile: &Path, args: &[&str]) -> Output {
    let out = Command::new("timeout")
        .args(["--kill-after=10", "90", CHROMIUM])
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--lang=ja",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("cannot run timeout/chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn chromium_renders_search_and_patient_page() {
    if !chromium_available() {
        return;
    }
    let s = start(vec![]);
    // A patient with allergies and contraindications makes the most telling screenshot.
    let t = s
        .truth
        .patients
        .iter()
        .max_by_key(|p| {
            (
                p.allergies.len() + p.contraindications.len(),
                p.prescriptions.len(),
            )
        })
        .unwrap();

    let profile = tempfile::tempdir().unwrap();
    let search = format!("http://{}/?q={}", s.addr, pct(&t.name_hiragana));
    let dom = String::from_utf8_lossy(&chromium(profile.path(), &["--dump-dom", &search]).stdout)
        .into_owned();
    assert!(
        dom.contains(&t.id) && dom.contains(&t.name_kanji),
        "search DOM: {dom}"
    );

    let patient = format!("http://{}/patient/{}", s.addr, t.id);
    let dom = String::from_utf8_lossy(&chromium(profile.path(), &["--dump-dom", &patient]).stdout)
        .into_owned();
    for x in t
        .allergies
        .iter()
        .chain(&t.prescriptions)
        .chain(&t.contraindications)
    {
        assert!(dom.contains(x.as_str()), "patient DOM lacks {x}");
    }

    let png = artifacts().join("viewer-patient.png");
    let _ = std::fs::remove_file(&png);
    let shot = format!("--screenshot={}", png.display());
    chromium(
        profile.path(),
        &[&shot, "--window-size=1200,1600", &patient],
    );
    let bytes = std::fs::read(&png).expect("screenshot written");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        bytes.len() > 20_000,
        "screenshot suspiciously small: {} bytes",
        bytes.len()
    );
    assert!(
        s.log
            .entries()
            .iter()
            .filter(|e| e[1] == "viewer.patient_view")
            .count()
            >= 2
    );
}
