mod common;
use common::*;
use webrtc_rs_engine::*;

#[test]
fn text_binary_empty_and_maximum_size() {
    let (mut a, mut b) = connect_pair();
    let (x, y) = open_in_band(&mut a, &mut b, "m", ChannelOptions::default());
    assert_eq!(
        x.max_message_size(),
        DEFAULT_LOCAL_MAX_MESSAGE_SIZE as usize
    );
    assert_eq!(
        y.max_message_size(),
        DEFAULT_LOCAL_MAX_MESSAGE_SIZE as usize
    );
    let max = x.max_message_size();
    let big: Vec<u8> = (0..max).map(|i| (i * 31 % 251) as u8).collect();
    let with_nul = b"a\0b\0c".to_vec();
    x.send(b"", true).unwrap();
    x.send(b"", false).unwrap();
    x.send(&with_nul, true).unwrap();
    x.send(&with_nul, false).unwrap();
    x.send(&big, false).unwrap();
    let err = x.send(&vec![0u8; max + 1], false).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooLarge);
    // The channel still works after a refused send.
    x.send(b"after", true).unwrap();
    let got = recv_n(&mut a, &mut b, &y, 6);
    assert_eq!((got[0].data.len(), got[0].is_text), (0, true));
    assert_eq!((got[1].data.len(), got[1].is_text), (0, false));
    assert_eq!(
        (got[2].data.as_ref(), got[2].is_text),
        (&with_nul[..], true)
    );
    assert_eq!(
        (got[3].data.as_ref(), got[3].is_text),
        (&with_nul[..], false)
    );
    assert_eq!(got[4].data.as_ref(), &big[..]);
    assert_eq!(got[5].data.as_ref(), b"after");
    assert_eq!(x.ready_state(), ChannelState::Open);
    pump_until(&mut a, &mut b, "buffer drained", |_, _| {
        x.buffered_amount() == 0
    });
}

#[test]
fn ten_thousand_mixed_messages_in_order() {
    let (mut a, mut b) = connect_pair();
    let (x, y) = open_in_band(&mut a, &mut b, "bulk", ChannelOptions::default());
    const N: usize = 10_000;
    let sizes = [1usize, 17, 100, 1200, 5000, 33_000];
    let message = |i: usize| -> Vec<u8> {
        let len = sizes[i % sizes.len()];
        let mut v = vec![(i % 256) as u8; len];
        v[..4.min(len)].copy_from_slice(&(i as u32).to_be_bytes()[..4.min(len)]);
        v
    };
    let mut sent = 0;
    let mut got = 0;
    pump_until(&mut a, &mut b, "10000 messages", |_, _| {
        // Keep a bounded amount in flight, as an application would.
        while sent < N && x.buffered_amount() < 1 << 20 {
            x.send(&message(sent), sent % 2 == 0).unwrap();
            sent += 1;
        }
        while let Some(m) = y.recv() {
            assert_eq!(
                m.data.as_ref(),
                &message(got)[..],
                "message {got} intact and in order"
            );
            assert_eq!(m.is_text, got % 2 == 0);
            got += 1;
        }
        got == N
    });
}

#[test]
fn remote_without_max_message_size_means_64k() {
    let (mut a, mut b, ch) = peers_with_channel("c");
    // The answer reaches the offerer without its a=max-message-size.
    Pump::new()
        .rewrite_answer(|sdp| {
            sdp.lines()
                .filter(|l| !l.starts_with("a=max-message-size"))
                .map(|l| format!("{l}\r\n"))
                .collect()
        })
        .signal(&mut a, &mut b);
    let remote = until_open(&mut a, &mut b, &ch);
    assert_eq!(
        ch.max_message_size(),
        DEFAULT_REMOTE_MAX_MESSAGE_SIZE as usize
    );
    assert_eq!(
        ch.send(&vec![1u8; 65_537], false).unwrap_err().kind(),
        ErrorKind::TooLarge
    );
    ch.send(&vec![1u8; 65_536], false).unwrap();
    assert_eq!(recv_n(&mut a, &mut b, &remote, 1)[0].data.len(), 65_536);
}

#[test]
fn send_before_open_and_after_close() {
    let mut a = Peer::new(config());
    let ch =
        a.pc.create_data_channel("c", ChannelOptions::default())
            .unwrap();
    assert_eq!(
        ch.send(b"x", true).unwrap_err().kind(),
        ErrorKind::InvalidState
    );
    ch.close();
    a.pc.poll();
    assert_eq!(ch.send(b"x", true).unwrap_err().kind(), ErrorKind::Closed);
}
