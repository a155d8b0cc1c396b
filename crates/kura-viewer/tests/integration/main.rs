//! kura-viewer end to end: a real server on 127.0.0.1:0, a raw HTTP client, and headless Chromium.

mod browser;
mod http;
mod support;
