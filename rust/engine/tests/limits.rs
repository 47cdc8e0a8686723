//! What a hostile or careless remote can make a connection hold is capped: remote-opened
//! channels, unread bytes across channels, bytes waiting for a remote that never acknowledges,
//! remote candidates, and names to look up.

mod common;
use common::*;
use std::time::{Duration, Instant};
use webrtc_rs_engine::*;

fn with_limits(f: impl FnOnce(&mut Config)) -> Config {
    let mut c = config();
    f(&mut c);
    c
}

fn connect(ca: Config, cb: Config) -> (Peer, Peer) {
    let mut a = Peer::new(ca);
    let mut b = Peer::new(cb);
    signal(&mut a, &mut b);
    pump_until(&mut a, &mut b, "connected", |a, b| connected(a, b));
    (a, b)
}

#[test]
fn remote_channels_beyond_the_cap_are_refused_and_unread_bytes_stay_bounded() {
    const CHANNELS: usize = 200;
    const CAP: usize = 50;
    const MESSAGE: usize = 64 * 1024;
    const PER_CHANNEL: usize = 4;
    let connection_budget = 1 << 20;
    let (mut a, mut b) = connect(
        config(),
        with_limits(|c| {
            c.channel_receive_budget = 256 * 1024;
            c.limits.max_remote_channels = CAP;
            c.limits.connection_receive_budget = connection_budget;
        }),
    );
    let opened: Vec<DataChannel> = (0..CHANNELS)
        .map(|i| {
            a.pc.create_data_channel(&format!("flood {i}"), ChannelOptions::default())
                .expect("create channel")
        })
        .collect();
    let mut sent = vec![0usize; CHANNELS];
    pump_until(&mut a, &mut b, "every channel open or refused", |_, _| {
        for (ch, n) in opened.iter().zip(sent.iter_mut()) {
            while ch.ready_state() == ChannelState::Open && *n < PER_CHANNEL {
                if ch.send(&vec![7u8; MESSAGE], false).is_err() {
                    break;
                }
                *n += 1;
            }
        }
        opened
            .iter()
            .all(|c| matches!(c.ready_state(), ChannelState::Open | ChannelState::Closed))
            && opened
                .iter()
                .zip(&sent)
                .all(|(c, n)| c.ready_state() == ChannelState::Closed || *n == PER_CHANNEL)
    });
    let open = opened
        .iter()
        .filter(|c| c.ready_state() == ChannelState::Open)
        .count();
    assert_eq!(
        open, CAP,
        "exactly the cap stays open; the rest were refused"
    );
    assert_eq!(
        b.incoming.len(),
        CAP,
        "the receiver saw only the channels it kept"
    );

    // The receiver takes nothing: the flood (12.5 MiB) fills the connection's budget, and what
    // it holds never goes beyond it (by more than the one message that crossed it). Waited for
    // by what arrived, not by a fixed time: on a loaded machine 500 ms once saw nothing yet.
    let held = |b: &Peer| -> usize { b.incoming.iter().map(|c| c.available() * MESSAGE).sum() };
    let within = |held: usize| {
        assert!(
            held <= connection_budget + MESSAGE,
            "{held} bytes held unread, budget {connection_budget}"
        );
    };
    pump_until(&mut a, &mut b, "the connection's budget filled", |_, b| {
        within(held(b));
        held(b) >= connection_budget
    });
    // And it stays there while the sender keeps trying.
    Pump::new().hold(&mut a, &mut b, Duration::from_millis(300), |_, b| {
        within(held(b))
    });

    // Reading resumes every stream until all the data of the kept channels has arrived.
    let mut got = 0;
    let incoming = b.incoming.clone();
    pump_until(&mut a, &mut b, "all kept data", |_, _| {
        for c in &incoming {
            while let Some(m) = c.recv() {
                assert_eq!(m.data.len(), MESSAGE);
                got += 1;
            }
        }
        got == CAP * PER_CHANNEL
    });
}

#[test]
fn channels_the_application_never_takes_are_closed() {
    let (_a, _b) = abandon_channels(1000);
}

/// KNOWN_ISSUES.md: after the receiver abandoned many channels the sender was writing to, the
/// association sometimes stalls (rtc-sctp's receive window stays closed) and no new channel
/// opens; more often with messages that span several SCTP chunks.
#[test]
#[ignore = "known issue: rtc-sctp stall after many streams are reset under traffic"]
fn the_connection_still_opens_channels_after_abandoned_ones() {
    for message_size in [1000, 8192] {
        let (mut a, mut b) = abandon_channels(message_size);
        let (ch, remote) = open_in_band(&mut a, &mut b, "wanted", ChannelOptions::default());
        ch.send(b"still here", true).expect("send");
        let got = recv_n(&mut a, &mut b, &remote, 1);
        assert_eq!(&got[0].data[..], b"still here");
    }
}

