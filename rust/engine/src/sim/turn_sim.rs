//! [`Relays`] and a [`FakeTurn`] on a virtual clock: what the relays send reaches the server
//! one latency later, its answers come back one latency after that, timers fire exactly when
//! due.

use super::turn_server::*;
use crate::relay::{AllocationRequest, RelayEvent, Relays};
use bytes::BytesMut;
use rtc_shared::TransportProtocol;
use rtc_stun::message::*;
use rtc_turn::proto::channum::ChannelNumber;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// [`Relays`] and a [`FakeTurn`] on a virtual clock, one latency apart.
pub(crate) struct TurnSim {
    start: Instant,
    now: Instant,
    pub latency: Duration,
    pub relays: Relays,
    pub server: FakeTurn,
    /// In flight by arrival: (to the server?, bytes).
    flights: BTreeMap<(Instant, u64), (bool, BytesMut)>,
    seq: u64,
    /// What reached the server, with when.
    pub received: Vec<(Duration, Got)>,
    /// What the relays reported, with when.
    pub events: Vec<(Duration, RelayEvent)>,
    steps_at_now: usize,
}

impl TurnSim {
    pub fn new() -> Self {
        let start = Instant::now();
        let provider = rtc_crypto::default_provider().expect("crypto provider");
        Self {
            start,
            now: start,
            latency: Duration::from_millis(10),
            relays: Relays::new(provider),
            server: FakeTurn::new(),
            flights: BTreeMap::new(),
            seq: 0,
            received: Vec::new(),
            events: Vec::new(),
            steps_at_now: 0,
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    pub fn allocate(&mut self, transport: TransportProtocol) {
        let now = self.now;
        self.relays.allocate(
            now,
            AllocationRequest {
                name: format!("turn:{SERVER}"),
                server: addr(SERVER),
                local: addr(LOCAL),
                transport,
                username: USER,
                password: PASS,
            },
        );
        self.collect();
    }

    pub fn add_peer(&mut self, peer: SocketAddr) {
        let now = self.now;
        self.relays.add_peer(now, peer);
        self.collect();
    }

    pub fn send(&mut self, peer: SocketAddr, data: &[u8]) {
        let now = self.now;
        self.relays
            .send(now, addr(RELAYED), peer, BytesMut::from(data));
        self.collect();
    }

    pub fn close(&mut self) {
        let now = self.now;
        self.relays.close(now);
        self.collect();
    }

    /// Sends `data` from the server to the client (arrives one latency later).
    pub fn server_sends(&mut self, data: BytesMut) {
        self.seq += 1;
        self.flights
            .insert((self.now + self.latency, self.seq), (false, data));
    }

    /// Sends the held answers.
    pub fn release_held(&mut self) {
        for data in std::mem::take(&mut self.server.held) {
            self.server_sends(data);
        }
    }

    fn collect(&mut self) {
        let at = self.elapsed();
        while let Some((local, to, data)) = self.relays.poll_transmit() {
            assert_eq!((local, to), (addr(LOCAL), addr(SERVER)), "sent elsewhere");
            self.seq += 1;
            self.flights
                .insert((self.now + self.latency, self.seq), (true, data));
        }
        while let Some(ev) = self.relays.poll_event() {
            self.events.push((at, ev));
        }
    }

    fn step(&mut self) -> bool {
        let next = [
            self.relays.poll_timeout(),
            self.flights.keys().next().map(|(t, _)| *t),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(next) = next else { return false };
        if next > self.now {
            self.now = next;
            self.steps_at_now = 0;
        }
        self.steps_at_now += 1;
        assert!(
            self.steps_at_now < super::STEPS_PER_INSTANT,
            "no progress at {:?}: the relays keep asking for a timeout they do not clear",
            self.elapsed()
        );
        let now = self.now;
        while let Some(entry) = self.flights.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (to_server, data) = entry.remove();
            if to_server {
                let (got, answer) = self.server.handle(&data);
                self.received.push((self.elapsed(), got));
                if let Some(a) = answer {
                    self.server_sends(a);
                }
            } else {
                self.relays
                    .handle_datagram(now, addr(LOCAL), addr(SERVER), data);
            }
        }
        if self.relays.poll_timeout().is_some_and(|t| t <= now) {
            self.relays.handle_timeout(now);
        }
        self.collect();
        true
    }

    /// Runs until nothing happens within `limit` of now (the clock then stands there).
    pub fn run_for(&mut self, limit: Duration) {
        let end = self.now + limit;
        while self
            .relays
            .poll_timeout()
            .into_iter()
            .chain(self.flights.keys().next().map(|(t, _)| *t))
            .min()
            .is_some_and(|t| t <= end)
        {
            self.step();
        }
        self.now = end;
    }

    /// STUN messages of `method` and `class` that reached the server, with when.
    pub fn got(&self, method: Method, class: MessageClass) -> Vec<(Duration, &Message)> {
        self.received
            .iter()
            .filter_map(|(t, g)| match g {
                Got::Stun(m) if m.typ.method == method && m.typ.class == class => Some((*t, m)),
                _ => None,
            })
            .collect()
    }

    pub fn requests(&self, method: Method) -> Vec<(Duration, &Message)> {
        self.got(method, CLASS_REQUEST)
    }

    /// Application data that reached the server for `peer`: Send indications, and ChannelData
    /// on a channel bound to `peer`.
    pub fn relayed_to(&self, peer: SocketAddr) -> Vec<Vec<u8>> {
        let channel = self
            .requests(METHOD_CHANNEL_BIND)
            .into_iter()
            .find_map(|(_, m)| {
                let mut n = ChannelNumber::default();
                (peers(m) == [peer] && n.get_from(m).is_ok()).then_some(n.0)
            });
        self.received
            .iter()
            .filter_map(|(_, g)| match g {
                Got::Stun(m)
                    if m.typ == MessageType::new(METHOD_SEND, CLASS_INDICATION)
                        && peers(m) == [peer] =>
                {
                    let mut d = rtc_turn::proto::data::Data::default();
                    d.get_from(m).ok().map(|()| d.0)
                }
                Got::ChannelData(n, data) if Some(*n) == channel => Some(data.clone()),
                _ => None,
            })
            .collect()
    }

    /// How many `Failed` events, and when the first came.
    pub fn failed(&self) -> (usize, Option<Duration>) {
        let failed: Vec<Duration> = self
            .events
            .iter()
            .filter(|(_, e)| matches!(e, RelayEvent::Failed { .. }))
            .map(|(t, _)| *t)
            .collect();
        (failed.len(), failed.first().copied())
    }
}
