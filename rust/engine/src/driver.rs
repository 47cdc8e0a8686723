//! The per-connection task on the network thread. It owns the sockets and the clock and only
//! moves bytes and time: datagrams from the sockets go to [`Gathering`] (STUN and TURN
//! servers) or the [`Core`]; what they queue goes out on the sockets and TURN streams;
//! commands from the handle go to the core; updates go back to the handle; DNS lookups and
//! TCP/TLS connections run as small tasks whose results come back to it; `.local` candidate
//! names are resolved by our own mDNS queries ([`MdnsLookups`]), and our own host addresses
//! hidden behind such names when asked ([`HiddenAddresses`]). With `Config::simulate`, UDP
//! datagrams pass through the [`Simulator`] on their way to and from the sockets.

mod mdns;
mod mdns_names;
pub(crate) mod mux;
mod net;
mod simulator;

use crate::candidate::{self, Announce, RemoteCandidate};
use crate::config::ServerUrl;
use crate::core::{Core, Transmit};
use crate::error::Result;
use crate::gather::{GatherAction, Gathering};
use crate::mailbox::{Command, Shared, Update};
use crate::stats::StatsBoard;
use crate::stream::{self, StreamConn};
use bytes::BytesMut;
use mdns::MdnsLookups;
use mdns_names::HiddenAddresses;
use net::Datagram;
use simulator::Simulator;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::debug;

/// Datagrams queued from socket readers to a connection task before readers wait.
const DATAGRAM_QUEUE: usize = 1024;
/// mDNS responses queued from the mDNS socket's reader before it waits.
const MDNS_QUEUE: usize = 16;
/// Datagrams handled before a flush, so a burst is acknowledged together.
const BURST: usize = 128;
/// Commands applied before a flush: enough to bundle many small messages into each packet,
/// bounded so an application that never stops sending cannot starve the sockets and timers
/// (its own acknowledgements included) of the network thread.
const COMMAND_BURST: usize = 1024;
/// Datagrams sent in a row before the connection's task yields to the others on the thread.
const SEND_TURN: usize = 32;
/// How long a closed connection waits for TURN servers to confirm the deallocation.
const RELEASE_WAIT: Duration = Duration::from_secs(1);

/// Settings the driver needs besides the core.
pub(crate) struct DriverConfig {
    pub bind_address: Option<IpAddr>,
    pub servers: Vec<ServerUrl>,
    /// `iceTransportPolicy: "relay"`: no host or server-reflexive candidates.
    pub relay_only: bool,
    pub provider: Arc<dyn rtc_crypto::RTCCryptoProvider>,
    /// `Limits::max_name_lookups`.
    pub max_name_lookups: usize,
    /// `Config::mdns_host_candidates`.
    pub mdns_host_candidates: bool,
    /// `Config::simulate`.
    pub simulate: Option<crate::types::NetworkSimulation>,
    /// Where the bytes on the wire and the servers' outcomes are published.
    pub stats: Arc<StatsBoard>,
    /// `Config::ports`: the port range and the UDP mux.
    pub ports: crate::types::PortConfig,
    /// The local ICE ufrag, by which a shared socket routes STUN requests.
    pub ufrag: String,
}

/// Tasks alive on the network thread: each connection's task and its socket readers, lookups
/// and stream tasks (every timer of a connection lives in one of them).
pub(crate) fn alive_tasks() -> usize {
    net::alive_tasks()
}

/// Starts a connection task on the network thread.
pub(crate) fn spawn(
    core: Core,
    commands: mpsc::UnboundedReceiver<Command>,
    shared: Arc<Shared>,
    config: DriverConfig,
) -> Result<()> {
    let rt = net::runtime()?;
    let task = rt.spawn(run(core, commands, shared.clone(), config));
    // A panic (ours or an rtc crate's) ends this connection only; the application hears of it.
    rt.spawn(async move {
        if let Err(e) = task.await {
            if e.is_panic() {
                let payload = e.into_panic();
                let what = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "no message".to_owned());
                tracing::error!(
                    "the connection's network task panicked ({what}); the connection has failed"
                );
                shared.push(vec![Update::Crashed]);
            }
        }
    });
    Ok(())
}

/// What a lookup or connection task reports back.
enum Resolved {
    Server {
        server: usize,
        addrs: Vec<SocketAddr>,
    },
    Stream {
        server: usize,
        addr: SocketAddr,
        result: std::result::Result<StreamConn, String>,
    },
}

