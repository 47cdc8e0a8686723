mod common;
use common::*;
use webrtc_rs_engine::*;

#[test]
fn in_band_channel_text_and_binary() {
    let (mut a, mut b, ch) = peers_with_channel("chat");
    assert_eq!(a.pc.connection_state(), ConnectionState::New);
    signal(&mut a, &mut b);
    let remote = until_open(&mut a, &mut b, &ch);
    assert_eq!(remote.label(), "chat");
    assert_eq!(remote.ready_state(), ChannelState::Open);
    ch.send(b"hello", true).unwrap();
    ch.send(&[0, 1, 2, 255], false).unwrap();
    let got = recv_n(&mut a, &mut b, &remote, 2);
    assert_eq!(got[0].data.as_ref(), b"hello");
    assert!(got[0].is_text);
    assert_eq!(got[1].data.as_ref(), &[0, 1, 2, 255]);
    assert!(!got[1].is_text);
    remote.send(b"back", true).unwrap();
    let got = recv_n(&mut a, &mut b, &ch, 1);
    assert_eq!(got[0].data.as_ref(), b"back");
}
