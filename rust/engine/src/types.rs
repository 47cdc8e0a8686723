//! Plain value types shared by the API: states, description types, options.
//!
//! The enum discriminants equal Godot's (`WebRTCPeerConnection.ConnectionState` etc.), so the
//! glue can convert with a cast, but nothing here depends on Godot.

use crate::error::{Error, Result};
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

/// Peer connection state (W3C `RTCPeerConnectionState`, Godot `ConnectionState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ConnectionState {
    New = 0,
    Connecting = 1,
    Connected = 2,
    Disconnected = 3,
    Failed = 4,
    Closed = 5,
}

/// ICE gathering state (Godot `GatheringState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum GatheringState {
    New = 0,
    Gathering = 1,
    Complete = 2,
}

/// Signaling state (Godot `SignalingState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum SignalingState {
    Stable = 0,
    HaveLocalOffer = 1,
    HaveRemoteOffer = 2,
    HaveLocalPranswer = 3,
    HaveRemotePranswer = 4,
    Closed = 5,
}

/// Data channel ready state (Godot `WebRTCDataChannel.ChannelState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ChannelState {
    Connecting = 0,
    Open = 1,
    Closing = 2,
    Closed = 3,
}

/// Session description type (W3C `RTCSdpType`). `Pranswer` and `Rollback` parse, but
/// [`PeerConnection`](crate::PeerConnection) refuses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SdpType {
    Offer,
    Answer,
    Pranswer,
    Rollback,
}

impl SdpType {
    pub fn as_str(self) -> &'static str {
        match self {
            SdpType::Offer => "offer",
            SdpType::Answer => "answer",
            SdpType::Pranswer => "pranswer",
            SdpType::Rollback => "rollback",
        }
    }
}

impl FromStr for SdpType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "offer" => Ok(SdpType::Offer),
            "answer" => Ok(SdpType::Answer),
            "pranswer" => Ok(SdpType::Pranswer),
            "rollback" => Ok(SdpType::Rollback),
            other => Err(Error::invalid(format!(
                "unknown session description type {other:?} (expected \"offer\", \"answer\", \
                 \"pranswer\" or \"rollback\")"
            ))),
        }
    }
}

/// One entry of `iceServers` (W3C `RTCIceServer`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IceServer {
    /// `stun:host[:port]`, `turn:host[:port][?transport=udp|tcp]`, `turns:host[:port]`
    /// (`stuns:`, STUN over TLS, is refused). Each TURN URL yields relay candidates (TURN over
    /// UDP, TCP or TLS to the server; UDP relayed).
    pub urls: Vec<String>,
    /// TURN long-term credential user name (required for `turn:`/`turns:` URLs).
    pub username: Option<String>,
    /// TURN long-term credential password.
    pub credential: Option<String>,
}

/// Which local candidates ICE may gather and use (W3C `RTCIceTransportPolicy`,
/// `iceTransportPolicy` in an `RTCConfiguration`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum IceTransportPolicy {
    /// Host, server-reflexive and relay candidates (`"all"`).
    #[default]
    All,
    /// Only relay candidates from the TURN servers (`"relay"`): the local and public addresses
    /// are never announced to the remote, and all traffic goes through a TURN server.
    Relay,
}

impl IceTransportPolicy {
    /// The W3C spelling (`"all"`, `"relay"`).
    pub fn as_str(self) -> &'static str {
        match self {
            IceTransportPolicy::All => "all",
            IceTransportPolicy::Relay => "relay",
        }
    }
}

impl FromStr for IceTransportPolicy {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "all" => Ok(IceTransportPolicy::All),
            "relay" => Ok(IceTransportPolicy::Relay),
            other => Err(Error::invalid(format!(
                "unknown iceTransportPolicy {other:?} (expected \"all\" or \"relay\")"
            ))),
        }
    }
}

