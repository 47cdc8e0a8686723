//! Local candidate gathering, sans-IO: host candidates for the bound sockets, server-reflexive
//! candidates from STUN Binding transactions (with their retransmissions), relay candidates
//! from the TURN allocations in [`Relays`], and the one answer to "is gathering complete".
//!
//! It owns no socket and reads no clock. The driver binds the sockets, performs the DNS
//! lookups and TCP/TLS connections it asks for ([`GatherAction`]), feeds it the datagrams
//! from STUN and TURN servers and the time, sends what it queues, and moves the candidates
//! it finds to the connection core. Once gathering is over it keeps carrying the relayed
//! traffic: datagrams the core sends from a relayed address go through [`Gathering::send`].

use crate::candidate::CandidateKind;
use crate::config::{ServerKind, ServerUrl};
use crate::datagram::Transmit;
use crate::failure::{ErrorReason, ServerOutcome, ServerReport};
use crate::relay::{AllocationRequest, RelayEvent, RelayFailure, Relays};
use bytes::BytesMut;
use reports::ServerReports;
use rtc_shared::TransportProtocol;
use rtc_stun::message::{
    Getter, Message as StunMessage, TransactionId, BINDING_REQUEST, BINDING_SUCCESS,
};
use rtc_stun::xoraddr::XorMappedAddress;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{debug, error, trace, warn};

const STUN_RETRANSMIT: Duration = Duration::from_millis(500);
const STUN_ATTEMPTS: u32 = 5;

/// A local candidate found by gathering. `base` is where a server-reflexive or relay candidate
/// comes from (announced as `raddr`/`rport`; `None` hides it as `0.0.0.0 0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LocalCandidate {
    pub kind: CandidateKind,
    pub addr: SocketAddr,
    pub base: Option<SocketAddr>,
}

/// I/O the driver performs for gathering; the results come back through
/// [`Gathering::server_resolved`] and [`Gathering::stream_connected`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GatherAction {
    /// Resolve ICE server `server`'s host name.
    Resolve {
        server: usize,
        host: String,
        port: u16,
    },
    /// Open a TCP connection from `local_ip` to TURN server `server`, with TLS on top when
    /// `tls_name` (the name its certificate must carry) is set.
    ConnectStream {
        server: usize,
        local_ip: IpAddr,
        addr: SocketAddr,
        tls_name: Option<String>,
    },
}

struct StunQuery {
    /// Index of the configured server.
    index: usize,
    local: SocketAddr,
    server: SocketAddr,
    request: Vec<u8>,
    attempts: u32,
    next: Instant,
}

pub(crate) struct Gathering {
    servers: Vec<ServerUrl>,
    relay_only: bool,
    started: bool,
    /// Local UDP sockets, from which STUN and TURN over UDP are asked.
    sockets: Vec<SocketAddr>,
    /// DNS lookups and TCP/TLS connections asked for and not answered yet.
    actions_pending: usize,
    stun: HashMap<TransactionId, StunQuery>,
    relays: Relays,
    actions: VecDeque<GatherAction>,
    candidates: VecDeque<LocalCandidate>,
    /// Datagrams peers relayed to us, for the core: (our relayed address, peer, data).
    relayed: VecDeque<(SocketAddr, SocketAddr, BytesMut)>,
    transmits: VecDeque<Transmit>,
    reports: ServerReports,
    /// Relay candidates found so far, announced again by [`Gathering::restart`].
    relay_candidates: Vec<LocalCandidate>,
}

impl Gathering {
    pub fn new(
        servers: Vec<ServerUrl>,
        relay_only: bool,
        provider: Arc<dyn rtc_crypto::RTCCryptoProvider>,
    ) -> Self {
        Self {
            servers,
            relay_only,
            started: false,
            sockets: Vec::new(),
            actions_pending: 0,
            stun: HashMap::new(),
            relays: Relays::new(provider),
            actions: VecDeque::new(),
            candidates: VecDeque::new(),
            relayed: VecDeque::new(),
            transmits: VecDeque::new(),
            reports: ServerReports::default(),
            relay_candidates: Vec::new(),
        }
    }

