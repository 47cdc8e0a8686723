//! The network simulator (`Config::simulate`, `PeerConnection::set_network_simulation`) between
//! two engine peers over real UDP on loopback: only one peer simulates, on both directions of
//! its traffic, and what the other peer's application measures is what a bad network would
//! show. The figures are printed (`--nocapture` shows them).

mod common;

use common::*;
use std::time::{Duration, Instant};
use webrtc_rs_engine::*;

const MS: Duration = Duration::from_millis(1);

/// The test config, simulating `simulate`.
fn simulating(simulate: NetworkSimulation) -> Config {
    Config {
        simulate: Some(simulate),
        ..config()
    }
}

/// `a` (with `a_config`) and a plain `b`, connected, with a channel of `options` open at both
/// ends.
fn open_pair(a_config: Config, options: ChannelOptions) -> (Peer, Peer, DataChannel, DataChannel) {
    let mut a = Peer::new(a_config);
    let mut b = Peer::new(config());
    let x = a.pc.create_data_channel("sim", options).expect("channel");
    connect(&mut a, &mut b);
    pump_until(&mut a, &mut b, "the channel open", |_, b| {
        x.ready_state() == ChannelState::Open && !b.incoming.is_empty()
    });
    let y = b.incoming[0].clone();
    (a, b, x, y)
}

/// Round trips of `n` application pings from `x` (on `a`), each echoed by `y` (on `b`).
fn round_trips(
    a: &mut Peer,
    b: &mut Peer,
    x: &DataChannel,
    y: &DataChannel,
    n: u32,
) -> Vec<Duration> {
    let mut out = Vec::new();
    for i in 0..n {
        let ping = format!("ping {i}");
        let sent = Instant::now();
        x.send(ping.as_bytes(), true).expect("ping");
        pump_until(a, b, "the pong", |_, _| {
            while let Some(m) = y.recv() {
                y.send(&m.data, true).expect("pong");
            }
            std::iter::from_fn(|| x.recv()).any(|m| m.data.as_ref() == ping.as_bytes())
        });
        out.push(sent.elapsed());
    }
    out.sort();
    out
}

fn median(sorted: &[Duration]) -> Duration {
    sorted[sorted.len() / 2]
}

/// 50 ms of delay on `a` delays what it sends and what it receives: an application ping takes
/// 100 ms more than on the bare loopback, never less, and not much more.
#[test]
fn delay_adds_twice_its_time_to_the_round_trip() {
    let delay = NetworkSimulation {
        delay: MS * 50,
        ..Default::default()
    };
    let (mut a, mut b, x, y) = open_pair(simulating(delay.clone()), ChannelOptions::default());
    let rtts = round_trips(&mut a, &mut b, &x, &y, 15);
    println!("50 ms each way: round trips {rtts:?}");
    assert!(
        rtts[0] >= MS * 100,
        "faster than the delay allows: {rtts:?}"
    );
    assert!(
        median(&rtts) < MS * 140,
        "median round trip {:?} (expected about 100 ms)",
        median(&rtts)
    );
    assert_eq!(a.pc.network_simulation(), Some(&delay));
}

/// How many of `COUNT` junk datagrams (first byte 0xFF, which no protocol uses) sent over
/// real UDP to the host candidate of a peer configured with `config` reach its protocol core:
/// the core counts each as dropped (`dropped_datagrams`), after the simulator let it through.
/// Measured this way, the loss and duplication of the simulator's incoming direction owe
/// nothing to SCTP (whose own behaviour under loss is not what is tested here).
fn junk_counted(config: Config) -> u64 {
    const COUNT: u32 = 2_000;
    const BATCH: u32 = 100;
    let mut a = Peer::new(config);
    a.pc.create_offer().expect("offer");
    let pump = Pump::new();
    pump.until_one(&mut a, "a host candidate", |a| !a.candidates.is_empty());
    let fields: Vec<&str> = a.candidates[0].split(' ').collect();
    let target: std::net::SocketAddr = format!("{}:{}", fields[4], fields[5]).parse().unwrap();
    let stranger = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    for _ in 0..COUNT / BATCH {
        for _ in 0..BATCH {
            stranger.send_to(&[0xFF; 100], target).expect("send junk");
        }
        // Paced by the peer: the next batch once this one is counted (no count change for
        // 20 ms), so that no socket buffer on the way overflows (the kernel may cap it at
        // about 200 KiB).
        settled_count(&pump, &mut a, MS * 20);
    }
    settled_count(&pump, &mut a, MS * 100)
}

