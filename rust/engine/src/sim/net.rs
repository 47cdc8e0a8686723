//! The simulated path between the two cores: what a datagram is ([`Kind`]), what a path does
//! with it ([`Filter`] → [`Verdict`]), ready-made filters, and a seeded random generator so
//! lossy runs repeat exactly.

use bytes::BytesMut;
use rtc_stun::attributes::ATTR_USE_CANDIDATE;
use rtc_stun::message::{Message as StunMessage, CLASS_REQUEST};
use std::time::Duration;

/// DTLS record content types (RFC 6347 §4.1).
pub(crate) const DTLS_ALERT: u8 = 21;
pub(crate) const DTLS_HANDSHAKE: u8 = 22;
pub(crate) const DTLS_APPLICATION_DATA: u8 = 23;
const DTLS_RECORD_HEADER: usize = 13;

/// What a datagram carries, by its first bytes (RFC 7983 demultiplexing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A STUN request (`nominate`: with USE-CANDIDATE).
    StunRequest {
        nominate: bool,
    },
    /// A STUN response or indication.
    StunOther,
    /// DTLS; the content type of the first record (20..=63).
    Dtls(u8),
    Other,
}

impl Kind {
    pub fn of(data: &[u8]) -> Kind {
        match data.first() {
            Some(0..=3) => {
                let mut m = StunMessage::new();
                match m.unmarshal_binary(data) {
                    Ok(()) if m.typ.class == CLASS_REQUEST => Kind::StunRequest {
                        nominate: m.contains(ATTR_USE_CANDIDATE),
                    },
                    _ => Kind::StunOther,
                }
            }
            Some(&b @ 20..=63) => Kind::Dtls(b),
            _ => Kind::Other,
        }
    }

    pub fn is_stun(self) -> bool {
        matches!(self, Kind::StunRequest { .. } | Kind::StunOther)
    }

    pub fn is_dtls(self) -> bool {
        matches!(self, Kind::Dtls(_))
    }
}

/// The DTLS records of a datagram: (content type, bytes of the whole record).
pub(crate) fn dtls_records(data: &[u8]) -> Vec<(u8, &[u8])> {
    let mut out = Vec::new();
    let mut rest = data;
    while rest.len() >= DTLS_RECORD_HEADER && matches!(rest[0], 20..=63) {
        let len = u16::from_be_bytes([rest[11], rest[12]]) as usize;
        let end = (DTLS_RECORD_HEADER + len).min(rest.len());
        out.push((rest[0], &rest[..end]));
        rest = &rest[end..];
    }
    out
}

/// One datagram on its way, as a [`Filter`] sees it.
pub(crate) struct Datagram<'a> {
    /// Virtual time it was sent at (since the start of the simulation).
    pub at: Duration,
    pub kind: Kind,
    pub data: &'a [u8],
}

/// What the path does with one datagram. Delays add to the path's latency.
#[derive(Debug)]
pub(crate) enum Verdict {
    Deliver,
    Drop,
    /// Delivered this much later than the latency (later datagrams may overtake it).
    Delay(Duration),
    /// Delivered, and a copy delivered this much later.
    Duplicate(Duration),
    /// These bytes are delivered instead.
    Replace(BytesMut),
}

/// Decides, per datagram of one direction, what the path does with it.
pub(crate) trait Filter {
    fn verdict(&mut self, d: &Datagram<'_>) -> Verdict;
}

impl<F: FnMut(&Datagram<'_>) -> Verdict> Filter for F {
    fn verdict(&mut self, d: &Datagram<'_>) -> Verdict {
        self(d)
    }
}

/// Everything passes.
pub(crate) fn pass() -> impl Filter {
    |_: &Datagram<'_>| Verdict::Deliver
}

/// Nothing passes: the remote is gone (no close, no alert, silence).
pub(crate) fn drop_all() -> impl Filter {
    |_: &Datagram<'_>| Verdict::Drop
}

/// Nothing sent at or after `t` passes.
pub(crate) fn drop_after(t: Duration) -> impl Filter {
    move |d: &Datagram<'_>| {
        if d.at >= t {
            Verdict::Drop
        } else {
            Verdict::Deliver
        }
    }
}

/// The path is down for what is sent in `from..to`.
pub(crate) fn cut(from: Duration, to: Duration) -> impl Filter {
    move |d: &Datagram<'_>| {
        if (from..to).contains(&d.at) {
            Verdict::Drop
        } else {
            Verdict::Deliver
        }
    }
}

/// STUN and the DTLS handshake pass; DTLS application data records (SCTP) are removed, and a
/// datagram left empty is dropped: a remote whose DTLS completes and whose SCTP never answers.
pub(crate) fn drop_application_data() -> impl Filter {
    |d: &Datagram<'_>| {
        if !d.kind.is_dtls() {
            return Verdict::Deliver;
        }
        let records = dtls_records(d.data);
        if records.iter().all(|(t, _)| *t != DTLS_APPLICATION_DATA) {
            return Verdict::Deliver;
        }
        let mut kept = BytesMut::new();
        for (t, r) in records {
            if t != DTLS_APPLICATION_DATA {
                kept.extend_from_slice(r);
            }
        }
        if kept.is_empty() {
            Verdict::Drop
        } else {
            Verdict::Replace(kept)
        }
    }
}

