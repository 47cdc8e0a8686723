//! [`Relays`](crate::relay::Relays) against a scripted TURN server on the virtual clock:
//! allocation retransmissions and deadlines, refusals, the authenticated success, permissions,
//! queued data, refreshes and deallocation, with exact times.

use super::turn_server::*;
use super::turn_sim::TurnSim;
use crate::relay::{RelayEvent, ALLOCATE_TIMEOUT, REFRESH_CAP, WAITING_LIMIT};
use rtc_shared::TransportProtocol::{TCP, UDP};
use rtc_stun::attributes::{ATTR_MESSAGE_INTEGRITY, ATTR_NONCE, ATTR_REQUESTED_TRANSPORT};
use rtc_stun::message::*;
use rtc_stun::textattrs::TextAttribute;
use rtc_turn::proto::lifetime::Lifetime;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

const MS: Duration = Duration::from_millis(1);
/// One trip between client and server ([`TurnSim::latency`]).
const TRIP: Duration = Duration::from_millis(10);

fn peer(n: u8) -> SocketAddr {
    SocketAddr::from(([203, 0, 113, n], 40000))
}

/// The times (since the start) at which requests of `method` reached the server.
fn arrivals(sim: &TurnSim, method: Method) -> Vec<Duration> {
    sim.requests(method).into_iter().map(|(t, _)| t).collect()
}

/// Distinct CreatePermission transactions for `p` (retransmissions count once).
fn permission_transactions(sim: &TurnSim, p: SocketAddr) -> usize {
    sim.requests(METHOD_CREATE_PERMISSION)
        .into_iter()
        .filter(|(_, m)| super::turn_server::peers(m).contains(&p))
        .map(|(_, m)| m.transaction_id.0)
        .collect::<BTreeSet<_>>()
        .len()
}

/// Allocated over UDP by the default server (challenge, then success): at 4 trips.
fn allocated() -> TurnSim {
    let mut sim = TurnSim::new();
    sim.allocate(UDP);
    sim.run_for(4 * TRIP);
    assert_eq!(sim.relays.pending(), 0);
    assert!(sim.relays.is_relayed(addr(RELAYED)));
    sim
}

#[test]
fn unanswered_allocate_over_udp_is_retransmitted_then_given_up() {
    let mut sim = TurnSim::new();
    sim.server.challenge = Answer::Silent;
    sim.allocate(UDP);
    assert_eq!(sim.relays.pending(), 1);
    sim.run_for(Duration::from_secs(60));
    // rtc-turn's schedule: RTO 200 ms doubling up to 1.6 s, seven requests in all, given up
    // when the last one's timer runs out (7.8 s) -- before ALLOCATE_TIMEOUT.
    let sent_at: Vec<Duration> = [0, 200, 600, 1400, 3000, 4600, 6200]
        .into_iter()
        .map(|ms| MS * ms + TRIP)
        .collect();
    assert_eq!(arrivals(&sim, METHOD_ALLOCATE), sent_at);
    assert_eq!(sim.failed(), (1, Some(MS * 7800)));
    assert!(MS * 7800 < ALLOCATE_TIMEOUT);
    assert_eq!(sim.relays.pending(), 0);
    assert_eq!(
        sim.relays.poll_timeout(),
        None,
        "a timer left after failing"
    );
}

#[test]
fn unanswered_allocate_over_tcp_is_given_up_at_the_allocate_timeout() {
    // Over TCP rtc-turn sends once and would wait 39.5 s.
    let mut sim = TurnSim::new();
    sim.server.challenge = Answer::Silent;
    sim.allocate(TCP);
    sim.run_for(Duration::from_secs(60));
    assert_eq!(arrivals(&sim, METHOD_ALLOCATE), [TRIP]);
    assert_eq!(sim.failed(), (1, Some(ALLOCATE_TIMEOUT)));
    assert_eq!(sim.relays.pending(), 0);
    assert_eq!(
        sim.relays.poll_timeout(),
        None,
        "a timer left after failing"
    );
}

#[test]
fn late_challenge_then_silence_is_given_up_at_the_allocate_timeout() {
    // The server answers only the fifth request (sent at 3.0 s) with its challenge, then
    // never answers the authenticated Allocate, whose own retransmissions would end at
    // 10.82 s: the allocation deadline (10 s after the first request) ends it first.
    let mut sim = TurnSim::new();
    sim.server.ignore_allocates = 4;
    sim.server.allocate = Answer::Silent;
    sim.allocate(UDP);
    sim.run_for(Duration::from_secs(60));
    let challenged = MS * 3000 + 2 * TRIP;
    let sent_at: Vec<Duration> = [0, 200, 600, 1400, 3000]
        .into_iter()
        .map(|ms| MS * ms + TRIP)
        .chain(
            [0, 200, 600, 1400, 3000, 4600, 6200]
                .into_iter()
                .map(|ms| challenged + MS * ms + TRIP),
        )
        .collect();
    assert_eq!(arrivals(&sim, METHOD_ALLOCATE), sent_at);
    assert_eq!(sim.failed(), (1, Some(ALLOCATE_TIMEOUT)));
    assert_eq!(sim.server.bad_integrity, 0);
    assert_eq!(
        sim.relays.poll_timeout(),
        None,
        "a timer left after failing"
    );
}

