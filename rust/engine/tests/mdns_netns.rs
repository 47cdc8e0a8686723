//! mDNS on a real link: each test runs inside a private network namespace (common/netns.rs),
//! which plays host A, joined by a veth pair to a second namespace `b` (host B), with the
//! multicast routes an ordinary LAN host has. Peers gather on every interface (no bind address),
//! so their host candidates are the veth addresses. What runs on host B runs in a child process
//! (`ip netns exec b`, this test binary again as the test `on_host_b`), driven over its stdin
//! and stdout: the engine's network thread, and so every socket of a process, lives in one
//! namespace.

mod common;
use common::*;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use webrtc_rs_engine::*;

const A_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const B_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
const GROUP: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(224, 0, 0, 251), 5353);
/// What the child on host B is to be (unset: `on_host_b` does nothing).
const ROLE: &str = "WEBRTC_RS_MDNS_ROLE";
/// Lines of the child's protocol start with this (the test harness prints its own lines).
const TAG: &str = "@@ ";

/// Host A (this namespace, `va` 10.77.0.1/24) and host B (namespace `b`, `vb` 10.77.0.2/24) on
/// one link, multicast routed onto it on both.
fn link() {
    netns::sh(
        "ip netns add b \
         && ip link add va type veth peer name vb \
         && ip link set vb netns b \
         && ip addr add 10.77.0.1/24 dev va && ip link set va up \
         && ip route add 224.0.0.0/4 dev va \
         && ip netns exec b sh -c 'ip link set lo up \
            && ip addr add 10.77.0.2/24 dev vb && ip link set vb up \
            && ip route add 224.0.0.0/4 dev vb'",
    );
}

fn hidden_config() -> Config {
    Config {
        bind_address: None,
        mdns_host_candidates: true,
        ..Config::default()
    }
}

/// A socket on port 5353 of every address, as mDNS responders and browsers bind it, in the
/// group on `iface`, sending out of it.
fn port_5353(iface: Ipv4Addr) -> UdpSocket {
    let sock =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).expect("socket");
    sock.set_reuse_address(true).expect("SO_REUSEADDR");
    sock.set_reuse_port(true).expect("SO_REUSEPORT");
    sock.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, 5353)).into())
        .expect("bind port 5353");
    sock.join_multicast_v4(GROUP.ip(), &iface).expect("join");
    sock.set_multicast_if_v4(&iface).expect("IP_MULTICAST_IF");
    sock.set_multicast_ttl_v4(255).expect("TTL");
    let sock: UdpSocket = sock.into();
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .expect("read timeout");
    sock
}

// ----- the child on host B ---------------------------------------------------------------------

/// The child process on host B: a stand-in mDNS responder or one of our peers, as `ROLE` says.
/// As a test of its own (without `ROLE`) it does nothing.
#[test]
fn on_host_b() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let (lines, stdin_closed) = stdin_lines();
    let mut fields = role.split(' ');
    match fields.next() {
        Some("responder") => {
            let name = fields.next().expect("the name to answer");
            let addr: Ipv4Addr = fields.next().expect("its address").parse().expect("IPv4");
            stand_in_responder(name, addr, &stdin_closed)
        }
        Some("peer") => child_peer(&lines, &stdin_closed),
        other => panic!("unknown role {other:?}"),
    }
}

/// The lines on stdin, and a flag raised when it closes (the parent is done).
fn stdin_lines() -> (
    mpsc::Receiver<String>,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    let (tx, rx) = mpsc::channel();
    let closed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = closed.clone();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
        flag.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    (rx, closed)
}

fn say(line: &str) {
    println!("{TAG}{line}");
}

