//! kura-viewer: the read-only continuity viewer (`kura serve`). During an outage staff search a
//! patient by ID or name (kanji/kana) and read the six essential information (傷病名, アレルギー,
//! 薬剤禁忌, 検査, 感染症, 処方) from the newest clean backup, with a banner naming that backup.
//!
//! It owns the HTTP pages, login (argon2 + optional TOTP, session cookie) and request hardening.
//! It must not read repositories or write anything: the caller builds the
//! [`kura_ssmix::PatientIndex`] from a snapshot and wires [`AccessLog`] to the audit log. Every
//! patient view and login attempt is recorded there. No CDN, no JavaScript; CSS is served by
//! the binary.
//!
//! ```
//! use std::sync::Arc;
//! use kura_viewer::{AccessLog, Banner, Shown, router};
//!
//! struct Stderr;
//! impl AccessLog for Stderr {
//!     fn record(&self, actor: &str, action: &str, target: &str, outcome: &str) {
//!         eprintln!("{actor} {action} {target} {outcome}");
//!     }
//! }
//! let banner = Banner {
//!     snapshot_id: "3f2a9c1e".into(),
//!     snapshot_time: "2026-01-05 02:00".into(),
//!     verdict: "clean".into(),
//!     source: "ssmix2".into(),
//! };
//! let shown = Shown::new(Arc::new(kura_ssmix::PatientIndex::new()), banner);
//! let app: axum::Router = router(shown.clone(), Vec::new(), Arc::new(Stderr));
//! // Later, when a newer clean backup has been indexed, every following request sees it:
//! # let newer = shown.current().banner.clone();
//! shown.replace(Arc::new(kura_ssmix::PatientIndex::new()), newer);
//! # let _ = app;
//! ```

mod auth;
mod pages;
mod tls;
mod web;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, PoisonError, RwLock};

use kura_ssmix::PatientIndex;

pub use auth::hash_password;
pub use tls::TlsIdentity;

/// Which backup the viewer shows, printed on every page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Banner {
    pub snapshot_id: String,
    pub snapshot_time: String,
    /// `clean`, `suspicious` or `unknown`.
    pub verdict: String,
    pub source: String,
}

/// One indexed backup and the banner naming it.
#[derive(Debug)]
pub struct Generation {
    pub index: Arc<PatientIndex>,
    pub banner: Banner,
}

/// The generation the viewer shows, shared between the server and whoever indexes newer
/// backups. A page is rendered from one generation; [`Shown::replace`] swaps it whole, so a
/// running viewer keeps up with backups without a restart.
#[derive(Debug, Clone)]
pub struct Shown(Arc<RwLock<Arc<Generation>>>);

impl Shown {
    pub fn new(index: Arc<PatientIndex>, banner: Banner) -> Shown {
        Shown(Arc::new(RwLock::new(Arc::new(Generation {
            index,
            banner,
        }))))
    }

    /// The generation shown now.
    pub fn current(&self) -> Arc<Generation> {
        // A panic while swapping cannot leave a half-written Arc: the poison is harmless.
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Shows `index` from now on; requests already running finish with the old one.
    pub fn replace(&self, index: Arc<PatientIndex>, banner: Banner) {
        let next = Arc::new(Generation { index, banner });
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = next;
    }
}

/// Where page views and logins are recorded (the audit log, in kura-cli).
///
/// Actions: `viewer.login` (target: user name), `viewer.search` (target: the query),
/// `viewer.patient_view` and `viewer.patient_print` (target: patient id). Outcomes: `ok`, `denied`, `locked`, `not_found`.
/// The actor is the logged-in user, or `local` when no users are configured.
pub trait AccessLog: Send + Sync + 'static {
    fn record(&self, actor: &str, action: &str, target: &str, outcome: &str);
}

/// A viewer account. `argon2_hash` is a PHC string from [`hash_password`]; `totp_secret` is
/// base32 (RFC 6238, SHA-1, 6 digits, 30 s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewerUser {
    pub name: String,
    pub argon2_hash: String,
    pub totp_secret: Option<String>,
}

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Default `127.0.0.1:8080`. Any other address requires `users`.
    pub listen: SocketAddr,
    pub users: Vec<ViewerUser>,
    /// Serve HTTPS with this certificate; session cookies then carry `Secure`.
    pub tls: Option<TlsIdentity>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
            users: Vec::new(),
            tls: None,
        }
    }
}

/// Errors from serving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(
        "refusing to listen on {0} without login: add a viewer user (a [[viewer.user]] in kura.toml with a hash from `kura serve --hash-password`) or listen on 127.0.0.1"
    )]
    InsecureListen(SocketAddr),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the viewer runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("viewer server failed: {0}")]
    Serve(#[source] std::io::Error),
    #[error("cannot hash password: {0}")]
    Hash(String),
    #[error("TLS: {0}")]
    Tls(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The viewer's routes with all hardening layers. Login is required iff `users` is non-empty.
pub fn router(shown: Shown, users: Vec<ViewerUser>, log: Arc<dyn AccessLog>) -> axum::Router {
    web::router(shown, users, log, false)
}

/// Serves until Ctrl-C on a runtime of its own. `ready` gets the bound address (useful with
/// port 0). Refuses a non-loopback `listen` when no users are configured.
pub fn serve_blocking(
    opts: ServeOptions,
    shown: Shown,
    log: Arc<dyn AccessLog>,
    ready: impl FnOnce(SocketAddr),
) -> Result<()> {
    if opts.users.is_empty() && !opts.listen.ip().is_loopback() {
        return Err(Error::InsecureListen(opts.listen));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    // Check the certificate before binding, so a bad one fails fast.
    let tls = opts
        .tls
        .as_ref()
        .map(TlsIdentity::server_config)
        .transpose()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(opts.listen)
            .await
            .map_err(|source| Error::Bind {
                addr: opts.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(Error::Serve)?;
        let app = web::router(shown, opts.users, log, tls.is_some());
        let shutdown = async {
            // If the signal handler cannot be installed, serve until the process ends.
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        match tls {
            Some(config) => {
                let listener = tls::TlsListener::new(listener, config).map_err(Error::Serve)?;
                ready(addr);
                axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await
                    .map_err(Error::Serve)
            }
            None => {
                ready(addr);
                axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await
                    .map_err(Error::Serve)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nop;
    impl AccessLog for Nop {
        fn record(&self, _: &str, _: &str, _: &str, _: &str) {}
    }

    #[test]
    fn refuses_exposed_listen_without_users() {
        let opts = ServeOptions {
            listen: "0.0.0.0:0".parse().unwrap(),
            users: vec![],
            tls: None,
        };
        let banner = Banner {
            snapshot_id: "x".into(),
            snapshot_time: "t".into(),
            verdict: "clean".into(),
            source: "s".into(),
        };
        let err = serve_blocking(
            opts,
            Shown::new(Arc::new(PatientIndex::new()), banner),
            Arc::new(Nop),
            |_| panic!("must not start"),
        )
        .unwrap_err();
        assert!(matches!(err, Error::InsecureListen(_)));
        assert!(err.to_string().contains("--hash-password"));
    }

    #[test]
    fn default_listen_is_loopback_8080() {
        assert_eq!(ServeOptions::default().listen.to_string(), "127.0.0.1:8080");
    }
}
