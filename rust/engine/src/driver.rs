//! The one network thread of the process and the per-connection task that runs on it: UDP
//! sockets, timers, DNS, STUN binding for server-reflexive candidates (TURN: `driver/turn.rs`).
//! All protocol logic is in [`Core`] and, for TURN, in [`Relays`]; this file only moves bytes
//! and time in and out of them. Datagrams from a TURN server go to [`Relays`], what a peer
//! relayed to us goes on to the core as if received on the relayed address, and the core's
//! datagrams from a relayed address go back through [`Relays`].

use crate::candidate::{self, RemoteCandidate};
use crate::channel::{Command, Update};
use crate::config::{ServerKind, ServerUrl};
use crate::core::Core;
use crate::error::{Error, Result};
use crate::relay::Relays;
use crate::stream::StreamConn;
use bytes::BytesMut;
use rtc_stun::message::{
    Getter, Message as StunMessage, TransactionId, BINDING_REQUEST, BINDING_SUCCESS,
};
use rtc_stun::xoraddr::XorMappedAddress;
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, trace, warn};

mod turn;

/// Datagrams queued from socket readers to a connection task before readers wait.
const DATAGRAM_QUEUE: usize = 1024;
/// Datagrams handled before a flush, so a burst is acknowledged together.
const BURST: usize = 128;
const STUN_RETRANSMIT: Duration = Duration::from_millis(500);
const STUN_ATTEMPTS: u32 = 5;
const DNS_TIMEOUT: Duration = Duration::from_secs(3);

/// Callback run on the network thread when new updates are queued.
pub type NotifyFn = Arc<dyn Fn() + Send + Sync>;

/// What the handle and the connection task share: updates waiting for `poll()`.
pub(crate) struct Shared {
    updates: Mutex<VecDeque<Update>>,
    notify: Mutex<Option<NotifyFn>>,
}

impl Shared {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            updates: Mutex::new(VecDeque::new()),
            notify: Mutex::new(None),
        })
    }

    /// Queues updates from the network thread and wakes the application.
    pub fn push(&self, updates: Vec<Update>) {
        if updates.is_empty() {
            return;
        }
        self.push_quiet(updates);
        let notify = self
            .notify
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(n) = notify {
            n();
        }
    }

    /// Queues updates produced by the application's own call (no wake-up needed: the caller is
    /// already here, and the callback must never run inside a call into the engine).
    pub fn push_quiet(&self, updates: Vec<Update>) {
        self.updates
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(updates);
    }

    pub fn take(&self) -> VecDeque<Update> {
        std::mem::take(&mut *self.updates.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn set_notify(&self, n: Option<NotifyFn>) {
        *self.notify.lock().unwrap_or_else(|e| e.into_inner()) = n;
    }
}

/// The process-wide network thread, started on first use.
fn runtime() -> Result<tokio::runtime::Handle> {
    static NET: OnceLock<std::result::Result<tokio::runtime::Handle, String>> = OnceLock::new();
    NET.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("webrtc-rs-net".to_owned())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Err(format!("cannot start the network runtime: {e}")));
                        return;
                    }
                };
                let _ = tx.send(Ok(rt.handle().clone()));
                rt.block_on(std::future::pending::<()>());
            });
        match spawned {
            Ok(_) => rx
                .recv()
                .unwrap_or_else(|_| Err("the network thread exited".to_owned())),
            Err(e) => Err(format!("cannot start the network thread: {e}")),
        }
    })
    .clone()
    .map_err(Error::failed)
}

/// Settings the driver needs besides the core.
pub(crate) struct DriverConfig {
    pub bind_address: Option<IpAddr>,
    pub servers: Vec<ServerUrl>,
    /// `iceTransportPolicy: "relay"`: no host or server-reflexive candidates.
    pub relay_only: bool,
    pub provider: Arc<dyn rtc_crypto::RTCCryptoProvider>,
}

/// Starts a connection task on the network thread.
pub(crate) fn spawn(
    core: Core,
    commands: mpsc::UnboundedReceiver<Command>,
    shared: Arc<Shared>,
    config: DriverConfig,
) -> Result<()> {
    let rt = runtime()?;
    rt.spawn(run(core, commands, shared, config));
    Ok(())
}

