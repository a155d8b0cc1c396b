//! SS-MIX2 standard storage paths: `root/ID[0:3]/ID[3:6]/ID/{date|-}/{type}/{file}`.

use serde::Serialize;

/// Condition flag, the last `_`-separated part of an SS-MIX2 file name.
///
/// Only [`Flag::Current`] files are shown; the others are kept by SS-MIX2 for history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Flag {
    /// `1`: the valid, current version of an order.
    Current,
    /// `2`: an older version, replaced by a newer file of the same order.
    Superseded,
    /// `0`: the order was deleted.
    Deleted,
}

/// The parts of an SS-MIX2 standard storage path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoragePath {
    /// Patient ID (the third directory and the first part of the file name).
    pub patient_id: String,
    /// Day of care `YYYYMMDD`, `None` for the `-` directory (data without a date, e.g. ADT-00).
    pub date: Option<String>,
    /// Data type such as `ADT-00`, `PPR-01`, `OMP-01`, `OML-11`.
    pub data_type: String,
    /// Order number (`-` when the data has none).
    pub order_no: String,
    /// Time the file was stored, `YYYYMMDDHHMMSSfff`.
    pub timestamp: String,
    /// Department code.
    pub department: String,
    /// Condition flag.
    pub flag: Flag,
}

/// The six trailing components of a storage path and the seven parts of its file name, before
/// any check that they agree (shared by the strict and the lenient reader).
struct Parts<'a> {
    top: &'a str,
    mid: &'a str,
    id_dir: &'a str,
    date_dir: &'a str,
    type_dir: &'a str,
    id: &'a str,
    date: &'a str,
    data_type: &'a str,
    order_no: &'a str,
    timestamp: &'a str,
    department: &'a str,
    flag: Flag,
}

impl<'a> Parts<'a> {
    fn of(path: &'a str) -> Option<Parts<'a>> {
        let mut parts = path.rsplit(['/', '\\']);
        let file = parts.next()?;
        let type_dir = parts.next()?;
        let date_dir = parts.next()?;
        let id_dir = parts.next()?;
        let mid = parts.next()?;
        let top = parts.next()?;
        let f: Vec<&str> = file.split('_').collect();
        let [id, date, data_type, order_no, timestamp, department, flag] = f.as_slice() else {
            return None;
        };
        let flag = match *flag {
            "1" => Flag::Current,
            "2" => Flag::Superseded,
            "0" => Flag::Deleted,
            _ => return None,
        };
        Some(Parts {
            top,
            mid,
            id_dir,
            date_dir,
            type_dir,
            id,
            date,
            data_type,
            order_no,
            timestamp,
            department,
            flag,
        })
    }
}

/// Recognises an SS-MIX2 standard storage file by the trailing six components of `path`
/// (any prefix is allowed, so paths inside a snapshot work), checking that the directories agree
/// with the file name. Both `/` and `\` separate components.
///
/// ```
/// use kura_ssmix::{parse_storage_path, Flag};
/// let p = parse_storage_path(
///     "srv/ssmix2/000/001/0000012345/20260101/ADT-00/0000012345_20260101_ADT-00_123456789012345_20260101120000000_01_1",
/// ).unwrap();
/// assert_eq!(p.patient_id, "0000012345");
/// assert_eq!(p.flag, Flag::Current);
/// assert!(parse_storage_path("etc/passwd").is_none());
/// ```
pub fn parse_storage_path(path: &str) -> Option<StoragePath> {
    let Parts {
        top,
        mid,
        id_dir,
        date_dir,
        type_dir,
        id,
        date,
        data_type,
        order_no,
        timestamp,
        department,
        flag,
    } = Parts::of(path)?;
    // SS-MIX2 patient IDs are digits, zero-padded to at least 6 so the two hash directories exist;
    // some sites use letters too, so accept ASCII alphanumerics.
    let id_ok = id.len() >= 6 && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric());
    if !id_ok || id != id_dir || top != &id[0..3] || mid != &id[3..6] {
        return None;
    }
    if date != date_dir || data_type != type_dir || data_type.is_empty() {
        return None;
    }
    let date = match date {
        "-" => None,
        d if d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit()) => Some(d.to_string()),
        _ => return None,
    };
    if !timestamp.bytes().all(|b| b.is_ascii_digit()) || timestamp.is_empty() {
        return None;
    }
    Some(StoragePath {
        patient_id: id.to_string(),
        date,
        data_type: data_type.to_string(),
        order_no: order_no.to_string(),
        timestamp: timestamp.to_string(),
        department: department.to_string(),
        flag,
    })
}

/// A file found in an SS-MIX2 storage even when it is misfiled: the patient is the one whose
/// directory holds it (the storage path is the key), and what disagrees is listed in `problems`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LocatedFile {
    /// `patient_id` is the ID directory; the other parts come from the file name.
    pub storage: StoragePath,
    /// The patient ID in the file name, when it differs from the directory.
    pub name_patient_id: Option<String>,
    /// Disagreements between the directories and the file name, in English, e.g.
    /// `file name says patient 0000099999`.
    pub problems: Vec<String>,
}

