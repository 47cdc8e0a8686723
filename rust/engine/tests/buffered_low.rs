//! `Event::BufferedAmountLow` (W3C `bufferedamountlow`) between two engine peers over real UDP
//! on loopback: raised once each time a channel's buffered amount falls from above its
//! threshold to at or below it, and never otherwise.
//!
//! Each step here queues ONE message, so the buffered amount rises in one step and then only
//! falls: exactly one crossing, whatever the scheduling. With several `send`s in a row the
//! count depends on timing (the test thread may be preempted for a round trip between two
//! sends, the first message acknowledged before the second is queued: two falls, two events,
//! rightly), so those counts are proved on the virtual clock (`src/sim/buffered.rs`).

mod common;

use common::*;
use std::time::Duration;
use webrtc_rs_engine::*;

const KIB: usize = 1024;

/// Two connected peers and a reliable channel open at both ends (`x` on `a`).
fn pair() -> (Peer, Peer, DataChannel, DataChannel) {
    let (mut a, mut b, x) = peers_with_channel("low");
    connect(&mut a, &mut b);
    pump_until(&mut a, &mut b, "the channel open", |_, b| {
        x.ready_state() == ChannelState::Open && !b.incoming.is_empty()
    });
    let y = b.incoming[0].clone();
    (a, b, x, y)
}

/// Pumps until `x` has nothing buffered and `y` got `bytes`, then 300 ms more (time for any
/// stray event); returns the events `a` raised meanwhile.
fn settle(a: &mut Peer, b: &mut Peer, x: &DataChannel, y: &DataChannel, bytes: usize) -> usize {
    let mut got = 0;
    let before = a.buffered_low.len();
    pump_until(a, b, "everything acknowledged", |_, _| {
        got += std::iter::from_fn(|| y.recv())
            .map(|m| m.data.len())
            .sum::<usize>();
        got == bytes && x.buffered_amount() == 0
    });
    Pump::new().hold(a, b, Duration::from_millis(300), |_, _| {});
    a.buffered_low.len() - before
}

#[test]
fn with_the_default_threshold_it_fires_once_each_time_the_buffer_empties() {
    let (mut a, mut b, x, y) = pair();
    assert_eq!(x.buffered_amount_low_threshold(), 0);
    x.send(&[1; 10 * KIB], false).expect("send");
    assert_eq!(settle(&mut a, &mut b, &x, &y, 10 * KIB), 1);
    assert!(a.buffered_low.iter().all(|c| c.label() == "low"));
    // Again: the buffer empties a second time, a second event.
    x.send(&[2; 30 * KIB], false).expect("send");
    assert_eq!(settle(&mut a, &mut b, &x, &y, 30 * KIB), 1);
    // The other end sent nothing: it raised nothing.
    assert!(b.buffered_low.is_empty());
}

#[test]
fn with_a_larger_threshold_it_fires_once_on_the_way_down_and_not_below() {
    let (mut a, mut b, x, y) = pair();
    x.set_buffered_amount_low_threshold(64 * KIB);
    assert_eq!(x.buffered_amount_low_threshold(), 64 * KIB);
    // Never above the threshold: nothing.
    x.send(&[3; 10 * KIB], false).expect("send");
    assert_eq!(settle(&mut a, &mut b, &x, &y, 10 * KIB), 0);
    // 240 KiB in one message: one event, once at most 64 KiB are left; none more on the way
    // to 0.
    x.send(&[4; 240 * KIB], false).expect("send");
    let mut left_at_event = None;
    pump_until(&mut a, &mut b, "the event", |a, _| {
        std::iter::from_fn(|| y.recv()).count();
        left_at_event = Some(x.buffered_amount());
        !a.buffered_low.is_empty()
    });
    let left = left_at_event.expect("polled");
    assert!(left <= 64 * KIB, "{left} bytes still buffered at the event");
    pump_until(&mut a, &mut b, "everything acknowledged", |_, _| {
        std::iter::from_fn(|| y.recv()).count();
        x.buffered_amount() == 0
    });
    Pump::new().hold(&mut a, &mut b, Duration::from_millis(300), |_, _| {
        std::iter::from_fn(|| y.recv()).count();
    });
    assert_eq!(a.buffered_low.len(), 1, "one crossing, one event");
}

/// The pattern the event exists for: refill whenever it fires. Each refill (one message, so
/// the amount rises in one step) takes the amount above the threshold again, so each is
/// followed by exactly one event.
#[test]
fn refilling_on_each_event_gets_one_event_per_refill() {
    const ROUNDS: usize = 10;
    let (mut a, mut b, x, y) = pair();
    x.set_buffered_amount_low_threshold(32 * KIB);
    let refill = |x: &DataChannel| {
        x.send(&[5; 64 * KIB], false).expect("send");
    };
    refill(&x);
    let mut refills = 1;
    let mut seen = 0;
    pump_until(&mut a, &mut b, "every round", |a, _| {
        std::iter::from_fn(|| y.recv()).count();
        while seen < a.buffered_low.len() {
            seen += 1;
            if refills < ROUNDS {
                refill(&x);
                refills += 1;
            }
        }
        seen == ROUNDS && x.buffered_amount() == 0
    });
    Pump::new().hold(&mut a, &mut b, Duration::from_millis(300), |_, _| {
        std::iter::from_fn(|| y.recv()).count();
    });
    assert_eq!(a.buffered_low.len(), ROUNDS);
}
