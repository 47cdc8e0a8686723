mod common;
use common::*;
use webrtc_rs_engine::*;

#[test]
fn malformed_configuration_is_refused_naming_the_entry() {
    let bad = |urls: &[&str], user: Option<&str>| Config {
        ice_servers: vec![
            IceServer {
                urls: vec!["stun:127.0.0.1:3478".into()],
                ..Default::default()
            },
            IceServer {
                urls: urls.iter().map(|s| s.to_string()).collect(),
                username: user.map(str::to_owned),
                credential: user.map(str::to_owned),
            },
        ],
        ..config()
    };
    let e = PeerConnection::new(bad(&["stun:"], None)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidParameter);
    assert_eq!(e.message(), "iceServers[1].urls[0] \"stun:\" has no host");
    for (urls, user, needle) in [
        (&["bogus:host"][..], None, "unsupported scheme"),
        (&["stun:host:0"][..], None, "invalid port"),
        (&["stun:[::1"][..], None, "unterminated"),
        (&["turn:host"][..], None, "username"),
        (
            &["turn:host?transport=quic"][..],
            Some("u"),
            "unsupported transport",
        ),
        (&["nohost"][..], None, "no scheme"),
    ] {
        let e = PeerConnection::new(bad(urls, user)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidParameter);
        assert!(e.message().starts_with("iceServers[1]"), "{e}");
        assert!(e.message().contains(needle), "{e} should mention {needle}");
    }
    let ok = Config {
        ice_servers: vec![IceServer {
            urls: vec![
                "turn:[::1]:3478?transport=udp".into(),
                "turns:127.0.0.1".into(),
            ],
            username: Some("u".into()),
            credential: Some("p".into()),
        }],
        ..config()
    };
    PeerConnection::new(ok).expect("valid TURN URLs are accepted");
}

