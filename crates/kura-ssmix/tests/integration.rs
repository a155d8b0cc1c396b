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
