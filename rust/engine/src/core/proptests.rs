//! Property tests of the datagram dispatch. A connection fed arbitrary datagrams (anything,
//! STUN-looking, DTLS-looking) never panics and answers each with a bounded number of
//! datagrams. From strangers at every stage (no remote description yet, ICE checking, a pair
//! selected and DTLS under way, connected), and from the remote's own address (spoofed) before
//! its DTLS records can reach us and once DTLS is up, they never fail, close or move the
//! connection, which still connects and carries data afterwards. While the handshake is under
//! way its records are unauthenticated by nature: a forged fatal alert ends it, as the remote's
//! would (documented in lib.rs), and nothing else does. The clock is virtual.

mod pair;
mod regressions;
mod wire;

use crate::mailbox::Update;
use crate::types::ConnectionState;
use bytes::BytesMut;
use pair::Pair;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use std::net::SocketAddr;
use std::time::Duration;

/// Datagrams one input (a datagram, or timers firing) may make a connection send. At most one
/// was seen; this leaves room for a STUN answer and a triggered check, or a retransmitted
/// flight and an ICE check, and none for an amplification.
const MAX_TRANSMITS_PER_INPUT: usize = 4;

/// How far the connection got before the attack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// No remote description yet.
    Fresh,
    /// Descriptions and candidates applied: ICE is checking.
    Started,
    /// ICE selected a pair and DTLS started; the first flight was lost.
    Selected,
    /// DTLS and SCTP are up.
    Connected,
}

/// Where a datagram comes from, and which local socket it reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// An address the connection never heard of.
    Stranger(u16),
    /// The remote's own address: the validated one, later the selected pair.
    Remote,
    /// The remote's address, on a local socket of ours that is not the candidate's.
    RemoteOtherSocket,
}

fn any_source() -> impl Strategy<Value = Source> {
    prop_oneof![
        2 => any::<u16>().prop_map(Source::Stranger),
        3 => Just(Source::Remote),
        1 => Just(Source::RemoteOtherSocket),
    ]
}

/// Sources whose datagrams never reach the DTLS handshake once a pair is selected.
fn stranger() -> impl Strategy<Value = Source> {
    prop_oneof![
        2 => any::<u16>().prop_map(Source::Stranger),
        1 => Just(Source::RemoteOtherSocket),
    ]
}

/// One input: a datagram, then optionally time passing (and timers firing).
#[derive(Debug, Clone)]
struct Input {
    from: Source,
    data: Vec<u8>,
    wait: Option<Duration>,
}

fn input(from: impl Strategy<Value = Source>) -> impl Strategy<Value = Input> {
    (
        from,
        wire::datagram(),
        proptest::option::of((0u64..=100).prop_map(Duration::from_millis)),
    )
        .prop_map(|(from, data, wait)| Input { from, data, wait })
}

fn bad_state(u: &Update) -> bool {
    matches!(
        u,
        Update::State(ConnectionState::Failed | ConnectionState::Closed) | Update::Crashed
    )
}

/// Brings the pair to `stage`.
fn prepare(pair: &mut Pair, stage: Stage, target_offerer: bool) {
    let limit = Duration::from_secs(10);
    match stage {
        Stage::Fresh => {}
        Stage::Started => pair.signal(),
        Stage::Selected => {
            pair.signal();
            let selected = pair.pump(limit, |p| {
                let t = if target_offerer {
                    &p.offerer
                } else {
                    &p.answerer
                };
                t.core.ice.selected_pair().is_some()
            });
            assert!(selected, "ICE did not select a pair");
            pair.lose_queued();
        }
        Stage::Connected => {
            pair.signal();
            let up = pair.pump(limit, |p| {
                p.offerer.state() == ConnectionState::Connected
                    && p.answerer.state() == ConnectionState::Connected
            });
            assert!(up, "the pair did not connect");
            pair.lose_queued();
        }
    }
}

/// Feeds one input to one peer (the other stays idle, and what this one sends is lost),
/// checks it sent a bounded number of datagrams, and returns the updates it produced.
fn feed(
    pair: &mut Pair,
    target_offerer: bool,
    input: &Input,
) -> Result<Vec<Update>, TestCaseError> {
    let remote = pair.peer(!target_offerer).addr;
    let other_socket: SocketAddr = "10.0.0.9:9".parse().unwrap();
    let now = pair.now;
    let target = pair.peer(target_offerer);
    let (local, peer) = match input.from {
        Source::Stranger(port) => (target.addr, SocketAddr::from(([203, 0, 113, 7], port))),
        Source::Remote => (target.addr, remote),
        Source::RemoteOtherSocket => (other_socket, remote),
    };
    target
        .core
        .handle_datagram(now, local, peer, BytesMut::from(&input.data[..]));
    target.core.flush(now);
    let mut sent = 0;
    while target.core.poll_transmit().is_some() {
        sent += 1;
    }
    prop_assert!(sent <= MAX_TRANSMITS_PER_INPUT, "{} datagrams sent", sent);
    let mut updates = target.core.take_updates();
    if let Some(wait) = input.wait {
        pair.now += wait;
        let now = pair.now;
        let target = pair.peer(target_offerer);
        if target.core.poll_timeout().is_some_and(|t| t <= now) {
            target.core.handle_timeout(now);
        }
        let mut sent = 0;
        while target.core.poll_transmit().is_some() {
            sent += 1;
        }
        prop_assert!(sent <= MAX_TRANSMITS_PER_INPUT, "{} datagrams sent", sent);
        updates.extend(target.core.take_updates());
    }
    Ok(updates)
}

