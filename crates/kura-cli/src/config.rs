//! `kura.toml` + environment + flags → one validated configuration.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// The configuration file, as written by the operator.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Repository location.
    pub repository: Option<String>,
    /// File holding the repository password.
    pub password_file: Option<PathBuf>,
    #[serde(default)]
    pub backup: BackupSection,
    /// Retention policy (generations).
    pub retention: Option<kura_engine::KeepPolicy>,
    #[serde(default)]
    pub detect: DetectSection,
    /// Where kura keeps its own state (audit log, events): default $KURA_STATE_DIR, else
    /// $XDG_STATE_HOME/kura, else ~/.local/state/kura.
    pub state_dir: Option<PathBuf>,
    #[serde(default)]
    pub viewer: ViewerSection,
    /// Average upload limit to remotes, KiB/s (`--limit-upload` overrides).
    pub limit_upload: Option<u64>,
    /// Average download limit from remotes, KiB/s (`--limit-download` overrides).
    pub limit_download: Option<u64>,
    /// Alert channels (syslog, smtp, webhook), one `[[channel]]` table each.
    #[serde(default, rename = "channel")]
    pub channels: Vec<kura_audit::ChannelConfig>,
    #[serde(default)]
    pub drill: DrillSection,
    #[serde(default)]
    pub guard: GuardSection,
}

/// `[guard]`: the live guard (`kura guard watch`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardSection {
    /// Folders to watch (default: backup.sources).
    #[serde(default)]
    pub paths: Vec<PathBuf>,
    /// `kill` (default), `stop` or `alert`.
    pub action: Option<kura_guard::Action>,
    /// Writers scored and reported but never stopped: `{ exe = "...", sha256 = "..." }`.
    #[serde(default)]
    pub trusted: Vec<kura_guard::Trusted>,
    /// Run on a trip (no shell); gets KURA_GUARD_INCIDENT, KURA_WRITER_PID, KURA_WRITER_PGID,
    /// KURA_WRITER_EXE, KURA_WRITER_SHA256, KURA_WRITER_UID, KURA_WRITER_CLIENT_IP.
    pub isolate_command: Option<Vec<String>>,
    /// Plant canaries in the watched folders (default true).
    pub canaries: Option<bool>,
    /// smb.conf of the Samba server sharing the watched folders (for `smbcontrol -s`; default:
    /// Samba's own default).
    pub smb_conf: Option<PathBuf>,
}

/// `[drill]`: restore drills.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillSection {
    /// `kura status` turns amber when the last passed drill of a copy is older (default 30).
    pub max_age_days: Option<u32>,
    /// Packs are read in this many parts, one per drill (default 30: daily drills read all in a month).
    pub read_parts: Option<u32>,
    /// Default sample size in percent (default 10).
    pub sample_percent: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupSection {
    /// Paths backed up when `kura backup` gets none.
    #[serde(default)]
    pub sources: Vec<PathBuf>,
    /// Glob patterns to exclude.
    #[serde(default)]
    pub excludes: Vec<String>,
    /// Tags added to every snapshot.
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewerSection {
    /// Accounts for the continuity viewer; required when it listens beyond 127.0.0.1.
    #[serde(default, rename = "user")]
    pub users: Vec<ViewerUserConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewerUserConfig {
    pub name: String,
    /// From `kura serve --hash-password`.
    pub argon2_hash: String,
    /// Optional TOTP secret (base32).
    pub totp_secret: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectSection {
    /// Command run (no shell) when a snapshot is judged suspicious; gets KURA_SNAPSHOT,
    /// KURA_VERDICT and KURA_FINDINGS in its environment.
    pub alert_command: Option<Vec<String>>,
}

/// The example written by `kura init --write-config`.
pub const EXAMPLE: &str = include_str!("../../../examples/kura.toml");

/// The configuration `kura init --write-config` writes: the repository just created, the
/// password file and sources in use, and everything else of [`EXAMPLE`] as commented examples.
pub fn written(repository: &str, password_file: Option<&Path>, sources: &[PathBuf]) -> String {
    let quote = |s: &str| toml::Value::String(s.to_string()).to_string();
    let mut out = String::new();
    for line in EXAMPLE.lines() {
        let key = line.split('=').next().unwrap_or("").trim();
        let new = if line.starts_with('#') || line.trim().is_empty() || line == "[backup]" {
            line.to_string()
        } else if key == "repository" {
            format!("repository = {}", quote(repository))
        } else if key == "password_file" {
            match password_file {
                Some(p) => format!("password_file = {}", quote(&p.display().to_string())),
                None => format!(
                    "# (the password came from KURA_PASSWORD; to run unattended, put it in a file)\n# {line}"
                ),
            }
        } else if key == "sources" && !sources.is_empty() {
            let list: Vec<String> = sources
                .iter()
                .map(|p| quote(&p.display().to_string()))
                .collect();
            format!("sources = [{}]", list.join(", "))
        } else {
            format!("# {line}")
        };
        out.push_str(&new);
        out.push('\n');
    }
    out
}

impl FileConfig {
    /// Parse a configuration text.
    pub fn parse(text: &str, origin: &Path) -> Result<FileConfig> {
        let cfg: FileConfig = toml::from_str(text)
            .with_context(|| format!("invalid configuration {}", origin.display()))?;
        for ch in &cfg.channels {
            if let Err(e) = ch.validate() {
                bail!(
                    "invalid channel {} in {}: {e}",
                    ch.label(),
                    origin.display()
                );
            }
        }
        Ok(cfg)
    }

    /// Load `--config FILE` (must exist), else `./kura.toml`, else `/etc/kura/kura.toml`, else defaults.
    pub fn load(explicit: Option<&Path>) -> Result<(FileConfig, Option<PathBuf>)> {
        if let Some(p) = explicit {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read configuration {}", p.display()))?;
            return Ok((Self::parse(&text, p)?, Some(p.to_path_buf())));
        }
        for candidate in [Path::new("kura.toml"), Path::new("/etc/kura/kura.toml")] {
            if candidate.is_file() {
                let text = std::fs::read_to_string(candidate).with_context(|| {
                    format!("cannot read configuration {}", candidate.display())
                })?;
                return Ok((
                    Self::parse(&text, candidate)?,
                    Some(candidate.to_path_buf()),
                ));
            }
        }
        Ok((FileConfig::default(), None))
    }
}

/// kura's state directory (audit log, events): `state_dir` in kura.toml, else $KURA_STATE_DIR,
/// else systemd's $STATE_DIRECTORY, else $XDG_STATE_HOME/kura, else ~/.local/state/kura.
pub fn state_dir(config: &FileConfig) -> Result<PathBuf> {
    if let Some(d) = &config.state_dir {
        return Ok(d.clone());
    }
    if let Some(d) = std::env::var_os("KURA_STATE_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    // systemd's StateDirectory= (the shipped units set StateDirectory=kura).
    if let Some(d) = std::env::var_os("STATE_DIRECTORY").filter(|d| !d.is_empty()) {
        let first = d
            .to_string_lossy()
            .split(':')
            .next()
            .unwrap_or("")
            .to_string();
        return Ok(PathBuf::from(first));
    }
    if let Some(d) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("kura"));
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".local/state/kura")),
        None => bail!("no state directory: set KURA_STATE_DIR or `state_dir` in kura.toml"),
    }
}

