//! Each failure, provoked for real over UDP on loopback, is reported with the reason that
//! names it (`Event::ConnectionError`), and `failure_report()` shows what was tried.
//! (TURN credentials refused by coturn: `tests/turn.rs`; the deadlines that take 10 or 30 s:
//! the virtual-clock tests in `src/sim/reasons.rs`.)

mod common;

use common::*;
use impair::{Impairment, Relay};
use std::net::UdpSocket;
use std::time::Duration;
use webrtc_rs_engine::failure::{PairState, ServerOutcome};
use webrtc_rs_engine::*;

/// Liveness for tests that wait for a failure: FAILED after 1 s of silence.
fn quick() -> Config {
    Config {
        liveness: Liveness {
            disconnected_after: Duration::from_millis(400),
            failed_after: Duration::from_millis(1000),
            keepalive_interval: Duration::from_millis(100),
        },
        ..config()
    }
}

/// A UDP port on loopback that receives and never answers (kept open by the returned socket).
fn silent_port() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").expect("bind a silent socket")
}

fn reasons(p: &Peer) -> Vec<ErrorReason> {
    p.errors.iter().map(|e| e.reason).collect()
}

#[test]
fn an_unreachable_stun_server_is_reported_and_the_connection_still_connects() {
    let silent = silent_port();
    let url = format!("stun:{}", silent.local_addr().expect("address"));
    let with_stun = Config {
        ice_servers: vec![IceServer {
            urls: vec![url.clone()],
            ..IceServer::default()
        }],
        ..config()
    };
    let mut a = Peer::new(with_stun);
    let mut b = Peer::new(config());
    connect(&mut a, &mut b);
    // Five Binding requests 500 ms apart, then it gives up.
    Pump::new().until_one(&mut a, "the STUN server given up", |a| !a.errors.is_empty());
    assert_eq!(reasons(&a), [ErrorReason::IceServerUnreachable]);
    assert!(a.errors[0].message.contains(&url), "{:?}", a.errors[0]);
    assert!(connected(&a, &b), "host candidates still work");
    let report = a.pc.failure_report();
    assert_eq!(report.error, None, "nothing ended the connection");
    assert_eq!(report.servers.len(), 1, "{report:?}");
    let server = &report.servers[0];
    assert_eq!(server.url, url);
    assert_eq!(server.address, silent.local_addr().ok());
    assert_eq!(server.outcome, ServerOutcome::NoAnswer);
    assert!(server.local_address.is_some());
    // The connection succeeded over the selected pair, which the report shows.
    assert!(report
        .pairs
        .iter()
        .any(|p| p.selected && p.state == PairState::Succeeded));
}

#[test]
fn a_tampered_fingerprint_is_a_mismatch_for_one_side_and_a_dtls_failure_for_the_other() {
    let mut a = Peer::new(config());
    let mut b = Peer::new(config());
    a.pc.create_data_channel("c", ChannelOptions::default())
        .expect("channel");
    Pump::new()
        .rewrite_offer(|sdp| {
            let line = sdp
                .lines()
                .find(|l| l.starts_with("a=fingerprint:"))
                .expect("a fingerprint line");
            let mut tampered = line.to_owned();
            let last = tampered.pop().expect("a digit");
            tampered.push(if last == '0' { '1' } else { '0' });
            sdp.replace(line, &tampered)
        })
        .signal(&mut a, &mut b);
    pump_until(&mut a, &mut b, "both failed", |a, b| {
        a.pc.connection_state() == ConnectionState::Failed
            && b.pc.connection_state() == ConnectionState::Failed
    });
    // B checks A's certificate against the tampered fingerprint; A hears B's alert.
    assert_eq!(reasons(&b), [ErrorReason::FingerprintMismatch]);
    assert_eq!(reasons(&a), [ErrorReason::DtlsHandshakeFailed]);
    assert_eq!(
        b.pc.failure_report().error.map(|e| e.reason),
        Some(ErrorReason::FingerprintMismatch)
    );
}

#[test]
fn a_remote_that_vanishes_is_consent_lost() {
    let relay = Relay::symmetric(Impairment::default(), 21).expect("relay");
    let mut a = Peer::new(quick());
    let mut b = Peer::new(quick());
    through(&relay).connect(&mut a, &mut b);
    // Nothing gets through any more, no close, no alert: the remote is gone.
    relay.cut(Duration::from_secs(60));
    through(&relay).until(&mut a, &mut b, "both failed", |a, b| {
        a.pc.connection_state() == ConnectionState::Failed
            && b.pc.connection_state() == ConnectionState::Failed
    });
    for p in [&a, &b] {
        assert_eq!(reasons(p), [ErrorReason::ConsentLost], "{:?}", p.errors);
        let report = p.pc.failure_report();
        assert_eq!(
            report.error.map(|e| e.reason),
            Some(ErrorReason::ConsentLost)
        );
        assert!(report
            .pairs
            .iter()
            .any(|p| p.selected && p.state == PairState::Succeeded));
    }
}

#[test]
fn the_remote_closing_is_closed_by_remote() {
    let (mut a, mut b) = connect_pair();
    b.pc.close();
    pump_until(&mut a, &mut b, "A closed", |a, _| {
        a.pc.connection_state() == ConnectionState::Closed
    });
    assert_eq!(reasons(&a), [ErrorReason::ClosedByRemote]);
    assert!(
        reasons(&b).is_empty(),
        "the side that closed reports nothing"
    );
}

#[test]
fn checks_nobody_answers_mean_no_candidate_pair_and_the_report_shows_the_pairs() {
    // Every candidate each side hears of points at a port that never answers.
    let silent = silent_port();
    let port = silent.local_addr().expect("address").port().to_string();
    let mut a = Peer::new(quick());
    let mut b = Peer::new(quick());
    let mut pump = Pump::new().rewrite_candidates(|_, line| {
        let mut fields: Vec<&str> = line.split(' ').collect();
        fields[5] = &port;
        Some(fields.join(" "))
    });
    pump.signal(&mut a, &mut b);
    pump.until(&mut a, &mut b, "both failed", |a, b| {
        a.pc.connection_state() == ConnectionState::Failed
            && b.pc.connection_state() == ConnectionState::Failed
    });
    for p in [&a, &b] {
        assert_eq!(reasons(p), [ErrorReason::NoCandidatePair], "{:?}", p.errors);
        let report = p.pc.failure_report();
        assert_eq!((report.local_candidates, report.remote_candidates), (1, 1));
        assert_eq!(report.pairs.len(), 1, "{report:?}");
        let pair = &report.pairs[0];
        assert_eq!(pair.state, PairState::Failed);
        assert_eq!(pair.remote_address, silent.local_addr().expect("address"));
        assert!(pair.requests_sent > 0 && pair.responses_received == 0);
        assert!(!pair.selected);
        assert!(report.servers.is_empty());
    }
}
