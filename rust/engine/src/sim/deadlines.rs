//! Connections that cannot finish or lose their remote end must end, never hang, at the times
//! the Timings table of `lib.rs` gives; on the virtual clock, so each case runs in
//! milliseconds and every time is exact.

use super::*;
use crate::core::{ASSOCIATION_TIMEOUT, ATTEMPT_PERIOD, CLIENT_LAG, SETUP_TIMEOUT};
use crate::types::{ChannelState, ConnectionState};
use ConnectionState::{Closed, Connected, Connecting, Disconnected, Failed};

/// rtc-ice: DISCONNECTED once nothing arrived for 5 s, FAILED 25 s later.
const DISCONNECTED_AFTER: Duration = Duration::from_secs(5);
const FAILED_AFTER: Duration = Duration::from_secs(30);
/// rtc-ice checks the selected pair this often once connected...
const KEEPALIVE: Duration = Duration::from_secs(2);
/// ...and checks candidates this often while connecting.
const CHECK_INTERVAL: Duration = Duration::from_millis(200);

/// Asserts that `who`, silent since its last STUN packet, went DISCONNECTED and FAILED as
/// `liveness` says (within one keepalive: ICE notices at its next check), each after `since`.
/// Returns (the last packet, when FAILED).
fn assert_silence_timings(
    sim: &Sim,
    who: Who,
    since: Duration,
    liveness: &crate::types::Liveness,
) -> (Duration, Duration) {
    let side = sim.side(who);
    // ICE's clock starts at the last packet that arrived (STUN: DTLS does not count).
    let last = sim.last_delivered(who, Kind::is_stun).expect("STUN");
    let slack = liveness.keepalive_interval;
    for (state, after) in [
        (Disconnected, liveness.disconnected_after),
        (Failed, liveness.failed_after),
    ] {
        let at = side.reached_after(state, since).expect("state reached");
        assert!(
            at > last + after && at <= last + after + slack,
            "{who:?}: {state:?} at {at:?}, last packet {last:?}, {:?}",
            side.states()
        );
    }
    let failed = side.reached_after(Failed, since).expect("FAILED");
    (last, failed)
}

/// The default liveness timings, which the Timings table of lib.rs gives.
fn default_liveness() -> crate::types::Liveness {
    let l = crate::types::Liveness::default();
    assert_eq!(
        (l.disconnected_after, l.failed_after, l.keepalive_interval),
        (DISCONNECTED_AFTER, FAILED_AFTER, KEEPALIVE)
    );
    l
}

fn ended(s: &Side) -> bool {
    matches!(s.state(), Failed | Closed)
}

fn both_ended(sim: &Sim) -> bool {
    ended(sim.a()) && ended(sim.b())
}

fn both(state: ConnectionState) -> impl Fn(&Sim) -> bool {
    move |sim| sim.a().state() == state && sim.b().state() == state
}

/// When each side's ICE agent selected the pair: the controlled side (B) when A's nominating
/// check reaches it, the controlling side (A) when B's answer to that check reaches it.
fn selected_at(sim: &Sim) -> (Duration, Duration) {
    let i = sim
        .wire
        .iter()
        .position(|w| w.from == A && w.kind == Kind::StunRequest { nominate: true })
        .expect("A never nominated a pair");
    let at_b = sim.wire[i].delivered[0];
    let answer = sim.wire[i..]
        .iter()
        .find(|w| w.from == B && w.kind == Kind::StunOther && w.sent >= at_b)
        .expect("B never answered the nomination");
    (answer.delivered[0], at_b)
}

/// A setup that cannot complete: each side went CONNECTING -> `end` exactly at its setup
/// deadline, and the channel created beforehand reports closed with it.
fn assert_ended_at_deadline(
    sim: &Sim,
    who: Who,
    end: &[ConnectionState],
    deadline: Duration,
    channel: Option<ChannelKey>,
) {
    let side = sim.side(who);
    let (at, state) = *side.states().last().expect("states");
    assert!(end.contains(&state), "{who:?}: {:?}", side.states());
    assert_eq!(side.state_names(), [Connecting, state], "{who:?}");
    assert_eq!(at, deadline, "{who:?}: {:?}", side.states());
    if let Some(key) = channel {
        assert_eq!(
            side.channel_states(key),
            [(at, ChannelState::Closed)],
            "{who:?}'s channel"
        );
    }
}

