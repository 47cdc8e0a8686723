//! Property tests of configuration validation: whatever ICE servers, URLs, user names and
//! credentials a caller gives, `validate` never panics, accepts only servers the engine can
//! use, and its error names the first bad entry (`iceServers[i]...`).

use super::*;
use crate::error::ErrorKind;
use crate::types::{IceServer, Limits};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use std::net::{Ipv4Addr, Ipv6Addr};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

/// URLs built from plausible and broken parts, or anything at all.
fn url() -> impl Strategy<Value = String> {
    let scheme = select(vec![
        "stun:", "STUN:", "turn:", "Turn:", "turns:", "TURNS:", "stuns:", "http:", "stun", ":", "",
        " stun:", "turn: ", "stun://", "turn://",
    ]);
    let userinfo = select(vec!["", "@", "user@", "user:pass@", "a@b@", ":@"]);
    let host = prop_oneof![
        "[a-z0-9-]{1,12}(\\.[a-z0-9-]{1,12}){0,3}",
        any::<Ipv4Addr>().prop_map(|a| a.to_string()),
        any::<Ipv6Addr>().prop_map(|a| format!("[{a}]")),
        any::<Ipv6Addr>().prop_map(|a| a.to_string()),
        select(vec![
            "",
            "[",
            "]",
            "[]",
            "[::1",
            "::1]",
            "[zz]",
            "[1.2.3.4]",
            "a b",
            "a/b",
            "a]b",
            "a\tb",
            "\u{FFFD}",
            "h\u{0}st",
        ])
        .prop_map(str::to_owned),
        "[^:?@\\[\\]]{0,12}",
    ];
    let port = prop_oneof![
        Just(String::new()),
        any::<u16>().prop_map(|p| format!(":{p}")),
        any::<u32>().prop_map(|p| format!(":{p}")),
        any::<i64>().prop_map(|p| format!(":{p}")),
        select(vec![":", ":0", ":+1", ": 1", ":1:2", "x", ":65536"]).prop_map(str::to_owned),
    ];
    let query = prop_oneof![
        Just(String::new()),
        select(vec![
            "?transport=udp",
            "?transport=tcp",
            "?transport=TCP",
            "?transport=sctp",
            "?transport=",
            "?",
            "?transport=tcp&transport=udp",
            "?a=b",
            "?transport",
            "&transport=tcp",
        ])
        .prop_map(str::to_owned),
        "[ -~]{0,12}".prop_map(|q| format!("?{q}")),
    ];
    prop_oneof![
        4 => (scheme, userinfo, host, port, query)
            .prop_map(|(s, u, h, p, q)| format!("{s}{u}{h}{p}{q}")),
        1 => any::<String>(),
    ]
}

fn secret() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some(String::new())),
        "[ -~]{1,12}".prop_map(Some),
        any::<String>().prop_map(Some),
    ]
}

fn server() -> impl Strategy<Value = IceServer> {
    (vec(url(), 0..4), secret(), secret()).prop_map(|(urls, username, credential)| IceServer {
        urls,
        username,
        credential,
    })
}

fn with_servers(ice_servers: Vec<IceServer>) -> Config {
    Config {
        ice_servers,
        ..Config::default()
    }
}

/// What the engine relies on in each accepted server URL.
fn check_accepted(server: &IceServer, url: &str, parsed: &ServerUrl) {
    let scheme = url.trim().split(':').next().unwrap().to_ascii_lowercase();
    let kind = match scheme.as_str() {
        "stun" => ServerKind::Stun,
        "turn" => ServerKind::Turn,
        "turns" => ServerKind::Turns,
        other => panic!("{url:?} accepted with scheme {other:?}"),
    };
    assert_eq!(parsed.kind, kind);
    assert!(!parsed.host.is_empty(), "{url:?}");
    assert!(
        !parsed
            .host
            .chars()
            .any(|c| c.is_whitespace() || "/[]@?".contains(c)),
        "{url:?} gave host {:?}",
        parsed.host
    );
    assert!(
        !parsed.host.contains(':') || parsed.host.parse::<Ipv6Addr>().is_ok(),
        "{url:?} gave host {:?}",
        parsed.host
    );
    assert_ne!(parsed.port, 0, "{url:?}");
    if kind == ServerKind::Stun {
        assert_eq!((&parsed.username, &parsed.credential), (&None, &None));
        assert_eq!(parsed.transport, TurnTransport::Udp);
    } else {
        let user = parsed.username.as_deref().unwrap();
        let cred = parsed.credential.as_deref().unwrap();
        assert!(!user.is_empty() && !cred.is_empty());
        assert_eq!(Some(user), server.username.as_deref());
        assert_eq!(Some(cred), server.credential.as_deref());
    }
    if kind == ServerKind::Turns {
        assert_eq!(parsed.transport, TurnTransport::Tcp);
        assert!(parsed.is_stream());
    }
    // The name logs show is a URL that means the same server.
    let again = parse_url(&parsed.name()).unwrap();
    assert_eq!(
        (again.kind, &again.host, again.port, again.transport),
        (parsed.kind, &parsed.host, parsed.port, parsed.transport),
        "{url:?} logged as {:?}",
        parsed.name()
    );
}

