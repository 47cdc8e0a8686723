//! The pump against scripted sides: what it carries, in which order, and what the hooks do.

use std::time::Duration;
use webrtc_rs_test_pump::*;

/// A side that yields what it was scripted to, one signal batch per poll, and records what it
/// was given.
#[derive(Debug, Default)]
struct Scripted {
    /// Batches for the next polls: candidate lines, and a description after an offer/answer.
    batches: Vec<Vec<String>>,
    yielded_candidates: Vec<Candidate>,
    yielded_description: Option<Description>,
    offering: bool,
    remote_candidates: Vec<String>,
    local: Option<Description>,
    remote: Option<Description>,
}

impl Scripted {
    fn with_candidates(lines: &[&str]) -> Self {
        Self {
            batches: lines.iter().map(|l| vec![l.to_string()]).collect(),
            ..Self::default()
        }
    }
}

impl Side for Scripted {
    fn poll_signals(&mut self) {
        if self.offering {
            self.offering = false;
            self.yielded_description = Some(Description {
                kind: SdpKind::Offer,
                sdp: "offer sdp".into(),
            });
        }
        if !self.batches.is_empty() {
            for line in self.batches.remove(0) {
                self.yielded_candidates.push(Candidate {
                    mid: "m".into(),
                    index: 3,
                    line,
                });
            }
        }
    }
    fn drain_candidates(&mut self) -> Vec<Candidate> {
        std::mem::take(&mut self.yielded_candidates)
    }
    fn add_remote_candidate(&mut self, candidate: &Candidate) {
        assert_eq!((candidate.mid.as_str(), candidate.index), ("m", 3));
        self.remote_candidates.push(candidate.line.clone());
    }
    fn start_offer(&mut self) {
        self.offering = true;
    }
    fn has_description(&self) -> bool {
        self.yielded_description.is_some()
    }
    fn take_description(&mut self) -> Option<Description> {
        self.yielded_description.take()
    }
    fn apply_local(&mut self, description: &Description) {
        self.local = Some(description.clone());
    }
    fn apply_remote(&mut self, description: &Description) {
        self.remote = Some(description.clone());
        if description.kind == SdpKind::Offer {
            self.yielded_description = Some(Description {
                kind: SdpKind::Answer,
                sdp: "answer sdp".into(),
            });
        }
    }
    fn is_connected(&self) -> bool {
        self.local.is_some() && self.remote.is_some()
    }
}

#[test]
fn candidates_cross_over_in_order() {
    let mut a = Scripted::with_candidates(&["a1", "a2"]);
    let mut b = Scripted::with_candidates(&["b1"]);
    pump_until(&mut a, &mut b, "candidates", |a, b| {
        a.remote_candidates.len() == 1 && b.remote_candidates.len() == 2
    });
    assert_eq!(b.remote_candidates, ["a1", "a2"]);
    assert_eq!(a.remote_candidates, ["b1"]);
}

#[test]
fn the_candidate_hook_rewrites_and_drops_knowing_the_origin() {
    let mut a = Scripted::with_candidates(&["a host", "a relay"]);
    let mut b = Scripted::with_candidates(&["b host"]);
    let mut pump = Pump::new().rewrite_candidates(|from, line| {
        (!line.ends_with("host") || from == Origin::B).then(|| format!("{from:?}: {line}"))
    });
    pump.until(&mut a, &mut b, "candidates", |a, b| {
        !a.remote_candidates.is_empty() && !b.remote_candidates.is_empty()
    });
    pump.hold(&mut a, &mut b, Duration::from_millis(20), |_, _| {});
    assert_eq!(b.remote_candidates, ["A: a relay"]);
    assert_eq!(a.remote_candidates, ["B: b host"]);
}

#[test]
fn connect_runs_offer_and_answer_through_their_hooks() {
    let mut a = Scripted::default();
    let mut b = Scripted::default();
    Pump::new()
        .rewrite_offer(|sdp| format!("{sdp}, edited"))
        .rewrite_answer(|sdp| format!("{sdp}, changed"))
        .connect(&mut a, &mut b);
    let sdp = |d: &Option<Description>| d.as_ref().map(|d| d.sdp.clone());
    assert_eq!(sdp(&a.local).as_deref(), Some("offer sdp"));
    assert_eq!(sdp(&b.remote).as_deref(), Some("offer sdp, edited"));
    assert_eq!(sdp(&b.local).as_deref(), Some("answer sdp"));
    assert_eq!(sdp(&a.remote).as_deref(), Some("answer sdp, changed"));
}

#[test]
fn try_calls_give_up_at_the_limit() {
    let mut a = Scripted::default();
    let mut b = Scripted::default();
    let mut pump = Pump::new().with_limit(Duration::from_millis(30));
    assert!(!pump.try_until(&mut a, &mut b, |_, _| false));
    assert!(!pump.try_until_one(&mut a, |a| a.has_description()));
    assert!(!pump.try_wait(|| false));
}

#[test]
#[should_panic(expected = "timed out waiting for the answer that never comes")]
fn until_panics_at_the_limit_naming_what_it_waited_for() {
    let mut a = Scripted::default();
    let mut b = Scripted::default();
    Pump::new().with_limit(Duration::from_millis(30)).until(
        &mut a,
        &mut b,
        "the answer that never comes",
        |_, b| b.has_description(),
    );
}
