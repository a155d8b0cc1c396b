//! Shared helpers: raw SDK clients (the "attacker" uses the same credentials) and buckets.

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{Credentials, Region, RequestChecksumCalculation};
use kura_copies::{RetentionPolicy, S3LockStore, S3Options};
use kura_testkit::store::Seaweed;

/// A small runtime for raw SDK calls in tests.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A raw S3 client with the admin credentials: what an attacker on the hospital server has.
pub fn raw_client(sw: &Seaweed) -> Client {
    let creds = Credentials::new(
        sw.access_key_id(),
        sw.secret_access_key(),
        None,
        None,
        "kura-test",
    );
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version_latest()
        .region(Region::new("us-east-1"))
        .endpoint_url(sw.endpoint())
        .credentials_provider(creds)
        .force_path_style(true)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .build();
    Client::from_conf(conf)
}

/// Create `bucket`, with or without Object Lock.
pub fn create_bucket(sw: &Seaweed, bucket: &str, object_lock: bool) {
    let client = raw_client(sw);
    rt().block_on(
        client
            .create_bucket()
            .bucket(bucket)
            .object_lock_enabled_for_bucket(object_lock)
            .send(),
    )
    .unwrap_or_else(|e| {
        panic!(
            "create bucket {bucket}: {}",
            aws_sdk_s3::error::DisplayErrorContext(&e)
        )
    });
}

pub fn options(sw: &Seaweed, bucket: &str, retention: RetentionPolicy) -> S3Options {
    S3Options {
        endpoint: Some(sw.endpoint().to_string()),
        region: "us-east-1".into(),
        bucket: bucket.into(),
        prefix: "hospital/repo".into(),
        retention,
        profile: Some(Seaweed::PROFILE.into()),
        credentials_file: Some(sw.credentials_file().to_path_buf()),
    }
}

/// A locked bucket and a connected store on it.
pub fn locked_store(sw: &Seaweed, bucket: &str, retention: RetentionPolicy) -> S3LockStore {
    create_bucket(sw, bucket, true);
    S3LockStore::connect(&options(sw, bucket, retention)).unwrap_or_else(|e| panic!("connect: {e}"))
}