/// Answers the questions for `name` with `addr`, to the group (as browsers do, whatever the
/// question asks), and reports each question it hears: `query NAME TYPE FROM`.
fn stand_in_responder(name: &str, addr: Ipv4Addr, stop: &std::sync::atomic::AtomicBool) {
    let sock = port_5353(B_IP);
    say("ready");
    let mut buf = [0u8; 9000];
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let Some((qname, qtype, end)) = one_question(&buf[..n]) else {
            continue;
        };
        say(&format!("query {qname} {qtype} {from}"));
        if qname.eq_ignore_ascii_case(name) && qtype == 1 {
            let mut r = buf[..end].to_vec();
            r[2] = 0x84; // QR, AA
            r[4..6].copy_from_slice(&[0, 0]); // no question: an mDNS response
            r.truncate(12);
            r[7] = 1; // ANCOUNT
            r.extend_from_slice(&buf[12..end - 4]);
            r.extend_from_slice(&[0, 1, 0x80, 1, 0, 0, 0, 120, 0, 4]);
            r.extend_from_slice(&addr.octets());
            sock.send_to(&r, GROUP).expect("answer to the group");
        }
    }
}

/// (name, type, end of the question) of a query with one uncompressed question.
fn one_question(m: &[u8]) -> Option<(String, u16, usize)> {
    let q = dns::one_question(m)?;
    Some((q.name, q.qtype, q.end))
}

/// One of our peers, hiding its addresses, driven by lines on stdin (`offer`, `local KIND HEX`,
/// `remote KIND HEX`, `cand LINE`); it reports `desc KIND HEX`, `cand LINE`, `state NAME`, and
/// echoes every message it receives on a channel as `echo: MESSAGE`, reporting `got MESSAGE`.
fn child_peer(lines: &mpsc::Receiver<String>, stop: &std::sync::atomic::AtomicBool) {
    let mut pc = PeerConnection::new(hidden_config()).expect("peer");
    let mut channels: Vec<DataChannel> = Vec::new();
    let mut state = pc.connection_state();
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        while let Ok(line) = lines.try_recv() {
            let (cmd, rest) = line.split_once(' ').unwrap_or((&line, ""));
            match cmd {
                "offer" => pc.create_offer().expect("offer"),
                "local" | "remote" => {
                    let (kind, hex) = rest.split_once(' ').expect("KIND HEX");
                    let kind: SdpType = kind.parse().expect("sdp type");
                    let sdp = unhex(hex);
                    if cmd == "local" {
                        pc.set_local_description(kind, &sdp).expect("local");
                    } else {
                        pc.set_remote_description(kind, &sdp).expect("remote");
                    }
                }
                "cand" => pc.add_ice_candidate("0", 0, rest).expect("candidate"),
                other => panic!("unknown command {other:?}"),
            }
        }
        for ev in pc.poll() {
            match ev {
                Event::SessionDescription { sdp_type, sdp } => {
                    say(&format!("desc {} {}", sdp_type.as_str(), hex(&sdp)))
                }
                Event::IceCandidate { candidate, .. } => say(&format!("cand {candidate}")),
                Event::DataChannel(c) => channels.push(c),
                _ => {}
            }
        }
        if pc.connection_state() != state {
            state = pc.connection_state();
            say(&format!("state {state:?}"));
            if state == ConnectionState::Connected {
                say(&format!("resolved {}", resolved_hosts(&pc)));
            }
        }
        for c in &channels {
            while let Some(m) = c.recv() {
                let text = String::from_utf8_lossy(&m.data).into_owned();
                say(&format!("got {text}"));
                c.send(format!("echo: {text}").as_bytes(), true)
                    .expect("echo");
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    pc.close();
}

/// The remote host candidates (named ones once resolved) among the connection's pairs.
fn resolved_hosts(pc: &PeerConnection) -> String {
    let mut hosts: Vec<String> = pc
        .failure_report()
        .pairs
        .iter()
        .filter(|p| p.remote_type == stats::CandidateType::Host)
        .map(|p| p.remote_address.ip().to_string())
        .collect();
    hosts.dedup();
    hosts.join(",")
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(h: &str) -> String {
    let bytes: Vec<u8> = (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).expect("hex"))
        .collect();
    String::from_utf8(bytes).expect("utf-8")
}

// ----- the parent's view of the child ----------------------------------------------------------

/// The child on host B, seen from host A: its tagged lines as they come.
struct HostB {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    /// Every tagged line so far.
    log: Vec<String>,
}

impl HostB {
    fn start(role: &str) -> Self {
        let exe = std::env::current_exe().expect("test binary");
        let mut child = Command::new("ip")
            .args(["netns", "exec", "b"])
            .arg(exe)
            .args(["on_host_b", "--exact", "--nocapture", "--test-threads=1"])
            .env(ROLE, role)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the child on host B");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // The harness starts the line of the test's first output with `test NAME ... `.
                if let Some(at) = line.find(TAG) {
                    if tx.send(line[at + TAG.len()..].to_owned()).is_err() {
                        break;
                    }
                }
            }
        });
        Self {
            stdin: child.stdin.take(),
            child,
            lines,
            log: Vec::new(),
        }
    }

    /// The lines that arrived since the last call.
    fn read(&mut self) -> Vec<String> {
        let new: Vec<String> = self.lines.try_iter().collect();
        self.log.extend(new.iter().cloned());
        new
    }

    fn wait_for(&mut self, what: &str, limit: Duration) -> bool {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            self.read();
            if self.log.iter().any(|l| l == what) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    fn tell(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("child's stdin");
        writeln!(stdin, "{line}").expect("write to the child");
        stdin.flush().expect("flush");
    }
}

