//! Per-file engines: content (entropy, chi-square), format validity and similarity.

use crate::canary;
use crate::format::Format;
use crate::names::split_name;
use crate::profile::FileProfile;
use crate::sketch::{SKETCH_LIMIT, similarity};
use crate::{Engine, Finding};

/// Judges one file against its previous version (`None` for a file new to this snapshot, which
/// includes files renamed by an attacker). Returns no findings for an ordinary change.
pub fn judge_file(path: &str, prev: Option<&FileProfile>, cur: &FileProfile) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut push = |engine, score: f64, reason: String| {
        out.push(Finding {
            path: path.to_owned(),
            engine,
            score,
            reason,
        });
    };
    if let Some(p) = prev
        && p != cur
        && canary::is_canary_name(path)
    {
        push(Engine::Canary, 1.0, "canary file changed".into());
    }
    match prev {
        Some(p) => compare(p, cur, &mut push),
        None => judge_new(path, cur, &mut push),
    }
    out
}

fn compare(p: &FileProfile, c: &FileProfile, push: &mut impl FnMut(Engine, f64, String)) {
    // Wiping: the same file, now (almost) all zeros.
    if c.size >= 64 && c.zero_share >= 0.95 && p.zero_share < 0.5 {
        push(
            Engine::Content,
            0.95,
            format!(
                "overwritten with zeros ({:.0}% zero bytes)",
                c.zero_share * 100.0
            ),
        );
    }

    // Format validity.
    if p.valid && p.format.is_structured() && c.format != p.format {
        if c.format.is_structured() && c.valid {
            push(
                Engine::Format,
                0.4,
                format!("was a valid {:?}, now a valid {:?}", p.format, c.format),
            );
        } else {
            push(
                Engine::Format,
                0.9,
                format!(
                    "was a valid {:?}, now {:?} (magic bytes gone)",
                    p.format, c.format
                ),
            );
        }
    } else if p.valid && p.format.is_structured() && c.format == p.format && !c.valid {
        // Magic kept but trailer or header fields broken: header-preserving encryption, or a
        // file caught mid-write, so only medium strength on its own.
        push(
            Engine::Format,
            0.6,
            format!("{:?} magic kept but structure broken", c.format),
        );
    } else if p.format == Format::Text && c.format == Format::Unknown && c.size > 0 {
        push(Engine::Format, 0.9, "was text, now binary".into());
    }

    // Content: entropy against the file's own previous version.
    let delta = f64::from(c.entropy - p.entropy);
    if delta >= 0.8 && c.entropy >= 5.5 {
        let score = (0.4 + 0.25 * delta).min(0.9);
        push(
            Engine::Content,
            score,
            format!("entropy rose {:.2} → {:.2} bits/byte", p.entropy, c.entropy),
        );
    }
    if c.looks_random() && !p.looks_random() && p.size >= 4096 {
        // Formats that are already compressed do reach 7.9+ bits/byte, but not a uniform
        // distribution; alone this is weak (a PDF can be re-saved encrypted by its owner).
        // A structured file that lost its structure and became uniform is encrypted; one that
        // kept a valid structure may have been encrypted by its owner (password-protected PDF).
        let score = if c.valid && c.format == p.format {
            0.45
        } else {
            0.6
        };
        push(
            Engine::Content,
            score,
            format!(
                "byte distribution became uniform (χ² {:.0} → {:.0})",
                p.chi, c.chi
            ),
        );
    }
    if c.base64_like && !p.base64_like {
        push(
            Engine::Content,
            0.7,
            "content became base64-like (even use of the 64 symbols)".into(),
        );
    }

    // Similarity: a changed file sharing nothing with its previous version. Compared only when
    // the sketched lengths are within 2× (a file that grew a lot legitimately drowns its old
    // chunks). Compressed formats re-saved by their application legitimately share nothing,
    // so that case stays weak. The previous version needs enough chunks to be a baseline; the
    // current one only needs to have been sketched: a small file (a few hundred bytes, a few
    // chunks) encrypted almost whole can come out with fewer than four chunks, and encrypting
    // more of a file must never take a finding away.
    let (ps, cs) = (p.size.min(SKETCH_LIMIT), c.size.min(SKETCH_LIMIT));
    if p.sketch.len() >= 4 && !c.sketch.is_empty() && cs <= 2 * ps && ps <= 2 * cs {
        let common = p
            .sketch
            .iter()
            .filter(|x| c.sketch.binary_search(x).is_ok())
            .count();
        if common == 0 {
            let score = if p.entropy < 7.0 { 0.6 } else { 0.3 };
            let s = similarity(&p.sketch, &c.sketch);
            push(
                Engine::Similarity,
                score,
                format!("shares nothing with its previous version (similarity {s:.2})"),
            );
        }
    }
}

