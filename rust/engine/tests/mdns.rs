//! `.local` candidates resolved by the engine's own mDNS queries, answered by a stand-in
//! responder on loopback. No query goes to the real mDNS group: each connection that resolves a
//! name is pointed at the stand-in first. One stand-in answers to the group the way browsers
//! do, out of 127.0.0.1 only (IP_MULTICAST_IF).
//!
//! The answering side (`b`) never hands its own candidates to the offerer (`a`), and `a`'s
//! candidates reach `b` with the name in place of the address, so the two connect only if `b`
//! resolves the name.

mod common;
use common::*;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use webrtc_rs_engine::*;

/// A query the stand-in received.
#[derive(Debug, Clone)]
struct Seen {
    at: Instant,
    from: SocketAddr,
    name: String,
    qtype: u16,
    qclass: u16,
}

/// When the stand-in answers a query for its name.
#[derive(Clone, Copy)]
enum Answer {
    AtOnce,
    /// At once, but to the mDNS group 224.0.0.251:5353 on loopback and never to the asking
    /// socket, as Chromium's and Firefox's responders do even for a QU question.
    ToGroup,
    /// Only this long after the first query, unasked.
    Late(Duration),
}

/// A stand-in mDNS responder: records every query and answers for one name with an A record
/// 127.0.0.1 by unicast to the asking socket, the way a responder answers a QU question.
struct Responder {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Responder {
    fn start(name: &'static str, answer: Answer) -> Self {
        let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind the responder");
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .expect("read timeout");
        let addr = sock.local_addr().expect("responder address");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (seen, stop) = (seen.clone(), stop.clone());
            std::thread::spawn(move || serve(sock, name, answer, &seen, &stop))
        };
        Self {
            addr,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(sock: UdpSocket, name: &str, answer: Answer, seen: &Mutex<Vec<Seen>>, stop: &AtomicBool) {
    let mut buf = [0u8; 1500];
    let mut late_sent = false;
    while !stop.load(Ordering::Relaxed) {
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            let Some((qname, qtype, qclass, end)) = parse_query(&buf[..n]) else {
                // Fails the test's checks of the names.
                seen.lock().unwrap().push(Seen {
                    at: Instant::now(),
                    from,
                    name: format!("not a one-question query: {:?}", &buf[..n]),
                    qtype: 0,
                    qclass: 0,
                });
                continue;
            };
            let ours = qname.eq_ignore_ascii_case(name);
            seen.lock().unwrap().push(Seen {
                at: Instant::now(),
                from,
                name: qname,
                qtype,
                qclass,
            });
            if matches!(answer, Answer::AtOnce) && ours {
                sock.send_to(&response(&buf[..n], end), from)
                    .expect("answer");
            }
            if matches!(answer, Answer::ToGroup) && ours {
                to_group(&response(&buf[..n], end));
            }
        }
        if let (Answer::Late(after), false) = (answer, late_sent) {
            let first = seen.lock().unwrap().first().cloned();
            if let Some(first) = first.filter(|f| f.at.elapsed() >= after) {
                let query = &build_query(name);
                sock.send_to(&response(query, query.len()), first.from)
                    .expect("late answer");
                late_sent = true;
            }
        }
    }
}

/// Sends `message` to the mDNS group out of the loopback interface only (it never leaves the
/// machine: TTL 1 and IP_MULTICAST_IF 127.0.0.1).
fn to_group(message: &[u8]) {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)
        .expect("group sender");
    sock.set_multicast_if_v4(&Ipv4Addr::LOCALHOST)
        .expect("IP_MULTICAST_IF");
    sock.set_multicast_ttl_v4(1).expect("IP_MULTICAST_TTL");
    sock.set_multicast_loop_v4(true).expect("IP_MULTICAST_LOOP");
    sock.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
        .expect("bind the group sender");
    let group = SocketAddr::from((Ipv4Addr::new(224, 0, 0, 251), 5353));
    sock.send_to(message, &group.into())
        .expect("answer to the group");
}

/// (name, type, class, end of the question) of a plain query: flags clear, one uncompressed
/// question and nothing else.
fn parse_query(m: &[u8]) -> Option<(String, u16, u16, usize)> {
    if m.get(2..12)? != [0, 0, 0, 1, 0, 0, 0, 0, 0, 0] {
        return None;
    }
    let q = dns::one_question(m)?;
    Some((q.name, q.qtype, q.qclass, q.end))
}

fn build_query(name: &str) -> Vec<u8> {
    let mut q = vec![0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0x80, 1]);
    q
}

/// The query's header and question, made a response, plus an answer whose name points at the
/// question's: A 127.0.0.1, cache-flush, TTL 10.
fn response(query: &[u8], question_end: usize) -> Vec<u8> {
    let mut r = query[..question_end].to_vec();
    r[2] = 0x84; // QR, AA
    r[7] = 1; // ANCOUNT
    r.extend_from_slice(&[0xc0, 12, 0, 1, 0x80, 1, 0, 0, 0, 10, 0, 4, 127, 0, 0, 1]);
    r
}

/// The candidate with `name` in place of its address if it is a host candidate.
fn hide_address(candidate: &str, name: &str) -> String {
    let mut f: Vec<&str> = candidate.split_whitespace().collect();
    if f.len() > 7 && f[7] == "host" {
        f[4] = name;
    }
    f.join(" ")
}

