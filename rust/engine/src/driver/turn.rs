//! The TURN side of the connection task: resolving TURN servers, opening TCP/TLS streams to
//! them, starting allocations, routing what [`Relays`] produces (relay candidates, relayed
//! datagrams, messages for the servers) and deallocating when the connection ends.

use super::{Resolved, Task, DNS_TIMEOUT};
use crate::config::{ServerKind, ServerUrl, TurnTransport};
use crate::relay::{AllocationRequest, RelayEvent};
use crate::stream::{self, StreamConn};
use bytes::BytesMut;
use rtc_shared::TransportProtocol;
use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tracing::{debug, error};

/// How long a closed connection waits for TURN servers to confirm the deallocation.
const RELEASE_WAIT: Duration = Duration::from_secs(1);

impl Task {
    /// Resolves a TURN server's host; the answer comes back as [`Resolved::Turn`].
    pub(super) fn lookup_turn(&mut self, server: ServerUrl) {
        self.turn_lookups_pending += 1;
        let tx = self.resolved.clone();
        self.lookups.push(tokio::spawn(async move {
            let addrs = match tokio::time::timeout(
                DNS_TIMEOUT,
                tokio::net::lookup_host((server.host.as_str(), server.port)),
            )
            .await
            {
                Ok(Ok(it)) => it.collect(),
                _ => Vec::new(),
            };
            let _ = tx.send(Resolved::Turn { server, addrs });
        }));
    }

    /// A TURN server's addresses: allocate from every UDP socket, or connect over TCP/TLS.
    pub(super) fn turn_resolved(
        &mut self,
        now: Instant,
        server: ServerUrl,
        addrs: Vec<SocketAddr>,
    ) {
        self.turn_lookups_pending = self.turn_lookups_pending.saturating_sub(1);
        if addrs.is_empty() {
            error!(
                "TURN server {} cannot be resolved; no relay candidate from it",
                server_name(&server)
            );
        } else if server.is_stream() {
            self.connect_turn(server, &addrs);
        } else {
            let locals: Vec<SocketAddr> = self.sockets.keys().copied().collect();
            for local in locals {
                if let Some(addr) = addrs.iter().find(|a| a.is_ipv4() == local.is_ipv4()) {
                    self.allocate(now, &server, *addr, local, TransportProtocol::UDP);
                }
            }
        }
        self.maybe_gathering_done();
    }

    /// A TCP/TLS connection to a TURN server is up (allocate over it) or failed.
    pub(super) fn turn_connected(
        &mut self,
        now: Instant,
        server: ServerUrl,
        addr: SocketAddr,
        result: Result<StreamConn, String>,
    ) {
        self.turn_lookups_pending = self.turn_lookups_pending.saturating_sub(1);
        match result {
            Ok(conn) => {
                self.streams.insert(conn.local, conn.writer);
                self.readers.extend(conn.tasks);
                self.allocate(now, &server, addr, conn.local, TransportProtocol::TCP);
            }
            Err(e) => error!(
                "TURN server {} ({addr}): {e}; no relay candidate from it",
                server_name(&server)
            ),
        }
        self.maybe_gathering_done();
    }

    fn allocate(
        &mut self,
        now: Instant,
        server: &ServerUrl,
        addr: SocketAddr,
        local: SocketAddr,
        transport: TransportProtocol,
    ) {
        self.relays.allocate(
            now,
            AllocationRequest {
                name: server_name(server),
                server: addr,
                local,
                transport,
                username: server.username.as_deref().unwrap_or(""),
                password: server.credential.as_deref().unwrap_or(""),
            },
        );
    }

