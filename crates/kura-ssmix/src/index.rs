//! The in-memory patient index: summaries per patient and name/ID search.

use std::collections::BTreeMap;
use std::io::Read;

use serde::Serialize;
use unicode_normalization::UnicodeNormalization;

use crate::extract::{Interner, apply};
use crate::path::{Flag, parse_storage_path};
use crate::record::{PatientRecord, Text};
use crate::{Error, Result, hl7};

/// Larger files are not HL7 messages a human wrote; refuse them rather than allocate.
pub const MAX_FILE_BYTES: usize = 16 * 1024 * 1024;

/// A file that could not be indexed, with the reason. Data, not an error: indexing goes on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PatientHit {
    pub id: Text,
    pub name_kanji: Text,
    pub name_kana: Text,
    pub birth_date: Text,
    pub sex: Text,
}

/// Counts describing what the index holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct IndexStats {
    pub patients: usize,
    /// Current (`_1`) files that were indexed.
    pub files_indexed: usize,
    /// Superseded (`_2`) and deleted (`_0`) files, recognised and not shown.
    pub files_not_current: usize,
    /// Files that failed (see [`PatientIndex::skipped`]).
    pub files_skipped: usize,
    /// Entries across the six sections.
    pub entries: usize,
    /// Distinct strings stored.
    pub distinct_strings: usize,
}

/// Patient summaries built from SS-MIX2 files, searchable by ID prefix or name.
///
/// Only summaries are kept (raw messages are dropped after extraction) and all text is interned,
/// so 100,000 patients with millions of messages fit in memory. `Send + Sync`: build it on one
/// thread, then share it behind an `Arc` for reading.
#[derive(Debug)]
pub struct PatientIndex {
    records: Vec<PatientRecord>,
    /// Search keys parallel to `records`: normalised kanji and kana names.
    keys: Vec<String>,
    by_id: BTreeMap<Text, usize>,
    interner: Interner,
    skipped: Vec<Skipped>,
    stats: IndexStats,
}

impl Default for PatientIndex {
    fn default() -> Self {
        Self::new()
    }
}

impl PatientIndex {
    pub fn new() -> Self {
        PatientIndex {
            records: Vec::new(),
            keys: Vec::new(),
            by_id: BTreeMap::new(),
            interner: Interner::default(),
            skipped: Vec::new(),
            stats: IndexStats::default(),
        }
    }

    /// Indexes one file. `path` may carry any prefix; its last six components must form an SS-MIX2
    /// storage path. Superseded and deleted versions are counted and ignored. A malformed file
    /// returns `Err` and is recorded in [`PatientIndex::skipped`]; the index stays usable.
    pub fn add_file(&mut self, path: &str, bytes: &[u8]) -> Result<()> {
        self.try_add(path, bytes)
            .map_err(|e| self.record_skip(path, e))
    }

    /// Like [`PatientIndex::add_file`], reading at most [`MAX_FILE_BYTES`] from `reader`.
    pub fn add_reader(&mut self, path: &str, reader: impl Read) -> Result<()> {
        let mut bytes = Vec::new();
        let read = reader
            .take(MAX_FILE_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|source| Error::Io {
                path: path.to_string(),
                source,
            });
        match read {
            Ok(_) => self.add_file(path, &bytes),
            Err(e) => Err(self.record_skip(path, e)),
        }
    }

    /// Records `path` as skipped because of `e`, and hands `e` back.
    fn record_skip(&mut self, path: &str, e: Error) -> Error {
        self.skipped.push(Skipped {
            path: path.to_string(),
            reason: e.to_string(),
        });
        self.stats.files_skipped += 1;
        e
    }

