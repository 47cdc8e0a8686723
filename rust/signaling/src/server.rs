//! The WebSocket side: accepts connections, feeds their text frames to the [`Hub`] and delivers
//! its replies, enforcing the size, queue and time limits.

use crate::lobby::{ConnId, Hub, Limits, Outgoing};
use crate::protocol::{parse_request, Reply};
use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// How a server behaves; [`Config::default`] suits a local game.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen (port 0 picks a free port; see [`Server::local_addr`]).
    pub bind: SocketAddr,
    /// Lobby count and size limits.
    pub limits: Limits,
    /// Simultaneous WebSocket connections; more are refused at accept.
    pub max_connections: usize,
    /// The largest text frame or message accepted; a bigger one closes the connection.
    pub max_message_size: usize,
    /// Replies that may wait for a slow client before it is disconnected.
    pub max_queued_replies: usize,
    /// Time allowed for the WebSocket opening handshake.
    pub handshake_timeout: Duration,
    /// Time a connection may spend in no lobby (after connecting, or after leaving one).
    pub join_timeout: Duration,
    /// A connection that sends nothing (not even a pong) for this long is closed.
    pub idle_timeout: Duration,
    /// How often the server pings each client (clients answer automatically).
    pub ping_interval: Duration,
    /// Print one line per connection and lobby event on stderr.
    pub verbose: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 9080)),
            limits: Limits::default(),
            max_connections: 4096,
            max_message_size: 64 * 1024,
            max_queued_replies: 256,
            handshake_timeout: Duration::from_secs(10),
            join_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(60),
            ping_interval: Duration::from_secs(10),
            verbose: false,
        }
    }
}

/// A bound, not yet running, signaling server.
pub struct Server {
    listener: TcpListener,
    config: Config,
}

/// State shared by every connection task.
struct Shared {
    hub: Hub,
    outboxes: HashMap<ConnId, mpsc::Sender<String>>,
}

type SharedRef = Arc<Mutex<Shared>>;

impl Server {
    /// Binds the listening socket.
    pub async fn bind(config: Config) -> io::Result<Server> {
        let listener = TcpListener::bind(config.bind).await?;
        Ok(Server { listener, config })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until the process ends; only a failing listener returns.
    pub async fn run(self) -> io::Result<()> {
        let config = Arc::new(self.config);
        let shared: SharedRef = Arc::new(Mutex::new(Shared {
            hub: Hub::new(config.limits),
            outboxes: HashMap::new(),
        }));
        let slots = Arc::new(Semaphore::new(config.max_connections));
        let mut next_conn: ConnId = 0;
        loop {
            let (stream, peer) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                // Per-connection failures (reset before accept, fd exhaustion) must not stop
                // the server; back off briefly so fd exhaustion does not spin.
                Err(e) => {
                    log(&config, format_args!("accept failed: {e}"));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                log(
                    &config,
                    format_args!(
                        "refused {peer}: {} connections already open",
                        config.max_connections
                    ),
                );
                continue;
            };
            next_conn += 1;
            let conn = next_conn;
            let (config, shared) = (config.clone(), shared.clone());
            tokio::spawn(async move {
                serve(stream, conn, peer, &config, &shared).await;
                drop(permit);
            });
        }
    }
}

fn log(config: &Config, message: std::fmt::Arguments<'_>) {
    if config.verbose {
        eprintln!("signaling: {message}");
    }
}

fn lock(shared: &SharedRef) -> MutexGuard<'_, Shared> {
    // The hub holds no invariant a panicking holder could break half-way through a reply list
    // that matters more than staying up, so a poisoned lock is simply taken over.
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Queues each reply on its connection's outbox. A client whose outbox is full is too slow to
/// keep up; dropping its outbox makes its task close the connection.
fn deliver(shared: &mut Shared, outgoing: Vec<Outgoing>) {
    for Outgoing { to, reply } in outgoing {
        let Some(outbox) = shared.outboxes.get(&to) else {
            continue;
        };
        if outbox.try_send(reply.to_json()).is_err() {
            shared.outboxes.remove(&to);
        }
    }
}

/// Why a connection ends, for the close frame and the log.
enum End {
    ClientClosed,
    Fault(CloseCode, String),
}

async fn serve(
    stream: TcpStream,
    conn: ConnId,
    peer: SocketAddr,
    config: &Config,
    shared: &SharedRef,
) {
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(config.max_message_size))
        .max_frame_size(Some(config.max_message_size));
    let handshake = tokio_tungstenite::accept_async_with_config(stream, Some(ws_config));
    let mut ws = match timeout(config.handshake_timeout, handshake).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => {
            log(
                config,
                format_args!("{peer}: WebSocket handshake failed: {e}"),
            );
            return;
        }
        Err(_) => {
            log(
                config,
                format_args!("{peer}: WebSocket handshake timed out"),
            );
            return;
        }
    };
    log(config, format_args!("{peer}: connected as conn {conn}"));

    let (outbox, inbox) = mpsc::channel(config.max_queued_replies);
    lock(shared).outboxes.insert(conn, outbox);
    let end = pump(&mut ws, conn, config, shared, inbox).await;

    {
        let mut state = lock(shared);
        state.outboxes.remove(&conn);
        let outgoing = state.hub.disconnect(conn);
        deliver(&mut state, outgoing);
    }
    match end {
        End::ClientClosed => log(config, format_args!("{peer}: disconnected")),
        End::Fault(code, reason) => {
            log(config, format_args!("{peer}: closing: {reason}"));
            let frame = CloseFrame {
                code,
                reason: reason.into(),
            };
            let _ = timeout(Duration::from_secs(1), ws.close(Some(frame))).await;
        }
    }
}

