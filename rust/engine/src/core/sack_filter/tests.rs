use super::*;
use crate::core::sctp_recovery::tests::{data, sack};
use proptest::prelude::*;

const RTT: Duration = Duration::from_millis(40);

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
    assert_eq!(f.filter(start, first.clone()), first);
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
        assert_eq!(f.filter(start, p.clone()), p);
    }
    assert_eq!(f.hidden(), 0);
}

#[test]
fn gaps_are_hidden_between_sctp_recovery_end_and_the_window_end() {
    let start = Instant::now();
    let mut f = in_a_loss_window(start);
    // rtc-sctp is in fast recovery until the cumulative ack reaches 60: gaps pass.
    let p = packet(&sack(10, &[(2, 55)]));
    assert_eq!(f.filter(start + ms(5), p.clone()), p);
    // Its recovery has ended; holes at 61..=64 are of the same window: hidden.
    let p = packet(&sack(60, &[(5, 20)]));
    let out = f.filter(start + ms(10), p.clone());
    assert_eq!(seen(&out), (60, vec![]));
    assert_eq!(out.len(), COMMON_HEADER + 16);
    assert_eq!(
        out[COMMON_HEADER + 8..COMMON_HEADER + 12],
        p[COMMON_HEADER + 8..COMMON_HEADER + 12],
        "the advertised window is kept"
    );
    // A SACK with no gap needs no change.
    let p = packet(&sack(70, &[]));
    assert_eq!(f.filter(start + ms(20), p.clone()), p);
    // The cumulative ack passed everything sent before the first fast retransmission.
    let p = packet(&sack(100, &[(3, 4)]));
    assert_eq!(f.filter(start + ms(30), p.clone()), p);
    let p = packet(&sack(100, &[(3, 6)]));
    assert_eq!(f.filter(start + ms(31), p.clone()), p, "the window is over");
    assert_eq!(f.hidden(), 1);
}

#[test]
fn a_later_fast_retransmission_opens_a_new_window() {
    let start = Instant::now();
    let mut f = in_a_loss_window(start);
    assert_eq!(
        f.filter(start, packet(&sack(100, &[]))),
        packet(&sack(100, &[]))
    );
    f.on_fast_retransmits(start, 1, Some(100), RTT);
    let p = packet(&sack(120, &[(2, 30)]));
    assert_eq!(f.filter(start + ms(50), p.clone()), p);
    f.on_fast_retransmits(start + ms(50), 2, Some(200), RTT);
    let out = f.filter(start + ms(60), packet(&sack(150, &[(2, 10)])));
    assert_eq!(seen(&out), (150, vec![]));
}

#[test]
fn gaps_are_shown_again_after_a_few_round_trips() {
    let start = Instant::now();
    let mut f = in_a_loss_window(start);
    let limit = RTT * MAX_HIDDEN_ROUND_TRIPS + DELAYED_SACK;
    let out = f.filter(start + limit - ms(1), packet(&sack(60, &[(5, 20)])));
    assert_eq!(seen(&out).1, vec![]);
    let p = packet(&sack(60, &[(5, 21)]));
    assert_eq!(f.filter(start + limit, p.clone()), p);
}

#[test]
fn chunks_bundled_with_the_sack_are_kept() {
    let start = Instant::now();
    let mut f = in_a_loss_window(start);
    let mut bundled = sack(60, &[(5, 20), (22, 30)]);
    bundled.extend_from_slice(&sack(0, &[])[COMMON_HEADER..]); // stands for any chunk after it
    let d = data(7);
    bundled.extend_from_slice(&d[COMMON_HEADER..]);
    let out = f.filter(start, packet(&bundled));
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
        assert_eq!(f.filter(start, p.clone()), p);
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
        let mut f = in_a_loss_window(start);
        let mut p = sack(cum, &gaps);
        p.extend_from_slice(&body);
        for bytes in [p.clone(), body] {
            let input = BytesMut::from(&bytes[..]);
            let out = f.filter(start, input.clone());
            prop_assert!(out == input || (out.len() < input.len() && checksum_ok(&out)));
        }
    }
}
