//! Paces the SCTP packets we send: new DATA leaves at a rate derived from the data in flight
//! and the round trip, not in the bursts rtc-sctp writes it in.
//!
//! rtc-sctp sends everything its congestion window allows the moment a SACK opens it (no
//! pacing, no max-burst). A SACK that acknowledges many packets at once (a receiver that reads
//! a batch of datagrams and answers them with one SACK, or the SACK that closes a hole after a
//! loss) releases tens of kilobytes at once, which a router's shallow queue drops at its tail
//! long before the path is full: a false congestion signal that halves the window. Measured
//! through a 20 Mbit/s link with a 32 KiB queue at 40 ms: the first fast recovery came at
//! 85 kB in flight (the path holds 132 kB), and a second one halved the window again.
//!
//! The pacer holds plaintext packets, before DTLS: only packets with DATA never sent before
//! wait, in order; SACKs, control chunks and retransmissions overtake them (SCTP expects a
//! retransmission to arrive out of order; encrypted records could not be reordered). The loss
//! recovery and the partial-reliability skipper see a packet when it leaves, so their round
//! trips never include the wait.
//!
//! The rate follows TCP's pacing (Linux `tcp_update_pacing_rate`): twice the flight (what is
//! sent and unacknowledged, plus what waits here: rtc-sctp's window) per round trip while the
//! window still grows from the start (rtc-sctp has seen no gap yet), then 1.25 times. The round trip is
//! the shortest measured lately, so the remote's delayed SACKs do not slow the rate. Pacing
//! spreads bursts out over part of a round trip; it does not lower what the congestion window
//! allows, except after a loss: then new DATA also waits while the flight exceeds
//! [`FLIGHT_GAIN`] times what the path holds (delivery rate times shortest round trip), since
//! rtc-sctp's window after one halving can still exceed the path plus its queue. A flight
//! under [`MIN_PACED_FLIGHT`] is not paced (game traffic, a transfer's first
//! round trips): its bursts fit any queue. At most [`MAX_HELD_BYTES`] wait; beyond, packets
//! leave at once.

use super::sctp_chunks;
use super::sctp_recovery::before;
use bytes::Bytes;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

const DATA: u8 = 0;

/// Below this much data in flight (about 27 full datagrams) nothing is paced.
const MIN_PACED_FLIGHT: usize = 32 * 1024;
/// Most bytes held back; past it the pacer lets everything out at once.
const MAX_HELD_BYTES: usize = 4 << 20;
/// Bytes that may leave back to back: a few datagrams, or a millisecond at the pacing rate
/// (the timers that wake the driver are about that coarse).
const MIN_BURST: f64 = 3_000.0;
const BURST_TIME: f64 = 0.001;

/// Gain on flight / round trip while the window grows from the start, and afterwards.
const STARTUP_GAIN: f64 = 2.0;
const STEADY_GAIN: f64 = 1.25;
/// Gain on the path's rate for a round trip after a loss: the queue that overflowed drains.
const DRAIN_GAIN: f64 = 0.75;
/// After a loss, new DATA waits while the flight exceeds this many times what the path holds
/// (its delivery rate times the shortest round trip).
const FLIGHT_GAIN: f64 = 1.25;

/// The most bytes in flight before new DATA waits, once a gap was reported: rtc-sctp's window
/// after one halving can still exceed what the path and its queue hold.
pub(crate) fn flight_cap(
    rtt: Option<Duration>,
    loss_seen: bool,
    delivery_rate: Option<f64>,
) -> Option<usize> {
    let (rtt, rate) = (rtt?, delivery_rate?);
    let cap = FLIGHT_GAIN * rate * rtt.as_secs_f64();
    (loss_seen && cap.is_finite()).then(|| (cap as usize).max(MIN_PACED_FLIGHT))
}

/// Whether a flight is large enough to be paced (and to measure the path's rate by).
pub(crate) fn fills_path(flight: usize) -> bool {
    flight >= MIN_PACED_FLIGHT
}

/// The pacing rate in bytes per second for `flight` bytes in flight over a round trip of
/// `rtt`, or `None` (no pacing) when the flight is small or there is no round trip yet. Once a
/// gap was reported, never more than [`STEADY_GAIN`] times the recent `delivery_rate`: a window
/// larger than the path holds would otherwise be sent faster than the bottleneck drains.
pub(crate) fn pacing_rate(
    flight: usize,
    rtt: Option<Duration>,
    loss_seen: bool,
    delivery_rate: Option<f64>,
    draining: bool,
) -> Option<f64> {
    let rtt = rtt?.as_secs_f64();
    if !fills_path(flight) || rtt <= 0.0 {
        return None;
    }
    let gain = if loss_seen { STEADY_GAIN } else { STARTUP_GAIN };
    let by_window = gain * flight as f64 / rtt;
    Some(match delivery_rate {
        Some(path) if loss_seen => {
            by_window.min(if draining { DRAIN_GAIN } else { STEADY_GAIN } * path)
        }
        _ => by_window,
    })
}

