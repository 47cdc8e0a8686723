//! TURN relay candidates against a real coturn `turnserver` on loopback (Debian package
//! `coturn`). Every test starts its own server on a free port and kills it when done; when the
//! binary is absent the tests print why and pass without running.

mod common;
use common::turn_server::*;
use common::*;
use std::time::{Duration, Instant};
use webrtc_rs_engine::*;

fn relay_config(server: &TurnServer, credential: &str) -> Config {
    Config {
        ice_servers: vec![server.ice_server(credential)],
        ice_transport_policy: IceTransportPolicy::Relay,
        ..config()
    }
}

/// Two relay-only peers connected through `server` (see [`connect_relayed`]), and their
/// channel pair.
fn relayed_pair(server: &TurnServer) -> (Peer, Peer, DataChannel, DataChannel) {
    let mut a = Peer::new(relay_config(server, PASS));
    let mut b = Peer::new(relay_config(server, PASS));
    let (ch, remote) = connect_relayed(&mut a, &mut b);
    (a, b, ch, remote)
}

#[test]
fn relay_only_peers_connect_through_turn() {
    logs();
    let Some(server) = TurnServer::start(&[]) else {
        return;
    };
    let (mut a, mut b, ch, remote) = relayed_pair(&server);
    // Statistics and the report show the path through the relay.
    for p in [&a, &b] {
        let pair = p.pc.stats().selected_pair.expect("a selected pair");
        assert_eq!(pair.local_type, stats::CandidateType::Relay, "{pair:?}");
        assert!(pair.relayed());
        let report = p.pc.failure_report();
        let relayed: Vec<_> = report
            .servers
            .iter()
            .filter(|s| matches!(s.outcome, failure::ServerOutcome::Relayed(a) if a == pair.local_address))
            .collect();
        assert_eq!(relayed.len(), 1, "{report:?}");
        assert_eq!(relayed[0].url, server.url());
        assert!(p.errors.is_empty(), "{:?}", p.errors);
    }
    // A larger burst, both ways, still arrives whole and in order through the relay.
    for i in 0..50u32 {
        ch.send(&vec![i as u8; 1000], false).expect("send");
    }
    let got = recv_n(&mut a, &mut b, &remote, 50);
    for (i, m) in got.iter().enumerate() {
        assert_eq!(m.data.len(), 1000);
        assert!(m.data.iter().all(|x| *x == i as u8));
    }
    a.pc.close();
    b.pc.close();
}

#[test]
fn wrong_credential_gives_no_relay_and_gathering_completes() {
    logs();
    let Some(server) = TurnServer::start(&[]) else {
        return;
    };
    let cfg = Config {
        ice_servers: vec![server.ice_server("not-the-password")],
        ..config()
    };
    let mut a = Peer::new(cfg);
    let (_ch, seen) = offer_and_gather(&mut a);
    assert_eq!(a.pc.gathering_state(), GatheringState::Complete);
    assert!(seen.iter().any(|c| c.contains("typ host")), "{seen:?}");
    assert!(!seen.iter().any(|c| c.contains("typ relay")), "{seen:?}");
    let errors = log_lines_with(&format!(
        "TURN server {} rejected the credentials",
        server.url()
    ));
    assert!(
        errors
            .iter()
            .any(|l| l.contains("ERROR") && l.contains("401")),
        "no error naming the server was logged: {errors:?}"
    );
    // The application hears it as a reason, once, and the report shows the server's answer.
    let reasons: Vec<_> = a.errors.iter().map(|e| e.reason).collect();
    assert_eq!(reasons, [ErrorReason::TurnAuthFailed], "{:?}", a.errors);
    assert!(
        a.errors[0].message.contains(&server.url()),
        "{:?}",
        a.errors
    );
    let report = a.pc.failure_report();
    let refused: Vec<_> = report
        .servers
        .iter()
        .filter(|s| s.url == server.url())
        .collect();
    assert!(!refused.is_empty(), "{report:?}");
    for s in refused {
        assert!(
            matches!(&s.outcome, failure::ServerOutcome::AuthFailed(answer) if answer.contains("401")),
            "{s:?}"
        );
    }
}

#[test]
fn relay_only_with_wrong_credential_gathers_nothing() {
    logs();
    let Some(server) = TurnServer::start(&[]) else {
        return;
    };
    let mut a = Peer::new(relay_config(&server, "wrong"));
    let (_ch, seen) = offer_and_gather(&mut a);
    assert!(seen.is_empty(), "relay only must not announce {seen:?}");
}

#[test]
fn allocation_is_refreshed_past_its_lifetime() {
    logs();
    // The server grants at most 4 s; without refreshes the relays would be gone before the
    // second exchange, 6 s later (the refresh schedule itself is checked exactly by the sim
    // tests of relay.rs).
    let Some(server) = TurnServer::start(&["--max-allocate-lifetime=4"]) else {
        return;
    };
    let (mut a, mut b, ch, remote) = relayed_pair(&server);
    Pump::new().hold(&mut a, &mut b, Duration::from_secs(6), |_, _| {});
    assert!(connected(&a, &b), "a={:?} b={:?}", a.pc, b.pc);
    exchange(&mut a, &mut b, &ch, &remote, "after the lifetime");
}

