//! Two peers behind NATs. Inside a private network namespace (see `common/netns.rs`) the test
//! builds the Internet in miniature:
//!
//! ```text
//!   lan1 10.0.1.2 -- nat1 (masquerade) 192.0.2.11 --+
//!                                                   br0 192.0.2.1: coturn (STUN + TURN)
//!   lan2 10.0.2.2 -- nat2 (masquerade) 192.0.2.12 --+
//! ```
//!
//! Each peer is a `webrtc-rs-peer` process run with `ip netns exec` in its LAN (the engine's
//! network thread is process-wide, so one process per namespace); the test relays their
//! signalling. The LANs cannot reach each other's private addresses: only the NATs' public
//! mappings and the TURN server's relayed addresses connect them.

mod common;
#[path = "../../engine/tests/common/netns.rs"]
mod netns;

use common::spawn_peer;

use netns::sh;
use serde_json::{json, Value};
use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(20);
const PUBLIC: &str = "192.0.2.1";
const TURN_PORT: u16 = 3478;

/// How the NATs map a private address and port to a public port.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mapping {
    /// One public port per private address and port, whatever the destination (Linux keeps
    /// the source port when it is free): server-reflexive candidates are reachable.
    EndpointIndependent,
    /// A fresh random public port for every destination (`--random-fully`): the port a STUN
    /// server saw is useless to anyone else.
    Symmetric,
}

/// Builds the network: the bridge with coturn's address, two NATs, two LANs.
fn build_network(mapping: Mapping) {
    sh(&format!(
        "ip link add br0 type bridge && ip addr add {PUBLIC}/24 dev br0 && ip link set br0 up"
    ));
    let random = match mapping {
        Mapping::EndpointIndependent => "",
        Mapping::Symmetric => " --random-fully",
    };
    // Each NAT drops unsolicited datagrams from outside, as home routers do. Dropped before
    // conntrack confirms them, they leave no entry behind: otherwise the first connectivity
    // check from the other peer would take the tuple that this NAT's own outgoing check needs,
    // and masquerade would pick another public port for it.
    for i in 1..=2 {
        sh(&format!(
            "ip netns add nat{i} && ip netns add lan{i} \
             && ip link add wan{i} type veth peer name up{i} \
             && ip link set up{i} master br0 && ip link set up{i} up \
             && ip link set wan{i} netns nat{i} \
             && ip -n nat{i} addr add 192.0.2.1{i}/24 dev wan{i} \
             && ip -n nat{i} link set wan{i} up && ip -n nat{i} link set lo up \
             && ip link add in{i} type veth peer name eth{i} \
             && ip link set in{i} netns nat{i} && ip link set eth{i} netns lan{i} \
             && ip -n nat{i} addr add 10.0.{i}.1/24 dev in{i} && ip -n nat{i} link set in{i} up \
             && ip -n lan{i} addr add 10.0.{i}.2/24 dev eth{i} && ip -n lan{i} link set eth{i} up \
             && ip -n lan{i} link set lo up \
             && ip -n lan{i} route add default via 10.0.{i}.1 \
             && ip netns exec nat{i} sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward' \
             && ip netns exec nat{i} iptables -t nat -A POSTROUTING -o wan{i} -j MASQUERADE{random} \
             && ip netns exec nat{i} iptables -A INPUT -i wan{i} -m conntrack --ctstate NEW -j DROP"
        ));
    }
}

