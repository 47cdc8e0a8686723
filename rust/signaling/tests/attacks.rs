//! Each attack from issue 15, by a real client from its own 127.0.0.x address, against a real
//! server: the attack is contained, and a second, honest lobby from 127.0.0.1 keeps working.

mod common;

use common::{local, start, tcp_from, try_connect_from, Client, HonestLobby, WAIT};
use futures_util::SinkExt;
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use webrtc_rs_signaling::{codes, AdmissionLimits, Config, Limits, Rate, Share};

const PROMPT: Duration = Duration::from_secs(1);

#[tokio::test]
async fn one_address_cannot_take_every_connection() {
    let server = start(Config {
        max_connections: 64,
        admission: AdmissionLimits {
            max_per_ip: 8,
            rate: Rate::new(5.0, 100.0),
        },
        ..Config::default()
    })
    .await;
    let mut honest = HonestLobby::open(server.addr, local(1)).await;
    // Half-open sockets that never finish a handshake count too.
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(tcp_from(server.addr, local(2)).await.expect("tcp"));
    }
    let mut clients = Vec::new();
    let mut refused = 0;
    for _ in 0..40 {
        match try_connect_from(server.addr, local(2)).await {
            Ok(client) => clients.push(client),
            Err(_) => refused += 1,
        }
    }
    assert_eq!(clients.len(), 4, "8 per address, 4 of them half-open");
    assert_eq!(refused, 36);
    honest.exchange_within(PROMPT).await;
    let mut other = HonestLobby::open(server.addr, local(3)).await;
    other.exchange_within(PROMPT).await;
}

#[tokio::test]
async fn connection_rate_is_limited_per_address() {
    let server = start(Config {
        admission: AdmissionLimits {
            max_per_ip: 1000,
            rate: Rate::new(2.0, 5.0),
        },
        ..Config::default()
    })
    .await;
    let mut honest = HonestLobby::open(server.addr, local(1)).await;
    let started = Instant::now();
    let mut accepted = 0;
    for _ in 0..30 {
        // Connect, handshake, hang up, again.
        if let Ok(client) = try_connect_from(server.addr, local(2)).await {
            accepted += 1;
            drop(client);
        }
    }
    let allowed = 5 + (started.elapsed().as_secs_f64() * 2.0).ceil() as usize;
    assert!(accepted >= 5, "the burst is allowed: {accepted}");
    assert!(
        accepted <= allowed,
        "{accepted} accepted, at most {allowed}"
    );
    honest.exchange_within(PROMPT).await;
    HonestLobby::open(server.addr, local(1))
        .await
        .exchange_within(PROMPT)
        .await;
}

#[tokio::test]
async fn one_address_cannot_hoard_lobbies() {
    let server = start(Config {
        limits: Limits {
            max_lobbies: 12,
            max_lobbies_per_ip: 3,
            ..Limits::default()
        },
        ..Config::default()
    })
    .await;
    let mut honest = HonestLobby::open(server.addr, local(1)).await;
    let mut hosts = Vec::new();
    let mut refusals = Vec::new();
    for _ in 0..8 {
        let mut attacker = Client::connect_from(server.addr, local(2)).await;
        attacker.send(json!({"type": "create"})).await;
        let reply = attacker.recv().await;
        if reply["type"] == "joined" {
            hosts.push(attacker);
        } else {
            refusals.push(reply["message"].as_str().unwrap_or_default().to_string());
        }
    }
    assert_eq!(hosts.len(), 3);
    assert_eq!(refusals.len(), 5);
    assert!(
        refusals
            .iter()
            .all(|m| m.contains("already hosts 3 lobbies")),
        "{refusals:?}"
    );
    assert_eq!(server.stats.lobbies(), 4);
    honest.exchange_within(PROMPT).await;
    let mut newcomer = HonestLobby::open(server.addr, local(3)).await;
    newcomer.exchange_within(PROMPT).await;
}

