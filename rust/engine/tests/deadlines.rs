//! Connections that cannot finish or lose their remote end must end, never hang: a DTLS
//! handshake nobody starts, an SCTP association the remote never answers, a remote that
//! vanishes after connecting (what `kill -9` of the other process looks like on the wire).
//! These run with the real timers (30 s setup deadline, ICE's 5 s + 25 s), so each takes about
//! half a minute; they run in parallel.

mod common;
#[path = "common/udp_proxy.rs"]
mod udp_proxy;
use common::*;
use std::time::{Duration, Instant};
use udp_proxy::{Mode, UdpProxy};
use webrtc_rs_engine::*;

/// The engine's setup deadline (DTLS + SCTP after ICE selected a pair).
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Slack for a shared, loaded machine.
const SLACK: Duration = Duration::from_secs(8);
/// rtc-ice's keepalive (and state check) interval: how long before a cut the last packet may be.
const KEEPALIVE: Duration = Duration::from_secs(2);

/// Connection states a peer went through, with when it was first seen in them.
struct Watched {
    peer: Peer,
    states: Vec<(ConnectionState, Duration)>,
}

impl Watched {
    fn new() -> Self {
        Self {
            peer: Peer::new(config()),
            states: Vec::new(),
        }
    }

    fn poll(&mut self, since: Instant) {
        self.peer.poll();
        let s = self.peer.pc.connection_state();
        if self.states.last().map(|(last, _)| *last) != Some(s) {
            self.states.push((s, since.elapsed()));
        }
    }

    fn reached(&self, state: ConnectionState) -> Option<Duration> {
        self.states
            .iter()
            .find(|(s, _)| *s == state)
            .map(|(_, t)| *t)
    }

    fn state(&self) -> ConnectionState {
        self.peer.pc.connection_state()
    }
}

/// Polls both peers and hands each one's candidates to the other, through `proxy` if any.
fn pump(a: &mut Watched, b: &mut Watched, proxy: Option<&UdpProxy>, since: Instant) {
    a.poll(since);
    b.poll(since);
    for c in a.peer.candidates.drain(..) {
        let c = proxy.map_or(c.clone(), |p| p.candidate_from_a(&c));
        b.peer
            .pc
            .add_ice_candidate("0", 0, &c)
            .expect("add candidate");
    }
    for c in b.peer.candidates.drain(..) {
        let c = proxy.map_or(c.clone(), |p| p.candidate_from_b(&c));
        a.peer
            .pc
            .add_ice_candidate("0", 0, &c)
            .expect("add candidate");
    }
}

/// Runs offer/answer (`a` offers), passing each description through its edit.
fn signal_edited(
    a: &mut Watched,
    b: &mut Watched,
    proxy: Option<&UdpProxy>,
    edit_offer: impl Fn(&str) -> String,
    edit_answer: impl Fn(&str) -> String,
) {
    let start = Instant::now();
    a.peer.pc.create_offer().expect("create offer");
    let offer = loop {
        pump(a, b, proxy, start);
        if let Some((_, sdp)) = a.peer.take_description() {
            break sdp;
        }
        assert!(start.elapsed() < TIMEOUT, "no offer");
        std::thread::sleep(Duration::from_millis(2));
    };
    a.peer
        .pc
        .set_local_description(SdpType::Offer, &offer)
        .expect("set local offer");
    b.peer
        .pc
        .set_remote_description(SdpType::Offer, &edit_offer(&offer))
        .expect("set remote offer");
    let answer = loop {
        pump(a, b, proxy, start);
        if let Some((_, sdp)) = b.peer.take_description() {
            break sdp;
        }
        assert!(start.elapsed() < TIMEOUT, "no answer");
        std::thread::sleep(Duration::from_millis(2));
    };
    b.peer
        .pc
        .set_local_description(SdpType::Answer, &answer)
        .expect("set local answer");
    a.peer
        .pc
        .set_remote_description(SdpType::Answer, &edit_answer(&answer))
        .expect("set remote answer");
}

