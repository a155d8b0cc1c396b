//! The record format and its hash chain: one JSON line per record, hashed over its exact bytes.
//!
//! A line is the JSON object of the record without `hash` (fields in a fixed order, no whitespace),
//! followed by `,"hash":"<64 hex>"}`: the hash is SHA-256 over the object without it, which includes
//! `prev`, the hash of the record before. Hashing the written bytes (rather than a re-serialisation)
//! means readers never have to reproduce the writer's JSON formatting.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `prev` of the first record of a log.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// `,"hash":"` + 64 hex digits + `"}`.
const HASH_SUFFIX_LEN: usize = 9 + 64 + 2;

/// How an audited action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Failed,
    Denied,
}

/// What the caller tells the log; the log adds time, host, sequence number and hashes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The OS user ([`crate::current_actor`]) or the viewer's login name.
    pub actor: String,
    /// Dotted action name: `backup`, `restore`, `forget`, `verdict.override`, `viewer.login`,
    /// `viewer.patient_view`, …
    pub action: String,
    /// What was acted on: a snapshot id, a path, a patient id, a disk label.
    pub target: String,
    pub outcome: Outcome,
    /// Anything else worth keeping (`null` when there is nothing).
    pub details: serde_json::Value,
}

impl Entry {
    /// An entry without details.
    pub fn new(
        actor: impl Into<String>,
        action: impl Into<String>,
        target: impl Into<String>,
        outcome: Outcome,
    ) -> Self {
        Self {
            actor: actor.into(),
            action: action.into(),
            target: target.into(),
            outcome,
            details: serde_json::Value::Null,
        }
    }

    /// The same entry with `details`.
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// 1 for the first record, then +1 for each, across files.
    pub seq: u64,
    pub time_utc: Timestamp,
    /// The same instant in the host's time zone, RFC 3339 with offset.
    pub time_local: String,
    /// Where the time came from ([`crate::Clock::source`]), e.g. `system`.
    pub clock: String,
    pub host: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub outcome: Outcome,
    pub details: serde_json::Value,
    /// Set when the clock read earlier than the previous record's time; kept in the hashed record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_warning: Option<String>,
    /// Hash of the previous record ([`GENESIS_HASH`] for the first).
    pub prev: String,
    /// SHA-256 (hex) of this record's line up to, not including, `,"hash"`.
    pub hash: String,
}

impl Record {
    /// This record as a checkpoint to keep elsewhere.
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            seq: self.seq,
            hash: self.hash.clone(),
            time_utc: self.time_utc,
        }
    }
}

/// The head of a log at some moment. Kept outside the log (inside the backup repository, on offline disks
/// and remote copies), it lets [`crate::verify`] catch truncation and a log rewritten with a fresh chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Sequence number of the record (0 for an empty log).
    pub seq: u64,
    /// That record's hash ([`GENESIS_HASH`] for an empty log).
    pub hash: String,
    /// That record's time (the Unix epoch for an empty log).
    pub time_utc: Timestamp,
}

/// The hashed part of a record: the same fields as [`Record`], same order, without `hash`.
#[derive(Serialize)]
pub(crate) struct Body<'a> {
    pub seq: u64,
    pub time_utc: Timestamp,
    pub time_local: &'a str,
    pub clock: &'a str,
    pub host: &'a str,
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub outcome: Outcome,
    pub details: &'a serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock_warning: Option<&'a str>,
    pub prev: &'a str,
}

/// The line for `body` (ending in `\n`) and its hash.
pub(crate) fn encode_line(body: &Body<'_>) -> Result<(Vec<u8>, String), serde_json::Error> {
    let mut line = serde_json::to_vec(body)?;
    let hash = hash_hex(&line);
    // serde_json writes a struct as one object, so the last byte is its closing brace.
    line.pop();
    line.extend_from_slice(b",\"hash\":\"");
    line.extend_from_slice(hash.as_bytes());
    line.extend_from_slice(b"\"}\n");
    Ok((line, hash))
}

/// Checks one line (without its `\n`): the stored hash must be the hash of the bytes before it, and the
/// line must be a record. Returns the record, or why not.
pub(crate) fn check_line(line: &[u8]) -> Result<Record, String> {
    if line.len() < HASH_SUFFIX_LEN + 2 {
        return Err(if line.is_empty() {
            "empty line".to_owned()
        } else {
            "line too short to be a record".to_owned()
        });
    }
    let split = line.len() - HASH_SUFFIX_LEN;
    let (head, suffix) = line.split_at(split);
    let stored = &suffix[9..9 + 64];
    if !suffix.starts_with(b",\"hash\":\"")
        || !suffix.ends_with(b"\"}")
        || !stored
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
    {
        return Err("line does not end with a record hash".to_owned());
    }
    let mut hasher = Sha256::new();
    hasher.update(head);
    hasher.update(b"}");
    let computed = hex(&hasher.finalize());
    if computed.as_bytes() != stored {
        return Err(
            "stored hash does not match the record's content: the record was altered".to_owned(),
        );
    }
    let record: Record =
        serde_json::from_slice(line).map_err(|e| format!("not a valid record: {e}"))?;
    if record.hash.as_bytes() != stored {
        return Err("hash field does not match the line's hash".to_owned());
    }
    Ok(record)
}

fn hash_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body<'a>(details: &'a serde_json::Value) -> Body<'a> {
        Body {
            seq: 1,
            time_utc: Timestamp::UNIX_EPOCH,
            time_local: "1970-01-01T09:00:00+09:00",
            clock: "manual",
            host: "h",
            actor: "alice",
            action: "backup",
            target: "/data",
            outcome: Outcome::Ok,
            details,
            clock_warning: None,
            prev: GENESIS_HASH,
        }
    }

    #[test]
    fn encoded_line_checks_and_round_trips() {
        let details = serde_json::json!({"files": 3, "note": "日本語 \"quoted\""});
        let (line, hash) = encode_line(&body(&details)).unwrap();
        assert_eq!(line.last(), Some(&b'\n'));
        let record = check_line(&line[..line.len() - 1]).unwrap();
        assert_eq!(record.hash, hash);
        assert_eq!(record.details, details);
        assert_eq!(record.prev, GENESIS_HASH);
        // Serializing the parsed record gives back the same line.
        assert_eq!(
            serde_json::to_vec(&record).unwrap(),
            &line[..line.len() - 1]
        );
    }

    #[test]
    fn altered_content_is_rejected() {
        let details = serde_json::Value::Null;
        let (line, _) = encode_line(&body(&details)).unwrap();
        let text = String::from_utf8(line).unwrap().replace("alice", "mallo");
        let err = check_line(text.trim_end().as_bytes()).unwrap_err();
        assert!(err.contains("altered"), "{err}");
    }

    #[test]
    fn hex_is_lowercase() {
        assert_eq!(hex(&[0x00, 0xab, 0xff]), "00abff");
    }
}
