//! ICE candidates: the kinds of ours, and remote candidate lines validated with clear errors
//! before they go to rtc-ice.

use crate::error::{Error, Result};

/// The kind of a local candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CandidateKind {
    Host,
    ServerReflexive,
    Relay,
}

/// What a remote candidate line turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RemoteCandidate {
    /// A UDP candidate with an IP address; the text is what rtc-ice parses (no `candidate:`).
    Udp(String),
    /// A UDP candidate whose address is a host name (mDNS `.local`); it needs resolving first.
    Named { host: String, text: String },
    /// A candidate we cannot use (TCP); ignored.
    Ignored(&'static str),
    /// The empty candidate: end of candidates.
    End,
}

/// Validates a candidate line (`candidate:...`, with or without `a=`).
pub(crate) fn parse(line: &str) -> Result<RemoteCandidate> {
    let line = line.trim();
    let line = line.strip_prefix("a=").unwrap_or(line);
    if line.is_empty() {
        return Ok(RemoteCandidate::End);
    }
    let body = line.strip_prefix("candidate:").unwrap_or(line);
    let bad = |why: String| Error::invalid(format!("ICE candidate {line:?}: {why}"));
    let f: Vec<&str> = body.split_whitespace().collect();
    if f.len() < 8 {
        return Err(bad(format!(
            "has {} fields, expected at least 8 (foundation component transport priority address port typ type)",
            f.len()
        )));
    }
    if f[1].parse::<u16>().is_err() {
        return Err(bad(format!("invalid component {:?}", f[1])));
    }
    let transport = f[2].to_ascii_lowercase();
    if transport != "udp" && transport != "tcp" {
        return Err(bad(format!(
            "unknown transport {:?} (expected udp or tcp)",
            f[2]
        )));
    }
    if f[3].parse::<u32>().is_err() {
        return Err(bad(format!("invalid priority {:?}", f[3])));
    }
    if f[5].parse::<u16>().is_err() {
        return Err(bad(format!("invalid port {:?}", f[5])));
    }
    if f[6] != "typ" {
        return Err(bad(format!(
            "expected \"typ\" as the 7th field, found {:?}",
            f[6]
        )));
    }
    match f[7] {
        "host" | "srflx" | "prflx" | "relay" => {}
        other => return Err(bad(format!("unknown candidate type {other:?}"))),
    }
    // Extensions (raddr/rport, tcptype, generation, network-id, ...) come in name/value pairs.
    let mut i = 8;
    while i < f.len() {
        if i + 1 >= f.len() {
            return Err(bad(format!("extension {:?} has no value", f[i])));
        }
        if f[i] == "rport" && f[i + 1].parse::<u16>().is_err() {
            return Err(bad(format!("invalid rport {:?}", f[i + 1])));
        }
        i += 2;
    }
    if transport == "tcp" {
        return Ok(RemoteCandidate::Ignored("TCP candidates are not supported"));
    }
    // rtc-ice reads only the first extension; keep just raddr/rport so it sees them. Look
    // them up by name only: a value may read like a name (`ufrag rport`).
    let mut text = f[..8].join(" ");
    let extension = |name: &str| f[8..].chunks(2).find(|p| p[0] == name).map(|p| p[1]);
    if let Some(addr) = extension("raddr") {
        let rport = extension("rport").unwrap_or("0");
        text.push_str(&format!(" raddr {addr} rport {rport}"));
    }
    let addr = f[4];
    if addr.parse::<std::net::IpAddr>().is_ok() {
        Ok(RemoteCandidate::Udp(text))
    } else if is_mdns_name(addr) {
        Ok(RemoteCandidate::Named {
            host: addr.to_owned(),
            text,
        })
    } else {
        // Resolving any other name would send the player's resolver wherever the remote likes.
        Err(bad(format!(
            "address {addr:?} is neither an IP address nor an mDNS name (NAME.local)"
        )))
    }
}

/// Whether `host` is an mDNS name as browsers put in candidates: one label (their UUIDs) or
/// more, ending in `.local`.
fn is_mdns_name(host: &str) -> bool {
    let Some(name) = host
        .strip_suffix(".local")
        .or_else(|| host.strip_suffix(".LOCAL"))
    else {
        return false;
    };
    !name.is_empty()
        && name.len() <= 200
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Replaces the address field of a validated candidate text.
pub(crate) fn with_address(text: &str, ip: std::net::IpAddr) -> String {
    let mut f: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
    if f.len() > 4 {
        f[4] = ip.to_string();
    }
    f.join(" ")
}

/// How our candidates are announced (`Config::mdns_host_candidates`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Announce {
    /// With their addresses.
    Addresses,
    /// Without our host addresses: a host candidate under `host_name` (not announced when
    /// `None`), a server-reflexive or relay candidate with `raddr 0.0.0.0 rport 0` (`::` for
    /// IPv6), as browsers announce theirs.
    Hidden { host_name: Option<String> },
}

