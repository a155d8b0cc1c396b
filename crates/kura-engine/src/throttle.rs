//! Bandwidth limits for an [`ObjectStore`] (`--limit-upload` / `--limit-download`, KiB/s).
//!
//! Objects move whole (a pack is one PUT or GET), so the limit is an average: after moving an
//! object of `n` bytes, the next transfer in that direction waits until `n / rate` has passed
//! since the previous one could start. Over a push of many packs the uplink sees at most the
//! limit on average; a single object still goes at full speed.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rustic_core::{BytesList, FileType, Id, ReadBackend, RusticResult, WriteBackend};

use crate::store::{ObjectKind, ObjectStore, StoreResult};

/// Paces transfers in one direction to `bytes_per_sec` on average.
#[derive(Debug)]
pub struct Pacer {
    bytes_per_sec: u64,
    /// When the pipe is free again (the previous transfers' time at the limit).
    next_free: Mutex<Option<Instant>>,
}

impl Pacer {
    /// A pacer for `kib_per_sec` KiB/s (at least 1).
    pub fn new(kib_per_sec: u64) -> Pacer {
        Pacer {
            bytes_per_sec: kib_per_sec.max(1).saturating_mul(1024),
            next_free: Mutex::new(None),
        }
    }

    /// Book `n` bytes starting no earlier than `now`; returns how long to wait before moving them.
    pub fn book(&self, now: Instant, n: u64) -> Duration {
        let mut next = self
            .next_free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let start = next.map_or(now, |t| t.max(now));
        let cost = Duration::from_secs_f64(n as f64 / self.bytes_per_sec as f64);
        *next = Some(start + cost);
        start - now
    }

    pub(crate) fn wait_for(&self, n: u64) {
        let wait = self.book(Instant::now(), n);
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }
}

/// An [`ObjectStore`] whose writes and reads are paced (either limit may be absent).
pub struct Throttled {
    inner: Arc<dyn ObjectStore>,
    upload: Option<Pacer>,
    download: Option<Pacer>,
}

impl Throttled {
    /// Wrap `inner`; `None` or 0 means no limit in that direction.
    pub fn new(
        inner: Arc<dyn ObjectStore>,
        upload_kib: Option<u64>,
        download_kib: Option<u64>,
    ) -> Throttled {
        Throttled {
            inner,
            upload: upload_kib.filter(|&k| k > 0).map(Pacer::new),
            download: download_kib.filter(|&k| k > 0).map(Pacer::new),
        }
    }
}

impl ObjectStore for Throttled {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn create(&self) -> StoreResult<()> {
        self.inner.create()
    }

    fn list(&self, kind: ObjectKind) -> StoreResult<Vec<(String, u64)>> {
        self.inner.list(kind)
    }

    fn read(&self, kind: ObjectKind, id: &str) -> StoreResult<Vec<u8>> {
        let data = self.inner.read(kind, id)?;
        if let Some(p) = &self.download {
            p.wait_for(data.len() as u64);
        }
        Ok(data)
    }

    fn read_range(
        &self,
        kind: ObjectKind,
        id: &str,
        offset: u64,
        len: u64,
    ) -> StoreResult<Vec<u8>> {
        if let Some(p) = &self.download {
            p.wait_for(len);
        }
        self.inner.read_range(kind, id, offset, len)
    }

    fn write(&self, kind: ObjectKind, id: &str, data: &[u8]) -> StoreResult<()> {
        if let Some(p) = &self.upload {
            p.wait_for(data.len() as u64);
        }
        self.inner.write(kind, id, data)
    }

    fn remove(&self, kind: ObjectKind, id: &str) -> StoreResult<()> {
        self.inner.remove(kind, id)
    }
}

/// The same pacing for any rustic backend (a local directory, e.g. an offline disk reached over
/// a shared link), so every location kind can honour `--limit-upload` / `--limit-download`.
#[derive(Debug)]
pub(crate) struct PacedBackend {
    inner: Arc<dyn WriteBackend>,
    upload: Option<Pacer>,
    download: Option<Pacer>,
}

impl PacedBackend {
    pub(crate) fn new(
        inner: Arc<dyn WriteBackend>,
        upload_kib: Option<u64>,
        download_kib: Option<u64>,
    ) -> Self {
        PacedBackend {
            inner,
            upload: upload_kib.filter(|&k| k > 0).map(Pacer::new),
            download: download_kib.filter(|&k| k > 0).map(Pacer::new),
        }
    }
}

impl ReadBackend for PacedBackend {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn list_with_size(&self, tpe: FileType) -> RusticResult<Vec<(Id, u32)>> {
        self.inner.list_with_size(tpe)
    }

