//! Test helpers: two glue sessions over loopback UDP, signalled in-process by the shared test
//! pump (`webrtc-rs-test-pump`), for which [`Endpoint`] is a [`Side`].

mod endpoint;

pub use endpoint::Endpoint;
use std::time::Duration;
use webrtc_rs::options::parse_channel_options;
use webrtc_rs::session::SessionChannel;
use webrtc_rs::value::Value;
use webrtc_rs_engine::{ChannelOptions, ChannelState, Config};
use webrtc_rs_test_pump::Pump;

pub fn loopback() -> Config {
    Config {
        bind_address: Some(std::net::Ipv4Addr::LOCALHOST.into()),
        ..Config::default()
    }
}

/// How long the glue tests wait for anything.
pub const LIMIT: Duration = Duration::from_secs(15);

/// A pump that gives up after [`LIMIT`].
pub fn pump() -> Pump<'static> {
    Pump::new().with_limit(LIMIT)
}

/// Channel options from a script's dictionary entries.
pub fn options(entries: &[(&str, Value)]) -> ChannelOptions {
    let owned: Vec<(String, Value)> = entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    parse_channel_options(&owned).expect("valid options")
}

/// Two sessions wired to each other the way a script wires two `WebRTCPeerConnection`s.
pub struct Pair {
    pub a: Endpoint,
    pub b: Endpoint,
}

impl Pair {
    pub fn new() -> Self {
        Pair {
            a: Endpoint::new(loopback()),
            b: Endpoint::new(loopback()),
        }
    }

    /// Polls both sides until `done` holds; false after [`LIMIT`].
    pub fn pump(&mut self, done: impl FnMut(&mut Endpoint, &mut Endpoint) -> bool) -> bool {
        pump().try_until(&mut self.a, &mut self.b, done)
    }

    /// Offer from A, answer from B, until both sides are CONNECTED.
    pub fn connect(&mut self) {
        pump().connect(&mut self.a, &mut self.b);
    }

    /// Creates the negotiated channel "n" with `id` on both sides, then connects and pumps
    /// until both ends are open.
    pub fn connect_negotiated(&mut self, id: i64) -> (SessionChannel, SessionChannel) {
        let opts = options(&[("negotiated", Value::Bool(true)), ("id", Value::Int(id))]);
        let a = self.a.create_data_channel("n", opts.clone()).expect("a");
        let b = self.b.create_data_channel("n", opts).expect("b");
        self.connect();
        assert!(self
            .pump(|_, _| a.ready_state() == ChannelState::Open
                && b.ready_state() == ChannelState::Open));
        (a, b)
    }
}
