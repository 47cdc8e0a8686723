//! The responder on hand-made queries and a virtual clock: what it answers, how, how often,
//! and that hostile input costs nothing.

use super::message::*;
use super::responder::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

const OURS: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7));
const OURS_V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 7));

fn from_5353() -> SocketAddr {
    "10.0.0.9:5353".parse().unwrap()
}

fn one_shot() -> SocketAddr {
    "10.0.0.9:40000".parse().unwrap()
}

/// A query with the given questions (name, type, QU), ID `id`.
fn query(id: u16, questions: &[(&str, u16, bool)]) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[0, 0]);
    m.extend_from_slice(&(questions.len() as u16).to_be_bytes());
    m.extend_from_slice(&[0; 6]);
    for (name, qtype, qu) in questions {
        m.extend(wire_name(name).unwrap());
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&(if *qu { 0x8001u16 } else { 1 }).to_be_bytes());
    }
    m
}

fn answers(r: &mut Responder) -> Vec<Answer> {
    std::iter::from_fn(|| r.poll_answer()).collect()
}

fn with_name(addr: IpAddr) -> (Responder, String) {
    let mut r = Responder::new();
    let prefix = if addr.is_ipv4() { 24 } else { 64 };
    let name = r.name_for(addr, prefix, [0x5a; 16]).unwrap();
    (r, name)
}

#[test]
fn names_are_uuid_v4_dot_local_one_per_address() {
    let mut r = Responder::new();
    let name = r.name_for(OURS, 24, [0xff; 16]).unwrap();
    assert_eq!(name, "ffffffff-ffff-4fff-bfff-ffffffffffff.local");
    assert_eq!(r.name_for(OURS, 24, [0; 16]).unwrap(), name);
    let other = r.name_for(OURS_V6, 64, [0; 16]).unwrap();
    assert_eq!(other, "00000000-0000-4000-8000-000000000000.local");
    for i in 2..MAX_NAMES {
        let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 1, i as u8));
        assert!(r.name_for(ip, 24, [i as u8; 16]).is_some());
    }
    assert_eq!(r.name_for("10.9.9.9".parse().unwrap(), 24, [1; 16]), None);
    assert_eq!(r.ipv4_addresses().count(), MAX_NAMES - 1);
}

#[test]
fn a_question_from_the_group_is_answered_to_the_group_out_of_the_address() {
    let (mut r, name) = with_name(OURS);
    let now = Instant::now();
    r.handle_query(now, from_5353(), &query(7, &[(&name, TYPE_A, false)]))
        .unwrap();
    let out = answers(&mut r);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(
        out[0].to,
        Destination::Group {
            via: Some(Ipv4Addr::new(10, 0, 0, 7))
        }
    );
    // ID 0, no question, the record with the cache-flush bit: what our querier reads.
    assert_eq!(&out[0].data[..6], &[0, 0, 0x84, 0, 0, 0]);
    let records = parse_response(&out[0].data).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].name, wire_name(&name).unwrap());
    assert_eq!(records[0].addr, OURS);
}

#[test]
fn names_are_matched_case_insensitively() {
    let (mut r, name) = with_name(OURS);
    let shouted = name.to_ascii_uppercase();
    r.handle_query(
        Instant::now(),
        from_5353(),
        &query(0, &[(&shouted, TYPE_ANY, false)]),
    )
    .unwrap();
    assert_eq!(answers(&mut r).len(), 1);
}

#[test]
fn a_one_shot_query_gets_a_unicast_answer_echoing_id_and_question() {
    let (mut r, name) = with_name(OURS);
    let q = query(0x1234, &[(&name, TYPE_A, true)]);
    r.handle_query(Instant::now(), one_shot(), &q).unwrap();
    let out = answers(&mut r);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].to, Destination::Unicast(one_shot()));
    let d = &out[0].data;
    assert_eq!(
        &d[..6],
        &[0x12, 0x34, 0x84, 0, 0, 1],
        "ID, flags, one question"
    );
    // The question echoed (class IN, no QU bit), then the record without cache-flush, TTL 10.
    let wire = wire_name(&name).unwrap();
    let q_end = 12 + wire.len() + 4;
    assert_eq!(&d[12..12 + wire.len()], wire.as_slice());
    assert_eq!(&d[q_end - 4..q_end], &[0, 1, 0, 1]);
    let rec = &d[q_end + wire.len()..];
    assert_eq!(&rec[..10], &[0, 1, 0, 1, 0, 0, 0, 10, 0, 4]);
    assert_eq!(parse_response(d).unwrap()[0].addr, OURS);
}