/// `a`'s dropped-datagram count once it stayed put for `quiet`.
fn settled_count(pump: &Pump, a: &mut Peer, quiet: Duration) -> u64 {
    let (mut last, mut since) = (u64::MAX, Instant::now());
    pump.until_one(a, "the junk counted", |a| {
        let now = a.pc.dropped_datagrams();
        if now != last {
            (last, since) = (now, Instant::now());
        }
        since.elapsed() > quiet
    });
    last
}

/// The loss and duplication of what a simulating peer receives, measured over real UDP: all
/// 2,000 junk datagrams reach a plain peer; with 20 % loss, 80 % of them (N = 2,000: within
/// 4 standard deviations, 3.6 %); with half of them duplicated, 150 %.
#[test]
fn loss_and_duplication_apply_to_what_arrives() {
    let plain = junk_counted(config());
    let lossy = junk_counted(simulating(NetworkSimulation {
        loss: 0.2,
        seed: Some(5),
        ..Default::default()
    }));
    let doubled = junk_counted(simulating(NetworkSimulation {
        duplicate: 0.5,
        seed: Some(6),
        ..Default::default()
    }));
    println!("junk counted: plain {plain}, 20 % loss {lossy}, 50 % duplicated {doubled}");
    assert_eq!(plain, 2_000, "the measurement itself loses nothing");
    let kept = lossy as f64 / 2_000.0;
    assert!((0.764..=0.836).contains(&kept), "{kept} kept at 20 % loss");
    let copies = doubled as f64 / 2_000.0 - 1.0;
    assert!(
        (0.455..=0.545).contains(&copies),
        "{copies} duplicated at 50 %"
    );
}

/// 20 % loss on `a` applies to what it sends too: on an unordered channel that never
/// retransmits, `a` sends 300 messages 5 ms apart, each in a datagram of its own, and fewer
/// than 85 % arrive (the path lets 80 % through). Fewer still arrive than the path explains:
/// `a` also loses a fifth of the acknowledgements, and rtc-sctp then holds back and gives up
/// on messages it never sent (`KNOWN_ISSUES.md`), so no lower bound is asserted. Set at run
/// time, since the handshake itself suffers at this loss.
#[test]
fn loss_applies_to_what_is_sent() {
    const COUNT: u32 = 300;
    let options = ChannelOptions {
        ordered: false,
        max_retransmits: Some(0),
        ..ChannelOptions::default()
    };
    let (mut a, mut b, x, y) = open_pair(config(), options);
    a.pc.set_network_simulation(Some(NetworkSimulation {
        loss: 0.2,
        seed: Some(7),
        ..Default::default()
    }))
    .expect("simulate");
    let started = Instant::now();
    let mut next = 0;
    let mut got = std::collections::BTreeSet::new();
    let mut pump = Pump::new();
    pump.until(&mut a, &mut b, "all sent", |_, _| {
        while next < COUNT && started.elapsed() >= MS * 5 * next {
            x.send(&message(next), false).expect("send");
            next += 1;
        }
        got.extend(std::iter::from_fn(|| y.recv()).map(|m| index_of(&m)));
        next == COUNT
    });
    pump.hold(&mut a, &mut b, MS * 300, |_, _| {
        got.extend(std::iter::from_fn(|| y.recv()).map(|m| index_of(&m)));
    });
    let delivered = got.len() as f64 / f64::from(COUNT);
    println!(
        "20 % loss both ways: {} of {COUNT} delivered ({:.1} %)",
        got.len(),
        delivered * 100.0
    );
    assert!(delivered < 0.85, "{:.1} % delivered", delivered * 100.0);
    assert!(!got.is_empty());
    assert!(a.is_connected() && b.is_connected());
}

/// A 2 Mbit/s limit on `a`: 300 KB on a reliable channel take at least the 1.2 s the link
/// needs for the payload alone, and the link is not left idle for long.
#[test]
fn a_bandwidth_limit_paces_a_transfer() {
    const KBPS: u64 = 2_000;
    const COUNT: u32 = 300;
    const LEN: usize = 1_000;
    let limit = NetworkSimulation {
        bandwidth_kbps: Some(KBPS),
        ..Default::default()
    };
    let (mut a, mut b, x, y) = open_pair(simulating(limit), ChannelOptions::default());
    let started = Instant::now();
    for i in 0..COUNT {
        x.send(&vec![i as u8; LEN], false).expect("send");
    }
    let mut received = 0;
    Pump::new().until(&mut a, &mut b, "the transfer", |_, _| {
        received += std::iter::from_fn(|| y.recv()).count();
        received == COUNT as usize
    });
    let took = started.elapsed();
    let bytes = f64::from(COUNT) * LEN as f64;
    let kbps = bytes * 8.0 / took.as_secs_f64() / 1_000.0;
    println!("{KBPS} kbit/s link: {bytes} B in {took:.2?} ({kbps:.0} kbit/s of payload)");
    let floor = Duration::from_secs_f64(bytes * 8.0 / (KBPS as f64 * 1_000.0));
    assert!(
        took >= floor,
        "{took:?} is faster than the link ({floor:?})"
    );
    // SCTP overruns the link's queue now and then and waits out a retransmission timeout
    // (1 s at least) for the tail drop: runs take 1.5 to 3 s.
    assert!(
        took < floor * 5,
        "{took:?}: the link was mostly idle ({kbps:.0} kbit/s)"
    );
}

