//! Figures, not assertions: `cargo test -p webrtc-rs-engine --test throughput -- --ignored --nocapture`.
mod common;
use common::*;
use std::time::Instant;
use webrtc_rs_engine::*;

#[test]
#[ignore]
fn throughput_64k_messages() {
    let t0 = Instant::now();
    let (mut a, mut b) = connect_pair();
    let (x, y) = open_in_band(&mut a, &mut b, "bulk", ChannelOptions::default());
    println!(
        "setup (two peers, connect, open channel): {:?}",
        t0.elapsed()
    );
    const MSG: usize = 64 * 1024;
    const TOTAL: usize = 50 << 20;
    let payload = vec![7u8; MSG];
    let (mut sent, mut got) = (0usize, 0usize);
    let start = Instant::now();
    pump_until(&mut a, &mut b, "transfer", |_, _| {
        while sent < TOTAL && x.buffered_amount() < 4 << 20 {
            x.send(&payload, false).unwrap();
            sent += MSG;
        }
        while let Some(m) = y.recv() {
            got += m.data.len();
        }
        got >= TOTAL
    });
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{} MiB in {secs:.2} s = {:.1} MB/s",
        TOTAL >> 20,
        TOTAL as f64 / secs / 1e6
    );
}