/// 2,000 channels opened by `a`, each sent one message, none of them taken by `b`'s
/// application: `b` closes every one of them.
fn abandon_channels(message_size: usize) -> (Peer, Peer) {
    const CHANNELS: usize = 2000;
    // A cap above the flood: only the application letting go can close these.
    let (mut a, mut b) = connect(
        config(),
        with_limits(|c| c.limits.max_remote_channels = 4096),
    );
    let opened: Vec<DataChannel> = (0..CHANNELS)
        .map(|i| {
            a.pc.create_data_channel(&format!("unwanted {i}"), ChannelOptions::default())
                .expect("create channel")
        })
        .collect();
    let mut sent = vec![false; CHANNELS];
    pump_until(&mut a, &mut b, "every unwanted channel closed", |_, b| {
        // The receiving application ignores every new channel.
        b.incoming.clear();
        for (ch, s) in opened.iter().zip(sent.iter_mut()) {
            if !*s && ch.ready_state() == ChannelState::Open {
                *s = ch.send(&vec![1u8; message_size], false).is_ok();
            }
        }
        opened
            .iter()
            .all(|c| c.ready_state() == ChannelState::Closed)
    });
    (a, b)
}

#[test]
fn a_remote_that_never_acknowledges_meets_the_send_budget() {
    let send_budget = 512 * 1024;
    let (mut a, mut b) = connect(
        with_limits(|c| c.limits.channel_send_budget = send_budget),
        with_limits(|c| {
            c.channel_receive_budget = 64 * 1024;
            c.limits.connection_receive_budget = 128 * 1024;
        }),
    );
    let (ch, remote) = open_in_band(&mut a, &mut b, "firehose", ChannelOptions::default());
    let message = vec![3u8; 16 * 1024];
    let mut accepted = 0usize;
    let mut refusal = None;
    pump_until(&mut a, &mut b, "the send budget", |_, _| {
        match ch.send(&message, false) {
            Ok(()) => accepted += 1,
            Err(e) => refusal = Some(e),
        }
        refusal.is_some()
    });
    let e = refusal.expect("refused");
    assert_eq!(e.kind(), ErrorKind::Busy, "{e}");
    assert!(e.message().contains("send budget"), "{e}");
    assert!(ch.buffered_amount() <= send_budget);
    assert_eq!(
        ch.ready_state(),
        ChannelState::Open,
        "the channel stays usable"
    );

    // Once the receiver reads, everything accepted arrives and sending works again.
    let got = recv_n(&mut a, &mut b, &remote, accepted);
    assert_eq!(got.len(), accepted);
    ch.send(&message, false)
        .expect("send after the remote caught up");
}

#[test]
fn remote_candidates_are_capped() {
    let cap = 100;
    let mut b = Peer::new(with_limits(|c| c.limits.max_remote_candidates = cap));
    let mut refused = 0;
    for i in 0..50_000u32 {
        let line = format!(
            "candidate:{i} 1 udp 2122260223 127.0.0.{} {} typ host",
            2 + i % 200,
            10_000 + i % 50_000
        );
        if let Err(e) = b.pc.add_ice_candidate("0", 0, &line) {
            assert_eq!(e.kind(), ErrorKind::Busy, "{e}");
            refused += 1;
        }
    }
    assert_eq!(refused, 50_000 - cap);
    // The cap is reached with junk (the real candidates would be refused too); the other
    // connections in the process are unharmed.
    let started = Instant::now();
    let (mut c, mut d) = connect_pair();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "a second connection took {:?}",
        started.elapsed()
    );
    let (ch, remote) = open_in_band(&mut c, &mut d, "alongside", ChannelOptions::default());
    ch.send(b"ok", true).expect("send");
    assert_eq!(recv_n(&mut c, &mut d, &remote, 1).len(), 1);
}

#[test]
fn names_other_than_mdns_are_refused_and_not_looked_up() {
    let mut b = Peer::new(config());
    for host in [
        "attacker.example.com",
        "localhost",
        "x.local.evil",
        "a b.local",
    ] {
        let line = format!("candidate:1 1 udp 2122260223 {host} 9 typ host");
        let e =
            b.pc.add_ice_candidate("0", 0, &line)
                .expect_err("a non-mDNS name");
        assert_eq!(e.kind(), ErrorKind::InvalidParameter, "{e}");
    }
    let ok = "candidate:1 1 udp 2122260223 0f1e2d3c-aaaa-bbbb-cccc-0123456789ab.local 9 typ host";
    b.pc.add_ice_candidate("0", 0, ok).expect("an mDNS name");
}
