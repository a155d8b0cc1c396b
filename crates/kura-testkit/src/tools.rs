//! One policy for tests that need a real external tool (restic, weed, chromium, …): when it is
//! missing, fail under `KURA_REQUIRE_TOOLS=1` (set by `scripts/test`, so CI never passes quietly),
//! else print a loud SKIPPED line so a developer without the tool sees what did not run.

/// Returns `found`; when it is false, panics under `KURA_REQUIRE_TOOLS=1`, else prints SKIPPED.
/// `what` names the test or tool, `install` says how to get it.
pub fn available_or_skip(found: bool, what: &str, install: &str) -> bool {
    if found {
        return true;
    }
    if std::env::var("KURA_REQUIRE_TOOLS").as_deref() == Ok("1") {
        panic!(
            "{what}: required tool missing and KURA_REQUIRE_TOOLS=1; install it with `{install}` (scripts/test does)"
        );
    }
    eprintln!(
        "\n!!!!! SKIPPED {what}: tool missing; `{install}` to run it (KURA_REQUIRE_TOOLS=1 makes this fail) !!!!!\n"
    );
    false
}

/// Whether `name` is an executable on PATH.
pub fn on_path(name: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            std::fs::metadata(dir.join(name)).is_ok_and(|m| {
                use std::os::unix::fs::PermissionsExt;
                m.is_file() && m.permissions().mode() & 0o111 != 0
            })
        })
    })
}
