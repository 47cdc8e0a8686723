//! What a connection can tell about itself while it runs: [`Stats`] (traffic, round-trip
//! time, the path in use), read with [`PeerConnection::stats`](crate::PeerConnection::stats),
//! and the process-wide [`ProcessTotals`] behind the editor's monitors.
//!
//! # What the numbers count
//! - `bytes_sent` / `bytes_received` of the connection: the UDP payload bytes of every
//!   datagram its sockets sent or received (STUN checks and keepalives, DTLS records carrying
//!   SCTP, TURN framing and the traffic with STUN/TURN servers included; IP and UDP headers
//!   not), plus the bytes written to or read from TCP/TLS connections to TURN servers. What
//!   a packet capture on the connection's sockets would add up to.
//! - `messages_*` of the connection, and everything of a [`ChannelStats`]: data channel
//!   messages as the application sent (accepted by `send` and handed to SCTP) and received
//!   them (delivered to the channel's queue), and their payload bytes. An empty message counts
//!   as one message of 0 bytes. Messages of channels closed since are still in the
//!   connection's totals.
//! - `retransmissions`: SCTP DATA chunks sent again (after a timeout or a gap report).
//!
//! The handle reads counters the network thread keeps up to date (atomics) and a snapshot it
//! publishes whenever the round-trip time, the selected pair or the DTLS state change, so
//! reading is cheap enough for every frame and never waits for the network thread.

mod board;
mod process;
mod retransmits;
mod traffic;

pub(crate) use board::{IceView, StatsBoard};
pub use process::process_totals;
pub(crate) use process::ProcessShare;
pub(crate) use retransmits::RetransmitCounter;
pub(crate) use traffic::Traffic;

use std::net::SocketAddr;
use std::time::Duration;

/// An ICE candidate's type (RFC 8445 §5.1.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CandidateType {
    Host,
    ServerReflexive,
    PeerReflexive,
    Relay,
}

impl CandidateType {
    /// The SDP name: `host`, `srflx`, `prflx` or `relay`.
    pub fn as_str(self) -> &'static str {
        match self {
            CandidateType::Host => "host",
            CandidateType::ServerReflexive => "srflx",
            CandidateType::PeerReflexive => "prflx",
            CandidateType::Relay => "relay",
        }
    }

    pub(crate) fn from_ice(t: rtc_ice::candidate::CandidateType) -> Self {
        use rtc_ice::candidate::CandidateType as T;
        match t {
            T::ServerReflexive => CandidateType::ServerReflexive,
            T::PeerReflexive => CandidateType::PeerReflexive,
            T::Relay => CandidateType::Relay,
            _ => CandidateType::Host,
        }
    }
}

/// The candidate pair ICE selected: the path the connection's traffic takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectedPair {
    pub local_type: CandidateType,
    pub remote_type: CandidateType,
    /// Our candidate's address (for a relay candidate, the address the TURN server gave us).
    pub local_address: SocketAddr,
    pub remote_address: SocketAddr,
    /// The transport between the two candidates: always `"udp"` (TURN over TCP/TLS relays
    /// UDP too).
    pub protocol: &'static str,
}

impl SelectedPair {
    /// Whether a TURN server relays the traffic (either end is a relay candidate).
    pub fn relayed(&self) -> bool {
        self.local_type == CandidateType::Relay || self.remote_type == CandidateType::Relay
    }
}

/// One data channel's traffic (see the module docs for what counts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelStats {
    pub label: String,
    /// The SCTP stream id; `None` for an in-band channel before the DTLS role is known.
    pub id: Option<u16>,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub messages_sent: u64,
    pub messages_received: u64,
    /// Bytes accepted by `send` and not yet acknowledged (as `DataChannel::buffered_amount`).
    pub buffered_amount: usize,
}

/// A connection's statistics (see the module docs for what each count includes).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Stats {
    /// The latest round-trip time ICE measured on the selected pair (connectivity and consent
    /// checks, every keepalive interval), on the network thread.
    pub rtt: Option<Duration>,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub messages_sent: u64,
    pub messages_received: u64,
    pub retransmissions: u64,
    pub selected_pair: Option<SelectedPair>,
    /// The DTLS cipher suite's IANA name, once the handshake completed.
    pub dtls_cipher: Option<String>,
    /// SCTP's congestion window in bytes. Always `None`: rtc-sctp 0.21 does not expose it.
    pub sctp_cwnd: Option<u32>,
    /// From `create_offer` (or the remote offer) to CONNECTED, measured on the network thread.
    pub connected_after: Option<Duration>,
    /// The channels the connection has now (not closed), ordered by stream id.
    pub channels: Vec<ChannelStats>,
}

/// Totals over every connection of the process, for monitors.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ProcessTotals {
    /// Connections CONNECTED or DISCONNECTED (transport up, not ended).
    pub connections_open: usize,
    /// Of those, the ones whose selected pair is relayed.
    pub relayed_connections: usize,
    /// The mean of their round-trip times (those that measured one).
    pub mean_rtt: Option<Duration>,
    /// Every connection's `bytes_sent` / `bytes_received` since the process started, ended
    /// connections included.
    pub bytes_sent: u64,
    pub bytes_received: u64,
}

/// The candidate pair seen from one side (for [`SelectedPair`] and failure reports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PairEnds {
    pub local_type: CandidateType,
    pub local_address: SocketAddr,
    pub remote_type: CandidateType,
    pub remote_address: SocketAddr,
}

impl PairEnds {
    pub fn selected(&self) -> SelectedPair {
        SelectedPair {
            local_type: self.local_type,
            remote_type: self.remote_type,
            local_address: self.local_address,
            remote_address: self.remote_address,
            protocol: "udp",
        }
    }
}
