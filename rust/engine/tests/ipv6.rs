//! IPv6: peers bound to `::1` connect and exchange messages, learn a server-reflexive candidate
//! from a STUN server at `[::1]`, and connect through a coturn TURN server on `::1` with an IPv6
//! relayed address. The IPv6-only network (no IPv4 address at all, real interface addresses
//! gathered) runs in a private network namespace.

mod common;
use common::turn_server::*;
use common::*;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use webrtc_rs_engine::*;

const V6_LOOPBACK: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

fn v6_config() -> Config {
    Config {
        bind_address: Some(V6_LOOPBACK),
        ..Config::default()
    }
}

/// Connects `a` and `b` with a channel and exchanges a message each way; returns every
/// candidate either announced and the offer.
fn connect_and_exchange(a: &mut Peer, b: &mut Peer) -> (Vec<String>, String) {
    let ch =
        a.pc.create_data_channel("v6", ChannelOptions::default())
            .expect("create channel");
    let announced = std::cell::RefCell::new(Vec::<String>::new());
    let offer = std::cell::RefCell::new(String::new());
    let mut pump = Pump::new()
        .rewrite_candidates(|_, c| {
            announced.borrow_mut().push(c.to_owned());
            Some(c.to_owned())
        })
        .rewrite_offer(|sdp| {
            *offer.borrow_mut() = sdp.to_owned();
            sdp.to_owned()
        });
    pump.signal(a, b);
    let up = pump.try_until(a, b, |a, b| {
        connected(a, b) && ch.ready_state() == ChannelState::Open && !b.incoming.is_empty()
    });
    drop(pump);
    let announced = announced.into_inner();
    assert!(up, "no connection: a={:?} b={:?} {announced:?}", a.pc, b.pc);
    let remote = b.incoming[0].clone();
    exchange(a, b, &ch, &remote, "v6");
    (announced, offer.into_inner())
}

/// A STUN server on `[::1]` answering Binding requests with the source address.
fn v6_stun_server() -> (u16, Arc<AtomicBool>) {
    v6_stun_server_on("::1")
}

/// A STUN server on `[ip]` answering Binding requests with the source address; stops when
/// the flag is set.
fn v6_stun_server_on(ip: &str) -> (u16, Arc<AtomicBool>) {
    let ip: std::net::IpAddr = ip.parse().expect("an IP address");
    let s = stun_server::start(ip);
    (s.port, s.stop)
}

#[test]
fn peers_on_ipv6_loopback_connect() {
    let mut a = Peer::new(v6_config());
    let mut b = Peer::new(v6_config());
    let (announced, offer) = connect_and_exchange(&mut a, &mut b);
    assert!(
        announced.iter().all(|c| c.contains(" ::1 ")),
        "{announced:?}"
    );
    let pair = a.pc.stats().selected_pair.expect("a selected pair");
    assert!(pair.local_address.is_ipv6(), "{pair:?}");
    assert!(pair.remote_address.is_ipv6(), "{pair:?}");
    // A trickle offer carries no candidate, so its c= line is JSEP's placeholder whatever the
    // family (RFC 8829 §5.2.1); the addresses travel in the candidates.
    assert!(offer.contains("c=IN IP4 0.0.0.0"), "{offer}");
}

#[test]
fn server_reflexive_candidate_from_an_ipv6_stun_server() {
    let (port, stop) = v6_stun_server();
    let cfg = Config {
        ice_servers: vec![IceServer {
            urls: vec![format!("stun:[::1]:{port}")],
            ..Default::default()
        }],
        ..v6_config()
    };
    let mut a = Peer::new(cfg);
    let (_ch, seen) = offer_and_gather(&mut a);
    stop.store(true, Ordering::Relaxed);
    assert!(
        seen.iter()
            .any(|c| c.contains(" ::1 ") && c.contains("typ srflx raddr ::1 ")),
        "{seen:?}"
    );
}

#[test]
fn relay_only_peers_connect_through_an_ipv6_turn_server() {
    logs();
    // RFC 6156 makes IPv4 the relayed family a client gets unless it asks otherwise;
    // `keep` hands an IPv6 client an IPv6 relayed address, as dual-stack deployments do.
    let Some(server) = TurnServer::start_on(
        V6_LOOPBACK,
        &["--allocation-default-address-family=keep"],
        false,
        None,
    ) else {
        return;
    };
    let relay = |s: &TurnServer| Config {
        ice_servers: vec![s.ice_server(PASS)],
        ice_transport_policy: IceTransportPolicy::Relay,
        ..v6_config()
    };
    let mut a = Peer::new(relay(&server));
    let mut b = Peer::new(relay(&server));
    let (ch, remote) = connect_relayed(&mut a, &mut b);
    for p in [&a, &b] {
        let pair = p.pc.stats().selected_pair.expect("a selected pair");
        assert_eq!(pair.local_type, stats::CandidateType::Relay, "{pair:?}");
        assert_eq!(pair.local_address.ip(), V6_LOOPBACK, "{pair:?}");
        assert_eq!(pair.remote_address.ip(), V6_LOOPBACK, "{pair:?}");
    }
    exchange(&mut a, &mut b, &ch, &remote, "again");
}

