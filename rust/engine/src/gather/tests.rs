//! Gathering on a virtual clock: nothing here touches a socket or the real time.

use super::*;
use crate::config::TurnTransport;
use rtc_stun::message::{Message as StunMessage, Setter};

fn provider() -> Arc<dyn rtc_crypto::RTCCryptoProvider> {
    rtc_crypto::default_provider().expect("crypto provider")
}

fn addr(text: &str) -> SocketAddr {
    text.parse().expect("test address")
}

fn stun_server(host: &str) -> ServerUrl {
    ServerUrl {
        kind: ServerKind::Stun,
        host: host.to_owned(),
        port: 3478,
        transport: TurnTransport::Udp,
        username: None,
        credential: None,
    }
}

fn turn_server(kind: ServerKind, transport: TurnTransport) -> ServerUrl {
    ServerUrl {
        kind,
        host: "turn.example".to_owned(),
        port: 3478,
        transport,
        username: Some("user".to_owned()),
        credential: Some("pass".to_owned()),
    }
}

fn candidates(g: &mut Gathering) -> Vec<LocalCandidate> {
    std::iter::from_fn(|| g.poll_candidate()).collect()
}

fn transmits(g: &mut Gathering) -> Vec<Transmit> {
    std::iter::from_fn(|| g.poll_transmit()).collect()
}

/// The Binding success a STUN server sends for `request`, mapping to `mapped`.
fn binding_success(request: &[u8], mapped: SocketAddr) -> BytesMut {
    let mut req = StunMessage::new();
    req.unmarshal_binary(request).expect("our request parses");
    let mut answer = StunMessage::new();
    let xor = XorMappedAddress {
        ip: mapped.ip(),
        port: mapped.port(),
    };
    answer
        .build(&[
            Box::new(BINDING_SUCCESS),
            Box::new(req.transaction_id),
            Box::new(xor) as Box<dyn Setter>,
        ])
        .expect("build answer");
    BytesMut::from(&answer.raw[..])
}

#[test]
fn host_candidates_only_complete_at_once() {
    let mut g = Gathering::new(Vec::new(), false, provider());
    assert!(!g.is_complete(), "not complete before it started");
    let sockets = vec![addr("127.0.0.1:4000"), addr("[::1]:4001")];
    g.start(sockets.clone());
    let found = candidates(&mut g);
    assert_eq!(found.len(), 2);
    assert!(found.iter().all(|c| c.kind == CandidateKind::Host));
    assert_eq!(
        found.iter().map(|c| c.addr).collect::<Vec<_>>(),
        sockets,
        "one host candidate per socket, in order"
    );
    assert!(g.is_complete());
    assert_eq!(g.poll_action(), None);
    assert_eq!(g.poll_timeout(), None);
}

#[test]
fn stun_answer_gives_a_server_reflexive_candidate() {
    let now = Instant::now();
    let local = addr("127.0.0.1:4000");
    let mut g = Gathering::new(vec![stun_server("stun.example")], false, provider());
    g.start(vec![local, addr("[::1]:4001")]);
    let _ = candidates(&mut g);
    assert_eq!(
        g.poll_action(),
        Some(GatherAction::Resolve {
            server: 0,
            host: "stun.example".to_owned(),
            port: 3478
        })
    );
    assert!(!g.is_complete(), "waits for the lookup");
    let server = addr("127.0.0.9:3478");
    g.server_resolved(now, 0, vec![server]);
    let sent = transmits(&mut g);
    assert_eq!(sent.len(), 1, "one request, from the IPv4 socket only");
    assert_eq!((sent[0].local, sent[0].peer), (local, server));
    assert!(!g.is_complete());

    let mapped = addr("203.0.113.7:50000");
    let answer = binding_success(&sent[0].data, mapped);
    // The same answer on another socket is not ours: it goes on to the core.
    let elsewhere = g.handle_datagram(now, addr("127.0.0.1:4002"), server, answer.clone());
    assert!(elsewhere.is_some());
    assert!(g.handle_datagram(now, local, server, answer).is_none());
    assert_eq!(
        candidates(&mut g),
        vec![LocalCandidate {
            kind: CandidateKind::ServerReflexive,
            addr: mapped,
            base: Some(local),
        }]
    );
    assert!(g.is_complete());
}

