//! The line-delimited JSON protocol: what stdin may carry ([`Command`]) and the lines we print.
//!
//! Every interop driver under `interop/` speaks the same protocol, so the runner can pair any two.

use crate::latency::LatencySummary;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};
use webrtc_rs_engine::stats::SelectedPair;
use webrtc_rs_engine::{ChannelOptions, DataChannel, SdpType};

/// One line of input.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type")]
pub enum Command {
    /// A remote description.
    #[serde(rename = "offer")]
    Offer { sdp: String },
    #[serde(rename = "answer")]
    Answer { sdp: String },
    /// A remote candidate; an empty `candidate` means end of candidates.
    #[serde(rename = "candidate")]
    Candidate {
        candidate: String,
        #[serde(rename = "sdpMid", default)]
        sdp_mid: Option<String>,
        #[serde(rename = "sdpMLineIndex", default)]
        sdp_mline_index: Option<u32>,
    },
    #[serde(rename = "end-of-candidates")]
    EndOfCandidates,
    /// Sends one message (`text` or base64 `b64`) on channel `label` (default: the first one).
    #[serde(rename = "send")]
    Send {
        #[serde(default)]
        label: Option<String>,
        #[serde(default)]
        text: Option<String>,
        #[serde(default)]
        b64: Option<String>,
    },
    /// Sends `bytes` bytes of binary data in messages of `chunk` bytes, respecting flow control;
    /// `{"event":"sent"}` follows once all of it was handed to the connection.
    #[serde(rename = "send_bulk")]
    SendBulk(BulkRequest),
    #[serde(rename = "create_channel")]
    CreateChannel(ChannelRequest),
    #[serde(rename = "close_channel")]
    CloseChannel { label: String },
    /// Restarts ICE: a new offer follows on stdout, to relay like the first one.
    #[serde(rename = "restart_ice")]
    RestartIce,
    #[serde(rename = "close")]
    Close,
}

/// `send_bulk` fields. Without `rate_hz` messages go out as fast as flow control allows;
/// with it, `per_tick` messages (default 1) leave every 1/`rate_hz` seconds, the way a game
/// sends its state every frame. `stamp` writes the send time into each message's first bytes
/// so the receiver can report one-way latency.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BulkRequest {
    #[serde(default)]
    pub label: Option<String>,
    pub bytes: u64,
    #[serde(default)]
    pub chunk: Option<usize>,
    #[serde(default)]
    pub rate_hz: Option<f64>,
    #[serde(default)]
    pub per_tick: Option<u32>,
    #[serde(default)]
    pub stamp: bool,
}

/// `create_channel` fields (W3C `RTCDataChannelInit` names).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ChannelRequest {
    pub label: String,
    #[serde(default)]
    pub ordered: Option<bool>,
    #[serde(rename = "maxRetransmits", default)]
    pub max_retransmits: Option<u16>,
    #[serde(rename = "maxPacketLifeTime", default)]
    pub max_packet_lifetime: Option<u16>,
    #[serde(default)]
    pub protocol: Option<String>,
    #[serde(default)]
    pub negotiated: Option<bool>,
    #[serde(default)]
    pub id: Option<u16>,
}

impl ChannelRequest {
    /// The engine options; a negotiated channel without an id is refused here.
    pub fn options(&self) -> Result<ChannelOptions, String> {
        let negotiated_id = match (self.negotiated.unwrap_or(false), self.id) {
            (true, Some(id)) => Some(id),
            (true, None) => {
                return Err(format!(
                    "channel {:?}: a negotiated channel needs an \"id\"",
                    self.label
                ))
            }
            (false, _) => None,
        };
        Ok(ChannelOptions {
            ordered: self.ordered.unwrap_or(true),
            max_retransmits: self.max_retransmits,
            max_packet_lifetime: self.max_packet_lifetime,
            protocol: self.protocol.clone().unwrap_or_default(),
            negotiated_id,
        })
    }
}

/// Parses one input line; the error names what is wrong with it.
pub fn parse_command(line: &str) -> Result<Command, String> {
    serde_json::from_str(line).map_err(|e| format!("bad input line ({e}): {}", clip(line)))
}

