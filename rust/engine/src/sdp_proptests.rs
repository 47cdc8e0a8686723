//! Property tests of the remote-description reader: whatever a signaling peer sends, `parse`
//! returns a description we can rely on or an error that says what is wrong; it never panics.

use super::*;
use crate::error::ErrorKind;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, Index};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

/// What a valid description we write is made of.
#[derive(Debug, Clone)]
struct Fields {
    session_id: u64,
    ufrag: String,
    pwd: String,
    fingerprint: Fingerprint,
    setup: Setup,
    max_message_size: u32,
    mid: String,
}

fn fingerprint() -> impl Strategy<Value = Fingerprint> {
    select(vec![
        ("sha-1", 20),
        ("sha-256", 32),
        ("sha-384", 48),
        ("sha-512", 64),
    ])
    .prop_flat_map(|(algorithm, len)| {
        vec(any::<u8>(), len).prop_map(move |value| Fingerprint {
            algorithm: algorithm.to_owned(),
            value,
        })
    })
}

fn fields() -> impl Strategy<Value = Fields> {
    (
        0..(1u64 << 62),
        "[A-Za-z0-9+/]{4,32}",
        "[A-Za-z0-9+/]{22,64}",
        fingerprint(),
        select(vec![Setup::ActPass, Setup::Active, Setup::Passive]),
        any::<u32>(),
        "[A-Za-z0-9_-]{1,16}",
    )
        .prop_map(
            |(session_id, ufrag, pwd, fingerprint, setup, max_message_size, mid)| Fields {
                session_id,
                ufrag,
                pwd,
                fingerprint,
                setup,
                max_message_size,
                mid,
            },
        )
}

fn write_with(f: &Fields, offer_sections: &[MediaSection]) -> String {
    write(&LocalDescription {
        session_id: f.session_id,
        version: 2,
        ufrag: &f.ufrag,
        pwd: &f.pwd,
        fingerprint: &f.fingerprint,
        setup: f.setup,
        max_message_size: f.max_message_size,
        mid: &f.mid,
        offer_sections,
    })
}

/// The m-lines of a remote offer we answer: some media we reject, and one data section.
fn offer_sections() -> impl Strategy<Value = (Vec<MediaSection>, usize)> {
    let other = (
        select(vec!["audio", "video", "text", "application"]),
        1..=65535u16,
        select(vec![
            "UDP/TLS/RTP/SAVPF",
            "RTP/AVP",
            "UDP/DTLS/SCTP",
            "TCP/DTLS/SCTP",
        ]),
        "[0-9a-z-]{1,8}( [0-9]{1,3}){0,3}",
        proptest::option::of("[A-Za-z0-9_-]{1,8}"),
    )
        .prop_map(|(kind, port, proto, fmt, mid)| MediaSection {
            kind: kind.to_owned(),
            // A second usable data section is answered as rejected: give it port 0.
            port: if kind == "application" { 0 } else { port },
            proto: proto.to_owned(),
            fmt,
            is_data: kind == "application" && proto.contains("SCTP"),
            mid,
        });
    (vec(other, 0..4), any::<Index>()).prop_map(|(mut sections, at)| {
        let at = at.index(sections.len() + 1);
        sections.insert(
            at,
            MediaSection {
                kind: "application".into(),
                port: 9,
                proto: "UDP/DTLS/SCTP".into(),
                fmt: "webrtc-datachannel".into(),
                mid: Some("data".into()),
                is_data: true,
            },
        );
        (sections, at)
    })
}

/// What the rest of the engine relies on in every description `parse` accepts.
fn check_accepted(r: &RemoteDescription) {
    assert!(!r.ufrag.is_empty() && !r.pwd.is_empty());
    assert!(!r.fingerprints.is_empty());
    for fp in &r.fingerprints {
        let expected = match fp.algorithm.as_str() {
            "sha-1" => 20,
            "sha-256" => 32,
            "sha-384" => 48,
            "sha-512" => 64,
            _ => continue,
        };
        assert_eq!(fp.value.len(), expected, "{fp:?}");
    }
    let app = r.mline_index as usize;
    assert!(app < r.sections.len());
    assert!(r.sections[app].is_data && r.sections[app].port != 0);
    assert!(
        !r.sections[..app].iter().any(|s| s.is_data && s.port != 0),
        "the application section is the first usable one"
    );
    assert_eq!(
        r.mid,
        r.sections[app].mid.clone().unwrap_or_else(|| "0".into())
    );
    assert!(r.candidates.iter().all(|c| c.starts_with("candidate:")));
}

