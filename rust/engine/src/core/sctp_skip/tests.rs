use super::*;
use crate::core::sctp_recovery::tests::sack;

const STREAM: u16 = 3;

/// A DATA packet with one chunk (`flags`: U, B, E bits).
fn data(tsn: u32, stream: u16, ssn: u16, flags: u8) -> Vec<u8> {
    let mut p = vec![0u8; 12];
    p[4..8].copy_from_slice(&0xdead_beefu32.to_be_bytes());
    p.extend_from_slice(&[DATA, flags, 0, 20]);
    p.extend_from_slice(&tsn.to_be_bytes());
    p.extend_from_slice(&stream.to_be_bytes());
    p.extend_from_slice(&ssn.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 51, 1, 2, 3, 4]);
    p
}

/// A whole message, unfragmented, ordered.
fn whole(tsn: u32, ssn: u16) -> Vec<u8> {
    data(tsn, STREAM, ssn, FLAG_BEGIN_END)
}

const FLAG_BEGIN_END: u8 = 0x03;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn rtx0(_: u16) -> Option<Policy> {
    Some(Policy::Retransmits(0))
}

/// The FORWARD TSN chunks of a packet, each (new cumulative TSN, [(stream, ssn)]), checksum
/// and the remote's verification tag checked.
fn read_forwards(p: &[u8]) -> Vec<(u32, Vec<(u16, u16)>)> {
    let mut copy = p.to_vec();
    copy[CHECKSUM].fill(0);
    assert_eq!(crc32c::crc32c(&copy).to_le_bytes(), p[CHECKSUM], "checksum");
    assert_eq!(&p[4..8], &0xdead_beefu32.to_be_bytes(), "the remote's tag");
    sctp_chunks(p)
        .map(|(kind, _, v)| {
            assert_eq!(kind, FORWARD_TSN);
            let cum = u32::from_be_bytes([v[0], v[1], v[2], v[3]]);
            let streams = v[4..]
                .chunks_exact(4)
                .map(|s| {
                    (
                        u16::from_be_bytes([s[0], s[1]]),
                        u16::from_be_bytes([s[2], s[3]]),
                    )
                })
                .collect();
            (cum, streams)
        })
        .collect()
}

/// TSNs 100..=109 sent at `t0` (messages 0..=9), the remote acknowledged 99 before.
fn ten_sent(t0: Instant, policy: impl Fn(u16) -> Option<Policy> + Copy) -> Skipper {
    let mut s = Skipper::default();
    s.on_received(t0, &sack(99, &[]));
    for i in 0..10u32 {
        s.on_sent(t0, &whole(100 + i, i as u16), policy);
    }
    s
}

#[test]
fn a_lost_chunk_is_skipped_once_a_later_one_is_acknowledged_and_a_round_trip_passed() {
    let t0 = Instant::now();
    let mut s = ten_sent(t0, rtx0);
    // 100 lost, 101..=109 acknowledged by gap 20 ms later.
    s.on_received(t0 + ms(20), &sack(99, &[(2, 10)]));
    assert!(
        s.check(t0 + ms(20)).is_none(),
        "too early: it may be reordered"
    );
    let at = s.poll_timeout().expect("a time to look again");
    assert!(at > t0 + ms(20) && at <= t0 + ms(30), "{:?}", at - t0);
    // Only the abandoned message is named (RFC 3758); the remote passes the ones it holds
    // after it by itself.
    assert_eq!(
        read_forwards(&s.check(at).expect("skipped")),
        vec![(100, vec![(STREAM, 0)])]
    );
    assert_eq!(s.skipped(), 1);
    assert!(s.check(at + ms(100)).is_none(), "skipped once");
}