/// The attack of the issue: a member floods peer 1 while the host is not reading. Before, the
/// host's outbox filled and the server closed the host (and so its lobby) as too slow.
#[tokio::test]
async fn flooding_the_host_drops_only_the_flooders_excess() {
    let share = Share {
        messages: 16,
        bytes: 64 * 1024,
    };
    let server = start(Config {
        // Read the flood as fast as it comes: this test is about the queues, not the rate.
        message_rate: Rate::new(1e6, 1e6),
        share,
        ..Config::default()
    })
    .await;
    let mut bystanders = HonestLobby::open(server.addr, local(1)).await;

    let mut host = Client::connect_from(server.addr, local(2)).await;
    let code = host.create_random().await;
    let mut attacker = Client::connect_from(server.addr, local(3)).await;
    assert_eq!(attacker.join(&code).await["id"], 2);
    let mut member = Client::connect_from(server.addr, local(4)).await;
    assert_eq!(member.join(&code).await["id"], 3);
    attacker.recv().await; // peer_joined 3

    // The host stops reading. 1,000 offers of 12 KiB: far more than socket buffers hold.
    const FLOOD: usize = 1000;
    let sdp = "f".repeat(12 * 1024);
    let flood = tokio::spawn(async move {
        for n in 0..FLOOD {
            let text = json!({"type": "offer", "to": 1, "n": n, "sdp": sdp}).to_string();
            attacker.ws.send(Message::text(text)).await.expect("flood");
        }
        attacker
    });
    // Meanwhile the other lobby is served promptly.
    for _ in 0..5 {
        bystanders.exchange_within(PROMPT).await;
    }
    let mut attacker = timeout(Duration::from_secs(30), flood)
        .await
        .expect("flood sent")
        .expect("flood task");
    // Whatever the host has not taken is at most the attacker's share (plus one message).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let queued = server.stats.queued_bytes();
    assert!(
        queued <= share.bytes + 13 * 1024,
        "{queued} bytes queued for a host that does not read"
    );

    member
        .send(json!({"type": "answer", "to": 1, "sdp": "honest answer"}))
        .await;
    // The host reads again: it is still connected, gets the honest answer, and got only part
    // of the flood.
    let mut flood_seen = 0;
    loop {
        let message = host.recv().await;
        match (message["type"].as_str(), message["from"].as_i64()) {
            (Some("peer_joined"), _) => {}
            (Some("offer"), Some(2)) => flood_seen += 1,
            (Some("answer"), Some(3)) => {
                assert_eq!(message["sdp"], "honest answer");
                break;
            }
            _ => panic!("unexpected {message}"),
        }
    }
    assert!(flood_seen < FLOOD, "the excess was dropped: {flood_seen}");
    host.send(json!({"type": "offer", "to": 3, "sdp": "still here"}))
        .await;
    assert_eq!(
        member.recv().await,
        json!({"type": "offer", "from": 1, "sdp": "still here"})
    );
    // The flooder was not disconnected either; it simply lost its excess.
    attacker
        .send(json!({"type": "answer", "to": 1, "sdp": "done"}))
        .await;
    bystanders.exchange_within(PROMPT).await;
}

#[tokio::test]
async fn join_leave_churn_is_rate_limited() {
    let server = start(Config::default()).await;
    let mut honest = HonestLobby::open(server.addr, local(1)).await;
    let mut churner = Client::connect_from(server.addr, local(2)).await;
    let started = Instant::now();
    let mut joins = 0;
    let mut slowed = 0;
    for _ in 0..200 {
        churner
            .send(json!({"type": "join", "lobby": honest.code}))
            .await;
        let reply = churner.recv().await;
        if reply["type"] == "joined" {
            joins += 1;
            churner.send(json!({"type": "leave"})).await;
            assert_eq!(churner.recv().await["type"], "left");
        } else {
            assert!(reply["retry_after_ms"].as_u64().is_some(), "{reply}");
            slowed += 1;
        }
    }
    let allowed = 20 + (started.elapsed().as_secs_f64() * 2.0).ceil() as usize;
    assert!(joins <= allowed, "{joins} joins, at most {allowed}");
    assert_eq!(joins + slowed, 200);
    // The lobby heard each join and leave, and nothing else.
    for client in [&mut honest.host, &mut honest.guest] {
        for _ in 0..joins {
            assert_eq!(client.recv().await["type"], "peer_joined");
            assert_eq!(client.recv().await["type"], "peer_left");
        }
    }
    honest.exchange_within(PROMPT).await;
}

#[tokio::test]
async fn guessing_codes_is_rate_limited_per_address() {
    let server = start(Config::default()).await;
    let mut honest = HonestLobby::open(server.addr, local(1)).await;
    let mut guesser = Client::connect_from(server.addr, local(2)).await;
    let started = Instant::now();
    let (mut refused, mut slowed) = (0, 0);
    for _ in 0..60 {
        let guess = codes::random().expect("code");
        guesser.send(json!({"type": "join", "lobby": guess})).await;
        let reply = guesser.recv().await;
        assert_eq!(reply["type"], "error", "{reply}");
        let message = reply["message"].as_str().unwrap_or_default();
        if reply["retry_after_ms"].is_u64() {
            assert!(message.starts_with("slow down"), "{message}");
            slowed += 1;
        } else {
            assert!(message.starts_with("no lobby to join"), "{message}");
            refused += 1;
        }
    }
    let allowed = 20 + (started.elapsed().as_secs_f64() * 2.0).ceil() as usize;
    assert!(
        refused <= allowed,
        "{refused} guesses answered, at most {allowed}"
    );
    assert_eq!(refused + slowed, 60);
    // Guessing from one address costs another address nothing.
    let mut friend = Client::connect_from(server.addr, local(3)).await;
    assert_eq!(friend.join(&honest.code).await["id"], 3);
    for member in [&mut honest.host, &mut honest.guest] {
        assert_eq!(member.recv().await, json!({"type": "peer_joined", "id": 3}));
    }
    honest.exchange_within(PROMPT).await;
}

