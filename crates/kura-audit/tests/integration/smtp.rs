//! E-mail delivery to a real SMTP server (Python aiosmtpd) on loopback.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use kura_audit::{ChannelConfig, DeliveryOptions, EventStore, Severity};

use crate::common::tool_available;

/// The sink server; killed when dropped.
struct Sink {
    child: Child,
    port: u16,
    out: PathBuf,
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn aiosmtpd_installed() -> bool {
    Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Starts tests/smtp_sink.py, or returns None (after a SKIPPED line) when aiosmtpd is missing.
fn sink(out: &Path) -> Option<Sink> {
    if !tool_available(
        aiosmtpd_installed(),
        "python3 with aiosmtpd",
        "pip install aiosmtpd",
    ) {
        return None;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_sink.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(out)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("smtp_sink.py printed {line:?}, not a port"));
    Some(Sink {
        child,
        port,
        out: out.to_path_buf(),
    })
}

fn smtp(port: u16, starttls: bool) -> ChannelConfig {
    ChannelConfig::Smtp {
        host: "127.0.0.1".into(),
        port: Some(port),
        starttls: Some(starttls),
        username: None,
        password_env: None,
        password_file: None,
        from: "kura@hospital.example".into(),
        to: vec![
            "it-oncall@hospital.example".into(),
            "director@hospital.example".into(),
        ],
        subject_prefix: None,
        timeout_secs: Some(20),
        min_severity: None,
    }
}

fn once() -> DeliveryOptions {
    DeliveryOptions {
        tries: 1,
        backoff: Duration::ZERO,
    }
}

#[test]
fn email_arrives_with_subject_body_and_recipients() {
    let dir = tempfile::tempdir().unwrap();
    let Some(sink) = sink(dir.path()) else { return };
    let store = EventStore::open(&dir.path().join("events")).unwrap();
    let event = store
        .raise(
            "suspicious_verdict",
            Severity::Critical,
            "スナップショット 1a2b: 暗号化の疑い (412 files)",
            serde_json::json!({"snapshot": "1a2b", "engines": ["entropy", "names"]}),
        )
        .unwrap();
    let channels = [smtp(sink.port, false)];
    let report = store.deliver(event.id, &channels, None, &once()).unwrap();
    assert!(report.ok(), "{report:?}");

    // The sink writes the message before it answers 250, so it is there now.
    let text = std::fs::read_to_string(sink.out.join("msg-1.json")).unwrap();
    let mail: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(mail["from"], "kura@hospital.example");
    assert_eq!(
        mail["to"],
        serde_json::json!(["it-oncall@hospital.example", "director@hospital.example"])
    );
    assert_eq!(
        mail["subject"],
        format!(
            "[kura] CRITICAL suspicious_verdict on {}: スナップショット 1a2b: 暗号化の疑い (412 files)",
            event.host
        )
    );
    let body = mail["body"].as_str().unwrap();
    assert!(
        body.starts_with(&format!("kura event 1 on {}", event.host)),
        "{body}"
    );
    assert!(body.contains("暗号化の疑い"), "{body}");
    assert!(body.contains("\"snapshot\": \"1a2b\""), "{body}");
    assert!(body.contains("kura events ack 1"), "{body}");
    assert!(
        store
            .get(event.id)
            .unwrap()
            .delivered_to(&channels[0].label())
    );
}

#[test]
fn required_starttls_against_a_plain_server_fails_and_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let Some(sink) = sink(dir.path()) else { return };
    let store = EventStore::open(&dir.path().join("events")).unwrap();
    let event = store
        .raise(
            "backup_failed",
            Severity::Critical,
            "backup failed",
            serde_json::Value::Null,
        )
        .unwrap();
    let channels = [smtp(sink.port, true)];
    let report = store.deliver(event.id, &channels, None, &once()).unwrap();
    assert!(!report.ok());
    let error = report.results[0].error.clone().unwrap();
    assert!(
        error.contains(&format!("smtp 127.0.0.1:{}", sink.port)),
        "{error}"
    );
    assert!(
        !sink.out.join("msg-1.json").exists(),
        "no mail may go out in clear text"
    );
    assert_eq!(store.get(event.id).unwrap().undelivered(&channels).len(), 1);
}

#[test]
fn missing_password_variable_is_a_recorded_failure_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(dir.path()).unwrap();
    let event = store
        .raise(
            "backup_failed",
            Severity::Critical,
            "x",
            serde_json::Value::Null,
        )
        .unwrap();
    let mut channel = smtp(1, false);
    if let ChannelConfig::Smtp {
        username,
        password_env,
        ..
    } = &mut channel
    {
        *username = Some("kura".into());
        *password_env = Some("KURA_TEST_SMTP_PASSWORD_THAT_IS_NOT_SET".into());
    }
    let report = store.deliver(event.id, &[channel], None, &once()).unwrap();
    let error = report.results[0].error.clone().unwrap();
    assert!(
        error.contains("KURA_TEST_SMTP_PASSWORD_THAT_IS_NOT_SET"),
        "{error}"
    );
}
