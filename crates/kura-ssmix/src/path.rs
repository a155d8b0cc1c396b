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
    // SS-MIX2 patient IDs are digits, zero-padded to at least 6 so the two hash directories exist;
    // some sites use letters too, so accept ASCII alphanumerics.
    let id_ok = id.len() >= 6 && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric());
    if !id_ok || *id != id_dir || top != &id[0..3] || mid != &id[3..6] {
        return None;
    }
    if *date != date_dir || *data_type != type_dir || data_type.is_empty() {
        return None;
    }
    let date = match *date {
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
    fn backslashes_work() {
        assert!(parse_storage_path(&P.replace('/', "\\")).is_some());
    }
}
