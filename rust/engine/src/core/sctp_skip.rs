//! Partial reliability kept beside rtc-sctp: a lost message of a `maxRetransmits` or
//! `maxPacketLifeTime` channel that may not be sent again is skipped at once with a FORWARD TSN
//! (RFC 3758) of our own, so the messages behind it are delivered.
//!
//! rtc-sctp 0.21 abandons such a message only when it considers retransmitting it: at a fast
//! retransmission (three gap reports, and not again while it is in fast recovery) or when its
//! T3-rtx timer expires (1 s at least). Until then the receiver holds every later message of an
//! ordered channel back; with 25 % loss and a message every 5 ms, 117 of 300 arrived where the
//! path let 225 through, seconds late.
//!
//! This module watches the plaintext DATA chunks we send and the SACKs we receive. A chunk is
//! lost when a chunk sent after it was acknowledged and it had a round trip plus a quarter to
//! arrive, or when nothing acknowledged it for [`TAIL_ALLOWANCE`] more. A lost chunk whose channel allows no more (transmissions beyond
//! `maxRetransmits`, or its lifetime over) is skippable. Walking up from the cumulative TSN
//! ack, each run of messages with a skippable chunk becomes one FORWARD TSN naming, per ordered
//! stream, the highest stream sequence number among them; messages the remote already holds
//! whole between two runs are not named (RFC 3758: only abandoned data is passed over; usrsctp
//! dropped messages it held that a FORWARD TSN passed over: libdatachannel then got 73 % of
//! what it should). The FORWARD TSNs of one check go in one packet, in order: the remote passes
//! the messages it holds between them by itself, so one round trip skips every hole known
//! (one hole per round trip held messages back for seconds when acknowledgements were lost).
//!
//! To rtc-sctp the remote then acknowledges those chunks (its cumulative TSN passes them), which
//! is what RFC 3758 allows a receiver to learn of abandoned data; rtc-sctp's own FORWARD TSN for
//! them, if it comes later, is an old one the remote answers with a SACK. Memory is bounded by
//! [`MAX_TRACKED`] chunks; past it new chunks go untracked and the walk stops at them.

use super::sctp_chunks;
use super::sctp_recovery::{before, is_dcep, parse_sack};
use bytes::{Bytes, BytesMut};
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

const DATA: u8 = 0;
const SACK: u8 = 3;
const FORWARD_TSN: u8 = 192;
const FLAG_UNORDERED: u8 = 0x04;
const FLAG_END: u8 = 0x01;
const COMMON_HEADER: usize = 12;
const CHECKSUM: std::ops::Range<usize> = 8..12;
/// Chunks tracked at most.
pub(crate) const MAX_TRACKED: usize = 1 << 16;
/// Streams one FORWARD TSN names at most, and FORWARD TSNs in one packet at most (the packet
/// stays under the MTU: 4 bytes per stream, 8 per chunk).
const MAX_STREAMS: usize = 32;
const MAX_RUNS: usize = 16;
const INITIAL_RTT: Duration = Duration::from_millis(200);
const MIN_REORDER: Duration = Duration::from_millis(5);
/// What a chunk with nothing acknowledged after it waits beyond the reordering window: less
/// than the remote's delayed-SACK allowance (200 ms), so messages behind a lost last one are not
/// held that long. If the chunk did arrive and only its SACK is delayed, the FORWARD TSN is an
/// old one the remote answers with a SACK at once.
const TAIL_ALLOWANCE: Duration = Duration::from_millis(50);

/// What a partially reliable channel allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Policy {
    /// Transmissions after the first, at most.
    Retransmits(u16),
    /// Time from the first transmission during which a message may be sent again.
    Lifetime(Duration),
}

struct Chunk {
    tsn: u32,
    stream: u16,
    ssn: u16,
    unordered: bool,
    end: bool,
    first_sent: Instant,
    last_sent: Instant,
    /// Place of its first and of its last transmission among all of ours.
    first_order: u64,
    order: u64,
    sends: u32,
    /// None: a reliable channel's chunk, never skipped.
    policy: Option<Policy>,
    acked: bool,
}

#[derive(Default)]
pub(crate) struct Skipper {
    /// Chunks above the cumulative TSN ack, in TSN order.
    chunks: VecDeque<Chunk>,
    /// Common header of our packets (ports and the remote's verification tag).
    header: Option<[u8; COMMON_HEADER]>,
    cum_ack: Option<u32>,
    /// The highest new cumulative TSN we skipped to.
    skipped_to: Option<u32>,
    order: u64,
    /// Latest transmission among the chunks acknowledged so far.
    acked_order: Option<u64>,
    srtt: Option<Duration>,
    /// Chunks skipped so far.
    skipped: u64,
    /// When the first chunk that stopped the last `check` becomes skippable.
    next_check: Option<Instant>,
}

