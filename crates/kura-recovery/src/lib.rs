//! kura-recovery: restore drills that prove a backup can be restored, and how fast.
//!
//! It owns one drill ([`run_drill`]: restore into scratch space, verify every restored byte
//! against the snapshot's blob hashes, read the restored SS-MIX2 files with kura-ssmix, time
//! each phase, and read the next part of the packs), and the drill history with sign-offs
//! ([`DrillHistory`]). It must not draw on the terminal or change a repository: drills only
//! read, and the scratch folder is always removed. Repository access goes through kura-engine.
//!
//! ```no_run
//! use kura_engine::{Location, LockMode, Repo, no_progress};
//! use kura_recovery::{DrillHistory, DrillOptions, DrillScope, run_drill};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut repo = Repo::open(Location::parse_local("/var/backups/kura")?, "secret",
//!     LockMode::Shared, no_progress())?;
//! let history = DrillHistory::open("/var/lib/kura/drills".as_ref())?;
//! let opts = DrillOptions {
//!     snapshot: "latest-clean".into(),
//!     copy: "local".into(),
//!     scope: DrillScope::Full,
//!     target: None,
//!     read_part: history.next_read_part("local", 30)?,
//!     seed: 1,
//! };
//! let report = history.record(run_drill(&mut repo, 0.0, &opts)?)?;
//! println!("drill {}: {:?}, RTO {:.1}s", report.id, report.result, report.rto_seconds);
//! # Ok(()) }
//! ```

mod drill;
mod error;
mod history;

pub use drill::{
    DEFAULT_READ_PARTS, DEFAULT_SAMPLE_PERCENT, DrillOptions, DrillReport, DrillResult, DrillScope,
    MAX_DAMAGED_LISTED, Phases, SsmixCheck, run_drill,
};
pub use error::{Error, Result};
pub use history::{DrillEntry, DrillHistory, SignOff};
