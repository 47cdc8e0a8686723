//! What the network thread and the application share about one data channel, and the one
//! computation of the message size limit.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// Counters shared by a channel's handle and the network thread. Lock-free; the values are
/// byte counts, so a momentarily stale read is harmless.
#[derive(Debug)]
pub(crate) struct ChannelLink {
    /// Bytes accepted by `send` and not yet released by SCTP (acknowledged or abandoned).
    pub buffered: AtomicUsize,
    /// Bytes received and not yet taken by `recv` (queued for `poll()` or visible).
    pub unread: AtomicUsize,
    /// Set by the network thread when it stopped reading this stream because `unread`
    /// reached the budget; the reader clears it and asks for a resume.
    pub paused: AtomicBool,
    /// The largest message `send` accepts.
    pub max_message_size: AtomicUsize,
}

impl ChannelLink {
    pub fn new(max_message_size: usize) -> Arc<Self> {
        Arc::new(Self {
            buffered: AtomicUsize::new(0),
            unread: AtomicUsize::new(0),
            paused: AtomicBool::new(false),
            max_message_size: AtomicUsize::new(max_message_size),
        })
    }

    pub fn sub_buffered(&self, n: usize) {
        let _ = self
            .buffered
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                Some(v.saturating_sub(n))
            });
    }

    pub fn sub_unread(&self, n: usize) -> usize {
        let prev = self
            .unread
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                Some(v.saturating_sub(n))
            })
            .unwrap_or(0);
        prev.saturating_sub(n)
    }
}

/// Immutable description of a channel (W3C `RTCDataChannelInit` plus label).
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
