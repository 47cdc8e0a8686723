//! `PortConfig::mtu` sizes the SCTP packets: every datagram of a connection fits the path it
//! names (IPv6 and UDP headers and a TURN ChannelData header included), and a larger MTU
//! fills larger datagrams.

use super::*;
use crate::types::ChannelState;

/// The largest datagram A sends while it writes 40 kB messages to B, with both sides set to
/// `mtu`.
fn largest_datagram(mtu: u16) -> usize {
    let side = SideConfig {
        mtu,
        ..SideConfig::default()
    };
    let mut sim = Sim::new(SimConfig {
        a: side.clone(),
        b: side,
        ..SimConfig::default()
    });
    let x = sim.create_channel(A, "bulk", None);
    sim.signal();
    let opened = sim.run_until(Duration::from_secs(30), |s| {
        s.a().channel_state(x) == ChannelState::Open && !s.b().remote_channels().is_empty()
    });
    assert!(opened, "not open: {:?}", sim.a().states());
    let y = sim.b().remote_channels()[0].0;
    let message = vec![7u8; 40_000];
    for _ in 0..5 {
        sim.send(A, x, &message, false);
    }
    let done = sim.run_until(Duration::from_secs(30), |s| s.b().messages(y).len() == 5);
    assert!(done, "B got {} of 5", sim.b().messages(y).len());
    assert!(sim
        .b()
        .messages(y)
        .iter()
        .all(|(_, m)| m.data.len() == 40_000));
    sim.wire
        .iter()
        .filter(|w| w.from == A)
        .map(|w| w.len)
        .max()
        .unwrap_or(0)
}

#[test]
fn datagrams_fit_the_configured_mtu() {
    // IPv6 (40) and UDP (8) headers and a TURN ChannelData header (4) on top of each datagram.
    const OVERHEAD: usize = 52;
    let default = largest_datagram(crate::types::DEFAULT_MTU);
    assert!(default + OVERHEAD <= 1280, "a {default}-byte datagram");
    assert!(default + OVERHEAD > 1200, "a {default}-byte datagram");
    let small = largest_datagram(576);
    assert!(
        small + OVERHEAD <= 576,
        "a {small}-byte datagram at mtu 576"
    );
    assert!(small + OVERHEAD > 500, "a {small}-byte datagram at mtu 576");
    let jumbo = largest_datagram(9000);
    assert!(
        jumbo + OVERHEAD <= 9000,
        "a {jumbo}-byte datagram at mtu 9000"
    );
    assert!(jumbo > 1500, "a {jumbo}-byte datagram at mtu 9000");
}
