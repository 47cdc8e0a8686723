//! Loss recovery beside rtc-sctp: sends again, below SCTP, a DATA packet that is lost by the
//! evidence of the remote's SACKs, instead of waiting for rtc-sctp's retransmission timer.
//!
//! rtc-sctp 0.21 retransmits a chunk on three gap reports (fast retransmit) or when its T3-rtx
//! timer expires; that timer's floor is a constant 1 s (`RTO_MIN`), doubled on each expiry in a
//! row, and nothing in its configuration lowers it. Two common cases end on that timer: a lost
//! fast retransmission (SCTP does not fast-retransmit a chunk twice), and a loss among the last
//! packets of a transfer (fewer than three packets follow to report the gap). On a path with a
//! 40 ms round trip, each costs 25 round trips of silence, then cwnd collapses to one packet.
//!
//! This module watches the plaintext SCTP packets we send and the SACKs we receive (it never
//! changes what rtc-sctp does) and, like RACK-TLP (RFC 8985), resends a copy of a packet when
//!   - a packet sent after it was acknowledged and it has had a smoothed round trip plus a
//!     quarter more to arrive (time-based loss detection: works for lost retransmissions too), or
//!   - nothing has been acknowledged for a probe timeout (two round trips, plus the remote's
//!     delayed-SACK allowance when one packet is unacknowledged; the second probe after the
//!     same wait, then doubling): the oldest unacknowledged packet is sent again (a tail-loss
//!     probe). Several probes fit under rtc-sctp's 1 s timer, so a burst that takes the SACKs
//!     of a round and of a probe does not end in a timeout and a one-packet window.
//!
//! It also sends again a FORWARD TSN (RFC 3758: "skip what I abandoned") that the remote's
//! SACKs do not acknowledge within a round trip, the reordering window and 50 ms. rtc-sctp sends one when it abandons
//! a chunk of a partially reliable channel and repeats it only when a SACK comes; a receiver
//! with nothing new to acknowledge sends none, so one lost FORWARD TSN held every later message
//! of an ordered channel back for good.
//!
//! Resent copies carry the SACK-IMMEDIATELY bit (RFC 7053) so the remote acknowledges at once.
//! The remote drops a duplicate TSN, so a copy that turns out unneeded costs only its bytes.
//! rtc-sctp's own recovery (fast retransmit, cwnd halving, T3-rtx) runs unchanged behind. What
//! this cannot do from outside: shrink rtc-sctp's congestion window for a loss only it repairs
//! (a repaired tail loss leaves cwnd as it was, as a successful tail-loss probe does in TCP;
//! a repaired hole inside a window is normally also fast-retransmitted, and halves cwnd there).
//!
//! Memory is bounded: at most [`MAX_TRACKED_BYTES`] of packets are held (references to the
//! buffers rtc-sctp hands out, not copies); past that, new packets go untracked and only
//! rtc-sctp recovers them.

use super::delivery_rate::{DeliveryRate, Snapshot};
use super::sctp_chunks;
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

const DATA: u8 = 0;
const SACK: u8 = 3;
const FORWARD_TSN: u8 = 192;
/// DATA chunk flag: SACK-IMMEDIATELY (RFC 7053).
const FLAG_IMMEDIATE: u8 = 0x08;
const COMMON_HEADER: usize = 12;
const CHECKSUM: std::ops::Range<usize> = 8..12;
/// Packets held for resending at most (bytes of SCTP packets).
pub(crate) const MAX_TRACKED_BYTES: usize = 4 << 20;
/// Round trip assumed before the first sample.
const INITIAL_RTT: Duration = Duration::from_millis(200);
/// Floor of the reordering allowance: jitter below this is not taken for loss.
const MIN_REORDER: Duration = Duration::from_millis(5);
/// The remote may delay a SACK this long (RFC 9260: at most 200 ms; rtc-sctp uses 200 ms).
const DELAYED_SACK: Duration = Duration::from_millis(200);
/// What an unacknowledged FORWARD TSN waits beyond a round trip and the reordering window
/// before it goes again.
const FORWARD_ALLOWANCE: Duration = Duration::from_millis(50);
/// How long the shortest round trip sampled stands for the path (then the next sample
/// replaces it: the path may have changed).
const MIN_RTT_WINDOW: Duration = Duration::from_secs(10);
/// The shortest wait before a tail-loss probe: on loopback two round trips are a fraction of
/// a millisecond, less than a busy receiver's scheduling delay.
const MIN_PROBE_TIMEOUT: Duration = Duration::from_millis(10);
/// Tail-loss probes in a row without progress before leaving it to rtc-sctp's timer.
const MAX_PROBES: u32 = 4;
/// Resends of one packet at most (rtc-sctp's own timer takes over beyond).
const MAX_RESENDS: u32 = 8;
/// Gap blocks of one SACK looked at: a real receiver reports a few; a hostile one could send
/// thousands in a large record, each checked against every packet held.
const MAX_GAP_BLOCKS: usize = 64;
/// Round-trip samples kept for the standing round trip at most.
const RECENT_SAMPLES: usize = 64;
/// Round trips over which the highest delivery-rate sample stands for the path's rate.
const RATE_WINDOW_ROUND_TRIPS: u32 = 8;