/// The error names entry `i` (and, for a URL, its index and text); returns `i`.
fn check_named(servers: &[IceServer], e: &Error) -> usize {
    assert_eq!(e.kind(), ErrorKind::InvalidParameter);
    let m = e.message();
    let rest = m
        .strip_prefix("iceServers[")
        .unwrap_or_else(|| panic!("{m:?} does not name the entry"));
    let (i, rest) = rest.split_once(']').unwrap();
    let i: usize = i.parse().unwrap();
    assert!(i < servers.len(), "{m:?}");
    let server = &servers[i];
    if let Some(rest) = rest.strip_prefix(".urls[") {
        let (j, rest) = rest.split_once("] ").unwrap();
        let j: usize = j.parse().unwrap();
        let url = server.urls.get(j).unwrap_or_else(|| panic!("{m:?}"));
        let why = rest
            .strip_prefix(&format!("{url:?} "))
            .unwrap_or_else(|| panic!("{m:?} does not quote {url:?}"));
        assert!(!why.is_empty());
        assert!(parse_url(url).is_err(), "{m:?}");
    } else if rest == ".urls is empty" {
        assert!(server.urls.is_empty());
    } else {
        let (what, url) = rest
            .strip_prefix(".username is required for the TURN URL ")
            .map(|u| (&server.username, u))
            .or_else(|| {
                rest.strip_prefix(".credential is required for the TURN URL ")
                    .map(|u| (&server.credential, u))
            })
            .unwrap_or_else(|| panic!("unexpected message {m:?}"));
        assert!(what.as_deref().unwrap_or("").is_empty(), "{m:?}");
        assert!(server.urls.iter().any(|u| format!("{u:?}") == url), "{m:?}");
    }
    i
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn any_servers_are_judged_without_panicking(servers in vec(server(), 0..4)) {
        match validate(&with_servers(servers.clone())) {
            Ok(parsed) => {
                let urls: Vec<(&IceServer, &String)> = servers
                    .iter()
                    .flat_map(|s| s.urls.iter().map(move |u| (s, u)))
                    .collect();
                prop_assert_eq!(parsed.len(), urls.len());
                for ((server, url), p) in urls.into_iter().zip(&parsed) {
                    check_accepted(server, url, p);
                }
            }
            Err(e) => {
                // The entry named is the first bad one: those before it pass, it fails alone.
                let i = check_named(&servers, &e);
                prop_assert!(validate(&with_servers(servers[..i].to_vec())).is_ok());
                let alone = validate(&with_servers(vec![servers[i].clone()])).unwrap_err();
                let prefix = format!("iceServers[{i}]");
                prop_assert_eq!(
                    alone.message().strip_prefix("iceServers[0]"),
                    e.message().strip_prefix(prefix.as_str())
                );
            }
        }
    }

    /// Every URL `parse_url` accepts designates a usable server; the rest is explained.
    #[test]
    fn any_url_is_judged_without_panicking(url in url()) {
        match parse_url(&url) {
            Ok(p) => {
                let server = IceServer {
                    urls: vec![url.clone()],
                    username: Some("u".into()),
                    credential: Some("p".into()),
                };
                let parsed = validate(&with_servers(vec![server.clone()])).unwrap();
                check_accepted(&server, &url, &parsed[0]);
                prop_assert_eq!(parsed[0].host.clone(), p.host);
            }
            Err(why) => prop_assert!(!why.is_empty()),
        }
    }

    /// A zero limit is refused, naming the limit, before any server is looked at.
    #[test]
    fn zero_limits_are_refused(
        values in vec(select(vec![0usize, 1, 16, usize::MAX]), 6),
        servers in vec(server(), 0..2),
    ) {
        let c = Config {
            ice_servers: servers,
            channel_receive_budget: values[0],
            limits: Limits {
                max_remote_candidates: values[1],
                max_remote_channels: values[2],
                connection_receive_budget: values[3],
                channel_send_budget: values[4],
                max_name_lookups: values[5],
            },
            ..Config::default()
        };
        let names = [
            "channel_receive_budget",
            "maxRemoteCandidates",
            "maxRemoteChannels",
            "connectionReceiveBudget",
            "channelSendBudget",
            "maxNameLookups",
        ];
        match (values.iter().position(|v| *v == 0), validate(&c)) {
            (Some(k), Err(e)) => {
                prop_assert_eq!(e.kind(), ErrorKind::InvalidParameter);
                prop_assert!(e.message().starts_with(names[k]), "{}", e);
            }
            (Some(k), Ok(_)) => prop_assert!(false, "{} = 0 accepted", names[k]),
            (None, Err(e)) => {
                check_named(&c.ice_servers, &e);
            }
            (None, Ok(_)) => {}
        }
    }
}
