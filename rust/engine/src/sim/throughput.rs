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
    lossy_transfer(rtt, queue, 0, 0)
}

/// [`transfer`] with `percent` % of the datagrams lost at random each way, before the
/// bottleneck (seeded by `seed`).
fn lossy_transfer(rtt: Duration, queue: u64, percent: u64, seed: u64) -> Outcome {
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
    sim.set_filter(A, lossy_bottleneck(queue, percent, seed));
    sim.set_filter(B, lossy_bottleneck(queue, percent, seed ^ 0x5eed));
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

fn lossy_bottleneck(queue: u64, percent: u64, seed: u64) -> impl Filter {
    let mut lose = loss(seed, percent);
    let mut link = bottleneck(RATE, queue);
    move |d: &Datagram<'_>| match lose.verdict(d) {
        Verdict::Drop => Verdict::Drop,
        _ => link.verdict(d),
    }
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

/// 1 % of the datagrams lost at random each way at 100 ms, no queue on the path. rtc-sctp
/// halves its window for each loss and grows it back by one packet per round trip: an early
/// loss left this megabyte crawling for 5.5 to 7.7 s (seeds 1 to 4). A loss while the round
/// trip stays at its shortest is hidden from it (`core/sack_filter.rs`) and repaired beside
/// it: 1.3 to 1.8 s. The rows above, whose drops are the queue's, are unchanged.
#[test]
fn random_loss_on_a_path_without_a_queue_does_not_halve_the_window() {
    for seed in 1..=4 {
        let o = lossy_transfer(Duration::from_millis(100), 512 * 1024, 1, seed);
        println!("seed {seed}: {:?}, {} dropped", o.took, o.dropped);
        assert!(o.took < Duration::from_secs(3), "seed {seed}: {:?}", o.took);
    }
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
    for (rtt, percent) in [(40u64, 1u64), (40, 2), (100, 1), (20, 5)] {
        for (name, queue) in [("deep", 512 * 1024u64), ("shallow", 32 * 1024)] {
            let times: Vec<_> = (1..=5)
                .map(|seed| {
                    let o = lossy_transfer(Duration::from_millis(rtt), queue, percent, seed);
                    format!("{:.2}", o.took.as_secs_f64())
                })
                .collect();
            println!("{rtt} ms {name}, {percent} % loss: {} s", times.join(" "));
        }
    }
}
