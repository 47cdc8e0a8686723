//! Every key `initialize()` knows, in one table: the keys it acts on, and the W3C
//! `RTCConfiguration` members (or webrtc-native options) it accepts without acting on them.
//! Any other key gets a warning naming it, so a misspelt key is not silently ignored. Adding a
//! key is one line here (and its parsing in [`crate::config`]).

use crate::value::Value;

/// Where a key lives in the configuration Dictionary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// The Dictionary itself.
    Top,
    /// Each entry of `iceServers`.
    IceServer,
    /// webrtc-native's `libdatachannel` sub-dictionary.
    Libdatachannel,
}

/// What `initialize()` does with a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handling {
    /// Parsed and applied.
    Used,
    /// Accepted and ignored, with a warning giving the reason.
    Ignored(&'static str),
}

use Handling::{Ignored, Used};
use Section::{IceServer, Libdatachannel, Top};

pub const KEYS: &[(Section, &str, Handling)] = &[
    (Top, "iceServers", Used),
    (Top, "iceTransportPolicy", Used),
    (Top, "bindAddress", Used),
    (Top, "mdnsHostCandidates", Used),
    (Top, "channelReceiveBudget", Used),
    (Top, "connectionReceiveBudget", Used),
    (Top, "channelSendBudget", Used),
    (Top, "maxRemoteCandidates", Used),
    (Top, "maxRemoteChannels", Used),
    (Top, "maxNameLookups", Used),
    (Top, "keepaliveInterval", Used),
    (Top, "disconnectedTimeout", Used),
    (Top, "failedTimeout", Used),
    (Top, "simulate", Used),
    (Top, "iceRestartOnDisconnected", Used),
    (Top, "portRangeBegin", Used),
    (Top, "portRangeEnd", Used),
    (Top, "udpMux", Used),
    (Top, "mtu", Used),
    (Top, "libdatachannel", Used),
    (
        Top,
        "bundlePolicy",
        Ignored("there is only one (data) section, so bundling changes nothing"),
    ),
    (Top, "rtcpMuxPolicy", Ignored("no RTP is carried")),
    (
        Top,
        "iceCandidatePoolSize",
        Ignored("candidates are gathered when an offer or answer is created"),
    ),
    (
        Top,
        "certificates",
        Ignored("each connection makes its own DTLS certificate"),
    ),
    (
        Top,
        "peerIdentity",
        Ignored("identity providers are not supported"),
    ),
    (IceServer, "urls", Used),
    (IceServer, "username", Used),
    (IceServer, "credential", Used),
    (
        IceServer,
        "credentialType",
        Ignored("only password credentials are supported"),
    ),
    // `enableIceTcp: true` gets its own warning: ICE over TCP is not supported.
    (Libdatachannel, "enableIceTcp", Used),
    (Libdatachannel, "enableIceUdpMux", Used),
    (Libdatachannel, "portRangeBegin", Used),
    (Libdatachannel, "portRangeEnd", Used),
    (Libdatachannel, "mtu", Used),
];

/// Adds a warning to `warnings` for each key of `entries` that `section` does not use: unknown
/// (with the key of another spelling it may have meant) or known and ignored (with why).
/// `at` prefixes the key in the message (`"iceServers[0]."`).
pub fn check(section: Section, at: &str, entries: &[(String, Value)], warnings: &mut Vec<String>) {
    let known = || KEYS.iter().filter(|(s, _, _)| *s == section);
    for (key, _) in entries {
        match known().find(|(_, k, _)| k == key) {
            Some((_, _, Used)) => {}
            Some((_, _, Ignored(why))) => {
                warnings.push(format!("\"{at}{key}\" is ignored: {why}"));
            }
            None => {
                let hint = known()
                    .find(|(_, k, _)| k.eq_ignore_ascii_case(key))
                    .map(|(_, k, _)| format!(" (did you mean \"{at}{k}\"?)"))
                    .unwrap_or_default();
                warnings.push(format!("unknown key \"{at}{key}\" is ignored{hint}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_is_listed_once_per_section() {
        for (i, (s, k, _)) in KEYS.iter().enumerate() {
            assert!(
                !KEYS[i + 1..].iter().any(|(s2, k2, _)| s2 == s && k2 == k),
                "{k} twice"
            );
        }
    }

    /// A key config.rs reads but this table lacks would be warned about as unknown.
    #[test]
    fn every_top_level_key_config_rs_reads_is_in_the_table() {
        let source: String = include_str!("config.rs")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let mut read = Vec::new();
        for pattern in ["lookup(entries,\"", "pick(\"", "(\""] {
            for piece in source.split(pattern).skip(1) {
                let Some(end) = piece.find('"') else { continue };
                let key = &piece[..end];
                let tuple = pattern == "(\"" && piece[end..].starts_with("\",&mut");
                if pattern != "(\"" || tuple {
                    read.push(key.to_owned());
                }
            }
        }
        assert!(read.len() >= 19, "{read:?}");
        for key in read {
            assert!(
                KEYS.iter().any(|(s, k, _)| *s == Top && *k == key),
                "config.rs reads \"{key}\", which config_keys::KEYS lacks"
            );
        }
    }

    /// Each key shows in the editor help.
    #[test]
    fn every_key_is_in_the_editor_help() {
        let help = include_str!("../doc/WebRtcRsPeerConnection.xml");
        for (_, key, _) in KEYS {
            assert!(
                help.contains(&format!("[code]{key}[/code]"))
                    || help.contains(&format!("\"{key}\"")),
                "{key} is not in WebRtcRsPeerConnection.xml"
            );
        }
    }

    #[test]
    fn unknown_and_ignored_keys_are_named() {
        let entries: Vec<(String, Value)> = ["iceServers", "iceservers", "fooBar", "bundlePolicy"]
            .iter()
            .map(|k| (k.to_string(), Value::Nil))
            .collect();
        let mut w = Vec::new();
        check(Top, "", &entries, &mut w);
        assert_eq!(
            w,
            [
                "unknown key \"iceservers\" is ignored (did you mean \"iceServers\"?)",
                "unknown key \"fooBar\" is ignored",
                "\"bundlePolicy\" is ignored: there is only one (data) section, so bundling \
                 changes nothing",
            ]
        );
    }
}
