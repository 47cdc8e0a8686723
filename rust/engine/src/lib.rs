//! webrtc_rs engine: a data-channel-only WebRTC peer (ICE, DTLS, SCTP, DCEP, SDP offer/answer,
//! trickle ICE) with a synchronous, poll-driven API. No Godot dependency.
//!
//! # Design
//!
//! **Protocol stack.** The maintained sans-IO webrtc-rs crates, composed here without the `rtc`
//! umbrella: `rtc-ice` (the ICE agent), `rtc-dtls` (DTLS 1.2 endpoint, ECDSA P-256 certificate
//! generated per connection, only `TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256`, remote certificate
//! checked against the SDP `a=fingerprint`: sha-1/256/384/512), `rtc-sctp` (the association),
//! `rtc-datachannel` (DCEP wire format), `rtc-stun` (server-reflexive gathering), `rtc-turn`
//! (relay candidates, long-term credentials; to the server over UDP, TCP or TLS with rustls +
//! ring). The SDP is
//! our own small writer/reader (`sdp.rs`): one `m=application ... UDP/DTLS/SCTP
//! webrtc-datachannel` section.
//!
//! **Module map.** Sans-IO protocol code is told the time and never reads a clock; only the
//! driver touches sockets and `Instant::now()`.
//!
//! | module | job |
//! |---|---|
//! | `api` (+ `api/data_channel.rs`, `api/restart.rs`) | the handles callers use: [`PeerConnection`], [`DataChannel`]; `restart.rs`: descriptions after the first offer/answer (ICE restart) |
//! | `mailbox` | what travels between handles and the network thread: `Command`, `Update`, the `Shared` update queue, [`Notify`] |
//! | `core/mod.rs` | one connection, sans-IO: wires the layers below, owns the connection state and the setup deadline |
//! | `core/ice.rs` | rtc-ice agent: local and remote candidates, checks, selection, consent; STUN authenticated before the agent; which addresses are validated; DTLS that arrives early |
//! | `core/dtls.rs` | rtc-dtls endpoint: handshake in the negotiated role, fingerprint check, the filter of unauthenticated records |
//! | `core/flight.rs` | our last handshake flight, sent again when rtc-dtls stops retransmitting |
//! | `core/sctp.rs` | rtc-sctp association (attempts that switch role when unanswered) and its streams, DCEP messages |
//! | `core/sctp_guard.rs` | bounds on what the remote's SCTP packets can make rtc-sctp hold |
//! | `core/sctp_recovery.rs` | loss recovery beside rtc-sctp: DATA packets (of reliable channels) and FORWARD TSNs sent again on the SACKs' evidence |
//! | `core/pacer.rs` | spreads the new DATA rtc-sctp writes in bursts: at 2x (then 1.25x) its window per round trip, after a loss at most 1.25x the measured delivery rate (0.75x while the queue drains) and no more in flight than 1.25x what the path holds; SACKs, control and retransmissions never wait |
//! | `core/delivery_rate.rs` | the rate the remote receives our data at, sampled per SACK as TCP does (delivered since the packet left, over the time since) |
//! | `core/sack_filter.rs` | which losses rtc-sctp reacts to: none of a loss episode on a path without a queue (random loss: repaired beside it, its window kept), and one cwnd reduction per loss window otherwise (once its fast recovery, which ends too early, is over, the remote's SACKs reach it without gap blocks until the window's last TSN is acknowledged) |
//! | `core/sctp_skip.rs` | partial reliability beside rtc-sctp: a lost message its channel may not send again is skipped at once with our own FORWARD TSN |
//! | `core/channels.rs` | the data channel state machine (one `set_state`), stream ids, reading within the receive budget |
//! | `gather/` | gathering, sans-IO: host, STUN (server-reflexive) and TURN (relay) candidates, their transactions, "is gathering complete" |
//! | `relay.rs` | TURN allocations, sans-IO: allocate, permissions, Send/ChannelData, refresh, release |
//! | `mdns/` (`mod.rs`, `message.rs`, `responder.rs`) | `.local` candidate names, sans-IO: one-shot mDNS queries (RFC 6762) with their retransmissions and deadline; our host addresses' random names and the rate-limited answers for them; the DNS wire format |
//! | `driver.rs` (+ `driver/net.rs`, `driver/mdns.rs`, `driver/mdns_names.rs`) | the per-connection task on the one network thread: sockets (including the mDNS ones), DNS for server names, timers; moves bytes and time |
//! | `driver/mux.rs` | UDP mux (`PortConfig::udp_mux`): one socket per local address shared by the process's connections; routes each datagram (STUN requests by ufrag, responses by transaction, the rest by remote address), bounded tables |
//! | `driver/simulator.rs` | the network simulator (`Config::simulate`): a lane of the shared `impair-model` per direction between the sockets and the rest, released on the driver's timers |
//! | `stream.rs` | TCP/TLS connections to TURN servers |
//! | `config.rs`, `sdp.rs`, `candidate.rs` | parsing and validating what the application gives us (every rule lives here, the glue only converts types); `candidate.rs` also names our candidates' kinds |
//! | `datagram.rs` | `Transmit`: a datagram the sans-IO layers queue for the driver |
//! | `channel.rs` | what a channel's handle and the network thread share (buffered amount and its low threshold, receive budgets); the message size limit |
//! | `stats/` | what a connection tells about itself: [`Stats`] (the handle reads atomics and a snapshot the network thread publishes), retransmissions counted from our SCTP packets, the process-wide [`ProcessTotals`] |
//! | `failure.rs` | [`ErrorReason`] (when each is reported) and the [`FailureReport`] of servers and candidate pairs; `core/ice_view.rs` reads the pairs from rtc-ice, `gather/reports.rs` keeps the servers' outcomes |
//! | `sim/` (tests only) | two cores on a virtual clock exchanging datagrams in memory; a scripted TURN server for `relay.rs` |
//!
//! **Threading.** One network thread for the whole process (`webrtc-rs-net`, a tokio
//! current-thread runtime started on the first [`PeerConnection::new`]). Each connection is one
//! task on it, plus one reader task per UDP socket; no thread or runtime per connection. The
//! handles never block on the network: requests travel to the task as commands over an
//! unbounded tokio channel, and results come back as updates in a mutex-protected queue, after
//! which the optional [`Notify`] callback runs (on the network thread).
//!
//! **Data path.** Send: [`DataChannel::send`] checks state and size, adds to the channel's
//! buffered amount and queues the bytes; the task writes them to the SCTP stream; SCTP output is
//! encrypted by DTLS and sent on the ICE-selected pair. The buffered amount drops as SCTP
//! releases (acknowledges or abandons) the bytes. Receive: socket → ICE (STUN) or DTLS →
//! SCTP → whole messages are read from a stream only while that channel's unread bytes are under
//! `Config::channel_receive_budget`; otherwise the stream is parked and its data stays in SCTP's
//! reassembly queue, which closes the receive window and throttles the sender. Reading with
//! [`DataChannel::recv`] below the budget asks the task to resume the parked stream (SCTP's
//! `Readable` event is edge-triggered, so parked streams are retried explicitly).
//!
//! **TURN.** Each `turn:` server gets one allocation per local socket (UDP), or per local
//! address over one TCP (`?transport=tcp`) or TLS (`turns:`) connection, whose stream is split
//! into TURN messages and handled like datagrams from the server. The relayed address
//! becomes a `typ relay` candidate; datagrams the core sends from it are wrapped in Send
//! indications (ChannelData once a channel is bound) and go to the server; what the server
//! relays back is unwrapped and fed to the core as if received on the relayed address. Every
//! remote candidate's address gets a permission. The allocation is refreshed before it expires
//! (at half its lifetime, at most every 60 s), permissions every 2 minutes, and on close each
//! allocation is deleted (Refresh with lifetime 0, confirmation awaited up to 1 s). A refused
//! allocation (e.g. 401, wrong credential) is logged as an error naming the server; gathering
//! still completes. [`IceTransportPolicy::Relay`] (`iceTransportPolicy: "relay"`) gathers relay
//! candidates only, announces them with `raddr 0.0.0.0 rport 0` (`raddr :: rport 0` for IPv6),
//! skips STUN and ignores anything not from a TURN server.
//!
//! **IPv4 and IPv6.** Without a bind address, host candidates come from every interface address
//! of either family except loopback and IPv6 link-local ones; each gets its own socket. A socket
//! asks STUN and TURN servers of its own family only (a server's name is resolved and the
//! address of the socket's family taken), and ICE pairs candidates of the same family. The
//! relayed address's family is the server's choice: rtc-turn sends no REQUESTED-ADDRESS-FAMILY
//! (RFC 6156), so a server following the RFC relays over IPv4 (see KNOWN_ISSUES.md). The SDP's
//! `c=` line is JSEP's `IN IP4 0.0.0.0` placeholder whatever the family, since candidates travel
//! trickled. Tested on `::1`, in an IPv6-only namespace (`tests/ipv6.rs`) and behind NATs
//! (`rust/peer-cli/tests/nat.rs`).
//!
//! **ICE restart.** [`PeerConnection::restart_ice`] makes an offer with new ICE credentials and
//! gathers again (a socket is bound on each address that appeared; the candidates wait in the
//! ICE layer until the answer). The answer, or a remote offer with new credentials, restarts
//! the rtc-ice agent (`core/ice.rs`: pairs and remote candidates forgotten, checks from
//! scratch); DTLS and SCTP are untouched and keep using the previous pair until the agent
//! selects a new one, so channels stay open and SCTP retransmits what the old path lost. A
//! later description that changes the DTLS fingerprint or the data section's mid is refused;
//! one with the same credentials is answered and changes nothing.
//!
//! # Invariants
//! - Everything the caller observes (connection, gathering and channel states, received
//!   messages, events) changes only inside [`PeerConnection::poll`], in the order it happened;
//!   [`DataChannel::available`] never exceeds what [`DataChannel::recv`] can return. The
//!   exceptions are the direct effects of the caller's own calls (signaling state,
//!   `close()` → CLOSING/CLOSED) and [`DataChannel::buffered_amount`], which is live (its
//!   falls to the low threshold are raised by `poll()` as [`Event::BufferedAmountLow`]).
//! - A connection stays NEW until a remote description is applied, is CONNECTED once DTLS and
//!   SCTP are up, and never reports DISCONNECTED or CLOSED transiently while healthy. FAILED:
//!   ICE failure, DTLS failure (including a fatal alert from the remote, at any time),
//!   certificate fingerprint mismatch, or DTLS (30 s after ICE) or SCTP (10 s after DTLS) not
//!   up in time (no channel opens then).
//!   No state is left without a timer: every connection ends (see *Timings*).
//! - A reliable channel delivers every accepted message, whole and in order, or reports closed.
//! - Memory per channel is bounded by the receive budget (plus one message and SCTP's receive
//!   buffer), never by what the remote sends.
//! - [`PeerConnection::close`] reports CLOSED at once; the task still sends the stream resets,
//!   the SCTP ABORT and the DTLS close_notify. Dropping a [`PeerConnection`] does the same and
//!   the task, its sockets and reader tasks end with it.
//! - Every public entry point returns [`Error`] instead of panicking; messages name the bad
//!   input.
//!
//! # Timings
//!
//! What a connection reports when the other side does not do its part. The `sim` tests
//! (`src/sim/`: two cores exchanging datagrams in memory on a virtual clock, with hooks to
//! drop, delay, duplicate or rewrite datagrams) check each row to the millisecond except the
//! fatal alert after connecting, which two engine peers never send each other;
//! `tests/lifecycle.rs` checks the close and fingerprint rows over real UDP:
//!
//! | situation | what is reported |
//! |---|---|
//! | no connectivity check is ever answered | FAILED 30 s after the remote description (rtc-ice: 5 s + 25 s) |
//! | ICE connects but the DTLS handshake does not complete (nobody starts it, a stalled flight) | FAILED 30 s after ICE selected a pair (the setup deadline) |
//! | DTLS completes but the SCTP association is never answered | unanswered attempts switch SCTP role every 2 s (INIT sent, or awaited); FAILED 10 s after DTLS completed, the log naming what was tried; the remote, if it gets our close_notify first, reports CLOSED |
//! | DTLS handshake fails (bad fingerprint, fatal alert, retransmissions exhausted) | FAILED at once, both sides (the other learns it from the alert) |
//! | a fatal DTLS alert after connecting | FAILED at once |
//! | the remote closes (close, or its handle dropped) | CLOSED at once (SCTP ABORT / DTLS close_notify) |
//! | the remote vanishes after connecting (process killed, path gone): nothing arrives any more | DISCONNECTED after 5 s, FAILED 30 s after the last packet; channels report CLOSED with FAILED |
//! | the path comes back before those 30 s | CONNECTED again; data sent meanwhile is delivered (SCTP retransmits it) |
//!
//! These are the defaults of [`Liveness`] (`Config::liveness`; `initialize()` keys
//! `disconnectedTimeout`, `failedTimeout`, `keepaliveInterval`): 5 s, 30 s and 2 s.
//! ICE checks the selected pair every 2 s (keepalive), so DISCONNECTED and FAILED come up to
//! about 0.2 s after the figures above. Between DISCONNECTED and FAILED the channels stay open
//! and accept sends. Measured with two `webrtc-rs-peer` processes and `kill -9` of one: the
//! survivor printed `disconnected` after 5.0 s, `failed` and the channel's `close` after
//! 30.2 s. `rust/peer-cli/tests/killed_peer.rs` checks it on every run (a peer process killed
//! mid-transfer: DISCONNECTED and FAILED on time with short timings, DISCONNECTED within 5.4 s
//! with the defaults, and no CPU used afterwards).
//!
//! Known limitations and workarounds: see `KNOWN_ISSUES.md` in the crate directory.

mod api;
mod candidate;
mod channel;
mod config;
mod core;
mod datagram;
mod driver;
pub mod error;
pub mod failure;
mod gather;
mod mailbox;
mod mdns;
mod relay;
mod sdp;
#[cfg(test)]
mod sim;
pub mod stats;
mod stream;
pub mod types;

pub use api::{live_network_tasks, udp_mux_sockets, DataChannel, Event, PeerConnection};
pub use driver::mux::UdpMuxInfo;
pub use error::{Error, ErrorKind, Result};
pub use failure::{ConnectionError, ErrorReason, FailureReport};
pub use mailbox::Notify;
pub use stats::{process_totals, ChannelStats, ProcessTotals, Stats};
pub use types::*;
