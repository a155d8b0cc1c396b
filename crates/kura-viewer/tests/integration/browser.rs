//! Headless Chromium renders the pages: the DOM shows the data and a screenshot is written to
//! `target/test-artifacts/viewer-patient.png`.

use kura_testkit::browser::{
    artifacts_dir, chromium, chromium_available, dump_dom, percent_encode,
};

use crate::support::start;

#[test]
fn chromium_renders_search_and_patient_page() {
    if !chromium_available("kura-viewer chromium_renders_search_and_patient_page") {
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
    let search = format!("http://{}/?q={}", s.addr, percent_encode(&t.name_hiragana));
    let dom = dump_dom(profile.path(), &search);
    assert!(
        dom.contains(&t.id) && dom.contains(&t.name_kanji),
        "search DOM: {dom}"
    );

    let patient = format!("http://{}/patient/{}", s.addr, t.id);
    let dom = dump_dom(profile.path(), &patient);
    for x in t
        .allergies
        .iter()
        .chain(&t.prescriptions)
        .chain(&t.contraindications)
    {
        assert!(dom.contains(x.as_str()), "patient DOM lacks {x}");
    }

    let png = artifacts_dir().join("viewer-patient.png");
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
