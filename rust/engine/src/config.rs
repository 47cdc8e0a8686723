//! The rules on what callers give the engine, and the only place they live: callers (the
//! Godot glue, the CLI) convert their input and leave the judging to this module.
//!
//! - [`Config`] ([`validate`]): ICE server URLs (`stun:`, `turn:`, `turns:`; `stuns:` is
//!   refused), TURN credentials and limits. Errors name the bad entry, e.g.
//!   `iceServers[1].urls[0] "stun:" has no host`.
//! - The network simulator ([`check_simulation`]): probabilities in 0..=1, delays up to 10 s, a
//!   bandwidth limit of at least 1 kbit/s. Errors name the `simulate` key, e.g.
//!   `simulate.loss must be between 0 and 1, got 1.5`.
//! - Channel options ([`channel_options`], [`check_channel`]): id and length ranges, the
//!   `negotiated`/`id` pairing, at most one reliability limit. Errors name the W3C member, e.g.
//!   `"id" is 70000, outside the allowed range 0..=65534`.

use crate::error::{Error, Result};
use crate::types::{
    ChannelOptions, Config, DataChannelInit, NetworkSimulation, PortConfig, MTU_RANGE,
};

/// The URL schemes [`parse_url`] accepts, as error messages list them.
const EXPECTED_SCHEMES: &str = "expected stun:, turn: or turns:";

/// Which kind of ICE server a URL designates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerKind {
    Stun,
    Turn,
    Turns,
}

/// Transport requested for a TURN server (`?transport=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TurnTransport {
    Udp,
    Tcp,
}

/// One parsed, validated ICE server URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerUrl {
    pub kind: ServerKind,
    /// Host name or IP literal (without brackets).
    pub host: String,
    pub port: u16,
    pub transport: TurnTransport,
    pub username: Option<String>,
    pub credential: Option<String>,
}

impl ServerUrl {
    /// Whether this TURN server is reached over TCP or TLS rather than UDP.
    pub fn is_stream(&self) -> bool {
        self.kind == ServerKind::Turns
            || (self.kind == ServerKind::Turn && self.transport == TurnTransport::Tcp)
    }

    /// The server as the user wrote it, for logs (`turn:host:port?transport=tcp`).
    pub fn name(&self) -> String {
        let scheme = match self.kind {
            ServerKind::Stun => "stun",
            ServerKind::Turn => "turn",
            ServerKind::Turns => "turns",
        };
        let transport = if self.kind == ServerKind::Turn && self.transport == TurnTransport::Tcp {
            "?transport=tcp"
        } else {
            ""
        };
        if self.host.contains(':') {
            format!("{scheme}:[{}]:{}{transport}", self.host, self.port)
        } else {
            format!("{scheme}:{}:{}{transport}", self.host, self.port)
        }
    }
}

/// The liveness timings: keepalive < disconnected < failed, each between 100 ms and 10 min.
fn check_liveness(l: &crate::types::Liveness) -> Result<()> {
    const LEAST: std::time::Duration = std::time::Duration::from_millis(100);
    const MOST: std::time::Duration = std::time::Duration::from_secs(600);
    for (name, value) in [
        ("keepaliveInterval", l.keepalive_interval),
        ("disconnectedTimeout", l.disconnected_after),
        ("failedTimeout", l.failed_after),
    ] {
        if value < LEAST || value > MOST {
            return Err(Error::invalid(format!(
                "{name} must be between 100 ms and 600000 ms, got {} ms",
                value.as_millis()
            )));
        }
    }
    if l.keepalive_interval >= l.disconnected_after {
        return Err(Error::invalid(
            "keepaliveInterval must be shorter than disconnectedTimeout",
        ));
    }
    if l.disconnected_after >= l.failed_after {
        return Err(Error::invalid(
            "disconnectedTimeout must be shorter than failedTimeout",
        ));
    }
    Ok(())
}

/// The port range (1..=65535, begin not above end) and the MTU ([`MTU_RANGE`]). Errors name
/// the `initialize()` keys.
fn check_ports(p: &PortConfig) -> Result<()> {
    if let Some((begin, end)) = p.range {
        if begin == 0 || end == 0 {
            return Err(Error::invalid(format!(
                "portRangeBegin and portRangeEnd must be between 1 and 65535, got {begin}..{end}"
            )));
        }
        if begin > end {
            return Err(Error::invalid(format!(
                "portRangeBegin ({begin}) must not be above portRangeEnd ({end})"
            )));
        }
    }
    if !MTU_RANGE.contains(&p.mtu) {
        return Err(Error::invalid(format!(
            "mtu must be between {} and {}, got {}",
            MTU_RANGE.start(),
            MTU_RANGE.end(),
            p.mtu
        )));
    }
    Ok(())
}

