//! A remote peer process killed (SIGKILL) in the middle of a transfer: a `webrtc-rs-peer` child
//! process against an engine peer in this test process, over real UDP on loopback through an
//! unimpaired relay (`rust/impair`), which tells when the last STUN datagram reached the
//! survivor. The survivor must report DISCONNECTED within 5 s, FAILED later with every channel
//! CLOSED, neither before its silence since that last STUN reached the timeout, and must not
//! spin meanwhile or after (its CPU time, from `/proc/self/stat`, stays near zero).
//!
//! One test in this binary, so the CPU time measured is this scenario's alone (the relays'
//! threads included).

#[path = "../../engine/tests/common/peer.rs"]
mod peer;
#[path = "../../engine/tests/common/relay.rs"]
mod relay;

use impair::{Direction, Impairment, Relay};
use peer::Peer;
use serde_json::{json, Value};
use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};
use webrtc_rs_engine::*;
use webrtc_rs_test_pump::{Candidate, Description, SdpKind, Side};

/// A `webrtc-rs-peer --role offerer` child process as a [`Side`] of the test pump: it offers on
/// its own, prints its signals as JSON lines and takes ours on stdin.
struct CliPeer {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<Value>,
    description: Option<Description>,
    candidates: Vec<Candidate>,
    state: String,
    events: Vec<Value>,
}

impl CliPeer {
    fn offerer(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_webrtc-rs-peer"))
            .args(["--role", "offerer", "--bind", "127.0.0.1"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start webrtc-rs-peer");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let Ok(value) = serde_json::from_str::<Value>(&line) else {
                    panic!("webrtc-rs-peer printed non-JSON: {line}");
                };
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take().expect("stdin is piped");
        Self {
            child,
            stdin,
            lines,
            description: None,
            candidates: Vec::new(),
            state: "new".into(),
            events: Vec::new(),
        }
    }

    fn send(&mut self, value: &Value) {
        // The process may already be dead (the test killed it): nothing to tell it then.
        let _ = writeln!(self.stdin, "{value}").and_then(|()| self.stdin.flush());
    }

    fn kill(&mut self) {
        self.child.kill().expect("SIGKILL webrtc-rs-peer");
        self.child.wait().expect("reap webrtc-rs-peer");
    }
}

impl Drop for CliPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl fmt::Debug for CliPeer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "webrtc-rs-peer ({}), events {:?}",
            self.state, self.events
        )
    }
}

impl Side for CliPeer {
    fn poll_signals(&mut self) {
        while let Ok(value) = self.lines.try_recv() {
            let kind = value["type"].as_str().and_then(SdpKind::from_name);
            if let (Some(kind), Some(sdp)) = (kind, value["sdp"].as_str()) {
                self.description = Some(Description {
                    kind,
                    sdp: sdp.to_owned(),
                });
            } else if value["type"] == "candidate" {
                self.candidates.push(Candidate {
                    mid: value["sdpMid"].as_str().unwrap_or("0").to_owned(),
                    index: value["sdpMLineIndex"].as_u64().unwrap_or(0) as u32,
                    line: value["candidate"].as_str().unwrap_or_default().to_owned(),
                });
            } else if value["event"] == "state" {
                self.state = value["state"].as_str().unwrap_or_default().to_owned();
            } else if value["type"] != "end-of-candidates" {
                assert_ne!(value["event"], "error", "webrtc-rs-peer: {value}");
                self.events.push(value);
            }
        }
    }
    fn drain_candidates(&mut self) -> Vec<Candidate> {
        std::mem::take(&mut self.candidates)
    }
    fn add_remote_candidate(&mut self, c: &Candidate) {
        self.send(
            &json!({"type": "candidate", "candidate": c.line, "sdpMid": c.mid,
            "sdpMLineIndex": c.index}),
        );
    }
    /// The offerer creates its channel and offer as it starts.
    fn start_offer(&mut self) {}
    fn has_description(&self) -> bool {
        self.description.is_some()
    }
    fn take_description(&mut self) -> Option<Description> {
        self.description.take()
    }
    /// It applied its own description before printing it.
    fn apply_local(&mut self, _: &Description) {}
    fn apply_remote(&mut self, d: &Description) {
        self.send(&json!({"type": d.kind.as_str(), "sdp": d.sdp}));
    }
    fn is_connected(&self) -> bool {
        self.state == "connected"
    }
}

