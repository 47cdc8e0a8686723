//! Two `webrtc-rs-peer` processes against each other on loopback: real UDP, DTLS and SCTP.
//! The test relays their signalling lines exactly as the interop runner does.

mod common;

use common::spawn_peer;
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Child, ChildStdin, Command};
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(20);

struct Peer {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Peer {
    fn spawn(index: usize, args: &[&str], lines: Sender<(usize, Value)>) -> Peer {
        let mut command = Command::new(env!("CARGO_BIN_EXE_webrtc-rs-peer"));
        command.args(args).args(["--bind", "127.0.0.1"]);
        let (child, stdin) = spawn_peer(index, &mut command, lines);
        Peer {
            child,
            stdin: Some(stdin),
        }
    }

    fn send(&mut self, value: &Value) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{value}").expect("write to peer");
        stdin.flush().expect("flush to peer");
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stdin.take();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Both peers plus every event each printed so far.
struct Pair {
    peers: [Peer; 2],
    lines: Receiver<(usize, Value)>,
    seen: [Vec<Value>; 2],
}

impl Pair {
    fn new(offerer_args: &[&str], answerer_args: &[&str]) -> Pair {
        let (tx, lines) = mpsc::channel();
        let mut offerer = vec!["--role", "offerer"];
        offerer.extend_from_slice(offerer_args);
        let mut answerer = vec!["--role", "answerer"];
        answerer.extend_from_slice(answerer_args);
        Pair {
            peers: [
                Peer::spawn(0, &offerer, tx.clone()),
                Peer::spawn(1, &answerer, tx),
            ],
            lines,
            seen: [Vec::new(), Vec::new()],
        }
    }

    /// Relays signalling until peer `who` printed an event matching `want`.
    fn wait_for(&mut self, who: usize, what: &str, want: impl Fn(&Value) -> bool) -> Value {
        if let Some(found) = self.seen[who].iter().find(|v| want(v)) {
            return found.clone();
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline
                .checked_duration_since(Instant::now())
                .unwrap_or_else(|| {
                    panic!(
                        "peer {who}: no {what} within {TIMEOUT:?}; seen {:?}",
                        self.seen
                    )
                });
            let Ok((from, value)) = self.lines.recv_timeout(left) else {
                panic!("peer {who}: no {what}; seen {:?}", self.seen);
            };
            let signalling = matches!(
                value["type"].as_str(),
                Some("offer" | "answer" | "candidate" | "end-of-candidates")
            );
            if signalling {
                self.peers[1 - from].send(&value);
                continue;
            }
            assert_ne!(
                value["event"], "error",
                "peer {from} reported an error: {value}"
            );
            self.seen[from].push(value.clone());
            if from == who && want(&value) {
                return value;
            }
        }
    }
}

fn event<'a>(name: &'a str, label: &'a str) -> impl Fn(&Value) -> bool + 'a {
    move |v| v["event"] == name && v["label"] == label
}

fn connect(pair: &mut Pair) {
    for who in 0..2 {
        pair.wait_for(who, "connected state", |v| {
            v["event"] == "state" && v["state"] == "connected"
        });
        pair.wait_for(who, "channel data open", event("open", "data"));
    }
}

#[test]
fn two_cli_peers_connect_echo_and_close() {
    let mut pair = Pair::new(&["--no-echo"], &[]);
    connect(&mut pair);

    pair.peers[0].send(&json!({"type":"send","label":"data","text":"héllo"}));
    let at_answerer = pair.wait_for(1, "text message", event("message", "data"));
    assert_eq!(at_answerer["text"], "héllo");
    let echo = pair.wait_for(0, "text echo", event("message", "data"));
    assert_eq!(echo["text"], "héllo");
    assert_eq!(echo["binary"], false);

    pair.peers[0].send(&json!({"type":"send","label":"data","b64":"AAEC/w=="}));
    let echo = pair.wait_for(0, "binary echo", |v| {
        v["event"] == "message" && v["binary"] == true
    });
    assert_eq!(echo["b64"], "AAEC/w==");

    pair.peers[0].send(&json!({"type":"close"}));
    pair.wait_for(1, "close of data on the answerer", event("close", "data"));
}

#[test]
fn offerer_without_trickle_and_channel_options() {
    let mut pair = Pair::new(&["--no-trickle", "--no-echo"], &[]);
    connect(&mut pair);

    pair.peers[0].send(&json!({
        "type":"create_channel","label":"unrel","ordered":false,"maxRetransmits":0,"protocol":"p1"
    }));
    let open = pair.wait_for(1, "unrel open on the answerer", event("open", "unrel"));
    assert_eq!(open["ordered"], false);
    assert_eq!(open["maxRetransmits"], 0);
    assert_eq!(open["protocol"], "p1");
    assert_eq!(open["negotiated"], false);

    for who in 0..2 {
        pair.peers[who].send(&json!({
            "type":"create_channel","label":"neg","negotiated":true,"id":42
        }));
    }
    for who in 0..2 {
        let open = pair.wait_for(who, "negotiated channel open", event("open", "neg"));
        assert_eq!(open["id"], 42);
        assert_eq!(open["negotiated"], true);
    }
    pair.peers[0].send(&json!({"type":"send","label":"neg","text":"n"}));
    let echo = pair.wait_for(0, "echo on neg", event("message", "neg"));
    assert_eq!(echo["text"], "n");

    pair.peers[0].send(&json!({"type":"close_channel","label":"unrel"}));
    pair.wait_for(1, "unrel closed on the answerer", event("close", "unrel"));
}

#[test]
fn bulk_to_a_sink_is_counted() {
    const BYTES: u64 = 4 << 20;
    let mut pair = Pair::new(&[], &["--no-echo", "--sink", "--quiet"]);
    connect(&mut pair);
    pair.peers[0].send(&json!({"type":"send_bulk","label":"data","bytes":BYTES}));
    let sent = pair.wait_for(0, "bulk sent", |v| v["event"] == "sent");
    assert_eq!(sent["bytes"], BYTES);
    pair.peers[0].send(&json!({"type":"send","label":"data","text":"__stats__"}));
    let stats = pair.wait_for(0, "stats reply", |v| {
        v["event"] == "message" && v["text"].as_str().is_some_and(|t| t.contains("stats"))
    });
    let stats: Value = serde_json::from_str(stats["text"].as_str().unwrap_or("")).unwrap();
    assert_eq!(stats["rx_bytes"], BYTES);
    assert_eq!(stats["rx_msgs"], BYTES / 65536);
}
