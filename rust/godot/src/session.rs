//! The Godot-free core of one `WebRTCPeerConnection` object ([`Session`]): the engine
//! connection of the current "generation" (replaced by each `initialize()`), the conversion of
//! engine events into the signals the glue emits from `poll()`, and the state behind each
//! `WebRTCDataChannel` object ([`SessionChannel`]).

use crate::mapping::{clamp_i32, or_unset};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use webrtc_rs_engine::{
    ChannelOptions, ChannelState, Config, ConnectionState, DataChannel, Error, ErrorKind, Event,
    FailureReport, GatheringState, Message, NetworkSimulation, PeerConnection, SdpType,
    SignalingState, Stats,
};

/// Set when a connection generation is retired (closed, re-initialized or freed). The session
/// and every channel created in that generation share one flag; once it is set, those channels
/// report CLOSED and refuse to send, whatever the engine still says about them.
#[derive(Debug, Default)]
pub struct RetiredFlag(AtomicBool);

impl RetiredFlag {
    fn set(&self) {
        self.0.store(true, Ordering::Release);
    }
    fn is_set(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// A signal for the glue to emit, in the order the engine reported the events.
#[derive(Debug)]
pub enum Signal {
    /// `session_description_created(type, sdp)`.
    SessionDescription { sdp_type: &'static str, sdp: String },
    /// `ice_candidate_created(media, index, name)`.
    IceCandidate {
        mid: String,
        index: i32,
        candidate: String,
    },
    /// `data_channel_received(channel)`: the glue wraps this in a channel object.
    DataChannel(SessionChannel),
    /// `buffered_amount_low()` on the object of this channel ([`SessionChannel::is`] finds it).
    BufferedAmountLow(DataChannel),
    /// `connection_error(reason, message)`: `reason` is the `ConnectionErrorReason` value.
    ConnectionError { reason: i64, message: String },
}

/// One peer connection as the Godot object sees it.
pub struct Session {
    pc: Option<PeerConnection>,
    /// Configuration for a connection not created yet: a fresh object creates its engine
    /// connection on first use, so objects that are never used cost nothing.
    lazy: Option<Config>,
    /// Why `pc` is missing, when the engine refused to create it.
    create_error: Option<String>,
    retired: Arc<RetiredFlag>,
    generation: u64,
    closed: bool,
}

impl Session {
    /// A session in state NEW whose engine connection (with `config`) is created on first use.
    /// If the engine then refuses, the session stays in NEW and every operation reports why.
    pub fn new(config: Config) -> Self {
        Session {
            pc: None,
            lazy: Some(config),
            create_error: None,
            retired: Arc::new(RetiredFlag::default()),
            generation: 0,
            closed: false,
        }
    }

    /// Drops the current connection, its channels (they report CLOSED) and its pending events,
    /// and starts a fresh one in state NEW. If the engine refuses `config` (it validates it),
    /// nothing changes and its error is returned.
    pub fn reinitialize(&mut self, config: Config) -> Result<(), Error> {
        let pc = PeerConnection::new(config)?;
        self.retire();
        self.lazy = None;
        self.create_error = None;
        self.closed = false;
        self.generation += 1;
        self.retired = Arc::new(RetiredFlag::default());
        self.pc = Some(pc);
        Ok(())
    }

    /// Changes whenever `initialize()` replaced the connection, so the glue can stop emitting
    /// signals that belong to the old one.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Closes and drops the current connection; its channels report CLOSED from now on.
    fn retire(&mut self) {
        self.retired.set();
        if let Some(mut pc) = self.pc.take() {
            pc.close();
        }
    }

    fn pc(&mut self) -> Result<&mut PeerConnection, Error> {
        if self.closed {
            return Err(Error::new(
                ErrorKind::Closed,
                "the connection is closed; call initialize() to start a new one",
            ));
        }
        if self.pc.is_none() {
            if let Some(config) = self.lazy.take() {
                match PeerConnection::new(config) {
                    Ok(pc) => self.pc = Some(pc),
                    Err(e) => self.create_error = Some(e.message().to_string()),
                }
            }
        }
        match self.pc.as_mut() {
            Some(pc) => Ok(pc),
            None => Err(Error::failed(format!(
                "no connection: the engine could not create one ({})",
                self.create_error.as_deref().unwrap_or("unknown reason")
            ))),
        }
    }

    /// The connection state Godot reports (CLOSED at once after `close()`).
    pub fn connection_state(&self) -> ConnectionState {
        match &self.pc {
            _ if self.closed => ConnectionState::Closed,
            Some(pc) => pc.connection_state(),
            None => ConnectionState::New,
        }
    }

    /// The ICE gathering state.
    pub fn gathering_state(&self) -> GatheringState {
        match &self.pc {
            Some(pc) => pc.gathering_state(),
            None => GatheringState::New,
        }
    }

    /// The offer/answer signaling state.
    pub fn signaling_state(&self) -> SignalingState {
        match &self.pc {
            _ if self.closed => SignalingState::Closed,
            Some(pc) => pc.signaling_state(),
            None => SignalingState::Stable,
        }
    }

    /// Creates a channel on the current connection (creating that connection if still lazy).
    pub fn create_data_channel(
        &mut self,
        label: &str,
        options: ChannelOptions,
    ) -> Result<SessionChannel, Error> {
        let retired = self.retired.clone();
        let handle = self.pc()?.create_data_channel(label, options)?;
        Ok(SessionChannel::new(handle, retired))
    }

    /// Starts an offer; it arrives as a `SessionDescription` signal from `poll()`.
    pub fn create_offer(&mut self) -> Result<(), Error> {
        self.pc()?.create_offer()
    }

    /// Restarts ICE; the new offer arrives as a `SessionDescription` signal from `poll()`.
    pub fn restart_ice(&mut self) -> Result<(), Error> {
        self.pc()?.restart_ice()
    }

    /// Applies the remote description; for an offer the answer follows from `poll()`.
    pub fn set_remote_description(&mut self, sdp_type: SdpType, sdp: &str) -> Result<(), Error> {
        self.pc()?.set_remote_description(sdp_type, sdp)
    }

    /// Applies the local description the application hands back.
    pub fn set_local_description(&mut self, sdp_type: SdpType, sdp: &str) -> Result<(), Error> {
        self.pc()?.set_local_description(sdp_type, sdp)
    }

    /// Adds a remote ICE candidate.
    pub fn add_ice_candidate(
        &mut self,
        mid: &str,
        index: u32,
        candidate: &str,
    ) -> Result<(), Error> {
        self.pc()?.add_ice_candidate(mid, index, candidate)
    }

    /// Simulates a bad network on the current connection from now on (`None`: stops).
    pub fn set_network_simulation(
        &mut self,
        settings: Option<NetworkSimulation>,
    ) -> Result<(), Error> {
        self.pc()?.set_network_simulation(settings)
    }

    /// Advances the connection and its channels and returns the signals to emit, in order.
    pub fn poll(&mut self) -> Vec<Signal> {
        if self.closed {
            return Vec::new();
        }
        let Some(pc) = self.pc.as_mut() else {
            return Vec::new();
        };
        let retired = &self.retired;
        pc.poll()
            .into_iter()
            .filter_map(|event| Signal::from_event(event, retired))
            .collect()
    }

    /// The current connection's statistics (all zero and unknown before it exists). Cheap.
    pub fn stats(&self) -> Stats {
        self.pc
            .as_ref()
            .map(PeerConnection::stats)
            .unwrap_or_default()
    }

    /// What the current connection tried, and the error that ended it.
    pub fn failure_report(&self) -> FailureReport {
        self.pc
            .as_ref()
            .map(PeerConnection::failure_report)
            .unwrap_or_default()
    }

    /// Whether `close()` was called (and no `initialize()` since).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Closes the connection and every channel: CLOSED at once, and the close still reaches the
    /// remote. Pending events are discarded.
    pub fn close(&mut self) {
        self.lazy = None;
        self.retired.set();
        if let Some(pc) = self.pc.as_mut() {
            pc.close();
        }
        self.closed = true;
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.retire();
    }
}

impl Signal {
    /// Converts one engine event; `None` for events with no Godot signal.
    pub fn from_event(event: Event, retired: &Arc<RetiredFlag>) -> Option<Signal> {
        match event {
            Event::SessionDescription { sdp_type, sdp } => Some(Signal::SessionDescription {
                sdp_type: sdp_type.as_str(),
                sdp,
            }),
            Event::IceCandidate {
                mid,
                mline_index,
                candidate,
            } => Some(Signal::IceCandidate {
                mid,
                index: i32::try_from(mline_index).unwrap_or(i32::MAX),
                candidate,
            }),
            Event::GatheringComplete => None,
            Event::DataChannel(handle) => Some(Signal::DataChannel(SessionChannel::new(
                handle,
                retired.clone(),
            ))),
            Event::BufferedAmountLow(handle) => Some(Signal::BufferedAmountLow(handle)),
            Event::ConnectionError(e) => Some(Signal::ConnectionError {
                reason: crate::diagnostics::reason_value(e.reason),
                message: e.message,
            }),
        }
    }
}

/// Write mode of a channel (Godot `WebRTCDataChannel.WriteMode`; BINARY by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    Text,
    Binary,
}

/// The Godot-free state behind one `WebRTCDataChannel` object: the engine channel, the
/// packet being read, the write mode, and its generation's [`RetiredFlag`].
#[derive(Debug)]
pub struct SessionChannel {
    handle: DataChannel,
    retired: Arc<RetiredFlag>,
    /// The message `get_packet` returned last; its bytes must stay valid until the next call.
    current: Option<Message>,
    write_mode: WriteMode,
}

impl SessionChannel {
    fn new(handle: DataChannel, retired: Arc<RetiredFlag>) -> Self {
        SessionChannel {
            handle,
            retired,
            current: None,
            write_mode: WriteMode::Binary,
        }
    }

    /// The channel label.
    pub fn label(&self) -> String {
        self.handle.label()
    }
    /// The sub-protocol given at creation.
    pub fn protocol(&self) -> String {
        self.handle.protocol()
    }
    /// Whether messages arrive in order.
    pub fn is_ordered(&self) -> bool {
        self.handle.ordered()
    }
    /// Whether the channel was negotiated out of band.
    pub fn is_negotiated(&self) -> bool {
        self.handle.negotiated()
    }
    /// The stream id, or 65535 while an in-band channel has none yet.
    pub fn id(&self) -> i32 {
        or_unset(self.handle.id())
    }
    /// The retransmission limit, or 65535 when not set.
    pub fn max_retransmits(&self) -> i32 {
        or_unset(self.handle.max_retransmits())
    }
    /// The lifetime limit in milliseconds, or 65535 when not set.
    pub fn max_packet_life_time(&self) -> i32 {
        or_unset(self.handle.max_packet_lifetime())
    }
    /// Bytes accepted for sending and not yet handed to the network.
    pub fn buffered_amount(&self) -> i32 {
        clamp_i32(self.handle.buffered_amount())
    }
    /// The largest message `send` accepts (the negotiated limit).
    pub fn max_packet_size(&self) -> i32 {
        clamp_i32(self.handle.max_message_size())
    }
    /// The buffered amount at or below which `buffered_amount_low` fires when it falls there.
    pub fn buffered_amount_low_threshold(&self) -> i64 {
        i64::try_from(self.handle.buffered_amount_low_threshold()).unwrap_or(i64::MAX)
    }
    /// Sets the threshold; a negative value is refused.
    pub fn set_buffered_amount_low_threshold(&self, bytes: i64) -> Result<(), Error> {
        let bytes = usize::try_from(bytes).map_err(|_| {
            Error::invalid(format!("the threshold must not be negative, got {bytes}"))
        })?;
        self.handle.set_buffered_amount_low_threshold(bytes);
        Ok(())
    }
    /// Whether `handle` is this channel (the target of a `BufferedAmountLow` signal).
    pub fn is(&self, handle: &DataChannel) -> bool {
        self.handle == *handle
    }

    /// The channel state; CLOSED once its connection was closed, re-initialized or freed.
    pub fn ready_state(&self) -> ChannelState {
        if self.retired.is_set() {
            ChannelState::Closed
        } else {
            self.handle.ready_state()
        }
    }

    /// The mode outgoing messages are sent in.
    pub fn write_mode(&self) -> WriteMode {
        self.write_mode
    }
    /// Sets the mode outgoing messages are sent in.
    pub fn set_write_mode(&mut self, mode: WriteMode) {
        self.write_mode = mode;
    }

    /// Whole messages `next_packet` will deliver.
    pub fn available(&self) -> i32 {
        clamp_i32(self.handle.available())
    }

    /// Takes the next message; the returned bytes stay valid until the next call.
    pub fn next_packet(&mut self) -> Option<&[u8]> {
        let message = self.handle.recv()?;
        Some(self.current.insert(message).data.as_ref())
    }

    /// Whether the message `next_packet` returned last was sent as text.
    pub fn was_string_packet(&self) -> bool {
        self.current.as_ref().is_some_and(|m| m.is_text)
    }

    /// Sends one message in the current write mode (text mode keeps every byte, NULs included).
    pub fn send(&self, data: &[u8]) -> Result<(), Error> {
        if self.retired.is_set() {
            return Err(Error::new(
                ErrorKind::Closed,
                "the channel's connection was closed or re-initialized",
            ));
        }
        self.handle.send(data, self.write_mode == WriteMode::Text)
    }

    /// Starts closing the channel; the close reaches the remote.
    pub fn close(&self) {
        self.handle.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn description_and_candidate_events_become_signals() {
        let retired = Arc::new(RetiredFlag::default());
        let signal = Signal::from_event(
            Event::SessionDescription {
                sdp_type: SdpType::Answer,
                sdp: "v=0".into(),
            },
            &retired,
        );
        assert!(matches!(
            signal,
            Some(Signal::SessionDescription { sdp_type: "answer", ref sdp }) if sdp == "v=0"
        ));
        let signal = Signal::from_event(
            Event::IceCandidate {
                mid: "0".into(),
                mline_index: 0,
                candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host".into(),
            },
            &retired,
        );
        assert!(matches!(
            signal,
            Some(Signal::IceCandidate { ref mid, index: 0, ref candidate })
                if mid == "0" && candidate.starts_with("candidate:1")
        ));
    }

    #[test]
    fn gathering_complete_has_no_signal() {
        let retired = Arc::new(RetiredFlag::default());
        assert!(Signal::from_event(Event::GatheringComplete, &retired).is_none());
    }

    #[test]
    fn huge_mline_index_saturates() {
        let retired = Arc::new(RetiredFlag::default());
        let signal = Signal::from_event(
            Event::IceCandidate {
                mid: String::new(),
                mline_index: u32::MAX,
                candidate: String::new(),
            },
            &retired,
        );
        assert!(matches!(
            signal,
            Some(Signal::IceCandidate {
                index: i32::MAX,
                ..
            })
        ));
    }
}
