//! Test harness: generated index, a running server, a raw HTTP/1.1 client and an in-memory log.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use kura_ssmix::PatientIndex;
use kura_testkit::ssmix::{SsmixTruth, generate};
use kura_viewer::{
    AccessLog, Banner, ServeOptions, Shown, TlsIdentity, ViewerUser, serve_blocking,
};

#[derive(Default)]
pub struct MemLog(pub Mutex<Vec<[String; 4]>>);

impl AccessLog for MemLog {
    fn record(&self, actor: &str, action: &str, target: &str, outcome: &str) {
        self.0
            .lock()
            .unwrap()
            .push([actor, action, target, outcome].map(String::from));
    }
}

impl MemLog {
    pub fn entries(&self) -> Vec<[String; 4]> {
        self.0.lock().unwrap().clone()
    }
}

pub fn banner() -> Banner {
    Banner {
        snapshot_id: "5e1f0c2a".into(),
        snapshot_time: "2026-01-05 02:00".into(),
        verdict: "clean".into(),
        source: "/srv/ssmix2".into(),
    }
}

pub fn index(patients: usize) -> (PatientIndex, SsmixTruth) {
    let (files, truth) = generate(2026, patients);
    let mut ix = PatientIndex::new();
    for f in &files {
        let _ = ix.add_file(&format!("srv/ssmix2/{}", f.path), &f.bytes);
    }
    (ix, truth)
}

pub struct Server {
    pub addr: SocketAddr,
    pub log: Arc<MemLog>,
    pub truth: SsmixTruth,
    /// What the server shows; tests may swap in another generation.
    pub shown: Shown,
}

/// Starts a server on an ephemeral loopback port; it lives until the test process ends.
pub fn start(users: Vec<ViewerUser>) -> Server {
    start_with(users, None)
}

/// Like [`start`], serving HTTPS with `tls` when given.
pub fn start_with(users: Vec<ViewerUser>, tls: Option<TlsIdentity>) -> Server {
    let (ix, truth) = index(30);
    let log = Arc::new(MemLog::default());
    let (tx, rx) = mpsc::channel();
    let log2: Arc<dyn AccessLog> = log.clone();
    let shown = Shown::new(Arc::new(ix), banner());
    let shown2 = shown.clone();
    std::thread::spawn(move || {
        let opts = ServeOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            users,
            tls,
        };
        let r = serve_blocking(opts, shown2, log2, |addr| tx.send(addr).unwrap());
        if let Err(e) = r {
            eprintln!("server failed: {e}");
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("server did not start");
    Server {
        addr,
        log,
        truth,
        shown,
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends raw bytes and reads the whole response (`Connection: close`).
pub fn raw(addr: SocketAddr, request: &[u8]) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(request).unwrap();
    let mut buf = Vec::new();
    // The server may close early (e.g. on an oversized body); keep what was read.
    let _ = s.read_to_end(&mut buf);
    parse(&buf)
}

/// Like [`raw`] over TLS, trusting only `cert_pem` (for the name `localhost`).
pub fn raw_tls(addr: SocketAddr, request: &[u8], cert_pem: &str) -> Resp {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(cert_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut s = rustls::StreamOwned::new(conn, tcp);
    s.write_all(request).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    parse(&buf)
}

fn parse(buf: &[u8]) -> Resp {
    let text = String::from_utf8_lossy(buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

pub fn get(addr: SocketAddr, target: &str, cookie: Option<&str>) -> Resp {
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    raw(
        addr,
        format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\n{cookie}Connection: close\r\n\r\n")
            .as_bytes(),
    )
}

pub fn post_form(addr: SocketAddr, target: &str, body: &str) -> Resp {
    raw(
        addr,
        format!(
            "POST {target} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
}
