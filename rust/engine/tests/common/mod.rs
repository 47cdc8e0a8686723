//! Test helpers: two real engine peers over loopback UDP, signalled in-process.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};
use webrtc_rs_engine::*;

/// Generous: only reached when something is broken.
pub const TIMEOUT: Duration = Duration::from_secs(20);

pub fn config() -> Config {
    Config {
        bind_address: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        ..Config::default()
    }
}

/// One peer plus what its events delivered.
pub struct Peer {
    pub pc: PeerConnection,
    pub description: Option<(SdpType, String)>,
    pub candidates: Vec<String>,
    pub incoming: Vec<DataChannel>,
    pub gathering_complete: bool,
}

impl Peer {
    pub fn new(config: Config) -> Self {
        Self {
            pc: PeerConnection::new(config).expect("create peer"),
            description: None,
            candidates: Vec::new(),
            incoming: Vec::new(),
            gathering_complete: false,
        }
    }

    pub fn poll(&mut self) {
        for ev in self.pc.poll() {
            match ev {
                Event::SessionDescription { sdp_type, sdp } => {
                    self.description = Some((sdp_type, sdp))
                }
                Event::IceCandidate { candidate, .. } => self.candidates.push(candidate),
                Event::GatheringComplete => self.gathering_complete = true,
                Event::DataChannel(c) => self.incoming.push(c),
            }
        }
    }

    pub fn take_description(&mut self) -> Option<(SdpType, String)> {
        self.description.take()
    }
}

/// Hands a trickled candidate to the other side, as a signaling channel would. A connection
/// that has already ended (a test of failure can get there within milliseconds) refuses late
/// candidates with `Closed`; any other error is a bug.
pub fn forward_candidate(to: &mut PeerConnection, candidate: &str) {
    if let Err(e) = to.add_ice_candidate("0", 0, candidate) {
        assert_eq!(e.kind(), ErrorKind::Closed, "add candidate: {e}");
    }
}

/// Polls both peers, forwarding candidates, until `cond` holds. Panics on timeout.
pub fn pump_until(
    a: &mut Peer,
    b: &mut Peer,
    what: &str,
    mut cond: impl FnMut(&mut Peer, &mut Peer) -> bool,
) {
    let start = Instant::now();
    loop {
        a.poll();
        b.poll();
        for c in a.candidates.drain(..) {
            forward_candidate(&mut b.pc, &c);
        }
        for c in b.candidates.drain(..) {
            forward_candidate(&mut a.pc, &c);
        }
        if cond(a, b) {
            return;
        }
        assert!(
            start.elapsed() < TIMEOUT,
            "timed out waiting for {what}: a={:?} b={:?}",
            a.pc,
            b.pc
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Offer/answer between `a` (offerer) and `b`, with trickled candidates.
pub fn signal(a: &mut Peer, b: &mut Peer) {
    a.pc.create_offer().expect("create offer");
    pump_until(a, b, "offer", |a, _| a.description.is_some());
    let (t, offer) = a.take_description().unwrap();
    assert_eq!(t, SdpType::Offer);
    a.pc.set_local_description(SdpType::Offer, &offer)
        .expect("set local offer");
    b.pc.set_remote_description(SdpType::Offer, &offer)
        .expect("set remote offer");
    pump_until(a, b, "answer", |_, b| b.description.is_some());
    let (t, answer) = b.take_description().unwrap();
    assert_eq!(t, SdpType::Answer);
    b.pc.set_local_description(SdpType::Answer, &answer)
        .expect("set local answer");
    a.pc.set_remote_description(SdpType::Answer, &answer)
        .expect("set remote answer");
}

pub fn connected(a: &Peer, b: &Peer) -> bool {
    a.pc.connection_state() == ConnectionState::Connected
        && b.pc.connection_state() == ConnectionState::Connected
}

/// Two connected peers with the default test config.
pub fn connect_pair() -> (Peer, Peer) {
    let mut a = Peer::new(config());
    let mut b = Peer::new(config());
    signal(&mut a, &mut b);
    pump_until(&mut a, &mut b, "connected", |a, b| connected(a, b));
    (a, b)
}

/// Receives `n` messages from `ch` (owned by `rx`), pumping both peers.
pub fn recv_n(a: &mut Peer, b: &mut Peer, ch: &DataChannel, n: usize) -> Vec<Message> {
    let mut out = Vec::new();
    pump_until(a, b, "messages", |_, _| {
        while let Some(m) = ch.recv() {
            out.push(m);
        }
        out.len() >= n
    });
    out
}

/// Creates an in-band channel on `a` after connection and waits until both ends are open.
pub fn open_in_band(
    a: &mut Peer,
    b: &mut Peer,
    label: &str,
    opts: ChannelOptions,
) -> (DataChannel, DataChannel) {
    let before = b.incoming.len();
    let ch =
        a.pc.create_data_channel(label, opts)
            .expect("create channel");
    pump_until(a, b, "in-band channel open", |_, b| {
        ch.ready_state() == ChannelState::Open && b.incoming.len() > before
    });
    let remote = b.incoming[before].clone();
    (ch, remote)
}
