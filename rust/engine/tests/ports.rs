//! Firewall-friendly ports (`Config::ports`): a local UDP port range, one shared UDP socket for
//! every connection of the process (UDP mux), and both together, over real loopback UDP;
//! strangers sending to the shared port do no harm.

mod common;
use common::turn_server::{exchange, offer_and_gather};
use common::*;
use std::cell::RefCell;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};
use webrtc_rs_engine::*;

/// A range of `len` ports below the system's ephemeral range, different for each test
/// (`slot`) and each run, so concurrent tests and processes rarely meet.
fn range(slot: u16, len: u16) -> (u16, u16) {
    let run = std::process::id() % 200;
    let begin = 20_000 + (run * 8 + u32::from(slot)) * 50 % 10_000;
    let begin = u16::try_from(begin).expect("below 30000");
    (begin, begin + len - 1)
}

fn with_ports(range: Option<(u16, u16)>, udp_mux: bool) -> Config {
    Config {
        ports: PortConfig {
            range,
            udp_mux,
            ..PortConfig::default()
        },
        ..config()
    }
}

/// The port of a candidate line (`candidate:... udp prio ip port typ ...`).
fn port_of(candidate: &str) -> u16 {
    let fields: Vec<&str> = candidate.split_whitespace().collect();
    fields[5].parse().expect("candidate port")
}

/// Connects `a` (offerer) and `b` with a channel, exchanges a message each way and returns
/// the channel pair, the candidates each side announced and the offer's ufrag.
fn connect_with_channel(
    a: &mut Peer,
    b: &mut Peer,
    label: &str,
) -> (DataChannel, DataChannel, Vec<String>, Vec<String>, String) {
    let ch =
        a.pc.create_data_channel(label, ChannelOptions::default())
            .expect("create channel");
    let seen = RefCell::new((Vec::new(), Vec::new()));
    let ufrag = RefCell::new(String::new());
    let mut pump = Pump::new()
        .rewrite_offer(|sdp| {
            *ufrag.borrow_mut() = ufrag_of(sdp);
            sdp.to_owned()
        })
        .rewrite_candidates(|from, c| {
            let mut s = seen.borrow_mut();
            match from {
                Origin::A => s.0.push(c.to_owned()),
                Origin::B => s.1.push(c.to_owned()),
            }
            Some(c.to_owned())
        });
    pump.signal(a, b);
    pump.until(a, b, "connected with the channel open", |a, b| {
        connected(a, b) && ch.ready_state() == ChannelState::Open && !b.incoming.is_empty()
    });
    drop(pump);
    let remote = b.incoming.last().cloned().expect("remote channel");
    exchange(a, b, &ch, &remote, label);
    let (from_a, from_b) = seen.into_inner();
    (ch, remote, from_a, from_b, ufrag.into_inner())
}

