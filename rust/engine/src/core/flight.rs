//! Keeps our last DTLS handshake flight and sends it again when rtc-dtls stops doing so
//! ([`FlightKeeper`]), and after the handshake our final flight, sent again when the remote
//! repeats its own ([`FinalFlight`]).
//!
//! rtc-dtls 0.21.1 clears its retransmission timer whenever handshake records arrive while it
//! waits for the peer's next flight, even records that do not complete that flight. The peer
//! repeating its previous flight, because ours was lost, is exactly that: rtc-dtls then waits
//! forever and one lost datagram failed the handshake (KNOWN_ISSUES.md). RFC 6347 §4.2.4 wants
//! our flight sent again. So: while the handshake is under way and rtc-dtls has no timer, the
//! last flight we sent goes out again after 1 s, then 2, 4 and 8 s, until rtc-dtls arms a
//! timer of its own, the handshake completes, or the setup deadline ends the connection; and,
//! as RFC 6347's state machine says, each time the peer repeats its flight meanwhile (at most
//! every [`MIN_ANSWER_GAP`]), since that repeat says ours was lost.

use bytes::BytesMut;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

const FIRST_RESEND: Duration = Duration::from_secs(1);
/// The least time between two resends in answer to the peer's repeats (a peer repeats once a
/// second; a path that duplicates must not double our answers).
const MIN_ANSWER_GAP: Duration = Duration::from_millis(500);
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
    /// When our flight last went out again in answer to a repeat of the peer's.
    answered_at: Option<Instant>,
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

    /// The peer sent handshake records that rtc-dtls did not answer (it has no timer, see
    /// [`FlightKeeper::watch`], which must have run since): the peer repeats its flight because
    /// ours was lost, so ours goes out again now.
    pub fn peer_repeated(&mut self, now: Instant) {
        let stalled = self.resend_at.is_some();
        let recently = self
            .answered_at
            .is_some_and(|at| now.saturating_duration_since(at) < MIN_ANSWER_GAP);
        if stalled && !recently {
            self.resends.extend(self.last.iter().cloned());
            self.answered_at = Some(now);
        }
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

/// Our final flight (the server's ChangeCipherSpec and Finished), kept once the handshake
/// completed on our side, and sent again, as it was, each time the remote repeats its own last
/// flight: the remote still waits for ours, which was lost. rtc-dtls answers such a repeat by
/// itself only when it reads the repeat as new; a repeat of records it already has (sent
/// again as they were by the remote's [`FlightKeeper`], or duplicated on the path) falls to its
/// replay window, and then the remote never completes. The remote has not seen the records we
/// send again (else it would not repeat), so they pass its replay window. The caller bounds how
/// many repeats it acts on.
#[derive(Default)]
pub(super) struct FinalFlight {
    datagrams: Vec<BytesMut>,
    /// Whether we sent something since the last datagram we received.
    sending: bool,
    resends: VecDeque<BytesMut>,
}

impl FinalFlight {
    /// A datagram arrived from the peer.
    pub fn received(&mut self) {
        self.sending = false;
    }

    /// rtc-dtls sent `datagram`, made of handshake records only, after the handshake.
    pub fn sent(&mut self, datagram: &BytesMut) {
        if !self.sending {
            self.sending = true;
            self.datagrams.clear();
        }
        if self.datagrams.len() < FLIGHT_LIMIT {
            self.datagrams.push(datagram.clone());
        }
    }

    /// The remote repeated its last flight: ours goes out again.
    pub fn repeat(&mut self) {
        self.resends.extend(self.datagrams.iter().cloned());
    }

    /// A datagram of the final flight to send again.
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
    fn a_repeat_of_the_peer_is_answered_while_rtc_dtls_has_no_timer() {
        let t0 = Instant::now();
        let mut k = FlightKeeper::default();
        k.sent(&datagram(4));
        k.received();
        k.watch(t0, Some(t0 + FIRST_RESEND), false);
        k.peer_repeated(t0);
        assert!(resends(&mut k).is_empty(), "rtc-dtls answers by itself");
        // rtc-dtls stalled: each repeat of the peer is answered, at most every 500 ms.
        k.watch(t0, None, false);
        k.peer_repeated(t0);
        assert_eq!(resends(&mut k), vec![datagram(4)]);
        k.peer_repeated(t0 + Duration::from_millis(10));
        assert!(resends(&mut k).is_empty(), "a duplicate on the path");
        k.peer_repeated(t0 + Duration::from_secs(1));
        assert_eq!(resends(&mut k), vec![datagram(4)]);
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
    fn the_final_flight_goes_out_again_at_each_repeat_of_the_remote() {
        let mut f = FinalFlight::default();
        f.repeat();
        assert_eq!(f.poll_resend(), None, "nothing sent yet");
        f.sent(&datagram(6));
        f.sent(&datagram(7));
        for _ in 0..2 {
            f.received();
            f.repeat();
            assert_eq!(
                std::iter::from_fn(|| f.poll_resend()).collect::<Vec<_>>(),
                vec![datagram(6), datagram(7)]
            );
        }
        // rtc-dtls answered a repeat itself: its fresh flight is the one kept.
        f.received();
        f.sent(&datagram(8));
        f.repeat();
        assert_eq!(f.poll_resend(), Some(datagram(8)));
        assert_eq!(f.poll_resend(), None);
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
