//! End-to-end: `kura serve` indexes SS-MIX2 straight out of a snapshot and serves the viewer;
//! headless Chromium reads it, hostile requests are refused, views are audited, and listening
//! beyond loopback without login is refused.
mod testenv;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kura_testkit::browser::{
    artifacts_dir, chromium, chromium_available, dump_dom, percent_encode,
};
use kura_testkit::ssmix::{PatientTruth, stored_message, write_spec_storage, write_tree};
use testenv::{Env, require_tool};

/// Indexing a snapshot on a busy two-core CI machine: generous, but bounded.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// A running `kura serve`; killed (and reaped) on drop, also when the test panics.
struct Server {
    child: Child,
    /// The first stdout line, as printed.
    line: String,
    /// The following stdout lines.
    lines: mpsc::Receiver<String>,
    stderr: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Spawns `kura [--json] serve --listen 127.0.0.1:0` and waits for its ready line.
    fn start(env: &Env, json: bool, name: &str) -> Server {
        Server::start_with(env, json, name, &[])
    }

    /// Like [`Server::start`], with more `serve` arguments.
    fn start_with(env: &Env, json: bool, name: &str, args: &[&str]) -> Server {
        let stderr = env.path(&format!("{name}.stderr"));
        let mut cmd = env.kura();
        if json {
            cmd.arg("--json");
        }
        let child = cmd
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("spawn kura serve");
        let (tx, rx) = mpsc::channel();
        let mut server = Server {
            child,
            line: String::new(),
            lines: rx,
            stderr,
        };
        let stdout = server.child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            // Keep reading until EOF so a later write can never fail on a closed pipe.
            let mut r = BufReader::new(stdout);
            loop {
                let mut line = String::new();
                match r.read_line(&mut line) {
                    Ok(n) if n > 0 => {
                        let _ = tx.send(line);
                    }
                    _ => break,
                }
            }
        });
        match server.lines.recv_timeout(START_TIMEOUT) {
            Ok(line) if !line.is_empty() => server.line = line.trim_end().to_string(),
            Ok(_) | Err(mpsc::RecvTimeoutError::Disconnected) => panic!(
                "kura serve exited before it was ready: {:?}\nstderr: {}",
                server.child.try_wait(),
                server.stderr_text()
            ),
            Err(mpsc::RecvTimeoutError::Timeout) => panic!(
                "kura serve printed nothing within {START_TIMEOUT:?}\nstderr: {}",
                server.stderr_text()
            ),
        }
        server
    }

    /// The next stdout line containing `needle`, waiting at most `timeout`.
    fn wait_for(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line.trim_end().to_string(),
                Ok(_) => {}
                Err(e) => panic!(
                    "kura serve printed no line with {needle:?} ({e:?})\nstderr: {}",
                    self.stderr_text()
                ),
            }
        }
    }

    fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

/// `host:port` out of `http://host:port/`.
fn host_port(url: &str) -> &str {
    url.strip_prefix("http://")
        .and_then(|r| r.strip_suffix('/'))
        .unwrap_or_else(|| panic!("not an http://host:port/ URL: {url}"))
}

/// One raw HTTP/1.1 GET (the target is sent verbatim); returns (status, body).
fn get(addr: &str, target: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("reading the answer to {target:.80}: {e}"));
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status line for {target:.80}: {text:.200}"));
    let body = text
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_string());
    (status, body)
}

/// The patient whose page says the most: allergies, prescriptions and hidden (superseded or
/// deleted) drugs all present, so no assertion below is vacuous.
fn telling_patient(patients: &[PatientTruth]) -> &PatientTruth {
    patients
        .iter()
        .filter(|p| !p.allergies.is_empty() && !p.prescriptions.is_empty() && !p.hidden.is_empty())
        .max_by_key(|p| (p.allergies.len(), p.prescriptions.len(), p.hidden.len()))
        .expect("the generator made no patient with allergies, prescriptions and hidden drugs")
}

