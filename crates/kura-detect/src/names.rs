//! The names engine: renames to unknown extensions, ransom notes, originals replaced by new files.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::{Engine, Finding, TreeChanges};

/// Extensions hospital file servers commonly hold. Anything else is "unknown", which alone means
/// little; combined with a deleted original next to it, it is a rename by an attacker.
const KNOWN_EXT: &[&str] = &[
    "dcm", "dicom", "pdf", "zip", "docx", "xlsx", "pptx", "doc", "xls", "ppt", "rtf", "odt", "ods",
    "jpg", "jpeg", "png", "gif", "bmp", "tif", "tiff", "webp", "heic", "mp4", "avi", "mov", "wav",
    "mp3", "sqlite", "sqlite3", "db", "mdb", "accdb", "hl7", "txt", "csv", "tsv", "sql", "log",
    "xml", "json", "md", "htm", "html", "ini", "cfg", "conf", "bak", "tmp", "dat", "gz", "tgz",
    "7z", "rar", "bz2", "xz", "zst", "tar", "eml", "msg", "p7m", "iso", "exe", "dll", "msi", "bat",
    "ps1", "sh", "py", "js", "css", "lnk", "old", "orig",
];

/// Words in file names of ransom notes (pattern-independent enough: notes must be found and read
/// by people, so they say what they are).
const NOTE_WORDS: &[&str] = &[
    "decrypt",
    "ransom",
    "recover_files",
    "recover-files",
    "restore_files",
    "restore-files",
    "restore_my",
    "recover_my",
    "how_to_recover",
    "how_to_restore",
    "how-to-recover",
    "your_files",
    "yourfiles",
    "files_encrypted",
    "unlock_files",
    "how_to_back",
    "!!!",
];

/// Splits a path into (file name, last extension, inner extension of a double extension).
/// `"a/x.pdf.locked"` → `("x.pdf.locked", Some("locked"), Some("pdf"))`.
pub(crate) fn split_name(path: &str) -> (&str, Option<&str>, Option<&str>) {
    let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
    // A leading dot is a hidden file, not an extension.
    let Some(i) = name.rfind('.').filter(|&i| i > 0 && i + 1 < name.len()) else {
        return (name, None, None);
    };
    let stem = &name[..i];
    let inner = stem
        .rfind('.')
        .filter(|&j| j > 0 && j + 1 < stem.len())
        .map(|j| &stem[j + 1..]);
    (name, Some(&name[i + 1..]), inner)
}

fn dir_of(path: &str) -> &str {
    path.rfind(['/', '\\']).map_or("", |i| &path[..i])
}

fn stem_of(name: &str) -> &str {
    name.rfind('.')
        .filter(|&i| i > 0)
        .map_or(name, |i| &name[..i])
}

/// Whether an extension is one hospitals use.
pub fn is_known_ext(ext: &str) -> bool {
    // Numeric "extensions" come from dotted names such as DICOM UIDs (1.2.840.10008...).
    let e = ext.to_ascii_lowercase();
    e.bytes().all(|b| b.is_ascii_digit()) || KNOWN_EXT.contains(&e.as_str())
}

/// Whether a file name reads like a ransom note.
pub fn is_ransom_note_name(path: &str) -> bool {
    let (name, ext, _) = split_name(path);
    let lower = name.to_ascii_lowercase();
    let texty = ext.is_none_or(|e| {
        matches!(
            e.to_ascii_lowercase().as_str(),
            "txt" | "html" | "htm" | "hta" | "rtf" | "url"
        )
    });
    texty && NOTE_WORDS.iter().any(|w| lower.contains(w))
}

/// A name made of random characters: ≥ 8 letters/digits switching between lower, upper and digit
/// classes often (random base62 switches on ~60% of positions; `IMG00001` once).
fn random_looking(s: &str) -> bool {
    if s.len() < 8 || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let class = |b: u8| {
        if b.is_ascii_digit() {
            0
        } else if b.is_ascii_uppercase() {
            1
        } else {
            2
        }
    };
    let b = s.as_bytes();
    let switches = b.windows(2).filter(|w| class(w[0]) != class(w[1])).count();
    switches * 4 >= s.len()
}

// A new file this much larger or smaller than a deleted one in the same directory still counts as
// its replacement (cipher headers, IVs, appended keys are small).
const SIZE_SLACK: u64 = 1024;

/// Whether the names engine can say anything about a new `path` when nothing was deleted (a
/// first backup): ransom-note names and unknown extensions. Other new files need not be listed.
pub(crate) fn name_matters_alone(path: &str) -> bool {
    is_ransom_note_name(path) || split_name(path).1.is_some_and(|e| !is_known_ext(e))
}

