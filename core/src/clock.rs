//! The one clock. Key validity windows, policy ages and audit records all
//! compare against "now"; a clock that cannot be read must refuse, never
//! fall back to 0 (at the epoch every expired key would count again).
//!
//! Core functions take `now` as an argument (no global state); front ends
//! read it here, once per decision.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

/// Unix seconds now, or a configuration error (exit 78) naming the clock
/// when the system time is before 1970 or unreadable.
pub fn unix_now() -> Result<u64> {
    unix_seconds(SystemTime::now())
}

/// Unix seconds of `t`; a time before the epoch is an error, not 0.
pub fn unix_seconds(t: SystemTime) -> Result<u64> {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .map_err(|e| Error::Clock {
            reason: format!("before 1970 by {:?}", e.duration()),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_clock_before_the_epoch_refuses_instead_of_reading_zero() {
        let e = unix_seconds(UNIX_EPOCH - Duration::from_secs(5)).unwrap_err();
        assert_eq!(e.exit_code(), crate::ExitCode::Config);
        assert!(e.to_string().contains("clock"), "{e}");
        assert_eq!(unix_seconds(UNIX_EPOCH + Duration::from_secs(7)).unwrap(), 7);
        assert!(unix_now().unwrap() > 1_700_000_000);
    }
}
