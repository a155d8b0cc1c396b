//! The guard's files in kura's state directory (`<state>/guard/`): incidents (one JSON file
//! each, with the damage list and whether their hold is released) and the blocklist.
//!
//! The hold: an incident that is not released pauses `kura forget` and prune (the CLI checks
//! [`open_holds`] before it removes anything), so latest-clean and every older generation stay
//! until a person has looked and run `kura guard release ID`. The guard cannot take a hold in
//! the repository itself: it does not open repositories (no password, no engine).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::writer::Writer;
use crate::{Error, Result};

/// One trip of the guard.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Incident {
    /// 1, 2, … in this state directory.
    pub id: u64,
    /// When the guard tripped (UTC).
    pub time: jiff::Timestamp,
    /// Who wrote.
    pub writer: Writer,
    /// SHA-256 of the writer's executable, when it could be read.
    pub sha256: Option<String>,
    /// Engines with findings, e.g. `["canary", "format"]`.
    pub engines: Vec<String>,
    /// The rules that fired, for people.
    pub reasons: Vec<String>,
    /// The strongest findings (path, engine, score, reason).
    pub findings: Vec<kura_detect::Finding>,
    /// Originals the writer changed, deleted or renamed away: restore exactly these.
    pub damaged: Vec<String>,
    /// Files the writer created (renamed copies, notes): listed for removal, never restored.
    pub created: Vec<String>,
    /// What the guard did: `killed`, `stopped`, `alerted`, `writer_gone`, `trusted`.
    pub action: String,
    /// Problems while acting (e.g. the isolate command failed), one line each.
    #[serde(default)]
    pub action_errors: Vec<String>,
    /// Watched roots at the time.
    pub roots: Vec<PathBuf>,
    /// Set by `kura guard release`: the hold on forget/prune is lifted.
    pub released: Option<Release>,
}

/// Who released an incident's hold, and when.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Release {
    /// The OS user.
    pub by: String,
    /// When (UTC).
    pub at: jiff::Timestamp,
}

/// One executable denied writes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BlockEntry {
    /// SHA-256 (hex) of the executable.
    pub sha256: String,
    /// Its path when it was blocked.
    pub exe: Option<PathBuf>,
    /// The incident that blocked it.
    pub incident: u64,
    /// When (UTC).
    pub added: jiff::Timestamp,
}

/// `<state>/guard`.
pub fn guard_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("guard")
}

fn incidents_dir(state_dir: &Path) -> PathBuf {
    guard_dir(state_dir).join("incidents")
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(io_err(d))?;
    }
    let text = serde_json::to_vec_pretty(value).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    })?;
    // Write then rename: a reader never sees half a file.
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = std::fs::read(path).map_err(io_err(path))?;
    serde_json::from_slice(&text).map_err(|e| Error::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Every incident, oldest first.
pub fn incidents(state_dir: &Path) -> Result<Vec<Incident>> {
    let dir = incidents_dir(state_dir);
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(&dir)(e)),
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "json") {
            out.push(read_json::<Incident>(&p)?);
        }
    }
    out.sort_by_key(|i| i.id);
    Ok(out)
}

/// One incident by id.
pub fn incident(state_dir: &Path, id: u64) -> Result<Incident> {
    let p = incidents_dir(state_dir).join(format!("{id}.json"));
    if !p.exists() {
        return Err(Error::NoIncident(id));
    }
    read_json(&p)
}

/// Stores a new incident, giving it the next id.
pub fn save_new_incident(state_dir: &Path, incident: &mut Incident) -> Result<()> {
    incident.id = incidents(state_dir)?.last().map_or(1, |i| i.id + 1);
    save_incident(state_dir, incident)
}

/// Rewrites an incident.
pub fn save_incident(state_dir: &Path, incident: &Incident) -> Result<()> {
    write_json(
        &incidents_dir(state_dir).join(format!("{}.json", incident.id)),
        incident,
    )
}

/// Incidents whose hold is not released: while any exists, forget and prune must not run.
pub fn open_holds(state_dir: &Path) -> Result<Vec<Incident>> {
    Ok(incidents(state_dir)?
        .into_iter()
        .filter(|i| i.released.is_none())
        .collect())
}