#[test]
fn a_qu_question_from_5353_is_answered_by_unicast() {
    let (mut r, name) = with_name(OURS);
    r.handle_query(
        Instant::now(),
        from_5353(),
        &query(9, &[(&name, TYPE_A, true)]),
    )
    .unwrap();
    let out = answers(&mut r);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].to, Destination::Unicast(from_5353()));
    assert_eq!(&out[0].data[..6], &[0, 0, 0x84, 0, 0, 0]);
}

#[test]
fn aaaa_is_answered_for_an_ipv6_address_and_a_only_for_ipv4() {
    let mut r = Responder::new();
    let v4 = r.name_for(OURS, 24, [1; 16]).unwrap();
    let v6 = r.name_for(OURS_V6, 64, [2; 16]).unwrap();
    let now = Instant::now();
    let q = query(
        0,
        &[
            (&v4, TYPE_AAAA, false),
            (&v6, TYPE_A, false),
            (&v6, TYPE_AAAA, false),
        ],
    );
    r.handle_query(now, from_5353(), &q).unwrap();
    let out = answers(&mut r);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].to, Destination::Group { via: None });
    assert_eq!(parse_response(&out[0].data).unwrap()[0].addr, OURS_V6);
}

#[test]
fn group_answers_are_at_most_one_a_second_per_name() {
    let (mut r, name) = with_name(OURS);
    let q = query(0, &[(&name, TYPE_A, false)]);
    let t0 = Instant::now();
    r.handle_query(t0, from_5353(), &q).unwrap();
    assert_eq!(answers(&mut r).len(), 1);
    for ms in [1, 200, 999] {
        r.handle_query(t0 + Duration::from_millis(ms), from_5353(), &q)
            .unwrap();
        assert!(answers(&mut r).is_empty(), "answered again at {ms} ms");
    }
    r.handle_query(t0 + GROUP_INTERVAL, from_5353(), &q)
        .unwrap();
    assert_eq!(answers(&mut r).len(), 1);
}

#[test]
fn unicast_answers_are_rate_limited_per_name_whoever_asks() {
    let (mut r, name) = with_name(OURS);
    let t0 = Instant::now();
    let mut sent = 0;
    // 10,000 one-shot queries over one second, from sources all over the subnet.
    for i in 0..10_000u32 {
        let at = t0 + Duration::from_micros(u64::from(i) * 100);
        let from = SocketAddr::from(([10, 0, 0, (i % 250) as u8 + 1], 1024 + i as u16));
        r.handle_query(at, from, &query(i as u16, &[(&name, TYPE_A, true)]))
            .unwrap();
        sent += answers(&mut r).len();
    }
    let most = (Duration::from_secs(1).as_millis() / UNICAST_INTERVAL.as_millis()) as usize;
    assert!(sent >= 1 && sent <= most, "{sent} answers");
}

#[test]
fn a_name_asked_many_times_in_one_query_is_answered_once() {
    let (mut r, name) = with_name(OURS);
    let questions: Vec<(&str, u16, bool)> =
        (0..180).map(|_| (name.as_str(), TYPE_A, false)).collect();
    r.handle_query(Instant::now(), from_5353(), &query(0, &questions))
        .unwrap();
    assert_eq!(answers(&mut r).len(), 1);
}

