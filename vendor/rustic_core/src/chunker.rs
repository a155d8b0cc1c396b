use std::{
    io::Read,
    sync::{Mutex, PoisonError},
};

mod fixed_size;
pub mod rabin;

use fixed_size::ChunkIter as FixedSizeChunkIter;
use rabin::ChunkIter as RabinChunkIter;

use rustic_cdc::{Polynom64, Rabin64};

use crate::{
    RusticResult,
    repofile::{ConfigFile, configfile::Chunker},
};

/// A fresh [`Rabin64`] for `poly`, cloned from one built once per polynomial.
///
/// Building the tables costs 256 × 63 polynomial reductions; doing it for every file made it the
/// largest cost of backing up many small files.
fn prebuilt_rabin(poly: Polynom64) -> Rabin64 {
    static PREBUILT: Mutex<Vec<(Polynom64, Rabin64)>> = Mutex::new(Vec::new());
    // A poisoned lock only means another thread panicked while cloning; the tables are intact.
    let mut prebuilt = PREBUILT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, rabin)) = prebuilt.iter().find(|(p, _)| *p == poly) {
        return rabin.clone();
    }
    let rabin = Rabin64::new_with_polynom(6, &poly);
    prebuilt.push((poly, rabin.clone()));
    rabin
}

/// `ChunkIter` is an iterator that chunks data.
pub(crate) enum ChunkIter<R: Read + Send> {
    Rabin(Box<RabinChunkIter<R>>),
    FixedSize(FixedSizeChunkIter<R>),
}

impl<R: Read + Send> ChunkIter<R> {
    pub(crate) fn from_config(
        config: &ConfigFile,
        reader: R,
        size_hint: usize,
    ) -> RusticResult<Self> {
        let iter = match config.chunker() {
            Chunker::Rabin => {
                let poly = config.poly()?;
                let rabin = prebuilt_rabin(poly);
                Self::Rabin(Box::new(RabinChunkIter::new(
                    rabin,
                    config.chunk_size(),
                    config.chunk_min_size(),
                    config.chunk_max_size(),
                    reader,
                    size_hint,
                )?))
            }
            Chunker::FixedSize => Self::FixedSize(FixedSizeChunkIter::new(
                config.chunk_size(),
                reader,
                size_hint,
            )),
        };
        Ok(iter)
    }
}

impl<R: Read + Send> Iterator for ChunkIter<R> {
    type Item = RusticResult<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Self::Rabin(rabin) => rabin.next(),
            Self::FixedSize(fixed_size) => fixed_size.next(),
        }
    }
}