    /// Opens one TCP (or TLS, for `turns:`) connection to the TURN server per local address
    /// we gather on, each from that address.
    fn connect_turn(&mut self, server: ServerUrl, addrs: &[SocketAddr]) {
        let tls_name = if server.kind == ServerKind::Turns {
            match rustls::pki_types::ServerName::try_from(server.host.clone()) {
                Ok(n) => Some(n),
                Err(e) => {
                    error!(
                        "TURN server {}: {:?} is not a valid TLS server name: {e}",
                        server_name(&server),
                        server.host
                    );
                    return;
                }
            }
        } else {
            None
        };
        let ips: BTreeSet<IpAddr> = self.sockets.keys().map(|a| a.ip()).collect();
        for ip in ips {
            let Some(addr) = addrs.iter().find(|a| a.is_ipv4() == ip.is_ipv4()).copied() else {
                continue;
            };
            self.turn_lookups_pending += 1;
            let (tx, frames, server, tls_name) = (
                self.resolved.clone(),
                self.datagrams.clone(),
                server.clone(),
                tls_name.clone(),
            );
            self.lookups.push(tokio::spawn(async move {
                let result = stream::connect(ip, addr, tls_name, frames).await;
                let _ = tx.send(Resolved::TurnStream {
                    server,
                    addr,
                    result,
                });
            }));
        }
    }

    /// Applies what the TURN relays produced: relay candidates and relayed datagrams.
    pub(super) fn relay_events(&mut self, now: Instant) {
        while let Some(ev) = self.relays.poll_event() {
            match ev {
                RelayEvent::Allocated { local, relayed } => {
                    let base = (!self.config.relay_only).then_some(local);
                    self.core.add_relay_candidate(relayed, base);
                }
                RelayEvent::Failed => {}
                RelayEvent::Data {
                    relayed,
                    peer,
                    data,
                } => self.core.handle_datagram(now, relayed, peer, data),
            }
        }
        self.maybe_gathering_done();
    }

    /// Deallocates on the TURN servers (Refresh with lifetime 0) and waits a little for the
    /// confirmations, so the server frees the relays (and the user's quota) at once.
    pub(super) async fn release_relays(
        &mut self,
        datagrams: &mut mpsc::Receiver<(SocketAddr, SocketAddr, BytesMut)>,
    ) {
        let now = Instant::now();
        self.relays.close(now);
        let deadline = now + RELEASE_WAIT;
        loop {
            self.send_relayed().await;
            if self.relays.released() {
                return;
            }
            let wake = match self.relays.poll_timeout() {
                Some(t) => t.min(deadline),
                None => deadline,
            };
            tokio::select! {
                Some((local, peer, data)) = datagrams.recv() => {
                    if self.relays.is_server(local, peer) {
                        self.relays.handle_datagram(Instant::now(), local, peer, data);
                    }
                }
                _ = tokio::time::sleep_until(wake.into()) => {
                    let now = Instant::now();
                    if now >= deadline {
                        debug!("TURN servers did not confirm the deallocation in time");
                        return;
                    }
                    self.relays.handle_timeout(now);
                }
            }
        }
    }

    /// Sends what the TURN clients queued, each from its own socket to its server.
    pub(super) async fn send_relayed(&mut self) {
        while let Some((local, server, data)) = self.relays.poll_transmit() {
            if let Some(sock) = self.sockets.get(&local) {
                if let Err(e) = sock.send_to(&data, server).await {
                    debug!("send to TURN server {server} failed: {e}");
                }
            } else if let Some(w) = self.streams.get(&local) {
                if w.send(data).is_err() {
                    debug!("the connection to TURN server {server} is closed");
                }
            }
        }
    }
}

/// A TURN server as the user wrote it, for logs.
fn server_name(server: &ServerUrl) -> String {
    let scheme = if server.kind == ServerKind::Turns {
        "turns"
    } else {
        "turn"
    };
    let transport = if server.transport == TurnTransport::Tcp && server.kind == ServerKind::Turn {
        "?transport=tcp"
    } else {
        ""
    };
    if server.host.contains(':') {
        format!("{scheme}:[{}]:{}{transport}", server.host, server.port)
    } else {
        format!("{scheme}:{}:{}{transport}", server.host, server.port)
    }
}