/// One DATA packet we sent.
struct Sent {
    /// The TSNs of its DATA chunks.
    tsns: Vec<u32>,
    packet: Bytes,
    /// Its last transmission (ours or rtc-sctp's): when, and its place in the order of
    /// transmissions (packets of one flush share the time).
    sent: Instant,
    order: u64,
    /// Sent more than once: gives no round-trip sample (Karn).
    again: bool,
    resends: u32,
    /// The delivery count when it first left.
    snapshot: Snapshot,
}

/// The last FORWARD TSN we sent, as a packet of its own.
struct Forward {
    packet: Bytes,
    /// Its new cumulative TSN: acknowledged once a SACK's cumulative TSN reaches it.
    new_cum: u32,
    sent: Instant,
    resends: u32,
}

impl Sent {
    /// Queues a copy on `due`, as transmission number `order`; returns its DATA chunks.
    fn send_again(&mut self, now: Instant, order: u64, due: &mut Vec<Bytes>) -> u64 {
        self.order = order;
        self.sent = now;
        self.again = true;
        self.resends += 1;
        due.push(self.packet.clone());
        self.tsns.len() as u64
    }
}

#[derive(Default)]
pub(crate) struct Recovery {
    forward: Option<Forward>,
    /// Unacknowledged DATA packets, in the order of their first transmission (rising TSNs).
    outstanding: VecDeque<Sent>,
    bytes: usize,
    /// Highest TSN sent for the first time.
    highest: Option<u32>,
    /// The remote's cumulative TSN ack.
    cum_ack: Option<u32>,
    srtt: Option<Duration>,
    /// A round trip measured elsewhere (on partially reliable channels' chunks), used until
    /// our own packets give a sample.
    rtt_hint: Option<Duration>,
    /// Transmissions so far.
    order: u64,
    /// The latest transmission among the packets acknowledged so far (RACK.xmit_ts).
    rack_order: Option<u64>,
    /// When the last SACK advanced anything; the tail-loss probe counts from here.
    progress: Option<Instant>,
    probes: u32,
    /// Packets due to be sent again, filled by `check`.
    due: Vec<Bytes>,
    resent: u64,
    /// The highest TSN sent in a packet left to rtc-sctp (of a partially reliable channel, or
    /// past the memory bound), until the cumulative ack passes it.
    untracked: Option<u32>,
    /// The round trips sampled within the last half smoothed round trip, oldest first (at most
    /// [`RECENT_SAMPLES`]).
    recent: VecDeque<(Instant, Duration)>,
    /// The shortest round trip sampled within [`MIN_RTT_WINDOW`], and when.
    min_rtt: Option<(Duration, Instant)>,
    delivery: DeliveryRate,
    /// Packets leave while the flight is too small to fill the path (set by the sender).
    app_limited: bool,
}

/// Serial number arithmetic (RFC 1982): `a` before `b`.
pub(super) fn before(a: u32, b: u32) -> bool {
    a != b && b.wrapping_sub(a) < 1 << 31
}

/// Whether a DATA chunk's value (TSN, stream, SSN, PPI, ...) carries a DCEP message
/// (DATA_CHANNEL_OPEN / ACK): sent reliable and ordered whatever the channel's policy (RFC 8832
/// section 6; rtc-sctp sends them so).
pub(super) fn is_dcep(value: &[u8]) -> bool {
    const PPI_DCEP: u32 = 50;
    value.get(8..12) == Some(&PPI_DCEP.to_be_bytes()[..])
}