    fn try_add(&mut self, path: &str, bytes: &[u8]) -> Result<()> {
        let sp = parse_storage_path(path).ok_or_else(|| Error::NotSsmixPath(path.to_string()))?;
        if sp.flag != Flag::Current {
            self.stats.files_not_current += 1;
            return Ok(());
        }
        if bytes.len() > MAX_FILE_BYTES {
            return Err(Error::TooLarge {
                path: path.to_string(),
                size: bytes.len(),
            });
        }
        let text = hl7::decode(bytes);
        let msg = hl7::parse(&text).map_err(|reason| Error::Malformed {
            path: path.to_string(),
            reason,
        })?;
        if let Some(pid) = msg.first("PID") {
            let id3 = pid.comp(3, 1);
            if !id3.is_empty()
                && id3.trim_start_matches('0') != sp.patient_id.trim_start_matches('0')
            {
                return Err(Error::Malformed {
                    path: path.to_string(),
                    reason: format!("PID-3 patient id {id3} does not match the storage path"),
                });
            }
        }
        let slot = match self.by_id.get(sp.patient_id.as_str()) {
            Some(&i) => i,
            None => {
                let id = self.interner.intern(&sp.patient_id);
                let empty = self.interner.intern("");
                self.records.push(PatientRecord::new(id.clone(), empty));
                self.keys.push(String::new());
                self.by_id.insert(id, self.records.len() - 1);
                self.stats.patients += 1;
                self.records.len() - 1
            }
        };
        let rec = &mut self.records[slot];
        let before = (
            rec.patient.name_kanji.clone(),
            rec.patient.name_kana.clone(),
        );
        let added = apply(
            &msg,
            rec,
            &mut self.interner,
            sp.date.as_deref().unwrap_or(&sp.timestamp),
        );
        if before
            != (
                rec.patient.name_kanji.clone(),
                rec.patient.name_kana.clone(),
            )
        {
            self.keys[slot] = format!(
                "{}\u{1f}{}",
                normalize(&rec.patient.name_kanji),
                normalize(&rec.patient.name_kana)
            );
        }
        self.stats.files_indexed += 1;
        self.stats.entries += added.entries;
        Ok(())
    }

    /// Releases spare capacity in the per-patient lists once all files are added.
    pub fn shrink_to_fit(&mut self) {
        for r in &mut self.records {
            r.diagnoses.shrink_to_fit();
            r.allergies.shrink_to_fit();
            r.contraindications.shrink_to_fit();
            r.labs.shrink_to_fit();
            r.infections.shrink_to_fit();
            r.prescriptions.shrink_to_fit();
        }
        self.records.shrink_to_fit();
        self.keys.iter_mut().for_each(String::shrink_to_fit);
        self.keys.shrink_to_fit();
    }

    /// Files that failed to index, in the order they were added.
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    /// Patients whose ID starts with `query` (listed first), then those whose kanji or kana name
    /// contains it, each group in ID order. Kana is normalised: hiragana, full-width and
    /// half-width katakana all match; spaces are ignored.
    pub fn search(&self, query: &str, limit: usize) -> Vec<PatientHit> {
        let q = normalize(query);
        if q.is_empty() || limit == 0 {
            return Vec::new();
        }
        let mut hits = Vec::new();
        let mut seen = Vec::new();
        if q.bytes().all(|b| b.is_ascii_alphanumeric()) {
            let start: Text = Text::from(q.as_str());
            for (id, &i) in self.by_id.range(start..) {
                if !id.starts_with(q.as_str()) || hits.len() >= limit {
                    break;
                }
                hits.push(self.hit(i));
                seen.push(i);
            }
        }
        for &i in self.by_id.values() {
            if hits.len() >= limit {
                break;
            }
            if self.keys[i].contains(q.as_str()) && !seen.contains(&i) {
                hits.push(self.hit(i));
            }
        }
        hits
    }

    fn hit(&self, i: usize) -> PatientHit {
        let p = &self.records[i].patient;
        PatientHit {
            id: p.id.clone(),
            name_kanji: p.name_kanji.clone(),
            name_kana: p.name_kana.clone(),
            birth_date: p.birth_date.clone(),
            sex: p.sex.clone(),
        }
    }

    /// The summary of one patient by exact ID.
    pub fn patient(&self, id: &str) -> Option<&PatientRecord> {
        self.by_id.get(id).map(|&i| &self.records[i])
    }

    pub fn stats(&self) -> IndexStats {
        IndexStats {
            distinct_strings: self.interner.len(),
            ..self.stats
        }
    }
}

