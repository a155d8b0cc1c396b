//! The single table from errors and outcomes to exit codes: restic's (0, 1, 3, 10, 11, 12),
//! kura's outcomes (4, 5) and kura's refusals for safety (20, 21, 22), so a script or a monitor
//! can tell "not clean, use --force" from "the retention policy removes everything".

use std::process::ExitCode;

use kura_engine::Error as EngineError;

/// Exit codes, documented in every command's help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Code {
    /// Success.
    Ok = 0,
    /// Any error.
    Error = 1,
    /// Snapshot saved, but some files could not be read.
    Unreadable = 3,
    /// Snapshot saved and judged suspicious (or a scan found an attack).
    Suspicious = 4,
    /// The command did its work, but its audit record could not be written (a gap in the
    /// audit log is what an attacker wants, so it must not look like success).
    AuditFailed = 5,
    /// Repository not found.
    NoRepository = 10,
    /// Repository busy (locked by another kura process).
    Busy = 11,
    /// Wrong password.
    WrongPassword = 12,
    /// Refused for safety: the snapshot chosen is not judged clean (name a clean one, or pass
    /// --force after looking at it).
    NotClean = 20,
    /// Refused for safety: forget/prune would break retention (no rule given, a policy that
    /// keeps nothing, or a guard incident holding every generation).
    RetentionRefused = 21,
    /// Nothing clean to copy: no clean generation exists for a disk or remote copy.
    NothingToCopy = 22,
}

/// A refusal decided by the binary itself (not by a library), with its own exit code.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// forget/prune while a guard incident holds every generation.
    #[error(
        "forget and prune are paused: guard incident {id} ({time}) holds every generation until someone runs `kura guard release {id}` after looking at it"
    )]
    IncidentHold {
        /// The incident's id.
        id: String,
        /// When it was opened, for people.
        time: String,
    },
}

/// What a successful command wants the exit status to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// All good.
    Ok,
    /// Done, but some files could not be read.
    Unreadable,
    /// Done, and the data looks attacked.
    Suspicious,
    /// Done, but a verification failed (check found errors).
    Failed,
    /// Done, but the audit record could not be written.
    AuditFailed,
}

pub fn code_of_outcome(o: Outcome) -> ExitCode {
    ExitCode::from(match o {
        Outcome::Ok => Code::Ok,
        Outcome::Unreadable => Code::Unreadable,
        Outcome::Suspicious => Code::Suspicious,
        Outcome::Failed => Code::Error,
        Outcome::AuditFailed => Code::AuditFailed,
    } as u8)
}

