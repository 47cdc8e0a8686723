//! TURN relays (RFC 8656, long-term credentials), sans-IO: one `rtc-turn` client per (local
//! UDP socket or TCP/TLS stream, TURN server). It allocates a relayed address, creates a permission
//! for every remote address ICE talks to, wraps outgoing ICE/DTLS datagrams in Send indications
//! or ChannelData, unwraps what the server relays back, refreshes the allocation and its
//! permissions, and deallocates on close. It owns no socket and reads no clock: the driver feeds
//! it datagrams from the server and time, and sends what it returns.

use bytes::BytesMut;
use rtc_shared::{TransportContext, TransportMessage, TransportProtocol};
use rtc_stun::message::TransactionId;
use rtc_turn::client::{Client, ClientConfig, Event as TurnEvent};
use sansio::Protocol;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{debug, error, trace, warn};

/// Refresh the allocation at least this often, whatever lifetime the server grants: a refresh
/// answered with 438 (stale nonce) only updates the nonce, so the retry comes one step later.
pub(crate) const REFRESH_CAP: Duration = Duration::from_secs(60);
/// Datagrams kept per peer while its permission is being created (ICE retransmits anyway).
pub(crate) const WAITING_LIMIT: usize = 16;
/// An allocation not answered by then is given up, so gathering completes (over TCP rtc-turn
/// would wait 39.5 s; over UDP its retransmissions end after about 8 s).
pub(crate) const ALLOCATE_TIMEOUT: Duration = Duration::from_secs(10);
/// Retries of a permission refused with 438 (stale nonce) before giving up on that peer.
const PERMISSION_RETRIES: u8 = 3;

/// What the relays report to the driver.
#[derive(Debug)]
pub(crate) enum RelayEvent {
    /// An allocation succeeded: `relayed` is the relay candidate's address, `local` the socket
    /// that talks to the server.
    Allocated {
        local: SocketAddr,
        relayed: SocketAddr,
        server: SocketAddr,
    },
    /// An allocation failed (already logged); gathering no longer waits for it.
    Failed {
        local: SocketAddr,
        server: SocketAddr,
        why: RelayFailure,
    },
    /// A datagram a peer sent to our relayed address.
    Data {
        relayed: SocketAddr,
        peer: SocketAddr,
        data: BytesMut,
    },
}

/// Why an allocation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RelayFailure {
    /// The server refused the credentials (401 or 403); its answer.
    Auth(String),
    /// The server refused for another reason; its answer.
    Refused(String),
    /// The server never answered.
    NoAnswer,
}

/// Where and how to allocate (see [`Relays::allocate`]).
pub(crate) struct AllocationRequest<'a> {
    /// How the user wrote the server, for logs (`turn:host:port`).
    pub name: String,
    pub server: SocketAddr,
    /// Local address of the UDP socket or TCP/TLS stream that talks to the server.
    pub local: SocketAddr,
    pub transport: TransportProtocol,
    pub username: &'a str,
    pub password: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Allocating,
    Ready(SocketAddr),
    /// Deallocation requested; the client drops the relay once the server confirms.
    Releasing(SocketAddr),
    Failed,
}

struct Allocation {
    /// How the user wrote the server, for logs (`turn:host:port`).
    name: String,
    username: String,
    server: SocketAddr,
    local: SocketAddr,
    transport: TransportProtocol,
    client: Client,
    state: State,
    /// When the Allocate request was sent.
    started: Instant,
    /// Datagrams for a peer whose permission is not granted yet.
    waiting: HashMap<SocketAddr, VecDeque<BytesMut>>,
    /// CreatePermission transactions in flight, by peer.
    permission_requests: HashMap<TransactionId, SocketAddr>,
    permission_retries: HashMap<SocketAddr, u8>,
}

/// Every TURN allocation of one connection.
pub(crate) struct Relays {
    provider: Arc<dyn rtc_crypto::RTCCryptoProvider>,
    allocations: Vec<Allocation>,
    /// Remote addresses ICE may talk to; each allocation gets a permission for all of them.
    peers: BTreeSet<SocketAddr>,
    transmits: VecDeque<(SocketAddr, SocketAddr, BytesMut)>,
    events: VecDeque<RelayEvent>,
}

