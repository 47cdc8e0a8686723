//! Load generator for `cargo xtask bench-signaling` (not a test): many real WebSocket clients in
//! many lobbies relaying signaling-sized messages through a running server, with latencies.
//!
//! `signaling-load --url ws://127.0.0.1:PORT [--clients 2000] [--lobbies 200] [--seconds 20]
//! [--rate 2]`. Lobby `i` connects from 127.10.(i / 250).(i % 250 + 1), so the server's
//! default per-address limits apply as they would to separate players. In each lobby the host
//! sends an SDP-sized offer (about 1.5 KB) to its guests in turn and every guest sends
//! candidate-sized messages (about 200 B) to the host, each client `--rate` messages a second.
//! Prints `READY` on stdout once every client is in its lobby, then one JSON line of results.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpSocket;
use tokio::sync::{watch, Semaphore};
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{client_async, WebSocketStream};

type Ws = WebSocketStream<tokio::net::TcpStream>;

struct Options {
    url: String,
    clients: usize,
    lobbies: usize,
    seconds: f64,
    rate: f64,
}

fn parse() -> Result<Options, String> {
    let mut options = Options {
        url: String::new(),
        clients: 2000,
        lobbies: 200,
        seconds: 20.0,
        rate: 2.0,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = rest.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite() && *n > 0.0)
                .ok_or_else(|| format!("{flag}: {value:?} is not a positive number"))
        };
        match flag.as_str() {
            "--url" => options.url = value.clone(),
            "--clients" => options.clients = number()? as usize,
            "--lobbies" => options.lobbies = number()? as usize,
            "--seconds" => options.seconds = number()?,
            "--rate" => options.rate = number()?,
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    if !options.url.starts_with("ws://") {
        return Err("--url ws://HOST:PORT is required".into());
    }
    if options.lobbies == 0 || options.clients < 2 * options.lobbies {
        return Err("need at least two clients per lobby".into());
    }
    Ok(options)
}

/// Every latency measured, in microseconds, and the counts.
#[derive(Default)]
struct Tally {
    latencies: Vec<u32>,
    joins: Vec<u32>,
    sent: u64,
    received: u64,
    errors: Vec<String>,
}

