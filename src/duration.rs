//! Seconds given by users, scripts and servers as `Duration`s, without ever panicking.
//!
//! `Duration::from_secs_f64` panics on NaN, negatives and values past `u64::MAX` seconds,
//! and `Instant + Duration` panics on overflow; every conversion goes through here, which
//! clamps to [`MAX_SECONDS`] (about 31 years, i.e. no practical limit) so later arithmetic
//! on instants is safe too.

use std::time::Duration;

/// The longest duration the core keeps: 10^9 s (about 31.7 years). Longer values
/// (including infinity) mean "no practical limit" and are clamped to this.
pub const MAX_SECONDS: f64 = 1e9;

/// `secs` as a duration, clamped to [`MAX_SECONDS`]; `None` for NaN and negatives.
pub fn from_secs_clamped(secs: f64) -> Option<Duration> {
    if secs.is_nan() || secs < 0.0 {
        return None;
    }
    Some(Duration::from_secs_f64(secs.min(MAX_SECONDS)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_infinite_nan_and_negative_seconds_never_panic() {
        let cap = Duration::from_secs_f64(MAX_SECONDS);
        assert_eq!(from_secs_clamped(1e300), Some(cap));
        assert_eq!(from_secs_clamped(f64::INFINITY), Some(cap));
        assert_eq!(from_secs_clamped(f64::MAX), Some(cap));
        assert_eq!(from_secs_clamped(f64::NAN), None);
        assert_eq!(from_secs_clamped(-1.0), None);
        assert_eq!(from_secs_clamped(f64::NEG_INFINITY), None);
        assert_eq!(from_secs_clamped(1.5), Some(Duration::from_millis(1500)));
        assert_eq!(from_secs_clamped(0.0), Some(Duration::ZERO));
        // A clamped duration can be added to now without overflow.
        let _ = std::time::Instant::now() + cap;
        let _ = std::time::SystemTime::now() + cap;
    }
}
