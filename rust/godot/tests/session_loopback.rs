//! The glue's Godot-free core (`Session`, `SessionChannel`) driving two real engine connections
//! over loopback UDP in one process: real ICE, DTLS and SCTP, nothing mocked.

mod common;
use common::*;
use std::time::Duration;
use webrtc_rs::mapping::UNSET;
use webrtc_rs::session::{Session, SessionChannel, WriteMode};
use webrtc_rs::value::Value;
use webrtc_rs_engine::{ChannelOptions, ChannelState, Config, ConnectionState, ErrorKind};
use webrtc_rs_test_pump::{Pump, Side};

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
        .pump(|_, b| b.incoming.len() == 1 && b.incoming[0].ready_state() == ChannelState::Open));
    assert!(pair.pump(|_, _| chat.ready_state() == ChannelState::Open));
    let mut remote = pair.b.incoming.remove(0);
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
    assert!(pair.pump(|_, _| {
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
    let (old_a, old_b) = pair.connect_negotiated(4);
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
        pair.pump(|_, _| old_b.ready_state() == ChannelState::Closed),
        "the remote sees the old connection go"
    );
    // Reconnect on the same sessions.
    pair.b.reinitialize(loopback()).expect("reinitialize b");
    let (new_a, mut new_b) = pair.connect_negotiated(4);
    new_a.send(b"again").expect("send");
    let mut got = Vec::new();
    assert!(pair.pump(|_, _| {
        got.extend(drain(&mut new_b));
        !got.is_empty()
    }));
    assert_eq!(got, vec![(b"again".to_vec(), false)]);
}

#[test]
fn close_is_immediate_locally_and_reaches_the_remote() {
    let mut pair = Pair::new();
    let (a, b) = pair.connect_negotiated(1);
    pair.a.close();
    assert_eq!(pair.a.connection_state(), ConnectionState::Closed);
    assert_eq!(a.ready_state(), ChannelState::Closed);
    assert!(pair.a.poll().is_empty(), "no signals after close");
    assert_eq!(
        pair.a.create_offer().expect_err("closed").kind(),
        ErrorKind::Closed
    );
    assert!(
        pair.pump(|_, side_b| b.ready_state() == ChannelState::Closed
            && side_b.connection_state() != ConnectionState::Connected)
    );
}

#[test]
fn dropping_a_session_without_close_reaches_the_remote() {
    let mut pair = Pair::new();
    let (a, b) = pair.connect_negotiated(1);
    // Replace A with an unused session: the old one is dropped without close().
    pair.a.session = Session::new(loopback());
    assert_eq!(a.ready_state(), ChannelState::Closed);
    // Only B is polled; the assertion below says what went wrong if the close never arrives.
    pump().try_until_one(&mut pair.b, |_| b.ready_state() == ChannelState::Closed);
    assert_eq!(b.ready_state(), ChannelState::Closed);
}

#[test]
fn a_new_session_offers_before_any_reinitialize() {
    let mut session = Endpoint::new(loopback());
    assert_eq!(session.connection_state(), ConnectionState::New);
    session
        .create_data_channel("c", ChannelOptions::default())
        .expect("channel in NEW");
    session.create_offer().expect("offer");
    Pump::new()
        .with_limit(Duration::from_secs(5))
        .try_until_one(&mut session, |s| s.has_description());
    let (kind, sdp) = session
        .description
        .take()
        .expect("offer signal from poll()");
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
