use super::*;
use crate::core::sctp_recovery::tests::{data, sack};
use proptest::prelude::*;

const RTT: Duration = Duration::from_millis(40);

/// A path with a queue (the latest round trip 20 ms above the shortest): gaps are congestion.
const QUEUED: PathNow = PathNow {
    standing_rtt: Some(Duration::from_millis(60)),
    min_rtt: Some(RTT),
    rtt: RTT,
    highest_sent: Some(100),
    repairable: true,
};
/// The same path without a queue.
const UNQUEUED: PathNow = PathNow {
    standing_rtt: Some(Duration::from_millis(41)),
    ..QUEUED
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn packet(bytes: &[u8]) -> BytesMut {
    let mut p = BytesMut::from(bytes);
    p[CHECKSUM].fill(0);
    let sum = crc32c::crc32c(&p);
    p[CHECKSUM].copy_from_slice(&sum.to_le_bytes());
    p
}

fn checksum_ok(p: &[u8]) -> bool {
    let mut copy = p.to_vec();
    copy[CHECKSUM].fill(0);
    crc32c::crc32c(&copy).to_le_bytes() == p[CHECKSUM]
}

/// What rtc-sctp would read: (cumulative ack, gap blocks as TSN ranges).
fn seen(p: &[u8]) -> (u32, Vec<(u32, u32)>) {
    assert!(checksum_ok(p), "checksum");
    let (at, len) = sack_chunk(p).expect("a SACK");
    parse_sack(&p[at + CHUNK_HEADER..at + len]).expect("a SACK value")
}

/// TSNs 1..=100 sent; a hole at 11 reported (12..=60 arrived); rtc-sctp fast-retransmits.
fn in_a_loss_window(start: Instant) -> SackFilter {
    let mut f = SackFilter::default();
    f.on_fast_retransmits(start, 0, None, RTT);
    let first = packet(&sack(10, &[(2, 50)]));
    assert_eq!(f.filter(start, first.clone(), &QUEUED), first);
    f.on_fast_retransmits(start, 1, Some(100), RTT);
    f
}

#[test]
fn sacks_pass_unchanged_outside_a_loss_window() {
    let start = Instant::now();
    let mut f = SackFilter::default();
    f.on_fast_retransmits(start, 0, None, RTT);
    for cum in [10, 20, 30] {
        let p = packet(&sack(cum, &[(2, 5), (7, 9)]));
        assert_eq!(f.filter(start, p.clone(), &QUEUED), p);
    }
    assert_eq!(f.hidden(), 0);
}

#[test]
fn gaps_are_hidden_between_sctp_recovery_end_and_the_window_end() {
    let start = Instant::now();
    let mut f = in_a_loss_window(start);
    // rtc-sctp is in fast recovery until the cumulative ack reaches 60: gaps pass.
    let p = packet(&sack(10, &[(2, 55)]));
    assert_eq!(f.filter(start + ms(5), p.clone(), &QUEUED), p);
    // Its recovery has ended; holes at 61..=64 are of the same window: hidden.
    let p = packet(&sack(60, &[(5, 20)]));
    let out = f.filter(start + ms(10), p.clone(), &QUEUED);
    assert_eq!(seen(&out), (60, vec![]));
    assert_eq!(out.len(), COMMON_HEADER + 16);
    assert_eq!(
        out[COMMON_HEADER + 8..COMMON_HEADER + 12],
        p[COMMON_HEADER + 8..COMMON_HEADER + 12],
        "the advertised window is kept"
    );
    // A SACK with no gap needs no change.
    let p = packet(&sack(70, &[]));
    assert_eq!(f.filter(start + ms(20), p.clone(), &QUEUED), p);
    // The cumulative ack passed everything sent before the first fast retransmission.
    let p = packet(&sack(100, &[(3, 4)]));
    assert_eq!(f.filter(start + ms(30), p.clone(), &QUEUED), p);
    let p = packet(&sack(100, &[(3, 6)]));
    assert_eq!(
        f.filter(start + ms(31), p.clone(), &QUEUED),
        p,
        "the window is over"
    );
    assert_eq!(f.hidden(), 1);
}

#[test]
fn a_later_fast_retransmission_opens_a_new_window() {
    let start = Instant::now();
    let mut f = in_a_loss_window(start);
    assert_eq!(
        f.filter(start, packet(&sack(100, &[])), &QUEUED),
        packet(&sack(100, &[]))
    );
    f.on_fast_retransmits(start, 1, Some(100), RTT);
    let p = packet(&sack(120, &[(2, 30)]));
    assert_eq!(f.filter(start + ms(50), p.clone(), &QUEUED), p);
    f.on_fast_retransmits(start + ms(50), 2, Some(200), RTT);
    let out = f.filter(start + ms(60), packet(&sack(150, &[(2, 10)])), &QUEUED);
    assert_eq!(seen(&out), (150, vec![]));
}

/// Gaps of the episode `f` hides (cumulative ack `cum`) stay hidden until its time limit.
fn hidden_until_the_limit(f: &mut SackFilter, start: Instant, cum: u32, path: &PathNow) {
    let limit = RTT * MAX_HIDDEN_ROUND_TRIPS + DELAYED_SACK;
    let out = f.filter(start + limit - ms(1), packet(&sack(cum, &[(5, 20)])), path);
    assert_eq!(seen(&out).1, vec![]);
    let p = packet(&sack(cum, &[(5, 21)]));
    assert_eq!(f.filter(start + limit, p.clone(), path), p);
}

#[test]
fn gaps_are_shown_again_after_a_few_round_trips() {
    let start = Instant::now();
    hidden_until_the_limit(&mut in_a_loss_window(start), start, 60, &QUEUED);
}

#[test]
fn a_loss_on_a_path_without_a_queue_is_hidden_until_what_was_sent_is_acknowledged() {
    let start = Instant::now();
    let mut f = SackFilter::default();
    // TSNs up to 100 sent; 11 lost; the round trip at its shortest.
    let out = f.filter(start, packet(&sack(10, &[(2, 5)])), &UNQUEUED);
    assert_eq!(seen(&out), (10, vec![]));
    let out = f.filter(start + ms(30), packet(&sack(10, &[(2, 40)])), &UNQUEUED);
    assert_eq!(seen(&out), (10, vec![]));
    // Repaired; a second random loss (71) within the episode is hidden too.
    let out = f.filter(start + ms(60), packet(&sack(70, &[(2, 20)])), &UNQUEUED);
    assert_eq!(seen(&out), (70, vec![]));
    assert_eq!(f.quiet_episodes(), 1);
    assert!(!f.congestion_seen(), "rtc-sctp's window keeps growing");
    assert!(!f.draining(start + ms(60), Some(RTT)));
    // Past the episode's end, a new loss starts a new quiet episode.
    let p = packet(&sack(100, &[]));
    assert_eq!(f.filter(start + ms(90), p.clone(), &UNQUEUED), p);
    let out = f.filter(start + ms(100), packet(&sack(120, &[(2, 4)])), &UNQUEUED);
    assert_eq!(seen(&out), (120, vec![]));
    assert_eq!(f.quiet_episodes(), 2);
    assert_eq!(f.hidden(), 4);
}

#[test]
fn a_queue_or_many_missing_packets_show_the_gaps_to_rtc_sctp() {
    let start = Instant::now();
    // A loss while the path queues: rtc-sctp sees it, its window stops doubling, and the
    // queue drains for a round trip.
    let mut f = SackFilter::default();
    let p = packet(&sack(10, &[(2, 5)]));
    assert_eq!(f.filter(start, p.clone(), &QUEUED), p);
    assert!(f.congestion_seen());
    assert!(f.draining(start + RTT - ms(1), Some(RTT)));
    assert!(!f.draining(start + RTT, Some(RTT)));
    // A quiet episode that begins to queue is shown from then on.
    let mut f = SackFilter::default();
    let out = f.filter(start, packet(&sack(10, &[(2, 5)])), &UNQUEUED);
    assert_eq!(seen(&out).1, vec![]);
    let p = packet(&sack(10, &[(2, 9)]));
    assert_eq!(f.filter(start + ms(10), p.clone(), &QUEUED), p);
    let p = packet(&sack(10, &[(2, 12)]));
    assert_eq!(
        f.filter(start + ms(20), p.clone(), &UNQUEUED),
        p,
        "not hidden again"
    );
    assert!(f.congestion_seen());
    // Most of a window missing (a policer, or a queue dropping a burst): shown.
    let mut f = SackFilter::default();
    let p = packet(&sack(10, &[(20, 40)]));
    assert_eq!(f.filter(start, p.clone(), &UNQUEUED), p);
    // One in eight missing is still random loss.
    let mut f = SackFilter::default();
    let out = f.filter(
        start,
        packet(&sack(10, &[(2, 20), (22, 32), (34, 40)])),
        &UNQUEUED,
    );
    assert_eq!(seen(&out), (10, vec![]));
    let p = packet(&sack(10, &[(2, 20), (24, 32), (36, 40)]));
    assert_eq!(
        f.filter(start, p.clone(), &UNQUEUED),
        p,
        "seven in forty are too many"
    );
    assert_eq!(f.quiet_episodes(), 1);
}

#[test]
fn a_quiet_episode_is_shown_after_a_few_round_trips() {
    let start = Instant::now();
    let mut f = SackFilter::default();
    let out = f.filter(start, packet(&sack(10, &[(2, 5)])), &UNQUEUED);
    assert_eq!(seen(&out).1, vec![]);
    hidden_until_the_limit(&mut f, start, 10, &UNQUEUED);
    assert_eq!(f.quiet_episodes(), 1);
}

#[test]
fn holes_left_to_rtc_sctp_are_never_hidden() {
    // A partially reliable channel's packet may be among the holes: rtc-sctp retransmits it.
    let start = Instant::now();
    for path in [QUEUED, UNQUEUED] {
        let unrepairable = PathNow {
            repairable: false,
            ..path
        };
        let mut f = in_a_loss_window(start);
        let p = packet(&sack(60, &[(5, 20)]));
        assert_eq!(f.filter(start + ms(10), p.clone(), &unrepairable), p);
        let mut f = SackFilter::default();
        let p = packet(&sack(10, &[(2, 5)]));
        assert_eq!(f.filter(start, p.clone(), &unrepairable), p);
        assert_eq!(f.hidden(), 0);
    }
}

#[test]
fn without_round_trip_samples_no_loss_is_taken_for_quiet() {
    let start = Instant::now();
    let mut f = SackFilter::default();
    let unknown = PathNow {
        standing_rtt: None,
        ..UNQUEUED
    };
    let p = packet(&sack(10, &[(2, 5)]));
    assert_eq!(f.filter(start, p.clone(), &unknown), p);
}

#[test]
fn chunks_bundled_with_the_sack_are_kept() {
    let start = Instant::now();
    let mut f = in_a_loss_window(start);
    let mut bundled = sack(60, &[(5, 20), (22, 30)]);
    bundled.extend_from_slice(&sack(0, &[])[COMMON_HEADER..]); // stands for any chunk after it
    let d = data(7);
    bundled.extend_from_slice(&d[COMMON_HEADER..]);
    let out = f.filter(start, packet(&bundled), &QUEUED);
    assert_eq!(seen(&out), (60, vec![]));
    assert_eq!(
        &out[COMMON_HEADER + 16..],
        &bundled[COMMON_HEADER + 16 + 8..],
        "what follows the SACK is unchanged"
    );
}

#[test]
fn malformed_sacks_pass_unchanged() {
    let start = Instant::now();
    let mut f = in_a_loss_window(start);
    let good = sack(60, &[(5, 20)]);
    let mut cases = Vec::new();
    let mut short = good.clone();
    short[COMMON_HEADER + 3] = 12; // a SACK chunk too short to hold its fields
    cases.push(short);
    let mut long = good.clone();
    long[COMMON_HEADER + 3] = 200; // longer than the packet
    cases.push(long);
    cases.push(good[..COMMON_HEADER + 10].to_vec());
    cases.push(good[..COMMON_HEADER].to_vec());
    for case in cases {
        let p = BytesMut::from(&case[..]);
        assert_eq!(f.filter(start, p.clone(), &QUEUED), p);
    }
}

proptest! {
    /// Whatever a remote sends, the packet passes unchanged or as a valid, shorter packet.
    #[test]
    fn any_packet_passes_or_shrinks_to_a_valid_one(
        body in proptest::collection::vec(any::<u8>(), 0..200),
        cum in 0u32..120,
        gaps in proptest::collection::vec((0u16..60, 0u16..60), 0..6),
    ) {
        let start = Instant::now();
        let mut p = sack(cum, &gaps);
        p.extend_from_slice(&body);
        for path in [QUEUED, UNQUEUED] {
            let mut f = in_a_loss_window(start);
            let mut fresh = SackFilter::default();
            for bytes in [p.clone(), body.clone()] {
                let input = BytesMut::from(&bytes[..]);
                for f in [&mut f, &mut fresh] {
                    let out = f.filter(start, input.clone(), &path);
                    prop_assert!(out == input || (out.len() < input.len() && checksum_ok(&out)));
                }
            }
        }
    }
}
