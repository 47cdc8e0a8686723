//! The mDNS codec on hand-made messages and the querier on a virtual clock.

use super::message::*;
use super::*;
use std::net::Ipv6Addr;

const NAME: &str = "0f1e2d3c-aaaa-bbbb-cccc-0123456789ab.local";
const CLASS_IN_FLUSH: u16 = 0x8001;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn wire(name: &str) -> Vec<u8> {
    wire_name(name).expect("test name")
}

/// A header with QR and AA set and the given section counts.
fn header(qd: u16, an: u16, ns: u16, ar: u16) -> Vec<u8> {
    let mut h = vec![0, 0, 0x84, 0];
    for n in [qd, an, ns, ar] {
        h.extend_from_slice(&n.to_be_bytes());
    }
    h
}

fn record(name: &[u8], rtype: u16, class: u16, data: &[u8]) -> Vec<u8> {
    let mut r = name.to_vec();
    r.extend_from_slice(&rtype.to_be_bytes());
    r.extend_from_slice(&class.to_be_bytes());
    r.extend_from_slice(&120u32.to_be_bytes());
    r.extend_from_slice(&(data.len() as u16).to_be_bytes());
    r.extend_from_slice(data);
    r
}

fn a_record(name: &[u8], ip: [u8; 4]) -> Vec<u8> {
    record(name, TYPE_A, CLASS_IN_FLUSH, &ip)
}

