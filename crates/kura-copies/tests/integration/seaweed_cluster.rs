//! A replicated SeaweedFS cluster (`-defaultReplication=001`) survives losing a volume server.

use kura_copies::RetentionPolicy;
use kura_engine::store::{ObjectKind, ObjectStore};
use kura_testkit::store::{Seaweed, test_bytes, test_id};

use super::support::{locked_store, options};

#[test]
fn replicated_cluster_reads_back_after_a_volume_server_dies() {
    let Some(mut sw) =
        Seaweed::start_cluster("replicated_cluster_reads_back_after_a_volume_server_dies")
    else {
        return;
    };
    let retention = RetentionPolicy {
        snapshot_days: 1,
        data_days: 1,
    };
    let store = locked_store(&sw, "kura-cluster", retention);
    let objects: Vec<(String, Vec<u8>)> = (0..12u64)
        .map(|i| {
            (
                test_id(500 + i),
                test_bytes(500 + i, 50_000 + i as usize * 1000),
            )
        })
        .collect();
    for (id, data) in &objects {
        store.write(ObjectKind::Pack, id, data).unwrap();
    }
    drop(store);
    // Kill the server holding the most volumes, so the loss certainly touches stored data.
    let counts = sw.volume_counts();
    let (victim, held) = counts
        .iter()
        .copied()
        .enumerate()
        .max_by_key(|(_, n)| *n)
        .unwrap();
    assert!(held > 0, "no volume server holds data: {counts:?}");
    sw.kill_volume_server(victim);
    let store =
        kura_copies::S3LockStore::connect(&options(&sw, "kura-cluster", retention)).unwrap();
    for (id, data) in &objects {
        let back = store
            .read(ObjectKind::Pack, id)
            .unwrap_or_else(|e| panic!("read {id} after losing a volume server: {e}"));
        assert!(
            back == *data,
            "pack {id} differs after losing a volume server"
        );
    }
    assert_eq!(store.list(ObjectKind::Pack).unwrap().len(), objects.len());
}
