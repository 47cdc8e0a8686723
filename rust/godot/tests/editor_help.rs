//! Every key, constant, signal and monitor of the diagnostics API is described in the editor
//! help (`doc/WebRtcRsPeerConnection.xml`), so the help cannot fall behind the code.

use std::time::Duration;
use webrtc_rs::diagnostics::{failure_report_value, reason_constants, stats_value};
use webrtc_rs::monitors::MONITORS;
use webrtc_rs::value::Value;
use webrtc_rs_engine::failure::{PairReport, PairState, ServerOutcome, ServerReport};
use webrtc_rs_engine::stats::{CandidateType, SelectedPair};
use webrtc_rs_engine::{ChannelStats, FailureReport, Stats};

const XML: &str = include_str!("../doc/WebRtcRsPeerConnection.xml");

/// Every dictionary key in `v`, nested ones included.
fn all_keys(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Dict(entries) => {
            for (k, item) in entries {
                out.push(k.clone());
                all_keys(item, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| all_keys(i, out)),
        _ => {}
    }
}

fn addr() -> std::net::SocketAddr {
    "127.0.0.1:5000".parse().expect("address")
}

#[test]
fn every_stats_and_report_key_is_described() {
    let stats = Stats {
        rtt: Some(Duration::from_millis(1)),
        selected_pair: Some(SelectedPair {
            local_type: CandidateType::Host,
            remote_type: CandidateType::Relay,
            local_address: addr(),
            remote_address: addr(),
            protocol: "udp",
        }),
        channels: vec![ChannelStats {
            label: "c".into(),
            id: Some(1),
            bytes_sent: 0,
            bytes_received: 0,
            messages_sent: 0,
            messages_received: 0,
            buffered_amount: 0,
        }],
        ..Stats::default()
    };
    let report = FailureReport {
        servers: vec![ServerReport {
            url: "stun:s".into(),
            address: Some(addr()),
            local_address: Some(addr()),
            outcome: ServerOutcome::NoAnswer,
        }],
        pairs: vec![PairReport {
            local_type: CandidateType::Host,
            local_address: addr(),
            remote_type: CandidateType::Host,
            remote_address: addr(),
            state: PairState::Failed,
            selected: false,
            requests_sent: 1,
            responses_received: 0,
            rtt_ms: None,
        }],
        ..FailureReport::default()
    };
    let mut keys = Vec::new();
    all_keys(&stats_value(&stats), &mut keys);
    all_keys(&failure_report_value(&report), &mut keys);
    for key in keys {
        assert!(
            XML.contains(&format!("[code]{key}[/code]")),
            "the editor help does not describe the key {key:?}"
        );
    }
    for value in [
        "srflx",
        "relay",
        "no_answer",
        "dns_failed",
        "auth_failed",
        "refused",
    ] {
        assert!(
            XML.contains(&format!("[code]\"{value}\"[/code]")),
            "{value}"
        );
    }
    for state in ["succeeded", "failed", "in_progress", "not_tried"] {
        assert!(
            XML.contains(&format!("[code]\"{state}\"[/code]")),
            "{state}"
        );
    }
}

#[test]
fn methods_signal_constants_and_monitors_are_described() {
    for method in ["get_stats", "get_failure_report"] {
        assert!(
            XML.contains(&format!("<method name=\"{method}\"")),
            "{method}"
        );
    }
    assert!(XML.contains("<signal name=\"connection_error\">"));
    for (name, value) in reason_constants() {
        assert!(
            XML.contains(&format!(
                "<constant name=\"{name}\" value=\"{value}\" enum=\"ConnectionErrorReason\">"
            )),
            "{name} = {value}"
        );
    }
    for (id, _) in MONITORS {
        assert!(XML.contains(&format!("[code]{id}[/code]")), "{id}");
    }
    assert!(
        XML.matches("[codeblock]").count() >= 3,
        "a GDScript example for each"
    );
}