fn main() {
    let options = match parse() {
        Ok(options) => options,
        Err(e) => {
            eprintln!("signaling-load: {e}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| {
            eprintln!("signaling-load: runtime: {e}");
            std::process::exit(1);
        });
    runtime.block_on(run(options));
}

async fn run(options: Options) {
    let Ok(server) = options
        .url
        .trim_start_matches("ws://")
        .parse::<SocketAddr>()
    else {
        eprintln!("signaling-load: --url must be ws://IP:PORT");
        std::process::exit(2);
    };
    let epoch = Instant::now();
    let tally = Arc::new(Mutex::new(Tally::default()));
    // Everyone in a lobby, then everyone relays, then everyone stops.
    let phases = Arc::new(Phases {
        in_lobby: AtomicUsize::new(0),
        finished: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        go: watch::channel(false).0,
        stop: watch::channel(false).0,
    });
    // Handshakes at most this many at once, so the listen backlog never overflows.
    let connecting = Arc::new(Semaphore::new(256));
    let per_lobby = options.clients / options.lobbies;
    let extra = options.clients % options.lobbies;
    for lobby in 0..options.lobbies {
        let size = per_lobby + usize::from(lobby < extra);
        let from = IpAddr::V4(Ipv4Addr::new(
            127,
            10,
            (lobby / 250) as u8,
            (lobby % 250) as u8 + 1,
        ));
        let lobby_task = Lobby {
            server,
            from,
            size,
            rate: options.rate,
            seconds: options.seconds,
            epoch,
            tally: tally.clone(),
            phases: phases.clone(),
            connecting: connecting.clone(),
        };
        tokio::spawn(lobby_task.run());
    }
    let setup_started = Instant::now();
    phases.wait_for(&phases.in_lobby, options.clients).await;
    let setup = setup_started.elapsed();
    println!("READY");
    let relay_started = Instant::now();
    phases.go.send_replace(true);
    phases.wait_for(&phases.finished, options.clients).await;
    let relay = relay_started.elapsed();
    phases.stop.send_replace(true);
    // Late messages still count.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut tally = tally.lock().unwrap_or_else(|p| p.into_inner());
    tally.latencies.sort_unstable();
    tally.joins.sort_unstable();
    let pick = |v: &[u32], q: f64| -> f64 {
        if v.is_empty() {
            return f64::NAN;
        }
        let i = ((v.len() as f64 - 1.0) * q).round() as usize;
        f64::from(v[i]) / 1000.0
    };
    let result = json!({
        "clients": options.clients,
        "lobbies": options.lobbies,
        "rate_per_client": options.rate,
        "setup_s": setup.as_secs_f64(),
        "relay_s": relay.as_secs_f64(),
        "sent": tally.sent,
        "received": tally.received,
        "messages_per_s": tally.received as f64 / relay.as_secs_f64(),
        "latency_ms": {
            "p50": pick(&tally.latencies, 0.5),
            "p99": pick(&tally.latencies, 0.99),
            "max": pick(&tally.latencies, 1.0),
        },
        "join_ms": {
            "p50": pick(&tally.joins, 0.5),
            "p99": pick(&tally.joins, 0.99),
        },
        "errors": tally.errors.len(),
        "first_errors": tally.errors.iter().take(5).collect::<Vec<_>>(),
    });
    println!("{result}");
}

/// Where the clients are: counters the main task waits on, and its start and stop signals.
struct Phases {
    in_lobby: AtomicUsize,
    finished: AtomicUsize,
    /// Clients that will never reach the next phase (connection or lobby failures).
    failed: AtomicUsize,
    go: watch::Sender<bool>,
    stop: watch::Sender<bool>,
}

impl Phases {
    /// Until `counter` plus the failed clients reach `total` (or 120 s pass).
    async fn wait_for(&self, counter: &AtomicUsize, total: usize) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while counter.load(Ordering::Relaxed) + self.failed.load(Ordering::Relaxed) < total
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn wait(sender: &watch::Sender<bool>) {
        let mut receiver = sender.subscribe();
        let _ = receiver.wait_for(|set| *set).await;
    }
}

struct Lobby {
    server: SocketAddr,
    from: IpAddr,
    size: usize,
    rate: f64,
    seconds: f64,
    epoch: Instant,
    tally: Arc<Mutex<Tally>>,
    phases: Arc<Phases>,
    connecting: Arc<Semaphore>,
}

impl Lobby {
    async fn run(self) {
        let lobby = Arc::new(self);
        let code = match lobby.clone().host_and_code().await {
            Some(code) => code,
            None => {
                // Nobody of this lobby will relay.
                lobby.phases.failed.fetch_add(lobby.size, Ordering::Relaxed);
                return;
            }
        };
        for guest in 2..=lobby.size {
            let lobby = lobby.clone();
            let code = code.clone();
            tokio::spawn(async move { lobby.guest(code, guest as i64).await });
        }
    }

    /// One client gives up.
    fn give_up(&self, what: String) {
        self.fail(what);
        self.phases.failed.fetch_add(1, Ordering::Relaxed);
    }

    fn fail(&self, what: String) {
        self.tally
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .errors
            .push(what);
    }

    async fn connect(&self) -> Option<Ws> {
        let _permit = self.connecting.acquire().await.ok()?;
        let socket = TcpSocket::new_v4().ok()?;
        if let Err(e) = socket.bind(SocketAddr::new(self.from, 0)) {
            self.fail(format!("bind {}: {e}", self.from));
            return None;
        }
        let stream = match socket.connect(self.server).await {
            Ok(stream) => stream,
            Err(e) => {
                self.fail(format!("connect: {e}"));
                return None;
            }
        };
        let _ = stream.set_nodelay(true);
        match client_async(format!("ws://{}", self.server), stream).await {
            Ok((ws, _)) => Some(ws),
            Err(e) => {
                self.fail(format!("handshake: {e}"));
                None
            }
        }
    }

    /// Connects the host, creates the lobby, then runs the host in its own task.
    async fn host_and_code(self: Arc<Self>) -> Option<String> {
        let mut ws = self.connect().await?;
        let started = Instant::now();
        let reply = request(&mut ws, json!({"type": "create"})).await;
        let code = match reply {
            Some(reply) if reply["type"] == "joined" => {
                reply["lobby"].as_str().unwrap_or_default().to_string()
            }
            other => {
                self.fail(format!("create: {other:?}"));
                return None;
            }
        };
        self.record_join(started);
        let lobby = self.clone();
        tokio::spawn(async move { lobby.relay(ws, 1).await });
        Some(code)
    }

    async fn guest(self: Arc<Self>, code: String, expected_id: i64) {
        let Some(mut ws) = self.connect().await else {
            self.phases.failed.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let started = Instant::now();
        // Joins from one address are rate limited: wait when told to.
        let id = loop {
            match request(&mut ws, json!({"type": "join", "lobby": code})).await {
                Some(reply) if reply["type"] == "joined" => break reply["id"].as_i64(),
                Some(reply) if reply["retry_after_ms"].is_u64() => {
                    let wait = reply["retry_after_ms"].as_u64().unwrap_or(100);
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                }
                other => {
                    self.give_up(format!("join: {other:?}"));
                    return;
                }
            }
        };
        self.record_join(started);
        self.relay(ws, id.unwrap_or(expected_id)).await;
    }

    fn record_join(&self, started: Instant) {
        let micros = started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
        self.tally
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .joins
            .push(micros);
    }

    /// Waits for everyone, relays for the given time, waits for everyone again.
    async fn relay(&self, mut ws: Ws, id: i64) {
        self.phases.in_lobby.fetch_add(1, Ordering::Relaxed);
        // Keep reading (pings, announcements) while the others join.
        let mut go = self.phases.go.subscribe();
        loop {
            tokio::select! {
                _ = go.wait_for(|set| *set) => break,
                frame = ws.next() => if !matches!(frame, Some(Ok(_))) {
                    self.fail("connection lost before relaying".into());
                    self.phases.finished.fetch_add(1, Ordering::Relaxed);
                    return;
                },
            }
        }
        let period = Duration::from_secs_f64(1.0 / self.rate);
        // Spread the clients' sends over the period.
        let phase = period.mul_f64((id as f64 * 0.618_034).fract());
        let mut next = Instant::now() + phase;
        let until = Instant::now() + Duration::from_secs_f64(self.seconds);
        let offer = "a=candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host\r\n".repeat(24);
        let candidate = "candidate:842163049 1 udp 1677729535 203.0.113.7 61234 typ srflx raddr 0.0.0.0 rport 0 generation 0 ufrag abcd";
        let mut turn = 0usize;
        let mut sent = 0u64;
        let mut latencies = Vec::new();
        loop {
            let sending = Instant::now() < until;
            tokio::select! {
                _ = tokio::time::sleep_until(next), if sending => {
                    let t = self.epoch.elapsed().as_micros() as u64;
                    let message = if id == 1 {
                        turn = turn % (self.size - 1) + 1;
                        json!({"type": "offer", "to": turn as i64 + 1, "t": t, "sdp": offer})
                    } else {
                        json!({"type": "candidate", "to": 1, "t": t, "candidate": candidate, "sdpMid": "0", "sdpMLineIndex": 0})
                    };
                    if ws.send(Message::text(message.to_string())).await.is_err() {
                        self.fail("send failed".into());
                        break;
                    }
                    sent += 1;
                    next += period;
                }
                frame = timeout(Duration::from_millis(200), ws.next()) => match frame {
                    Ok(Some(Ok(Message::Text(text)))) => {
                        let now = self.epoch.elapsed().as_micros() as u64;
                        if let Ok(value) = serde_json::from_str::<Value>(text.as_str()) {
                            if let Some(t) = value["t"].as_u64() {
                                latencies.push(now.saturating_sub(t).min(u64::from(u32::MAX)) as u32);
                            }
                        }
                    }
                    Ok(Some(Ok(_))) => {}
                    Ok(_) => {
                        self.fail("connection closed by the server".into());
                        break;
                    }
                    // Quiet for 200 ms: stop once our sending time is over.
                    Err(_) if !sending => break,
                    Err(_) => {}
                },
            }
        }
        {
            let mut tally = self.tally.lock().unwrap_or_else(|p| p.into_inner());
            tally.sent += sent;
            tally.received += latencies.len() as u64;
            tally.latencies.extend(latencies);
        }
        self.phases.finished.fetch_add(1, Ordering::Relaxed);
        // Keep the connection (and keep reading) until every client has finished.
        let stop = Phases::wait(&self.phases.stop);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                frame = ws.next() => if !matches!(frame, Some(Ok(_))) { break },
            }
        }
    }
}

async fn request(ws: &mut Ws, message: Value) -> Option<Value> {
    ws.send(Message::text(message.to_string())).await.ok()?;
    loop {
        match timeout(Duration::from_secs(30), ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                let value: Value = serde_json::from_str(text.as_str()).ok()?;
                // Announcements of other guests may come first.
                if value["type"] == "peer_joined" {
                    continue;
                }
                return Some(value);
            }
            Ok(Some(Ok(_))) => continue,
            _ => return None,
        }
    }
}