fn judge_new(path: &str, c: &FileProfile, push: &mut impl FnMut(Engine, f64, String)) {
    let (_, ext, inner) = split_name(path);
    // The extension, or for "x.pdf.locked" the inner one, promises a format.
    let promised = ext
        .and_then(Format::expected_from_ext)
        .map(|f| (f, ext.unwrap_or_default()))
        .or_else(|| inner.and_then(|i| Format::expected_from_ext(i).map(|f| (f, i))));
    if let Some((want, e)) = promised
        && c.size > 0
    {
        if c.format != want && !(want == Format::Text && c.format == Format::Hl7) {
            push(
                Engine::Format,
                0.7,
                format!("named .{e} but content is {:?}", c.format),
            );
        } else if !c.valid {
            push(
                Engine::Format,
                0.3,
                format!("{want:?} with broken structure"),
            );
        }
    }
    // Vendor software keeps many legitimately random files (.bin, .dat, encrypted archives);
    // a new one alone is weak evidence, so that together with an unusual extension it stays
    // below the flag threshold. Encrypted copies of deleted originals are the names engine's.
    if c.format == Format::Unknown && c.looks_random() {
        push(
            Engine::Content,
            0.2,
            "new file of unknown format with uniformly random bytes".into(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(n: usize) -> Vec<u8> {
        let mut v = Vec::new();
        let mut i = 0u32;
        while v.len() < n {
            v.extend_from_slice(
                format!("{i},yamada taro,allergy penicillin,{}\n", i * 7 % 13).as_bytes(),
            );
            i += 1;
        }
        v
    }

    fn noise(n: usize) -> Vec<u8> {
        kura_testkit::noise::incompressible(88172645463325252, n)
    }

    fn max_score(f: &[Finding]) -> f64 {
        f.iter().map(|f| f.score).fold(0.0, f64::max)
    }

    #[test]
    fn unchanged_file_has_no_findings() {
        let p = FileProfile::of(&text(10_000));
        assert!(judge_file("a.csv", Some(&p), &p).is_empty());
    }

    #[test]
    fn encrypted_text_is_caught_by_three_engines() {
        let p = FileProfile::of(&text(10_000));
        let c = FileProfile::of(&noise(10_000));
        let f = judge_file("a.csv", Some(&p), &c);
        for e in [Engine::Format, Engine::Content, Engine::Similarity] {
            assert!(f.iter().any(|x| x.engine == e), "{e:?} missing in {f:?}");
        }
    }

    #[test]
    fn new_file_named_pdf_with_random_content_is_a_format_finding() {
        let c = FileProfile::of(&noise(10_000));
        let f = judge_file("scan.pdf.x7k2q", None, &c);
        assert!(
            f.iter()
                .any(|x| x.engine == Engine::Format && x.score >= 0.7),
            "{f:?}"
        );
        let ok = FileProfile::of(b"%PDF-1.4\n...\n%%EOF\n");
        assert!(judge_file("new.pdf", None, &ok).is_empty());
    }

    #[test]
    fn wiped_file_is_strong() {
        let p = FileProfile::of(&text(10_000));
        let c = FileProfile::of(&[0u8; 10_000]);
        assert!(max_score(&judge_file("a.csv", Some(&p), &c)) >= 0.9);
    }
}
