//! A coturn `turnserver` on loopback for the TURN tests (Debian package `coturn`), plus a
//! global log capture (the engine logs on its network thread).
#![allow(dead_code)]

use super::*;
use rtc_stun::message::{Message as StunMessage, BINDING_REQUEST, BINDING_SUCCESS};
use std::cell::RefCell;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use webrtc_rs_engine::*;

pub const USER: &str = "user";
pub const PASS: &str = "pass";

/// A coturn server bound to one loopback address (127.0.0.1 unless started with
/// [`TurnServer::start_on`]); killed on drop.
pub struct TurnServer {
    child: Child,
    /// The address it listens on and relays from.
    pub ip: IpAddr,
    pub port: u16,
    /// TLS listener port, when started with a certificate.
    pub tls_port: Option<u16>,
    pub dir: PathBuf,
}

impl TurnServer {
    /// Starts `turnserver` (UDP only) with a fixed user; `None` (after printing why) if it is
    /// not installed.
    pub fn start(extra: &[&str]) -> Option<Self> {
        Self::start_with(extra, false, None)
    }

    /// Like [`Self::start`], also listening on TCP (same port) and, with `tls` (certificate and
    /// key PEM files), on TLS (`tls_port`).
    pub fn start_with(extra: &[&str], tcp: bool, tls: Option<(&Path, &Path)>) -> Option<Self> {
        Self::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST), extra, tcp, tls)
    }

    /// Like [`Self::start_with`], listening on and relaying from `ip` (`::1` for IPv6).
    pub fn start_on(
        ip: IpAddr,
        extra: &[&str],
        tcp: bool,
        tls: Option<(&Path, &Path)>,
    ) -> Option<Self> {
        let Some(binary) = find_turnserver() else {
            eprintln!(
                "SKIPPED: `turnserver` not found in PATH or /usr/bin; install the Debian package \
                 `coturn` (apt-get install -y coturn) to run the TURN tests"
            );
            return None;
        };
        for _ in 0..5 {
            let port = free_udp_port_on(ip);
            let dir =
                std::env::temp_dir().join(format!("webrtc-rs-turn-{}-{port}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("create the turnserver directory");
            let tls_port = tls.map(|_| free_udp_port_on(ip));
            let mut cmd = Command::new(&binary);
            if !tcp {
                cmd.arg("--no-tcp");
            }
            match (tls, tls_port) {
                (Some((cert, key)), Some(p)) => {
                    cmd.arg(format!("--tls-listening-port={p}"))
                        .arg(format!("--cert={}", cert.display()))
                        .arg(format!("--pkey={}", key.display()));
                }
                _ => {
                    cmd.arg("--no-tls");
                }
            }
            cmd.arg(format!("--listening-ip={ip}"))
                .arg(format!("--relay-ip={ip}"));
            cmd.args([
                "--allow-loopback-peers",
                "--no-cli",
                "--no-dtls",
                "--lt-cred-mech",
                "--fingerprint",
                "--no-stdout-log",
                "-r",
                "realm",
                "-u",
                &format!("{USER}:{PASS}"),
                "-p",
                &port.to_string(),
                &format!("--pidfile={}", dir.join("turnserver.pid").display()),
                &format!("--userdb={}", dir.join("turndb").display()),
                &format!("--log-file={}", dir.join("turn.log").display()),
            ])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
            let child = cmd.spawn().expect("start turnserver");
            let server = TurnServer {
                child,
                ip,
                port,
                tls_port,
                dir,
            };
            if server.wait_ready() {
                return Some(server);
            }
        }
        panic!("turnserver did not start on any free port");
    }

    /// Waits until the server answers a STUN Binding request.
    fn wait_ready(&self) -> bool {
        let sock = UdpSocket::bind((self.ip, 0)).expect("bind a probe socket");
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("set a read timeout");
        Pump::new()
            .with_limit(Duration::from_secs(10))
            .try_wait(|| self.answers_binding(&sock))
    }

    /// Sends one STUN Binding request from `sock`; whether a success response came back.
    fn answers_binding(&self, sock: &UdpSocket) -> bool {
        let mut req = StunMessage::new();
        req.build(&[
            Box::new(BINDING_REQUEST),
            Box::new(rtc_stun::message::TransactionId::new()),
        ])
        .expect("build a STUN request");
        let _ = sock.send_to(&req.raw, (self.ip, self.port));
        let mut buf = [0u8; 1500];
        let Ok((n, _)) = sock.recv_from(&mut buf) else {
            return false;
        };
        let mut resp = StunMessage::new();
        resp.unmarshal_binary(&buf[..n]).is_ok() && resp.typ == BINDING_SUCCESS
    }

    pub fn url(&self) -> String {
        format!("turn:{}", SocketAddr::new(self.ip, self.port))
    }

    pub fn ice_server(&self, credential: &str) -> IceServer {
        user_ice_server(self.url(), credential)
    }
}

impl Drop for TurnServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A TURN server entry for `url` with the test user [`USER`] and `credential`.
pub fn user_ice_server(url: String, credential: &str) -> IceServer {
    IceServer {
        urls: vec![url],
        username: Some(USER.to_owned()),
        credential: Some(credential.to_owned()),
    }
}

pub fn find_turnserver() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|d| d.join("turnserver"))
        .find(|p| p.is_file())
}

