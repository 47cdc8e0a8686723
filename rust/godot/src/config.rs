//! `initialize(configuration)`: turns the configuration dictionary into the engine's [`Config`].
//!
//! Keys: `iceServers` (Array of Dictionaries with `urls` (String or Array of Strings),
//! optional `username` and `credential` (Strings)), as documented for
//! `WebRTCPeerConnection.initialize`, and `iceTransportPolicy` (`"all"` or `"relay"`, W3C
//! `RTCConfiguration`). One non-standard key: `bindAddress` (String IP address): gather host
//! candidates on that address only, e.g. `"127.0.0.1"` to keep a test on loopback;
//! `mdnsHostCandidates` (bool): hide our host addresses behind `.local` names. The
//! engine's caps (whole numbers): `channelReceiveBudget`, `connectionReceiveBudget`,
//! `channelSendBudget` (bytes), `maxRemoteCandidates`, `maxRemoteChannels`, `maxNameLookups`;
//! the liveness timings in milliseconds: `keepaliveInterval`, `disconnectedTimeout`,
//! `failedTimeout`; the network simulator, `simulate` (a Dictionary, see [`crate::simulate`]);
//! `iceRestartOnDisconnected` (bool: the first offerer restarts ICE when DISCONNECTED).
//! Firewall-friendly ports ([`parse_ports`]): `portRangeBegin`, `portRangeEnd`, `udpMux`,
//! `mtu`, and webrtc-native's `libdatachannel` sub-dictionary with the same meaning.
//!
//! Other keys are ignored, as browsers ignore unknown `RTCConfiguration` members, but each one
//! gets a warning naming it, as do the W3C members accepted without effect
//! ([`crate::config_keys`], the table of every key).
//!
//! Only types are checked here. Whether a URL, a TURN credential or a policy is acceptable is
//! the engine's rule: it judges the [`Config`] when the connection is created, naming the entry
//! (`iceServers[1].urls[0] "http://x" has an unsupported scheme ...`).

use crate::config_keys::{self, Section};
use crate::options::int_value;
use crate::simulate::parse_simulation;
use crate::value::{lookup, Value};
use std::net::IpAddr;
use std::time::Duration;
use webrtc_rs_engine::{Config, IceServer, IceTransportPolicy, MTU_RANGE};

/// A configuration and the warnings about it (unknown or ignored keys, settings given twice).
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub config: Config,
    pub warnings: Vec<String>,
}

/// Parses the configuration dictionary. Errors name the offending entry, e.g.
/// `iceServers[1].urls must be a String or an Array, got int`.
pub fn parse_config(entries: &[(String, Value)]) -> Result<Parsed, String> {
    let mut config = Config::default();
    let mut warnings = Vec::new();
    config_keys::check(Section::Top, "", entries, &mut warnings);
    if let Some(servers) = lookup(entries, "iceServers") {
        let Value::Array(servers) = servers else {
            return Err(format!(
                "iceServers must be an Array of Dictionaries, got {}",
                servers.type_name()
            ));
        };
        for (i, server) in servers.iter().enumerate() {
            config
                .ice_servers
                .push(parse_ice_server(i, server, &mut warnings)?);
        }
    }
    if let Some(policy) = lookup(entries, "iceTransportPolicy") {
        let Value::Str(text) = policy else {
            return Err(format!(
                "iceTransportPolicy must be a String (\"all\" or \"relay\"), got {}",
                policy.type_name()
            ));
        };
        config.ice_transport_policy = text
            .parse::<IceTransportPolicy>()
            .map_err(|e| e.message().to_string())?;
    }
    if let Some(addr) = lookup(entries, "bindAddress") {
        let Value::Str(text) = addr else {
            return Err(format!(
                "bindAddress must be a String (an IP address), got {}",
                addr.type_name()
            ));
        };
        let ip: IpAddr = text
            .trim()
            .parse()
            .map_err(|_| format!("bindAddress {text:?} is not an IP address"))?;
        config.bind_address = Some(ip);
    }
    if let Some(hide) = lookup(entries, "mdnsHostCandidates") {
        let Value::Bool(hide) = hide else {
            return Err(format!(
                "mdnsHostCandidates must be a bool, got {}",
                hide.type_name()
            ));
        };
        config.mdns_host_candidates = *hide;
    }
    parse_limits(entries, &mut config)?;
    parse_liveness(entries, &mut config)?;
    if let Some(simulate) = lookup(entries, "simulate") {
        config.simulate = parse_simulation(simulate)?;
    }
    if let Some(v) = lookup(entries, "iceRestartOnDisconnected") {
        let Value::Bool(on) = v else {
            return Err(format!(
                "iceRestartOnDisconnected must be a bool, got {}",
                v.type_name()
            ));
        };
        config.restart_ice_on_disconnected = *on;
    }
    parse_ports(entries, &mut config, &mut warnings)?;
    Ok(Parsed { config, warnings })
}

