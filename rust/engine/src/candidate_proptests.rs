//! Property tests of the remote candidate check: whatever a signaling peer trickles, `parse`
//! never panics, accepts only UDP candidates with an IP address or an mDNS `NAME.local` host,
//! and refuses every other host name (resolving it would send our resolver where the remote
//! likes).

use super::*;
use crate::error::ErrorKind;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

const TYPES: [&str; 4] = ["host", "srflx", "prflx", "relay"];

fn ip() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<Ipv4Addr>().prop_map(|a| a.to_string()),
        any::<Ipv6Addr>().prop_map(|a| a.to_string()),
    ]
}

/// An mDNS name as browsers write them (a UUID), or a few labels, ending in `.local`.
fn mdns_name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\\.(local|LOCAL)",
        "[A-Za-z0-9-]{1,20}(\\.[A-Za-z0-9-]{1,20}){0,2}\\.local",
    ]
}

/// Host names that are not a usable `NAME.local`: ordinary DNS names, look-alikes of `.local`,
/// malformed labels, things that almost parse as an address.
fn other_host() -> impl Strategy<Value = String> {
    let suffix = select(vec![
        "com",
        "example.org",
        "localhost",
        "local.evil.com",
        "localdomain",
        "local.",
        "lan",
        "home.arpa",
        "internal",
        "xlocal",
        "Local",
        "local%00",
        "local\u{FF0E}",
        "\u{FF0E}local",
    ]);
    prop_oneof![
        ("[a-z0-9-]{1,12}(\\.[a-z0-9-]{1,12}){0,2}", suffix)
            .prop_map(|(name, suffix)| format!("{name}.{suffix}")),
        select(vec![
            "local",
            "localhost",
            ".local",
            "..local",
            "a..local",
            "a_b.local",
            "a/b.local",
            "*.local",
            "\u{E9}t\u{E9}.local",
            "1.2.3.4.5",
            "1.2.3",
            "0x7f.0.0.1",
            "127.1",
            "[::1]",
            "::g",
            "fe80::1%eth0",
            "1.2.3.4:5",
        ])
        .prop_map(str::to_owned),
        // A label past the length rules.
        (64usize..300).prop_map(|n| format!("{}.local", "a".repeat(n))),
        // Anything without whitespace that is not an IP address.
        "[^\\s]{1,40}".prop_filter("an IP address or a NAME.local", |s| {
            s.parse::<IpAddr>().is_err() && !is_local_name(s)
        }),
    ]
}

/// Extension pairs browsers and servers append.
fn extension() -> impl Strategy<Value = String> {
    prop_oneof![
        ip().prop_map(|a| format!("raddr {a}")),
        any::<u16>().prop_map(|p| format!("rport {p}")),
        any::<u32>().prop_map(|g| format!("generation {g}")),
        any::<u16>().prop_map(|n| format!("network-id {n}")),
        any::<u16>().prop_map(|n| format!("network-cost {n}")),
        select(vec!["active", "passive", "so"]).prop_map(|t| format!("tcptype {t}")),
        "[A-Za-z0-9+/]{4,16}".prop_map(|u| format!("ufrag {u}")),
        // A value that reads like an extension name.
        (
            select(vec!["ufrag", "generation", "x"]),
            select(vec!["raddr", "rport"])
        )
            .prop_map(|(n, v)| format!("{n} {v}")),
    ]
}

/// The fields of a well-formed candidate line, with the given address.
fn fields_with(address: BoxedStrategy<String>) -> impl Strategy<Value = Vec<String>> {
    (
        "[A-Za-z0-9+/]{1,32}",
        any::<u16>(),
        select(vec!["udp", "UDP", "Udp", "tcp", "TCP"]),
        any::<u32>(),
        address,
        any::<u16>(),
        select(TYPES.to_vec()),
        vec(extension(), 0..4),
    )
        .prop_map(
            |(foundation, component, transport, priority, addr, port, typ, ext)| {
                let mut f = vec![
                    foundation,
                    component.to_string(),
                    transport.to_owned(),
                    priority.to_string(),
                    addr,
                    port.to_string(),
                    "typ".to_owned(),
                    typ.to_owned(),
                ];
                f.extend(ext.iter().flat_map(|e| e.split(' ').map(str::to_owned)));
                f
            },
        )
}

fn good_address() -> BoxedStrategy<String> {
    prop_oneof![ip(), mdns_name()].boxed()
}

/// How the line is introduced and padded.
fn frame() -> impl Strategy<Value = (&'static str, &'static str, &'static str)> {
    (
        select(vec!["", "a=", "candidate:", "a=candidate:"]),
        select(vec![" ", "\t", "  ", " \u{3000} "]),
        select(vec!["", " ", "\r\n", "\t"]),
    )
}

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        "[^\\s]{0,12}",
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        select(vec![
            "typ",
            "udp",
            "tcp",
            "host",
            "raddr",
            "rport",
            "65536",
            "-1",
            "candidate:",
            "a=",
        ])
        .prop_map(str::to_owned),
        (1usize..20_000).prop_map(|n| "9".repeat(n)),
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete(Index),
    Duplicate(Index),
    Replace(Index, String),
    Insert(Index, String),
    Swap(Index, Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<Index>().prop_map(Mutation::Delete),
        any::<Index>().prop_map(Mutation::Duplicate),
        (any::<Index>(), token()).prop_map(|(i, t)| Mutation::Replace(i, t)),
        (any::<Index>(), token()).prop_map(|(i, t)| Mutation::Insert(i, t)),
        (any::<Index>(), any::<Index>()).prop_map(|(i, j)| Mutation::Swap(i, j)),
    ]
}