/// Moves frames both ways until the connection ends.
async fn pump(
    ws: &mut WebSocketStream<TcpStream>,
    conn: ConnId,
    config: &Config,
    shared: &SharedRef,
    mut inbox: mpsc::Receiver<String>,
) -> End {
    // Since when the client has been in no lobby (`None` while it is in one).
    let mut outside_since = Some(Instant::now());
    let mut last_heard = Instant::now();
    let mut ticker = tokio::time::interval(
        config
            .ping_interval
            .min(config.idle_timeout / 2)
            .max(Duration::from_millis(10)),
    );
    loop {
        tokio::select! {
            frame = ws.next() => {
                last_heard = Instant::now();
                match frame {
                    None | Some(Ok(Message::Close(_))) => return End::ClientClosed,
                    Some(Ok(Message::Text(text))) => on_text(conn, text.as_str(), config, shared),
                    Some(Ok(Message::Binary(_))) => {
                        let reply = Reply::error("binary frames are not supported: send JSON text frames");
                        deliver(&mut lock(shared), vec![Outgoing { to: conn, reply }]);
                    }
                    Some(Ok(_)) => {} // ping, pong: tungstenite answers pings itself
                    Some(Err(WsError::Capacity(e))) => {
                        let reason = match e {
                            CapacityError::MessageTooLong { size, max_size } => {
                                format!("message of {size} bytes exceeds the limit of {max_size} bytes")
                            }
                            other => other.to_string(),
                        };
                        return End::Fault(CloseCode::Size, reason);
                    }
                    // Clients that exit often just drop the TCP connection.
                    Some(Err(WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake)))
                    | Some(Err(WsError::ConnectionClosed)) => return End::ClientClosed,
                    Some(Err(WsError::Io(e))) => {
                        return End::Fault(CloseCode::Away, format!("connection lost: {e}"))
                    }
                    Some(Err(e)) => {
                        return End::Fault(CloseCode::Protocol, format!("WebSocket error: {e}"))
                    }
                }
            }
            reply = inbox.recv() => match reply {
                Some(text) => {
                    let sent = timeout(config.idle_timeout, ws.send(Message::text(text))).await;
                    if !matches!(sent, Ok(Ok(()))) {
                        return End::Fault(CloseCode::Away, "could not deliver a message".into());
                    }
                }
                None => return End::Fault(CloseCode::Policy, "too many undelivered messages: client too slow".into()),
            },
            _ = ticker.tick() => {
                let now = Instant::now();
                if now.duration_since(last_heard) >= config.idle_timeout {
                    return End::Fault(CloseCode::Away, format!("nothing received for {} s", config.idle_timeout.as_secs()));
                }
                let in_lobby = lock(shared).hub.membership(conn).is_some();
                match (in_lobby, outside_since) {
                    (true, _) => outside_since = None,
                    (false, None) => outside_since = Some(now),
                    (false, Some(since)) if now.duration_since(since) >= config.join_timeout => {
                        return End::Fault(CloseCode::Policy, format!("no lobby created or joined within {} s", config.join_timeout.as_secs()));
                    }
                    (false, Some(_)) => {}
                }
                let pinged = timeout(config.idle_timeout, ws.send(Message::Ping(Default::default()))).await;
                if !matches!(pinged, Ok(Ok(()))) {
                    return End::Fault(CloseCode::Away, "could not ping the client".into());
                }
            }
        }
    }
}

fn on_text(conn: ConnId, text: &str, config: &Config, shared: &SharedRef) {
    let mut state = lock(shared);
    let outgoing = match parse_request(text) {
        Ok(request) => state.hub.handle(conn, request),
        Err(message) => vec![Outgoing {
            to: conn,
            reply: Reply::Error { message },
        }],
    };
    for Outgoing { to, reply } in &outgoing {
        match reply {
            Reply::Joined { id, lobby, .. } => log(
                config,
                format_args!("conn {to} is peer {id} of lobby {lobby}"),
            ),
            Reply::Error { message } if *to == conn => {
                log(config, format_args!("conn {conn}: refused: {message}"))
            }
            _ => {}
        }
    }
    deliver(&mut state, outgoing);
}
