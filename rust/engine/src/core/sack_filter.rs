//! One congestion-window reduction per loss window: hides from rtc-sctp the gap reports of a
//! loss window it has already reacted to.
//!
//! rtc-sctp 0.21 ends fast recovery when the cumulative ack reaches the highest TSN newly
//! acknowledged by the SACK that started it (HTNA); RFC 9260 7.2.4 says the highest TSN
//! outstanding then. When a burst overflows a shallow queue, the losses spread over the whole
//! window: recovery ends after the first holes are filled, the later holes of the same window
//! collect three miss indications moments later, and cwnd is halved a second time (measured
//! at 40 ms: 201 kB, then 100 kB, then 59 kB on a path that holds 100 kB).
//!
//! So from the first fast retransmission until the cumulative ack passes the highest TSN that
//! had been sent by then (the RFC's exit point), SACKs reach rtc-sctp without their gap blocks
//! once its own recovery has ended. rtc-sctp never takes back a gap acknowledgement, so what it
//! saw before stays acknowledged; it counts no miss indication and sends nothing again for the
//! hidden holes. `sctp_recovery` sees every SACK unchanged and sends the holes again (RACK);
//! rtc-sctp's T3-rtx timer stays behind both. The window ends at the latest after
//! [`MAX_HIDDEN_ROUND_TRIPS`] round trips plus the remote's delayed-SACK allowance: then
//! rtc-sctp sees the gaps again and recovers as it would have. (A hole of a partially reliable
//! channel that may be sent again, which `sctp_recovery` leaves to rtc-sctp, waits for that.)

use super::sctp_recovery::{before, parse_sack};
use bytes::{BufMut, BytesMut};
use std::time::{Duration, Instant};

const SACK: u8 = 3;
const COMMON_HEADER: usize = 12;
const CHUNK_HEADER: usize = 4;
const CHECKSUM: std::ops::Range<usize> = 8..12;
/// Cumulative TSN ack and advertised window: what a SACK keeps when its gaps are hidden.
const SACK_KEPT: usize = 8;
/// How long gaps stay hidden at most, in round trips, plus [`DELAYED_SACK`].
const MAX_HIDDEN_ROUND_TRIPS: u32 = 4;
const DELAYED_SACK: Duration = Duration::from_millis(200);

/// A loss window rtc-sctp has reacted to.
#[derive(Debug, Clone, Copy)]
struct Window {
    /// Where rtc-sctp's own fast recovery ends (at the latest): the highest TSN acknowledged by
    /// the SACKs before its first fast retransmission.
    sctp_exit: u32,
    /// The highest TSN sent before that fast retransmission.
    end: u32,
    until: Instant,
}

#[derive(Debug, Default)]
pub(crate) struct SackFilter {
    /// rtc-sctp's fast retransmissions counted so far.
    fast_retransmits: u64,
    /// The highest TSN acknowledged by the last SACK that arrived.
    highest_acked: Option<u32>,
    window: Option<Window>,
    /// SACKs whose gap blocks were hidden so far.
    hidden: u64,
}

impl SackFilter {
    /// SACKs whose gap blocks were hidden from rtc-sctp so far.
    #[cfg(test)]
    pub fn hidden(&self) -> u64 {
        self.hidden
    }

    /// Before rtc-sctp's latest packets are taken, with `fast_retransmits` counted so far and
    /// `highest_sent` the highest TSN it had written before them: a first fast retransmission
    /// opens a loss window. `rtt` is the smoothed round trip.
    pub fn on_fast_retransmits(
        &mut self,
        now: Instant,
        fast_retransmits: u64,
        highest_sent: Option<u32>,
        rtt: Duration,
    ) {
        let started = fast_retransmits > self.fast_retransmits;
        self.fast_retransmits = fast_retransmits;
        if started && self.window.is_none() {
            if let (Some(sctp_exit), Some(end)) = (self.highest_acked, highest_sent) {
                self.window = Some(Window {
                    sctp_exit,
                    end,
                    until: now + rtt * MAX_HIDDEN_ROUND_TRIPS + DELAYED_SACK,
                });
            }
        }
    }

    /// A packet from the remote on its way to rtc-sctp: the same packet, or one whose SACK has
    /// no gap blocks.
    pub fn filter(&mut self, now: Instant, packet: BytesMut) -> BytesMut {
        let Some((at, len)) = sack_chunk(&packet) else {
            return packet;
        };
        let Some((cum, blocks)) = parse_sack(&packet[at + CHUNK_HEADER..at + len]) else {
            return packet;
        };
        let highest = blocks.last().map_or(cum, |&(_, end)| end);
        if self.highest_acked.is_none_or(|h| before(h, highest)) {
            self.highest_acked = Some(highest);
        }
        let Some(w) = self.window else {
            return packet;
        };
        if !before(cum, w.end) || now >= w.until {
            self.window = None;
            return packet;
        }
        if blocks.is_empty() || before(cum, w.sctp_exit) {
            return packet;
        }
        self.hidden += 1;
        without_gaps(&packet, at, len)
    }
}

/// The first SACK chunk of `packet`: its offset and length (header included).
fn sack_chunk(packet: &[u8]) -> Option<(usize, usize)> {
    let mut at = COMMON_HEADER;
    while let Some(header) = packet.get(at..at + CHUNK_HEADER) {
        let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
        if len < CHUNK_HEADER || at + len > packet.len() {
            return None;
        }
        if header[0] == SACK {
            return (len >= CHUNK_HEADER + SACK_KEPT + 4).then_some((at, len));
        }
        at += len.div_ceil(4) * 4;
    }
    None
}

/// `packet` with the SACK chunk at `at` (`len` bytes) cut to its cumulative ack and window, no
/// gap blocks and no duplicate TSNs; the checksum computed again.
fn without_gaps(packet: &[u8], at: usize, len: usize) -> BytesMut {
    let mut out = BytesMut::with_capacity(packet.len());
    out.put_slice(&packet[..at]);
    out.put_u8(SACK);
    out.put_u8(packet[at + 1]);
    out.put_u16((CHUNK_HEADER + SACK_KEPT + 4) as u16);
    out.put_slice(&packet[at + CHUNK_HEADER..at + CHUNK_HEADER + SACK_KEPT]);
    out.put_u32(0); // no gap blocks, no duplicate TSNs
    out.put_slice(packet.get(at + len.div_ceil(4) * 4..).unwrap_or(&[]));
    out[CHECKSUM].fill(0);
    let sum = crc32c::crc32c(&out);
    out[CHECKSUM].copy_from_slice(&sum.to_le_bytes());
    out
}

#[cfg(test)]
mod tests;