impl Drop for HostB {
    fn drop(&mut self) {
        // Closing stdin ends the child.
        self.stdin = None;
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl std::fmt::Debug for HostB {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "host B: {:?}", self.log)
    }
}

/// The child peer as one side of the shared test pump.
struct ChildPeer {
    host: HostB,
    description: Option<Description>,
    candidates: Vec<String>,
    connected: bool,
}

impl ChildPeer {
    fn start() -> Self {
        Self {
            host: HostB::start("peer"),
            description: None,
            candidates: Vec::new(),
            connected: false,
        }
    }
}

impl std::fmt::Debug for ChildPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.host.fmt(f)
    }
}

impl Side for ChildPeer {
    fn poll_signals(&mut self) {
        for line in self.host.read() {
            let (what, rest) = line.split_once(' ').unwrap_or((&line, ""));
            match what {
                "desc" => {
                    let (kind, hex) = rest.split_once(' ').expect("KIND HEX");
                    self.description = Some(Description {
                        kind: SdpKind::from_name(kind).expect("offer or answer"),
                        sdp: unhex(hex),
                    });
                }
                "cand" => self.candidates.push(rest.to_owned()),
                "state" => self.connected = rest == "Connected",
                _ => {}
            }
        }
    }
    fn drain_candidates(&mut self) -> Vec<Candidate> {
        self.candidates
            .drain(..)
            .map(|line| Candidate {
                mid: "0".to_owned(),
                index: 0,
                line,
            })
            .collect()
    }
    fn add_remote_candidate(&mut self, c: &Candidate) {
        self.host.tell(&format!("cand {}", c.line));
    }
    fn start_offer(&mut self) {
        self.host.tell("offer");
    }
    fn has_description(&self) -> bool {
        self.description.is_some()
    }
    fn take_description(&mut self) -> Option<Description> {
        self.description.take()
    }
    fn apply_local(&mut self, d: &Description) {
        self.host
            .tell(&format!("local {} {}", d.kind.as_str(), hex(&d.sdp)));
    }
    fn apply_remote(&mut self, d: &Description) {
        self.host
            .tell(&format!("remote {} {}", d.kind.as_str(), hex(&d.sdp)));
    }
    fn is_connected(&self) -> bool {
        self.connected
    }
}

// ----- the tests -------------------------------------------------------------------------------

