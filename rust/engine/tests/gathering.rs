mod common;
use common::*;
use std::net::{Ipv4Addr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use webrtc_rs_engine::*;

/// A minimal STUN server on loopback: answers Binding requests with the source address.
fn stun_server() -> (u16, Arc<AtomicBool>, Arc<AtomicUsize>) {
    let s = stun_server::start(Ipv4Addr::LOCALHOST.into());
    (s.port, s.stop, s.answered)
}

#[test]
fn server_reflexive_candidate_from_a_stun_server() {
    let (port, stop, answered) = stun_server();
    let cfg = Config {
        ice_servers: vec![IceServer {
            urls: vec![format!("stun:localhost:{port}")],
            ..Default::default()
        }],
        ..config()
    };
    let mut a = Peer::new(cfg);
    let _ch =
        a.pc.create_data_channel("c", ChannelOptions::default())
            .unwrap();
    a.pc.create_offer().unwrap();
    Pump::new().until_one(&mut a, "gathering to complete", |a| a.gathering_complete);
    let seen = a.candidates.clone();
    stop.store(true, Ordering::Relaxed);
    assert!(answered.load(Ordering::Relaxed) >= 1);
    assert!(seen.iter().any(|c| c.contains("typ host")), "{seen:?}");
    assert!(
        seen.iter()
            .any(|c| c.contains("typ srflx") && c.contains("raddr 127.0.0.1")),
        "{seen:?}"
    );
    assert_eq!(a.pc.gathering_state(), GatheringState::Complete);
}

#[test]
fn unreachable_stun_server_still_completes_gathering() {
    // A bound socket that never answers.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let cfg = Config {
        ice_servers: vec![IceServer {
            urls: vec![format!("stun:127.0.0.1:{port}")],
            ..Default::default()
        }],
        ..config()
    };
    let mut a = Peer::new(cfg);
    let mut b = Peer::new(config());
    a.pc.create_offer().unwrap();
    pump_until(&mut a, &mut b, "gathering complete", |a, _| {
        a.gathering_complete
    });
}

#[test]
fn notify_callback_runs_when_something_is_ready() {
    let count = Arc::new(AtomicUsize::new(0));
    let mut a = Peer::new(config());
    let c = count.clone();
    a.pc.set_notify(Some(Arc::new(move || {
        c.fetch_add(1, Ordering::Relaxed);
    })));
    a.pc.create_offer().unwrap();
    // The first candidate is announced from the network thread.
    let notified = Pump::new().try_wait(|| count.load(Ordering::Relaxed) > 0);
    assert!(notified, "the notify callback never ran");
    a.poll();
    assert!(a.description.is_some());
    assert!(!a.candidates.is_empty() || a.gathering_complete);
}
