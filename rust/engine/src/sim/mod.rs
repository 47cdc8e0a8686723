//! A virtual-clock test harness: two engine [`Core`](crate::core::Core)s exchanging datagrams
//! in memory. Nothing sleeps, no socket is opened, no clock is read besides the one base
//! instant: the virtual `now` jumps to whatever happens next, the earliest of both cores'
//! `poll_timeout()` and the next datagram's arrival, so half a minute of timers runs in
//! milliseconds, and the same test always sees the same times.
//!
//! Signalling is done in memory ([`Sim::signal`]): each side gets a `RemoteDescription` built
//! from the other's ufrag, password, certificate fingerprint and setup role (with the roles
//! worked out as the handle does), and the other's host candidate. Each direction of the path
//! has a latency and a [`Filter`] that may drop, delay, duplicate or rewrite each datagram.
//! Every `Update` is recorded with the virtual time it came at ([`Side::updates`]), every
//! datagram in [`Sim::wire`].
//!
//! The loop is the one the driver runs, minus the I/O: handle what is due (datagrams, then
//! timeouts), flush, send what the cores queued, take their updates.

mod net;
mod run;
mod side;

mod buffered;
mod data;
mod deadlines;
mod handshake;
mod lifecycle;
mod mtu;
mod partial;
mod reasons;
mod relay;
mod throughput;
mod turn_server;
mod turn_sim;

pub(crate) use net::*;
pub(crate) use side::*;

use crate::candidate::{Announce, CandidateKind};
use crate::channel::{ChannelInfo, ChannelKey};
use crate::sdp::{RemoteDescription, Setup};
use bytes::{Bytes, BytesMut};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Which side: A offers (controlling, DTLS server by default), B answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Who {
    A,
    B,
}

pub(crate) use Who::{A, B};

impl Who {
    pub fn other(self) -> Who {
        match self {
            A => B,
            B => A,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// How the simulation is set up.
#[derive(Debug, Clone)]
pub(crate) struct SimConfig {
    /// One-way delay of every datagram (before a filter's extra delay).
    pub latency: Duration,
    pub a: SideConfig,
    pub b: SideConfig,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            latency: Duration::from_millis(10),
            a: SideConfig::default(),
            b: SideConfig::default(),
        }
    }
}

/// One datagram that was sent, and what became of it.
#[derive(Debug, Clone)]
pub(crate) struct Wire {
    pub from: Who,
    pub sent: Duration,
    pub kind: Kind,
    pub len: usize,
    /// What the path did with it.
    pub fate: Fate,
    /// When it (and any copy) reached the other core; empty when the path dropped it.
    pub delivered: Vec<Duration>,
}

/// A [`Verdict`] without its payload, for the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    Delivered,
    Dropped,
    Delayed,
    Duplicated,
    Replaced,
}

struct Flight {
    to: Who,
    from_addr: SocketAddr,
    data: BytesMut,
    wire: usize,
}

/// More handling than this at one virtual instant means a core asks for a timeout it does
/// not clear: a busy loop in the real driver.
const STEPS_PER_INSTANT: usize = 10_000;

pub(crate) struct Sim {
    start: Instant,
    now: Instant,
    latency: Duration,
    sides: [Side; 2],
    filters: [Box<dyn Filter>; 2],
    /// In flight, by arrival time and then sending order.
    flights: BTreeMap<(Instant, u64), Flight>,
    seq: u64,
    /// Every datagram sent, in sending order.
    pub wire: Vec<Wire>,
    steps_at_now: usize,
}

impl Sim {
    pub fn new(config: SimConfig) -> Self {
        let start = Instant::now();
        let a = Side::new(start, "A", "10.0.0.1:5000".parse().expect("addr"), config.a);
        let b = Side::new(start, "B", "10.0.0.2:5000".parse().expect("addr"), config.b);
        Self {
            start,
            now: start,
            latency: config.latency,
            sides: [a, b],
            filters: [Box::new(pass()), Box::new(pass())],
            flights: BTreeMap::new(),
            seq: 0,
            wire: Vec::new(),
            steps_at_now: 0,
        }
    }

    /// Two sides with default settings, signalled and run until both are CONNECTED.
    pub fn connected() -> Self {
        let mut sim = Self::new(SimConfig::default());
        sim.signal();
        let up = sim.run_until(Duration::from_secs(5), |s| {
            s.a().state() == crate::types::ConnectionState::Connected
                && s.b().state() == crate::types::ConnectionState::Connected
        });
        assert!(
            up,
            "not connected: a {:?} b {:?}",
            sim.a().states(),
            sim.b().states()
        );
        sim
    }

    pub fn side(&self, who: Who) -> &Side {
        &self.sides[who.index()]
    }

    pub fn side_mut(&mut self, who: Who) -> &mut Side {
        &mut self.sides[who.index()]
    }