/// The longest delay or jitter the simulator takes, in milliseconds.
pub(crate) const MAX_SIMULATED_DELAY_MS: u64 = 10_000;
/// The largest simulated bandwidth, in kbit/s (10 Gbit/s).
pub(crate) const MAX_SIMULATED_KBPS: u64 = 10_000_000;

/// The network simulator's settings: shares in 0..=1, delays up to 10 s, a bandwidth between
/// 1 kbit/s and 10 Gbit/s. Errors name the key as `initialize()` spells it.
pub(crate) fn check_simulation(s: &NetworkSimulation) -> Result<()> {
    for (key, share) in [("loss", s.loss), ("duplicate", s.duplicate)] {
        if !(0.0..=1.0).contains(&share) {
            return Err(Error::invalid(format!(
                "simulate.{key} must be between 0 and 1, got {share}"
            )));
        }
    }
    for (key, time) in [("delay_ms", s.delay), ("jitter_ms", s.jitter)] {
        if time > std::time::Duration::from_millis(MAX_SIMULATED_DELAY_MS) {
            return Err(Error::invalid(format!(
                "simulate.{key} must be between 0 and {MAX_SIMULATED_DELAY_MS}, got {}",
                time.as_millis()
            )));
        }
    }
    match s.bandwidth_kbps {
        Some(kbps) if kbps == 0 || kbps > MAX_SIMULATED_KBPS => Err(Error::invalid(format!(
            "simulate.bandwidth_kbps must be between 1 and {MAX_SIMULATED_KBPS}, got {kbps}"
        ))),
        _ => Ok(()),
    }
}

/// Validates the whole configuration; returns the parsed server URLs.
pub(crate) fn validate(config: &Config) -> Result<Vec<ServerUrl>> {
    if config.channel_receive_budget == 0 {
        return Err(Error::invalid(
            "channel_receive_budget must be greater than 0",
        ));
    }
    check_liveness(&config.liveness)?;
    check_ports(&config.ports)?;
    if let Some(simulate) = &config.simulate {
        check_simulation(simulate)?;
    }
    let limits = &config.limits;
    for (name, value) in [
        ("maxRemoteCandidates", limits.max_remote_candidates),
        ("maxRemoteChannels", limits.max_remote_channels),
        ("connectionReceiveBudget", limits.connection_receive_budget),
        ("channelSendBudget", limits.channel_send_budget),
        ("maxNameLookups", limits.max_name_lookups),
    ] {
        if value == 0 {
            return Err(Error::invalid(format!("{name} must be greater than 0")));
        }
    }
    let mut out = Vec::new();
    for (i, server) in config.ice_servers.iter().enumerate() {
        if server.urls.is_empty() {
            return Err(Error::invalid(format!("iceServers[{i}].urls is empty")));
        }
        for (j, url) in server.urls.iter().enumerate() {
            let name = format!("iceServers[{i}].urls[{j}] {url:?}");
            let mut parsed =
                parse_url(url).map_err(|why| Error::invalid(format!("{name} {why}")))?;
            if parsed.kind != ServerKind::Stun {
                let user = server.username.as_deref().unwrap_or("");
                let cred = server.credential.as_deref().unwrap_or("");
                if user.is_empty() {
                    return Err(Error::invalid(format!(
                        "iceServers[{i}].username is required for the TURN URL {url:?}"
                    )));
                }
                if cred.is_empty() {
                    return Err(Error::invalid(format!(
                        "iceServers[{i}].credential is required for the TURN URL {url:?}"
                    )));
                }
                parsed.username = Some(user.to_owned());
                parsed.credential = Some(cred.to_owned());
            }
            out.push(parsed);
        }
    }
    Ok(out)
}

