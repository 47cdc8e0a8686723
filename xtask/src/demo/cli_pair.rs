//! The demo without Godot: two `webrtc-rs-peer` processes (line-delimited JSON on stdin/stdout)
//! connected through the signaling server. For each process this relay holds one WebSocket
//! client in the server's lobby: description and candidate lines the process prints go to the
//! other peer (`"to"` added), and what the server relays (`"from"` removed) goes to its stdin.
//! The offerer then sends a text message and the answerer echoes it back.

use super::lines::spawn_line_reader;
use super::tls::{self, Transport};
use crate::cmd;
use serde_json::{json, Value};
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};
use tungstenite::{Message, WebSocket};

const RELAYED: [&str; 4] = ["offer", "answer", "candidate", "end-of-candidates"];
const GREETING: &str = "hello through webrtc_rs, signalled by webrtc-rs-signaling";

/// Offerer (lobby host, id 1) and answerer (id 2).
const SIDES: [&str; 2] = ["offerer", "answerer"];

enum Event {
    /// A line on a peer's stdout (`None`: it closed).
    Stdout(usize, Option<String>),
    /// A line on a peer's stderr.
    Stderr(usize, Option<String>),
    /// A text from the signaling server for a side (`Err`: the WebSocket ended).
    Server(usize, Result<String, String>),
}

/// `trust`: for a `wss://` URL, the certificate to trust (the demo's own).
pub fn run(url: &str, trust: Option<&Path>, timeout: Duration) -> Result<(), String> {
    let binary = build_peer()?;
    let (tx, rx) = mpsc::channel();

    // Form the lobby first, so every line the peers print can be addressed.
    let mut host = Signaling::connect(url, trust)?;
    let created = host.request(json!({"type": "create"}), "joined")?;
    let lobby = created["lobby"].as_str().unwrap_or_default().to_string();
    let mut guest = Signaling::connect(url, trust)?;
    guest.request(json!({"type": "join", "lobby": lobby}), "joined")?;
    host.expect("peer_joined")?;
    println!("lobby {lobby}: offerer is peer 1, answerer is peer 2");
    let to_server = [host.pump(0, tx.clone()), guest.pump(1, tx.clone())];

    let mut peers = Vec::new();
    for (side, role) in SIDES.iter().enumerate() {
        peers.push(Peer::spawn(&binary, role, side, &tx)?);
    }
    drop(tx);

    let outcome = relay(&rx, &to_server, &mut peers, timeout);
    for peer in &mut peers {
        peer.stop();
    }
    outcome
}

fn build_peer() -> Result<std::path::PathBuf, String> {
    let manifest = cmd::workspace_root()
        .join("rust")
        .join("peer-cli")
        .join("Cargo.toml");
    if !manifest.is_file() {
        return Err(
            "webrtc-rs-peer (rust/peer-cli) is not in this checkout, so there is nothing to run without Godot; install Godot 4 to run the demo"
                .into(),
        );
    }
    cmd::run(cmd::cargo().args(["build", "--release", "--package", "webrtc-rs-peer"]))
        .map_err(|e| format!("could not build webrtc-rs-peer for the Godot-less demo: {e}"))?;
    Ok(super::release_binary("webrtc-rs-peer"))
}

/// Moves lines between the peers and the server until the echo comes back.
fn relay(
    rx: &Receiver<Event>,
    to_server: &[Sender<String>; 2],
    peers: &mut [Peer],
    timeout: Duration,
) -> Result<(), String> {
    let started = Instant::now();
    let deadline = started + timeout;
    let mut sent_at = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = rx.recv_timeout(left).map_err(|_| {
            format!(
                "no echo within {} s (see the lines above)",
                timeout.as_secs()
            )
        })?;
        match event {
            Event::Stderr(side, Some(text)) => println!("[{}] {text}", SIDES[side]),
            Event::Stderr(_, None) => {}
            Event::Stdout(side, None) => {
                return Err(format!("the {} process exited early", SIDES[side]))
            }
            Event::Server(side, Err(why)) => {
                return Err(format!(
                    "the {} lost the signaling server: {why}",
                    SIDES[side]
                ))
            }
            Event::Server(side, Ok(text)) => {
                let Ok(Value::Object(mut message)) = serde_json::from_str::<Value>(&text) else {
                    return Err(format!("the signaling server sent {text:?}"));
                };
                let kind = message.get("type").and_then(Value::as_str).unwrap_or("");
                if RELAYED.contains(&kind) {
                    message.remove("from");
                    peers[side].send(&Value::Object(message))?;
                } else if kind == "error" || kind == "peer_left" || kind == "lobby_closed" {
                    return Err(format!("signaling server to the {}: {text}", SIDES[side]));
                }
            }
            Event::Stdout(side, Some(line)) => {
                let Ok(Value::Object(mut message)) = serde_json::from_str::<Value>(&line) else {
                    println!("[{}] {line}", SIDES[side]);
                    continue;
                };
                let kind = message.get("type").and_then(Value::as_str).unwrap_or("");
                if RELAYED.contains(&kind) {
                    println!("[{}] {kind} -> signaling server", SIDES[side]);
                    // The other side's multiplayer id: offerer is 1, answerer is 2.
                    message.insert("to".into(), json!(2 - side));
                    to_server[side]
                        .send(Value::Object(message).to_string())
                        .map_err(|_| "the signaling connection closed".to_string())?;
                    continue;
                }
                println!("[{}] {line}", SIDES[side]);
                match message.get("event").and_then(Value::as_str) {
                    Some("error") => return Err(format!("the {} failed: {line}", SIDES[side])),
                    Some("open") if side == 0 && sent_at.is_none() => {
                        println!(
                            "data channel open after {} ms; sending {GREETING:?}",
                            started.elapsed().as_millis()
                        );
                        peers[0].send(&json!({"type": "send", "text": GREETING}))?;
                        sent_at = Some(Instant::now());
                    }
                    Some("message")
                        if side == 0
                            && message.get("text").and_then(Value::as_str) == Some(GREETING) =>
                    {
                        let rtt = sent_at
                            .map(|t| t.elapsed().as_secs_f64() * 1000.0)
                            .unwrap_or(0.0);
                        println!("\nthe answerer echoed the message back: round trip {rtt:.1} ms");
                        println!("a real WebRTC connection on 127.0.0.1 worked; install Godot 4 for the game demo");
                        return Ok(());
                    }
                    _ => {}
                }
            }
        }
    }
}

