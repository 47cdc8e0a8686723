//! Test helpers: two real engine peers over loopback UDP, signalled in-process by the shared
//! test pump (`webrtc-rs-test-pump`), for which [`Peer`] is a [`Side`].
#![allow(dead_code)]

pub mod dns;
pub mod netns;
mod peer;
pub mod relay;
pub mod stun_server;
pub mod turn_server;

pub use peer::Peer;
#[allow(unused_imports)]
pub use relay::through;
use std::net::{IpAddr, Ipv4Addr};
use webrtc_rs_engine::*;
pub use webrtc_rs_test_pump::*;

pub fn config() -> Config {
    Config {
        bind_address: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        ..Config::default()
    }
}

pub fn connected(a: &Peer, b: &Peer) -> bool {
    a.is_connected() && b.is_connected()
}

/// Two fresh peers with the default test config, `a` with an in-band channel `label` created
/// before signalling.
pub fn peers_with_channel(label: &str) -> (Peer, Peer, DataChannel) {
    let mut a = Peer::new(config());
    let b = Peer::new(config());
    let ch =
        a.pc.create_data_channel(label, ChannelOptions::default())
            .expect("create channel");
    (a, b, ch)
}

/// Two connected peers with the default test config.
pub fn connect_pair() -> (Peer, Peer) {
    let mut a = Peer::new(config());
    let mut b = Peer::new(config());
    connect(&mut a, &mut b);
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
    let ch =
        a.pc.create_data_channel(label, opts)
            .expect("create channel");
    let remote = until_open(a, b, &ch);
    (ch, remote)
}

/// Pumps until `ch` (an in-band channel of `a`) is open and `b` has received its other end,
/// which it returns.
pub fn until_open(a: &mut Peer, b: &mut Peer, ch: &DataChannel) -> DataChannel {
    let before = b.incoming.len();
    pump_until(a, b, "in-band channel open", |_, b| {
        ch.ready_state() == ChannelState::Open && b.incoming.len() > before
    });
    b.incoming[before].clone()
}