/// libdatachannel's port range when only one end is given (its defaults).
const DEFAULT_RANGE: (u16, u16) = (1024, 65535);

/// The port and packet settings: `libdatachannel.{portRangeBegin, portRangeEnd,
/// enableIceUdpMux, mtu}` (webrtc-native's keys), then the top-level `portRangeBegin`,
/// `portRangeEnd`, `udpMux` and `mtu`, which win where both are given (with a warning if they
/// differ). A range with one end given takes libdatachannel's default for the other (1024,
/// 65535). `libdatachannel.enableIceTcp: true` gets a warning: ICE over TCP is not supported.
fn parse_ports(
    entries: &[(String, Value)],
    config: &mut Config,
    warnings: &mut Vec<String>,
) -> Result<(), String> {
    let sub: &[(String, Value)] = match lookup(entries, "libdatachannel") {
        None | Some(Value::Nil) => &[],
        Some(Value::Dict(sub)) => sub,
        Some(other) => {
            return Err(format!(
                "libdatachannel must be a Dictionary, got {}",
                other.type_name()
            ))
        }
    };
    config_keys::check(Section::Libdatachannel, "libdatachannel.", sub, warnings);
    if optional_bool(sub, "enableIceTcp", "libdatachannel.")? == Some(true) {
        warnings.push(
            "\"libdatachannel.enableIceTcp\" is ignored: ICE over TCP is not supported (UDP \
             only; TURN over TCP or TLS is, with turn:...?transport=tcp or turns: URLs)"
                .to_owned(),
        );
    }
    let mut pick = |top: &str,
                    nested: &str,
                    parse: &dyn Fn(&str, &str, &Value) -> Result<i64, String>|
     -> Result<Option<i64>, String> {
        let a = lookup(entries, top)
            .map(|v| parse("", top, v))
            .transpose()?;
        let b = lookup(sub, nested)
            .map(|v| parse("libdatachannel.", nested, v))
            .transpose()?;
        if let (Some(a), Some(b)) = (a, b) {
            if a != b {
                warnings.push(format!(
                    "\"{top}\" and \"libdatachannel.{nested}\" differ: \"{top}\" is used"
                ));
            }
        }
        Ok(a.or(b))
    };
    let begin = pick("portRangeBegin", "portRangeBegin", &port_value)?;
    let end = pick("portRangeEnd", "portRangeEnd", &port_value)?;
    let mux = pick("udpMux", "enableIceUdpMux", &|at, key, v| {
        bool_value(at, key, v).map(i64::from)
    })?;
    let mtu = pick("mtu", "mtu", &mtu_value)?;
    let ports = &mut config.ports;
    if begin.is_some() || end.is_some() {
        // Both fit a u16: `port_value` checked them.
        let begin = begin.map_or(DEFAULT_RANGE.0, |p| p as u16);
        let end = end.map_or(DEFAULT_RANGE.1, |p| p as u16);
        ports.range = Some((begin, end));
    }
    if let Some(mux) = mux {
        ports.udp_mux = mux != 0;
    }
    if let Some(mtu) = mtu {
        ports.mtu = mtu as u16;
    }
    Ok(())
}

/// A port number 0..=65535 (the engine refuses 0, naming the key).
fn port_value(at: &str, key: &str, v: &Value) -> Result<i64, String> {
    let n = int_value(&format!("{at}{key}"), v)?;
    if !(0..=65535).contains(&n) {
        return Err(format!(
            "\"{at}{key}\" must be between 1 and 65535, got {n}"
        ));
    }
    Ok(n)
}

