//! The single table from errors and outcomes to exit codes (as restic: 0, 1, 3, 10, 11, 12).

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
        if let Some(e) = cause.downcast_ref::<EngineError>() {
            return match e {
                EngineError::RepositoryNotFound { .. } => Code::NoRepository,
                EngineError::WrongPassword { .. } => Code::WrongPassword,
                EngineError::Busy { .. } => Code::Busy,
                // Refusals the operator resolves (name a clean snapshot or pass --force; give a
                // policy that keeps something): the documented status 1, told apart here.
                EngineError::NotClean { .. }
                | EngineError::NothingToCopy
                | EngineError::NoRetentionRule
                | EngineError::PolicyRemovesEverything => Code::Error,
                _ => Code::Error,
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
    fn refusals_keep_status_one_and_name_their_remedy() {
        let not_clean = EngineError::NotClean {
            snapshot: "1a2b3c4d".into(),
            verdict: kura_engine::Verdict::Suspicious,
        };
        assert!(not_clean.to_string().contains("--force"));
        let everything = EngineError::PolicyRemovesEverything;
        assert!(!everything.to_string().contains("--force"));
        for e in [not_clean, everything, EngineError::NoRetentionRule] {
            assert_eq!(code_of_error(&anyhow::Error::new(e)), Code::Error);
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