/// The names engine over one snapshot's changes.
pub fn judge_names(changes: &TreeChanges) -> Vec<Finding> {
    let mut out = Vec::new();
    let deleted_names: HashSet<&str> = changes
        .deleted
        .iter()
        .map(|(p, _)| split_name(p).0)
        .collect();
    let deleted_paths: HashSet<&str> = changes.deleted.iter().map(|(p, _)| p.as_str()).collect();
    // dir → sorted (size, stem) of deleted files
    let mut by_dir: HashMap<&str, Vec<(u64, &str)>> = HashMap::new();
    for (p, s) in &changes.deleted {
        by_dir
            .entry(dir_of(p))
            .or_default()
            .push((*s, stem_of(split_name(p).0)));
    }
    for v in by_dir.values_mut() {
        v.sort_unstable();
    }

    // Ransom notes: the same note name in several directories is unmistakable.
    let mut note_dirs: BTreeMap<String, usize> = BTreeMap::new();
    for (p, _) in &changes.added {
        if is_ransom_note_name(p) {
            *note_dirs
                .entry(split_name(p).0.to_ascii_lowercase())
                .or_default() += 1;
        }
    }

    for (path, size) in &changes.added {
        let (name, ext, _) = split_name(path);
        let dir = dir_of(path);
        let mut push = |score: f64, reason: String| {
            out.push(Finding {
                path: path.clone(),
                engine: Engine::Names,
                score,
                reason,
            });
        };
        if is_ransom_note_name(path) {
            let n = note_dirs
                .get(&name.to_ascii_lowercase())
                .copied()
                .unwrap_or(0);
            let score = if n >= 3 { 0.95 } else { 0.6 };
            push(score, format!("ransom-note name ({n} directories)"));
            continue;
        }
        let unknown_ext = ext.is_some_and(|e| !is_known_ext(e));
        if deleted_names.contains(name) && !deleted_paths.contains(path.as_str()) {
            continue; // moved to another folder under the same name
        }
        // "x.pdf" deleted, "x.pdf.locked" added: an appended extension.
        let stem = stem_of(name);
        let appended =
            ext.is_some_and(|e| deleted_paths.contains(&path[..path.len() - e.len() - 1]));
        if appended {
            let score = if unknown_ext { 0.85 } else { 0.5 };
            push(
                score,
                format!("original renamed by appending .{}", ext.unwrap_or_default()),
            );
            continue;
        }
        let deleted_here = by_dir.get(dir);
        // Same stem, extension swapped ("x.pdf" → "x.crypt").
        if unknown_ext && deleted_here.is_some_and(|v| v.iter().any(|(_, s)| *s == stem)) {
            push(
                0.85,
                format!("extension changed to unknown .{}", ext.unwrap_or_default()),
            );
            continue;
        }
        // An original of about the same size deleted beside it: a replacement.
        let replaces = deleted_here.is_some_and(|v| {
            let lo = size.saturating_sub(SIZE_SLACK);
            let i = v.partition_point(|(s, _)| *s < lo);
            v.get(i).is_some_and(|(s, _)| *s <= size + SIZE_SLACK)
        });
        if replaces {
            if unknown_ext {
                push(
                    0.7,
                    format!(
                        "same-sized original deleted; new file has unknown .{}",
                        ext.unwrap_or_default()
                    ),
                );
            } else if random_looking(stem) {
                push(
                    0.6,
                    "same-sized original deleted; new file has a random name".into(),
                );
            } else {
                // Ordinary renames (SS-MIX2 `_1` → `_2`, reorganisations) look like this too.
                push(0.2, "same-sized original deleted beside it".into());
            }
        } else if unknown_ext {
            let score = if ext.is_some_and(random_looking) {
                0.35
            } else {
                0.25
            };
            push(
                score,
                format!(
                    "new file with unknown extension .{}",
                    ext.unwrap_or_default()
                ),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(added: &[(&str, u64)], deleted: &[(&str, u64)]) -> TreeChanges {
        TreeChanges {
            added: added.iter().map(|(p, s)| ((*p).to_owned(), *s)).collect(),
            deleted: deleted.iter().map(|(p, s)| ((*p).to_owned(), *s)).collect(),
            modified: vec![],
            unchanged: 100,
        }
    }

    #[test]
    fn split_name_handles_double_and_no_extension() {
        assert_eq!(
            split_name("a/x.pdf.locked"),
            ("x.pdf.locked", Some("locked"), Some("pdf"))
        );
        assert_eq!(split_name("a/x.pdf"), ("x.pdf", Some("pdf"), None));
        assert_eq!(
            split_name("a/123_20240101_OMP-01_1"),
            ("123_20240101_OMP-01_1", None, None)
        );
        assert_eq!(split_name(".bashrc"), (".bashrc", None, None));
    }

    #[test]
    fn appended_unknown_extension_is_strong_and_move_is_silent() {
        let f = judge_names(&ch(&[("d/x.pdf.qz7k1", 1000)], &[("d/x.pdf", 1000)]));
        assert!(f.iter().any(|f| f.score >= 0.85), "{f:?}");
        let f = judge_names(&ch(&[("e/x.pdf", 1000)], &[("d/x.pdf", 1000)]));
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn notes_in_many_dirs_are_strong() {
        let f = judge_names(&ch(
            &[
                ("a/HOW_TO_DECRYPT.txt", 9),
                ("b/HOW_TO_DECRYPT.txt", 9),
                ("c/HOW_TO_DECRYPT.txt", 9),
            ],
            &[],
        ));
        assert_eq!(f.len(), 3);
        assert!(f.iter().all(|f| f.score >= 0.95));
        assert!(!is_ransom_note_name("docs/README.txt"));
    }

    #[test]
    fn random_names_are_told_from_ordinary_ones() {
        assert!(random_looking("aZ3kQ9mB1x"));
        assert!(!random_looking("IMG00001"));
        assert!(!random_looking("scan0001"));
    }
}
