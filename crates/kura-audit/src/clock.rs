//! Where record times come from: the system clock, or a manual clock in tests.

use std::sync::Mutex;

use jiff::Zoned;

/// A source of the current time. Records store its [`Clock::source`] name, so a log written with a
/// different clock (NTP-disciplined, GPS, manual) says so.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now, in the local time zone (the UTC instant is derived from it).
    fn now(&self) -> Zoned;
    /// A short name for the record's `clock` field, e.g. `system`.
    fn source(&self) -> &str;
}

/// The operating system's clock and time zone.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Zoned {
        Zoned::now()
    }

    fn source(&self) -> &str {
        "system"
    }
}

/// A clock that only moves when told to; for tests (clock going backwards, day rotation).
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Zoned>,
}

impl ManualClock {
    /// A clock standing at `now`.
    pub fn new(now: Zoned) -> Self {
        Self {
            now: Mutex::new(now),
        }
    }

    /// Moves the clock to `now` (backwards too).
    pub fn set(&self, now: Zoned) {
        *self.now.lock().unwrap_or_else(|p| p.into_inner()) = now;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Zoned {
        self.now.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn source(&self) -> &str {
        "manual"
    }
}
