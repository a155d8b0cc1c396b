//! Adapters between kura's `ObjectStore` and rustic_core's backend traits, and the local backend.

use std::sync::Arc;

use bytes::Bytes;
use rustic_core::{
    BytesList, ErrorKind, FileType, Id, ReadBackend, RusticError, RusticResult, WriteBackend,
};

use crate::store::{ObjectKind, ObjectStore};

fn kind_of(tpe: FileType) -> ObjectKind {
    match tpe {
        FileType::Config => ObjectKind::Config,
        FileType::Key => ObjectKind::Key,
        FileType::Snapshot => ObjectKind::Snapshot,
        FileType::Index => ObjectKind::Index,
        FileType::Pack => ObjectKind::Pack,
    }
}

fn id_str(tpe: FileType, id: &Id) -> String {
    if tpe == FileType::Config {
        String::new()
    } else {
        id.to_hex().to_string()
    }
}

fn backend_err(
    what: &str,
    kind: ObjectKind,
    id: &str,
    err: &(dyn std::error::Error + Send + Sync),
) -> Box<RusticError> {
    RusticError::new(ErrorKind::Backend, "{what} {path} failed: {cause}")
        .attach_context("what", what.to_string())
        .attach_context("path", kind.path_of(id))
        .attach_context("cause", err.to_string())
}

/// rustic_core backend over any kura `ObjectStore`.
#[derive(Debug)]
pub(crate) struct StoreBackend {
    store: Arc<dyn ObjectStore>,
}

impl std::fmt::Debug for dyn ObjectStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ObjectStore({})", self.location())
    }
}

impl StoreBackend {
    pub(crate) fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self { store }
    }
}

impl ReadBackend for StoreBackend {
    fn location(&self) -> String {
        self.store.location()
    }

    fn list_with_size(&self, tpe: FileType) -> RusticResult<Vec<(Id, u32)>> {
        let kind = kind_of(tpe);
        let items = self
            .store
            .list(kind)
            .map_err(|e| backend_err("listing", kind, "", e.as_ref()))?;
        let mut out = Vec::with_capacity(items.len());
        for (id, size) in items {
            let parsed = if tpe == FileType::Config {
                Id::default()
            } else {
                match id.parse::<Id>() {
                    Ok(id) => id,
                    // Foreign objects (not restic ids) are not ours to interpret: skip them, as restic does.
                    Err(_) => continue,
                }
            };
            let size = u32::try_from(size).map_err(|e| backend_err("size of", kind, &id, &e))?;
            out.push((parsed, size));
        }
        Ok(out)
    }

    fn read_full(&self, tpe: FileType, id: &Id) -> RusticResult<Bytes> {
        let kind = kind_of(tpe);
        let id = id_str(tpe, id);
        self.store
            .read(kind, &id)
            .map(Bytes::from)
            .map_err(|e| backend_err("reading", kind, &id, e.as_ref()))
    }

    fn read_partial(
        &self,
        tpe: FileType,
        id: &Id,
        _cacheable: bool,
        offset: u32,
        length: u32,
    ) -> RusticResult<Bytes> {
        let kind = kind_of(tpe);
        let id = id_str(tpe, id);
        self.store
            .read_range(kind, &id, u64::from(offset), u64::from(length))
            .map(Bytes::from)
            .map_err(|e| backend_err("reading", kind, &id, e.as_ref()))
    }

    fn warmup_path(&self, tpe: FileType, id: &Id) -> String {
        kind_of(tpe).path_of(&id_str(tpe, id))
    }
}

impl WriteBackend for StoreBackend {
    fn create(&self) -> RusticResult<()> {
        self.store
            .create()
            .map_err(|e| backend_err("creating", ObjectKind::Config, "", e.as_ref()))
    }

    fn write_bytes(
        &self,
        tpe: FileType,
        id: &Id,
        _cacheable: bool,
        buf: BytesList,
    ) -> RusticResult<()> {
        let kind = kind_of(tpe);
        let id = id_str(tpe, id);
        let mut data = Vec::with_capacity(buf.size());
        for part in buf.slice() {
            data.extend_from_slice(part);
        }
        self.store
            .write(kind, &id, &data)
            .map_err(|e| backend_err("writing", kind, &id, e.as_ref()))
    }

    fn remove(&self, tpe: FileType, id: &Id, _cacheable: bool) -> RusticResult<()> {
        let kind = kind_of(tpe);
        let id = id_str(tpe, id);
        self.store
            .remove(kind, &id)
            .map_err(|e| backend_err("removing", kind, &id, e.as_ref()))
    }
}
