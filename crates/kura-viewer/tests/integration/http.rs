//! HTTP behaviour against a real server.

use kura_viewer::{ViewerUser, hash_password};

use kura_testkit::browser::percent_encode;

use crate::support::{get, post_form, raw, start};

#[test]
fn search_by_hiragana_lists_the_patient() {
    let s = start(vec![]);
    let t = &s.truth.patients[3];
    let r = get(
        s.addr,
        &format!("/?q={}", percent_encode(&t.name_hiragana)),
        None,
    );
    assert_eq!(r.status, 200);
    assert!(r.body.contains(&t.id), "{}", r.body);
    assert!(r.body.contains(&t.name_kanji));
    let r = get(s.addr, &format!("/?q={}", &t.id[..8]), None);
    assert!(r.body.contains(&format!("/patient/{}", t.id)));
    let r = get(
        s.addr,
        &format!("/?q={}", percent_encode("存在しない名前")),
        None,
    );
    assert!(r.body.contains("No patient matches"));
    assert!(s.log.entries().iter().any(|e| e[1] == "viewer.search"));
}

#[test]
fn patient_page_shows_the_six_sections_newest_backup_banner_and_no_hidden_data() {
    let s = start(vec![]);
    for t in s.truth.patients.iter().take(10) {
        let r = get(s.addr, &format!("/patient/{}", t.id), None);
        assert_eq!(r.status, 200);
        for label in [
            "傷病名",
            "アレルギー",
            "薬剤禁忌",
            "検査",
            "感染症",
            "処方",
            "Diagnoses",
            "Allergies",
            "Drug contraindications",
            "Lab results",
            "Infections",
            "Prescriptions",
        ] {
            assert!(r.body.contains(label), "missing {label}");
        }
        assert!(
            r.body.contains("5e1f0c2a")
                && r.body.contains("2026-01-05 02:00")
                && r.body.contains("clean")
        );
        assert!(r.body.contains(&t.name_kanji) && r.body.contains(&t.name_kana));
        for x in t
            .allergies
            .iter()
            .chain(&t.prescriptions)
            .chain(&t.diagnoses)
            .chain(&t.contraindications)
        {
            assert!(r.body.contains(x.as_str()), "patient {} missing {x}", t.id);
        }
        for (name, value) in &t.labs {
            assert!(r.body.contains(name.as_str()) && r.body.contains(value.as_str()));
        }
        for h in &t.hidden {
            assert!(!r.body.contains(h.as_str()), "superseded/deleted {h} shown");
        }
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }
    let views: Vec<_> = s
        .log
        .entries()
        .into_iter()
        .filter(|e| e[1] == "viewer.patient_view")
        .collect();
    assert_eq!(views.len(), 10);
    assert_eq!(
        views[0],
        [
            "local",
            "viewer.patient_view",
            &s.truth.patients[0].id,
            "ok"
        ]
        .map(String::from)
    );
}

#[test]
fn security_headers_and_stylesheet() {
    let s = start(vec![]);
    let r = get(s.addr, "/", None);
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-security-policy")
            .unwrap()
            .contains("default-src 'self'")
    );
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    let css = get(s.addr, "/assets/style.css", None);
    assert_eq!(css.status, 200);
    assert!(css.header("content-type").unwrap().starts_with("text/css"));
    assert!(css.body.contains("@page") && css.body.contains("A4"));
    assert!(
        !r.body.contains("http://") && !r.body.contains("https://"),
        "no external assets"
    );
    assert!(!r.body.contains("<script"));
}

