//! The network simulator of one connection (`Config::simulate`): a [`Lane`] of the shared
//! impairment model (`impair-model`, also behind the test relay) per direction. Outgoing
//! datagrams enter it instead of the socket, incoming ones after the socket; the driver sends
//! or handles each when [`Simulator::poll_outgoing`] / [`Simulator::poll_incoming`] release it
//! and sleeps until [`Simulator::next_due`]. Told the time, it never reads a clock.

use super::net::Datagram;
use crate::datagram::Transmit;
use crate::types::NetworkSimulation;
use impair_model::{Bandwidth, Impairment, Lane, Loss, Path};
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

/// Most a direction holds (datagram bytes plus [`impair_model::ENTRY_COST`] each); beyond,
/// datagrams are dropped.
pub(super) const MAX_HELD_BYTES: usize = 4 << 20;
/// The bandwidth queue holds this much of the link's traffic...
const QUEUE_TIME: Duration = Duration::from_millis(250);
/// ...and at least this many bytes (a dozen full-size datagrams).
const MIN_QUEUE_BYTES: usize = 16 << 10;

pub(super) struct Simulator {
    /// The model's time zero.
    epoch: Instant,
    outgoing: Lane<Transmit>,
    incoming: Lane<Datagram>,
    /// Turned off: the lanes deliver at once and the simulator goes when they are empty.
    off: bool,
}

impl Simulator {
    pub fn new(now: Instant, settings: &NetworkSimulation) -> Self {
        let (outgoing, incoming) = paths(settings);
        Self {
            epoch: now,
            outgoing: Lane::new(outgoing, MAX_HELD_BYTES),
            incoming: Lane::new(incoming, MAX_HELD_BYTES),
            off: false,
        }
    }

    /// New settings from now on; what is held keeps its schedule.
    pub fn set(&mut self, settings: &NetworkSimulation) {
        let (outgoing, incoming) = paths(settings);
        *self.outgoing.path_mut() = outgoing;
        *self.incoming.path_mut() = incoming;
        self.off = false;
    }

    /// Delivers what arrives from now on at once and what is held on its schedule; see
    /// [`Simulator::is_done`].
    pub fn turn_off(&mut self) {
        *self.outgoing.path_mut() = Path::new(Impairment::default(), 0);
        *self.incoming.path_mut() = Path::new(Impairment::default(), 0);
        self.off = true;
    }

    /// Turned off and nothing held any more: the driver can drop it.
    pub fn is_done(&self) -> bool {
        self.off && self.outgoing.is_empty() && self.incoming.is_empty()
    }

    fn since_epoch(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.epoch)
    }

    /// A datagram the connection sends.
    pub fn send(&mut self, now: Instant, t: Transmit) {
        let at = self.since_epoch(now);
        self.outgoing.admit(at, t.data.len(), t);
    }

    /// A datagram a socket received.
    pub fn receive(&mut self, now: Instant, d: Datagram) {
        let at = self.since_epoch(now);
        self.incoming.admit(at, d.2.len(), d);
    }

    /// The next outgoing datagram due at `now`, to send.
    pub fn poll_outgoing(&mut self, now: Instant) -> Option<Transmit> {
        let at = self.since_epoch(now);
        // The simulator cuts no path, so a released datagram is always delivered.
        while let Some(released) = self.outgoing.release(at) {
            if let Ok(t) = released {
                return Some(t);
            }
        }
        None
    }

    /// The next incoming datagram due at `now`, to handle.
    pub fn poll_incoming(&mut self, now: Instant) -> Option<Datagram> {
        let at = self.since_epoch(now);
        while let Some(released) = self.incoming.release(at) {
            if let Ok(d) = released {
                return Some(d);
            }
        }
        None
    }

    /// When the next held datagram is due.
    pub fn next_due(&self) -> Option<Instant> {
        let next = match (self.outgoing.next_due(), self.incoming.next_due()) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        Some(self.epoch + next)
    }
}

/// The model of each direction, with their own random streams.
fn paths(settings: &NetworkSimulation) -> (Path, Path) {
    let seed = settings.seed.unwrap_or_else(random_seed);
    let impairment = impairment(settings);
    (
        Path::new(impairment.clone(), seed),
        Path::new(impairment, seed ^ 0x9E37_79B9_7F4A_7C15),
    )
}

