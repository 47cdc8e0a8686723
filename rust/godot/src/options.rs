//! `create_data_channel(label, options)`: turns the options dictionary into the engine's
//! [`ChannelOptions`], rejecting anything invalid with a message that names the problem.
//!
//! Keys (W3C `RTCDataChannelInit`): `negotiated` (bool), `id` (int, only with
//! `negotiated: true`, and then required), `ordered` (bool), `maxRetransmits` (int),
//! `maxPacketLifeTime` (int, ms), `protocol` (String). Unknown keys are ignored, as browsers do.
//!
//! Deliberate choice: `maxPacketLifetime` (lower-case t), the spelling Godot's own
//! `WebRTCMultiplayerPeer` passes for its "unreliable" channels, is honoured as a synonym of
//! `maxPacketLifeTime`. With the stock implementations that key is silently ignored, so those
//! channels end up reliable; here they really are partially reliable, as the transfer modes
//! promise. Giving both spellings at once is an error.

use crate::value::{lookup, Value};
use webrtc_rs_engine::ChannelOptions;

/// The largest label or protocol, in bytes (the DCEP length fields are 16-bit).
pub const MAX_LABEL_BYTES: usize = 65_535;
/// The largest stream id a negotiated channel may use (65535 is reserved by RFC 8831).
pub const MAX_STREAM_ID: i64 = 65_534;

