//! One client connection: the TLS and WebSocket handshakes, then moving frames both ways
//! until it ends. Incoming frames are paced by the client's token bucket; outgoing ones come
//! from its outbox.

use crate::admission::Ticket;
use crate::gated;
use crate::ip::IpKey;
use crate::lobby::{ConnId, Outgoing};
use crate::logging::snippet;
use crate::protocol::{parse_request, Reply};
use crate::rate::TokenBucket;
use crate::server::Context;
use crate::state::lock;
use futures_util::{SinkExt, StreamExt};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::{sleep_until, timeout, timeout_at, Instant};
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError, ProtocolError};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// Incoming bytes one token pays for: a message costs one token per started 16 KiB.
const BYTES_PER_TOKEN: usize = 16 * 1024;
/// Messages written per wake-up before the task looks at its socket again.
const WRITES_PER_TURN: usize = 32;

/// Handshakes, then serves the connection until it ends.
pub(crate) async fn run(
    stream: TcpStream,
    peer: SocketAddr,
    ticket: Option<Ticket>,
    conn: ConnId,
    context: &Context,
) {
    let deadline = Instant::now() + context.config.handshake_timeout;
    match &context.config.tls {
        Some(tls) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(tls.clone());
            match timeout_at(deadline, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => upgrade(stream, deadline, peer, ticket, conn, context).await,
                Ok(Err(e)) => gated!(context.log, DEBUG, "{peer}: TLS handshake failed: {e}"),
                Err(_) => gated!(context.log, DEBUG, "{peer}: TLS handshake timed out"),
            }
        }
        None => upgrade(stream, deadline, peer, ticket, conn, context).await,
    }
}

/// The WebSocket opening handshake; behind a trusted proxy, also the admission of the real
/// client (refused with HTTP 429).
// tungstenite's handshake callback fixes the error type (an HTTP response).
#[allow(clippy::result_large_err)]
async fn upgrade<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    deadline: Instant,
    peer: SocketAddr,
    ticket: Option<Ticket>,
    conn: ConnId,
    context: &Context,
) {
    let config = &context.config;
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(config.max_message_size))
        .max_frame_size(Some(config.max_message_size))
        // Thousands of mostly idle sockets: small eager buffers, writes go straight out.
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_write_buffer_size(config.max_message_size.saturating_mul(2));
    let admitted = Arc::new(Mutex::new(ticket));
    let callback = {
        let admitted = admitted.clone();
        move |request: &Request, response: Response| {
            admit_forwarded(request, response, peer, &admitted, context)
        }
    };
    let handshake =
        tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(ws_config));
    let ws = match timeout_at(deadline, handshake).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => {
            gated!(
                context.log,
                DEBUG,
                "{peer}: WebSocket handshake failed: {e}"
            );
            return;
        }
        Err(_) => {
            gated!(context.log, DEBUG, "{peer}: WebSocket handshake timed out");
            return;
        }
    };
    let ticket = admitted
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .take();
    let Some(ticket) = ticket else {
        // Only a refused proxied client has no ticket, and its handshake failed above.
        return;
    };
    serve(ws, conn, peer, ticket, context).await;
}

/// For a connection from a trusted proxy: finds the client in `X-Forwarded-For` and admits it.
#[allow(clippy::result_large_err)] // the callback's signature, see `upgrade`
fn admit_forwarded(
    request: &Request,
    response: Response,
    peer: SocketAddr,
    admitted: &Mutex<Option<Ticket>>,
    context: &Context,
) -> Result<Response, ErrorResponse> {
    let mut admitted = admitted
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if admitted.is_some() {
        return Ok(response);
    }
    let client = forwarded_client(request).unwrap_or(peer.ip());
    match context
        .admission
        .admit(IpKey::of(client), std::time::Instant::now())
    {
        Ok(ticket) => {
            *admitted = Some(ticket);
            Ok(response)
        }
        Err(why) => {
            gated!(
                context.log,
                WARN,
                "refused {client} (via proxy {peer}): {why}"
            );
            let mut refusal = ErrorResponse::new(Some(format!("refused: {why}")));
            *refusal.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            Err(refusal)
        }
    }
}