enum Resolved {
    Stun(Vec<SocketAddr>),
    Turn {
        server: ServerUrl,
        addrs: Vec<SocketAddr>,
    },
    /// A TCP/TLS connection to a TURN server is up (or failed).
    TurnStream {
        server: ServerUrl,
        addr: SocketAddr,
        result: std::result::Result<StreamConn, String>,
    },
    Candidate {
        text: String,
        addrs: Vec<SocketAddr>,
    },
}

struct StunQuery {
    local: SocketAddr,
    server: SocketAddr,
    request: Vec<u8>,
    attempts: u32,
    next: Instant,
}

struct Task {
    core: Core,
    shared: Arc<Shared>,
    config: DriverConfig,
    sockets: HashMap<SocketAddr, Arc<UdpSocket>>,
    readers: Vec<JoinHandle<()>>,
    datagrams: mpsc::Sender<(SocketAddr, SocketAddr, BytesMut)>,
    resolved: mpsc::UnboundedSender<Resolved>,
    lookups: Vec<JoinHandle<()>>,
    gathering: bool,
    stun_lookups_pending: usize,
    stun: HashMap<TransactionId, StunQuery>,
    relays: Relays,
    /// DNS lookups and TCP/TLS connections to TURN servers still under way.
    turn_lookups_pending: usize,
    /// Writers of the TCP/TLS streams to TURN servers, by the stream's local address.
    streams: HashMap<SocketAddr, mpsc::UnboundedSender<BytesMut>>,
}

async fn run(
    core: Core,
    mut commands: mpsc::UnboundedReceiver<Command>,
    shared: Arc<Shared>,
    config: DriverConfig,
) {
    let (dg_tx, mut dg_rx) = mpsc::channel(DATAGRAM_QUEUE);
    let (res_tx, mut res_rx) = mpsc::unbounded_channel();
    let relays = Relays::new(config.provider.clone());
    let mut task = Task {
        core,
        shared,
        config,
        sockets: HashMap::new(),
        readers: Vec::new(),
        datagrams: dg_tx,
        resolved: res_tx,
        lookups: Vec::new(),
        gathering: false,
        stun_lookups_pending: 0,
        stun: HashMap::new(),
        relays,
        turn_lookups_pending: 0,
        streams: HashMap::new(),
    };
    loop {
        task.send_all().await;
        task.shared.push(task.core.take_updates());
        if task.core.is_finished() {
            break;
        }
        let deadline = [
            task.core.poll_timeout(),
            task.stun_deadline(),
            task.relays.poll_timeout(),
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
                // Apply whatever else is queued before flushing.
                while let Ok(cmd) = commands.try_recv() {
                    task.command(now, cmd);
                }
            }
            Some((local, peer, data)) = dg_rx.recv() => {
                let now = Instant::now();
                task.datagram(now, local, peer, data);
                for _ in 0..BURST {
                    match dg_rx.try_recv() {
                        Ok((local, peer, data)) => task.datagram(now, local, peer, data),
                        Err(_) => break,
                    }
                }
            }
            Some(r) = res_rx.recv() => task.resolved(Instant::now(), r),
            _ = sleep => {
                let now = Instant::now();
                task.core.handle_timeout(now);
                task.stun_timeout(now);
                task.relays.handle_timeout(now);
                task.relay_events(now);
            }
        }
        task.core.flush(Instant::now());
    }
    task.release_relays(&mut dg_rx).await;
    for r in task.readers.drain(..) {
        r.abort();
    }
    for l in task.lookups.drain(..) {
        l.abort();
    }
    debug!("connection task ended");
}

