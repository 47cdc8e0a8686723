mod common;
use common::*;
use std::time::Duration;
use webrtc_rs_engine::*;

/// Two fresh peers, `a` with a channel and an offer it has applied, gathered completely before
/// anything is pumped: its candidates are still in `a.candidates`.
fn gathered_offer() -> (Peer, Peer, DataChannel, String) {
    let (mut a, b, ch) = peers_with_channel("c");
    a.pc.create_offer().unwrap();
    Pump::new().until_one(&mut a, "offer and gathering", |a| {
        a.description.is_some() && a.gathering_complete
    });
    let offer = a.take_description().expect("offer").sdp;
    a.pc.set_local_description(SdpType::Offer, &offer).unwrap();
    (a, b, ch, offer)
}

/// `sdp` with one hex digit of its fingerprint flipped.
fn with_wrong_fingerprint(sdp: &str) -> String {
    let line = sdp
        .lines()
        .find(|l| l.starts_with("a=fingerprint:"))
        .expect("a fingerprint line");
    let mut tampered_line = line.to_owned();
    let last = tampered_line.pop().expect("a fingerprint");
    tampered_line.push(if last == '0' { '1' } else { '0' });
    sdp.replace(line, &tampered_line)
}

#[test]
fn states_follow_the_godot_contract() {
    let mut a = Peer::new(config());
    let mut b = Peer::new(config());
    assert_eq!(a.pc.connection_state(), ConnectionState::New);
    assert_eq!(a.pc.gathering_state(), GatheringState::New);
    assert_eq!(a.pc.signaling_state(), SignalingState::Stable);
    let ch =
        a.pc.create_data_channel("c", ChannelOptions::default())
            .unwrap();
    a.pc.create_offer().unwrap();
    pump_until(&mut a, &mut b, "offer", |a, _| {
        a.description.is_some() && a.gathering_complete
    });
    assert_eq!(
        a.pc.connection_state(),
        ConnectionState::New,
        "NEW until signalling completes"
    );
    assert_eq!(a.pc.gathering_state(), GatheringState::Complete);
    let offer = a.take_description().expect("offer").sdp;
    a.pc.set_local_description(SdpType::Offer, &offer).unwrap();
    assert_eq!(a.pc.signaling_state(), SignalingState::HaveLocalOffer);
    b.pc.set_remote_description(SdpType::Offer, &offer).unwrap();
    assert_eq!(b.pc.signaling_state(), SignalingState::HaveRemoteOffer);
    pump_until(&mut a, &mut b, "answer", |_, b| b.description.is_some());
    let answer = b.take_description().expect("answer").sdp;
    b.pc.set_local_description(SdpType::Answer, &answer)
        .unwrap();
    assert_eq!(b.pc.signaling_state(), SignalingState::Stable);
    a.pc.set_remote_description(SdpType::Answer, &answer)
        .unwrap();
    assert_eq!(a.pc.signaling_state(), SignalingState::Stable);
    // Applying the answer changes nothing visible before the next poll().
    let mut seen = vec![a.pc.connection_state()];
    pump_until(&mut a, &mut b, "connected", |a, b| {
        let s = a.pc.connection_state();
        if seen.last() != Some(&s) {
            seen.push(s);
        }
        connected(a, b) && ch.ready_state() == ChannelState::Open
    });
    assert_eq!(seen.first(), Some(&ConnectionState::New));
    assert_eq!(seen.last(), Some(&ConnectionState::Connected));
    assert!(
        seen.iter().all(|s| matches!(
            s,
            ConnectionState::New | ConnectionState::Connecting | ConnectionState::Connected
        )),
        "{seen:?}"
    );
    // A healthy connection stays connected.
    Pump::new().hold(&mut a, &mut b, Duration::from_secs(1), |a, b| {
        assert!(connected(a, b));
        assert_eq!(ch.ready_state(), ChannelState::Open);
    });
}