/// A response with one answer: `NAME` is 10.0.0.7.
fn simple_answer() -> Vec<u8> {
    let mut m = header(0, 1, 0, 0);
    m.extend(a_record(&wire(NAME), [10, 0, 0, 7]));
    m
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

#[test]
fn query_is_one_question_with_the_qu_bit() {
    let q = encode_query(&wire("Ab.LOCAL."), TYPE_A);
    let mut expected = vec![0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    expected.extend_from_slice(b"\x02ab\x05local\x00");
    expected.extend_from_slice(&[0, 1, 0x80, 1]);
    assert_eq!(q, expected);
    let q = encode_query(&wire("ab.local"), TYPE_AAAA);
    assert_eq!(&q[q.len() - 4..], &[0, 28, 0x80, 1]);
}

#[test]
fn names_that_do_not_fit_are_refused() {
    assert_eq!(wire_name(""), None);
    assert_eq!(wire_name("a..local"), None);
    assert_eq!(wire_name(&format!("{}.local", "x".repeat(64))), None);
    assert!(wire_name(&format!("{}.local", "x".repeat(63))).is_some());
    let long = vec!["abcdefg"; 32].join(".");
    assert_eq!(wire_name(&long), None, "{} bytes", long.len());
}

#[test]
fn reads_an_answer() {
    let records = parse_response(&simple_answer()).unwrap();
    assert_eq!(
        records,
        vec![Record {
            name: wire(NAME),
            addr: v4(10, 0, 0, 7)
        }]
    );
}

#[test]
fn names_compare_case_insensitively() {
    let mut m = header(0, 1, 0, 0);
    m.extend(a_record(&wire(NAME), [1, 2, 3, 4]));
    // wire() lowercases; write the owner name in capitals by hand.
    let upper = NAME.to_ascii_uppercase();
    let start = 12;
    let mut raw = Vec::new();
    for label in upper.split('.') {
        raw.push(label.len() as u8);
        raw.extend_from_slice(label.as_bytes());
    }
    raw.push(0);
    m[start..start + raw.len()].copy_from_slice(&raw);
    assert_eq!(parse_response(&m).unwrap()[0].name, wire(NAME));
}

#[test]
fn follows_compression_pointers() {
    // Question NAME at offset 12; the answer points at it, the additional record is
    // "other" + a pointer to the question's "local" label.
    let question = wire(NAME);
    let local_at = 12 + 1 + NAME.find('.').unwrap();
    let mut m = header(1, 1, 0, 1);
    m.extend_from_slice(&question);
    m.extend_from_slice(&[0, 1, 0x80, 1]);
    m.extend(a_record(&[0xc0, 12], [192, 168, 1, 20]));
    let mut other = b"\x05other".to_vec();
    other.extend_from_slice(&[0xc0, local_at as u8]);
    let aaaa: [u8; 16] = "fe80::1".parse::<Ipv6Addr>().unwrap().octets();
    let other_at = m.len();
    m.extend(record(&other, TYPE_AAAA, CLASS_IN_FLUSH, &aaaa));
    // A pointer to a name that ends in a pointer itself.
    let nested = [1, b'y', 0xc0, other_at as u8];
    m.extend(a_record(&nested, [192, 168, 1, 21]));
    m[11] = 2; // ARCOUNT
    let records = parse_response(&m).unwrap();
    assert_eq!(
        records,
        vec![
            Record {
                name: question,
                addr: v4(192, 168, 1, 20)
            },
            Record {
                name: wire("other.local"),
                addr: "fe80::1".parse().unwrap()
            },
            Record {
                name: wire("y.other.local"),
                addr: v4(192, 168, 1, 21)
            },
        ]
    );
}

#[test]
fn pointer_loops_and_forward_pointers_are_refused() {
    // A pointer to itself.
    let mut m = header(0, 1, 0, 0);
    m.extend(a_record(&[0xc0, 12], [1, 1, 1, 1]));
    assert_eq!(parse_response(&m), Err(Malformed::BadName));
    // A forward pointer, to a valid name further on.
    let mut m = header(0, 1, 0, 0);
    m.extend(a_record(&[0xc0, 30], [1, 1, 1, 1]));
    m.extend_from_slice(&wire("a.local"));
    assert_eq!(parse_response(&m), Err(Malformed::BadName));
    // Backwards, but to the start of its own name: "a" then a pointer back to the "a".
    let mut m = header(0, 1, 0, 0);
    m.extend(a_record(&[1, b'a', 0xc0, 12], [1, 1, 1, 1]));
    assert_eq!(parse_response(&m), Err(Malformed::BadName));
    // Two names pointing at each other.
    let mut m = header(1, 1, 0, 0);
    m.extend_from_slice(&[1, b'x', 0xc0, 18]); // 12: "x" -> 18
    m.extend_from_slice(&[0, 1, 0, 1]); // 16: type, class
    m.extend(a_record(&[1, b'y', 0xc0, 12], [1, 1, 1, 1])); // 18: "y" -> 12
    assert_eq!(parse_response(&m), Err(Malformed::BadName));
}

#[test]
fn names_too_long_through_pointers_are_refused() {
    // Each name is 60 bytes of label plus a pointer to the previous one: the fifth is too long.
    let mut m = header(6, 0, 0, 0);
    let mut previous: Option<u16> = None;
    for _ in 0..6 {
        let at = m.len();
        m.push(59);
        m.extend_from_slice(&[b'z'; 59]);
        match previous {
            Some(p) => m.extend_from_slice(&(0xc000u16 | p).to_be_bytes()),
            None => m.push(0),
        }
        m.extend_from_slice(&[0, 1, 0, 1]);
        previous = Some(at as u16);
    }
    assert_eq!(parse_response(&m), Err(Malformed::BadName));
}

#[test]
fn reserved_label_types_are_refused() {
    for first in [0x40u8, 0x80] {
        let mut m = header(0, 1, 0, 0);
        m.extend(a_record(&[first | 1, b'a', 0], [1, 1, 1, 1]));
        assert_eq!(parse_response(&m), Err(Malformed::BadName));
    }
}

#[test]
fn every_truncation_is_refused() {
    let mut m = header(1, 1, 1, 1);
    m.extend_from_slice(&wire(NAME));
    m.extend_from_slice(&[0, 1, 0x80, 1]);
    m.extend(a_record(&[0xc0, 12], [10, 0, 0, 1]));
    m.extend(record(&[0xc0, 12], TYPE_A, 1, &[10, 0, 0, 2]));
    m.extend(a_record(&[0xc0, 12], [10, 0, 0, 3]));
    assert_eq!(parse_response(&m).unwrap().len(), 2);
    for len in 0..m.len() {
        assert!(
            parse_response(&m[..len]).is_err(),
            "a prefix of {len} bytes"
        );
    }
    // A record whose data length runs past the end.
    let mut m = simple_answer();
    let n = m.len();
    m[n - 6..n - 4].copy_from_slice(&200u16.to_be_bytes());
    assert_eq!(parse_response(&m), Err(Malformed::Truncated));
}

#[test]
fn only_a_and_aaaa_of_class_in_with_their_sizes_count() {
    let name = wire(NAME);
    let mut m = header(0, 5, 1, 1);
    m.extend(record(&name, 12, 1, &wire("x.local"))); // PTR
    m.extend(record(&name, TYPE_A, 3, &[1, 1, 1, 1])); // class CH
    m.extend(record(&name, TYPE_A, 1, &[1, 1, 1])); // short A
    m.extend(record(&name, TYPE_AAAA, 1, &[1, 1, 1, 1])); // short AAAA
    m.extend(record(&name, TYPE_A, 1, &[10, 0, 0, 9])); // without the cache-flush bit
    m.extend(a_record(&name, [6, 6, 6, 6])); // authority: a probe's proposal
    m.extend(a_record(&name, [10, 0, 0, 10])); // additional
    let addrs: Vec<IpAddr> = parse_response(&m)
        .unwrap()
        .into_iter()
        .map(|r| r.addr)
        .collect();
    assert_eq!(addrs, vec![v4(10, 0, 0, 9), v4(10, 0, 0, 10)]);
}

#[test]
fn queries_errors_and_oversized_messages_are_not_answers() {
    let query = encode_query(&wire(NAME), TYPE_A);
    assert_eq!(parse_response(&query), Err(Malformed::NotAnAnswer));
    let mut m = simple_answer();
    m[3] = 3; // NXDOMAIN
    assert_eq!(parse_response(&m), Err(Malformed::NotAnAnswer));
    let mut m = simple_answer();
    m[2] |= 0x10; // opcode 2 (STATUS)
    assert_eq!(parse_response(&m), Err(Malformed::NotAnAnswer));
    let mut m = simple_answer();
    m.resize(MAX_MESSAGE + 1, 0);
    assert_eq!(parse_response(&m), Err(Malformed::TooLarge));
}

#[test]
fn random_and_mutated_messages_never_panic() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let base = {
        let mut m = header(1, 1, 0, 1);
        m.extend_from_slice(&wire(NAME));
        m.extend_from_slice(&[0, 1, 0x80, 1]);
        m.extend(a_record(&[0xc0, 12], [10, 0, 0, 1]));
        m.extend(a_record(&[3, b'a', b'b', b'c', 0xc0, 49], [10, 0, 0, 2]));
        m
    };
    for _ in 0..20_000 {
        let mut m = base.clone();
        for _ in 0..1 + next() % 4 {
            let i = (next() as usize) % m.len();
            m[i] = next() as u8;
        }
        m.truncate(1 + (next() as usize) % m.len());
        let _ = parse_response(&m);
        let random: Vec<u8> = (0..next() % 64).map(|_| next() as u8).collect();
        let _ = parse_response(&random);
    }
}

// The querier.

fn packets(q: &mut Querier<u32>) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| q.poll_transmit()).collect()
}

