//! Estimates the rate at which the remote receives our data, the way TCP samples its delivery
//! rate (draft-cheng-iccrg-delivery-rate-estimation): each packet remembers how much had been
//! delivered when it left, and when it is acknowledged, what was delivered since, over the time
//! since, is one sample. Such a sample spans at least the packet's round trip, so a receiver
//! that acknowledges in batches does not inflate it.
//!
//! The pacer uses the highest recent sample as the path's rate: once the congestion window is
//! larger than the path holds, a rate derived from the window overruns the bottleneck, and a
//! shallow queue drops the excess.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Samples kept at most: falling rates within one window each stay, and a remote that delays
/// its SACKs stretches the window.
const MAX_PEAKS: usize = 64;

/// What a packet remembers of the delivery count when it leaves.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Snapshot {
    delivered: u64,
    at: Instant,
    /// Sent while the flight was too small to fill the path: its sample measures the
    /// application, not the path.
    app_limited: bool,
}

#[derive(Debug, Default)]
pub(crate) struct DeliveryRate {
    /// Bytes acknowledged so far.
    delivered: u64,
    /// When `delivered` last grew.
    delivered_at: Option<Instant>,
    /// Samples (bytes per second, when) whose rate exceeds every later one: the front is the
    /// highest within the window.
    peaks: VecDeque<(f64, Instant)>,
}

impl DeliveryRate {
    /// The snapshot for a packet leaving at `now`.
    pub fn on_sent(&self, now: Instant, app_limited: bool) -> Snapshot {
        Snapshot {
            delivered: self.delivered,
            at: self.delivered_at.unwrap_or(now),
            app_limited,
        }
    }

    /// A SACK at `now` acknowledged `bytes` more; `latest` is the snapshot of the most recently
    /// sent packet among those it acknowledged. Samples older than `window` are forgotten.
    pub fn on_acked(&mut self, now: Instant, bytes: u64, latest: Snapshot, window: Duration) {
        self.delivered += bytes;
        self.delivered_at = Some(now);
        let elapsed = now.saturating_duration_since(latest.at).as_secs_f64();
        if latest.app_limited || elapsed <= 0.0 {
            return;
        }
        let rate = self.delivered.saturating_sub(latest.delivered) as f64 / elapsed;
        while self.peaks.back().is_some_and(|&(r, _)| r <= rate) {
            self.peaks.pop_back();
        }
        self.peaks.push_back((rate, now));
        if self.peaks.len() > MAX_PEAKS {
            self.peaks.pop_front();
        }
        self.expire(now, window);
    }

    fn expire(&mut self, now: Instant, window: Duration) {
        while self
            .peaks
            .front()
            .is_some_and(|&(_, at)| now.saturating_duration_since(at) > window)
        {
            self.peaks.pop_front();
        }
    }

    /// The highest sample within `window` of `now`, bytes per second.
    pub fn max(&self, now: Instant, window: Duration) -> Option<f64> {
        self.peaks
            .iter()
            .find(|&&(_, at)| now.saturating_duration_since(at) <= window)
            .map(|&(rate, _)| rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(1);

    #[test]
    fn a_sample_is_what_was_delivered_over_the_time_since_the_packet_left() {
        let start = Instant::now();
        let mut d = DeliveryRate::default();
        let first = d.on_sent(start, false);
        // 10 kB acknowledged 100 ms later: 100 kB/s.
        d.on_acked(start + Duration::from_millis(100), 10_000, first, WINDOW);
        let second = d.on_sent(start + Duration::from_millis(100), false);
        // The next packet's sample counts from the previous acknowledgement.
        d.on_acked(start + Duration::from_millis(150), 20_000, second, WINDOW);
        let max = d.max(start + Duration::from_millis(150), WINDOW);
        assert_eq!(max, Some(400_000.0));
    }

    #[test]
    fn the_highest_recent_sample_stands_until_it_ages_out() {
        let start = Instant::now();
        let mut d = DeliveryRate::default();
        let ms = |n| start + Duration::from_millis(n);
        let s = d.on_sent(ms(0), false);
        d.on_acked(ms(100), 50_000, s, WINDOW); // 500 kB/s
        let s = d.on_sent(ms(100), false);
        d.on_acked(ms(200), 10_000, s, WINDOW); // 100 kB/s
        assert_eq!(d.max(ms(200), WINDOW), Some(500_000.0));
        assert_eq!(d.max(ms(1_150), WINDOW), Some(100_000.0));
        assert_eq!(d.max(ms(1_250), WINDOW), None);
    }

    #[test]
    fn falling_samples_are_bounded() {
        let start = Instant::now();
        let mut d = DeliveryRate::default();
        let long = Duration::from_secs(3600);
        for i in 1..10_000u64 {
            let s = d.on_sent(start + Duration::from_millis(i), false);
            d.on_acked(start + Duration::from_millis(i + i), 1, s, long);
        }
        assert!(d.peaks.len() <= MAX_PEAKS);
    }

    #[test]
    fn application_limited_packets_give_no_sample() {
        let start = Instant::now();
        let mut d = DeliveryRate::default();
        let s = d.on_sent(start, true);
        d.on_acked(start + Duration::from_millis(100), 1_000, s, WINDOW);
        assert_eq!(d.max(start + Duration::from_millis(100), WINDOW), None);
    }
}
