//! Connections that cannot finish or lose their remote end must end, never hang: a DTLS
//! handshake nobody starts, an SCTP association the remote never answers, a remote that
//! vanishes after connecting (what `kill -9` of the other process looks like on the wire).
//! These run with the real timers (30 s setup deadline, ICE's 5 s + 25 s), so each takes about
//! half a minute; they run in parallel.

mod common;
use common::udp_proxy::{Mode, UdpProxy};
use common::*;
use std::fmt;
use std::time::{Duration, Instant};
use webrtc_rs_engine::*;

/// The engine's setup deadline (DTLS + SCTP after ICE selected a pair).
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Slack for a shared, loaded machine.
const SLACK: Duration = Duration::from_secs(8);
/// rtc-ice's keepalive (and state check) interval: how long before a cut the last packet may be.
const KEEPALIVE: Duration = Duration::from_secs(2);

/// Connection states a peer went through, with when it was first seen in them (since `clock`).
struct Watched {
    peer: Peer,
    states: Vec<(ConnectionState, Duration)>,
    clock: Instant,
}

impl Watched {
    fn new() -> Self {
        Self {
            peer: Peer::new(config()),
            states: Vec::new(),
            clock: Instant::now(),
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

impl fmt::Debug for Watched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?}, {:?} on the clock, states {:?}",
            self.peer,
            self.clock.elapsed(),
            self.states
        )
    }
}

/// The peer's side, recording each state change; every candidate must be accepted.
impl Side for Watched {
    fn poll_signals(&mut self) {
        self.peer.poll();
        let s = self.state();
        if self.states.last().map(|(last, _)| *last) != Some(s) {
            self.states.push((s, self.clock.elapsed()));
        }
    }
    fn drain_candidates(&mut self) -> Vec<Candidate> {
        self.peer.drain_candidates()
    }
    fn add_remote_candidate(&mut self, c: &Candidate) {
        self.peer
            .pc
            .add_ice_candidate(&c.mid, c.index, &c.line)
            .expect("add candidate");
    }
    fn start_offer(&mut self) {
        self.peer.start_offer();
    }
    fn has_description(&self) -> bool {
        self.peer.has_description()
    }
    fn take_description(&mut self) -> Option<Description> {
        self.peer.take_description()
    }
    fn apply_local(&mut self, d: &Description) {
        self.peer.apply_local(d);
    }
    fn apply_remote(&mut self, d: &Description) {
        self.peer.apply_remote(d);
    }
    fn is_connected(&self) -> bool {
        self.peer.is_connected()
    }
}

/// Two watched peers and the path between them: direct, or through a relay.
struct Pair<'p> {
    a: Watched,
    b: Watched,
    proxy: Option<&'p UdpProxy>,
}

impl<'p> Pair<'p> {
    /// Offer/answer over the path, each description through `edit` on its way, `a` with a
    /// channel created beforehand; the clocks start when signalling ends.
    fn signalled(proxy: Option<&'p UdpProxy>, edit: fn(&str) -> String) -> (Self, DataChannel) {
        let mut pair = Pair {
            a: Watched::new(),
            b: Watched::new(),
            proxy,
        };
        let channel = pair
            .a
            .peer
            .pc
            .create_data_channel("data", ChannelOptions::default())
            .expect("create channel");
        pair.pump()
            .rewrite_offer(edit)
            .rewrite_answer(edit)
            .signal(&mut pair.a, &mut pair.b);
        pair.restart_clocks();
        (pair, channel)
    }

    /// [`Pair::signalled`] through `proxy`, then pumps until both sides are CONNECTED and the
    /// channel is open at both ends; returns the pair and both ends.
    fn connected(proxy: &'p UdpProxy) -> (Self, DataChannel, DataChannel) {
        let (mut pair, x) = Pair::signalled(Some(proxy), unedited);
        pair.until(TIMEOUT, "connected", |a, b| {
            a.state() == ConnectionState::Connected
                && b.state() == ConnectionState::Connected
                && x.ready_state() == ChannelState::Open
                && !b.peer.incoming.is_empty()
        });
        let y = pair.b.peer.incoming[0].clone();
        (pair, x, y)
    }

    /// A pump whose candidates point at the relay, if any, instead of at the other peer.
    fn pump(&self) -> Pump<'p> {
        let pump = Pump::new();
        let Some(proxy) = self.proxy else {
            return pump;
        };
        pump.rewrite_candidates(move |from, c| {
            Some(match from {
                Origin::A => proxy.candidate_from_a(c),
                Origin::B => proxy.candidate_from_b(c),
            })
        })
    }

    /// Pumps until `cond`; panics after `limit`, naming `what`.
    fn until(
        &mut self,
        limit: Duration,
        what: &str,
        cond: impl FnMut(&mut Watched, &mut Watched) -> bool,
    ) {
        self.pump()
            .with_limit(limit)
            .until(&mut self.a, &mut self.b, what, cond);
    }

    /// Times the states of both sides from now on.
    fn restart_clocks(&mut self) {
        let now = Instant::now();
        self.a.clock = now;
        self.b.clock = now;
    }

    /// Times the states of both sides from now on, forgetting those seen so far.
    fn start_over(&mut self) {
        self.restart_clocks();
        self.a.states.clear();
        self.b.states.clear();
    }
}

