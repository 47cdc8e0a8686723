//! One simulated peer: an engine [`Core`] at a made-up address, what it reported (every
//! [`Update`] with the virtual time it came at), and the channel links an application would
//! hold.

use crate::channel::{ChannelInfo, ChannelKey, ChannelLink, ReceiveBudget};
use crate::core::{local_fingerprint, Core, CoreParams};
use crate::mailbox::Update;
use crate::sdp::{Fingerprint, RemoteDescription, Setup};
use crate::types::{ChannelState, ConnectionState, Message};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Per-side settings (what `Config` would give the core).
#[derive(Debug, Clone)]
pub(crate) struct SideConfig {
    pub local_max_message_size: u32,
    pub receive_budget: usize,
    /// Reads every message as soon as it is reported (as `DataChannel::recv` would), so the
    /// receive budget never parks a stream. Off: messages stay unread.
    pub auto_read: bool,
    pub liveness: crate::types::Liveness,
    /// `PortConfig::mtu`.
    pub mtu: u16,
}

impl Default for SideConfig {
    fn default() -> Self {
        Self {
            local_max_message_size: 262_144,
            receive_budget: 1 << 20,
            auto_read: true,
            liveness: crate::types::Liveness::default(),
            mtu: crate::types::DEFAULT_MTU,
        }
    }
}

pub(crate) struct Side {
    pub core: Core,
    /// What the core publishes for a handle (statistics, the failure report).
    pub stats: Arc<crate::stats::StatsBoard>,
    /// Unread bytes across the side's channels.
    connection_budget: Arc<ReceiveBudget>,
    /// The address of its one host candidate (invented; nothing goes to a network).
    pub addr: SocketAddr,
    ufrag: String,
    pwd: String,
    fingerprint: Fingerprint,
    config: SideConfig,
    /// Everything the core reported, with the virtual time (since the start) it was taken at.
    pub updates: Vec<(Duration, Update)>,
    links: HashMap<ChannelKey, Arc<ChannelLink>>,
    next_key: ChannelKey,
}

impl Side {
    pub fn new(start: Instant, name: &str, addr: SocketAddr, config: SideConfig) -> Self {
        let provider = rtc_crypto::default_provider().expect("crypto provider");
        let certificate = rtc_dtls::crypto::Certificate::generate_self_signed(
            vec!["webrtc-rs-sim".to_owned()],
            provider.crypto(),
        )
        .expect("DTLS certificate");
        let fingerprint = local_fingerprint(&certificate).expect("certificate fingerprint");
        // ICE wants at least 4 ufrag and 22 password characters.
        let ufrag = format!("sim{name}ufrag");
        let pwd = format!("sim{name}password0123456789abcdef");
        let connection_budget = Arc::new(ReceiveBudget::new(
            crate::Limits::default().connection_receive_budget,
        ));
        let stats = crate::stats::StatsBoard::new();
        let core = Core::new(
            start,
            CoreParams {
                provider,
                certificate,
                ufrag: ufrag.clone(),
                pwd: pwd.clone(),
                local_max_message_size: config.local_max_message_size,
                receive_budget: config.receive_budget,
                connection_budget: connection_budget.clone(),
                max_remote_channels: crate::Limits::default().max_remote_channels,
                relay_only: false,
                liveness: config.liveness.clone(),
                mtu: config.mtu,
                stats: stats.clone(),
            },
        )
        .expect("core");
        Self {
            core,
            stats,
            connection_budget,
            addr,
            ufrag,
            pwd,
            fingerprint,
            config,
            updates: Vec::new(),
            links: HashMap::new(),
            next_key: 1,
        }
    }

    /// This side's description as the other side would parse it from its SDP.
    pub fn description(&self, setup: Setup) -> RemoteDescription {
        RemoteDescription {
            ufrag: self.ufrag.clone(),
            pwd: self.pwd.clone(),
            fingerprints: vec![self.fingerprint.clone()],
            setup,
            sctp_port: 5000,
            max_message_size: self.config.local_max_message_size,
            ice_lite: false,
            mid: "0".to_owned(),
            mline_index: 0,
            candidates: Vec::new(),
            end_of_candidates: false,
            sections: Vec::new(),
        }
    }

    /// A new local channel, as `create_data_channel` would hand it to the core.
    pub(super) fn new_channel(
        &mut self,
        label: &str,
        ordered: bool,
        negotiated: Option<u16>,
    ) -> (ChannelKey, ChannelInfo, Arc<ChannelLink>) {
        let info = ChannelInfo {
            label: label.to_owned(),
            protocol: String::new(),
            ordered,
            max_retransmits: None,
            max_packet_lifetime: None,
            negotiated: negotiated.is_some(),
        };
        self.new_channel_from(info)
    }

