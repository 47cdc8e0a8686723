//! Two engine peers over real UDP on loopback through the impairing relay (`rust/impair`):
//! delivery and liveness on bad paths. Each test is bounded to a few seconds of real time; the
//! setup and delivery times they measure are printed (`--nocapture` shows them).

mod common;

use common::*;
use impair::{Direction, Impairment, Loss, Relay, Reorder, Stats};
use std::time::{Duration, Instant};
use webrtc_rs_engine::*;

/// A bad path: `loss` random loss, 10 ms delay plus `jitter`, 5 % of datagrams held back
/// 30 ms more, 5 % duplicated.
fn bad_path(loss: f64, jitter: Duration) -> Impairment {
    Impairment {
        loss: Loss::Random(loss),
        delay: Duration::from_millis(10),
        jitter,
        reorder: Some(Reorder {
            probability: 0.05,
            extra: Duration::from_millis(30),
        }),
        duplicate: 0.05,
        ..Default::default()
    }
}

/// Two peers through `relay`, `a` with a channel created before signaling: both connected and
/// the channel open at both ends. Returns both ends of the channel and the setup time (from the
/// offer to the channel open at both ends).
fn connect_through(
    relay: &Relay,
    a: &mut Peer,
    b: &mut Peer,
    options: ChannelOptions,
) -> (DataChannel, DataChannel, Duration) {
    let ch =
        a.pc.create_data_channel("impaired", options)
            .expect("create channel");
    let started = Instant::now();
    let mut pump = through(relay);
    pump.signal(a, b);
    pump.until(a, b, "connected with the channel open", |a, b| {
        connected(a, b) && ch.ready_state() == ChannelState::Open && !b.incoming.is_empty()
    });
    let took = started.elapsed();
    let remote = b.incoming[0].clone();
    (ch, remote, took)
}

/// Message `i` of `len` bytes (at least 4): its index, then a pattern that depends on it.
fn message(i: u32, len: usize) -> Vec<u8> {
    let mut m: Vec<u8> = (0..len).map(|j| (j as u32).wrapping_add(i) as u8).collect();
    m[..4].copy_from_slice(&i.to_be_bytes());
    m
}

fn index_of(m: &Message) -> u32 {
    assert!(m.data.len() >= 4, "a message of {} bytes", m.data.len());
    u32::from_be_bytes([m.data[0], m.data[1], m.data[2], m.data[3]])
}

fn drain(ch: &DataChannel, into: &mut Vec<Message>) {
    while let Some(m) = ch.recv() {
        into.push(m);
    }
}

/// Sends `count` messages of `size` bytes on `x`, one every `every`, through `relay`, then keeps
/// pumping for `settle`; returns what `y` received meanwhile.
fn paced_through(
    relay: &Relay,
    (a, b): (&mut Peer, &mut Peer),
    (x, y): (&DataChannel, &DataChannel),
    count: u32,
    size: usize,
    every: Duration,
    settle: Duration,
) -> Vec<Message> {
    let mut pump = through(relay);
    let mut got = Vec::new();
    let started = Instant::now();
    let mut next = 0;
    pump.until(a, b, "all sent", |_, _| {
        while next < count && started.elapsed() >= every * next {
            x.send(&message(next, size), false).expect("send");
            next += 1;
        }
        drain(y, &mut got);
        next == count
    });
    pump.hold(a, b, settle, |_, _| drain(y, &mut got));
    got
}

/// The path really did what it was asked: some datagrams lost, duplicated and held back (in
/// either direction: a short test sends few datagrams).
fn assert_impaired(relay: &Relay) {
    let (ab, ba) = (relay.stats(Direction::AToB), relay.stats(Direction::BToA));
    let both = |f: fn(&Stats) -> u64| f(&ab) + f(&ba);
    assert!(
        both(|s| s.lost) > 0 && both(|s| s.duplicated) > 0 && both(|s| s.held_back) > 0,
        "a->b {ab:?}, b->a {ba:?}"
    );
}

