//! The network impairment model, sans-IO: what a path does to each datagram (loss, random or in
//! bursts by a Gilbert-Elliott model; fixed delay; jitter; reordering; duplication; a bandwidth
//! limit with a bounded queue; outages) and when it comes out. The random decisions come from a
//! seed: the same seed and the same datagrams at the same times give the same fates.
//!
//! No clock, no socket, no thread: the caller tells the time (a [`Duration`] since an epoch it
//! chooses) and moves the bytes. Two users share it:
//!
//! - the `impair` crate's UDP relay on loopback, for tests and benchmarks (one [`Lane`] per
//!   direction, on its own thread);
//! - the engine's network simulator (`initialize()` key `simulate`): one [`Lane`] per direction
//!   of a connection, released by the connection's task with tokio timers.
//!
//! # Modules
//!
//! | module | job |
//! |---|---|
//! | `settings` | [`Impairment`] and its parts, validation |
//! | `rng` | the seeded xorshift64* generator |
//! | `loss` | the loss stage (random, Gilbert-Elliott) |
//! | `bottleneck` | the bandwidth stage and its queue |
//! | `path` | one direction's decisions: arrival time and size in, [`Fate`] out |
//! | `lane` | one direction's datagrams held until due, within a byte limit |
//!
//! [`Duration`]: std::time::Duration

mod bottleneck;
mod lane;
mod loss;
mod path;
mod rng;
mod settings;

pub use lane::{Lane, ENTRY_COST};
pub use path::{Drop, Fate, Path};
pub use settings::{Bandwidth, GilbertElliott, Impairment, InvalidSetting, Loss, Outage, Reorder};