struct Task {
    core: Core,
    gathering: Gathering,
    shared: Arc<Shared>,
    bind_address: Option<IpAddr>,
    relay_only: bool,
    max_name_lookups: usize,
    sockets: HashMap<SocketAddr, Arc<UdpSocket>>,
    /// Writers of the TCP/TLS streams to TURN servers, by the stream's local address.
    streams: HashMap<SocketAddr, mpsc::UnboundedSender<BytesMut>>,
    /// Socket readers, lookups and stream tasks; aborted when the connection ends.
    tasks: Vec<JoinHandle<()>>,
    datagrams: mpsc::Sender<Datagram>,
    resolved: mpsc::UnboundedSender<Resolved>,
    mdns: MdnsLookups,
    /// Our host addresses' names and their responder, with `Config::mdns_host_candidates`.
    hidden: Option<HiddenAddresses>,
    /// The simulated bad network, while one is asked for (or still holds datagrams).
    simulator: Option<Simulator>,
    stats: Arc<StatsBoard>,
    ports: crate::types::PortConfig,
    ufrag: String,
    /// This connection's places on shared sockets (UDP mux), by local address.
    muxed: HashMap<SocketAddr, mux::Lease>,
}

async fn run(
    core: Core,
    mut commands: mpsc::UnboundedReceiver<Command>,
    shared: Arc<Shared>,
    config: DriverConfig,
) {
    let (dg_tx, mut dg_rx) = mpsc::channel(DATAGRAM_QUEUE);
    let (res_tx, mut res_rx) = mpsc::unbounded_channel();
    let (mdns_tx, mut mdns_rx) = mpsc::channel(MDNS_QUEUE);
    let (questions_tx, mut questions_rx) = mpsc::channel(MDNS_QUEUE);
    let mut task = Task {
        core,
        gathering: Gathering::new(config.servers, config.relay_only, config.provider),
        shared,
        bind_address: config.bind_address,
        relay_only: config.relay_only,
        max_name_lookups: config.max_name_lookups,
        sockets: HashMap::new(),
        streams: HashMap::new(),
        tasks: Vec::new(),
        datagrams: dg_tx,
        resolved: res_tx,
        mdns: MdnsLookups::new(config.bind_address, mdns_tx),
        hidden: config
            .mdns_host_candidates
            .then(|| HiddenAddresses::new(questions_tx)),
        simulator: config
            .simulate
            .as_ref()
            .map(|s| Simulator::new(Instant::now(), s)),
        stats: config.stats,
        ports: config.ports,
        ufrag: config.ufrag,
        muxed: HashMap::new(),
    };
    loop {
        task.release_simulated().await;
        task.sync_gathering();
        task.sync_mdns().await;
        task.core.flush(Instant::now());
        task.send_all().await;
        task.shared.push(task.core.take_updates());
        task.shared
            .dropped_datagrams
            .store(task.core.dropped_datagrams(), Ordering::Relaxed);
        if task.core.is_finished() {
            break;
        }
        let deadline = [
            task.core.poll_timeout(),
            task.gathering.poll_timeout(),
            task.mdns.poll_timeout(),
            task.simulator.as_ref().and_then(Simulator::next_due),
        ]
        .into_iter()
        .flatten()
        .min();
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            cmd = commands.recv() => {
                let now = Instant::now();
                match cmd {
                    Some(cmd) => task.command(now, cmd),
                    // Every handle is gone (dropped without close()): close for them.
                    None => task.core.close(now),
                }
                // Apply what else is queued (up to a bound) before flushing.
                for _ in 0..COMMAND_BURST {
                    match commands.try_recv() {
                        Ok(cmd) => task.command(now, cmd),
                        Err(_) => break,
                    }
                }
            }
            Some((local, peer, data)) = dg_rx.recv() => {
                let now = Instant::now();
                task.arrived(now, local, peer, data);
                for _ in 0..BURST {
                    match dg_rx.try_recv() {
                        Ok((local, peer, data)) => task.arrived(now, local, peer, data),
                        Err(_) => break,
                    }
                }
            }
            Some(r) = res_rx.recv() => task.resolved(Instant::now(), r),
            Some((_, from, data)) = mdns_rx.recv() => {
                task.mdns.handle_response(Instant::now(), from, &data);
            }
            Some((_, from, data)) = questions_rx.recv() => {
                if let Some(hidden) = task.hidden.as_mut() {
                    hidden.handle_query(Instant::now(), from, &data);
                }
            }
            _ = sleep => {
                let now = Instant::now();
                task.core.handle_timeout(now);
                task.gathering.handle_timeout(now);
                task.mdns.handle_timeout(now);
            }
        }
    }
    // Our names are no longer answered.
    task.hidden = None;
    // The deallocations go straight out: the simulated network has served its purpose.
    task.simulator = None;
    task.release_relays(&mut dg_rx).await;
    debug!("connection task ended");
}

