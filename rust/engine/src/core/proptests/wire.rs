//! Datagrams an attacker may send a connection's sockets: anything, STUN-looking messages with
//! random attributes, DTLS-looking records with random lengths, epochs and content types.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, Index};

/// STUN attribute types worth getting wrong (and the rest of the space).
const STUN_ATTRIBUTES: [u16; 10] = [
    0x0006, // USERNAME
    0x0008, // MESSAGE-INTEGRITY
    0x8028, // FINGERPRINT
    0x0020, // XOR-MAPPED-ADDRESS
    0x0024, // PRIORITY
    0x0025, // USE-CANDIDATE
    0x8029, // ICE-CONTROLLED
    0x802A, // ICE-CONTROLLING
    0x0009, // ERROR-CODE
    0x000A, // UNKNOWN-ATTRIBUTES
];

/// A declared length: the true one, or anything.
fn length(actual: usize) -> impl Strategy<Value = u16> {
    prop_oneof![3 => Just(actual as u16), 1 => any::<u16>()]
}

/// One STUN attribute: a known or random type, a value (random, or the user names the two
/// test peers use, so the message gets as far as the integrity check), true or false length.
fn stun_attribute() -> impl Strategy<Value = Vec<u8>> {
    let typ = prop_oneof![3 => select(STUN_ATTRIBUTES.to_vec()), 1 => any::<u16>()];
    let value = prop_oneof![
        3 => vec(any::<u8>(), 0..48),
        1 => select(vec!["offerUfrag:answerUfrag", "answerUfrag:offerUfrag"])
            .prop_map(|u| u.as_bytes().to_vec()),
        1 => vec(any::<u8>(), 20),
    ];
    (typ, value)
        .prop_flat_map(|(typ, value)| (Just(typ), length(value.len()), Just(value)))
        .prop_map(|(typ, len, value)| {
            let mut a = typ.to_be_bytes().to_vec();
            a.extend_from_slice(&len.to_be_bytes());
            a.extend_from_slice(&value);
            a.resize(a.len().next_multiple_of(4), 0);
            a
        })
}

/// A STUN-looking message: first byte 0..=3, a Binding type or any, a cookie that is right
/// or not, random attributes.
pub(super) fn stun() -> impl Strategy<Value = Vec<u8>> {
    let typ = prop_oneof![
        select(vec![0x0001u16, 0x0101, 0x0111, 0x0011]),
        any::<u16>().prop_map(|t| t & 0x3FFF),
    ];
    let cookie = prop_oneof![3 => Just(0x2112_A442u32), 1 => any::<u32>()];
    (typ, cookie, any::<[u8; 12]>(), vec(stun_attribute(), 0..6))
        .prop_flat_map(|(typ, cookie, id, attrs)| {
            let body: Vec<u8> = attrs.concat();
            (
                Just((typ, cookie, id)),
                length(body.len()),
                Just(body),
                cut(),
            )
        })
        .prop_map(|((typ, cookie, id), len, body, cut)| {
            let mut m = typ.to_be_bytes().to_vec();
            m.extend_from_slice(&len.to_be_bytes());
            m.extend_from_slice(&cookie.to_be_bytes());
            m.extend_from_slice(&id);
            m.extend_from_slice(&body);
            truncate(m, cut)
        })
}

/// A handshake message header (type, length, message_seq, fragment offset and length) and body.
fn handshake() -> impl Strategy<Value = Vec<u8>> {
    let typ = prop_oneof![
        3 => select(vec![1u8, 2, 3, 4, 11, 12, 13, 14, 15, 16, 20]),
        1 => any::<u8>(),
    ];
    (typ, vec(any::<u8>(), 0..96))
        .prop_flat_map(|(typ, body)| {
            (
                Just(typ),
                length(body.len()),
                any::<u16>(),
                prop_oneof![Just(0u32), any::<u32>()],
                length(body.len()),
                Just(body),
            )
        })
        .prop_map(|(typ, len, seq, offset, frag, body)| {
            let mut h = vec![typ];
            h.extend_from_slice(&u32::from(len).to_be_bytes()[1..]);
            h.extend_from_slice(&seq.to_be_bytes());
            h.extend_from_slice(&offset.to_be_bytes()[1..]);
            h.extend_from_slice(&u32::from(frag).to_be_bytes()[1..]);
            h.extend_from_slice(&body);
            h
        })
}

/// One DTLS-looking record: a content type (mostly 20..=23), a version, an epoch, a sequence
/// number, a declared length true or not, and a body (random, a handshake message, an alert,
/// a change_cipher_spec).
fn dtls_record() -> impl Strategy<Value = Vec<u8>> {
    let content_type = prop_oneof![4 => 20u8..=23, 1 => any::<u8>()];
    let version = prop_oneof![select(vec![[0xFEu8, 0xFD], [0xFE, 0xFF]]), any::<[u8; 2]>(),];
    let epoch = prop_oneof![select(vec![0u16, 1, 2]), any::<u16>()];
    let body = prop_oneof![
        vec(any::<u8>(), 0..128),
        handshake(),
        any::<[u8; 2]>().prop_map(|a| a.to_vec()),
        Just(vec![1u8]),
    ];
    (content_type, version, epoch, any::<[u8; 6]>(), body)
        .prop_flat_map(|(ct, version, epoch, seq, body)| {
            (
                Just((ct, version, epoch, seq)),
                length(body.len()),
                Just(body),
            )
        })
        .prop_map(|((ct, version, epoch, seq), len, body)| {
            let mut r = vec![ct];
            r.extend_from_slice(&version);
            r.extend_from_slice(&epoch.to_be_bytes());
            r.extend_from_slice(&seq);
            r.extend_from_slice(&len.to_be_bytes());
            r.extend_from_slice(&body);
            r
        })
}

/// One or more DTLS-looking records in a datagram, possibly cut short.
pub(super) fn dtls() -> impl Strategy<Value = Vec<u8>> {
    (vec(dtls_record(), 1..4), cut()).prop_map(|(records, cut)| truncate(records.concat(), cut))
}

/// Any bytes, with any first byte.
pub(super) fn arbitrary() -> impl Strategy<Value = Vec<u8>> {
    (any::<u8>(), vec(any::<u8>(), 0..256)).prop_map(|(first, mut rest)| {
        rest.insert(0, first);
        rest
    })
}

pub(super) fn datagram() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        arbitrary(),
        stun(),
        dtls(),
        Just(Vec::new()),
        any::<u8>().prop_map(|b| vec![b]),
    ]
}

/// Where to cut a datagram short, now and then.
fn cut() -> impl Strategy<Value = Option<Index>> {
    prop_oneof![3 => Just(None), 1 => any::<Index>().prop_map(Some)]
}

fn truncate(mut data: Vec<u8>, cut: Option<Index>) -> Vec<u8> {
    if let Some(cut) = cut {
        data.truncate(cut.index(data.len() + 1));
    }
    data
}