/// Like [`parse_storage_path`], but keeps a file whose directories disagree with its name
/// (a misfiled file is still that patient's record): the file name must have the seven SS-MIX2
/// parts with a valid condition flag, and the ID directory must be 1–64 ASCII alphanumerics.
///
/// ```
/// use kura_ssmix::locate_storage_file;
/// let f = locate_storage_file(
///     "000/001/0000012345/20260102/ADT-00/0000012345_20260101_ADT-00_1_20260101120000000_01_1",
/// ).unwrap();
/// assert_eq!(f.storage.patient_id, "0000012345");
/// assert_eq!(f.problems, ["file name date 20260101 is in directory 20260102"]);
/// assert!(locate_storage_file("etc/passwd").is_none());
/// ```
pub fn locate_storage_file(path: &str) -> Option<LocatedFile> {
    if let Some(storage) = parse_storage_path(path) {
        return Some(LocatedFile {
            storage,
            name_patient_id: None,
            problems: Vec::new(),
        });
    }
    let Parts {
        top,
        mid,
        id_dir,
        date_dir,
        type_dir,
        id,
        date,
        data_type,
        order_no,
        timestamp,
        department,
        flag,
    } = Parts::of(path)?;
    let alnum =
        |s: &str| !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric());
    if !alnum(id_dir) || !alnum(id) || data_type.is_empty() {
        return None;
    }
    let mut problems = Vec::new();
    let name_patient_id = (id != id_dir).then(|| id.to_string());
    if id != id_dir {
        problems.push(format!(
            "file name says patient {id}, directory says {id_dir}"
        ));
    }
    let (want_top, want_mid) = (
        id_dir.get(0..3).unwrap_or(""),
        id_dir.get(3..6).unwrap_or(""),
    );
    if top != want_top || mid != want_mid {
        problems.push(format!(
            "patient directory is under {top}/{mid}, expected {want_top}/{want_mid}"
        ));
    }
    if date != date_dir {
        problems.push(format!("file name date {date} is in directory {date_dir}"));
    }
    if data_type != type_dir {
        problems.push(format!(
            "file name type {data_type} is in directory {type_dir}"
        ));
    }
    let date = match date {
        d if d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit()) => Some(d.to_string()),
        _ => None,
    };
    Some(LocatedFile {
        storage: StoragePath {
            patient_id: id_dir.to_string(),
            date,
            data_type: data_type.to_string(),
            order_no: order_no.to_string(),
            timestamp: timestamp.to_string(),
            department: department.to_string(),
            flag,
        },
        name_patient_id,
        problems,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "srv/ssmix2/000/001/0000012345/20260101/ADT-00/0000012345_20260101_ADT-00_123456789012345_20260101120000000_01_1";

    #[test]
    fn parses_snapshot_relative_path() {
        let p = parse_storage_path(P).unwrap();
        assert_eq!(p.date.as_deref(), Some("20260101"));
        assert_eq!(p.data_type, "ADT-00");
        assert_eq!(p.order_no, "123456789012345");
        assert_eq!(p.timestamp, "20260101120000000");
        assert_eq!(p.department, "01");
    }

    #[test]
    fn flags_are_recognised() {
        let sup = P.replace("_01_1", "_01_2");
        let del = P.replace("_01_1", "_01_0");
        let bad = P.replace("_01_1", "_01_7");
        assert_eq!(parse_storage_path(&sup).unwrap().flag, Flag::Superseded);
        assert_eq!(parse_storage_path(&del).unwrap().flag, Flag::Deleted);
        assert!(parse_storage_path(&bad).is_none());
    }

    #[test]
    fn dash_date_is_none() {
        let p = "000/001/0000012345/-/ADT-00/0000012345_-_ADT-00_-_20260101120000000_-_1";
        let p = parse_storage_path(p).unwrap();
        assert_eq!(p.date, None);
    }

    #[test]
    fn inconsistent_directories_are_rejected() {
        assert!(parse_storage_path(&P.replace("000/001/", "000/002/")).is_none());
        assert!(parse_storage_path(&P.replace("/20260101/ADT", "/20260102/ADT")).is_none());
        assert!(parse_storage_path(&P.replace("/ADT-00/", "/OMP-01/")).is_none());
        assert!(parse_storage_path("0000012345_20260101_ADT-00_1_2_01_1").is_none());
        assert!(parse_storage_path("").is_none());
    }

    #[test]
    fn misfiled_files_are_located_under_their_directory() {
        let wrong_hash = P.replace("000/001/", "000/002/");
        let f = locate_storage_file(&wrong_hash).unwrap();
        assert_eq!(f.storage.patient_id, "0000012345");
        assert_eq!(f.problems.len(), 1, "{:?}", f.problems);
        let other = P.replace(
            "/0000012345/20260101/ADT-00/0000012345_",
            "/0000012345/20260101/ADT-00/0000099999_",
        );
        let f = locate_storage_file(&other).unwrap();
        assert_eq!(f.storage.patient_id, "0000012345");
        assert_eq!(f.name_patient_id.as_deref(), Some("0000099999"));
        let wrong_type = P.replace("/ADT-00/", "/OMP-01/");
        assert_eq!(locate_storage_file(&wrong_type).unwrap().problems.len(), 1);
        assert!(locate_storage_file(&P.replace("_01_1", "_01_7")).is_none());
        assert!(locate_storage_file("a/b/c/d/e/readme_1.txt").is_none());
        assert_eq!(
            locate_storage_file(P).unwrap().problems,
            Vec::<String>::new()
        );
    }

    #[test]
    fn backslashes_work() {
        assert!(parse_storage_path(&P.replace('/', "\\")).is_some());
    }
}
