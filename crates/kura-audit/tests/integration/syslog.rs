//! Syslog delivery to a datagram socket and a UDP server on loopback.

use std::net::UdpSocket;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use kura_audit::{ChannelConfig, DeliveryOptions, EventStore, Severity, SyslogFormat};

fn quick() -> DeliveryOptions {
    DeliveryOptions {
        tries: 2,
        backoff: Duration::ZERO,
    }
}

#[test]
fn syslog_socket_gets_an_rfc3164_line_with_the_right_priority() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    // Bounded wait instead of sleeping: recv fails after 10 s if nothing arrives.
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let store = EventStore::open(&dir.path().join("events")).unwrap();
    let event = store
        .raise(
            "audit_chain_broken",
            Severity::Critical,
            "audit record 41 altered\nsee verify",
            serde_json::json!({"seq": 41}),
        )
        .unwrap();
    let channels = [ChannelConfig::Syslog {
        socket: Some(path.clone()),
        server: None,
        facility: Some("authpriv".into()),
        app_name: None,
        format: None,
        min_severity: None,
    }];
    let report = store.deliver(event.id, &channels, None, &quick()).unwrap();
    assert!(report.ok(), "{report:?}");
    let mut buf = [0u8; 4096];
    let n = sock.recv(&mut buf).unwrap();
    let line = std::str::from_utf8(&buf[..n]).unwrap();
    // authpriv (10) * 8 + critical (2)
    assert!(line.starts_with("<82>"), "{line}");
    assert!(
        line.contains(&format!(
            " kura[{}]: event 1 CRITICAL audit_chain_broken on ",
            std::process::id()
        )),
        "{line}"
    );
    assert!(
        line.contains("audit record 41 altered see verify {\"seq\":41}"),
        "{line}"
    );
    assert!(!line.contains('\n'));
}

#[test]
fn syslog_server_gets_an_rfc5424_datagram() {
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(dir.path()).unwrap();
    let event = store
        .raise(
            "rotation_overdue",
            Severity::Warning,
            "disk B overdue",
            serde_json::Value::Null,
        )
        .unwrap();
    let channels = [ChannelConfig::Syslog {
        socket: None,
        server: Some(server.local_addr().unwrap().to_string()),
        facility: Some("local3".into()),
        app_name: Some("kura-test".into()),
        format: Some(SyslogFormat::Rfc5424),
        min_severity: None,
    }];
    assert!(
        store
            .deliver(event.id, &channels, None, &quick())
            .unwrap()
            .ok()
    );
    let mut buf = [0u8; 4096];
    let n = server.recv(&mut buf).unwrap();
    let line = std::str::from_utf8(&buf[..n]).unwrap();
    // local3 (19) * 8 + warning (4); version 1; timestamp; host; app; pid; msgid = kind; no SD.
    let fields: Vec<&str> = line.splitn(8, ' ').collect();
    assert_eq!(fields[0], "<156>1", "{line}");
    assert!(
        fields[1].ends_with('Z') && fields[1].starts_with(&event.time_utc.to_string()[..4]),
        "{line}"
    );
    assert_eq!(fields[3], "kura-test");
    assert_eq!(fields[4], std::process::id().to_string());
    assert_eq!((fields[5], fields[6]), ("rotation_overdue", "-"));
    assert_eq!(
        fields[7],
        "event 1 WARNING rotation_overdue on ".to_owned() + &event.host + ": disk B overdue"
    );
}

#[test]
fn missing_syslog_socket_is_a_recorded_failure() {
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
    let channels = [ChannelConfig::Syslog {
        socket: Some(dir.path().join("no-such.sock")),
        server: None,
        facility: None,
        app_name: None,
        format: None,
        min_severity: None,
    }];
    let report = store.deliver(event.id, &channels, None, &quick()).unwrap();
    assert!(!report.ok());
    assert_eq!(report.results[0].tries, 2);
    assert!(
        report.results[0]
            .error
            .as_deref()
            .unwrap()
            .contains("no-such.sock")
    );
    assert_eq!(store.get(event.id).unwrap().undelivered(&channels).len(), 1);
}
