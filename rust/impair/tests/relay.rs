//! The relay over real UDP on loopback, between two plain sockets standing in for peers.

use impair::{Bandwidth, Direction, End, Impairment, Loss, Relay};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// Two sockets introduced to each other through `relay`, each knowing where to send.
struct Pair {
    a: UdpSocket,
    b: UdpSocket,
    /// Where A sends to reach B, and B to reach A.
    a_to: SocketAddr,
    b_to: SocketAddr,
}

/// A socket on loopback with room for a few thousand datagrams, so that the test's own reading
/// pace never loses any.
fn bind() -> UdpSocket {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
    s.set_recv_buffer_size(4 << 20).unwrap();
    s.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    s.into()
}

fn pair(relay: &Relay) -> Pair {
    let a = bind();
    let b = bind();
    let announce = |end, s: &UdpSocket| {
        let port = s.local_addr().unwrap().port();
        let line = format!("candidate:1 1 udp 2130706431 127.0.0.1 {port} typ host");
        let rewritten = relay.rewrite_candidate(end, &line).unwrap();
        let fields: Vec<&str> = rewritten.split(' ').collect();
        format!("{}:{}", fields[4], fields[5]).parse().unwrap()
    };
    let a_at = announce(End::A, &a);
    let b_at = announce(End::B, &b);
    for s in [&a, &b] {
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
    }
    Pair {
        a,
        b,
        a_to: b_at,
        b_to: a_at,
    }
}

/// Receives on another thread (so that the socket buffer never overflows) until nothing came
/// for the read timeout.
fn drain_later(s: &UdpSocket) -> std::thread::JoinHandle<Vec<(u32, SocketAddr)>> {
    let s = s.try_clone().unwrap();
    std::thread::spawn(move || drain(&s))
}

/// Receives until nothing came for the read timeout; (payload index, source) of each.
fn drain(s: &UdpSocket) -> Vec<(u32, SocketAddr)> {
    let mut buf = [0u8; 2_048];
    let mut out = Vec::new();
    while let Ok((n, from)) = s.recv_from(&mut buf) {
        assert!(n >= 4);
        out.push((u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]), from));
    }
    out
}

fn send_numbered(s: &UdpSocket, to: SocketAddr, range: std::ops::Range<u32>, size: usize) {
    for i in range {
        let mut d = vec![0u8; size];
        d[..4].copy_from_slice(&i.to_be_bytes());
        s.send_to(&d, to).unwrap();
    }
}

#[test]
fn each_side_sees_the_other_at_its_relay_address_both_ways() {
    let relay = Relay::symmetric(Impairment::default(), 1).unwrap();
    let p = pair(&relay);
    assert_eq!(p.a_to, relay.address(End::B));
    send_numbered(&p.b, p.b_to, 0..10, 100);
    let got = drain(&p.a);
    assert_eq!(got.len(), 10);
    assert!(got.iter().all(|(_, from)| *from == relay.address(End::B)));
    send_numbered(&p.a, p.a_to, 0..10, 100);
    let got = drain(&p.b);
    assert_eq!(
        got.iter().map(|g| g.0).collect::<Vec<_>>(),
        (0..10).collect::<Vec<_>>()
    );
    assert!(got.iter().all(|(_, from)| *from == relay.address(End::A)));
    assert_eq!(relay.peer(End::A), Some(p.a.local_addr().unwrap()));
    let s = relay.stats(Direction::AToB);
    assert_eq!((s.received, s.delivered), (10, 10));
    assert_eq!((s.received_bytes, s.delivered_bytes), (1000, 1000));
}

#[test]
fn delay_holds_every_datagram_for_at_least_its_time() {
    let delayed = Impairment {
        delay: Duration::from_millis(80),
        ..Default::default()
    };
    let relay = Relay::start(delayed, Impairment::default(), 1).unwrap();
    let p = pair(&relay);
    let sent = Instant::now();
    send_numbered(&p.a, p.a_to, 0..1, 100);
    assert_eq!(drain_one(&p.b), 0);
    let took = sent.elapsed();
    assert!(took >= Duration::from_millis(80), "{took:?}");
    assert!(took < Duration::from_millis(200), "{took:?}");
    // The other direction is not delayed.
    let sent = Instant::now();
    send_numbered(&p.b, p.b_to, 0..1, 100);
    assert_eq!(drain_one(&p.a), 0);
    assert!(
        sent.elapsed() < Duration::from_millis(60),
        "{:?}",
        sent.elapsed()
    );
}

fn drain_one(s: &UdpSocket) -> u32 {
    let mut buf = [0u8; 2_048];
    let (n, _) = s.recv_from(&mut buf).unwrap();
    assert!(n >= 4);
    u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]])
}

#[test]
fn loss_drops_about_its_share_and_the_counts_add_up() {
    let lossy = Impairment {
        loss: Loss::Random(0.1),
        duplicate: 0.05,
        ..Default::default()
    };
    let relay = Relay::start(lossy, Impairment::default(), 3).unwrap();
    let p = pair(&relay);
    let n = 2_000;
    let receiver = drain_later(&p.b);
    for chunk in (0..n).step_by(100) {
        // Paced, so that the socket buffers never overflow.
        send_numbered(&p.a, p.a_to, chunk..chunk + 100, 200);
        std::thread::sleep(Duration::from_millis(2));
    }
    let got = receiver.join().unwrap();
    let s = relay.stats(Direction::AToB);
    assert_eq!(s.received, u64::from(n));
    assert_eq!(s.received, s.delivered - s.duplicated + s.lost, "{s:?}");
    assert_eq!(got.len() as u64, s.delivered, "{s:?}");
    assert!((140..=260).contains(&s.lost), "{s:?}");
    assert!((50..=150).contains(&s.duplicated), "{s:?}");
}