/// Connection configuration. `Default` is what a Godot `WebRTCPeerConnection.new()` gets.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub ice_servers: Vec<IceServer>,
    /// Only gather host candidates on this address (tests use 127.0.0.1). `None`: every usable
    /// interface address.
    pub bind_address: Option<IpAddr>,
    /// Hide our host addresses behind random `.local` names, as browsers do: each host
    /// candidate is announced as a UUIDv4 `.local` name that the connection answers mDNS
    /// questions for while it lives, server-reflexive and relay candidates with
    /// `raddr 0.0.0.0 rport 0`. The remote must resolve mDNS names on the same link (browsers
    /// and this engine do). Default `false`.
    pub mdns_host_candidates: bool,
    /// What we advertise as `a=max-message-size` (the largest message we accept).
    pub local_max_message_size: u32,
    /// Bytes of received-but-unread messages a channel may hold before the engine stops
    /// reading from SCTP (its receive window then closes and the sender is throttled).
    pub channel_receive_budget: usize,
    /// `IceTransportPolicy::Relay` gathers and uses relay candidates only (needs a reachable
    /// `turn:`/`turns:` server). Default: all candidate types.
    pub ice_transport_policy: IceTransportPolicy,
    /// Caps on what a remote peer can make this connection hold.
    pub limits: Limits,
    /// When a silent path is reported DISCONNECTED, then FAILED.
    pub liveness: Liveness,
    /// A simulated bad network for this connection's traffic (`initialize()` key `simulate`);
    /// `None` (the default): the real network only.
    pub simulate: Option<NetworkSimulation>,
    /// Restart ICE ([`crate::PeerConnection::restart_ice`]) when the connection becomes
    /// DISCONNECTED (`initialize()` key `iceRestartOnDisconnected`). Acts only on the side that
    /// made the first offer, so two peers with it on never offer at once (glare). Default off.
    pub restart_ice_on_disconnected: bool,
    /// Local UDP ports and packet size (firewall-friendly settings).
    pub ports: PortConfig,
}

/// Which local UDP ports a connection uses, and how large its packets may be (`initialize()`
/// keys `portRangeBegin`, `portRangeEnd`, `udpMux`, `mtu`, or webrtc-native's `libdatachannel`
/// sub-dictionary). The default: one socket per local address with a port the system picks,
/// packets sized for a 1280-byte path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortConfig {
    /// Every UDP socket of the connection (host candidates; STUN and TURN over UDP use the same
    /// sockets) binds a port in `begin..=end`, the first free one from a random start. `None`:
    /// a port the system picks.
    pub range: Option<(u16, u16)>,
    /// One UDP socket per local address (and port range) shared by every connection of the
    /// process that sets this; it is closed when the last of them ends.
    pub udp_mux: bool,
    /// The largest IP packet the path carries, 576..=9000 bytes (IPv6 + UDP headers included).
    /// SCTP packets are sized so a datagram fits, also relayed by TURN (see [`sctp_mtu`]).
    pub mtu: u16,
}

/// The default `PortConfig::mtu`: the IPv6 minimum, as libdatachannel.
pub const DEFAULT_MTU: u16 = 1280;
/// The smallest and largest `PortConfig::mtu`.
pub const MTU_RANGE: std::ops::RangeInclusive<u16> = 576..=9000;

/// The SCTP packet budget for a path of `mtu` bytes: minus IPv6 (40) and UDP (8) headers, a TURN
/// ChannelData header (4) and DTLS record overhead (37). 1280 gives rtc-sctp's own default, 1191.
pub fn sctp_mtu(mtu: u16) -> u32 {
    u32::from(mtu).saturating_sub(40 + 8 + 4 + 37)
}

impl Default for PortConfig {
    fn default() -> Self {
        Self {
            range: None,
            udp_mux: false,
            mtu: DEFAULT_MTU,
        }
    }
}