/// A SACK chunk's value: its cumulative TSN ack and its gap blocks as TSN ranges (at most
/// [`MAX_GAP_BLOCKS`]).
pub(super) fn parse_sack(value: &[u8]) -> Option<(u32, Vec<(u32, u32)>)> {
    let head = value.get(..12)?;
    let cum = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    let gaps = usize::from(u16::from_be_bytes([head[8], head[9]]));
    let blocks = value[12..]
        .chunks_exact(4)
        .take(gaps.min(MAX_GAP_BLOCKS))
        .map(|b| {
            let start = u32::from(u16::from_be_bytes([b[0], b[1]]));
            let end = u32::from(u16::from_be_bytes([b[2], b[3]]));
            (cum.wrapping_add(start), cum.wrapping_add(end))
        })
        .collect();
    Some((cum, blocks))
}

impl Recovery {
    /// DATA chunks sent again so far (in resent packets).
    pub fn resent(&self) -> u64 {
        self.resent
    }

    /// Bytes of reliable DATA packets sent and not yet acknowledged.
    pub fn flight(&self) -> usize {
        self.bytes
    }

    /// The shortest round trip measured on our own packets lately: the path without its
    /// queues, and without the remote's delayed SACKs.
    pub fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt.map(|(rtt, _)| rtt)
    }

    /// Whether every DATA packet not yet cumulatively acknowledged is one this sends again
    /// when lost (none is left to rtc-sctp).
    pub fn repairs_all(&self) -> bool {
        self.untracked.is_none()
    }

    /// The shortest round trip sampled within the last half round trip: the standing delay of
    /// the path (Copa's standing RTT), above the shortest by the queue that does not drain
    /// between bursts; a burst's own later packets and jitter do not raise it.
    pub fn standing_rtt(&self) -> Option<Duration> {
        self.recent.iter().map(|&(_, rtt)| rtt).min()
    }

    /// The smoothed round trip (or the hint, or an initial guess).
    pub fn rtt(&self) -> Duration {
        self.srtt.or(self.rtt_hint).unwrap_or(INITIAL_RTT)
    }

    fn rate_window(&self) -> Duration {
        self.rtt() * RATE_WINDOW_ROUND_TRIPS
    }

    /// The rate the remote has received our data at lately (the highest sample of the last
    /// few round trips), bytes per second; `None` before a sample from a full flight.
    pub fn delivery_rate(&self, now: Instant) -> Option<f64> {
        self.delivery.max(now, self.rate_window())
    }

    /// Whether the packets about to leave are sent with too little in flight to fill the path:
    /// their delivery-rate samples would measure the application.
    pub fn set_app_limited(&mut self, app_limited: bool) {
        self.app_limited = app_limited;
    }

    /// A round trip measured elsewhere; ours, once we have one, takes precedence.
    pub fn set_rtt_hint(&mut self, rtt: Option<Duration>) {
        self.rtt_hint = rtt;
    }

    fn reorder_window(&self) -> Duration {
        (self.rtt() / 4).max(MIN_REORDER)
    }

    /// How long after the last progress (or the last probe) the next probe goes: two round
    /// trips, plus the remote's delayed-SACK allowance when a lone packet is unacknowledged
    /// (two or more are answered at once). The second probe follows after the same wait, as
    /// rtc-sctp's timer (1 s at least) leaves room for it when a burst takes a round's SACK
    /// and the first probe's; later ones wait twice as long each.
    fn probe_timeout(&self) -> Duration {
        let allowance = if self.outstanding.len() == 1 {
            DELAYED_SACK
        } else {
            Duration::ZERO
        };
        let base = (self.rtt() * 2 + allowance).max(MIN_PROBE_TIMEOUT);
        base * (1 << self.probes.saturating_sub(1).min(MAX_PROBES))
    }

    /// Looks at one packet rtc-sctp sends (common header included). `reliable(stream)` tells
    /// whether a stream's messages are to be retransmitted: a packet with a chunk of a
    /// partially reliable stream (`maxRetransmits`, `maxPacketLifeTime`) is left to rtc-sctp,
    /// which abandons such chunks by the channel's rules.
    pub fn on_sent(&mut self, now: Instant, packet: &Bytes, reliable: impl Fn(u16) -> bool) {
        if let Some((packet, new_cum)) = forward_tsn_alone(packet) {
            self.forward = Some(Forward {
                packet,
                new_cum,
                sent: now,
                resends: 0,
            });
        }
        let mut all_reliable = true;
        let tsns: Vec<u32> = sctp_chunks(packet)
            .filter(|(kind, _, value)| *kind == DATA && value.len() >= 6)
            .map(|(_, _, v)| {
                all_reliable &= is_dcep(v) || reliable(u16::from_be_bytes([v[4], v[5]]));
                u32::from_be_bytes([v[0], v[1], v[2], v[3]])
            })
            .collect();
        let Some(&first) = tsns.first() else {
            return;
        };
        let fresh = self.highest.is_none_or(|h| before(h, first));
        if !fresh {
            // rtc-sctp sends a chunk again: the packets holding it wait a round trip again.
            self.order += 1;
            for s in self.outstanding.iter_mut() {
                if s.tsns.iter().any(|t| tsns.contains(t)) {
                    s.sent = now;
                    s.order = self.order;
                    s.again = true;
                }
            }
            return;
        }
        self.highest = tsns
            .iter()
            .copied()
            .reduce(|a, b| if before(a, b) { b } else { a });
        if !all_reliable || self.bytes + packet.len() > MAX_TRACKED_BYTES {
            self.untracked = self.highest;
            return;
        }
        if self.outstanding.is_empty() {
            self.progress = Some(now);
            self.probes = 0;
        }
        self.bytes += packet.len();
        self.order += 1;
        self.outstanding.push_back(Sent {
            tsns,
            packet: packet.clone(),
            sent: now,
            order: self.order,
            again: false,
            resends: 0,
            snapshot: self.delivery.on_sent(now, self.app_limited),
        });
    }

    /// Looks at one packet from the remote (common header included): its SACK, if any.
    pub fn on_received(&mut self, now: Instant, packet: &[u8]) {
        for (kind, _, value) in sctp_chunks(packet) {
            if kind == SACK {
                self.on_sack(now, value);
            }
        }
    }

    fn on_sack(&mut self, now: Instant, value: &[u8]) {
        let Some((cum, blocks)) = parse_sack(value) else {
            return;
        };
        if self.cum_ack.is_some_and(|c| before(cum, c)) {
            return; // an old SACK, overtaken
        }
        let acked = |tsn: u32| {
            !before(cum, tsn)
                || blocks
                    .iter()
                    .any(|&(s, e)| !before(tsn, s) && !before(e, tsn))
        };
        let advanced = self.cum_ack != Some(cum);
        self.cum_ack = Some(cum);
        if self.untracked.is_some_and(|u| !before(cum, u)) {
            self.untracked = None;
        }
        if self
            .forward
            .as_ref()
            .is_some_and(|f| !before(cum, f.new_cum))
        {
            self.forward = None;
        }
        let mut progress = advanced;
        let mut sample = None;
        let mut delivered = 0;
        let mut latest: Option<(u64, Snapshot)> = None;
        let mut kept = VecDeque::with_capacity(self.outstanding.len());
        for s in self.outstanding.drain(..) {
            if s.tsns.iter().all(|&t| acked(t)) {
                progress = true;
                self.bytes -= s.packet.len();
                delivered += s.packet.len() as u64;
                if latest.is_none_or(|(order, _)| s.order > order) {
                    latest = Some((s.order, s.snapshot));
                }
                if self.rack_order.is_none_or(|r| s.order > r) {
                    self.rack_order = Some(s.order);
                }
                if !s.again {
                    sample = Some(now.saturating_duration_since(s.sent));
                }
            } else {
                kept.push_back(s);
            }
        }
        self.outstanding = kept;
        if let Some((_, snapshot)) = latest {
            let window = self.rate_window();
            self.delivery.on_acked(now, delivered, snapshot, window);
        }
        if let Some(rtt) = sample {
            self.recent.push_back((now, rtt));
            let horizon = self.rtt() / 2;
            while self.recent.len() > RECENT_SAMPLES
                || self
                    .recent
                    .front()
                    .is_some_and(|&(at, _)| now.saturating_duration_since(at) > horizon)
            {
                self.recent.pop_front();
            }
            self.srtt = Some(match self.srtt {
                Some(s) => (s * 7 + rtt) / 8,
                None => rtt,
            });
            let stale = self
                .min_rtt
                .is_none_or(|(_, at)| now.saturating_duration_since(at) > MIN_RTT_WINDOW);
            if stale || self.min_rtt.is_some_and(|(m, _)| rtt <= m) {
                self.min_rtt = Some((rtt, now));
            }
        }
        if progress {
            self.progress = Some(now);
            self.probes = 0;
        }
        self.check(now);
    }

    /// When the FORWARD TSN, unacknowledged, is to be sent again.
    fn forward_due(&self) -> Option<Instant> {
        let f = self.forward.as_ref().filter(|f| f.resends < MAX_RESENDS)?;
        // Shorter than a probe: every message behind the skipped ones waits for it. A remote
        // that had it and only delayed its SACK answers a copy with a SACK at once.
        let wait = (self.rtt() + self.reorder_window() + FORWARD_ALLOWANCE)
            * (1 << f.resends.min(MAX_PROBES));
        Some(f.sent + wait)
    }

    /// When `check` has something to do next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let forward = self.forward_due();
        let Some(first) = self.outstanding.front() else {
            return forward;
        };
        let mut at = (self.probes < MAX_PROBES)
            .then(|| self.progress.unwrap_or(first.sent) + self.probe_timeout());
        if let Some(rack) = self.rack_order {
            let wait = self.rtt() + self.reorder_window();
            if let Some(s) = self
                .outstanding
                .iter()
                .filter(|s| s.order < rack && s.resends < MAX_RESENDS)
                .min_by_key(|s| s.sent)
            {
                let due = s.sent + wait;
                at = Some(at.map_or(due, |a| a.min(due)));
            }
        }
        match (at, forward) {
            (Some(a), Some(f)) => Some(a.min(f)),
            (a, f) => a.or(f),
        }
    }

    /// Marks the packets lost by now to be sent again.
    pub fn check(&mut self, now: Instant) {
        if self.forward_due().is_some_and(|at| now >= at) {
            if let Some(f) = self.forward.as_mut() {
                f.sent = now;
                f.resends += 1;
                self.due.push(f.packet.clone());
            }
        }
        let wait = self.rtt() + self.reorder_window();
        let mut any = false;
        if let Some(rack) = self.rack_order {
            for s in self.outstanding.iter_mut() {
                if s.order < rack && s.resends < MAX_RESENDS && now >= s.sent + wait {
                    self.order += 1;
                    self.resent += s.send_again(now, self.order, &mut self.due);
                    any = true;
                }
            }
        }
        let probe_at = self
            .outstanding
            .front()
            .map(|f| self.progress.unwrap_or(f.sent) + self.probe_timeout());
        if !any && self.probes < MAX_PROBES && probe_at.is_some_and(|at| now >= at) {
            if let Some(s) = self.outstanding.front_mut() {
                self.order += 1;
                self.resent += s.send_again(now, self.order, &mut self.due);
                self.probes += 1;
                self.progress = Some(now);
            }
        }
    }

    /// The packets to send again now, each marked SACK-IMMEDIATELY.
    pub fn take_due(&mut self) -> Vec<Bytes> {
        self.due.drain(..).map(|p| immediate(&p)).collect()
    }
}

