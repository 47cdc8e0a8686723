//! The glue's Godot-free core (`Session`, `SessionChannel`) driving two real engine connections
//! over loopback UDP in one process: real ICE, DTLS and SCTP, nothing mocked.

use std::time::{Duration, Instant};
use webrtc_rs::mapping::UNSET;
use webrtc_rs::options::parse_channel_options;
use webrtc_rs::session::{Session, SessionChannel, Signal, WriteMode};
use webrtc_rs::value::Value;
use webrtc_rs_engine::{ChannelOptions, ChannelState, Config, ConnectionState, ErrorKind, SdpType};

fn loopback() -> Config {
    Config {
        bind_address: Some(std::net::Ipv4Addr::LOCALHOST.into()),
        ..Config::default()
    }
}

/// Two sessions wired to each other the way a script wires two `WebRTCPeerConnection`s.
struct Pair {
    a: Session,
    b: Session,
    received_a: Vec<SessionChannel>,
    received_b: Vec<SessionChannel>,
}

impl Pair {
    fn new() -> Self {
        Pair {
            a: Session::new(loopback()),
            b: Session::new(loopback()),
            received_a: Vec::new(),
            received_b: Vec::new(),
        }
    }

    fn poll_once(&mut self) {
        for (from_a, signals) in [(true, self.a.poll()), (false, self.b.poll())] {
            let (me, other, inbox) = if from_a {
                (&mut self.a, &mut self.b, &mut self.received_a)
            } else {
                (&mut self.b, &mut self.a, &mut self.received_b)
            };
            for signal in signals {
                match signal {
                    Signal::SessionDescription { sdp_type, sdp } => {
                        let kind: SdpType = sdp_type.parse().expect("our own type");
                        me.set_local_description(kind, &sdp)
                            .expect("set_local_description");
                        other
                            .set_remote_description(kind, &sdp)
                            .expect("set_remote_description");
                    }
                    Signal::IceCandidate {
                        mid,
                        index,
                        candidate,
                    } => {
                        let index = u32::try_from(index).expect("non-negative index");
                        other
                            .add_ice_candidate(&mid, index, &candidate)
                            .expect("add_ice_candidate");
                    }
                    Signal::DataChannel(channel) => inbox.push(channel),
                }
            }
        }
    }

    /// Polls both sides until `done` holds; false after 15 s.
    fn pump(&mut self, mut done: impl FnMut(&mut Pair) -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            self.poll_once();
            if done(self) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        false
    }

    fn connect(&mut self) {
        self.a.create_offer().expect("create_offer");
        assert!(
            self.pump(|p| p.a.connection_state() == ConnectionState::Connected
                && p.b.connection_state() == ConnectionState::Connected),
            "both sides reach CONNECTED"
        );
    }
}

fn options(entries: &[(&str, Value)]) -> ChannelOptions {
    let owned: Vec<(String, Value)> = entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    parse_channel_options(&owned).expect("valid options")
}

fn drain(channel: &mut SessionChannel) -> Vec<(Vec<u8>, bool)> {
    let mut out = Vec::new();
    for _ in 0..channel.available() {
        let bytes = channel
            .next_packet()
            .expect("available() promised a packet")
            .to_vec();
        out.push((bytes, channel.was_string_packet()));
    }
    out
}

#[test]
fn in_band_channel_options_and_text_and_binary_messages() {
    let mut pair = Pair::new();
    let mut chat = pair
        .a
        .create_data_channel(
            "chat",
            options(&[
                ("ordered", Value::Bool(false)),
                ("maxRetransmits", Value::Int(2)),
                ("protocol", Value::Str("p".into())),
            ]),
        )
        .expect("create_data_channel");
    assert_eq!(
        chat.id(),
        UNSET,
        "in-band id is unset before the DTLS role is known"
    );
    assert_eq!(chat.ready_state(), ChannelState::Connecting);
    pair.connect();
    assert!(pair
        .pump(|p| p.received_b.len() == 1 && p.received_b[0].ready_state() == ChannelState::Open));
    assert!(pair.pump(|_| chat.ready_state() == ChannelState::Open));
    let mut remote = pair.received_b.remove(0);
    for ch in [&chat, &remote] {
        assert_eq!(ch.label(), "chat");
        assert_eq!(ch.protocol(), "p");
        assert!(!ch.is_ordered());
        assert!(!ch.is_negotiated());
        assert_eq!(ch.max_retransmits(), 2);
        assert_eq!(ch.max_packet_life_time(), UNSET);
        assert_eq!(ch.max_packet_size(), 262_144);
    }
    assert_eq!(chat.id(), remote.id());
    assert_ne!(chat.id(), UNSET);

    chat.set_write_mode(WriteMode::Text);
    chat.send(b"a\0b").expect("text with NUL");
    chat.set_write_mode(WriteMode::Binary);
    chat.send(&[0xff, 0, 1]).expect("binary");
    let mut got = Vec::new();
    assert!(pair.pump(|_| {
        got.extend(drain(&mut remote));
        got.len() >= 2
    }));
    // Unordered channel: compare as a set.
    got.sort();
    assert_eq!(
        got,
        vec![(b"a\0b".to_vec(), true), (vec![0xff, 0, 1], false)]
    );
    let too_big = vec![0u8; 262_145];
    let err = chat.send(&too_big).expect_err("over the negotiated limit");
    assert_eq!(err.kind(), ErrorKind::TooLarge);
    chat.send(b"still fine").expect("channel keeps working");
}

