//! Detection evaluation on a 2,000-file generated hospital tree: detection per attack family at
//! the product bar (1% of files = 20 files) and false alarms per benign workload, as a markdown
//! table. `cargo run --release -p kura-detect --example eval [seeds]`

#[path = "../tests/support/harness.rs"]
mod harness;

use std::collections::BTreeSet;

use harness::{attacks, copy_tree, judge, quiet_baseline, scan, workloads};
use kura_detect::{Baseline, Engine, Judgement, Verdict};

const FILES: usize = 2000;

fn engines(j: &Judgement) -> String {
    let set: BTreeSet<Engine> = j.findings.iter().map(|f| f.engine).collect();
    set.iter()
        .map(|e| format!("{e:?}").to_lowercase())
        .collect::<Vec<_>>()
        .join(", ")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seeds: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(3);
    let baseline = quiet_baseline(FILES as u64);
    println!(
        "Tree: {FILES} files per run, {seeds} seeds per row; baseline learned from 5 quiet days.\n"
    );
    println!(
        "| attack family | files touched | suspicious runs | flagged files (mean) | strong files (mean) | engines |"
    );
    println!("|---|---|---|---|---|---|");
    type Run = Box<dyn Fn(&std::path::Path, u64) -> std::io::Result<Vec<std::path::PathBuf>>>;
    let mut rows: Vec<(String, Run)> = attacks()
        .into_iter()
        .map(|(n, a)| {
            (
                n.to_string(),
                Box::new(move |d: &std::path::Path, s| a(d, s, 0.01)) as Run,
            )
        })
        .collect();
    for n in [1usize, 3] {
        rows.push((
            format!("slow ({n} per snapshot)"),
            Box::new(move |d: &std::path::Path, s| kura_testkit::attack::slow(d, s, n)),
        ));
    }
    for (name, attack) in &rows {
        let (mut hit, mut flagged, mut strong, mut touched) = (0, 0, 0, 0);
        let mut eng = String::new();
        for seed in 0..seeds {
            let dir = tempfile::tempdir()?;
            kura_testkit::tree::hospital_tree(dir.path(), FILES, 1000 + seed)?;
            let before = scan(dir.path())?;
            touched = attack(dir.path(), seed)?.len();
            let after = scan(dir.path())?;
            let (j, _) = judge(&before, &after, &baseline);
            hit += usize::from(j.verdict == Verdict::Suspicious);
            flagged += j.flagged_files;
            strong += j.strong_files;
            eng = engines(&j);
        }
        let s = seeds as f64;
        println!(
            "| {name} | {touched} | {hit}/{seeds} | {:.1} | {:.1} | {eng} |",
            flagged as f64 / s,
            strong as f64 / s
        );
    }
    println!(
        "\n| benign workload | files added / modified / deleted | false alarms | flagged files (mean) | engines |"
    );
    println!("|---|---|---|---|---|");
    for (name, work) in workloads() {
        let (mut alarms, mut flagged, mut runs) = (0, 0, 0);
        let mut counts = String::new();
        let mut eng = String::new();
        for seed in 0..seeds {
            let base = tempfile::tempdir()?;
            kura_testkit::tree::hospital_tree(base.path(), FILES, 2000 + seed)?;
            let before = scan(base.path())?;
            let dir = tempfile::tempdir()?;
            copy_tree(base.path(), dir.path())?;
            work(dir.path(), seed)?;
            let after = scan(dir.path())?;
            for b in [Baseline::default(), baseline.clone()] {
                let (j, c) = judge(&before, &after, &b);
                runs += 1;
                alarms += usize::from(j.verdict == Verdict::Suspicious);
                flagged += j.flagged_files;
                counts = format!(
                    "{} / {} / {}",
                    c.added.len(),
                    c.modified.len(),
                    c.deleted.len()
                );
                eng = engines(&j);
            }
        }
        println!(
            "| {name} | {counts} | {alarms}/{runs} | {:.1} | {eng} |",
            flagged as f64 / runs as f64
        );
    }
    Ok(())
}