/// (type, class) of each query packet.
fn questions(packets: &[Vec<u8>]) -> Vec<(u16, u16)> {
    packets
        .iter()
        .map(|p| {
            let n = p.len();
            (
                u16::from_be_bytes([p[n - 4], p[n - 3]]),
                u16::from_be_bytes([p[n - 2], p[n - 1]]),
            )
        })
        .collect()
}

#[test]
fn retransmits_on_schedule_then_gives_up() {
    let t0 = Instant::now();
    let mut q = Querier::new(false);
    q.start(t0, NAME, 7).unwrap();
    let first = packets(&mut q);
    assert_eq!(first, vec![encode_query(&wire(NAME), TYPE_A)]);
    let mut sent_at = vec![Duration::ZERO];
    let mut now = t0;
    while let Some(wake) = q.poll_timeout() {
        assert!(wake > now, "the querier asks to wake up in the past");
        assert!(wake - t0 <= GIVE_UP);
        // Waking up early does nothing.
        q.handle_timeout(wake - ms(1));
        assert!(packets(&mut q).is_empty());
        now = wake;
        q.handle_timeout(now);
        for p in packets(&mut q) {
            assert_eq!(p, first[0]);
            sent_at.push(now - t0);
        }
    }
    assert_eq!(sent_at, vec![ms(0), ms(200), ms(600)]);
    assert_eq!(now - t0, GIVE_UP);
    let r = q.poll_result().expect("given up");
    assert_eq!((r.tag, r.addrs), (7, vec![]));
    assert!(q.poll_result().is_none());
    q.handle_timeout(now + ms(5000));
    assert!(packets(&mut q).is_empty());
}

#[test]
fn asks_for_aaaa_too_when_told() {
    let t0 = Instant::now();
    let mut q = Querier::new(true);
    q.start(t0, NAME, 1).unwrap();
    assert_eq!(
        questions(&packets(&mut q)),
        vec![(TYPE_A, 0x8001), (TYPE_AAAA, 0x8001)]
    );
    q.handle_timeout(t0 + ms(200));
    assert_eq!(packets(&mut q).len(), 2);
}

#[test]
fn a_late_driver_sends_one_query_for_the_missed_ones() {
    let t0 = Instant::now();
    let mut q = Querier::new(false);
    q.start(t0, NAME, 1).unwrap();
    packets(&mut q);
    q.handle_timeout(t0 + ms(700));
    assert_eq!(packets(&mut q).len(), 1);
    assert_eq!(q.poll_timeout(), Some(t0 + GIVE_UP));
}

