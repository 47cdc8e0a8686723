//! The glue's Godot-free core for the network simulator (`simulate`,
//! `set_network_simulation`) and `buffered_amount_low`, over loopback UDP.

mod common;
use common::*;
use std::time::{Duration, Instant};
use webrtc_rs::config::parse_config;
use webrtc_rs::session::SessionChannel;
use webrtc_rs::simulate::parse_simulation;
use webrtc_rs::value::Value;
use webrtc_rs_engine::{ChannelState, ErrorKind};

fn dict(entries: &[(&str, Value)]) -> Value {
    Value::Dict(
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}

/// The time `a` takes to get its message echoed by `b`.
fn round_trip(pair: &mut Pair, a: &mut SessionChannel, b: &mut SessionChannel) -> Duration {
    let started = Instant::now();
    a.send(b"ping").expect("ping");
    assert!(pair.pump(|_, _| {
        if let Some(ping) = b.next_packet().map(<[u8]>::to_vec) {
            b.send(&ping).expect("pong");
        }
        a.next_packet().is_some()
    }));
    started.elapsed()
}

#[test]
fn a_script_turns_the_simulator_on_and_off_while_connected() {
    let mut pair = Pair::new();
    let (mut x, mut y) = pair.connect_negotiated(1);
    let on = parse_simulation(&dict(&[("delay_ms", Value::Int(40))])).expect("valid");
    pair.a.set_network_simulation(on).expect("on");
    let slow = round_trip(&mut pair, &mut x, &mut y);
    pair.a
        .set_network_simulation(parse_simulation(&dict(&[])).expect("valid"))
        .expect("off");
    // What was held still arrives; then the path is fast again.
    let _ = round_trip(&mut pair, &mut x, &mut y);
    let fast = round_trip(&mut pair, &mut x, &mut y);
    assert!(slow >= Duration::from_millis(80), "simulated: {slow:?}");
    assert!(fast < Duration::from_millis(40), "after: {fast:?}");
    assert_eq!(x.ready_state(), ChannelState::Open);

    let bad = parse_simulation(&dict(&[("loss", Value::Float(1.5))])).expect("types are fine");
    let e = pair.a.set_network_simulation(bad).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidParameter);
    assert_eq!(
        e.message(),
        "simulate.loss must be between 0 and 1, got 1.5"
    );
}

#[test]
fn initialize_takes_simulate_and_the_engine_judges_it() {
    let entries = |simulate: Value| {
        vec![
            ("bindAddress".to_string(), Value::Str("127.0.0.1".into())),
            ("simulate".to_string(), simulate),
        ]
    };
    let config = parse_config(&entries(dict(&[("jitter_ms", Value::Int(20_000))])))
        .expect("types are fine")
        .config;
    let mut pair = Pair::new();
    let e = pair.a.reinitialize(config).unwrap_err();
    assert_eq!(
        e.message(),
        "simulate.jitter_ms must be between 0 and 10000, got 20000"
    );
    let config = parse_config(&entries(dict(&[("delay_ms", Value::Int(30))])))
        .expect("ok")
        .config;
    pair.a.reinitialize(config).expect("accepted");
    let (mut x, mut y) = pair.connect_negotiated(2);
    let rtt = round_trip(&mut pair, &mut x, &mut y);
    assert!(rtt >= Duration::from_millis(60), "{rtt:?}");
}

/// The signal names its channel, so the glue emits it on that channel's object only.
#[test]
fn buffered_amount_low_names_the_channel_that_drained() {
    let mut pair = Pair::new();
    let (x, _) = pair.connect_negotiated(3);
    let other = pair
        .a
        .create_data_channel("other", options(&[]))
        .expect("channel");
    assert_eq!(x.buffered_amount_low_threshold(), 0);
    x.set_buffered_amount_low_threshold(1_000)
        .expect("threshold");
    assert_eq!(x.buffered_amount_low_threshold(), 1_000);
    let e = x.set_buffered_amount_low_threshold(-1).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidParameter);
    assert_eq!(x.buffered_amount_low_threshold(), 1_000, "unchanged");
    x.send(&[7; 20_000]).expect("send");
    assert!(pair.pump(|a, _| !a.buffered_low.is_empty() && x.buffered_amount() == 0));
    assert!(pair.pump(|_, _| other.ready_state() == ChannelState::Open));
    assert_eq!(pair.a.buffered_low.len(), 1);
    assert!(x.is(&pair.a.buffered_low[0]));
    assert!(!other.is(&pair.a.buffered_low[0]));
}
