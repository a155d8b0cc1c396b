//! Test support for kura: generated data, simulators and shared harnesses. Used only as a
//! dev-dependency; all data is generated from a seed, never downloaded.

pub mod attack;
pub mod browser;
pub mod ssmix;
pub mod store;
pub mod tools;
pub mod tree;
