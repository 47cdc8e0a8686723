//! A panic on the network thread (in our code or an rtc crate) fails only the connection whose
//! task panicked: it reports FAILED with its channels CLOSED, while the other connections on
//! the same thread keep working and new ones still connect.

mod common;
use common::*;
use webrtc_rs_engine::*;

fn exchange(a: &mut Peer, b: &mut Peer, label: &str) {
    let (ch, remote) = open_in_band(a, b, label, ChannelOptions::default());
    ch.send(label.as_bytes(), true).expect("send");
    let got = recv_n(a, b, &remote, 1);
    assert_eq!(&got[0].data[..], label.as_bytes());
}

#[test]
fn a_panicking_connection_fails_alone() {
    let (mut a1, mut b1) = connect_pair();
    let (mut a2, mut b2) = connect_pair();
    let (ch, _remote) = open_in_band(&mut a1, &mut b1, "doomed", ChannelOptions::default());

    a1.pc.inject_network_panic_for_test();
    pump_until(&mut a1, &mut b1, "the panicked side to fail", |a, _| {
        a.pc.connection_state() == ConnectionState::Failed
    });
    assert_eq!(ch.ready_state(), ChannelState::Closed);
    let reasons: Vec<_> = a1.errors.iter().map(|e| e.reason).collect();
    assert_eq!(reasons, [ErrorReason::Internal], "{:?}", a1.errors);
    assert_eq!(
        a1.pc.failure_report().error.map(|e| e.reason),
        Some(ErrorReason::Internal)
    );
    let err = ch
        .send(b"after the panic", false)
        .expect_err("send on a dead connection");
    assert_eq!(err.kind(), ErrorKind::Closed);

    exchange(&mut a2, &mut b2, "the other connection still works");
    let (mut a3, mut b3) = connect_pair();
    exchange(&mut a3, &mut b3, "a new connection still connects");
}
