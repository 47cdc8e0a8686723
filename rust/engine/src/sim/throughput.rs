//! Bulk transfers through a bottleneck link (`bottleneck`): a 20 Mbit/s link with a deep or a
//! shallow tail-drop queue, the shapes of the impaired-path benchmark rows.

use super::*;
use crate::types::ChannelState;

const COUNT: usize = 64;
const LEN: usize = 16 * 1024;
const RATE: u64 = 20_000_000;

struct Outcome {
    took: Duration,
    dropped: usize,
}

/// 1 MiB as 64 messages of 16 KiB from A to B over `rtt` through the bottleneck with
/// `queue` bytes of queue each way: the time from the first send to the last message's
/// arrival, and the datagrams the queue dropped.
fn transfer(rtt: Duration, queue: u64) -> Outcome {
    let mut sim = Sim::new(SimConfig {
        latency: rtt / 2,
        ..SimConfig::default()
    });
    sim.signal();
    let x = sim.create_channel(A, "bulk", None);
    let opened = sim.run_until(Duration::from_secs(10), |s| {
        s.a().channel_state(x) == ChannelState::Open
            && s.b().remote_channels().iter().any(|(_, l)| l == "bulk")
    });
    assert!(opened, "bulk not open");
    let y = sim.b().remote_channels()[0].0;
    sim.set_filter(A, bottleneck(RATE, queue));
    sim.set_filter(B, bottleneck(RATE, queue));
    let first = sim.wire.len();
    let started = sim.elapsed();
    for i in 0..COUNT {
        let mut m = vec![(i % 251) as u8; LEN];
        m[0] = i as u8;
        sim.send(A, x, &m, false);
    }
    let done = sim.run_until(Duration::from_secs(60), |s| {
        s.b().messages(y).len() >= COUNT
    });
    assert!(done, "b got {} of {COUNT}", sim.b().messages(y).len());
    let took = sim.elapsed() - started;
    let dropped = sim.wire[first..]
        .iter()
        .filter(|w| w.fate == Fate::Dropped)
        .count();
    Outcome { took, dropped }
}

/// rtc-sctp writes everything its window allows the moment a SACK opens it; through a
/// 32 KiB queue those bursts were dropped long before the path was full, and the halved window
/// took seconds to grow back at 200 ms (4.9 s of virtual time for this megabyte). The pacer
/// spreads them (2.2 s); the deep queue, which never drops, is not slowed by it.
#[test]
fn a_megabyte_crosses_a_shallow_queue_without_bursting_it() {
    let shallow = transfer(Duration::from_millis(200), 32 * 1024);
    println!(
        "200 ms, shallow queue: {:?}, {} dropped",
        shallow.took, shallow.dropped
    );
    assert!(
        shallow.took < Duration::from_secs(3),
        "took {:?}",
        shallow.took
    );
    let deep = transfer(Duration::from_millis(200), 512 * 1024);
    println!(
        "200 ms, deep queue: {:?}, {} dropped",
        deep.took, deep.dropped
    );
    assert_eq!(deep.dropped, 0);
    assert!(
        deep.took < Duration::from_millis(2_000),
        "took {:?}",
        deep.took
    );
}

#[test]
#[ignore = "prints the transfer times of every bottleneck row (cargo test -- --ignored --nocapture)"]
fn print_transfer_times() {
    for rtt in [20u64, 40, 100, 200] {
        for (name, queue) in [("deep", 512 * 1024u64), ("shallow", 32 * 1024)] {
            let o = transfer(Duration::from_millis(rtt), queue);
            println!("{rtt} ms {name}: {:?}, {} dropped", o.took, o.dropped);
        }
    }
}
