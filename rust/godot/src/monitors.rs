//! The editor's custom monitors (Debugger > Monitors, group `WebRTC`), Godot-free: which ones
//! there are and what each shows, computed from the engine's process-wide totals. Rates are
//! measured over windows of at least a second, however often Godot asks.

use std::time::{Duration, Instant};
use webrtc_rs_engine::ProcessTotals;

/// One monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Monitor {
    ConnectionsOpen,
    BytesInPerSecond,
    BytesOutPerSecond,
    MeanRttMs,
    RelayedConnections,
}

/// Every monitor with its id (`group/name`, as `Performance.add_custom_monitor` takes it).
pub const MONITORS: [(&str, Monitor); 5] = [
    ("WebRTC/connections_open", Monitor::ConnectionsOpen),
    ("WebRTC/bytes_in_per_second", Monitor::BytesInPerSecond),
    ("WebRTC/bytes_out_per_second", Monitor::BytesOutPerSecond),
    ("WebRTC/mean_rtt_ms", Monitor::MeanRttMs),
    ("WebRTC/relayed_connections", Monitor::RelayedConnections),
];

/// The shortest window a rate is measured over.
pub const RATE_WINDOW: Duration = Duration::from_secs(1);

/// A per-second rate of a growing total.
#[derive(Debug, Default)]
pub struct RateMeter {
    /// The start of the current window and the total then.
    start: Option<(Instant, u64)>,
    rate: f64,
}

impl RateMeter {
    pub const fn new() -> Self {
        Self {
            start: None,
            rate: 0.0,
        }
    }

    /// The rate over the last complete window (0 until one completed).
    pub fn rate(&mut self, now: Instant, total: u64) -> f64 {
        match self.start {
            None => self.start = Some((now, total)),
            Some((at, then)) => {
                let elapsed = now.saturating_duration_since(at);
                if elapsed >= RATE_WINDOW {
                    self.rate = total.saturating_sub(then) as f64 / elapsed.as_secs_f64();
                    self.start = Some((now, total));
                }
            }
        }
        self.rate
    }
}

/// The monitors' state (the two rate meters).
#[derive(Debug, Default)]
pub struct Monitors {
    bytes_in: RateMeter,
    bytes_out: RateMeter,
}

impl Monitors {
    pub const fn new() -> Self {
        Self {
            bytes_in: RateMeter::new(),
            bytes_out: RateMeter::new(),
        }
    }

    /// What `monitor` shows now (never negative: Godot clamps monitors at 0).
    pub fn value(&mut self, monitor: Monitor, now: Instant, totals: &ProcessTotals) -> f64 {
        match monitor {
            Monitor::ConnectionsOpen => totals.connections_open as f64,
            Monitor::RelayedConnections => totals.relayed_connections as f64,
            Monitor::MeanRttMs => totals.mean_rtt.map_or(0.0, |d| d.as_secs_f64() * 1000.0),
            Monitor::BytesInPerSecond => self.bytes_in.rate(now, totals.bytes_received),
            Monitor::BytesOutPerSecond => self.bytes_out.rate(now, totals.bytes_sent),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_is_measured_over_whole_windows_however_often_it_is_read() {
        let t0 = Instant::now();
        let mut m = RateMeter::new();
        assert_eq!(m.rate(t0, 1000), 0.0);
        // Read every 16 ms: the value stays until a second has passed.
        for i in 1..62 {
            assert_eq!(
                m.rate(t0 + Duration::from_millis(16 * i), 1000 + 10 * i),
                0.0
            );
        }
        let r = m.rate(t0 + Duration::from_millis(1000), 3000);
        assert!((r - 2000.0).abs() < 1e-9, "{r}");
        assert_eq!(m.rate(t0 + Duration::from_millis(1500), 9000), r);
        let r = m.rate(t0 + Duration::from_millis(2000), 3500);
        assert!((r - 500.0).abs() < 1e-9, "{r}");
    }

    #[test]
    fn values_come_from_the_totals_and_are_never_negative() {
        let mut m = Monitors::new();
        let now = Instant::now();
        let totals = ProcessTotals {
            connections_open: 3,
            relayed_connections: 1,
            mean_rtt: Some(Duration::from_micros(42_500)),
            bytes_sent: 10,
            bytes_received: 20,
        };
        assert_eq!(m.value(Monitor::ConnectionsOpen, now, &totals), 3.0);
        assert_eq!(m.value(Monitor::RelayedConnections, now, &totals), 1.0);
        assert_eq!(m.value(Monitor::MeanRttMs, now, &totals), 42.5);
        let none = ProcessTotals::default();
        for (_, monitor) in MONITORS {
            assert!(m.value(monitor, now, &none) >= 0.0);
        }
        assert_eq!(m.value(Monitor::MeanRttMs, now, &none), 0.0);
    }

    #[test]
    fn ids_are_in_the_webrtc_group() {
        for (id, _) in MONITORS {
            assert!(
                id.starts_with("WebRTC/") && id.matches('/').count() == 1,
                "{id}"
            );
        }
    }
}