/// Parses one URL; the error text completes the sentence "<url> ...".
fn parse_url(url: &str) -> std::result::Result<ServerUrl, String> {
    let url = url.trim();
    let (scheme, rest) = url
        .split_once(':')
        .ok_or_else(|| format!("has no scheme ({EXPECTED_SCHEMES})"))?;
    let kind = match scheme.to_ascii_lowercase().as_str() {
        "stuns" => {
            return Err(format!(
                "uses stuns: (STUN over TLS), which is not supported ({EXPECTED_SCHEMES})"
            ))
        }
        "stun" => ServerKind::Stun,
        "turn" => ServerKind::Turn,
        "turns" => ServerKind::Turns,
        other => {
            return Err(format!(
                "has an unsupported scheme {other:?} ({EXPECTED_SCHEMES})"
            ))
        }
    };
    let (hostport, query) = match rest.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (rest, None),
    };
    if hostport.starts_with("//") {
        return Err("must not contain \"//\" (write stun:host:port)".to_owned());
    }
    // `user:pass@host` is tolerated: the credentials come from the entry's fields.
    let hostport = hostport.rsplit_once('@').map_or(hostport, |(_, h)| h);
    if hostport.is_empty() {
        return Err("has no host".to_owned());
    }
    let default_port = if kind == ServerKind::Turns {
        5349
    } else {
        3478
    };
    let (host, port) = split_host_port(hostport, default_port)?;
    if host.is_empty() {
        return Err("has no host".to_owned());
    }
    if host
        .chars()
        .any(|c| c.is_whitespace() || c == '/' || c == '[' || c == ']')
    {
        return Err(format!("has an invalid host {host:?}"));
    }
    let mut transport = if kind == ServerKind::Turns {
        TurnTransport::Tcp
    } else {
        TurnTransport::Udp
    };
    if let Some(query) = query {
        if kind == ServerKind::Stun {
            return Err("must not have a query (only TURN URLs take ?transport=)".to_owned());
        }
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some(("transport", "udp")) if kind == ServerKind::Turn => {
                    transport = TurnTransport::Udp
                }
                Some(("transport", "tcp")) => transport = TurnTransport::Tcp,
                Some(("transport", other)) => {
                    return Err(format!(
                        "has an unsupported transport {other:?} (expected udp or tcp)"
                    ))
                }
                _ => return Err(format!("has an unknown query parameter {pair:?}")),
            }
        }
    }
    Ok(ServerUrl {
        kind,
        host,
        port,
        transport,
        username: None,
        credential: None,
    })
}

fn split_host_port(s: &str, default_port: u16) -> std::result::Result<(String, u16), String> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| "has an unterminated [IPv6] host".to_owned())?;
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("has an invalid IPv6 address {host:?}"));
        }
        let port = match after {
            "" => default_port,
            p => parse_port(
                p.strip_prefix(':')
                    .ok_or_else(|| format!("has unexpected text {p:?} after the host"))?,
            )?,
        };
        return Ok((host.to_owned(), port));
    }
    match s.split_once(':') {
        None => Ok((s.to_owned(), default_port)),
        Some((host, port)) => {
            if port.contains(':') {
                return Err("has an IPv6 address without [brackets]".to_owned());
            }
            Ok((host.to_owned(), parse_port(port)?))
        }
    }
}

fn parse_port(p: &str) -> std::result::Result<u16, String> {
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("has an invalid port {p:?}")),
        Ok(port) => Ok(port),
    }
}

/// The largest stream id a channel may use (65535 is reserved, RFC 8831).
const MAX_CHANNEL_ID: u16 = 65_534;
/// The largest label or protocol, in bytes (DCEP's length fields are 16-bit, RFC 8832).
const MAX_LABEL_BYTES: usize = u16::MAX as usize;

/// Turns what a caller stated into options: integer ranges and the `negotiated`/`id` pairing.
pub(crate) fn channel_options(init: &DataChannelInit) -> Result<ChannelOptions> {
    let id = init
        .id
        .map(|id| in_range("id", id, MAX_CHANNEL_ID))
        .transpose()?;
    let negotiated = init.negotiated.unwrap_or(false);
    if negotiated && id.is_none() {
        return Err(Error::invalid("\"negotiated\": true requires an \"id\""));
    }
    if !negotiated && id.is_some() {
        return Err(Error::invalid(
            "\"id\" is only allowed together with \"negotiated\": true (in-band channels get their \
             id assigned)",
        ));
    }
    Ok(ChannelOptions {
        ordered: init.ordered.unwrap_or(true),
        max_retransmits: init
            .max_retransmits
            .map(|n| in_range("maxRetransmits", n, u16::MAX))
            .transpose()?,
        max_packet_lifetime: init
            .max_packet_life_time
            .map(|ms| in_range("maxPacketLifeTime", ms, u16::MAX))
            .transpose()?,
        protocol: init.protocol.clone().unwrap_or_default(),
        negotiated_id: id,
    })
}

