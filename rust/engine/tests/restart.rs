//! ICE restart between two engine peers over real UDP: `restart_ice()` from either side, the
//! remote answering by itself, the channel staying open with every reliable message delivered
//! in order; re-offers that restart nothing or try to change the DTLS certificate; a path that
//! goes away (inside a private network namespace) replaced by a new local address.

mod common;

use common::*;
use std::time::Duration;
use webrtc_rs_engine::*;

/// Short liveness: without a working restart the old pair loses consent within a few seconds.
fn quick_config(bind: Option<std::net::IpAddr>) -> Config {
    Config {
        bind_address: bind,
        liveness: Liveness {
            disconnected_after: Duration::from_millis(800),
            failed_after: Duration::from_millis(2500),
            keepalive_interval: Duration::from_millis(300),
        },
        ..Config::default()
    }
}

fn ufrag(sdp: &str) -> String {
    sdp.lines()
        .find_map(|l| l.trim().strip_prefix("a=ice-ufrag:"))
        .expect("an ice-ufrag")
        .to_owned()
}

fn send_numbered(ch: &DataChannel, range: std::ops::Range<u32>) {
    for i in range {
        ch.send(&i.to_be_bytes(), false).expect("send");
    }
}

/// Receives until `n` messages arrived and checks they are 0..n in order.
fn expect_numbered(a: &mut Peer, b: &mut Peer, ch: &DataChannel, n: u32) {
    let got: Vec<u32> = recv_n(a, b, ch, n as usize)
        .iter()
        .map(|m| u32::from_be_bytes(m.data[..4].try_into().expect("4 bytes")))
        .collect();
    assert_eq!(
        got,
        (0..n).collect::<Vec<_>>(),
        "messages lost or reordered"
    );
}

/// `from` restarts ICE; the offer and the automatic answer are relayed by the pump. Returns
/// the ufrag of the restarting offer.
fn restart(pump: &mut Pump, from: &mut Peer, to: &mut Peer) -> String {
    from.gathering_complete = false;
    from.pc.restart_ice().expect("restart_ice");
    pump.until(from, to, "the restarting offer", |f, _| {
        f.description.is_some()
    });
    let offer = from.description.as_ref().expect("offer").1.clone();
    pump.deliver_offer(from, to);
    assert_eq!(to.pc.signaling_state(), SignalingState::HaveRemoteOffer);
    pump.deliver_answer(from, to);
    assert_eq!(from.pc.signaling_state(), SignalingState::Stable);
    assert_eq!(to.pc.signaling_state(), SignalingState::Stable);
    ufrag(&offer)
}

fn connected_pair(config: impl Fn() -> Config) -> (Peer, Peer, DataChannel, DataChannel) {
    let mut a = Peer::new(config());
    let mut b = Peer::new(config());
    let ch =
        a.pc.create_data_channel("restart", ChannelOptions::default())
            .expect("channel");
    connect(&mut a, &mut b);
    pump_until(&mut a, &mut b, "channel open", |a, b| {
        ch.ready_state() == ChannelState::Open && !b.incoming.is_empty() && a.is_connected()
    });
    let remote = b.incoming[0].clone();
    (a, b, ch, remote)
}

#[test]
fn restart_from_either_side_keeps_the_channel_and_every_message() {
    let loopback = || quick_config(Some("127.0.0.1".parse().expect("ip")));
    let (mut a, mut b, ch, remote) = connected_pair(loopback);
    let mut pump = Pump::new();
    send_numbered(&ch, 0..100);
    // Restarted by the side that made the first offer, messages sent between the offer and
    // the answer ...
    a.gathering_complete = false;
    a.pc.restart_ice().expect("restart_ice");
    send_numbered(&ch, 100..200);
    pump.until(&mut a, &mut b, "offer", |a, _| a.description.is_some());
    let offer_ufrag = ufrag(&a.description.as_ref().expect("offer").1);
    pump.deliver_offer(&mut a, &mut b);
    send_numbered(&ch, 200..300);
    pump.deliver_answer(&mut a, &mut b);
    send_numbered(&ch, 300..400);
    pump.until(&mut a, &mut b, "gathering again", |a, _| {
        a.gathering_complete
    });
    // ... then by the other side.
    let second_ufrag = restart(&mut pump, &mut b, &mut a);
    assert_ne!(offer_ufrag, second_ufrag);
    send_numbered(&ch, 400..500);
    expect_numbered(&mut a, &mut b, &remote, 500);
    // Longer than the failed timeout: only checks with the new credentials keep consent.
    pump.hold(&mut a, &mut b, Duration::from_millis(3000), |a, b| {
        assert!(connected(a, b), "a={a:?} b={b:?}")
    });
    assert_eq!(ch.ready_state(), ChannelState::Open);
    assert_eq!(remote.ready_state(), ChannelState::Open);
    remote.send(b"back", false).expect("send back");
    let back = recv_n(&mut a, &mut b, &ch, 1);
    assert_eq!(&back[0].data[..], b"back");
    assert!(
        a.errors.is_empty() && b.errors.is_empty(),
        "{:?} {:?}",
        a.errors,
        b.errors
    );
}

