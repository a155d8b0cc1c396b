//! The engine's error type: every rustic_core error is turned into one of these, never leaked.

use std::path::PathBuf;

/// Errors of the repository engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No repository at the location (no `config` object).
    #[error("no repository at {location}: run `kura init` first, or check -r/--repo")]
    RepositoryNotFound {
        /// Where we looked.
        location: String,
    },
    /// A repository already exists where `init` was asked to create one.
    #[error("a repository already exists at {location}; refusing to overwrite it")]
    AlreadyExists {
        /// Where it is.
        location: String,
    },
    /// The password opens no key of the repository.
    #[error(
        "wrong password for the repository at {location}: no key matches it (check KURA_PASSWORD or --password-file)"
    )]
    WrongPassword {
        /// The repository.
        location: String,
    },
    /// Another kura process holds a conflicting lock.
    #[error("repository at {location} is busy: {holder}; try again when it has finished")]
    Busy {
        /// The repository.
        location: String,
        /// What holds it.
        holder: String,
    },
    /// A snapshot reference matched nothing.
    #[error(
        "no snapshot matches {0:?} (use an id prefix, `latest` or `latest-clean`; see `kura snapshots`)"
    )]
    SnapshotNotFound(String),
    /// A snapshot prefix matched several snapshots.
    #[error("snapshot prefix {0:?} is ambiguous: give more characters")]
    AmbiguousSnapshot(String),
    /// A path inside a snapshot does not exist.
    #[error("path {path:?} not found in snapshot {snapshot}")]
    PathNotFound {
        /// The snapshot.
        snapshot: String,
        /// The path asked for.
        path: String,
    },
    /// A backup source does not exist or cannot be read at all.
    #[error("backup source {path} cannot be used: {reason}")]
    Source {
        /// The source path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A restore stopped part-way (e.g. the target disk is full). The repository is untouched.
    #[error(
        "restore into {target} stopped: {cause}; files restored so far are incomplete: free space or fix the target and run the restore again"
    )]
    Restore {
        /// The restore target.
        target: PathBuf,
        /// What failed.
        cause: String,
    },
    /// `forget` was given no keep-* rule at all.
    #[error(
        "no retention rule given: set at least one --keep-* option (or [retention] in kura.toml)"
    )]
    NoRetentionRule,
    /// The retention policy by itself keeps no snapshot (e.g. `--keep-last 0`).
    #[error("the retention policy would remove every snapshot; nothing was removed")]
    PolicyRemovesEverything,
    /// A snapshot chosen for a copy is not judged clean, and the copy was not forced.
    #[error(
        "snapshot {snapshot} is {verdict}, not clean: it is not copied over clean generations (use --force to copy it anyway)"
    )]
    NotClean {
        /// The snapshot's short id.
        snapshot: String,
        /// Its verdict.
        verdict: crate::Verdict,
    },
    /// Nothing qualifies for a copy (no clean generation kept by the policy).
    #[error(
        "no clean generation to copy: run `kura backup` first, or name snapshots with --snapshot"
    )]
    NothingToCopy,
    /// A backup was asked for with no source path.
    #[error("nothing to back up: give at least one path (or `sources` in kura.toml)")]
    NoSources,
    /// A path in a snapshot is not a regular file (read asks for one).
    #[error("{path} in snapshot {snapshot} is not a file")]
    NotAFile {
        /// The snapshot id.
        snapshot: String,
        /// The path inside it.
        path: String,
    },
    /// A file in a snapshot is too large to be read into memory on this machine.
    #[error("{path} is too large to read")]
    TooLarge {
        /// The path inside the snapshot.
        path: String,
    },
    /// A restore or drill target cannot be used.
    #[error("{what} {} is {problem}", path.display())]
    BadTarget {
        /// `restore target`, `drill target` or `repository path`.
        what: &'static str,
        /// The path given.
        path: PathBuf,
        /// What is wrong with it, and what to give instead.
        problem: &'static str,
    },
    /// A repository location cannot be parsed.
    #[error("{0}")]
    BadLocation(String),
    /// A value given to the engine is out of its range or unknown (verdict name, tag, time, part).
    #[error("{0}")]
    BadValue(String),
    /// The repository handle was consumed by an earlier failure; the `Repo` must be reopened.
    #[error("{0}")]
    HandleLost(&'static str),
    /// A local file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing, naming the path.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
    /// An error reported by the storage layer or the repository format library.
    #[error("{context}: {message}")]
    Repository {
        /// What we were doing.
        context: String,
        /// One-line cause.
        message: String,
    },
}

/// Result type of the engine.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Wrap a rustic_core error into a one-line engine error.
    pub(crate) fn rustic(context: impl Into<String>, err: &rustic_core::RusticError) -> Self {
        let message = err.display_log();
        let message = message.trim_start_matches("Error: ");
        // display_log can still carry newlines from attached sources; keep one line.
        let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
        Error::Repository {
            context: context.into(),
            message,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// Extension to attach context to rustic_core results.
pub(crate) trait RusticContext<T> {
    fn ctx(self, context: &str) -> Result<T>;
}

impl<T> RusticContext<T> for rustic_core::RusticResult<T> {
    fn ctx(self, context: &str) -> Result<T> {
        self.map_err(|e| Error::rustic(context, &e))
    }
}