/// The public ports nat1 gives one private socket in lan1 towards two destinations.
fn public_ports_towards_two_destinations() -> (u16, u16) {
    let servers = [bind_public(), bind_public()];
    let targets: Vec<String> = servers
        .iter()
        .map(|s| s.local_addr().expect("local address").port().to_string())
        .collect();
    // One socket, one datagram to each destination.
    sh(&format!(
        "ip netns exec lan1 python3 -c \"import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); \
         s.bind(('10.0.1.2', 40000)); s.sendto(b'x', ('{PUBLIC}', {})); s.sendto(b'x', ('{PUBLIC}', {}))\"",
        targets[0], targets[1]
    ));
    let from = |s: &UdpSocket| -> SocketAddr {
        let mut buf = [0u8; 16];
        let (_, from) = s.recv_from(&mut buf).expect("the probe datagram");
        from
    };
    let (a, b) = (from(&servers[0]), from(&servers[1]));
    assert_eq!(a.ip().to_string(), "192.0.2.11", "masqueraded behind nat1");
    assert_eq!(b.ip().to_string(), "192.0.2.11", "masqueraded behind nat1");
    (a.port(), b.port())
}

fn bind_public() -> UdpSocket {
    let s = UdpSocket::bind((PUBLIC, 0)).expect("bind on the public bridge");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    s
}

/// coturn on the public address, STUN and TURN on UDP port 3478; killed on drop.
struct Coturn {
    child: Child,
    dir: std::path::PathBuf,
}

impl Coturn {
    fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("webrtc-rs-nat-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the turnserver directory");
        let child = Command::new("turnserver")
            .args([
                &format!("--listening-ip={PUBLIC}"),
                &format!("--relay-ip={PUBLIC}"),
                // As production servers are configured: no relaying into private networks (the
                // LANs' host candidates are not routable from here anyway).
                "--denied-peer-ip=10.0.0.0-10.255.255.255",
                "--no-tcp",
                "--no-tls",
                "--no-dtls",
                "--no-cli",
                "--lt-cred-mech",
                "--fingerprint",
                "--verbose",
                "-r",
                "realm",
                "-u",
                "user:pass",
                "-p",
                &TURN_PORT.to_string(),
                &format!("--pidfile={}", dir.join("turnserver.pid").display()),
                &format!("--userdb={}", dir.join("turndb").display()),
                "--log-file=stdout",
            ])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("turn.log")).expect("create the turnserver log"))
            .stderr(Stdio::null())
            .spawn()
            .expect("start turnserver");
        let server = Coturn { child, dir };
        server.wait_ready();
        server
    }

    /// Waits until it answers a STUN Binding request.
    fn wait_ready(&self) {
        let probe = bind_public();
        probe
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("read timeout");
        // Binding request: type 0x0001, length 0, magic cookie, transaction id.
        let mut request = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
        request.extend_from_slice(b"webrtc-rs-ok");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let _ = probe.send_to(&request, (PUBLIC, TURN_PORT));
            let mut buf = [0u8; 1500];
            if let Ok((n, _)) = probe.recv_from(&mut buf) {
                if n >= 20 && buf[0..2] == [0x01, 0x01] {
                    return;
                }
            }
        }
        panic!("turnserver did not answer STUN on {PUBLIC}:{TURN_PORT}");
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log: String = std::fs::read_dir(&self.dir)
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
                .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                .collect();
            eprintln!("turnserver log:\n{log}");
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A `webrtc-rs-peer` process inside namespace `lan`.
struct Peer {
    child: Child,
    stdin: ChildStdin,
}

impl Peer {
    fn spawn(index: usize, lan: &str, args: &[&str], lines: Sender<(usize, Value)>) -> Peer {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", lan, env!("CARGO_BIN_EXE_webrtc-rs-peer")])
            .args(args);
        let (child, stdin) = spawn_peer(index, &mut command, lines);
        Peer { child, stdin }
    }

