//! One-way latency of benchmark messages: a sender stamps the first bytes of a binary message
//! with a marker and its wall-clock send time; a receiver on the same machine reads the stamp
//! back. Both processes read the same clock, so the difference is the one-way delay through
//! both stacks (the Node.js driver of `interop/` writes the same stamp).

use std::time::{SystemTime, UNIX_EPOCH};

const MARKER: &[u8; 4] = b"\xfaLAT";
/// Bytes a stamp takes at the start of a message.
pub const STAMP_LEN: usize = 12;
/// Samples kept; later messages are counted but not sampled (bounded memory).
const MAX_SAMPLES: usize = 1 << 20;

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Writes the marker and the current time into the start of `payload` (if it is long enough).
pub fn stamp(payload: &mut [u8]) {
    if let Some(head) = payload.get_mut(..STAMP_LEN) {
        head[..4].copy_from_slice(MARKER);
        head[4..].copy_from_slice(&now_micros().to_le_bytes());
    }
}

fn stamped_at(data: &[u8]) -> Option<u64> {
    let head = data.get(..STAMP_LEN)?;
    if &head[..4] != MARKER {
        return None;
    }
    Some(u64::from_le_bytes(head[4..].try_into().ok()?))
}

/// Latencies of the stamped messages received so far.
#[derive(Default)]
pub struct LatencyLog {
    samples: Vec<u64>,
    last_arrival: u64,
}

impl LatencyLog {
    /// Records the delay of `data` if it carries a stamp.
    pub fn record(&mut self, data: &[u8]) {
        if let Some(sent) = stamped_at(data) {
            let now = now_micros();
            self.last_arrival = now;
            if self.samples.len() < MAX_SAMPLES {
                self.samples.push(now.saturating_sub(sent));
            }
        }
    }

    /// Samples, p50 and p99 in microseconds, and when the last stamped message arrived
    /// (microseconds since the Unix epoch); `None` without samples.
    pub fn summary(&self) -> Option<LatencySummary> {
        if self.samples.is_empty() {
            return None;
        }
        let mut sorted = self.samples.clone();
        sorted.sort_unstable();
        let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
        Some(LatencySummary {
            samples: sorted.len(),
            p50_us: at(0.5),
            p99_us: at(0.99),
            last_arrival_us: self.last_arrival,
        })
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct LatencySummary {
    pub samples: usize,
    pub p50_us: u64,
    pub p99_us: u64,
    pub last_arrival_us: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamped_message_is_recognised_and_others_are_not() {
        let mut message = vec![0u8; 64];
        stamp(&mut message);
        let mut log = LatencyLog::default();
        log.record(&message);
        log.record(&[0u8; 64]);
        log.record(b"\xfaLA");
        let summary = log.summary().expect("one sample");
        assert_eq!(summary.samples, 1);
        assert!(summary.p50_us < 1_000_000, "{summary:?}");
        assert_eq!(summary.p99_us, summary.p50_us);
        assert!(summary.last_arrival_us > 0);
    }

    #[test]
    fn percentiles_come_from_the_sorted_samples() {
        let log = LatencyLog {
            samples: (1..=100).rev().collect(),
            last_arrival: 7,
        };
        let summary = log.summary().expect("samples");
        assert_eq!(
            (summary.samples, summary.p50_us, summary.p99_us),
            (100, 51, 99)
        );
    }
}
