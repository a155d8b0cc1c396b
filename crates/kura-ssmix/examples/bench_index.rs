//! Index-build and search-latency benchmark on generated SS-MIX2 messages (in memory).
//!
//! `cargo run --release -p kura-ssmix --example bench_index -- 10000`

use std::time::{Duration, Instant};

use kura_ssmix::PatientIndex;
use kura_testkit::ssmix::generate_patient;

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
    let rss0 = rss_mib();
    let mut index = PatientIndex::new();
    let mut files = 0usize;
    let mut bytes = 0usize;
    let mut gen_time = Duration::ZERO;
    let mut queries = Vec::new();
    let t0 = Instant::now();
    for i in 0..n {
        let g = Instant::now();
        let (fs, truth) = generate_patient(1, i);
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