#[test]
fn dtls_handshake_nobody_starts_fails_at_the_setup_deadline() {
    // Both are told the other is the DTLS client (a=setup:active both ways), so both wait as
    // DTLS servers for a ClientHello that never comes. ICE connects.
    let mut sim = Sim::new(SimConfig::default());
    let ch = sim.create_channel(A, "data", None);
    sim.signal_with(|_, d| d.setup = Setup::Active);
    assert!(sim.run_until(SETUP_TIMEOUT + KEEPALIVE, both(Failed)));
    let (a_sel, b_sel) = selected_at(&sim);
    assert_ended_at_deadline(&sim, A, &[Failed], a_sel + SETUP_TIMEOUT, Some(ch));
    assert_ended_at_deadline(&sim, B, &[Failed], b_sel + SETUP_TIMEOUT, None);
    assert!(
        sim.wire.iter().all(|w| !w.kind.is_dtls()),
        "somebody spoke DTLS"
    );
    assert!(sim.b().remote_channels().is_empty());
}

/// When `who` sent SCTP packets (datagrams whose first DTLS record is application data),
/// counted from `since`.
fn sctp_sent(sim: &Sim, who: Who, since: Duration) -> Vec<Duration> {
    sim.wire
        .iter()
        .filter(|w| w.from == who && w.kind == Kind::Dtls(DTLS_APPLICATION_DATA))
        .map(|w| w.sent - since)
        .collect()
}

fn secs(s: &[f64]) -> Vec<Duration> {
    s.iter().map(|&s| Duration::from_secs_f64(s)).collect()
}

/// Both sides' DTLS connected: A (the DTLS server) when B's last flight reached it, B when
/// A's answer to it came back one latency later.
fn dtls_up(sim: &Sim) -> (Duration, Duration) {
    let a = sim.dtls_connected(A).expect("A's DTLS connected");
    let b = sim.dtls_connected(B).expect("B's DTLS connected");
    assert_eq!(b, a + sim.latency());
    (a, b)
}

#[test]
fn sctp_association_never_answered_is_tried_in_both_roles_then_fails() {
    // DTLS completes, but every application data record (SCTP) is lost: what aiortc did when
    // it refused the handshake after finishing it, and what a stack that waits for INIT in
    // the same role as ours looks like.
    let mut sim = Sim::new(SimConfig::default());
    let ch = sim.create_channel(A, "data", None);
    sim.set_filter(A, drop_application_data());
    sim.set_filter(B, drop_application_data());
    sim.signal();
    assert!(sim.run_until(SETUP_TIMEOUT + KEEPALIVE, both_ended));
    assert!(
        sim.wire
            .iter()
            .any(|w| matches!(w.fate, Fate::Dropped | Fate::Replaced)),
        "DTLS never carried SCTP, so this did not test the SCTP deadline"
    );
    let (a_up, b_up) = dtls_up(&sim);
    // A's deadline fires first: FAILED, and its close_notify (which the path passes) reaches B
    // exactly when B's own deadline is due. B ends then, CLOSED by the close_notify or FAILED
    // by its deadline.
    assert_ended_at_deadline(&sim, A, &[Failed], a_up + ASSOCIATION_TIMEOUT, Some(ch));
    assert_ended_at_deadline(&sim, B, &[Closed, Failed], b_up + ASSOCIATION_TIMEOUT, None);
    // The attempts, every 2 s: A (DTLS server) waits, then sends INIT from 2.5 s (0.5 s late,
    // so B already listens), waits again from 4 s, sends from 6.5 s, waits from 8 s. B (DTLS
    // client) sends INIT at once, listens from 2 s, sends from 4.5 s, listens from 6 s, sends
    // from 8.5 s. rtc-sctp repeats an INIT after 1 s, then 2 s: twice per client attempt.
    assert_eq!(
        [ATTEMPT_PERIOD, CLIENT_LAG],
        [Duration::from_secs(2), Duration::from_millis(500)]
    );
    assert_eq!(sctp_sent(&sim, A, a_up), secs(&[2.5, 3.5, 6.5, 7.5]));
    assert_eq!(
        sctp_sent(&sim, B, b_up),
        secs(&[0.0, 1.0, 4.5, 5.5, 8.5, 9.5])
    );
}

