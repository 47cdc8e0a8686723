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

/// Both sides connect within `limit`, or the test fails naming their states.
fn assert_connects_within(sim: &mut Sim, limit: Duration) {
    assert!(
        connects_within(sim, limit),
        "a={:?} b={:?} after {:?}",
        sim.a().state_names(),
        sim.b().state_names(),
        sim.elapsed()
    );
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
    assert_connects_within(&mut sim, Duration::from_secs(8));
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

/// Drops the first DTLS datagram that carries a ChangeCipherSpec record: the server's final
/// flight (with its Finished), when it is the server's filter.
fn lose_first_change_cipher_spec() -> impl Filter {
    let mut lost = false;
    move |d: &Datagram<'_>| {
        let ccs = dtls_records(d.data).iter().any(|(t, _)| *t == 20);
        if ccs && !lost {
            lost = true;
            return Verdict::Drop;
        }
        Verdict::Deliver
    }
}

#[test]
fn the_servers_final_flight_lost_after_the_clients_second_flight_was_repeated() {
    // B's (client's) flight 5 is lost: A repeats flight 4, which silences rtc-dtls at B, so B's
    // flight 5 goes out again as it was (FlightKeeper). A completes and its final flight is
    // lost too. B's next copy of flight 5 reaches A's replay window, so rtc-dtls at A does not
    // answer it: A must send its final flight again itself (FinalFlight). Without that, B
    // waited until A failed at the SCTP deadline (seen through the impairing relay at 20 %).
    let mut sim = Sim::new(SimConfig::default());
    sim.set_filter(B, lose_first_flight_with(CLIENT_KEY_EXCHANGE));
    sim.set_filter(A, lose_first_change_cipher_spec());
    sim.signal();
    assert_connects_within(&mut sim, Duration::from_secs(8));
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

/// Setups (of [`LOSSY_SETUPS`]) allowed to fail at 20 % loss (KNOWN_ISSUES.md, "SCTP setup under
/// very heavy loss"). None of these 200 fails today; of 2,000 seeds, 7 did (0.35 %: many INITs
/// lost while the roles switch, and one rtc-dtls client giving up).
const LOSSY_SETUP_FAILURES: usize = 1;
const LOSSY_SETUPS: u64 = 200;

/// [`LOSSY_SETUPS`] setups, each losing 20 % of the datagrams each way from the first (ICE,
/// DTLS, SCTP and the channel's DCEP open alike): all but [`LOSSY_SETUP_FAILURES`] connect with
/// the offerer's channel open at both ends. Prints the distribution of the setup times
/// (virtual time, from the offer) and the seeds that failed.
#[test]
fn setups_complete_at_20_percent_loss() {
    let mut times = Vec::new();
    let mut failed = Vec::new();
    for seed in 0..LOSSY_SETUPS {
        let mut sim = Sim::new(SimConfig::default());
        let key = sim.create_channel(A, "early", None);
        sim.set_filter(A, loss(seed + 1_000, 20));
        sim.set_filter(B, loss(seed + 2_000, 20));
        sim.signal();
        let open = sim.run_until(Duration::from_secs(45), |s| {
            !s.b().remote_channels().is_empty()
                && s.a()
                    .channel_states(key)
                    .iter()
                    .any(|(_, st)| *st == crate::types::ChannelState::Open)
        });
        if open {
            times.push(sim.elapsed());
        } else {
            failed.push((seed, sim.a().state_names(), sim.b().state_names()));
        }
    }
    times.sort();
    let at = |q: usize| times[(times.len() - 1) * q / 100];
    println!(
        "setups at 20 % loss (virtual time): {} of {LOSSY_SETUPS} connected; median {:.2?}, 90th \
         percentile {:.2?}, slowest {:.2?}; failed (seed, a, b): {failed:?}",
        times.len(),
        at(50),
        at(90),
        at(100)
    );
    assert!(
        failed.len() <= LOSSY_SETUP_FAILURES,
        "{} setups failed: {failed:?}",
        failed.len()
    );
}

const APPLICATION_DATA: u8 = 23;

/// Drops the side's DTLS application-data datagrams number `first..=last` (counting from 1).
fn lose_application_datagrams(first: usize, last: usize) -> impl Filter {
    let mut seen = 0;
    move |d: &Datagram<'_>| {
        if d.kind != Kind::Dtls(APPLICATION_DATA) {
            return Verdict::Deliver;
        }
        seen += 1;
        if (first..=last).contains(&seen) {
            Verdict::Drop
        } else {
            Verdict::Deliver
        }
    }
}

#[test]
fn four_cookie_acks_lost_in_a_row() {
    // A is the DTLS server, so the SCTP server: its first application data is the INIT ACK,
    // the next ones the COOKIE ACKs answering each COOKIE ECHO of B. With rtc-sctp's doubling
    // (echoes 1, 2, 4, 8 s apart) the fifth echo came after B's 10 s deadline; repeated every
    // second it comes 4 s after the first.
    let mut sim = Sim::new(SimConfig::default());
    sim.set_filter(A, lose_application_datagrams(2, 5));
    sim.signal();
    assert_connects_within(&mut sim, Duration::from_secs(8));
}

const CHANGE_CIPHER_SPEC: u8 = 20;

#[test]
fn the_remote_finishing_dtls_late_still_gets_its_time_for_sctp() {
    // A (DTLS server) completes its handshake at once, but its final flight (ChangeCipherSpec,
    // Finished) is lost for 6 s, so B completes only then; and A's SCTP packets are lost for
    // 11 s, so no association can form before. A's 10 s for SCTP start over with each flight B
    // repeats meanwhile; before, A gave up at 10 s, with B's DTLS up for only 4 s of them.
    let mut sim = Sim::new(SimConfig::default());
    sim.set_filter(A, move |d: &Datagram<'_>| {
        let lost = match d.kind {
            Kind::Dtls(CHANGE_CIPHER_SPEC) => d.at < Duration::from_secs(6),
            Kind::Dtls(APPLICATION_DATA) => d.at < Duration::from_secs(11),
            _ => false,
        };
        if lost {
            Verdict::Drop
        } else {
            Verdict::Deliver
        }
    });
    sim.signal();
    assert_connects_within(&mut sim, Duration::from_secs(25));
    assert!(
        sim.a().reached(Connected) > Some(Duration::from_secs(11)),
        "A connected before its SCTP packets could arrive: the test lost nothing"
    );
}
