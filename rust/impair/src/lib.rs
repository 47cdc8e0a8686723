//! A UDP relay on loopback that impairs the path between two peers, for tests, benchmarks and
//! tools: loss (random, or in bursts by a Gilbert-Elliott model), fixed delay, jitter,
//! reordering, duplication, a bandwidth limit with a bounded queue (tail drop), and outages
//! (the path cut for a while, then restored). Each direction has its own [`Impairment`]. The
//! random decisions come from a seed: the same seed and the same datagrams give the same fates.
//!
//! # How it sits between two peers
//!
//! The relay binds two UDP sockets on 127.0.0.1, one standing in for each peer
//! ([`Relay::address`]). Each candidate a peer announces is rewritten by
//! [`Relay::rewrite_candidate`] (or, inline in a session description, by [`Relay::rewrite_sdp`])
//! to its own relay address, so the other peer sends everything there:
//!
//! ```text
//!  peer A ──▶ address(B) ═[a_to_b impairment]═▶ sent from address(A) ──▶ peer B
//!  peer A ◀── sent from address(B) ◀═[b_to_a impairment]═ address(A) ◀── peer B
//! ```
//!
//! Each peer thus sees the other at the address its rewritten candidates announce. The relay
//! learns where the real peers are from the candidates it rewrites and, definitively, from the
//! source of the first datagram each sends. It only relays datagrams and rewrites `candidate:`
//! lines (and a `c=` address and `m=` port, if a description carries them), so it works for any
//! pair of stacks. TCP candidates are removed (the relay carries UDP only), so nothing goes
//! around it.
//!
//! # Use from a test
//!
//! ```no_run
//! use impair::{End, Impairment, Loss, Relay};
//! use std::time::Duration;
//!
//! let path = Impairment {
//!     loss: Loss::Random(0.1),
//!     jitter: Duration::from_millis(20),
//!     ..Default::default()
//! };
//! let relay = Relay::symmetric(path, 7).expect("relay");
//! // In the signaling between the peers, for each candidate line A announces:
//! let line = "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host";
//! let for_b = relay.rewrite_candidate(End::A, line); // None: do not pass it on
//! // ... and End::B for B's candidates. Later, cut the path for 3 s:
//! relay.cut(Duration::from_secs(3));
//! ```
//!
//! # Threads, time and memory
//!
//! One thread per direction, blocking on its socket; both stop when the [`Relay`] is dropped
//! (within about 20 ms). Delivery times are kept to within the system's timer granularity
//! (about a millisecond, a few on coarse kernels). Each direction holds at most
//! [`MAX_IN_FLIGHT_BYTES`] of datagrams in flight (beyond, they are dropped and counted as
//! `overflow`), plus one receive buffer of 64 KiB. [`Relay::stats`] counts what became of every
//! datagram.
//!
//! # Modules
//!
//! | module | job |
//! |---|---|
//! | `impair_model` (crate) | the sans-IO model, shared with the engine's network simulator: [`Impairment`], [`Path`] (arrival time and size in, [`Fate`] out), [`Lane`] (datagrams held until due, within a byte limit) |
//! | `rewrite` | candidate lines and session descriptions pointed at the relay |
//! | `peers` | the real peers' addresses as learned |
//! | `forward` | one direction's thread: receive, schedule, send |
//! | `stats` | the counters behind [`Stats`] |
//! | `relay` | the [`Relay`] handle |

mod forward;
mod peers;
mod relay;
mod rewrite;
mod stats;

pub use forward::MAX_IN_FLIGHT_BYTES;
pub use impair_model::{
    Bandwidth, Drop, Fate, GilbertElliott, Impairment, InvalidSetting, Lane, Loss, Outage, Path,
    Reorder, ENTRY_COST,
};
pub use peers::End;
pub use relay::{Direction, Relay};
pub use stats::Stats;
