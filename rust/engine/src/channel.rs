//! What the network thread and the application share about one data channel, and the one
//! computation of the message size limit.

use crate::stats::Traffic;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// Received bytes not yet taken by the application, against a limit: one per channel and one
/// per connection. The network thread stops reading a stream while either is full and marks
/// it paused; the reader that brings it back under the limit asks for a resume.
#[derive(Debug)]
pub(crate) struct ReceiveBudget {
    unread: AtomicUsize,
    paused: AtomicBool,
    limit: usize,
}

impl ReceiveBudget {
    pub fn new(limit: usize) -> Self {
        Self {
            unread: AtomicUsize::new(0),
            paused: AtomicBool::new(false),
            limit,
        }
    }

    pub fn unread(&self) -> usize {
        self.unread.load(Ordering::Acquire)
    }

    /// Whether more may be read; if not, marks the budget paused.
    fn has_room(&self) -> bool {
        if self.unread() < self.limit {
            return true;
        }
        self.paused.store(true, Ordering::Release);
        // The reader may have drained in between: check again after publishing.
        if self.unread() < self.limit {
            self.paused.store(false, Ordering::Release);
            return true;
        }
        false
    }

    fn add(&self, n: usize) {
        self.unread.fetch_add(n, Ordering::AcqRel);
    }

    /// Takes `n` bytes off; true if reading was paused and may resume now.
    pub fn release(&self, n: usize) -> bool {
        let prev = self
            .unread
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                Some(v.saturating_sub(n))
            })
            .unwrap_or(0);
        prev.saturating_sub(n) < self.limit && self.paused.swap(false, Ordering::AcqRel)
    }
}

/// Counters shared by a channel's handle and the network thread. Lock-free; the values are
/// byte counts, so a momentarily stale read is harmless.
#[derive(Debug)]
pub(crate) struct ChannelLink {
    /// Bytes accepted by `send` and not yet released by SCTP (acknowledged or abandoned).
    pub buffered: AtomicUsize,
    /// `bufferedAmountLowThreshold`: the network thread reports a drop of `buffered` from above
    /// it to at or below it.
    pub low_threshold: AtomicUsize,
    /// This channel's received bytes not taken by `recv` (queued for `poll()` or visible).
    pub receive: ReceiveBudget,
    /// The same for the whole connection.
    pub connection: Arc<ReceiveBudget>,
    /// The largest message `send` accepts.
    pub max_message_size: AtomicUsize,
    /// Messages this channel sent and received.
    pub traffic: Traffic,
}

impl ChannelLink {
    pub fn new(
        max_message_size: usize,
        receive_budget: usize,
        connection: Arc<ReceiveBudget>,
    ) -> Arc<Self> {
        Arc::new(Self {
            buffered: AtomicUsize::new(0),
            low_threshold: AtomicUsize::new(0),
            receive: ReceiveBudget::new(receive_budget),
            connection,
            max_message_size: AtomicUsize::new(max_message_size),
            traffic: Traffic::default(),
        })
    }

    /// The network no longer holds `n` of the buffered bytes. True if that took the buffered
    /// amount from above the low threshold to at or below it (`bufferedamountlow`).
    pub fn sub_buffered(&self, n: usize) -> bool {
        let before = self
            .buffered
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                Some(v.saturating_sub(n))
            })
            .unwrap_or(0);
        let threshold = self.low_threshold.load(Ordering::Acquire);
        before > threshold && before.saturating_sub(n) <= threshold
    }

    /// Whether the network thread may read another message for this channel.
    pub fn has_room(&self) -> bool {
        self.receive.has_room() && self.connection.has_room()
    }

    /// A message of `n` bytes was received for the application.
    pub fn add_unread(&self, n: usize) {
        self.receive.add(n);
        self.connection.add(n);
    }

    /// The application took (or gave up) `n` bytes; true if reading should resume.
    pub fn release_unread(&self, n: usize) -> bool {
        let channel = self.receive.release(n);
        let connection = self.connection.release(n);
        channel || connection
    }
}

/// Immutable description of a channel (W3C `RTCDataChannelInit` plus label).
#[cfg(test)]
mod tests {
    use super::*;

    fn link(buffered: usize, threshold: usize) -> Arc<ChannelLink> {
        let l = ChannelLink::new(1 << 16, 1 << 20, Arc::new(ReceiveBudget::new(1 << 20)));
        l.buffered.store(buffered, Ordering::Release);
        l.low_threshold.store(threshold, Ordering::Release);
        l
    }

    #[test]
    fn only_a_drop_across_the_threshold_is_low() {
        let l = link(10, 0);
        assert!(!l.sub_buffered(4), "10 -> 6, still above 0");
        assert!(l.sub_buffered(6), "6 -> 0 crosses 0");
        assert!(!l.sub_buffered(1), "0 -> 0 crosses nothing");
        let l = link(100, 50);
        assert!(!l.sub_buffered(49), "100 -> 51");
        assert!(l.sub_buffered(1), "51 -> 50: at the threshold counts");
        assert!(!l.sub_buffered(50), "50 -> 0: already at or below");
        let l = link(100, 50);
        assert!(l.sub_buffered(1_000), "100 -> 0 in one step");
        let l = link(30, 50);
        assert!(!l.sub_buffered(30), "never above the threshold");
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChannelInfo {
    pub label: String,
    pub protocol: String,
    pub ordered: bool,
    pub max_retransmits: Option<u16>,
    pub max_packet_lifetime: Option<u16>,
    pub negotiated: bool,
}

/// Channel key: local channels count up from 1, remote ones have the top bit set.
pub(crate) type ChannelKey = u32;
pub(crate) const REMOTE_KEY_BIT: u32 = 0x8000_0000;

/// The limit both sides agreed on: the smaller of the two `a=max-message-size` values, where 0
/// (and, for the remote, an absent attribute read as 65536 by the SDP parser) means what the
/// other side says; 0 from both is no limit.
pub(crate) fn negotiated_max_message_size(remote: u32, local: u32) -> u32 {
    match (remote, local) {
        (0, l) => l,
        (r, 0) => r,
        (r, l) => r.min(l),
    }
}

/// A `max-message-size` value as a byte limit (0 is no limit).
pub(crate) fn size_limit(size: u32) -> usize {
    if size == 0 {
        usize::MAX
    } else {
        size as usize
    }
}
