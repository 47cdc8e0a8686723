//! One direction of the relay on its own thread: receives what one peer sends to the other's
//! relay address, hands it to the shared model ([`impair_model::Lane`]), which decides its fate
//! and holds it until it is due, and sends it on
//! from the sender's relay address (so that the receiver sees it come from the address the
//! sender's rewritten candidates announced).

use crate::peers::{End, Peers};
use crate::stats::{add_bytes, bump, is_stun, stun_delivered, Counters};
use impair_model::{Drop, Fate, Impairment, Lane, Outage};
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most bytes one direction holds in flight (each datagram counted as its length plus
/// [`impair_model::ENTRY_COST`]); datagrams beyond are dropped (counted as `overflow`). With a
/// bandwidth limit its queue usually bounds this first.
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

/// Everything one direction's thread owns.
pub(crate) struct Forwarder {
    /// The model and the datagrams it holds until due (at most [`MAX_IN_FLIGHT_BYTES`]).
    pub lane: Lane<Vec<u8>>,
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
        while !self.stop.load(AtomicOrdering::Relaxed) {
            self.take_controls();
            self.flush();
            let wait = self
                .lane
                .next_due()
                .map_or(TICK, |at| at.saturating_sub(self.now()).min(TICK))
                .max(Duration::from_micros(100));
            if self.listen.set_read_timeout(Some(wait)).is_err() {
                std::thread::sleep(wait);
                continue;
            }
            match self.listen.recv_from(&mut buf) {
                Ok((len, source)) => self.arrive(&buf[..len], source),
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
                Control::Cut(outage) => self.lane.path_mut().add_outage(outage),
                Control::Set(settings) => self.lane.path_mut().set(settings),
            }
        }
    }

    fn arrive(&mut self, data: &[u8], source: SocketAddr) {
        bump(&self.counters.received);
        add_bytes(&self.counters.received_bytes, data.len());
        self.take_controls();
        self.peers.heard(self.from, source);
        match self.lane.admit(self.now(), data.len(), data.to_vec()) {
            Fate::Dropped(Drop::Outage) => bump(&self.counters.cut),
            Fate::Dropped(Drop::Loss) => bump(&self.counters.lost),
            Fate::Dropped(Drop::QueueFull) => bump(&self.counters.queue_full),
            Fate::Dropped(Drop::Overflow) => bump(&self.counters.overflow),
            Fate::Deliver {
                copy, held_back, ..
            } => {
                if held_back {
                    bump(&self.counters.held_back);
                }
                if copy.is_some() {
                    bump(&self.counters.duplicated);
                }
            }
        }
        self.flush();
    }

    /// Sends every datagram that is due.
    fn flush(&mut self) {
        let now = self.now();
        while let Some(due) = self.lane.release(now) {
            let Ok(data) = due else {
                bump(&self.counters.cut);
                continue;
            };
            match self.peers.get(self.from.other()) {
                None => bump(&self.counters.undeliverable),
                Some(to) => match self.send.send_to(&data, to) {
                    Ok(_) => {
                        bump(&self.counters.delivered);
                        add_bytes(&self.counters.delivered_bytes, data.len());
                        if is_stun(&data) {
                            stun_delivered(&self.counters.last_stun_delivered, now);
                        }
                    }
                    Err(_) => bump(&self.counters.unsent),
                },
            }
        }
    }
}