/// Search normalisation: NFKC (half-width katakana and full-width ASCII to their usual forms),
/// hiragana to katakana, ASCII lower case, whitespace and control characters removed.
pub fn normalize(s: &str) -> String {
    s.nfkc()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .map(|c| match c {
            // Hiragana ぁ..ゖ and ゝゞ sit exactly 0x60 below their katakana.
            '\u{3041}'..='\u{3096}' | '\u{309d}' | '\u{309e}' => {
                char::from_u32(c as u32 + 0x60).unwrap_or(c)
            }
            _ => c.to_ascii_lowercase(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &str) -> Vec<u8> {
        encoding_rs::ISO_2022_JP.encode(s).0.into_owned()
    }

    fn path(id: &str, ty: &str, order: &str, flag: char) -> String {
        format!(
            "srv/ssmix2/{}/{}/{id}/20260101/{ty}/{id}_20260101_{ty}_{order}_20260101120000000_01_{flag}",
            &id[..3],
            &id[3..6]
        )
    }

    fn adt(id: &str, kanji: &str, kana: &str) -> Vec<u8> {
        enc(&format!(
            "MSH|^~\\&|HIS||SSMIX2||20260101120000||ADT^A08^ADT_A01|1|P|2.5\rPID|1||{id}^^^^PI||{kana}^^^^^^L^P~{kanji}^^^^^^L^I||19700101|F\r"
        ))
    }

    #[test]
    fn normalize_folds_kana_width_and_space() {
        assert_eq!(normalize("やまだ　たろう"), "ヤマダタロウ");
        assert_eq!(normalize("ﾔﾏﾀﾞ ﾀﾛｳ"), "ヤマダタロウ");
        assert_eq!(normalize("ＡＢｃ１"), "abc1");
    }

    #[test]
    fn search_by_id_prefix_kanji_and_hiragana() {
        let mut ix = PatientIndex::new();
        ix.add_file(
            &path("0000012345", "ADT-00", "-", '1'),
            &adt("0000012345", "山田^太郎", "ヤマダ^タロウ"),
        )
        .unwrap();
        ix.add_file(
            &path("0000099999", "ADT-00", "-", '1'),
            &adt("0000099999", "佐藤^花子", "サトウ^ハナコ"),
        )
        .unwrap();
        assert_eq!(ix.search("00000123", 10).len(), 1);
        assert_eq!(&*ix.search("佐藤", 10)[0].id, "0000099999");
        assert_eq!(&*ix.search("やまだ", 10)[0].id, "0000012345");
        assert_eq!(&*ix.search("ﾊﾅｺ", 10)[0].id, "0000099999");
        assert_eq!(ix.search("0000", 1).len(), 1, "limit applies");
        assert!(ix.search("", 10).is_empty());
        assert!(ix.search("鈴木", 10).is_empty());
    }

    #[test]
    fn superseded_and_deleted_files_are_not_shown() {
        let mut ix = PatientIndex::new();
        let id = "0000012345";
        let omp = |drug: &str| {
            enc(&format!(
                "MSH|^~\\&|||||20260101||OMP^O09|1|P|2.5\rPID|||{id}\rORC|NW\rRXE||1^{drug}|1\r"
            ))
        };
        ix.add_file(&path(id, "OMP-01", "1", '2'), &omp("旧薬"))
            .unwrap();
        ix.add_file(&path(id, "OMP-01", "1", '1'), &omp("新薬"))
            .unwrap();
        ix.add_file(&path(id, "OMP-01", "2", '0'), &omp("削除薬"))
            .unwrap();
        let drugs: Vec<_> = ix
            .patient(id)
            .unwrap()
            .prescriptions
            .iter()
            .map(|p| p.drug.to_string())
            .collect();
        assert_eq!(drugs, ["新薬"]);
        assert_eq!(ix.stats().files_not_current, 2);
    }

    #[test]
    fn malformed_files_are_recorded_and_indexing_goes_on() {
        let mut ix = PatientIndex::new();
        let id = "0000012345";
        assert!(
            ix.add_file(&path(id, "ADT-00", "-", '1'), b"\x00\xffnot hl7")
                .is_err()
        );
        assert!(
            ix.add_file("not/an/ssmix/path", b"MSH|^~\\&|||||||ADT^A08")
                .is_err()
        );
        let wrong = adt("0000077777", "別人^", "ベツジン^");
        assert!(
            ix.add_file(&path(id, "ADT-00", "-", '1'), &wrong).is_err(),
            "PID-3 mismatch"
        );
        assert_eq!(ix.skipped().len(), 3);
        assert_eq!(ix.stats().files_skipped, 3);
        ix.add_file(
            &path(id, "ADT-00", "-", '1'),
            &adt(id, "山田^太郎", "ヤマダ^タロウ"),
        )
        .unwrap();
        assert_eq!(ix.stats().patients, 1);
    }

    #[test]
    fn add_reader_reads_through_io_read() {
        let mut ix = PatientIndex::new();
        let id = "0000012345";
        let bytes = adt(id, "山田^太郎", "ヤマダ^タロウ");
        ix.add_reader(&path(id, "ADT-00", "-", '1'), bytes.as_slice())
            .unwrap();
        assert!(ix.patient(id).is_some());
    }

    #[test]
    fn index_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<PatientIndex>();
    }
}