/// A browser's `.local` host candidate, resolved by our querier against a stand-in responder on
/// host B that answers to the group, over the link.
#[test]
fn a_local_candidate_is_resolved_by_a_responder_across_the_link() {
    if !netns::enter("a_local_candidate_is_resolved_by_a_responder_across_the_link") {
        return;
    }
    link();
    const NAME: &str = "9d3b6f0e-2c1a-4e7b-8f5d-6a4c2b1e0f9d.local";
    let mut responder = HostB::start(&format!("responder {NAME} {A_IP}"));
    assert!(
        responder.wait_for("ready", TIMEOUT),
        "stand-in responder did not start: {responder:?}"
    );
    let plain = Config {
        bind_address: None,
        ..Config::default()
    };
    let mut a = Peer::new(plain.clone());
    let mut b = Peer::new(plain);
    let ch =
        a.pc.create_data_channel("c", ChannelOptions::default())
            .unwrap();
    // `a`'s candidates reach `b` with the name in place of the address, `b`'s are dropped:
    // they connect only if `b` resolves the name.
    let mut pump = Pump::new().rewrite_candidates(|origin, line| match origin {
        Origin::A => {
            let mut f: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(f[4], A_IP.to_string(), "{line}");
            f[4] = NAME;
            Some(f.join(" "))
        }
        Origin::B => None,
    });
    pump.signal(&mut a, &mut b);
    pump.until(&mut a, &mut b, "connected through the name", |a, b| {
        connected(a, b) && ch.ready_state() == ChannelState::Open && !b.incoming.is_empty()
    });
    ch.send(b"resolved on the link", true).unwrap();
    let remote = b.incoming[0].clone();
    assert_eq!(
        recv_n(&mut a, &mut b, &remote, 1)[0].data.as_ref(),
        b"resolved on the link"
    );
    responder.read();
    let queries: Vec<&String> = responder
        .log
        .iter()
        .filter(|l| l.starts_with("query "))
        .collect();
    assert!(!queries.is_empty(), "{responder:?}");
    for q in queries {
        // Asked for A only (no bind address: AAAA too), from host A over the veth.
        let f: Vec<&str> = q.split(' ').collect();
        assert!(f[1].eq_ignore_ascii_case(NAME), "{q}");
        assert!(f[2] == "1" || f[2] == "28", "{q}");
        let from: SocketAddr = f[3].parse().unwrap();
        assert_eq!(from.ip(), A_IP, "{q}");
    }
}

/// Two of our peers, each on its own host and each hiding its addresses: every candidate
/// either of them announces carries a name or no host address, and they connect by resolving
/// each other's names through the group.
#[test]
fn two_peers_hiding_their_addresses_connect() {
    if !netns::enter("two_peers_hiding_their_addresses_connect") {
        return;
    }
    link();
    let mut a = Peer::new(hidden_config());
    let mut b = ChildPeer::start();
    let ch =
        a.pc.create_data_channel("c", ChannelOptions::default())
            .unwrap();
    let mut announced: Vec<String> = Vec::new();
    let mut pump = Pump::new().rewrite_candidates(|_, line| {
        announced.push(line.to_owned());
        Some(line.to_owned())
    });
    pump.signal(&mut a, &mut b);
    pump.until(&mut a, &mut b, "connected with hidden addresses", |a, b| {
        a.is_connected() && b.is_connected() && ch.ready_state() == ChannelState::Open
    });
    ch.send(b"ping", true).unwrap();
    pump.until(&mut a, &mut b, "the echo", |_, _| ch.available() > 0);
    assert_eq!(ch.recv().unwrap().data.as_ref(), b"echo: ping");
    assert!(b.host.log.iter().any(|l| l == "got ping"), "{b:?}");
    // Each learnt the other's host address from its name (not only from its checks, as a
    // peer-reflexive candidate).
    assert_eq!(resolved_hosts(&a.pc), B_IP.to_string());
    let resolved_by_b = format!("resolved {A_IP}");
    assert!(b.host.log.contains(&resolved_by_b), "{b:?}");
    drop(pump);
    let a_host = A_IP.to_string();
    let b_host = B_IP.to_string();
    assert!(announced.len() >= 2, "{announced:?}");
    for line in &announced {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert!(
            !line.contains(&a_host) && !line.contains(&b_host),
            "a host address announced: {line}"
        );
        if f[7] == "host" {
            assert!(f[4].ends_with(".local") && f[4].len() == 42, "{line}");
        }
    }
    // Each side announced its own name.
    let names: std::collections::HashSet<&str> = announced
        .iter()
        .map(|l| l.split_whitespace().nth(4).unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{announced:?}");
}

/// `name` in DNS wire form.
fn wire(name: &str) -> Vec<u8> {
    let mut w = Vec::new();
    for label in name.split('.') {
        w.push(label.len() as u8);
        w.extend_from_slice(label.as_bytes());
    }
    w.push(0);
    w
}

/// A query for `name`, type A, class IN with the QU bit if `qu`.
fn query(id: u16, name: &str, qu: bool) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    q.extend(wire(name));
    q.extend_from_slice(&[0, 1, if qu { 0x80 } else { 0 }, 1]);
    q
}

