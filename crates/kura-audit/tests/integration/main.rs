//! kura-audit integration tests: one binary, one module per concern.

mod common;
mod concurrency;
mod events;
mod rotation;
mod smtp;
mod syslog;
mod tamper;
mod webhook;