#[test]
fn a_cut_drops_everything_until_it_ends() {
    let relay = Relay::symmetric(Impairment::default(), 1).unwrap();
    let p = pair(&relay);
    relay.cut(Duration::from_millis(400));
    send_numbered(&p.a, p.a_to, 0..5, 100);
    send_numbered(&p.b, p.b_to, 0..5, 100);
    assert!(drain(&p.b).is_empty() && drain(&p.a).is_empty());
    std::thread::sleep(Duration::from_millis(150));
    send_numbered(&p.a, p.a_to, 5..10, 100);
    assert_eq!(drain(&p.b).len(), 5, "restored after 400 ms");
    assert_eq!(relay.stats(Direction::AToB).cut, 5);
    assert_eq!(relay.stats(Direction::BToA).cut, 5);
}

/// What a test of ICE liveness needs: when the relay last passed STUN to a peer (ICE measures
/// silence from there; DTLS does not count).
#[test]
fn the_last_stun_delivery_is_timed_and_nothing_else_moves_it() {
    let relay = Relay::symmetric(Impairment::default(), 1).unwrap();
    let p = pair(&relay);
    assert_eq!(relay.stats(Direction::AToB).last_stun_delivered, None);
    let before = relay.elapsed();
    // The first bytes of a STUN Binding request.
    p.a.send_to(&[0, 1, 0, 0], p.a_to).unwrap();
    assert_eq!(drain(&p.b).len(), 1);
    let after = relay.elapsed();
    let stun = relay.stats(Direction::AToB).last_stun_delivered;
    assert!(
        stun.is_some_and(|t| t >= before && t <= after),
        "{stun:?} not in {before:?}..{after:?}"
    );
    // A DTLS record (first byte 20 to 63) is delivered but is not STUN; STUN that a cut drops
    // is not delivered.
    p.a.send_to(&[23, 0xfe, 0xfd, 0], p.a_to).unwrap();
    assert_eq!(drain(&p.b).len(), 1);
    relay.cut(Duration::from_secs(5));
    p.a.send_to(&[0, 1, 0, 0], p.a_to).unwrap();
    assert!(drain(&p.b).is_empty());
    let s = relay.stats(Direction::AToB);
    assert_eq!((s.delivered, s.cut, s.last_stun_delivered), (2, 1, stun));
    assert_eq!(relay.stats(Direction::BToA).last_stun_delivered, None);
}

#[test]
fn new_settings_apply_to_what_arrives_next() {
    let relay = Relay::symmetric(Impairment::default(), 1).unwrap();
    let p = pair(&relay);
    send_numbered(&p.a, p.a_to, 0..5, 100);
    assert_eq!(drain(&p.b).len(), 5);
    let all_lost = Impairment {
        loss: Loss::Random(1.0),
        ..Default::default()
    };
    relay.set(Direction::AToB, all_lost.clone()).unwrap();
    send_numbered(&p.a, p.a_to, 5..10, 100);
    send_numbered(&p.b, p.b_to, 0..5, 100);
    assert!(drain(&p.b).is_empty());
    assert_eq!(drain(&p.a).len(), 5, "the other direction is unchanged");
    relay.set_both(Impairment::default()).unwrap();
    send_numbered(&p.a, p.a_to, 10..15, 100);
    assert_eq!(drain(&p.b).len(), 5);
    assert_eq!(relay.stats(Direction::AToB).lost, 5);
    let bad = Impairment {
        loss: Loss::Random(2.0),
        ..all_lost
    };
    assert!(relay.set_both(bad).is_err());
}

#[test]
fn the_bandwidth_queue_tail_drops_a_burst() {
    let narrow = Impairment {
        // 1,000-byte datagrams take 8 ms each; 10 fit in the queue.
        bandwidth: Some(Bandwidth {
            bits_per_second: 1_000_000,
            queue_bytes: 10_000,
        }),
        ..Default::default()
    };
    let relay = Relay::start(narrow, Impairment::default(), 1).unwrap();
    let p = pair(&relay);
    let receiver = drain_later(&p.b);
    let sent = Instant::now();
    send_numbered(&p.a, p.a_to, 0..100, 1_000);
    let got = receiver.join().unwrap();
    let s = relay.stats(Direction::AToB);
    // The burst reaches the relay over a millisecond or two, in which the link sends a little.
    assert!((10..=13).contains(&got.len()), "{} {s:?}", got.len());
    assert_eq!(s.queue_full, 100 - got.len() as u64);
    assert!(sent.elapsed() >= Duration::from_millis(80));
}

#[test]
fn dropping_the_relay_stops_it_promptly() {
    let relay = Relay::symmetric(Impairment::default(), 1).unwrap();
    let p = pair(&relay);
    send_numbered(&p.a, p.a_to, 0..1, 100);
    assert_eq!(drain_one(&p.b), 0);
    let started = Instant::now();
    drop(relay);
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
    send_numbered(&p.a, p.a_to, 1..2, 100);
    assert!(drain(&p.b).is_empty(), "nothing relayed any more");
}

#[test]
fn bad_settings_are_refused() {
    let bad = Impairment {
        duplicate: -0.1,
        ..Default::default()
    };
    let e = Relay::symmetric(bad, 1).err().unwrap();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
}
