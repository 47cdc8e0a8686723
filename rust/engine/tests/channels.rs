mod common;
use common::*;
use webrtc_rs_engine::*;

fn options() -> Vec<ChannelOptions> {
    let mut all = Vec::new();
    for ordered in [true, false] {
        for (rtx, life) in [
            (None, None),
            (Some(0), None),
            (Some(3), None),
            (None, Some(100)),
        ] {
            all.push(ChannelOptions {
                ordered,
                max_retransmits: rtx,
                max_packet_lifetime: life,
                protocol: format!("proto-{ordered}-{rtx:?}-{life:?}"),
                negotiated_id: None,
            });
        }
    }
    all
}

#[test]
fn every_option_combination_is_seen_by_the_remote() {
    let mut a = Peer::new(config());
    let mut b = Peer::new(config());
    // Created before signalling: they open once SCTP is up.
    let local: Vec<DataChannel> = options()
        .into_iter()
        .enumerate()
        .map(|(i, o)| a.pc.create_data_channel(&format!("ch{i}"), o).unwrap())
        .collect();
    for ch in &local {
        assert_eq!(ch.id(), None, "in-band id unknown before the DTLS role");
        assert_eq!(ch.ready_state(), ChannelState::Connecting);
    }
    signal(&mut a, &mut b);
    let n = local.len();
    pump_until(&mut a, &mut b, "all channels open", |_, b| {
        b.incoming.len() == n && local.iter().all(|c| c.ready_state() == ChannelState::Open)
    });
    for ch in &local {
        let remote = b
            .incoming
            .iter()
            .find(|r| r.label() == ch.label())
            .expect("remote channel with the same label");
        assert_eq!(remote.protocol(), ch.protocol());
        assert_eq!(remote.ordered(), ch.ordered());
        assert_eq!(remote.max_retransmits(), ch.max_retransmits());
        assert_eq!(remote.max_packet_lifetime(), ch.max_packet_lifetime());
        assert!(!remote.negotiated());
        assert_eq!(remote.id(), ch.id());
        // Offerer is the DTLS server (the answer says active): odd in-band ids.
        assert_eq!(ch.id().unwrap() % 2, 1);
    }
    // Each channel carries data both ways.
    for ch in &local {
        let remote = b
            .incoming
            .iter()
            .find(|r| r.label() == ch.label())
            .unwrap()
            .clone();
        ch.send(ch.label().as_bytes(), true).unwrap();
        let got = recv_n(&mut a, &mut b, &remote, 1);
        assert_eq!(got[0].data.as_ref(), ch.label().as_bytes());
    }
}

#[test]
fn negotiated_channels_with_options() {
    let mut a = Peer::new(config());
    let mut b = Peer::new(config());
    let mut pairs = Vec::new();
    for (i, o) in options().into_iter().enumerate() {
        let o = ChannelOptions {
            negotiated_id: Some(i as u16 * 7 + 1),
            ..o
        };
        let x =
            a.pc.create_data_channel(&format!("n{i}"), o.clone())
                .unwrap();
        let y = b.pc.create_data_channel(&format!("n{i}"), o).unwrap();
        assert!(x.negotiated());
        assert_eq!(x.id(), Some(i as u16 * 7 + 1));
        pairs.push((x, y));
    }
    // Godot's WebRTCMultiplayerPeer needs NEW after channels exist.
    assert_eq!(a.pc.connection_state(), ConnectionState::New);
    signal(&mut a, &mut b);
    pump_until(&mut a, &mut b, "negotiated open", |_, _| {
        pairs.iter().all(|(x, y)| {
            x.ready_state() == ChannelState::Open && y.ready_state() == ChannelState::Open
        })
    });
    for (x, y) in &pairs {
        x.send(b"ping", false).unwrap();
        let got = recv_n(&mut a, &mut b, y, 1);
        assert_eq!(got[0].data.as_ref(), b"ping");
        y.send(b"pong", true).unwrap();
        let got = recv_n(&mut a, &mut b, x, 1);
        assert_eq!(got[0].data.as_ref(), b"pong");
        assert!(got[0].is_text);
    }
    assert!(
        a.incoming.is_empty() && b.incoming.is_empty(),
        "no DataChannel event for negotiated channels"
    );
}

#[test]
fn channel_created_after_connection_and_several_channels() {
    let (mut a, mut b) = connect_pair();
    let mut pairs = Vec::new();
    for i in 0..5 {
        pairs.push(open_in_band(
            &mut a,
            &mut b,
            &format!("late{i}"),
            ChannelOptions::default(),
        ));
    }
    // From the answerer side too (DTLS client: even ids).
    let (bx, ax) = open_in_band(&mut b, &mut a, "from-b", ChannelOptions::default());
    assert_eq!(bx.id().unwrap() % 2, 0);
    assert_eq!(ax.label(), "from-b");
    for (i, (x, y)) in pairs.iter().enumerate() {
        x.send(format!("m{i}").as_bytes(), true).unwrap();
        let got = recv_n(&mut a, &mut b, y, 1);
        assert_eq!(got[0].data.as_ref(), format!("m{i}").as_bytes());
    }
    let ids: std::collections::HashSet<u16> = pairs.iter().map(|(x, _)| x.id().unwrap()).collect();
    assert_eq!(ids.len(), 5, "distinct stream ids");
}

#[test]
fn dtls_client_role_on_the_offerer() {
    // Offer says a=setup:active, so the answerer must be the DTLS server: the offerer's
    // in-band channels then use even ids.
    let (mut a, mut b, ch) = peers_with_channel("role");
    Pump::new()
        .rewrite_offer(|sdp| sdp.replace("a=setup:actpass", "a=setup:active"))
        .rewrite_answer(|sdp| {
            assert!(sdp.contains("a=setup:passive"));
            sdp.to_owned()
        })
        .signal(&mut a, &mut b);
    let remote = until_open(&mut a, &mut b, &ch);
    assert_eq!(ch.id().unwrap() % 2, 0);
    ch.send(b"x", false).unwrap();
    assert_eq!(recv_n(&mut a, &mut b, &remote, 1)[0].data.as_ref(), b"x");
}