/// The jitter of the reliable cases (the figure): with 10 ms of delay, a datagram takes
/// 10 to 210 ms, so most of them overtake or are overtaken.
const JITTER: Duration = Duration::from_millis(200);

/// Connects on a clean path, then makes it bad both ways ([`bad_path`] with `loss` and
/// [`JITTER`]) and sends `count` messages of `len` bytes each way on a reliable ordered
/// channel: every one arrives, whole and in order, and is acknowledged.
///
/// rtc-sctp retransmits a lost packet that nothing follows after its retransmission timeout
/// (1 s at least, doubled each time the retransmission or its SACK is lost too), so the time a
/// case takes grows fast with the loss; the counts keep each case to a few seconds.
fn reliable_ordered_delivery(loss: f64, count: u32, len: usize, seed: u64) {
    let relay = Relay::symmetric(Impairment::default(), seed).expect("relay");
    let mut a = Peer::new(config());
    let mut b = Peer::new(config());
    let (x, y, _) = connect_through(&relay, &mut a, &mut b, ChannelOptions::default());
    relay.set_both(bad_path(loss, JITTER)).expect("settings");
    let started = Instant::now();
    for i in 0..count {
        x.send(&message(i, len), false).expect("send a->b");
        y.send(&message(i, len), false).expect("send b->a");
    }
    let (mut at_b, mut at_a) = (Vec::new(), Vec::new());
    let n = count as usize;
    through(&relay).until(&mut a, &mut b, "every message, acknowledged", |_, _| {
        drain(&y, &mut at_b);
        drain(&x, &mut at_a);
        at_b.len() >= n && at_a.len() >= n && x.buffered_amount() == 0 && y.buffered_amount() == 0
    });
    let took = started.elapsed();
    for (who, got) in [("b", &at_b), ("a", &at_a)] {
        assert_eq!(got.len(), n, "{who} got more than was sent");
        for (i, m) in got.iter().enumerate() {
            assert!(
                m.data.as_ref() == message(i as u32, len).as_slice() && !m.is_text,
                "{who}: message {i} is #{} or damaged",
                index_of(m)
            );
        }
    }
    println!(
        "reliable ordered, {:.0} % loss, {}ms jitter (seed {seed}): {count} x {len} B each way, \
         delivered and acknowledged in {took:.2?}; a->b {:?}; b->a {:?}",
        loss * 100.0,
        JITTER.as_millis(),
        relay.stats(Direction::AToB),
        relay.stats(Direction::BToA)
    );
    assert_impaired(&relay);
}

#[test]
fn reliable_ordered_delivers_everything_in_order_at_2_percent_loss() {
    reliable_ordered_delivery(0.02, 100, 1_000, 2);
}

#[test]
fn reliable_ordered_delivers_everything_in_order_at_10_percent_loss() {
    reliable_ordered_delivery(0.10, 100, 300, 10);
}

// At 20 % loss the time this takes has a heavy tail (4 or 5 retransmission timeouts in a row,
// 15 to 31 s, in a few runs in a hundred), which no fixed real-time limit bounds: that case is
// on the virtual clock (`src/sim/data.rs`), where each seed is exact.

/// Loss of the partially reliable cases, in the direction of the data.
const UNRELIABLE_LOSS: f64 = 0.25;