/// A network with IPv6 only: loopback without 127.0.0.1 and a veth pair carrying two ULA
/// addresses. Peers gather their real interface addresses (no bind address), learn a
/// server-reflexive candidate from a STUN server on one of them, connect and exchange messages;
/// then relay-only peers connect through coturn there.
#[test]
fn ipv6_only_network() {
    if !common::netns::enter("ipv6_only_network") {
        return;
    }
    use common::netns::sh;
    sh("ip addr del 127.0.0.1/8 dev lo");
    sh("ip link add v6a type veth peer name v6b");
    sh("ip addr add fd00:6::a/64 dev v6a nodad && ip addr add fd00:6::b/64 dev v6b nodad");
    sh("ip link set v6a up && ip link set v6b up");
    let v4 = sh("ip -4 addr show");
    assert!(v4.trim().is_empty(), "an IPv4 address is left: {v4}");

    let (port, stop) = v6_stun_server_on("fd00:6::a");
    let cfg = || Config {
        ice_servers: vec![IceServer {
            urls: vec![format!("stun:[fd00:6::a]:{port}")],
            ..Default::default()
        }],
        ..Config::default()
    };
    let mut a = Peer::new(cfg());
    let mut b = Peer::new(cfg());
    let (announced, _) = connect_and_exchange(&mut a, &mut b);
    stop.store(true, Ordering::Relaxed);
    for addr in ["fd00:6::a", "fd00:6::b"] {
        assert!(
            announced
                .iter()
                .any(|c| c.contains(&format!(" {addr} ")) && c.contains("typ host")),
            "no host candidate on {addr}: {announced:?}"
        );
    }
    assert!(
        announced.iter().any(|c| c.contains("typ srflx")),
        "{announced:?}"
    );
    assert!(
        !announced.iter().any(|c| c.contains(" 127.")),
        "{announced:?}"
    );
    let pair = a.pc.stats().selected_pair.expect("a selected pair");
    assert!(pair.local_address.is_ipv6(), "{pair:?}");
    a.pc.close();
    b.pc.close();

    let ip: IpAddr = "fd00:6::a".parse().expect("an IPv6 address");
    let Some(server) = TurnServer::start_on(
        ip,
        &["--allocation-default-address-family=keep"],
        false,
        None,
    ) else {
        return;
    };
    let relay = || Config {
        ice_servers: vec![server.ice_server(PASS)],
        ice_transport_policy: IceTransportPolicy::Relay,
        ..Config::default()
    };
    let mut a = Peer::new(relay());
    let mut b = Peer::new(relay());
    connect_relayed(&mut a, &mut b);
    let pair = a.pc.stats().selected_pair.expect("a selected pair");
    assert_eq!(pair.local_type, stats::CandidateType::Relay, "{pair:?}");
    assert_eq!(pair.local_address.ip(), ip, "{pair:?}");
}

/// rtc-turn asks for no address family (RFC 6156), so a server following the RFC relays over
/// IPv4; one with no IPv4 relay address refuses the allocation. Gathering still completes,
/// the refusal names the server, and host candidates remain.
#[test]
fn ipv6_turn_server_without_ipv4_relay_refuses_and_gathering_completes() {
    logs();
    let Some(server) = TurnServer::start_on(V6_LOOPBACK, &[], false, None) else {
        return;
    };
    let mut a = Peer::new(Config {
        ice_servers: vec![server.ice_server(PASS)],
        ..v6_config()
    });
    let (_ch, seen) = offer_and_gather(&mut a);
    assert_eq!(a.pc.gathering_state(), GatheringState::Complete);
    assert!(seen.iter().any(|c| c.contains("typ host")), "{seen:?}");
    assert!(!seen.iter().any(|c| c.contains("typ relay")), "{seen:?}");
    let refused = log_lines_with(&format!(
        "TURN server {} refused the allocation (Allocate error response (error 440",
        server.url()
    ));
    assert_eq!(refused.len(), 1, "{:#?}", log_lines_with("TURN"));
}
