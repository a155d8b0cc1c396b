//! kura-ssmix against generated SS-MIX2 trees with known ground truth.

use std::collections::BTreeSet;
use std::path::Path;

use kura_ssmix::{InfectionSource, PatientIndex, parse_storage_path};
use kura_testkit::ssmix::{generate, write_tree};
use proptest::prelude::*;

fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, out)
        } else {
            out.push(p)
        }
    }
}

fn set<'a>(it: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    it.into_iter().map(String::from).collect()
}

#[test]
fn generated_tree_matches_ground_truth() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("srv/ssmix2");
    let truth = write_tree(&root, 42, 40).unwrap();
    let mut files = Vec::new();
    walk(dir.path(), &mut files);
    let mut ix = PatientIndex::new();
    let mut errors = 0;
    for f in &files {
        let rel = f.strip_prefix(dir.path()).unwrap().to_str().unwrap();
        assert!(parse_storage_path(rel).is_some(), "{rel}");
        let file = std::fs::File::open(f).unwrap();
        if ix.add_reader(rel, file).is_err() {
            errors += 1;
        }
    }
    assert_eq!(errors, 1);
    let skipped: Vec<_> = ix.skipped().iter().map(|s| s.path.clone()).collect();
    assert_eq!(skipped, vec![format!("srv/ssmix2/{}", truth.malformed[0])]);
    let stats = ix.stats();
    assert_eq!(stats.patients, truth.patients.len());
    assert_eq!(stats.files_indexed, truth.current_files);
    assert_eq!(stats.files_not_current, truth.not_current_files);

    for t in &truth.patients {
        let r = ix
            .patient(&t.id)
            .unwrap_or_else(|| panic!("patient {} missing", t.id));
        assert_eq!(&*r.patient.name_kanji, t.name_kanji);
        assert_eq!(&*r.patient.name_kana, t.name_kana);
        assert_eq!(&*r.patient.birth_date, t.birth_date);
        assert_eq!(&*r.patient.sex, t.sex);
        assert_eq!(
            set(r.allergies.iter().map(|a| &*a.allergen)),
            set(t.allergies.iter().map(String::as_str))
        );
        assert_eq!(
            set(r.contraindications.iter().map(|a| &*a.allergen)),
            set(t.contraindications.iter().map(String::as_str))
        );
        assert_eq!(
            set(r.diagnoses.iter().map(|d| &*d.name)),
            set(t.diagnoses.iter().map(String::as_str))
        );
        assert_eq!(
            set(r.prescriptions.iter().map(|p| &*p.drug)),
            set(t.prescriptions.iter().map(String::as_str))
        );
        assert_eq!(
            set(r.infections.iter().map(|i| &*i.name)),
            set(t.infections.iter().map(String::as_str))
        );
        let labs: BTreeSet<(String, String)> = r
            .labs
            .iter()
            .map(|l| (l.name.to_string(), l.value.to_string()))
            .collect();
        assert_eq!(labs, t.labs.iter().cloned().collect());
        for h in &t.hidden {
            assert!(
                r.prescriptions.iter().all(|p| &*p.drug != h),
                "superseded/deleted {h} shown"
            );
        }
        assert!(
            r.infections
                .iter()
                .any(|i| i.source == InfectionSource::Lab)
        );
        for w in [
            r.diagnoses.iter().map(|x| &*x.date).collect::<Vec<_>>(),
            r.allergies.iter().map(|x| &*x.date).collect(),
            r.labs.iter().map(|x| &*x.date).collect(),
            r.prescriptions.iter().map(|x| &*x.date).collect(),
        ] {
            assert!(w.windows(2).all(|p| p[0] >= p[1]), "newest first: {w:?}");
        }
        // Search by hiragana, kanji family name and ID prefix.
        let by_kana = ix.search(&t.name_hiragana, 100);
        assert!(
            by_kana.iter().any(|h| *h.id == *t.id),
            "hiragana {}",
            t.name_hiragana
        );
        let family = t.name_kanji.split('\u{3000}').next().unwrap();
        assert!(ix.search(family, 1000).iter().any(|h| *h.id == *t.id));
        assert_eq!(&*ix.search(&t.id, 100)[0].id, &t.id[..], "exact ID first");
        let by_prefix = ix.search(&t.id[..8], 1000);
        assert!(by_prefix.iter().any(|h| *h.id == *t.id), "ID prefix");
    }
}

