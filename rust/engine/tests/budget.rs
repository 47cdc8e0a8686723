mod common;
use common::*;
use webrtc_rs_engine::*;

#[test]
fn unread_messages_stay_bounded_and_all_arrive() {
    const BUDGET: usize = 64 * 1024;
    const MSG: usize = 4096;
    const N: usize = 1000; // 4 MB, far above the budget
    let cfg = Config {
        channel_receive_budget: BUDGET,
        ..config()
    };
    let mut a = Peer::new(cfg.clone());
    let mut b = Peer::new(cfg);
    let x =
        a.pc.create_data_channel(
            "flood",
            ChannelOptions {
                negotiated_id: Some(7),
                ..Default::default()
            },
        )
        .unwrap();
    let y =
        b.pc.create_data_channel(
            "flood",
            ChannelOptions {
                negotiated_id: Some(7),
                ..Default::default()
            },
        )
        .unwrap();
    signal(&mut a, &mut b);
    pump_until(&mut a, &mut b, "open", |_, _| {
        x.ready_state() == ChannelState::Open && y.ready_state() == ChannelState::Open
    });
    let msg = |i: usize| vec![(i % 251) as u8; MSG];
    for i in 0..N {
        x.send(&msg(i), false).unwrap();
    }
    // The receiver does not read: what it holds stays near the budget while the sender
    // keeps the rest queued.
    let mut stalled_rounds = 0;
    let mut last = usize::MAX;
    pump_until(&mut a, &mut b, "receiver window closes", |_, _| {
        let held = y.available() * MSG;
        assert!(
            held <= BUDGET + 2 * MSG,
            "receiver holds {held} bytes, budget {BUDGET}"
        );
        if x.buffered_amount() == last {
            stalled_rounds += 1;
        } else {
            stalled_rounds = 0;
            last = x.buffered_amount();
        }
        stalled_rounds > 200
    });
    assert!(
        x.buffered_amount() > N * MSG / 2,
        "sender is throttled, {} bytes still queued",
        x.buffered_amount()
    );
    // Reading resumes the flow; nothing is lost or reordered.
    let mut got = 0;
    pump_until(&mut a, &mut b, "everything arrives", |_, _| {
        assert!(y.available() * MSG <= BUDGET + 2 * MSG);
        while let Some(m) = y.recv() {
            assert_eq!(m.data.as_ref(), &msg(got)[..]);
            got += 1;
        }
        got == N
    });
}