#[test]
fn serve_shows_snapshot_in_chromium_refuses_hostile_requests_and_audits_views() {
    let env = Env::new();
    env.init();
    let src = env.path("ssmix2");
    let truth = write_tree(&src, 2026, 12).expect("write SS-MIX2 tree");
    let (backup, code) = env.json(&["backup", src.to_str().unwrap()]);
    assert_eq!(code, 0, "{backup}");
    assert_eq!(backup["verdict"], "clean", "{backup}");
    let snap_id = backup["snapshot_id"].as_str().expect("snapshot_id");
    let short: String = snap_id.chars().take(8).collect();

    let server = Server::start(&env, true, "serve");
    let ready: serde_json::Value = serde_json::from_str(&server.line)
        .unwrap_or_else(|e| panic!("ready line is not JSON ({e}): {}", server.line));
    let url = ready["listening"].as_str().expect("listening").to_string();
    let addr = host_port(&url).to_string();
    assert!(addr.starts_with("127.0.0.1:"), "{url}");
    assert_ne!(addr, "127.0.0.1:0", "the real port must be printed");
    let summary = ready["summary"].as_str().expect("summary");
    assert!(
        summary.contains(&short) && summary.contains("12 patients"),
        "{summary}"
    );
    assert!(
        summary.ends_with(&format!("{} skipped", truth.malformed.len())),
        "the malformed file must be counted as skipped: {summary}"
    );

    // The plain (non-JSON) ready line, from a second server on the same snapshot.
    {
        let plain = Server::start(&env, false, "serve-plain");
        assert!(
            plain.line.starts_with("kura viewer: http://127.0.0.1:")
                && plain.line.contains(&format!("(snapshot {short} ")),
            "{}",
            plain.line
        );
    }

    let t = telling_patient(&truth.patients);
    if chromium_available("kura-cli serve") {
        let profile = env.path("chromium-profile");
        let search = format!("{url}?q={}", percent_encode(&t.name_hiragana));
        let dom = dump_dom(&profile, &search);
        assert!(
            dom.contains(&t.id) && dom.contains(&t.name_kanji),
            "searching {} ({}) does not list {}: {dom}",
            t.name_hiragana,
            search,
            t.id
        );

        let patient = format!("{url}patient/{}", t.id);
        let dom = dump_dom(&profile, &patient);
        assert!(dom.contains(&t.name_kanji), "patient DOM: {dom}");
        for x in t.allergies.iter().chain(&t.prescriptions) {
            assert!(dom.contains(x.as_str()), "patient page lacks {x}: {dom}");
        }
        for x in &t.hidden {
            assert!(
                !dom.contains(x.as_str()),
                "patient page shows {x}, which exists only in a superseded or deleted file"
            );
        }
        assert!(dom.contains(&short), "banner lacks snapshot {short}: {dom}");

        let png = artifacts_dir().join("kura-serve-patient.png");
        let _ = std::fs::remove_file(&png);
        chromium(
            &profile,
            &[
                &format!("--screenshot={}", png.display()),
                "--window-size=1200,1600",
                &patient,
            ],
        );
        let bytes = std::fs::read(&png).expect("screenshot written");
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
        assert!(
            bytes.len() > 20_000,
            "screenshot suspiciously small: {} bytes",
            bytes.len()
        );
    } else {
        // Still view the patient, so the audit check below runs without Chromium.
        let (status, body) = get(&addr, &format!("/patient/{}", t.id));
        assert_eq!(status, 200, "{body}");
    }

    // Hostile requests get 4xx, leak nothing, and the server keeps answering.
    let long_query = format!("/?q={}", "a".repeat(3 * 1024));
    for target in [
        "/../../etc/passwd",
        "/patient/..%2f..%2fetc",
        long_query.as_str(),
        "/?q=%ff",
    ] {
        let (status, body) = get(&addr, target);
        assert!(
            (400..500).contains(&status),
            "{target:.80} answered {status}: {body:.300}"
        );
        assert!(!body.contains("root:"), "{target:.80} leaked a file");
        let (status, _) = get(&addr, "/");
        assert_eq!(
            status, 200,
            "the server stopped answering after {target:.80}"
        );
    }
    let (status, body) = get(&addr, &format!("/?q={}", percent_encode(&t.name_hiragana)));
    assert_eq!(status, 200);
    assert!(body.contains(&t.id), "raw HTTP search lacks {}", t.id);

    let (log, code) = env.json(&["audit", "log", "--action", "viewer.patient_view"]);
    assert_eq!(code, 0, "{log}");
    let records = log.as_array().expect("audit log is a JSON array");
    assert!(
        records.iter().all(|r| r["action"] == "viewer.patient_view"),
        "the --action filter let other records through: {log}"
    );
    assert!(
        records
            .iter()
            .any(|r| r["target"] == t.id.as_str() && r["outcome"] == "ok"),
        "no viewer.patient_view record for {}: {log}",
        t.id
    );
    drop(server);
}