/// The responses (QR set) from an mDNS responder (port 5353) heard on `sock` within `limit`.
/// The tests send from port 5353 only queries.
fn responses(sock: &UdpSocket, limit: Duration) -> Vec<Vec<u8>> {
    let end = Instant::now() + limit;
    let mut out = Vec::new();
    let mut buf = [0u8; 9000];
    while Instant::now() < end {
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            if n > 2 && buf[2] & 0x80 != 0 && from.port() == 5353 {
                out.push(buf[..n].to_vec());
            }
        }
    }
    out
}

/// Reads the responses arriving on `sock` on a thread until `stop`, with when each came.
fn collect_responses(
    sock: UdpSocket,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<Vec<Vec<u8>>> {
    std::thread::spawn(move || {
        let mut out = Vec::new();
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            out.extend(responses(&sock, Duration::from_millis(50)));
        }
        out
    })
}

/// An answer naming our name with our address, and nothing else.
fn assert_ours(answer: &[u8], name: &str) {
    let w = wire(name);
    assert!(
        answer.windows(w.len()).any(|x| x.eq_ignore_ascii_case(&w)),
        "{answer:?}"
    );
    assert!(answer.ends_with(&A_IP.octets()), "{answer:?}");
    // One record (a one-shot's answer echoes the question too).
    assert_eq!(&answer[6..8], &[0, 1], "{answer:?}");
}

