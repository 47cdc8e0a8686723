//! `create_data_channel(label, options)`: turns the options dictionary into the engine's
//! [`DataChannelInit`], reporting values of the wrong type.
//!
//! Keys (W3C `RTCDataChannelInit`): `negotiated` (bool), `id` (int), `ordered` (bool),
//! `maxRetransmits` (int), `maxPacketLifeTime` (int, ms), `protocol` (String). Unknown keys are
//! ignored, as browsers do. Ranges, the `negotiated`/`id` pairing, the exclusive reliability
//! limits and the label and protocol lengths are the engine's rules: it reports them, naming
//! the W3C member.
//!
//! Deliberate choice: `maxPacketLifetime` (lower-case t), the spelling Godot's own
//! `WebRTCMultiplayerPeer` passes for its "unreliable" channels, is honoured as a synonym of
//! `maxPacketLifeTime` (so the engine's messages call it that). With the stock implementations
//! that key is silently ignored, so those channels end up reliable; here they really are
//! partially reliable, as the transfer modes promise. Giving both spellings at once is an error.

use crate::value::{lookup, Value};
use webrtc_rs_engine::{ChannelOptions, DataChannelInit};

/// Parses the options dictionary into engine options.
pub fn parse_channel_options(entries: &[(String, Value)]) -> Result<ChannelOptions, String> {
    let init = DataChannelInit {
        ordered: optional(entries, "ordered", bool_value)?,
        max_packet_life_time: packet_life_time(entries)?,
        max_retransmits: optional(entries, "maxRetransmits", int_value)?,
        protocol: optional(entries, "protocol", string_value)?,
        negotiated: optional(entries, "negotiated", bool_value)?,
        id: optional(entries, "id", int_value)?,
    };
    init.to_options().map_err(|e| e.message().to_string())
}

/// `maxPacketLifeTime`, or its alias `maxPacketLifetime`.
fn packet_life_time(entries: &[(String, Value)]) -> Result<Option<i64>, String> {
    let documented = optional(entries, "maxPacketLifeTime", int_value)?;
    let alias = optional(entries, "maxPacketLifetime", int_value)?;
    match (documented, alias) {
        (Some(_), Some(_)) => Err(
            "give only one of \"maxPacketLifeTime\" and its alias \"maxPacketLifetime\""
                .to_string(),
        ),
        (ms, None) | (None, ms) => Ok(ms),
    }
}

fn optional<T>(
    entries: &[(String, Value)],
    key: &str,
    convert: fn(&str, &Value) -> Result<T, String>,
) -> Result<Option<T>, String> {
    lookup(entries, key).map(|v| convert(key, v)).transpose()
}

fn bool_value(key: &str, v: &Value) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        other => Err(format!(
            "\"{key}\" must be a bool, got {}",
            other.type_name()
        )),
    }
}

/// Whole floats (`3.0`, e.g. from JSON) are accepted; fractions are not.
pub(crate) fn int_value(key: &str, v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(n) => Ok(*n),
        // Saturates outside i64, which the engine then reports as out of range.
        Value::Float(f) if f.fract() == 0.0 && f.is_finite() => Ok(*f as i64),
        Value::Float(f) => Err(format!("\"{key}\" must be a whole number, got {f}")),
        other => Err(format!(
            "\"{key}\" must be an int, got {}",
            other.type_name()
        )),
    }
}

