//! Headless Chromium (Debian's `chromium`) for the viewer's end-to-end tests: one runner with the
//! flags this closed network needs, a DOM dump, percent-encoding and the artifacts folder.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::tools::{available_or_skip, on_path};

/// Whether Chromium can run (see [`crate::tools::available_or_skip`] for the missing case).
pub fn chromium_available(test: &str) -> bool {
    available_or_skip(
        on_path("chromium"),
        &format!("{test} (headless chromium)"),
        "apt-get install chromium",
    )
}

/// Runs Chromium headless with a fresh profile, bounded by coreutils `timeout`; panics when it
/// fails. Without the background-networking flags Chromium keeps dialling out of this closed
/// network.
pub fn chromium(profile: &Path, args: &[&str]) -> Output {
    let out = Command::new("timeout")
        .args(["--kill-after=10", "90", "chromium"])
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--lang=ja",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("cannot run timeout/chromium");
    assert!(
        out.status.success(),
        "chromium {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The page's DOM after load, as Chromium serialises it.
pub fn dump_dom(profile: &Path, url: &str) -> String {
    String::from_utf8_lossy(&chromium(profile, &["--dump-dom", url]).stdout).into_owned()
}

/// `target/test-artifacts/` of the workspace (created), where screenshots are kept.
pub fn artifacts_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts");
    std::fs::create_dir_all(&dir).expect("create target/test-artifacts");
    dir
}

/// Percent-encodes everything but RFC 3986 unreserved characters (for query strings in tests).
pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn percent_encode_keeps_unreserved_and_encodes_utf8() {
        assert_eq!(super::percent_encode("a-b.c_~"), "a-b.c_~");
        assert_eq!(super::percent_encode("あ b"), "%E3%81%82%20b");
    }
}
