//! The bandwidth stage: a link that sends one datagram at a time, with a bounded queue.

use crate::settings::Bandwidth;
use std::time::Duration;

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// A link of fixed rate and the time it is busy until.
#[derive(Debug, Clone)]
pub struct Bottleneck {
    limit: Bandwidth,
    busy_until: Duration,
}

impl Bottleneck {
    pub fn new(limit: Bandwidth) -> Self {
        Self {
            limit,
            busy_until: Duration::ZERO,
        }
    }

    /// Queues a datagram of `len` bytes arriving at `at`: the time its last bit leaves the
    /// link, or `None` if the queue (the bytes not yet sent, this datagram's included) would
    /// exceed its limit (tail drop).
    pub fn enqueue(&mut self, at: Duration, len: usize) -> Option<Duration> {
        let start = self.busy_until.max(at);
        let backlog = self.bytes_in(start - at);
        if backlog.saturating_add(len as u128) > self.limit.queue_bytes as u128 {
            return None;
        }
        self.busy_until = start + self.time_for(len);
        Some(self.busy_until)
    }

    /// The bytes the link sends in `time`.
    fn bytes_in(&self, time: Duration) -> u128 {
        time.as_nanos() * u128::from(self.limit.bits_per_second) / (8 * NANOS_PER_SEC)
    }

    /// The time the link takes to send `len` bytes.
    fn time_for(&self, len: usize) -> Duration {
        let nanos = len as u128 * 8 * NANOS_PER_SEC / u128::from(self.limit.bits_per_second);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn link() -> Bottleneck {
        // 1 Mbit/s: 1,000 bytes take 8 ms; room for 10 of them.
        Bottleneck::new(Bandwidth {
            bits_per_second: 1_000_000,
            queue_bytes: 10_000,
        })
    }

    #[test]
    fn a_burst_fills_the_queue_then_is_dropped_at_the_tail() {
        let mut l = link();
        let out: Vec<_> = (0..100).map(|_| l.enqueue(Duration::ZERO, 1_000)).collect();
        let kept: Vec<_> = out.iter().flatten().copied().collect();
        assert_eq!(kept.len(), 10, "the queue holds 10,000 bytes");
        assert!(out[10..].iter().all(Option::is_none), "tail drop");
        for (i, t) in kept.iter().enumerate() {
            assert_eq!(
                *t,
                MS * 8 * (i as u32 + 1),
                "one after another at the link rate"
            );
        }
    }

    #[test]
    fn the_queue_drains_at_the_link_rate() {
        let mut l = link();
        for _ in 0..10 {
            assert!(l.enqueue(Duration::ZERO, 1_000).is_some());
        }
        assert!(l.enqueue(MS * 7, 1_000).is_none(), "still full after 7 ms");
        assert_eq!(
            l.enqueue(MS * 8, 1_000),
            Some(MS * 88),
            "one slot after 8 ms"
        );
        // Idle long enough, a datagram goes straight through.
        assert_eq!(l.enqueue(MS * 1_000, 500), Some(MS * 1_004));
    }

    #[test]
    fn a_paced_sender_under_the_rate_is_never_dropped() {
        let mut l = link();
        for i in 0..1_000u32 {
            let at = MS * 10 * i; // 800 kbit/s
            assert_eq!(l.enqueue(at, 1_000), Some(at + MS * 8));
        }
    }
}