#[test]
fn unauthorized_twice_fails() {
    // Wrong credentials: the authenticated Allocate is refused with 401 again.
    let mut sim = TurnSim::new();
    sim.server.allocate = Answer::Refuse(401);
    sim.allocate(UDP);
    sim.run_for(Duration::from_secs(60));
    assert_eq!(arrivals(&sim, METHOD_ALLOCATE), [TRIP, 3 * TRIP]);
    assert_eq!(sim.failed(), (1, Some(4 * TRIP)));
    assert!(!sim.relays.is_relayed(addr(RELAYED)));
    assert_eq!(sim.relays.poll_timeout(), None);
}

#[test]
fn error_answers_fail() {
    // An error without a nonce to the first request, and one to the authenticated request.
    for (challenge, allocate, at) in [
        (Answer::Refuse(500), Answer::Grant, 2 * TRIP),
        (Answer::Grant, Answer::Refuse(486), 4 * TRIP),
    ] {
        let mut sim = TurnSim::new();
        sim.server.challenge = challenge;
        sim.server.allocate = allocate;
        sim.allocate(UDP);
        sim.run_for(Duration::from_secs(60));
        assert_eq!(sim.failed(), (1, Some(at)), "{challenge:?} {allocate:?}");
        assert_eq!(sim.relays.pending(), 0);
        assert!(sim
            .events
            .iter()
            .all(|(_, e)| matches!(e, RelayEvent::Failed { .. })));
    }
}

#[test]
fn authenticated_allocation_yields_the_relayed_address() {
    let sim = allocated();
    let allocated: Vec<(Duration, SocketAddr, SocketAddr)> = sim
        .events
        .iter()
        .filter_map(|(t, e)| match e {
            RelayEvent::Allocated { local, relayed, .. } => Some((*t, *local, *relayed)),
            _ => None,
        })
        .collect();
    assert_eq!(allocated, [(4 * TRIP, addr(LOCAL), addr(RELAYED))]);
    assert_eq!(sim.failed().0, 0);
    let requests = sim.requests(METHOD_ALLOCATE);
    assert_eq!(requests.len(), 2);
    // The first asks without credentials; the second carries the challenge's nonce, the
    // requested transport and a MESSAGE-INTEGRITY the server could check.
    assert!(!requests[0].1.contains(ATTR_MESSAGE_INTEGRITY));
    assert!(requests[1].1.contains(ATTR_MESSAGE_INTEGRITY));
    assert!(requests[1].1.contains(ATTR_REQUESTED_TRANSPORT));
    let nonce = TextAttribute::get_from_as(requests[1].1, ATTR_NONCE).expect("nonce");
    assert_eq!(nonce.text, sim.server.nonce);
    assert_eq!(sim.server.bad_integrity, 0);
    assert!(sim.relays.is_server(addr(LOCAL), addr(SERVER)));
}

#[test]
fn permission_is_requested_once_per_peer_and_data_waits_for_it() {
    let mut sim = allocated();
    sim.server.permission = Answer::Hold;
    let (p, q) = (peer(1), peer(2));
    sim.add_peer(p);
    sim.send(p, b"one");
    sim.send(p, b"two");
    sim.add_peer(p);
    sim.send(q, b"for q");
    sim.send(q, b"for q again");
    // Within one retransmission timeout: nothing is answered, nothing repeated.
    sim.run_for(MS * 150);
    assert_eq!(permission_transactions(&sim, p), 1);
    assert_eq!(permission_transactions(&sim, q), 1);
    assert_eq!(sim.requests(METHOD_CREATE_PERMISSION).len(), 2);
    assert!(sim.relayed_to(p).is_empty() && sim.relayed_to(q).is_empty());
    // Granted: what waited goes out, in order, and later data goes straight through.
    sim.release_held();
    sim.run_for(2 * TRIP);
    sim.send(p, b"three");
    sim.run_for(4 * TRIP);
    assert_eq!(sim.relayed_to(p), [&b"one"[..], b"two", b"three"]);
    assert_eq!(sim.relayed_to(q), [&b"for q"[..], b"for q again"]);
    assert_eq!(permission_transactions(&sim, p), 1);
    assert_eq!(sim.server.bad_integrity, 0);
}