impl Drop for Task {
    /// Ends the socket readers, lookups and stream tasks, also when the task panicked.
    fn drop(&mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
    }
}

impl Task {
    fn command(&mut self, now: Instant, cmd: Command) {
        match cmd {
            Command::StartGathering { mid, mline_index } => {
                self.core.start_gathering(mid, mline_index);
                self.start_gathering();
            }
            Command::SetRemote {
                remote,
                offerer,
                dtls_client,
            } => {
                let inline = remote.candidates.clone();
                if remote.end_of_candidates {
                    debug!("remote description carries all of its candidates");
                }
                self.core.set_remote(now, *remote, offerer, dtls_client);
                for line in inline {
                    match candidate::parse(&line) {
                        Ok(c) => self.remote_candidate(now, c),
                        Err(e) => debug!("ignoring an inline candidate: {e}"),
                    }
                }
            }
            Command::AddCandidate(c) => self.remote_candidate(now, c),
            Command::OfferIceRestart => {
                self.core.stage_ice_restart();
                self.restart_gathering();
            }
            Command::RestartIce {
                local,
                remote,
                controlling,
                regather,
            } => {
                // Shared sockets route the remote's checks by our new ufrag from now on.
                for lease in self.muxed.values() {
                    lease.add_ufrag(&local.0);
                }
                self.ufrag.clone_from(&local.0);
                self.core.restart_ice(now, local, remote, controlling);
                if regather {
                    self.restart_gathering();
                }
            }
            Command::CreateChannel {
                key,
                info,
                id,
                link,
            } => self.core.create_channel(now, key, info, id, link),
            Command::Send { key, data, is_text } => self.core.send(now, key, data, is_text),
            Command::CloseChannel(key) => self.core.close_channel(now, key),
            Command::Resume(key) => self.core.resume(now, key),
            Command::Close => self.core.close(now),
            Command::InjectPanic => panic!("panic injected by a test"),
            Command::MdnsDestination(to) => self.mdns.set_destination(to),
            Command::Simulate(settings) => self.simulate(now, settings),
        }
    }

    /// Starts, changes or stops the network simulation. Stopped, what it holds is still
    /// delivered on schedule (so nothing is lost for turning it off) and it goes once empty.
    fn simulate(&mut self, now: Instant, settings: Option<crate::types::NetworkSimulation>) {
        match (settings, self.simulator.as_mut()) {
            (Some(s), Some(sim)) => sim.set(&s),
            (Some(s), None) => self.simulator = Some(Simulator::new(now, &s)),
            (None, Some(sim)) => sim.turn_off(),
            (None, None) => {}
        }
    }

    /// Sends and handles what the simulator releases now.
    async fn release_simulated(&mut self) {
        let Some(sim) = self.simulator.as_mut() else {
            return;
        };
        let now = Instant::now();
        let mut incoming = Vec::new();
        while let Some(d) = sim.poll_incoming(now) {
            incoming.push(d);
        }
        let mut outgoing = Vec::new();
        while let Some(t) = sim.poll_outgoing(now) {
            outgoing.push(t);
        }
        if sim.is_done() {
            self.simulator = None;
        }
        for (local, peer, data) in incoming {
            self.datagram(now, local, peer, data);
        }
        for t in outgoing {
            self.send_udp(t).await;
        }
    }

    /// Sends the outgoing datagrams the simulator releases now (incoming ones wait for the
    /// top of the loop, where the core's answer to them is flushed).
    async fn release_outgoing(&mut self) {
        let now = Instant::now();
        while let Some(t) = self.simulator.as_mut().and_then(|s| s.poll_outgoing(now)) {
            self.send_udp(t).await;
        }
    }

    /// A datagram or TURN stream frame from a reader: through the simulator (UDP only), or on.
    fn arrived(&mut self, now: Instant, local: SocketAddr, peer: SocketAddr, data: BytesMut) {
        match self.simulator.as_mut() {
            Some(sim) if !self.streams.contains_key(&local) => {
                sim.receive(now, (local, peer, data))
            }
            _ => self.datagram(now, local, peer, data),
        }
    }

    /// Binds one UDP socket per local address and lets gathering start on them.
    fn start_gathering(&mut self) {
        if self.gathering.is_started() {
            return;
        }
        self.bind_sockets(&self.local_ips());
        self.gathering.start(self.sockets.keys().copied().collect());
    }