#[test]
fn sctp_attempt_in_the_other_role_connects_when_the_first_is_never_answered() {
    // B's first two SCTP packets (its INIT and the INIT repeated 1 s later) are lost, as if A
    // were a stack that ignores an INIT: after 2 s B listens, and A, after 2.5 s, sends INIT.
    let mut sim = Sim::new(SimConfig::default());
    let ch = sim.create_channel(A, "data", None);
    let mut lost = 0;
    sim.set_filter(B, move |d: &Datagram<'_>| {
        if d.kind == Kind::Dtls(DTLS_APPLICATION_DATA) && lost < 2 {
            lost += 1;
            Verdict::Drop
        } else {
            Verdict::Deliver
        }
    });
    sim.signal();
    assert!(sim.run_until(Duration::from_secs(10), both(Connected)));
    let (a_up, b_up) = dtls_up(&sim);
    let lat = sim.latency();
    // Only B's two INITs were lost.
    let dropped: Vec<Duration> = sim
        .wire
        .iter()
        .filter(|w| w.fate == Fate::Dropped)
        .map(|w| w.sent - b_up)
        .collect();
    assert_eq!(dropped, secs(&[0.0, 1.0]));
    // A's INIT at 2.5 s; B answers (INIT ACK), A echoes the cookie, B is up (3 latencies);
    // B's COOKIE ACK reaches A (4 latencies).
    let init = a_up + ATTEMPT_PERIOD + CLIENT_LAG;
    assert_eq!(sctp_sent(&sim, A, a_up)[0], init - a_up);
    assert_eq!(sim.b().reached(Connected), Some(init + 3 * lat));
    assert_eq!(sim.a().reached(Connected), Some(init + 4 * lat));
    for who in [A, B] {
        assert_eq!(sim.side(who).state_names(), [Connecting, Connected]);
    }
    // The association works: A's channel opens on both sides and carries a message.
    assert!(sim.run_until(Duration::from_secs(1), |s| {
        s.a().channel_state(ch) == ChannelState::Open && !s.b().remote_channels().is_empty()
    }));
    let y = sim.b().remote_channels()[0].0;
    sim.send(A, ch, b"hello", true);
    assert!(sim.run_until(Duration::from_secs(1), |s| !s.b().messages(y).is_empty()));
}

#[test]
fn sctp_init_repeated_after_a_lost_init_ack_is_answered() {
    // A's INIT ACK is lost; B repeats its INIT 1 s later and A answers that one.
    let mut sim = Sim::new(SimConfig::default());
    let ch = sim.create_channel(A, "data", None);
    let mut lost = 0;
    sim.set_filter(A, move |d: &Datagram<'_>| {
        if d.kind == Kind::Dtls(DTLS_APPLICATION_DATA) && lost < 1 {
            lost += 1;
            Verdict::Drop
        } else {
            Verdict::Deliver
        }
    });
    sim.signal();
    assert!(sim.run_until(Duration::from_secs(5), both(Connected)));
    let (_, b_up) = dtls_up(&sim);
    let lat = sim.latency();
    let repeated = b_up + Duration::from_secs(1);
    assert_eq!(sctp_sent(&sim, B, b_up)[..2], secs(&[0.0, 1.0]));
    assert_eq!(sim.a().reached(Connected), Some(repeated + 3 * lat));
    assert_eq!(sim.b().reached(Connected), Some(repeated + 4 * lat));
    assert!(sim.run_until(Duration::from_secs(1), |s| {
        s.a().channel_state(ch) == ChannelState::Open && !s.b().remote_channels().is_empty()
    }));
}