impl Relays {
    pub fn new(provider: Arc<dyn rtc_crypto::RTCCryptoProvider>) -> Self {
        Self {
            provider,
            allocations: Vec::new(),
            peers: BTreeSet::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Starts an allocation on `server` from the UDP socket or TCP/TLS stream whose local
    /// address is `local`. On error (logged) no allocation is pending.
    pub fn allocate(&mut self, now: Instant, request: AllocationRequest<'_>) {
        let AllocationRequest {
            name,
            server,
            local,
            transport,
            username,
            password,
        } = request;
        let config = ClientConfig {
            turn_serv_addr: server.to_string(),
            local_addr: local,
            transport_protocol: transport,
            username: username.to_owned(),
            password: password.to_owned(),
            allocation_refresh_interval_cap: Some(REFRESH_CAP),
            ..ClientConfig::default()
        };
        let mut client = match Client::new(config, self.provider.clone()) {
            Ok(c) => c,
            Err(e) => {
                error!("TURN server {name}: cannot create the TURN client: {e}");
                return;
            }
        };
        if let Err(e) = client.allocate(now) {
            error!("TURN server {name}: cannot send the Allocate request: {e}");
            return;
        }
        debug!("TURN server {name} ({server}): allocating from {local}");
        self.allocations.push(Allocation {
            name,
            username: username.to_owned(),
            server,
            local,
            transport,
            client,
            state: State::Allocating,
            started: now,
            waiting: HashMap::new(),
            permission_requests: HashMap::new(),
            permission_retries: HashMap::new(),
        });
        self.collect();
    }

    /// Allocations still waiting for the server's answer.
    pub fn pending(&self) -> usize {
        self.allocations
            .iter()
            .filter(|a| a.state == State::Allocating)
            .count()
    }

    /// Whether a datagram received on `local` from `peer` comes from one of our TURN servers.
    pub fn is_server(&self, local: SocketAddr, peer: SocketAddr) -> bool {
        self.allocations
            .iter()
            .any(|a| a.local == local && a.server == peer)
    }

    /// Whether `addr` is one of our relayed addresses (a local relay candidate).
    pub fn is_relayed(&self, addr: SocketAddr) -> bool {
        self.allocations
            .iter()
            .any(|a| a.state == State::Ready(addr))
    }

    /// A datagram from a TURN server (see [`Self::is_server`]).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        peer: SocketAddr,
        data: BytesMut,
    ) {
        let Some(a) = self
            .allocations
            .iter_mut()
            .find(|a| a.local == local && a.server == peer)
        else {
            return;
        };
        let msg = TransportMessage {
            now,
            transport: TransportContext {
                local_addr: local,
                peer_addr: peer,
                transport_protocol: a.transport,
                ecn: None,
            },
            message: data,
        };
        if let Err(e) = a.client.handle_read(msg) {
            if let State::Releasing(relayed) = a.state {
                debug!("TURN server {}: releasing {relayed} failed: {e}", a.name);
                a.state = State::Failed;
            } else {
                debug!("TURN server {}: {e}", a.name);
            }
        }
        self.process(now);
    }

    /// Remembers a remote address and asks every allocation for a permission to reach it.
    pub fn add_peer(&mut self, now: Instant, peer: SocketAddr) {
        if !self.peers.insert(peer) {
            return;
        }
        for a in self.allocations.iter_mut() {
            if let State::Ready(relayed) = a.state {
                request_permission(a, now, relayed, peer);
            }
        }
        self.collect();
    }

    /// Sends `data` from our relayed address `relayed` to `peer` through the server.
    pub fn send(&mut self, now: Instant, relayed: SocketAddr, peer: SocketAddr, data: BytesMut) {
        self.peers.insert(peer);
        let Some(a) = self
            .allocations
            .iter_mut()
            .find(|a| a.state == State::Ready(relayed))
        else {
            return;
        };
        let sent = match a.client.relay(relayed) {
            Ok(mut r) => r.send_to(now, &data, peer),
            Err(e) => Err(e),
        };
        match sent {
            Ok(()) => {}
            Err(rtc_shared::error::Error::ErrNoPermission) => {
                request_permission(a, now, relayed, peer);
                let queue = a.waiting.entry(peer).or_default();
                if queue.len() < WAITING_LIMIT {
                    queue.push_back(data);
                }
            }
            Err(e) => debug!("TURN server {}: send to {peer} failed: {e}", a.name),
        }
        self.collect();
    }

    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, SocketAddr, BytesMut)> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<RelayEvent> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.allocations
            .iter_mut()
            .filter(|a| a.state != State::Failed)
            .filter_map(|a| {
                let give_up =
                    (a.state == State::Allocating).then_some(a.started + ALLOCATE_TIMEOUT);
                [a.client.poll_timeout(), give_up]
                    .into_iter()
                    .flatten()
                    .min()
            })
            .min()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        for a in self.allocations.iter_mut() {
            if a.state == State::Allocating && now >= a.started + ALLOCATE_TIMEOUT {
                error!(
                    "TURN server {} ({}) did not answer the Allocate request in {} s; no relay \
                     candidate from it",
                    a.name,
                    a.server,
                    ALLOCATE_TIMEOUT.as_secs()
                );
                let _ = a.client.close();
                a.state = State::Failed;
                self.events.push_back(failed(a, RelayFailure::NoAnswer));
                continue;
            }
            if a.state != State::Failed && a.client.poll_timeout().is_some_and(|t| t <= now) {
                let _ = a.client.handle_timeout(now);
            }
        }
        self.process(now);
    }

    /// Deallocates every allocation (Refresh with lifetime 0); the requests are in the
    /// transmit queue afterwards. Relayed data is neither sent nor delivered after this.
    pub fn close(&mut self, now: Instant) {
        for a in self.allocations.iter_mut() {
            a.waiting.clear();
            match a.state {
                State::Ready(relayed) => {
                    let released = match a.client.relay(relayed) {
                        Ok(mut r) => r.close(now),
                        Err(e) => Err(e),
                    };
                    match released {
                        Ok(()) => {
                            debug!("TURN server {}: releasing {relayed}", a.name);
                            a.state = State::Releasing(relayed);
                        }
                        Err(e) => {
                            debug!("TURN server {}: cannot release {relayed}: {e}", a.name);
                            a.state = State::Failed;
                        }
                    }
                }
                State::Allocating => a.state = State::Failed,
                State::Releasing(_) | State::Failed => {}
            }
        }
        self.collect();
    }

    /// After [`Self::close`]: whether every server confirmed (or refused) the deallocation.
    pub fn released(&mut self) -> bool {
        for a in self.allocations.iter_mut() {
            if let State::Releasing(relayed) = a.state {
                if a.client.relay(relayed).is_ok() {
                    return false;
                }
                debug!("TURN server {}: released {relayed}", a.name);
                a.state = State::Failed;
            }
        }
        true
    }

    /// Drains every client's events, then its transmits.
    fn process(&mut self, now: Instant) {
        for a in self.allocations.iter_mut() {
            while let Some(ev) = a.client.poll_event() {
                on_event(a, now, ev, &self.peers, &mut self.events);
            }
        }
        self.collect();
    }

    fn collect(&mut self) {
        for a in self.allocations.iter_mut() {
            while let Some(t) = a.client.poll_write() {
                self.transmits
                    .push_back((a.local, t.transport.peer_addr, t.message));
            }
        }
    }
}

