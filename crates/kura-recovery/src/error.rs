//! Errors of drills and their history.

use std::path::PathBuf;

/// What can stop a drill from running or being recorded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The repository could not be used (no snapshot, index unreadable, ...).
    #[error(transparent)]
    Engine(#[from] kura_engine::Error),
    /// No scratch space.
    #[error(
        "cannot create scratch space for the drill in {path}: {source}; choose another place with --target"
    )]
    Scratch {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The history file could not be read or written.
    #[error("drill history {path}: {source}")]
    History {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A history line is damaged.
    #[error("drill history {path} line {line} is damaged: {reason}")]
    Damaged {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    /// No drill with this id.
    #[error("no drill with id {0}: see `kura drill list`")]
    NoSuchDrill(u64),
    /// Bad input (empty signer name, ...).
    #[error("{0}")]
    Invalid(String),
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
