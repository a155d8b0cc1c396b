//! kura-engine's integration tests: one binary, repositories in memory (kura-testkit's
//! `MemoryStore`) fed from small temporary source trees.

mod integration {
    mod copy;
    mod forget;
    mod reader;
    mod restore;
    mod support;
    mod verdict;
}