/// Read the password: `--password-file`/`KURA_PASSWORD_FILE`, then `KURA_PASSWORD`, then the
/// config's `password_file`, then a prompt when stdin is a terminal. Never from argv.
pub fn password(flag_file: Option<&Path>, config_file: Option<&Path>) -> Result<String> {
    let from_file = |p: &Path| -> Result<String> {
        let text = std::fs::read_to_string(p)
            .with_context(|| format!("cannot read password file {}", p.display()))?;
        let pw = text.lines().next().unwrap_or("").to_string();
        if pw.is_empty() {
            bail!("password file {} is empty", p.display());
        }
        Ok(pw)
    };
    if let Some(p) = flag_file {
        return from_file(p);
    }
    if let Ok(pw) = std::env::var("KURA_PASSWORD")
        && !pw.is_empty()
    {
        return Ok(pw);
    }
    if let Some(p) = config_file {
        return from_file(p);
    }
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        let pw = rpassword::prompt_password("repository password: ")
            .context("cannot read the password")?;
        if !pw.is_empty() {
            return Ok(pw);
        }
    }
    bail!("no repository password: set KURA_PASSWORD, KURA_PASSWORD_FILE or --password-file")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses() {
        let cfg = FileConfig::parse(EXAMPLE, Path::new("examples/kura.toml")).unwrap();
        assert!(cfg.retention.is_some());
        let uncommented = EXAMPLE
            .replace("# limit_upload", "limit_upload")
            .replace("# state_dir", "state_dir");
        let cfg = FileConfig::parse(&uncommented, Path::new("examples/kura.toml")).unwrap();
        assert_eq!(cfg.limit_upload, Some(2048));
        // A top-level key: under a section it would be that section's (and refused).
        assert_eq!(cfg.state_dir.as_deref(), Some(Path::new("/var/lib/kura")));
        assert!(!cfg.backup.sources.is_empty());
    }

    #[test]
    fn written_config_has_the_real_values_and_parses() {
        let text = written(
            "/data/kura repo",
            Some(Path::new("/etc/kura/pw")),
            &[PathBuf::from("/srv/a"), PathBuf::from("/srv/b \"q\"")],
        );
        let cfg = FileConfig::parse(&text, Path::new("k.toml")).unwrap();
        assert_eq!(cfg.repository.as_deref(), Some("/data/kura repo"));
        assert_eq!(
            cfg.password_file.as_deref(),
            Some(Path::new("/etc/kura/pw"))
        );
        assert_eq!(cfg.backup.sources.len(), 2);
        assert!(cfg.retention.is_none() && cfg.channels.is_empty());
        assert!(text.contains("# [retention]"));
        let bare = FileConfig::parse(&written("/r", None, &[]), Path::new("k.toml")).unwrap();
        assert!(bare.password_file.is_none() && bare.backup.sources.is_empty());
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = FileConfig::parse("repositry = \"/x\"\n", Path::new("k.toml")).unwrap_err();
        assert!(format!("{err:#}").contains("repositry"));
    }
}
