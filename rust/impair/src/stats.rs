//! What the relay did with the datagrams of one direction, counted as it goes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A snapshot of one direction's counters. Every datagram received ends up in exactly one of
/// `delivered` (its duplicates counted there too), `lost`, `cut`, `queue_full`, `overflow`,
/// `undeliverable`, `unsent`, or is still in flight.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams that arrived at the relay.
    pub received: u64,
    /// Datagrams sent on to the other peer, duplicates included.
    pub delivered: u64,
    /// Dropped by the loss model.
    pub lost: u64,
    /// Dropped because the path was cut (when they arrived or when they were due).
    pub cut: u64,
    /// Dropped because the bandwidth queue was full.
    pub queue_full: u64,
    /// Dropped because the relay already held its maximum of bytes in flight.
    pub overflow: u64,
    /// Dropped because the relay did not know the other peer's address yet.
    pub undeliverable: u64,
    /// The socket refused to send them.
    pub unsent: u64,
    /// Duplicates made.
    pub duplicated: u64,
    /// Datagrams held back to be overtaken.
    pub held_back: u64,
    /// UDP payload bytes of the datagrams in `received`.
    pub received_bytes: u64,
    /// UDP payload bytes of the datagrams in `delivered`.
    pub delivered_bytes: u64,
    /// When the last STUN datagram (first byte 0 to 3, RFC 7983) was sent on to the other
    /// peer, on the clock of [`Relay::elapsed`](crate::Relay::elapsed); taken just before it
    /// is sent, so never later than the peer received it. ICE measures silence from the last
    /// STUN it received, so this is where a peer's silence starts once the path is cut.
    pub last_stun_delivered: Option<Duration>,
}

/// The live counters behind [`Stats`], shared by a direction's thread and the relay handle.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub received: AtomicU64,
    pub delivered: AtomicU64,
    pub lost: AtomicU64,
    pub cut: AtomicU64,
    pub queue_full: AtomicU64,
    pub overflow: AtomicU64,
    pub undeliverable: AtomicU64,
    pub unsent: AtomicU64,
    pub duplicated: AtomicU64,
    pub held_back: AtomicU64,
    pub received_bytes: AtomicU64,
    pub delivered_bytes: AtomicU64,
    /// [`Stats::last_stun_delivered`] in nanoseconds plus one; 0 before the first.
    pub last_stun_delivered: AtomicU64,
}

/// Adds one to a counter.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Adds `n` bytes to a counter.
pub(crate) fn add_bytes(counter: &AtomicU64, n: usize) {
    counter.fetch_add(n as u64, Ordering::Relaxed);
}

/// Records that a STUN datagram is being delivered `at` (since the relay started).
pub(crate) fn stun_delivered(counter: &AtomicU64, at: Duration) {
    let nanos = u64::try_from(at.as_nanos()).unwrap_or(u64::MAX - 1);
    counter.fetch_max(nanos + 1, Ordering::Relaxed);
}

/// Whether a datagram is STUN by its first byte (RFC 7983 demultiplexing).
pub(crate) fn is_stun(data: &[u8]) -> bool {
    data.first().is_some_and(|b| *b <= 3)
}

impl Counters {
    pub fn snapshot(&self) -> Stats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            received: get(&self.received),
            delivered: get(&self.delivered),
            lost: get(&self.lost),
            cut: get(&self.cut),
            queue_full: get(&self.queue_full),
            overflow: get(&self.overflow),
            undeliverable: get(&self.undeliverable),
            unsent: get(&self.unsent),
            duplicated: get(&self.duplicated),
            held_back: get(&self.held_back),
            received_bytes: get(&self.received_bytes),
            delivered_bytes: get(&self.delivered_bytes),
            last_stun_delivered: match get(&self.last_stun_delivered) {
                0 => None,
                n => Some(Duration::from_nanos(n - 1)),
            },
        }
    }
}