/// A channel with `maxRetransmits: 0` sends each message once. On a clean connection the path
/// a->b starts losing [`UNRELIABLE_LOSS`] of the datagrams (10 ms delay, no jitter: reordering
/// makes SCTP abandon messages that are only late, which would blur the count); `a` sends 300
/// small messages 5 ms apart (about one per datagram). About a quarter is lost and stays lost:
/// had SCTP retransmitted them once, only about 6 % would be. Nothing arrives twice, nothing
/// arrives in the 1.5 s that follow the last send (a retransmission timeout is 1 s at least),
/// and once the path is clean again every new message arrives: the channel never stalls.
fn max_retransmits_zero(ordered: bool, seed: u64) {
    const COUNT: u32 = 300;
    const AFTER: u32 = 20;
    let relay = Relay::symmetric(Impairment::default(), seed).expect("relay");
    let mut a = Peer::new(config());
    let mut b = Peer::new(config());
    let options = ChannelOptions {
        ordered,
        max_retransmits: Some(0),
        ..ChannelOptions::default()
    };
    let (x, y, _) = connect_through(&relay, &mut a, &mut b, options);
    assert_eq!(y.max_retransmits(), Some(0));
    assert_eq!(y.ordered(), ordered);
    let lossy = Impairment {
        loss: Loss::Random(UNRELIABLE_LOSS),
        delay: Duration::from_millis(10),
        ..Default::default()
    };
    relay.set(Direction::AToB, lossy).expect("settings");
    let mut got = paced_through(
        &relay,
        (&mut a, &mut b),
        (&x, &y),
        COUNT,
        100,
        Duration::from_millis(5),
        Duration::from_millis(1_500),
    );
    let arrived = got.len();
    let mut seen: Vec<u32> = got.iter().map(index_of).collect();
    if ordered {
        assert!(
            seen.windows(2).all(|w| w[0] < w[1]),
            "ordered: out of order or twice: {seen:?}"
        );
    }
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), arrived, "a message arrived twice");
    for m in &got {
        assert!(
            m.data.as_ref() == message(index_of(m), 100).as_slice(),
            "damaged"
        );
    }
    let lost = COUNT as usize - arrived;
    let lost_share = lost as f64 / f64::from(COUNT);
    let stats = relay.stats(Direction::AToB);
    println!(
        "maxRetransmits 0, {} ({:.0} % loss a->b, seed {seed}): {arrived} of {COUNT} arrived, \
         {lost} lost ({:.1} %); a->b {stats:?}",
        if ordered { "ordered" } else { "unordered" },
        UNRELIABLE_LOSS * 100.0,
        lost_share * 100.0
    );
    assert!(
        lost_share > 0.15,
        "only {:.1} % of the messages were lost on a path losing {:.0} %: were they retransmitted?",
        lost_share * 100.0,
        UNRELIABLE_LOSS * 100.0
    );
    assert!(lost_share < 0.4, "{lost} of {COUNT} lost");
    // Later messages still arrive, promptly.
    relay
        .set(Direction::AToB, Impairment::default())
        .expect("settings");
    let before = got.len();
    let restarted = Instant::now();
    for i in COUNT..COUNT + AFTER {
        x.send(&message(i, 100), false).expect("send");
    }
    // Earlier messages still on their way (the path delays them) may arrive in between.
    let later = |got: &[Message]| -> Vec<u32> {
        got[before..]
            .iter()
            .map(index_of)
            .filter(|i| *i >= COUNT)
            .collect()
    };
    through(&relay).with_limit(Duration::from_secs(2)).until(
        &mut a,
        &mut b,
        "the messages after",
        |_, _| {
            drain(&y, &mut got);
            later(&got).len() >= AFTER as usize
        },
    );
    let after = later(&got);
    let mut sorted = after.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (COUNT..COUNT + AFTER).collect::<Vec<_>>());
    if ordered {
        assert_eq!(after, sorted, "ordered");
    }
    println!(
        "  then {AFTER} messages on the clean path arrived in {:.2?}",
        restarted.elapsed()
    );
}

#[test]
fn max_retransmits_zero_unordered_loses_messages_for_good_and_never_stalls() {
    max_retransmits_zero(false, 30);
}

/// Ordered, a lost message must only be skipped (FORWARD-TSN), not take later ones with it.
/// With rtc-sctp alone 56 to 92 % of the messages were lost on a path losing 25 % of the
/// datagrams, since it skips a lost message late and one lost FORWARD-TSN held everything
/// behind it for good; `core/sctp_skip.rs` skips it as soon as it is known lost.
#[test]
fn max_retransmits_zero_ordered_skips_lost_messages_and_never_stalls() {
    max_retransmits_zero(true, 31);
}

