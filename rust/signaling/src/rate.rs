//! Token buckets: the one rate-limiting primitive of the server.

use std::time::{Duration, Instant};

/// A sustained rate with a burst allowance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Tokens added per second.
    pub per_sec: f64,
    /// Tokens the bucket holds at most (and starts with).
    pub burst: f64,
}

impl Rate {
    /// `per_sec` tokens per second, at most `burst` at once.
    pub const fn new(per_sec: f64, burst: f64) -> Rate {
        Rate { per_sec, burst }
    }
}

/// A bucket that refills at `rate.per_sec` up to `rate.burst` tokens.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: Rate,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: Rate, now: Instant) -> TokenBucket {
        TokenBucket {
            rate,
            tokens: rate.burst,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate.per_sec).min(self.rate.burst);
        self.last = now;
    }

    /// Takes `cost` tokens, or says how long until they are there (nothing is taken then).
    /// A cost above the burst is charged as the whole burst, so it can still pass.
    pub fn take(&mut self, cost: f64, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        let cost = cost.min(self.rate.burst);
        if self.tokens >= cost {
            self.tokens -= cost;
            return Ok(());
        }
        let missing = cost - self.tokens;
        let per_sec = self.rate.per_sec.max(f64::MIN_POSITIVE);
        Err(Duration::from_secs_f64((missing / per_sec).min(3600.0)))
    }

    /// True when the bucket is back to its burst: forgetting it then loses nothing.
    pub fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.rate.burst
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_sustained_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(Rate::new(2.0, 3.0), start);
        for _ in 0..3 {
            assert_eq!(bucket.take(1.0, start), Ok(()));
        }
        let wait = bucket.take(1.0, start).expect_err("empty");
        assert!(
            (wait.as_secs_f64() - 0.5).abs() < 1e-6,
            "waits half a second at 2/s: {wait:?}"
        );
        assert_eq!(bucket.take(1.0, start + Duration::from_millis(500)), Ok(()));
        assert!(bucket
            .take(1.0, start + Duration::from_millis(600))
            .is_err());
        assert!(!bucket.is_full(start + Duration::from_millis(600)));
        assert!(bucket.is_full(start + Duration::from_secs(10)));
    }

    #[test]
    fn a_cost_above_the_burst_passes_on_a_full_bucket() {
        let now = Instant::now();
        let mut bucket = TokenBucket::new(Rate::new(1.0, 2.0), now);
        assert_eq!(bucket.take(5.0, now), Ok(()));
        assert!(bucket.take(5.0, now).is_err());
    }
}