/// A description as it was sent.
fn unedited(sdp: &str) -> String {
    sdp.to_owned()
}

/// A description that tells the other side this one is the DTLS client.
fn to_active(sdp: &str) -> String {
    assert!(sdp.contains("a=setup:"), "no a=setup in {sdp}");
    sdp.replace("a=setup:actpass", "a=setup:active")
        .replace("a=setup:passive", "a=setup:active")
}

fn both_failed(a: &mut Watched, b: &mut Watched) -> bool {
    a.state() == ConnectionState::Failed && b.state() == ConnectionState::Failed
}

fn both_ended(a: &mut Watched, b: &mut Watched) -> bool {
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
    let (mut p, channel) = Pair::signalled(None, to_active);
    p.until(SETUP_TIMEOUT + SLACK, "both ended", both_ended);
    assert_setup_failed(&p.a, &p.b, &channel, "DTLS never started", false);
}

#[test]
fn sctp_association_never_answered_fails_at_the_setup_deadline() {
    // DTLS completes through the relay but every application data record (SCTP) is dropped:
    // what aiortc did when it refused the handshake after finishing it.
    let proxy = UdpProxy::start(Mode::DropApplicationData);
    let (mut p, channel) = Pair::signalled(Some(&proxy), unedited);
    p.until(SETUP_TIMEOUT + SLACK, "both ended", both_ended);
    assert!(
        proxy.dropped_application_records() > 0,
        "DTLS never carried SCTP, so this did not test the SCTP deadline"
    );
    // DTLS is up, so the side that gives up first sends close_notify, which the relay passes.
    assert_setup_failed(&p.a, &p.b, &channel, "SCTP never answered", true);
}

#[test]
fn remote_that_vanishes_is_disconnected_then_failed_and_channels_close() {
    let proxy = UdpProxy::start(Mode::Forward);
    let (mut p, x, y) = Pair::connected(&proxy);
    x.send(b"before", true).expect("send");
    p.until(TIMEOUT, "the message before the cut", |_, _| {
        y.available() > 0
    });

    // The remote is gone: nothing arrives any more, no close, no alert.
    proxy.set_mode(Mode::Drop);
    p.start_over();
    // Data sent into the void is accepted and simply never acknowledged.
    x.send(b"into the void", true).expect("send after the cut");
    p.until(Duration::from_secs(30) + SLACK, "both FAILED", both_failed);
    eprintln!("after the cut: a {:?}, b {:?}", p.a.states, p.b.states);
    for (name, w, ch) in [("a", &p.a, &x), ("b", &p.b, &y)] {
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
    let (mut p, x, y) = Pair::connected(&proxy);

    proxy.set_mode(Mode::Drop);
    p.start_over();
    p.until(TIMEOUT, "DISCONNECTED", |a, b| {
        a.state() == ConnectionState::Disconnected && b.state() == ConnectionState::Disconnected
    });
    // Sent while the path is down: SCTP retransmits it once the path is back.
    x.send(b"while down", true)
        .expect("send while disconnected");
    assert_eq!(
        x.ready_state(),
        ChannelState::Open,
        "channel closed while DISCONNECTED"
    );

    proxy.set_mode(Mode::Forward);
    p.until(TIMEOUT, "recovery", |a, b| {
        a.state() == ConnectionState::Connected
            && b.state() == ConnectionState::Connected
            && y.available() > 0
    });
    eprintln!("cut and restored: a {:?}, b {:?}", p.a.states, p.b.states);
    let m = y.recv().expect("message");
    assert_eq!(m.data.as_ref(), b"while down");
    assert!(p.a.reached(ConnectionState::Failed).is_none());
    assert!(p.b.reached(ConnectionState::Failed).is_none());
}

#[test]
fn connectivity_checks_never_answered_fail() {
    // Candidates point at the relay, which swallows everything: ICE never gets a response.
    let proxy = UdpProxy::start(Mode::Drop);
    let (mut p, channel) = Pair::signalled(Some(&proxy), unedited);
    p.until(Duration::from_secs(30) + SLACK, "both FAILED", both_failed);
    // rtc-ice gives up after its disconnected + failed timeouts (5 s + 25 s) in checking.
    assert_setup_failed(&p.a, &p.b, &channel, "ICE never answered", false);
}
