//! Property tests of channel options: whatever members a script or a JSON message states,
//! `channel_options` and `check_channel` never panic, and every accepted result keeps the
//! ranges, the `negotiated`/`id` pairing and the exclusivity of the two reliability limits.

use super::*;
use crate::error::ErrorKind;
use proptest::prelude::*;
use proptest::sample::select;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

/// Integers as wide as a caller's, mostly around the edges of the allowed ranges.
fn int() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        -3i64..=3,
        65_530i64..=65_540,
        select(vec![i64::MIN, i64::MAX, u32::MAX as i64, 1 << 32]),
    ]
}

fn init() -> impl Strategy<Value = DataChannelInit> {
    (
        any::<Option<bool>>(),
        proptest::option::of(int()),
        proptest::option::of(int()),
        proptest::option::of("[ -~]{0,8}"),
        any::<Option<bool>>(),
        proptest::option::of(int()),
    )
        .prop_map(
            |(ordered, max_packet_life_time, max_retransmits, protocol, negotiated, id)| {
                DataChannelInit {
                    ordered,
                    max_packet_life_time,
                    max_retransmits,
                    protocol,
                    negotiated,
                    id,
                }
            },
        )
}

/// Labels and protocols, short or around the 65535-byte limit (also in 3-byte characters).
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[ -~]{0,8}",
        1 => (65_530usize..=65_540).prop_map(|n| "x".repeat(n)),
        1 => (21_843usize..=21_847).prop_map(|n| "\u{20AC}".repeat(n)),
    ]
}

fn options() -> impl Strategy<Value = ChannelOptions> {
    (
        any::<bool>(),
        any::<Option<u16>>(),
        any::<Option<u16>>(),
        text(),
        prop_oneof![
            Just(None),
            any::<u16>().prop_map(Some),
            select(vec![Some(65_534u16), Some(65_535)]),
        ],
    )
        .prop_map(
            |(ordered, max_retransmits, max_packet_lifetime, protocol, negotiated_id)| {
                ChannelOptions {
                    ordered,
                    max_retransmits,
                    max_packet_lifetime,
                    protocol,
                    negotiated_id,
                }
            },
        )
}

fn within(value: Option<i64>, max: i64) -> bool {
    value.is_none_or(|v| (0..=max).contains(&v))
}

/// What every channel the engine creates satisfies.
fn check_usable(label: &str, o: &ChannelOptions) {
    assert!(
        o.max_retransmits.is_none() || o.max_packet_lifetime.is_none(),
        "{o:?}"
    );
    assert!(o.negotiated_id.is_none_or(|id| id <= 65_534), "{o:?}");
    assert!(label.len() <= 65_535 && o.protocol.len() <= 65_535);
}

fn check_error(e: &Error) {
    assert_eq!(e.kind(), ErrorKind::InvalidParameter);
    assert!(!e.message().is_empty());
}

proptest! {
    #![proptest_config(config(512))]

    /// `channel_options` accepts exactly the in-range members with `id` paired with
    /// `negotiated: true`, and copies them.
    #[test]
    fn stated_members_become_options(init in init()) {
        let valid = within(init.id, 65_534)
            && within(init.max_retransmits, 65_535)
            && within(init.max_packet_life_time, 65_535)
            && (init.negotiated == Some(true)) == init.id.is_some();
        match init.to_options() {
            Ok(o) => {
                prop_assert!(valid, "{:?} accepted", init);
                prop_assert_eq!(o.ordered, init.ordered.unwrap_or(true));
                prop_assert_eq!(o.negotiated_id.map(i64::from), init.id);
                prop_assert_eq!(o.max_retransmits.map(i64::from), init.max_retransmits);
                prop_assert_eq!(o.max_packet_lifetime.map(i64::from), init.max_packet_life_time);
                prop_assert_eq!(&o.protocol, &init.protocol.clone().unwrap_or_default());
            }
            Err(e) => {
                prop_assert!(!valid, "{:?} refused: {}", init, e);
                check_error(&e);
                let m = e.message();
                let named = ["\"id\"", "\"negotiated\"", "\"maxRetransmits\"", "\"maxPacketLifeTime\""];
                prop_assert!(named.iter().any(|n| m.starts_with(n)), "{}", m);
                // An out-of-range message quotes the value as given.
                if let Some((_, rest)) = m.split_once(" is ") {
                    if let Some((value, _)) = rest.split_once(", outside") {
                        let value: i64 = value.parse().unwrap();
                        let stated = [init.id, init.max_retransmits, init.max_packet_life_time];
                        prop_assert!(stated.contains(&Some(value)), "{}", m);
                    }
                }
            }
        }
    }

    /// `check_channel` accepts exactly the options that keep every rule.
    #[test]
    fn channel_rules_hold(label in text(), o in options()) {
        let valid = (o.max_retransmits.is_none() || o.max_packet_lifetime.is_none())
            && o.negotiated_id.is_none_or(|id| id <= 65_534)
            && label.len() <= 65_535
            && o.protocol.len() <= 65_535;
        match check_channel(&label, &o) {
            Ok(()) => {
                prop_assert!(valid);
                check_usable(&label, &o);
            }
            Err(e) => {
                prop_assert!(!valid, "{:?} refused: {}", o, e);
                check_error(&e);
            }
        }
    }

    /// What a caller states goes through both checks before a channel exists: whatever gets
    /// through is usable.
    #[test]
    fn accepted_channels_are_usable(init in init(), label in text()) {
        let accepted = init.to_options().and_then(|o| check_channel(&label, &o).map(|()| o));
        match &accepted {
            Ok(o) => check_usable(&label, o),
            Err(e) => check_error(e),
        }
        if init.max_retransmits.is_some() && init.max_packet_life_time.is_some() {
            prop_assert!(accepted.is_err());
        }
    }
}