/// Our responder on a link full of hostile traffic: malformed datagrams, questions for other
/// names, and questions for our name far faster than it answers. It answers only our name,
/// at most once a second to the group and every 250 ms by unicast, stays responsive, the
/// connection is unharmed, and once the connection is closed the name is no longer answered.
#[test]
fn our_responder_survives_a_flood_and_stops_with_the_connection() {
    if !netns::enter("our_responder_survives_a_flood_and_stops_with_the_connection") {
        return;
    }
    link();
    let mut a = Peer::new(hidden_config());
    let _ch =
        a.pc.create_data_channel("c", ChannelOptions::default())
            .unwrap();
    a.pc.create_offer().unwrap();
    let pump = Pump::new();
    assert!(pump.try_until_one(&mut a, |a| a.gathering_complete));
    let host: Vec<&String> = a
        .candidates
        .iter()
        .filter(|c| c.contains(" typ host"))
        .collect();
    assert_eq!(host.len(), 1, "{:?}", a.candidates);
    let name = host[0].split_whitespace().nth(4).unwrap().to_owned();
    assert!(name.ends_with(".local"), "{name}");

    // A responder's neighbour on port 5353 (it hears the group), and a one-shot querier.
    let neighbour = port_5353(A_IP);
    let one_shot = UdpSocket::bind((A_IP, 0)).unwrap();
    one_shot
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let to_group = SocketAddr::V4(GROUP);

    // Answered: to the group for a question from port 5353, by unicast for a one-shot query.
    neighbour
        .send_to(&query(0, &name, false), to_group)
        .unwrap();
    let heard = responses(&neighbour, Duration::from_millis(500));
    assert_eq!(heard.len(), 1, "{heard:?}");
    assert_ours(&heard[0], &name);
    one_shot.send_to(&query(7, &name, true), to_group).unwrap();
    let heard = responses(&one_shot, Duration::from_millis(500));
    assert_eq!(heard.len(), 1, "{heard:?}");
    assert_ours(&heard[0], &name);
    assert_eq!(&heard[0][..2], &[0, 7], "the one-shot query's ID");

    // Not answered to a source outside the subnet of the name's address (10.77.0.0/24), to
    // the group or to port 5353 directly (added after gathering, so it has no name).
    netns::sh("ip addr add 10.88.0.1/24 dev va");
    let off_link = UdpSocket::bind((Ipv4Addr::new(10, 88, 0, 1), 0)).unwrap();
    off_link
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    off_link.send_to(&query(8, &name, true), to_group).unwrap();
    off_link
        .send_to(&query(8, &name, true), (A_IP, 5353))
        .unwrap();
    let heard = responses(&off_link, Duration::from_millis(400));
    assert!(heard.is_empty(), "answered off the link: {heard:?}");

    // The flood.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let group_answers = collect_responses(neighbour.try_clone().unwrap(), stop.clone());
    let unicast_answers = collect_responses(one_shot.try_clone().unwrap(), stop.clone());
    let other = "5a5a5a5a-5a5a-4a5a-9a5a-5a5a5a5a5a5a.local";
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let start = Instant::now();
    let mut sent = 0u32;
    while start.elapsed() < Duration::from_millis(1500) && sent < 30_000 {
        let datagram = match sent % 8 {
            0 => query(sent as u16, &name, false),
            1 => query(sent as u16, &name, true),
            2 => query(sent as u16, other, false),
            // A compression loop: the question's name points at itself.
            3 => vec![0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1],
            // 65535 questions announced, one there.
            4 => {
                let mut q = query(0, &name, false);
                q[4..6].copy_from_slice(&[0xff, 0xff]);
                q
            }
            // The largest mDNS message, of noise.
            5 => (0..9000).map(|_| next() as u8).collect(),
            // Our name, mangled.
            6 => {
                let mut q = query(0, &name, false);
                let at = 12 + (next() as usize) % (q.len() - 12);
                q[at] = next() as u8;
                q
            }
            _ => (0..(next() % 64) as usize).map(|_| next() as u8).collect(),
        };
        // Questions "from port 5353" go out of the neighbour's socket, the rest one-shot.
        let from = if sent.is_multiple_of(8) {
            &neighbour
        } else {
            &one_shot
        };
        let _ = from.send_to(&datagram, to_group);
        sent += 1;
    }
    let flood = start.elapsed();
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let window = flood + Duration::from_millis(300);
    let group_answers = group_answers.join().unwrap();
    let unicast_answers = unicast_answers.join().unwrap();
    // At most one a second to the group, one every 250 ms by unicast (the last answers before
    // the flood were a moment ago).
    let most_group = window.as_millis() as usize / 1000 + 1;
    let most_unicast = window.as_millis() as usize / 250 + 1;
    assert!(
        !group_answers.is_empty() && group_answers.len() <= most_group,
        "{} group answers in {window:?} ({sent} datagrams)",
        group_answers.len()
    );
    assert!(
        !unicast_answers.is_empty() && unicast_answers.len() <= most_unicast,
        "{} unicast answers in {window:?} ({sent} datagrams)",
        unicast_answers.len()
    );
    for answer in group_answers.iter().chain(&unicast_answers) {
        assert_ours(answer, &name);
    }

    // Still answering, and the connection is unharmed.
    one_shot.send_to(&query(9, &name, true), to_group).unwrap();
    let heard = responses(&one_shot, Duration::from_millis(500));
    assert_eq!(heard.len(), 1, "{heard:?}");
    a.poll();
    assert!(a.errors.is_empty(), "{:?}", a.errors);
    assert_ne!(a.pc.connection_state(), ConnectionState::Failed);

    // Closed: the name is no longer answered.
    a.pc.close();
    std::thread::sleep(Duration::from_millis(300));
    neighbour
        .send_to(&query(0, &name, false), to_group)
        .unwrap();
    one_shot.send_to(&query(10, &name, true), to_group).unwrap();
    let mut heard = responses(&neighbour, Duration::from_millis(600));
    heard.extend(responses(&one_shot, Duration::from_millis(600)));
    assert!(heard.is_empty(), "answered after close: {heard:?}");
}