/// Releases an incident's hold (idempotent: an already released one keeps its first release).
pub fn release(state_dir: &Path, id: u64, by: &str) -> Result<Incident> {
    let mut i = incident(state_dir, id)?;
    if i.released.is_none() {
        i.released = Some(Release {
            by: by.to_string(),
            at: jiff::Timestamp::now(),
        });
        save_incident(state_dir, &i)?;
    }
    Ok(i)
}

fn blocklist_path(state_dir: &Path) -> PathBuf {
    guard_dir(state_dir).join("blocklist.json")
}

/// The blocklist.
pub fn blocklist(state_dir: &Path) -> Result<Vec<BlockEntry>> {
    let p = blocklist_path(state_dir);
    if !p.exists() {
        return Ok(Vec::new());
    }
    read_json(&p)
}

/// Adds an executable (no duplicate hashes).
pub fn block(state_dir: &Path, entry: BlockEntry) -> Result<()> {
    let mut list = blocklist(state_dir)?;
    if !list.iter().any(|e| e.sha256 == entry.sha256) {
        list.push(entry);
        write_json(&blocklist_path(state_dir), &list)?;
    }
    Ok(())
}

/// Removes an executable by hash; false when it was not listed.
pub fn unblock(state_dir: &Path, sha256: &str) -> Result<bool> {
    let mut list = blocklist(state_dir)?;
    let before = list.len();
    list.retain(|e| !e.sha256.eq_ignore_ascii_case(sha256));
    if list.len() == before {
        return Ok(false);
    }
    write_json(&blocklist_path(state_dir), &list)?;
    Ok(true)
}

/// What a running guard publishes about itself (`<state>/guard/status.json`), for `kura status`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct GuardStatus {
    /// The guard's pid.
    pub pid: u32,
    /// When it became ready.
    pub since: jiff::Timestamp,
    /// Watched roots.
    pub roots: Vec<PathBuf>,
    /// kill, stop or alert.
    pub action: String,
}

/// Records that a guard runs.
pub fn write_status(state_dir: &Path, status: &GuardStatus) -> Result<()> {
    write_json(&guard_dir(state_dir).join("status.json"), status)
}

/// The running guard, if its status file names a live process.
pub fn running(state_dir: &Path) -> Option<GuardStatus> {
    let s: GuardStatus = read_json(&guard_dir(state_dir).join("status.json")).ok()?;
    Path::new(&format!("/proc/{}", s.pid)).exists().then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident() -> Incident {
        Incident {
            id: 0,
            time: jiff::Timestamp::UNIX_EPOCH,
            writer: crate::writer::Writer {
                pgid: 5,
                sid: 5,
                pid: 5,
                exe: None,
                comm: "x".into(),
                uid: 0,
                ..Default::default()
            },
            sha256: None,
            engines: vec!["canary".into()],
            reasons: vec![],
            findings: vec![],
            damaged: vec!["/s/a".into()],
            created: vec![],
            action: "killed".into(),
            action_errors: vec![],
            roots: vec![],
            released: None,
        }
    }

    #[test]
    fn incidents_get_ids_and_holds_are_released() -> Result<()> {
        let dir = tempfile::tempdir().map_err(io_err(Path::new("tmp")))?;
        let mut a = incident();
        save_new_incident(dir.path(), &mut a)?;
        let mut b = incident();
        save_new_incident(dir.path(), &mut b)?;
        assert_eq!((a.id, b.id), (1, 2));
        assert_eq!(open_holds(dir.path())?.len(), 2);
        release(dir.path(), 1, "root")?;
        assert_eq!(open_holds(dir.path())?.len(), 1);
        assert!(matches!(
            self::incident_missing(dir.path()),
            Err(Error::NoIncident(9))
        ));
        Ok(())
    }

    fn incident_missing(d: &Path) -> Result<Incident> {
        super::incident(d, 9)
    }

    #[test]
    fn blocklist_add_and_remove() -> Result<()> {
        let dir = tempfile::tempdir().map_err(io_err(Path::new("tmp")))?;
        let e = BlockEntry {
            sha256: "ab".repeat(32),
            exe: None,
            incident: 1,
            added: jiff::Timestamp::UNIX_EPOCH,
        };
        block(dir.path(), e.clone())?;
        block(dir.path(), e)?;
        assert_eq!(blocklist(dir.path())?.len(), 1);
        assert!(unblock(dir.path(), &"AB".repeat(32))?);
        assert!(!unblock(dir.path(), "cd")?);
        assert!(blocklist(dir.path())?.is_empty());
        Ok(())
    }
}