fn mux_at(local: SocketAddr) -> Option<UdpMuxInfo> {
    udp_mux_sockets().into_iter().find(|m| m.local == local)
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn every_socket_binds_inside_the_port_range() {
    let (begin, end) = range(0, 10);
    let mut a = Peer::new(with_ports(Some((begin, end)), false));
    let mut b = Peer::new(with_ports(Some((begin, end)), false));
    let (_ch, _remote, from_a, from_b, _) = connect_with_channel(&mut a, &mut b, "ranged");
    assert!(!from_a.is_empty() && !from_b.is_empty());
    for c in from_a.iter().chain(&from_b) {
        let port = port_of(c);
        assert!((begin..=end).contains(&port), "{c} outside {begin}..={end}");
    }
    assert_ne!(port_of(&from_a[0]), port_of(&from_b[0]));
}

#[test]
fn a_full_port_range_leaves_the_connection_without_a_host_candidate() {
    let (begin, _) = range(1, 1);
    // Every port of the one-port range is taken, by a socket that is not ours.
    let Ok(_squatter) = UdpSocket::bind(("127.0.0.1", begin)) else {
        return eprintln!("port {begin} is busy; skipping");
    };
    let mut p = Peer::new(with_ports(Some((begin, begin)), false));
    let (_ch, candidates) = offer_and_gather(&mut p);
    assert!(candidates.is_empty(), "{candidates:?}");
    // Another range still works for another connection.
    let mut q = Peer::new(with_ports(Some(range(1, 10)), false));
    let (_ch, candidates) = offer_and_gather(&mut q);
    assert_eq!(candidates.len(), 1, "{candidates:?}");
}

#[test]
fn invalid_port_settings_are_refused_with_the_key_named() {
    let cases: [(PortConfig, &str); 4] = [
        (
            PortConfig {
                range: Some((5000, 4000)),
                ..PortConfig::default()
            },
            "portRangeBegin (5000) must not be above portRangeEnd (4000)",
        ),
        (
            PortConfig {
                range: Some((0, 4000)),
                ..PortConfig::default()
            },
            "portRangeBegin and portRangeEnd must be between 1 and 65535, got 0..4000",
        ),
        (
            PortConfig {
                mtu: 500,
                ..PortConfig::default()
            },
            "mtu must be between 576 and 9000, got 500",
        ),
        (
            PortConfig {
                mtu: 9001,
                ..PortConfig::default()
            },
            "mtu must be between 576 and 9000, got 9001",
        ),
    ];
    for (ports, expected) in cases {
        let e = PeerConnection::new(Config { ports, ..config() }).expect_err(expected);
        assert_eq!(e.kind(), ErrorKind::InvalidParameter);
        assert_eq!(e.message(), expected);
    }
}

/// Four connections on one shared port, each to its own unmuxed remote: all exchange
/// messages; closing one leaves the others working; the socket closes with the last one.
/// (A range of its own keeps this test's shared socket apart from the other tests'.)
#[test]
fn connections_share_one_muxed_port_and_leave_it_one_by_one() {
    let mut pairs = Vec::new();
    let mut ports = Vec::new();
    for i in 0..4 {
        let mut a = Peer::new(with_ports(Some(range(3, 5)), true));
        let mut b = Peer::new(config());
        let (ch, remote, from_a, _, _) = connect_with_channel(&mut a, &mut b, &format!("mux{i}"));
        assert_eq!(from_a.len(), 1, "{from_a:?}");
        ports.push(port_of(&from_a[0]));
        pairs.push((a, b, ch, remote));
    }
    assert!(ports.iter().all(|p| *p == ports[0]), "{ports:?}");
    let local: SocketAddr = ([127, 0, 0, 1], ports[0]).into();
    assert_eq!(mux_at(local).map(|m| m.connections), Some(4));

    for round in 0..3 {
        for (a, b, ch, remote) in pairs.iter_mut() {
            exchange(a, b, ch, remote, &format!("round {round}"));
        }
    }
    // The first pair closes; the others carry on.
    let (mut a, mut b, _, _) = pairs.remove(0);
    a.pc.close();
    b.pc.close();
    drop((a, b));
    wait_for("the closed connection to leave the shared socket", || {
        mux_at(local).map(|m| m.connections) == Some(3)
    });
    for (a, b, ch, remote) in pairs.iter_mut() {
        exchange(a, b, ch, remote, "after one closed");
    }
    drop(pairs);
    wait_for("the shared socket to close", || mux_at(local).is_none());
    // The port is free again.
    UdpSocket::bind(local).expect("the shared port is released");
}

#[test]
fn the_muxed_port_is_inside_the_port_range() {
    let (begin, end) = range(2, 5);
    let mut ports = Vec::new();
    let mut pairs = Vec::new();
    for i in 0..2 {
        let mut a = Peer::new(with_ports(Some((begin, end)), true));
        // The remotes take ports of the same range, one each.
        let mut b = Peer::new(with_ports(Some((begin, end)), false));
        let (ch, remote, from_a, from_b, _) =
            connect_with_channel(&mut a, &mut b, &format!("ranged mux {i}"));
        ports.push(port_of(&from_a[0]));
        assert!((begin..=end).contains(&port_of(&from_b[0])), "{from_b:?}");
        pairs.push((a, b, ch, remote));
    }
    assert_eq!(ports[0], ports[1]);
    assert!((begin..=end).contains(&ports[0]), "{ports:?}");
    for (a, b, ch, remote) in pairs.iter_mut() {
        exchange(a, b, ch, remote, "again");
    }
}

/// A STUN Binding request with `username` and no integrity, as a stranger who guessed (or
/// sniffed) the ufrag would send.
fn forged_binding_request(username: &str, tid: u8) -> Vec<u8> {
    let mut attr = 0x0006u16.to_be_bytes().to_vec();
    attr.extend((username.len() as u16).to_be_bytes());
    attr.extend(username.as_bytes());
    attr.resize(attr.len().next_multiple_of(4), 0);
    let mut m = 0x0001u16.to_be_bytes().to_vec();
    m.extend((attr.len() as u16).to_be_bytes());
    m.extend([0x21, 0x12, 0xA4, 0x42]);
    m.extend([tid; 12]);
    m.extend(attr);
    m
}

fn ufrag_of(sdp: &str) -> String {
    sdp.lines()
        .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
        .expect("ufrag")
        .trim()
        .to_owned()
}

/// Strangers send garbage, DTLS-looking bytes, STUN with the real ufrag but no integrity, and
/// a flood from many source ports to the shared socket: the connections on it keep exchanging
/// messages and its tables do not grow.
#[test]
fn strangers_on_the_muxed_port_do_no_harm() {
    let mut pairs = Vec::new();
    let mut local = None;
    let mut ufrags = Vec::new();
    for i in 0..2 {
        let mut a = Peer::new(with_ports(Some(range(4, 5)), true));
        let mut b = Peer::new(config());
        let (ch, remote, from_a, _, ufrag) =
            connect_with_channel(&mut a, &mut b, &format!("hostile{i}"));
        local = Some(SocketAddr::from(([127, 0, 0, 1], port_of(&from_a[0]))));
        ufrags.push(ufrag);
        pairs.push((a, b, ch, remote));
    }
    let local = local.expect("shared socket");
    let before = mux_at(local).expect("shared socket");
    assert_eq!(before.connections, 2);

    let strangers: Vec<UdpSocket> = (0..50)
        .map(|_| UdpSocket::bind("127.0.0.1:0").expect("stranger socket"))
        .collect();
    for round in 0..20u8 {
        for (i, s) in strangers.iter().enumerate() {
            let ufrag = &ufrags[i % 2];
            let junk: Vec<Vec<u8>> = vec![
                vec![round; 1 + i * 7],
                [&[22u8, 0xfe, 0xfd][..], &[round; 60][..]].concat(),
                forged_binding_request(&format!("{ufrag}:stranger"), round),
                forged_binding_request(&format!("guess{i}:stranger"), round),
            ];
            for j in junk {
                let _ = s.send_to(&j, local);
            }
        }
        for (a, b, ch, remote) in pairs.iter_mut() {
            exchange(a, b, ch, remote, &format!("under attack {round}"));
        }
    }
    for (a, b, _, _) in &pairs {
        assert!(connected(a, b));
    }
    let after = mux_at(local).expect("shared socket");
    assert!(after.dropped > before.dropped, "{after:?}");
    // A forged request with a real ufrag reaches its connection, whose ICE agent refuses it
    // unanswered; no stranger becomes a route.
    assert!(
        after.routes <= before.routes + 2 * 64,
        "before {before:?}, after {after:?}"
    );
    for (a, b, ch, remote) in pairs.iter_mut() {
        exchange(a, b, ch, remote, "after the attack");
    }
}

/// Two megabytes each way over a muxed connection: a burst fills the shared socket's queue to
/// the connection as it would a connection's own, and every message still arrives, in order.
#[test]
fn bulk_transfer_over_the_muxed_port_arrives_whole() {
    let mut a = Peer::new(with_ports(Some(range(5, 5)), true));
    let mut b = Peer::new(config());
    let (ch, remote, _, _, _) = connect_with_channel(&mut a, &mut b, "bulk");
    let message = |i: usize| -> Vec<u8> {
        let mut m = format!("{i:05}").into_bytes();
        m.resize(10_000, (i % 251) as u8);
        m
    };
    for i in 0..200 {
        ch.send(&message(i), false).expect("send a->b");
        remote.send(&message(i), false).expect("send b->a");
    }
    let (mut at_a, mut at_b) = (Vec::new(), Vec::new());
    pump_until(&mut a, &mut b, "two megabytes each way", |_, _| {
        while let Some(m) = remote.recv() {
            at_b.push(m);
        }
        while let Some(m) = ch.recv() {
            at_a.push(m);
        }
        at_a.len() >= 200 && at_b.len() >= 200
    });
    for (i, (x, y)) in at_a.iter().zip(&at_b).enumerate() {
        assert_eq!(x.data.as_ref(), message(i).as_slice(), "b->a message {i}");
        assert_eq!(y.data.as_ref(), message(i).as_slice(), "a->b message {i}");
    }
}

/// The shared socket and the port range on IPv6 (`::1`).
#[test]
fn the_muxed_port_works_on_ipv6() {
    if UdpSocket::bind("[::1]:0").is_err() {
        return eprintln!("no IPv6 loopback here; skipping");
    }
    let v6 = |c: Config| Config {
        bind_address: Some("::1".parse().expect("::1")),
        ..c
    };
    let (begin, end) = range(6, 5);
    let mut pairs = Vec::new();
    let mut ports = Vec::new();
    for i in 0..2 {
        let mut a = Peer::new(v6(with_ports(Some((begin, end)), true)));
        let mut b = Peer::new(v6(config()));
        let (ch, remote, from_a, _, _) =
            connect_with_channel(&mut a, &mut b, &format!("v6 mux {i}"));
        assert!(from_a[0].contains(" ::1 "), "{from_a:?}");
        ports.push(port_of(&from_a[0]));
        pairs.push((a, b, ch, remote));
    }
    assert_eq!(ports[0], ports[1]);
    assert!((begin..=end).contains(&ports[0]), "{ports:?}");
    for (a, b, ch, remote) in pairs.iter_mut() {
        exchange(a, b, ch, remote, "again over IPv6");
    }
}