/// Turned on and off while connected: the connection stays up, the round trip follows the
/// setting, and every message on a reliable channel arrives once, whole and in order, both
/// ways, across both switches.
#[test]
fn turning_it_on_and_off_while_connected_keeps_the_connection_and_the_messages() {
    const EACH: u32 = 40;
    let (mut a, mut b, x, y) = open_pair(config(), ChannelOptions::default());
    let (px, py) = open_in_band(&mut a, &mut b, "ping", ChannelOptions::default());
    let bare = median(&round_trips(&mut a, &mut b, &px, &py, 5));
    let mut sent = 0;
    let send_batch = |sent: &mut u32| {
        for _ in 0..EACH {
            x.send(&message(*sent), false).expect("send a->b");
            y.send(&message(*sent), false).expect("send b->a");
            *sent += 1;
        }
    };
    send_batch(&mut sent);
    a.pc.set_network_simulation(Some(NetworkSimulation {
        loss: 0.03,
        delay: MS * 40,
        jitter: MS * 10,
        duplicate: 0.05,
        bandwidth_kbps: None,
        seed: Some(11),
    }))
    .expect("on");
    send_batch(&mut sent);
    let bad = median(&round_trips(&mut a, &mut b, &px, &py, 5));
    send_batch(&mut sent);
    a.pc.set_network_simulation(None).expect("off");
    assert_eq!(a.pc.network_simulation(), None);
    send_batch(&mut sent);
    let (mut at_a, mut at_b) = (Vec::new(), Vec::new());
    pump_until(&mut a, &mut b, "every message both ways", |a, b| {
        assert!(a.is_connected() && b.is_connected(), "{a:?} {b:?}");
        at_b.extend(std::iter::from_fn(|| y.recv()));
        at_a.extend(std::iter::from_fn(|| x.recv()));
        at_a.len() >= sent as usize && at_b.len() >= sent as usize
    });
    let after = median(&round_trips(&mut a, &mut b, &px, &py, 5));
    println!("round trip: bare {bare:?}, simulated {bad:?}, after {after:?}");
    for (who, got) in [("a", &at_a), ("b", &at_b)] {
        let order: Vec<u32> = got.iter().map(index_of).collect();
        assert_eq!(order, (0..sent).collect::<Vec<_>>(), "{who}");
        for m in got.iter() {
            assert_eq!(m.data.as_ref(), message(index_of(m)).as_slice(), "{who}");
        }
    }
    assert!(bad >= MS * 80, "simulated round trip {bad:?}");
    assert!(after < MS * 40, "round trip after turning it off {after:?}");
}

#[test]
fn bad_settings_are_refused_naming_the_key() {
    let bad = NetworkSimulation {
        duplicate: 1.5,
        ..Default::default()
    };
    let e = PeerConnection::new(simulating(bad.clone())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidParameter);
    assert_eq!(
        e.message(),
        "simulate.duplicate must be between 0 and 1, got 1.5"
    );
    let mut pc = PeerConnection::new(config()).expect("peer");
    let e = pc.set_network_simulation(Some(bad)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidParameter);
    assert_eq!(
        pc.network_simulation(),
        None,
        "a refused setting changes nothing"
    );
    let e = pc
        .set_network_simulation(Some(NetworkSimulation {
            bandwidth_kbps: Some(0),
            ..Default::default()
        }))
        .unwrap_err();
    assert_eq!(
        e.message(),
        "simulate.bandwidth_kbps must be between 1 and 10000000, got 0"
    );
    pc.close();
    let e = pc.set_network_simulation(None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Closed);
}

/// Message `i`: its index, then 496 bytes that depend on it.
fn message(i: u32) -> Vec<u8> {
    let mut m: Vec<u8> = (0..500u32).map(|j| j.wrapping_add(i) as u8).collect();
    m[..4].copy_from_slice(&i.to_be_bytes());
    m
}

fn index_of(m: &Message) -> u32 {
    u32::from_be_bytes([m.data[0], m.data[1], m.data[2], m.data[3]])
}
