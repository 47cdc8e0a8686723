//! The listening side: configuration, the accept loop (global and per-address admission),
//! and housekeeping. Each admitted connection is handed to [`crate::connection`].

use crate::admission::{Admission, AdmissionLimits};
use crate::connection;
use crate::gated;
use crate::ip::IpKey;
use crate::lobby::{ConnId, Hub, Limits};
use crate::logging::{LogGate, CLIENT_LINES};
use crate::outbox::Share;
use crate::rate::Rate;
use crate::state::{lock, QueueLimits, SharedState, State};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// How a server behaves; [`Config::default`] is safe on the public internet.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen (port 0 picks a free port; see [`Server::local_addr`]).
    pub bind: SocketAddr,
    /// Lobby limits: count, size, per address, code guessing, code quarantine.
    pub limits: Limits,
    /// Per-address connection limits.
    pub admission: AdmissionLimits,
    /// Simultaneous connections in all; more are refused at accept.
    pub max_connections: usize,
    /// The largest text frame or message accepted; a bigger one closes the connection.
    pub max_message_size: usize,
    /// Messages per second one connection may send, with a burst. Past it the server reads
    /// that connection more slowly (nothing is dropped). A message costs one token per started
    /// 16 KiB.
    pub message_rate: Rate,
    /// One sender's share of one recipient's queue; past it that sender's messages to that
    /// recipient are dropped until the recipient reads.
    pub share: Share,
    /// Bytes queued for all recipients together; past it, recipients holding more than their
    /// part lose new messages.
    pub max_queued_bytes: usize,
    /// Time allowed for the TLS and WebSocket opening handshakes together.
    pub handshake_timeout: Duration,
    /// Time a connection may spend in no lobby (after connecting, or after leaving one).
    pub join_timeout: Duration,
    /// A connection that sends nothing (not even a pong) for this long is closed, and so is
    /// one that does not take a message for this long.
    pub idle_timeout: Duration,
    /// How often the server pings each client (clients answer automatically).
    pub ping_interval: Duration,
    /// Serve `wss://` with this TLS configuration (see [`crate::tls::load`]).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Reverse proxies whose `X-Forwarded-For` header names the real client. Connections from
    /// them are counted per real client, after the WebSocket handshake.
    pub trusted_proxies: Vec<IpAddr>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 9080)),
            limits: Limits::default(),
            admission: AdmissionLimits::default(),
            max_connections: 4096,
            max_message_size: 64 * 1024,
            message_rate: Rate::new(50.0, 200.0),
            share: Share {
                messages: 64,
                bytes: 64 * 1024,
            },
            max_queued_bytes: 128 * 1024 * 1024,
            handshake_timeout: Duration::from_secs(10),
            join_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(60),
            ping_interval: Duration::from_secs(10),
            tls: None,
            trusted_proxies: Vec::new(),
        }
    }
}

/// What every connection task reads and shares.
pub(crate) struct Context {
    pub config: Config,
    pub state: SharedState,
    pub admission: Admission,
    pub log: LogGate,
}

/// Counters of a running server, for tests and the benchmark.
#[derive(Clone)]
pub struct Stats {
    state: SharedState,
    admission: Admission,
}

impl Stats {
    /// Connections past the WebSocket handshake.
    pub fn connections(&self) -> usize {
        lock(&self.state).connections()
    }

    /// Lobbies open.
    pub fn lobbies(&self) -> usize {
        lock(&self.state).hub.lobby_count()
    }

    /// Bytes waiting in every outbox together.
    pub fn queued_bytes(&self) -> usize {
        lock(&self.state).queued_bytes()
    }

    /// Addresses with per-address state (connection accounting and lobby accounting).
    pub fn tracked_addresses(&self) -> usize {
        self.admission.tracked() + lock(&self.state).hub.tracked_addresses()
    }
}

/// A bound, not yet running, signaling server.
pub struct Server {
    listener: TcpListener,
    context: Arc<Context>,
}

impl Server {
    /// Binds the listening socket.
    pub async fn bind(config: Config) -> io::Result<Server> {
        let listener = TcpListener::bind(config.bind).await?;
        let lanes = config.limits.max_peers + 1;
        let queues = QueueLimits {
            share: config.share,
            lanes,
            max_total_bytes: config.max_queued_bytes,
            fair_bytes: config.max_queued_bytes / config.max_connections.max(1),
        };
        let context = Context {
            state: Arc::new(Mutex::new(State::new(Hub::new(config.limits), queues))),
            admission: Admission::new(config.admission),
            log: LogGate::new(CLIENT_LINES),
            config,
        };
        Ok(Server {
            listener,
            context: Arc::new(context),
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// `ws` or `wss`.
    pub fn scheme(&self) -> &'static str {
        if self.context.config.tls.is_some() {
            "wss"
        } else {
            "ws"
        }
    }

    /// A handle on the server's counters.
    pub fn stats(&self) -> Stats {
        Stats {
            state: self.context.state.clone(),
            admission: self.context.admission.clone(),
        }
    }

    /// Serves until the process ends; only a failing listener returns.
    pub async fn run(self) -> io::Result<()> {
        let context = self.context;
        tokio::spawn(housekeeping(Arc::downgrade(&context)));
        let slots = Arc::new(Semaphore::new(context.config.max_connections));
        let mut next_conn: ConnId = 0;
        loop {
            let (stream, peer) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                // Per-connection failures (reset before accept, fd exhaustion) must not stop
                // the server; back off briefly so fd exhaustion does not spin.
                Err(e) => {
                    gated!(context.log, WARN, "accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                gated!(
                    context.log,
                    WARN,
                    "refused {peer}: all {} connections in use",
                    context.config.max_connections
                );
                continue;
            };
            // Behind a trusted proxy the real client is known only from the HTTP request.
            let ticket = if context.config.trusted_proxies.contains(&peer.ip()) {
                None
            } else {
                match context
                    .admission
                    .admit(IpKey::of(peer.ip()), std::time::Instant::now())
                {
                    Ok(ticket) => Some(ticket),
                    Err(why) => {
                        gated!(context.log, WARN, "refused {peer}: {why}");
                        continue;
                    }
                }
            };
            let _ = stream.set_nodelay(true);
            next_conn += 1;
            let conn = next_conn;
            let context = context.clone();
            tokio::spawn(async move {
                connection::run(stream, peer, ticket, conn, &context).await;
                drop(permit);
            });
        }
    }
}

/// Forgets expired per-address state and codes once a second, while the server lives.
async fn housekeeping(context: std::sync::Weak<Context>) {
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    loop {
        ticker.tick().await;
        let Some(context) = context.upgrade() else {
            return;
        };
        let now = std::time::Instant::now();
        context.admission.sweep(now);
        lock(&context.state).hub.sweep(now);
    }
}