impl Task {
    fn command(&mut self, now: Instant, cmd: Command) {
        match cmd {
            Command::StartGathering { mid, mline_index } => {
                self.core.start_gathering(mid, mline_index);
                if !self.gathering {
                    self.gathering = true;
                    self.gather();
                }
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
        }
    }

    /// Hands a remote candidate to ICE and lets the TURN relays permit its address.
    fn add_remote(&mut self, now: Instant, text: &str) {
        if let Some(addr) = self.core.add_remote_candidate(now, text) {
            self.relays.add_peer(now, addr);
        }
    }

    fn remote_candidate(&mut self, now: Instant, c: RemoteCandidate) {
        match c {
            RemoteCandidate::Udp(text) => self.add_remote(now, &text),
            RemoteCandidate::Named { host, text } => {
                let tx = self.resolved.clone();
                self.lookups.push(tokio::spawn(async move {
                    let addrs = match tokio::time::timeout(
                        DNS_TIMEOUT,
                        tokio::net::lookup_host((host.as_str(), 0)),
                    )
                    .await
                    {
                        Ok(Ok(it)) => it.collect(),
                        _ => {
                            debug!("cannot resolve candidate host {host:?}; candidate ignored");
                            Vec::new()
                        }
                    };
                    let _ = tx.send(Resolved::Candidate { text, addrs });
                }));
            }
            RemoteCandidate::Ignored(why) => debug!("remote candidate ignored: {why}"),
            RemoteCandidate::End => debug!("remote end of candidates"),
        }
    }

    fn resolved(&mut self, now: Instant, r: Resolved) {
        match r {
            Resolved::Candidate { text, addrs } => {
                if let Some(a) = addrs.first() {
                    self.add_remote(now, &candidate::with_address(&text, a.ip()));
                }
            }
            Resolved::Stun(servers) => {
                self.stun_lookups_pending = self.stun_lookups_pending.saturating_sub(1);
                let locals: Vec<SocketAddr> = self.sockets.keys().copied().collect();
                for server in servers {
                    for local in &locals {
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
                        self.stun.insert(
                            tid,
                            StunQuery {
                                local: *local,
                                server,
                                request: m.raw.clone(),
                                attempts: 0,
                                next: now,
                            },
                        );
                    }
                }
                self.stun_timeout(now);
                self.maybe_gathering_done();
            }
            Resolved::Turn { server, addrs } => self.turn_resolved(now, server, addrs),
            Resolved::TurnStream {
                server,
                addr,
                result,
            } => self.turn_connected(now, server, addr, result),
        }
    }

    fn stun_deadline(&self) -> Option<Instant> {
        self.stun.values().map(|q| q.next).min()
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
            if let Some(sock) = self.sockets.get(&q.local) {
                let _ = sock.try_send_to(&q.request, q.server);
            }
        }
        for tid in expired {
            if let Some(q) = self.stun.remove(&tid) {
                debug!("STUN server {} did not answer", q.server);
            }
        }
        self.maybe_gathering_done();
    }

    fn maybe_gathering_done(&mut self) {
        if self.gathering
            && self.stun_lookups_pending == 0
            && self.stun.is_empty()
            && self.turn_lookups_pending == 0
            && self.relays.pending() == 0
        {
            self.core.finish_gathering();
        }
    }

    fn datagram(&mut self, now: Instant, local: SocketAddr, peer: SocketAddr, data: BytesMut) {
        if !self.stun.is_empty() && data.first().is_some_and(|b| *b < 4) {
            let mut m = StunMessage::new();
            if m.unmarshal_binary(&data).is_ok() && m.typ == BINDING_SUCCESS {
                if let Some(q) = self.stun.remove(&m.transaction_id) {
                    let mut x = XorMappedAddress::default();
                    if x.get_from(&m).is_ok() {
                        self.core
                            .add_srflx_candidate(q.local, SocketAddr::new(x.ip, x.port));
                    }
                    self.maybe_gathering_done();
                    return;
                }
            }
        }
        if self.relays.is_server(local, peer) {
            self.relays.handle_datagram(now, local, peer, data);
            self.relay_events(now);
            return;
        }
        if self.config.relay_only {
            trace!("relay only: ignoring a datagram from {peer} on {local}");
            return;
        }
        self.core.handle_datagram(now, local, peer, data);
    }

