//! The layer against a plain rtc-sctp endpoint that keeps one role, as stacks that tie the
//! SCTP role to the ICE role do (werift): on a virtual clock, packets handed over directly.

use super::*;
use std::collections::BTreeMap;

const LATENCY: Duration = Duration::from_millis(10);

/// An rtc-sctp endpoint in one role for good: a client sends INIT and ignores the remote's
/// (its endpoint has no server configuration); a server only answers INITs.
struct Fixed {
    endpoint: Endpoint,
    association: Option<(AssociationHandle, Association)>,
    inits_sent: usize,
}

impl Fixed {
    fn new(now: Instant, client: bool) -> Self {
        let transport = TransportConfig::default();
        let local = TransportContext::default().local_addr;
        let server = (!client).then(|| Arc::new(ServerConfig::new(transport.clone())));
        let mut endpoint = Endpoint::new(
            local,
            TransportProtocol::UDP,
            Arc::new(EndpointConfig::default()),
            server,
        );
        let association = client.then(|| {
            endpoint
                .connect(now, ClientConfig::new(transport), tunnel_addr())
                .expect("connect")
        });
        Self {
            endpoint,
            association,
            inits_sent: 0,
        }
    }

    fn feed(&mut self, now: Instant, packet: Bytes) {
        match self.endpoint.handle(now, tunnel_addr(), None, packet) {
            Some((h, DatagramEvent::NewAssociation(a))) if self.association.is_none() => {
                self.association = Some((h, a));
            }
            Some((h, DatagramEvent::AssociationEvent(ev))) => {
                if let Some((ours, a)) = self.association.as_mut() {
                    if *ours == h {
                        a.handle_event(ev);
                    }
                }
            }
            _ => {}
        }
    }

    fn connected(&mut self) -> bool {
        let Some((_, a)) = self.association.as_mut() else {
            return false;
        };
        let mut up = false;
        while let Some(ev) = a.poll() {
            up |= matches!(ev, SctpEvent::Connected);
        }
        up
    }

    fn packets(&mut self, now: Instant) -> Vec<Bytes> {
        let mut out = Vec::new();
        if let Some((_, a)) = self.association.as_mut() {
            while let Some(t) = a.poll_transmit(now) {
                if let Payload::RawEncode(v) = t.message {
                    out.extend(v);
                }
            }
        }
        self.inits_sent += out
            .iter()
            .filter(|p| p.get(COMMON_HEADER) == Some(&CHUNK_INIT))
            .count();
        out
    }
}

/// Runs `ours` against `theirs` for up to 10 s; when each reported the association up.
fn run(
    start: Instant,
    ours: &mut SctpLayer,
    theirs: &mut Fixed,
) -> (Option<Duration>, Option<Duration>) {
    // In flight: (arrival, sequence) -> (to ours?, packet).
    let mut flights: BTreeMap<(Instant, u64), (bool, Bytes)> = BTreeMap::new();
    let mut seq = 0;
    let (mut ours_up, mut theirs_up) = (None, None);
    let mut now = start;
    while now < start + Duration::from_secs(10) {
        while let Some(entry) = flights.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (to_ours, packet) = entry.remove();
            if to_ours {
                ours.feed(now, BytesMut::from(&packet[..]));
            } else {
                theirs.feed(now, packet);
            }
        }
        if ours.poll_timeout().is_some_and(|t| t <= now) {
            ours.handle_timeout(now).expect("attempt");
        }
        if let Some((_, a)) = theirs.association.as_mut() {
            if a.poll_timeout().is_some_and(|t| t <= now) {
                a.handle_timeout(now);
            }
        }
        if ours.drain().contains(&SctpOutput::Connected) {
            ours_up = Some(now - start);
        }
        if theirs.connected() {
            theirs_up = Some(now - start);
        }
        for (to_ours, packets) in [(false, ours.poll_packets(now)), (true, theirs.packets(now))] {
            for p in packets {
                seq += 1;
                flights.insert((now + LATENCY, seq), (to_ours, p));
            }
        }
        if ours_up.is_some() && theirs_up.is_some() {
            break;
        }
        let next = [
            flights.keys().next().map(|k| k.0),
            ours.poll_timeout(),
            theirs
                .association
                .as_ref()
                .and_then(|(_, a)| a.poll_timeout()),
        ];
        match next.into_iter().flatten().min() {
            Some(t) => now = t.max(now),
            None => break,
        }
    }
    (ours_up, theirs_up)
}

#[test]
fn a_remote_that_only_sends_init_is_answered_when_we_switch_to_server() {
    // We are the DTLS client, so we send INIT; the remote sends its own and ignores ours
    // (werift offering: its SCTP client is the ICE controlling side). At 2 s we switch to
    // server and answer the INIT it sent (held, not waiting for its next one at 3 s).
    let start = Instant::now();
    let mut ours = SctpLayer::new(1 << 20, crate::types::sctp_mtu(crate::types::DEFAULT_MTU));
    let mut theirs = Fixed::new(start, true);
    ours.start(start, true, 65536, 5000).expect("start");
    let (ours_up, theirs_up) = run(start, &mut ours, &mut theirs);
    assert_eq!(ours_up, Some(ATTEMPT_PERIOD + 2 * LATENCY));
    assert_eq!(theirs_up, Some(ATTEMPT_PERIOD + 3 * LATENCY));
    // rtc-sctp sent its INIT at 0 and 1 s; the one we answered is the held one.
    assert_eq!(theirs.inits_sent, 2);
    let s = ours.setup.as_ref().expect("setup");
    assert_eq!((s.tried_client, s.tried_server, s.remote_inits), (1, 1, 2));
}

