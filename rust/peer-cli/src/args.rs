//! Command-line options of `webrtc-rs-peer`.

use std::net::IpAddr;

/// Usage text printed for `--help` and after a bad option.
pub const USAGE: &str = "usage: webrtc-rs-peer --role offerer|answerer [--label L] [--no-echo] [--sink] [--quiet] [--no-trickle] [--bind ADDR] [--mdns-host-candidates] [--ice-server URL]... [--ice-username U] [--ice-credential C] [--relay-only]

Drives one WebRTC data-channel connection from line-delimited JSON on stdin/stdout.
  --role        offerer creates channel L and prints the offer; answerer waits for an offer
  --label L     label of the channel the offerer creates (default \"data\")
  --no-echo     do not echo received messages back
  --sink        count received binary messages instead of echoing them; their events omit the payload
  --quiet       do not report received messages (counts are still kept)
  --no-trickle  print the description only once gathering completed, with the candidates inside
  --bind ADDR   gather host candidates on ADDR only (loopback tests use 127.0.0.1)
  --mdns-host-candidates  announce host candidates as random .local names answered by mDNS
  --ice-server URL     a STUN or TURN server (repeatable), e.g. stun:192.0.2.1:3478
  --ice-username U     username for the turn: servers
  --ice-credential C   credential for the turn: servers
  --relay-only  gather and use relay candidates only (iceTransportPolicy \"relay\")
";

/// Which side of the offer/answer exchange this peer plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Offerer,
    Answerer,
}

impl Role {
    /// The name used on the command line and in the `ready` event.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Offerer => "offerer",
            Role::Answerer => "answerer",
        }
    }
}

/// Parsed options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub role: Role,
    pub label: String,
    pub echo: bool,
    pub sink: bool,
    pub quiet: bool,
    pub trickle: bool,
    pub bind: Option<IpAddr>,
    /// `Config::mdns_host_candidates`.
    pub mdns_host_candidates: bool,
    pub ice_servers: Vec<String>,
    pub ice_username: Option<String>,
    pub ice_credential: Option<String>,
    pub relay_only: bool,
}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Run(Options),
    Help,
}

/// Parses the arguments after the program name; errors name the offending argument.
pub fn parse(args: &[String]) -> Result<Parsed, String> {
    let mut role = None;
    let mut options = Options {
        role: Role::Offerer,
        label: "data".to_string(),
        echo: true,
        sink: false,
        quiet: false,
        trickle: true,
        bind: None,
        mdns_host_candidates: false,
        ice_servers: Vec::new(),
        ice_username: None,
        ice_credential: None,
        relay_only: false,
    };
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--role" => {
                role = Some(match value(&mut iter, "--role")?.as_str() {
                    "offerer" => Role::Offerer,
                    "answerer" => Role::Answerer,
                    other => {
                        return Err(format!(
                            "--role must be \"offerer\" or \"answerer\", not {other:?}"
                        ))
                    }
                })
            }
            "--label" => options.label = value(&mut iter, "--label")?.clone(),
            "--no-echo" => options.echo = false,
            "--sink" => options.sink = true,
            "--quiet" => options.quiet = true,
            "--no-trickle" => options.trickle = false,
            "--bind" => {
                let text = value(&mut iter, "--bind")?;
                let address = text
                    .parse::<IpAddr>()
                    .map_err(|_| format!("--bind needs an IP address, not {text:?}"))?;
                options.bind = Some(address);
            }
            "--mdns-host-candidates" => options.mdns_host_candidates = true,
            "--ice-server" => options
                .ice_servers
                .push(value(&mut iter, "--ice-server")?.clone()),
            "--ice-username" => {
                options.ice_username = Some(value(&mut iter, "--ice-username")?.clone())
            }
            "--ice-credential" => {
                options.ice_credential = Some(value(&mut iter, "--ice-credential")?.clone())
            }
            "--relay-only" => options.relay_only = true,
            "--help" | "-h" => return Ok(Parsed::Help),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    options.role = role.ok_or("--role offerer|answerer is required")?;
    Ok(Parsed::Run(options))
}

fn value<'a>(
    iter: &mut impl Iterator<Item = &'a String>,
    flag: &str,
) -> Result<&'a String, String> {
    iter.next().ok_or_else(|| format!("{flag} needs a value"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(args: &[&str]) -> Result<Parsed, String> {
        let owned: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        parse(&owned)
    }

    #[test]
    fn full_command_line() {
        let parsed = parse_str(&[
            "--role",
            "answerer",
            "--label",
            "chat",
            "--no-echo",
            "--sink",
            "--quiet",
            "--no-trickle",
            "--bind",
            "127.0.0.1",
            "--mdns-host-candidates",
            "--ice-server",
            "turn:192.0.2.1:3478",
            "--ice-username",
            "u",
            "--ice-credential",
            "c",
            "--relay-only",
        ]);
        let expected = Options {
            role: Role::Answerer,
            label: "chat".into(),
            echo: false,
            sink: true,
            quiet: true,
            trickle: false,
            bind: Some("127.0.0.1".parse().unwrap()),
            mdns_host_candidates: true,
            ice_servers: vec!["turn:192.0.2.1:3478".into()],
            ice_username: Some("u".into()),
            ice_credential: Some("c".into()),
            relay_only: true,
        };
        assert_eq!(parsed, Ok(Parsed::Run(expected)));
    }

    #[test]
    fn defaults() {
        let Ok(Parsed::Run(options)) = parse_str(&["--role", "offerer"]) else {
            panic!("expected options");
        };
        assert_eq!(options.label, "data");
        assert!(options.echo && options.trickle && !options.sink && !options.quiet);
        assert_eq!(options.bind, None);
        assert!(!options.mdns_host_candidates);
    }

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(
            parse_str(&[]),
            Err("--role offerer|answerer is required".into())
        );
        assert!(parse_str(&["--role", "boss"])
            .unwrap_err()
            .contains("\"boss\""));
        assert!(parse_str(&["--role", "offerer", "--bind", "localhost"])
            .unwrap_err()
            .contains("\"localhost\""));
        assert!(parse_str(&["--role", "offerer", "--label"])
            .unwrap_err()
            .contains("--label needs a value"));
        assert!(parse_str(&["--role", "offerer", "--frobnicate"])
            .unwrap_err()
            .contains("--frobnicate"));
    }
}
