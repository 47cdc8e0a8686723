//! Polling two sides and carrying their signals, with hooks on what is carried.

use crate::side::{Candidate, Description, Origin, SdpKind, Side};
use crate::wait::retry_until;
use std::time::{Duration, Instant};

/// Default time limit of one pump call. Generous: only reached when something is broken.
pub const TIMEOUT: Duration = Duration::from_secs(20);

type CandidateHook<'h> = Box<dyn FnMut(Origin, &str) -> Option<String> + 'h>;
type DescriptionHook<'h> = Box<dyn FnMut(&str) -> String + 'h>;

/// Carries signals between two [`Side`]s the way an application's signaling channel would: each
/// round polls both sides, then hands each one's trickled candidates to the other. Every call
/// that waits gives up after the time limit ([`TIMEOUT`] unless [`Pump::with_limit`] says
/// otherwise); the `try_` calls then return false, the others panic naming what they waited for
/// and both sides' state.
pub struct Pump<'h> {
    limit: Duration,
    candidate_hook: Option<CandidateHook<'h>>,
    offer_hook: Option<DescriptionHook<'h>>,
    answer_hook: Option<DescriptionHook<'h>>,
}

impl Default for Pump<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'h> Pump<'h> {
    /// Carries everything unchanged, with the limit [`TIMEOUT`].
    pub fn new() -> Self {
        Self {
            limit: TIMEOUT,
            candidate_hook: None,
            offer_hook: None,
            answer_hook: None,
        }
    }

    /// The time limit of each call that waits ([`Pump::signal`] and [`Pump::connect`] count as
    /// one call).
    pub fn with_limit(mut self, limit: Duration) -> Self {
        self.limit = limit;
        self
    }

    /// Passes each trickled candidate line through `hook`, with the side it came from; the
    /// other side gets what the hook returns, or nothing for `None`.
    pub fn rewrite_candidates(
        mut self,
        hook: impl FnMut(Origin, &str) -> Option<String> + 'h,
    ) -> Self {
        self.candidate_hook = Some(Box::new(hook));
        self
    }

    /// Passes the offer's SDP through `hook` on its way to the answerer (the offerer applies it
    /// unchanged).
    pub fn rewrite_offer(mut self, hook: impl FnMut(&str) -> String + 'h) -> Self {
        self.offer_hook = Some(Box::new(hook));
        self
    }

    /// Passes the answer's SDP through `hook` on its way to the offerer (the answerer applies it
    /// unchanged).
    pub fn rewrite_answer(mut self, hook: impl FnMut(&str) -> String + 'h) -> Self {
        self.answer_hook = Some(Box::new(hook));
        self
    }

    /// One round: polls `a` then `b`, then hands `a`'s candidates to `b` and `b`'s to `a`.
    pub fn exchange<A: Side, B: Side>(&mut self, a: &mut A, b: &mut B) {
        a.poll_signals();
        b.poll_signals();
        for candidate in a.drain_candidates() {
            self.carry_candidate(Origin::A, candidate, b);
        }
        for candidate in b.drain_candidates() {
            self.carry_candidate(Origin::B, candidate, a);
        }
    }

    /// Runs rounds until `cond` holds (true) or the limit passes (false).
    pub fn try_until<A: Side, B: Side>(
        &mut self,
        a: &mut A,
        b: &mut B,
        cond: impl FnMut(&mut A, &mut B) -> bool,
    ) -> bool {
        let deadline = self.deadline();
        self.run(a, b, deadline, cond)
    }

    /// Runs rounds until `cond` holds; panics at the limit, naming `what` it waited for.
    pub fn until<A: Side, B: Side>(
        &mut self,
        a: &mut A,
        b: &mut B,
        what: &str,
        cond: impl FnMut(&mut A, &mut B) -> bool,
    ) {
        let deadline = self.deadline();
        self.run_or_panic(a, b, deadline, what, cond);
    }

    /// Runs rounds for `duration` whatever happens, calling `check` after each (to assert that
    /// something holds all along).
    pub fn hold<A: Side, B: Side>(
        &mut self,
        a: &mut A,
        b: &mut B,
        duration: Duration,
        mut check: impl FnMut(&mut A, &mut B),
    ) {
        self.run(a, b, Instant::now() + duration, |a, b| {
            check(a, b);
            false
        });
    }

    /// Polls one side alone (its candidates stay with it) until `cond` holds (true) or the
    /// limit passes (false).
    pub fn try_until_one<S: Side>(
        &self,
        side: &mut S,
        mut cond: impl FnMut(&mut S) -> bool,
    ) -> bool {
        retry_until(self.deadline(), || {
            side.poll_signals();
            cond(side)
        })
    }

    /// Polls one side alone until `cond` holds; panics at the limit, naming `what`.
    pub fn until_one<S: Side>(&self, side: &mut S, what: &str, cond: impl FnMut(&mut S) -> bool) {
        let done = self.try_until_one(side, cond);
        assert!(done, "timed out waiting for {what}: {side:?}");
    }