impl Skipper {
    /// Chunks skipped so far (lost, and not to be sent again by their channel's rules).
    #[cfg(test)]
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    fn rtt(&self) -> Duration {
        self.srtt.unwrap_or(INITIAL_RTT)
    }

    /// The smoothed round trip measured on the chunks tracked, if any was.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// Looks at one packet rtc-sctp sends; `policy(stream)` is None for reliable streams.
    pub fn on_sent(&mut self, now: Instant, packet: &[u8], policy: impl Fn(u16) -> Option<Policy>) {
        let mut any = false;
        for (kind, flags, v) in sctp_chunks(packet) {
            if kind != DATA || v.len() < 12 {
                continue;
            }
            any = true;
            let tsn = u32::from_be_bytes([v[0], v[1], v[2], v[3]]);
            self.order += 1;
            let order = self.order;
            if let Some(c) = self.find_mut(tsn) {
                c.sends += 1;
                c.last_sent = now;
                c.order = order;
                continue;
            }
            let fresh = self.chunks.back().is_none_or(|b| before(b.tsn, tsn))
                && self.cum_ack.is_none_or(|c| before(c, tsn));
            if !fresh || self.chunks.len() >= MAX_TRACKED {
                continue;
            }
            let stream = u16::from_be_bytes([v[4], v[5]]);
            // Never skipped: a lost OPEN on a maxRetransmits 0 stream left the channel
            // unopened for good.
            let dcep = is_dcep(v);
            self.chunks.push_back(Chunk {
                tsn,
                stream,
                ssn: u16::from_be_bytes([v[6], v[7]]),
                unordered: flags & FLAG_UNORDERED != 0,
                end: flags & FLAG_END != 0,
                first_sent: now,
                last_sent: now,
                first_order: self.order,
                order: self.order,
                sends: 1,
                policy: if dcep { None } else { policy(stream) },
                acked: false,
            });
        }
        if any {
            if let Some(h) = packet.get(..COMMON_HEADER) {
                let mut header = [0u8; COMMON_HEADER];
                header.copy_from_slice(h);
                self.header = Some(header);
            }
        }
    }

    fn find_mut(&mut self, tsn: u32) -> Option<&mut Chunk> {
        let first = self.chunks.front()?.tsn;
        let i = tsn.wrapping_sub(first) as usize;
        self.chunks.get_mut(i).filter(|c| c.tsn == tsn)
    }

    /// Looks at one packet from the remote: its SACK, if any.
    pub fn on_received(&mut self, now: Instant, packet: &[u8]) {
        for (kind, _, value) in sctp_chunks(packet) {
            if kind != SACK {
                continue;
            }
            let Some((cum, blocks)) = parse_sack(value) else {
                continue;
            };
            if self.cum_ack.is_some_and(|c| before(cum, c)) {
                continue;
            }
            self.cum_ack = Some(cum);
            let mut sample = None;
            let mut note = |c: &Chunk, acked_order: &mut Option<u64>| {
                if acked_order.is_none_or(|o| c.order > o) {
                    *acked_order = Some(c.order);
                }
                if c.sends == 1 {
                    sample = Some(now.saturating_duration_since(c.first_sent));
                }
            };
            while let Some(front) = self.chunks.front() {
                if before(cum, front.tsn) {
                    break;
                }
                if !front.acked {
                    note(front, &mut self.acked_order);
                }
                self.chunks.pop_front();
            }
            for (start, end) in blocks {
                for c in self.chunks.iter_mut() {
                    if !c.acked && !before(c.tsn, start) && !before(end, c.tsn) {
                        c.acked = true;
                        note(c, &mut self.acked_order);
                    }
                }
            }
            if let Some(rtt) = sample {
                self.srtt = Some(self.srtt.map_or(rtt, |s| (s * 7 + rtt) / 8));
            }
        }
    }