/// What the settings mean for the model (they were validated).
fn impairment(s: &NetworkSimulation) -> Impairment {
    Impairment {
        loss: if s.loss > 0.0 {
            Loss::Random(s.loss)
        } else {
            Loss::None
        },
        delay: s.delay,
        jitter: s.jitter,
        duplicate: s.duplicate,
        bandwidth: s.bandwidth_kbps.map(|kbps| {
            let bits_per_second = kbps.saturating_mul(1_000);
            let in_queue_time = bits_per_second / 8 * QUEUE_TIME.as_millis() as u64 / 1_000;
            Bandwidth {
                bits_per_second,
                queue_bytes: usize::try_from(in_queue_time)
                    .unwrap_or(usize::MAX)
                    .clamp(MIN_QUEUE_BYTES, MAX_HELD_BYTES),
            }
        }),
        ..Impairment::default()
    }
}

/// A seed of its own for each connection (the process's random hasher keys, which differ for
/// every hasher built).
fn random_seed() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use std::net::SocketAddr;

    const MS: Duration = Duration::from_millis(1);

    fn transmit(n: u8) -> Transmit {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        Transmit {
            local: addr,
            peer: addr,
            data: BytesMut::from(&[n; 100][..]),
        }
    }

    #[test]
    fn delay_holds_each_direction_until_due() {
        let t0 = Instant::now();
        let mut sim = Simulator::new(
            t0,
            &NetworkSimulation {
                delay: MS * 50,
                ..Default::default()
            },
        );
        sim.send(t0, transmit(1));
        sim.receive(
            t0 + MS * 10,
            (transmit(2).local, transmit(2).peer, BytesMut::new()),
        );
        assert_eq!(sim.next_due(), Some(t0 + MS * 50));
        assert!(sim.poll_outgoing(t0 + MS * 49).is_none());
        assert_eq!(sim.poll_outgoing(t0 + MS * 50).map(|t| t.data[0]), Some(1));
        assert_eq!(sim.next_due(), Some(t0 + MS * 60));
        assert!(sim.poll_incoming(t0 + MS * 59).is_none());
        assert!(sim.poll_incoming(t0 + MS * 60).is_some());
        assert!(sim.next_due().is_none());
    }

    #[test]
    fn turned_off_it_delivers_at_once_and_finishes_what_it_held() {
        let t0 = Instant::now();
        let mut sim = Simulator::new(
            t0,
            &NetworkSimulation {
                delay: MS * 100,
                ..Default::default()
            },
        );
        sim.send(t0, transmit(1));
        sim.turn_off();
        assert!(!sim.is_done(), "one datagram still held");
        sim.send(t0 + MS, transmit(2));
        assert_eq!(sim.poll_outgoing(t0 + MS).map(|t| t.data[0]), Some(2));
        assert_eq!(sim.poll_outgoing(t0 + MS * 100).map(|t| t.data[0]), Some(1));
        assert!(sim.is_done());
    }

    #[test]
    fn the_bandwidth_queue_holds_a_quarter_second_and_at_least_16_kib() {
        let queue = |kbps| {
            impairment(&NetworkSimulation {
                bandwidth_kbps: Some(kbps),
                ..Default::default()
            })
            .bandwidth
            .map(|b| (b.bits_per_second, b.queue_bytes))
        };
        assert_eq!(queue(8_000), Some((8_000_000, 250_000)));
        assert_eq!(queue(64), Some((64_000, MIN_QUEUE_BYTES)));
        assert_eq!(queue(10_000_000), Some((10_000_000_000, MAX_HELD_BYTES)));
    }

    #[test]
    fn a_seed_makes_the_same_decisions_and_connections_differ_without_one() {
        let fates = |seed: Option<u64>| {
            let t0 = Instant::now();
            let mut sim = Simulator::new(
                t0,
                &NetworkSimulation {
                    loss: 0.5,
                    seed,
                    ..Default::default()
                },
            );
            (0..64)
                .map(|i| {
                    sim.send(t0, transmit(i));
                    sim.poll_outgoing(t0).is_some()
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(fates(Some(3)), fates(Some(3)));
        assert_ne!(fates(None), fates(None));
    }
}