fn check_result(sdp: &str, what: &str) {
    match parse(sdp, what) {
        Ok(r) => check_accepted(&r),
        Err(e) => {
            let prefix = format!("remote {what} SDP: ");
            assert_eq!(e.kind(), ErrorKind::InvalidParameter);
            assert!(e.message().starts_with(&prefix), "{e}");
            assert!(e.message().len() > prefix.len(), "{e}");
        }
    }
}

/// Text that is hard on a line parser: anything, replacement characters from broken UTF-8,
/// controls, huge numbers and lengths.
fn nasty_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,40}",
        vec(any::<u8>(), 0..48).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        select(vec![
            "\u{FFFD}\u{FFFD}",
            "\u{0}",
            "\u{FEFF}v=0",
            "Ã©Ã¨",
            "\u{202E}evil",
            "e\u{301}\u{301}\u{301}",
            "\t\u{B}\u{C}",
            "\r",
            ":",
            "=",
            "a=",
            "m=application",
        ])
        .prop_map(str::to_owned),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        (1usize..100_000).prop_map(|n| "9".repeat(n)),
    ]
}

/// A line a mutation puts in: a known SDP line kind with a nasty value, or anything.
fn nasty_line() -> impl Strategy<Value = String> {
    let prefix = select(vec![
        "v=",
        "o=",
        "s=",
        "t=",
        "c=",
        "m=",
        "m=application 9 UDP/DTLS/SCTP ",
        "m=application ",
        "m=audio 9 ",
        "a=ice-ufrag:",
        "a=ice-pwd:",
        "a=ice-lite",
        "a=fingerprint:",
        "a=fingerprint:sha-256 ",
        "a=setup:",
        "a=mid:",
        "a=sctp-port:",
        "a=sctpmap:",
        "a=max-message-size:",
        "a=candidate:",
        "a=end-of-candidates",
        "a=group:BUNDLE ",
        "",
    ]);
    prop_oneof![
        (prefix, nasty_text()).prop_map(|(p, v)| format!("{p}{v}")),
        nasty_text(),
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete(Index),
    Duplicate(Index),
    Replace(Index, String),
    Insert(Index, String),
    /// Appends a huge run of one character to a line.
    Grow(Index, char, usize),
    /// Cuts a line short at a character boundary.
    Truncate(Index, Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<Index>().prop_map(Mutation::Delete),
        any::<Index>().prop_map(Mutation::Duplicate),
        (any::<Index>(), nasty_line()).prop_map(|(i, l)| Mutation::Replace(i, l)),
        (any::<Index>(), nasty_line()).prop_map(|(i, l)| Mutation::Insert(i, l)),
        (
            any::<Index>(),
            select(vec!['9', 'a', ':', ' ', '\u{FFFD}', '\0']),
            1usize..100_000
        )
            .prop_map(|(i, c, n)| Mutation::Grow(i, c, n)),
        (any::<Index>(), any::<Index>()).prop_map(|(i, at)| Mutation::Truncate(i, at)),
    ]
}

fn apply(lines: &mut Vec<String>, m: &Mutation) {
    if lines.is_empty() {
        if let Mutation::Insert(_, l) | Mutation::Replace(_, l) = m {
            lines.push(l.clone());
        }
        return;
    }
    match m {
        Mutation::Delete(i) => {
            lines.remove(i.index(lines.len()));
        }
        Mutation::Duplicate(i) => {
            let i = i.index(lines.len());
            lines.insert(i, lines[i].clone());
        }
        Mutation::Replace(i, l) => {
            let i = i.index(lines.len());
            lines[i] = l.clone();
        }
        Mutation::Insert(i, l) => lines.insert(i.index(lines.len() + 1), l.clone()),
        Mutation::Grow(i, c, n) => {
            let i = i.index(lines.len());
            lines[i].extend(std::iter::repeat_n(*c, *n));
        }
        Mutation::Truncate(i, at) => {
            let i = i.index(lines.len());
            let line = &mut lines[i];
            let cut = at.index(line.chars().count() + 1);
            *line = line.chars().take(cut).collect();
        }
    }
}

/// Joins lines with a mix of endings (CRLF, LF, a stray CR, blank lines).
fn join(lines: &[String], endings: &[&str]) -> String {
    let mut s = String::new();
    for (i, l) in lines.iter().enumerate() {
        s.push_str(l);
        s.push_str(endings[i % endings.len()]);
    }
    s
}

fn endings() -> impl Strategy<Value = Vec<&'static str>> {
    vec(
        select(vec!["\r\n", "\n", "\r\n\r\n", "\n\n", "\r", "\r\r\n"]),
        1..6,
    )
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>(), what in select(vec!["offer", "answer"])) {
        check_result(&text, what);
        check_result(&format!("v=0\r\n{text}"), what);
    }

    #[test]
    fn arbitrary_lines_never_panic(lines in vec(nasty_line(), 0..16), ends in endings()) {
        let mut with_version = vec!["v=0".to_owned()];
        with_version.extend(lines.iter().cloned());
        check_result(&join(&lines, &ends), "offer");
        check_result(&join(&with_version, &ends), "answer");
    }

    #[test]
    fn mutated_descriptions_never_panic(
        f in fields(),
        answer in offer_sections(),
        as_answer in any::<bool>(),
        mutations in vec(mutation(), 1..6),
        ends in endings(),
    ) {
        let sections: &[MediaSection] = if as_answer { &answer.0 } else { &[] };
        let mut lines: Vec<String> =
            write_with(&f, sections).lines().map(str::to_owned).collect();
        for m in &mutations {
            apply(&mut lines, m);
        }
        check_result(&join(&lines, &ends), "offer");
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// Our offer, with any mix of line endings and blank lines, gives back every field the
    /// engine uses.
    #[test]
    fn offers_round_trip(f in fields(), ends in vec(select(vec!["\r\n", "\n", "\r\n\r\n"]), 1..6)) {
        let lines: Vec<String> = write_with(&f, &[]).lines().map(str::to_owned).collect();
        let r = parse(&join(&lines, &ends), "offer").unwrap();
        check_accepted(&r);
        prop_assert_eq!(&r.ufrag, &f.ufrag);
        prop_assert_eq!(&r.pwd, &f.pwd);
        prop_assert_eq!(&r.fingerprints, &vec![f.fingerprint.clone()]);
        prop_assert_eq!(r.setup, f.setup);
        prop_assert_eq!(r.max_message_size, f.max_message_size);
        prop_assert_eq!(r.sctp_port, 5000);
        prop_assert_eq!(&r.mid, &f.mid);
        prop_assert_eq!(r.mline_index, 0);
        prop_assert!(!r.ice_lite && r.candidates.is_empty() && !r.end_of_candidates);
    }

    /// Our answer keeps every m-line of the offer in place; the data section is the one used.
    #[test]
    fn answers_round_trip(f in fields(), (offer, app) in offer_sections()) {
        let r = parse(&write_with(&f, &offer), "answer").unwrap();
        check_accepted(&r);
        prop_assert_eq!(r.mline_index as usize, app);
        prop_assert_eq!(r.sections.len(), offer.len());
        for (i, (ours, theirs)) in r.sections.iter().zip(&offer).enumerate() {
            prop_assert_eq!(&ours.kind, &theirs.kind);
            if i == app {
                prop_assert_eq!(ours.port, 9);
                prop_assert_eq!(&ours.mid, &Some(f.mid.clone()));
            } else {
                prop_assert_eq!(ours.port, 0);
                prop_assert_eq!(&ours.proto, &theirs.proto);
                prop_assert_eq!(&ours.fmt, &theirs.fmt);
                prop_assert_eq!(&ours.mid, &theirs.mid);
            }
        }
        prop_assert_eq!(&r.ufrag, &f.ufrag);
        prop_assert_eq!(&r.fingerprints, &vec![f.fingerprint.clone()]);
        prop_assert_eq!(r.setup, f.setup);
    }
}