#[test]
fn closing_releases_the_allocations() {
    logs();
    // Two allocations per user at a time: the second pair only gets relays if the first
    // pair's allocations were released when it closed (they would otherwise live 10 min).
    let Some(server) = TurnServer::start(&["--user-quota=2"]) else {
        return;
    };
    let (mut a, b, _ch, _remote) = relayed_pair(&server);
    // The quota is enforced: a third allocation is refused while both are live.
    let mut e = Peer::new(relay_config(&server, PASS));
    let (_c, seen) = offer_and_gather(&mut e);
    assert!(seen.is_empty(), "the quota was not reached");
    drop(e);
    std::thread::sleep(Duration::from_millis(300));
    a.pc.close();
    drop(b);
    // coturn frees a deleted allocation's quota on its next timer tick (about a second);
    // without the deallocation it would take the 10-minute lifetime.
    std::thread::sleep(Duration::from_secs(3));
    let _second = relayed_pair(&server);
}

#[test]
fn all_policy_gathers_host_and_relay_candidates() {
    logs();
    let Some(server) = TurnServer::start(&[]) else {
        return;
    };
    let cfg = Config {
        ice_servers: vec![server.ice_server(PASS)],
        ..config()
    };
    let mut a = Peer::new(cfg);
    let (_ch, seen) = offer_and_gather(&mut a);
    let host = seen
        .iter()
        .find(|c| c.contains("typ host"))
        .unwrap_or_else(|| panic!("no host candidate in {seen:?}"));
    let relay = seen
        .iter()
        .find(|c| c.contains("typ relay"))
        .unwrap_or_else(|| panic!("no relay candidate in {seen:?}"));
    // The relay's raddr/rport is the host socket that talks to the server.
    let f: Vec<&str> = host.split_whitespace().collect();
    assert!(
        relay.contains(&format!("raddr {} rport {}", f[4], f[5])),
        "{relay} vs {host}"
    );
}

#[test]
fn relay_only_over_tcp() {
    logs();
    let Some(server) = TurnServer::start_with(&[], true, None) else {
        return;
    };
    let cfg = || Config {
        ice_servers: vec![user_ice_server(
            format!("turn:127.0.0.1:{}?transport=tcp", server.port),
            PASS,
        )],
        ice_transport_policy: IceTransportPolicy::Relay,
        ..config()
    };
    let mut a = Peer::new(cfg());
    let mut b = Peer::new(cfg());
    let (ch, remote) = connect_relayed(&mut a, &mut b);
    // Many ChannelData frames back to back on the stream, split and reassembled correctly.
    for i in 0..50u32 {
        remote.send(&vec![i as u8; 1001], false).expect("send");
    }
    let got = recv_n(&mut a, &mut b, &ch, 50);
    for (i, m) in got.iter().enumerate() {
        assert_eq!(m.data.len(), 1001);
        assert!(m.data.iter().all(|x| *x == i as u8));
    }
}

#[test]
fn unreachable_tcp_turn_server_is_reported_and_gathering_completes() {
    logs();
    // A port nobody listens on (TCP connect is refused); no turnserver needed.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("local address").port();
    drop(listener);
    let url = format!("turn:127.0.0.1:{port}?transport=tcp");
    let cfg = Config {
        ice_servers: vec![user_ice_server(url.clone(), PASS)],
        ..config()
    };
    let mut a = Peer::new(cfg);
    let (_ch, seen) = offer_and_gather(&mut a);
    assert!(seen.iter().any(|c| c.contains("typ host")), "{seen:?}");
    assert!(!seen.iter().any(|c| c.contains("typ relay")), "{seen:?}");
    let errors = log_lines_with(&format!("TURN server {url}"));
    assert!(
        errors
            .iter()
            .any(|l| l.contains("ERROR") && l.contains("cannot connect")),
        "{errors:?}"
    );
    let reasons: Vec<_> = a.errors.iter().map(|e| e.reason).collect();
    assert_eq!(
        reasons,
        [ErrorReason::IceServerUnreachable],
        "{:?}",
        a.errors
    );
    let report = a.pc.failure_report();
    assert!(
        matches!(&report.servers[..], [s] if s.url == url
            && matches!(s.outcome, failure::ServerOutcome::ConnectFailed(_))),
        "{report:?}"
    );
}

#[test]
fn silent_tcp_turn_server_is_given_up_and_gathering_completes() {
    logs();
    // Connections complete (kernel backlog) but nothing is ever answered.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("local address").port();
    let url = format!("turn:127.0.0.1:{port}?transport=tcp");
    let cfg = Config {
        ice_servers: vec![user_ice_server(url.clone(), PASS)],
        ..config()
    };
    let mut a = Peer::new(cfg);
    let start = Instant::now();
    let (_ch, seen) = offer_and_gather(&mut a);
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "{:?}",
        start.elapsed()
    );
    assert!(seen.iter().any(|c| c.contains("typ host")), "{seen:?}");
    assert!(!seen.iter().any(|c| c.contains("typ relay")), "{seen:?}");
    let errors = log_lines_with(&format!("TURN server {url}"));
    assert!(
        errors
            .iter()
            .any(|l| l.contains("ERROR") && l.contains("did not answer")),
        "{errors:?}"
    );
    drop(listener);
}