#[test]
fn at_most_the_waiting_limit_waits_for_a_permission() {
    let mut sim = allocated();
    sim.server.permission = Answer::Hold;
    let p = peer(1);
    let sent: Vec<Vec<u8>> = (0..WAITING_LIMIT + 4)
        .map(|i| format!("m{i}").into_bytes())
        .collect();
    for m in &sent {
        sim.send(p, m);
    }
    sim.run_for(MS * 150);
    sim.release_held();
    sim.run_for(4 * TRIP);
    assert_eq!(sim.relayed_to(p), sent[..WAITING_LIMIT]);
}

#[test]
fn stale_nonce_on_a_permission_is_retried_with_the_new_one() {
    let mut sim = allocated();
    sim.server.nonce = "nonce-2".to_owned();
    let p = peer(1);
    sim.send(p, b"after 438");
    sim.run_for(6 * TRIP);
    assert_eq!(permission_transactions(&sim, p), 2);
    assert_eq!(sim.relayed_to(p), [&b"after 438"[..]]);
    assert_eq!(sim.server.bad_integrity, 0);
}

#[test]
fn data_from_a_peer_is_unwrapped() {
    let mut sim = allocated();
    let p = peer(1);
    sim.send(p, b"hello");
    sim.run_for(6 * TRIP);
    // Sending bound a channel to the peer: the server may relay either way.
    let bind = sim.requests(METHOD_CHANNEL_BIND);
    assert_eq!(bind.len(), 1);
    let mut number = rtc_turn::proto::channum::ChannelNumber::default();
    number.get_from(bind[0].1).expect("channel number");
    sim.server_sends(data_indication(p, b"by indication"));
    sim.server_sends(channel_data(number.0, b"by channel"));
    sim.run_for(2 * TRIP);
    let data: Vec<(SocketAddr, SocketAddr, Vec<u8>)> = sim
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            RelayEvent::Data {
                relayed,
                peer,
                data,
            } => Some((*relayed, *peer, data.to_vec())),
            _ => None,
        })
        .collect();
    assert_eq!(
        data,
        [
            (addr(RELAYED), p, b"by indication".to_vec()),
            (addr(RELAYED), p, b"by channel".to_vec())
        ]
    );
}

#[test]
fn allocation_and_permissions_are_refreshed_on_time() {
    for (lifetime, every) in [
        (600, REFRESH_CAP),
        (100, Duration::from_secs(50)),
        (4, Duration::from_secs(2)),
    ] {
        let mut sim = TurnSim::new();
        sim.server.lifetime = Duration::from_secs(lifetime);
        sim.allocate(UDP);
        sim.run_for(4 * TRIP);
        sim.add_peer(peer(1));
        sim.run_for(Duration::from_secs(130));
        // The allocation is refreshed at half its lifetime but at least every minute, from
        // when it succeeded (4 trips), then from each refresh's answer (a round trip after
        // it); the permissions every 2 minutes from the allocation.
        let refreshes = arrivals(&sim, METHOD_REFRESH);
        let expected: Vec<Duration> = std::iter::successors(Some(4 * TRIP + every), |sent| {
            Some(*sent + 2 * TRIP + every)
        })
        .map(|sent| sent + TRIP)
        .take_while(|t| *t <= sim.elapsed())
        .collect();
        assert_eq!(refreshes, expected, "lifetime {lifetime}");
        let permissions = arrivals(&sim, METHOD_CREATE_PERMISSION);
        assert_eq!(
            permissions,
            [5 * TRIP, 4 * TRIP + Duration::from_secs(120) + TRIP],
            "lifetime {lifetime}"
        );
        assert_eq!(sim.failed().0, 0);
        assert!(sim.relays.is_relayed(addr(RELAYED)));
    }
}

#[test]
fn close_deallocates_with_a_refresh_of_lifetime_zero() {
    let mut sim = allocated();
    let p = peer(1);
    sim.send(p, b"before");
    sim.run_for(6 * TRIP);
    let closed = sim.elapsed();
    sim.close();
    assert!(
        !sim.relays.released(),
        "released before the server answered"
    );
    // Relayed data is neither sent nor delivered after close.
    sim.send(p, b"after");
    sim.server_sends(data_indication(p, b"late"));
    sim.run_for(2 * TRIP);
    let refresh = sim.requests(METHOD_REFRESH);
    assert_eq!(refresh.len(), 1);
    assert_eq!(refresh[0].0, closed + TRIP);
    let mut lifetime = Lifetime::default();
    lifetime.get_from(refresh[0].1).expect("LIFETIME");
    assert_eq!(lifetime.0, Duration::ZERO);
    assert_eq!(sim.server.bad_integrity, 0);
    assert!(sim.relays.released(), "the server confirmed");
    assert_eq!(sim.relayed_to(p), [&b"before"[..]]);
    assert!(!sim
        .events
        .iter()
        .any(|(_, e)| matches!(e, RelayEvent::Data { .. })));
}