#[test]
fn other_names_responses_and_other_classes_are_never_answered() {
    let (mut r, name) = with_name(OURS);
    let now = Instant::now();
    let other = "5a5a5a5a-5a5a-4a5a-9a5a-5a5a5a5a5a5b.local";
    r.handle_query(now, from_5353(), &query(0, &[(other, TYPE_A, false)]))
        .unwrap();
    r.handle_query(now, from_5353(), &query(0, &[("local", TYPE_ANY, false)]))
        .unwrap();
    // Our name, but a response (someone else's answer, or our own looped back).
    let mut response = query(0, &[(&name, TYPE_A, false)]);
    response[2] = 0x84;
    assert_eq!(
        r.handle_query(now, from_5353(), &response),
        Err(Malformed::NotAQuery)
    );
    // Our name, class CH.
    let mut chaos = query(0, &[(&name, TYPE_A, false)]);
    let n = chaos.len();
    chaos[n - 1] = 3;
    r.handle_query(now, from_5353(), &chaos).unwrap();
    // A question of another type (TXT).
    r.handle_query(now, from_5353(), &query(0, &[(&name, 16, false)]))
        .unwrap();
    assert!(answers(&mut r).is_empty());
}

#[test]
fn questions_from_outside_our_subnets_are_ignored() {
    let mut r = Responder::new();
    let name = r.name_for(OURS, 24, [3; 16]).unwrap();
    let v6 = r.name_for(OURS_V6, 64, [4; 16]).unwrap();
    let now = Instant::now();
    for (from, asked) in [
        ("10.0.1.9:5353", &name),
        ("203.0.113.9:40000", &name),
        ("[fd00:0:0:1::9]:40000", &v6),
        ("[2001:db8::9]:5353", &v6),
    ] {
        let from: SocketAddr = from.parse().unwrap();
        r.handle_query(now, from, &query(0, &[(asked, TYPE_ANY, true)]))
            .unwrap();
        assert!(answers(&mut r).is_empty(), "answered {from}");
    }
    for from in ["10.0.0.250:40000", "[fd00::9]:40000", "[fe80::1%2]:40000"] {
        let from: SocketAddr = from.parse().unwrap();
        let asked = if from.is_ipv4() { &name } else { &v6 };
        r.handle_query(now, from, &query(0, &[(asked, TYPE_ANY, true)]))
            .unwrap();
        assert_eq!(answers(&mut r).len(), 1, "not answered {from}");
        r = {
            let mut fresh = Responder::new();
            fresh.name_for(OURS, 24, [3; 16]);
            fresh.name_for(OURS_V6, 64, [4; 16]);
            fresh
        };
    }
}

#[test]
fn without_names_nothing_is_read() {
    let mut r = Responder::new();
    r.handle_query(Instant::now(), from_5353(), &[0xff; 3])
        .unwrap();
    assert!(answers(&mut r).is_empty());
}

#[test]
fn malformed_and_random_datagrams_never_panic_nor_answer_other_names() {
    let (mut r, name) = with_name(OURS);
    let valid = query(0, &[(&name, TYPE_A, false)]);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let t0 = Instant::now();
    let mut answered = 0;
    for i in 0..20_000u64 {
        let mut m = if i % 2 == 0 {
            valid.clone()
        } else {
            (0..(next() % 64) as usize).map(|_| next() as u8).collect()
        };
        // Flip, truncate or extend at random.
        for _ in 0..(next() % 4) {
            if m.is_empty() {
                break;
            }
            let at = (next() as usize) % m.len();
            match next() % 3 {
                0 => m[at] = next() as u8,
                1 => m.truncate(at),
                _ => m.extend((0..(next() % 16)).map(|_| next() as u8)),
            }
        }
        // One virtual hour: many group answers are due in it.
        let now = t0 + Duration::from_millis(i * 180);
        let _ = r.handle_query(now, from_5353(), &m);
        while let Some(a) = r.poll_answer() {
            let records = parse_response(&a.data).expect("our answers parse");
            assert!(
                records
                    .iter()
                    .all(|rec| rec.name == wire_name(&name).unwrap() && rec.addr == OURS),
                "{records:?}"
            );
            answered += 1;
        }
    }
    assert!(answered > 0);
    // An oversized datagram is refused before it is read.
    assert_eq!(
        r.handle_query(t0, from_5353(), &vec![0; MAX_MESSAGE + 1]),
        Err(Malformed::TooLarge)
    );
}