#[test]
fn in_memory_generation_indexes_the_same() {
    let (files, truth) = generate(7, 10);
    let mut ix = PatientIndex::new();
    for f in &files {
        let _ = ix.add_file(&f.path, &f.bytes);
    }
    assert_eq!(ix.skipped().len(), truth.malformed.len());
    assert_eq!(ix.stats().patients, 10);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn add_file_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut ix = PatientIndex::new();
        let path = "000/001/0000012345/20260101/OMP-01/0000012345_20260101_OMP-01_1_20260101120000000_01_1";
        let _ = ix.add_file(path, &bytes);
        prop_assert!(ix.stats().files_indexed + ix.stats().files_skipped == 1);
    }

    #[test]
    fn add_file_never_panics_on_hl7_like_text(body in "(MSH[|#][\\^$][~*][\\\\!][&%][A-Z0-9|^~&\\r\\n ]{0,40}|[A-Z]{3}[|][ -~\\r\\n]{0,80}|[\\r\\n]){0,8}") {
        let mut ix = PatientIndex::new();
        let path = "000/001/0000012345/20260101/OML-11/0000012345_20260101_OML-11_1_20260101120000000_01_1";
        let (bytes, _, _) = encoding_rs::ISO_2022_JP.encode(&body);
        let _ = ix.add_file(path, &bytes);
        let _ = ix.search(&body, 5);
    }

    #[test]
    fn parse_storage_path_never_panics(s in "\\PC{0,120}") {
        let _ = parse_storage_path(&s);
    }
}