/// The rules every new channel follows, however its options were made.
pub(crate) fn check_channel(label: &str, options: &ChannelOptions) -> Result<()> {
    if options.max_retransmits.is_some() && options.max_packet_lifetime.is_some() {
        return Err(Error::invalid(
            "\"maxRetransmits\" and \"maxPacketLifeTime\" are mutually exclusive; give at most \
             one",
        ));
    }
    check_length("label", label)?;
    check_length("\"protocol\"", &options.protocol)?;
    match options.negotiated_id {
        Some(id) if id > MAX_CHANNEL_ID => Err(out_of_range("id", id.into(), MAX_CHANNEL_ID)),
        _ => Ok(()),
    }
}

fn in_range(key: &str, value: i64, max: u16) -> Result<u16> {
    u16::try_from(value)
        .ok()
        .filter(|v| *v <= max)
        .ok_or_else(|| out_of_range(key, value, max))
}

fn out_of_range(key: &str, value: i64, max: u16) -> Error {
    Error::invalid(format!(
        "\"{key}\" is {value}, outside the allowed range 0..={max}"
    ))
}

fn check_length(name: &str, text: &str) -> Result<()> {
    if text.len() > MAX_LABEL_BYTES {
        return Err(Error::invalid(format!(
            "{name} is {} bytes long; at most {MAX_LABEL_BYTES} bytes are allowed",
            text.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
#[path = "config_proptests.rs"]
mod proptests;

#[cfg(test)]
#[path = "channel_proptests.rs"]
mod channel_proptests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::IceServer;

    fn cfg(urls: &[&str], user: Option<&str>, cred: Option<&str>) -> Config {
        Config {
            ice_servers: vec![IceServer {
                urls: urls.iter().map(|s| s.to_string()).collect(),
                username: user.map(str::to_owned),
                credential: cred.map(str::to_owned),
            }],
            ..Config::default()
        }
    }

    #[test]
    fn good_urls() {
        let v = validate(&cfg(&["stun:example.org", "stun:[::1]:1234"], None, None)).unwrap();
        assert_eq!(v[0].port, 3478);
        assert_eq!(v[1].host, "::1");
        assert_eq!(v[1].port, 1234);
        let v = validate(&cfg(
            &["turn:t.example:3479?transport=tcp", "turns:t.example"],
            Some("u"),
            Some("p"),
        ))
        .unwrap();
        assert_eq!(v[0].transport, TurnTransport::Tcp);
        assert_eq!(v[1].port, 5349);
    }

    #[test]
    fn bad_urls_name_the_entry() {
        let message = |urls: &[&str], user: Option<&str>, cred: Option<&str>| {
            let e = validate(&cfg(urls, user, cred)).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidParameter);
            e.message().to_owned()
        };
        assert_eq!(
            message(&["stun:"], None, None),
            "iceServers[0].urls[0] \"stun:\" has no host"
        );
        assert_eq!(
            message(&["stun::3478"], None, None),
            "iceServers[0].urls[0] \"stun::3478\" has no host"
        );
        assert_eq!(
            message(&["stun:a.example", "http://example.com"], None, None),
            "iceServers[0].urls[1] \"http://example.com\" has an unsupported scheme \"http\" \
             (expected stun:, turn: or turns:)"
        );
        assert_eq!(
            message(&["stuns:a.example"], None, None),
            "iceServers[0].urls[0] \"stuns:a.example\" uses stuns: (STUN over TLS), which is not \
             supported (expected stun:, turn: or turns:)"
        );
        assert_eq!(
            message(&["a.example"], None, None),
            "iceServers[0].urls[0] \"a.example\" has no scheme (expected stun:, turn: or turns:)"
        );
        assert_eq!(message(&[], None, None), "iceServers[0].urls is empty");
        let e = message(&["stun:h:99999"], None, None);
        assert!(e.contains("invalid port"), "{e}");
        let e = message(&["turn:x?transport=sctp"], Some("u"), Some("p"));
        assert!(e.contains("unsupported transport"), "{e}");
    }

    #[test]
    fn turn_urls_need_a_username_and_a_credential() {
        for (user, cred, missing) in [
            (None, None, "username"),
            (Some(""), Some("p"), "username"),
            (Some("u"), None, "credential"),
            (Some("u"), Some(""), "credential"),
        ] {
            for url in ["turn:t.example", "TURNS:t.example"] {
                let e = validate(&cfg(&[url], user, cred)).unwrap_err();
                assert_eq!(
                    e.message(),
                    format!("iceServers[0].{missing} is required for the TURN URL {url:?}")
                );
            }
        }
        assert!(validate(&cfg(&["stun:s.example"], None, None)).is_ok());
        assert!(validate(&cfg(&["turn:t.example"], Some("u"), Some("p"))).is_ok());
    }
}

#[cfg(test)]
mod liveness_tests {
    use super::*;
    use crate::types::Liveness;
    use std::time::Duration;

    fn check(f: impl FnOnce(&mut Liveness)) -> Result<()> {
        let mut l = Liveness::default();
        f(&mut l);
        check_liveness(&l)
    }

    #[test]
    fn defaults_and_fast_settings_pass() {
        check(|_| {}).expect("defaults");
        check(|l| {
            l.keepalive_interval = Duration::from_millis(250);
            l.disconnected_after = Duration::from_secs(1);
            l.failed_after = Duration::from_secs(3);
        })
        .expect("a game's fast detection");
    }

    #[test]
    fn the_order_and_range_are_enforced() {
        let msg = |r: Result<()>| r.unwrap_err().message().to_owned();
        assert_eq!(
            msg(check(|l| l.keepalive_interval = Duration::from_secs(5))),
            "keepaliveInterval must be shorter than disconnectedTimeout"
        );
        assert_eq!(
            msg(check(|l| l.failed_after = Duration::from_secs(5))),
            "disconnectedTimeout must be shorter than failedTimeout"
        );
        assert_eq!(
            msg(check(|l| l.keepalive_interval = Duration::from_millis(10))),
            "keepaliveInterval must be between 100 ms and 600000 ms, got 10 ms"
        );
        assert_eq!(
            msg(check(|l| l.failed_after = Duration::from_secs(3600))),
            "failedTimeout must be between 100 ms and 600000 ms, got 3600000 ms"
        );
    }
}

#[cfg(test)]
mod simulation_tests {
    use super::*;
    use std::time::Duration;

    fn check(f: impl FnOnce(&mut NetworkSimulation)) -> Result<()> {
        let mut s = NetworkSimulation::default();
        f(&mut s);
        check_simulation(&s)
    }

    #[test]
    fn the_limits_of_each_range_pass() {
        check(|_| {}).expect("no impairment");
        check(|s| {
            s.loss = 1.0;
            s.duplicate = 1.0;
            s.delay = Duration::from_secs(10);
            s.jitter = Duration::from_secs(10);
            s.bandwidth_kbps = Some(MAX_SIMULATED_KBPS);
            s.seed = Some(u64::MAX);
        })
        .expect("the largest values");
        check(|s| s.bandwidth_kbps = Some(1)).expect("1 kbit/s");
    }

    #[test]
    fn out_of_range_values_are_named_with_their_key() {
        let msg = |r: Result<()>| {
            let e = r.unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidParameter);
            e.message().to_owned()
        };
        assert_eq!(
            msg(check(|s| s.loss = 1.5)),
            "simulate.loss must be between 0 and 1, got 1.5"
        );
        assert_eq!(
            msg(check(|s| s.loss = -0.1)),
            "simulate.loss must be between 0 and 1, got -0.1"
        );
        assert_eq!(
            msg(check(|s| s.duplicate = f64::NAN)),
            "simulate.duplicate must be between 0 and 1, got NaN"
        );
        assert_eq!(
            msg(check(|s| s.delay = Duration::from_millis(10_001))),
            "simulate.delay_ms must be between 0 and 10000, got 10001"
        );
        assert_eq!(
            msg(check(|s| s.jitter = Duration::from_secs(3600))),
            "simulate.jitter_ms must be between 0 and 10000, got 3600000"
        );
        assert_eq!(
            msg(check(|s| s.bandwidth_kbps = Some(0))),
            "simulate.bandwidth_kbps must be between 1 and 10000000, got 0"
        );
        let config = Config {
            simulate: Some(NetworkSimulation {
                loss: 2.0,
                ..Default::default()
            }),
            ..Config::default()
        };
        assert_eq!(
            msg(validate(&config).map(|_| ())),
            "simulate.loss must be between 0 and 1, got 2"
        );
    }
}

#[cfg(test)]
mod channel_tests {
    use super::*;

    fn init(f: impl FnOnce(&mut DataChannelInit)) -> Result<ChannelOptions> {
        let mut init = DataChannelInit::default();
        f(&mut init);
        channel_options(&init)
    }

    fn message(result: Result<impl std::fmt::Debug>) -> String {
        let e = result.unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidParameter);
        e.message().to_owned()
    }

    #[test]
    fn absent_members_give_a_reliable_ordered_in_band_channel() {
        assert_eq!(init(|_| {}).unwrap(), ChannelOptions::default());
        assert!(ChannelOptions::default().ordered);
    }

    #[test]
    fn every_member_is_copied() {
        let o = init(|i| {
            i.negotiated = Some(true);
            i.id = Some(7);
            i.ordered = Some(false);
            i.max_retransmits = Some(3);
            i.protocol = Some("proto/1".into());
        })
        .unwrap();
        assert_eq!(
            o,
            ChannelOptions {
                ordered: false,
                max_retransmits: Some(3),
                max_packet_lifetime: None,
                protocol: "proto/1".into(),
                negotiated_id: Some(7),
            }
        );
        let o = init(|i| i.max_packet_life_time = Some(500)).unwrap();
        assert_eq!(o.max_packet_lifetime, Some(500));
    }

    #[test]
    fn negotiated_and_id_go_together() {
        assert_eq!(
            message(init(|i| i.negotiated = Some(true))),
            "\"negotiated\": true requires an \"id\""
        );
        let only_with = "\"id\" is only allowed together with \"negotiated\": true (in-band \
                         channels get their id assigned)";
        assert_eq!(message(init(|i| i.id = Some(1))), only_with);
        assert_eq!(
            message(init(|i| {
                i.negotiated = Some(false);
                i.id = Some(1);
            })),
            only_with
        );
    }

    #[test]
    fn out_of_range_values_are_errors_naming_the_member() {
        for (key, bad, max) in [
            ("id", -1, 65_534),
            ("id", 65_535, 65_534),
            ("id", i64::MAX, 65_534),
            ("maxRetransmits", -1, 65_535),
            ("maxRetransmits", 65_536, 65_535),
            ("maxPacketLifeTime", -5, 65_535),
            ("maxPacketLifeTime", 70_000, 65_535),
        ] {
            let result = init(|i| match key {
                "id" => {
                    i.negotiated = Some(true);
                    i.id = Some(bad);
                }
                "maxRetransmits" => i.max_retransmits = Some(bad),
                _ => i.max_packet_life_time = Some(bad),
            });
            assert_eq!(
                message(result),
                format!("\"{key}\" is {bad}, outside the allowed range 0..={max}")
            );
        }
        let o = init(|i| {
            i.negotiated = Some(true);
            i.id = Some(65_534);
        })
        .unwrap();
        assert_eq!(o.negotiated_id, Some(65_534));
        let o = init(|i| i.max_retransmits = Some(65_535)).unwrap();
        assert_eq!(o.max_retransmits, Some(65_535));
    }

    #[test]
    fn both_reliability_limits_are_an_error() {
        let both = ChannelOptions {
            max_retransmits: Some(1),
            max_packet_lifetime: Some(1),
            ..ChannelOptions::default()
        };
        assert_eq!(
            message(check_channel("chat", &both)),
            "\"maxRetransmits\" and \"maxPacketLifeTime\" are mutually exclusive; give at most one"
        );
    }

    #[test]
    fn reserved_id_is_refused_however_the_options_were_made() {
        let reserved = ChannelOptions {
            negotiated_id: Some(65_535),
            ..ChannelOptions::default()
        };
        assert_eq!(
            message(check_channel("chat", &reserved)),
            "\"id\" is 65535, outside the allowed range 0..=65534"
        );
    }

    #[test]
    fn over_long_label_and_protocol_are_errors() {
        let longest = "x".repeat(MAX_LABEL_BYTES);
        let long = "x".repeat(MAX_LABEL_BYTES + 1);
        let protocol = |p: &str| ChannelOptions {
            protocol: p.to_owned(),
            ..ChannelOptions::default()
        };
        assert!(check_channel(&longest, &protocol(&longest)).is_ok());
        assert_eq!(
            message(check_channel(&long, &ChannelOptions::default())),
            "label is 65536 bytes long; at most 65535 bytes are allowed"
        );
        assert_eq!(
            message(check_channel("chat", &protocol(&long))),
            "\"protocol\" is 65536 bytes long; at most 65535 bytes are allowed"
        );
    }
}
