//! Canary (decoy) files: planted in the sources, touched by no legitimate process.
//!
//! Names look ordinary to an attacker but carry a checksum tag, so kura recognises them without
//! any state: `0000_<word>_<4 hex><4 hex check>.<ext>`, e.g. `0000_patient_list_3fa9c1d2.csv`.
//! The `0000_` prefix sorts them first, where encryptors that walk directories in order start.

use std::path::{Path, PathBuf};

use crate::names::split_name;
use crate::{Engine, Error, Finding, Result, TreeChanges};

const PREFIX: &str = "0000_";

const DECOYS: &[(&str, &str)] = &[
    ("patient_list", "csv"),
    ("referral_scan", "pdf"),
    ("handover_notes", "txt"),
];

fn fnv1a(data: &[u8]) -> u32 {
    data.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

fn check(word: &str, rand: &str) -> u16 {
    (fnv1a(format!("kura-canary/{word}/{rand}").as_bytes()) & 0xffff) as u16
}

fn canary_name(word: &str, ext: &str, r: u16) -> String {
    let rand = format!("{r:04x}");
    format!("{PREFIX}{word}_{rand}{:04x}.{ext}", check(word, &rand))
}

/// Whether a path names a kura canary (by its checksum tag; no state needed).
pub fn is_canary_name(path: impl AsRef<Path>) -> bool {
    let Some(s) = path.as_ref().to_str() else {
        return false;
    };
    let (name, ext, _) = split_name(s);
    let Some(body) = name.strip_prefix(PREFIX) else {
        return false;
    };
    let body = ext.map_or(body, |e| &body[..body.len() - e.len() - 1]);
    let Some((word, tag)) = body.rsplit_once('_') else {
        return false;
    };
    if tag.len() != 8
        || !tag
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        return false;
    }
    let (rand, chk) = tag.split_at(4);
    u16::from_str_radix(chk, 16).is_ok_and(|c| c == check(word, rand))
}

/// Plants one decoy of each kind (CSV, PDF, text) in `dir`, named from `seed`. Returns their
/// paths. Existing canaries with the same names are overwritten with the same bytes.
pub fn plant(dir: &Path, seed: u64) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for (i, (word, ext)) in DECOYS.iter().enumerate() {
        let r = (seed.rotate_left(16 * i as u32) ^ (i as u64 * 0x9e37)) as u16;
        let path = dir.join(canary_name(word, ext, r));
        let body = decoy_body(ext, r);
        std::fs::write(&path, body).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        out.push(path);
    }
    Ok(out)
}

fn decoy_body(ext: &str, r: u16) -> Vec<u8> {
    match ext {
        "csv" => {
            let mut s = String::from("patient_id,name,birth_date,allergy\n");
            for i in 0..40u32 {
                s.push_str(&format!(
                    "{:08},patient {i},19{:02}-0{}-1{},none\n",
                    u32::from(r) * 100 + i,
                    40 + i,
                    1 + i % 9,
                    i % 10
                ));
            }
            s.into_bytes()
        }
        "pdf" => {
            let text = format!("BT /F1 12 Tf 72 720 Td (Referral {r:04x}) Tj ET");
            format!(
                "%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n3 0 obj\n<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>\nendobj\n4 0 obj\n<< /Length {} >>\nstream\n{text}\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n",
                text.len()
            )
            .into_bytes()
        }
        _ => format!("Handover notes {r:04x}\nWard 3: no changes overnight.\n").into_bytes(),
    }
}

/// Canary findings for one snapshot: any canary modified, deleted or renamed away.
pub fn judge_changes(changes: &TreeChanges) -> Vec<Finding> {
    let touched = changes.modified.iter().map(|p| (p, "modified")).chain(
        changes
            .deleted
            .iter()
            .map(|(p, _)| (p, "deleted or renamed")),
    );
    touched
        .filter(|(p, _)| is_canary_name(p.as_str()))
        .map(|(p, how)| Finding {
            path: p.clone(),
            engine: Engine::Canary,
            score: 1.0,
            reason: format!("canary file {how}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planted_canaries_are_recognised_and_others_are_not() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|source| Error::Io {
            path: PathBuf::new(),
            source,
        })?;
        let paths = plant(dir.path(), 42)?;
        assert_eq!(paths.len(), 3);
        for p in &paths {
            assert!(is_canary_name(p), "{}", p.display());
            assert!(std::fs::metadata(p).is_ok_and(|m| m.len() > 0));
        }
        assert!(!is_canary_name("0000_patient_list_3fa9c1d2.csv"));
        assert!(!is_canary_name("docs/report.csv"));
        Ok(())
    }

    #[test]
    fn deleted_canary_is_a_finding() {
        let name = canary_name("patient_list", "csv", 7);
        let changes = TreeChanges {
            deleted: vec![(format!("a/{name}"), 10)],
            ..TreeChanges::default()
        };
        let f = judge_changes(&changes);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].engine, Engine::Canary);
    }
}
