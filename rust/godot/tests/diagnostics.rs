//! What `get_stats()`, `get_failure_report()` and `connection_error` give a script, from two
//! glue sessions connected over loopback UDP (real ICE, DTLS and SCTP).

mod common;
use common::*;
use webrtc_rs::diagnostics::{failure_report_value, stats_value};
use webrtc_rs::value::{lookup, Value};
use webrtc_rs_engine::{ChannelState, ConnectionState, ErrorReason};

fn dict(v: &Value) -> &[(String, Value)] {
    match v {
        Value::Dict(entries) => entries,
        other => panic!("not a Dictionary: {other:?}"),
    }
}

fn get<'v>(entries: &'v [(String, Value)], key: &str) -> &'v Value {
    lookup(entries, key).unwrap_or_else(|| panic!("no key {key:?} in {entries:?}"))
}

fn int(entries: &[(String, Value)], key: &str) -> i64 {
    match get(entries, key) {
        Value::Int(i) => *i,
        other => panic!("{key} is not an int: {other:?}"),
    }
}

fn keys(entries: &[(String, Value)]) -> Vec<&str> {
    entries.iter().map(|(k, _)| k.as_str()).collect()
}

#[test]
fn get_stats_has_every_key_and_counts_what_was_sent() {
    let mut pair = Pair::new();
    let (a, mut b) = pair.connect_negotiated(3);
    for size in [0usize, 10, 1000] {
        a.send(&vec![7; size]).expect("send");
    }
    let mut got = 0;
    assert!(pair.pump(|_, _| {
        while b.next_packet().is_some() {
            got += 1;
        }
        got == 3
    }));
    let stats = stats_value(&pair.a.stats());
    let s = dict(&stats);
    assert_eq!(
        keys(s),
        [
            "rtt_ms",
            "bytes_sent",
            "bytes_received",
            "messages_sent",
            "messages_received",
            "retransmissions",
            "selected_pair",
            "dtls_cipher",
            "sctp_cwnd",
            "connected_msec",
            "channels"
        ]
    );
    assert!(matches!(get(s, "rtt_ms"), Value::Float(ms) if *ms > 0.0 && *ms < 100.0));
    assert_eq!(int(s, "messages_sent"), 3);
    assert_eq!(int(s, "messages_received"), 0);
    assert!(int(s, "bytes_sent") > 1010 && int(s, "bytes_received") > 0);
    assert_eq!(int(s, "retransmissions"), 0);
    assert_eq!(int(s, "sctp_cwnd"), -1);
    assert!(int(s, "connected_msec") >= 0);
    assert_eq!(
        get(s, "dtls_cipher"),
        &Value::Str("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256".into())
    );
    let pair_entries = dict(get(s, "selected_pair"));
    assert_eq!(
        keys(pair_entries),
        [
            "local_type",
            "remote_type",
            "local_address",
            "remote_address",
            "protocol",
            "relayed"
        ]
    );
    assert_eq!(get(pair_entries, "local_type"), &Value::Str("host".into()));
    assert_eq!(get(pair_entries, "protocol"), &Value::Str("udp".into()));
    assert_eq!(get(pair_entries, "relayed"), &Value::Bool(false));
    assert!(
        matches!(get(pair_entries, "local_address"), Value::Str(a) if a.starts_with("127.0.0.1:"))
    );
    let Value::Array(channels) = get(s, "channels") else {
        panic!("channels is not an Array")
    };
    assert_eq!(channels.len(), 1);
    let c = dict(&channels[0]);
    assert_eq!(
        keys(c),
        [
            "label",
            "id",
            "bytes_sent",
            "bytes_received",
            "messages_sent",
            "messages_received",
            "buffered_amount"
        ]
    );
    assert_eq!(get(c, "label"), &Value::Str("n".into()));
    assert_eq!(int(c, "id"), 3);
    assert_eq!((int(c, "messages_sent"), int(c, "bytes_sent")), (3, 1010));
    assert!(int(c, "buffered_amount") >= 0);
    let remote = stats_value(&pair.b.stats());
    let rc = match get(dict(&remote), "channels") {
        Value::Array(list) => dict(&list[0]).to_vec(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        (int(&rc, "messages_received"), int(&rc, "bytes_received")),
        (3, 1010)
    );
}

#[test]
fn a_fresh_session_reports_unknowns_not_errors() {
    let session = webrtc_rs::session::Session::new(loopback());
    let stats = stats_value(&session.stats());
    let s = dict(&stats);
    assert_eq!(get(s, "rtt_ms"), &Value::Float(-1.0));
    assert_eq!(get(s, "selected_pair"), &Value::Dict(Vec::new()));
    assert_eq!(int(s, "connected_msec"), -1);
    let report = failure_report_value(&session.failure_report());
    assert_eq!(int(dict(&report), "reason"), -1);
}

#[test]
fn the_remote_closing_emits_connection_error_and_fills_the_report() {
    let mut pair = Pair::new();
    let (a, _b) = pair.connect_negotiated(1);
    pair.b.close();
    assert!(pair.pump(
        |a_side, _| a_side.connection_state() == ConnectionState::Closed
            && !a_side.errors.is_empty()
    ));
    assert_eq!(a.ready_state(), ChannelState::Closed);
    assert_eq!(pair.a.errors.len(), 1, "{:?}", pair.a.errors);
    let (reason, message) = &pair.a.errors[0];
    assert_eq!(*reason, ErrorReason::ClosedByRemote as i64);
    assert_eq!(
        *reason, 7,
        "the value scripts compare with ERROR_CLOSED_BY_REMOTE"
    );
    assert!(!message.is_empty());
    let report = failure_report_value(&pair.a.failure_report());
    let r = dict(&report);
    assert_eq!(int(r, "reason"), 7);
    assert_eq!(get(r, "message"), &Value::Str(message.clone()));
    let Value::Array(pairs) = get(r, "candidate_pairs") else {
        panic!("candidate_pairs is not an Array")
    };
    let selected: Vec<_> = pairs
        .iter()
        .map(|p| dict(p).to_vec())
        .filter(|p| get(p, "selected") == &Value::Bool(true))
        .collect();
    assert_eq!(selected.len(), 1, "{pairs:?}");
    assert_eq!(get(&selected[0], "state"), &Value::Str("succeeded".into()));
    assert!(int(&selected[0], "requests_sent") > 0);
    assert_eq!(int(r, "local_candidates"), 1);
}
