//! `bufferedamountlow` on the virtual clock, for the counts that depend on when sends happen:
//! several messages queued at one instant (over real UDP the sending thread can be preempted
//! for a round trip between two sends, and then two falls, two events, are right) and an
//! application that refills on each event. Here every send of a batch happens at one virtual
//! instant, so the count of events is exact.

use super::*;
use crate::mailbox::Update;
use crate::types::ChannelState;

const KIB: usize = 1024;

/// Connected, with a reliable channel from A open at both ends; its low threshold set.
fn channel(threshold: usize) -> (Sim, ChannelKey, ChannelKey) {
    let mut sim = Sim::connected();
    let x = sim.create_channel(A, "low", None);
    assert!(sim.run_until(Duration::from_secs(1), |s| {
        s.a().channel_state(x) == ChannelState::Open && !s.b().remote_channels().is_empty()
    }));
    let y = sim.b().remote_channels()[0].0;
    sim.a()
        .link(x)
        .expect("link")
        .low_threshold
        .store(threshold, Ordering::Release);
    (sim, x, y)
}

/// When `who` raised `bufferedamountlow` for `key`.
fn lows(side: &Side, key: ChannelKey) -> Vec<Duration> {
    side.updates
        .iter()
        .filter_map(|(t, u)| match u {
            Update::BufferedAmountLow { key: k } if *k == key => Some(*t),
            _ => None,
        })
        .collect()
}

/// `n` messages of `len` bytes from A, all at the current virtual instant.
fn send_batch(sim: &mut Sim, x: ChannelKey, n: usize, len: usize, byte: u8) {
    let at = sim.elapsed();
    for _ in 0..n {
        sim.send(A, x, &vec![byte; len], false);
    }
    assert_eq!(sim.elapsed(), at, "a batch spans one instant");
}

/// Runs until A's buffer is empty and B has `count` messages, then a second more (time for a
/// stray event); returns when the buffer emptied.
fn settle(sim: &mut Sim, x: ChannelKey, y: ChannelKey, count: usize) -> Duration {
    let done = sim.run_until(Duration::from_secs(10), |s| {
        s.a().buffered(x) == 0 && s.b().messages(y).len() == count
    });
    assert!(
        done,
        "buffered {}, {} of {count} received",
        sim.a().buffered(x),
        sim.b().messages(y).len()
    );
    let emptied = sim.elapsed();
    sim.run_for(Duration::from_secs(1));
    emptied
}

#[test]
fn with_the_default_threshold_messages_queued_together_raise_one_event() {
    let (mut sim, x, y) = channel(0);
    send_batch(&mut sim, x, 1, 10 * KIB, 1);
    let emptied = settle(&mut sim, x, y, 1);
    assert_eq!(lows(sim.a(), x), [emptied]);
    // Three messages at one instant: one fall to zero, one event, when the buffer empties.
    send_batch(&mut sim, x, 3, 10 * KIB, 2);
    assert!(sim.a().buffered(x) >= 30 * KIB);
    let emptied = settle(&mut sim, x, y, 4);
    assert_eq!(lows(sim.a(), x)[1..], [emptied]);
    // The other end sent nothing: it raised nothing.
    assert!(lows(sim.b(), y).is_empty());
}

#[test]
fn with_a_larger_threshold_twenty_messages_at_once_raise_one_event_on_the_way_down() {
    let (mut sim, x, y) = channel(64 * KIB);
    // Never above the threshold: nothing.
    send_batch(&mut sim, x, 1, 10 * KIB, 3);
    settle(&mut sim, x, y, 1);
    assert!(lows(sim.a(), x).is_empty());
    // 320 KiB at one instant: one event, once at most 64 KiB are left (one acknowledgement
    // may release the rest at once), and none more on the way to 0.
    send_batch(&mut sim, x, 20, 16 * KIB, 4);
    assert!(sim.run_until(Duration::from_secs(10), |s| !lows(s.a(), x).is_empty()));
    let left = sim.a().buffered(x);
    assert!(left <= 64 * KIB, "{left} bytes buffered at the event");
    settle(&mut sim, x, y, 21);
    assert_eq!(lows(sim.a(), x).len(), 1, "one crossing, one event");
}

/// The pattern the event exists for: refill whenever it fires. Each refill (four messages at
/// the instant of the event) takes the amount above the threshold again, so each is followed
/// by exactly one event.
#[test]
fn refilling_with_several_messages_on_each_event_gets_one_event_per_refill() {
    const ROUNDS: usize = 10;
    let (mut sim, x, y) = channel(32 * KIB);
    send_batch(&mut sim, x, 4, 16 * KIB, 5);
    for round in 1..=ROUNDS {
        let fired = sim.run_until(Duration::from_secs(10), |s| lows(s.a(), x).len() >= round);
        assert!(fired, "no event for refill {round}");
        assert_eq!(lows(sim.a(), x).len(), round, "refill {round}");
        assert!(sim.a().buffered(x) <= 32 * KIB);
        if round < ROUNDS {
            send_batch(&mut sim, x, 4, 16 * KIB, 5);
        }
    }
    settle(&mut sim, x, y, 4 * ROUNDS);
    assert_eq!(lows(sim.a(), x).len(), ROUNDS);
}
