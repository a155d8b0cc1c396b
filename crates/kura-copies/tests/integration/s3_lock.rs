//! `S3LockStore` against a real single-process SeaweedFS (`weed mini`).

use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{ObjectLockRetention, ObjectLockRetentionMode};
use jiff::{SignedDuration, Timestamp};
use kura_copies::{Error, RetentionPolicy, S3LockStore};
use kura_engine::store::{ObjectKind, ObjectStore};
use kura_testkit::store::{
    MemoryStore, Seaweed, conformance_suite, locked_conformance_suite, test_bytes, test_id,
};

use super::support::{create_bucket, locked_store, options, raw_client, rt};

const SHORT: RetentionPolicy = RetentionPolicy {
    snapshot_days: 1,
    data_days: 2,
};

#[test]
fn memory_store_passes_conformance_suite() {
    conformance_suite(&MemoryStore::new());
}

#[test]
fn s3_lock_store_passes_locked_conformance_suite() {
    let Some(sw) = Seaweed::start("s3_lock_store_passes_locked_conformance_suite") else {
        return;
    };
    let store = locked_store(&sw, "kura-conformance", SHORT);
    locked_conformance_suite(&store);
    let report = store.verify(false).unwrap();
    assert!(report.is_ok(), "{report:#?}");
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_eq!(report.objects, 1 + 4 * 4 + 1_050);
}

#[test]
fn bucket_without_object_lock_is_refused() {
    let Some(sw) = Seaweed::start("bucket_without_object_lock_is_refused") else {
        return;
    };
    create_bucket(&sw, "kura-unlocked", false);
    let err = S3LockStore::connect(&options(&sw, "kura-unlocked", SHORT)).unwrap_err();
    assert!(
        matches!(err, Error::BucketNotLocked { ref bucket } if bucket == "kura-unlocked"),
        "{err}"
    );
    assert!(
        err.to_string().contains("kura-unlocked") && err.to_string().contains("object lock"),
        "{err}"
    );
}

#[test]
fn wrong_credentials_are_an_error_naming_the_bucket() {
    let Some(sw) = Seaweed::start("wrong_credentials_are_an_error_naming_the_bucket") else {
        return;
    };
    create_bucket(&sw, "kura-creds", true);
    let creds = sw.dir().join("other-credentials");
    std::fs::write(
        &creds,
        format!(
            "[{}]\naws_access_key_id = NOPE\naws_secret_access_key = nopenopenope\n",
            Seaweed::PROFILE
        ),
    )
    .unwrap();
    let mut opts = options(&sw, "kura-creds", SHORT);
    opts.credentials_file = Some(creds);
    let err = S3LockStore::connect(&opts).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::S3 { .. }), "{msg}");
    assert!(msg.contains("kura-creds"), "{msg}");
    assert!(
        !msg.contains(sw.secret_access_key()),
        "secret leaked into {msg}"
    );
}

#[test]
fn every_write_is_locked_by_kind() {
    let Some(sw) = Seaweed::start("every_write_is_locked_by_kind") else {
        return;
    };
    let store = locked_store(&sw, "kura-kinds", SHORT);
    let before = Timestamp::now();
    let (pack, snap) = (test_id(1), test_id(2));
    store
        .write(ObjectKind::Pack, &pack, &test_bytes(1, 5000))
        .unwrap();
    store
        .write(ObjectKind::Snapshot, &snap, &test_bytes(2, 300))
        .unwrap();
    let after = Timestamp::now();
    let pl = store.lock_of(ObjectKind::Pack, &pack).unwrap();
    let sl = store.lock_of(ObjectKind::Snapshot, &snap).unwrap();
    assert_eq!(pl.mode.as_deref(), Some("COMPLIANCE"));
    assert_eq!(sl.mode.as_deref(), Some("COMPLIANCE"));
    let in_window = |until: Timestamp, days: i64| {
        let d = SignedDuration::from_hours(24 * days);
        until >= before.checked_add(d).unwrap() - SignedDuration::from_secs(1)
            && until <= after.checked_add(d).unwrap() + SignedDuration::from_secs(1)
    };
    assert!(in_window(pl.retain_until.unwrap(), 2), "{pl:?}");
    assert!(in_window(sl.retain_until.unwrap(), 1), "{sl:?}");
    // A second write of the same object is skipped and keeps the lock.
    store
        .write(ObjectKind::Pack, &pack, &test_bytes(1, 5000))
        .unwrap();
    assert_eq!(store.lock_of(ObjectKind::Pack, &pack).unwrap(), pl);
    // Same id, different size: refused loudly.
    let err = store
        .write(ObjectKind::Pack, &pack, &test_bytes(1, 10))
        .unwrap_err();
    assert!(err.to_string().contains("5000"), "{err}");
}