/// Feeds the attack; nothing in it may fail, close or move the connection.
fn attack(pair: &mut Pair, target_offerer: bool, inputs: &[Input]) -> Result<(), TestCaseError> {
    for input in inputs {
        let state = pair.peer(target_offerer).state();
        let updates = feed(pair, target_offerer, input)?;
        prop_assert!(!updates.iter().any(bad_state), "{:?}", updates);
        prop_assert_eq!(pair.peer(target_offerer).state(), state);
        pair.peer(target_offerer).updates.extend(updates);
    }
    Ok(())
}

/// Whether a datagram carries a plaintext (epoch 0) alert record.
fn carries_alert(mut data: &[u8]) -> bool {
    while data.len() >= 13 {
        let len = usize::from(u16::from_be_bytes([data[11], data[12]]));
        let Some(body) = data.get(13..13 + len) else {
            return false;
        };
        if data[0] == 21 && data[3..5] == [0, 0] && body.len() == 2 {
            return true;
        }
        data = &data[13 + len..];
    }
    false
}

/// After the attack the pair connects (or stays connected) and carries data both ways.
fn check_alive(pair: &mut Pair, stage: Stage) -> Result<(), TestCaseError> {
    if stage == Stage::Fresh {
        pair.signal();
    }
    let up = pair.pump(Duration::from_secs(30), |p| {
        p.offerer.state() == ConnectionState::Connected
            && p.answerer.state() == ConnectionState::Connected
    });
    prop_assert!(
        up,
        "not connected after the attack: {:?} / {:?}",
        pair.offerer.state(),
        pair.answerer.state()
    );
    prop_assert!(pair.deliver(true, "after the attack, offerer to answerer"));
    prop_assert!(pair.deliver(false, "after the attack, answerer to offerer"));
    for peer in [&pair.offerer, &pair.answerer] {
        prop_assert!(!peer.updates.iter().any(bad_state), "{:?}", peer.updates);
    }
    Ok(())
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

// Each case connects two cores (a DTLS handshake) after the attack: about 10 ms in a debug
// build.
proptest! {
    #![proptest_config(config(256))]

    /// Anything from anyone, before the remote description, while ICE checks, and once
    /// connected (where every record must be authentic).
    #[test]
    fn datagrams_never_harm_a_connection(
        stage in select(vec![Stage::Fresh, Stage::Started, Stage::Connected]),
        target_offerer in any::<bool>(),
        inputs in vec(input(any_source()), 1..24),
    ) {
        let mut pair = Pair::new();
        prepare(&mut pair, stage, target_offerer);
        attack(&mut pair, target_offerer, &inputs)?;
        check_alive(&mut pair, stage)?;
    }

}

proptest! {
    #![proptest_config(config(128))]

    /// Anything from strangers while the DTLS handshake is under way.
    #[test]
    fn strangers_never_harm_a_handshake(
        target_offerer in any::<bool>(),
        inputs in vec(input(stranger()), 1..24),
    ) {
        let mut pair = Pair::new();
        prepare(&mut pair, Stage::Selected, target_offerer);
        attack(&mut pair, target_offerer, &inputs)?;
        check_alive(&mut pair, Stage::Selected)?;
    }

    /// Records forged with the remote's address while the handshake is under way: only what
    /// the remote itself could send to end it (an alert) ends it.
    #[test]
    fn only_a_forged_alert_ends_a_handshake(
        target_offerer in any::<bool>(),
        inputs in vec(input(Just(Source::Remote)), 1..24),
    ) {
        let mut pair = Pair::new();
        prepare(&mut pair, Stage::Selected, target_offerer);
        for input in &inputs {
            let updates = feed(&mut pair, target_offerer, input)?;
            if updates.iter().any(bad_state) {
                prop_assert!(carries_alert(&input.data), "{:?} ended it: {:?}", input, updates);
                prop_assert!(pair.peer(target_offerer).core.is_finished());
                break;
            }
        }
    }
}