fn code_of_error(err: &anyhow::Error) -> Code {
    for cause in err.chain() {
        // kura-recovery wraps engine errors transparently: its chain skips the engine error.
        let engine = match cause.downcast_ref::<kura_recovery::Error>() {
            Some(kura_recovery::Error::Engine(e)) => Some(e),
            _ => cause.downcast_ref::<EngineError>(),
        };
        if let Some(e) = engine {
            return code_of_engine_error(e);
        }
        if let Some(r) = cause.downcast_ref::<Refusal>() {
            return match r {
                Refusal::IncidentHold { .. } => Code::RetentionRefused,
            };
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::BrokenPipe
        {
            return Code::Ok;
        }
    }
    Code::Error
}

fn code_of_engine_error(e: &EngineError) -> Code {
    match e {
        EngineError::RepositoryNotFound { .. } => Code::NoRepository,
        EngineError::WrongPassword { .. } => Code::WrongPassword,
        EngineError::Busy { .. } => Code::Busy,
        EngineError::NotClean { .. } => Code::NotClean,
        EngineError::NoRetentionRule | EngineError::PolicyRemovesEverything => {
            Code::RetentionRefused
        }
        EngineError::NothingToCopy => Code::NothingToCopy,
        _ => Code::Error,
    }
}

/// Whether the error is a refusal of access (wrong password), audited as `denied`.
pub fn is_denied(err: &anyhow::Error) -> bool {
    code_of_error(err) == Code::WrongPassword
}

/// The error and its causes on one line, each cause once: libraries often put their cause in
/// their own message too, and `{:#}` would then print it twice.
pub fn one_line(err: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if message.contains(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Print the error once (one line; JSON on stdout with `--json`) and return its exit code.
pub fn report_error(err: &anyhow::Error, json: bool) -> ExitCode {
    let code = code_of_error(err);
    if code == Code::Ok {
        return ExitCode::SUCCESS;
    }
    let message = one_line(err);
    if json {
        let doc = serde_json::json!({ "error": message, "exit_code": code as u8 });
        println!("{doc}");
    }
    eprintln!("kura: error: {message}");
    ExitCode::from(code as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_map_to_restic_codes() {
        let e = anyhow::Error::new(EngineError::WrongPassword {
            location: "x".into(),
        });
        assert_eq!(code_of_error(&e), Code::WrongPassword);
        let e = anyhow::Error::new(EngineError::RepositoryNotFound {
            location: "x".into(),
        })
        .context("opening");
        assert_eq!(code_of_error(&e), Code::NoRepository);
        let e = anyhow::Error::new(EngineError::Busy {
            location: "x".into(),
            holder: "y".into(),
        });
        assert_eq!(code_of_error(&e), Code::Busy);
        assert_eq!(code_of_error(&anyhow::anyhow!("other")), Code::Error);
    }

    #[test]
    fn refusals_have_their_own_codes_and_name_their_remedy() {
        let not_clean = EngineError::NotClean {
            snapshot: "1a2b3c4d".into(),
            verdict: kura_engine::Verdict::Suspicious,
        };
        assert!(not_clean.to_string().contains("--force"));
        let e = anyhow::Error::new(not_clean).context("exporting to disk a");
        assert_eq!(code_of_error(&e), Code::NotClean);
        let everything = EngineError::PolicyRemovesEverything;
        assert!(!everything.to_string().contains("--force"));
        for e in [everything, EngineError::NoRetentionRule] {
            assert_eq!(
                code_of_error(&anyhow::Error::new(e)),
                Code::RetentionRefused
            );
        }
        let hold = Refusal::IncidentHold {
            id: "7".into(),
            time: "2026-12-01 20:00".into(),
        };
        assert!(hold.to_string().contains("kura guard release 7"));
        assert_eq!(
            code_of_error(&anyhow::Error::new(hold)),
            Code::RetentionRefused
        );
        let nothing = anyhow::Error::new(EngineError::NothingToCopy);
        assert_eq!(code_of_error(&nothing), Code::NothingToCopy);
        // A copy's verification failing is a failure, not a refusal.
        assert_eq!(
            code_of_error(&anyhow::anyhow!("disk a failed")),
            Code::Error
        );
    }

    #[test]
    fn engine_errors_inside_recovery_errors_keep_their_code() {
        let e = anyhow::Error::new(kura_recovery::Error::Engine(EngineError::Busy {
            location: "x".into(),
            holder: "y".into(),
        }));
        assert_eq!(code_of_error(&e), Code::Busy);
    }

    #[test]
    fn codes_are_distinct_and_documented() {
        let codes = [
            Code::Ok,
            Code::Error,
            Code::Unreadable,
            Code::Suspicious,
            Code::AuditFailed,
            Code::NoRepository,
            Code::Busy,
            Code::WrongPassword,
            Code::NotClean,
            Code::RetentionRefused,
            Code::NothingToCopy,
        ];
        let mut seen = std::collections::BTreeSet::new();
        for c in codes {
            assert!(seen.insert(c as u8), "{c:?} reuses a code");
            let entry = format!(" {} ", c as u8);
            assert!(
                crate::cli::EXIT_STATUS.contains(&entry),
                "{c:?} missing from the help's EXIT STATUS"
            );
        }
    }

    #[test]
    fn causes_are_printed_once() {
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        let e = anyhow::Error::new(kura_engine::Error::Source {
            path: "/x".into(),
            reason: "gone".into(),
        })
        .context("backing up");
        assert_eq!(
            one_line(&e),
            "backing up: backup source /x cannot be used: gone"
        );
        #[derive(Debug)]
        struct Wrapped {
            source: std::io::Error,
        }
        impl std::fmt::Display for Wrapped {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "cannot read /p: {}", self.source)
            }
        }
        impl std::error::Error for Wrapped {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.source)
            }
        }
        let text = io.to_string();
        let e = anyhow::Error::new(Wrapped { source: io });
        assert_eq!(one_line(&e), format!("cannot read /p: {text}"));
    }

    #[test]
    fn broken_pipe_is_success() {
        let e = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert_eq!(code_of_error(&e), Code::Ok);
    }
}