/// The MTU, within the engine's [`MTU_RANGE`].
fn mtu_value(at: &str, key: &str, v: &Value) -> Result<i64, String> {
    let n = int_value(&format!("{at}{key}"), v)?;
    if !(i64::from(*MTU_RANGE.start())..=i64::from(*MTU_RANGE.end())).contains(&n) {
        return Err(format!(
            "\"{at}{key}\" must be between {} and {}, got {n}",
            MTU_RANGE.start(),
            MTU_RANGE.end()
        ));
    }
    Ok(n)
}

fn bool_value(at: &str, key: &str, v: &Value) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        other => Err(format!(
            "\"{at}{key}\" must be a bool, got {}",
            other.type_name()
        )),
    }
}

fn optional_bool(fields: &[(String, Value)], key: &str, at: &str) -> Result<Option<bool>, String> {
    lookup(fields, key)
        .map(|v| bool_value(at, key, v))
        .transpose()
}

/// The liveness timings, each an optional whole number of milliseconds (the engine judges them).
fn parse_liveness(entries: &[(String, Value)], config: &mut Config) -> Result<(), String> {
    let liveness = &mut config.liveness;
    let fields: [(&str, &mut Duration); 3] = [
        ("keepaliveInterval", &mut liveness.keepalive_interval),
        ("disconnectedTimeout", &mut liveness.disconnected_after),
        ("failedTimeout", &mut liveness.failed_after),
    ];
    for (key, field) in fields {
        if let Some(v) = lookup(entries, key) {
            let ms = int_value(key, v)?;
            let ms = u64::try_from(ms)
                .map_err(|_| format!("\"{key}\" must not be negative, got {ms}"))?;
            *field = Duration::from_millis(ms);
        }
    }
    Ok(())
}

/// The engine's caps, each an optional whole number of its own key (the engine refuses 0).
fn parse_limits(entries: &[(String, Value)], config: &mut Config) -> Result<(), String> {
    let limits = &mut config.limits;
    let fields: [(&str, &mut usize); 6] = [
        ("channelReceiveBudget", &mut config.channel_receive_budget),
        (
            "connectionReceiveBudget",
            &mut limits.connection_receive_budget,
        ),
        ("channelSendBudget", &mut limits.channel_send_budget),
        ("maxRemoteCandidates", &mut limits.max_remote_candidates),
        ("maxRemoteChannels", &mut limits.max_remote_channels),
        ("maxNameLookups", &mut limits.max_name_lookups),
    ];
    for (key, field) in fields {
        if let Some(v) = lookup(entries, key) {
            let n = int_value(key, v)?;
            *field = usize::try_from(n)
                .map_err(|_| format!("\"{key}\" must not be negative, got {n}"))?;
        }
    }
    Ok(())
}

fn parse_ice_server(
    index: usize,
    server: &Value,
    warnings: &mut Vec<String>,
) -> Result<IceServer, String> {
    let at = format!("iceServers[{index}]");
    let Value::Dict(fields) = server else {
        return Err(format!(
            "{at} must be a Dictionary, got {}",
            server.type_name()
        ));
    };
    config_keys::check(Section::IceServer, &format!("{at}."), fields, warnings);
    let urls = match lookup(fields, "urls") {
        None => return Err(format!("{at}.urls is missing")),
        Some(Value::Str(url)) => vec![url.clone()],
        Some(Value::Array(items)) => {
            let mut urls = Vec::with_capacity(items.len());
            for (j, item) in items.iter().enumerate() {
                let Value::Str(url) = item else {
                    return Err(format!(
                        "{at}.urls[{j}] must be a String, got {}",
                        item.type_name()
                    ));
                };
                urls.push(url.clone());
            }
            urls
        }
        Some(other) => {
            return Err(format!(
                "{at}.urls must be a String or an Array, got {}",
                other.type_name()
            ))
        }
    };
    Ok(IceServer {
        urls,
        username: optional_string(fields, "username", &at)?,
        credential: optional_string(fields, "credential", &at)?,
    })
}

