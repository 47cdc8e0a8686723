//! PUBLIC API CONTRACT (scaffolding). The signatures below are what the Godot glue and the CLI
//! code against; the engine implementation replaces the bodies (and may move these types into
//! their own modules) without changing the signatures.

use crate::error::{Error, Result};
use crate::types::*;
use std::sync::Arc;

/// Something the application must see, delivered by [`PeerConnection::poll`] in the order it
/// happened.
#[derive(Debug)]
pub enum Event {
    /// A local description was created (after `create_offer`, or the automatic answer after a
    /// remote offer). The application hands it back with `set_local_description`.
    SessionDescription { sdp_type: SdpType, sdp: String },
    /// A local ICE candidate (`candidate:...` line without `a=`), to trickle to the remote.
    IceCandidate {
        mid: String,
        mline_index: u32,
        candidate: String,
    },
    /// Local gathering finished (no more `IceCandidate` events until an ICE restart).
    GatheringComplete,
    /// The remote opened an in-band (DCEP) channel. Never raised for negotiated channels.
    DataChannel(DataChannel),
}

/// Called from the network thread whenever new events or state are ready for `poll()`.
pub type Notify = Arc<dyn Fn() + Send + Sync>;

/// One WebRTC peer connection (data channels only). Cheap to create, usable at once in state
/// NEW. Not `Sync`: drive it from one thread. Dropping it tears everything down.
pub struct PeerConnection {
    _private: (),
}

impl PeerConnection {
    /// Validates `config` (errors name the bad entry) and creates a connection in state NEW.
    pub fn new(config: Config) -> Result<Self> {
        let _ = config;
        Err(Error::failed("engine not implemented yet"))
    }
    pub fn connection_state(&self) -> ConnectionState {
        ConnectionState::New
    }
    pub fn gathering_state(&self) -> GatheringState {
        GatheringState::New
    }
    pub fn signaling_state(&self) -> SignalingState {
        SignalingState::Stable
    }
    /// Creates a channel (in-band or negotiated). Options are validated here.
    pub fn create_data_channel(
        &mut self,
        label: &str,
        options: ChannelOptions,
    ) -> Result<DataChannel> {
        let _ = (label, options);
        Err(Error::failed("engine not implemented yet"))
    }
    /// Starts creating an offer; `Event::SessionDescription(Offer)` follows from `poll()`.
    pub fn create_offer(&mut self) -> Result<()> {
        Err(Error::failed("engine not implemented yet"))
    }
    /// Applies a remote description; for an offer the answer follows as an event.
    pub fn set_remote_description(&mut self, sdp_type: SdpType, sdp: &str) -> Result<()> {
        let _ = (sdp_type, sdp);
        Err(Error::failed("engine not implemented yet"))
    }
    /// Applies the local description the application hands back; it must be the one we produced.
    pub fn set_local_description(&mut self, sdp_type: SdpType, sdp: &str) -> Result<()> {
        let _ = (sdp_type, sdp);
        Err(Error::failed("engine not implemented yet"))
    }
    /// Adds a remote candidate (`candidate:...`, with or without `a=`; empty = end of
    /// candidates). Candidates arriving before the remote description are buffered.
    pub fn add_ice_candidate(
        &mut self,
        mid: &str,
        mline_index: u32,
        candidate: &str,
    ) -> Result<()> {
        let _ = (mid, mline_index, candidate);
        Err(Error::failed("engine not implemented yet"))
    }
    /// Makes everything that happened since the last call visible (states, channel states,
    /// received messages) and returns the pending events in order.
    pub fn poll(&mut self) -> Vec<Event> {
        Vec::new()
    }
    /// Registers a callback run on the network thread when `poll()` has something new.
    pub fn set_notify(&mut self, notify: Option<Notify>) {
        let _ = notify;
    }
    /// Closes every channel and the connection; the state is CLOSED at once and the close
    /// still reaches the remote.
    pub fn close(&mut self) {}
}

/// A data channel handle. Clones refer to the same channel. State and received messages
/// advance only through the owning connection's `poll()`.
#[derive(Clone, Debug)]
pub struct DataChannel {
    _private: Arc<()>,
}

impl DataChannel {
    pub fn label(&self) -> String {
        String::new()
    }
    pub fn protocol(&self) -> String {
        String::new()
    }
    pub fn ordered(&self) -> bool {
        true
    }
    pub fn negotiated(&self) -> bool {
        false
    }
    /// The SCTP stream id; `None` for an in-band channel before the DTLS role is known.
    pub fn id(&self) -> Option<u16> {
        None
    }
    pub fn max_retransmits(&self) -> Option<u16> {
        None
    }
    pub fn max_packet_lifetime(&self) -> Option<u16> {
        None
    }
    pub fn ready_state(&self) -> ChannelState {
        ChannelState::Connecting
    }
    /// Bytes accepted by `send` and not yet handed to the network.
    pub fn buffered_amount(&self) -> usize {
        0
    }
    /// The largest message `send` accepts (negotiated; `DEFAULT_LOCAL_MAX_MESSAGE_SIZE` before).
    pub fn max_message_size(&self) -> usize {
        DEFAULT_LOCAL_MAX_MESSAGE_SIZE as usize
    }
    /// Queues one message. Errors: not open, closed, or larger than `max_message_size`.
    pub fn send(&self, data: &[u8], is_text: bool) -> Result<()> {
        let _ = (data, is_text);
        Err(Error::failed("engine not implemented yet"))
    }
    /// Whole messages visible since the connection's last `poll()`.
    pub fn available(&self) -> usize {
        0
    }
    /// Takes the next visible message.
    pub fn recv(&self) -> Option<Message> {
        None
    }
    /// Starts closing (CLOSING, then CLOSED once the remote confirmed); reaches the remote.
    pub fn close(&self) {}
}
