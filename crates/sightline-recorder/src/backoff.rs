//! Reconnection delays: capped exponential backoff with jitter.
//!
//! Jitter spreads the reconnections of many cameras that failed together (a switch
//! reboot, a server restart) so they do not hammer the network in lockstep. The cap
//! is short by default because a camera's return should be noticed within seconds:
//! a VMS that records again only half a minute after a camera comes back loses
//! exactly the footage someone will later ask for.

use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            min,
            max: max.max(min),
            attempt: 0,
        }
    }

    /// The next delay: `min * 2^attempt`, capped at `max`, scaled by a random factor
    /// in [0.8, 1.2).
    pub fn next_delay(&mut self) -> Duration {
        let base = self
            .min
            .saturating_mul(1u32 << self.attempt.min(16))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let mut byte = [0u8; 2];
        let unit = match getrandom::getrandom(&mut byte) {
            Ok(()) => f64::from(u16::from_le_bytes(byte)) / 65536.0,
            Err(_) => 0.5,
        };
        base.mul_f64(0.8 + 0.4 * unit)
    }

    /// Back to the shortest delay, after a connection that worked.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_caps_with_bounded_jitter() {
        let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(2));
        let delays: Vec<Duration> = (0..6).map(|_| b.next_delay()).collect();
        let within = |d: Duration, base_ms: u64| {
            d >= Duration::from_millis(base_ms * 8 / 10)
                && d < Duration::from_millis(base_ms * 12 / 10)
        };
        assert!(within(delays[0], 500), "{delays:?}");
        assert!(within(delays[1], 1000), "{delays:?}");
        for d in &delays[2..] {
            assert!(within(*d, 2000), "{delays:?}");
        }
        b.reset();
        assert!(within(b.next_delay(), 500));
    }
}