    /// Gathers again (ICE restart) on the addresses the host has now: a socket is bound for
    /// each new one; sockets on addresses that are gone stay open (the previous pair may still
    /// use them until the restart selects a new one) but gather nothing.
    fn restart_gathering(&mut self) {
        self.core.regather();
        let ips = self.local_ips();
        self.bind_sockets(&ips);
        let current = self
            .sockets
            .keys()
            .filter(|a| ips.contains(&a.ip()))
            .copied()
            .collect();
        self.gathering.restart(current);
    }

    fn local_ips(&self) -> Vec<IpAddr> {
        match self.bind_address {
            Some(ip) => vec![ip],
            None => net::interface_addresses(),
        }
    }

    /// Binds a UDP socket (or joins the shared one, with UDP mux) on each of `ips` that has
    /// none yet, with its reader.
    fn bind_sockets(&mut self, ips: &[IpAddr]) {
        for &ip in ips {
            if self.sockets.keys().any(|a| a.ip() == ip) {
                continue;
            }
            if self.ports.udp_mux {
                match mux::Lease::join(ip, self.ports.range, &self.ufrag, self.datagrams.clone()) {
                    Ok(lease) => {
                        self.sockets.insert(lease.local(), lease.socket());
                        self.muxed.insert(lease.local(), lease);
                    }
                    Err(e) => tracing::warn!("no shared UDP socket on {ip}: {e}"),
                }
                continue;
            }
            let sock = match net::bind(ip, self.ports.range) {
                Ok(sock) => sock,
                Err(e) => {
                    tracing::warn!("cannot bind a UDP socket on {ip}: {e}");
                    continue;
                }
            };
            let Ok(local) = sock.local_addr() else {
                continue;
            };
            let sock = Arc::new(sock);
            self.sockets.insert(local, sock.clone());
            let reader = net::read_loop(sock, local, self.datagrams.clone());
            self.tasks.push(tokio::spawn(reader));
        }
    }

    /// Moves what gathering produced: I/O it asks for, candidates, relayed datagrams.
    fn sync_gathering(&mut self) {
        while let Some(action) = self.gathering.poll_action() {
            self.perform(action);
        }
        let now = Instant::now();
        while let Some((relayed, peer, data)) = self.gathering.poll_relayed() {
            self.core.handle_datagram(now, relayed, peer, data);
        }
        while let Some(c) = self.gathering.poll_candidate() {
            let how = match self.hidden.as_mut() {
                Some(hidden) => hidden.announce(c.kind, c.addr),
                None => Announce::Addresses,
            };
            self.core.add_local_candidate(c.kind, c.addr, c.base, &how);
        }
        while let Some((reason, message)) = self.gathering.poll_problem() {
            self.core.report(reason, message);
        }
        if let Some(reports) = self.gathering.take_server_reports() {
            self.stats.publish_servers(reports);
        }
        if self.gathering.is_complete() {
            self.core.finish_gathering();
        }
    }

    /// Sends the mDNS queries and answers that are due and hands resolved candidates to ICE.
    async fn sync_mdns(&mut self) {
        self.mdns.send_queries().await;
        if let Some(hidden) = self.hidden.as_mut() {
            hidden.send_answers().await;
        }
        let now = Instant::now();
        while let Some(text) = self.mdns.poll_resolved() {
            self.add_remote(now, &text);
        }
    }

    fn perform(&mut self, action: GatherAction) {
        // ICE restarts ask for lookups again: forget the ones that are done.
        self.tasks.retain(|t| !t.is_finished());
        let tx = self.resolved.clone();
        let job = match action {
            GatherAction::Resolve { server, host, port } => tokio::spawn(async move {
                let addrs = net::resolve(&host, port).await;
                let _ = tx.send(Resolved::Server { server, addrs });
            }),
            GatherAction::ConnectStream {
                server,
                local_ip,
                addr,
                tls_name,
            } => {
                let frames = self.datagrams.clone();
                tokio::spawn(async move {
                    let result = stream::connect(local_ip, addr, tls_name, frames).await;
                    let _ = tx.send(Resolved::Stream {
                        server,
                        addr,
                        result,
                    });
                })
            }
        };
        self.tasks.push(job);
    }

