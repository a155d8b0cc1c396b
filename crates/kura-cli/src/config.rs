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
    pub report: ReportSection,
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
    /// Make every open in the watched folders wait for the guard, a new file's creating open
    /// included (default false: existing files are checked on open and new files from the
    /// moment the guard has seen them created; every open is checked anyway while the
    /// blocklist is not empty).
    pub check_every_open: Option<bool>,
}

/// `[report]`: the compliance report.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSection {
    /// Recovery point objective in hours: the newest clean backup must be at most this old
    /// (default 24, a nightly backup).
    pub rpo_hours: Option<u32>,
}

impl FileConfig {
    /// The retention policy: `[retention]`, else kura's default for medical records. Used by
    /// `forget` without --keep-* flags and to choose the generations copied to disks and remotes.
    pub fn retention_policy(&self) -> kura_engine::KeepPolicy {
        self.retention
            .clone()
            .unwrap_or_else(kura_engine::KeepPolicy::hospital_default)
    }
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

/// The configuration a run uses: kura.toml, the environment and the global flags, merged and
/// checked once by [`Config::build`] (flags and environment win over the file). Flags of one
/// command (backup paths, --keep-*) are merged through its methods, so that no command merges
/// by hand. The file's own sections (`backup`, `detect`, `viewer`, `drill`, `channel`) are read
/// through `Deref`.
#[derive(Debug)]
pub struct Config {
    /// kura.toml as written (defaults when there is none).
    pub file: FileConfig,
    /// -r/--repo or KURA_REPOSITORY, else `repository`.
    pub repository: Option<String>,
    /// --password-file or KURA_PASSWORD_FILE.
    pub password_file_flag: Option<PathBuf>,
    /// Average upload limit to remotes and paced disks, KiB/s: --limit-upload, else the file.
    pub limit_upload: Option<u64>,
    /// Average download limit, KiB/s: --limit-download, else the file.
    pub limit_download: Option<u64>,
    /// kura's state directory, when one can be named (see [`state_dir`]).
    state_dir: Option<PathBuf>,
}

impl std::ops::Deref for Config {
    type Target = FileConfig;

    fn deref(&self) -> &FileConfig {
        &self.file
    }
}

impl Config {
    /// Load kura.toml (`--config`, else `./kura.toml`, else `/etc/kura/kura.toml`) and merge
    /// the global flags and environment into it.
    pub fn build(global: &crate::cli::GlobalArgs) -> Result<Config> {
        let (file, _origin) = FileConfig::load(global.config.as_deref())?;
        Ok(Self::merge(file, global))
    }

    fn merge(file: FileConfig, global: &crate::cli::GlobalArgs) -> Self {
        Config {
            repository: global.repo.clone().or_else(|| file.repository.clone()),
            password_file_flag: global.password_file.clone(),
            limit_upload: global.limit_upload.or(file.limit_upload),
            limit_download: global.limit_download.or(file.limit_download),
            state_dir: state_dir(&file).ok(),
            file,
        }
    }

    /// kura's state directory (audit log, events, registries).
    pub fn state_dir(&self) -> Result<PathBuf> {
        match &self.state_dir {
            Some(d) => Ok(d.clone()),
            None => bail!("no state directory: set KURA_STATE_DIR or `state_dir` in kura.toml"),
        }
    }

    /// The repository to open.
    pub fn location(&self) -> Result<kura_engine::Location> {
        let spec = self.repository.as_deref().context(
            "no repository given: use -r/--repo, KURA_REPOSITORY or `repository` in kura.toml",
        )?;
        Ok(kura_engine::Location::parse_local(spec)?)
    }

    /// The repository password, in [`password`]'s order.
    pub fn password(&self) -> Result<String> {
        password(
            self.password_file_flag.as_deref(),
            self.file.password_file.as_deref(),
        )
    }

    /// The file [`Config::password`] reads the password from (none when it comes from
    /// KURA_PASSWORD or a prompt).
    pub fn password_file_in_use(&self) -> Option<PathBuf> {
        let from_env = std::env::var("KURA_PASSWORD").is_ok_and(|p| !p.is_empty());
        match (&self.password_file_flag, from_env) {
            (Some(p), _) => Some(p.clone()),
            (None, true) => None,
            (None, false) => self.file.password_file.clone(),
        }
    }

    /// The retention policy: the --keep-* flags when any is set, else the file's.
    pub fn retention(&self, flags: &kura_engine::KeepPolicy) -> kura_engine::KeepPolicy {
        if flags.is_set() {
            flags.clone()
        } else {
            self.file.retention_policy()
        }
    }

    /// The paths to back up or scan: those given, else `sources`.
    pub fn sources(&self, given: &[PathBuf]) -> Vec<PathBuf> {
        if given.is_empty() {
            self.file.backup.sources.clone()
        } else {
            given.to_vec()
        }
    }

    /// Exclude patterns: the file's, then those given.
    pub fn excludes(&self, given: &[String]) -> Vec<String> {
        let mut all = self.file.backup.excludes.clone();
        all.extend(given.iter().cloned());
        all
    }

    /// Snapshot tags: the file's, then those given.
    pub fn tags(&self, given: &[String]) -> Vec<String> {
        let mut all = self.file.backup.tags.clone();
        all.extend(given.iter().cloned());
        all
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

    fn global(args: &[&str]) -> crate::cli::GlobalArgs {
        use clap::Parser;
        let mut argv = vec!["kura"];
        argv.extend_from_slice(args);
        argv.push("snapshots");
        crate::cli::Cli::try_parse_from(argv).unwrap().global
    }

    #[test]
    fn flags_win_over_the_file_and_the_file_fills_the_rest() {
        let file = FileConfig::parse(
            "repository = \"/srv/file-repo\"\nlimit_upload = 100\nlimit_download = 200\n[retention]\ndaily = 3\n[backup]\nsources = [\"/srv/records\"]\nexcludes = [\"*.tmp\"]\ntags = [\"nightly\"]\n",
            Path::new("kura.toml"),
        )
        .unwrap();
        let cfg = Config::merge(
            file,
            &global(&["-r", "/srv/flag-repo", "--limit-upload", "5"]),
        );
        assert_eq!(cfg.repository.as_deref(), Some("/srv/flag-repo"));
        assert_eq!((cfg.limit_upload, cfg.limit_download), (Some(5), Some(200)));
        assert_eq!(
            cfg.retention(&kura_engine::KeepPolicy::default()).daily,
            Some(3)
        );
        let flags = kura_engine::KeepPolicy {
            last: Some(2),
            ..Default::default()
        };
        assert_eq!(cfg.retention(&flags), flags);
        assert_eq!(cfg.sources(&[]), vec![PathBuf::from("/srv/records")]);
        assert_eq!(
            cfg.sources(&[PathBuf::from("/x")]),
            vec![PathBuf::from("/x")]
        );
        assert_eq!(cfg.excludes(&["*.bak".into()]), vec!["*.tmp", "*.bak"]);
        assert_eq!(cfg.tags(&[]), vec!["nightly"]);
        // The file's sections stay readable through the merged configuration.
        assert_eq!(cfg.backup.sources.len(), 1);

        let cfg = Config::merge(FileConfig::default(), &global(&[]));
        assert_eq!(
            cfg.retention(&kura_engine::KeepPolicy::default()),
            kura_engine::KeepPolicy::hospital_default()
        );
        let err = cfg.location().unwrap_err().to_string();
        assert!(err.contains("no repository given"), "{err}");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = FileConfig::parse("repositry = \"/x\"\n", Path::new("k.toml")).unwrap_err();
        assert!(format!("{err:#}").contains("repositry"));
    }
}
