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
    /// AL1-6 / IAM-11 / IAM-13, else the message date.
    pub date: Text,
    /// HL7 table 0127: `DA` drug, `FA` food, `EA` environmental, `MA` misc. allergy,
    /// `MC` misc. contraindication, …
    pub allergen_type: Text,
    /// Allergen description (AL1-3.2 / IAM-3.2, else component 1).
    pub allergen: Text,
    /// AL1-4 / IAM-4 (`SV` severe, `MO` moderate, `MI` mild), text when given.
    pub severity: Text,
    /// AL1-5 / IAM-5 reactions, joined with `、`.
    pub reaction: Text,
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

/// 処方: one drug of a prescription order (RXE or RXO, with its TQ1 and RXR).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Prescription {
    /// TQ1-7 start, else ORC-9, else the message date.
    pub date: Text,
    pub code: Text,
    pub drug: Text,
    /// Amount and unit, e.g. `3 錠`.
    pub dose: Text,
    /// TQ1-3 repeat pattern text, e.g. `1日3回朝昼夕食後`.
    pub timing: Text,
    /// TQ1-6 service duration, e.g. `7 日`.
    pub duration: Text,
    /// RXR-1.
    pub route: Text,
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
    /// Timestamp of the message the demographics came from.
    #[serde(skip)]
    pub(crate) demographics_from: Text,
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
            demographics_from: empty,
        }
    }
}

/// Inserts keeping `v` sorted by `date` descending (newest first); equal dates keep arrival order.
pub(crate) fn insert_newest_first<T>(v: &mut Vec<T>, item: T, date: impl Fn(&T) -> &str) {
    let d = date(&item);
    let pos = v.partition_point(|x| date(x) >= d);
    v.insert(pos, item);
}