/// CPU time (user + system) this process used so far, all threads, from `/proc/self/stat`.
fn process_cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("read /proc/self/stat");
    // Fields after the command name (which may hold spaces) in parentheses; utime and stime
    // are fields 14 and 15, in clock ticks of 1/100 s (USER_HZ, fixed by the Linux ABI).
    let after_name = &stat[stat.rfind(')').expect("stat has a command name") + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| -> u64 { fields[i].parse().expect("a tick count") };
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// CPU time the process uses over `span` while this thread sleeps.
fn cpu_over(span: Duration) -> Duration {
    let before = process_cpu_time();
    std::thread::sleep(span);
    process_cpu_time().saturating_sub(before)
}

/// "Near zero": an idle process, whose only work is ICE's 200 ms tick and the relays' threads
/// waking every 20 ms. A thread spinning on a timer or a closed socket would use most of a core.
const IDLE_CPU_PER_SECOND: Duration = Duration::from_millis(40);

/// A connection state as the survivor's application saw it after the kill.
#[derive(Debug)]
struct Seen {
    state: ConnectionState,
    /// When, since the kill.
    after_kill: Duration,
    /// How long the survivor had then received no STUN: since the relay last passed it one.
    /// ICE (rtc-ice) counts its timeouts from the last STUN it received, not from the kill,
    /// and a process starved of CPU before it was killed may have sent its last one early.
    silent: Option<Duration>,
}

/// One survivor: the engine peer, the channel the killed process opened to it, the relay
/// between them, and the states it reported after the kill.
struct Survivor {
    peer: Peer,
    channel: DataChannel,
    cli: CliPeer,
    /// The process is its end A, the engine peer its end B.
    relay: Relay,
    /// The relay's clock when the process was killed.
    killed_at: Duration,
    states: Vec<Seen>,
    received: usize,
}

impl Survivor {
    /// A `webrtc-rs-peer` offerer connected through an unimpaired relay to an engine peer with
    /// `liveness`, the offerer's channel open at both ends.
    fn connect(liveness: Liveness) -> Self {
        let relay = Relay::symmetric(Impairment::default(), 11).expect("relay");
        let mut cli = CliPeer::offerer(&["--sink", "--quiet", "--label", "bulk"]);
        let mut peer = Peer::new(Config {
            bind_address: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            liveness,
            ..Config::default()
        });
        let mut pump = relay::through(&relay);
        pump.signal(&mut cli, &mut peer);
        pump.until(
            &mut cli,
            &mut peer,
            "connected, channel open",
            |cli, peer| {
                cli.is_connected()
                    && peer.pc.connection_state() == ConnectionState::Connected
                    && peer
                        .incoming
                        .first()
                        .is_some_and(|c| c.ready_state() == ChannelState::Open)
            },
        );
        drop(pump);
        let channel = peer.incoming[0].clone();
        assert_eq!(channel.label(), "bulk");
        Self {
            peer,
            channel,
            cli,
            relay,
            killed_at: Duration::ZERO,
            states: Vec::new(),
            received: 0,
        }
    }

    /// Starts a transfer both ways: the process sends a large bulk to us and we keep our send
    /// buffer full towards it.
    fn start_transfer(&mut self) {
        self.cli.send(
            &json!({"type": "send_bulk", "label": "bulk", "bytes": 1u64 << 34, "chunk": 16384}),
        );
    }

    /// One step of the transfer: reads what arrived (at most 1 MiB, so that a peer sending
    /// faster than this loop reads cannot keep it from the other survivor) and tops up our sends.
    fn transfer(&mut self) {
        self.peer.poll();
        for _ in 0..64 {
            let Some(m) = self.channel.recv() else { break };
            self.received += m.data.len();
        }
        while self.channel.ready_state() == ChannelState::Open
            && self.channel.buffered_amount() < 1 << 20
        {
            if self.channel.send(&[7u8; 16 * 1024], false).is_err() {
                break;
            }
        }
    }

    fn kill(&mut self) {
        self.cli.kill();
        self.killed_at = self.relay.elapsed();
    }

    fn record(&mut self) {
        self.peer.poll();
        while self.channel.recv().is_some() {}
        let now = self.peer.pc.connection_state();
        if self.states.last().map(|s| s.state) != Some(now) {
            let last_stun = self.relay.stats(Direction::AToB).last_stun_delivered;
            let at = self.relay.elapsed();
            self.states.push(Seen {
                state: now,
                after_kill: at.saturating_sub(self.killed_at),
                silent: last_stun.map(|last| at.saturating_sub(last)),
            });
        }
    }

    fn names(&self) -> Vec<ConnectionState> {
        self.states.iter().map(|s| s.state).collect()
    }

    fn first(&self, state: ConnectionState) -> Option<&Seen> {
        self.states.iter().find(|s| s.state == state)
    }

    /// When the survivor was first seen in `state`: since the kill, and since the last STUN
    /// that reached it.
    fn at(&self, state: ConnectionState) -> (Duration, Duration) {
        let seen = self
            .first(state)
            .unwrap_or_else(|| panic!("never {state:?}: {:?}", self.states));
        let silent = seen
            .silent
            .unwrap_or_else(|| panic!("no STUN ever reached the survivor: {:?}", self.states));
        (seen.after_kill, silent)
    }
}

/// Two peer processes killed at the same moment, each in the middle of a transfer with its own
/// engine peer: one with short liveness timings (DISCONNECTED after 1 s, FAILED after 3 s, a
/// check every 250 ms), one with the defaults (DISCONNECTED after 5 s, FAILED after 30 s, too
/// long for a test to wait for). The first: DISCONNECTED, then FAILED on time, its channel
/// CLOSED, and no CPU used in the second that follows. The second: DISCONNECTED within 5 s of
/// the kill (rtc-ice counts from the last STUN packet, at most one keepalive before the kill,
/// and notices at its next 200 ms tick: hence the 5.4 s bound), no CPU used while it waits.
///
/// Each state must come no later than its timeout after the kill (plus slack: detection must
/// not be late) and no earlier than its timeout after the last STUN the relay passed to the
/// survivor (detection must not be premature). The kill is no reference for the lower bound:
/// under load the process may have been starved before it, its last STUN sent early.
#[test]
fn a_peer_process_killed_mid_transfer_is_reported_disconnected_then_failed_without_spinning() {
    use ConnectionState::*;
    let short = Liveness {
        disconnected_after: Duration::from_secs(1),
        failed_after: Duration::from_secs(3),
        keepalive_interval: Duration::from_millis(250),
    };
    let mut survivors = [
        Survivor::connect(short.clone()),
        Survivor::connect(Liveness::default()),
    ];
    for s in &mut survivors {
        s.start_transfer();
    }
    // Mid-transfer: at least 2 MiB arrived at each survivor.
    let started = Instant::now();
    while survivors.iter().any(|s| s.received < 2 << 20) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the transfers did not get going: {:?} bytes",
            survivors.iter().map(|s| s.received).collect::<Vec<_>>()
        );
        for s in &mut survivors {
            s.transfer();
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    for s in &survivors {
        assert_eq!(s.peer.pc.connection_state(), Connected);
        assert!(s.channel.buffered_amount() > 0, "nothing in flight");
    }
    for s in &mut survivors {
        s.kill();
    }
    let killed = Instant::now();

    let [fast, default] = &mut survivors;
    let ended = |s: &Survivor| s.first(Failed).is_some() || s.first(Closed).is_some();
    // The longest this thread went between two looks: a state seen late by that much may have
    // come on time while the machine starved the test.
    let mut stalled = Duration::ZERO;
    let mut looked = Instant::now();
    while !(ended(fast) && default.first(Disconnected).is_some()) {
        assert!(
            killed.elapsed() < Duration::from_secs(8),
            "short: {:?}, default: {:?}",
            fast.states,
            default.states
        );
        fast.record();
        default.record();
        stalled = stalled.max(looked.elapsed());
        looked = Instant::now();
        std::thread::sleep(Duration::from_millis(5));
    }
    println!(
        "killed mid-transfer: short liveness {:?}, default liveness {:?}; longest between two \
         looks {stalled:?}",
        fast.states, default.states
    );

    assert_eq!(
        fast.names(),
        [Connected, Disconnected, Failed],
        "short: {:?}",
        fast.states
    );
    let (down, silent) = fast.at(Disconnected);
    assert!(
        silent >= short.disconnected_after
            && down <= short.disconnected_after + Duration::from_millis(500),
        "short: DISCONNECTED {down:?} after the kill, {silent:?} after the last STUN \
         (longest between two looks {stalled:?})"
    );
    let (failed, silent) = fast.at(Failed);
    assert!(
        silent >= short.failed_after && failed <= short.failed_after + Duration::from_millis(500),
        "short: FAILED {failed:?} after the kill, {silent:?} after the last STUN \
         (longest between two looks {stalled:?})"
    );
    assert_eq!(fast.channel.ready_state(), ChannelState::Closed);
    assert!(fast.channel.send(b"late", false).is_err());

    assert_eq!(
        default.names(),
        [Connected, Disconnected],
        "defaults: {:?}",
        default.states
    );
    let (down, silent) = default.at(Disconnected);
    let defaults = Liveness::default();
    assert!(
        silent >= defaults.disconnected_after && down <= Duration::from_millis(5_400),
        "defaults: DISCONNECTED {down:?} after the kill, {silent:?} after the last STUN \
         (longest between two looks {stalled:?})"
    );
    // Between DISCONNECTED and FAILED the channel stays open.
    assert_eq!(default.channel.ready_state(), ChannelState::Open);

    // Nothing spins: one failed connection, one waiting to fail, both with unacknowledged data.
    let used = cpu_over(Duration::from_secs(1));
    println!("CPU time over 1 s after FAILED: {used:?}");
    assert!(
        used <= IDLE_CPU_PER_SECOND,
        "the process used {used:?} of CPU in the second after FAILED"
    );
    assert_eq!(fast.peer.pc.connection_state(), Failed);
    default.record();
    assert_eq!(default.peer.pc.connection_state(), Disconnected);
}