impl Command {
    /// The description carried by an `offer`/`answer` line.
    pub fn description(&self) -> Option<(SdpType, &str)> {
        match self {
            Command::Offer { sdp } => Some((SdpType::Offer, sdp)),
            Command::Answer { sdp } => Some((SdpType::Answer, sdp)),
            _ => None,
        }
    }
}

/// The payload of a `send` line.
pub fn send_payload(text: Option<&str>, b64: Option<&str>) -> Result<(Vec<u8>, bool), String> {
    match (text, b64) {
        (Some(text), None) => Ok((text.as_bytes().to_vec(), true)),
        (None, Some(b64)) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map(|data| (data, false))
            .map_err(|e| format!("send: \"b64\" is not valid base64: {e}")),
        _ => Err("send needs exactly one of \"text\" or \"b64\"".into()),
    }
}

/// `{"event":"ready",...}`, the first line printed.
pub fn ready(role: &str, label: &str) -> Value {
    json!({"event": "ready", "role": role, "label": label, "stack": "webrtc-rs"})
}

/// A local description to hand to the remote.
pub fn description(sdp_type: SdpType, sdp: &str) -> Value {
    json!({"type": sdp_type.as_str(), "sdp": sdp})
}

/// A local candidate to trickle.
pub fn candidate(mid: &str, mline_index: u32, candidate: &str) -> Value {
    json!({"type": "candidate", "candidate": candidate, "sdpMid": mid, "sdpMLineIndex": mline_index})
}

pub fn end_of_candidates() -> Value {
    json!({"type": "end-of-candidates"})
}

pub fn state(name: &str) -> Value {
    json!({"event": "state", "state": name})
}

/// A channel became open; its options as this side sees them.
pub fn open(channel: &DataChannel) -> Value {
    json!({
        "event": "open",
        "label": channel.label(),
        "id": channel.id(),
        "ordered": channel.ordered(),
        "protocol": channel.protocol(),
        "maxRetransmits": channel.max_retransmits(),
        "maxPacketLifeTime": channel.max_packet_lifetime(),
        "negotiated": channel.negotiated(),
    })
}

pub fn close(label: &str) -> Value {
    json!({"event": "close", "label": label})
}

/// A received message; the payload is left out when `with_payload` is false.
pub fn message(label: &str, data: &[u8], is_text: bool, with_payload: bool) -> Value {
    let mut event = json!({
        "event": "message",
        "label": label,
        "binary": !is_text,
        "len": data.len(),
        "crc32": crate::crc32::checksum(data),
    });
    if with_payload {
        if is_text {
            event["text"] = Value::String(String::from_utf8_lossy(data).into_owned());
        } else {
            event["b64"] = Value::String(base64::engine::general_purpose::STANDARD.encode(data));
        }
    }
    event
}

/// The text answered to `__stats__`, on the channel it came from.
/// The reply to `__stats__`, with the latency of stamped messages when there were any.
pub fn stats_reply(rx_bytes: u64, rx_msgs: u64, latency: Option<LatencySummary>) -> String {
    let mut reply = json!({"type": "stats", "rx_bytes": rx_bytes, "rx_msgs": rx_msgs});
    if let Some(latency) = latency {
        reply["lat_samples"] = json!(latency.samples);
        reply["lat_p50_us"] = json!(latency.p50_us);
        reply["lat_p99_us"] = json!(latency.p99_us);
        reply["lat_last_arrival_us"] = json!(latency.last_arrival_us);
    }
    reply.to_string()
}

/// A `send_bulk` finished handing its data over.
pub fn sent(label: &str, bytes: u64, msgs: u64) -> Value {
    json!({"event": "sent", "label": label, "bytes": bytes, "msgs": msgs})
}

/// The candidate pair the connection uses, as it became connected.
pub fn selected_pair(pair: &SelectedPair) -> Value {
    json!({"event": "selected-pair", "localType": pair.local_type.as_str(),
        "remoteType": pair.remote_type.as_str(),
        "localAddress": pair.local_address.to_string(),
        "remoteAddress": pair.remote_address.to_string()})
}

pub fn error(message: &str) -> Value {
    json!({"event": "error", "message": message})
}