#[test]
fn a_reliable_chunk_in_front_is_never_skipped() {
    let t0 = Instant::now();
    let mut s = Skipper::default();
    s.on_received(t0, &sack(99, &[]));
    s.on_sent(t0, &data(100, 1, 0, FLAG_BEGIN_END), |_| None);
    s.on_sent(t0, &whole(101, 0), rtx0);
    s.on_sent(t0, &whole(102, 1), rtx0);
    s.on_received(t0 + ms(20), &sack(99, &[(3, 3)]));
    assert!(s.check(t0 + ms(5_000)).is_none());
    assert_eq!(s.poll_timeout(), None, "nothing to wait for");
    // Once the reliable one is acknowledged, the lost one behind it goes.
    s.on_received(t0 + ms(5_000), &sack(100, &[(2, 2)]));
    assert_eq!(
        read_forwards(&s.check(t0 + ms(5_000)).expect("skipped")),
        vec![(101, vec![(STREAM, 0)])]
    );
}

/// The channel's DATA_CHANNEL_OPEN goes on its own `maxRetransmits: 0` stream but reliable:
/// skipping a lost one (found by the impaired benchmark's unreliable row, 1 session in 4 at
/// 5 % loss) left the channel unopened for good.
#[test]
fn a_lost_channel_open_is_never_skipped() {
    let t0 = Instant::now();
    let mut s = Skipper::default();
    s.on_received(t0, &sack(99, &[]));
    let mut open = whole(100, 0);
    open[24..28].copy_from_slice(&50u32.to_be_bytes()); // PPI: DCEP
    s.on_sent(t0, &open, rtx0);
    s.on_sent(t0, &whole(101, 1), rtx0);
    s.on_received(t0 + ms(20), &sack(99, &[(2, 2)]));
    assert!(
        s.check(t0 + ms(5_000)).is_none(),
        "the OPEN is rtc-sctp's to resend"
    );
    assert_eq!(s.skipped(), 0);
}

#[test]
fn a_message_is_skipped_whole_or_not_at_all() {
    let t0 = Instant::now();
    let mut s = Skipper::default();
    s.on_received(t0, &sack(99, &[]));
    // Message 0 in three fragments, of which the last is not sent yet.
    s.on_sent(t0, &data(100, STREAM, 0, 0x02), rtx0);
    s.on_sent(t0, &data(101, STREAM, 0, 0x00), rtx0);
    assert!(s.check(t0 + ms(5_000)).is_none(), "its end is not sent");
    s.on_sent(t0 + ms(5_000), &data(102, STREAM, 0, 0x01), rtx0);
    s.on_sent(t0 + ms(5_000), &whole(103, 1), rtx0);
    s.on_received(t0 + ms(5_020), &sack(99, &[(4, 4)]));
    assert!(s.check(t0 + ms(5_020)).is_none(), "the end was just sent");
    let at = s.poll_timeout().expect("when");
    assert_eq!(
        read_forwards(&s.check(at).expect("skipped")),
        vec![(102, vec![(STREAM, 0)])]
    );
}

#[test]
fn a_lifetime_channel_skips_a_lost_message_only_once_its_lifetime_is_over() {
    let t0 = Instant::now();
    let mut s = ten_sent(t0, |_| Some(Policy::Lifetime(ms(500))));
    s.on_received(t0 + ms(20), &sack(99, &[(2, 10)]));
    assert!(s.check(t0 + ms(100)).is_none(), "may still be sent again");
    assert_eq!(s.poll_timeout(), Some(t0 + ms(500)));
    assert!(s.check(t0 + ms(500)).is_some());
}

#[test]
fn retransmissions_up_to_the_limit_are_left_to_sctp() {
    let t0 = Instant::now();
    let mut s = ten_sent(t0, |_| Some(Policy::Retransmits(1)));
    s.on_received(t0 + ms(20), &sack(99, &[(2, 10)]));
    assert!(
        s.check(t0 + ms(1_000)).is_none(),
        "one retransmission allowed"
    );
    s.on_sent(t0 + ms(1_000), &whole(100, 0), |_| {
        Some(Policy::Retransmits(1))
    });
    assert!(
        s.check(t0 + ms(1_005)).is_none(),
        "the retransmission may arrive"
    );
    let at = s.poll_timeout().expect("when");
    assert!(s.check(at).is_some(), "lost twice: skipped");
}

