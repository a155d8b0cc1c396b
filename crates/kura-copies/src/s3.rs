//! `S3LockStore`: an [`ObjectStore`] on an S3 bucket with Object Lock in COMPLIANCE mode.
//!
//! Every object gets a per-object retain-until date ([`RetentionPolicy`]) when it is written, and
//! the lock is read back before the write counts as done. Nothing is ever deleted while locked:
//! `remove` refuses without sending a request.
//!
//! Which bytes count: with Object Lock the bucket is versioned, so anyone holding the credentials
//! can still *add* a newer version or a delete marker on top of a key (S3 allows that). That
//! cannot destroy the locked version, and this store never looks at it: the object behind a key
//! is always its **oldest** version (content-addressed objects are written once), found with
//! `ListObjectVersions` and read by version id. Newer versions and delete markers are reported by
//! [`S3LockStore::verify`] as signs of tampering.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ObjectLockEnabled, ObjectLockMode, ObjectLockRetention,
    ObjectLockRetentionMode,
};
use jiff::Timestamp;
use kura_engine::store::{ObjectKind, ObjectStore, StoreResult};
use serde::Serialize;

use crate::error::{Error, Result};

/// How long objects written to the bucket stay locked, counted from the write.
///
/// Rules (why): a snapshot is a generation, kept `snapshot_days`. Packs, index files, keys and
/// the config are shared by every later snapshot, so they get the longer `data_days`, which must
/// be at least `snapshot_days` (a locked snapshot must never point at unlocked data). When a
/// later generation still needs an older pack, the copy extends that pack with
/// [`S3LockStore::extend_retention`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionPolicy {
    /// Days a snapshot object stays locked.
    pub snapshot_days: u32,
    /// Days packs, index files, keys and the config stay locked (≥ `snapshot_days`).
    pub data_days: u32,
}

impl Default for RetentionPolicy {
    /// 30 days for a generation, 60 for the data it shares with the next month's generations.
    fn default() -> Self {
        Self {
            snapshot_days: 30,
            data_days: 60,
        }
    }
}

impl RetentionPolicy {
    /// Longest allowed lock: ten years (a typo of extra digits must not lock a bucket forever).
    pub const MAX_DAYS: u32 = 3_660;

    /// Check the policy is usable.
    pub fn validate(&self) -> Result<()> {
        if self.snapshot_days == 0 || self.data_days == 0 {
            return Err(Error::InvalidOptions(
                "retention days must be at least 1".into(),
            ));
        }
        if self.data_days < self.snapshot_days {
            return Err(Error::InvalidOptions(format!(
                "data retention ({} days) is shorter than snapshot retention ({} days); data must outlive the snapshots that use it",
                self.data_days, self.snapshot_days
            )));
        }
        if self.data_days > Self::MAX_DAYS {
            return Err(Error::InvalidOptions(format!(
                "retention of {} days exceeds the {}-day maximum",
                self.data_days,
                Self::MAX_DAYS
            )));
        }
        Ok(())
    }

    /// Lock days for an object of `kind`.
    pub fn days_for(&self, kind: ObjectKind) -> u32 {
        match kind {
            ObjectKind::Snapshot => self.snapshot_days,
            ObjectKind::Config | ObjectKind::Key | ObjectKind::Index | ObjectKind::Pack => {
                self.data_days
            }
        }
    }

    /// The retain-until date for an object of `kind` written at `now`, in whole seconds.
    pub fn retain_until(&self, kind: ObjectKind, now: Timestamp) -> Timestamp {
        let secs = now
            .as_second()
            .saturating_add(i64::from(self.days_for(kind)) * 86_400);
        Timestamp::from_second(secs).unwrap_or(Timestamp::MAX)
    }
}

