//! Our data-only SDP (one `m=application ... UDP/DTLS/SCTP webrtc-datachannel` section) and a
//! tolerant reader for the remote's. The data-channel subset is small, so this is hand-written:
//! it never panics and every error names what is wrong.

use crate::error::{Error, Result};

/// `a=setup` (RFC 4145 / 8842).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Setup {
    ActPass,
    Active,
    Passive,
}

impl Setup {
    fn as_str(self) -> &'static str {
        match self {
            Setup::ActPass => "actpass",
            Setup::Active => "active",
            Setup::Passive => "passive",
        }
    }
}

/// One `a=fingerprint` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fingerprint {
    /// Lower-case hash name (`sha-256`, ...).
    pub algorithm: String,
    pub value: Vec<u8>,
}

impl Fingerprint {
    /// `AA:BB:...` upper-case hex, as browsers write it.
    pub fn hex(&self) -> String {
        self.value
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":")
    }
}

/// What we put in our own description.
pub(crate) struct LocalDescription<'a> {
    pub session_id: u64,
    /// The `o=` session version: one more for each description after the first (RFC 3264 8).
    pub version: u64,
    pub ufrag: &'a str,
    pub pwd: &'a str,
    pub fingerprint: &'a Fingerprint,
    pub setup: Setup,
    pub max_message_size: u32,
    /// mid of the application section.
    pub mid: &'a str,
    /// For an answer: every m-line of the offer, so rejected ones keep their place.
    pub offer_sections: &'a [MediaSection],
}

/// Writes our description (offer when `offer_sections` is empty, else the answer).
pub(crate) fn write(desc: &LocalDescription<'_>) -> String {
    let mut s = String::new();
    s.push_str("v=0\r\n");
    s.push_str(&format!(
        "o=- {} {} IN IP4 127.0.0.1\r\n",
        desc.session_id, desc.version
    ));
    s.push_str("s=-\r\nt=0 0\r\n");
    s.push_str(&format!("a=group:BUNDLE {}\r\n", desc.mid));
    s.push_str("a=msid-semantic: WMS\r\n");
    let app = |s: &mut String| {
        s.push_str("m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n");
        s.push_str("c=IN IP4 0.0.0.0\r\n");
        s.push_str(&format!("a=ice-ufrag:{}\r\n", desc.ufrag));
        s.push_str(&format!("a=ice-pwd:{}\r\n", desc.pwd));
        s.push_str("a=ice-options:trickle\r\n");
        s.push_str(&format!(
            "a=fingerprint:{} {}\r\n",
            desc.fingerprint.algorithm,
            desc.fingerprint.hex()
        ));
        s.push_str(&format!("a=setup:{}\r\n", desc.setup.as_str()));
        s.push_str(&format!("a=mid:{}\r\n", desc.mid));
        s.push_str("a=sctp-port:5000\r\n");
        s.push_str(&format!("a=max-message-size:{}\r\n", desc.max_message_size));
    };
    if desc.offer_sections.is_empty() {
        app(&mut s);
    } else {
        let mut app_written = false;
        for section in desc.offer_sections {
            if section.is_data && !app_written && section.port != 0 {
                app(&mut s);
                app_written = true;
            } else {
                s.push_str(&format!(
                    "m={} 0 {} {}\r\n",
                    section.kind, section.proto, section.fmt
                ));
                s.push_str("c=IN IP4 0.0.0.0\r\n");
                if let Some(mid) = &section.mid {
                    s.push_str(&format!("a=mid:{mid}\r\n"));
                }
                s.push_str("a=inactive\r\n");
            }
        }
    }
    s
}

/// The m-line of a remote section, kept to answer it in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MediaSection {
    pub kind: String,
    pub port: u16,
    pub proto: String,
    pub fmt: String,
    pub mid: Option<String>,
    pub is_data: bool,
}

/// Everything we need from a remote description.
#[derive(Debug, Clone)]
pub(crate) struct RemoteDescription {
    pub ufrag: String,
    pub pwd: String,
    pub fingerprints: Vec<Fingerprint>,
    pub setup: Setup,
    pub sctp_port: u16,
    /// `a=max-message-size`: absent => 65536, 0 => unlimited.
    pub max_message_size: u32,
    pub ice_lite: bool,
    /// mid of the application section ("0" if absent).
    pub mid: String,
    /// Index of the application m-line.
    pub mline_index: u32,
    /// Inline `a=candidate` lines of the application section (without `a=`).
    pub candidates: Vec<String>,
    pub end_of_candidates: bool,
    pub sections: Vec<MediaSection>,
}