/// A pump on which `a`'s candidates reach `b` with `name` as their address and `b`'s are
/// dropped, so the two can connect only if `b` resolves the name; each wait ends after `limit`.
fn hiding_pump(name: &str, limit: Duration) -> Pump<'_> {
    Pump::new()
        .with_limit(limit)
        .rewrite_candidates(move |origin, line| match origin {
            Origin::A => {
                let hidden = hide_address(line, name);
                assert!(hidden.contains(name), "not a host candidate: {line}");
                Some(hidden)
            }
            Origin::B => None,
        })
}

#[test]
fn a_local_name_is_resolved_by_our_own_query() {
    const NAME: &str = "5f0c1e2a-6b7d-4e8f-9a0b-1c2d3e4f5a6b.local";
    let responder = Responder::start(NAME, Answer::AtOnce);
    let mut a = Peer::new(config());
    let mut b = Peer::new(config());
    b.pc.set_mdns_destination_for_test(responder.addr);
    let ch =
        a.pc.create_data_channel("c", ChannelOptions::default())
            .unwrap();
    let mut pump = hiding_pump(NAME, TIMEOUT);
    pump.signal(&mut a, &mut b);
    let connected = pump.try_until(&mut a, &mut b, |a, b| {
        connected(a, b) && ch.ready_state() == ChannelState::Open && !b.incoming.is_empty()
    });
    assert!(connected, "a={:?} b={:?}", a.pc, b.pc);
    ch.send(b"through the name", true).unwrap();
    let remote = b.incoming[0].clone();
    assert_eq!(
        recv_n(&mut a, &mut b, &remote, 1)[0].data.as_ref(),
        b"through the name"
    );
    let seen = responder.seen();
    assert!(!seen.is_empty());
    for q in &seen {
        assert!(q.name.eq_ignore_ascii_case(NAME), "{q:?}");
        // Type A, class IN with the QU bit, from the socket on the bind address.
        assert_eq!((q.qtype, q.qclass), (1, 0x8001), "{q:?}");
        assert_eq!(q.from.ip(), Ipv4Addr::LOCALHOST);
    }
}

#[test]
fn a_local_name_answered_only_to_the_group_is_resolved() {
    const NAME: &str = "c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f.local";
    let responder = Responder::start(NAME, Answer::ToGroup);
    let mut a = Peer::new(config());
    let mut b = Peer::new(config());
    b.pc.set_mdns_destination_for_test(responder.addr);
    let ch =
        a.pc.create_data_channel("c", ChannelOptions::default())
            .unwrap();
    let mut pump = hiding_pump(NAME, TIMEOUT);
    pump.signal(&mut a, &mut b);
    let connected = pump.try_until(&mut a, &mut b, |a, b| {
        connected(a, b) && ch.ready_state() == ChannelState::Open && !b.incoming.is_empty()
    });
    assert!(connected, "a={:?} b={:?}", a.pc, b.pc);
    ch.send(b"through a name answered to the group", true)
        .unwrap();
    let remote = b.incoming[0].clone();
    assert_eq!(
        recv_n(&mut a, &mut b, &remote, 1)[0].data.as_ref(),
        b"through a name answered to the group"
    );
    assert!(!responder.seen().is_empty());
}

#[test]
fn an_unanswered_name_is_given_up() {
    const NAME: &str = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d.local";
    // The answer comes well after the querier gave up (1.5 s); it must not be used.
    let late = Duration::from_millis(2500);
    let responder = Responder::start(NAME, Answer::Late(late));
    let mut a = Peer::new(config());
    let mut b = Peer::new(config());
    b.pc.set_mdns_destination_for_test(responder.addr);
    let mut pump = hiding_pump(NAME, late + Duration::from_secs(2));
    pump.signal(&mut a, &mut b);
    let connected = pump.try_until(&mut a, &mut b, |a, b| {
        a.pc.connection_state() == ConnectionState::Connected
            || b.pc.connection_state() == ConnectionState::Connected
    });
    assert!(!connected, "connected through a name given up");
    let seen = responder.seen();
    // One candidate, one query at 0, 200 and 600 ms, then nothing.
    assert_eq!(seen.len(), 3, "{seen:?}");
    let offsets: Vec<Duration> = seen.iter().map(|q| q.at - seen[0].at).collect();
    assert!(
        offsets[1] >= Duration::from_millis(150) && offsets[1] < Duration::from_millis(450),
        "{offsets:?}"
    );
    assert!(
        offsets[2] >= Duration::from_millis(550) && offsets[2] < Duration::from_millis(1000),
        "{offsets:?}"
    );
    assert!(seen.iter().all(|q| q.name == NAME && q.qtype == 1));
}

#[test]
fn relay_only_connections_resolve_nothing() {
    const NAME: &str = "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d.local";
    let responder = Responder::start(NAME, Answer::AtOnce);
    let mut a = Peer::new(config());
    let mut b = Peer::new(Config {
        ice_transport_policy: IceTransportPolicy::Relay,
        ..config()
    });
    b.pc.set_mdns_destination_for_test(responder.addr);
    let mut pump = hiding_pump(NAME, TIMEOUT);
    a.pc.create_offer().expect("offer");
    pump.deliver_offer(&mut a, &mut b);
    let line = format!("candidate:1 1 udp 2122260223 {NAME} 9 typ host");
    b.pc.add_ice_candidate("0", 0, &line).unwrap();
    pump.hold(&mut a, &mut b, Duration::from_millis(800), |_, _| {});
    assert!(responder.seen().is_empty(), "{:?}", responder.seen());
}
