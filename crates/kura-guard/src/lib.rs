//! kura-guard: the live guard. It watches source trees with Linux fanotify, attributes every
//! change to a *writer* (a process group with its executable), scores each writer's recent
//! changes with kura-detect's engines, trips at once on a touched canary, and stops the writer
//! (SIGSTOP of the whole group, then SIGKILL), blocklists its executable, runs the site's
//! isolation hook, and records an incident with the exact list of damaged files.
//!
//! It must not open repositories (it depends on kura-detect and kura-audit only; the CLI honours
//! the incident holds in forget/prune), and it must never stall the machine: permission events
//! are answered at once (a suspect writer waits at most a few milliseconds), permission marks sit
//! on the watched folders only, and a killed guard leaves nothing blocking.
//!
//! ```no_run
//! use kura_guard::{Action, Guard, GuardOptions, Report};
//! use std::sync::atomic::AtomicBool;
//!
//! let opts = GuardOptions::new(vec!["/srv/share".into()], "/var/lib/kura".into());
//! let mut guard = Guard::start(opts)?;
//! let stop = AtomicBool::new(false);
//! guard.run(&stop, &mut |report| {
//!     if let Report::Tripped(i) = report {
//!         eprintln!("stopped {} ({} files damaged)", i.writer.comm, i.damaged.len());
//!     }
//! })?;
//! # Ok::<(), kura_guard::Error>(())
//! ```

mod canaries;
pub(crate) mod fan;
mod guard;
mod score;
mod smb;
mod state;
mod writer;

pub use canaries::Planted;
pub use fan::stop_on_signals;
pub use guard::{Action, Guard, GuardOptions, Report, Trusted};
pub use score::thresholds;
pub use state::{
    BlockEntry, GuardStatus, Incident, Release, block, blocklist, guard_dir, incident, incidents,
    open_holds, release, running, unblock,
};
pub use writer::{Writer, sha256_file};

use std::path::PathBuf;

/// Errors of the guard.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// fanotify needs CAP_SYS_ADMIN.
    #[error(
        "the guard needs root (fanotify requires CAP_SYS_ADMIN): run it as root or as the kura-guard systemd service"
    )]
    NotRoot,
    /// A watched path is not a folder.
    #[error("cannot watch {path}: {reason}")]
    BadPath {
        /// The path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A fanotify call failed.
    #[error("fanotify {what} failed: {source}")]
    Fanotify {
        /// The call.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A state file could not be read or written.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A state file is not what the guard wrote.
    #[error("{path} is damaged ({reason}); move it aside and retry")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// No incident with that id.
    #[error("no guard incident {0}: see `kura guard incidents`")]
    NoIncident(u64),
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
