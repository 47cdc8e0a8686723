use super::*;

/// A DATA packet with one chunk of `tsn` (a valid checksum, as rtc-sctp marshals it).
pub(in crate::core) fn data(tsn: u32) -> Bytes {
    let mut p = vec![0u8; 12];
    p.extend_from_slice(&[DATA, 3, 0, 20]);
    p.extend_from_slice(&tsn.to_be_bytes());
    p.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 51, 1, 2, 3, 4]);
    let sum = crc32c::crc32c(&p);
    p[CHECKSUM].copy_from_slice(&sum.to_le_bytes());
    Bytes::from(p)
}

/// A packet with one SACK: cumulative `cum`, gap blocks as offsets from it.
pub(in crate::core) fn sack(cum: u32, gaps: &[(u16, u16)]) -> Vec<u8> {
    let mut p = vec![0u8; 12];
    let len = 16 + 4 * gaps.len();
    p.extend_from_slice(&[SACK, 0]);
    p.extend_from_slice(&(len as u16).to_be_bytes());
    p.extend_from_slice(&cum.to_be_bytes());
    p.extend_from_slice(&(1u32 << 20).to_be_bytes());
    p.extend_from_slice(&(gaps.len() as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    for (s, e) in gaps {
        p.extend_from_slice(&s.to_be_bytes());
        p.extend_from_slice(&e.to_be_bytes());
    }
    p
}

fn tsn_of(packet: &[u8]) -> u32 {
    u32::from_be_bytes([packet[16], packet[17], packet[18], packet[19]])
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Sends TSNs `from..=to` at `at`.
fn send(r: &mut Recovery, at: Instant, from: u32, to: u32) {
    for tsn in from..=to {
        r.on_sent(at, &data(tsn), |_| true);
    }
}

/// A recovery that measured `rtt` on TSNs 1..=4 (sent at the returned instant minus `rtt`),
/// and the instant their SACK came.
fn measured(rtt: Duration) -> (Recovery, Instant) {
    let t0 = Instant::now();
    let mut r = Recovery::default();
    send(&mut r, t0, 1, 4);
    r.on_received(t0 + rtt, &sack(4, &[]));
    (r, t0 + rtt)
}

#[test]
fn a_hole_acknowledged_around_is_sent_again_after_a_round_trip() {
    let (mut r, acked) = measured(ms(40));
    let t0 = acked - ms(40);
    send(&mut r, t0 + ms(40), 5, 12);
    // TSN 5 lost: the SACKs report 6..=12 in a gap block.
    r.on_received(t0 + ms(80), &sack(4, &[(2, 8)]));
    assert!(
        r.take_due().is_empty(),
        "not before a round trip plus the reordering window"
    );
    let at = r.poll_timeout().expect("a deadline");
    assert!(
        at <= t0 + ms(40 + 40 + 10) && at > t0 + ms(80),
        "{:?}",
        at - t0
    );
    r.check(at);
    let due = r.take_due();
    assert_eq!(due.len(), 1);
    assert_eq!(tsn_of(&due[0]), 5);
    // Marked SACK-IMMEDIATELY, with the checksum computed again.
    assert_eq!(due[0][13] & FLAG_IMMEDIATE, FLAG_IMMEDIATE);
    let mut zeroed = due[0].to_vec();
    zeroed[CHECKSUM].fill(0);
    assert_eq!(crc32c::crc32c(&zeroed).to_le_bytes(), due[0][CHECKSUM]);
    assert_eq!(r.resent(), 1);
    // Acknowledged: nothing is held any more.
    r.on_received(at + ms(40), &sack(12, &[]));
    assert!(r.poll_timeout().is_none());
    assert_eq!(r.bytes, 0);
}

/// The probes of a tail that is never acknowledged: the wait before each (ms) and the TSN it
/// sends again.
fn probes(r: &mut Recovery, from: Instant) -> Vec<(u128, u32)> {
    let mut last = from;
    let mut probes = Vec::new();
    while let Some(at) = r.poll_timeout() {
        r.check(at);
        let due = r.take_due();
        if due.is_empty() || probes.len() == 10 {
            break;
        }
        probes.push(((at - last).as_millis(), tsn_of(&due[0])));
        last = at;
    }
    probes
}

fn waits(probes: &[(u128, u32)]) -> Vec<u128> {
    probes.iter().map(|&(wait, _)| wait).collect()
}

#[test]
fn a_lost_tail_is_probed_and_the_probes_back_off_then_stop() {
    let t0 = Instant::now();
    let mut r = Recovery::default();
    send(&mut r, t0, 1, 2);
    r.on_received(t0 + ms(20), &sack(2, &[]));
    send(&mut r, t0 + ms(20), 3, 3);
    // Nothing comes back: the probe goes out after two round trips plus the delayed-SACK
    // allowance (one packet is unacknowledged), the second after the same wait, then each
    // after twice as long.
    assert_eq!(
        probes(&mut r, t0 + ms(20)),
        [(240, 3), (240, 3), (480, 3), (960, 3)],
        "then rtc-sctp's own timer"
    );
}

#[test]
fn a_round_whose_sacks_are_lost_is_probed_without_the_delayed_sack_allowance() {
    // A 100 ms round trip; then a round of four packets whose SACK and whose first probe's
    // SACK a burst takes. The remote answers two packets at once, so no delayed-SACK
    // allowance: probes at 200 and 400 ms, the third at 800 ms, all before rtc-sctp's timer
    // (1 s) would collapse its window to one packet.
    let (mut r, acked) = measured(ms(100));
    send(&mut r, acked, 5, 8);
    assert_eq!(waits(&probes(&mut r, acked)), [200, 200, 400, 800]);
}

#[test]
fn probes_on_a_sub_millisecond_round_trip_wait_a_scheduling_delay() {
    let (mut r, acked) = measured(Duration::from_micros(100));
    let sent = acked + ms(1);
    send(&mut r, sent, 5, 8);
    assert_eq!(waits(&probes(&mut r, sent)), [10, 10, 20, 40]);
}

#[test]
fn old_sacks_and_foreign_chunks_change_nothing() {
    let t0 = Instant::now();
    let mut r = Recovery::default();
    send(&mut r, t0, 10, 20);
    r.on_received(t0 + ms(10), &sack(15, &[]));
    let held = r.outstanding.len();
    r.on_received(t0 + ms(11), &sack(12, &[(2, 9)]));
    r.on_received(t0 + ms(11), &[0u8; 3]);
    r.on_received(t0 + ms(11), &data(30));
    let mut truncated = sack(18, &[(1, 1)]);
    truncated.truncate(20);
    r.on_received(t0 + ms(11), &truncated);
    assert_eq!(r.outstanding.len(), held);
    assert!(r.take_due().is_empty());
}

#[test]
fn what_is_held_is_bounded() {
    let t0 = Instant::now();
    let mut r = Recovery::default();
    let count = (MAX_TRACKED_BYTES / data(0).len()) as u32 + 100;
    send(&mut r, t0, 1, count);
    assert!(r.bytes <= MAX_TRACKED_BYTES);
    r.on_received(t0 + ms(10), &sack(count, &[]));
    assert_eq!(r.bytes, 0);
}

#[test]
fn packets_of_partially_reliable_streams_are_left_to_sctp() {
    let t0 = Instant::now();
    let mut r = Recovery::default();
    // The test packets carry stream 1.
    r.on_sent(t0, &data(1), |stream| stream != 1);
    r.on_sent(t0, &data(2), |_| true);
    assert_eq!(r.outstanding.len(), 1);
    r.on_received(t0 + ms(20), &sack(0, &[(2, 2)]));
    r.check(t0 + ms(10_000));
    assert!(r.take_due().is_empty(), "TSN 1 is not sent again");
    assert!(!r.repairs_all(), "a hole at TSN 1 is rtc-sctp's to repair");
    r.on_received(t0 + ms(10_020), &sack(2, &[]));
    assert!(r.repairs_all());
}

#[test]
fn a_sack_with_thousands_of_gap_blocks_is_read_only_to_its_bound() {
    let t0 = Instant::now();
    let mut r = Recovery::default();
    send(&mut r, t0, 1, 200);
    // 3,000 one-TSN gap blocks above cumulative TSN 0 (offsets 2, 4, 6, ...): a real receiver
    // never reports so many; only the first MAX_GAP_BLOCKS are taken.
    let gaps: Vec<(u16, u16)> = (1..=3000u16).map(|i| (2 * i, 2 * i)).collect();
    r.on_received(t0 + ms(10), &sack(0, &gaps));
    let acked_by_blocks = MAX_GAP_BLOCKS.min(100);
    assert_eq!(r.outstanding.len(), 200 - acked_by_blocks);
    // TSN 2 * (MAX_GAP_BLOCKS + 1), reported in a block past the bound, still counts as
    // outstanding; the cost of a SACK stays bounded by the packets held, not by its size.
    let beyond = 2 * (MAX_GAP_BLOCKS as u32 + 1);
    assert!(r.outstanding.iter().any(|s| s.tsns.contains(&beyond)));
}

/// A packet of a SACK (bundled, as rtc-sctp may) and two FORWARD TSN chunks.
fn forward_packet(cums: &[u32]) -> Bytes {
    let mut p = sack(1, &[]);
    for cum in cums {
        p.extend_from_slice(&[FORWARD_TSN, 0, 0, 12]);
        p.extend_from_slice(&cum.to_be_bytes());
        p.extend_from_slice(&[0, 1, 0, 7]);
    }
    Bytes::from(p)
}

#[test]
fn an_unacknowledged_forward_tsn_is_sent_again_alone_until_a_sack_reaches_it() {
    let t0 = Instant::now();
    let mut r = Recovery::default();
    r.set_rtt_hint(Some(ms(40)));
    r.on_sent(t0, &forward_packet(&[10, 14]), |_| true);
    let at = r.poll_timeout().expect("a deadline");
    assert_eq!(at, t0 + ms(40 + 10 + 50));
    r.check(at);
    let due = r.take_due();
    assert_eq!(due.len(), 1);
    // The FORWARD TSN chunks only, in order, with the checksum computed again.
    let kinds: Vec<(u8, u32)> = sctp_chunks(&due[0])
        .map(|(k, _, v)| (k, u32::from_be_bytes([v[0], v[1], v[2], v[3]])))
        .collect();
    assert_eq!(kinds, vec![(FORWARD_TSN, 10), (FORWARD_TSN, 14)]);
    let mut zeroed = due[0].to_vec();
    zeroed[CHECKSUM].fill(0);
    assert_eq!(crc32c::crc32c(&zeroed).to_le_bytes(), due[0][CHECKSUM]);
    // Waits twice as long the next time; a SACK short of the last one changes nothing.
    assert_eq!(r.poll_timeout(), Some(at + ms(2 * (40 + 10 + 50))));
    r.on_received(at, &sack(12, &[]));
    assert!(r.poll_timeout().is_some());
    r.on_received(at, &sack(14, &[]));
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn the_standing_round_trip_is_the_shortest_of_the_last_half_round_trip() {
    let t0 = Instant::now();
    let mut r = Recovery::default();
    assert_eq!(r.standing_rtt(), None);
    send(&mut r, t0, 1, 4);
    r.on_received(t0 + ms(100), &sack(4, &[]));
    assert_eq!(r.standing_rtt(), Some(ms(100)));
    // A queue builds: 115 ms, and the 100 ms sample is more than half a round trip old.
    send(&mut r, t0 + ms(100), 5, 8);
    send(&mut r, t0 + ms(125), 9, 9);
    r.on_received(t0 + ms(215), &sack(8, &[]));
    assert_eq!(r.standing_rtt(), Some(ms(115)));
    // A shorter sample within the last half round trip stands (jitter and a burst's later
    // packets only add to a round trip).
    r.on_received(t0 + ms(230), &sack(9, &[]));
    assert_eq!(r.standing_rtt(), Some(ms(105)));
    assert_eq!(r.min_rtt(), Some(ms(100)));
}
