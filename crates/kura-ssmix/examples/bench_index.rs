//! Index-build and search-latency benchmark on generated SS-MIX2 messages (in memory).
//!
//! `cargo run --release -p kura-ssmix --example bench_index -- 10000 [spec]`
//!
//! With `spec`, each patient also gets the SS-MIX2 specification's example messages
//! (`kura_testkit::ssmix::spec_storage`, refiled under the patient's ID): real message shapes
//! (RDE^O11 with RXC, OUL^R22, PPR^ZD1, IAM), PID-3 values that differ from the storage path,
//! a misfiled and an unreadable file, so the per-patient notices are measured too.

use std::time::{Duration, Instant};

use kura_ssmix::PatientIndex;
use kura_testkit::ssmix::{SPEC_PATIENT_ID, SsmixFile, generate_patient, spec_storage};

/// The spec-example files refiled under patient `id` (directories and file name).
fn refiled(spec: &[SsmixFile], id: &str) -> Vec<SsmixFile> {
    let from_dir = format!(
        "{}/{}/{SPEC_PATIENT_ID}/",
        &SPEC_PATIENT_ID[..3],
        &SPEC_PATIENT_ID[3..6]
    );
    let to_dir = format!("{}/{}/{id}/", &id[..3], &id[3..6]);
    spec.iter()
        .map(|f| SsmixFile {
            path: f
                .path
                .replace(&from_dir, &to_dir)
                .replace(&format!("/{SPEC_PATIENT_ID}_"), &format!("/{id}_")),
            bytes: f.bytes.clone(),
        })
        .collect()
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let spec = (std::env::args().nth(2).as_deref() == Some("spec")).then(|| spec_storage().0);
    let rss0 = rss_mib();
    let mut index = PatientIndex::new();
    let mut files = 0usize;
    let mut bytes = 0usize;
    let mut gen_time = Duration::ZERO;
    let mut queries = Vec::new();
    let t0 = Instant::now();
    for i in 0..n {
        let g = Instant::now();
        let (mut fs, truth) = generate_patient(1, i);
        if let Some(spec) = &spec {
            fs.extend(refiled(spec, &truth.id));
        }
        gen_time += g.elapsed();
        for f in &fs {
            files += 1;
            bytes += f.bytes.len();
            let _ = index.add_file(&f.path, &f.bytes);
        }
        if i % (n / 300).max(1) == 0 {
            queries.push(truth.name_hiragana.clone());
            queries.push(
                truth
                    .name_kanji
                    .split('\u{3000}')
                    .next()
                    .unwrap_or("")
                    .to_string(),
            );
            queries.push(truth.id[..7].to_string());
        }
    }
    index.shrink_to_fit();
    let index_time = t0.elapsed() - gen_time;
    // Worst case: no match, so every name key is scanned.
    queries.extend(["該当なし", "ゾゾゾ", "xyz"].map(String::from));
    let rss1 = rss_mib();

    let mut lat = Vec::new();
    let mut found = 0;
    for q in &queries {
        let t = Instant::now();
        found += index.search(q, 100).len();
        lat.push(t.elapsed());
    }
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p) as usize];
    let s = index.stats();
    println!("patients            {}", s.patients);
    println!(
        "files / bytes       {files} / {:.1} MiB",
        bytes as f64 / 1048576.0
    );
    println!("entries / strings   {} / {}", s.entries, s.distinct_strings);
    println!(
        "skipped / PID-3 differs / misfiled  {} / {} / {}",
        s.files_skipped, s.id_mismatches, s.misfiled
    );
    println!(
        "index time          {:.2?} ({:.0} files/s, excluding generation {:.2?})",
        index_time,
        files as f64 / index_time.as_secs_f64(),
        gen_time
    );
    println!("RSS growth          {:.1} MiB", rss1 - rss0);
    println!("search queries      {} (hits {found})", lat.len());
    println!(
        "search median/p99   {:.2?} / {:.2?} (max {:.2?})",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
}
