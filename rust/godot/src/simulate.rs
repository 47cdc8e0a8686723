//! The network simulator's settings as a script gives them: the `simulate` key of
//! `initialize()` and the argument of `set_network_simulation()`, a Dictionary with the
//! optional keys `loss` and `duplicate` (shares, 0 to 1), `delay_ms`, `jitter_ms` and
//! `bandwidth_kbps` (whole numbers) and `seed` (int). An empty Dictionary (or `null`) means no
//! simulation.
//!
//! Types and unknown keys are checked here (a misspelt key in a testing tool would silently
//! test nothing); the ranges are the engine's rules, which it reports naming the key.

use crate::options::int_value;
use crate::value::Value;
use std::time::Duration;
use webrtc_rs_engine::NetworkSimulation;

/// The keys a `simulate` Dictionary may have.
const KEYS: [&str; 6] = [
    "loss",
    "delay_ms",
    "jitter_ms",
    "duplicate",
    "bandwidth_kbps",
    "seed",
];

/// The settings in `value`, or `None` for no simulation. Errors name the key, e.g.
/// `"simulate.delay_ms" must be an int, got String`.
pub fn parse_simulation(value: &Value) -> Result<Option<NetworkSimulation>, String> {
    let entries = match value {
        Value::Nil => return Ok(None),
        Value::Dict(entries) if entries.is_empty() => return Ok(None),
        Value::Dict(entries) => entries,
        other => {
            return Err(format!(
                "simulate must be a Dictionary, got {}",
                other.type_name()
            ))
        }
    };
    let mut settings = NetworkSimulation::default();
    for (key, value) in entries {
        let named = format!("simulate.{key}");
        match key.as_str() {
            "loss" => settings.loss = share(&named, value)?,
            "duplicate" => settings.duplicate = share(&named, value)?,
            "delay_ms" => settings.delay = millis(&named, value)?,
            "jitter_ms" => settings.jitter = millis(&named, value)?,
            "bandwidth_kbps" => settings.bandwidth_kbps = Some(non_negative(&named, value)?),
            // Any int: a seed's bits matter, not its sign.
            "seed" => settings.seed = Some(int_value(&named, value)? as u64),
            _ => {
                return Err(format!(
                    "simulate has an unknown key {key:?} (expected one of {})",
                    KEYS.join(", ")
                ))
            }
        }
    }
    Ok(Some(settings))
}

/// A float or int; the engine checks it is within 0..=1.
fn share(key: &str, v: &Value) -> Result<f64, String> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(n) => Ok(*n as f64),
        other => Err(format!(
            "\"{key}\" must be a number between 0 and 1, got {}",
            other.type_name()
        )),
    }
}

fn non_negative(key: &str, v: &Value) -> Result<u64, String> {
    let n = int_value(key, v)?;
    u64::try_from(n).map_err(|_| format!("\"{key}\" must not be negative, got {n}"))
}

fn millis(key: &str, v: &Value) -> Result<Duration, String> {
    non_negative(key, v).map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict(entries: &[(&str, Value)]) -> Value {
        Value::Dict(
            entries
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn every_key_is_read() {
        let s = parse_simulation(&dict(&[
            ("loss", Value::Float(0.05)),
            ("delay_ms", Value::Int(150)),
            ("jitter_ms", Value::Float(20.0)),
            ("duplicate", Value::Int(0)),
            ("bandwidth_kbps", Value::Int(512)),
            ("seed", Value::Int(-1)),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            s,
            NetworkSimulation {
                loss: 0.05,
                delay: Duration::from_millis(150),
                jitter: Duration::from_millis(20),
                duplicate: 0.0,
                bandwidth_kbps: Some(512),
                seed: Some(u64::MAX),
            }
        );
        let s = parse_simulation(&dict(&[("delay_ms", Value::Int(50))]))
            .unwrap()
            .unwrap();
        assert_eq!(
            s,
            NetworkSimulation {
                delay: Duration::from_millis(50),
                ..Default::default()
            }
        );
    }

    #[test]
    fn empty_or_null_is_no_simulation() {
        assert_eq!(parse_simulation(&dict(&[])), Ok(None));
        assert_eq!(parse_simulation(&Value::Nil), Ok(None));
    }

    #[test]
    fn wrong_types_negative_numbers_and_unknown_keys_are_named() {
        let err = |v: Value| parse_simulation(&v).unwrap_err();
        assert_eq!(err(Value::Int(1)), "simulate must be a Dictionary, got int");
        assert_eq!(
            err(dict(&[("loss", Value::Str("5%".into()))])),
            "\"simulate.loss\" must be a number between 0 and 1, got String"
        );
        assert_eq!(
            err(dict(&[("delay_ms", Value::Int(-5))])),
            "\"simulate.delay_ms\" must not be negative, got -5"
        );
        assert_eq!(
            err(dict(&[("jitter_ms", Value::Float(1.5))])),
            "\"simulate.jitter_ms\" must be a whole number, got 1.5"
        );
        assert_eq!(
            err(dict(&[("bandwidth_kbps", Value::Bool(true))])),
            "\"simulate.bandwidth_kbps\" must be an int, got bool"
        );
        assert_eq!(
            err(dict(&[("lose", Value::Float(0.1))])),
            "simulate has an unknown key \"lose\" (expected one of loss, delay_ms, jitter_ms, \
             duplicate, bandwidth_kbps, seed)"
        );
    }
}
