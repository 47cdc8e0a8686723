use super::*;

const COMMON_HEADER: [u8; 12] = [0x13, 0x88, 0x13, 0x88, 0, 0, 0, 1, 0, 0, 0, 0];

/// An SCTP packet of about `len` bytes with one DATA chunk of TSN `tsn`.
fn data(tsn: u32, len: usize) -> Bytes {
    let value = len.saturating_sub(COMMON_HEADER.len() + 4).max(12);
    let mut p = COMMON_HEADER.to_vec();
    p.extend_from_slice(&[DATA, 0x03]);
    p.extend_from_slice(&((4 + value) as u16).to_be_bytes());
    p.extend_from_slice(&tsn.to_be_bytes());
    p.extend(std::iter::repeat_n(0u8, value - 4));
    Bytes::from(p)
}

/// A packet with a SACK only.
fn sack() -> Bytes {
    let mut p = COMMON_HEADER.to_vec();
    p.extend_from_slice(&[3, 0, 0, 16]);
    p.extend_from_slice(&[0; 12]);
    Bytes::from(p)
}

fn tsn(p: &Bytes) -> Option<u32> {
    sctp_chunks(p)
        .find(|(k, _, _)| *k == DATA)
        .map(|(_, _, v)| u32::from_be_bytes([v[0], v[1], v[2], v[3]]))
}

/// Runs the pacer's own timer until nothing is held; returns each packet's TSN and the time it
/// left (after `start`).
fn drain(p: &mut Pacer, start: Instant) -> Vec<(Option<u32>, Duration)> {
    let mut left = Vec::new();
    let mut now = start;
    for _ in 0..10_000 {
        left.extend(p.release(now).iter().map(|b| (tsn(b), now - start)));
        match p.poll_timeout() {
            Some(t) => now = now.max(t),
            None => break,
        }
    }
    left
}

#[test]
fn without_a_rate_everything_leaves_at_once() {
    let mut p = Pacer::default();
    for n in 0..50 {
        p.push(data(n, 1200));
    }
    let left = drain(&mut p, Instant::now());
    assert_eq!(left.len(), 50);
    assert!(left.iter().all(|(_, at)| *at == Duration::ZERO));
    assert_eq!(p.poll_timeout(), None);
}

#[test]
fn a_burst_is_spread_at_the_rate_in_order() {
    let mut p = Pacer::default();
    // 1.2 MB/s: a 1,200-byte packet per millisecond.
    p.set_rate(Some(1_200_000.0));
    for n in 0..40 {
        p.push(data(n, 1200));
    }
    let left = drain(&mut p, Instant::now());
    let order: Vec<Option<u32>> = left.iter().map(|(n, _)| *n).collect();
    assert_eq!(order, (0..40).map(Some).collect::<Vec<_>>(), "in order");
    let at_once = left.iter().filter(|(_, at)| *at == Duration::ZERO).count();
    assert!(at_once <= 3, "{at_once} left back to back");
    let last = left.last().map(|(_, at)| *at).unwrap_or_default();
    // 48,000 bytes at 1.2 MB/s: 40 ms, less the burst let through at the start.
    assert!(
        (Duration::from_millis(36)..=Duration::from_millis(40)).contains(&last),
        "the last left at {last:?}"
    );
}

#[test]
fn acknowledgements_and_retransmissions_are_never_held() {
    let mut p = Pacer::default();
    p.set_rate(Some(1_200_000.0));
    for n in 0..20 {
        p.push(data(n, 1200));
    }
    let start = Instant::now();
    let first = p.release(start);
    assert!(first.len() < 5);
    // A SACK, and rtc-sctp sending TSN 1 again: both leave with the next release, ahead of
    // the new data still waiting.
    p.push(sack());
    p.push(data(1, 1200));
    assert_eq!(p.poll_timeout(), Some(start));
    let next = p.release(start);
    assert_eq!(next.len(), 2, "only the SACK and the retransmission");
    assert_eq!(tsn(&next[0]), None);
    assert_eq!(tsn(&next[1]), Some(1));
    assert!(p.held_bytes() > 0);
}