    /// Retries `cond`, polling nothing, until it holds (true) or the limit passes (false).
    pub fn try_wait(&self, cond: impl FnMut() -> bool) -> bool {
        retry_until(self.deadline(), cond)
    }

    /// Offer/answer: `a` starts an offer, then [`Pump::deliver_offer`] and
    /// [`Pump::deliver_answer`], within one limit.
    pub fn signal<A: Side, B: Side>(&mut self, a: &mut A, b: &mut B) {
        let deadline = self.deadline();
        self.signal_by(a, b, deadline);
    }

    /// Waits for the offer `a` yields; `a` applies it as its local description, `b` (through
    /// the description hook) as its remote one.
    pub fn deliver_offer<A: Side, B: Side>(&mut self, a: &mut A, b: &mut B) {
        let deadline = self.deadline();
        self.offer_by(a, b, deadline);
    }

    /// Waits for the answer `b` yields; `b` applies it as its local description, `a` (through
    /// the description hook) as its remote one.
    pub fn deliver_answer<A: Side, B: Side>(&mut self, a: &mut A, b: &mut B) {
        let deadline = self.deadline();
        self.answer_by(a, b, deadline);
    }

    /// [`Pump::signal`], then rounds until both sides are connected, within one limit.
    pub fn connect<A: Side, B: Side>(&mut self, a: &mut A, b: &mut B) {
        let deadline = self.deadline();
        self.signal_by(a, b, deadline);
        self.run_or_panic(a, b, deadline, "connected", |a, b| {
            a.is_connected() && b.is_connected()
        });
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.limit
    }

    fn run<A: Side, B: Side>(
        &mut self,
        a: &mut A,
        b: &mut B,
        deadline: Instant,
        mut cond: impl FnMut(&mut A, &mut B) -> bool,
    ) -> bool {
        retry_until(deadline, || {
            self.exchange(a, b);
            cond(a, b)
        })
    }

    fn run_or_panic<A: Side, B: Side>(
        &mut self,
        a: &mut A,
        b: &mut B,
        deadline: Instant,
        what: &str,
        cond: impl FnMut(&mut A, &mut B) -> bool,
    ) {
        let done = self.run(a, b, deadline, cond);
        assert!(done, "timed out waiting for {what}: a={a:?} b={b:?}");
    }

    fn signal_by<A: Side, B: Side>(&mut self, a: &mut A, b: &mut B, deadline: Instant) {
        a.start_offer();
        self.offer_by(a, b, deadline);
        self.answer_by(a, b, deadline);
    }

    fn offer_by<A: Side, B: Side>(&mut self, a: &mut A, b: &mut B, deadline: Instant) {
        self.run_or_panic(a, b, deadline, "offer", |a, _| a.has_description());
        let offer = take_kind(a, SdpKind::Offer);
        a.apply_local(&offer);
        b.apply_remote(&self.carry_description(offer));
    }

    fn answer_by<A: Side, B: Side>(&mut self, a: &mut A, b: &mut B, deadline: Instant) {
        self.run_or_panic(a, b, deadline, "answer", |_, b| b.has_description());
        let answer = take_kind(b, SdpKind::Answer);
        b.apply_local(&answer);
        a.apply_remote(&self.carry_description(answer));
    }

    fn carry_candidate(&mut self, from: Origin, candidate: Candidate, to: &mut impl Side) {
        let Candidate { mid, index, line } = candidate;
        let line = match self.candidate_hook.as_mut() {
            Some(hook) => hook(from, &line),
            None => Some(line),
        };
        if let Some(line) = line {
            to.add_remote_candidate(&Candidate { mid, index, line });
        }
    }

    fn carry_description(&mut self, description: Description) -> Description {
        let hook = match description.kind {
            SdpKind::Offer => self.offer_hook.as_mut(),
            SdpKind::Answer => self.answer_hook.as_mut(),
        };
        match hook {
            Some(hook) => Description {
                sdp: hook(&description.sdp),
                ..description
            },
            None => description,
        }
    }
}

/// The description `side` yielded, which must be of `kind`.
fn take_kind(side: &mut impl Side, kind: SdpKind) -> Description {
    let description = side
        .take_description()
        .unwrap_or_else(|| panic!("no {kind:?} to take from {side:?}"));
    assert_eq!(description.kind, kind, "{side:?} yielded {description:?}");
    description
}

/// [`Pump::until`] with the default pump.
pub fn pump_until<A: Side, B: Side>(
    a: &mut A,
    b: &mut B,
    what: &str,
    cond: impl FnMut(&mut A, &mut B) -> bool,
) {
    Pump::new().until(a, b, what, cond);
}

/// [`Pump::signal`] with the default pump.
pub fn signal<A: Side, B: Side>(a: &mut A, b: &mut B) {
    Pump::new().signal(a, b);
}

/// [`Pump::connect`] with the default pump.
pub fn connect<A: Side, B: Side>(a: &mut A, b: &mut B) {
    Pump::new().connect(a, b);
}