/// How many connections each handshake test sets up, each on its own relay and seed.
const HANDSHAKES: u64 = 5;

/// [`HANDSHAKES`] connections at once, each through a relay losing `loss` of the datagrams
/// both ways from the first (10 ms delay): ICE, DTLS, SCTP and the channel's DCEP open all
/// complete. Prints the setup times (offer to channel open at both ends).
fn handshakes_complete(loss: f64) {
    let path = Impairment {
        loss: Loss::Random(loss),
        delay: Duration::from_millis(10),
        ..Default::default()
    };
    let mut times: Vec<(u64, Duration, u64)> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..HANDSHAKES)
            .map(|seed| {
                let path = path.clone();
                s.spawn(move || {
                    let relay = Relay::symmetric(path, seed).expect("relay");
                    let mut a = Peer::new(config());
                    let mut b = Peer::new(config());
                    let (x, y, took) =
                        connect_through(&relay, &mut a, &mut b, ChannelOptions::default());
                    assert_eq!(x.ready_state(), ChannelState::Open);
                    assert_eq!(y.label(), "impaired");
                    let lost =
                        relay.stats(Direction::AToB).lost + relay.stats(Direction::BToA).lost;
                    (seed, took, lost)
                })
            })
            .collect();
        runs.into_iter()
            .enumerate()
            .map(|(seed, r)| {
                r.join()
                    .unwrap_or_else(|_| panic!("the handshake with seed {seed} failed"))
            })
            .collect()
    });
    times.sort_by_key(|t| t.1);
    let lost: u64 = times.iter().map(|t| t.2).sum();
    println!(
        "handshakes at {:.0} % loss: setup times {:?} (seed, time, datagrams lost); median {:.2?}",
        loss * 100.0,
        times
            .iter()
            .map(|(seed, t, lost)| format!("{seed}: {t:.2?} ({lost} lost)"))
            .collect::<Vec<_>>(),
        times[times.len() / 2].1
    );
    assert!(lost > 0, "nothing was lost");
}

#[test]
fn handshakes_complete_at_10_percent_loss() {
    handshakes_complete(0.10);
}

/// Only acknowledgements are lost (20 % of the datagrams b->a): an unordered
/// `maxRetransmits: 0` channel should still deliver every one of 150 messages sent 20 ms apart,
/// since a later SACK covers a lost one. With rtc-sctp alone, some losses (seed 7 here; 4 seeds
/// of 5 passed) held messages back and gave some up unsent: 93 of 150 arrived, and the relay
/// saw only 107 datagrams from the sender.
#[test]
fn max_retransmits_zero_unordered_survives_lost_acknowledgements() {
    const COUNT: u32 = 150;
    let relay = Relay::symmetric(Impairment::default(), 7).expect("relay");
    let mut a = Peer::new(config());
    let mut b = Peer::new(config());
    let options = ChannelOptions {
        ordered: false,
        max_retransmits: Some(0),
        ..ChannelOptions::default()
    };
    let (x, y, _) = connect_through(&relay, &mut a, &mut b, options);
    let acks_lost = Impairment {
        loss: Loss::Random(0.2),
        ..Default::default()
    };
    relay.set(Direction::BToA, acks_lost).expect("settings");
    let got = paced_through(
        &relay,
        (&mut a, &mut b),
        (&x, &y),
        COUNT,
        500,
        Duration::from_millis(20),
        Duration::from_millis(500),
    );
    println!(
        "acknowledgements lost: {} of {COUNT} arrived; a->b {:?}",
        got.len(),
        relay.stats(Direction::AToB)
    );
    assert_eq!(got.len(), COUNT as usize);
}

/// See [`handshakes_complete_at_10_percent_loss`]. Passes since the DTLS final flight is sent
/// again when the remote repeats its own (before, seed 2 failed: KNOWN_ISSUES.md), but takes
/// about 15 s (seed 4: six seconds of DTLS retransmissions, then SCTP), too long for every
/// run; the virtual-clock test `sim::handshake::setups_complete_at_20_percent_loss` covers 200
/// such setups in about a second (about 2 % miss the SCTP deadline, KNOWN_ISSUES.md).
#[test]
#[ignore = "about 15 s of real time; covered on the virtual clock by sim::handshake"]
fn handshakes_complete_at_20_percent_loss() {
    handshakes_complete(0.20);
}

