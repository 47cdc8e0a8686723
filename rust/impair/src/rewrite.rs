//! Pointing a peer's announced addresses at the relay: `candidate:` lines (trickled or inline
//! `a=candidate:`), and the `c=` and `m=` address and port of a session description.

use std::net::{IpAddr, SocketAddr};

/// A candidate line rewritten to the relay's address, and the real address it announced (if
/// it names an IP address; not for an mDNS `.local` name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewritten {
    pub line: String,
    pub real: Option<SocketAddr>,
}

/// `line` with its address and port replaced by `relay`. A line that is not a candidate (an
/// empty end-of-candidates line) comes back unchanged; a candidate the relay cannot carry (TCP)
/// or cannot read gives `None`, so that no traffic goes around the relay.
pub fn candidate(line: &str, relay: SocketAddr) -> Option<Rewritten> {
    let (prefix, body) = match line
        .strip_prefix("a=candidate:")
        .map(|b| ("a=candidate:", b))
        .or_else(|| line.strip_prefix("candidate:").map(|b| ("candidate:", b)))
    {
        Some(split) => split,
        None => {
            return Some(Rewritten {
                line: line.to_owned(),
                real: None,
            })
        }
    };
    let mut fields: Vec<&str> = body.split_whitespace().collect();
    if fields.len() < 8 || fields[6] != "typ" || !fields[2].eq_ignore_ascii_case("udp") {
        return None;
    }
    let port: u16 = fields[5].parse().ok()?;
    let real = fields[4]
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, port));
    let ip = relay.ip().to_string();
    let relay_port = relay.port().to_string();
    fields[4] = &ip;
    fields[5] = &relay_port;
    Some(Rewritten {
        line: format!("{prefix}{}", fields.join(" ")),
        real,
    })
}

/// `sdp` with its inline candidates rewritten (those the relay cannot carry removed), and a
/// `c=` address other than the unspecified one (with the `m=` port other than 9 and 0) set to
/// the relay's. Also returns the real addresses the candidates announced. Line endings are
/// kept.
pub fn sdp(sdp: &str, relay: SocketAddr) -> (String, Vec<SocketAddr>) {
    let mut out = String::with_capacity(sdp.len());
    let mut real = Vec::new();
    for raw in sdp.split_inclusive('\n') {
        let body = raw.trim_end_matches(['\r', '\n']);
        let ending = &raw[body.len()..];
        let line = if body.starts_with("a=candidate:") {
            match candidate(body, relay) {
                Some(r) => {
                    real.extend(r.real);
                    r.line
                }
                None => continue,
            }
        } else if let Some(addr) = body.strip_prefix("c=IN ") {
            connection(addr, relay).unwrap_or_else(|| body.to_owned())
        } else if body.starts_with("m=") {
            media(body, relay)
        } else {
            body.to_owned()
        };
        out.push_str(&line);
        out.push_str(ending);
    }
    (out, real)
}

/// A `c=` line pointing at the relay, unless the address is unspecified (nothing to rewrite).
fn connection(rest: &str, relay: SocketAddr) -> Option<String> {
    let addr = rest.split_whitespace().nth(1)?;
    if matches!(addr.parse::<IpAddr>(), Ok(ip) if ip.is_unspecified()) {
        return None;
    }
    let family = if relay.is_ipv4() { "IP4" } else { "IP6" };
    Some(format!("c=IN {family} {}", relay.ip()))
}

/// An `m=` line with its port set to the relay's, unless it is 9 (discard) or 0 (rejected).
fn media(line: &str, relay: SocketAddr) -> String {
    let mut fields: Vec<&str> = line.split(' ').collect();
    let port = relay.port().to_string();
    if fields.len() > 1 && fields[1] != "9" && fields[1] != "0" {
        fields[1] = &port;
    }
    fields.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relay() -> SocketAddr {
        "127.0.0.1:40000".parse().unwrap()
    }

    #[test]
    fn a_host_candidate_points_at_the_relay_and_names_the_real_address() {
        let r = candidate(
            "candidate:1 1 UDP 2130706431 127.0.0.1 51234 typ host generation 0",
            relay(),
        )
        .unwrap();
        assert_eq!(
            r.line,
            "candidate:1 1 UDP 2130706431 127.0.0.1 40000 typ host generation 0"
        );
        assert_eq!(r.real, Some("127.0.0.1:51234".parse().unwrap()));
    }

    #[test]
    fn srflx_ipv6_and_mdns_candidates_are_rewritten_too() {
        let srflx = candidate(
            "a=candidate:2 1 udp 1686052607 203.0.113.7 61000 typ srflx raddr 10.0.0.2 rport 5000",
            relay(),
        )
        .unwrap();
        assert_eq!(
            srflx.line,
            "a=candidate:2 1 udp 1686052607 127.0.0.1 40000 typ srflx raddr 10.0.0.2 rport 5000"
        );
        let v6 = candidate("candidate:3 1 udp 1 ::1 7000 typ host", relay()).unwrap();
        assert_eq!(v6.real, Some("[::1]:7000".parse().unwrap()));
        let mdns = candidate("candidate:4 1 udp 1 abc.local 7000 typ host", relay()).unwrap();
        assert_eq!(mdns.line, "candidate:4 1 udp 1 127.0.0.1 40000 typ host");
        assert_eq!(mdns.real, None, "the datagrams will tell");
    }

    #[test]
    fn tcp_and_unreadable_candidates_are_removed_other_lines_kept() {
        for bad in [
            "candidate:5 1 TCP 1 127.0.0.1 9 typ host tcptype active",
            "candidate:6 1 udp 1 127.0.0.1 notaport typ host",
            "candidate:7 1 udp 1 127.0.0.1",
        ] {
            assert_eq!(candidate(bad, relay()), None, "{bad}");
        }
        assert_eq!(candidate("", relay()).unwrap().line, "");
    }

    #[test]
    fn an_sdp_has_its_candidates_and_connection_address_rewritten() {
        let sdp = "v=0\r\nm=application 51234 UDP/DTLS/SCTP webrtc-datachannel\r\n\
                   c=IN IP4 192.168.1.5\r\n\
                   a=candidate:1 1 udp 1 192.168.1.5 51234 typ host\r\n\
                   a=candidate:2 1 tcp 1 192.168.1.5 9 typ host tcptype active\r\n\
                   a=end-of-candidates\r\n";
        let (out, real) = super::sdp(sdp, relay());
        assert_eq!(
            out,
            "v=0\r\nm=application 40000 UDP/DTLS/SCTP webrtc-datachannel\r\n\
             c=IN IP4 127.0.0.1\r\n\
             a=candidate:1 1 udp 1 127.0.0.1 40000 typ host\r\n\
             a=end-of-candidates\r\n"
        );
        assert_eq!(real, vec!["192.168.1.5:51234".parse().unwrap()]);
    }

    #[test]
    fn an_sdp_without_addresses_is_unchanged() {
        let sdp = "v=0\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\nc=IN IP4 0.0.0.0\n";
        assert_eq!(super::sdp(sdp, relay()), (sdp.to_owned(), vec![]));
    }
}
