//! Godot-free conversions for the diagnostics API: `get_stats()` and `get_failure_report()`
//! as [`Value`] dictionaries, and the `ConnectionErrorReason` constants.

use crate::mapping::{clamp_i32, or_unset};
use crate::value::Value;
use webrtc_rs_engine::failure::{PairReport, ServerReport};
use webrtc_rs_engine::stats::SelectedPair;
use webrtc_rs_engine::{ChannelStats, ErrorReason, FailureReport, Stats};

/// The `ConnectionErrorReason` enum as Godot sees it: (constant name, value), in order.
pub fn reason_constants() -> Vec<(String, i64)> {
    ErrorReason::ALL
        .iter()
        .map(|r| {
            (
                format!("ERROR_{}", r.as_str().to_ascii_uppercase()),
                reason_value(*r),
            )
        })
        .collect()
}

/// The value scripts see for a reason.
pub fn reason_value(reason: ErrorReason) -> i64 {
    reason as i64
}

fn int(n: u64) -> Value {
    Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

fn text(s: impl Into<String>) -> Value {
    Value::Str(s.into())
}

fn entry(key: &str, value: Value) -> (String, Value) {
    (key.to_owned(), value)
}

fn millis(d: Option<std::time::Duration>) -> f64 {
    d.map_or(-1.0, |d| d.as_secs_f64() * 1000.0)
}

/// `get_stats()`: every key always present; unknown values are -1 (numbers), `""` (text) or
/// an empty Dictionary (`selected_pair`).
pub fn stats_value(s: &Stats) -> Value {
    Value::Dict(vec![
        entry("rtt_ms", Value::Float(millis(s.rtt))),
        entry("bytes_sent", int(s.bytes_sent)),
        entry("bytes_received", int(s.bytes_received)),
        entry("messages_sent", int(s.messages_sent)),
        entry("messages_received", int(s.messages_received)),
        entry("retransmissions", int(s.retransmissions)),
        entry(
            "selected_pair",
            s.selected_pair
                .as_ref()
                .map_or(Value::Dict(Vec::new()), pair_value),
        ),
        entry(
            "dtls_cipher",
            text(s.dtls_cipher.clone().unwrap_or_default()),
        ),
        entry("sctp_cwnd", Value::Int(s.sctp_cwnd.map_or(-1, i64::from))),
        entry(
            "connected_msec",
            Value::Int(
                s.connected_after
                    .map_or(-1, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            ),
        ),
        entry(
            "channels",
            Value::Array(s.channels.iter().map(channel_value).collect()),
        ),
    ])
}

fn pair_value(p: &SelectedPair) -> Value {
    Value::Dict(vec![
        entry("local_type", text(p.local_type.as_str())),
        entry("remote_type", text(p.remote_type.as_str())),
        entry("local_address", text(p.local_address.to_string())),
        entry("remote_address", text(p.remote_address.to_string())),
        entry("protocol", text(p.protocol)),
        entry("relayed", Value::Bool(p.relayed())),
    ])
}

fn channel_value(c: &ChannelStats) -> Value {
    Value::Dict(vec![
        entry("label", text(c.label.clone())),
        entry("id", Value::Int(i64::from(or_unset(c.id)))),
        entry("bytes_sent", int(c.bytes_sent)),
        entry("bytes_received", int(c.bytes_received)),
        entry("messages_sent", int(c.messages_sent)),
        entry("messages_received", int(c.messages_received)),
        entry(
            "buffered_amount",
            Value::Int(i64::from(clamp_i32(c.buffered_amount))),
        ),
    ])
}

/// `get_failure_report()`.
pub fn failure_report_value(r: &FailureReport) -> Value {
    let (reason, message) = match &r.error {
        Some(e) => (reason_value(e.reason), e.message.clone()),
        None => (-1, String::new()),
    };
    Value::Dict(vec![
        entry("reason", Value::Int(reason)),
        entry("message", text(message)),
        entry(
            "servers",
            Value::Array(r.servers.iter().map(server_value).collect()),
        ),
        entry(
            "candidate_pairs",
            Value::Array(r.pairs.iter().map(report_pair_value).collect()),
        ),
        entry("candidate_pairs_omitted", int(r.pairs_omitted as u64)),
        entry("local_candidates", int(r.local_candidates as u64)),
        entry("remote_candidates", int(r.remote_candidates as u64)),
    ])
}

fn server_value(s: &ServerReport) -> Value {
    let addr = |a: Option<std::net::SocketAddr>| text(a.map(|a| a.to_string()).unwrap_or_default());
    Value::Dict(vec![
        entry("url", text(s.url.clone())),
        entry("address", addr(s.address)),
        entry("local_address", addr(s.local_address)),
        entry("result", text(s.outcome.as_str())),
        entry("detail", text(s.outcome.detail())),
    ])
}

fn report_pair_value(p: &PairReport) -> Value {
    Value::Dict(vec![
        entry("local_type", text(p.local_type.as_str())),
        entry("local_address", text(p.local_address.to_string())),
        entry("remote_type", text(p.remote_type.as_str())),
        entry("remote_address", text(p.remote_address.to_string())),
        entry("state", text(p.state.as_str())),
        entry("selected", Value::Bool(p.selected)),
        entry("requests_sent", int(p.requests_sent)),
        entry("responses_received", int(p.responses_received)),
        entry("rtt_ms", Value::Float(p.rtt_ms.unwrap_or(-1.0))),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(v: &Value) -> Vec<&str> {
        match v {
            Value::Dict(entries) => entries.iter().map(|(k, _)| k.as_str()).collect(),
            other => panic!("not a dictionary: {other:?}"),
        }
    }

    #[test]
    fn empty_stats_have_every_key_with_unknown_markers() {
        let v = stats_value(&Stats::default());
        assert_eq!(
            keys(&v),
            [
                "rtt_ms",
                "bytes_sent",
                "bytes_received",
                "messages_sent",
                "messages_received",
                "retransmissions",
                "selected_pair",
                "dtls_cipher",
                "sctp_cwnd",
                "connected_msec",
                "channels"
            ]
        );
        let Value::Dict(entries) = v else {
            unreachable!()
        };
        let get = |k: &str| crate::value::lookup(&entries, k).cloned();
        assert_eq!(get("rtt_ms"), Some(Value::Float(-1.0)));
        assert_eq!(get("selected_pair"), Some(Value::Dict(Vec::new())));
        assert_eq!(get("connected_msec"), Some(Value::Int(-1)));
        assert_eq!(get("sctp_cwnd"), Some(Value::Int(-1)));
        assert_eq!(get("channels"), Some(Value::Array(Vec::new())));
    }

    #[test]
    fn reasons_have_stable_names_and_values() {
        let c = reason_constants();
        assert_eq!(c.len(), 9);
        assert_eq!(c[0], ("ERROR_ICE_SERVER_UNREACHABLE".to_owned(), 0));
        assert_eq!(c[1], ("ERROR_TURN_AUTH_FAILED".to_owned(), 1));
        assert_eq!(c[2], ("ERROR_NO_CANDIDATE_PAIR".to_owned(), 2));
        assert_eq!(c[3], ("ERROR_DTLS_HANDSHAKE_FAILED".to_owned(), 3));
        assert_eq!(c[4], ("ERROR_FINGERPRINT_MISMATCH".to_owned(), 4));
        assert_eq!(c[5], ("ERROR_SCTP_ABORTED".to_owned(), 5));
        assert_eq!(c[6], ("ERROR_CONSENT_LOST".to_owned(), 6));
        assert_eq!(c[7], ("ERROR_CLOSED_BY_REMOTE".to_owned(), 7));
        assert_eq!(c[8], ("ERROR_INTERNAL".to_owned(), 8));
    }

    #[test]
    fn an_empty_report_says_no_error() {
        let v = failure_report_value(&FailureReport::default());
        assert_eq!(
            keys(&v),
            [
                "reason",
                "message",
                "servers",
                "candidate_pairs",
                "candidate_pairs_omitted",
                "local_candidates",
                "remote_candidates"
            ]
        );
    }
}
