//! Webhook delivery to a real HTTP receiver on loopback.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;

use kura_audit::{
    AuditLog, ChannelConfig, DeliveryOptions, EventState, EventStore, Filter, Outcome, Severity,
    query,
};

/// A request as the receiver saw it.
struct Request {
    line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Serves HTTP on 127.0.0.1:0, answering each request with `status`; returns the URL and the requests.
fn receiver(status: u16) -> (String, mpsc::Receiver<Request>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/hooks/kura?token=s3cret",
        listener.local_addr().unwrap()
    );
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                continue;
            }
            let mut headers = Vec::new();
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                let (k, v) = h.split_once(':').unwrap();
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
            let len: usize = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .map_or(0, |(_, v)| v.parse().unwrap());
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let mut stream = reader.into_inner();
            let reply =
                format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            stream.write_all(reply.as_bytes()).unwrap();
            if tx
                .send(Request {
                    line: line.trim_end().to_owned(),
                    headers,
                    body,
                })
                .is_err()
            {
                return;
            }
        }
    });
    (url, rx)
}

fn webhook(url: &str) -> ChannelConfig {
    ChannelConfig::Webhook {
        url: url.to_owned(),
        bearer_token_env: None,
        timeout_secs: Some(10),
        min_severity: None,
    }
}

fn quick() -> DeliveryOptions {
    DeliveryOptions {
        tries: 3,
        backoff: std::time::Duration::ZERO,
    }
}

#[test]
fn webhook_posts_the_event_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(dir.path()).unwrap();
    let event = store
        .raise(
            "suspicious_verdict",
            Severity::Critical,
            "snapshot 1a2b: 412 files encrypted",
            serde_json::json!({"snapshot": "1a2b", "files": 412}),
        )
        .unwrap();
    let (url, requests) = receiver(200);
    let channels = [webhook(&url)];
    let report = store.deliver(event.id, &channels, None, &quick()).unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.results[0].tries, 1);
    assert_eq!(
        report.results[0].channel,
        format!("webhook:{}", url.split('?').next().unwrap())
    );

    let request = requests.recv().unwrap();
    assert_eq!(request.line, "POST /hooks/kura?token=s3cret HTTP/1.1");
    assert!(
        request
            .headers
            .contains(&("content-type".into(), "application/json".into()))
    );
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["source"], "kura");
    assert_eq!(body["event"]["id"], event.id);
    assert_eq!(body["event"]["kind"], "suspicious_verdict");
    assert_eq!(body["event"]["severity"], "critical");
    assert_eq!(body["event"]["details"]["files"], 412);
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .starts_with("CRITICAL suspicious_verdict on ")
    );

    let stored = store.get(event.id).unwrap();
    assert!(stored.delivered_to(&channels[0].label()));
    assert!(stored.undelivered(&channels).is_empty());
    // Nothing pending: no second POST.
    assert!(
        store
            .deliver_pending(&channels, None, &quick())
            .unwrap()
            .is_empty()
    );
    assert!(requests.try_recv().is_err());
}

#[test]
fn failing_receiver_is_retried_recorded_and_redelivered_later() {
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(&dir.path().join("events")).unwrap();
    let log = AuditLog::open(&dir.path().join("audit")).unwrap();
    let event = store
        .raise(
            "backup_failed",
            Severity::Critical,
            "backup of /data failed",
            serde_json::Value::Null,
        )
        .unwrap();

    let (bad_url, bad_requests) = receiver(500);
    let report = store
        .deliver(event.id, &[webhook(&bad_url)], Some(&log), &quick())
        .unwrap();
    assert!(!report.ok());
    let failure = &report.results[0];
    assert_eq!(failure.tries, 3);
    assert!(
        failure.error.as_deref().unwrap().contains("500"),
        "{failure:?}"
    );
    assert!(
        !failure.error.as_deref().unwrap().contains("s3cret"),
        "token leaked: {failure:?}"
    );
    for _ in 0..3 {
        bad_requests.recv().unwrap();
    }

    // The failure is in the event and the audit log; the event is still pending.
    let stored = store.get(event.id).unwrap();
    assert_eq!(stored.deliveries.len(), 1);
    assert!(!stored.deliveries[0].ok);
    let audit = query(
        log.dir(),
        &Filter {
            action: Some("event.notify".into()),
            ..Filter::default()
        },
    )
    .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].outcome, Outcome::Failed);
    assert_eq!(audit[0].target, format!("event:{}", event.id));
    assert_eq!(audit[0].details["tries"], 3);

    // The receiver comes back (here on a new port): the pending event is delivered on retry.
    let (good_url, good_requests) = receiver(200);
    let retried = store
        .deliver_pending(&[webhook(&good_url)], Some(&log), &quick())
        .unwrap();
    assert_eq!(retried.len(), 1);
    assert!(retried[0].ok(), "{retried:?}");
    good_requests.recv().unwrap();
    assert!(
        store
            .get(event.id)
            .unwrap()
            .delivered_to(&webhook(&good_url).label())
    );
}

#[test]
fn dead_endpoint_fails_after_bounded_tries_and_stays_undelivered() {
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(dir.path()).unwrap();
    let log = AuditLog::open(&dir.path().join("audit")).unwrap();
    let event = store
        .raise(
            "verify_failed",
            Severity::Warning,
            "check found 2 damaged packs",
            serde_json::Value::Null,
        )
        .unwrap();
    // A port that was just free: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let channels = [webhook(&format!("http://127.0.0.1:{port}/hook"))];

    let report = store
        .deliver(event.id, &channels, Some(&log), &quick())
        .unwrap();
    assert!(!report.ok());
    assert_eq!(report.results[0].tries, 3);
    assert!(report.results[0].error.is_some());
    let again = store
        .deliver_pending(&channels, Some(&log), &quick())
        .unwrap();
    assert_eq!(again.len(), 1, "the event is still pending");
    let stored = store.get(event.id).unwrap();
    assert_eq!(stored.deliveries.len(), 2);
    assert!(stored.deliveries.iter().all(|d| !d.ok && d.tries == 3));
    assert_eq!(stored.undelivered(&channels).len(), 1);
    assert_eq!(query(log.dir(), &Filter::default()).unwrap().len(), 2);

    // Closed events are not retried.
    store.close(event.id, "alice").unwrap();
    assert!(
        store
            .deliver_pending(&channels, Some(&log), &quick())
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.get(event.id).unwrap().state, EventState::Closed);
}

#[test]
fn channels_skip_events_below_their_minimum_severity() {
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(dir.path()).unwrap();
    let event = store
        .raise(
            "backup_ok",
            Severity::Info,
            "backup done",
            serde_json::Value::Null,
        )
        .unwrap();
    let channels = [ChannelConfig::Webhook {
        url: "http://127.0.0.1:9/never".into(),
        bearer_token_env: None,
        timeout_secs: None,
        min_severity: Some(Severity::Warning),
    }];
    let report = store.deliver(event.id, &channels, None, &quick()).unwrap();
    assert!(report.results.is_empty() && report.ok());
    assert!(
        store
            .deliver_pending(&channels, None, &quick())
            .unwrap()
            .is_empty()
    );
}