/// Candidate lines name no ICE generation: a remote that gets one of the new candidates before
/// the answer files it under the previous generation (Chromium then never checks it, and the
/// restart it asked for fails). The answer to a restarting offer therefore always comes first.
#[test]
fn the_answer_to_a_restarting_offer_comes_before_its_candidates() {
    let (mut a, mut b, ch, remote) = connected_pair(config);
    let mut pump = Pump::new();
    for round in 0..8u32 {
        b.gathering_complete = false;
        b.pc.restart_ice().expect("restart_ice");
        pump.until(&mut b, &mut a, "the restarting offer", |b, _| {
            b.description.is_some()
        });
        pump.deliver_offer(&mut b, &mut a);
        // a's events as an application sees them, in order, until its gathering ends.
        let mut order = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !order.contains(&"complete") && std::time::Instant::now() < deadline {
            for ev in a.pc.poll() {
                match ev {
                    Event::SessionDescription { sdp_type, sdp } => {
                        order.push("answer");
                        a.description = Some((sdp_type, sdp));
                    }
                    Event::IceCandidate { candidate, .. } => {
                        order.push("candidate");
                        a.candidates.push(candidate);
                    }
                    Event::GatheringComplete => order.push("complete"),
                    _ => {}
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(order.first(), Some(&"answer"), "round {round}: {order:?}");
        assert!(order.contains(&"candidate"), "round {round}: {order:?}");
        pump.deliver_answer(&mut b, &mut a);
        send_numbered(&ch, round * 10..round * 10 + 10);
    }
    expect_numbered(&mut a, &mut b, &remote, 80);
}

#[test]
fn a_reoffer_with_the_same_credentials_is_answered_and_changes_nothing() {
    let mut a = Peer::new(config());
    let mut b = Peer::new(config());
    let ch =
        a.pc.create_data_channel("same", ChannelOptions::default())
            .expect("channel");
    a.pc.create_offer().expect("offer");
    pump_until(&mut a, &mut b, "offer", |a, _| a.description.is_some());
    let offer = a.description.clone().expect("offer").1;
    let mut pump = Pump::new();
    pump.deliver_offer(&mut a, &mut b);
    pump.deliver_answer(&mut a, &mut b);
    pump_until(&mut a, &mut b, "channel open", |_, b| {
        ch.ready_state() == ChannelState::Open && !b.incoming.is_empty()
    });
    let remote = b.incoming[0].clone();
    b.pc.set_remote_description(SdpType::Offer, &offer)
        .expect("the same offer again");
    assert_eq!(b.pc.signaling_state(), SignalingState::HaveRemoteOffer);
    pump_until(&mut a, &mut b, "answer", |_, b| b.description.is_some());
    let (kind, answer) = b.description.take().expect("answer");
    assert_eq!(kind, SdpType::Answer);
    b.pc.set_local_description(SdpType::Answer, &answer)
        .expect("local answer");
    assert_eq!(b.pc.signaling_state(), SignalingState::Stable);
    send_numbered(&ch, 0..50);
    expect_numbered(&mut a, &mut b, &remote, 50);
    assert!(connected(&a, &b));
}

#[test]
fn a_reoffer_with_another_certificate_is_refused() {
    let (mut a, mut b, ch, remote) = connected_pair(config);
    // An offer from a third peer: another certificate (and credentials).
    let mut intruder = Peer::new(config());
    intruder.pc.create_offer().expect("offer");
    let mut idle = Peer::new(config());
    pump_until(&mut intruder, &mut idle, "offer", |i, _| {
        i.description.is_some()
    });
    let forged = intruder.description.take().expect("offer").1;
    let err =
        b.pc.set_remote_description(SdpType::Offer, &forged)
            .expect_err("a new certificate is refused");
    assert_eq!(err.kind(), ErrorKind::InvalidParameter);
    assert!(err.to_string().contains("fingerprint"), "{err}");
    assert_eq!(b.pc.signaling_state(), SignalingState::Stable);
    b.poll();
    assert!(b.description.is_none(), "no answer to a refused offer");
    send_numbered(&ch, 0..20);
    expect_numbered(&mut a, &mut b, &remote, 20);
    assert!(connected(&a, &b));
}

#[test]
fn restart_needs_a_negotiated_connection_and_no_glare() {
    let mut fresh = PeerConnection::new(config()).expect("peer");
    let err = fresh.restart_ice().expect_err("nothing negotiated");
    assert_eq!(err.kind(), ErrorKind::InvalidState);

    let (mut a, mut b, ch, remote) = connected_pair(config);
    a.pc.restart_ice().expect("a restarts");
    b.pc.restart_ice().expect("b restarts");
    pump_until(&mut a, &mut b, "offers", |a, b| {
        a.description.is_some() && b.description.is_some()
    });
    let offer_a = a.description.take().expect("a's offer").1;
    let err =
        b.pc.set_remote_description(SdpType::Offer, &offer_a)
            .expect_err("glare");
    assert_eq!(err.kind(), ErrorKind::InvalidState);
    assert!(err.to_string().contains("glare"), "{err}");
    // The connection is not disturbed.
    send_numbered(&ch, 0..20);
    expect_numbered(&mut a, &mut b, &remote, 20);
    assert!(connected(&a, &b));
}

/// One peer on a shared UDP socket (UDP mux), which routes checks by the local ufrag, the other
/// plain: after restarts from either side (a new ufrag each time), the checks still reach the
/// connection. A second connection of the process shares the socket meanwhile.
#[test]
fn restart_over_a_shared_udp_socket() {
    let loopback = || quick_config(Some("127.0.0.1".parse().expect("ip")));
    let muxed = || Config {
        ports: PortConfig {
            udp_mux: true,
            ..PortConfig::default()
        },
        ..loopback()
    };
    let mut a = Peer::new(muxed());
    let mut b = Peer::new(loopback());
    let ch =
        a.pc.create_data_channel("mux", ChannelOptions::default())
            .expect("channel");
    connect(&mut a, &mut b);
    pump_until(&mut a, &mut b, "channel open", |a, b| {
        ch.ready_state() == ChannelState::Open && !b.incoming.is_empty() && a.is_connected()
    });
    let remote = b.incoming[0].clone();
    let (mut c, mut d) = (Peer::new(muxed()), Peer::new(loopback()));
    connect(&mut c, &mut d);
    let mut pump = Pump::new();
    restart(&mut pump, &mut a, &mut b);
    send_numbered(&ch, 0..20);
    restart(&mut pump, &mut b, &mut a);
    send_numbered(&ch, 20..40);
    expect_numbered(&mut a, &mut b, &remote, 40);
    // Past the failed timeout: consent holds only if the new checks are routed.
    pump.hold(&mut a, &mut b, Duration::from_millis(3000), |a, b| {
        assert!(connected(a, b), "a={a:?} b={b:?}")
    });
    assert!(
        a.errors.is_empty() && b.errors.is_empty(),
        "{:?} {:?}",
        a.errors,
        b.errors
    );
    c.poll();
    assert_eq!(
        c.pc.connection_state(),
        ConnectionState::Connected,
        "the other muxed connection"
    );
}

/// A remote that keeps re-offering with new credentials gets each offer answered, without
/// error or a stuck connection; a real restart afterwards recovers.
#[test]
fn spammed_restarting_offers_are_answered_and_a_real_restart_recovers() {
    let (mut a, mut b, ch, remote) = connected_pair(config);
    let mut pump = Pump::new();
    a.pc.restart_ice().expect("restart");
    pump.until(&mut a, &mut b, "offer", |a, _| a.description.is_some());
    let offer = a.description.clone().expect("offer").1;
    let (ufrag_now, pwd_now) = (
        ufrag(&offer),
        offer
            .lines()
            .find_map(|l| l.trim().strip_prefix("a=ice-pwd:"))
            .expect("pwd")
            .to_owned(),
    );
    // a's restart is abandoned for this test: a forgets it by restarting again below.
    a.description = None;
    pump.hold(&mut a, &mut b, Duration::from_millis(200), |_, _| {});
    for i in 0..200 {
        let forged = offer
            .replace(&ufrag_now, &format!("spam{i:04}"))
            .replace(&pwd_now, &format!("spam-password-{i:04}-0123456789abcdef"));
        b.pc.set_remote_description(SdpType::Offer, &forged)
            .expect("a restarting offer is answered");
    }
    b.poll();
    let (kind, answer) = b.description.take().expect("the last answer");
    assert_eq!(kind, SdpType::Answer);
    b.pc.set_local_description(SdpType::Answer, &answer)
        .expect("local answer");
    // What b gathered for offers a never made goes nowhere (a would count it against its
    // remote candidate limit, as it should).
    let settle = std::time::Instant::now() + Duration::from_millis(300);
    while std::time::Instant::now() < settle {
        a.poll();
        b.poll();
        b.candidates.clear();
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(b.errors.is_empty(), "{:?}", b.errors);
    // a now restarts for real (its pending offer replaced), and the connection recovers.
    restart(&mut pump, &mut a, &mut b);
    send_numbered(&ch, 0..50);
    expect_numbered(&mut a, &mut b, &remote, 50);
    assert!(connected(&a, &b));
}

/// Inside a private network namespace: both peers gather on every interface address (only
/// 10.77.0.1 at first). That address is removed (the path stops) and 10.77.0.2 added; the
/// first offerer restarts ICE and the connection moves to the new address with the messages
/// sent before and during the outage delivered in order.
#[test]
fn restart_moves_the_connection_to_a_new_local_address() {
    if !netns::enter("restart_moves_the_connection_to_a_new_local_address") {
        return;
    }
    path_change(false);
}

/// The same path change with `restart_ice_on_disconnected` on both sides: the first offerer
/// restarts by itself when DISCONNECTED, the other only answers.
#[test]
fn automatic_restart_on_disconnected_moves_the_connection() {
    if !netns::enter("automatic_restart_on_disconnected_moves_the_connection") {
        return;
    }
    path_change(true);
}

fn path_change(automatic: bool) {
    netns::sh("ip link add v0 type veth peer name v1");
    netns::sh("ip link set v0 up");
    netns::sh("ip link set v1 up");
    netns::sh("ip addr add 10.77.0.1/24 dev v0");
    let config = || Config {
        restart_ice_on_disconnected: automatic,
        ..quick_config(None)
    };
    let (mut a, mut b, ch, remote) = connected_pair(config);
    let pair = a.pc.stats().selected_pair.expect("a pair");
    assert_eq!(pair.local_address.ip().to_string(), "10.77.0.1");
    send_numbered(&ch, 0..100);
    expect_numbered(&mut a, &mut b, &remote, 100);

    netns::sh("ip addr del 10.77.0.1/24 dev v0");
    netns::sh("ip addr add 10.77.0.2/24 dev v0");
    send_numbered(&ch, 100..200);
    let mut pump = Pump::new();
    pump.until(&mut a, &mut b, "DISCONNECTED", |a, _| {
        a.pc.connection_state() == ConnectionState::Disconnected
    });
    send_numbered(&ch, 200..300);
    if automatic {
        // The offer came with the DISCONNECTED state, in the same poll().
        assert!(a.description.is_some(), "no automatic restart offer");
        pump.deliver_offer(&mut a, &mut b);
        pump.deliver_answer(&mut a, &mut b);
    } else {
        assert!(a.description.is_none(), "restarted without being asked");
        restart(&mut pump, &mut a, &mut b);
    }
    send_numbered(&ch, 300..400);
    pump.until(&mut a, &mut b, "CONNECTED on the new address", |a, b| {
        connected(a, b)
            && a.pc
                .stats()
                .selected_pair
                .is_some_and(|p| p.local_address.ip().to_string() == "10.77.0.2")
    });
    let all: Vec<u32> = recv_n(&mut a, &mut b, &remote, 300)
        .iter()
        .map(|m| u32::from_be_bytes(m.data[..4].try_into().expect("4 bytes")))
        .collect();
    assert_eq!(
        all,
        (100..400).collect::<Vec<_>>(),
        "messages lost or reordered"
    );
    assert_eq!(ch.ready_state(), ChannelState::Open);
    assert_eq!(remote.ready_state(), ChannelState::Open);
    b.poll();
    assert!(
        b.description.is_none(),
        "the answerer made an offer of its own"
    );
    assert!(
        a.errors.is_empty() && b.errors.is_empty(),
        "{:?} {:?}",
        a.errors,
        b.errors
    );
}
