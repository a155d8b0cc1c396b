//! Command-line flags (clap derive): what the user typed. `config.rs` turns it into meaning.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub(crate) const EXIT_STATUS: &str = "EXIT STATUS:\n  0 ok · 1 error · 3 snapshot saved but some files could not be read · 4 snapshot saved \
and judged suspicious · 5 done, but the audit record could not be written · 10 repository not found · \
11 repository busy · 12 wrong password\n  refused for safety: 20 snapshot not clean (name a clean one, or \
--force) · 21 forget/prune refused (no --keep-* rule, a policy that keeps nothing, or a guard incident \
holding every generation) · 22 no clean generation to copy";

/// kura (蔵): ransomware-resilient backup, detection and recovery for hospitals.
#[derive(Debug, Parser)]
#[command(name = "kura", version, about, after_help = EXIT_STATUS)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Repository location: a local directory (the default backend).
    #[arg(short = 'r', long = "repo", env = "KURA_REPOSITORY", global = true)]
    pub repo: Option<String>,
    /// Read the repository password from this file (else KURA_PASSWORD, else a prompt on a terminal).
    #[arg(long, env = "KURA_PASSWORD_FILE", global = true)]
    pub password_file: Option<PathBuf>,
    /// Configuration file (default ./kura.toml, then /etc/kura/kura.toml).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// One JSON document on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Print less: no progress, no summary.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// More log output on stderr (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Average upload limit to remotes in KiB/s (`remote push`; also `limit_upload` in kura.toml).
    #[arg(long, value_name = "KIB_S", global = true)]
    pub limit_upload: Option<u64>,
    /// Average download limit from remotes in KiB/s (`remote restore`, `remote verify
    /// --read-data`; also `limit_download` in kura.toml).
    #[arg(long, value_name = "KIB_S", global = true)]
    pub limit_download: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new repository (and optionally an example kura.toml).
    #[command(after_help = EXIT_STATUS)]
    Init(InitCmd),
    /// Back up paths into a new snapshot, judging it clean or suspicious.
    #[command(after_help = EXIT_STATUS)]
    Backup(BackupCmd),
    /// List snapshots with their verdicts.
    #[command(after_help = EXIT_STATUS)]
    Snapshots(SnapshotsCmd),
    /// List files in a snapshot.
    #[command(after_help = EXIT_STATUS)]
    Ls(LsCmd),
    /// Show what changed between two snapshots.
    #[command(after_help = EXIT_STATUS)]
    Diff(DiffCmd),
    /// Restore a snapshot into a directory.
    #[command(after_help = EXIT_STATUS)]
    Restore(RestoreCmd),
    /// Verify the repository (with --read-data: every byte).
    #[command(after_help = EXIT_STATUS)]
    Check(CheckCmd),
    /// Remove snapshots by a generation policy; never the newest clean or a quarantined one.
    #[command(after_help = EXIT_STATUS)]
    Forget(ForgetCmd),
    /// Query or verify the hash-chained audit log (who did what, when).
    #[command(after_help = EXIT_STATUS, subcommand)]
    Audit(AuditCmd),
    /// List alerts and other events; acknowledge, close or re-deliver them.
    #[command(after_help = EXIT_STATUS)]
    Events(EventsCmd),
    /// Offline disks: register, export clean generations, list rotation state.
    #[command(after_help = EXIT_STATUS, subcommand)]
    Media(MediaCmd),
    /// Immutable copies in an S3 bucket with Object Lock (COMPLIANCE mode).
    #[command(after_help = EXIT_STATUS, subcommand)]
    Remote(RemoteCmd),
    /// The 3-2-1-1-0 state of all copies (exit 1 when red).
    #[command(after_help = EXIT_STATUS)]
    Status(StatusCmd),
    /// Override a snapshot's verdict (recorded in the audit log with your reason).
    #[command(after_help = EXIT_STATUS)]
    Verdict(VerdictCmd),
    /// Run the detection engines on the live files against a snapshot; writes nothing.
    #[command(after_help = EXIT_STATUS)]
    Scan(ScanCmd),
    /// Decoy files that no legitimate program touches: plant them, or check them now.
    #[command(after_help = EXIT_STATUS, subcommand)]
    Canary(CanaryCmd),
    /// Put a snapshot under legal hold (never removed), or release it.
    #[command(after_help = EXIT_STATUS)]
    Hold(HoldCmd),
    /// Read-only continuity viewer of SS-MIX2 patient data in the last clean backup.
    #[command(after_help = EXIT_STATUS)]
    Serve(ServeCmd),
    /// Timed ransomware recovery exercise on a sandbox: start, hint, check.
    #[command(after_help = TRAIN_EXIT_STATUS, subcommand)]
    Train(TrainCmd),
    /// Print a shell completion script: `kura completions bash > /etc/bash_completion.d/kura`.
    Completions(CompletionsCmd),
    /// Write the manual pages (kura.1 and kura-COMMAND.1) into a folder.
    Man(ManCmd),
    /// Restore drill: restore into scratch space, verify every byte, measure the RTO.
    #[command(after_help = DRILL_EXIT_STATUS, args_conflicts_with_subcommands = true)]
    Drill(DrillCmd),
    /// Answer the MHLW checklist items on backup and recovery with kura's evidence (JSON, HTML).
    #[command(after_help = EXIT_STATUS)]
    Report(ReportCmd),
    /// The live guard: stop ransomware while it runs (fanotify, needs root), its incidents and
    /// blocklist.
    #[command(after_help = GUARD_EXIT_STATUS, subcommand)]
    Guard(GuardCmd),
}