/// Checks the label and parses the options dictionary.
pub fn parse_channel_options(
    label: &str,
    entries: &[(String, Value)],
) -> Result<ChannelOptions, String> {
    if label.len() > MAX_LABEL_BYTES {
        return Err(format!(
            "label is {} bytes long; at most {MAX_LABEL_BYTES} bytes are allowed",
            label.len()
        ));
    }
    let mut options = ChannelOptions::default();

    let negotiated = match lookup(entries, "negotiated") {
        None => false,
        Some(v) => bool_value("negotiated", v)?,
    };
    let id = lookup(entries, "id")
        .map(|v| int_in_range("id", v, 0, MAX_STREAM_ID))
        .transpose()?;
    match (negotiated, id) {
        (true, Some(id)) => options.negotiated_id = u16::try_from(id).ok(),
        (true, None) => return Err("\"negotiated\": true requires an \"id\"".to_string()),
        (false, Some(_)) => {
            return Err(
                "\"id\" is only allowed together with \"negotiated\": true (in-band channels get \
                 their id assigned)"
                    .to_string(),
            )
        }
        (false, None) => {}
    }

    if let Some(v) = lookup(entries, "ordered") {
        options.ordered = bool_value("ordered", v)?;
    }

    let retransmits = lookup(entries, "maxRetransmits")
        .map(|v| int_in_range("maxRetransmits", v, 0, 65_535))
        .transpose()?;
    let lifetime = match (
        lookup(entries, "maxPacketLifeTime"),
        lookup(entries, "maxPacketLifetime"),
    ) {
        (Some(_), Some(_)) => {
            return Err(
                "give only one of \"maxPacketLifeTime\" and its alias \"maxPacketLifetime\""
                    .to_string(),
            )
        }
        (Some(v), None) => Some(int_in_range("maxPacketLifeTime", v, 0, 65_535)?),
        (None, Some(v)) => Some(int_in_range("maxPacketLifetime", v, 0, 65_535)?),
        (None, None) => None,
    };
    if retransmits.is_some() && lifetime.is_some() {
        return Err(
            "\"maxRetransmits\" and \"maxPacketLifeTime\" are mutually exclusive; give at most one"
                .to_string(),
        );
    }
    options.max_retransmits = retransmits.and_then(|v| u16::try_from(v).ok());
    options.max_packet_lifetime = lifetime.and_then(|v| u16::try_from(v).ok());

    if let Some(v) = lookup(entries, "protocol") {
        let Value::Str(protocol) = v else {
            return Err(format!(
                "\"protocol\" must be a String, got {}",
                v.type_name()
            ));
        };
        if protocol.len() > MAX_LABEL_BYTES {
            return Err(format!(
                "\"protocol\" is {} bytes long; at most {MAX_LABEL_BYTES} bytes are allowed",
                protocol.len()
            ));
        }
        options.protocol = protocol.clone();
    }
    Ok(options)
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

/// An integer option. Whole floats (`3.0`, e.g. from JSON) are accepted; fractions are not.
fn int_in_range(key: &str, v: &Value, min: i64, max: i64) -> Result<i64, String> {
    let n = match v {
        Value::Int(n) => *n,
        Value::Float(f) if f.fract() == 0.0 && f.is_finite() => *f as i64,
        Value::Float(f) => return Err(format!("\"{key}\" must be a whole number, got {f}")),
        other => {
            return Err(format!(
                "\"{key}\" must be an int, got {}",
                other.type_name()
            ))
        }
    };
    if n < min || n > max {
        return Err(format!(
            "\"{key}\" is {n}, outside the allowed range {min}..={max}"
        ));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(entries: &[(&str, Value)]) -> Result<ChannelOptions, String> {
        let owned: Vec<(String, Value)> = entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        parse_channel_options("chat", &owned)
    }

    #[test]
    fn empty_options_give_a_reliable_ordered_in_band_channel() {
        let o = opts(&[]).unwrap();
        assert_eq!(o, ChannelOptions::default());
        assert!(o.ordered);
        assert_eq!(o.negotiated_id, None);
        assert_eq!(o.max_retransmits, None);
        assert_eq!(o.max_packet_lifetime, None);
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
        assert!(err.contains("maxPacketLifetime"), "{err}");
    }

    #[test]
    fn both_reliability_limits_are_an_error() {
        let err = opts(&[
            ("maxRetransmits", Value::Int(1)),
            ("maxPacketLifeTime", Value::Int(1)),
        ])
        .unwrap_err();
        assert!(err.contains("mutually exclusive"), "{err}");
        let err = opts(&[
            ("maxRetransmits", Value::Int(1)),
            ("maxPacketLifetime", Value::Int(1)),
        ])
        .unwrap_err();
        assert!(err.contains("mutually exclusive"), "{err}");
    }

    #[test]
    fn negotiated_and_id_go_together() {
        let err = opts(&[("negotiated", Value::Bool(true))]).unwrap_err();
        assert!(err.contains("requires an \"id\""), "{err}");
        let err = opts(&[("id", Value::Int(1))]).unwrap_err();
        assert!(err.contains("\"id\" is only allowed"), "{err}");
        let err = opts(&[("negotiated", Value::Bool(false)), ("id", Value::Int(1))]).unwrap_err();
        assert!(err.contains("\"id\" is only allowed"), "{err}");
    }

    #[test]
    fn out_of_range_values_are_errors_naming_the_key() {
        for (key, bad) in [
            ("id", -1),
            ("id", 65_535),
            ("maxRetransmits", -1),
            ("maxRetransmits", 65_536),
            ("maxPacketLifeTime", -5),
            ("maxPacketLifeTime", 70_000),
        ] {
            let mut entries = vec![(key, Value::Int(bad))];
            if key == "id" {
                entries.push(("negotiated", Value::Bool(true)));
            }
            let err = opts(&entries).unwrap_err();
            assert!(
                err.contains(key) && err.contains("outside"),
                "{key}={bad}: {err}"
            );
        }
        let o = opts(&[
            ("negotiated", Value::Bool(true)),
            ("id", Value::Int(65_534)),
        ])
        .unwrap();
        assert_eq!(o.negotiated_id, Some(65_534));
    }

    #[test]
    fn wrong_types_are_errors_naming_the_key_and_type() {
        let err = opts(&[("ordered", Value::Int(1))]).unwrap_err();
        assert_eq!(err, "\"ordered\" must be a bool, got int");
        let err = opts(&[("negotiated", Value::Str("yes".into()))]).unwrap_err();
        assert_eq!(err, "\"negotiated\" must be a bool, got String");
        let err = opts(&[("maxRetransmits", Value::Str("3".into()))]).unwrap_err();
        assert_eq!(err, "\"maxRetransmits\" must be an int, got String");
        let err = opts(&[("protocol", Value::Int(3))]).unwrap_err();
        assert_eq!(err, "\"protocol\" must be a String, got int");
        let err = opts(&[("maxPacketLifeTime", Value::Float(1.5))]).unwrap_err();
        assert!(err.contains("whole number"), "{err}");
        let err = opts(&[("maxRetransmits", Value::Other("Vector2".into()))]).unwrap_err();
        assert_eq!(err, "\"maxRetransmits\" must be an int, got Vector2");
    }

    #[test]
    fn whole_floats_are_accepted_for_ints() {
        let o = opts(&[("maxRetransmits", Value::Float(4.0))]).unwrap();
        assert_eq!(o.max_retransmits, Some(4));
    }

    #[test]
    fn unknown_keys_are_ignored() {
        let o = opts(&[("priority", Value::Str("high".into()))]).unwrap();
        assert_eq!(o, ChannelOptions::default());
    }

    #[test]
    fn over_long_label_and_protocol_are_errors() {
        let long = "x".repeat(MAX_LABEL_BYTES + 1);
        let err = parse_channel_options(&long, &[]).unwrap_err();
        assert!(err.starts_with("label is 65536 bytes"), "{err}");
        let err = opts(&[("protocol", Value::Str(long))]).unwrap_err();
        assert!(err.contains("\"protocol\" is 65536 bytes"), "{err}");
    }
}