/// A bad network the engine simulates on one connection, for testing a game on poor links
/// without special tools: applied to every UDP datagram the connection sends (before the
/// socket) and receives (after it), each direction on its own, so a round trip takes about
/// twice `delay` more. `NetworkSimulation::default()` changes nothing; set the fields that
/// matter. The random decisions come from `seed` (one stream per direction).
///
/// Traffic to TURN servers over TCP or TLS is not impaired (TCP would repair it anyway).
/// Datagrams held by the simulator take at most 4 MiB per direction; beyond, they are dropped,
/// as a router drops what it has no room for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetworkSimulation {
    /// Share of datagrams lost in each direction, 0 to 1.
    pub loss: f64,
    /// One-way delay added to every datagram, at most 10 s.
    pub delay: Duration,
    /// Each datagram is delayed a further uniform draw in `0..=jitter` (so datagrams closer
    /// together than that are reordered), at most 10 s.
    pub jitter: Duration,
    /// Share of datagrams delivered twice, 0 to 1.
    pub duplicate: f64,
    /// Each direction carries at most this many kilobits (1,000 bits) per second, 1 to
    /// 10,000,000; datagrams queue for the link (up to 250 ms of traffic, at least 16 KiB) and
    /// those that find the queue full are dropped. `None`: no limit.
    pub bandwidth_kbps: Option<u64>,
    /// Seed of the random decisions (the same seed and traffic give the same fates); `None`:
    /// a random seed per connection.
    pub seed: Option<u64>,
}

impl std::fmt::Display for NetworkSimulation {
    /// `loss 5 %, delay 150 ms, jitter 0 ms, duplicate 0 %, bandwidth unlimited` (each
    /// direction).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "loss {} %, delay {} ms, jitter {} ms, duplicate {} %, bandwidth ",
            self.loss * 100.0,
            self.delay.as_millis(),
            self.jitter.as_millis(),
            self.duplicate * 100.0
        )?;
        match self.bandwidth_kbps {
            Some(kbps) => write!(f, "{kbps} kbit/s"),
            None => write!(f, "unlimited"),
        }
    }
}

/// When a connection whose path went silent is reported DISCONNECTED and FAILED, and how often
/// the selected pair is checked. Games often want faster detection than the defaults, which
/// are the browsers'.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Liveness {
    /// Nothing received for this long: DISCONNECTED (the channels stay open).
    pub disconnected_after: Duration,
    /// Nothing received for this long: FAILED, every channel CLOSED. More than
    /// `disconnected_after`.
    pub failed_after: Duration,
    /// How often the selected pair is checked (ICE keepalive and consent). Less than
    /// `disconnected_after`.
    pub keepalive_interval: Duration,
}

impl Default for Liveness {
    fn default() -> Self {
        Self {
            disconnected_after: Duration::from_secs(5),
            failed_after: Duration::from_secs(30),
            keepalive_interval: Duration::from_secs(2),
        }
    }
}

/// Caps on what a remote peer (or a flood of signaling) can make a connection hold. Each
/// default is far above what a game needs and keeps a hostile peer's cost bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Remote candidates accepted per connection: trickled, early and inline in the SDP
    /// together. Browsers send a handful.
    pub max_remote_candidates: usize,
    /// Channels the remote may have open at once by DCEP (in-band); a further
    /// DATA_CHANNEL_OPEN is refused by resetting its stream.
    pub max_remote_channels: usize,
    /// Received-but-unread bytes across all channels of the connection before the engine
    /// stops reading from SCTP (each channel also has `Config::channel_receive_budget`).
    pub connection_receive_budget: usize,
    /// Bytes a channel may hold sent but not yet acknowledged; `send` refuses a message that
    /// would go past it (browsers use 16 MiB too).
    pub channel_send_budget: usize,
    /// `.local` (mDNS) candidate names being resolved at once in the whole process; more are
    /// ignored until one finishes.
    pub max_name_lookups: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_remote_candidates: 100,
            max_remote_channels: 256,
            connection_receive_budget: 16 << 20,
            channel_send_budget: 16 << 20,
            max_name_lookups: 16,
        }
    }
}

pub const DEFAULT_LOCAL_MAX_MESSAGE_SIZE: u32 = 262_144;
/// RFC 8841: a remote description without `a=max-message-size` means 64 KiB.
pub const DEFAULT_REMOTE_MAX_MESSAGE_SIZE: u32 = 65_536;

