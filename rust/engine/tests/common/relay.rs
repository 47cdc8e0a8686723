//! Signaling two peers through the impairing relay (`rust/impair`).

use impair::{End, Relay};
use webrtc_rs_test_pump::{Origin, Pump};

/// A pump whose signaling points every candidate (and any inline one) at `relay`.
pub fn through(relay: &Relay) -> Pump<'_> {
    Pump::new()
        .rewrite_candidates(|from, line| relay.rewrite_candidate(end(from), line))
        .rewrite_offer(|sdp| relay.rewrite_sdp(End::A, sdp))
        .rewrite_answer(|sdp| relay.rewrite_sdp(End::B, sdp))
}

fn end(origin: Origin) -> End {
    match origin {
        Origin::A => End::A,
        Origin::B => End::B,
    }
}
