//! Totals over every connection of the process, kept in a few atomics so that reading them
//! (the editor's monitors, every frame) costs next to nothing. Each connection's core holds a
//! [`ProcessShare`] whose contributions it moves as its state changes; the share takes them
//! back when dropped, whatever ended the connection.

use super::ProcessTotals;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// The counters behind [`ProcessTotals`].
#[derive(Debug)]
pub(crate) struct Totals {
    open: AtomicUsize,
    relayed: AtomicUsize,
    /// Sum of the round-trip times (microseconds) of the open connections that measured one.
    rtt_sum_us: AtomicU64,
    rtt_count: AtomicUsize,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
}

impl Totals {
    pub const fn new() -> Self {
        Self {
            open: AtomicUsize::new(0),
            relayed: AtomicUsize::new(0),
            rtt_sum_us: AtomicU64::new(0),
            rtt_count: AtomicUsize::new(0),
            bytes_sent: AtomicU64::new(0),
            bytes_received: AtomicU64::new(0),
        }
    }

    /// Counts bytes a connection's sockets sent.
    pub(super) fn add_sent(&self, n: usize) {
        self.bytes_sent.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Counts bytes a connection's sockets received.
    pub(super) fn add_received(&self, n: usize) {
        self.bytes_received.fetch_add(n as u64, Ordering::Relaxed);
    }

    fn read(&self) -> ProcessTotals {
        let count = self.rtt_count.load(Ordering::Acquire);
        let sum = self.rtt_sum_us.load(Ordering::Acquire);
        ProcessTotals {
            connections_open: self.open.load(Ordering::Acquire),
            relayed_connections: self.relayed.load(Ordering::Acquire),
            mean_rtt: (count > 0).then(|| Duration::from_micros(sum / count as u64)),
            bytes_sent: self.bytes_sent.load(Ordering::Relaxed),
            bytes_received: self.bytes_received.load(Ordering::Relaxed),
        }
    }
}

pub(super) static PROCESS: Totals = Totals::new();

/// Reads the process-wide totals. Each value is exact; they are read one after the other.
pub fn process_totals() -> ProcessTotals {
    PROCESS.read()
}

/// One connection's part of the totals.
#[derive(Debug)]
pub(crate) struct ProcessShare {
    totals: &'static Totals,
    open: bool,
    relayed: bool,
    rtt_us: Option<u64>,
}

impl ProcessShare {
    pub(super) fn of(totals: &'static Totals) -> Self {
        Self {
            totals,
            open: false,
            relayed: false,
            rtt_us: None,
        }
    }

    /// Updates this connection's part: whether it is open, relayed, and its round-trip time.
    /// A connection that is not open contributes no connection, relay or time.
    pub fn set(&mut self, open: bool, relayed: bool, rtt: Option<Duration>) {
        let t = self.totals;
        let relayed = open && relayed;
        let rtt_us = rtt
            .filter(|_| open)
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX >> 16));
        flip(&t.open, &mut self.open, open);
        flip(&t.relayed, &mut self.relayed, relayed);
        if self.rtt_us != rtt_us {
            if let Some(old) = self.rtt_us.take() {
                t.rtt_sum_us.fetch_sub(old, Ordering::AcqRel);
                t.rtt_count.fetch_sub(1, Ordering::AcqRel);
            }
            if let Some(new) = rtt_us {
                t.rtt_sum_us.fetch_add(new, Ordering::AcqRel);
                t.rtt_count.fetch_add(1, Ordering::AcqRel);
            }
            self.rtt_us = rtt_us;
        }
    }
}

fn flip(counter: &AtomicUsize, mine: &mut bool, now: bool) {
    if *mine != now {
        if now {
            counter.fetch_add(1, Ordering::AcqRel);
        } else {
            counter.fetch_sub(1, Ordering::AcqRel);
        }
        *mine = now;
    }
}

impl Drop for ProcessShare {
    fn drop(&mut self) {
        self.set(false, false, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals() -> &'static Totals {
        Box::leak(Box::new(Totals::new()))
    }

    #[test]
    fn shares_add_up_and_take_their_part_back() {
        let t = totals();
        let mut a = ProcessShare::of(t);
        let mut b = ProcessShare::of(t);
        a.set(true, true, Some(Duration::from_millis(40)));
        b.set(true, false, Some(Duration::from_millis(100)));
        t.add_sent(1000);
        t.add_received(300);
        let r = t.read();
        assert_eq!(r.connections_open, 2);
        assert_eq!(r.relayed_connections, 1);
        assert_eq!(r.mean_rtt, Some(Duration::from_millis(70)));
        assert_eq!((r.bytes_sent, r.bytes_received), (1000, 300));
        // A new time replaces the old one; leaving the open state takes everything back.
        a.set(true, true, Some(Duration::from_millis(60)));
        assert_eq!(t.read().mean_rtt, Some(Duration::from_millis(80)));
        b.set(false, false, Some(Duration::from_millis(100)));
        let r = t.read();
        assert_eq!((r.connections_open, r.relayed_connections), (1, 1));
        assert_eq!(r.mean_rtt, Some(Duration::from_millis(60)));
        drop(a);
        drop(b);
        let r = t.read();
        assert_eq!((r.connections_open, r.relayed_connections), (0, 0));
        assert_eq!(r.mean_rtt, None);
        assert_eq!(
            r.bytes_sent, 1000,
            "bytes stay counted after the connection ends"
        );
    }

    #[test]
    fn repeating_the_same_state_changes_nothing() {
        let t = totals();
        let mut a = ProcessShare::of(t);
        for _ in 0..3 {
            a.set(true, false, None);
        }
        assert_eq!(t.read().connections_open, 1);
        assert_eq!(t.read().mean_rtt, None);
    }
}
