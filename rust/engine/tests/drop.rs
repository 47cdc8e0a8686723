//! Its own test binary: it counts the process's threads and file descriptors.
mod common;
use common::*;
use std::time::Duration;
use webrtc_rs_engine::*;

fn fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

fn net_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.filter_map(|t| t.ok())
                .filter(|t| {
                    std::fs::read_to_string(t.path().join("comm"))
                        .map(|c| c.trim() == "webrtc-rs-net")
                        .unwrap_or(false)
                })
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn drop_without_close_tears_down_and_reaches_the_remote() {
    // Warm up the network thread so it is not counted as a leak.
    let (a0, b0) = connect_pair();
    drop(a0);
    drop(b0);
    std::thread::sleep(Duration::from_millis(300));
    let base_fds = fds();
    for _ in 0..3 {
        let (mut a, mut b) = connect_pair();
        let (x, y) = open_in_band(&mut a, &mut b, "c", ChannelOptions::default());
        drop(a);
        let _ = x.send(b"after drop", true);
        let seen = Pump::new()
            .with_limit(Duration::from_secs(5))
            .try_until_one(&mut b, |b| {
                b.pc.connection_state() == ConnectionState::Closed
                    && y.ready_state() == ChannelState::Closed
            });
        assert!(seen, "remote did not see the drop");
        drop(b);
    }
    // Sockets are released shortly after.
    let released = Pump::new()
        .with_limit(Duration::from_secs(5))
        .try_wait(|| fds() <= base_fds);
    assert!(released, "leaked fds: {} > {base_fds}", fds());
    assert_eq!(net_threads(), 1, "one network thread for the whole process");
    // A new connection still works.
    let (mut a, mut b) = connect_pair();
    let (x, y) = open_in_band(&mut a, &mut b, "again", ChannelOptions::default());
    x.send(b"ok", true).unwrap();
    assert_eq!(recv_n(&mut a, &mut b, &y, 1)[0].data.as_ref(), b"ok");
}