fn apply(f: &mut Vec<String>, m: &Mutation) {
    let n = f.len();
    match m {
        Mutation::Insert(i, t) => f.insert(i.index(n + 1), t.clone()),
        _ if n == 0 => {}
        Mutation::Delete(i) => {
            f.remove(i.index(n));
        }
        Mutation::Duplicate(i) => {
            let i = i.index(n);
            f.insert(i, f[i].clone());
        }
        Mutation::Replace(i, t) => f[i.index(n)] = t.clone(),
        Mutation::Swap(i, j) => f.swap(i.index(n), j.index(n)),
    }
}

/// The fields of an accepted candidate's text, checked as rtc-ice will read them.
fn check_text(text: &str) -> Vec<&str> {
    let f: Vec<&str> = text.split(' ').collect();
    assert!(f.len() == 8 || f.len() == 12, "{text:?}");
    assert!(f[0].chars().all(|c| !c.is_whitespace()) && !f[0].is_empty());
    assert!(f[1].parse::<u16>().is_ok(), "{text:?}");
    assert!(f[2].eq_ignore_ascii_case("udp"), "{text:?}");
    assert!(f[3].parse::<u32>().is_ok(), "{text:?}");
    assert!(f[5].parse::<u16>().is_ok(), "{text:?}");
    assert_eq!(f[6], "typ");
    assert!(TYPES.contains(&f[7]), "{text:?}");
    if f.len() == 12 {
        assert_eq!((f[8], f[10]), ("raddr", "rport"), "{text:?}");
        assert!(f[11].parse::<u16>().is_ok(), "{text:?}");
    }
    // rtc-ice gets this text next: it must not panic on it either.
    let _ = rtc_ice::candidate::unmarshal_candidate(text);
    f
}

fn is_local_name(host: &str) -> bool {
    let Some(name) = host
        .strip_suffix(".local")
        .or_else(|| host.strip_suffix(".LOCAL"))
    else {
        return false;
    };
    name.split('.').all(|label| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

/// Every outcome `parse` may have, checked against the line it was given.
fn check(line: &str) {
    let bare = line.trim();
    let bare = bare.strip_prefix("a=").unwrap_or(bare);
    match parse(line) {
        Ok(RemoteCandidate::End) => assert!(bare.is_empty(), "{line:?}"),
        Ok(RemoteCandidate::Ignored(_)) => {
            let body = bare.strip_prefix("candidate:").unwrap_or(bare);
            let transport = body.split_whitespace().nth(2).unwrap_or_default();
            assert!(transport.eq_ignore_ascii_case("tcp"), "{line:?}");
        }
        Ok(RemoteCandidate::Udp(text)) => {
            let f = check_text(&text);
            assert!(f[4].parse::<IpAddr>().is_ok(), "{line:?}");
        }
        Ok(RemoteCandidate::Named { host, text }) => {
            let f = check_text(&text);
            assert_eq!(f[4], host);
            assert!(host.parse::<IpAddr>().is_err());
            assert!(is_local_name(&host), "{host:?} accepted as an mDNS name");
        }
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::InvalidParameter);
            assert!(e.message().starts_with("ICE candidate "), "{e}");
        }
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        check(&text);
        check(&format!("candidate:{text}"));
    }

    #[test]
    fn arbitrary_fields_never_panic((intro, sep, end) in frame(), f in vec(token(), 0..14)) {
        check(&format!("{intro}{}{end}", f.join(sep)));
    }

    #[test]
    fn mutated_candidates_never_panic(
        (intro, sep, end) in frame(),
        mut f in fields_with(good_address()),
        mutations in vec(mutation(), 1..4),
    ) {
        for m in &mutations {
            apply(&mut f, m);
        }
        check(&format!("{intro}{}{end}", f.join(sep)));
    }

    /// Well-formed UDP candidates are accepted, as an address or as a name to resolve.
    #[test]
    fn good_candidates_are_accepted(
        (intro, sep, end) in frame(),
        f in fields_with(good_address()),
    ) {
        let line = format!("{intro}{}{end}", f.join(sep));
        check(&line);
        let c = parse(&line);
        prop_assert!(c.is_ok(), "{:?}: {:?}", line, c);
        let udp = f[2].eq_ignore_ascii_case("udp");
        match c.unwrap() {
            RemoteCandidate::Udp(_) => prop_assert!(udp && f[4].parse::<IpAddr>().is_ok()),
            RemoteCandidate::Named { host, .. } => prop_assert!(udp && host == f[4]),
            RemoteCandidate::Ignored(_) => prop_assert!(!udp),
            RemoteCandidate::End => prop_assert!(false, "{:?} read as the end", line),
        }
    }

    /// A UDP candidate whose host is any name but `NAME.local` is refused, naming the address.
    #[test]
    fn other_host_names_are_refused(
        (intro, sep, end) in frame(),
        f in fields_with(other_host().boxed()),
    ) {
        let line = format!("{intro}{}{end}", f.join(sep));
        check(&line);
        if f[2].eq_ignore_ascii_case("udp") && f[4].split_whitespace().count() == 1 {
            let e = parse(&line).unwrap_err();
            prop_assert!(
                e.message().contains("neither an IP address nor an mDNS name"),
                "{}", e
            );
        }
    }
}