    /// Binds one UDP socket per local address, announces host candidates, starts STUN.
    fn gather(&mut self) {
        let addrs = match self.config.bind_address {
            Some(ip) => vec![ip],
            None => interface_addresses(),
        };
        for ip in addrs {
            match bind(ip) {
                Ok(sock) => {
                    let local = match sock.local_addr() {
                        Ok(a) => a,
                        Err(_) => continue,
                    };
                    let sock = Arc::new(sock);
                    self.sockets.insert(local, sock.clone());
                    self.readers
                        .push(tokio::spawn(read_loop(sock, local, self.datagrams.clone())));
                    if !self.config.relay_only {
                        self.core.add_host_candidate(local);
                    }
                }
                Err(e) => warn!("cannot bind a UDP socket on {ip}: {e}"),
            }
        }
        let relay_only = self.config.relay_only;
        if relay_only
            && !self
                .config
                .servers
                .iter()
                .any(|s| s.kind != ServerKind::Stun)
        {
            warn!(
                "iceTransportPolicy is \"relay\" but no TURN server is configured: \
                 no candidate will be gathered"
            );
        }
        for server in self.config.servers.clone() {
            match server.kind {
                ServerKind::Stun if relay_only => {
                    debug!("STUN server {:?} not used: relay only", server.host)
                }
                ServerKind::Stun => {
                    self.stun_lookups_pending += 1;
                    let tx = self.resolved.clone();
                    self.lookups.push(tokio::spawn(async move {
                        let addrs = match tokio::time::timeout(
                            DNS_TIMEOUT,
                            tokio::net::lookup_host((server.host.as_str(), server.port)),
                        )
                        .await
                        {
                            Ok(Ok(it)) => it.collect(),
                            _ => {
                                warn!("cannot resolve STUN server {:?}", server.host);
                                Vec::new()
                            }
                        };
                        let _ = tx.send(Resolved::Stun(addrs));
                    }));
                }
                ServerKind::Turn | ServerKind::Turns => self.lookup_turn(server),
            }
        }
        self.maybe_gathering_done();
    }

    async fn send_all(&mut self) {
        while let Some(t) = self.core.poll_transmit() {
            if self.relays.is_relayed(t.local) {
                self.relays.send(Instant::now(), t.local, t.peer, t.data);
                continue;
            }
            let sock = self.sockets.get(&t.local).or_else(|| {
                self.sockets
                    .iter()
                    .find(|(a, _)| a.is_ipv4() == t.peer.is_ipv4())
                    .map(|(_, s)| s)
            });
            if let Some(sock) = sock {
                if let Err(e) = sock.send_to(&t.data, t.peer).await {
                    debug!("send to {} failed: {e}", t.peer);
                }
            }
        }
        self.send_relayed().await;
    }
}

/// Kernel socket buffer size we ask for. The default (about 208 KiB on Linux) overflows during
/// an SCTP burst, and each drop costs rtc-sctp a retransmission timeout of at least 1 s
/// (see docs/benchmarks.md); libdatachannel asks for the same 1 MiB.
const SOCKET_BUFFER_BYTES: usize = 1 << 20;

fn bind(ip: IpAddr) -> std::io::Result<UdpSocket> {
    let addr = SocketAddr::new(ip, 0);
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    // Best effort: the kernel caps the sizes at its limits (net.core.rmem_max/wmem_max).
    if let Err(e) = sock.set_recv_buffer_size(SOCKET_BUFFER_BYTES) {
        debug!("SO_RCVBUF on {addr}: {e}");
    }
    if let Err(e) = sock.set_send_buffer_size(SOCKET_BUFFER_BYTES) {
        debug!("SO_SNDBUF on {addr}: {e}");
    }
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    UdpSocket::from_std(sock.into())
}

async fn read_loop(
    sock: Arc<UdpSocket>,
    local: SocketAddr,
    tx: mpsc::Sender<(SocketAddr, SocketAddr, BytesMut)>,
) {
    let mut buf = vec![0u8; 65536];
    loop {
        match sock.recv_from(&mut buf).await {
            Ok((n, peer)) => {
                if tx
                    .send((local, peer, BytesMut::from(&buf[..n])))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            // ICMP errors surface as ConnectionReset on some platforms: keep reading.
            Err(e) => debug!("recv on {local}: {e}"),
        }
    }
}

/// Usable local addresses: not loopback, not link-local IPv6.
fn interface_addresses() -> Vec<IpAddr> {
    let mut out = Vec::new();
    match rtc_shared::ifaces::ifaces() {
        Ok(list) => {
            for iface in list {
                let Some(addr) = iface.addr else { continue };
                let ip = addr.ip();
                let link_local_v6 =
                    matches!(ip, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80);
                if ip.is_loopback() || ip.is_unspecified() || link_local_v6 {
                    continue;
                }
                if !out.contains(&ip) {
                    out.push(ip);
                }
            }
        }
        Err(e) => warn!("cannot list network interfaces: {e}"),
    }
    out
}