/// Drops each datagram with probability `percent`/100, from a seeded generator.
pub(crate) fn loss(seed: u64, percent: u64) -> impl Filter {
    let mut rng = Rng::new(seed);
    move |_: &Datagram<'_>| {
        if rng.below(100) < percent {
            Verdict::Drop
        } else {
            Verdict::Deliver
        }
    }
}

/// A bottleneck link: `bits_per_second` of serialisation and a tail-drop FIFO queue of
/// `queue_bytes` in front of it (what a home router does). A datagram is dropped when the
/// bytes still queued plus its own exceed the queue; otherwise it leaves after everything ahead
/// of it, so the path's delay grows with the queue. Sizes count 28 bytes of IP and UDP headers.
pub(crate) fn bottleneck(bits_per_second: u64, queue_bytes: u64) -> impl Filter {
    let mut busy_until = Duration::ZERO;
    move |d: &Datagram<'_>| {
        let size = d.data.len() as u64 + 28;
        let backlog = busy_until.saturating_sub(d.at);
        let queued = (backlog.as_nanos() as u64).saturating_mul(bits_per_second) / 8_000_000_000;
        if queued + size > queue_bytes {
            return Verdict::Drop;
        }
        let serialise = Duration::from_nanos(size * 8_000_000_000 / bits_per_second.max(1));
        busy_until = busy_until.max(d.at) + serialise;
        Verdict::Delay(busy_until - d.at)
    }
}

/// Duplicates `dup_percent` % of the datagrams (the copy up to `max_delay` later) and delays
/// `late_percent` % by up to `max_delay`, so later datagrams overtake them.
pub(crate) fn duplicate_and_reorder(
    seed: u64,
    dup_percent: u64,
    late_percent: u64,
    max_delay: Duration,
) -> impl Filter {
    let mut rng = Rng::new(seed);
    let max_us = max_delay.as_micros().max(1) as u64;
    move |_: &Datagram<'_>| {
        let roll = rng.below(100);
        let delay = Duration::from_micros(1 + rng.below(max_us));
        if roll < dup_percent {
            Verdict::Duplicate(delay)
        } else if roll < dup_percent + late_percent {
            Verdict::Delay(delay)
        } else {
            Verdict::Deliver
        }
    }
}

/// xorshift64*: small, seeded, good enough to pick which datagrams a test loses.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        // Never zero (xorshift's fixed point); spread small seeds.
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-enough in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

#[test]
fn rng_repeats_per_seed() {
    let a: Vec<u64> = (0..8)
        .scan(Rng::new(7), |r, _| Some(r.below(100)))
        .collect();
    let b: Vec<u64> = (0..8)
        .scan(Rng::new(7), |r, _| Some(r.below(100)))
        .collect();
    let c: Vec<u64> = (0..8)
        .scan(Rng::new(8), |r, _| Some(r.below(100)))
        .collect();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn dtls_records_split_a_datagram() {
    let mut d = vec![22u8, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 9, 9];
    d.extend_from_slice(&[23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1, 7]);
    let r = dtls_records(&d);
    assert_eq!(r.len(), 2);
    assert_eq!((r[0].0, r[0].1.len()), (22, 15));
    assert_eq!((r[1].0, r[1].1.len()), (23, 14));
    assert_eq!(Kind::of(&d), Kind::Dtls(22));
}

#[cfg(test)]
fn verdicts(mut f: impl Filter, n: u64, step: Duration) -> Vec<Verdict> {
    (0..n)
        .map(|i| {
            f.verdict(&Datagram {
                at: step * i as u32,
                kind: Kind::Other,
                data: &[],
            })
        })
        .collect()
}

#[test]
fn filters_decide_per_datagram() {
    let ms = Duration::from_millis(1);
    let dropped = |v: &[Verdict]| v.iter().filter(|v| matches!(v, Verdict::Drop)).count();
    assert_eq!(dropped(&verdicts(pass(), 10, ms)), 0);
    assert_eq!(dropped(&verdicts(drop_all(), 10, ms)), 10);
    assert_eq!(dropped(&verdicts(drop_after(ms * 3), 10, ms)), 7);
    let v = verdicts(cut(ms * 2, ms * 5), 10, ms);
    let kept: Vec<bool> = v.iter().map(|v| matches!(v, Verdict::Deliver)).collect();
    assert_eq!(
        kept,
        [true, true, false, false, false, true, true, true, true, true]
    );
    let lost = dropped(&verdicts(loss(1, 10), 10_000, ms));
    assert!((900..1100).contains(&lost), "{lost}");
    let v = verdicts(duplicate_and_reorder(1, 20, 30, ms * 30), 10_000, ms);
    let dup = v
        .iter()
        .filter(|v| matches!(v, Verdict::Duplicate(_)))
        .count();
    let late = v.iter().filter(|v| matches!(v, Verdict::Delay(_))).count();
    assert!((1800..2200).contains(&dup), "{dup}");
    assert!((2700..3300).contains(&late), "{late}");
    assert!(v.iter().all(|v| match v {
        Verdict::Duplicate(d) | Verdict::Delay(d) => *d > Duration::ZERO && *d <= ms * 30,
        _ => true,
    }));
}