#[test]
fn channel_close_reaches_the_remote() {
    let (mut a, mut b) = connect_pair();
    let (x, y) = open_in_band(&mut a, &mut b, "c", ChannelOptions::default());
    let (keep_x, keep_y) = open_in_band(&mut a, &mut b, "keep", ChannelOptions::default());
    x.send(b"last", true).unwrap();
    x.close();
    assert_eq!(x.ready_state(), ChannelState::Closing);
    assert_eq!(x.send(b"no", true).unwrap_err().kind(), ErrorKind::Closed);
    let mut got = Vec::new();
    pump_until(&mut a, &mut b, "both ends closed", |_, _| {
        while let Some(m) = y.recv() {
            got.push(m);
        }
        x.ready_state() == ChannelState::Closed && y.ready_state() == ChannelState::Closed
    });
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].data.as_ref(), b"last");
    // The connection and other channels are unaffected.
    assert!(connected(&a, &b));
    keep_y.send(b"still", false).unwrap();
    assert_eq!(
        recv_n(&mut a, &mut b, &keep_x, 1)[0].data.as_ref(),
        b"still"
    );
    // Closing from the answerer side works too.
    keep_y.close();
    pump_until(&mut a, &mut b, "closed", |_, _| {
        keep_x.ready_state() == ChannelState::Closed && keep_y.ready_state() == ChannelState::Closed
    });
}

#[test]
fn connection_close_reaches_the_remote() {
    let (mut a, mut b) = connect_pair();
    let (x, y) = open_in_band(&mut a, &mut b, "c", ChannelOptions::default());
    let n1 =
        a.pc.create_data_channel(
            "n",
            ChannelOptions {
                negotiated_id: Some(100),
                ..Default::default()
            },
        )
        .unwrap();
    let n2 =
        b.pc.create_data_channel(
            "n",
            ChannelOptions {
                negotiated_id: Some(100),
                ..Default::default()
            },
        )
        .unwrap();
    pump_until(&mut a, &mut b, "negotiated open", |_, _| {
        n1.ready_state() == ChannelState::Open && n2.ready_state() == ChannelState::Open
    });
    a.pc.close();
    assert_eq!(a.pc.connection_state(), ConnectionState::Closed);
    assert_eq!(a.pc.signaling_state(), SignalingState::Closed);
    assert_eq!(x.ready_state(), ChannelState::Closed);
    assert_eq!(n1.ready_state(), ChannelState::Closed);
    let start = std::time::Instant::now();
    pump_until(&mut a, &mut b, "remote sees the close", |_, b| {
        b.pc.connection_state() == ConnectionState::Closed
            && y.ready_state() == ChannelState::Closed
            && n2.ready_state() == ChannelState::Closed
    });
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "close took {:?}",
        start.elapsed()
    );
    assert_eq!(a.pc.create_offer().unwrap_err().kind(), ErrorKind::Closed);
}

#[test]
fn sixteen_connections_at_once() {
    let mut peers: Vec<(Peer, Peer, DataChannel)> = (0..16)
        .map(|i| {
            let (mut a, b, ch) = peers_with_channel(&format!("c{i}"));
            a.pc.create_offer().unwrap();
            (a, b, ch)
        })
        .collect();
    for (a, b, _) in peers.iter_mut() {
        Pump::new().deliver_offer(a, b);
    }
    for (a, b, _) in peers.iter_mut() {
        Pump::new().deliver_answer(a, b);
    }
    for (i, (a, b, ch)) in peers.iter_mut().enumerate() {
        let remote = until_open(a, b, ch);
        assert_eq!(remote.label(), format!("c{i}"));
        ch.send(format!("hello {i}").as_bytes(), true).unwrap();
    }
    for (i, (a, b, _)) in peers.iter_mut().enumerate() {
        let remote = b.incoming[0].clone();
        assert_eq!(
            recv_n(a, b, &remote, 1)[0].data.as_ref(),
            format!("hello {i}").as_bytes()
        );
        assert!(connected(a, b));
    }
}

