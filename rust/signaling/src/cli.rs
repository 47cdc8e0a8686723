//! The command line of `webrtc-rs-signaling`: every flag, its default and its meaning.

use crate::server::Config;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// `--help`.
pub const USAGE: &str = "usage: webrtc-rs-signaling [options]

The lobby signaling server of webrtc_rs. Prints `listening on ws://ADDR:PORT` (or wss://)
on stdout once ready; logs on stderr. Every limit below has a default that is safe on the
public internet; see docs/signaling.md for deployment.

Listening:
  --bind ADDR                 address to listen on (default 127.0.0.1; 0.0.0.0 or :: to
                              accept other machines)
  --port N                    TCP port (default 9080; 0 picks a free one)
  --tls-cert FILE             serve wss:// with this PEM certificate chain, leaf first
                              (e.g. Let's Encrypt's fullchain.pem); needs --tls-key
  --tls-key FILE              the certificate's PEM private key (PKCS#8, PKCS#1 or SEC1)
  --trusted-proxy ADDR        a reverse proxy whose X-Forwarded-For header names the client;
                              its connections are counted per client (repeatable)

Connections (an address is an IPv4 address or an IPv6 /64):
  --max-connections N         connections open in all (default 4096)
  --max-connections-per-ip N  connections open at once from one address (default 32)
  --connection-rate N         new connections per second from one address (default 5)
  --connection-burst N        new connections one address may open at once (default 20)
  --message-rate N            messages per second from one connection; a faster client is
                              read more slowly, nothing is dropped (default 50; a message
                              costs one per started 16 KiB)
  --message-burst N           messages a connection may send at once (default 200)
  --max-message-size BYTES    larger messages close the connection with 1009 (default 65536)
  --handshake-timeout SECS    TLS and WebSocket handshakes together (default 10)
  --join-timeout SECS         time a connection may stay in no lobby (default 60)
  --idle-timeout SECS         drop clients silent this long, pongs included, or not taking
                              a message for this long (default 60)

Lobbies:
  --max-lobbies N             lobbies open at once (default 1024)
  --max-peers N               peers per lobby, host included (default 32)
  --max-lobbies-per-ip N      lobbies hosted from one address at once (default 8)
  --join-rate N               lobby codes one address may try per second: each join, and
                              each create with a code of its choosing (default 2)
  --join-burst N              codes one address may try at once (default 20)
  --code-quarantine SECS      a closed lobby's code cannot be created again for this long
                              (default 600; 0 disables)

Relaying (one slow recipient never gets anyone disconnected):
  --relay-queue N             messages from one sender that may wait for one recipient;
                              past it that sender's messages to it are dropped (default 64)
  --relay-queue-bytes BYTES   their bytes (default 65536; one message always fits)
  --max-queued-bytes BYTES    bytes waiting for all recipients together; past it, the
                              recipients holding the most lose new messages
                              (default 134217728)

Logging:
  --log-level LEVEL           error, warn, info, debug or trace (default info); lines that
                              clients cause are limited to 20 a second (bursts of 100)
  --quiet                     same as --log-level warn
  -h, --help                  show this help
";

/// What the command line asks for.
pub struct Options {
    /// The server configuration, TLS excepted.
    pub config: Config,
    /// `--tls-cert` and `--tls-key`.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The most verbose level logged.
    pub log_level: tracing::Level,
}

/// `Ok(None)` means help was asked for.
pub fn parse(args: &[String]) -> Result<Option<Options>, String> {
    let mut config = Config::default();
    let mut ip: IpAddr = config.bind.ip();
    let mut port: u16 = config.bind.port();
    let mut log_level = tracing::Level::INFO;
    let (mut cert, mut key) = (None, None);
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let mut value = || rest.next().ok_or_else(|| format!("{flag} needs a value"));
        let limits = &mut config.limits;
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--quiet" => log_level = tracing::Level::WARN,
            "--log-level" => {
                let text = value()?;
                log_level = text.parse().map_err(|_| {
                    format!("--log-level: {text:?} is not error, warn, info, debug or trace")
                })?;
            }
            "--bind" => ip = address(flag, value()?)?,
            "--port" => port = number(flag, value()?)?,
            "--tls-cert" => cert = Some(PathBuf::from(value()?)),
            "--tls-key" => key = Some(PathBuf::from(value()?)),
            "--trusted-proxy" => config.trusted_proxies.push(address(flag, value()?)?),
            "--max-connections" => config.max_connections = positive(flag, value()?)?,
            "--max-connections-per-ip" => config.admission.max_per_ip = positive(flag, value()?)?,
            "--connection-rate" => config.admission.rate.per_sec = rate(flag, value()?)?,
            "--connection-burst" => config.admission.rate.burst = rate(flag, value()?)?,
            "--message-rate" => config.message_rate.per_sec = rate(flag, value()?)?,
            "--message-burst" => config.message_rate.burst = rate(flag, value()?)?,
            "--max-message-size" => config.max_message_size = positive(flag, value()?)?,
            "--handshake-timeout" => config.handshake_timeout = seconds(flag, value()?, false)?,
            "--join-timeout" => config.join_timeout = seconds(flag, value()?, false)?,
            "--idle-timeout" => config.idle_timeout = seconds(flag, value()?, false)?,
            "--max-lobbies" => limits.max_lobbies = positive(flag, value()?)?,
            "--max-peers" => limits.max_peers = positive(flag, value()?)?,
            "--max-lobbies-per-ip" => limits.max_lobbies_per_ip = positive(flag, value()?)?,
            "--join-rate" => limits.join_rate.per_sec = rate(flag, value()?)?,
            "--join-burst" => limits.join_rate.burst = rate(flag, value()?)?,
            "--code-quarantine" => limits.code_quarantine = seconds(flag, value()?, true)?,
            "--relay-queue" => config.share.messages = positive(flag, value()?)?,
            "--relay-queue-bytes" => config.share.bytes = positive(flag, value()?)?,
            "--max-queued-bytes" => config.max_queued_bytes = positive(flag, value()?)?,
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    let tls = match (cert, key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    config.bind = SocketAddr::new(ip, port);
    Ok(Some(Options {
        config,
        tls,
        log_level,
    }))
}

fn address(flag: &str, text: &str) -> Result<IpAddr, String> {
    text.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| format!("{flag}: {text:?} is not an IP address"))
}

fn number<T: std::str::FromStr>(flag: &str, text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{flag}: {text:?} is not a valid number"))
}

fn positive(flag: &str, text: &str) -> Result<usize, String> {
    match number::<usize>(flag, text)? {
        0 => Err(format!("{flag} must be at least 1")),
        n => Ok(n),
    }
}

fn rate(flag: &str, text: &str) -> Result<f64, String> {
    let value: f64 = number(flag, text)?;
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(format!("{flag} must be a number above 0"))
    }
}

