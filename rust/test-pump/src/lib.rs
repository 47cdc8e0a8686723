//! Test-only helper shared by the engine's and the glue's integration tests: one loop that polls
//! two sides of a WebRTC connection in one process and carries their signals (session
//! descriptions and trickled ICE candidates) between them, the way an application's signaling
//! channel would.
//!
//! A test wraps its peer type in a [`Side`] (the engine's `PeerConnection`, the glue's
//! `Session`), then drives a pair with [`Pump`] or the shorthands [`pump_until`], [`signal`] and
//! [`connect`]. Hooks on [`Pump`] rewrite or drop candidates and rewrite the offer or the answer
//! in flight (to point candidates at a relay, to tamper with an SDP attribute). Nothing here
//! knows the engine: with no dependencies, the engine can take it as a dev-dependency without
//! linking a second copy of itself.

mod pump;
mod side;
mod wait;

pub use pump::{connect, pump_until, signal, Pump, TIMEOUT};
pub use side::{Candidate, Description, Origin, SdpKind, Side};
pub use wait::INTERVAL;
