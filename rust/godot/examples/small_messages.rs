//! Profiling vehicle for the glue's send and receive path without Godot: two connections in
//! one process, driven from one thread the way a naive GDScript loop drives them (send until
//! refused, poll both, read everything). Not a benchmark (the sender floods past its send
//! budget); run it under `perf record` to see where the time goes:
//!
//!     cargo build --release -p webrtc_rs --example small_messages
//!     target/release/examples/small_messages [SIZE=64] [SECONDS=3] [SENDS_PER_POLL=1000]

#[path = "../tests/common/mod.rs"]
mod common;
use common::*;
use std::time::{Duration, Instant};

fn main() {
    let size: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(64);
    let secs: f64 = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let per_frame: usize = std::env::args()
        .nth(3)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let mut pair = Pair::new();
    let (a, mut b) = pair.connect_negotiated(1);
    let msg = vec![7u8; size];
    let start = Instant::now();
    let (mut sent, mut got, mut busy) = (0u64, 0u64, 0u64);
    while start.elapsed() < Duration::from_secs_f64(secs) {
        for _ in 0..per_frame {
            match a.send(&msg) {
                Ok(()) => sent += 1,
                Err(_) => {
                    busy += 1;
                    break;
                }
            }
        }
        let _ = pair.a.session.poll();
        let _ = pair.b.session.poll();
        for _ in 0..b.available() {
            if b.next_packet().is_some() {
                got += 1;
            }
        }
    }
    let t = start.elapsed().as_secs_f64();
    println!(
        "{size} B: sent {sent} ({:.0}/s), received {got} ({:.0}/s), busy {busy}",
        sent as f64 / t,
        got as f64 / t
    );
}