#[test]
fn credit_saved_while_idle_is_bounded() {
    let mut p = Pacer::default();
    p.set_rate(Some(1_200_000.0));
    let start = Instant::now();
    assert!(p.release(start).is_empty());
    // A second of silence would be 1.2 MB of credit; the burst allowed after it is a few
    // packets.
    for n in 0..20 {
        p.push(data(n, 1200));
    }
    let out = p.release(start + Duration::from_secs(1));
    assert!(out.len() <= 3, "{} left at once after idling", out.len());
}

#[test]
fn the_last_words_are_not_held() {
    let mut p = Pacer::default();
    p.set_rate(Some(10_000.0));
    for n in 0..10 {
        p.push(data(n, 1200));
    }
    let mut out = p.release(Instant::now());
    out.extend(p.release_all());
    assert_eq!(out.len(), 10);
    assert_eq!(p.held_bytes(), 0);
    assert_eq!(p.poll_timeout(), None);
}

#[test]
fn a_queue_beyond_its_bound_is_let_out() {
    let mut p = Pacer::default();
    p.set_rate(Some(1_000.0));
    let n = (MAX_HELD_BYTES / 1200 + 10) as u32;
    for i in 0..n {
        p.push(data(i, 1200));
    }
    let out = p.release(Instant::now());
    assert!(p.held_bytes() <= MAX_HELD_BYTES);
    assert!(out.len() >= 10);
}

#[test]
fn small_flights_and_unknown_round_trips_are_not_paced() {
    let rtt = Some(Duration::from_millis(40));
    assert_eq!(pacing_rate(5_000, rtt, false, None, false), None);
    assert_eq!(pacing_rate(100_000, None, false, None, false), None);
    assert_eq!(
        pacing_rate(100_000, rtt, false, None, false),
        Some(5_000_000.0)
    );
    assert_eq!(
        pacing_rate(100_000, rtt, true, None, false),
        Some(3_125_000.0)
    );
}

#[test]
fn after_a_loss_the_rate_follows_what_the_path_delivered() {
    let rtt = Some(Duration::from_millis(40));
    // A 400 kB window over 40 ms would pace at 12.5 MB/s; the path delivered 2 MB/s.
    let path = Some(2_000_000.0);
    assert_eq!(
        pacing_rate(400_000, rtt, false, path, false),
        Some(20_000_000.0),
        "before any loss the window's rate stands"
    );
    assert_eq!(
        pacing_rate(400_000, rtt, true, path, false),
        Some(2_500_000.0)
    );
    assert_eq!(
        pacing_rate(400_000, rtt, true, path, true),
        Some(1_500_000.0),
        "below the path's rate while the queue drains"
    );
    assert_eq!(
        pacing_rate(40_000, rtt, true, path, false),
        Some(1_250_000.0),
        "a window below the path's rate paces by the window"
    );
}

#[test]
fn after_a_loss_new_data_waits_while_the_flight_exceeds_what_the_path_holds() {
    let rtt = Some(Duration::from_millis(40));
    // 2.5 MB/s over 40 ms: the path holds 100 kB; new DATA waits beyond 125 kB in flight.
    assert_eq!(flight_cap(rtt, false, Some(2_500_000.0)), None);
    assert_eq!(flight_cap(rtt, true, None), None);
    assert_eq!(flight_cap(rtt, true, Some(2_500_000.0)), Some(125_000));
    assert_eq!(flight_cap(rtt, true, Some(1_000.0)), Some(MIN_PACED_FLIGHT));

    let start = Instant::now();
    let mut p = Pacer::default();
    for tsn in 1..=20 {
        p.push(data(tsn, 1_200));
    }
    p.push(sack());
    p.set_rate(Some(1e12));
    p.set_flight(125_000, Some(125_000));
    let out = p.release(start);
    assert_eq!(
        out.iter().map(tsn).collect::<Vec<_>>(),
        [None],
        "only the SACK"
    );
    assert_eq!(
        p.poll_timeout(),
        None,
        "a SACK that shrinks the flight wakes it"
    );
    let later = start + Duration::from_millis(1);
    p.set_flight(120_000, Some(125_000));
    let out = p.release(later);
    assert_eq!(out.len(), 4, "new DATA up to the cap");
    p.set_flight(100_000, Some(125_000));
    let out = p.release(later);
    assert_eq!(
        out.iter().map(tsn).collect::<Vec<_>>(),
        (5..=20).map(Some).collect::<Vec<_>>()
    );
}