pub fn free_udp_port() -> u16 {
    free_udp_port_on(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

pub fn free_udp_port_on(ip: IpAddr) -> u16 {
    let s = UdpSocket::bind((ip, 0)).expect("bind for a free port");
    s.local_addr().expect("local address").port()
}

/// Everything the engine logs in this test binary (the network thread logs, so the subscriber
/// must be global).
pub fn logs() -> &'static Mutex<String> {
    static LOGS: OnceLock<Mutex<String>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .with_writer(|| LogWriter)
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .try_init();
        Mutex::new(String::new())
    })
}

struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        logs()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_str(&String::from_utf8_lossy(buf));
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn log_lines_with(needle: &str) -> Vec<String> {
    logs()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_owned)
        .collect()
}

/// Creates a channel and an offer on `p`, then polls `p` alone until its gathering completes.
/// Returns the channel and every candidate `p` announced (which `pump_until` would have
/// handed on).
pub fn offer_and_gather(p: &mut Peer) -> (DataChannel, Vec<String>) {
    let ch =
        p.pc.create_data_channel("c", ChannelOptions::default())
            .expect("create channel");
    p.pc.create_offer().expect("create offer");
    let mut seen = Vec::new();
    Pump::new().until_one(p, "gathering to complete", |p| {
        seen.append(&mut p.candidates);
        p.gathering_complete
    });
    p.poll();
    seen.append(&mut p.candidates);
    (ch, seen)
}

/// Connects `a` and `b` (relay-only), checking that only relay candidates are announced, and
/// exchanges messages both ways. Returns the channel pair.
pub fn connect_relayed(a: &mut Peer, b: &mut Peer) -> (DataChannel, DataChannel) {
    let ch =
        a.pc.create_data_channel("relayed", ChannelOptions::default())
            .expect("create channel");
    let announced = RefCell::new(Vec::<String>::new());
    let mut pump = Pump::new().rewrite_candidates(|_, c| {
        announced.borrow_mut().push(c.to_owned());
        Some(c.to_owned())
    });
    pump.signal(a, b);
    let up = pump.try_until(a, b, |a, b| {
        connected(a, b) && ch.ready_state() == ChannelState::Open && !b.incoming.is_empty()
    });
    drop(pump);
    let announced = announced.into_inner();
    assert!(
        up,
        "relayed connection timed out: a={:?} b={:?} candidates={:?} TURN log: {:#?}",
        a.pc,
        b.pc,
        announced,
        log_lines_with("TURN")
    );
    assert!(announced.len() >= 2, "{announced:?}");
    for c in &announced {
        assert!(
            c.contains(" typ relay raddr 0.0.0.0 rport 0")
                || c.contains(" typ relay raddr :: rport 0"),
            "relay-only announced a non-relay candidate or its local address: {c}"
        );
    }
    let remote = b.incoming[0].clone();
    exchange(a, b, &ch, &remote, "first");
    (ch, remote)
}

pub fn exchange(a: &mut Peer, b: &mut Peer, ch: &DataChannel, remote: &DataChannel, tag: &str) {
    ch.send(format!("{tag} a->b").as_bytes(), true)
        .expect("send a->b");
    remote
        .send(format!("{tag} b->a").as_bytes(), false)
        .expect("send b->a");
    let got = recv_n(a, b, remote, 1);
    assert_eq!(&got[0].data[..], format!("{tag} a->b").as_bytes());
    assert!(got[0].is_text);
    let got = recv_n(a, b, ch, 1);
    assert_eq!(&got[0].data[..], format!("{tag} b->a").as_bytes());
    assert!(!got[0].is_text);
}
