//! 1,000 connect/transfer/close cycles in one process: what they leave behind stays flat.
//! Memory (VmRSS), threads and open file descriptors (the sockets) are read from `/proc/self`;
//! timers are counted through the network thread's live tasks ([`live_network_tasks`]: every
//! timer of a connection lives in one of its tasks), which must come back to zero. The only
//! test of this binary, so it measures what its own cycles leave. About 10 ms per cycle with
//! four at a time (debug build, loopback).

mod common;

use common::*;
use std::time::{Duration, Instant};
use webrtc_rs_engine::*;

/// Cycles measured, after [`WARM_UP`].
const CYCLES: usize = 1_000;
/// Cycles run at once, each pair on its own thread.
const CONCURRENT: usize = 4;
/// Cycles before the baseline is taken: the allocator's arenas and the network thread's
/// buffers grow to their working size first.
const WARM_UP: usize = 40;
/// Growth of the resident memory allowed over the 1,000 cycles after warm-up (measured: about
/// 300 KiB, most of it in the first 250). A leak of 2 KiB per cycle shows; one connection with
/// its sockets, DTLS and SCTP state is far more.
const RSS_SLACK_KIB: u64 = 2 * 1024;

/// What the process holds, from `/proc/self`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Held {
    rss_kib: u64,
    threads: usize,
    fds: usize,
    tasks: usize,
}

fn status_field(status: &str, name: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /proc/self/status"))
}

/// The names of this process's threads.
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .expect("read /proc/self/task")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|n| n.trim().to_owned())
        .collect()
}

fn held() -> Held {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    Held {
        rss_kib: status_field(&status, "VmRSS:"),
        threads: status_field(&status, "Threads:") as usize,
        fds: std::fs::read_dir("/proc/self/fd")
            .expect("read /proc/self/fd")
            .count(),
        tasks: live_network_tasks(),
    }
}

/// The name of the threads that run the cycles.
const WORKER: &str = "soak-worker";

/// Waits (up to 3 s) until every connection task has ended and the cycles' worker threads are
/// gone, then reads what is held: a closed connection's task still sends its close, a dropped
/// one's ends at its next wake-up, and a joined thread may take a moment to leave the process.
fn settled() -> Held {
    let started = Instant::now();
    while live_network_tasks() > 0 || thread_names().iter().any(|n| n == WORKER) {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{} network tasks still alive 3 s after the last connection was closed (a timer or \
             socket left behind), threads {:?}",
            live_network_tasks(),
            thread_names()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    held()
}

/// Messages each way per cycle, and their size.
const MESSAGES: u32 = 16;
const LEN: usize = 1_000;

/// One cycle: two peers connect on loopback, exchange [`MESSAGES`] each way on a reliable
/// channel (checked whole and in order), then one ends the connection (`close()` on even
/// cycles, dropping its handle on odd ones) and the other must see it CLOSED.
fn cycle(n: usize) {
    let (mut a, mut b, x) = peers_with_channel("soak");
    signal(&mut a, &mut b);
    pump_until(&mut a, &mut b, "connected with the channel open", |a, b| {
        connected(a, b) && x.ready_state() == ChannelState::Open && !b.incoming.is_empty()
    });
    let y = b.incoming[0].clone();
    let payload = |i: u32| -> Vec<u8> { (0..LEN).map(|j| (j as u32 ^ i) as u8).collect() };
    for i in 0..MESSAGES {
        x.send(&payload(i), false).expect("send a->b");
        y.send(&payload(i), false).expect("send b->a");
    }
    let (mut at_a, mut at_b) = (Vec::new(), Vec::new());
    pump_until(&mut a, &mut b, "the messages", |_, _| {
        at_b.extend(std::iter::from_fn(|| y.recv()));
        at_a.extend(std::iter::from_fn(|| x.recv()));
        at_a.len() >= MESSAGES as usize && at_b.len() >= MESSAGES as usize
    });
    for got in [&at_a, &at_b] {
        for (i, m) in got.iter().enumerate() {
            assert_eq!(m.data.as_ref(), payload(i as u32).as_slice(), "cycle {n}");
        }
    }
    let closed = if n.is_multiple_of(2) {
        a.pc.close();
        Some(a)
    } else {
        drop(a);
        None
    };
    Pump::new().until_one(&mut b, "the close to arrive", |b| {
        b.pc.connection_state() == ConnectionState::Closed
    });
    drop(closed);
}

/// Runs `count` cycles, [`CONCURRENT`] at a time; returns how long they took.
fn cycles(count: usize) -> Duration {
    let started = Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..CONCURRENT {
            std::thread::Builder::new()
                .name(WORKER.to_owned())
                .spawn_scoped(s, || loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if n >= count {
                        break;
                    }
                    cycle(n);
                })
                .expect("start a worker thread");
        }
    });
    started.elapsed()
}

/// Warm-up, then `count` cycles in four rounds, each followed by a reading of what the process
/// holds: threads, descriptors and network tasks exactly as at the start, memory within
/// [`RSS_SLACK_KIB`] of it.
fn soak(count: usize) {
    let idle = settled();
    cycles(WARM_UP);
    let base = settled();
    println!(
        "before: {idle:?}; after {WARM_UP} warm-up cycles: {base:?}, threads {:?}",
        thread_names()
    );
    assert_eq!(base.tasks, 0);
    let rounds = 4;
    let mut total = Duration::ZERO;
    for round in 1..=rounds {
        let took = cycles(count / rounds);
        total += took;
        let now = settled();
        println!(
            "after {} cycles: {now:?}, {:.1?} per cycle ({CONCURRENT} at a time)",
            count / rounds * round,
            took / (count / rounds) as u32
        );
        assert_eq!(
            now.threads,
            base.threads,
            "threads: {base:?} -> {now:?}: {:?}",
            thread_names()
        );
        assert_eq!(now.fds, base.fds, "file descriptors: {base:?} -> {now:?}");
        assert!(
            now.rss_kib <= base.rss_kib + RSS_SLACK_KIB,
            "resident memory grew from {} to {} KiB",
            base.rss_kib,
            now.rss_kib
        );
    }
    println!(
        "{count} cycles in {total:.1?} ({:.1?} per cycle, {CONCURRENT} at a time)",
        total / count as u32
    );
}

#[test]
fn a_thousand_connect_transfer_close_cycles_leave_memory_threads_sockets_and_timers_flat() {
    soak(CYCLES);
}