#[test]
fn attacker_with_same_credentials_cannot_delete_overwrite_or_shorten() {
    let Some(sw) =
        Seaweed::start("attacker_with_same_credentials_cannot_delete_overwrite_or_shorten")
    else {
        return;
    };
    let store = locked_store(&sw, "kura-attack", SHORT);
    let id = test_id(7);
    let data = test_bytes(7, 20_000);
    store.write(ObjectKind::Pack, &id, &data).unwrap();
    let lock = store.lock_of(ObjectKind::Pack, &id).unwrap();
    let until = lock.retain_until.unwrap();
    let key = store.key_of(ObjectKind::Pack, &id);
    let (client, rt) = (raw_client(&sw), rt());
    let b = "kura-attack";

    let del = rt.block_on(
        client
            .delete_object()
            .bucket(b)
            .key(&key)
            .version_id(&lock.version_id)
            .send(),
    );
    assert!(del.is_err(), "DeleteObject of the locked version succeeded");
    let del = rt.block_on(
        client
            .delete_object()
            .bucket(b)
            .key(&key)
            .version_id(&lock.version_id)
            .bypass_governance_retention(true)
            .send(),
    );
    assert!(
        del.is_err(),
        "DeleteObject with BypassGovernanceRetention succeeded"
    );
    let earlier = DateTime::from_secs(until.as_second() - 3600);
    let shorten = rt.block_on(
        client
            .put_object_retention()
            .bucket(b)
            .key(&key)
            .version_id(&lock.version_id)
            .retention(
                ObjectLockRetention::builder()
                    .mode(ObjectLockRetentionMode::Compliance)
                    .retain_until_date(earlier)
                    .build(),
            )
            .send(),
    );
    assert!(
        shorten.is_err(),
        "PutObjectRetention with an earlier date succeeded"
    );
    let downgrade = rt.block_on(
        client
            .put_object_retention()
            .bucket(b)
            .key(&key)
            .version_id(&lock.version_id)
            .bypass_governance_retention(true)
            .retention(
                ObjectLockRetention::builder()
                    .mode(ObjectLockRetentionMode::Governance)
                    .retain_until_date(earlier)
                    .build(),
            )
            .send(),
    );
    assert!(
        downgrade.is_err(),
        "switching to GOVERNANCE with bypass succeeded"
    );

    // What S3 does allow on a versioned bucket: a newer version and a delete marker on top.
    // Neither touches the locked bytes, and the store keeps reading the locked version.
    let over = rt.block_on(
        client
            .put_object()
            .bucket(b)
            .key(&key)
            .body(ByteStream::from(b"encrypted!".to_vec()))
            .send(),
    );
    assert!(
        over.is_ok(),
        "overwrite was refused outright (fine, but then this test needs updating)"
    );
    let marker = rt.block_on(client.delete_object().bucket(b).key(&key).send());
    assert!(marker.is_ok());

    // Fresh store: nothing cached from the write.
    let fresh = S3LockStore::connect(&options(&sw, b, SHORT)).unwrap();
    assert!(
        fresh.read(ObjectKind::Pack, &id).unwrap() == data,
        "locked bytes changed"
    );
    assert_eq!(
        fresh.list(ObjectKind::Pack).unwrap(),
        vec![(id.clone(), data.len() as u64)]
    );
    assert_eq!(fresh.lock_of(ObjectKind::Pack, &id).unwrap(), lock);
    let report = fresh.verify(true).unwrap();
    assert!(report.is_ok(), "{report:#?}");
    assert_eq!(report.bytes_read, data.len() as u64);
    assert_eq!(report.warnings.len(), 1, "{report:#?}");
    assert!(
        report.warnings[0]
            .problem
            .contains("1 newer version(s) and 1 delete marker(s)"),
        "{report:#?}"
    );

    // kura itself refuses to remove, naming the date, without trying.
    let err = fresh.remove(ObjectKind::Pack, &id).unwrap_err();
    assert!(
        err.to_string().contains("locked (compliance) until"),
        "{err}"
    );
    assert!(err.to_string().contains(&until.to_string()), "{err}");
    assert!(fresh.read(ObjectKind::Pack, &id).unwrap() == data);
}