#[test]
fn an_answer_resolves_and_stops_the_queries() {
    let t0 = Instant::now();
    let mut q = Querier::new(false);
    q.start(t0, NAME, 3).unwrap();
    q.start(t0, "other.local", 4).unwrap();
    packets(&mut q);
    q.handle_response(t0 + ms(50), &simple_answer()).unwrap();
    let r = q.poll_result().expect("resolved");
    assert_eq!((r.tag, r.addrs), (3, vec![v4(10, 0, 0, 7)]));
    assert!(q.poll_result().is_none(), "the other name is still pending");
    q.handle_timeout(t0 + ms(200));
    let p = packets(&mut q);
    assert_eq!(p, vec![encode_query(&wire("other.local"), TYPE_A)]);
}

#[test]
fn wrong_names_and_malformed_responses_change_nothing() {
    let t0 = Instant::now();
    let mut q = Querier::new(false);
    q.start(t0, NAME, 1).unwrap();
    let mut m = header(0, 1, 0, 1);
    m.extend(a_record(&wire("someone-else.local"), [10, 0, 0, 1]));
    // The same labels with one more in front are a different name.
    let mut longer = b"\x01x".to_vec();
    longer.extend(wire(NAME));
    m.extend(a_record(&longer, [10, 0, 0, 2]));
    q.handle_response(t0, &m).unwrap();
    assert_eq!(
        q.handle_response(t0, &simple_answer()[..20]),
        Err(Malformed::Truncated)
    );
    assert!(q.poll_result().is_none());
    assert_eq!(q.poll_timeout(), Some(t0 + ms(200)));
}

#[test]
fn aaaa_is_used_only_when_asked_for_and_ipv4_comes_first() {
    let v6: Ipv6Addr = "2001:db8::5".parse().unwrap();
    let mut m = header(0, 2, 0, 0);
    m.extend(record(&wire(NAME), TYPE_AAAA, CLASS_IN_FLUSH, &v6.octets()));
    m.extend(a_record(&wire(NAME), [10, 0, 0, 5]));
    let only_v6 = {
        let mut m = header(0, 1, 0, 0);
        m.extend(record(&wire(NAME), TYPE_AAAA, CLASS_IN_FLUSH, &v6.octets()));
        m
    };
    let t0 = Instant::now();
    let mut q = Querier::new(false);
    q.start(t0, NAME, 1).unwrap();
    q.handle_response(t0, &only_v6).unwrap();
    assert!(q.poll_result().is_none(), "an AAAA answer we cannot use");
    q.handle_response(t0, &m).unwrap();
    assert_eq!(q.poll_result().unwrap().addrs, vec![v4(10, 0, 0, 5)]);

    let mut q = Querier::new(true);
    q.start(t0, NAME, 1).unwrap();
    q.handle_response(t0, &m).unwrap();
    assert_eq!(
        q.poll_result().unwrap().addrs,
        vec![v4(10, 0, 0, 5), IpAddr::V6(v6)]
    );
}

#[test]
fn an_answer_after_giving_up_is_not_used() {
    let t0 = Instant::now();
    let mut q = Querier::new(false);
    q.start(t0, NAME, 1).unwrap();
    // The driver has not woken up for the deadline yet when the answer comes.
    q.handle_response(t0 + GIVE_UP, &simple_answer()).unwrap();
    let r = q.poll_result().unwrap();
    assert!(r.addrs.is_empty());
    assert!(q.poll_result().is_none());
}

#[test]
fn one_answer_serves_every_lookup_of_the_name() {
    let t0 = Instant::now();
    let mut q = Querier::new(false);
    q.start(t0, NAME, 1).unwrap();
    q.start(t0, &NAME.to_ascii_uppercase(), 2).unwrap();
    q.handle_response(t0, &simple_answer()).unwrap();
    let mut tags: Vec<u32> = std::iter::from_fn(|| q.poll_result())
        .map(|r| r.tag)
        .collect();
    tags.sort();
    assert_eq!(tags, vec![1, 2]);
}

#[test]
fn lookups_are_capped() {
    let t0 = Instant::now();
    let mut q = Querier::new(false);
    for i in 0..MAX_QUERIES as u32 {
        q.start(t0, &format!("n{i}.local"), i).unwrap();
    }
    assert_eq!(
        q.start(t0, "more.local", 99).unwrap_err(),
        (Refused::Busy, 99)
    );
    assert_eq!(packets(&mut q).len(), MAX_QUERIES);
    // A finished lookup frees its place.
    q.handle_timeout(t0 + GIVE_UP);
    q.start(t0 + GIVE_UP, "more.local", 99).unwrap();
    assert_eq!(
        q.start(t0, "a..local", 5).unwrap_err(),
        (Refused::BadName, 5)
    );
}