/// One `webrtc-rs-peer` process.
struct Peer {
    child: Child,
    stdin: Option<ChildStdin>,
    side: usize,
}

impl Peer {
    fn spawn(
        binary: &std::path::Path,
        role: &str,
        side: usize,
        tx: &Sender<Event>,
    ) -> Result<Peer, String> {
        let mut child = Command::new(binary)
            .args(["--role", role, "--bind", "127.0.0.1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        if let Some(out) = child.stdout.take() {
            spawn_line_reader(out, tx.clone(), move |line| Event::Stdout(side, line));
        }
        if let Some(err) = child.stderr.take() {
            spawn_line_reader(err, tx.clone(), move |line| Event::Stderr(side, line));
        }
        let stdin = child.stdin.take();
        Ok(Peer { child, stdin, side })
    }

    fn send(&mut self, message: &Value) -> Result<(), String> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| format!("the {} has no stdin", SIDES[self.side]))?;
        writeln!(stdin, "{message}")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("cannot write to the {}: {e}", SIDES[self.side]))
    }

    /// Asks the process to close, then makes sure it is gone.
    fn stop(&mut self) {
        let _ = self.send(&json!({"type": "close"}));
        self.stdin = None;
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A blocking WebSocket client of the signaling server.
struct Signaling {
    ws: WebSocket<Box<dyn Transport>>,
}

impl Signaling {
    /// Connects to a `ws://` URL, or to a `wss://` one trusting only `trust`.
    fn connect(url: &str, trust: Option<&Path>) -> Result<Signaling, String> {
        let (addr, secure) = match (url.strip_prefix("ws://"), url.strip_prefix("wss://")) {
            (Some(addr), _) => (addr, false),
            (_, Some(addr)) => (addr, true),
            _ => return Err(format!("not a ws:// or wss:// URL: {url}")),
        };
        let tcp = TcpStream::connect(addr).map_err(|e| format!("cannot connect to {url}: {e}"))?;
        let stream: Box<dyn Transport> = match (secure, trust) {
            (false, _) => Box::new(tcp),
            (true, Some(trust)) => tls::client(tcp, trust)?,
            (true, None) => return Err(format!("{url}: no certificate to trust given")),
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| format!("socket setup: {e}"))?;
        let (ws, _) = tungstenite::client::client(url, stream)
            .map_err(|e| format!("WebSocket handshake with {url} failed: {e}"))?;
        Ok(Signaling { ws })
    }

    /// Sends `message` and waits for a reply of type `expected`.
    fn request(&mut self, message: Value, expected: &str) -> Result<Value, String> {
        self.ws
            .send(Message::text(message.to_string()))
            .map_err(|e| format!("signaling send failed: {e}"))?;
        self.expect(expected)
    }

    fn expect(&mut self, expected: &str) -> Result<Value, String> {
        loop {
            let frame = self
                .ws
                .read()
                .map_err(|e| format!("waiting for {expected:?} from the signaling server: {e}"))?;
            let Message::Text(text) = frame else {
                continue;
            };
            let value: Value = serde_json::from_str(text.as_str())
                .map_err(|e| format!("the signaling server sent bad JSON ({e}): {text}"))?;
            if value["type"] == expected {
                return Ok(value);
            }
            return Err(format!(
                "expected {expected:?} from the signaling server, got {text}"
            ));
        }
    }

    /// Hands the socket to a thread that sends what arrives on the returned sender and reports
    /// every text received as [`Event::Server`].
    fn pump(self, side: usize, events: Sender<Event>) -> Sender<String> {
        let (tx, outgoing) = mpsc::channel::<String>();
        let mut ws = self.ws;
        std::thread::spawn(move || {
            // Short reads so outgoing messages are not held up by a quiet server.
            let _ = ws
                .get_mut()
                .set_read_timeout(Some(Duration::from_millis(20)));
            loop {
                loop {
                    match outgoing.try_recv() {
                        Ok(text) => {
                            if let Err(e) = ws.send(Message::text(text)) {
                                let _ = events.send(Event::Server(side, Err(e.to_string())));
                                return;
                            }
                        }
                        Err(mpsc::TryRecvError::Empty) => break,
                        Err(mpsc::TryRecvError::Disconnected) => {
                            let _ = ws.close(None);
                            return;
                        }
                    }
                }
                match ws.read() {
                    Ok(Message::Text(text)) => {
                        if events
                            .send(Event::Server(side, Ok(text.as_str().to_string())))
                            .is_err()
                        {
                            return;
                        }
                    }
                    Ok(Message::Close(_)) => {
                        let _ = events.send(Event::Server(side, Err("closed".into())));
                        return;
                    }
                    Ok(_) => {}
                    Err(tungstenite::Error::Io(e))
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(e) => {
                        let _ = events.send(Event::Server(side, Err(e.to_string())));
                        return;
                    }
                }
            }
        });
        tx
    }
}