fn clip(line: &str) -> String {
    const MAX: usize = 120;
    match line.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}...", &line[..at]),
        None => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_and_candidates() {
        assert_eq!(
            parse_command(r#"{"type":"offer","sdp":"v=0\r\n"}"#),
            Ok(Command::Offer {
                sdp: "v=0\r\n".into()
            })
        );
        let answer = parse_command(r#"{"type":"answer","sdp":"x"}"#).unwrap();
        assert_eq!(answer.description(), Some((SdpType::Answer, "x")));
        assert_eq!(
            parse_command(
                r#"{"type":"candidate","candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0}"#
            ),
            Ok(Command::Candidate {
                candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host".into(),
                sdp_mid: Some("0".into()),
                sdp_mline_index: Some(0),
            })
        );
        // Browsers may send a null mid; it must still parse.
        assert!(matches!(
            parse_command(r#"{"type":"candidate","candidate":"","sdpMid":null}"#),
            Ok(Command::Candidate {
                sdp_mid: None,
                sdp_mline_index: None,
                ..
            })
        ));
        assert_eq!(
            parse_command(r#"{"type":"end-of-candidates"}"#),
            Ok(Command::EndOfCandidates)
        );
    }

    #[test]
    fn channel_requests_carry_every_option() {
        let Ok(Command::CreateChannel(request)) = parse_command(
            r#"{"type":"create_channel","label":"u","ordered":false,"maxRetransmits":0,"protocol":"p","negotiated":true,"id":7}"#,
        ) else {
            panic!("expected create_channel");
        };
        assert_eq!(
            request.options(),
            Ok(ChannelOptions {
                ordered: false,
                max_retransmits: Some(0),
                max_packet_lifetime: None,
                protocol: "p".into(),
                negotiated_id: Some(7),
            })
        );
        let Ok(Command::CreateChannel(request)) =
            parse_command(r#"{"type":"create_channel","label":"l","maxPacketLifeTime":500}"#)
        else {
            panic!("expected create_channel");
        };
        let options = request.options().unwrap();
        assert!(options.ordered);
        assert_eq!(options.max_packet_lifetime, Some(500));
    }

    #[test]
    fn negotiated_without_id_is_refused() {
        let Ok(Command::CreateChannel(request)) =
            parse_command(r#"{"type":"create_channel","label":"n","negotiated":true}"#)
        else {
            panic!("expected create_channel");
        };
        assert!(request.options().unwrap_err().contains("needs an \"id\""));
    }

    #[test]
    fn bad_lines_are_named() {
        let error = parse_command("not json").unwrap_err();
        assert!(error.contains("not json"), "{error}");
        let error = parse_command(r#"{"type":"dance"}"#).unwrap_err();
        assert!(error.contains("dance"), "{error}");
        let error =
            parse_command(r#"{"type":"create_channel","label":"x","id":70000}"#).unwrap_err();
        assert!(error.contains("70000"), "{error}");
        assert!(parse_command(r#"{"type":"send_bulk"}"#).is_err());
    }

    #[test]
    fn send_payloads() {
        assert_eq!(
            send_payload(Some("hé"), None),
            Ok(("hé".as_bytes().to_vec(), true))
        );
        assert_eq!(
            send_payload(None, Some("AAEC/w==")),
            Ok((vec![0, 1, 2, 255], false))
        );
        assert!(send_payload(None, Some("!!"))
            .unwrap_err()
            .contains("base64"));
        assert!(send_payload(None, None).is_err());
        assert!(send_payload(Some("a"), Some("AA==")).is_err());
    }

    #[test]
    fn message_events() {
        let text = message("data", "hi".as_bytes(), true, true);
        assert_eq!(text["text"], "hi");
        assert_eq!(text["binary"], false);
        assert_eq!(text["len"], 2);
        let binary = message("data", &[0, 255], false, true);
        assert_eq!(binary["b64"], "AP8=");
        assert_eq!(binary["binary"], true);
        let counted = message("data", &[1, 2, 3], false, false);
        assert!(counted.get("b64").is_none());
        assert_eq!(counted["len"], 3);
        assert_eq!(counted["crc32"], crate::crc32::checksum(&[1, 2, 3]));
    }

    #[test]
    fn stats_reply_is_json() {
        let value: Value = serde_json::from_str(&stats_reply(10, 2, None)).unwrap();
        assert_eq!(value, json!({"type":"stats","rx_bytes":10,"rx_msgs":2}));
    }
}