/// A connection state as the application saw it.
#[derive(Debug)]
struct Seen {
    /// When, since the cut.
    at: Duration,
    state: ConnectionState,
    /// When the relay had last passed STUN to this side, as of then (the relay's clock).
    last_stun: Option<Duration>,
}

/// Connection states of one side as the application saw them, in order, on the relay's clock.
struct States {
    /// The relay's clock ([`Relay::elapsed`]) when the path was cut.
    cut_at: Duration,
    /// The direction that delivers to this side.
    to_here: Direction,
    seen: Vec<Seen>,
}

impl States {
    fn new(relay: &Relay, to_here: Direction, pc: &PeerConnection) -> Self {
        let mut s = Self {
            cut_at: relay.elapsed(),
            to_here,
            seen: Vec::new(),
        };
        s.record(relay, pc);
        s
    }

    fn record(&mut self, relay: &Relay, pc: &PeerConnection) {
        let now = pc.connection_state();
        if self.seen.last().map(|s| s.state) != Some(now) {
            self.seen.push(Seen {
                at: relay.elapsed().saturating_sub(self.cut_at),
                state: now,
                last_stun: relay.stats(self.to_here).last_stun_delivered,
            });
        }
    }

    fn names(&self) -> Vec<ConnectionState> {
        self.seen.iter().map(|s| s.state).collect()
    }

    fn first(&self, state: ConnectionState) -> Option<&Seen> {
        self.seen.iter().find(|s| s.state == state)
    }

    /// How long this side had heard no STUN when it was seen in `state` (first time): ICE
    /// (rtc-ice) measures silence from the last STUN it received (DTLS and SCTP traffic do
    /// not count), which may be a little before the cut.
    fn silent_for(&self, state: ConnectionState) -> Option<Duration> {
        let seen = self.first(state)?;
        let last = seen.last_stun?;
        Some((self.cut_at + seen.at).saturating_sub(last))
    }
}

/// A reliable channel sending a numbered message every 20 ms while the path is cut both ways
/// for `cut` (from the first send on), then until 300 ms after it is restored; the cut's
/// outcome: every message arrives, in order, and the connection states each side went
/// through (from the cut), printed with their times.
fn cut_path(cut: Duration, seed: u64) -> [States; 2] {
    cut_path_with(cut, seed, config())
}

fn cut_path_with(cut: Duration, seed: u64, config: Config) -> [States; 2] {
    let relay = Relay::symmetric(Impairment::default(), seed).expect("relay");
    let mut a = Peer::new(config.clone());
    let mut b = Peer::new(config);
    let (x, y, _) = connect_through(&relay, &mut a, &mut b, ChannelOptions::default());
    let mut pump = through(&relay);
    let started = Instant::now();
    let mut states = [
        States::new(&relay, Direction::BToA, &a.pc),
        States::new(&relay, Direction::AToB, &b.pc),
    ];
    relay.cut(cut);
    let mut got = Vec::new();
    let mut sent = 0;
    pump.hold(&mut a, &mut b, cut + Duration::from_millis(300), |a, b| {
        while started.elapsed() >= Duration::from_millis(20) * sent {
            x.send(&message(sent, 200), false)
                .expect("send during the cut");
            sent += 1;
        }
        states[0].record(&relay, &a.pc);
        states[1].record(&relay, &b.pc);
        drain(&y, &mut got);
    });
    pump.until(
        &mut a,
        &mut b,
        "every message sent, and CONNECTED",
        |a, b| {
            states[0].record(&relay, &a.pc);
            states[1].record(&relay, &b.pc);
            drain(&y, &mut got);
            got.len() >= sent as usize && connected(a, b) && x.buffered_amount() == 0
        },
    );
    let done = started.elapsed();
    for (i, m) in got.iter().enumerate() {
        assert!(
            m.data.as_ref() == message(i as u32, 200).as_slice(),
            "message {i} is #{} or damaged",
            index_of(m)
        );
    }
    assert_eq!(got.len(), sent as usize);
    let stats = relay.stats(Direction::AToB);
    println!(
        "path cut for {cut:?} at {:?} (relay clock): {sent} messages, all delivered by \
         {done:.2?}; states a {:?}, b {:?}; a->b {stats:?}",
        states[0].cut_at, states[0].seen, states[1].seen
    );
    assert!(stats.cut > 0, "the cut dropped nothing");
    states
}

