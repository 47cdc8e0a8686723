//! The server over real WebSocket connections on 127.0.0.1.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};
use webrtc_rs_signaling::{Config, Limits, Server};

const WAIT: Duration = Duration::from_secs(5);

async fn start(config: Config) -> SocketAddr {
    let server = Server::bind(Config {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..config
    })
    .await
    .expect("bind 127.0.0.1:0");
    let addr = server.local_addr().expect("local addr");
    tokio::spawn(server.run());
    addr
}

async fn start_default() -> SocketAddr {
    start(Config::default()).await
}

struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        let (ws, _) = connect_async(format!("ws://{addr}"))
            .await
            .expect("WebSocket connect");
        Client { ws }
    }

    async fn send(&mut self, value: Value) {
        self.send_text(value.to_string()).await;
    }

    async fn send_text(&mut self, text: String) {
        self.ws.send(Message::text(text)).await.expect("send");
    }

    /// The next JSON message (pings are skipped).
    async fn recv(&mut self) -> Value {
        loop {
            let frame = timeout(WAIT, self.ws.next())
                .await
                .expect("a message within 5 s")
                .expect("connection open")
                .expect("valid frame");
            match frame {
                Message::Text(text) => return serde_json::from_str(text.as_str()).expect("JSON"),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    /// Sends `value` and expects an error reply containing `needle`.
    async fn expect_error(&mut self, value: Value, needle: &str) {
        self.send(value).await;
        self.expect_error_reply(needle).await;
    }

    async fn expect_error_reply(&mut self, needle: &str) {
        let reply = self.recv().await;
        assert_eq!(reply["type"], "error", "{reply}");
        let message = reply["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    }

    /// Nothing but pings arrives within `ms` milliseconds (pings are answered meanwhile).
    async fn expect_silence(&mut self, ms: u64) {
        let until = tokio::time::Instant::now() + Duration::from_millis(ms);
        loop {
            match tokio::time::timeout_at(until, self.ws.next()).await {
                Err(_) => return,
                Ok(Some(Ok(Message::Ping(_)))) => continue,
                Ok(other) => panic!("expected nothing, got {other:?}"),
            }
        }
    }

    /// The close code the server sends, reading past any other frame.
    async fn close_code(&mut self) -> Option<CloseCode> {
        loop {
            match timeout(WAIT, self.ws.next())
                .await
                .expect("close within 5 s")
            {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }

    async fn create(&mut self, lobby: &str) -> Value {
        self.send(json!({"type": "create", "lobby": lobby})).await;
        let reply = self.recv().await;
        assert_eq!(reply["type"], "joined", "{reply}");
        reply
    }

    async fn join(&mut self, lobby: &str) -> Value {
        self.send(json!({"type": "join", "lobby": lobby})).await;
        let reply = self.recv().await;
        assert_eq!(reply["type"], "joined", "{reply}");
        reply
    }
}

#[tokio::test]
async fn create_join_assigns_ids_and_announces() {
    let addr = start_default().await;
    let mut host = Client::connect(addr).await;
    host.send(json!({"type": "join", "lobby": ""})).await;
    let created = host.recv().await;
    assert_eq!(created["type"], "joined");
    assert_eq!(created["id"], 1);
    assert_eq!(created["peers"], json!([]));
    assert_eq!(created["mesh"], false);
    let code = created["lobby"].as_str().expect("code").to_string();
    assert_eq!(code.len(), 6);

    let mut second = Client::connect(addr).await;
    let joined = second.join(&code.to_lowercase()).await;
    assert_eq!(joined["id"], 2);
    assert_eq!(joined["lobby"], code.as_str());
    assert_eq!(joined["peers"], json!([1]));
    assert_eq!(host.recv().await, json!({"type": "peer_joined", "id": 2}));

    let mut third = Client::connect(addr).await;
    let joined = third.join(&code).await;
    assert_eq!(joined["id"], 3);
    assert_eq!(joined["peers"], json!([1, 2]));
    assert_eq!(host.recv().await, json!({"type": "peer_joined", "id": 3}));
    assert_eq!(second.recv().await, json!({"type": "peer_joined", "id": 3}));
    third.expect_silence(100).await;
}

#[tokio::test]
async fn mesh_flag_is_reported_to_joiners() {
    let addr = start_default().await;
    let mut host = Client::connect(addr).await;
    host.send(json!({"type": "create", "lobby": "Mesh-1", "mesh": true}))
        .await;
    let created = host.recv().await;
    assert_eq!(created["lobby"], "MESH-1");
    assert_eq!(created["mesh"], true);
    let mut peer = Client::connect(addr).await;
    // A joiner's own mesh flag does not change the lobby's.
    peer.send(json!({"type": "join", "lobby": "mesh-1", "mesh": false}))
        .await;
    let joined = peer.recv().await;
    assert_eq!(joined["mesh"], true);
}

#[tokio::test]
async fn relays_both_ways_with_sender_id() {
    let addr = start_default().await;
    let mut host = Client::connect(addr).await;
    host.create("RELAY").await;
    let mut client = Client::connect(addr).await;
    client.join("RELAY").await;
    host.recv().await; // peer_joined

    host.send(json!({"type": "offer", "to": 2, "sdp": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"}))
        .await;
    assert_eq!(
        client.recv().await,
        json!({"type": "offer", "from": 1, "sdp": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"})
    );
    client
        .send(json!({"type": "answer", "to": 1, "sdp": "answer-sdp", "from": 7}))
        .await;
    assert_eq!(
        host.recv().await,
        json!({"type": "answer", "from": 2, "sdp": "answer-sdp"})
    );
    let candidate = "candidate:1 1 UDP 2122317823 127.0.0.1 5000 typ host";
    client
        .send(json!({"type": "candidate", "to": 1, "candidate": candidate, "sdpMid": "0", "sdpMLineIndex": 0}))
        .await;
    assert_eq!(
        host.recv().await,
        json!({"type": "candidate", "from": 2, "candidate": candidate, "sdpMid": "0", "sdpMLineIndex": 0})
    );
    host.send(json!({"type": "end-of-candidates", "to": 2}))
        .await;
    assert_eq!(
        client.recv().await,
        json!({"type": "end-of-candidates", "from": 1})
    );
}

#[tokio::test]
async fn relay_errors_name_the_problem() {
    let addr = start_default().await;
    let mut outsider = Client::connect(addr).await;
    outsider
        .expect_error(
            json!({"type": "offer", "to": 1, "sdp": "x"}),
            "not in a lobby",
        )
        .await;
    outsider
        .expect_error(json!({"type": "seal"}), "not in a lobby")
        .await;
    outsider
        .expect_error(json!({"type": "leave"}), "not in a lobby")
        .await;

    let mut host = Client::connect(addr).await;
    host.create("ERR").await;
    host.expect_error(
        json!({"type": "offer", "to": 5, "sdp": "x"}),
        "no peer 5 in lobby ERR",
    )
    .await;
    host.expect_error(
        json!({"type": "offer", "to": 1, "sdp": "x"}),
        "cannot send to yourself",
    )
    .await;
    host.expect_error(
        json!({"type": "candidate", "candidate": "x"}),
        "missing field \"to\"",
    )
    .await;
}

#[tokio::test]
async fn leaves_are_announced_and_host_leaving_closes_the_lobby() {
    let addr = start_default().await;
    let mut host = Client::connect(addr).await;
    host.create("BYE").await;
    let mut a = Client::connect(addr).await;
    a.join("BYE").await;
    host.recv().await;
    let mut b = Client::connect(addr).await;
    b.join("BYE").await;
    host.recv().await;
    a.recv().await;

    // An explicit leave keeps the socket usable.
    b.send(json!({"type": "leave"})).await;
    assert_eq!(b.recv().await, json!({"type": "left"}));
    assert_eq!(host.recv().await, json!({"type": "peer_left", "id": 3}));
    assert_eq!(a.recv().await, json!({"type": "peer_left", "id": 3}));
    let rejoined = b.join("BYE").await;
    assert_eq!(rejoined["id"], 4);
    host.recv().await;
    a.recv().await;

    // Dropping the connection is a leave too.
    drop(b);
    assert_eq!(host.recv().await, json!({"type": "peer_left", "id": 4}));
    assert_eq!(a.recv().await, json!({"type": "peer_left", "id": 4}));

    host.ws.close(None).await.expect("close");
    assert_eq!(a.recv().await, json!({"type": "peer_left", "id": 1}));
    assert_eq!(
        a.recv().await,
        json!({"type": "lobby_closed", "reason": "the host left"})
    );
    a.expect_error(json!({"type": "join", "lobby": "BYE"}), "no lobby BYE")
        .await;
    // The code is free again.
    let recreated = a.create("BYE").await;
    assert_eq!(recreated["id"], 1);
}

#[tokio::test]
async fn seal_stops_joins() {
    let addr = start_default().await;
    let mut host = Client::connect(addr).await;
    host.create("SEAL").await;
    let mut member = Client::connect(addr).await;
    member.join("SEAL").await;
    host.recv().await;

    member
        .expect_error(json!({"type": "seal"}), "only the host")
        .await;
    host.send(json!({"type": "seal"})).await;
    assert_eq!(host.recv().await, json!({"type": "sealed"}));
    assert_eq!(member.recv().await, json!({"type": "sealed"}));

    let mut late = Client::connect(addr).await;
    late.expect_error(
        json!({"type": "join", "lobby": "SEAL"}),
        "lobby SEAL is sealed",
    )
    .await;
    // Relaying inside a sealed lobby still works.
    member
        .send(json!({"type": "answer", "to": 1, "sdp": "s"}))
        .await;
    assert_eq!(host.recv().await["from"], 2);
}

#[tokio::test]
async fn malformed_messages_get_errors_and_the_connection_survives() {
    let addr = start_default().await;
    let mut client = Client::connect(addr).await;
    let cases = [
        ("{not json", "invalid JSON"),
        ("", "invalid JSON"),
        ("42", "must be a JSON object"),
        (r#"{"lobby":"A"}"#, "missing field \"type\""),
        (
            r#"{"type":"teleport"}"#,
            "unknown message type \"teleport\"",
        ),
        (r#"{"type":"join"}"#, "missing field \"lobby\""),
        (r#"{"type":"join","lobby":"a b"}"#, "invalid lobby code"),
        (r#"{"type":"offer","to":-1}"#, "positive integer"),
        ("\u{0}\u{1}\u{ff}", "invalid JSON"),
    ];
    for (text, needle) in cases {
        client.send_text(text.to_string()).await;
        client.expect_error_reply(needle).await;
    }
    client
        .ws
        .send(Message::binary(vec![1, 2, 3]))
        .await
        .expect("send binary");
    client
        .expect_error_reply("binary frames are not supported")
        .await;
    let created = client.create("").await;
    assert_eq!(created["id"], 1);
}

#[tokio::test]
async fn unknown_lobby_and_taken_code() {
    let addr = start_default().await;
    let mut client = Client::connect(addr).await;
    client
        .expect_error(json!({"type": "join", "lobby": "NOPE"}), "no lobby NOPE")
        .await;
    client.create("TAKEN").await;
    let mut other = Client::connect(addr).await;
    other
        .expect_error(
            json!({"type": "create", "lobby": "taken"}),
            "lobby TAKEN already exists",
        )
        .await;
    client
        .expect_error(
            json!({"type": "join", "lobby": "TAKEN"}),
            "already in lobby TAKEN",
        )
        .await;
}

#[tokio::test]
async fn oversized_frame_closes_only_that_connection() {
    let addr = start_default().await;
    let mut host = Client::connect(addr).await;
    host.create("BIG").await;
    let mut peer = Client::connect(addr).await;
    peer.join("BIG").await;
    host.recv().await;

    // Just under the limit is relayed intact.
    let sdp = "a".repeat(60 * 1024);
    peer.send(json!({"type": "offer", "to": 1, "sdp": sdp}))
        .await;
    assert_eq!(
        host.recv().await["sdp"].as_str().map(str::len),
        Some(sdp.len())
    );

    // Over the limit: closed with 1009, and the lobby hears the peer left.
    let huge = format!(
        r#"{{"type":"offer","to":1,"sdp":"{}"}}"#,
        "b".repeat(70 * 1024)
    );
    // The server may close before the whole frame is written.
    let _ = peer.ws.send(Message::text(huge)).await;
    assert_eq!(peer.close_code().await, Some(CloseCode::Size));
    assert_eq!(host.recv().await, json!({"type": "peer_left", "id": 2}));

    let mut fresh = Client::connect(addr).await;
    assert_eq!(fresh.join("BIG").await["id"], 3);
}

#[tokio::test]
async fn many_lobbies_stay_separate() {
    let addr = start_default().await;
    let mut pairs = Vec::new();
    for n in 0..40 {
        let mut host = Client::connect(addr).await;
        let code = host.create("").await["lobby"]
            .as_str()
            .expect("code")
            .to_string();
        let mut guest = Client::connect(addr).await;
        assert_eq!(guest.join(&code).await["id"], 2);
        host.recv().await;
        pairs.push((n, code, host, guest));
    }
    let codes: std::collections::HashSet<&String> = pairs.iter().map(|p| &p.1).collect();
    assert_eq!(codes.len(), 40);
    for (n, _, _, guest) in pairs.iter_mut() {
        guest
            .send(json!({"type": "offer", "to": 1, "sdp": format!("from-{n}")}))
            .await;
    }
    for (n, _, host, _) in pairs.iter_mut() {
        let offer = host.recv().await;
        assert_eq!(offer["sdp"], format!("from-{n}"));
        host.expect_silence(20).await;
    }
}

#[tokio::test]
async fn lobby_and_peer_limits() {
    let addr = start(Config {
        limits: Limits {
            max_lobbies: 2,
            max_peers: 2,
        },
        ..Config::default()
    })
    .await;
    let mut a = Client::connect(addr).await;
    a.create("A").await;
    let mut b = Client::connect(addr).await;
    b.create("B").await;
    let mut c = Client::connect(addr).await;
    c.expect_error(json!({"type": "create"}), "maximum of 2 lobbies")
        .await;
    c.join("A").await;
    let mut d = Client::connect(addr).await;
    d.expect_error(
        json!({"type": "join", "lobby": "A"}),
        "lobby A is full (2 peers)",
    )
    .await;
}

#[tokio::test]
async fn clients_that_never_join_are_dropped() {
    let addr = start(Config {
        join_timeout: Duration::from_millis(300),
        ping_interval: Duration::from_millis(50),
        ..Config::default()
    })
    .await;
    let mut idle = Client::connect(addr).await;
    assert_eq!(idle.close_code().await, Some(CloseCode::Policy));
}

#[tokio::test]
async fn silent_clients_are_dropped_and_announced() {
    let addr = start(Config {
        idle_timeout: Duration::from_millis(400),
        ping_interval: Duration::from_millis(50),
        ..Config::default()
    })
    .await;
    let mut host = Client::connect(addr).await;
    host.create("IDLE").await;
    // This client stops reading, so it never answers the server's pings.
    let mut mute = Client::connect(addr).await;
    mute.join("IDLE").await;
    let started = tokio::time::Instant::now();
    assert_eq!(host.recv().await, json!({"type": "peer_joined", "id": 2}));
    // The host keeps answering pings (recv reads them), so only the mute client goes.
    assert_eq!(host.recv().await, json!({"type": "peer_left", "id": 2}));
    assert!(started.elapsed() >= Duration::from_millis(300));
    drop(mute);
}

#[tokio::test]
async fn non_websocket_connections_do_not_disturb_the_server() {
    let addr = start(Config {
        handshake_timeout: Duration::from_millis(300),
        ..Config::default()
    })
    .await;
    let mut garbage = TcpStream::connect(addr).await.expect("tcp");
    garbage
        .write_all(b"\x16\x03\x01 definitely not HTTP\r\n\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 1024];
    // The server answers with an HTTP error or just closes; either way the socket ends.
    loop {
        match timeout(WAIT, garbage.read(&mut buf))
            .await
            .expect("closed within 5 s")
        {
            Ok(0) | Err(_) => break,
            Ok(_) => continue,
        }
    }
    let mut silent = TcpStream::connect(addr).await.expect("tcp");
    let read = timeout(WAIT, silent.read(&mut buf))
        .await
        .expect("handshake timeout");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");

    let mut client = Client::connect(addr).await;
    assert_eq!(client.create("").await["id"], 1);
}

#[tokio::test]
async fn join_timeout_spares_members_and_restarts_after_leaving() {
    let addr = start(Config {
        join_timeout: Duration::from_millis(300),
        ping_interval: Duration::from_millis(50),
        ..Config::default()
    })
    .await;
    let mut host = Client::connect(addr).await;
    host.create("STAY").await;
    host.expect_silence(700).await;
    host.send(json!({"type": "seal"})).await;
    assert_eq!(host.recv().await, json!({"type": "sealed"}));

    host.send(json!({"type": "leave"})).await;
    assert_eq!(host.recv().await, json!({"type": "left"}));
    let left_at = tokio::time::Instant::now();
    assert_eq!(host.close_code().await, Some(CloseCode::Policy));
    assert!(left_at.elapsed() >= Duration::from_millis(250));
}
