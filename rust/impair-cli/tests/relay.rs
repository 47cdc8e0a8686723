//! The `impair-relay` process between two UDP sockets on loopback, driven as a runner drives it.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

struct RelayProcess {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl RelayProcess {
    fn start(args: &[&str]) -> (Self, Value) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_impair-relay"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start impair-relay");
        let stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut relay = Self {
            child,
            stdin,
            stdout,
        };
        let ready = relay.read();
        assert_eq!(ready["event"], "ready", "{ready}");
        (relay, ready)
    }

    fn read(&mut self) -> Value {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read a line");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
    }

    fn ask(&mut self, command: Value) -> Value {
        writeln!(self.stdin, "{command}").expect("write");
        self.stdin.flush().expect("flush");
        self.read()
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn socket() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    s
}

fn candidate(s: &UdpSocket) -> String {
    let port = s.local_addr().expect("address").port();
    format!("candidate:1 1 udp 2130706431 127.0.0.1 {port} typ host")
}

/// The relay address a rewritten candidate names.
fn address_in(line: &str) -> SocketAddr {
    let f: Vec<&str> = line.split_whitespace().collect();
    format!("{}:{}", f[4], f[5]).parse().expect("an address")
}

#[test]
fn relays_rewrites_impairs_and_counts() {
    let (mut relay, ready) = RelayProcess::start(&["--seed", "3", "--both", "delay=5ms"]);
    let (a, b) = (socket(), socket());
    let for_b = relay.ask(json!({"type": "candidate", "from": "a", "candidate": candidate(&a)}));
    let for_a = relay.ask(json!({"type": "candidate", "from": "b", "candidate": candidate(&b)}));
    let (a_seen_by_b, b_seen_by_a) = (
        address_in(for_b["candidate"].as_str().expect("rewritten")),
        address_in(for_a["candidate"].as_str().expect("rewritten")),
    );
    assert_eq!(a_seen_by_b.to_string(), ready["a"]);
    assert_eq!(b_seen_by_a.to_string(), ready["b"]);
    // TCP cannot go through: nothing to pass on.
    let tcp = relay.ask(json!({"type": "candidate", "from": "a",
        "candidate": "candidate:2 1 tcp 1 127.0.0.1 9 typ host tcptype active"}));
    assert_eq!(tcp["candidate"], Value::Null);
    let sdp = relay.ask(json!({"type": "sdp", "from": "a",
        "sdp": format!("v=0\r\na={}\r\n", candidate(&a))}));
    assert!(sdp["sdp"]
        .as_str()
        .unwrap()
        .contains(&format!(" {} ", a_seen_by_b.port())));

    // Both ways through the relay, each peer seeing the other at the rewritten address.
    let mut buf = [0u8; 64];
    a.send_to(b"hello b", b_seen_by_a).expect("send");
    let (n, from) = b.recv_from(&mut buf).expect("b hears a");
    assert_eq!((&buf[..n], from), (&b"hello b"[..], a_seen_by_b));
    b.send_to(b"hello a", a_seen_by_b).expect("send");
    let (n, from) = a.recv_from(&mut buf).expect("a hears b");
    assert_eq!((&buf[..n], from), (&b"hello a"[..], b_seen_by_a));

    // Everything lost a->b from now on, and counted.
    let set = relay.ask(json!({"type": "set", "direction": "a_to_b", "impairment": "loss=1"}));
    assert_eq!(set["event"], "set", "{set}");
    for _ in 0..5 {
        a.send_to(b"lost", b_seen_by_a).expect("send");
    }
    assert!(b.recv_from(&mut buf).is_err(), "a lost datagram arrived");
    let stats = relay.ask(json!({"type": "stats"}));
    assert_eq!(stats["a_to_b"]["lost"], 5, "{stats}");
    assert_eq!(stats["a_to_b"]["delivered"], 1, "{stats}");
    assert_eq!(stats["b_to_a"]["delivered"], 1, "{stats}");

    // A cut drops b->a too.
    assert_eq!(
        relay.ask(json!({"type": "cut", "ms": 10_000}))["event"],
        "cut"
    );
    b.send_to(b"cut", a_seen_by_b).expect("send");
    assert!(a.recv_from(&mut buf).is_err(), "a datagram crossed the cut");
    assert_eq!(relay.ask(json!({"type": "stats"}))["b_to_a"]["cut"], 1);
}

#[test]
fn bad_lines_are_answered_with_errors() {
    let (mut relay, _) = RelayProcess::start(&[]);
    for bad in [
        json!({"type": "fly"}),
        json!({"type": "set", "direction": "up", "impairment": ""}),
        json!({"type": "set", "direction": "both", "impairment": "loss=3"}),
        json!({"type": "candidate", "from": "c", "candidate": "x"}),
        json!({"type": "cut"}),
    ] {
        let answer = relay.ask(bad.clone());
        assert_eq!(answer["event"], "error", "{bad} -> {answer}");
    }
    writeln!(relay.stdin, "not json").unwrap();
    assert_eq!(relay.read()["event"], "error");
    // Still working.
    assert_eq!(relay.ask(json!({"type": "stats"}))["event"], "stats");
}

#[test]
fn bad_options_are_refused() {
    let status = Command::new(env!("CARGO_BIN_EXE_impair-relay"))
        .args(["--both", "loss=2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run");
    assert_eq!(status.code(), Some(2));
}