#[test]
fn connectivity_checks_never_answered_fail() {
    let mut sim = Sim::new(SimConfig::default());
    let ch = sim.create_channel(A, "data", None);
    sim.cut_path();
    sim.signal();
    assert!(sim.run_until(FAILED_AFTER + KEEPALIVE, both(Failed)));
    // rtc-ice gives up once it has been checking for longer than 5 s + 25 s; it looks every
    // check interval.
    for who in [A, B] {
        let side = sim.side(who);
        let failed = side.reached(Failed).expect("FAILED");
        assert!(
            failed > FAILED_AFTER && failed <= FAILED_AFTER + CHECK_INTERVAL,
            "{who:?}: {:?}",
            side.states()
        );
        assert_eq!(side.state_names(), [Connecting, Failed], "{who:?}");
    }
    assert_eq!(
        sim.a().channel_states(ch),
        [(
            sim.a().reached(Failed).expect("FAILED"),
            ChannelState::Closed
        )]
    );
}

/// Connected, with a channel from A open on both sides and one message delivered.
fn connected_with_channel() -> (Sim, ChannelKey, ChannelKey) {
    let mut sim = Sim::connected();
    let x = sim.create_channel(A, "data", None);
    assert!(sim.run_until(Duration::from_secs(1), |s| {
        s.a().channel_state(x) == ChannelState::Open && !s.b().remote_channels().is_empty()
    }));
    let y = sim.b().remote_channels()[0].0;
    sim.send(A, x, b"before", true);
    assert!(sim.run_until(Duration::from_secs(1), |s| !s.b().messages(y).is_empty()));
    (sim, x, y)
}

#[test]
fn remote_that_vanishes_is_disconnected_then_failed_and_channels_close() {
    let (mut sim, x, y) = connected_with_channel();
    sim.run_for(Duration::from_millis(1500));
    // The remote is gone: nothing arrives any more, no close, no alert.
    let cut = sim.elapsed();
    sim.cut_path();
    // Data sent into the void is accepted and simply never acknowledged.
    sim.send(A, x, b"into the void", true);
    assert!(sim.run_until(FAILED_AFTER + KEEPALIVE, both(Failed)));
    let liveness = default_liveness();
    for (who, key) in [(A, x), (B, y)] {
        let side = sim.side(who);
        let (last, failed) = assert_silence_timings(&sim, who, cut, &liveness);
        assert!(
            last <= cut && cut - last <= KEEPALIVE,
            "{who:?}: last {last:?}"
        );
        assert_eq!(
            side.state_names(),
            [Connecting, Connected, Disconnected, Failed],
            "{who:?}"
        );
        // The channel stays open while DISCONNECTED and closes with FAILED.
        assert_eq!(
            side.channel_states(key).last(),
            Some(&(failed, ChannelState::Closed)),
            "{who:?}"
        );
        assert_eq!(side.buffered(key), 0);
    }
    assert_eq!(
        sim.b().messages(y).len(),
        1,
        "only the message before the cut"
    );
}

