//! kura-sim: generated hospital data and simulated attacks, as a product crate, because training
//! (`kura train`) needs them at run time and not only the tests.
//!
//! What it owns:
//! - [`tree`]: seeded hospital-like file trees (SS-MIX2 HL7, DICOM, PDF, office files, databases)
//!   and the benign workloads that change them (a clinic day, PACS ingest, archiving, …).
//! - [`attack`]: ransomware simulators with real AES-256-CTR encryption, ransom notes and renames.
//!   They only touch files under the directory they are given.
//! - [`train`]: the training scenarios (timeline, briefing, hints, tabletop sheet) and the grading
//!   of a trainee's restore against the generations the scenario made.
//!
//! What it must not do: depend on another kura crate, touch anything outside the directory it is
//! given, or download anything (all data comes from a seed).
//!
//! ```
//! use kura_sim::{attack, tree, train};
//!
//! let dir = tempfile::tempdir()?;
//! tree::hospital_tree(dir.path(), 40, 7)?;
//! let before = train::Manifest::of(dir.path())?;
//! let touched = attack::encrypt_whole_with_rename_and_notes(dir.path(), 1, 0.1)?;
//! let after = train::Manifest::of(dir.path())?;
//! assert!(!touched.is_empty());
//! assert_ne!(before, after);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod attack;
pub mod train;
pub mod tree;
