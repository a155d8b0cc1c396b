//! Test support for kura: generated data, simulators and shared harnesses. Used only as a
//! dev-dependency; all data is generated from a seed, never downloaded.

pub mod browser;
pub mod noise;
pub mod ssmix;
pub mod store;
pub mod tools;

/// The generators and attack simulators, from the product crate kura-sim (training uses them).
pub use kura_sim::{attack, tree};
