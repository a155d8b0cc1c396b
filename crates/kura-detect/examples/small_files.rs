//! Per-file cost of detection on many small files, as a first backup pays it:
//! `cargo run --release -p kura-detect --example small_files [FILES]`.
//!
//! Builds SS-MIX2-like HL7 messages of 1.5-6.8 KiB in memory (the shape of `bench/gen_small.py`),
//! then times, per file: the profile alone (`Profiler::new`, `update`, `finish`), the profile
//! without the similarity sketch, and the whole detection sink of a first backup (the profile
//! plus `Profiles::add` judging it alone), with a sketched profile as before and with the
//! store's own profiler (`Profiles::profiler`: no sketch when judging alone).
//! Prints CPU nanoseconds per file (this thread's, from `/proc/thread-self/schedstat`), the best
//! of five rounds.

use kura_detect::{Profiler, Profiles};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// CPU time of this thread so far, in seconds (the machine is shared: wall time is not).
fn cpu_secs() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |ns| ns / 1e9)
}

fn messages(files: usize) -> Vec<Vec<u8>> {
    let mut rng = ChaCha8Rng::seed_from_u64(20_261_201);
    let mut next = move || rng.random::<u32>();
    let segments: [&str; 8] = [
        "PID|||{}^^^^PI||YAMADA^TARO||19580312|M",
        "PV1||O|01^^^^^C",
        "OBX|{}|NM|3094-0^BUN||{}|mg/dL",
        "OBX|{}|NM|2160-0^Creatinine||1.{}|mg/dL",
        "ORC|NW|{}",
        "AL1|1|DA|{}^penicillin",
        "NTE|1||\x1b$B{}\x1b(B follow-up",
        "RXE||{}^amlodipine^HOT|5||mg",
    ];
    (0..files)
        .map(|i| {
            let target = 1500 + (next() as usize % 5300);
            let mut m = format!("MSH|^~\\&|HIS|CLINIC|||202612011200||OMP^O09|{i}|P|2.5\r");
            while m.len() < target {
                let seg = segments[next() as usize % segments.len()];
                let mut parts = seg.split("{}");
                m.push_str(parts.next().unwrap_or_default());
                for p in parts {
                    m.push_str(&(next() % 999_999).to_string());
                    m.push_str(p);
                }
                m.push('\r');
            }
            m.into_bytes()
        })
        .collect()
}

fn best_of(rounds: usize, mut f: impl FnMut() -> u64) -> f64 {
    let mut best = f64::MAX;
    let mut sink = 0u64;
    for _ in 0..rounds {
        let t = cpu_secs();
        sink = sink.wrapping_add(f());
        best = best.min(cpu_secs() - t);
    }
    assert!(sink > 0);
    best
}

fn main() {
    let files: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(50_000);
    let data = messages(files);
    let paths: Vec<String> = (0..files)
        .map(|i| {
            format!(
                "srv/ssmix2/{:03}/{:03}/{i}/20261201/OMP-01/{i}_OMP-01_{i:08}_1.hl7",
                i % 1000,
                i / 1000 % 1000
            )
        })
        .collect();
    let bytes: usize = data.iter().map(Vec::len).sum();
    println!("{files} HL7 messages, {} bytes on average", bytes / files);
    let profile = best_of(5, || {
        let mut n = 0;
        for d in &data {
            let mut p = Profiler::new("f");
            p.update(d);
            n += p.finish().size;
        }
        n
    });
    let unsketched = best_of(5, || {
        let mut n = 0;
        for d in &data {
            let mut p = Profiler::without_sketch();
            p.update(d);
            n += p.finish().size;
        }
        n
    });
    // The first-backup sink as it was (a sketched profile, judged alone) and as it is (the
    // store's own profiler: no sketch when judging alone).
    let sink_sketched = best_of(5, || {
        let profiles = Profiles::judge_alone();
        for (d, path) in data.iter().zip(&paths) {
            let mut p = Profiler::new(path);
            p.update(d);
            profiles.add(path.clone(), p.finish());
        }
        profiles.take().alone.files
    });
    let sink = best_of(5, || {
        let profiles = Profiles::judge_alone();
        for (d, path) in data.iter().zip(&paths) {
            let mut p = profiles.profiler(path);
            p.update(d);
            profiles.add(path.clone(), p.finish());
        }
        profiles.take().alone.files
    });
    let per = |s: f64| s * 1e9 / files as f64;
    println!("| step | ns per file | MB/s |\n|---|---|---|");
    println!(
        "| profile | {:.0} | {:.0} |",
        per(profile),
        bytes as f64 / profile / 1e6
    );
    println!(
        "| profile without the sketch | {:.0} | {:.0} |",
        per(unsketched),
        bytes as f64 / unsketched / 1e6
    );
    println!(
        "| sketched profile + judge alone (first backup sink before) | {:.0} | {:.0} |",
        per(sink_sketched),
        bytes as f64 / sink_sketched / 1e6
    );
    println!(
        "| `Profiles::profiler` + judge alone (first backup sink) | {:.0} | {:.0} |",
        per(sink),
        bytes as f64 / sink / 1e6
    );
}
