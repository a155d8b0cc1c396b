//! Combining all engines' findings into a snapshot verdict.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{
    Baseline, ChangeCounts, Engine, Finding, TreeChanges, canary, judge_names, judge_rate,
};

/// `n` and `noun`, plural unless `n` is 1 ("1 file", "2 canary files").
fn files(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The snapshot verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// No rule fired.
    Clean,
    /// At least one rule fired: quarantine and alert.
    Suspicious,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Clean => "clean",
            Verdict::Suspicious => "suspicious",
        })
    }
}

/// The thresholds of [`judge_snapshot`], in one place.
pub mod thresholds {
    /// A file whose combined score reaches this is *flagged*.
    pub const FLAG: f64 = 0.5;
    /// A file whose combined score reaches this is *strong* evidence.
    pub const STRONG: f64 = 0.8;
    /// A file reaching this, with two engines ≥ [`FLAG`] of which one is format or content, is
    /// *confirmed*: one is enough (slow encryption of a few files per day).
    pub const CONFIRMED: f64 = 0.95;
    /// Flagged files needed: min([`FLAGGED_ABS`], max([`FLAGGED_MIN`], ⌈[`FLAGGED_SHARE`] × files⌉)),
    /// i.e. half the product bar (1% or 20 files), so an attack is caught even if half of the
    /// files it touched slip past every engine.
    pub const FLAGGED_ABS: u64 = 10;
    /// See [`FLAGGED_ABS`].
    pub const FLAGGED_SHARE: f64 = 0.005;
    /// See [`FLAGGED_ABS`].
    pub const FLAGGED_MIN: u64 = 2;
    /// Strong files that make a snapshot suspicious on their own.
    pub const STRONG_FILES: u64 = 2;
}

/// A snapshot's verdict with its evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    /// Clean or suspicious.
    pub verdict: Verdict,
    /// 0..=1: how far the evidence is toward the nearest rule; 1 means a rule fired.
    pub score: f64,
    /// Every finding, highest score first.
    pub findings: Vec<Finding>,
    /// Files with combined score ≥ [`thresholds::FLAG`].
    pub flagged_files: u64,
    /// Files with combined score ≥ [`thresholds::STRONG`].
    pub strong_files: u64,
    /// The rules that fired, for people.
    pub reasons: Vec<String>,
}

/// Combines per-file findings (from [`crate::judge_file`]) with the names, rate and canary engines
/// run here over `changes`, into a verdict.
///
/// Per file, the strongest finding of each engine is combined as independent evidence
/// (1 − Π(1 − sᵢ)). The snapshot is suspicious when any of these holds:
/// 1. a canary was touched;
/// 2. flagged files ≥ min(10, max(2, ⌈0.5% of files⌉));
/// 3. strong files ≥ 2;
/// 4. one confirmed file (score ≥ 0.95 from two engines, one of them format or content);
/// 5. the rate engine fired and at least one file is strong.
pub fn judge_snapshot(
    file_findings: Vec<Finding>,
    changes: &TreeChanges,
    baseline: &Baseline,
) -> Judgement {
    judge_counted(
        file_findings,
        changes,
        ChangeCounts::from(changes),
        baseline,
    )
}