#[test]
fn a_remote_that_only_waits_for_init_gets_ours_after_the_period() {
    // We are the DTLS server, so we wait; the remote waits too (werift answering: its SCTP
    // server is the ICE controlled side). At 2.5 s we send INIT.
    let start = Instant::now();
    let mut ours = SctpLayer::new(1 << 20, crate::types::sctp_mtu(crate::types::DEFAULT_MTU));
    let mut theirs = Fixed::new(start, false);
    ours.start(start, false, 65536, 5000).expect("start");
    let (ours_up, theirs_up) = run(start, &mut ours, &mut theirs);
    let init = ATTEMPT_PERIOD + CLIENT_LAG;
    assert_eq!(theirs_up, Some(init + 3 * LATENCY));
    assert_eq!(ours_up, Some(init + 4 * LATENCY));
    assert!(ours.is_connected() && ours.associations.len() == 1);
}

#[test]
fn the_report_says_what_was_tried() {
    let start = Instant::now();
    let mut ours = SctpLayer::new(1 << 20, crate::types::sctp_mtu(crate::types::DEFAULT_MTU));
    assert_eq!(ours.setup_report(), "SCTP never started");
    ours.start(start, false, 65536, 5000).expect("start");
    ours.handle_timeout(start + ATTEMPT_PERIOD + CLIENT_LAG)
        .expect("switch");
    assert_eq!(
        ours.setup_report(),
        "tried 1 time(s) as SCTP client (sending INIT) and 1 time(s) as server (waiting \
         for the remote's INIT); 0 INIT(s) came from the remote"
    );
}

#[test]
fn an_init_ack_reaching_us_as_server_makes_us_the_client_at_once() {
    // We are the DTLS client and send INIT; the remote, a server, answers, but its INIT ACK
    // arrives only after our attempt gave way to one as server (at 2 s). It says the remote
    // is a server waiting for a COOKIE ECHO: we take the client role at once (a new INIT),
    // instead of both waiting as servers.
    let start = Instant::now();
    let mut ours = SctpLayer::new(1 << 20, crate::types::sctp_mtu(crate::types::DEFAULT_MTU));
    let mut theirs = Fixed::new(start, false);
    ours.start(start, true, 65536, 5000).expect("start");
    for p in ours.poll_packets(start) {
        theirs.feed(start + LATENCY, p);
    }
    let late_init_ack = theirs.packets(start + LATENCY);
    assert_eq!(late_init_ack.len(), 1, "the INIT ACK");
    let switch = start + ATTEMPT_PERIOD;
    ours.handle_timeout(switch).expect("switch");
    assert!(!ours.setup.as_ref().expect("setup").client, "server now");
    let _ = ours.poll_packets(switch);
    let arrival = switch + Duration::from_millis(100);
    ours.feed(arrival, BytesMut::from(&late_init_ack[0][..]));
    let s = ours.setup.as_ref().expect("setup");
    assert!(s.client, "client again");
    assert_eq!((s.tried_client, s.tried_server), (2, 1));
    let out = ours.poll_packets(arrival);
    assert!(
        out.iter()
            .any(|p| p.get(COMMON_HEADER) == Some(&CHUNK_INIT)),
        "a new INIT at once"
    );
    // A full period for this attempt.
    assert_eq!(ours.next_switch(), Some(arrival + ATTEMPT_PERIOD));
}

#[test]
fn an_init_with_a_verification_tag_other_than_zero_is_answered() {
    // aiortc's INIT after an INIT collision carries our old tag instead of 0 (RFC 9260 §8.5.1
    // wants 0). rtc-sctp alone drops it; the layer takes the tag as 0 and answers.
    let start = Instant::now();
    let mut theirs = Fixed::new(start, true);
    let init = theirs.packets(start).pop().expect("their INIT");
    let mut tagged = BytesMut::from(&init[..]);
    tagged[4..8].copy_from_slice(&0x1234_5678u32.to_be_bytes());
    tagged[8..12].fill(0);
    let sum = crc32c::crc32c(&tagged);
    tagged[8..12].copy_from_slice(&sum.to_le_bytes());
    let mut ours = SctpLayer::new(1 << 20, crate::types::sctp_mtu(crate::types::DEFAULT_MTU));
    ours.start(start, false, 65536, 5000).expect("start");
    ours.feed(start, tagged);
    let answer = ours.poll_packets(start);
    assert!(
        answer
            .iter()
            .any(|p| p.get(COMMON_HEADER) == Some(&CHUNK_INIT_ACK)),
        "no INIT ACK"
    );
    // The INIT ACK is addressed to the remote's own tag: it connects.
    for p in answer {
        theirs.feed(start, p);
    }
    let echo = theirs.packets(start);
    assert!(!echo.is_empty(), "no COOKIE ECHO");
    for p in echo {
        ours.feed(start, BytesMut::from(&p[..]));
    }
    assert!(ours.drain().contains(&SctpOutput::Connected));
}