/// Our candidate `line` (`candidate:...` as rtc-ice writes it) announced as `how` says; `None`
/// when it is not to be announced.
pub(crate) fn announced(line: String, how: &Announce) -> Option<String> {
    let Announce::Hidden { host_name } = how else {
        return Some(line);
    };
    let mut f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 8 {
        return None;
    }
    if f[7] == "host" {
        f[4] = host_name.as_deref()?;
        return Some(f.join(" "));
    }
    let unspecified = if f[4].contains(':') { "::" } else { "0.0.0.0" };
    let mut i = 8;
    while i + 1 < f.len() {
        match f[i] {
            "raddr" => f[i + 1] = unspecified,
            "rport" => f[i + 1] = "0",
            _ => {}
        }
        i += 2;
    }
    Some(f.join(" "))
}

#[cfg(test)]
#[path = "candidate_proptests.rs"]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_browser_candidates() {
        let c = parse("a=candidate:1 1 UDP 2122317823 127.0.0.1 54321 typ host generation 0 network-id 1 network-cost 10").unwrap();
        assert_eq!(
            c,
            RemoteCandidate::Udp("1 1 UDP 2122317823 127.0.0.1 54321 typ host".into())
        );
        assert_eq!(parse("").unwrap(), RemoteCandidate::End);
        assert!(matches!(
            parse("candidate:2 1 tcp 1 127.0.0.1 9 typ host tcptype active").unwrap(),
            RemoteCandidate::Ignored(_)
        ));
        assert!(matches!(
            parse("candidate:2 1 udp 1 abc.local 9 typ host").unwrap(),
            RemoteCandidate::Named { .. }
        ));
    }

    #[test]
    fn extension_values_are_not_taken_for_names() {
        // Found by the property tests: the value "rport" was read as the rport extension, and
        // rtc-ice refused the text ("rport raddr").
        assert_eq!(
            parse("a 0 udp 0 0.0.0.0 0 typ host ufrag rport raddr 0.0.0.0").unwrap(),
            RemoteCandidate::Udp("a 0 udp 0 0.0.0.0 0 typ host raddr 0.0.0.0 rport 0".into())
        );
        assert_eq!(
            parse("1 1 udp 1 1.2.3.4 5 typ srflx x raddr raddr 10.0.0.1 rport 9").unwrap(),
            RemoteCandidate::Udp("1 1 udp 1 1.2.3.4 5 typ srflx raddr 10.0.0.1 rport 9".into())
        );
    }

    #[test]
    fn hidden_candidates_reveal_no_host_address() {
        let hidden = Announce::Hidden {
            host_name: Some("x.local".into()),
        };
        let host = "candidate:1 1 udp 2130706431 10.0.0.7 5000 typ host".to_owned();
        assert_eq!(
            announced(host.clone(), &hidden).unwrap(),
            "candidate:1 1 udp 2130706431 x.local 5000 typ host"
        );
        assert_eq!(announced(host.clone(), &Announce::Addresses).unwrap(), host);
        let unnamed = Announce::Hidden { host_name: None };
        assert_eq!(announced(host, &unnamed), None);
        let srflx =
            "candidate:2 1 udp 1694498815 203.0.113.5 6000 typ srflx raddr 10.0.0.7 rport 5000";
        assert_eq!(
            announced(srflx.to_owned(), &unnamed).unwrap(),
            "candidate:2 1 udp 1694498815 203.0.113.5 6000 typ srflx raddr 0.0.0.0 rport 0"
        );
        let relay =
            "candidate:3 1 udp 16777215 2001:db8::5 7000 typ relay raddr fd00::7 rport 5000";
        assert_eq!(
            announced(relay.to_owned(), &unnamed).unwrap(),
            "candidate:3 1 udp 16777215 2001:db8::5 7000 typ relay raddr :: rport 0"
        );
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "candidate:",
            "candidate:1 1 udp x 1.2.3.4 5 typ host",
            "candidate:1 1 udp 1 1.2.3.4 99999 typ host",
            "candidate:1 1 sctp 1 1.2.3.4 5 typ host",
            "candidate:1 1 udp 1 1.2.3.4 5 type host",
            "candidate:1 1 udp 1 1.2.3.4 5 typ weird",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.message().starts_with("ICE candidate"), "{e}");
        }
    }
}