#[derive(Default)]
struct Attrs {
    ufrag: Option<String>,
    pwd: Option<String>,
    fingerprints: Vec<Fingerprint>,
    setup: Option<Setup>,
}

/// Parses a remote description. `what` ("offer"/"answer") only flavours error messages.
pub(crate) fn parse(sdp: &str, what: &str) -> Result<RemoteDescription> {
    let bad = |msg: String| Error::invalid(format!("remote {what} SDP: {msg}"));
    let mut lines = sdp
        .split('\n')
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim().is_empty())
        .enumerate();
    match lines.next() {
        Some((_, "v=0")) => {}
        Some((_, l)) => return Err(bad(format!("must start with \"v=0\", found {l:?}"))),
        None => return Err(bad("is empty".to_owned())),
    }
    let mut session = Attrs::default();
    let mut ice_lite = false;
    let mut sections: Vec<MediaSection> = Vec::new();
    let mut media_attrs: Vec<Attrs> = Vec::new();
    // Application-section only:
    let mut app_index: Option<usize> = None;
    let mut sctp_port: Option<u16> = None;
    let mut max_message_size: Option<u32> = None;
    let mut candidates = Vec::new();
    let mut end_of_candidates = false;

    for (n, line) in lines {
        let line_no = n + 1;
        let Some((kind, value)) = line.split_once('=') else {
            return Err(bad(format!(
                "line {line_no} {line:?} is not of the form x=value"
            )));
        };
        if kind.len() != 1 {
            return Err(bad(format!(
                "line {line_no} {line:?} is not of the form x=value"
            )));
        }
        match kind {
            "m" => {
                let parts: Vec<&str> = value.split_whitespace().collect();
                if parts.len() < 3 {
                    return Err(bad(format!("malformed m-line {line:?}")));
                }
                let port_text = parts[1].split('/').next().unwrap_or("");
                let port: u16 = port_text
                    .parse()
                    .map_err(|_| bad(format!("m-line {line:?} has an invalid port")))?;
                let proto = parts[2].to_owned();
                let is_data = parts[0] == "application" && proto.contains("SCTP");
                if is_data && app_index.is_none() && port != 0 {
                    app_index = Some(sections.len());
                }
                sections.push(MediaSection {
                    kind: parts[0].to_owned(),
                    port,
                    proto,
                    fmt: parts[3..].join(" "),
                    mid: None,
                    is_data,
                });
                media_attrs.push(Attrs::default());
            }
            "a" => {
                let (name, arg) = match value.split_once(':') {
                    Some((n, a)) => (n, a.trim()),
                    None => (value, ""),
                };
                let in_app = app_index.is_some() && app_index == sections.len().checked_sub(1);
                let target = match media_attrs.last_mut() {
                    Some(a) => a,
                    None => &mut session,
                };
                match name {
                    "ice-ufrag" => target.ufrag = Some(arg.to_owned()),
                    "ice-pwd" => target.pwd = Some(arg.to_owned()),
                    "ice-lite" if sections.is_empty() => ice_lite = true,
                    "fingerprint" => {
                        let fp = parse_fingerprint(arg).map_err(&bad)?;
                        target.fingerprints.push(fp);
                    }
                    "setup" => {
                        target.setup = Some(match arg {
                            "actpass" => Setup::ActPass,
                            "active" => Setup::Active,
                            "passive" => Setup::Passive,
                            other => return Err(bad(format!("unknown a=setup value {other:?}"))),
                        })
                    }
                    "mid" => {
                        if let Some(section) = sections.last_mut() {
                            section.mid = Some(arg.to_owned());
                        }
                    }
                    "sctp-port" if in_app => {
                        sctp_port = Some(
                            arg.parse()
                                .map_err(|_| bad(format!("invalid a=sctp-port value {arg:?}")))?,
                        )
                    }
                    "sctpmap" if in_app => {
                        let p = arg.split_whitespace().next().unwrap_or("");
                        sctp_port = Some(
                            p.parse()
                                .map_err(|_| bad(format!("invalid a=sctpmap value {arg:?}")))?,
                        )
                    }
                    "max-message-size" if in_app => {
                        max_message_size = Some(arg.parse().map_err(|_| {
                            bad(format!("invalid a=max-message-size value {arg:?}"))
                        })?)
                    }
                    "candidate" if in_app => candidates.push(format!("candidate:{arg}")),
                    "end-of-candidates" if in_app || sections.is_empty() => {
                        end_of_candidates = true
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    let Some(app) = app_index else {
        return Err(bad(
            "has no usable m=application section for data channels (UDP/DTLS/SCTP)".to_owned(),
        ));
    };
    let media = &media_attrs[app];
    let ufrag = media
        .ufrag
        .clone()
        .or(session.ufrag)
        .ok_or_else(|| bad("has no a=ice-ufrag".to_owned()))?;
    let pwd = media
        .pwd
        .clone()
        .or(session.pwd)
        .ok_or_else(|| bad("has no a=ice-pwd".to_owned()))?;
    if ufrag.is_empty() || pwd.is_empty() {
        return Err(bad("has an empty a=ice-ufrag or a=ice-pwd".to_owned()));
    }
    let fingerprints = if media.fingerprints.is_empty() {
        session.fingerprints
    } else {
        media.fingerprints.clone()
    };
    if fingerprints.is_empty() {
        return Err(bad("has no a=fingerprint".to_owned()));
    }
    let setup = media.setup.or(session.setup).unwrap_or(Setup::ActPass);
    Ok(RemoteDescription {
        ufrag,
        pwd,
        fingerprints,
        setup,
        sctp_port: sctp_port.unwrap_or(5000),
        max_message_size: max_message_size.unwrap_or(crate::types::DEFAULT_REMOTE_MAX_MESSAGE_SIZE),
        ice_lite,
        mid: sections[app].mid.clone().unwrap_or_else(|| "0".to_owned()),
        mline_index: app as u32,
        candidates,
        end_of_candidates,
        sections,
    })
}

fn parse_fingerprint(arg: &str) -> std::result::Result<Fingerprint, String> {
    let mut it = arg.split_whitespace();
    let (Some(alg), Some(hex), None) = (it.next(), it.next(), it.next()) else {
        return Err(format!("malformed a=fingerprint {arg:?}"));
    };
    let algorithm = alg.to_ascii_lowercase();
    let expected_len = match algorithm.as_str() {
        "sha-1" => 20,
        "sha-256" => 32,
        "sha-384" => 48,
        "sha-512" => 64,
        _ => 0, // unknown hashes are kept but can never match
    };
    let mut value = Vec::new();
    for byte in hex.split(':') {
        if byte.len() != 2 {
            return Err(format!("malformed a=fingerprint value {hex:?}"));
        }
        value.push(
            u8::from_str_radix(byte, 16)
                .map_err(|_| format!("malformed a=fingerprint value {hex:?}"))?,
        );
    }
    if expected_len != 0 && value.len() != expected_len {
        return Err(format!(
            "a=fingerprint {alg} value has {} bytes, expected {expected_len}",
            value.len()
        ));
    }
    Ok(Fingerprint { algorithm, value })
}

#[cfg(test)]
#[path = "sdp_proptests.rs"]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;

    fn fp() -> Fingerprint {
        Fingerprint {
            algorithm: "sha-256".into(),
            value: vec![0xAB; 32],
        }
    }

    #[test]
    fn roundtrip_offer() {
        let f = fp();
        let s = write(&LocalDescription {
            session_id: 1,
            version: 2,
            ufrag: "abcd",
            pwd: "0123456789012345678901",
            fingerprint: &f,
            setup: Setup::ActPass,
            max_message_size: 262144,
            mid: "0",
            offer_sections: &[],
        });
        let r = parse(&s, "offer").unwrap();
        assert_eq!(r.ufrag, "abcd");
        assert_eq!(r.fingerprints, vec![f]);
        assert_eq!(r.setup, Setup::ActPass);
        assert_eq!(r.max_message_size, 262144);
        assert_eq!(r.sctp_port, 5000);
        assert_eq!(r.mid, "0");
    }

    #[test]
    fn errors() {
        assert!(parse("", "offer").is_err());
        assert!(parse("hello", "offer")
            .unwrap_err()
            .message()
            .contains("v=0"));
        let no_app = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n";
        assert!(parse(no_app, "offer")
            .unwrap_err()
            .message()
            .contains("m=application"));
    }
}