fn seconds(flag: &str, text: &str, zero_ok: bool) -> Result<Duration, String> {
    let value: f64 = number(flag, text)?;
    let valid = value.is_finite() && value <= 1e9 && (value > 0.0 || (zero_ok && value == 0.0));
    if valid {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(format!("{flag} must be a number of seconds above 0"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn options(list: &[&str]) -> Options {
        match parse(&args(list)) {
            Ok(Some(options)) => options,
            Ok(None) => panic!("help"),
            Err(e) => panic!("{list:?}: {e}"),
        }
    }

    /// Every flag the parser knows is in the help text, and the other way round.
    #[test]
    fn help_documents_every_flag() {
        let source = include_str!("cli.rs");
        let parser = &source[source.find("match flag.as_str()").expect("parser")..];
        let parser = &parser[..parser.find("other =>").expect("end")];
        let mut in_parser: Vec<&str> = parser
            .split('"')
            .filter(|piece| piece.starts_with('-') && piece.len() > 1 && !piece.contains(' '))
            .collect();
        in_parser.sort();
        in_parser.dedup();
        let mut in_help: Vec<&str> = USAGE
            .split_whitespace()
            .filter(|word| word.starts_with('-') && word.len() > 1)
            .map(|word| word.trim_end_matches(','))
            .collect();
        in_help.sort();
        in_help.dedup();
        assert_eq!(in_parser, in_help);
        assert!(in_parser.len() >= 25, "{in_parser:?}");
    }

    #[test]
    fn defaults_are_the_safe_ones() {
        let defaults = options(&[]);
        assert_eq!(
            defaults.config.bind,
            SocketAddr::from(([127, 0, 0, 1], 9080))
        );
        assert!(defaults.tls.is_none());
        assert_eq!(defaults.log_level, tracing::Level::INFO);
        let config = defaults.config;
        assert_eq!(config.max_connections, 4096);
        assert_eq!(config.admission.max_per_ip, 32);
        assert_eq!(config.limits.max_lobbies_per_ip, 8);
        assert_eq!(config.limits.code_quarantine, Duration::from_secs(600));
    }

    #[test]
    fn flags_set_their_fields() {
        let o = options(&[
            "--bind",
            "[::]",
            "--port",
            "0",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
            "--trusted-proxy",
            "10.0.0.1",
            "--max-connections-per-ip",
            "4",
            "--connection-rate",
            "0.5",
            "--message-burst",
            "10",
            "--join-rate",
            "1",
            "--code-quarantine",
            "0",
            "--relay-queue",
            "8",
            "--idle-timeout",
            "1.5",
            "--quiet",
        ]);
        assert_eq!(o.config.bind, "[::]:0".parse().expect("addr"));
        assert_eq!(o.tls, Some(("c.pem".into(), "k.pem".into())));
        assert_eq!(
            o.config.trusted_proxies,
            vec!["10.0.0.1".parse::<IpAddr>().expect("ip")]
        );
        assert_eq!(o.config.admission.max_per_ip, 4);
        assert_eq!(o.config.admission.rate.per_sec, 0.5);
        assert_eq!(o.config.message_rate.burst, 10.0);
        assert_eq!(o.config.limits.join_rate.per_sec, 1.0);
        assert_eq!(o.config.limits.code_quarantine, Duration::ZERO);
        assert_eq!(o.config.share.messages, 8);
        assert_eq!(o.config.idle_timeout, Duration::from_millis(1500));
        assert_eq!(o.log_level, tracing::Level::WARN);
    }

    #[test]
    fn bad_values_are_named() {
        for (list, needle) in [
            (&["--port"][..], "--port needs a value"),
            (&["--max-peers", "0"][..], "--max-peers must be at least 1"),
            (
                &["--join-rate", "-1"][..],
                "--join-rate must be a number above 0",
            ),
            (
                &["--idle-timeout", "0"][..],
                "--idle-timeout must be a number of seconds",
            ),
            (&["--bind", "example.org"][..], "is not an IP address"),
            (
                &["--tls-cert", "c.pem"][..],
                "--tls-cert and --tls-key go together",
            ),
            (&["--log-level", "loud"][..], "is not error, warn"),
            (&["--verbose"][..], "unknown option \"--verbose\""),
        ] {
            let error = parse(&args(list)).err().unwrap_or_default();
            assert!(error.contains(needle), "{list:?}: {error}");
        }
    }
}