    fn remote_candidate(&mut self, now: Instant, c: RemoteCandidate) {
        match c {
            RemoteCandidate::Udp(text) => self.add_remote(now, &text),
            RemoteCandidate::Named { .. } if self.relay_only => {
                debug!("relay only: a named candidate is not resolved")
            }
            RemoteCandidate::Named { host, text } => {
                let Some(permit) = net::NameLookup::start(self.max_name_lookups) else {
                    return debug!(
                        "{} name lookups already under way; candidate {host:?} ignored",
                        self.max_name_lookups
                    );
                };
                self.mdns.start(now, host, text, permit);
            }
            RemoteCandidate::Ignored(why) => debug!("remote candidate ignored: {why}"),
            RemoteCandidate::End => debug!("remote end of candidates"),
        }
    }

    /// Hands a remote candidate to ICE and lets the TURN relays permit its address.
    fn add_remote(&mut self, now: Instant, text: &str) {
        if let Some(addr) = self.core.add_remote_candidate(now, text) {
            self.gathering.add_remote_peer(now, addr);
        }
    }

    fn resolved(&mut self, now: Instant, r: Resolved) {
        match r {
            Resolved::Server { server, addrs } => {
                self.gathering.server_resolved(now, server, addrs)
            }
            Resolved::Stream {
                server,
                addr,
                result,
            } => {
                let result = result.map(|conn| {
                    self.streams.insert(conn.local, conn.writer);
                    self.tasks.extend(conn.tasks);
                    conn.local
                });
                self.gathering.stream_connected(now, server, addr, result);
            }
        }
    }

    fn datagram(&mut self, now: Instant, local: SocketAddr, peer: SocketAddr, data: BytesMut) {
        self.stats.wire_received(data.len());
        if let Some(data) = self.gathering.handle_datagram(now, local, peer, data) {
            self.core.handle_datagram(now, local, peer, data);
        }
    }

    async fn send_all(&mut self) {
        let now = Instant::now();
        let mut sent = 0usize;
        while let Some(t) = self.core.poll_transmit() {
            if let Some(t) = self.gathering.send(now, t) {
                self.send(t).await;
                sent += 1;
                if sent.is_multiple_of(SEND_TURN) {
                    // Let the socket readers of this thread (another connection of the process
                    // may be the receiver of this burst) drain their kernel buffers.
                    tokio::task::yield_now().await;
                }
            }
        }
        while let Some(t) = self.gathering.poll_transmit() {
            self.send(t).await;
        }
        // What the simulator lets through at once (no delay) goes now, not a loop later.
        self.release_outgoing().await;
    }

    /// Sends one TURN message on its stream, or one datagram from its local socket (through
    /// the simulator, if one runs).
    async fn send(&mut self, t: Transmit) {
        if let Some(w) = self.streams.get(&t.local) {
            let len = t.data.len();
            match w.send(t.data) {
                Ok(()) => self.stats.wire_sent(len),
                Err(_) => debug!("the connection to TURN server {} is closed", t.peer),
            }
            return;
        }
        match self.simulator.as_mut() {
            Some(sim) => sim.send(Instant::now(), t),
            None => self.send_udp(t).await,
        }
    }

    /// Sends one datagram from its local socket (or one of the same address family).
    async fn send_udp(&mut self, t: Transmit) {
        let sock = self.sockets.get_key_value(&t.local).or_else(|| {
            self.sockets
                .iter()
                .find(|(a, _)| a.is_ipv4() == t.peer.is_ipv4())
        });
        if let Some((local, sock)) = sock {
            if let Some(lease) = self.muxed.get_mut(local) {
                lease.sending(t.peer, &t.data);
            }
            match sock.send_to(&t.data, t.peer).await {
                Ok(n) => self.stats.wire_sent(n),
                Err(e) => debug!("send to {} failed: {e}", t.peer),
            }
        }
    }

    /// Deallocates on the TURN servers (Refresh with lifetime 0) and waits a little for the
    /// confirmations, so the server frees the relays (and the user's quota) at once.
    async fn release_relays(&mut self, datagrams: &mut mpsc::Receiver<Datagram>) {
        let now = Instant::now();
        self.gathering.close(now);
        let deadline = now + RELEASE_WAIT;
        loop {
            while let Some(t) = self.gathering.poll_transmit() {
                self.send(t).await;
            }
            if self.gathering.released() {
                return;
            }
            let wake = match self.gathering.poll_timeout() {
                Some(t) => t.min(deadline),
                None => deadline,
            };
            tokio::select! {
                Some((local, peer, data)) = datagrams.recv() => {
                    self.gathering.handle_release_answer(Instant::now(), local, peer, data);
                }
                _ = tokio::time::sleep_until(wake.into()) => {
                    let now = Instant::now();
                    if now >= deadline {
                        debug!("TURN servers did not confirm the deallocation in time");
                        return;
                    }
                    self.gathering.handle_timeout(now);
                }
            }
        }
    }
}
