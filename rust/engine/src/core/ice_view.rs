//! The picture of ICE that statistics and failure reports show: the selected pair, its
//! round-trip time, and every pair with how its checks went, read from rtc-ice's agent.

use crate::failure::{FailureReport, PairReport, PairState};
use crate::stats::{CandidateType, IceView, PairEnds};
use rtc_ice::candidate::candidate_pair::CandidatePairState;
use rtc_ice::candidate::Candidate;
use rtc_ice::Agent;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Reads the agent. `None` once it forgot its pairs (after a failure or close).
pub(super) fn read(agent: &Agent, now: Instant) -> IceView {
    let locals = agent.get_local_candidates();
    let remotes = agent.get_remote_candidates();
    let by_id: HashMap<&str, &Candidate> = locals
        .iter()
        .chain(remotes.iter())
        .map(|c| (c.id(), c))
        .collect();
    let selected_ids = agent
        .get_selected_candidate_pair()
        .map(|(l, r)| (l.id().to_owned(), r.id().to_owned()));
    let mut rtt = None;
    let mut pairs = Vec::new();
    for s in agent.get_candidate_pairs_stats(now) {
        let (Some(l), Some(r)) = (
            by_id.get(s.local_candidate_id.as_str()),
            by_id.get(s.remote_candidate_id.as_str()),
        ) else {
            continue;
        };
        let selected = selected_ids
            .as_ref()
            .is_some_and(|(sl, sr)| *sl == s.local_candidate_id && *sr == s.remote_candidate_id);
        let measured = (s.responses_received > 0 && s.current_round_trip_time > 0.0)
            .then(|| Duration::from_secs_f64(s.current_round_trip_time));
        if selected {
            rtt = measured;
        }
        pairs.push(PairReport {
            local_type: CandidateType::from_ice(l.candidate_type()),
            local_address: l.addr(),
            remote_type: CandidateType::from_ice(r.candidate_type()),
            remote_address: r.addr(),
            state: state(s.state, s.requests_sent),
            selected,
            requests_sent: s.requests_sent,
            responses_received: s.responses_received,
            rtt_ms: measured.map(|d| d.as_secs_f64() * 1000.0),
        });
    }
    pairs.sort_by_key(|p| (!p.selected, rank(p.state)));
    let pairs_omitted = pairs.len().saturating_sub(FailureReport::MAX_PAIRS);
    pairs.truncate(FailureReport::MAX_PAIRS);
    let selected = agent.get_selected_candidate_pair().map(|(l, r)| PairEnds {
        local_type: CandidateType::from_ice(l.candidate_type()),
        local_address: l.addr(),
        remote_type: CandidateType::from_ice(r.candidate_type()),
        remote_address: r.addr(),
    });
    IceView {
        selected,
        rtt,
        pairs,
        pairs_omitted,
        local_candidates: locals.len(),
        remote_candidates: remotes.len(),
    }
}

fn state(s: CandidatePairState, requests_sent: u64) -> PairState {
    match s {
        CandidatePairState::Succeeded => PairState::Succeeded,
        CandidatePairState::Failed => PairState::Failed,
        CandidatePairState::InProgress | CandidatePairState::Waiting if requests_sent > 0 => {
            PairState::InProgress
        }
        _ => PairState::NotTried,
    }
}

/// The order pairs are listed in after the selected one: the most advanced first.
fn rank(s: PairState) -> u8 {
    match s {
        PairState::Succeeded => 0,
        PairState::InProgress => 1,
        PairState::Failed => 2,
        PairState::NotTried => 3,
    }
}
