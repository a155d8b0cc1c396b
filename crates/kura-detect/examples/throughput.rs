//! Measures `Profiler::update` throughput: `cargo run --release -p kura-detect --example throughput`.
//!
//! Prints MB/s for one large file (histogram; the sketch stops after 1 MiB) and for many 32 KiB
//! files (sketch over every byte), on random and on text-like data. The budget is ≥ 1,000 MB/s
//! per core on large buffers.

use std::time::Instant;

use kura_detect::Profiler;

fn data(n: usize, text: bool) -> Vec<u8> {
    let mut bytes = kura_testkit::noise::incompressible(0x2545_f491_4f6c_dd1d, n);
    if text {
        for b in &mut bytes {
            *b = b"abcdefghijklmnopqrstuvwxyz ,.\n0123"[*b as usize % 34];
        }
    }
    bytes
}

fn run(label: &str, buf: &[u8], file_size: usize, rounds: usize) {
    let start = Instant::now();
    let mut sink = 0u64;
    for _ in 0..rounds {
        for file in buf.chunks(file_size) {
            let mut p = Profiler::new("f");
            for piece in file.chunks(1 << 20) {
                p.update(piece);
            }
            sink = sink.wrapping_add(p.finish().size);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let mb = (buf.len() * rounds) as f64 / 1e6;
    println!("| {label} | {:.0} MB/s |", mb / secs);
    assert!(sink > 0);
}

fn main() {
    let n = 256 << 20;
    println!("| case | Profiler::update |\n|---|---|");
    for text in [false, true] {
        let kind = if text { "text" } else { "random" };
        let buf = data(n, text);
        run(&format!("one 256 MiB file, {kind}"), &buf, n, 4);
        run(&format!("32 KiB files, {kind}"), &buf, 32 << 10, 1);
    }
}