/// Where the copy goes. Credentials are never options: they come from the standard AWS
/// environment variables, the shared credentials file and profiles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Options {
    /// Endpoint URL for non-AWS servers (`https://s3.hospital.local:8333`); `None` for AWS.
    pub endpoint: Option<String>,
    /// Region (`ap-northeast-1`; any name for most on-prem servers).
    pub region: String,
    /// Bucket, created with Object Lock enabled.
    pub bucket: String,
    /// Key prefix of the repository inside the bucket (`""` for the bucket root).
    pub prefix: String,
    /// Lock periods.
    #[serde(default)]
    pub retention: RetentionPolicy,
    /// AWS profile name (`[profile]` in the shared files); `None` uses the default chain.
    #[serde(default)]
    pub profile: Option<String>,
    /// A shared credentials file to take `profile` from instead of `~/.aws/credentials`. When set,
    /// only that file is used (the environment variables are ignored).
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
}

/// The lock on one object version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectLock {
    /// The locked version.
    pub version_id: String,
    /// `COMPLIANCE` or `GOVERNANCE`; `None` if unlocked.
    pub mode: Option<String>,
    /// The retain-until date; `None` if unlocked.
    pub retain_until: Option<Timestamp>,
}

impl ObjectLock {
    /// Whether this is a compliance lock still in force at `now`.
    pub fn is_compliance_until_after(&self, now: Timestamp) -> bool {
        self.mode.as_deref() == Some("COMPLIANCE") && self.retain_until.is_some_and(|u| u > now)
    }
}

/// One problem found by [`S3LockStore::verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyProblem {
    /// The object key.
    pub key: String,
    /// What is wrong.
    pub problem: String,
}

/// The result of [`S3LockStore::verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Where (`s3:bucket/prefix`).
    pub location: String,
    /// When the verification ran.
    pub checked_at: Timestamp,
    /// Objects checked.
    pub objects: u64,
    /// Bytes re-read (0 without `read_data`).
    pub bytes_read: u64,
    /// The earliest retain-until date among all objects (when the first lock runs out).
    pub earliest_retain_until: Option<Timestamp>,
    /// Errors: missing or short locks, wrong sizes, unreadable objects.
    pub errors: Vec<VerifyProblem>,
    /// Warnings: newer versions or delete markers on top of a locked object (tampering attempts).
    pub warnings: Vec<VerifyProblem>,
}

impl VerifyReport {
    /// Whether verification found no error.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// One key as found in the version listing.
#[derive(Debug, Clone)]
struct Scanned {
    key: String,
    version_id: String,
    size: u64,
    /// Versions on top of the oldest one.
    newer_versions: usize,
    /// Delete markers on the key.
    delete_markers: usize,
}

/// An [`ObjectStore`] on an S3 bucket with Object Lock. Owns a small tokio runtime and blocks on
/// it inside every method, so it works from plain threads (rustic_core) and from inside a tokio
/// runtime alike.
pub struct S3LockStore {
    // `Option` so Drop can shut it down without blocking (dropping a runtime inside async
    // context panics).
    rt: Option<tokio::runtime::Runtime>,
    client: Client,
    bucket: String,
    prefix: String,
    retention: RetentionPolicy,
    /// key → (oldest version id, size), filled by list, write and lookups.
    versions: Mutex<HashMap<String, (String, u64)>>,
}

impl std::fmt::Debug for S3LockStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3LockStore")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

impl Drop for S3LockStore {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

fn to_aws(t: Timestamp) -> DateTime {
    DateTime::from_secs(t.as_second())
}

fn from_aws(t: &DateTime) -> Timestamp {
    Timestamp::from_second(t.secs()).unwrap_or(Timestamp::MAX)
}

/// A short message: the server's error code and text when it answered, else the SDK's chain
/// (connection refused, timeout, …). Never contains credentials.
fn sdk_message<E>(err: &E) -> String
where
    E: std::error::Error + ProvideErrorMetadata,
{
    match (err.code(), err.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_string(),
        _ => DisplayErrorContext(err).to_string(),
    }
}

impl S3LockStore {
    /// Build the client and check the bucket has Object Lock enabled.
    pub fn connect(options: &S3Options) -> Result<Self> {
        let store = Self::new_unchecked(options)?;
        store.check_bucket()?;
        Ok(store)
    }