/// The FORWARD TSN chunks of `packet`, if it has any, in a packet of their own (the same common
/// header, the checksum computed again), and the last one's new cumulative TSN.
fn forward_tsn_alone(packet: &[u8]) -> Option<(Bytes, u32)> {
    let header = packet.get(..COMMON_HEADER)?;
    let mut out = BytesMut::new();
    let mut new_cum = None;
    for (kind, flags, value) in sctp_chunks(packet) {
        if kind != FORWARD_TSN || value.len() < 4 {
            continue;
        }
        if out.is_empty() {
            out.extend_from_slice(header);
        }
        new_cum = Some(u32::from_be_bytes([value[0], value[1], value[2], value[3]]));
        let length = u16::try_from(4 + value.len()).ok()?;
        out.extend_from_slice(&[FORWARD_TSN, flags]);
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(value);
        out.resize(out.len().div_ceil(4) * 4, 0);
    }
    let new_cum = new_cum?;
    out[CHECKSUM].fill(0);
    let sum = crc32c::crc32c(&out);
    out[CHECKSUM].copy_from_slice(&sum.to_le_bytes());
    Some((out.freeze(), new_cum))
}

/// A copy of `packet` with the SACK-IMMEDIATELY flag on each DATA chunk and the checksum
/// computed again.
fn immediate(packet: &[u8]) -> Bytes {
    let mut out = BytesMut::from(packet);
    let mut at = COMMON_HEADER;
    while let Some(header) = out.get(at..at + 4) {
        let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
        if len < 4 || at + len > out.len() {
            break;
        }
        if header[0] == DATA {
            out[at + 1] |= FLAG_IMMEDIATE;
        }
        at += len.div_ceil(4) * 4;
    }
    if out.len() >= COMMON_HEADER {
        out[CHECKSUM].fill(0);
        let sum = crc32c::crc32c(&out);
        out[CHECKSUM].copy_from_slice(&sum.to_le_bytes());
    }
    out.freeze()
}

#[cfg(test)]
pub(super) mod tests;