/// The address the nearest proxy saw: the last entry of the last `X-Forwarded-For` header.
fn forwarded_client(request: &Request) -> Option<IpAddr> {
    let header = request
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .next_back()?;
    let last = header.to_str().ok()?.rsplit(',').next()?.trim();
    let bare = last.trim_start_matches('[');
    let bare = bare.split(']').next().unwrap_or(bare);
    bare.parse().ok()
}

/// Why a connection ends, for the close frame and the log.
enum End {
    ClientClosed,
    Fault(CloseCode, String),
}

/// Serves an open WebSocket until it ends, then removes the client from its lobby.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut ws: WebSocketStream<S>,
    conn: ConnId,
    peer: SocketAddr,
    ticket: Ticket,
    context: &Context,
) {
    let ip = ticket.ip();
    gated!(context.log, INFO, "{peer}: connected as conn {conn} ({ip})");
    let wake = Arc::new(Notify::new());
    {
        let mut state = lock(&context.state);
        state.hub.attach(conn, ip);
        state.open(conn, wake.clone());
    }
    let end = pump(&mut ws, conn, context, &wake).await;
    let delivery = {
        let mut state = lock(&context.state);
        state.close(conn);
        let outgoing = state.hub.disconnect(conn);
        state.deliver(conn, outgoing)
    };
    if delivery.dropped + delivery.evicted > 0 {
        gated!(
            context.log,
            DEBUG,
            "conn {conn}: departure not told to every slow peer"
        );
    }
    drop(ticket);
    match end {
        End::ClientClosed => gated!(context.log, INFO, "conn {conn}: disconnected"),
        End::Fault(code, reason) => {
            gated!(context.log, INFO, "conn {conn}: closing: {reason}");
            let frame = CloseFrame {
                code,
                reason: reason.into(),
            };
            let _ = timeout(Duration::from_secs(1), ws.close(Some(frame))).await;
        }
    }
}