    /// Create the bucket with Object Lock enabled (on-prem servers such as SeaweedFS or MinIO,
    /// where the hospital runs its own S3), then connect. An existing bucket is used as it is,
    /// and still refused when it has no Object Lock.
    pub fn create_bucket_and_connect(options: &S3Options) -> Result<Self> {
        let store = Self::new_unchecked(options)?;
        let created = store.run(
            store
                .client
                .create_bucket()
                .bucket(&options.bucket)
                .object_lock_enabled_for_bucket(true)
                .send(),
        );
        if let Err(e) = created {
            let message = sdk_message(&e);
            if !message.contains("BucketAlreadyOwnedByYou")
                && !message.contains("BucketAlreadyExists")
            {
                return Err(Error::S3 {
                    op: "CreateBucket",
                    bucket: options.bucket.clone(),
                    key: String::new(),
                    message,
                });
            }
        }
        store.check_bucket()?;
        Ok(store)
    }

    /// Build the client without any request (for tests and `create`).
    fn new_unchecked(options: &S3Options) -> Result<Self> {
        options.retention.validate()?;
        if options.bucket.trim().is_empty() {
            return Err(Error::InvalidOptions("the s3 bucket name is empty".into()));
        }
        if options.region.trim().is_empty() {
            return Err(Error::InvalidOptions(format!(
                "no region given for bucket {}",
                options.bucket
            )));
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("kura-s3")
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        let client = rt.block_on(build_client(options));
        let prefix = options.prefix.trim_matches('/').to_string();
        Ok(Self {
            rt: Some(rt),
            client,
            bucket: options.bucket.clone(),
            prefix,
            retention: options.retention,
            versions: Mutex::new(HashMap::new()),
        })
    }

    /// Run a future on the store's runtime, from any thread.
    fn run<F>(&self, fut: F) -> F::Output
    where
        F: std::future::Future + Send,
        F::Output: Send,
    {
        // Invariant: `rt` is only taken in Drop.
        let Some(rt) = self.rt.as_ref() else {
            unreachable!("runtime used after drop")
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            // Inside some runtime `block_on` would panic: block a plain scoped thread instead.
            std::thread::scope(|s| match s.spawn(|| rt.block_on(fut)).join() {
                Ok(out) => out,
                Err(panic) => std::panic::resume_unwind(panic),
            })
        } else {
            rt.block_on(fut)
        }
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The retention policy.
    pub fn retention(&self) -> RetentionPolicy {
        self.retention
    }

    /// The object key of `kind`/`id`.
    pub fn key_of(&self, kind: ObjectKind, id: &str) -> String {
        let path = kind.path_of(id);
        if self.prefix.is_empty() {
            path
        } else {
            format!("{}/{path}", self.prefix)
        }
    }

    fn s3_err<E: std::error::Error + ProvideErrorMetadata>(
        &self,
        op: &'static str,
        key: &str,
        err: &E,
    ) -> Error {
        Error::S3 {
            op,
            bucket: self.bucket.clone(),
            key: key.to_string(),
            message: sdk_message(err),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, u64)>> {
        // The map is a cache of server facts; a poisoned one is still valid.
        self.versions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Refuse a bucket without Object Lock.
    fn check_bucket(&self) -> Result<()> {
        let out = self.run(
            self.client
                .get_object_lock_configuration()
                .bucket(&self.bucket)
                .send(),
        );
        match out {
            Ok(out) => {
                let enabled = out
                    .object_lock_configuration()
                    .and_then(|c| c.object_lock_enabled())
                    .is_some_and(|e| *e == ObjectLockEnabled::Enabled);
                if enabled {
                    Ok(())
                } else {
                    Err(Error::BucketNotLocked {
                        bucket: self.bucket.clone(),
                    })
                }
            }
            Err(e) if e.code() == Some("ObjectLockConfigurationNotFoundError") => {
                Err(Error::BucketNotLocked {
                    bucket: self.bucket.clone(),
                })
            }
            Err(e) => Err(self.s3_err("GetObjectLockConfiguration", "", &e)),
        }
    }

    /// List every version under `prefix`, grouped by key; for each key the oldest version.
    fn scan_prefix(&self, prefix: &str, exact: bool) -> Result<Vec<Scanned>> {
        let mut found: Vec<Scanned> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut key_marker: Option<String> = None;
        let mut version_marker: Option<String> = None;
        // Bounded: a page holds up to 1000 entries; 10 million pages is far past any repository.
        for _page in 0..10_000_000u32 {
            let req = self
                .client
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_key_marker(key_marker.clone())
                .set_version_id_marker(version_marker.clone());
            let out = self
                .run(req.send())
                .map_err(|e| self.s3_err("ListObjectVersions", prefix, &e))?;
            // S3 lists the versions of a key newest first: the last one seen is the oldest.
            for v in out.versions() {
                let (Some(key), Some(vid)) = (v.key(), v.version_id()) else {
                    continue;
                };
                if exact && key != prefix {
                    continue;
                }
                let size = u64::try_from(v.size().unwrap_or(0)).unwrap_or(0);
                match index.get(key) {
                    Some(&i) => {
                        let entry = &mut found[i];
                        entry.newer_versions += 1;
                        entry.version_id = vid.to_string();
                        entry.size = size;
                    }
                    None => {
                        index.insert(key.to_string(), found.len());
                        found.push(Scanned {
                            key: key.to_string(),
                            version_id: vid.to_string(),
                            size,
                            newer_versions: 0,
                            delete_markers: 0,
                        });
                    }
                }
            }
            for m in out.delete_markers() {
                if let Some(&i) = m.key().and_then(|k| index.get(k)) {
                    found[i].delete_markers += 1;
                }
            }
            if out.is_truncated() != Some(true) {
                let mut cache = self.cache();
                for s in &found {
                    cache.insert(s.key.clone(), (s.version_id.clone(), s.size));
                }
                return Ok(found);
            }
            key_marker = out.next_key_marker().map(str::to_string);
            version_marker = out.next_version_id_marker().map(str::to_string);
            if key_marker.is_none() && version_marker.is_none() {
                return Err(Error::S3 {
                    op: "ListObjectVersions",
                    bucket: self.bucket.clone(),
                    key: prefix.to_string(),
                    message: "truncated listing without a continuation marker".into(),
                });
            }
        }
        Err(Error::S3 {
            op: "ListObjectVersions",
            bucket: self.bucket.clone(),
            key: prefix.to_string(),
            message: "listing did not end".into(),
        })
    }

    fn kind_prefix(&self, kind: ObjectKind) -> (String, bool) {
        match kind {
            ObjectKind::Config => (self.key_of(kind, ""), true),
            other => {
                let dir = other.dirname();
                let p = if self.prefix.is_empty() {
                    format!("{dir}/")
                } else {
                    format!("{}/{dir}/", self.prefix)
                };
                (p, false)
            }
        }
    }

    fn scan_kind(&self, kind: ObjectKind) -> Result<Vec<(String, Scanned)>> {
        let (prefix, exact) = self.kind_prefix(kind);
        let scanned = self.scan_prefix(&prefix, exact)?;
        Ok(scanned
            .into_iter()
            .filter_map(|s| {
                let id = if kind == ObjectKind::Config {
                    String::new()
                } else {
                    s.key.rsplit('/').next().unwrap_or_default().to_string()
                };
                // Only keys in restic's layout for this kind (ignores stray objects).
                (self.key_of(kind, &id) == s.key).then_some((id, s))
            })
            .collect())
    }

    /// The oldest (locked) version of `key` and its size.
    fn resolve(&self, key: &str) -> Result<(String, u64)> {
        if let Some(hit) = self.cache().get(key).cloned() {
            return Ok(hit);
        }
        let found = self.scan_prefix(key, true)?;
        found
            .into_iter()
            .next()
            .map(|s| (s.version_id, s.size))
            .ok_or_else(|| Error::NotFound {
                bucket: self.bucket.clone(),
                key: key.to_string(),
            })
    }

    fn lock_of_version(&self, key: &str, version_id: &str) -> Result<ObjectLock> {
        let out = self.run(
            self.client
                .get_object_retention()
                .bucket(&self.bucket)
                .key(key)
                .version_id(version_id)
                .send(),
        );
        match out {
            Ok(out) => {
                let r = out.retention();
                Ok(ObjectLock {
                    version_id: version_id.to_string(),
                    mode: r.and_then(|r| r.mode()).map(|m| m.as_str().to_string()),
                    retain_until: r.and_then(|r| r.retain_until_date()).map(from_aws),
                })
            }
            Err(e)
                if matches!(
                    e.code(),
                    Some("NoSuchObjectLockConfiguration" | "ObjectLockConfigurationNotFoundError")
                ) =>
            {
                Ok(ObjectLock {
                    version_id: version_id.to_string(),
                    mode: None,
                    retain_until: None,
                })
            }
            Err(e) => Err(self.s3_err("GetObjectRetention", key, &e)),
        }
    }

    /// The lock on the object `kind`/`id` (its oldest version).
    pub fn lock_of(&self, kind: ObjectKind, id: &str) -> Result<ObjectLock> {
        let key = self.key_of(kind, id);
        let (vid, _) = self.resolve(&key)?;
        self.lock_of_version(&key, &vid)
    }

    fn set_retention(&self, key: &str, version_id: &str, until: Timestamp) -> Result<()> {
        let retention = ObjectLockRetention::builder()
            .mode(ObjectLockRetentionMode::Compliance)
            .retain_until_date(to_aws(until))
            .build();
        self.run(
            self.client
                .put_object_retention()
                .bucket(&self.bucket)
                .key(key)
                .version_id(version_id)
                .retention(retention)
                .send(),
        )
        .map_err(|e| self.s3_err("PutObjectRetention", key, &e))?;
        Ok(())
    }

    /// Check the lock on `key`@`version_id` is COMPLIANCE until at least `until`.
    fn confirm_lock(&self, key: &str, version_id: &str, until: Timestamp) -> Result<ObjectLock> {
        let lock = self.lock_of_version(key, version_id)?;
        let missing = |detail: String| Error::LockMissing {
            bucket: self.bucket.clone(),
            key: key.to_string(),
            detail,
        };
        match (&lock.mode, lock.retain_until) {
            (Some(m), Some(got)) if m == "COMPLIANCE" && got >= until => Ok(lock),
            (Some(m), Some(got)) if m == "COMPLIANCE" => Err(missing(format!(
                "locked until {got}, shorter than the required {until}"
            ))),
            (Some(m), _) => Err(missing(format!("lock mode is {m}, not COMPLIANCE"))),
            (None, _) => Err(missing("no retention was stored on the object".into())),
        }
    }

    /// Move the lock of `kind`/`id` forward to `until` (for generations still kept). A date
    /// before the present lock is refused; the same date is a no-op.
    pub fn extend_retention(
        &self,
        kind: ObjectKind,
        id: &str,
        until: Timestamp,
    ) -> Result<ObjectLock> {
        let key = self.key_of(kind, id);
        let (vid, _) = self.resolve(&key)?;
        let lock = self.lock_of_version(&key, &vid)?;
        let until = Timestamp::from_second(until.as_second()).unwrap_or(until);
        if let Some(current) = lock.retain_until {
            if until < current {
                return Err(Error::RetentionNotForward {
                    bucket: self.bucket.clone(),
                    key,
                    current,
                    requested: until,
                });
            }
            if until == current && lock.mode.as_deref() == Some("COMPLIANCE") {
                return Ok(lock);
            }
        }
        self.set_retention(&key, &vid, until)?;
        self.confirm_lock(&key, &vid, until)
    }

    /// Re-check every object: its oldest version exists with the listed size (re-read in full
    /// when `read_data`), carries a COMPLIANCE lock still in force, and has nothing on top of it.
    pub fn verify(&self, read_data: bool) -> Result<VerifyReport> {
        let now = Timestamp::now();
        let mut report = VerifyReport {
            location: self.location(),
            checked_at: now,
            objects: 0,
            bytes_read: 0,
            earliest_retain_until: None,
            errors: Vec::new(),
            warnings: Vec::new(),
        };
        for kind in ObjectKind::ALL {
            for (_, s) in self.scan_kind(kind)? {
                report.objects += 1;
                let problem = |p: String| VerifyProblem {
                    key: s.key.clone(),
                    problem: p,
                };
                if s.newer_versions > 0 || s.delete_markers > 0 {
                    report.warnings.push(problem(format!(
                        "{} newer version(s) and {} delete marker(s) on top of the locked object: someone tried to overwrite or delete it",
                        s.newer_versions, s.delete_markers
                    )));
                }
                match self.lock_of_version(&s.key, &s.version_id) {
                    Ok(lock) if lock.is_compliance_until_after(now) => {
                        let until = lock.retain_until;
                        report.earliest_retain_until = match (report.earliest_retain_until, until) {
                            (Some(a), Some(b)) => Some(a.min(b)),
                            (a, b) => a.or(b),
                        };
                    }
                    Ok(lock) => report.errors.push(problem(format!(
                        "not under a compliance lock in force (mode {:?}, until {:?})",
                        lock.mode,
                        lock.retain_until.map(|t| t.to_string())
                    ))),
                    Err(e) => report.errors.push(problem(e.to_string())),
                }
                let got = if read_data {
                    self.get(&s.key, &s.version_id, None).map(|b| {
                        report.bytes_read += b.len() as u64;
                        b.len() as u64
                    })
                } else {
                    self.head_size(&s.key, &s.version_id)
                };
                match got {
                    Ok(n) if n == s.size => {}
                    Ok(n) => report.errors.push(problem(format!(
                        "has {n} bytes but was listed with {}",
                        s.size
                    ))),
                    Err(e) => report.errors.push(problem(e.to_string())),
                }
            }
        }
        Ok(report)
    }

    fn head_size(&self, key: &str, version_id: &str) -> Result<u64> {
        let out = self
            .run(
                self.client
                    .head_object()
                    .bucket(&self.bucket)
                    .key(key)
                    .version_id(version_id)
                    .send(),
            )
            .map_err(|e| self.s3_err("HeadObject", key, &e))?;
        Ok(u64::try_from(out.content_length().unwrap_or(-1)).unwrap_or(u64::MAX))
    }

    fn get(&self, key: &str, version_id: &str, range: Option<(u64, u64)>) -> Result<Vec<u8>> {
        let req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .version_id(version_id)
            .set_range(range.map(|(start, end)| format!("bytes={start}-{end}")));
        let fut = async move {
            let out = req
                .send()
                .await
                .map_err(|e| ("GetObject", sdk_message(&e)))?;
            let data = out
                .body
                .collect()
                .await
                .map_err(|e| ("GetObject body", DisplayErrorContext(&e).to_string()))?;
            Ok::<_, (&'static str, String)>(data.into_bytes().to_vec())
        };
        self.run(fut).map_err(|(op, message)| Error::S3 {
            op,
            bucket: self.bucket.clone(),
            key: key.to_string(),
            message,
        })
    }

    /// Delete every version and delete marker of `key` (only called once its lock has expired).
    fn purge(&self, key: &str) -> Result<()> {
        let out = self
            .run(
                self.client
                    .list_object_versions()
                    .bucket(&self.bucket)
                    .prefix(key)
                    .send(),
            )
            .map_err(|e| self.s3_err("ListObjectVersions", key, &e))?;
        let ids: Vec<String> = out
            .versions()
            .iter()
            .filter(|v| v.key() == Some(key))
            .filter_map(|v| v.version_id().map(str::to_string))
            .chain(
                out.delete_markers()
                    .iter()
                    .filter(|m| m.key() == Some(key))
                    .filter_map(|m| m.version_id().map(str::to_string)),
            )
            .collect();
        for vid in ids {
            self.run(
                self.client
                    .delete_object()
                    .bucket(&self.bucket)
                    .key(key)
                    .version_id(&vid)
                    .send(),
            )
            .map_err(|e| self.s3_err("DeleteObject", key, &e))?;
        }
        self.cache().remove(key);
        Ok(())
    }

    fn write_inner(&self, kind: ObjectKind, id: &str, data: &[u8]) -> Result<()> {
        let key = self.key_of(kind, id);
        let len = data.len() as u64;
        let now = Timestamp::now();
        match self.resolve(&key) {
            Ok((vid, size)) => {
                // Immutable and content-addressed: present with the same size and a lock in force
                // means this exact object was written before.
                if size != len {
                    return Err(Error::SizeMismatch {
                        bucket: self.bucket.clone(),
                        key,
                        expected: len,
                        actual: size,
                    });
                }
                let lock = self.lock_of_version(&key, &vid)?;
                if lock.is_compliance_until_after(now) {
                    return Ok(());
                }
                return Err(Error::LockMissing {
                    bucket: self.bucket.clone(),
                    key,
                    detail: "an object with this id is already there without a compliance lock in force (not written by kura, or its lock expired); investigate before copying again".into(),
                });
            }
            Err(Error::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        let until = self.retention.retain_until(kind, now);
        let out = self
            .run(
                self.client
                    .put_object()
                    .bucket(&self.bucket)
                    .key(&key)
                    .body(ByteStream::from(data.to_vec()))
                    .content_length(i64::try_from(len).unwrap_or(i64::MAX))
                    // Object Lock uploads need an integrity checksum (AWS requires Content-MD5 or an
                    // x-amz-checksum-*), and "when required" calculation would not add one.
                    .checksum_algorithm(ChecksumAlgorithm::Crc32)
                    .object_lock_mode(ObjectLockMode::Compliance)
                    .object_lock_retain_until_date(to_aws(until))
                    .send(),
            )
            .map_err(|e| self.s3_err("PutObject", &key, &e))?;
        let Some(vid) = out.version_id().map(str::to_string) else {
            return Err(Error::LockMissing {
                bucket: self.bucket.clone(),
                key,
                detail: "the server returned no version id, so the bucket is not versioned".into(),
            });
        };
        self.confirm_lock(&key, &vid, until)?;
        // A version written before ours (a race or a planted object) would shadow it: resolve
        // again from the server rather than trusting our own version id.
        self.cache().remove(&key);
        let (oldest, size) = self.resolve(&key)?;
        if oldest != vid || size != len {
            return Err(Error::LockMissing {
                bucket: self.bucket.clone(),
                key,
                detail:
                    "another version of this object appeared before kura's (possible tampering)"
                        .into(),
            });
        }
        Ok(())
    }

    fn remove_inner(&self, kind: ObjectKind, id: &str) -> Result<()> {
        let key = self.key_of(kind, id);
        let (vid, _) = self.resolve(&key)?;
        let lock = self.lock_of_version(&key, &vid)?;
        let now = Timestamp::now();
        if let Some(until) = lock.retain_until.filter(|u| *u > now) {
            return Err(Error::Locked {
                bucket: self.bucket.clone(),
                key,
                until,
            });
        }
        self.purge(&key)
    }

    fn read_range_inner(
        &self,
        kind: ObjectKind,
        id: &str,
        offset: u64,
        len: u64,
    ) -> Result<Vec<u8>> {
        let key = self.key_of(kind, id);
        let (vid, size) = self.resolve(&key)?;
        let end = offset.checked_add(len).filter(|e| *e <= size);
        let Some(end) = end else {
            return Err(Error::RangePastEnd {
                bucket: self.bucket.clone(),
                key,
                offset,
                len,
                size,
            });
        };
        if len == 0 {
            return Ok(Vec::new());
        }
        let data = self.get(&key, &vid, Some((offset, end - 1)))?;
        if data.len() as u64 != len {
            return Err(Error::RangePastEnd {
                bucket: self.bucket.clone(),
                key,
                offset,
                len,
                size: data.len() as u64,
            });
        }
        Ok(data)
    }

    fn read_inner(&self, kind: ObjectKind, id: &str) -> Result<Vec<u8>> {
        let key = self.key_of(kind, id);
        let (vid, size) = self.resolve(&key)?;
        let data = self.get(&key, &vid, None)?;
        if data.len() as u64 != size {
            return Err(Error::SizeMismatch {
                bucket: self.bucket.clone(),
                key,
                expected: size,
                actual: data.len() as u64,
            });
        }
        Ok(data)
    }
}

async fn build_client(options: &S3Options) -> Client {
    use aws_config::profile::ProfileFileCredentialsProvider;
    use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};

    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(options.region.clone()));
    if let Some(file) = &options.credentials_file {
        let files = EnvConfigFiles::builder()
            .with_file(EnvConfigFileKind::Credentials, file)
            .build();
        let provider = ProfileFileCredentialsProvider::builder()
            .profile_files(files)
            .profile_name(
                options
                    .profile
                    .clone()
                    .unwrap_or_else(|| "default".to_string()),
            )
            .build();
        loader = loader.credentials_provider(provider);
    } else if let Some(profile) = &options.profile {
        loader = loader.profile_name(profile);
    }
    let shared = loader.load().await;
    let mut conf = aws_sdk_s3::config::Builder::from(&shared)
        // Non-AWS servers (SeaweedFS, MinIO, Ceph) want path-style URLs and plain checksums.
        .force_path_style(true)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
    if let Some(endpoint) = &options.endpoint {
        conf = conf.endpoint_url(endpoint);
    }
    Client::from_conf(conf.build())
}

impl ObjectStore for S3LockStore {
    fn location(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3:{}", self.bucket)
        } else {
            format!("s3:{}/{}", self.bucket, self.prefix)
        }
    }

    /// Checks the bucket has Object Lock; never creates buckets (that is a deliberate admin act).
    fn create(&self) -> StoreResult<()> {
        Ok(self.check_bucket()?)
    }

    fn list(&self, kind: ObjectKind) -> StoreResult<Vec<(String, u64)>> {
        Ok(self
            .scan_kind(kind)?
            .into_iter()
            .map(|(id, s)| (id, s.size))
            .collect())
    }

    fn read(&self, kind: ObjectKind, id: &str) -> StoreResult<Vec<u8>> {
        Ok(self.read_inner(kind, id)?)
    }

    fn read_range(
        &self,
        kind: ObjectKind,
        id: &str,
        offset: u64,
        len: u64,
    ) -> StoreResult<Vec<u8>> {
        Ok(self.read_range_inner(kind, id, offset, len)?)
    }

    fn write(&self, kind: ObjectKind, id: &str, data: &[u8]) -> StoreResult<()> {
        Ok(self.write_inner(kind, id, data)?)
    }

    fn remove(&self, kind: ObjectKind, id: &str) -> StoreResult<()> {
        Ok(self.remove_inner(kind, id)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_outlives_snapshots_by_default() {
        let p = RetentionPolicy::default();
        p.validate().unwrap();
        let now = Timestamp::from_second(1_700_000_000).unwrap();
        assert!(p.retain_until(ObjectKind::Pack, now) > p.retain_until(ObjectKind::Snapshot, now));
        assert_eq!(
            p.retain_until(ObjectKind::Snapshot, now).as_second(),
            1_700_000_000 + 30 * 86_400
        );
        for kind in [
            ObjectKind::Config,
            ObjectKind::Key,
            ObjectKind::Index,
            ObjectKind::Pack,
        ] {
            assert_eq!(p.days_for(kind), 60);
        }
    }

    #[test]
    fn policy_with_data_shorter_than_snapshots_is_refused() {
        assert!(
            RetentionPolicy {
                snapshot_days: 30,
                data_days: 7
            }
            .validate()
            .is_err()
        );
        assert!(
            RetentionPolicy {
                snapshot_days: 0,
                data_days: 7
            }
            .validate()
            .is_err()
        );
        assert!(
            RetentionPolicy {
                snapshot_days: 1,
                data_days: 99_999
            }
            .validate()
            .is_err()
        );
    }

    #[test]
    fn keys_follow_restic_layout_under_the_prefix() {
        let opts = S3Options {
            endpoint: Some("http://127.0.0.1:1".into()),
            region: "us-east-1".into(),
            bucket: "b".into(),
            prefix: "/site/repo/".into(),
            retention: RetentionPolicy::default(),
            profile: None,
            credentials_file: None,
        };
        let s = S3LockStore::new_unchecked(&opts).unwrap();
        assert_eq!(s.key_of(ObjectKind::Config, ""), "site/repo/config");
        assert_eq!(s.key_of(ObjectKind::Pack, "abcd"), "site/repo/data/ab/abcd");
        assert_eq!(s.location(), "s3:b/site/repo");
    }
}