fn optional_string(
    fields: &[(String, Value)],
    key: &str,
    at: &str,
) -> Result<Option<String>, String> {
    match lookup(fields, key) {
        None | Some(Value::Nil) => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!(
            "{at}.{key} must be a String, got {}",
            other.type_name()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict(entries: &[(&str, Value)]) -> Value {
        Value::Dict(
            entries
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    fn parse(entries: &[(&str, Value)]) -> Result<Config, String> {
        parse_warned(entries).map(|p| p.config)
    }

    fn parse_warned(entries: &[(&str, Value)]) -> Result<Parsed, String> {
        let Value::Dict(owned) = dict(entries) else {
            unreachable!()
        };
        parse_config(&owned)
    }

    fn s(text: &str) -> Value {
        Value::Str(text.to_string())
    }

    #[test]
    fn ice_restart_on_disconnected_is_a_bool_and_off_by_default() {
        assert!(!parse(&[]).unwrap().restart_ice_on_disconnected);
        let config = parse(&[("iceRestartOnDisconnected", Value::Bool(true))]).unwrap();
        assert!(config.restart_ice_on_disconnected);
        let err = parse(&[("iceRestartOnDisconnected", Value::Int(1))]).unwrap_err();
        assert_eq!(err, "iceRestartOnDisconnected must be a bool, got int");
    }

    #[test]
    fn empty_configuration_is_the_default() {
        assert_eq!(parse(&[]).unwrap(), Config::default());
    }

    #[test]
    fn documented_example_is_accepted() {
        let config = parse(&[(
            "iceServers",
            Value::Array(vec![
                dict(&[("urls", Value::Array(vec![s("stun:stun.example.com:3478")]))]),
                dict(&[
                    ("urls", s("turn:turn.example.com:3478")),
                    ("username", s("a_username")),
                    ("credential", s("a_password")),
                ]),
            ]),
        )])
        .unwrap();
        assert_eq!(config.ice_servers.len(), 2);
        assert_eq!(
            config.ice_servers[0].urls,
            vec!["stun:stun.example.com:3478"]
        );
        assert_eq!(config.ice_servers[0].username, None);
        assert_eq!(
            config.ice_servers[1].urls,
            vec!["turn:turn.example.com:3478"]
        );
        assert_eq!(
            config.ice_servers[1].username.as_deref(),
            Some("a_username")
        );
        assert_eq!(
            config.ice_servers[1].credential.as_deref(),
            Some("a_password")
        );
    }

    #[test]
    fn bind_address_is_parsed() {
        let config = parse(&[("bindAddress", s("127.0.0.1"))]).unwrap();
        assert_eq!(config.bind_address, Some("127.0.0.1".parse().unwrap()));
        let config = parse(&[("bindAddress", s("::1"))]).unwrap();
        assert_eq!(config.bind_address, Some("::1".parse().unwrap()));
        let err = parse(&[("bindAddress", s("localhost"))]).unwrap_err();
        assert_eq!(err, "bindAddress \"localhost\" is not an IP address");
        let err = parse(&[("bindAddress", Value::Int(1))]).unwrap_err();
        assert!(err.starts_with("bindAddress must be a String"), "{err}");
    }

    #[test]
    fn errors_name_the_bad_entry() {
        let good = dict(&[("urls", s("stun:a.example"))]);
        let cases: Vec<(Value, &str)> = vec![
            (
                s("nope"),
                "iceServers must be an Array of Dictionaries, got String",
            ),
            (
                Value::Array(vec![good.clone(), s("stun:x")]),
                "iceServers[1] must be a Dictionary, got String",
            ),
            (
                Value::Array(vec![good.clone(), dict(&[("urls", Value::Int(3))])]),
                "iceServers[1].urls must be a String or an Array, got int",
            ),
            (
                Value::Array(vec![dict(&[])]),
                "iceServers[0].urls is missing",
            ),
            (
                Value::Array(vec![dict(&[(
                    "urls",
                    Value::Array(vec![s("stun:a"), Value::Int(2)]),
                )])]),
                "iceServers[0].urls[1] must be a String, got int",
            ),
            (
                Value::Array(vec![dict(&[
                    ("urls", s("stun:a")),
                    ("username", Value::Int(2)),
                ])]),
                "iceServers[0].username must be a String, got int",
            ),
        ];
        for (servers, expected) in cases {
            let err = parse(&[("iceServers", servers)]).unwrap_err();
            assert_eq!(err, expected);
        }
    }

    /// URLs and credentials pass through as given: the engine judges them.
    #[test]
    fn urls_and_credentials_are_passed_to_the_engine_unjudged() {
        let config = parse(&[(
            "iceServers",
            Value::Array(vec![dict(&[
                ("urls", Value::Array(vec![s("http://x"), s(" turn:t ")])),
                ("credential", s("")),
            ])]),
        )])
        .unwrap();
        assert_eq!(
            config.ice_servers,
            vec![IceServer {
                urls: vec!["http://x".into(), " turn:t ".into()],
                username: None,
                credential: Some(String::new()),
            }]
        );
        let config = parse(&[(
            "iceServers",
            Value::Array(vec![dict(&[("urls", s("stuns:s"))])]),
        )])
        .unwrap();
        assert_eq!(config.ice_servers[0].urls, vec!["stuns:s"]);
    }

    #[test]
    fn mdns_host_candidates_is_parsed() {
        assert!(!parse(&[]).unwrap().mdns_host_candidates);
        let config = parse(&[("mdnsHostCandidates", Value::Bool(true))]).unwrap();
        assert!(config.mdns_host_candidates);
        let err = parse(&[("mdnsHostCandidates", s("yes"))]).unwrap_err();
        assert_eq!(err, "mdnsHostCandidates must be a bool, got String");
    }

    #[test]
    fn ice_transport_policy_is_parsed() {
        let config = parse(&[("iceTransportPolicy", s("relay"))]).unwrap();
        assert_eq!(config.ice_transport_policy, IceTransportPolicy::Relay);
        let config = parse(&[("iceTransportPolicy", s("all"))]).unwrap();
        assert_eq!(config, Config::default());
        let err = parse(&[("iceTransportPolicy", s("none"))]).unwrap_err();
        assert!(err.contains("\"none\""), "{err}");
        let err = parse(&[("iceTransportPolicy", Value::Int(1))]).unwrap_err();
        assert!(
            err.starts_with("iceTransportPolicy must be a String"),
            "{err}"
        );
    }

    #[test]
    fn limits_are_passed_to_the_engine() {
        let c = parse(&[
            ("maxRemoteCandidates", Value::Int(7)),
            ("channelSendBudget", Value::Float(65536.0)),
            ("channelReceiveBudget", Value::Int(4096)),
        ])
        .unwrap();
        assert_eq!(c.limits.max_remote_candidates, 7);
        assert_eq!(c.limits.channel_send_budget, 65536);
        assert_eq!(c.channel_receive_budget, 4096);
        assert_eq!(
            c.limits.max_remote_channels,
            Config::default().limits.max_remote_channels
        );
        let err = parse(&[("maxRemoteChannels", Value::Int(-1))]).unwrap_err();
        assert_eq!(err, "\"maxRemoteChannels\" must not be negative, got -1");
        let err = parse(&[("maxNameLookups", Value::Str("8".into()))]).unwrap_err();
        assert_eq!(err, "\"maxNameLookups\" must be an int, got String");
    }

    #[test]
    fn liveness_is_passed_to_the_engine() {
        let c = parse(&[
            ("keepaliveInterval", Value::Int(250)),
            ("disconnectedTimeout", Value::Int(1000)),
            ("failedTimeout", Value::Float(3000.0)),
        ])
        .unwrap();
        assert_eq!(c.liveness.keepalive_interval, Duration::from_millis(250));
        assert_eq!(c.liveness.disconnected_after, Duration::from_secs(1));
        assert_eq!(c.liveness.failed_after, Duration::from_secs(3));
        let err = parse(&[("failedTimeout", Value::Int(-5))]).unwrap_err();
        assert_eq!(err, "\"failedTimeout\" must not be negative, got -5");
    }

    #[test]
    fn simulate_is_passed_to_the_engine() {
        let c = parse(&[(
            "simulate",
            dict(&[("delay_ms", Value::Int(150)), ("loss", Value::Float(0.05))]),
        )])
        .unwrap();
        let simulate = c.simulate.expect("simulating");
        assert_eq!(simulate.delay, Duration::from_millis(150));
        assert_eq!(simulate.loss, 0.05);
        assert_eq!(
            parse(&[("simulate", dict(&[]))]).unwrap(),
            Config::default()
        );
        let err = parse(&[("simulate", s("on"))]).unwrap_err();
        assert_eq!(err, "simulate must be a Dictionary, got String");
    }

    #[test]
    fn unknown_and_ignored_keys_are_warned_about_by_name() {
        let p = parse_warned(&[
            ("certificates", Value::Array(vec![])),
            ("bundlePolicy", s("max-bundle")),
            ("iceServer", Value::Array(vec![])),
            (
                "iceServers",
                Value::Array(vec![dict(&[
                    ("urls", s("stun:a")),
                    ("credentialType", s("password")),
                    ("user", s("x")),
                ])]),
            ),
            (
                "libdatachannel",
                dict(&[
                    ("enableIceTcp", Value::Bool(true)),
                    ("portRange", Value::Int(1)),
                ]),
            ),
        ])
        .unwrap();
        assert_eq!(p.config.ice_servers.len(), 1);
        assert_eq!(
            p.warnings,
            [
                "\"certificates\" is ignored: each connection makes its own DTLS certificate",
                "\"bundlePolicy\" is ignored: there is only one (data) section, so bundling \
                 changes nothing",
                "unknown key \"iceServer\" is ignored",
                "\"iceServers[0].credentialType\" is ignored: only password credentials are \
                 supported",
                "unknown key \"iceServers[0].user\" is ignored",
                "unknown key \"libdatachannel.portRange\" is ignored",
                "\"libdatachannel.enableIceTcp\" is ignored: ICE over TCP is not supported (UDP \
                 only; TURN over TCP or TLS is, with turn:...?transport=tcp or turns: URLs)",
            ]
        );
        assert!(parse_warned(&[]).unwrap().warnings.is_empty());
        let quiet = parse_warned(&[(
            "libdatachannel",
            dict(&[("enableIceTcp", Value::Bool(false))]),
        )])
        .unwrap();
        assert!(quiet.warnings.is_empty(), "{:?}", quiet.warnings);
    }

    #[test]
    fn webrtc_native_libdatachannel_keys_are_honoured() {
        let c = parse(&[(
            "libdatachannel",
            dict(&[
                ("enableIceUdpMux", Value::Bool(true)),
                ("portRangeBegin", Value::Int(40000)),
                ("portRangeEnd", Value::Int(40100)),
                ("mtu", Value::Int(1400)),
            ]),
        )])
        .unwrap();
        assert_eq!(c.ports.range, Some((40000, 40100)));
        assert!(c.ports.udp_mux);
        assert_eq!(c.ports.mtu, 1400);
    }

    #[test]
    fn top_level_port_keys_win_over_libdatachannel_with_a_warning() {
        let p = parse_warned(&[
            ("udpMux", Value::Bool(false)),
            ("portRangeBegin", Value::Int(50000)),
            (
                "libdatachannel",
                dict(&[
                    ("enableIceUdpMux", Value::Bool(true)),
                    ("portRangeBegin", Value::Int(50000)),
                    ("mtu", Value::Int(1500)),
                ]),
            ),
        ])
        .unwrap();
        assert_eq!(p.config.ports.range, Some((50000, 65535)));
        assert!(!p.config.ports.udp_mux);
        assert_eq!(p.config.ports.mtu, 1500);
        assert_eq!(
            p.warnings,
            ["\"udpMux\" and \"libdatachannel.enableIceUdpMux\" differ: \"udpMux\" is used"]
        );
        let c = parse(&[("portRangeEnd", Value::Int(2000))]).unwrap();
        assert_eq!(c.ports.range, Some((1024, 2000)));
        assert_eq!(parse(&[]).unwrap().ports, Config::default().ports);
    }

    #[test]
    fn port_keys_of_the_wrong_type_or_range_are_refused() {
        let cases: Vec<(Vec<(&str, Value)>, &str)> = vec![
            (
                vec![("portRangeBegin", Value::Int(70000))],
                "\"portRangeBegin\" must be between 1 and 65535, got 70000",
            ),
            (
                vec![("libdatachannel", dict(&[("portRangeEnd", Value::Int(-1))]))],
                "\"libdatachannel.portRangeEnd\" must be between 1 and 65535, got -1",
            ),
            (
                vec![("mtu", Value::Int(100))],
                "\"mtu\" must be between 576 and 9000, got 100",
            ),
            (
                vec![("udpMux", Value::Int(1))],
                "\"udpMux\" must be a bool, got int",
            ),
            (
                vec![("libdatachannel", s("on"))],
                "libdatachannel must be a Dictionary, got String",
            ),
        ];
        for (entries, expected) in cases {
            assert_eq!(parse(&entries).unwrap_err(), expected);
        }
        // 0 and a reversed range are the engine's to refuse, naming the keys.
        let c = parse(&[("portRangeBegin", Value::Int(0))]).unwrap();
        assert_eq!(c.ports.range, Some((0, 65535)));
    }
}