    /// When chunk `c` (unacknowledged, of a partially reliable channel) becomes skippable.
    fn skippable_at(&self, c: &Chunk) -> Option<Instant> {
        let policy = c.policy?;
        let rtt = self.rtt();
        // When the transmission sent at `sent` (place `order`) is known lost.
        let lost_at = |sent: Instant, order: u64| {
            let rack = sent + rtt + (rtt / 4).max(MIN_REORDER);
            if self.acked_order.is_some_and(|o| o > order) {
                rack
            } else {
                rack + TAIL_ALLOWANCE
            }
        };
        match policy {
            Policy::Retransmits(n) => {
                (c.sends > u32::from(n)).then(|| lost_at(c.last_sent, c.order))
            }
            // Once the lifetime is over, a retransmission still on its way is late anyway:
            // whether the first transmission was lost decides.
            Policy::Lifetime(l) => Some(lost_at(c.first_sent, c.first_order).max(c.first_sent + l)),
        }
    }

    /// When `check` may have something to skip next, as of its last run (the connection runs
    /// it after everything it handles).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_check
    }

    fn already_skipped(&self, tsn: u32) -> bool {
        self.skipped_to.is_some_and(|s| !before(s, tsn))
    }

    /// A FORWARD TSN packet skipping what is skippable now, if that passes what the remote
    /// acknowledged and what we skipped before.
    pub fn check(&mut self, now: Instant) -> Option<Bytes> {
        self.next_check = None;
        let cum = self.cum_ack?;
        let header = self.header?;
        let mut expected = cum.wrapping_add(1);
        // Each run of abandoned messages: (its last TSN, per ordered stream its highest SSN).
        let mut runs: Vec<(u32, BTreeMap<u16, u16>)> = Vec::new();
        let mut run: Option<(u32, BTreeMap<u16, u16>)> = None;
        let (mut skipped, mut in_message) = (0, 0);
        // Whether the message under way has a chunk abandoned (now or before).
        let mut abandoned = false;
        for c in self.chunks.iter() {
            if c.tsn != expected || runs.len() >= MAX_RUNS {
                break;
            }
            if self.already_skipped(c.tsn) {
                abandoned = true;
            } else if !c.acked {
                match self.skippable_at(c) {
                    Some(at) if now >= at => {
                        in_message += 1;
                        abandoned = true;
                    }
                    at => {
                        self.next_check = at;
                        break;
                    }
                }
            }
            expected = expected.wrapping_add(1);
            if !c.end {
                continue;
            }
            if !abandoned {
                // A message the remote holds whole: it passes it by itself once the run
                // before is skipped.
                runs.extend(run.take());
                continue;
            }
            let (end, ssns) = run.get_or_insert_with(|| (c.tsn, BTreeMap::new()));
            if !c.unordered {
                if !ssns.contains_key(&c.stream) && ssns.len() >= MAX_STREAMS {
                    break;
                }
                let ssn = ssns.entry(c.stream).or_insert(c.ssn);
                if ssn_before(*ssn, c.ssn) {
                    *ssn = c.ssn;
                }
            }
            *end = c.tsn;
            skipped += in_message;
            in_message = 0;
            abandoned = false;
        }
        runs.extend(run);
        // Runs skipped before stay in: the remote has not acknowledged them (a lost FORWARD TSN
        // is repaired by the next one).
        let last = runs.last()?.0;
        if skipped == 0 {
            return None;
        }
        self.skipped_to = Some(last);
        self.skipped += skipped;
        Some(forward_tsns(&header, &runs))
    }
}

/// Serial number arithmetic on stream sequence numbers: `a` before `b`.
fn ssn_before(a: u16, b: u16) -> bool {
    a != b && b.wrapping_sub(a) < 1 << 15
}

/// A packet of FORWARD TSN chunks (RFC 3758 §3.2), one per run, in order: the remote takes each
/// in turn, passing the messages it holds between them by itself.
fn forward_tsns(header: &[u8; COMMON_HEADER], runs: &[(u32, BTreeMap<u16, u16>)]) -> Bytes {
    let mut out = BytesMut::with_capacity(COMMON_HEADER + runs.len() * 12);
    out.extend_from_slice(header);
    for (new_cum, ssns) in runs {
        let length = 8 + 4 * ssns.len();
        out.extend_from_slice(&[FORWARD_TSN, 0]);
        out.extend_from_slice(&(length as u16).to_be_bytes());
        out.extend_from_slice(&new_cum.to_be_bytes());
        for (stream, ssn) in ssns {
            out.extend_from_slice(&stream.to_be_bytes());
            out.extend_from_slice(&ssn.to_be_bytes());
        }
    }
    out[CHECKSUM].fill(0);
    let sum = crc32c::crc32c(&out);
    out[CHECKSUM].copy_from_slice(&sum.to_le_bytes());
    out.freeze()
}

#[cfg(test)]
mod tests;