/// Issue 16: a storage of the specification's own example messages, most with a PID-3 that
/// differs from the storage path, one misfiled, one Shift_JIS, one unreadable: every fact is
/// shown under the path's patient, and every problem is on the patient's record.
#[test]
fn issue_16_spec_example_storage_shows_every_fact() {
    use kura_ssmix::{NoticeKind, PrescriptionKind};
    use kura_testkit::ssmix::spec_storage;

    let (files, truth) = spec_storage();
    let mut ix = PatientIndex::new();
    let mut failed = Vec::new();
    for f in &files {
        if ix
            .add_file(&format!("srv/ssmix2/{}", f.path), &f.bytes)
            .is_err()
        {
            failed.push(f.path.clone());
        }
    }
    assert_eq!(
        failed,
        std::slice::from_ref(&truth.unreadable),
        "only the unreadable file fails"
    );
    assert_eq!(
        ix.stats().patients,
        1,
        "every file is filed under the path's patient"
    );
    let r = ix
        .patient(&truth.patient_id)
        .expect("the storage path's patient");

    let allergens = set(r.allergies.iter().map(|a| &*a.allergen));
    assert_eq!(allergens, set(truth.allergies.iter().map(String::as_str)));
    let sugi = r.allergies.iter().find(|a| &*a.allergen == "スギ").unwrap();
    assert_eq!(&*sugi.allergen_type_text, "花粉アレルギー");
    assert_eq!(&*sugi.allergen_code, "5A1002216023023 (JC10)");
    assert_eq!(&*sugi.severity, "軽度");
    assert_eq!(&*sugi.reaction, "目のかゆみ");
    assert_eq!(&*sugi.onset, "199601");
    let soba = r.allergies.iter().find(|a| &*a.allergen == "ソバ").unwrap();
    assert_eq!(&*soba.onset, "小学校低学年の頃", "IAM-12 onset text");
    let contrast = r
        .allergies
        .iter()
        .find(|a| &*a.allergen == "造影剤")
        .unwrap();
    assert_eq!(&*contrast.severity, "重度", "bare SV decoded");
    assert_eq!(&*contrast.allergen_type_text, "薬剤アレルギー");
    assert_eq!(
        &*contrast.reaction, "表皮剥離、呼吸困難",
        "Shift_JIS decoded"
    );
    let ci = set(r.contraindications.iter().map(|a| &*a.allergen));
    assert_eq!(ci, set(["アリナミン", "ペニシリン", "造影剤"]));

    let drugs = set(r.prescriptions.iter().map(|p| &*p.drug));
    assert_eq!(drugs, set(truth.prescriptions.iter().map(String::as_str)));
    for h in &truth.hidden {
        assert!(!drugs.contains(h), "superseded drug {h} shown");
    }
    let darzen = r
        .prescriptions
        .iter()
        .find(|p| p.drug.starts_with("ダーゼン"))
        .unwrap();
    assert_eq!(
        &*darzen.timing, "内服・経口・１日３回朝昼夕食後",
        "JAMI text, not the code"
    );
    assert_eq!(&*darzen.dose, "1 錠");
    assert_eq!(&*darzen.duration, "5日");
    assert_eq!(&*darzen.route, "口");
    let solita = r
        .prescriptions
        .iter()
        .find(|p| p.drug.starts_with("ソリタ"))
        .unwrap();
    assert_eq!(solita.kind, PrescriptionKind::Injection);
    assert_eq!(&*solita.route, "静脈内");
    assert_eq!(&*solita.dose, "1 本");
    assert!(
        solita.timing.contains("５時間一定速度で"),
        "{}",
        solita.timing
    );
    assert_eq!(&*solita.date, "201107010800");

    assert_eq!(set(r.diagnoses.iter().map(|d| &*d.name)), set(["胃炎"]));
    assert_eq!(&*r.diagnoses[0].date, "20110831", "PRB-16 onset");
    let labs = set(r.labs.iter().map(|l| &*l.name));
    assert_eq!(labs, set(truth.labs.iter().map(String::as_str)));
    let tp = r.labs.iter().find(|l| &*l.name == "総蛋白").unwrap();
    assert_eq!(
        (&*tp.value, &*tp.units, &*tp.range),
        ("7.2", "g/dl", "6.70-8.3")
    );

    // Demographics come from a message whose PID-3 names the patient.
    assert_eq!(&*r.patient.name_kanji, "患者\u{3000}太郎");
    assert_eq!(&*r.patient.birth_date, "19480405");

    let mismatched: Vec<&str> = r
        .notices
        .iter()
        .filter(|n| n.kind == NoticeKind::IdMismatch)
        .map(|n| &*n.detail)
        .collect();
    for other in &truth.other_pid3 {
        assert!(
            mismatched
                .iter()
                .any(|d| d.contains(other.as_str()) && d.contains("9999013")),
            "no warning names PID-3 {other}: {mismatched:?}"
        );
    }
    assert_eq!(mismatched.len(), truth.other_pid3.len());
    let misfiled: Vec<_> = r
        .notices
        .iter()
        .filter(|n| n.kind == NoticeKind::Misfiled)
        .collect();
    assert_eq!(misfiled.len(), 1);
    assert!(misfiled[0].file.ends_with(&truth.misfiled));
    let unreadable: Vec<_> = r
        .notices
        .iter()
        .filter(|n| n.kind == NoticeKind::Unreadable)
        .collect();
    assert_eq!(unreadable.len(), 1);
    assert!(unreadable[0].file.ends_with(&truth.unreadable));
    assert!(
        !r.notices.iter().any(|n| n.kind == NoticeKind::Encoding),
        "no replacement characters: {:?}",
        r.notices
    );
}