/// Pumps until `cond` or `limit`; returns whether `cond` held.
fn pump_for(
    a: &mut Watched,
    b: &mut Watched,
    proxy: Option<&UdpProxy>,
    since: Instant,
    limit: Duration,
    mut cond: impl FnMut(&Watched, &Watched) -> bool,
) -> bool {
    let start = Instant::now();
    loop {
        pump(a, b, proxy, since);
        if cond(a, b) {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn both_failed(a: &Watched, b: &Watched) -> bool {
    a.state() == ConnectionState::Failed && b.state() == ConnectionState::Failed
}

fn both_ended(a: &Watched, b: &Watched) -> bool {
    let ended =
        |w: &Watched| matches!(w.state(), ConnectionState::Failed | ConnectionState::Closed);
    ended(a) && ended(b)
}

/// Asserts a setup that cannot complete ends at the deadline, not before, never CONNECTED, and
/// the channel created beforehand reports closed. Both sides end FAILED, except that with
/// `peer_may_close` the side whose deadline fires second may first receive the other's DTLS
/// close_notify and end CLOSED instead; at least one side must be FAILED.
fn assert_setup_failed(
    a: &Watched,
    b: &Watched,
    channel: &DataChannel,
    what: &str,
    peer_may_close: bool,
) {
    eprintln!("{what}: offerer {:?}, answerer {:?}", a.states, b.states);
    for (name, w) in [("offerer", a), ("answerer", b)] {
        let (end, at) = *w.states.last().expect("states");
        let allowed = if peer_may_close {
            matches!(end, ConnectionState::Failed | ConnectionState::Closed)
        } else {
            end == ConnectionState::Failed
        };
        assert!(allowed, "{what}: {name} ended {end:?}: {:?}", w.states);
        assert!(
            at >= SETUP_TIMEOUT - Duration::from_secs(1),
            "{what}: {name} ended after {at:?}, before the setup deadline: {:?}",
            w.states
        );
        assert_eq!(
            w.states.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            vec![ConnectionState::New, ConnectionState::Connecting, end],
            "{what}: {name}"
        );
    }
    assert!(
        a.state() == ConnectionState::Failed || b.state() == ConnectionState::Failed,
        "{what}: neither side FAILED"
    );
    assert_eq!(channel.ready_state(), ChannelState::Closed, "{what}");
}

#[test]
fn dtls_handshake_nobody_starts_fails_at_the_setup_deadline() {
    // Both sides are told the other is the DTLS client (a=setup:active both ways), so both
    // wait as DTLS servers for a ClientHello that never comes. ICE connects.
    let mut a = Watched::new();
    let mut b = Watched::new();
    let channel = a
        .peer
        .pc
        .create_data_channel("data", ChannelOptions::default())
        .expect("create channel");
    let to_active = |sdp: &str| {
        assert!(sdp.contains("a=setup:"), "no a=setup in {sdp}");
        sdp.replace("a=setup:actpass", "a=setup:active")
            .replace("a=setup:passive", "a=setup:active")
    };
    signal_edited(&mut a, &mut b, None, to_active, to_active);
    let since = Instant::now();
    let ended = pump_for(
        &mut a,
        &mut b,
        None,
        since,
        SETUP_TIMEOUT + SLACK,
        both_ended,
    );
    assert!(
        ended,
        "still not FAILED {:?} after signalling: a={:?} b={:?}",
        since.elapsed(),
        a.states,
        b.states
    );
    assert_setup_failed(&a, &b, &channel, "DTLS never started", false);
}

#[test]
fn sctp_association_never_answered_fails_at_the_setup_deadline() {
    // DTLS completes through the relay but every application data record (SCTP) is dropped:
    // what aiortc did when it refused the handshake after finishing it.
    let proxy = UdpProxy::start(Mode::DropApplicationData);
    let mut a = Watched::new();
    let mut b = Watched::new();
    let channel = a
        .peer
        .pc
        .create_data_channel("data", ChannelOptions::default())
        .expect("create channel");
    let same = |sdp: &str| sdp.to_owned();
    signal_edited(&mut a, &mut b, Some(&proxy), same, same);
    let since = Instant::now();
    let ended = pump_for(
        &mut a,
        &mut b,
        Some(&proxy),
        since,
        SETUP_TIMEOUT + SLACK,
        both_ended,
    );
    assert!(
        ended,
        "still not ended {:?} after signalling: a={:?} b={:?}",
        since.elapsed(),
        a.states,
        b.states
    );
    assert!(
        proxy.dropped_application_records() > 0,
        "DTLS never carried SCTP, so this did not test the SCTP deadline"
    );
    // DTLS is up, so the side that gives up first sends close_notify, which the relay passes.
    assert_setup_failed(&a, &b, &channel, "SCTP never answered", true);
}

#[test]
fn remote_that_vanishes_is_disconnected_then_failed_and_channels_close() {
    let proxy = UdpProxy::start(Mode::Forward);
    let mut a = Watched::new();
    let mut b = Watched::new();
    let x = a
        .peer
        .pc
        .create_data_channel("data", ChannelOptions::default())
        .expect("create channel");
    let same = |sdp: &str| sdp.to_owned();
    signal_edited(&mut a, &mut b, Some(&proxy), same, same);
    let start = Instant::now();
    let up = pump_for(&mut a, &mut b, Some(&proxy), start, TIMEOUT, |a, b| {
        a.state() == ConnectionState::Connected
            && b.state() == ConnectionState::Connected
            && x.ready_state() == ChannelState::Open
            && !b.peer.incoming.is_empty()
    });
    assert!(up, "not connected: a={:?} b={:?}", a.states, b.states);
    let y = b.peer.incoming[0].clone();
    x.send(b"before", true).expect("send");
    let got = pump_for(&mut a, &mut b, Some(&proxy), start, TIMEOUT, |_, _| {
        y.available() > 0
    });
    assert!(got, "message before the cut did not arrive");

    // The remote is gone: nothing arrives any more, no close, no alert.
    proxy.set_mode(Mode::Drop);
    let cut = Instant::now();
    a.states.clear();
    b.states.clear();
    // Data sent into the void is accepted and simply never acknowledged.
    x.send(b"into the void", true).expect("send after the cut");
    let ended = pump_for(
        &mut a,
        &mut b,
        Some(&proxy),
        cut,
        Duration::from_secs(30) + SLACK,
        both_failed,
    );
    assert!(
        ended,
        "not FAILED {:?} after the cut: a={:?} b={:?}",
        cut.elapsed(),
        a.states,
        b.states
    );
    eprintln!("after the cut: a {:?}, b {:?}", a.states, b.states);
    for (name, w, ch) in [("a", &a, &x), ("b", &b, &y)] {
        let disconnected = w
            .reached(ConnectionState::Disconnected)
            .unwrap_or_else(|| panic!("{name} never reported DISCONNECTED: {:?}", w.states));
        let failed = w
            .reached(ConnectionState::Failed)
            .unwrap_or_else(|| panic!("{name} never reported FAILED: {:?}", w.states));
        // rtc-ice: DISCONNECTED after 5 s without a packet, FAILED 25 s later, checked every
        // 2 s (keepalive interval). The clock starts at the last packet received, which can
        // precede the cut by up to one keepalive interval.
        assert!(
            disconnected >= Duration::from_secs(5) - KEEPALIVE
                && disconnected <= Duration::from_secs(5) + SLACK,
            "{name}: DISCONNECTED after {disconnected:?}: {:?}",
            w.states
        );
        assert!(
            failed >= Duration::from_secs(30) - KEEPALIVE
                && failed <= Duration::from_secs(30) + SLACK,
            "{name}: FAILED after {failed:?}: {:?}",
            w.states
        );
        assert_eq!(
            w.states.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            vec![
                ConnectionState::Connected,
                ConnectionState::Disconnected,
                ConnectionState::Failed
            ],
            "{name}"
        );
        assert_eq!(ch.ready_state(), ChannelState::Closed, "{name}'s channel");
        assert!(
            ch.send(b"after", true).is_err(),
            "{name}: send on a closed channel accepted"
        );
    }
}

#[test]
fn path_that_comes_back_before_the_failure_recovers() {
    let proxy = UdpProxy::start(Mode::Forward);
    let mut a = Watched::new();
    let mut b = Watched::new();
    let x = a
        .peer
        .pc
        .create_data_channel("data", ChannelOptions::default())
        .expect("create channel");
    let same = |sdp: &str| sdp.to_owned();
    signal_edited(&mut a, &mut b, Some(&proxy), same, same);
    let start = Instant::now();
    let up = pump_for(&mut a, &mut b, Some(&proxy), start, TIMEOUT, |a, b| {
        a.state() == ConnectionState::Connected
            && b.state() == ConnectionState::Connected
            && !b.peer.incoming.is_empty()
    });
    assert!(up, "not connected: a={:?} b={:?}", a.states, b.states);
    let y = b.peer.incoming[0].clone();

    proxy.set_mode(Mode::Drop);
    let cut = Instant::now();
    a.states.clear();
    b.states.clear();
    let down = pump_for(&mut a, &mut b, Some(&proxy), cut, TIMEOUT, |a, b| {
        a.state() == ConnectionState::Disconnected && b.state() == ConnectionState::Disconnected
    });
    assert!(down, "not DISCONNECTED: a={:?} b={:?}", a.states, b.states);
    // Sent while the path is down: SCTP retransmits it once the path is back.
    x.send(b"while down", true)
        .expect("send while disconnected");
    assert_eq!(
        x.ready_state(),
        ChannelState::Open,
        "channel closed while DISCONNECTED"
    );

    proxy.set_mode(Mode::Forward);
    let back = pump_for(&mut a, &mut b, Some(&proxy), cut, TIMEOUT, |a, b| {
        a.state() == ConnectionState::Connected
            && b.state() == ConnectionState::Connected
            && y.available() > 0
    });
    assert!(back, "did not recover: a={:?} b={:?}", a.states, b.states);
    eprintln!("cut and restored: a {:?}, b {:?}", a.states, b.states);
    let m = y.recv().expect("message");
    assert_eq!(m.data.as_ref(), b"while down");
    assert!(a.reached(ConnectionState::Failed).is_none());
    assert!(b.reached(ConnectionState::Failed).is_none());
}

#[test]
fn connectivity_checks_never_answered_fail() {
    // Candidates point at the relay, which swallows everything: ICE never gets a response.
    let proxy = UdpProxy::start(Mode::Drop);
    let mut a = Watched::new();
    let mut b = Watched::new();
    let channel = a
        .peer
        .pc
        .create_data_channel("data", ChannelOptions::default())
        .expect("create channel");
    let same = |sdp: &str| sdp.to_owned();
    signal_edited(&mut a, &mut b, Some(&proxy), same, same);
    let since = Instant::now();
    let ended = pump_for(
        &mut a,
        &mut b,
        Some(&proxy),
        since,
        Duration::from_secs(30) + SLACK,
        both_failed,
    );
    assert!(
        ended,
        "still not FAILED {:?} after signalling: a={:?} b={:?}",
        since.elapsed(),
        a.states,
        b.states
    );
    // rtc-ice gives up after its disconnected + failed timeouts (5 s + 25 s) in checking.
    assert_setup_failed(&a, &b, &channel, "ICE never answered", false);
}
