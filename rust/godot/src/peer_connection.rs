//! `WebRtcRsPeerConnection`: what `WebRTCPeerConnection.new()` returns once the extension is
//! loaded (it is registered as the default extension).

use crate::config::parse_config;
use crate::data_channel::WebRtcRsDataChannel;
use crate::diagnostics::{failure_report_value, stats_value};
use crate::godot_error::{engine_failure, invalid};
use crate::godot_value::{dict_entries, to_variant};
use crate::mapping::mline_index;
use crate::options::parse_channel_options;
use crate::session::{Session, Signal};
use crate::simulate::parse_simulation;
use crate::value::Value;
use godot::classes::web_rtc_peer_connection::{ConnectionState, GatheringState, SignalingState};
use godot::classes::{
    IWebRtcPeerConnectionExtension, WebRtcDataChannel, WebRtcPeerConnectionExtension,
};
use godot::global::Error;
use godot::obj::EngineEnum;
use godot::prelude::*;
use webrtc_rs_engine::{Config, DataChannel, SdpType};

/// A WebRTC peer connection (data channels only) implemented in Rust by the webrtc_rs
/// extension. Signals are emitted only from `poll()`, on the thread calling it.
#[derive(GodotClass)]
#[class(tool, base = WebRtcPeerConnectionExtension)]
pub struct WebRtcRsPeerConnection {
    session: Session,
    /// The channel objects handed out for the current connection (created or received), by
    /// id so that they are freed as usual: `poll()` emits their `buffered_amount_low`.
    channels: Vec<InstanceId>,
    base: Base<WebRtcPeerConnectionExtension>,
}

/// Beyond the stock API: statistics, error reasons, the failure report, the network simulator
/// (documented in `doc/WebRtcRsPeerConnection.xml`). The `ConnectionErrorReason` constants are registered by
/// `init.rs`.
#[godot_api]
impl WebRtcRsPeerConnection {
    /// Emitted from `poll()` when something goes wrong: `reason` is a `ConnectionErrorReason`.
    #[signal]
    fn connection_error(reason: i64, message: GString);

    /// Traffic, round-trip time and path of the current connection. Cheap enough for every
    /// frame: it reads what the network thread published.
    #[func]
    fn get_stats(&self) -> VarDictionary {
        to_variant(&stats_value(&self.session.stats()))
            .try_to::<VarDictionary>()
            .unwrap_or_default()
    }

    /// The STUN/TURN servers and candidate pairs the connection tried and how each ended, and
    /// the error that ended it.
    #[func]
    fn get_failure_report(&self) -> VarDictionary {
        to_variant(&failure_report_value(&self.session.failure_report()))
            .try_to::<VarDictionary>()
            .unwrap_or_default()
    }

    /// Restarts ICE: new credentials, candidates gathered again, and a new offer emitted by
    /// `poll()` as `session_description_created("offer", sdp)`, relayed like the first one.
    /// `ERR_FAILED` (the reason in the log) before the first offer/answer, while the remote's
    /// offer awaits our answer, or once closed.
    #[func]
    fn restart_ice(&mut self) -> Error {
        match self.session.restart_ice() {
            Ok(()) => Error::OK,
            Err(e) => engine_failure("WebRtcRsPeerConnection.restart_ice", &e),
        }
    }

    /// Simulates a bad network on this connection from now on, with the keys of
    /// `initialize()`'s `simulate`; an empty Dictionary turns it off. `ERR_INVALID_PARAMETER`
    /// (the bad key named in the log) for settings out of range or of the wrong type.
    #[func]
    fn set_network_simulation(&mut self, settings: VarDictionary) -> Error {
        const WHAT: &str = "WebRtcRsPeerConnection.set_network_simulation";
        let settings = match parse_simulation(&Value::Dict(dict_entries(&settings))) {
            Ok(settings) => settings,
            Err(message) => return invalid(WHAT, &message),
        };
        match self.session.set_network_simulation(settings) {
            Ok(()) => Error::OK,
            Err(e) => engine_failure(WHAT, &e),
        }
    }
}

impl WebRtcRsPeerConnection {
    /// Remembers a channel object this connection handed out (and forgets freed ones).
    fn track(&mut self, channel: &Gd<WebRtcRsDataChannel>) {
        self.channels
            .retain(|id| Gd::<WebRtcRsDataChannel>::try_from_instance_id(*id).is_ok());
        self.channels.push(channel.instance_id());
    }

    /// Emits `buffered_amount_low` on the object of `handle`, if it still exists.
    fn emit_buffered_amount_low(&mut self, handle: &DataChannel) {
        let target = self
            .channels
            .iter()
            .filter_map(|id| Gd::<WebRtcRsDataChannel>::try_from_instance_id(*id).ok())
            .find(|channel| channel.bind().is(handle));
        if let Some(channel) = target {
            // Scripts reacting to the signal may call back into this connection.
            let _reentrant = self.base_mut();
            channel
                .upcast::<Object>()
                .emit_signal("buffered_amount_low", &[]);
        }
    }
}

#[godot_api]
impl IWebRtcPeerConnectionExtension for WebRtcRsPeerConnection {
    fn init(base: Base<WebRtcPeerConnectionExtension>) -> Self {
        WebRtcRsPeerConnection {
            session: Session::new(Config::default()),
            channels: Vec::new(),
            base,
        }
    }

    fn get_connection_state(&self) -> ConnectionState {
        ConnectionState::try_from_ord(self.session.connection_state() as i32)
            .unwrap_or(ConnectionState::FAILED)
    }