#[test]
fn early_remote_candidates_are_buffered() {
    // Gather everything on the offerer first.
    let (mut a, mut b, ch, offer) = gathered_offer();
    // Candidates reach the answerer before the offer does.
    assert!(!a.candidates.is_empty());
    for c in a.candidates.drain(..) {
        b.pc.add_ice_candidate("0", 0, &format!("a={c}")).unwrap();
    }
    b.pc.add_ice_candidate("0", 0, "").unwrap();
    b.pc.set_remote_description(SdpType::Offer, &offer).unwrap();
    pump_until(&mut a, &mut b, "answer", |_, b| b.description.is_some());
    let answer = b.take_description().expect("answer").sdp;
    b.pc.set_local_description(SdpType::Answer, &answer)
        .unwrap();
    // The answerer's candidates also arrive early, before the answer.
    pump_until(&mut a, &mut b, "b gathered", |_, b| b.gathering_complete);
    a.pc.set_remote_description(SdpType::Answer, &answer)
        .unwrap();
    until_open(&mut a, &mut b, &ch);
}

#[test]
fn candidates_inside_the_sdp_without_trickle() {
    // A peer that does not trickle (aiortc) puts its candidates in the SDP.
    let (mut a, mut b, ch, offer) = gathered_offer();
    let mut full = offer.clone();
    for c in a.candidates.drain(..) {
        full.push_str(&format!("a={c}\r\n"));
    }
    full.push_str("a=end-of-candidates\r\n");
    b.pc.set_remote_description(SdpType::Offer, &full).unwrap();
    pump_until(&mut a, &mut b, "answer", |_, b| b.description.is_some());
    let answer = b.take_description().expect("answer").sdp;
    a.pc.set_remote_description(SdpType::Answer, &answer)
        .unwrap();
    until_open(&mut a, &mut b, &ch);
}

#[test]
fn wrong_fingerprint_never_connects() {
    let (mut a, mut b, ch) = peers_with_channel("c");
    Pump::new()
        .rewrite_offer(with_wrong_fingerprint)
        .signal(&mut a, &mut b);
    pump_until(&mut a, &mut b, "failure", |a, b| {
        assert_ne!(a.pc.connection_state(), ConnectionState::Connected);
        assert_ne!(b.pc.connection_state(), ConnectionState::Connected);
        b.pc.connection_state() == ConnectionState::Failed
    });
    assert_ne!(ch.ready_state(), ChannelState::Open);
    assert!(b.incoming.is_empty(), "no channel opens");
    // The other side learns it from the fatal alert.
    pump_until(&mut a, &mut b, "offerer fails too", |a, _| {
        a.pc.connection_state() == ConnectionState::Failed
    });
    assert_eq!(ch.ready_state(), ChannelState::Closed);
}

#[test]
fn wrong_fingerprint_in_the_answer_fails_both_sides() {
    // The offerer (DTLS server) rejects the client's certificate; the client learns it from the
    // fatal alert in the middle of its handshake and must end FAILED too, not wait.
    let (mut a, mut b, ch) = peers_with_channel("c");
    Pump::new()
        .rewrite_answer(with_wrong_fingerprint)
        .signal(&mut a, &mut b);
    let start = std::time::Instant::now();
    pump_until(&mut a, &mut b, "both fail", |a, b| {
        assert_ne!(a.pc.connection_state(), ConnectionState::Connected);
        assert_ne!(b.pc.connection_state(), ConnectionState::Connected);
        a.pc.connection_state() == ConnectionState::Failed
            && b.pc.connection_state() == ConnectionState::Failed
    });
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "the alert was not acted on: {:?}",
        start.elapsed()
    );
    assert_eq!(ch.ready_state(), ChannelState::Closed);
    assert!(b.incoming.is_empty(), "no channel opens");
}