/// A 3 s cut: no reliable message is lost. The connection stays CONNECTED, as the engine's
/// default timings say (DISCONNECTED after 5 s without a packet); with shorter liveness timings
/// the same cut is reported (next test).
#[test]
fn a_3_second_cut_loses_no_reliable_message_and_stays_connected() {
    let [a, b] = cut_path(Duration::from_secs(3), 40);
    assert_eq!(a.names(), [ConnectionState::Connected], "a: {:?}", a.seen);
    assert_eq!(b.names(), [ConnectionState::Connected], "b: {:?}", b.seen);
}

/// With the liveness timings a game would set (DISCONNECTED after 1 s, FAILED after 10 s, a
/// check every 250 ms), the same 3 s cut is reported: DISCONNECTED 1 s after the last STUN
/// that arrived before the cut (so about 1 s after the cut), CONNECTED again once the path is
/// back, and no reliable message lost.
#[test]
fn a_3_second_cut_with_short_liveness_timings_disconnects_then_reconnects() {
    let cut = Duration::from_secs(3);
    let fast = Config {
        liveness: Liveness {
            disconnected_after: Duration::from_secs(1),
            failed_after: Duration::from_secs(10),
            keepalive_interval: Duration::from_millis(250),
        },
        ..config()
    };
    for (who, s) in ["a", "b"].into_iter().zip(cut_path_with(cut, 42, fast)) {
        use ConnectionState::*;
        assert_eq!(
            s.names(),
            [Connected, Disconnected, Connected],
            "{who}: {:?}",
            s.seen
        );
        let down = s.first(Disconnected).expect("DISCONNECTED").at;
        let silent = s.silent_for(Disconnected).expect("STUN before the cut");
        assert!(
            silent >= Duration::from_secs(1) && down < Duration::from_millis(1500),
            "{who}: DISCONNECTED at {down:?} after the cut, {silent:?} after the last STUN: \
             {:?}",
            s.seen
        );
        let back = s.seen[2].at;
        assert!(
            back >= cut,
            "{who}: CONNECTED again at {back:?}, before the path was back"
        );
    }
}

/// A cut longer than the DISCONNECTED timeout (6 s): both sides go DISCONNECTED once they heard
/// no STUN for 5 s (about 5 s after the cut), CONNECTED again once the path is back, and no
/// reliable message is lost.
///
/// The 5 s count from the last STUN datagram the relay passed to that side before the cut,
/// not from the cut: ICE only counts STUN, and the last check or answer may have arrived a
/// little before the cut (once seen: DISCONNECTED 4.97 s after the cut). The relay times it
/// just before sending, so the bound cannot be met early by the relay's own lag.
#[test]
fn a_6_second_cut_disconnects_then_reconnects_and_loses_no_reliable_message() {
    let cut = Duration::from_secs(6);
    for (who, s) in ["a", "b"].into_iter().zip(cut_path(cut, 41)) {
        use ConnectionState::*;
        assert_eq!(
            s.names(),
            [Connected, Disconnected, Connected],
            "{who}: {:?}",
            s.seen
        );
        let down = s.first(Disconnected).expect("DISCONNECTED").at;
        let silent = s.silent_for(Disconnected).expect("STUN before the cut");
        assert!(
            silent >= Duration::from_secs(5) && down < cut,
            "{who}: DISCONNECTED at {down:?} after the cut, {silent:?} after the last STUN: \
             {:?}",
            s.seen
        );
        let back = s.seen[2].at;
        assert!(
            back >= cut,
            "{who}: CONNECTED again at {back:?}, before the path was back"
        );
    }
}