#[test]
fn malformed_options_are_refused() {
    let mut pc = PeerConnection::new(config()).unwrap();
    let e = pc
        .create_data_channel(
            "x",
            ChannelOptions {
                max_retransmits: Some(1),
                max_packet_lifetime: Some(1),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidParameter);
    assert!(e.message().contains("mutually exclusive"));
    let e = pc
        .create_data_channel(
            "x",
            ChannelOptions {
                negotiated_id: Some(65535),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidParameter);
    pc.create_data_channel(
        "x",
        ChannelOptions {
            negotiated_id: Some(65534),
            ..Default::default()
        },
    )
    .unwrap();
    let e = pc
        .create_data_channel(
            "y",
            ChannelOptions {
                negotiated_id: Some(65534),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(e.message().contains("already exists"));
}

#[test]
fn malformed_sdp_is_refused() {
    let mut pc = PeerConnection::new(config()).unwrap();
    for (sdp, needle) in [
        ("", "empty"),
        ("garbage", "v=0"),
        ("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-ufrag:abcd\r\n", "m=application"),
        ("v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=ice-pwd:xxxxxxxxxxxxxxxxxxxxxxxx\r\n", "ice-ufrag"),
        ("v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=ice-ufrag:abcd\r\na=ice-pwd:xxxxxxxxxxxxxxxxxxxxxxxx\r\n", "fingerprint"),
        ("v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=ice-ufrag:abcd\r\na=ice-pwd:xxxxxxxxxxxxxxxxxxxxxxxx\r\na=fingerprint:sha-256 ZZ\r\n", "fingerprint"),
        ("v=0\r\nm=application x UDP/DTLS/SCTP webrtc-datachannel\r\n", "invalid port"),
        ("v=0\r\nthis is not sdp\r\n", "x=value"),
    ] {
        let e = pc.set_remote_description(SdpType::Offer, sdp).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidParameter, "{sdp:?}");
        assert!(e.message().contains(needle), "{e} should mention {needle}");
    }
    assert_eq!(pc.signaling_state(), SignalingState::Stable);
    assert_eq!(pc.connection_state(), ConnectionState::New);
    // An answer without an offer is a state error.
    let e = pc
        .set_remote_description(SdpType::Answer, "v=0\r\n")
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidState);
    // set_local_description must get back what we produced.
    assert_eq!(
        pc.set_local_description(SdpType::Offer, "v=0")
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidState
    );
    let mut other = Peer::new(config());
    other.pc.create_offer().unwrap();
    let mut me = Peer {
        pc,
        description: None,
        candidates: vec![],
        incoming: vec![],
        gathering_complete: false,
        buffered_low: vec![],
        errors: vec![],
    };
    me.pc.create_offer().unwrap();
    pump_until(&mut me, &mut other, "offers", |a, b| {
        a.description.is_some() && b.description.is_some()
    });
    let foreign = other.take_description().expect("the other offer").sdp;
    let e = me
        .pc
        .set_local_description(SdpType::Offer, &foreign)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidParameter);
    let mine = me.take_description().expect("my offer").sdp;
    assert_eq!(
        me.pc
            .set_local_description(SdpType::Answer, &mine)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidState
    );
    me.pc.set_local_description(SdpType::Offer, &mine).unwrap();
    assert_eq!(me.pc.signaling_state(), SignalingState::HaveLocalOffer);
}

#[test]
fn offer_with_media_sections_is_answered_with_them_rejected() {
    let mut a = Peer::new(config());
    let mut b = Peer::new(config());
    a.pc.create_offer().unwrap();
    pump_until(&mut a, &mut b, "offer", |a, _| a.description.is_some());
    let offer = a.take_description().expect("offer").sdp;
    let (head, app) = offer.split_at(offer.find("m=application").unwrap());
    let with_media = format!(
        "{head}m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:audio\r\n{}m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:video\r\n",
        app.replace("a=mid:0", "a=mid:data")
    );
    b.pc.set_remote_description(SdpType::Offer, &with_media)
        .unwrap();
    pump_until(&mut a, &mut b, "answer", |_, b| b.description.is_some());
    let answer = b.take_description().expect("answer").sdp;
    let mlines: Vec<&str> = answer.lines().filter(|l| l.starts_with("m=")).collect();
    assert_eq!(mlines.len(), 3);
    assert!(mlines[0].starts_with("m=audio 0 "));
    assert!(mlines[1].starts_with("m=application 9 "));
    assert!(mlines[2].starts_with("m=video 0 "));
    assert!(answer.contains("a=mid:data"));
    // Candidates name the data section.
    pump_until(&mut a, &mut b, "candidate", |_, b| {
        !b.candidates.is_empty() || b.gathering_complete
    });
}

#[test]
fn malformed_candidates_are_refused() {
    let mut pc = PeerConnection::new(config()).unwrap();
    for bad in [
        "candidate:1 1 udp",
        "candidate:1 1 udp notanumber 127.0.0.1 5000 typ host",
        "candidate:1 1 udp 1 127.0.0.1 70000 typ host",
        "candidate:1 1 udp 1 127.0.0.1 5000 typ nonsense",
        "hello world",
    ] {
        let e = pc.add_ice_candidate("0", 0, bad).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidParameter, "{bad}");
        assert!(e.message().contains("ICE candidate"), "{e}");
    }
    // Accepted forms, including browser extensions, TCP (ignored) and mDNS names.
    for good in [
        "candidate:1 1 UDP 2122317823 127.0.0.1 54321 typ host generation 0 network-id 1 network-cost 10",
        "a=candidate:2 1 udp 1686052607 203.0.113.7 61000 typ srflx raddr 10.0.0.2 rport 61000",
        "candidate:3 1 TCP 1518280447 127.0.0.1 9 typ host tcptype active",
        "candidate:4 1 udp 2122317823 0c5e8a3b-1111-2222-3333-444455556666.local 5000 typ host",
        "",
    ] {
        pc.add_ice_candidate("0", 0, good).unwrap();
    }
}