/// [`judge_snapshot`] with the counts given apart from `changes` (which may then list only the
/// new files the names engine needs; see [`crate::Profiles::judge_alone`]).
pub(crate) fn judge_counted(
    file_findings: Vec<Finding>,
    changes: &TreeChanges,
    counts: ChangeCounts,
    baseline: &Baseline,
) -> Judgement {
    use thresholds::*;
    let mut findings = file_findings;
    findings.extend(judge_names(changes));
    findings.extend(canary::judge_changes(changes));
    let rate = judge_rate(&counts, baseline);
    let rate_fired = !rate.is_empty();
    findings.extend(rate);

    // path → engine → strongest score
    let mut per_path: BTreeMap<&str, BTreeMap<Engine, f64>> = BTreeMap::new();
    for f in findings.iter().filter(|f| !f.path.is_empty()) {
        let s = per_path
            .entry(&f.path)
            .or_default()
            .entry(f.engine)
            .or_insert(0.0);
        *s = s.max(f.score.clamp(0.0, 1.0));
    }
    let mut flagged = 0u64;
    let mut strong = 0u64;
    let mut confirmed = 0u64;
    for engines in per_path.values() {
        let score = combine(engines.values().copied());
        flagged += u64::from(score >= FLAG);
        strong += u64::from(score >= STRONG);
        let agreeing = engines.values().filter(|&&s| s >= FLAG).count();
        let core = engines
            .iter()
            .any(|(e, &s)| matches!(e, Engine::Format | Engine::Content) && s >= FLAG);
        confirmed += u64::from(score >= CONFIRMED && agreeing >= 2 && core);
    }
    // Distinct canary files: one touched canary can be found by more than one rule.
    let canaries = findings
        .iter()
        .filter(|f| f.engine == Engine::Canary)
        .map(|f| f.path.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len();

    let need =
        FLAGGED_ABS.min(FLAGGED_MIN.max((FLAGGED_SHARE * counts.files as f64).ceil() as u64));
    let mut reasons = Vec::new();
    if canaries > 0 {
        reasons.push(format!("{} touched", files(canaries as u64, "canary file")));
    }
    if flagged >= need {
        reasons.push(format!("{} flagged (limit {need})", files(flagged, "file")));
    }
    if strong >= STRONG_FILES {
        reasons.push(format!("{} with strong evidence", files(strong, "file")));
    }
    if confirmed > 0 {
        reasons.push(format!(
            "{} confirmed encrypted or destroyed",
            files(confirmed, "file")
        ));
    }
    if rate_fired && strong > 0 {
        reasons.push("unusual change rate with strong per-file evidence".into());
    }
    let verdict = if reasons.is_empty() {
        Verdict::Clean
    } else {
        Verdict::Suspicious
    };
    let score = if reasons.is_empty() {
        (flagged as f64 / need as f64)
            .max(strong as f64 / STRONG_FILES as f64)
            .min(0.99)
    } else {
        1.0
    };
    findings.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.path.cmp(&b.path))
    });
    Judgement {
        verdict,
        score,
        findings,
        flagged_files: flagged,
        strong_files: strong,
        reasons,
    }
}

/// Combined score of independent pieces of evidence.
pub(crate) fn combine(scores: impl IntoIterator<Item = f64>) -> f64 {
    1.0 - scores
        .into_iter()
        .map(|s| 1.0 - s.clamp(0.0, 1.0))
        .product::<f64>()
}

/// Combined score of one file's findings (strongest per engine), as [`judge_snapshot`] uses it.
pub fn file_score(findings: &[Finding]) -> f64 {
    let mut best: BTreeMap<Engine, f64> = BTreeMap::new();
    for f in findings {
        let s = best.entry(f.engine).or_insert(0.0);
        *s = s.max(f.score);
    }
    combine(best.into_values())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(path: &str, engine: Engine, score: f64) -> Finding {
        Finding {
            path: path.into(),
            engine,
            score,
            reason: String::new(),
        }
    }

    fn changes(files: u64) -> TreeChanges {
        TreeChanges {
            unchanged: files,
            ..TreeChanges::default()
        }
    }

    #[test]
    fn nothing_is_clean() {
        let j = judge_snapshot(vec![], &changes(1000), &Baseline::default());
        assert_eq!(j.verdict, Verdict::Clean);
        assert_eq!(j.score, 0.0);
    }

    #[test]
    fn one_confirmed_file_is_suspicious_but_one_weak_is_not() {
        let weak = vec![finding("a", Engine::Similarity, 0.6)];
        assert_eq!(
            judge_snapshot(weak, &changes(10_000), &Baseline::default()).verdict,
            Verdict::Clean
        );
        let confirmed = vec![
            finding("a", Engine::Format, 0.9),
            finding("a", Engine::Content, 0.7),
        ];
        let j = judge_snapshot(confirmed, &changes(10_000), &Baseline::default());
        assert_eq!(j.verdict, Verdict::Suspicious, "{j:?}");
    }

    #[test]
    fn flagged_share_threshold_is_half_the_product_bar() {
        let f: Vec<Finding> = (0..9)
            .map(|i| finding(&format!("f{i}"), Engine::Similarity, 0.6))
            .collect();
        let j = judge_snapshot(f.clone(), &changes(100_000), &Baseline::default());
        assert_eq!(j.verdict, Verdict::Clean);
        let mut f = f;
        f.push(finding("f9", Engine::Similarity, 0.6));
        assert_eq!(
            judge_snapshot(f, &changes(100_000), &Baseline::default()).verdict,
            Verdict::Suspicious
        );
    }

    #[test]
    fn verdict_serializes_lowercase() {
        assert_eq!(
            serde_json::to_string(&Verdict::Suspicious).unwrap_or_default(),
            "\"suspicious\""
        );
        assert_eq!(Verdict::Suspicious.to_string(), "suspicious");
    }
}