/// The lifetime of the `maxPacketLifeTime` cases.
const LIFETIME: Duration = Duration::from_millis(200);

/// A channel with `maxPacketLifeTime` ([`LIFETIME`]) transmits or retransmits a message only
/// within that time after it was sent (W3C: "the time during which the channel will transmit or
/// retransmit data"). On a clean connection the path a->b starts losing 20 % of the datagrams
/// after 20 ms plus up to 80 ms of jitter; b->a (the acknowledgements) only delays. `a` sends
/// 300 messages 5 ms apart, each carrying when it was sent. A lost message can be recovered
/// within the lifetime only by a fast retransmission; the retransmission timeout (1 s at least)
/// comes too late, so those messages are dropped for good. Every message that arrives does so
/// within the lifetime plus the path's longest one-way delay (plus scheduling slack): none is
/// delivered late. Messages keep arriving throughout (no gap longer than the lifetime plus
/// 300 ms), and once the path is clean again new messages arrive at once.
fn max_packet_lifetime(ordered: bool, seed: u64) {
    const COUNT: u32 = 300;
    const AFTER: u32 = 20;
    const LEN: usize = 100;
    const DELAY: Duration = Duration::from_millis(20);
    const JITTER: Duration = Duration::from_millis(80);
    /// Scheduling on two busy cores: the network thread, the relay's threads and this one.
    const SLACK: Duration = Duration::from_millis(150);
    let relay = Relay::symmetric(Impairment::default(), seed).expect("relay");
    let mut a = Peer::new(config());
    let mut b = Peer::new(config());
    let lifetime_ms = LIFETIME.as_millis() as u16;
    let options = ChannelOptions {
        ordered,
        max_packet_lifetime: Some(lifetime_ms),
        ..ChannelOptions::default()
    };
    let (x, y, _) = connect_through(&relay, &mut a, &mut b, options);
    assert_eq!(y.max_packet_lifetime(), Some(lifetime_ms));
    let lossy = Impairment {
        loss: Loss::Random(0.2),
        delay: DELAY,
        jitter: JITTER,
        ..Default::default()
    };
    relay.set(Direction::AToB, lossy).expect("settings");
    let slow = Impairment {
        delay: DELAY,
        ..Default::default()
    };
    relay.set(Direction::BToA, slow).expect("settings");

    // Message `i`: its index, then when it was sent (µs from `started`), then a pattern.
    let started = Instant::now();
    let stamped = |i: u32| {
        let mut m = message(i, LEN);
        m[4..12].copy_from_slice(&(started.elapsed().as_micros() as u64).to_be_bytes());
        m
    };
    let sent_at = |m: &Message| {
        let mut us = [0u8; 8];
        us.copy_from_slice(&m.data[4..12]);
        Duration::from_micros(u64::from_be_bytes(us))
    };
    // (message, when it arrived)
    let mut got: Vec<(Message, Duration)> = Vec::new();
    let receive = |got: &mut Vec<(Message, Duration)>| {
        while let Some(m) = y.recv() {
            got.push((m, started.elapsed()));
        }
    };
    let mut pump = through(&relay);
    let mut next = 0;
    pump.until(&mut a, &mut b, "all sent", |_, _| {
        while next < COUNT && started.elapsed() >= Duration::from_millis(5) * next {
            x.send(&stamped(next), false).expect("send");
            next += 1;
        }
        receive(&mut got);
        next == COUNT
    });
    let last_sent = started.elapsed();
    // Long enough for any retransmission timeout to have fired.
    pump.hold(&mut a, &mut b, Duration::from_millis(1_500), |_, _| {
        receive(&mut got)
    });

    let mut seen: Vec<u32> = got.iter().map(|(m, _)| index_of(m)).collect();
    if ordered {
        assert!(
            seen.windows(2).all(|w| w[0] < w[1]),
            "ordered: out of order or twice: {seen:?}"
        );
    }
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), got.len(), "a message arrived twice");
    let bound = LIFETIME + DELAY + JITTER + SLACK;
    let mut latest = Duration::ZERO;
    let mut late = Vec::new();
    for (m, arrived) in &got {
        let i = index_of(m);
        assert!(
            m.data[..4] == message(i, LEN)[..4] && m.data[12..] == message(i, LEN)[12..],
            "message {i} damaged"
        );
        let took = arrived.saturating_sub(sent_at(m));
        latest = latest.max(took);
        if took > bound {
            late.push((i, took));
        }
    }
    let arrivals: Vec<Duration> = got.iter().map(|g| g.1).collect();
    let longest_gap = arrivals
        .windows(2)
        .map(|w| w[1] - w[0])
        .chain(arrivals.first().copied())
        .max()
        .unwrap_or(Duration::MAX);
    let lost = COUNT as usize - got.len();
    let stats = relay.stats(Direction::AToB);
    println!(
        "maxPacketLifeTime {LIFETIME:?}, {} (20 % loss a->b, {DELAY:?} + {JITTER:?} jitter, seed \
         {seed}): {} of {COUNT} arrived, {lost} dropped; slowest {latest:.2?} (bound {bound:?}); \
         longest gap between arrivals {longest_gap:.2?}; a->b {stats:?}",
        if ordered { "ordered" } else { "unordered" },
        got.len()
    );
    assert!(
        late.is_empty(),
        "{} messages arrived later than the lifetime {LIFETIME:?} plus the path's {:?} at most \
         (index, time from the send): {late:.2?}",
        late.len(),
        DELAY + JITTER
    );
    assert!(
        lost > 0,
        "no message was dropped: was the lifetime ignored?"
    );
    assert!(
        lost < COUNT as usize / 2,
        "{lost} of {COUNT} dropped on a path losing 20 %"
    );
    assert!(
        longest_gap < LIFETIME + Duration::from_millis(300),
        "the channel stalled for {longest_gap:?}"
    );
    assert!(
        arrivals.last().is_some_and(|t| *t > last_sent - LIFETIME),
        "nothing arrived near the end of the sending"
    );

    // The channel goes on: on a clean path every new message arrives, promptly.
    relay.set_both(Impairment::default()).expect("settings");
    let before = got.len();
    for i in COUNT..COUNT + AFTER {
        x.send(&stamped(i), false).expect("send");
    }
    let later = |got: &[(Message, Duration)]| -> Vec<u32> {
        got[before..]
            .iter()
            .map(|(m, _)| index_of(m))
            .filter(|i| *i >= COUNT)
            .collect()
    };
    through(&relay).with_limit(Duration::from_secs(2)).until(
        &mut a,
        &mut b,
        "the messages after",
        |_, _| {
            receive(&mut got);
            later(&got).len() >= AFTER as usize
        },
    );
    let mut after = later(&got);
    after.sort_unstable();
    assert_eq!(after, (COUNT..COUNT + AFTER).collect::<Vec<_>>());
}

#[test]
fn max_packet_lifetime_unordered_drops_late_messages_and_never_stalls() {
    max_packet_lifetime(false, 50);
}

/// Ordered, a message lost for good holds the ones behind it only until the receiver learns
/// it is abandoned (FORWARD-TSN), which should come soon after its lifetime. rtc-sctp alone
/// abandons an expired message only when it considers retransmitting it (a fast retransmission,
/// which happens once, or the retransmission timeout, 1 s at least), so the messages behind a
/// lost one arrived up to 1.5 s after they were sent; `core/sctp_skip.rs` skips it once it is
/// both lost and expired.
#[test]
fn max_packet_lifetime_ordered_drops_late_messages_and_never_stalls() {
    max_packet_lifetime(true, 51);
}
