//! kura-ssmix: SS-MIX2 standard storage, HL7 v2.5 and ISO-2022-JP into a patient summary, the
//! "6 information" (傷病名, アレルギー, 薬剤禁忌, 検査, 感染症, 処方) shown by the continuity viewer.
//!
//! It owns the storage path layout ([`parse_storage_path`]), message decoding and the in-memory
//! [`PatientIndex`]. It must not touch repositories, the network or the terminal: callers hand it
//! bytes (or a `std::io::Read`) with the path the file had, and it depends on no kura crate.
//! Only current (`_1`) files are shown; superseded (`_2`) and deleted (`_0`) versions are counted.
//!
//! ```
//! use kura_ssmix::PatientIndex;
//!
//! let hl7 = "MSH|^~\\&|HIS||SSMIX2||20260101120000||ADT^A60^ADT_A60|1|P|2.5\r\
//!            PID|1||0000012345^^^^PI||山田^太郎^^^^^L^I~ヤマダ^タロウ^^^^^L^P||19700101|M\r\
//!            IAM|1|DA|^ペニシリン|SV||A\r";
//! let (bytes, _, _) = encoding_rs::ISO_2022_JP.encode(hl7);
//! let path = "ssmix2/000/001/0000012345/20260101/ADT-51/\
//!             0000012345_20260101_ADT-51_1_20260101120000000_01_1";
//!
//! let mut index = PatientIndex::new();
//! index.add_file(path, &bytes)?;
//! let hit = &index.search("やまだ", 10)[0];
//! let record = index.patient(&hit.id).unwrap();
//! assert_eq!(&*record.allergies[0].allergen, "ペニシリン");
//! assert_eq!(&*record.contraindications[0].allergen, "ペニシリン");
//! # Ok::<(), kura_ssmix::Error>(())
//! ```

mod extract;
mod hl7;
mod index;
mod path;
mod record;
mod vocab;

pub use index::{IndexStats, MAX_FILE_BYTES, PatientHit, PatientIndex, Skipped, normalize};
pub use path::{Flag, LocatedFile, StoragePath, locate_storage_file, parse_storage_path};
pub use record::{
    Allergy, Diagnosis, Infection, InfectionSource, LabResult, Notice, NoticeKind, Patient,
    PatientRecord, Prescription, PrescriptionKind, Text,
};
pub use vocab::{abnormal_flag_words, allergen_type_words, severity_words, timing_words};

/// Errors from indexing one file. Messages name the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("not an SS-MIX2 standard storage path: {0}")]
    NotSsmixPath(String),
    #[error("malformed HL7 message in {path}: {reason}")]
    Malformed { path: String, reason: String },
    #[error("{path} is {size} bytes, more than an SS-MIX2 message may be")]
    TooLarge { path: String, size: usize },
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