#[test]
fn reinitialize_drops_old_channels_and_the_remote_sees_the_close() {
    let mut pair = Pair::new();
    let opts = options(&[("negotiated", Value::Bool(true)), ("id", Value::Int(4))]);
    let old_a = pair.a.create_data_channel("n", opts.clone()).expect("a");
    let old_b = pair.b.create_data_channel("n", opts.clone()).expect("b");
    pair.connect();
    assert!(pair
        .pump(|_| old_a.ready_state() == ChannelState::Open
            && old_b.ready_state() == ChannelState::Open));
    let generation = pair.a.generation();
    pair.a.reinitialize(loopback()).expect("reinitialize");
    assert_ne!(pair.a.generation(), generation);
    assert_eq!(pair.a.connection_state(), ConnectionState::New);
    assert_eq!(old_a.ready_state(), ChannelState::Closed, "CLOSED at once");
    assert_eq!(
        old_a.send(b"x").expect_err("old channel").kind(),
        ErrorKind::Closed
    );
    assert!(
        pair.pump(|_| old_b.ready_state() == ChannelState::Closed),
        "the remote sees the old connection go"
    );
    // Reconnect on the same sessions.
    pair.b.reinitialize(loopback()).expect("reinitialize b");
    let new_a = pair.a.create_data_channel("n", opts.clone()).expect("a2");
    let mut new_b = pair.b.create_data_channel("n", opts).expect("b2");
    pair.connect();
    assert!(pair
        .pump(|_| new_a.ready_state() == ChannelState::Open
            && new_b.ready_state() == ChannelState::Open));
    new_a.send(b"again").expect("send");
    let mut got = Vec::new();
    assert!(pair.pump(|_| {
        got.extend(drain(&mut new_b));
        !got.is_empty()
    }));
    assert_eq!(got, vec![(b"again".to_vec(), false)]);
}

#[test]
fn close_is_immediate_locally_and_reaches_the_remote() {
    let mut pair = Pair::new();
    let opts = options(&[("negotiated", Value::Bool(true)), ("id", Value::Int(1))]);
    let a = pair.a.create_data_channel("n", opts.clone()).expect("a");
    let b = pair.b.create_data_channel("n", opts).expect("b");
    pair.connect();
    assert!(pair
        .pump(|_| a.ready_state() == ChannelState::Open && b.ready_state() == ChannelState::Open));
    pair.a.close();
    assert_eq!(pair.a.connection_state(), ConnectionState::Closed);
    assert_eq!(a.ready_state(), ChannelState::Closed);
    assert!(pair.a.poll().is_empty(), "no signals after close");
    assert_eq!(
        pair.a.create_offer().expect_err("closed").kind(),
        ErrorKind::Closed
    );
    assert!(pair.pump(|p| b.ready_state() == ChannelState::Closed
        && p.b.connection_state() != ConnectionState::Connected));
}

#[test]
fn dropping_a_session_without_close_reaches_the_remote() {
    let mut pair = Pair::new();
    let opts = options(&[("negotiated", Value::Bool(true)), ("id", Value::Int(1))]);
    let a = pair.a.create_data_channel("n", opts.clone()).expect("a");
    let b = pair.b.create_data_channel("n", opts).expect("b");
    pair.connect();
    assert!(pair
        .pump(|_| a.ready_state() == ChannelState::Open && b.ready_state() == ChannelState::Open));
    // Replace A with an unused session: the old one is dropped without close().
    pair.a = Session::new(loopback());
    assert_eq!(a.ready_state(), ChannelState::Closed);
    let deadline = Instant::now() + Duration::from_secs(15);
    while b.ready_state() != ChannelState::Closed && Instant::now() < deadline {
        pair.b.poll();
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(b.ready_state(), ChannelState::Closed);
}

#[test]
fn a_new_session_offers_before_any_reinitialize() {
    let mut session = Session::new(loopback());
    assert_eq!(session.connection_state(), ConnectionState::New);
    session
        .create_data_channel("c", ChannelOptions::default())
        .expect("channel in NEW");
    session.create_offer().expect("offer");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut offer = None;
    while offer.is_none() && Instant::now() < deadline {
        for signal in session.poll() {
            if let Signal::SessionDescription { sdp_type, sdp } = signal {
                offer = Some((sdp_type, sdp));
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let (kind, sdp) = offer.expect("offer signal from poll()");
    assert_eq!(kind, "offer");
    assert!(sdp.contains("m=application"), "{sdp}");
}

#[test]
fn a_refused_reinitialize_changes_nothing() {
    let mut session = Session::new(loopback());
    let channel = session
        .create_data_channel("kept", ChannelOptions::default())
        .expect("channel");
    let generation = session.generation();
    let bad = Config {
        ice_servers: vec![webrtc_rs_engine::IceServer {
            urls: vec!["turn:t.example".into()],
            ..Default::default()
        }],
        ..loopback()
    };
    let err = session
        .reinitialize(bad)
        .expect_err("TURN without credentials");
    assert_eq!(err.kind(), ErrorKind::InvalidParameter);
    assert!(err.message().starts_with("iceServers[0]."), "{err}");
    assert_eq!(session.generation(), generation);
    assert_eq!(channel.ready_state(), ChannelState::Connecting);
    session
        .create_offer()
        .expect("the old connection still works");
}
