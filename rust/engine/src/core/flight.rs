//! Keeps our last DTLS handshake flight and sends it again when rtc-dtls stops doing so.
//!
//! rtc-dtls 0.21.1 clears its retransmission timer whenever handshake records arrive while it
//! waits for the peer's next flight, even records that do not complete that flight. The peer
//! repeating its previous flight, because ours was lost, is exactly that: rtc-dtls then waits
//! forever and one lost datagram failed the handshake (KNOWN_ISSUES.md). RFC 6347 §4.2.4 wants
//! our flight sent again. So: while the handshake is under way and rtc-dtls has no timer, the
//! last flight we sent goes out again after 1 s, then 2, 4 and 8 s, until rtc-dtls arms a
//! timer of its own, the handshake completes, or the setup deadline ends the connection.

use bytes::BytesMut;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

const FIRST_RESEND: Duration = Duration::from_secs(1);
const LONGEST_RESEND: Duration = Duration::from_secs(8);
/// Datagrams kept of one flight (a flight is a handful).
const FLIGHT_LIMIT: usize = 16;

#[derive(Default)]
pub(super) struct FlightKeeper {
    /// The datagrams of the flight we sent last.
    last: Vec<BytesMut>,
    /// Whether we sent something since the last datagram we received (else the next datagram
    /// we send starts a new flight).
    sending: bool,
    resend_at: Option<Instant>,
    interval: Duration,
    resends: VecDeque<BytesMut>,
}

impl FlightKeeper {
    /// A datagram arrived from the peer.
    pub fn received(&mut self) {
        self.sending = false;
    }

    /// rtc-dtls sent `datagram` during the handshake.
    pub fn sent(&mut self, datagram: &BytesMut) {
        if !self.sending {
            self.sending = true;
            self.last.clear();
        }
        if self.last.len() < FLIGHT_LIMIT {
            self.last.push(datagram.clone());
        }
    }

    /// Arms or disarms the resend after anything happened: `timer` is rtc-dtls's own.
    pub fn watch(&mut self, now: Instant, timer: Option<Instant>, connected: bool) {
        if connected {
            *self = Self::default();
        } else if timer.is_some() || self.last.is_empty() {
            self.resend_at = None;
            self.interval = FIRST_RESEND;
        } else if self.resend_at.is_none() {
            self.interval = self.interval.max(FIRST_RESEND);
            self.resend_at = Some(now + self.interval);
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.resend_at
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.resend_at.is_some_and(|t| now >= t) {
            self.resends.extend(self.last.iter().cloned());
            self.interval = (self.interval * 2).min(LONGEST_RESEND);
            self.resend_at = Some(now + self.interval);
        }
    }

    /// A datagram of the last flight to send again.
    pub fn poll_resend(&mut self) -> Option<BytesMut> {
        self.resends.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datagram(n: u8) -> BytesMut {
        BytesMut::from(&[22, n][..])
    }

    fn resends(k: &mut FlightKeeper) -> Vec<BytesMut> {
        std::iter::from_fn(|| k.poll_resend()).collect()
    }

    #[test]
    fn the_last_flight_goes_out_again_while_rtc_dtls_has_no_timer() {
        let t0 = Instant::now();
        let mut k = FlightKeeper::default();
        k.sent(&datagram(1));
        k.received();
        k.sent(&datagram(2));
        k.sent(&datagram(3));
        k.watch(t0, Some(t0 + FIRST_RESEND), false);
        assert_eq!(k.poll_timeout(), None, "rtc-dtls retransmits by itself");
        // The peer repeats its flight: rtc-dtls's timer is gone.
        k.received();
        k.watch(t0, None, false);
        let mut at = Vec::new();
        let mut now = t0;
        for _ in 0..5 {
            now = k.poll_timeout().expect("armed");
            k.handle_timeout(now);
            assert_eq!(
                resends(&mut k),
                vec![datagram(2), datagram(3)],
                "the last flight"
            );
            at.push(now - t0);
        }
        let secs: Vec<u64> = at.iter().map(|d| d.as_secs()).collect();
        assert_eq!(secs, vec![1, 3, 7, 15, 23]);
        k.watch(now, None, true);
        assert_eq!(k.poll_timeout(), None, "connected: nothing more");
    }

    #[test]
    fn nothing_is_sent_before_anything_was() {
        let t0 = Instant::now();
        let mut k = FlightKeeper::default();
        k.received();
        k.watch(t0, None, false);
        assert_eq!(
            k.poll_timeout(),
            None,
            "a server waiting for the first ClientHello"
        );
    }

    #[test]
    fn a_new_flight_replaces_the_old_one() {
        let t0 = Instant::now();
        let mut k = FlightKeeper::default();
        k.sent(&datagram(1));
        k.received();
        k.sent(&datagram(2));
        k.watch(t0, None, false);
        let at = k.poll_timeout().expect("armed");
        k.handle_timeout(at);
        assert_eq!(resends(&mut k), vec![datagram(2)]);
        k.watch(at, Some(at + FIRST_RESEND), false);
        assert_eq!(k.poll_timeout(), None, "rtc-dtls has a timer again");
    }
}