#[test]
fn extend_retention_moves_forward_only() {
    let Some(sw) = Seaweed::start("extend_retention_moves_forward_only") else {
        return;
    };
    let store = locked_store(&sw, "kura-extend", SHORT);
    let id = test_id(9);
    store
        .write(ObjectKind::Snapshot, &id, &test_bytes(9, 400))
        .unwrap();
    let first = store
        .lock_of(ObjectKind::Snapshot, &id)
        .unwrap()
        .retain_until
        .unwrap();

    let later = first
        .checked_add(SignedDuration::from_hours(24 * 10))
        .unwrap();
    let lock = store
        .extend_retention(ObjectKind::Snapshot, &id, later)
        .unwrap();
    assert_eq!(lock.retain_until, Some(later));
    assert_eq!(
        store
            .lock_of(ObjectKind::Snapshot, &id)
            .unwrap()
            .retain_until,
        Some(later)
    );

    let err = store
        .extend_retention(ObjectKind::Snapshot, &id, first)
        .unwrap_err();
    assert!(matches!(err, Error::RetentionNotForward { .. }), "{err}");
    assert_eq!(
        store
            .lock_of(ObjectKind::Snapshot, &id)
            .unwrap()
            .retain_until,
        Some(later)
    );
    // Same date again is a no-op.
    assert_eq!(
        store
            .extend_retention(ObjectKind::Snapshot, &id, later)
            .unwrap()
            .retain_until,
        Some(later)
    );
    // Missing objects are errors.
    let err = store
        .extend_retention(ObjectKind::Snapshot, &test_id(10), later)
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
}

#[test]
fn store_works_from_inside_a_tokio_runtime() {
    let Some(sw) = Seaweed::start("store_works_from_inside_a_tokio_runtime") else {
        return;
    };
    let store = locked_store(&sw, "kura-nested", SHORT);
    let listed = rt().block_on(async {
        store.write(ObjectKind::Key, &test_id(3), b"key").unwrap();
        store.list(ObjectKind::Key).unwrap()
    });
    assert_eq!(listed, vec![(test_id(3), 3)]);
}

#[test]
fn planted_unlocked_object_is_reported_refused_and_removable() {
    let Some(sw) = Seaweed::start("planted_unlocked_object_is_reported_refused_and_removable")
    else {
        return;
    };
    let store = locked_store(&sw, "kura-planted", SHORT);
    let id = test_id(11);
    let key = store.key_of(ObjectKind::Index, &id);
    let planted = test_bytes(11, 64);
    rt().block_on(
        raw_client(&sw)
            .put_object()
            .bucket("kura-planted")
            .key(&key)
            .body(ByteStream::from(planted.clone()))
            .send(),
    )
    .unwrap();

    // Same size as kura's object but no lock: kura does not take it for its own.
    let err = store
        .write(ObjectKind::Index, &id, &test_bytes(12, 64))
        .unwrap_err();
    assert!(
        err.to_string().contains("without a compliance lock"),
        "{err}"
    );
    let report = store.verify(false).unwrap();
    assert_eq!(report.errors.len(), 1, "{report:#?}");
    assert!(
        report.errors[0]
            .problem
            .contains("not under a compliance lock"),
        "{report:#?}"
    );
    assert_eq!(report.errors[0].key, key);

    // Unlocked (or expired) objects can be removed, every version of them.
    store.remove(ObjectKind::Index, &id).unwrap();
    assert!(store.list(ObjectKind::Index).unwrap().is_empty());
    assert!(matches!(
        store.lock_of(ObjectKind::Index, &id).unwrap_err(),
        Error::NotFound { .. }
    ));
    // Now kura's own write goes through, locked.
    store
        .write(ObjectKind::Index, &id, &test_bytes(12, 64))
        .unwrap();
    assert!(
        store
            .lock_of(ObjectKind::Index, &id)
            .unwrap()
            .is_compliance_until_after(Timestamp::now())
    );
}