    pub fn is_started(&self) -> bool {
        self.started
    }

    /// Starts gathering on the bound UDP sockets `sockets`.
    pub fn start(&mut self, sockets: Vec<SocketAddr>) {
        if self.started {
            return;
        }
        self.started = true;
        self.sockets = sockets;
        if !self.relay_only {
            for &addr in &self.sockets {
                self.candidates.push_back(LocalCandidate {
                    kind: CandidateKind::Host,
                    addr,
                    base: None,
                });
            }
        }
        let has_turn = self.servers.iter().any(|s| s.kind != ServerKind::Stun);
        if self.relay_only && !has_turn {
            warn!(
                "iceTransportPolicy is \"relay\" but no TURN server is configured: \
                 no candidate will be gathered"
            );
        }
        for (index, server) in self.servers.iter().enumerate() {
            if server.kind == ServerKind::Stun && self.relay_only {
                debug!("STUN server {:?} not used: relay only", server.host);
                continue;
            }
            self.actions_pending += 1;
            let name = server.name();
            self.reports
                .set(index, &name, None, None, ServerOutcome::Pending);
            self.actions.push_back(GatherAction::Resolve {
                server: index,
                host: server.host.clone(),
                port: server.port,
            });
        }
    }

    /// Gathers again for an ICE restart on `sockets` (the UDP sockets on the addresses the host
    /// has now): their host candidates, the server-reflexive ones asked again of the STUN
    /// servers, and the relay candidates of the TURN allocations already made (kept alive;
    /// none is made for a new socket).
    pub fn restart(&mut self, sockets: Vec<SocketAddr>) {
        if !self.started {
            return self.start(sockets);
        }
        self.sockets = sockets;
        self.stun.clear();
        if !self.relay_only {
            for &addr in &self.sockets {
                self.candidates.push_back(LocalCandidate {
                    kind: CandidateKind::Host,
                    addr,
                    base: None,
                });
            }
            for (index, server) in self.servers.iter().enumerate() {
                if server.kind == ServerKind::Stun {
                    self.actions_pending += 1;
                    self.actions.push_back(GatherAction::Resolve {
                        server: index,
                        host: server.host.clone(),
                        port: server.port,
                    });
                }
            }
        }
        self.candidates
            .extend(self.relay_candidates.iter().copied());
    }

    /// Whether every candidate that can be had has been found.
    pub fn is_complete(&self) -> bool {
        self.started
            && self.actions_pending == 0
            && self.stun.is_empty()
            && self.relays.pending() == 0
    }

    /// A problem with a server the application should hear of.
    pub fn poll_problem(&mut self) -> Option<(ErrorReason, String)> {
        self.reports.poll_problem()
    }

    /// What became of each server, if that changed since the last call.
    pub fn take_server_reports(&mut self) -> Option<Vec<ServerReport>> {
        self.reports.take_change()
    }

    pub fn poll_action(&mut self) -> Option<GatherAction> {
        self.actions.pop_front()
    }

    pub fn poll_candidate(&mut self) -> Option<LocalCandidate> {
        self.candidates.pop_front()
    }

    /// A datagram a peer relayed to us through TURN: (our relayed address, peer, data).
    pub fn poll_relayed(&mut self) -> Option<(SocketAddr, SocketAddr, BytesMut)> {
        self.relayed.pop_front()
    }