    fn list(&self, tpe: FileType) -> RusticResult<Vec<Id>> {
        self.inner.list(tpe)
    }

    fn read_full(&self, tpe: FileType, id: &Id) -> RusticResult<Bytes> {
        let data = self.inner.read_full(tpe, id)?;
        if let Some(p) = &self.download {
            p.wait_for(data.len() as u64);
        }
        Ok(data)
    }

    fn read_partial(
        &self,
        tpe: FileType,
        id: &Id,
        cacheable: bool,
        offset: u32,
        length: u32,
    ) -> RusticResult<Bytes> {
        if let Some(p) = &self.download {
            p.wait_for(u64::from(length));
        }
        self.inner.read_partial(tpe, id, cacheable, offset, length)
    }

    fn warmup_path(&self, tpe: FileType, id: &Id) -> String {
        self.inner.warmup_path(tpe, id)
    }

    fn needs_warm_up(&self) -> bool {
        self.inner.needs_warm_up()
    }

    fn warm_up(&self, tpe: FileType, id: &Id) -> RusticResult<()> {
        self.inner.warm_up(tpe, id)
    }
}

impl WriteBackend for PacedBackend {
    fn create(&self) -> RusticResult<()> {
        self.inner.create()
    }

    fn write_bytes(
        &self,
        tpe: FileType,
        id: &Id,
        cacheable: bool,
        buf: BytesList,
    ) -> RusticResult<()> {
        if let Some(p) = &self.upload {
            p.wait_for(buf.size() as u64);
        }
        self.inner.write_bytes(tpe, id, cacheable, buf)
    }

    fn remove(&self, tpe: FileType, id: &Id, cacheable: bool) -> RusticResult<()> {
        self.inner.remove(tpe, id, cacheable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfers_are_paced_to_the_average_rate() {
        let p = Pacer::new(100); // 102,400 B/s
        let t0 = Instant::now();
        assert_eq!(
            p.book(t0, 102_400),
            Duration::ZERO,
            "the first goes at once"
        );
        // The second waits for the first one's second at the limit.
        assert_eq!(p.book(t0, 51_200), Duration::from_secs(1));
        // Later, after the pipe was idle, nothing waits.
        let later = t0 + Duration::from_secs(10);
        assert_eq!(p.book(later, 1), Duration::ZERO);
        // Ten 100 KiB objects at once take nine seconds of waiting before the last starts.
        let q = Pacer::new(100);
        let waits: Vec<Duration> = (0..10).map(|_| q.book(t0, 102_400)).collect();
        assert_eq!(waits[9], Duration::from_secs(9));
    }

    #[test]
    fn zero_means_no_limit() {
        struct Nothing;
        impl ObjectStore for Nothing {
            fn location(&self) -> String {
                "nothing".into()
            }
            fn list(&self, _: ObjectKind) -> StoreResult<Vec<(String, u64)>> {
                Ok(Vec::new())
            }
            fn read(&self, _: ObjectKind, _: &str) -> StoreResult<Vec<u8>> {
                Ok(vec![0; 10])
            }
            fn write(&self, _: ObjectKind, _: &str, _: &[u8]) -> StoreResult<()> {
                Ok(())
            }
            fn remove(&self, _: ObjectKind, _: &str) -> StoreResult<()> {
                Ok(())
            }
        }
        let t = Throttled::new(Arc::new(Nothing), Some(0), None);
        assert!(t.upload.is_none() && t.download.is_none());
        assert_eq!(t.location(), "nothing");
    }

    #[test]
    fn paced_local_backend_books_what_it_writes_and_reads() -> Result<(), Box<dyn std::error::Error>>
    {
        let dir = tempfile::tempdir()?;
        let path = dir.path().to_str().ok_or("temp path")?;
        let local = rustic_backend::local::LocalBackend::new(path, Vec::<(String, String)>::new())?;
        let paced = PacedBackend::new(Arc::new(local), Some(1), Some(1)); // 1 KiB/s each way
        paced.create()?;
        let id = Id::random();
        let data = vec![7u8; 10 * 1024];
        paced.write_bytes(
            FileType::Pack,
            &id,
            false,
            BytesList::from(Bytes::from(data.clone())),
        )?;
        // The first transfer goes at once, and books ten seconds of the pipe for what follows.
        let now = Instant::now();
        let up = paced.upload.as_ref().ok_or("upload pacer")?;
        assert!(up.book(now, 0) >= Duration::from_secs(9));
        assert_eq!(paced.read_full(FileType::Pack, &id)?.as_ref(), &data[..]);
        let down = paced.download.as_ref().ok_or("download pacer")?;
        assert!(down.book(now, 0) >= Duration::from_secs(9));
        Ok(())
    }
}