const GUARD_EXIT_STATUS: &str = "EXIT STATUS:\n  0 ok (`watch`: stopped by a signal) · 1 error (`watch`: not root, a path that cannot be \
watched, or fanotify failed) · 5 done, but the audit record could not be written";

/// What the guard does on a trip (`guard.action` in kura.toml).
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum GuardActionArg {
    /// SIGSTOP the writer's whole process group, then SIGKILL it.
    Kill,
    /// SIGSTOP only (frozen for forensics).
    Stop,
    /// Report only (piloting).
    Alert,
}

#[derive(Debug, Subcommand)]
pub enum GuardCmd {
    /// Watch folders in the foreground (default: guard.paths, else backup.sources); needs root.
    /// With --json: one JSON object per line (`ready` once every mark is set, `tripped` per trip).
    Watch {
        /// Folders to watch.
        paths: Vec<PathBuf>,
        /// What to do on a trip (default: guard.action, else kill).
        #[arg(long, value_enum)]
        action: Option<GuardActionArg>,
    },
    /// The guard's trips, with what each writer damaged and created.
    Incidents,
    /// Executables the guard denies (SHA-256): list them, or remove one.
    Blocklist {
        /// Remove this SHA-256 from the blocklist.
        #[arg(long, value_name = "SHA256")]
        remove: Option<String>,
    },
    /// Lift an incident's hold: forget and prune run again (audited).
    Release {
        /// The incident's id (from `kura guard incidents`).
        id: u64,
    },
}

