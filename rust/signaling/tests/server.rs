//! The protocol over real WebSocket connections on 127.0.0.1.

mod common;

use common::{local, start, Client, Running, WAIT};
use futures_util::SinkExt;
use serde_json::json;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use webrtc_rs_signaling::{Config, Limits};

async fn start_default() -> SocketAddr {
    start(Config::default()).await.addr
}

async fn start_with(config: Config) -> SocketAddr {
    let Running { addr, .. } = start(config).await;
    addr
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
    assert_eq!(code.len(), 14, "{code}");
    assert_eq!(&code[4..5], "-");

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
    host.send(json!({"type": "create", "lobby": "mesh-mesh-mesh", "mesh": true}))
        .await;
    let created = host.recv().await;
    assert_eq!(created["lobby"], "MESH-MESH-MESH");
    assert_eq!(created["mesh"], true);
    let mut peer = Client::connect(addr).await;
    // A joiner's own mesh flag does not change the lobby's.
    peer.send(json!({"type": "join", "lobby": "meshmeshmesh", "mesh": false}))
        .await;
    let joined = peer.recv().await;
    assert_eq!(joined["mesh"], true);
}

#[tokio::test]
async fn relays_both_ways_with_sender_id() {
    let addr = start_default().await;
    let mut host = Client::connect(addr).await;
    host.create("RELA-YREL-AYRE").await;
    let mut client = Client::connect(addr).await;
    client.join("RELA-YREL-AYRE").await;
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
    host.create("ERRE-RRER-RERR").await;
    host.expect_error(
        json!({"type": "offer", "to": 5, "sdp": "x"}),
        "no peer 5 in lobby ERRE-RRER-RERR",
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
    host.create("BYEB-YEBY-EBYE").await;
    let mut a = Client::connect(addr).await;
    a.join("BYEB-YEBY-EBYE").await;
    host.recv().await;
    let mut b = Client::connect(addr).await;
    b.join("BYEB-YEBY-EBYE").await;
    host.recv().await;
    a.recv().await;

    // An explicit leave keeps the socket usable.
    b.send(json!({"type": "leave"})).await;
    assert_eq!(b.recv().await, json!({"type": "left"}));
    assert_eq!(host.recv().await, json!({"type": "peer_left", "id": 3}));
    assert_eq!(a.recv().await, json!({"type": "peer_left", "id": 3}));
    let rejoined = b.join("BYEB-YEBY-EBYE").await;
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
    a.expect_error(
        json!({"type": "join", "lobby": "BYEB-YEBY-EBYE"}),
        "no lobby to join with code BYEB-YEBY-EBYE",
    )
    .await;
    // The code is not free again (quarantined), but a random one is.
    a.expect_error(
        json!({"type": "create", "lobby": "BYEB-YEBY-EBYE"}),
        "lobby code BYEB-YEBY-EBYE is taken or was used recently",
    )
    .await;
    assert_eq!(a.create("").await["id"], 1);
}

#[tokio::test]
async fn seal_stops_joins() {
    let addr = start_default().await;
    let mut host = Client::connect(addr).await;
    host.create("SEAL-SEAL-SEAL").await;
    let mut member = Client::connect(addr).await;
    member.join("SEAL-SEAL-SEAL").await;
    host.recv().await;

    member
        .expect_error(json!({"type": "seal"}), "only the host")
        .await;
    host.send(json!({"type": "seal"})).await;
    assert_eq!(host.recv().await, json!({"type": "sealed"}));
    assert_eq!(member.recv().await, json!({"type": "sealed"}));

    let mut late = Client::connect(addr).await;
    late.expect_error(
        json!({"type": "join", "lobby": "SEAL-SEAL-SEAL"}),
        "no lobby to join with code SEAL-SEAL-SEAL",
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
        .expect_error(
            json!({"type": "join", "lobby": "NNPE-NNPE-NNPE"}),
            "no lobby to join with code NNPE-NNPE-NNPE",
        )
        .await;
    client.create("TAKE-NTAK-ENTA").await;
    let mut other = Client::connect(addr).await;
    other
        .expect_error(
            json!({"type": "create", "lobby": "take-ntak-enta"}),
            "lobby code TAKE-NTAK-ENTA is taken",
        )
        .await;
    client
        .expect_error(
            json!({"type": "join", "lobby": "TAKE-NTAK-ENTA"}),
            "already in lobby TAKE-NTAK-ENTA",
        )
        .await;
}

#[tokio::test]
async fn oversized_frame_closes_only_that_connection() {
    let addr = start_default().await;
    let mut host = Client::connect(addr).await;
    host.create("BBBB-GGGG-BBBB").await;
    let mut peer = Client::connect(addr).await;
    peer.join("BBBB-GGGG-BBBB").await;
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
    assert_eq!(fresh.join("BBBB-GGGG-BBBB").await["id"], 3);
}

#[tokio::test]
async fn many_lobbies_stay_separate() {
    let addr = start_default().await;
    let mut pairs = Vec::new();
    for n in 0..40 {
        // Each lobby from its own address, as separate players would be.
        let from = local(10 + n as u8);
        let mut host = Client::connect_from(addr, from).await;
        let code = host.create("").await["lobby"]
            .as_str()
            .expect("code")
            .to_string();
        let mut guest = Client::connect_from(addr, from).await;
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
    let addr = start_with(Config {
        limits: Limits {
            max_lobbies: 2,
            max_peers: 2,
            ..Limits::default()
        },
        ..Config::default()
    })
    .await;
    let mut a = Client::connect(addr).await;
    a.create("AAAA-AAAA-AAAA").await;
    let mut b = Client::connect(addr).await;
    b.create("BBBB-BBBB-BBBB").await;
    let mut c = Client::connect(addr).await;
    c.expect_error(json!({"type": "create"}), "maximum of 2 lobbies")
        .await;
    c.join("AAAA-AAAA-AAAA").await;
    let mut d = Client::connect(addr).await;
    d.expect_error(
        json!({"type": "join", "lobby": "AAAA-AAAA-AAAA"}),
        "no lobby to join with code AAAA-AAAA-AAAA",
    )
    .await;
}

#[tokio::test]
async fn clients_that_never_join_are_dropped() {
    let addr = start_with(Config {
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
    let addr = start_with(Config {
        idle_timeout: Duration::from_millis(400),
        ping_interval: Duration::from_millis(50),
        ..Config::default()
    })
    .await;
    let mut host = Client::connect(addr).await;
    host.create("DLED-LEDL-EDLE").await;
    // The server counts silence from the last frame it heard from the client, which comes
    // after this (the connection, the join, or a pong answered while reading the reply); a
    // reference taken after the join could come late by any amount on a loaded machine.
    let started = tokio::time::Instant::now();
    // This client stops reading, so it never answers the server's pings.
    let mut mute = Client::connect(addr).await;
    mute.join("DLED-LEDL-EDLE").await;
    assert_eq!(host.recv().await, json!({"type": "peer_joined", "id": 2}));
    // The host keeps answering pings (recv reads them), so only the mute client goes.
    assert_eq!(host.recv().await, json!({"type": "peer_left", "id": 2}));
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(400), "dropped after {took:?}");
    drop(mute);
}

#[tokio::test]
async fn non_websocket_connections_do_not_disturb_the_server() {
    let addr = start_with(Config {
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
    let addr = start_with(Config {
        join_timeout: Duration::from_millis(300),
        ping_interval: Duration::from_millis(50),
        ..Config::default()
    })
    .await;
    let mut host = Client::connect(addr).await;
    host.create("STAY-STAY-STAY").await;
    host.expect_silence(700).await;
    host.send(json!({"type": "seal"})).await;
    assert_eq!(host.recv().await, json!({"type": "sealed"}));

    // The join timer restarts once the server has handled the leave, so after this.
    let left_at = tokio::time::Instant::now();
    host.send(json!({"type": "leave"})).await;
    assert_eq!(host.recv().await, json!({"type": "left"}));
    assert_eq!(host.close_code().await, Some(CloseCode::Policy));
    let took = left_at.elapsed();
    assert!(took >= Duration::from_millis(300), "closed after {took:?}");
}
