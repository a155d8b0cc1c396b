//! Who is running this process, for the `actor` of audit records.

use std::os::unix::fs::MetadataExt;

/// The OS user running this process: `USER`, else `LOGNAME`, else the name of the process's uid in
/// `/etc/passwd`, else `uid:N`. Under sudo the invoking user is kept: `root (sudo by alice)`.
///
/// The environment can be changed by the user it describes; the uid cannot, so it is the fallback when
/// the environment says nothing.
pub fn current_actor() -> String {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let user = env("USER")
        .or_else(|| env("LOGNAME"))
        .or_else(|| process_uid().map(|uid| user_name(uid).unwrap_or_else(|| format!("uid:{uid}"))))
        .unwrap_or_else(|| "unknown".to_owned());
    match env("SUDO_USER") {
        Some(by) if by != user => format!("{user} (sudo by {by})"),
        _ => user,
    }
}

/// The effective uid, read from the owner of `/proc/self` (no libc, no unsafe).
fn process_uid() -> Option<u32> {
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        // passwd(5): name:password:UID:GID:GECOS:directory:shell
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id = fields.nth(1)?.parse::<u32>().ok()?;
        (id == uid).then(|| name.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_uid_resolves_to_a_name() {
        assert_eq!(user_name(0).as_deref(), Some("root"));
    }

    #[test]
    fn actor_is_never_empty() {
        assert!(!current_actor().trim().is_empty());
    }
}