fn failed(a: &Allocation, why: RelayFailure) -> RelayEvent {
    RelayEvent::Failed {
        local: a.local,
        server: a.server,
        why,
    }
}

fn request_permission(a: &mut Allocation, now: Instant, relayed: SocketAddr, peer: SocketAddr) {
    // rtc-turn keeps a permission idle until the server answers: ask only once at a time.
    if peer.is_ipv4() != relayed.is_ipv4() || a.permission_requests.values().any(|p| *p == peer) {
        return;
    }
    let requested = match a.client.relay(relayed) {
        Ok(mut r) => r.create_permission(now, peer),
        Err(e) => Err(e),
    };
    match requested {
        Ok(Some(tid)) => {
            a.permission_requests.insert(tid, peer);
        }
        Ok(None) => {}
        Err(e) => debug!("TURN server {}: no permission for {peer}: {e}", a.name),
    }
}

fn on_event(
    a: &mut Allocation,
    now: Instant,
    ev: TurnEvent,
    peers: &BTreeSet<SocketAddr>,
    events: &mut VecDeque<RelayEvent>,
) {
    match ev {
        TurnEvent::AllocateResponse(_, relayed) if a.state == State::Allocating => {
            debug!("TURN server {}: relayed address {relayed}", a.name);
            a.state = State::Ready(relayed);
            events.push_back(RelayEvent::Allocated {
                local: a.local,
                relayed,
                server: a.server,
            });
            for peer in peers {
                request_permission(a, now, relayed, *peer);
            }
        }
        TurnEvent::AllocateError(_, e) if a.state == State::Allocating => {
            let text = e.to_string();
            let why = if text.contains("401") || text.contains("403") {
                error!(
                    "TURN server {} rejected the credentials of user {:?} ({text}): \
                     check the ICE server's username and credential; no relay candidate from it",
                    a.name, a.username
                );
                RelayFailure::Auth(text)
            } else {
                error!(
                    "TURN server {} refused the allocation ({text}); no relay candidate from it",
                    a.name
                );
                RelayFailure::Refused(text)
            };
            a.state = State::Failed;
            events.push_back(failed(a, why));
        }
        TurnEvent::TransactionTimeout(_) if a.state == State::Allocating => {
            error!(
                "TURN server {} ({}) did not answer the Allocate request; no relay candidate from it",
                a.name, a.server
            );
            a.state = State::Failed;
            events.push_back(failed(a, RelayFailure::NoAnswer));
        }
        TurnEvent::TransactionTimeout(tid) => {
            if let Some(peer) = a.permission_requests.remove(&tid) {
                warn!("TURN server {}: permission for {peer} timed out", a.name);
            } else {
                warn!("TURN server {}: a request timed out", a.name);
            }
        }
        TurnEvent::CreatePermissionResponse(tid, peer) => {
            a.permission_requests.remove(&tid);
            a.permission_retries.remove(&peer);
            trace!("TURN server {}: permission for {peer}", a.name);
            let State::Ready(relayed) = a.state else {
                return;
            };
            if let Some(queue) = a.waiting.remove(&peer) {
                if let Ok(mut r) = a.client.relay(relayed) {
                    for data in queue {
                        if let Err(e) = r.send_to(now, &data, peer) {
                            debug!("TURN server {}: send to {peer} failed: {e}", a.name);
                        }
                    }
                }
            }
        }
        TurnEvent::CreatePermissionError(tid, e) => {
            let Some(peer) = a.permission_requests.remove(&tid) else {
                return;
            };
            let tries = a.permission_retries.entry(peer).or_insert(0);
            *tries += 1;
            match (a.state, e == rtc_shared::error::Error::ErrTryAgain) {
                // Stale nonce: the client took the new one; ask again.
                (State::Ready(relayed), true) if *tries <= PERMISSION_RETRIES => {
                    request_permission(a, now, relayed, peer)
                }
                _ => {
                    warn!(
                        "TURN server {} refused a permission for {peer}: {e}",
                        a.name
                    );
                    a.waiting.remove(&peer);
                }
            }
        }
        TurnEvent::DataIndicationOrChannelData(_, peer, data) => {
            if let State::Ready(relayed) = a.state {
                events.push_back(RelayEvent::Data {
                    relayed,
                    peer,
                    data,
                });
            }
        }
        other => trace!("TURN server {}: {other:?}", a.name),
    }
}
