//! The relay handle: two UDP sockets on loopback, one standing in for each peer, and one
//! forwarding thread per direction, stopped when the handle is dropped.

use crate::forward::{Control, Forwarder, MAX_IN_FLIGHT_BYTES};
use crate::peers::{End, Peers};
use crate::rewrite;
use crate::stats::{Counters, Stats};
use impair_model::{Impairment, InvalidSetting, Lane, Outage, Path};
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Which way datagrams travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    AToB,
    BToA,
}

impl Direction {
    /// The direction of what `end` sends.
    pub fn from(end: End) -> Direction {
        match end {
            End::A => Direction::AToB,
            End::B => Direction::BToA,
        }
    }

    fn sender(self) -> End {
        match self {
            Direction::AToB => End::A,
            Direction::BToA => End::B,
        }
    }

    fn index(self) -> usize {
        self.sender().index()
    }
}

/// A running relay between two peers. See the crate documentation.
pub struct Relay {
    addresses: [SocketAddr; 2],
    peers: Arc<Peers>,
    counters: [Arc<Counters>; 2],
    controls: [Sender<Control>; 2],
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    start: Instant,
}

impl Relay {
    /// Binds the two relay sockets on 127.0.0.1 and starts relaying, `a_to_b` impairing what
    /// peer A sends and `b_to_a` what peer B sends. `seed` makes the random decisions (each
    /// direction has its own stream, derived from it). Outages count from now.
    pub fn start(a_to_b: Impairment, b_to_a: Impairment, seed: u64) -> io::Result<Relay> {
        for settings in [&a_to_b, &b_to_a] {
            settings
                .validate()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        }
        let sockets = [bind()?, bind()?];
        let addresses = [sockets[0].local_addr()?, sockets[1].local_addr()?];
        let peers = Arc::new(Peers::default());
        let counters: [Arc<Counters>; 2] = [Arc::default(), Arc::default()];
        let stop = Arc::new(AtomicBool::new(false));
        let start = Instant::now();
        let (a_controls, a_rx) = channel();
        let (b_controls, b_rx) = channel();
        let mut threads = Vec::new();
        for (direction, settings, rx) in [
            (Direction::AToB, a_to_b, a_rx),
            (Direction::BToA, b_to_a, b_rx),
        ] {
            let from = direction.sender();
            let forwarder = Forwarder {
                lane: Lane::new(
                    Path::new(settings, stream_seed(seed, direction)),
                    MAX_IN_FLIGHT_BYTES,
                ),
                // The sender sends to the other end's stand-in and is answered from its own.
                listen: sockets[from.other().index()].try_clone()?,
                send: sockets[from.index()].try_clone()?,
                from,
                peers: peers.clone(),
                counters: counters[direction.index()].clone(),
                controls: rx,
                stop: stop.clone(),
                start,
            };
            let name = match direction {
                Direction::AToB => "impair-a-to-b",
                Direction::BToA => "impair-b-to-a",
            };
            let spawned = std::thread::Builder::new()
                .name(name.to_owned())
                .spawn(move || forwarder.run());
            match spawned {
                Ok(t) => threads.push(t),
                Err(e) => {
                    stop_and_join(&stop, &mut threads);
                    return Err(e);
                }
            }
        }
        Ok(Relay {
            addresses,
            peers,
            counters,
            controls: [a_controls, b_controls],
            stop,
            threads,
            start,
        })
    }

    /// [`Relay::start`] with the same impairment both ways.
    pub fn symmetric(both: Impairment, seed: u64) -> io::Result<Relay> {
        Relay::start(both.clone(), both, seed)
    }

    /// The relay address standing in for `end`: the address `end`'s candidates are rewritten
    /// to, which the other peer sends to and `end` receives from.
    pub fn address(&self, end: End) -> SocketAddr {
        self.addresses[end.index()]
    }

    /// A candidate line `from` announced, pointed at [`Relay::address`]`(from)`; the relay
    /// keeps the real address it named (until `from` is heard from). `None` for a candidate
    /// the relay cannot carry (TCP) or read: pass nothing on then. Lines that are not
    /// candidates (an empty end-of-candidates) come back unchanged.
    pub fn rewrite_candidate(&self, from: End, line: &str) -> Option<String> {
        let r = rewrite::candidate(line, self.address(from))?;
        if let Some(real) = r.real {
            self.peers.announced(from, real);
        }
        Some(r.line)
    }

    /// A session description `from` wrote, with its inline candidates, `c=` address and `m=`
    /// port pointed at [`Relay::address`]`(from)` (candidates the relay cannot carry removed).
    pub fn rewrite_sdp(&self, from: End, sdp: &str) -> String {
        let (sdp, real) = rewrite::sdp(sdp, self.address(from));
        for addr in real {
            self.peers.announced(from, addr);
        }
        sdp
    }

    /// The real address of `end` as the relay knows it (from its first datagram, else from its
    /// first candidate).
    pub fn peer(&self, end: End) -> Option<SocketAddr> {
        self.peers.get(end)
    }

    /// Cuts both directions from now for `duration`.
    pub fn cut(&self, duration: Duration) {
        self.cut_one(Direction::AToB, Duration::ZERO, duration);
        self.cut_one(Direction::BToA, Duration::ZERO, duration);
    }

    /// Cuts `direction` for `duration`, starting `after` from now.
    pub fn cut_one(&self, direction: Direction, after: Duration, duration: Duration) {
        let outage = Outage {
            start: self.start.elapsed() + after,
            duration,
        };
        self.control(direction, Control::Cut(outage));
    }

    /// Impairs `direction` with `settings` from now on (see [`Path::set`]: scheduled
    /// outages stay, new ones count from the start of the relay). For example, connect on a
    /// clean path, then make it lossy.
    pub fn set(&self, direction: Direction, settings: Impairment) -> Result<(), InvalidSetting> {
        settings.validate()?;
        self.control(direction, Control::Set(settings));
        Ok(())
    }

    /// [`Relay::set`] for both directions.
    pub fn set_both(&self, settings: Impairment) -> Result<(), InvalidSetting> {
        settings.validate()?;
        self.control(Direction::AToB, Control::Set(settings.clone()));
        self.control(Direction::BToA, Control::Set(settings));
        Ok(())
    }

    fn control(&self, direction: Direction, control: Control) {
        // The thread only ends when the relay is dropped, so it is there to receive this.
        let _ = self.controls[direction.index()].send(control);
    }

    /// What `direction` did so far.
    pub fn stats(&self, direction: Direction) -> Stats {
        self.counters[direction.index()].snapshot()
    }

    /// Time since the relay started (the clock of [`Outage::start`]).
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}

impl Drop for Relay {
    /// Stops both threads (within about 20 ms) and closes the sockets; datagrams still in
    /// flight are dropped.
    fn drop(&mut self) {
        stop_and_join(&self.stop, &mut self.threads);
    }
}

/// Socket buffer size asked for (the system may grant less): a burst of a few thousand
/// datagrams waits in the kernel for the relay's thread instead of being dropped there, which
/// would be loss nobody asked for.
const SOCKET_BUFFER: usize = 4 << 20;

fn bind() -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    // Best effort: the defaults still work, only with less room for bursts.
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
    socket.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())?;
    Ok(socket.into())
}

fn stop_and_join(stop: &AtomicBool, threads: &mut Vec<JoinHandle<()>>) {
    stop.store(true, Ordering::Relaxed);
    for t in threads.drain(..) {
        let _ = t.join();
    }
}

/// Each direction's own seed, so that they do not make the same decisions.
fn stream_seed(seed: u64, direction: Direction) -> u64 {
    seed ^ (direction.index() as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}
