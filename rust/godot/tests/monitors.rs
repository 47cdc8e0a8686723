//! The editor's `WebRTC/...` monitors from real connections. One test in this binary (its own
//! process), so the process-wide totals are this test's alone.

mod common;
use common::*;
use std::time::{Duration, Instant};
use webrtc_rs::monitors::{Monitor, Monitors};
use webrtc_rs_engine::process_totals;

#[test]
fn monitors_follow_the_connections_of_the_process() {
    let mut m = Monitors::new();
    let value = |m: &mut Monitors, monitor| m.value(monitor, Instant::now(), &process_totals());
    assert_eq!(
        value(&mut m, Monitor::ConnectionsOpen),
        0.0,
        "no connection yet"
    );
    assert_eq!(value(&mut m, Monitor::MeanRttMs), 0.0);
    let mut pair = Pair::new();
    let (a, _b) = pair.connect_negotiated(2);
    value(&mut m, Monitor::BytesOutPerSecond);
    value(&mut m, Monitor::BytesInPerSecond);
    // 20 KiB a second for a little over one window.
    let started = Instant::now();
    let mut next = started;
    assert!(pair.pump(|_, _| {
        if Instant::now() >= next {
            a.send(&[1; 2048]).expect("send");
            next += Duration::from_millis(100);
        }
        started.elapsed() > Duration::from_millis(1100)
    }));
    assert_eq!(value(&mut m, Monitor::ConnectionsOpen), 2.0);
    assert_eq!(value(&mut m, Monitor::RelayedConnections), 0.0);
    let rtt = value(&mut m, Monitor::MeanRttMs);
    assert!(rtt > 0.0 && rtt < 100.0, "{rtt}");
    // Both ends are in this process: what one sends the other receives.
    let out = value(&mut m, Monitor::BytesOutPerSecond);
    let inn = value(&mut m, Monitor::BytesInPerSecond);
    assert!(out > 15_000.0 && out < 60_000.0, "{out} B/s out");
    assert!(inn > 15_000.0 && inn < 60_000.0, "{inn} B/s in");
    pair.a.close();
    assert!(pair.pump(|_, b| b.connection_state() != webrtc_rs_engine::ConnectionState::Connected));
    // The closed connections leave the totals once their tasks end.
    assert!(pump().try_wait(|| process_totals().connections_open == 0));
    assert_eq!(value(&mut m, Monitor::MeanRttMs), 0.0);
}
