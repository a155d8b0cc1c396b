//! Viewer users: argon2 password hashes, optional TOTP, and in-memory sessions.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use crate::{Error, ViewerUser};

/// The session cookie's name.
pub(crate) const COOKIE: &str = "kura_session";
/// A shift: sessions end after 12 hours.
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Failed logins per user name before it is locked for [`LOCK_TIME`].
const MAX_FAILURES: u32 = 10;
const LOCK_TIME: Duration = Duration::from_secs(15 * 60);
/// Bound on stored sessions so a flood of logins cannot grow memory without limit.
const MAX_SESSIONS: usize = 10_000;

/// Hashes a password with argon2id and a random salt, in PHC string form, for `kura serve --hash-password`.
pub fn hash_password(pw: &str) -> Result<String, Error> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(pw.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Hash(e.to_string()))
}

/// Why a login was refused (all shown to the user as one message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Denied {
    BadCredentials,
    Locked,
}

struct Session {
    user: String,
    created: Instant,
}

pub(crate) struct Auth {
    users: Vec<ViewerUser>,
    sessions: Mutex<HashMap<String, Session>>,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Auth {
    pub fn new(users: Vec<ViewerUser>) -> Self {
        Auth {
            users,
            sessions: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    pub fn required(&self) -> bool {
        !self.users.is_empty()
    }

    /// Checks name, password and (when the user has a secret) the TOTP code. Blocking: argon2
    /// takes tens of milliseconds, so call it from `spawn_blocking`.
    pub fn check(&self, name: &str, password: &str, code: &str) -> Result<(), Denied> {
        let now = Instant::now();
        if let Ok(f) = self.failures.lock()
            && let Some((n, since)) = f.get(name)
            && *n >= MAX_FAILURES
            && now.duration_since(*since) < LOCK_TIME
        {
            return Err(Denied::Locked);
        }
        let user = self.users.iter().find(|u| u.name == name);
        // Verify against a fixed hash for unknown users so timing does not reveal names.
        let hash: &str = match user {
            Some(u) => &u.argon2_hash,
            None => dummy_hash(),
        };
        let ok_pw = PasswordHash::new(hash).is_ok_and(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        });
        let ok = user.is_some() && ok_pw && user.is_some_and(|u| totp_ok(u, code));
        if let Ok(mut f) = self.failures.lock() {
            if ok {
                f.remove(name);
            } else if f.len() < MAX_SESSIONS {
                let e = f.entry(name.to_string()).or_insert((0, now));
                if now.duration_since(e.1) >= LOCK_TIME {
                    *e = (0, now);
                }
                e.0 += 1;
            }
        }
        if ok {
            Ok(())
        } else {
            Err(Denied::BadCredentials)
        }
    }

    /// Starts a session for `user`, returning its token.
    pub fn start(&self, user: &str) -> String {
        let token: String = rand::random::<[u8; 32]>()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if let Ok(mut s) = self.sessions.lock() {
            if s.len() >= MAX_SESSIONS {
                s.retain(|_, v| v.created.elapsed() < SESSION_TTL);
            }
            if s.len() < MAX_SESSIONS {
                s.insert(
                    token.clone(),
                    Session {
                        user: user.to_string(),
                        created: Instant::now(),
                    },
                );
            }
        }
        token
    }

    /// The user of a live session.
    pub fn user(&self, token: &str) -> Option<String> {
        let s = self.sessions.lock().ok()?;
        s.get(token)
            .filter(|v| v.created.elapsed() < SESSION_TTL)
            .map(|v| v.user.clone())
    }

    pub fn end(&self, token: &str) {
        if let Ok(mut s) = self.sessions.lock() {
            s.remove(token);
        }
    }
}

fn totp_ok(user: &ViewerUser, code: &str) -> bool {
    let Some(secret) = &user.totp_secret else {
        return true;
    };
    let Ok(bytes) = totp_rs::Secret::Encoded(secret.clone()).to_bytes() else {
        return false;
    };
    // RFC 6238 defaults used by authenticator apps: SHA-1, 6 digits, 30 s steps, ±1 step skew.
    let totp = totp_rs::TOTP::new_unchecked(totp_rs::Algorithm::SHA1, 6, 1, 30, bytes);
    totp.check_current(code.trim()).unwrap_or(false)
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password("kura-viewer-dummy").unwrap_or_default())
}

/// The session token from a `Cookie` header value.
pub(crate) fn token_from_cookie(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, pw: &str, totp: Option<&str>) -> ViewerUser {
        ViewerUser {
            name: name.into(),
            argon2_hash: hash_password(pw).unwrap(),
            totp_secret: totp.map(String::from),
        }
    }

    #[test]
    fn password_check_and_sessions() {
        let a = Auth::new(vec![user("nurse", "correct horse", None)]);
        assert!(a.check("nurse", "correct horse", "").is_ok());
        assert_eq!(a.check("nurse", "wrong", ""), Err(Denied::BadCredentials));
        assert_eq!(
            a.check("nobody", "correct horse", ""),
            Err(Denied::BadCredentials)
        );
        let t = a.start("nurse");
        assert_eq!(a.user(&t).as_deref(), Some("nurse"));
        a.end(&t);
        assert_eq!(a.user(&t), None);
    }

    #[test]
    fn repeated_failures_lock_the_name() {
        let a = Auth::new(vec![user("dr", "pw", None)]);
        for _ in 0..MAX_FAILURES {
            assert!(a.check("dr", "bad", "").is_err());
        }
        assert_eq!(a.check("dr", "pw", ""), Err(Denied::Locked));
    }

    #[test]
    fn totp_is_required_when_configured() {
        let secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
        let a = Auth::new(vec![user("dr", "pw", Some(secret))]);
        assert!(a.check("dr", "pw", "000000").is_err() || a.check("dr", "pw", "111111").is_err());
        let bytes = totp_rs::Secret::Encoded(secret.into()).to_bytes().unwrap();
        let code = totp_rs::TOTP::new_unchecked(totp_rs::Algorithm::SHA1, 6, 1, 30, bytes)
            .generate_current()
            .unwrap();
        assert!(a.check("dr", "pw", &code).is_ok());
        assert!(a.check("dr", "pw", "").is_err());
    }

    #[test]
    fn cookie_parsing() {
        assert_eq!(token_from_cookie("a=b; kura_session=abc; c=d"), Some("abc"));
        assert_eq!(token_from_cookie("kura_sessionx=1"), None);
    }
}