#[derive(Debug, Args)]
pub struct CompletionsCmd {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManCmd {
    /// Folder to write the pages into (e.g. /usr/local/share/man/man1).
    pub dir: PathBuf,
}

const TRAIN_EXIT_STATUS: &str = "EXIT STATUS\n  0  done (`check`: the exercise is passed)\n  1  error, or `check`: not passed yet (the mistakes are listed)";

#[derive(Debug, Subcommand)]
pub enum TrainCmd {
    /// Build a sandbox in DIR (empty or new): a hospital share, days of backups, an offline disk,
    /// and a simulated attack on the sandbox only; print the briefing. Nothing outside DIR is touched.
    Start {
        /// The sandbox folder (must be empty or not exist).
        dir: PathBuf,
        /// fast, dormant or offline-disk.
        #[arg(long, default_value = "fast")]
        scenario: String,
        /// Seed of the generated share and attack (default: from the clock).
        #[arg(long)]
        seed: Option<u64>,
    },
    /// The next hint (counted in the score).
    Hint {
        /// The sandbox folder.
        dir: PathBuf,
    },
    /// Grade the restore in DIR/restore: the right generation, nothing encrypted, time and hints.
    Check {
        /// The sandbox folder.
        dir: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct ReportCmd {
    /// Answers to the items only a person can give (TOML: [items."bcp.cyber"] answer, by, role, date, note).
    #[arg(long)]
    pub attest: Option<PathBuf>,
    /// Write the report as one self-contained HTML page (A4 print layout).
    #[arg(long, value_name = "FILE.html")]
    pub out: Option<PathBuf>,
    /// Also print it to PDF (real text, embedded Japanese font) with headless Chromium.
    #[arg(long, value_name = "FILE.pdf")]
    pub pdf: Option<PathBuf>,
}

const DRILL_EXIT_STATUS: &str = "EXIT STATUS:\n  0 the drill passed · 1 the drill failed (damage named) or an error · 10 repository not \
found · 11 repository busy · 12 wrong password";

#[derive(Debug, Args)]
pub struct DrillCmd {
    #[command(subcommand)]
    pub action: Option<DrillAction>,
    #[command(flatten)]
    pub run: DrillRunArgs,
}

#[derive(Debug, Subcommand)]
pub enum DrillAction {
    /// Past drills, their results, RTO and sign-offs.
    List,
    /// Record that a person reviewed a drill's result.
    Sign {
        /// The drill's id (from `kura drill list`).
        id: u64,
        /// Who signs.
        #[arg(long)]
        by: String,
        /// Their role (e.g. 情報システム担当).
        #[arg(long)]
        role: String,
    },
}

#[derive(Debug, Args)]
pub struct DrillRunArgs {
    /// Snapshot to restore.
    #[arg(long, default_value = "latest-clean")]
    pub snapshot: String,
    /// Which copy: `local`, `disk:LABEL` (an offline disk, mounted) or `remote:NAME`.
    #[arg(long, default_value = "local")]
    pub copy: String,
    /// Restore every file (default: a sample).
    #[arg(long, conflicts_with = "sample")]
    pub full: bool,
    /// Restore about this percentage of the files (default 10, or drill.sample_percent).
    #[arg(long, value_name = "PCT")]
    pub sample: Option<f64>,
    /// Make the scratch folder here (e.g. on the disk a real restore would use); it is removed afterwards.
    #[arg(long, short = 't')]
    pub target: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum VerdictArg {
    Clean,
    Suspicious,
}

#[derive(Debug, Args)]
pub struct VerdictCmd {
    #[arg(help = SNAP_HELP)]
    pub snapshot: String,
    /// The verdict to record.
    #[arg(long = "set", value_enum)]
    pub set: VerdictArg,
    /// Why (kept in the snapshot and the audit log).
    #[arg(long)]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct ScanCmd {
    /// Paths to scan (default: `sources` from kura.toml).
    pub paths: Vec<PathBuf>,
    /// Compare against this snapshot (default: latest-clean, else latest).
    #[arg(long)]
    pub against: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum CanaryCmd {
    /// Plant decoy files in a directory (they look like ordinary documents).
    Plant { dir: PathBuf },
    /// Check the canaries under the given paths against the last backup (exit 4 if touched).
    Check {
        /// Paths to check (default: `sources` from kura.toml).
        paths: Vec<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct HoldCmd {
    #[arg(help = SNAP_HELP)]
    pub snapshot: String,
    /// Release the hold instead.
    #[arg(long)]
    pub release: bool,
    /// Why (e.g. the case or request number).
    #[arg(long)]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct ServeCmd {
    /// Snapshot to show, pinned (default: latest-clean, followed as new clean backups arrive;
    /// latest when no snapshot is judged clean).
    pub snapshot: Option<String>,
    /// Same as the SNAPSHOT argument: show this snapshot and never switch.
    #[arg(long = "snapshot", value_name = "SNAP", conflicts_with = "snapshot")]
    pub snapshot_flag: Option<String>,
    /// Seconds between looks for a newer clean backup to show (0: never).
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    pub refresh: u64,
    /// TLS certificate chain (PEM) to serve HTTPS with. Beyond loopback HTTPS is always on: without
    /// a certificate a self-signed one is generated (kept in the state directory) and its
    /// SHA-256 fingerprint printed for staff to check.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
    /// Serve HTTPS on loopback too (with --tls-cert, or the self-signed certificate).
    #[arg(long)]
    pub tls: bool,
    /// Address to listen on. Anything but loopback requires viewer users in kura.toml.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// Only index SS-MIX2 files under this path inside the snapshot.
    #[arg(long)]
    pub root: Option<String>,
    /// Print an argon2 hash for a viewer user's password (read from KURA_VIEWER_PASSWORD or a
    /// prompt) to put in kura.toml, and exit.
    #[arg(long)]
    pub hash_password: bool,
}

#[derive(Debug, Subcommand)]
pub enum MediaCmd {
    /// Register a removable disk (its mount point) and create its repository.
    Add {
        /// Mount point of the disk.
        path: PathBuf,
        /// A label written on the disk's case (e.g. `monday`).
        #[arg(long)]
        label: String,
    },
    /// Copy generations to a registered disk, then verify every byte written.
    Export {
        /// The disk's label.
        label: String,
        /// Where the disk is mounted now (default: where it was registered).
        #[arg(long)]
        path: Option<PathBuf>,
        /// Snapshots to copy (default: the clean generations the retention policy keeps).
        #[arg(long = "snapshot")]
        snapshots: Vec<String>,
        /// Also copy suspicious or unjudged snapshots.
        #[arg(long)]
        force: bool,
    },
    /// Registered disks, their last export and whether rotation is overdue.
    List {
        /// Days after which a disk is overdue.
        #[arg(long, default_value_t = 7)]
        overdue_days: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum RemoteCmd {
    /// Register an S3 bucket (must have Object Lock enabled; credentials from the AWS env/profile).
    Add(RemoteAddArgs),
    /// Copy clean generations to the bucket, each object locked in COMPLIANCE mode.
    Push {
        name: String,
        /// Snapshots to copy (default: the clean generations the retention policy keeps).
        #[arg(long = "snapshot")]
        snapshots: Vec<String>,
        /// Also copy suspicious or unjudged snapshots.
        #[arg(long)]
        force: bool,
    },
    /// Re-read every object: locks, sizes, and (with --read-data) the repository's data.
    Verify {
        name: String,
        #[arg(long)]
        read_data: bool,
    },
    /// Push the lock of every object still needed forward to today + the retention period.
    Extend { name: String },
    /// List the snapshots held in the bucket.
    Snapshots { name: String },
    /// Restore a snapshot directly from the bucket.
    Restore {
        name: String,
        #[arg(help = SNAP_HELP)]
        snapshot: String,
        #[arg(long, short = 't')]
        target: PathBuf,
        /// Restore only this path inside the snapshot (kept under its folders, as a full restore).
        #[arg(long)]
        include: Option<String>,
        /// What to do with files that already exist in the target.
        #[arg(long, value_enum, default_value = "always")]
        overwrite: OverwriteArg,
        /// Only count what would be written; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Args)]
pub struct RemoteAddArgs {
    /// A short name for this remote.
    pub name: String,
    /// Bucket name (created with Object Lock enabled).
    #[arg(long)]
    pub bucket: String,
    /// Endpoint URL for non-AWS servers (SeaweedFS, MinIO, Ceph RGW).
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Region.
    #[arg(long, default_value = "ap-northeast-1")]
    pub region: String,
    /// Key prefix inside the bucket.
    #[arg(long, default_value = "kura")]
    pub prefix: String,
    /// AWS profile for credentials.
    #[arg(long)]
    pub profile: Option<String>,
    /// Shared credentials file (instead of ~/.aws/credentials).
    #[arg(long)]
    pub credentials_file: Option<PathBuf>,
    /// Days each snapshot object stays locked.
    #[arg(long, default_value_t = 30)]
    pub snapshot_days: u32,
    /// Days each data object stays locked (at least snapshot-days).
    #[arg(long, default_value_t = 60)]
    pub data_days: u32,
    /// Create the bucket with Object Lock if it does not exist (on-prem S3 servers).
    #[arg(long)]
    pub create_bucket: bool,
}

#[derive(Debug, Args)]
pub struct StatusCmd {}

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Show audit records (newest last).
    Log(AuditLogCmd),
    /// Prove the audit log untampered (also against checkpoints stored in the repository's snapshots).
    Verify(AuditVerifyCmd),
}

#[derive(Debug, Args)]
pub struct AuditLogCmd {
    /// Only records at or after this time (RFC 3339, e.g. 2026-11-01T00:00:00Z, or a date 2026-11-01).
    #[arg(long)]
    pub since: Option<String>,
    /// Only this actor.
    #[arg(long)]
    pub actor: Option<String>,
    /// Only this action (`backup`, or a prefix like `viewer.*`).
    #[arg(long)]
    pub action: Option<String>,
    /// At most the newest N records.
    #[arg(long)]
    pub limit: Option<usize>,
}

#[derive(Debug, Args)]
pub struct AuditVerifyCmd {
    /// Do not read checkpoints from the repository (verify the chain alone).
    #[arg(long)]
    pub no_repo: bool,
}

#[derive(Debug, Args)]
pub struct EventsCmd {
    /// Acknowledge an event (you have seen it).
    #[arg(long, value_name = "ID", conflicts_with_all = ["close", "deliver"])]
    pub ack: Option<u64>,
    /// Close an event (handled).
    #[arg(long, value_name = "ID", conflicts_with = "deliver")]
    pub close: Option<u64>,
    /// Retry delivering events whose alerts could not be sent.
    #[arg(long)]
    pub deliver: bool,
    /// Include closed events.
    #[arg(long)]
    pub all: bool,
}

/// Snapshot reference: an id prefix, `latest` or `latest-clean`.
pub const SNAP_HELP: &str = "snapshot: id prefix, `latest` or `latest-clean`";

#[derive(Debug, Args)]
pub struct InitCmd {
    /// Also write a configuration to this file (refuses to overwrite): this repository, the
    /// password file in use and the --source paths, with everything else as commented examples.
    #[arg(long)]
    pub write_config: Option<PathBuf>,
    /// A path to back up, written as `sources` into the --write-config file (repeatable).
    #[arg(long = "source", value_name = "PATH")]
    pub sources: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BackupCmd {
    /// Paths to back up (default: `sources` from kura.toml).
    pub paths: Vec<PathBuf>,
    /// Add a tag (repeatable).
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// Exclude files matching a glob (repeatable; adds to kura.toml's excludes).
    #[arg(long = "exclude")]
    pub excludes: Vec<String>,
    /// Skip detection (no verdict is recorded).
    #[arg(long)]
    pub no_detect: bool,
    /// Read every file even if unchanged since the parent snapshot.
    #[arg(long)]
    pub force: bool,
    /// Host name to record.
    #[arg(long)]
    pub host: Option<String>,
    /// Read everything and count what would be added; write nothing (no snapshot, no verdict).
    #[arg(long)]
    pub dry_run: bool,
    /// Record this time instead of now (RFC 3339, or `YYYY-MM-DD HH:MM:SS` in local time), as
    /// restic's `--time`.
    #[arg(long, value_parser = parse_time)]
    pub time: Option<jiff::Timestamp>,
}

/// A point in time: RFC 3339 (`2026-11-30T02:00:00+09:00`) or local civil time.
fn parse_time(s: &str) -> Result<jiff::Timestamp, String> {
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(t);
    }
    s.parse::<jiff::civil::DateTime>()
        .ok()
        .and_then(|dt| dt.to_zoned(jiff::tz::TimeZone::system()).ok())
        .map(|z| z.timestamp())
        .ok_or_else(|| {
            format!("{s:?} is not a time: use 2026-11-30T02:00:00+09:00 or \"2026-11-30 02:00:00\"")
        })
}

#[derive(Debug, Args)]
pub struct SnapshotsCmd {}

#[derive(Debug, Args)]
pub struct LsCmd {
    #[arg(help = SNAP_HELP)]
    pub snapshot: String,
    /// Only this path inside the snapshot.
    pub path: Option<String>,
    /// Long listing: type and permissions, size in bytes, modification time (local), name.
    #[arg(short = 'l', long)]
    pub long: bool,
}

#[derive(Debug, Args)]
pub struct DiffCmd {
    #[arg(help = SNAP_HELP)]
    pub older: String,
    #[arg(help = SNAP_HELP)]
    pub newer: String,
    /// Skip running the detection engines on changed files.
    #[arg(long)]
    pub no_findings: bool,
}

#[derive(Debug, Args)]
pub struct RestoreCmd {
    #[arg(help = SNAP_HELP)]
    pub snapshot: String,
    /// Folder to restore into (created if missing). Files land at TARGET/<path in the snapshot>.
    #[arg(long, short = 't', required_unless_present = "in_place")]
    pub target: Option<PathBuf>,
    /// Restore only this path (file or folder) inside the snapshot, under its parent folders,
    /// the same layout as a full restore.
    #[arg(long)]
    pub include: Option<String>,
    /// What to do with files that already exist in the target: always (rewrite any whose
    /// content differs), if-changed (size or time differ), if-newer (the snapshot's is newer),
    /// never.
    #[arg(long, value_enum, default_value = "always")]
    pub overwrite: OverwriteArg,
    /// Only count what would be written, overwritten and skipped; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Restore exactly the files a guard incident damaged (see `kura guard incidents`); the
    /// files the attacker created are listed for removal.
    #[arg(long, value_name = "ID", conflicts_with = "include")]
    pub incident: Option<u64>,
    /// With --incident: put the damaged files back where they were (their paths in the
    /// snapshot are absolute), replacing what the attacker left; a file changed after the
    /// incident is moved aside to <root>/.kura-replaced/ID/ first, never overwritten.
    #[arg(long, requires = "incident", conflicts_with = "target")]
    pub in_place: bool,
}

/// restic's `--overwrite` values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum OverwriteArg {
    Always,
    IfChanged,
    IfNewer,
    Never,
}

impl From<OverwriteArg> for kura_engine::Overwrite {
    fn from(a: OverwriteArg) -> Self {
        match a {
            OverwriteArg::Always => Self::Always,
            OverwriteArg::IfChanged => Self::IfChanged,
            OverwriteArg::IfNewer => Self::IfNewer,
            OverwriteArg::Never => Self::Never,
        }
    }
}

#[derive(Debug, Args)]
pub struct CheckCmd {
    /// Decrypt and verify every data pack, not only the structure.
    #[arg(long)]
    pub read_data: bool,
}

#[derive(Debug, Args, Default)]
pub struct ForgetCmd {
    /// Keep the last n snapshots.
    #[arg(long)]
    pub keep_last: Option<u32>,
    /// Keep the last n hourly snapshots.
    #[arg(long)]
    pub keep_hourly: Option<u32>,
    /// Keep the last n daily snapshots.
    #[arg(long)]
    pub keep_daily: Option<u32>,
    /// Keep the last n weekly snapshots.
    #[arg(long)]
    pub keep_weekly: Option<u32>,
    /// Keep the last n monthly snapshots.
    #[arg(long)]
    pub keep_monthly: Option<u32>,
    /// Keep the last n yearly snapshots.
    #[arg(long)]
    pub keep_yearly: Option<u32>,
    /// Also remove data no longer used by any snapshot.
    #[arg(long)]
    pub prune: bool,
    /// Show what would be removed; remove nothing.
    #[arg(long, short = 'n')]
    pub dry_run: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