#[test]
fn hostile_requests_get_4xx_and_the_server_survives() {
    let s = start(vec![]);
    let long = "a".repeat(2000);
    let cases: Vec<(String, u16)> = vec![
        ("/../../etc/passwd".into(), 404),
        ("/patient/..%2F..%2Fetc%2Fpasswd".into(), 400),
        ("/patient/%ff%fe".into(), 400),
        ("/patient/%3Cscript%3E".into(), 400),
        ("/patient/9999999999".into(), 404),
        ("/?q=%ff".into(), 400),
        ("/?q=%zz".into(), 400),
        (format!("/?q={long}"), 414),
        (format!("/{long}"), 414),
        ("/nope".into(), 404),
        ("/assets/../Cargo.toml".into(), 404),
    ];
    for (target, want) in &cases {
        let r = get(s.addr, target, None);
        assert_eq!(r.status, *want, "{target}");
    }
    let bad_bytes = raw(
        s.addr,
        b"GET /patient/\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!((400..500).contains(&bad_bytes.status), "{bad_bytes:?}");
    let put = raw(
        s.addr,
        b"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(put.status, 405);
    let big = "x".repeat(100 * 1024);
    assert_eq!(post_form(s.addr, "/login", &big).status, 413);
    assert_eq!(get(s.addr, "/", None).status, 200, "still serving");
}

#[test]
fn login_is_required_when_users_are_configured() {
    let user = ViewerUser {
        name: "nurse1".into(),
        argon2_hash: hash_password("s3cret-pw").unwrap(),
        totp_secret: None,
    };
    let s = start(vec![user]);
    let id = &s.truth.patients[0].id;
    assert_eq!(get(s.addr, &format!("/patient/{id}"), None).status, 401);
    let root = get(s.addr, "/", None);
    assert_eq!(root.status, 303);
    assert_eq!(root.header("location"), Some("/login"));
    assert_eq!(
        get(
            s.addr,
            &format!("/patient/{id}"),
            Some("kura_session=forged")
        )
        .status,
        401
    );
    assert_eq!(get(s.addr, "/login", None).status, 200);

    let bad = post_form(s.addr, "/login", "user=nurse1&password=wrong");
    assert_eq!(bad.status, 401);
    let ok = post_form(s.addr, "/login", "user=nurse1&password=s3cret-pw");
    assert_eq!(ok.status, 303, "{ok:?}");
    let cookie = ok.header("set-cookie").unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    let session = cookie.split(';').next().unwrap().to_string();

    let page = get(s.addr, &format!("/patient/{id}"), Some(&session));
    assert_eq!(page.status, 200);
    assert!(page.body.contains("nurse1"));
    let log = s.log.entries();
    assert!(log.contains(&["nurse1", "viewer.login", "nurse1", "denied"].map(String::from)));
    assert!(log.contains(&["nurse1", "viewer.login", "nurse1", "ok"].map(String::from)));
    assert!(log.contains(&["nurse1", "viewer.patient_view", id, "ok"].map(String::from)));

    let out = raw(
        s.addr,
        format!("POST /logout HTTP/1.1\r\nHost: x\r\nCookie: {session}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert_eq!(out.status, 303);
    assert_eq!(
        get(s.addr, &format!("/patient/{id}"), Some(&session)).status,
        401
    );
}

#[test]
fn a_swapped_generation_is_shown_from_the_next_request() {
    let s = start(vec![]);
    let t = &s.truth.patients[0];
    let before = get(s.addr, &format!("/patient/{}", t.id), None);
    assert!(before.body.contains("5e1f0c2a"), "{}", before.body);
    let newer = kura_viewer::Banner {
        snapshot_id: "77aa88bb".into(),
        ..crate::support::banner()
    };
    s.shown
        .replace(std::sync::Arc::new(kura_ssmix::PatientIndex::new()), newer);
    let after = get(s.addr, &format!("/patient/{}", t.id), None);
    assert_eq!(after.status, 404, "the new (empty) generation is shown");
    assert!(after.body.contains("77aa88bb"), "{}", after.body);
}

#[test]
fn printable_summary_is_served_and_audited() {
    let s = start(vec![]);
    let t = &s.truth.patients[1];
    let r = get(s.addr, &format!("/patient/{}/print", t.id), None);
    assert_eq!(r.status, 200);
    assert!(r.body.contains("患者サマリー") && r.body.contains("5e1f0c2a"));
    assert!(
        s.log
            .entries()
            .iter()
            .any(|e| e[1] == "viewer.patient_print" && e[2] == t.id),
        "{:?}",
        s.log.entries()
    );
}

#[test]
fn https_serves_pages_and_session_cookies_are_secure() {
    use crate::support::{raw_tls, start_with};
    let id = kura_viewer::TlsIdentity::self_signed(vec!["localhost".into()]).unwrap();
    let user = ViewerUser {
        name: "nurse1".into(),
        argon2_hash: hash_password("s3cret-pw").unwrap(),
        totp_secret: None,
    };
    let s = start_with(vec![user], Some(id.clone()));
    let login = raw_tls(
        s.addr,
        b"GET /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        &id.cert_pem,
    );
    assert_eq!(login.status, 200);
    assert!(login.body.contains("ログイン"));
    let body = "user=nurse1&password=s3cret-pw";
    let ok = raw_tls(
        s.addr,
        format!("POST /login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).as_bytes(),
        &id.cert_pem,
    );
    assert_eq!(ok.status, 303, "{ok:?}");
    let cookie = ok.header("set-cookie").unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");

    // Plain HTTP to the TLS port gets no page, and the server keeps serving TLS.
    let mut plain = std::net::TcpStream::connect(s.addr).unwrap();
    plain
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    use std::io::{Read, Write};
    plain
        .write_all(b"GET /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let _ = plain.read_to_end(&mut buf);
    assert!(!String::from_utf8_lossy(&buf).contains("ログイン"));
    let again = raw_tls(
        s.addr,
        b"GET /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        &id.cert_pem,
    );
    assert_eq!(again.status, 200);
}