    fn get_gathering_state(&self) -> GatheringState {
        GatheringState::try_from_ord(self.session.gathering_state() as i32)
            .unwrap_or(GatheringState::NEW)
    }

    fn get_signaling_state(&self) -> SignalingState {
        SignalingState::try_from_ord(self.session.signaling_state() as i32)
            .unwrap_or(SignalingState::CLOSED)
    }

    /// Replaces the connection with a fresh one (state NEW). The old connection, its channels
    /// (they report CLOSED) and its pending signals are dropped. If the configuration is
    /// refused (wrong types here, broken rules in the engine), nothing changes and
    /// `ERR_INVALID_PARAMETER` is returned.
    fn initialize(&mut self, p_config: VarDictionary) -> Error {
        let entries = dict_entries(&p_config);
        let config = match parse_config(&entries) {
            Ok(parsed) => {
                for warning in &parsed.warnings {
                    godot::global::godot_warn!("WebRTCPeerConnection.initialize: {warning}");
                }
                parsed.config
            }
            Err(message) => return invalid("WebRTCPeerConnection.initialize", &message),
        };
        match self.session.reinitialize(config) {
            Ok(()) => {
                self.channels.clear();
                Error::OK
            }
            Err(e) => engine_failure("WebRTCPeerConnection.initialize", &e),
        }
    }

    fn create_data_channel(
        &mut self,
        p_label: GString,
        p_config: VarDictionary,
    ) -> Option<Gd<WebRtcDataChannel>> {
        let label = p_label.to_string();
        let entries = dict_entries(&p_config);
        let what = format!("WebRTCPeerConnection.create_data_channel(\"{label}\")");
        let options = match parse_channel_options(&entries) {
            Ok(options) => options,
            Err(message) => {
                invalid(&what, &message);
                return None;
            }
        };
        match self.session.create_data_channel(&label, options) {
            Ok(channel) => {
                let channel = WebRtcRsDataChannel::wrap(channel);
                self.track(&channel);
                Some(channel.upcast())
            }
            Err(e) => {
                engine_failure(&what, &e);
                None
            }
        }
    }

    fn create_offer(&mut self) -> Error {
        match self.session.create_offer() {
            Ok(()) => Error::OK,
            Err(e) => engine_failure("WebRTCPeerConnection.create_offer", &e),
        }
    }

    fn set_remote_description(&mut self, p_type: GString, p_sdp: GString) -> Error {
        const WHAT: &str = "WebRTCPeerConnection.set_remote_description";
        let kind = match p_type.to_string().parse::<SdpType>() {
            Ok(kind) => kind,
            Err(e) => return engine_failure(WHAT, &e),
        };
        match self
            .session
            .set_remote_description(kind, &p_sdp.to_string())
        {
            Ok(()) => Error::OK,
            Err(e) => engine_failure(WHAT, &e),
        }
    }

    fn set_local_description(&mut self, p_type: GString, p_sdp: GString) -> Error {
        const WHAT: &str = "WebRTCPeerConnection.set_local_description";
        let kind = match p_type.to_string().parse::<SdpType>() {
            Ok(kind) => kind,
            Err(e) => return engine_failure(WHAT, &e),
        };
        match self.session.set_local_description(kind, &p_sdp.to_string()) {
            Ok(()) => Error::OK,
            Err(e) => engine_failure(WHAT, &e),
        }
    }

    fn add_ice_candidate(
        &mut self,
        p_sdp_mid_name: GString,
        p_sdp_mline_index: i32,
        p_sdp_name: GString,
    ) -> Error {
        const WHAT: &str = "WebRTCPeerConnection.add_ice_candidate";
        let index = match mline_index(i64::from(p_sdp_mline_index)) {
            Ok(index) => index,
            Err(message) => return invalid(WHAT, &message),
        };
        let result = self.session.add_ice_candidate(
            &p_sdp_mid_name.to_string(),
            index,
            &p_sdp_name.to_string(),
        );
        match result {
            Ok(()) => Error::OK,
            Err(e) => engine_failure(WHAT, &e),
        }
    }

    /// Advances the connection and its channels, then emits the pending signals in order. A
    /// handler that calls `initialize()` or `close()` discards the rest of the batch.
    fn poll(&mut self) -> Error {
        let generation = self.session.generation();
        for signal in self.session.poll() {
            if self.session.generation() != generation || self.session.is_closed() {
                break;
            }
            match signal {
                Signal::SessionDescription { sdp_type, sdp } => {
                    self.base_mut().emit_signal(
                        "session_description_created",
                        &[sdp_type.to_variant(), sdp.to_variant()],
                    );
                }
                Signal::IceCandidate {
                    mid,
                    index,
                    candidate,
                } => {
                    self.base_mut().emit_signal(
                        "ice_candidate_created",
                        &[mid.to_variant(), index.to_variant(), candidate.to_variant()],
                    );
                }
                Signal::DataChannel(channel) => {
                    let channel = WebRtcRsDataChannel::wrap(channel);
                    self.track(&channel);
                    let channel: Gd<WebRtcDataChannel> = channel.upcast();
                    self.base_mut()
                        .emit_signal("data_channel_received", &[channel.to_variant()]);
                }
                Signal::BufferedAmountLow(handle) => self.emit_buffered_amount_low(&handle),
                Signal::ConnectionError { reason, message } => {
                    self.base_mut().emit_signal(
                        "connection_error",
                        &[reason.to_variant(), message.to_variant()],
                    );
                }
            }
        }
        Error::OK
    }

    /// Closes the connection and its channels: they report CLOSED at once, and the close still
    /// reaches the remote.
    fn close(&mut self) {
        self.session.close();
    }
}