fn string_value(key: &str, v: &Value) -> Result<String, String> {
    match v {
        Value::Str(s) => Ok(s.clone()),
        other => Err(format!(
            "\"{key}\" must be a String, got {}",
            other.type_name()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(entries: &[(&str, Value)]) -> Result<ChannelOptions, String> {
        let owned: Vec<(String, Value)> = entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        parse_channel_options(&owned)
    }

    #[test]
    fn empty_options_give_a_reliable_ordered_in_band_channel() {
        assert_eq!(opts(&[]).unwrap(), ChannelOptions::default());
    }

    #[test]
    fn every_option_is_copied() {
        let o = opts(&[
            ("negotiated", Value::Bool(true)),
            ("id", Value::Int(7)),
            ("ordered", Value::Bool(false)),
            ("maxRetransmits", Value::Int(3)),
            ("protocol", Value::Str("proto/1".into())),
        ])
        .unwrap();
        assert_eq!(o.negotiated_id, Some(7));
        assert!(!o.ordered);
        assert_eq!(o.max_retransmits, Some(3));
        assert_eq!(o.max_packet_lifetime, None);
        assert_eq!(o.protocol, "proto/1");
    }

    #[test]
    fn both_lifetime_spellings_are_honoured() {
        let documented = opts(&[("maxPacketLifeTime", Value::Int(500))]).unwrap();
        assert_eq!(documented.max_packet_lifetime, Some(500));
        // What WebRTCMultiplayerPeer passes for its unreliable channels.
        let multiplayer = opts(&[
            ("negotiated", Value::Bool(true)),
            ("id", Value::Int(3)),
            ("ordered", Value::Bool(false)),
            ("maxPacketLifetime", Value::Int(1)),
        ])
        .unwrap();
        assert_eq!(multiplayer.max_packet_lifetime, Some(1));
        assert_eq!(multiplayer.negotiated_id, Some(3));
        assert!(!multiplayer.ordered);
    }

    #[test]
    fn giving_both_lifetime_spellings_is_an_error() {
        let err = opts(&[
            ("maxPacketLifeTime", Value::Int(1)),
            ("maxPacketLifetime", Value::Int(1)),
        ])
        .unwrap_err();
        assert_eq!(
            err,
            "give only one of \"maxPacketLifeTime\" and its alias \"maxPacketLifetime\""
        );
    }

    /// The rules themselves are tested in the engine; here only that its verdict comes through.
    #[test]
    fn the_engines_rules_are_reported() {
        let err = opts(&[
            ("negotiated", Value::Bool(true)),
            ("id", Value::Int(70_000)),
        ])
        .unwrap_err();
        assert!(err.contains("\"id\" is 70000"), "{err}");
        let err = opts(&[("maxPacketLifetime", Value::Int(-1))]).unwrap_err();
        assert!(err.contains("\"maxPacketLifeTime\" is -1"), "{err}");
        let err = opts(&[("negotiated", Value::Bool(true))]).unwrap_err();
        assert!(err.contains("requires an \"id\""), "{err}");
    }

    #[test]
    fn wrong_types_are_errors_naming_the_key_and_type() {
        let err = opts(&[("ordered", Value::Int(1))]).unwrap_err();
        assert_eq!(err, "\"ordered\" must be a bool, got int");
        let err = opts(&[("negotiated", Value::Str("yes".into()))]).unwrap_err();
        assert_eq!(err, "\"negotiated\" must be a bool, got String");
        let err = opts(&[("maxRetransmits", Value::Str("3".into()))]).unwrap_err();
        assert_eq!(err, "\"maxRetransmits\" must be an int, got String");
        let err = opts(&[("id", Value::Nil)]).unwrap_err();
        assert_eq!(err, "\"id\" must be an int, got null");
        let err = opts(&[("protocol", Value::Int(3))]).unwrap_err();
        assert_eq!(err, "\"protocol\" must be a String, got int");
        let err = opts(&[("maxPacketLifeTime", Value::Float(1.5))]).unwrap_err();
        assert_eq!(err, "\"maxPacketLifeTime\" must be a whole number, got 1.5");
        let err = opts(&[("maxPacketLifetime", Value::Bool(true))]).unwrap_err();
        assert_eq!(err, "\"maxPacketLifetime\" must be an int, got bool");
        let err = opts(&[("maxRetransmits", Value::Other("Vector2".into()))]).unwrap_err();
        assert_eq!(err, "\"maxRetransmits\" must be an int, got Vector2");
    }

    #[test]
    fn whole_floats_are_accepted_for_ints() {
        let o = opts(&[("maxRetransmits", Value::Float(4.0))]).unwrap();
        assert_eq!(o.max_retransmits, Some(4));
        let err = opts(&[("maxRetransmits", Value::Float(1e30))]).unwrap_err();
        assert!(err.contains("outside the allowed range"), "{err}");
    }

    #[test]
    fn unknown_keys_are_ignored() {
        let o = opts(&[("priority", Value::Str("high".into()))]).unwrap();
        assert_eq!(o, ChannelOptions::default());
    }
}
