//! DTLS handshakes that lose a flight still complete, on the virtual clock. rtc-dtls stops
//! retransmitting once it receives handshake records that do not complete the flight it waits
//! for (KNOWN_ISSUES.md); the peer repeating its previous flight is exactly that.

use super::*;
use crate::types::ConnectionState::Connected;

const HANDSHAKE: u8 = 22;
/// Handshake message types of the client's second flight (flight 5).
const CERTIFICATE: u8 = 11;
const CLIENT_KEY_EXCHANGE: u8 = 16;
/// ... and of the server's first answer (flight 4).
const SERVER_HELLO: u8 = 2;

/// Whether the datagram carries a plaintext handshake message of type `msg`.
fn carries(d: &Datagram<'_>, msg: u8) -> bool {
    dtls_records(d.data)
        .iter()
        .any(|(t, r)| *t == HANDSHAKE && r.len() > 13 && r[3..5] == [0, 0] && r[13] == msg)
}

/// Drops every DTLS datagram of the first flight that contains `msg` (all sent within 50 ms
/// of the first one); later retransmissions pass.
fn lose_first_flight_with(msg: u8) -> impl Filter {
    let mut window: Option<Duration> = None;
    move |d: &Datagram<'_>| {
        if !d.kind.is_dtls() {
            return Verdict::Deliver;
        }
        if window.is_none() && carries(d, msg) {
            window = Some(d.at + Duration::from_millis(50));
        }
        match window {
            Some(end) if d.at < end => Verdict::Drop,
            _ => Verdict::Deliver,
        }
    }
}

fn connects_within(sim: &mut Sim, limit: Duration) -> bool {
    sim.run_until(limit, |s| {
        s.a().state() == Connected && s.b().state() == Connected
    })
}

#[test]
fn the_clients_second_flight_lost_once() {
    // B answers, so B is the DTLS client. Its flight 5 is lost; A (server) repeats flight 4,
    // which used to silence B for good: both failed at the setup deadline.
    let mut sim = Sim::new(SimConfig::default());
    sim.set_filter(B, lose_first_flight_with(CLIENT_KEY_EXCHANGE));
    sim.signal();
    assert!(
        connects_within(&mut sim, Duration::from_secs(8)),
        "a={:?} b={:?} after {:?}",
        sim.a().state_names(),
        sim.b().state_names(),
        sim.elapsed()
    );
}

#[test]
fn the_clients_certificate_lost_twice() {
    let mut sim = Sim::new(SimConfig::default());
    let mut first = lose_first_flight_with(CERTIFICATE);
    let mut lost = 0;
    let mut second_until: Option<Duration> = None;
    sim.set_filter(B, move |d: &Datagram<'_>| {
        // The first flight 5 as the first filter decides, then the next one too.
        match first.verdict(d) {
            Verdict::Drop => {
                lost = 1;
                return Verdict::Drop;
            }
            _ if lost == 1 && d.kind.is_dtls() && carries(d, CERTIFICATE) => {
                second_until.get_or_insert(d.at + Duration::from_millis(50));
            }
            _ => {}
        }
        match second_until {
            Some(end) if d.at < end => Verdict::Drop,
            _ => Verdict::Deliver,
        }
    });
    sim.signal();
    assert!(
        connects_within(&mut sim, Duration::from_secs(15)),
        "a={:?} b={:?}",
        sim.a().state_names(),
        sim.b().state_names()
    );
}

#[test]
fn the_servers_first_answer_lost_once() {
    let mut sim = Sim::new(SimConfig::default());
    sim.set_filter(A, lose_first_flight_with(SERVER_HELLO));
    sim.signal();
    assert!(
        connects_within(&mut sim, Duration::from_secs(8)),
        "a={:?} b={:?}",
        sim.a().state_names(),
        sim.b().state_names()
    );
}

#[test]
fn a_channel_made_before_the_offer_opens_after_a_lossy_setup() {
    for seed in 0..20 {
        let mut sim = Sim::new(SimConfig::default());
        let key = sim.create_channel(A, "early", None);
        sim.set_filter(A, loss(seed, 10));
        sim.set_filter(B, loss(seed + 100, 10));
        sim.signal();
        let open = sim.run_until(Duration::from_secs(30), |s| {
            !s.b().remote_channels().is_empty()
                && s.a()
                    .channel_states(key)
                    .iter()
                    .any(|(_, st)| *st == crate::types::ChannelState::Open)
        });
        assert!(
            open,
            "seed {seed}: a={:?} b={:?} a's channel {:?} after {:?}",
            sim.a().state_names(),
            sim.b().state_names(),
            sim.a().channel_states(key),
            sim.elapsed()
        );
    }
}
