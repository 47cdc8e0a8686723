//! Which losses rtc-sctp reacts to: hides from it the gap reports of a loss window it has
//! already reacted to (one congestion-window reduction per loss window), and those of a loss
//! on a path without a queue (none for random loss).
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
//! rtc-sctp sees the gaps again and recovers as it would have. Nothing is hidden while a packet
//! `sctp_recovery` leaves to rtc-sctp (a partially reliable channel's) may be among the holes.
//!
//! Losses on a path with no queue are hidden the same way from the start: a radio or a busy
//! link that drops a few packets while the round trip stays at its shortest is not congested,
//! and rtc-sctp's halving (then one packet more per round trip) would leave a 1 MiB transfer at
//! 40-100 ms crawling for seconds after one early random loss. Such a loss episode is *quiet*
//! when the standing round trip (the shortest of the last half round trip) is within
//! [`QUEUE_SIGNAL`] (or an eighth: the jitter of a real path) of the shortest and
//! at most one packet in [`QUIET_LOSS_FRACTION`] of those the SACKs report on is missing; it
//! stays hidden until the cumulative ack passes what was sent when it began, for at most
//! [`MAX_HIDDEN_ROUND_TRIPS`] round trips plus the delayed-SACK allowance, and ends early when
//! the round trip grows or more go missing (a queue, or a policer that drops what exceeds its
//! rate). Then rtc-sctp sees the gaps and halves its window as before. Until rtc-sctp has seen
//! a gap, the pacer keeps its slow-start gains ([`SackFilter::congestion_seen`]).

use super::sctp_recovery::{before, parse_sack};
use bytes::{BufMut, BytesMut};
use std::time::{Duration, Instant};
use tracing::trace;

const SACK: u8 = 3;
const COMMON_HEADER: usize = 12;
const CHUNK_HEADER: usize = 4;
const CHECKSUM: std::ops::Range<usize> = 8..12;
/// Cumulative TSN ack and advertised window: what a SACK keeps when its gaps are hidden.
const SACK_KEPT: usize = 8;
/// How long gaps stay hidden at most, in round trips, plus [`DELAYED_SACK`].
const MAX_HIDDEN_ROUND_TRIPS: u32 = 4;
const DELAYED_SACK: Duration = Duration::from_millis(200);
/// Queueing delay below which a loss is taken for a random one (or an eighth of the shortest
/// round trip, if more: a real path's jitter and timers add several milliseconds).
const QUEUE_SIGNAL: Duration = Duration::from_millis(2);
/// A quiet loss episode misses at most one packet in this many of those reported on (a policer
/// or an overflowing queue drops far more of a window that exceeds the path).
const QUIET_LOSS_FRACTION: u32 = 8;
/// TSNs past the cumulative ack before the missing fraction is judged.
const QUIET_MIN_SPAN: u32 = 32;

/// What the path looks like when a SACK arrives: from the loss recovery and the pacer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PathNow {
    /// The standing round trip (the shortest of the last half round trip) and the shortest
    /// lately.
    pub standing_rtt: Option<Duration>,
    pub min_rtt: Option<Duration>,
    /// The smoothed round trip.
    pub rtt: Duration,
    /// The highest TSN rtc-sctp has written.
    pub highest_sent: Option<u32>,
    /// Whether `sctp_recovery` sends again every packet that may be missing: a hole it leaves
    /// to rtc-sctp (a partially reliable channel's) is never hidden.
    pub repairable: bool,
}

impl PathNow {
    /// Whether the standing round trip shows no queue on the path.
    fn unqueued(&self) -> bool {
        match (self.standing_rtt, self.min_rtt) {
            (Some(standing), Some(min)) => standing <= min + (min / 8).max(QUEUE_SIGNAL),
            _ => false,
        }
    }
}

/// A loss episode on a path without a queue: hidden from rtc-sctp until the cumulative ack
/// reaches `end`.
#[derive(Debug, Clone, Copy)]
struct Quiet {
    end: u32,
    until: Instant,
}

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
    quiet: Option<Quiet>,
    /// The last SACK from the remote reported a gap.
    gaps: bool,
    /// The last SACK rtc-sctp saw had a gap.
    shown_gaps: bool,
    /// When the latest run of SACKs with gaps that rtc-sctp saw began; `None` before any.
    congestion_episode: Option<Instant>,
    /// SACKs whose gap blocks were hidden so far, and quiet loss episodes.
    hidden: u64,
    quiet_episodes: u64,
}

impl SackFilter {
    /// SACKs whose gap blocks were hidden from rtc-sctp so far.
    #[cfg(test)]
    pub fn hidden(&self) -> u64 {
        self.hidden
    }

