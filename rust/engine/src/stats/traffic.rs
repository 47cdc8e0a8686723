//! Message counters one channel (or the whole connection) shares between the network thread,
//! which counts, and the handle, which reads.

use std::sync::atomic::{AtomicU64, Ordering};

/// Data channel messages and their payload bytes, each way.
#[derive(Debug, Default)]
pub(crate) struct Traffic {
    messages_sent: AtomicU64,
    bytes_sent: AtomicU64,
    messages_received: AtomicU64,
    bytes_received: AtomicU64,
}

/// A reading of [`Traffic`]: (messages sent, bytes sent, messages received, bytes received).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct TrafficCounts {
    pub messages_sent: u64,
    pub bytes_sent: u64,
    pub messages_received: u64,
    pub bytes_received: u64,
}

impl Traffic {
    /// One message of `len` bytes went to SCTP.
    pub fn sent(&self, len: usize) {
        self.messages_sent.fetch_add(1, Ordering::Relaxed);
        self.bytes_sent.fetch_add(len as u64, Ordering::Relaxed);
    }

    /// One message of `len` bytes was delivered to the application.
    pub fn received(&self, len: usize) {
        self.messages_received.fetch_add(1, Ordering::Relaxed);
        self.bytes_received.fetch_add(len as u64, Ordering::Relaxed);
    }

    pub fn counts(&self) -> TrafficCounts {
        TrafficCounts {
            messages_sent: self.messages_sent.load(Ordering::Relaxed),
            bytes_sent: self.bytes_sent.load(Ordering::Relaxed),
            messages_received: self.messages_received.load(Ordering::Relaxed),
            bytes_received: self.bytes_received.load(Ordering::Relaxed),
        }
    }
}