/// `Limits::max_name_lookups` caps the names being resolved at once in the whole process
/// (counted process-wide, so this test runs in a process of its own: the namespace's). The
/// names past the cap are dropped; once lookups end, new names are resolved again.
#[test]
fn name_lookups_are_capped_per_process() {
    if !netns::enter("name_lookups_are_capped_per_process") {
        return;
    }
    // A responder that never answers, recording the names asked.
    let silent = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let asked = |limit: Duration| -> std::collections::BTreeSet<String> {
        let end = Instant::now() + limit;
        let mut names = std::collections::BTreeSet::new();
        let mut buf = [0u8; 1500];
        while Instant::now() < end {
            if let Ok((n, _)) = silent.recv_from(&mut buf) {
                if let Some((name, _, _)) = one_question(&buf[..n]) {
                    names.insert(name);
                }
            }
        }
        names
    };
    let limits = Limits {
        max_name_lookups: 3,
        ..Limits::default()
    };
    let mut a = Peer::new(config());
    let mut b = Peer::new(Config {
        limits: limits.clone(),
        ..config()
    });
    let mut c = Peer::new(Config { limits, ..config() });
    for p in [&b, &c] {
        p.pc.set_mdns_destination_for_test(silent.local_addr().unwrap());
    }
    a.pc.create_data_channel("c", ChannelOptions::default())
        .unwrap();
    let mut pump = Pump::new().rewrite_candidates(|_, _| None);
    a.pc.create_offer().unwrap();
    pump.deliver_offer(&mut a, &mut b);
    let mut a2 = Peer::new(config());
    a2.pc
        .create_data_channel("c", ChannelOptions::default())
        .unwrap();
    a2.pc.create_offer().unwrap();
    pump.deliver_offer(&mut a2, &mut c);
    let name = |i: u32| format!("{i:08x}-0000-4000-8000-000000000000.local");
    let add = |p: &mut Peer, i: u32| {
        let line = format!("candidate:1 1 udp 2122260223 {} 9 typ host", name(i));
        p.pc.add_ice_candidate("0", 0, &line).unwrap();
    };
    // Two connections, five names: three are resolved, across both.
    add(&mut b, 1);
    add(&mut b, 2);
    add(&mut c, 3);
    add(&mut c, 4);
    add(&mut b, 5);
    // (The two connections' tasks take their names in whatever order the thread runs them.)
    let first = asked(Duration::from_millis(400));
    assert_eq!(first.len(), 3, "{first:?}");
    // Given up after 1.5 s, they make room for a new name; the dropped ones stay dropped.
    std::thread::sleep(Duration::from_millis(1300));
    add(&mut c, 6);
    let later = asked(Duration::from_millis(300));
    // (The first names' last queries, at 600 ms, may still be in the socket's buffer.)
    assert!(later.contains(&name(6)), "{later:?}");
    assert!(
        later.iter().all(|n| *n == name(6) || first.contains(n)),
        "a dropped name asked later: {later:?}, first {first:?}"
    );
}