#[tokio::test]
async fn join_refusals_do_not_tell_which_codes_exist() {
    let server = start(Config {
        limits: Limits {
            max_peers: 2,
            ..Limits::default()
        },
        ..Config::default()
    })
    .await;
    let full = HonestLobby::open(server.addr, local(1)).await;
    let mut sealed_host = Client::connect_from(server.addr, local(1)).await;
    let sealed = sealed_host.create_random().await;
    sealed_host.send(json!({"type": "seal"})).await;
    assert_eq!(sealed_host.recv().await["type"], "sealed");
    let missing = codes::random().expect("code");

    let mut prober = Client::connect_from(server.addr, local(2)).await;
    let mut answers = Vec::new();
    for code in [&full.code, &sealed, &missing] {
        prober.send(json!({"type": "join", "lobby": code})).await;
        let reply = prober.recv().await;
        let text = reply.to_string().replace(code.as_str(), "CODE");
        answers.push(text);
    }
    assert_eq!(answers[0], answers[2], "full and missing look alike");
    assert_eq!(answers[1], answers[2], "sealed and missing look alike");
}

/// Before, a code was free the moment its host left, and the demo's join retry then landed
/// in whatever lobby somebody else created under it.
#[tokio::test]
async fn a_closed_lobby_code_is_not_reusable_for_a_while() {
    let quarantine = Duration::from_millis(600);
    let server = start(Config {
        limits: Limits {
            code_quarantine: quarantine,
            ..Limits::default()
        },
        ..Config::default()
    })
    .await;
    let code = codes::random().expect("code");
    let mut host = Client::connect_from(server.addr, local(1)).await;
    host.create(&code).await;
    let mut guest = Client::connect_from(server.addr, local(1)).await;
    guest.join(&code).await;
    drop(host);
    let closed_at = Instant::now();
    assert_eq!(guest.recv().await, json!({"type": "peer_left", "id": 1}));
    assert_eq!(guest.recv().await["type"], "lobby_closed");

    let mut impostor = Client::connect_from(server.addr, local(2)).await;
    impostor
        .expect_error(
            json!({"type": "create", "lobby": code}),
            "is taken or was used recently",
        )
        .await;
    // The guest retrying finds no lobby rather than the impostor's.
    guest
        .expect_error(json!({"type": "join", "lobby": code}), "no lobby to join")
        .await;
    tokio::time::sleep(quarantine.saturating_sub(closed_at.elapsed()) + Duration::from_millis(50))
        .await;
    assert_eq!(impostor.create(&code).await["id"], 1);
}

/// Connects from `from` with an `X-Forwarded-For` header; `Err` holds the HTTP status.
async fn connect_forwarded(
    server: std::net::SocketAddr,
    from: std::net::IpAddr,
    forwarded: &str,
) -> Result<Client, u16> {
    let mut request = format!("ws://{server}")
        .into_client_request()
        .expect("request");
    request
        .headers_mut()
        .insert("X-Forwarded-For", forwarded.parse().expect("header"));
    let stream: Box<dyn common::Io> = Box::new(tcp_from(server, from).await.expect("tcp"));
    match timeout(WAIT, tokio_tungstenite::client_async(request, stream)).await {
        Ok(Ok((ws, _))) => Ok(Client { ws }),
        Ok(Err(tokio_tungstenite::tungstenite::Error::Http(response))) => {
            Err(response.status().as_u16())
        }
        Ok(Err(e)) => panic!("neither accepted nor refused with a status: {e}"),
        Err(_) => panic!("handshake timed out"),
    }
}

#[tokio::test]
async fn a_trusted_proxy_is_counted_per_forwarded_client() {
    let proxy = local(5);
    let server = start(Config {
        trusted_proxies: vec![proxy],
        admission: AdmissionLimits {
            max_per_ip: 2,
            rate: Rate::new(100.0, 100.0),
        },
        ..Config::default()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(
            connect_forwarded(server.addr, proxy, "203.0.113.1, 127.0.0.66")
                .await
                .expect("admitted"),
        );
    }
    assert_eq!(
        connect_forwarded(server.addr, proxy, "127.0.0.66")
            .await
            .err(),
        Some(429)
    );
    // Another client behind the same proxy has its own allowance.
    let mut other = connect_forwarded(server.addr, proxy, "127.0.0.67")
        .await
        .expect("admitted");
    assert_eq!(other.create("").await["id"], 1);
    // Anyone else's X-Forwarded-For is ignored: they count as themselves.
    let untrusted = local(6);
    let mut accepted = 0;
    for n in 0..4 {
        let forwarded = format!("127.0.1.{n}");
        if let Ok(client) = try_forwarded(server.addr, untrusted, &forwarded).await {
            held.push(client);
            accepted += 1;
        }
    }
    assert_eq!(accepted, 2);
}

async fn try_forwarded(
    server: std::net::SocketAddr,
    from: std::net::IpAddr,
    forwarded: &str,
) -> Result<Client, ()> {
    let mut request = format!("ws://{server}")
        .into_client_request()
        .expect("request");
    request
        .headers_mut()
        .insert("X-Forwarded-For", forwarded.parse().expect("header"));
    let stream = tcp_from(server, from).await.map_err(|_| ())?;
    let stream: Box<dyn common::Io> = Box::new(stream);
    match timeout(WAIT, tokio_tungstenite::client_async(request, stream)).await {
        Ok(Ok((ws, _))) => Ok(Client { ws }),
        _ => Err(()),
    }
}
