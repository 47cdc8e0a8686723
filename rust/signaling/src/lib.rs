//! A WebSocket signaling server that matches WebRTC peers in lobbies.
//!
//! Peers connect with a WebSocket, create or join a lobby by its code, and the server relays
//! their offers, answers and ICE candidates to each other. It never sees the game traffic,
//! which flows peer to peer over WebRTC once connected. The Godot demo (`godot_demo/`, through
//! `WebSocketPeer`) and `cargo xtask demo` (driving two `webrtc-rs-peer` processes) both use it.
//!
//! Run it with `webrtc-rs-signaling [--bind 127.0.0.1] [--port 9080]`; it prints
//! `listening on ws://ADDR:PORT` on stdout once ready (`--port 0` picks a free port).
//!
//! # Protocol
//!
//! Every message is one JSON object in one WebSocket **text** frame, with a `"type"` field.
//! Unknown extra fields are ignored. Lobby codes are 1 to 16 letters, digits, `-` or `_`,
//! compared case-insensitively (the server answers with the upper-case form).
//!
//! ## Client to server
//!
//! | message | meaning |
//! |---|---|
//! | `{"type":"create","lobby":"CODE","mesh":false}` | create a lobby and become its host (id 1). `lobby` is optional: absent or `""` picks a random 6-character code. `mesh` (default `false`) is stored and reported to every joiner. |
//! | `{"type":"join","lobby":"CODE"}` | join an existing lobby. `{"type":"join","lobby":""}` (with optional `mesh`) is the same as `create` with a random code. |
//! | `{"type":"offer","to":N,"sdp":"..."}` | relayed to peer `N` of your lobby |
//! | `{"type":"answer","to":N,"sdp":"..."}` | relayed to peer `N` |
//! | `{"type":"candidate","to":N,"candidate":"candidate:...","sdpMid":"0","sdpMLineIndex":0}` | relayed to peer `N` |
//! | `{"type":"end-of-candidates","to":N}` | relayed to peer `N` |
//! | `{"type":"seal"}` | host only: the lobby accepts no more joins (peers already in keep relaying) |
//! | `{"type":"leave"}` | leave the lobby but keep the WebSocket (to create or join another) |
//!
//! Relayed messages are forwarded **verbatim** (every field is kept, so `sdp`, `candidate`,
//! `sdpMid`, `sdpMLineIndex` or anything else arrive unchanged), except that `to` is removed
//! and `"from": <sender id>` is added. A `from` sent by a client is discarded.
//!
//! ## Server to client
//!
//! | message | meaning |
//! |---|---|
//! | `{"type":"joined","id":N,"lobby":"CODE","mesh":false,"peers":[1,2]}` | you are peer `N` of lobby `CODE`; `peers` lists the peers already there (empty for the host) |
//! | `{"type":"peer_joined","id":N}` | peer `N` entered your lobby |
//! | `{"type":"peer_left","id":N}` | peer `N` left your lobby (or disconnected) |
//! | `{"type":"sealed"}` | the host sealed the lobby (sent to every peer, host included) |
//! | `{"type":"left"}` | answer to your `leave` |
//! | `{"type":"lobby_closed","reason":"the host left"}` | the host left, so the lobby is gone and you are in no lobby; it follows `peer_left` for id 1 |
//! | `{"type":"offer"\|"answer"\|"candidate"\|"end-of-candidates","from":N,...}` | relayed from peer `N` |
//! | `{"type":"error","message":"..."}` | your last message was refused (bad JSON, unknown type, missing or ill-typed field, unknown lobby or target, not in a lobby, sealed or full lobby, ...); the connection stays open |
//!
//! ## Ids and who connects to whom
//!
//! The host is always id 1; joiners get 2, 3, ... in join order, unique within the lobby and
//! never reused. These are the ids to give `WebRTCMultiplayerPeer` (`create_server()` on the
//! host, `create_client(id)` on others, or `create_mesh(id)` when `mesh` is true).
//!
//! Convention (not enforced by the server): for each pair of peers that should be connected,
//! the one with the **lower id sends the offer**. Without mesh, each client connects only to the
//! host, so the host offers to every peer announced by `peer_joined`. With mesh, every pair
//! connects: a newcomer waits for offers from the `peers` listed in `joined`, and offers to
//! peers that join after it.
//!
//! ## Limits
//!
//! Text frames and messages above 64 KiB close the connection with code 1009 (message too
//! big); binary frames get an `error`. A lobby holds at most 32 peers and a server at most
//! 1024 lobbies (both configurable). A connection must complete the WebSocket handshake
//! within 10 s and be in a lobby within 60 s of connecting or of leaving one (its lobby
//! closing included); the server pings every 10 s and drops a client
//! it has heard nothing from (not even a pong) for 60 s. A client that does not read its
//! messages is dropped once 256 are waiting. When any connection ends, its lobby is told with
//! `peer_left`.

pub mod admission;
pub mod cli;
pub mod codes;
mod connection;
pub mod ip;
pub mod lobby;
pub mod logging;
pub mod outbox;
pub mod protocol;
pub mod rate;
pub mod server;
pub mod state;
pub mod tls;

pub use admission::AdmissionLimits;
pub use lobby::{Hub, Limits, HOST_ID};
pub use outbox::Share;
pub use protocol::{parse_request, Reply, Request};
pub use rate::Rate;
pub use server::{Config, Server, Stats};
