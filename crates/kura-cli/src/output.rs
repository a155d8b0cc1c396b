//! The output layer: a command returns a typed result ([`Render`]), printed here as one JSON
//! document on stdout with --json, else as text for people. Long-running commands (`guard
//! watch`, `serve`) stream typed records instead: [`Printer::event`] writes each as one JSON
//! line, or as its text, at once.

use anyhow::Result;
use serde::Serialize;

/// Where results go, by the global flags: JSON, or text (summaries left out with -q).
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    json: bool,
    quiet: bool,
}

impl Printer {
    pub fn new(json: bool, quiet: bool) -> Self {
        Printer { json, quiet }
    }

    /// A line of the result itself (a table row, a list entry): printed in text mode even
    /// with -q, since it is what was asked for.
    pub fn line(&self, text: impl AsRef<str>) {
        if !self.json {
            println!("{}", text.as_ref());
        }
    }

    /// A summary line for people, left out with -q.
    pub fn say(&self, text: impl AsRef<str>) {
        if !self.json && !self.quiet {
            println!("{}", text.as_ref());
        }
    }

    /// A line about the run rather than its result (a guard's report, a warning): on stderr,
    /// in text mode only (with --json the same record is a JSON line on stdout).
    pub fn notice(&self, text: impl AsRef<str>) {
        if !self.json {
            eprintln!("{}", text.as_ref());
        }
    }

    /// Print one record of a stream (a long-running command's event) and flush it, so a
    /// reader sees it at once: one JSON object on one line of stdout with --json, else its text.
    pub fn event(&self, record: &impl Render) -> Result<()> {
        use std::io::Write;
        if self.json {
            let line = serde_json::to_string(record)?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{line}")?;
            out.flush()?;
        } else {
            record.text(self);
            std::io::stdout().flush()?;
        }
        Ok(())
    }

    /// Print a command's result: as JSON with --json, else its text.
    pub fn emit(&self, result: &impl Render) -> Result<()> {
        if self.json {
            json(result)
        } else {
            result.text(self);
            Ok(())
        }
    }
}

/// A command's typed result. Its `Serialize` form is the `--json` document (field order as
/// declared: results that replaced `json!` maps declare their fields alphabetically, as those
/// maps printed them, or are wrapped in [`Sorted`] when they merge or nest other types' fields);
/// `text` writes the same result for people.
pub trait Render: Serialize {
    /// Write the result for people through `p` (warnings and errors go to stderr).
    fn text(&self, p: &Printer);
}

/// A result whose JSON document has its keys sorted at every level, as the `json!` maps it
/// replaced printed them: for results that merge another type's fields (`#[serde(flatten)]`),
/// whose declared order cannot be alphabetical.
#[derive(Serialize)]
#[serde(transparent)]
pub struct Sorted<T: Serialize>(#[serde(serialize_with = "sorted")] pub T);

impl<T: Render> Render for Sorted<T> {
    fn text(&self, p: &Printer) {
        self.0.text(p);
    }
}

fn sorted<T: Serialize, S: serde::Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    serde_json::to_value(value)
        .map_err(serde::ser::Error::custom)?
        .serialize(s)
}

/// Print `value` as one JSON document.
pub fn json<T: Serialize>(value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    println!("{text}");
    Ok(())
}

/// A snapshot time (RFC 3339, UTC) in the machine's time zone, to the second, for people.
pub fn local_time(rfc3339: &str) -> String {
    match rfc3339.parse::<jiff::Timestamp>() {
        Ok(t) => t
            .to_zoned(jiff::tz::TimeZone::system())
            .strftime("%Y-%m-%d %H:%M:%S %Z")
            .to_string(),
        Err(_) => rfc3339.to_string(),
    }
}

/// `n` and the noun, in the plural unless `n` is 1 ("1 snapshot", "2 snapshots").
pub fn count(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    match (n, noun.strip_suffix('y')) {
        (1, _) => format!("{n} {noun}"),
        (_, Some(stem)) if !stem.ends_with(['a', 'e', 'o', 'u']) => format!("{n} {stem}ies"),
        _ if noun.ends_with('s') || noun.ends_with("sh") || noun.ends_with("ch") => {
            format!("{n} {noun}es")
        }
        _ => format!("{n} {noun}s"),
    }
}

/// Bytes for humans.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn bytes_are_human() {
        assert_eq!(super::bytes(12), "12 B");
        assert_eq!(super::bytes(1536), "1.5 KiB");
        assert_eq!(super::bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
    }

    #[test]
    fn counts_are_pluralised() {
        assert_eq!(super::count(1u64, "snapshot"), "1 snapshot");
        assert_eq!(super::count(0u64, "snapshot"), "0 snapshots");
        assert_eq!(super::count(2u64, "entry"), "2 entries");
        assert_eq!(super::count(2u64, "day"), "2 days");
        assert_eq!(super::count(3u64, "pass"), "3 passes");
        assert_eq!(super::count(1u64, "file"), "1 file");
    }
}