/// Moves frames both ways until the connection ends.
async fn pump<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
    conn: ConnId,
    context: &Context,
    wake: &Notify,
) -> End {
    let config = &context.config;
    let mut bucket = TokenBucket::new(config.message_rate, std::time::Instant::now());
    // A frame read while the bucket was empty, and when it may be handled.
    let mut held: Option<(Message, Instant)> = None;
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
        let release_at = held.as_ref().map(|(_, at)| *at);
        tokio::select! {
            frame = ws.next(), if held.is_none() => {
                last_heard = Instant::now();
                let message = match frame {
                    None => return End::ClientClosed,
                    Some(Ok(message)) => message,
                    Some(Err(e)) => return ended(e),
                };
                if let Message::Close(_) = message {
                    return End::ClientClosed;
                }
                let cost = 1.0 + (message.len() / BYTES_PER_TOKEN) as f64;
                match bucket.take(cost, std::time::Instant::now()) {
                    Ok(()) => on_message(conn, message, context),
                    Err(wait) => held = Some((message, Instant::now() + wait)),
                }
            }
            _ = sleep_until(release_at.unwrap_or_else(Instant::now)), if release_at.is_some() => {
                if let Some((message, _)) = held.take() {
                    let cost = 1.0 + (message.len() / BYTES_PER_TOKEN) as f64;
                    match bucket.take(cost, std::time::Instant::now()) {
                        Ok(()) => on_message(conn, message, context),
                        Err(wait) => held = Some((message, Instant::now() + wait)),
                    }
                }
            }
            _ = wake.notified() => {
                let mut written = 0;
                loop {
                    // The lock is released before the write (a let-else statement ends it).
                    let Some(text) = lock(&context.state).pop(conn) else {
                        break;
                    };
                    let sent = timeout(config.idle_timeout, ws.send(Message::text(&*text))).await;
                    if !matches!(sent, Ok(Ok(()))) {
                        return End::Fault(CloseCode::Away, "could not deliver a message".into());
                    }
                    written += 1;
                    if written == WRITES_PER_TURN {
                        // More may be waiting: come back after looking at the socket.
                        wake.notify_one();
                        break;
                    }
                }
            }
            _ = ticker.tick() => {
                let now = Instant::now();
                if now.duration_since(last_heard) >= config.idle_timeout {
                    return End::Fault(CloseCode::Away, format!("nothing received for {} s", config.idle_timeout.as_secs()));
                }
                let in_lobby = lock(&context.state).hub.membership(conn).is_some();
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

/// How a read error ends the connection.
fn ended(error: WsError) -> End {
    match error {
        WsError::Capacity(e) => {
            let reason = match e {
                CapacityError::MessageTooLong { size, max_size } => {
                    format!("message of {size} bytes exceeds the limit of {max_size} bytes")
                }
                other => other.to_string(),
            };
            End::Fault(CloseCode::Size, reason)
        }
        // Clients that exit often just drop the TCP connection.
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake)
        | WsError::ConnectionClosed => End::ClientClosed,
        WsError::Io(e) => End::Fault(CloseCode::Away, format!("connection lost: {e}")),
        e => End::Fault(CloseCode::Protocol, format!("WebSocket error: {e}")),
    }
}

/// Handles one data frame (pings and pongs are answered by tungstenite itself).
fn on_message(conn: ConnId, message: Message, context: &Context) {
    match message {
        Message::Text(text) => on_text(conn, text.as_str(), context),
        Message::Binary(_) => {
            let reply = Reply::error("binary frames are not supported: send JSON text frames");
            lock(&context.state).deliver(conn, vec![Outgoing { to: conn, reply }]);
        }
        _ => {}
    }
}

/// What one request did that is worth a log line (decided under the lock, written after).
enum Note {
    Joined { lobby: String, id: i64 },
    Refused(String),
    SlowedDown,
}

fn on_text(conn: ConnId, text: &str, context: &Context) {
    // Parsing needs no lock.
    let parsed = parse_request(text);
    let (notes, delivery) = {
        let mut state = lock(&context.state);
        let outgoing = match parsed {
            Ok(request) => state.hub.handle(conn, request),
            Err(message) => vec![Outgoing {
                to: conn,
                reply: Reply::Error { message },
            }],
        };
        let notes: Vec<Note> = outgoing
            .iter()
            .filter_map(|Outgoing { to, reply }| match reply {
                Reply::Joined { id, lobby, .. } if *to == conn => Some(Note::Joined {
                    lobby: lobby.clone(),
                    id: *id,
                }),
                Reply::Error { message } if *to == conn => Some(Note::Refused(message.clone())),
                Reply::SlowDown { .. } if *to == conn => Some(Note::SlowedDown),
                _ => None,
            })
            .collect();
        let delivery = state.deliver(conn, outgoing);
        (notes, delivery)
    };
    for note in notes {
        match note {
            Note::Joined { lobby, id } if id == crate::HOST_ID => {
                gated!(context.log, INFO, "conn {conn}: created lobby {lobby}")
            }
            Note::Joined { lobby, id } => {
                gated!(
                    context.log,
                    INFO,
                    "conn {conn}: joined lobby {lobby} as peer {id}"
                )
            }
            Note::Refused(message) => {
                gated!(
                    context.log,
                    DEBUG,
                    "conn {conn}: refused: {}",
                    snippet(&message)
                )
            }
            Note::SlowedDown => {
                gated!(context.log, INFO, "conn {conn}: tries lobby codes too fast")
            }
        }
    }
    if delivery.dropped + delivery.evicted > 0 {
        gated!(
            context.log,
            WARN,
            "conn {conn}: {} message(s) dropped for recipients not reading fast enough",
            delivery.dropped + delivery.evicted
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> Request {
        let mut builder = Request::builder().uri("/");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).expect("request")
    }

    #[test]
    fn the_nearest_proxy_names_the_client() {
        let ip = |text: &str| text.parse::<IpAddr>().ok();
        assert_eq!(forwarded_client(&request(&[])), None);
        assert_eq!(
            forwarded_client(&request(&[("X-Forwarded-For", "203.0.113.9")])),
            ip("203.0.113.9")
        );
        // A client can put anything first; only the entry the proxy appended counts.
        assert_eq!(
            forwarded_client(&request(&[("X-Forwarded-For", "1.2.3.4, 198.51.100.7")])),
            ip("198.51.100.7")
        );
        assert_eq!(
            forwarded_client(&request(&[
                ("X-Forwarded-For", "1.2.3.4"),
                ("X-Forwarded-For", "[2001:db8::1]")
            ])),
            ip("2001:db8::1")
        );
        assert_eq!(
            forwarded_client(&request(&[("X-Forwarded-For", "garbage")])),
            None
        );
    }
}