#[derive(Debug, Default)]
pub(crate) struct Pacer {
    /// Packets with new DATA, in order.
    held: VecDeque<Bytes>,
    held_bytes: usize,
    /// Everything else: SACKs, control chunks, retransmissions. Never held back.
    urgent: VecDeque<Bytes>,
    /// The highest TSN of the new DATA seen so far.
    highest: Option<u32>,
    /// Bytes per second; `None`: no pacing.
    rate: Option<f64>,
    /// Bytes that may leave now; negative: the time until the next may leave.
    credit: f64,
    /// When the credit was last brought up to date.
    updated: Option<Instant>,
    /// Bytes in flight, and the most new DATA may bring it to.
    flight: usize,
    flight_cap: Option<usize>,
}

impl Pacer {
    pub fn set_rate(&mut self, rate: Option<f64>) {
        self.rate = rate.filter(|r| r.is_finite() && *r > 0.0);
    }

    /// What is in flight now (sent, unacknowledged), and the most new DATA may bring it to.
    pub fn set_flight(&mut self, flight: usize, cap: Option<usize>) {
        self.flight = flight;
        self.flight_cap = cap;
    }

    /// Whether held packets leave at the rate (and within the flight cap) at all.
    fn paced(&self) -> bool {
        self.rate.is_some() && self.held_bytes <= MAX_HELD_BYTES
    }

    /// Whether a held packet of `len` bytes waits for the flight to shrink.
    fn capped(&self, len: usize) -> bool {
        self.flight_cap.is_some_and(|cap| self.flight + len > cap)
    }

    /// The highest TSN of new DATA taken so far.
    pub fn highest_tsn(&self) -> Option<u32> {
        self.highest
    }

    /// Bytes of new DATA held back.
    pub fn held_bytes(&self) -> usize {
        self.held_bytes
    }

    /// Takes one plaintext SCTP packet rtc-sctp wrote. A packet that carries a DATA chunk
    /// never sent before waits its turn; anything else goes out with the next release, ahead
    /// of what waits (a retransmission overtaking new data is ordinary for SCTP).
    pub fn push(&mut self, packet: Bytes) {
        let mut fresh = false;
        for (kind, _, v) in sctp_chunks(&packet) {
            if kind == DATA && v.len() >= 4 {
                let tsn = u32::from_be_bytes([v[0], v[1], v[2], v[3]]);
                if self.highest.is_none_or(|h| before(h, tsn)) {
                    self.highest = Some(tsn);
                    fresh = true;
                }
            }
        }
        if fresh {
            self.held_bytes += packet.len();
            self.held.push_back(packet);
        } else {
            self.urgent.push_back(packet);
        }
    }

    fn burst(rate: f64) -> f64 {
        (rate * BURST_TIME).max(MIN_BURST)
    }

    fn refill(&mut self, now: Instant) {
        let since = self
            .updated
            .map_or(Duration::ZERO, |u| now.saturating_duration_since(u));
        self.updated = Some(now);
        match self.rate {
            Some(rate) => {
                self.credit = (self.credit + rate * since.as_secs_f64()).min(Self::burst(rate))
            }
            None => self.credit = 0.0,
        }
    }

    /// What may leave at `now`, in the order to send it.
    pub fn release(&mut self, now: Instant) -> Vec<Bytes> {
        self.refill(now);
        let mut out: Vec<Bytes> = self.urgent.drain(..).collect();
        while let Some(front) = self.held.front() {
            let len = front.len();
            let paced = self.paced();
            if paced && (self.credit < 0.0 || self.capped(len)) {
                break;
            }
            if paced {
                self.credit -= len as f64;
            }
            self.flight += len;
            self.held_bytes -= len;
            if let Some(p) = self.held.pop_front() {
                out.push(p);
            }
        }
        out
    }

    /// Everything held, at once (the connection ends).
    pub fn release_all(&mut self) -> Vec<Bytes> {
        self.held_bytes = 0;
        self.urgent.drain(..).chain(self.held.drain(..)).collect()
    }

    /// When the next held packet may leave.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.held.is_empty() && self.urgent.is_empty() {
            return None;
        }
        let updated = self.updated?;
        let capped = self.paced() && self.held.front().is_some_and(|p| self.capped(p.len()));
        if capped && self.urgent.is_empty() {
            return None; // a SACK shrinks the flight and flushes again
        }
        match self.rate {
            Some(rate) if self.credit < 0.0 && self.urgent.is_empty() => {
                // Rounded up, so that the credit is not a hair short when the time comes.
                let nanos = (-self.credit / rate * 1e9).ceil() as u64 + 1;
                Some(updated + Duration::from_nanos(nanos))
            }
            _ => Some(updated),
        }
    }
}

#[cfg(test)]
mod tests;