    /// The next datagram for a STUN or TURN server (or a peer, through TURN).
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if let Some(t) = self.transmits.pop_front() {
            return Some(t);
        }
        self.relays
            .poll_transmit()
            .map(|(local, peer, data)| Transmit { local, peer, data })
    }

    pub fn poll_timeout(&mut self) -> Option<Instant> {
        let stun = self.stun.values().map(|q| q.next).min();
        [stun, self.relays.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    /// The addresses of ICE server `server` (empty: it cannot be resolved).
    pub fn server_resolved(&mut self, now: Instant, server: usize, addrs: Vec<SocketAddr>) {
        self.actions_pending = self.actions_pending.saturating_sub(1);
        let Some(url) = self.servers.get(server).cloned() else {
            return;
        };
        if addrs.is_empty() {
            let message = match url.kind {
                ServerKind::Stun => format!("cannot resolve STUN server {:?}", url.host),
                _ => format!(
                    "TURN server {} cannot be resolved; no relay candidate from it",
                    url.name()
                ),
            };
            match url.kind {
                ServerKind::Stun => warn!("{message}"),
                _ => error!("{message}"),
            }
            let name = url.name();
            self.reports
                .set(server, &name, None, None, ServerOutcome::DnsFailed);
            self.reports
                .problem(server, ErrorReason::IceServerUnreachable, message);
            return;
        }
        match url.kind {
            ServerKind::Stun => self.query_stun(now, server, &addrs),
            _ if url.is_stream() => self.connect_streams(server, &url, &addrs),
            _ => {
                for local in self.sockets.clone() {
                    if let Some(addr) = addrs.iter().find(|a| a.is_ipv4() == local.is_ipv4()) {
                        self.allocate(now, server, &url, *addr, local, TransportProtocol::UDP);
                    }
                }
            }
        }
    }

    /// A TCP/TLS connection to TURN server `server` at `addr` is up (`Ok(its local address)`,
    /// on which its messages arrive) or failed.
    pub fn stream_connected(
        &mut self,
        now: Instant,
        server: usize,
        addr: SocketAddr,
        result: Result<SocketAddr, String>,
    ) {
        self.actions_pending = self.actions_pending.saturating_sub(1);
        let Some(url) = self.servers.get(server).cloned() else {
            return;
        };
        match result {
            Ok(local) => self.allocate(now, server, &url, addr, local, TransportProtocol::TCP),
            Err(e) => {
                let message = format!(
                    "TURN server {} ({addr}): {e}; no relay candidate from it",
                    url.name()
                );
                error!("{message}");
                let outcome = ServerOutcome::ConnectFailed(e);
                self.reports
                    .set(server, &url.name(), Some(addr), None, outcome);
                self.reports
                    .problem(server, ErrorReason::IceServerUnreachable, message);
            }
        }
    }

    /// A remote address ICE may talk to: every relay gets a permission for it.
    pub fn add_remote_peer(&mut self, now: Instant, peer: SocketAddr) {
        self.relays.add_peer(now, peer);
    }

    /// A datagram received on `local` from `peer`. Gathering keeps what STUN and TURN servers
    /// send (and, under relay-only policy, drops everything else); the rest is returned for
    /// the connection core.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        peer: SocketAddr,
        data: BytesMut,
    ) -> Option<BytesMut> {
        let data = self.stun_answer(local, data)?;
        if self.relays.is_server(local, peer) {
            self.relays.handle_datagram(now, local, peer, data);
            self.relay_events();
            return None;
        }
        if self.relay_only {
            trace!("relay only: ignoring a datagram from {peer} on {local}");
            return None;
        }
        Some(data)
    }

    /// Takes a datagram the core sends: from a relayed address it goes through TURN (and
    /// `None` is returned); otherwise it is handed back for the socket.
    pub fn send(&mut self, now: Instant, t: Transmit) -> Option<Transmit> {
        if self.relays.is_relayed(t.local) {
            self.relays.send(now, t.local, t.peer, t.data);
            return None;
        }
        Some(t)
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.stun_timeout(now);
        self.relays.handle_timeout(now);
        self.relay_events();
    }

    /// Deallocates every relay; the requests are then among the transmits.
    pub fn close(&mut self, now: Instant) {
        self.stun.clear();
        self.relays.close(now);
    }

    /// After [`Self::close`]: whether every TURN server confirmed (or refused) the release.
    pub fn released(&mut self) -> bool {
        self.relays.released()
    }

    /// Datagrams from one of our TURN servers, while closing.
    pub fn handle_release_answer(
        &mut self,
        now: Instant,
        local: SocketAddr,
        peer: SocketAddr,
        data: BytesMut,
    ) {
        if self.relays.is_server(local, peer) {
            self.relays.handle_datagram(now, local, peer, data);
        }
    }

    // ----- STUN ----------------------------------------------------------------------------

    fn query_stun(&mut self, now: Instant, index: usize, servers: &[SocketAddr]) {
        let name = self
            .servers
            .get(index)
            .map(ServerUrl::name)
            .unwrap_or_default();
        for &server in servers {
            for &local in &self.sockets {
                if local.is_ipv4() != server.is_ipv4() {
                    continue;
                }
                let tid = TransactionId::new();
                let mut m = StunMessage::new();
                if m.build(&[Box::new(BINDING_REQUEST), Box::new(tid)])
                    .is_err()
                {
                    continue;
                }
                self.reports.set(
                    index,
                    &name,
                    Some(server),
                    Some(local),
                    ServerOutcome::Pending,
                );
                let query = StunQuery {
                    index,
                    local,
                    server,
                    request: m.raw.clone(),
                    attempts: 0,
                    next: now,
                };
                self.stun.insert(tid, query);
            }
        }
        self.stun_timeout(now);
    }

    /// Takes the answer to one of our Binding requests; anything else is returned.
    fn stun_answer(&mut self, local: SocketAddr, data: BytesMut) -> Option<BytesMut> {
        if self.stun.is_empty() || data.first().is_none_or(|b| *b >= 4) {
            return Some(data);
        }
        let mut m = StunMessage::new();
        if m.unmarshal_binary(&data).is_err() || m.typ != BINDING_SUCCESS {
            return Some(data);
        }
        let Some(q) = self.stun.get(&m.transaction_id) else {
            return Some(data);
        };
        if q.local != local {
            return Some(data);
        }
        let (base, index, server) = (q.local, q.index, q.server);
        self.stun.remove(&m.transaction_id);
        let mut mapped = XorMappedAddress::default();
        if mapped.get_from(&m).is_ok() {
            let addr = SocketAddr::new(mapped.ip, mapped.port);
            self.candidates.push_back(LocalCandidate {
                kind: CandidateKind::ServerReflexive,
                addr,
                base: Some(base),
            });
            let name = self
                .servers
                .get(index)
                .map(ServerUrl::name)
                .unwrap_or_default();
            let outcome = ServerOutcome::Reflexive(addr);
            self.reports
                .set(index, &name, Some(server), Some(base), outcome);
        }
        None
    }

    fn stun_timeout(&mut self, now: Instant) {
        let mut expired = Vec::new();
        for (tid, q) in self.stun.iter_mut() {
            if q.next > now {
                continue;
            }
            if q.attempts >= STUN_ATTEMPTS {
                expired.push(*tid);
                continue;
            }
            q.attempts += 1;
            q.next = now + STUN_RETRANSMIT;
            self.transmits.push_back(Transmit {
                local: q.local,
                peer: q.server,
                data: BytesMut::from(&q.request[..]),
            });
        }
        for tid in expired {
            if let Some(q) = self.stun.remove(&tid) {
                let name = self
                    .servers
                    .get(q.index)
                    .map(ServerUrl::name)
                    .unwrap_or_default();
                let message = format!(
                    "STUN server {name} ({}) did not answer {STUN_ATTEMPTS} Binding requests \
                     from {}",
                    q.server, q.local
                );
                warn!("{message}");
                let outcome = ServerOutcome::NoAnswer;
                self.reports
                    .set(q.index, &name, Some(q.server), Some(q.local), outcome);
                self.reports
                    .problem(q.index, ErrorReason::IceServerUnreachable, message);
            }
        }
    }

    // ----- TURN ----------------------------------------------------------------------------

    /// Asks for one TCP (or TLS) connection per local address we gather on, each from it.
    fn connect_streams(&mut self, server: usize, url: &ServerUrl, addrs: &[SocketAddr]) {
        let tls_name = (url.kind == ServerKind::Turns).then(|| url.host.clone());
        let ips: BTreeSet<IpAddr> = self.sockets.iter().map(|a| a.ip()).collect();
        for local_ip in ips {
            let Some(&addr) = addrs.iter().find(|a| a.is_ipv4() == local_ip.is_ipv4()) else {
                continue;
            };
            self.actions_pending += 1;
            self.actions.push_back(GatherAction::ConnectStream {
                server,
                local_ip,
                addr,
                tls_name: tls_name.clone(),
            });
        }
    }

    fn allocate(
        &mut self,
        now: Instant,
        index: usize,
        url: &ServerUrl,
        server: SocketAddr,
        local: SocketAddr,
        transport: TransportProtocol,
    ) {
        let name = url.name();
        self.reports.set(
            index,
            &name,
            Some(server),
            Some(local),
            ServerOutcome::Pending,
        );
        self.relays.allocate(
            now,
            AllocationRequest {
                name: url.name(),
                server,
                local,
                transport,
                username: url.username.as_deref().unwrap_or(""),
                password: url.credential.as_deref().unwrap_or(""),
            },
        );
    }

    fn relay_events(&mut self) {
        while let Some(ev) = self.relays.poll_event() {
            match ev {
                RelayEvent::Allocated {
                    local,
                    relayed,
                    server,
                } => {
                    let candidate = LocalCandidate {
                        kind: CandidateKind::Relay,
                        addr: relayed,
                        base: (!self.relay_only).then_some(local),
                    };
                    self.candidates.push_back(candidate);
                    self.relay_candidates.push(candidate);
                    self.relay_outcome(server, local, ServerOutcome::Relayed(relayed), None);
                }
                RelayEvent::Failed { local, server, why } => {
                    let (outcome, reason) = match why {
                        RelayFailure::Auth(t) => {
                            (ServerOutcome::AuthFailed(t), ErrorReason::TurnAuthFailed)
                        }
                        RelayFailure::Refused(t) => {
                            (ServerOutcome::Refused(t), ErrorReason::IceServerUnreachable)
                        }
                        RelayFailure::NoAnswer => {
                            (ServerOutcome::NoAnswer, ErrorReason::IceServerUnreachable)
                        }
                    };
                    self.relay_outcome(server, local, outcome, Some(reason));
                }
                RelayEvent::Data {
                    relayed,
                    peer,
                    data,
                } => self.relayed.push_back((relayed, peer, data)),
            }
        }
    }

    /// Records what became of an allocation and, for a failure, tells the application.
    fn relay_outcome(
        &mut self,
        server: SocketAddr,
        local: SocketAddr,
        outcome: ServerOutcome,
        problem: Option<ErrorReason>,
    ) {
        let Some(index) = self.reports.server_at(server, local) else {
            return;
        };
        let name = self
            .servers
            .get(index)
            .map(ServerUrl::name)
            .unwrap_or_default();
        if let Some(reason) = problem {
            let message = match &outcome {
                ServerOutcome::AuthFailed(answer) => format!(
                    "TURN server {name} ({server}) refused the username and credential \
                     ({answer}); no relay candidate from it"
                ),
                ServerOutcome::NoAnswer => format!(
                    "TURN server {name} ({server}) did not answer the Allocate request; no \
                     relay candidate from it"
                ),
                other => format!(
                    "TURN server {name} ({server}) refused the allocation ({}); no relay \
                     candidate from it",
                    other.detail()
                ),
            };
            self.reports.problem(index, reason, message);
        }
        self.reports
            .set(index, &name, Some(server), Some(local), outcome);
    }
}

mod reports;
#[cfg(test)]
mod tests;
