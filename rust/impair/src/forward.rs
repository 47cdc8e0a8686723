//! One direction of the relay on its own thread: receives what one peer sends to the other's
//! relay address, asks the [`Path`] model its fate, holds it until it is due and sends it on
//! from the sender's relay address (so that the receiver sees it come from the address the
//! sender's rewritten candidates announced).

use crate::path::{Drop, Fate, Path};
use crate::peers::{End, Peers};
use crate::settings::{Impairment, Outage};
use crate::stats::{add_bytes, bump, Counters};
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most bytes one direction holds in flight; datagrams beyond are dropped (counted as
/// `overflow`). With a bandwidth limit its queue usually bounds this first.
pub const MAX_IN_FLIGHT_BYTES: usize = 8 << 20;

/// Longest a thread waits before it looks at its stop flag and new outages again.
const TICK: Duration = Duration::from_millis(20);

/// The largest UDP payload.
const MAX_DATAGRAM: usize = 65_535;

/// What the relay handle tells a running direction.
#[derive(Debug)]
pub(crate) enum Control {
    /// Cut the path.
    Cut(Outage),
    /// Impair it differently from now on.
    Set(Impairment),
}

/// A datagram waiting until it is due; earliest first, then in arrival order.
#[derive(Debug)]
struct Due {
    at: Duration,
    seq: u64,
    data: Vec<u8>,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Due {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// Everything one direction's thread owns.
pub(crate) struct Forwarder {
    pub path: Path,
    /// The socket the sender sends to (the receiver's relay address).
    pub listen: UdpSocket,
    /// The socket datagrams leave from (the sender's relay address).
    pub send: UdpSocket,
    pub from: End,
    pub peers: Arc<Peers>,
    pub counters: Arc<Counters>,
    pub controls: Receiver<Control>,
    pub stop: Arc<AtomicBool>,
    pub start: Instant,
}

impl Forwarder {
    /// Relays until the stop flag is set.
    pub fn run(mut self) {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut queue = Queue::default();
        while !self.stop.load(AtomicOrdering::Relaxed) {
            self.take_controls();
            self.flush(&mut queue);
            let wait = queue
                .next_due()
                .map_or(TICK, |at| at.saturating_sub(self.now()).min(TICK))
                .max(Duration::from_micros(100));
            if self.listen.set_read_timeout(Some(wait)).is_err() {
                std::thread::sleep(wait);
                continue;
            }
            match self.listen.recv_from(&mut buf) {
                Ok((len, source)) => self.arrive(&buf[..len], source, &mut queue),
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                // An ICMP error reported on the socket (some systems) or a transient failure:
                // nothing to relay, wait a little rather than spin.
                Err(_) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
    }

    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    /// What the handle asked for since the last look (asked for before a datagram arrives, it
    /// applies to that datagram).
    fn take_controls(&mut self) {
        while let Ok(control) = self.controls.try_recv() {
            match control {
                Control::Cut(outage) => self.path.add_outage(outage),
                Control::Set(settings) => self.path.set(settings),
            }
        }
    }

    fn arrive(&mut self, data: &[u8], source: SocketAddr, queue: &mut Queue) {
        bump(&self.counters.received);
        add_bytes(&self.counters.received_bytes, data.len());
        self.take_controls();
        self.peers.heard(self.from, source);
        if queue.bytes + data.len() > MAX_IN_FLIGHT_BYTES {
            bump(&self.counters.overflow);
            return;
        }
        match self.path.admit(self.now(), data.len()) {
            Fate::Dropped(Drop::Outage) => bump(&self.counters.cut),
            Fate::Dropped(Drop::Loss) => bump(&self.counters.lost),
            Fate::Dropped(Drop::QueueFull) => bump(&self.counters.queue_full),
            Fate::Deliver {
                at,
                copy,
                held_back,
            } => {
                if held_back {
                    bump(&self.counters.held_back);
                }
                if let Some(copy) = copy {
                    bump(&self.counters.duplicated);
                    queue.push(copy, data.to_vec());
                }
                queue.push(at, data.to_vec());
            }
        }
        self.flush(queue);
    }

    /// Sends every datagram that is due.
    fn flush(&mut self, queue: &mut Queue) {
        let now = self.now();
        while let Some(due) = queue.pop_due(now) {
            if self.path.is_cut(due.at) {
                bump(&self.counters.cut);
                continue;
            }
            match self.peers.get(self.from.other()) {
                None => bump(&self.counters.undeliverable),
                Some(to) => match self.send.send_to(&due.data, to) {
                    Ok(_) => {
                        bump(&self.counters.delivered);
                        add_bytes(&self.counters.delivered_bytes, due.data.len());
                    }
                    Err(_) => bump(&self.counters.unsent),
                },
            }
        }
    }
}

/// The datagrams in flight, by due time, and their total size.
#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Reverse<Due>>,
    bytes: usize,
    seq: u64,
}

impl Queue {
    fn push(&mut self, at: Duration, data: Vec<u8>) {
        self.seq += 1;
        self.bytes += data.len();
        self.heap.push(Reverse(Due {
            at,
            seq: self.seq,
            data,
        }));
    }

    fn next_due(&self) -> Option<Duration> {
        self.heap.peek().map(|d| d.0.at)
    }

    fn pop_due(&mut self, now: Duration) -> Option<Due> {
        if self.next_due()? > now {
            return None;
        }
        let Reverse(due) = self.heap.pop()?;
        self.bytes -= due.data.len();
        Some(due)
    }
}