    fn send(&mut self, value: &Value) {
        writeln!(self.stdin, "{value}").expect("write to peer");
        self.stdin.flush().expect("flush to peer");
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The offerer in lan1 and the answerer in lan2, and everything each printed.
struct Pair {
    peers: [Peer; 2],
    lines: Receiver<(usize, Value)>,
    seen: [Vec<Value>; 2],
    /// Every candidate each announced.
    candidates: [Vec<String>; 2],
}

impl Pair {
    fn new(args: &[&str]) -> Pair {
        let (tx, lines) = mpsc::channel();
        let spawn = |i: usize, role: &str, tx| {
            let mut all = vec!["--role", role];
            all.extend_from_slice(args);
            Peer::spawn(i, &format!("lan{}", i + 1), &all, tx)
        };
        Pair {
            peers: [spawn(0, "offerer", tx.clone()), spawn(1, "answerer", tx)],
            lines,
            seen: [Vec::new(), Vec::new()],
            candidates: [Vec::new(), Vec::new()],
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
                .unwrap_or_default();
            let Ok((from, value)) = self.lines.recv_timeout(left) else {
                panic!(
                    "peer {who}: no {what} within {TIMEOUT:?}; seen {:?}, candidates {:?}",
                    self.seen, self.candidates
                );
            };
            let kind = value["type"].as_str();
            if kind == Some("candidate") {
                let line = value["candidate"].as_str().unwrap_or_default();
                self.candidates[from].push(line.to_owned());
            }
            if matches!(
                kind,
                Some("offer" | "answer" | "candidate" | "end-of-candidates")
            ) {
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

    /// Waits until both are connected with channel "data" open, exchanges a message (the
    /// answerer echoes it), and returns each side's selected pair.
    fn connect_and_echo(&mut self) -> [Value; 2] {
        for who in 0..2 {
            self.wait_for(who, "connected state", |v| {
                v["event"] == "state" && v["state"] == "connected"
            });
            self.wait_for(who, "channel data open", |v| {
                v["event"] == "open" && v["label"] == "data"
            });
        }
        self.peers[0].send(&json!({"type": "send", "label": "data", "text": "through the NAT"}));
        let echo = self.wait_for(0, "the echo", |v| v["event"] == "message");
        assert_eq!(echo["text"], "through the NAT");
        [0, 1].map(|who| self.wait_for(who, "selected pair", |v| v["event"] == "selected-pair"))
    }
}

fn stun_and_turn() -> Vec<String> {
    [
        "--ice-server".to_owned(),
        format!("stun:{PUBLIC}:{TURN_PORT}"),
        "--ice-server".to_owned(),
        format!("turn:{PUBLIC}:{TURN_PORT}"),
        "--ice-username".to_owned(),
        "user".to_owned(),
        "--ice-credential".to_owned(),
        "pass".to_owned(),
    ]
    .to_vec()
}

fn args(list: &[String]) -> Vec<&str> {
    list.iter().map(String::as_str).collect()
}

/// Whether the tools the NAT tests run are installed; if not, prints why the test is skipped
/// (a failure where `WEBRTC_RS_REQUIRE_NETNS` is set, as in CI, which installs them).
fn tools_present(test: &str) -> bool {
    let missing: Vec<&str> = ["iptables", "turnserver", "python3"]
        .into_iter()
        .filter(|tool| {
            !Command::new("sh")
                .args([
                    "-c",
                    &format!("command -v {tool} || test -x /usr/sbin/{tool}"),
                ])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    let why = format!("{test} needs {} installed", missing.join(", "));
    assert!(
        std::env::var_os("WEBRTC_RS_REQUIRE_NETNS").is_none(),
        "{why}"
    );
    eprintln!("SKIPPED {why}");
    false
}

/// The NAT's public address of each side.
const NAT_IP: [&str; 2] = ["192.0.2.11", "192.0.2.12"];

#[test]
fn server_reflexive_to_server_reflexive_through_two_nats() {
    if !tools_present("server_reflexive_to_server_reflexive_through_two_nats")
        || !netns::enter("server_reflexive_to_server_reflexive_through_two_nats")
    {
        return;
    }
    build_network(Mapping::EndpointIndependent);
    let (a, b) = public_ports_towards_two_destinations();
    assert_eq!(a, b, "the NAT kept one mapping for both destinations");
    // STUN only: a connection can only go through the NATs' mappings.
    let _coturn = Coturn::start();
    let mut pair = Pair::new(&["--ice-server", &format!("stun:{PUBLIC}:{TURN_PORT}")]);
    let selected = pair.connect_and_echo();
    for who in 0..2 {
        assert!(
            pair.candidates[who]
                .iter()
                .any(|c| c.contains(&format!(" {} ", NAT_IP[who])) && c.contains("typ srflx")),
            "peer {who} found no server-reflexive candidate: {:?}",
            pair.candidates[who]
        );
        let remote: SocketAddr = selected[who]["remoteAddress"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .expect("a remote address");
        assert_eq!(
            remote.ip().to_string(),
            NAT_IP[1 - who],
            "peer {who} talks to the other NAT's public mapping: {:?}",
            selected[who]
        );
        assert_ne!(selected[who]["localType"], "relay", "{:?}", selected[who]);
        assert_ne!(selected[who]["remoteType"], "relay", "{:?}", selected[who]);
    }
}

#[test]
fn symmetric_nats_fall_back_to_the_relay() {
    if !tools_present("symmetric_nats_fall_back_to_the_relay")
        || !netns::enter("symmetric_nats_fall_back_to_the_relay")
    {
        return;
    }
    build_network(Mapping::Symmetric);
    let (a, b) = public_ports_towards_two_destinations();
    assert_ne!(
        a, b,
        "the NAT mapped the socket to one port per destination"
    );
    let _coturn = Coturn::start();
    let servers = stun_and_turn();
    let mut pair = Pair::new(&args(&servers));
    let selected = pair.connect_and_echo();
    for (who, pair_used) in selected.iter().enumerate() {
        assert!(
            pair.candidates[who].iter().any(|c| c.contains("typ srflx")),
            "peer {who} found no server-reflexive candidate: {:?}",
            pair.candidates[who]
        );
        let relayed = pair_used["localType"] == "relay" || pair_used["remoteType"] == "relay";
        assert!(relayed, "peer {who} is not relayed: {pair_used:?}");
    }
}

#[test]
fn relay_only_policy_sends_only_to_the_turn_server() {
    if !tools_present("relay_only_policy_sends_only_to_the_turn_server")
        || !netns::enter("relay_only_policy_sends_only_to_the_turn_server")
    {
        return;
    }
    build_network(Mapping::EndpointIndependent);
    // Counts the UDP datagrams each LAN host sends to the TURN server (first rule) and to
    // anything else (second rule), its own relayed addresses on the same IP included.
    for lan in ["lan1", "lan2"] {
        sh(&format!(
            "ip netns exec {lan} iptables -A OUTPUT -p udp -d {PUBLIC} --dport {TURN_PORT} -j ACCEPT \
             && ip netns exec {lan} iptables -A OUTPUT -p udp"
        ));
    }
    let _coturn = Coturn::start();
    let mut servers = stun_and_turn();
    servers.push("--relay-only".to_owned());
    let mut pair = Pair::new(&args(&servers));
    let selected = pair.connect_and_echo();
    for (who, pair_used) in selected.iter().enumerate() {
        assert_eq!(pair_used["localType"], "relay", "{pair_used:?}");
        for c in &pair.candidates[who] {
            assert!(c.contains("typ relay"), "peer {who} announced {c}");
        }
    }
    for lan in ["lan1", "lan2"] {
        let counters = sh(&format!(
            "ip netns exec {lan} iptables -L OUTPUT -n -v -x | awk 'NR > 2 {{ print $1 }}'"
        ));
        let packets: Vec<u64> = counters
            .lines()
            .map(|l| l.trim().parse().expect("a packet count"))
            .collect();
        assert_eq!(packets.len(), 2, "{counters}");
        assert!(packets[0] > 0, "{lan} sent nothing to the TURN server");
        assert_eq!(
            packets[1], 0,
            "{lan} sent {} UDP datagrams elsewhere than the TURN server",
            packets[1]
        );
    }
}