#[test]
fn an_unacknowledged_tail_is_skipped_after_a_probe_timeout() {
    let t0 = Instant::now();
    let mut s = ten_sent(t0, rtx0);
    // Everything but the last acknowledged.
    s.on_received(t0 + ms(20), &sack(108, &[]));
    assert!(s.check(t0 + ms(20)).is_none());
    let at = s.poll_timeout().expect("when");
    // The round trip measured (20 ms), the reordering window (5 ms) and the tail allowance.
    assert_eq!(at, t0 + ms(20 + 5 + 50));
    assert_eq!(
        read_forwards(&s.check(at).expect("skipped")),
        vec![(109, vec![(STREAM, 9)])]
    );
}

#[test]
fn holes_among_acknowledged_messages_go_in_one_forward_tsn() {
    let t0 = Instant::now();
    let mut s = ten_sent(t0, rtx0);
    // 100..=102 lost, 103 acknowledged, 104 lost, the rest acknowledged.
    s.on_received(t0 + ms(20), &sack(99, &[(4, 4), (6, 10)]));
    assert!(s.check(t0 + ms(20)).is_none());
    let at = s.poll_timeout().expect("when");
    // Two runs, one FORWARD TSN each, in one packet; 103 is named by neither.
    assert_eq!(
        read_forwards(&s.check(at).expect("skipped")),
        vec![(102, vec![(STREAM, 2)]), (104, vec![(STREAM, 4)])]
    );
    assert_eq!(s.skipped(), 4);
    assert!(s.check(at + ms(1)).is_none(), "nothing new");
}

#[test]
fn a_forward_tsn_still_unacknowledged_goes_again_with_the_next_one() {
    let t0 = Instant::now();
    let mut s = ten_sent(t0, rtx0);
    // 100 lost, 101..=103 acknowledged; 104 and on outstanding.
    s.on_received(t0 + ms(20), &sack(99, &[(2, 4)]));
    assert!(s.check(t0 + ms(20)).is_none());
    let first = s.poll_timeout().expect("when");
    assert_eq!(
        read_forwards(&s.check(first).expect("skipped")),
        vec![(100, vec![(STREAM, 0)])]
    );
    // That FORWARD TSN is lost: no SACK moves past 99. 104 is lost too, 105..=109 arrive
    // (104 was sent long before them: known lost at once).
    s.on_received(first + ms(20), &sack(99, &[(2, 4), (6, 10)]));
    assert_eq!(
        read_forwards(&s.check(first + ms(20)).expect("skipped")),
        vec![(100, vec![(STREAM, 0)]), (104, vec![(STREAM, 4)])]
    );
}

#[test]
fn hostile_sacks_cost_bounded_work_and_change_nothing_they_should_not() {
    let t0 = Instant::now();
    let mut s = ten_sent(t0, rtx0);
    // A SACK claiming 65,535 gap blocks in a short chunk, a SACK far in the future, and
    // garbage: no panic, and the far one only acknowledges what was sent.
    let mut p = sack(99, &[]);
    p[12 + 12] = 0xff;
    p[12 + 13] = 0xff;
    s.on_received(t0, &p);
    let many: Vec<(u16, u16)> = (0..1_000).map(|i| (i, i)).collect();
    s.on_received(t0, &sack(99, &many));
    s.on_received(t0, &[0xff; 40]);
    s.on_received(t0, &sack(99 + (1 << 30), &[]));
    assert!(s.chunks.is_empty());
    assert!(s.check(t0 + ms(10_000)).is_none());
    // An old SACK after it does not bring anything back.
    s.on_received(t0, &sack(50, &[]));
    assert!(s.check(t0 + ms(20_000)).is_none());
}

#[test]
fn memory_is_bounded_by_the_chunks_tracked() {
    let t0 = Instant::now();
    let mut s = Skipper::default();
    for i in 0..(MAX_TRACKED as u32 + 1_000) {
        s.on_sent(t0, &whole(i, i as u16), rtx0);
    }
    assert_eq!(s.chunks.len(), MAX_TRACKED);
}