    pub(super) fn new_channel_from(
        &mut self,
        info: ChannelInfo,
    ) -> (ChannelKey, ChannelInfo, Arc<ChannelLink>) {
        let key = self.next_key;
        self.next_key += 1;
        let link = ChannelLink::new(
            self.config.local_max_message_size as usize,
            self.config.receive_budget,
            self.connection_budget.clone(),
        );
        self.links.insert(key, link.clone());
        (key, info, link)
    }

    pub fn link(&self, key: ChannelKey) -> Option<&Arc<ChannelLink>> {
        self.links.get(&key)
    }

    /// The channel's buffered amount: bytes sent and not yet acknowledged (or abandoned).
    pub fn buffered(&self, key: ChannelKey) -> usize {
        self.links
            .get(&key)
            .map_or(0, |l| l.buffered.load(Ordering::Acquire))
    }

    /// Takes the core's updates, stamped `at`; reads messages when `auto_read` (which may
    /// resume a parked stream and so report more). Returns the candidates it announced.
    pub(super) fn collect(&mut self, now: Instant, at: Duration) -> Vec<String> {
        let mut candidates = Vec::new();
        loop {
            let updates = self.core.take_updates();
            if updates.is_empty() {
                return candidates;
            }
            let mut resume = Vec::new();
            for u in &updates {
                match u {
                    Update::RemoteChannel { key, link, .. } => {
                        self.links.insert(*key, link.clone());
                    }
                    Update::Candidate { candidate, .. } => candidates.push(candidate.clone()),
                    Update::ChannelMessage { key, message } if self.config.auto_read => {
                        if let Some(link) = self.links.get(key) {
                            if link.release_unread(message.data.len()) {
                                resume.push(*key);
                            }
                        }
                    }
                    _ => {}
                }
            }
            self.updates.extend(updates.into_iter().map(|u| (at, u)));
            for key in resume {
                self.core.resume(now, key);
            }
        }
    }

    // ----- what it reported -----------------------------------------------------------------

    /// Connection states in the order reported, with when.
    pub fn states(&self) -> Vec<(Duration, ConnectionState)> {
        self.updates
            .iter()
            .filter_map(|(t, u)| match u {
                Update::State(s) => Some((*t, *s)),
                _ => None,
            })
            .collect()
    }

    /// Just the sequence of connection states.
    pub fn state_names(&self) -> Vec<ConnectionState> {
        self.states().into_iter().map(|(_, s)| s).collect()
    }

    /// The reasons of the errors reported, in order.
    pub fn error_reasons(&self) -> Vec<crate::failure::ErrorReason> {
        self.updates
            .iter()
            .filter_map(|(_, u)| match u {
                Update::Error(e) => Some(e.reason),
                _ => None,
            })
            .collect()
    }

    pub fn state(&self) -> ConnectionState {
        self.states()
            .last()
            .map_or(ConnectionState::New, |(_, s)| *s)
    }

    /// When `state` was first reported at or after `since`.
    pub fn reached_after(&self, state: ConnectionState, since: Duration) -> Option<Duration> {
        self.states()
            .into_iter()
            .find(|(t, s)| *s == state && *t >= since)
            .map(|(t, _)| t)
    }

    pub fn reached(&self, state: ConnectionState) -> Option<Duration> {
        self.reached_after(state, Duration::ZERO)
    }

    pub fn channel_states(&self, key: ChannelKey) -> Vec<(Duration, ChannelState)> {
        self.updates
            .iter()
            .filter_map(|(t, u)| match u {
                Update::ChannelState { key: k, state } if *k == key => Some((*t, *state)),
                _ => None,
            })
            .collect()
    }

    /// The channel's last reported state: Connecting before any.
    pub fn channel_state(&self, key: ChannelKey) -> ChannelState {
        self.channel_states(key)
            .last()
            .map_or(ChannelState::Connecting, |(_, s)| *s)
    }

    /// Messages received on a channel, in order, with when.
    pub fn messages(&self, key: ChannelKey) -> Vec<(Duration, Message)> {
        self.updates
            .iter()
            .filter_map(|(t, u)| match u {
                Update::ChannelMessage { key: k, message } if *k == key => {
                    Some((*t, message.clone()))
                }
                _ => None,
            })
            .collect()
    }

    /// Channels the remote opened: key and label, in order.
    pub fn remote_channels(&self) -> Vec<(ChannelKey, String)> {
        self.updates
            .iter()
            .filter_map(|(_, u)| match u {
                Update::RemoteChannel { key, info, .. } => Some((*key, info.label.clone())),
                _ => None,
            })
            .collect()
    }
}