impl Default for Config {
    fn default() -> Self {
        Self {
            ice_servers: Vec::new(),
            bind_address: None,
            mdns_host_candidates: false,
            local_max_message_size: DEFAULT_LOCAL_MAX_MESSAGE_SIZE,
            channel_receive_budget: 1 << 20,
            ice_transport_policy: IceTransportPolicy::All,
            limits: Limits::default(),
            liveness: Liveness::default(),
            simulate: None,
            ports: PortConfig::default(),
            restart_ice_on_disconnected: false,
        }
    }
}

/// Options of a new data channel (W3C `RTCDataChannelInit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelOptions {
    pub ordered: bool,
    /// Partial reliability by retransmission count. Exclusive with `max_packet_lifetime`.
    pub max_retransmits: Option<u16>,
    /// Partial reliability by lifetime in milliseconds. Exclusive with `max_retransmits`.
    pub max_packet_lifetime: Option<u16>,
    pub protocol: String,
    /// `Some(id)`: negotiated out of band on stream `id` (0..=65534), no DCEP handshake.
    pub negotiated_id: Option<u16>,
}

impl Default for ChannelOptions {
    fn default() -> Self {
        Self {
            ordered: true,
            max_retransmits: None,
            max_packet_lifetime: None,
            protocol: String::new(),
            negotiated_id: None,
        }
    }
}

/// A new channel's options as a script or a JSON message states them (W3C
/// `RTCDataChannelInit`; `None` means the member is absent), before the engine judges them.
/// Integers are as wide as the caller's, so an out-of-range value is reported as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataChannelInit {
    /// Default `true`.
    pub ordered: Option<bool>,
    /// Milliseconds, 0..=65535. Exclusive with `max_retransmits`.
    pub max_packet_life_time: Option<i64>,
    /// 0..=65535. Exclusive with `max_packet_life_time`.
    pub max_retransmits: Option<i64>,
    /// Default empty.
    pub protocol: Option<String>,
    /// Default `false`. `true` requires `id`, and `id` requires `true`.
    pub negotiated: Option<bool>,
    /// The stream id of a negotiated channel, 0..=65534.
    pub id: Option<i64>,
}

impl DataChannelInit {
    /// The options, or an error naming the offending member (ranges, `negotiated` without
    /// `id` or `id` without `negotiated`). The rules on the options as a whole (at most one
    /// reliability limit, label and protocol length) are checked by
    /// [`PeerConnection::create_data_channel`](crate::PeerConnection::create_data_channel).
    pub fn to_options(&self) -> Result<ChannelOptions> {
        crate::config::channel_options(self)
    }
}

/// One whole received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub data: bytes::Bytes,
    /// Sent as a string (PPID 51/56) rather than binary (PPID 53/57).
    pub is_text: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ice_transport_policy_parses_w3c_values() {
        assert_eq!(
            "all".parse::<IceTransportPolicy>().unwrap(),
            IceTransportPolicy::All
        );
        assert_eq!(
            "relay".parse::<IceTransportPolicy>().unwrap(),
            IceTransportPolicy::Relay
        );
        assert_eq!(IceTransportPolicy::default(), IceTransportPolicy::All);
        let e = "none".parse::<IceTransportPolicy>().unwrap_err();
        assert!(e.message().contains("iceTransportPolicy \"none\""), "{e}");
    }

    #[test]
    fn sdp_types_parse_their_w3c_spelling_only() {
        for t in [
            SdpType::Offer,
            SdpType::Answer,
            SdpType::Pranswer,
            SdpType::Rollback,
        ] {
            assert_eq!(t.as_str().parse::<SdpType>(), Ok(t));
        }
        let e = "Offer".parse::<SdpType>().unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidParameter);
        assert_eq!(
            e.message(),
            "unknown session description type \"Offer\" (expected \"offer\", \"answer\", \
             \"pranswer\" or \"rollback\")"
        );
    }
}
