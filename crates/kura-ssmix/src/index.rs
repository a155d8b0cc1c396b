//! The in-memory patient index: summaries per patient and name/ID search.

use std::collections::BTreeMap;
use std::io::Read;

use serde::Serialize;
use unicode_normalization::UnicodeNormalization;

use crate::extract::{Interner, apply};
use crate::hl7::component;
use crate::path::{Flag, locate_storage_file};
use crate::record::{Notice, NoticeKind, PatientRecord, Text};
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
    /// Files that failed (see [`PatientIndex::skipped`]). Those filed under a patient are
    /// also listed on that patient's page.
    pub files_skipped: usize,
    /// Indexed files whose PID-3 names another patient ID than their storage path.
    pub id_mismatches: usize,
    /// Indexed files whose directories disagree with their name.
    pub misfiled: usize,
    /// Indexed files with bytes undecodable in any candidate character set.
    pub lossy_decodes: usize,
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

    /// Indexes one file. `path` may carry any prefix; its last six components must look like an
    /// SS-MIX2 storage path ([`locate_storage_file`]). The storage path is the key: the message
    /// is filed under the path's patient ID even when PID-3 or the file name says otherwise,
    /// and the difference becomes a [`Notice`] on that patient's page. Superseded and deleted
    /// versions are counted and ignored. A file that cannot be parsed returns `Err`, is recorded
    /// in [`PatientIndex::skipped`] and, when its path names a patient, listed on that page.
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

    /// Records a file the caller could not read (too large, an I/O error) as skipped, and on
    /// its patient's page when its path names one.
    pub fn add_unreadable(&mut self, path: &str, reason: &str) {
        self.skipped.push(Skipped {
            path: path.to_string(),
            reason: reason.to_string(),
        });
        self.stats.files_skipped += 1;
        if let Some(located) = locate_storage_file(path) {
            let slot = self.slot(&located.storage.patient_id);
            let notice = Notice {
                kind: NoticeKind::Unreadable,
                file: Text::from(path),
                detail: Text::from(reason),
            };
            self.records[slot].notices.push(notice);
        }
    }

    /// Records `path` as skipped because of `e`, and hands `e` back.
    fn record_skip(&mut self, path: &str, e: Error) -> Error {
        let reason = match &e {
            // The path is on the page already; say only what is wrong with the content.
            Error::Malformed { reason, .. } => format!("malformed HL7 message: {reason}"),
            other => other.to_string(),
        };
        self.add_unreadable(path, &reason);
        e
    }

    /// The record of `id`, created (without demographics) when it does not exist yet.
    fn slot(&mut self, id: &str) -> usize {
        if let Some(&i) = self.by_id.get(id) {
            return i;
        }
        let id = self.interner.intern(id);
        let empty = self.interner.intern("");
        self.records.push(PatientRecord::new(id.clone(), empty));
        self.keys.push(String::new());
        self.by_id.insert(id, self.records.len() - 1);
        self.stats.patients += 1;
        self.records.len() - 1
    }

    fn try_add(&mut self, path: &str, bytes: &[u8]) -> Result<()> {
        let located =
            locate_storage_file(path).ok_or_else(|| Error::NotSsmixPath(path.to_string()))?;
        let sp = &located.storage;
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
        let decoded = hl7::decode(bytes);
        let msg = hl7::parse(&decoded.text).map_err(|reason| Error::Malformed {
            path: path.to_string(),
            reason,
        })?;
        let mut notices = Vec::new();
        if !located.problems.is_empty() {
            self.stats.misfiled += 1;
            notices.push((NoticeKind::Misfiled, located.problems.join("; ")));
        }
        let declared = if decoded.declared.is_empty() {
            "no character set declared".to_string()
        } else {
            format!("MSH-18 declares {}", decoded.declared)
        };
        if decoded.lossy {
            self.stats.lossy_decodes += 1;
            notices.push((
                NoticeKind::Encoding,
                format!("some characters could not be decoded ({declared})"),
            ));
        } else if decoded.charset != "ISO-2022-JP" && !decoded.declared_matches() {
            // Readable, but not in the character set it says: worth a look by the storage's
            // administrator, since a wrong guess would show wrong characters.
            notices.push((
                NoticeKind::Encoding,
                format!("read as {} ({declared})", decoded.charset),
            ));
        }
        // PID-3 may repeat (`~`) and be formatted differently (leading zeros): it matches when
        // any repetition names the path's patient.
        let mut id_matches = true;
        if let Some(pid) = msg.first("PID") {
            let seps = *pid.seps();
            let ids: Vec<String> = pid
                .repetitions(3)
                .map(|r| component(r, 1, &seps))
                .filter(|i| !i.trim().is_empty())
                .collect();
            let norm = |s: &str| s.trim().trim_start_matches('0').to_ascii_uppercase();
            let key = norm(&sp.patient_id);
            if !ids.is_empty() && !ids.iter().any(|i| norm(i) == key) {
                id_matches = false;
                self.stats.id_mismatches += 1;
                notices.push((
                    NoticeKind::IdMismatch,
                    format!(
                        "PID-3 says {}, the storage path says {}",
                        ids.join(" / "),
                        sp.patient_id
                    ),
                ));
            }
        }
        let slot = self.slot(&sp.patient_id);
        // Paths are unique: not interned, and only kept for files that need a notice.
        let file = Text::from(path);
        let rec = &mut self.records[slot];
        for (kind, detail) in notices {
            rec.notices.push(Notice {
                kind,
                file: file.clone(),
                detail: Text::from(detail),
            });
        }
        let before = (
            rec.patient.name_kanji.clone(),
            rec.patient.name_kana.clone(),
        );
        let added = apply(
            &msg,
            rec,
            &mut self.interner,
            sp.date.as_deref().unwrap_or(&sp.timestamp),
            id_matches,
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
            r.notices.shrink_to_fit();
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
        assert_eq!(ix.skipped().len(), 2);
        assert_eq!(ix.stats().files_skipped, 2);
        ix.add_file(
            &path(id, "ADT-00", "-", '1'),
            &adt(id, "山田^太郎", "ヤマダ^タロウ"),
        )
        .unwrap();
        assert_eq!(ix.stats().patients, 1);
        let rec = ix.patient(id).unwrap();
        assert_eq!(
            rec.notices.len(),
            1,
            "the unreadable file is listed on the page"
        );
        assert_eq!(rec.notices[0].kind, NoticeKind::Unreadable);
        assert!(
            rec.notices[0].detail.contains("malformed"),
            "{:?}",
            rec.notices
        );
    }

    #[test]
    fn storage_path_is_the_key_when_pid3_differs() {
        let mut ix = PatientIndex::new();
        let id = "0000012345";
        // Leading zeros dropped, and a repetition that names the patient: no notice.
        ix.add_file(
            &path(id, "ADT-00", "-", '1'),
            &adt("12345", "山田^太郎", "ヤマダ^タロウ"),
        )
        .unwrap();
        ix.add_file(
            &path(id, "ADT-00", "-", '1'),
            &adt("X9^^^^MR~0000012345", "山田^太郎", "ヤマダ^タロウ"),
        )
        .unwrap();
        assert!(ix.patient(id).unwrap().notices.is_empty());
        // Another patient's ID (a merge, test data): indexed here, with a notice naming both.
        let merged = enc(
            "MSH|^~\\&|||||20260102||ADT^A60^ADT_A60|1|P|2.5\rPID|||0000077777^^^^PI||別人^^^^^^L^I\rIAM|1|DA|^ペニシリン|SV||A\r",
        );
        ix.add_file(&path(id, "ADT-51", "-", '1'), &merged).unwrap();
        let rec = ix.patient(id).unwrap();
        assert_eq!(&*rec.allergies[0].allergen, "ペニシリン");
        assert_eq!(rec.notices.len(), 1);
        assert_eq!(rec.notices[0].kind, NoticeKind::IdMismatch);
        assert!(
            rec.notices[0].detail.contains("0000077777") && rec.notices[0].detail.contains(id),
            "{:?}",
            rec.notices[0]
        );
        assert_eq!(
            &*rec.patient.name_kanji, "山田\u{3000}太郎",
            "a matching PID names the patient"
        );
        assert!(ix.patient("0000077777").is_none());
        assert_eq!(ix.stats().id_mismatches, 1);
        assert!(ix.skipped().is_empty());
    }

    #[test]
    fn misfiled_file_is_indexed_under_its_directory_with_a_notice() {
        let mut ix = PatientIndex::new();
        let id = "0000012345";
        let p = path(id, "ADT-00", "-", '1').replace("/000/001/", "/000/009/");
        ix.add_file(&p, &adt(id, "山田^太郎", "ヤマダ^タロウ"))
            .unwrap();
        let rec = ix.patient(id).unwrap();
        assert_eq!(rec.notices[0].kind, NoticeKind::Misfiled);
        assert_eq!(ix.stats().misfiled, 1);
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
