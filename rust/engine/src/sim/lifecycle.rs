//! Lifecycle timings on the virtual clock: a healthy connection stays up, a close reaches the
//! remote within one trip, a bad fingerprint fails both sides at once.

use super::*;
use crate::sdp::Fingerprint;
use crate::types::{ChannelState, ConnectionState};
use ConnectionState::{Closed, Connected, Connecting, Failed};

fn both_open(sim: &mut Sim, x: ChannelKey) -> ChannelKey {
    let label = "c";
    assert!(sim.run_until(Duration::from_secs(1), |s| {
        s.a().channel_state(x) == ChannelState::Open
            && s.b().remote_channels().iter().any(|(_, l)| l == label)
    }));
    let remote = sim.b().remote_channels();
    remote.last().map(|(k, _)| *k).expect("remote channel")
}

#[test]
fn healthy_connection_stays_connected_for_ten_minutes() {
    let mut sim = Sim::connected();
    let x = sim.create_channel(A, "c", None);
    let y = both_open(&mut sim, x);
    // Past the setup deadline, many keepalives and SCTP heartbeats.
    sim.run_for(Duration::from_secs(600));
    for who in [A, B] {
        assert_eq!(
            sim.side(who).state_names(),
            [Connecting, Connected],
            "{who:?}"
        );
    }
    assert_eq!(
        sim.a().channel_states(x).len(),
        1,
        "{:?}",
        sim.a().channel_states(x)
    );
    assert!(
        sim.b().channel_states(y).is_empty(),
        "a remote channel starts open"
    );
    sim.send(B, y, b"still here", false);
    let sent = sim.elapsed();
    assert!(sim.run_until(Duration::from_secs(1), |s| !s.a().messages(x).is_empty()));
    let (at, m) = &sim.a().messages(x)[0];
    assert_eq!(m.data.as_ref(), b"still here");
    assert_eq!(*at, sent + sim.latency(), "one trip, no retransmission");
}

#[test]
fn connection_close_reaches_the_remote_within_one_trip() {
    let mut sim = Sim::connected();
    let x = sim.create_channel(A, "c", None);
    let y = both_open(&mut sim, x);
    let n1 = sim.create_channel(A, "n", Some(100));
    let n2 = sim.create_channel(B, "n", Some(100));
    sim.run_for(Duration::from_millis(100));
    assert_eq!(sim.a().channel_state(n1), ChannelState::Open);
    assert_eq!(sim.b().channel_state(n2), ChannelState::Open);
    let closed = sim.elapsed();
    sim.close(A);
    assert!(sim.a().core.is_finished());
    assert_eq!(sim.a().states().last(), Some(&(closed, Closed)));
    for key in [x, n1] {
        assert_eq!(
            sim.a().channel_states(key).last(),
            Some(&(closed, ChannelState::Closed))
        );
    }
    assert!(sim.run_until(Duration::from_secs(1), |s| s.b().state() == Closed));
    let arrived = closed + sim.latency();
    assert_eq!(sim.b().states().last(), Some(&(arrived, Closed)));
    for key in [y, n2] {
        assert_eq!(
            sim.b().channel_states(key).last(),
            Some(&(arrived, ChannelState::Closed))
        );
    }
    assert_eq!(sim.b().state_names(), [Connecting, Connected, Closed]);
}

#[test]
fn channel_close_reaches_the_remote() {
    let mut sim = Sim::connected();
    let x = sim.create_channel(A, "c", None);
    let y = both_open(&mut sim, x);
    let keep = sim.create_channel(A, "keep", None);
    sim.run_for(Duration::from_millis(100));
    let keep_remote = sim.b().remote_channels()[1].0;
    sim.send(A, x, b"last", true);
    let closing = sim.elapsed();
    sim.close_channel(A, x);
    assert!(sim.run_until(Duration::from_secs(1), |s| {
        s.a().channel_state(x) == ChannelState::Closed
            && s.b().channel_state(y) == ChannelState::Closed
    }));
    // The stream reset goes out with the last message and is answered: two trips.
    let (b_at, _) = *sim.b().channel_states(y).last().expect("closed");
    let (a_at, _) = *sim.a().channel_states(x).last().expect("closed");
    assert!(
        b_at <= closing + 2 * sim.latency(),
        "B saw the reset at {b_at:?}"
    );
    assert!(
        a_at <= closing + 4 * sim.latency(),
        "A saw it done at {a_at:?}"
    );
    let got = sim.b().messages(y);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1.data.as_ref(), b"last");
    assert!(got[0].0 <= b_at, "the message before the close");
    // The connection and the other channel are unaffected.
    sim.send(B, keep_remote, b"still", false);
    assert!(sim.run_until(Duration::from_secs(1), |s| !s.a().messages(keep).is_empty()));
    for who in [A, B] {
        assert_eq!(sim.side(who).state(), Connected);
    }
}

/// The fingerprint with its last byte changed.
fn tampered(fps: &mut [Fingerprint]) {
    if let Some(b) = fps.first_mut().and_then(|f| f.value.last_mut()) {
        *b ^= 1;
    }
}

/// Both sides FAILED without ever connecting, the checker first and the other when its
/// alert arrives, both within the handshake's first flights (no DTLS retransmission, 1 s).
fn assert_fingerprint_failure(sim: &mut Sim, checker: Who, ch: ChannelKey) {
    assert!(sim.run_until(Duration::from_secs(5), |s| {
        s.a().state() == Failed && s.b().state() == Failed
    }));
    for who in [A, B] {
        assert_eq!(sim.side(who).state_names(), [Connecting, Failed], "{who:?}");
    }
    let first = sim.side(checker).reached(Failed).expect("FAILED");
    let second = sim.side(checker.other()).reached(Failed).expect("FAILED");
    assert!(first < Duration::from_millis(200), "{first:?}");
    assert_eq!(second, first + sim.latency(), "the alert's trip");
    assert_eq!(sim.a().channel_state(ch), ChannelState::Closed);
    assert!(sim.b().remote_channels().is_empty(), "no channel opens");
    assert!(
        sim.wire
            .iter()
            .any(|w| w.from == checker && w.kind == Kind::Dtls(DTLS_ALERT)),
        "no alert"
    );
}

#[test]
fn wrong_fingerprint_in_the_offer_fails_both_sides_at_once() {
    // B (the DTLS client) checks A's certificate against a tampered fingerprint.
    let mut sim = Sim::new(SimConfig::default());
    let ch = sim.create_channel(A, "c", None);
    sim.signal_with(|to, d| {
        if to == B {
            tampered(&mut d.fingerprints)
        }
    });
    assert_fingerprint_failure(&mut sim, B, ch);
}

#[test]
fn wrong_fingerprint_in_the_answer_fails_both_sides_at_once() {
    // A (the DTLS server) rejects B's certificate; B learns it from the fatal alert in the
    // middle of its handshake and must not wait for a deadline.
    let mut sim = Sim::new(SimConfig::default());
    let ch = sim.create_channel(A, "c", None);
    sim.signal_with(|to, d| {
        if to == A {
            tampered(&mut d.fingerprints)
        }
    });
    assert_fingerprint_failure(&mut sim, A, ch);
}