    pub fn a(&self) -> &Side {
        self.side(A)
    }

    pub fn b(&self) -> &Side {
        self.side(B)
    }

    /// Virtual time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    pub fn latency(&self) -> Duration {
        self.latency
    }

    /// When `who`'s DTLS handshake completed (virtual time since the start).
    pub fn dtls_connected(&self, who: Who) -> Option<Duration> {
        Some(self.side(who).core.dtls_connected_at()? - self.start)
    }

    /// The filter for what `from` sends.
    pub fn set_filter(&mut self, from: Who, filter: impl Filter + 'static) {
        self.filters[from.index()] = Box::new(filter);
    }

    /// Both directions go silent from now on.
    pub fn cut_path(&mut self) {
        self.set_filter(A, drop_all());
        self.set_filter(B, drop_all());
    }

    /// Both directions pass everything again.
    pub fn restore_path(&mut self) {
        self.set_filter(A, pass());
        self.set_filter(B, pass());
    }

    // ----- signalling ----------------------------------------------------------------------

    /// Offer/answer with A offering (`a=setup:actpass`), then each side's host candidate to
    /// the other. See [`Self::signal_with`].
    pub fn signal(&mut self) {
        self.signal_with(|_, _| {});
    }

    /// Like [`Self::signal`], with `edit` applied to the description each side receives
    /// (`Who` is the receiver) before it is used. DTLS roles follow the (edited) `setup` as
    /// the handle works them out: the answerer is the client unless the offer says `active`;
    /// the offerer is the client if the answer says `passive`.
    pub fn signal_with(&mut self, mut edit: impl FnMut(Who, &mut RemoteDescription)) {
        let now = self.now;
        for side in self.sides.iter_mut() {
            side.core.start_gathering("0".to_owned(), 0);
            side.core.add_local_candidate(
                CandidateKind::Host,
                side.addr,
                None,
                &Announce::Addresses,
            );
            side.core.finish_gathering();
        }
        let mut offer = self.a().description(Setup::ActPass);
        edit(B, &mut offer);
        let b_client = offer.setup != Setup::Active;
        let answer_setup = if b_client {
            Setup::Active
        } else {
            Setup::Passive
        };
        let mut answer = self.b().description(answer_setup);
        edit(A, &mut answer);
        let a_client = answer.setup == Setup::Passive;
        self.side_mut(B)
            .core
            .set_remote(now, offer, false, b_client);
        self.side_mut(A)
            .core
            .set_remote(now, answer, true, a_client);
        self.settle();
    }

    /// Trickles a candidate line to `to`, as the driver does with one from the signalling.
    fn add_candidate(&mut self, to: Who, line: &str) {
        let now = self.now;
        if let Ok(crate::candidate::RemoteCandidate::Udp(text)) = crate::candidate::parse(line) {
            self.side_mut(to).core.add_remote_candidate(now, &text);
        }
    }

    // ----- commands (what the handles send the task) ---------------------------------------

    /// A channel on `who`, in-band unless `negotiated` names its stream id.
    pub fn create_channel(&mut self, who: Who, label: &str, negotiated: Option<u16>) -> ChannelKey {
        self.create_channel_with(who, label, true, negotiated)
    }

    pub fn create_channel_with(
        &mut self,
        who: Who,
        label: &str,
        ordered: bool,
        negotiated: Option<u16>,
    ) -> ChannelKey {
        let now = self.now;
        let side = self.side_mut(who);
        let (key, info, link) = side.new_channel(label, ordered, negotiated);
        side.core.create_channel(now, key, info, negotiated, link);
        self.settle();
        key
    }

    /// An in-band channel with the reliability `info` gives (its `negotiated` must be false).
    pub fn create_channel_from(&mut self, who: Who, info: ChannelInfo) -> ChannelKey {
        let now = self.now;
        let side = self.side_mut(who);
        let (key, info, link) = side.new_channel_from(info);
        side.core.create_channel(now, key, info, None, link);
        self.settle();
        key
    }

    /// Sends a message, counting it in the channel's buffered amount as `send` does.
    pub fn send(&mut self, who: Who, key: ChannelKey, data: &[u8], is_text: bool) {
        let now = self.now;
        let side = self.side_mut(who);
        if let Some(link) = side.link(key) {
            link.buffered.fetch_add(data.len(), Ordering::AcqRel);
        }
        side.core
            .send(now, key, Bytes::copy_from_slice(data), is_text);
        self.settle();
    }

    pub fn close_channel(&mut self, who: Who, key: ChannelKey) {
        let now = self.now;
        self.side_mut(who).core.close_channel(now, key);
        self.settle();
    }

    pub fn close(&mut self, who: Who) {
        let now = self.now;
        self.side_mut(who).core.close(now);
        self.settle();
    }
}