#[test]
fn path_that_comes_back_before_the_failure_recovers() {
    let (mut sim, x, y) = connected_with_channel();
    let cut = sim.elapsed();
    sim.cut_path();
    assert!(sim.run_until(DISCONNECTED_AFTER + KEEPALIVE, both(Disconnected)));
    // Sent while the path is down: SCTP retransmits it once the path is back.
    sim.send(A, x, b"while down", true);
    sim.run_for(Duration::from_secs(5));
    assert_eq!(sim.a().channel_state(x), ChannelState::Open);
    let restored = sim.elapsed();
    sim.restore_path();
    assert!(sim.run_until(FAILED_AFTER, |s| {
        both(Connected)(s) && s.b().messages(y).len() == 2
    }));
    for who in [A, B] {
        let side = sim.side(who);
        let back = side.reached_after(Connected, cut).expect("CONNECTED again");
        // The next keepalive exchange after the path is back.
        assert!(
            back > restored && back <= restored + KEEPALIVE + 2 * sim.latency(),
            "{who:?}: restored at {restored:?}: {:?}",
            side.states()
        );
        assert_eq!(
            side.state_names(),
            [Connecting, Connected, Disconnected, Connected],
            "{who:?}"
        );
    }
    let (at, m) = &sim.b().messages(y)[1];
    assert_eq!(m.data.as_ref(), b"while down");
    // Delivered by the first SCTP retransmission after the path is back.
    let first = sim
        .wire
        .iter()
        .find(|w| w.from == A && w.sent >= restored && w.kind == Kind::Dtls(DTLS_APPLICATION_DATA))
        .expect("A sent nothing after the path came back");
    assert_eq!(first.delivered, [*at]);
    // Nothing fails later either.
    sim.run_for(FAILED_AFTER + KEEPALIVE);
    assert_eq!(sim.a().state(), Connected);
    assert_eq!(sim.b().state(), Connected);
    assert_eq!(sim.a().buffered(x), 0);
}

#[test]
fn path_lost_in_one_direction_fails_the_side_that_hears_nothing_first() {
    // A's datagrams are lost from now on; B's still arrive.
    let (mut sim, x, y) = connected_with_channel();
    let cut = sim.elapsed();
    sim.set_filter(A, drop_after(cut));
    assert!(sim.run_until(2 * (FAILED_AFTER + KEEPALIVE), both(Failed)));
    // B hears nothing: DISCONNECTED and FAILED as for a vanished remote. A still hears B's
    // checks (rtc-ice counts any STUN from the remote as a sign of life, not only answers to
    // its own checks) until B gives up; B sends nothing after that (no close either: consent
    // is gone, RFC 7675), so A's clock starts at B's last check.
    let b_failed = sim.b().reached(Failed).expect("B FAILED");
    let liveness = default_liveness();
    for (who, key) in [(B, y), (A, x)] {
        let side = sim.side(who);
        let (_, failed) = assert_silence_timings(&sim, who, Duration::ZERO, &liveness);
        assert_eq!(
            side.state_names(),
            [Connecting, Connected, Disconnected, Failed],
            "{who:?}"
        );
        assert_eq!(
            side.channel_states(key).last(),
            Some(&(failed, ChannelState::Closed)),
            "{who:?}"
        );
    }
    let last_to_a = sim.last_delivered(A, Kind::is_stun).expect("STUN");
    assert!(last_to_a > b_failed - KEEPALIVE && last_to_a <= b_failed);
    assert!(
        sim.wire.iter().all(|w| w.from != B || w.sent < b_failed),
        "B sent after FAILED"
    );
}

#[test]
fn shorter_liveness_timings_are_honoured() {
    // What a game sets through initialize(): DISCONNECTED after 1 s of silence, FAILED after
    // 3 s, the pair checked every 250 ms.
    let liveness = crate::types::Liveness {
        disconnected_after: Duration::from_secs(1),
        failed_after: Duration::from_secs(3),
        keepalive_interval: Duration::from_millis(250),
    };
    let side = SideConfig {
        liveness: liveness.clone(),
        ..SideConfig::default()
    };
    let mut sim = Sim::new(SimConfig {
        a: side.clone(),
        b: side,
        ..SimConfig::default()
    });
    sim.signal();
    assert!(sim.run_until(Duration::from_secs(5), both(Connected)));
    sim.run_for(Duration::from_millis(1500));
    let cut = sim.elapsed();
    sim.cut_path();
    assert!(sim.run_until(Duration::from_secs(5), both(Failed)));
    for who in [A, B] {
        let (last, _) = assert_silence_timings(&sim, who, cut, &liveness);
        let slack = liveness.keepalive_interval;
        assert!(last <= cut && cut - last <= slack, "{who:?}: last {last:?}");
    }
}