#[test]
fn unanswered_stun_is_retransmitted_then_given_up() {
    let start = Instant::now();
    let mut g = Gathering::new(vec![stun_server("stun.example")], false, provider());
    g.start(vec![addr("127.0.0.1:4000")]);
    let _ = candidates(&mut g);
    let _ = g.poll_action();
    g.server_resolved(start, 0, vec![addr("127.0.0.9:3478")]);
    let mut now = start;
    let mut sent_at = Vec::new();
    while let Some(next) = g.poll_timeout() {
        for _ in transmits(&mut g) {
            sent_at.push(now - start);
        }
        now = next;
        g.handle_timeout(now);
    }
    let expected: Vec<Duration> = (0..STUN_ATTEMPTS).map(|i| STUN_RETRANSMIT * i).collect();
    assert_eq!(sent_at, expected, "a request every 500 ms, five in all");
    assert_eq!(now - start, STUN_RETRANSMIT * STUN_ATTEMPTS);
    assert!(g.is_complete(), "gathering completes without the server");
    assert!(
        candidates(&mut g).is_empty(),
        "no server-reflexive candidate"
    );
}

#[test]
fn unresolvable_servers_still_complete() {
    let now = Instant::now();
    let servers = vec![
        stun_server("nowhere.example"),
        turn_server(ServerKind::Turn, TurnTransport::Udp),
    ];
    let mut g = Gathering::new(servers, false, provider());
    g.start(vec![addr("127.0.0.1:4000")]);
    let actions: Vec<_> = std::iter::from_fn(|| g.poll_action()).collect();
    assert_eq!(actions.len(), 2);
    g.server_resolved(now, 0, Vec::new());
    assert!(!g.is_complete(), "the TURN lookup is still out");
    g.server_resolved(now, 1, Vec::new());
    assert!(g.is_complete());
}

#[test]
fn turn_over_tls_asks_for_a_stream_per_local_address() {
    let now = Instant::now();
    let turns = turn_server(ServerKind::Turns, TurnTransport::Tcp);
    let mut g = Gathering::new(vec![turns], false, provider());
    g.start(vec![addr("127.0.0.1:4000"), addr("[::1]:4001")]);
    let _ = g.poll_action();
    let server = addr("127.0.0.9:5349");
    g.server_resolved(now, 0, vec![server]);
    assert_eq!(
        g.poll_action(),
        Some(GatherAction::ConnectStream {
            server: 0,
            local_ip: addr("127.0.0.1:0").ip(),
            addr: server,
            tls_name: Some("turn.example".to_owned()),
        }),
        "no IPv6 address for the server: only the IPv4 side connects"
    );
    assert_eq!(g.poll_action(), None);
    assert!(!g.is_complete());
    g.stream_connected(now, 0, server, Err("refused".to_owned()));
    assert!(
        g.is_complete(),
        "a failed connection ends that server's part"
    );
}

#[test]
fn relay_only_gathers_no_host_candidate_and_drops_other_traffic() {
    let now = Instant::now();
    let servers = vec![
        stun_server("stun.example"),
        turn_server(ServerKind::Turn, TurnTransport::Udp),
    ];
    let mut g = Gathering::new(servers, true, provider());
    let local = addr("127.0.0.1:4000");
    g.start(vec![local]);
    assert!(candidates(&mut g).is_empty(), "no host candidate");
    let actions: Vec<_> = std::iter::from_fn(|| g.poll_action()).collect();
    assert_eq!(
        actions,
        vec![GatherAction::Resolve {
            server: 1,
            host: "turn.example".to_owned(),
            port: 3478
        }],
        "the STUN server is not used"
    );
    let stranger = g.handle_datagram(now, local, addr("127.0.0.5:9"), BytesMut::from(&[0x16][..]));
    assert!(stranger.is_none(), "nothing but TURN traffic is accepted");
}