    /// Loss episodes hidden from rtc-sctp as quiet so far.
    #[cfg(test)]
    pub fn quiet_episodes(&self) -> u64 {
        self.quiet_episodes
    }

    /// Whether rtc-sctp has seen a gap: its window has stopped doubling.
    pub fn congestion_seen(&self) -> bool {
        self.congestion_episode.is_some()
    }

    /// Whether the gaps rtc-sctp sees began within the last `min_rtt`: the queue that
    /// overflowed is still full, and what is sent now should let it drain.
    pub fn draining(&self, now: Instant, min_rtt: Option<Duration>) -> bool {
        match (self.congestion_episode, min_rtt) {
            (Some(at), Some(rtt)) => now.saturating_duration_since(at) < rtt,
            _ => false,
        }
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
    pub fn filter(&mut self, now: Instant, packet: BytesMut, path: &PathNow) -> BytesMut {
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
        let starts = !blocks.is_empty() && !self.gaps;
        self.gaps = !blocks.is_empty();
        if blocks.is_empty() {
            self.end_windows(now, cum);
            self.shown_gaps = false;
            return packet;
        }
        if self.hides(now, cum, &blocks, starts, path) {
            self.hidden += 1;
            return without_gaps(&packet, at, len);
        }
        if !self.shown_gaps {
            trace!(
                cum,
                standing_rtt = ?path.standing_rtt,
                min_rtt = ?path.min_rtt,
                few_missing = few_missing(cum, &blocks),
                repairable = path.repairable,
                "a loss rtc-sctp reacts to"
            );
            self.congestion_episode = Some(now);
        }
        self.shown_gaps = true;
        packet
    }

    /// Closes the windows a SACK without gaps ends.
    fn end_windows(&mut self, now: Instant, cum: u32) {
        if self.quiet.is_some_and(|q| over(q.end, q.until, now, cum)) {
            self.quiet = None;
        }
        if self.window.is_some_and(|w| over(w.end, w.until, now, cum)) {
            self.window = None;
        }
    }

    /// Whether the gaps of a SACK (cumulative ack `cum`, gap `blocks`) are hidden from rtc-sctp.
    fn hides(
        &mut self,
        now: Instant,
        cum: u32,
        blocks: &[(u32, u32)],
        starts: bool,
        path: &PathNow,
    ) -> bool {
        if !path.repairable {
            self.quiet = None;
            return false;
        }
        let mut reclassify = starts;
        if let Some(q) = self.quiet {
            if now >= q.until || !path.unqueued() || !few_missing(cum, blocks) {
                self.quiet = None; // a queue, or many losses: rtc-sctp is to react
            } else if before(cum, q.end) {
                return true;
            } else {
                self.quiet = None;
                reclassify = true; // a new loss beyond the episode's end
            }
        }
        if reclassify && self.window.is_none() && path.unqueued() && few_missing(cum, blocks) {
            if let Some(end) = path.highest_sent {
                self.quiet = Some(Quiet {
                    end,
                    until: now + path.rtt * MAX_HIDDEN_ROUND_TRIPS + DELAYED_SACK,
                });
                self.quiet_episodes += 1;
                trace!(
                    cum,
                    end,
                    standing_rtt = ?path.standing_rtt,
                    min_rtt = ?path.min_rtt,
                    "a loss on a path without a queue: hidden from rtc-sctp"
                );
                return true;
            }
        }
        let Some(w) = self.window else {
            return false;
        };
        if over(w.end, w.until, now, cum) {
            self.window = None;
            return false;
        }
        !before(cum, w.sctp_exit)
    }
}

/// Whether hiding gaps up to `end`, until `until`, is over at `now` with cumulative ack `cum`.
fn over(end: u32, until: Instant, now: Instant, cum: u32) -> bool {
    !before(cum, end) || now >= until
}

/// Whether at most one in [`QUIET_LOSS_FRACTION`] of the TSNs a SACK reports on is missing
/// (judged once it reports on [`QUIET_MIN_SPAN`] of them).
fn few_missing(cum: u32, blocks: &[(u32, u32)]) -> bool {
    let highest = blocks.last().map_or(cum, |&(_, end)| end);
    let span = highest.wrapping_sub(cum);
    if span < QUIET_MIN_SPAN {
        return true;
    }
    let received: u32 = blocks
        .iter()
        .map(|&(start, end)| end.wrapping_sub(start).saturating_add(1))
        .fold(0, u32::saturating_add);
    span.saturating_sub(received) <= span / QUIET_LOSS_FRACTION
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
