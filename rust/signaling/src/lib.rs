//! A WebSocket signaling server that matches WebRTC peers in lobbies.
//!
//! Peers connect with a WebSocket, create or join a lobby by its code, and the server relays
//! their offers, answers and ICE candidates to each other. It never sees the game traffic,
//! which flows peer to peer over WebRTC once connected. The Godot demo (`godot_demo/`, through
//! `WebSocketPeer`) and `cargo xtask demo` (driving two `webrtc-rs-peer` processes) both use it.
//!
//! Run it with `webrtc-rs-signaling [--bind 127.0.0.1] [--port 9080]`; it prints
//! `listening on ws://ADDR:PORT` on stdout once ready (`--port 0` picks a free port). With
//! `--tls-cert FILE --tls-key FILE` it serves `wss://` instead. `--help` lists every limit;
//! `docs/signaling.md` covers deployment (TLS, reverse proxies, scaling).
//!
//! # Protocol
//!
//! Every message is one JSON object in one WebSocket **text** frame, with a `"type"` field.
//! Unknown extra fields are ignored.
//!
//! Lobby codes are 12 symbols from `ABCDEFGHJKLMNPQRSTUVWXYZ23456789` (no 0, O, 1 or I), so
//! 2^60 codes, written `XXXX-XXXX-XXXX`. Clients may send them in either case, with or
//! without the dashes; the server answers with the canonical form. Codes the server picks
//! are random; a client may choose its own (same shape) when several programs must agree on
//! one in advance, and should pick it at random too.
//!
//! ## Client to server
//!
//! | message | meaning |
//! |---|---|
//! | `{"type":"create","lobby":"CODE","mesh":false}` | create a lobby and become its host (id 1). `lobby` is optional: absent or `""` picks a random code. `mesh` (default `false`) is stored and reported to every joiner. |
//! | `{"type":"join","lobby":"CODE"}` | join an existing lobby. `{"type":"join","lobby":""}` (with optional `mesh`) is the same as `create` with a random code. |
//! | `{"type":"offer","to":N,"sdp":"..."}` | relayed to peer `N` of your lobby |
//! | `{"type":"answer","to":N,"sdp":"..."}` | relayed to peer `N` |
//! | `{"type":"candidate","to":N,"candidate":"candidate:...","sdpMid":"0","sdpMLineIndex":0}` | relayed to peer `N` |
//! | `{"type":"end-of-candidates","to":N}` | relayed to peer `N` |
//! | `{"type":"seal"}` | host only: the lobby accepts no more joins (peers already in keep relaying); sealing again answers only the host |
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
//! | `{"type":"error","message":"..."}` | your last message was refused (bad JSON, unknown type, missing or ill-typed field, unknown target, not in a lobby, ...); the connection stays open |
//! | `{"type":"error","message":"slow down: ...","retry_after_ms":N}` | refused because your address tries lobby codes too fast: send it again after `N` ms |
//!
//! A `join` that fails because the lobby does not exist, is full, is sealed or has closed
//! always gets the same answer, `no lobby to join with code CODE: it does not exist, is full or
//! is sealed`, so that refusals never tell which codes exist. A `create` with a chosen code
//! that is in use, or whose lobby closed less than `--code-quarantine` ago (10 minutes by
//! default), gets `lobby code CODE is taken or was used recently; ...`: nobody can take over a
//! closed lobby's code while its players may still be retrying it.
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
//! Defaults, each a flag (see `--help`); an *address* is an IPv4 address or an IPv6 /64:
//!
//! - 4096 connections in all, 32 open at once per address, 5 new ones per second per address
//!   (bursts of 20); more are closed at accept. Behind a reverse proxy given with
//!   `--trusted-proxy`, the address is the one the proxy appends to `X-Forwarded-For`, and a
//!   refused client gets HTTP 429.
//! - 1024 lobbies, 32 peers each, 8 hosted per address at once.
//! - 2 lobby-code tries per second per address (bursts of 20): each `join`, and each `create`
//!   with a chosen code. Past it: the `slow down` error above.
//! - 50 messages per second per connection (bursts of 200; a message counts once per started
//!   16 KiB). A client sending faster is simply read more slowly: nothing is dropped.
//! - Messages waiting for a client are kept per sender: 64 messages or 64 KiB from one sender
//!   to one recipient (one message always fits). Past that, that sender's messages to that
//!   recipient are dropped, and nobody is disconnected for it; messages from others still get
//!   through, taken in turn. All waiting messages together are kept under 128 MiB.
//! - Text frames and messages above 64 KiB close the connection with code 1009 (message too
//!   big); binary frames get an `error`.
//! - TLS and WebSocket handshakes must complete within 10 s; a connection must be in a lobby
//!   within 60 s of connecting or of leaving one (its lobby closing included); the server
//!   pings every 10 s and drops a client it has heard nothing from (not even a pong) for
//!   60 s, or that has not taken a message for 60 s.
//!
//! When any connection ends, its lobby is told with `peer_left`.
//!
//! ## Logging
//!
//! Through `tracing` on stderr, `--log-level` (default `info`): connections and lobbies at
//! `info`, refusals at `debug`, refused connections and dropped messages at `warn`. Lines
//! that clients can cause are limited to 20 a second (bursts of 100, the rest counted in a
//! `suppressed` field); client text appears only as an escaped prefix, and nothing is logged
//! while the lobby lock is held.

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
