//! The guard on crafted SCTP packets.

use super::*;

fn packet(chunks: &[(u8, u8, Vec<u8>)]) -> Vec<u8> {
    let mut p = vec![0u8; COMMON_HEADER];
    for (kind, flags, value) in chunks {
        let len = (CHUNK_HEADER + value.len()) as u16;
        p.push(*kind);
        p.push(*flags);
        p.extend_from_slice(&len.to_be_bytes());
        p.extend_from_slice(value);
        while !p.len().is_multiple_of(4) {
            p.push(0);
        }
    }
    p
}

/// A DATA chunk: B/E flags as given, `len` bytes of user data.
fn data(tsn: u32, stream: u16, begin: bool, end: bool, len: usize) -> (u8, u8, Vec<u8>) {
    let mut v = tsn.to_be_bytes().to_vec();
    v.extend_from_slice(&stream.to_be_bytes());
    v.extend_from_slice(&[0, 0, 0, 0, 0, 53]);
    v.extend(std::iter::repeat_n(7u8, len));
    let flags = (u8::from(begin) << 1) | u8::from(end);
    (DATA, flags, v)
}

fn forward_tsn(tsn: u32) -> (u8, u8, Vec<u8>) {
    (FORWARD_TSN, 0, tsn.to_be_bytes().to_vec())
}

#[test]
fn ordinary_traffic_passes() {
    let mut g = SctpGuard::new(65536);
    let start = u32::MAX - 500;
    for i in 0..1000u32 {
        let p = packet(&[data(start.wrapping_add(i), 1, true, true, 100)]);
        assert_eq!(g.check(&p), Verdict::Accept, "message {i} (TSN wraps)");
    }
    // A message of 10 fragments within the limit, then a duplicate of one of them.
    let next = start.wrapping_add(1000);
    for i in 0..10u32 {
        let p = packet(&[data(next + i, 2, i == 0, i == 9, 1000)]);
        assert_eq!(g.check(&p), Verdict::Accept);
    }
    assert!(g.above.is_empty(), "in order: nothing held");
    let again = packet(&[data(next + 5, 2, false, false, 1000)]);
    assert_eq!(g.check(&again), Verdict::Accept, "a duplicate is harmless");
    assert_eq!(g.check(&packet(&[])), Verdict::Accept);
    assert_eq!(
        g.check(&[1, 2, 3]),
        Verdict::Accept,
        "too short: rtc-sctp's to refuse"
    );
}

#[test]
fn a_message_that_never_ends_fails_the_association() {
    let mut g = SctpGuard::new(16 * 1024);
    let mut verdict = Verdict::Accept;
    let mut tsn = 1000u32;
    let mut sent = 0;
    while verdict == Verdict::Accept && sent < 1 << 20 {
        verdict = g.check(&packet(&[data(tsn, 3, tsn == 1000, false, 1000)]));
        tsn += 1;
        sent += 1000;
    }
    match verdict {
        Verdict::Abort(why) => assert!(why.contains("stream 3"), "{why}"),
        other => panic!("never refused: {other:?}"),
    }
    assert!(sent <= 17 * 1024, "refused only after {sent} bytes");
}

#[test]
fn far_ahead_tsns_are_dropped_and_gaps_are_bounded() {
    let mut g = SctpGuard::new(65536);
    assert_eq!(
        g.check(&packet(&[data(10, 1, true, true, 10)])),
        Verdict::Accept
    );
    let far = packet(&[data(10 + TSN_WINDOW + 1, 1, true, true, 10)]);
    assert_eq!(g.check(&far), Verdict::Drop);
    // Out-of-order chunks above a gap (TSN 11 missing) are held up to the limit.
    let mut held = 0;
    for i in 0..(OUT_OF_ORDER_LIMIT as u32 + 100) {
        if g.check(&packet(&[data(12 + i, 1, true, true, 1)])) == Verdict::Accept {
            held += 1;
        }
    }
    assert_eq!(held, OUT_OF_ORDER_LIMIT);
    // The missing chunk arrives: everything held moves below the cumulative TSN, and the
    // chunks that were dropped are taken when retransmitted.
    assert_eq!(
        g.check(&packet(&[data(11, 1, true, true, 1)])),
        Verdict::Accept
    );
    let next = 12 + OUT_OF_ORDER_LIMIT as u32;
    assert_eq!(
        g.check(&packet(&[data(next, 1, true, true, 1)])),
        Verdict::Accept
    );
    assert!(g.above.is_empty());
}

#[test]
fn forward_tsn_moves_the_window() {
    let mut g = SctpGuard::new(65536);
    assert_eq!(
        g.check(&packet(&[data(1, 1, true, true, 10)])),
        Verdict::Accept
    );
    // Partially reliable messages abandoned by the sender: it forwards past them.
    let skip = TSN_WINDOW - 10;
    assert_eq!(g.check(&packet(&[forward_tsn(1 + skip)])), Verdict::Accept);
    let after = packet(&[data(2 + skip + 100, 1, true, true, 10)]);
    assert_eq!(
        g.check(&after),
        Verdict::Accept,
        "the window follows the forward TSN"
    );
}

#[test]
fn malformed_chunks_stop_the_scan_without_panicking() {
    let mut g = SctpGuard::new(1024);
    for bytes in [
        vec![0u8; 12 + 4],
        [vec![0u8; 12], vec![0, 0, 0, 2]].concat(),
        [vec![0u8; 12], vec![0, 0, 0xff, 0xff, 1]].concat(),
        [vec![0u8; 12], vec![0, 3, 0, 16], vec![0; 12]].concat(),
    ] {
        assert_eq!(g.check(&bytes), Verdict::Accept);
    }
}

mod model {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever order TSNs arrive in (across the 32-bit wrap too), the guard's cumulative
        /// TSN is the end of the unbroken run after the first TSN seen, and nothing below it
        /// stays held.
        #[test]
        fn the_cumulative_tsn_follows_a_plain_model(
            start in prop_oneof![Just(u32::MAX - 100), any::<u32>()],
            arrivals in proptest::collection::vec(0u32..300, 1..500),
        ) {
            let mut g = SctpGuard::new(65536);
            let first = arrivals[0];
            let mut received = std::collections::BTreeSet::new();
            let mut cumulative = first;
            for &offset in &arrivals {
                let tsn = start.wrapping_add(offset);
                prop_assert_eq!(g.check(&packet(&[data(tsn, 1, true, true, 4)])), Verdict::Accept);
                if offset > cumulative {
                    received.insert(offset);
                }
                while received.remove(&(cumulative + 1)) {
                    cumulative += 1;
                }
                prop_assert_eq!(g.cumulative.map(|c| c as u32), Some(start.wrapping_add(cumulative)));
                prop_assert_eq!(g.above.len(), received.len());
            }
        }
    }
}
