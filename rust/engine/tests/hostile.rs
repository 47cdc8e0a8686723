//! A stranger who learns a peer's host candidate port sends junk to it, during setup and after:
//! single bytes that look like DTLS, plaintext DTLS records that would make a DTLS endpoint
//! answer with a fatal alert, forged STUN role conflicts without valid credentials, random
//! bytes. The connection neither fails nor slows down, and counts what it dropped.

mod common;
use common::*;
use std::cell::RefCell;
use std::net::{SocketAddr, UdpSocket};
use std::rc::Rc;
use std::time::{Duration, Instant};
use webrtc_rs_engine::*;

/// The address of a `typ host` candidate line.
fn candidate_addr(line: &str) -> Option<SocketAddr> {
    let f: Vec<&str> = line.split_whitespace().collect();
    let ip = f.get(4)?.parse().ok()?;
    let port = f.get(5)?.parse().ok()?;
    Some(SocketAddr::new(ip, port))
}

fn dtls_record(content_type: u8, epoch: u16, body: &[u8]) -> Vec<u8> {
    let mut r = vec![content_type, 0xfe, 0xfd];
    r.extend_from_slice(&epoch.to_be_bytes());
    r.extend_from_slice(&[0, 0, 0, 0, 0, 7]);
    r.extend_from_slice(&(body.len() as u16).to_be_bytes());
    r.extend_from_slice(body);
    r
}

/// A Binding request claiming the controlling role with the largest tie-breaker, with a
/// username and MESSAGE-INTEGRITY that cannot be right (the attacker has no password).
fn forged_role_conflict(n: u8) -> Vec<u8> {
    let mut attrs = Vec::new();
    let user = b"abcd:efgh";
    attrs.extend_from_slice(&[0x00, 0x06, 0x00, user.len() as u8]);
    attrs.extend_from_slice(user);
    attrs.extend_from_slice(&[0, 0, 0]); // padding to 12
    attrs.extend_from_slice(&[0x80, 0x2a, 0x00, 0x08]); // ICE-CONTROLLING
    attrs.extend_from_slice(&u64::MAX.to_be_bytes());
    attrs.extend_from_slice(&[0x00, 0x08, 0x00, 0x14]); // MESSAGE-INTEGRITY
    attrs.extend_from_slice(&[n; 20]);
    let mut m = vec![0x00, 0x01];
    m.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    m.extend_from_slice(&[0x21, 0x12, 0xa4, 0x42]);
    m.extend_from_slice(&[n; 12]);
    m.extend_from_slice(&attrs);
    m
}

fn junk(round: u32) -> Vec<Vec<u8>> {
    let mut noise = Vec::new();
    let mut x = round.wrapping_mul(2_654_435_761).max(1);
    for _ in 0..64 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        noise.push(x as u8);
    }
    vec![
        vec![0x16],
        dtls_record(23, 0, b"application data before any handshake"),
        dtls_record(21, 0, &[2, 40]), // fatal handshake_failure alert
        dtls_record(22, 0, &[1, 0, 0, 200, 0, 0]),
        dtls_record(23, 1, &[0; 40]),
        forged_role_conflict(round as u8),
        noise,
    ]
}

/// A stranger's socket and the host candidate addresses it learned, as an observer of the
/// signaling would.
struct Stranger {
    socket: UdpSocket,
    targets: Rc<RefCell<Vec<SocketAddr>>>,
    round: u32,
}

impl Stranger {
    fn new() -> Self {
        Self {
            socket: UdpSocket::bind("127.0.0.1:0").expect("stranger socket"),
            targets: Rc::default(),
            round: 0,
        }
    }

    /// A pump that shows the stranger every candidate on its way.
    fn pump<'h>(&self) -> Pump<'h> {
        let targets = self.targets.clone();
        Pump::new().rewrite_candidates(move |_, line| {
            targets.borrow_mut().extend(candidate_addr(line));
            Some(line.to_owned())
        })
    }

    /// One round of junk to every known target.
    fn attack(&mut self) {
        self.round += 1;
        for target in self.targets.borrow().iter() {
            for datagram in junk(self.round) {
                let _ = self.socket.send_to(&datagram, target);
            }
        }
    }
}

#[test]
fn junk_from_a_stranger_during_setup_and_after_changes_nothing() {
    let mut stranger = Stranger::new();
    let mut pump = stranger.pump();
    let mut a = Peer::new(config());
    let mut b = Peer::new(config());
    let ch =
        a.pc.create_data_channel("under attack", ChannelOptions::default())
            .expect("create channel");
    pump.signal(&mut a, &mut b);
    let started = Instant::now();
    pump.until(&mut a, &mut b, "connected under attack", |a, b| {
        stranger.attack();
        connected(a, b) && ch.ready_state() == ChannelState::Open && !b.incoming.is_empty()
    });
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "junk slowed the setup down to {:?}",
        started.elapsed()
    );
    assert!(
        stranger.targets.borrow().len() >= 2,
        "both sides' host candidates were attacked"
    );
    let remote = b.incoming[0].clone();

    // After connecting: the stranger keeps going while messages flow both ways.
    pump.hold(&mut a, &mut b, Duration::from_millis(300), |_, _| {
        stranger.attack()
    });
    for i in 0..20u8 {
        ch.send(&[i; 100], false).expect("send a->b");
        remote.send(&[i; 50], true).expect("send b->a");
    }
    let mut got_b = Vec::new();
    let mut got_a = Vec::new();
    pump.until(&mut a, &mut b, "messages under attack", |_, _| {
        stranger.attack();
        got_b.extend(std::iter::from_fn(|| remote.recv()));
        got_a.extend(std::iter::from_fn(|| ch.recv()));
        got_a.len() == 20 && got_b.len() == 20
    });
    for (i, (m_b, m_a)) in got_b.iter().zip(&got_a).enumerate() {
        assert_eq!(&m_b.data[..], &[i as u8; 100][..]);
        assert_eq!(&m_a.data[..], &[i as u8; 50][..]);
    }
    assert!(
        connected(&a, &b),
        "still connected: a={:?} b={:?}",
        a.pc,
        b.pc
    );
    assert!(a.pc.dropped_datagrams() > 0, "a counted the junk");
    assert!(b.pc.dropped_datagrams() > 0, "b counted the junk");
}