#[test]
fn serve_beyond_loopback_without_login_fails_fast() {
    let env = Env::new();
    env.init();
    let mut child = env
        .kura()
        .args(["serve", "--listen", "0.0.0.0:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kura serve");
    // Bounded: a server that started anyway would never exit by itself.
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("kura serve --listen 0.0.0.0:0 without viewer users did not exit");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(stdout.is_empty(), "no server may start: {stdout}");
    let err = stderr.trim_end();
    assert_eq!(err.lines().count(), 1, "one line expected: {stderr}");
    assert!(
        err.contains("login") && err.contains("127.0.0.1"),
        "{stderr}"
    );
}

/// Issue 16: served from a backup of a storage of the specification's own example messages
/// (most PID-3 values differ from the storage path, one file misfiled, one Shift_JIS, one
/// unreadable), the patient page shows every allergy and every current prescription, in words,
/// with warnings naming both IDs and the file that could not be read.
#[test]
fn issue_16_patient_page_shows_every_allergy_and_prescription_of_a_spec_storage() {
    let env = Env::new();
    env.init();
    let src = env.path("ssmix2");
    let truth = write_spec_storage(&src).expect("write spec storage");
    let (backup, code) = env.json(&["backup", src.to_str().unwrap()]);
    assert_eq!(code, 0, "{backup}");

    let server = Server::start(&env, true, "serve-spec");
    let ready: serde_json::Value = serde_json::from_str(&server.line).expect("JSON ready line");
    let url = ready["listening"].as_str().expect("listening").to_string();
    let summary = ready["summary"].as_str().expect("summary");
    assert!(
        summary.contains("1 patients, 1 skipped")
            && summary.contains("3 with another PID-3, 1 misfiled"),
        "{summary}"
    );
    let page = format!("{url}patient/{}", truth.patient_id);
    let dom = if chromium_available("kura-cli serve issue 16") {
        let dom = dump_dom(&env.path("chromium-profile"), &page);
        let png = artifacts_dir().join("kura-serve-issue16-patient.png");
        let _ = std::fs::remove_file(&png);
        chromium(
            &env.path("chromium-profile"),
            &[
                &format!("--screenshot={}", png.display()),
                "--window-size=1200,2400",
                &page,
            ],
        );
        dom
    } else {
        let (status, body) = get(host_port(&url), &format!("/patient/{}", truth.patient_id));
        assert_eq!(status, 200, "{body}");
        body
    };
    let section = |id: &str| -> &str {
        let at = dom
            .find(&format!(" id=\"{id}\""))
            .unwrap_or_else(|| panic!("no section {id}: {dom}"));
        let start = dom[..at].rfind("<section").expect("section start");
        let end = dom[start..]
            .find("</section>")
            .map_or(dom.len(), |e| start + e);
        &dom[start..end]
    };
    let allergies = section("allergies");
    for a in &truth.allergies {
        assert!(
            allergies.contains(a.as_str()),
            "アレルギー lacks {a}: {allergies}"
        );
    }
    for words in [
        "花粉アレルギー",
        "食物アレルギー",
        "軽度",
        "中等度",
        "重度",
        "小学校低学年の頃",
    ] {
        assert!(
            allergies.contains(words),
            "アレルギー lacks {words}: {allergies}"
        );
    }
    assert!(
        !allergies.contains(">SV<"),
        "severity shown as a code: {allergies}"
    );
    let rx = section("prescriptions");
    for p in &truth.prescriptions {
        assert!(rx.contains(p.as_str()), "処方 lacks {p}: {rx}");
    }
    assert!(
        rx.contains("内服・経口・１日３回朝昼夕食後"),
        "timing in words: {rx}"
    );
    assert!(
        !rx.contains("1013044400000000"),
        "timing shown as a code: {rx}"
    );
    for h in &truth.hidden {
        assert!(!dom.contains(h.as_str()), "superseded drug {h} shown");
    }
    assert!(section("diagnoses").contains("胃炎"));
    let labs = section("labs");
    for l in &truth.labs {
        assert!(labs.contains(l.as_str()), "検査 lacks {l}: {labs}");
    }
    let notices = section("notices");
    for other in &truth.other_pid3 {
        assert!(
            notices.contains(&format!(
                "PID-3 says {other}, the storage path says {}",
                truth.patient_id
            )),
            "no warning with both IDs for {other}: {notices}"
        );
    }
    assert!(
        notices.contains("読めなかったファイル 1 件")
            && notices.contains("1 file could not be read"),
        "{notices}"
    );
    assert!(
        notices.contains(&truth.unreadable),
        "the unreadable file is named: {notices}"
    );
    assert!(
        notices.contains(&truth.misfiled),
        "the misfiled file is named: {notices}"
    );

    let (status, print) = get(
        host_port(&url),
        &format!("/patient/{}/print", truth.patient_id),
    );
    assert_eq!(status, 200);
    assert!(
        print.contains("患者サマリー") && print.contains("ハウスダスト"),
        "{print:.400}"
    );
}

/// A running `kura serve` follows new clean backups and says which generation it shows;
/// a pinned snapshot stays.
#[test]
fn serve_picks_up_a_newer_clean_backup_without_restart() {
    let env = Env::new();
    env.init();
    let src = env.path("ssmix2");
    let truth = write_spec_storage(&src).expect("write spec storage");
    let (first, code) = env.json(&["backup", src.to_str().unwrap()]);
    assert_eq!(code, 0, "{first}");
    let first_id: String = first["snapshot_id"]
        .as_str()
        .unwrap()
        .chars()
        .take(8)
        .collect();

    let server = Server::start_with(&env, false, "serve-follow", &["--refresh", "1"]);
    let pinned = Server::start_with(
        &env,
        false,
        "serve-pinned",
        &["--snapshot", &first_id, "--refresh", "1"],
    );
    assert!(pinned.line.ends_with("; pinned)"), "{}", pinned.line);
    let url = server
        .line
        .split_whitespace()
        .nth(2)
        .expect("url")
        .to_string();
    let purl = pinned
        .line
        .split_whitespace()
        .nth(2)
        .expect("url")
        .to_string();

    // A new ADT^A60 with one more allergy, then a new (clean) backup.
    let id = &truth.patient_id;
    let msg = format!(
        "MSH|^~\\&|HIS123|SEND|GW|RCV|20120301090000||ADT^A60^ADT_A60|1|P|2.5||||||~ISO IR87\rPID|0001||{id}^^^^PI\rIAM|1|FA^食物アレルギー^HL70127|^キウイ^99XYZ|MO^中等度^HL70128|口腔違和感|A\r"
    );
    let rel = format!(
        "{}/{}/{id}/-/ADT-51/{id}_-_ADT-51_-_20120301090000000_01_1",
        &id[..3],
        &id[3..6]
    );
    let path = src.join(rel);
    std::fs::write(&path, stored_message(&msg)).expect("write new message");
    let (second, code) = env.json(&["backup", src.to_str().unwrap()]);
    assert_eq!(code, 0, "{second}");
    assert_eq!(second["verdict"], "clean", "{second}");
    let second_id: String = second["snapshot_id"]
        .as_str()
        .unwrap()
        .chars()
        .take(8)
        .collect();

    let line = server.wait_for("now showing", START_TIMEOUT);
    assert!(line.contains(&format!("snapshot {second_id} ")), "{line}");
    let (status, body) = get(host_port(&url), &format!("/patient/{id}"));
    assert_eq!(status, 200);
    assert!(
        body.contains("キウイ") && body.contains(&second_id),
        "new generation not shown"
    );

    let (status, body) = get(host_port(&purl), &format!("/patient/{id}"));
    assert_eq!(status, 200);
    assert!(
        body.contains(&first_id) && !body.contains("キウイ"),
        "the pinned viewer moved"
    );
    assert!(body.contains("pinned"), "the banner says it is pinned");
}

/// `kura serve --tls` serves HTTPS with a self-signed certificate kept in the state directory
/// (key readable by its owner only), prints its SHA-256 fingerprint, and keeps it on restart.
#[test]
fn serve_tls_self_signed_certificate_has_a_stable_printed_fingerprint() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    env.init();
    let src = env.path("ssmix2");
    let truth = write_spec_storage(&src).expect("write spec storage");
    let (backup, code) = env.json(&["backup", src.to_str().unwrap()]);
    assert_eq!(code, 0, "{backup}");

    let fingerprint = |server: &Server| -> (String, String) {
        let ready: serde_json::Value = serde_json::from_str(&server.line).expect("JSON ready line");
        let url = ready["listening"].as_str().expect("listening").to_string();
        let fp = ready["tls_sha256"]
            .as_str()
            .expect("tls_sha256")
            .to_string();
        (url, fp)
    };
    let first = Server::start_with(&env, true, "serve-tls", &["--tls"]);
    let (url, fp) = fingerprint(&first);
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    assert_eq!(fp.len(), 95, "{fp}");
    let tls_dir = env.path(".local/state/kura/viewer-tls");
    let mode = std::fs::metadata(tls_dir.join("key.pem"))
        .expect("key.pem")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the private key is owner-only");
    if require_tool("openssl") {
        let out = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
            .arg(tls_dir.join("cert.pem"))
            .output()
            .expect("run openssl");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.trim_end().ends_with(&fp),
            "openssl says {text}, kura printed {fp}"
        );
    }
    if chromium_available("kura-cli serve --tls") {
        let page = format!("{url}patient/{}", truth.patient_id);
        let dom = String::from_utf8_lossy(
            &chromium(
                &env.path("chromium-profile"),
                &["--ignore-certificate-errors", "--dump-dom", &page],
            )
            .stdout,
        )
        .into_owned();
        assert!(dom.contains("ハウスダスト"), "over HTTPS: {dom:.400}");
    }
    drop(first);

    let second = Server::start_with(&env, true, "serve-tls-again", &["--tls"]);
    assert_eq!(
        fingerprint(&second).1,
        fp,
        "the certificate is kept across restarts"
    );
}
