//! The patient summary: the "6 information" (6情報) extracted from SS-MIX2 messages.

use std::sync::Arc;

use serde::Serialize;

/// Shared, interned text: lab names, units, drug names and dates repeat across millions of
/// messages, so each distinct string is stored once.
pub type Text = Arc<str>;

/// Dates are HL7 timestamps cut to `YYYYMMDDHHMM` (or shorter when the source is), so they sort
/// as strings. An empty date sorts last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Patient {
    pub id: Text,
    /// PID-5 repetition with name representation `I` (ideographic): kanji.
    pub name_kanji: Text,
    /// PID-5 repetition with name representation `P` (phonetic): full-width katakana.
    pub name_kana: Text,
    /// PID-7, `YYYYMMDD`.
    pub birth_date: Text,
    /// PID-8 (`M`, `F`, `O`, `U`).
    pub sex: Text,
}

/// 傷病名: one diagnosis (PPR^ZD1 PRB).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnosis {
    /// Onset (PRB-16), else established date (PRB-7), else the message date.
    pub date: Text,
    /// PRB-3.1, e.g. an MEDIS ICD10-based code.
    pub code: Text,
    /// PRB-3.2.
    pub name: Text,
}

/// アレルギー or 薬剤禁忌: one AL1 or IAM entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Allergy {
    /// AL1-6 / IAM-11 / IAM-13, else the message date (sort key).
    pub date: Text,
    /// HL7 table 0127 code: `DA` drug, `FA` food, `EA` environmental, `LA` pollen, `MA` misc.
    /// allergy, `MC` misc. contraindication, …
    pub allergen_type: Text,
    /// The type in words: the message's text (IAM-2.2), else the table 0127 meaning.
    pub allergen_type_text: Text,
    /// Allergen description (AL1-3.2 / IAM-3.2, else component 1).
    pub allergen: Text,
    /// Allergen code and its coding system, e.g. `5A1002216023023 (JC10)`; empty when the
    /// message has none.
    pub allergen_code: Text,
    /// Severity in words: AL1-4 / IAM-4 text, else table 0128 (`SV` 重度, `MO` 中等度, `MI` 軽度).
    pub severity: Text,
    /// AL1-5 / IAM-5 reactions, joined with `、`.
    pub reaction: Text,
    /// Onset: IAM-11 date, else IAM-12 text (e.g. `小学校低学年の頃`), else AL1-6.
    pub onset: Text,
}

/// 検査: one observation (OBX).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabResult {
    /// OBX-14, else OBR-7, else SPM-17, else the message date.
    pub date: Text,
    pub code: Text,
    pub name: Text,
    pub value: Text,
    pub units: Text,
    /// OBX-7.
    pub range: Text,
    /// OBX-8 (`H`, `L`, `N`, `A`, …).
    pub flag: Text,
}

/// Where an infection entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum InfectionSource {
    Lab,
    Diagnosis,
}

/// 感染症: an infection-related test result or diagnosis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Infection {
    pub date: Text,
    pub name: Text,
    /// Test value (empty for a diagnosis).
    pub result: Text,
    pub flag: Text,
    pub source: InfectionSource,
}

/// What a 処方 entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PrescriptionKind {
    /// A prescription order (OMP-01: RDE^O11 / OMP^O09, RXE or RXO).
    Order,
    /// An injection order (OMP-02): a component (RXC) of an RXE.
    Injection,
    /// A recorded administration (OMP-11/-12: RAS^O17, RXA).
    Given,
}

/// 処方: one drug of a prescription order (RXE or RXO, with its TQ1 and RXR), one component of
/// an injection order (RXC), or one recorded administration (RXA).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Prescription {
    /// TQ1-7 start, else ORC-9, else the message date.
    pub date: Text,
    pub kind: PrescriptionKind,
    pub code: Text,
    pub drug: Text,
    /// Amount and unit, e.g. `3 錠`.
    pub dose: Text,
    /// TQ1-3 repeat pattern in words, e.g. `内服・経口・１日３回朝昼夕食後` (the text
    /// subcomponent, else a decoded code), plus RXE-7 administration instructions.
    pub timing: Text,
    /// TQ1-6 service duration, e.g. `7 日`.
    pub duration: Text,
    /// RXR-1.
    pub route: Text,
}

/// Why a file of this patient needs a human's attention; shown at the top of the patient page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum NoticeKind {
    /// PID-3 names another patient ID than the storage path (formatting, a merge, test data).
    /// The message is shown as this patient's record anyway.
    IdMismatch,
    /// The file's directories disagree with its name; it is shown under the ID directory.
    Misfiled,
    /// The file could not be read or parsed: nothing from it is shown.
    Unreadable,
    /// The file is not in the character set MSH-18 declares: read in another one (UTF-8 or
    /// Shift_JIS), or with undecodable bytes replaced.
    Encoding,
}

/// One notice about one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    pub kind: NoticeKind,
    /// The file's path as read (snapshot-relative).
    pub file: Text,
    /// What is wrong, in English with the values, e.g. `PID-3 says 9999013`.
    pub detail: Text,
}

/// Everything shown for one patient. Each section is sorted newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PatientRecord {
    pub patient: Patient,
    pub diagnoses: Vec<Diagnosis>,
    pub allergies: Vec<Allergy>,
    /// 薬剤禁忌: drug allergies (`DA`) and contraindications (`MC`) from AL1/IAM.
    pub contraindications: Vec<Allergy>,
    pub labs: Vec<LabResult>,
    pub infections: Vec<Infection>,
    pub prescriptions: Vec<Prescription>,
    /// Files of this patient that need attention, in the order they were read.
    pub notices: Vec<Notice>,
    /// Timestamp of the message the demographics came from.
    #[serde(skip)]
    pub(crate) demographics_from: Text,
    /// Whether the demographics came from a message whose PID-3 names this patient.
    #[serde(skip)]
    pub(crate) demographics_matched: bool,
}

impl PatientRecord {
    pub(crate) fn new(id: Text, empty: Text) -> Self {
        PatientRecord {
            patient: Patient {
                id,
                name_kanji: empty.clone(),
                name_kana: empty.clone(),
                birth_date: empty.clone(),
                sex: empty.clone(),
            },
            diagnoses: Vec::new(),
            allergies: Vec::new(),
            contraindications: Vec::new(),
            labs: Vec::new(),
            infections: Vec::new(),
            prescriptions: Vec::new(),
            notices: Vec::new(),
            demographics_from: empty,
            demographics_matched: false,
        }
    }
}

/// Inserts keeping `v` sorted by `date` descending (newest first); equal dates keep arrival order.
pub(crate) fn insert_newest_first<T>(v: &mut Vec<T>, item: T, date: impl Fn(&T) -> &str) {
    let d = date(&item);
    let pos = v.partition_point(|x| date(x) >= d);
    v.insert(pos, item);
}
