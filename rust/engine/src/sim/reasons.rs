//! Each way a connection ends reports the reason that says why (`failure.rs`), and what it
//! publishes for statistics and the failure report matches what happened on the wire. On the
//! virtual clock, so each case takes milliseconds.

use super::*;
use crate::failure::{ErrorReason, PairState};
use crate::types::ConnectionState::{Closed, Failed};

const LIMIT: Duration = Duration::from_secs(40);

fn ended(sim: &Sim) -> bool {
    [A, B]
        .iter()
        .all(|w| matches!(sim.side(*w).state(), Failed | Closed))
}

#[test]
fn a_dtls_handshake_nobody_starts_is_a_dtls_failure() {
    let mut sim = Sim::new(SimConfig::default());
    sim.signal_with(|_, d| d.setup = Setup::Active);
    assert!(sim.run_until(LIMIT, ended));
    for who in [A, B] {
        assert_eq!(
            sim.side(who).error_reasons(),
            [ErrorReason::DtlsHandshakeFailed],
            "{who:?}"
        );
    }
}

#[test]
fn an_association_that_never_forms_is_an_sctp_failure() {
    let mut sim = Sim::new(SimConfig::default());
    sim.set_filter(A, drop_application_data());
    sim.set_filter(B, drop_application_data());
    sim.signal();
    assert!(sim.run_until(LIMIT, ended));
    assert_eq!(sim.a().error_reasons(), [ErrorReason::SctpAborted]);
    // B's own deadline and A's close_notify are due at the same instant (see deadlines.rs).
    let b = sim.b().error_reasons();
    assert!(
        b == [ErrorReason::SctpAborted] || b == [ErrorReason::ClosedByRemote],
        "{b:?}"
    );
    let report = sim.a().stats.failure_report();
    assert_eq!(
        report.error.map(|e| e.reason),
        Some(ErrorReason::SctpAborted)
    );
}

#[test]
fn checks_never_answered_mean_no_candidate_pair_and_every_pair_failed() {
    let mut sim = Sim::new(SimConfig::default());
    sim.cut_path();
    sim.signal();
    assert!(sim.run_until(LIMIT, ended));
    for who in [A, B] {
        let side = sim.side(who);
        assert_eq!(
            side.error_reasons(),
            [ErrorReason::NoCandidatePair],
            "{who:?}"
        );
        let report = side.stats.failure_report();
        assert_eq!(report.pairs.len(), 1, "{who:?}: {report:?}");
        let pair = &report.pairs[0];
        assert_eq!(pair.state, PairState::Failed, "{who:?}: {pair:?}");
        assert!(pair.requests_sent > 0 && pair.responses_received == 0);
        assert_eq!(pair.remote_address, sim.side(who.other()).addr);
        assert!(!pair.selected);
        assert_eq!((report.local_candidates, report.remote_candidates), (1, 1));
    }
}

#[test]
fn a_remote_that_vanishes_is_consent_lost() {
    let mut sim = Sim::connected();
    sim.run_for(Duration::from_secs(3));
    let stats = sim.a().stats.stats();
    let pair = stats.selected_pair.expect("a selected pair");
    assert_eq!(pair.remote_address, sim.b().addr);
    assert!(!pair.relayed());
    // The round trip of a consent check: one latency each way, no more.
    assert_eq!(stats.rtt, Some(2 * sim.latency()));
    assert_eq!(
        stats.dtls_cipher.as_deref(),
        Some("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")
    );
    sim.cut_path();
    assert!(sim.run_until(LIMIT, |s| s.a().state() == Failed
        && s.b().state() == Failed));
    for who in [A, B] {
        let side = sim.side(who);
        assert_eq!(side.error_reasons(), [ErrorReason::ConsentLost], "{who:?}");
        let report = side.stats.failure_report();
        let selected: Vec<_> = report.pairs.iter().filter(|p| p.selected).collect();
        assert_eq!(selected.len(), 1, "{report:?}");
        assert_eq!(selected[0].state, PairState::Succeeded);
    }
}

#[test]
fn the_remote_closing_is_closed_by_remote_and_the_closer_reports_nothing() {
    let mut sim = Sim::connected();
    sim.close(B);
    assert!(sim.run_until(LIMIT, |s| s.a().state() == Closed));
    assert_eq!(sim.a().error_reasons(), [ErrorReason::ClosedByRemote]);
    assert!(sim.b().error_reasons().is_empty());
}
