//! The public handles: [`PeerConnection`] and [`DataChannel`]. They are synchronous and never
//! block on the network: requests go to the connection's task on the network thread as
//! [`Command`]s, and what happened there comes back as [`Update`]s that become visible only in
//! [`PeerConnection::poll`].

use crate::candidate::{self, RemoteCandidate};
use crate::channel::{
    negotiated_max_message_size, size_limit, ChannelInfo, ChannelKey, ChannelLink, ReceiveBudget,
    REMOTE_KEY_BIT,
};
use crate::core::{local_fingerprint, Core, CoreParams};
use crate::driver::{self, DriverConfig};
use crate::error::{Error, ErrorKind, Result};
use crate::failure::{ConnectionError, ErrorReason, FailureReport};
use crate::mailbox::{Command, Notify, Shared, Update};
use crate::sdp::{self, Fingerprint, LocalDescription, Setup};
use crate::stats::{ChannelStats, Stats, StatsBoard};
use crate::types::*;
use std::cell::Cell;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;

mod data_channel;
mod restart;
pub use data_channel::DataChannel;
use restart::Negotiated;

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
    /// The channel's buffered amount fell from above its low threshold
    /// ([`DataChannel::set_buffered_amount_low_threshold`], 0 by default) to at or below it, as
    /// the network released what it had sent (W3C `bufferedamountlow`): once per such drop.
    BufferedAmountLow(DataChannel),
    /// Something went wrong; see [`crate::failure`] for when each reason is reported.
    ConnectionError(ConnectionError),
}

/// Tasks alive on the process's network thread: two per connection (its task and the one that
/// watches it for a panic) plus one per socket reader, name lookup and TURN stream, and every
/// timer a connection has lives in one of them. 0 once every connection has ended (shortly
/// after the last one is closed or dropped: its task still sends the close). For leak checks:
/// a count that keeps growing while connections come and go is a leak.
pub fn live_network_tasks() -> usize {
    crate::driver::alive_tasks()
}

/// The shared UDP sockets (`PortConfig::udp_mux`) open in the process, with their connections
/// and routing-table sizes. Empty once the last connection using each has ended.
pub fn udp_mux_sockets() -> Vec<crate::driver::mux::UdpMuxInfo> {
    crate::driver::mux::sockets()
}

/// One WebRTC peer connection (data channels only). Cheap to create, usable at once in state
/// NEW. Not `Sync`: drive it from one thread. Dropping it tears everything down.
pub struct PeerConnection {
    commands: mpsc::UnboundedSender<Command>,
    shared: Arc<Shared>,
    config: Config,
    ufrag: String,
    pwd: String,
    fingerprint: Fingerprint,
    session_id: u64,
    state: ConnectionState,
    gathering: GatheringState,
    signaling: SignalingState,
    channels: HashMap<ChannelKey, DataChannel>,
    next_key: ChannelKey,
    offer: Option<String>,
    answer: Option<String>,
    remote_set: bool,
    early_candidates: Vec<RemoteCandidate>,
    /// Remote candidates taken so far (against `Limits::max_remote_candidates`).
    remote_candidates: usize,
    /// Unread received bytes across every channel of this connection.
    connection_budget: Arc<ReceiveBudget>,
    max_message_size: usize,
    stats: Arc<StatsBoard>,
    closed: bool,
    /// What the first offer/answer settled, kept for the descriptions after it.
    negotiated: Option<Negotiated>,
    /// Our offer restarting ICE ([`PeerConnection::restart_ice`]) awaits its answer.
    restart_offered: bool,
    /// The `o=` version of our next description.
    sdp_version: u64,
    _not_sync: PhantomData<Cell<()>>,
}

impl std::fmt::Debug for PeerConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerConnection")
            .field("state", &self.state)
            .field("signaling", &self.signaling)
            .field("gathering", &self.gathering)
            .finish()
    }
}

fn random_token(len: usize) -> Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bytes = vec![0u8; len];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| Error::failed("the system random generator failed"))?;
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char)
        .collect())
}

impl PeerConnection {
    /// Validates `config` (errors name the bad entry) and creates a connection in state NEW.
    pub fn new(config: Config) -> Result<Self> {
        let servers = crate::config::validate(&config)?;
        let provider = rtc_crypto::default_provider()
            .map_err(|e| Error::failed(format!("no crypto provider: {e}")))?;
        let certificate = rtc_dtls::crypto::Certificate::generate_self_signed(
            vec!["webrtc-rs".to_owned()],
            provider.crypto(),
        )
        .map_err(|e| Error::failed(format!("cannot create the DTLS certificate: {e}")))?;
        let fingerprint = local_fingerprint(&certificate)
            .ok_or_else(|| Error::failed("the DTLS certificate is empty"))?;
        let ufrag = random_token(16)?.replace(['+', '/'], "x");
        let pwd = random_token(32)?;
        let mut id = [0u8; 8];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut id)
            .map_err(|_| Error::failed("the system random generator failed"))?;
        let session_id = u64::from_be_bytes(id) >> 2;
        let turn_provider = provider.clone();
        let connection_budget =
            Arc::new(ReceiveBudget::new(config.limits.connection_receive_budget));
        let stats = StatsBoard::new();
        let core = Core::new(
            Instant::now(),
            CoreParams {
                provider,
                certificate,
                ufrag: ufrag.clone(),
                pwd: pwd.clone(),
                local_max_message_size: config.local_max_message_size,
                receive_budget: config.channel_receive_budget,
                connection_budget: connection_budget.clone(),
                max_remote_channels: config.limits.max_remote_channels,
                relay_only: config.ice_transport_policy == IceTransportPolicy::Relay,
                liveness: config.liveness.clone(),
                mtu: config.ports.mtu,
                stats: stats.clone(),
            },
        )?;
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Shared::new();
        driver::spawn(
            core,
            rx,
            shared.clone(),
            DriverConfig {
                bind_address: config.bind_address,
                servers,
                relay_only: config.ice_transport_policy == IceTransportPolicy::Relay,
                provider: turn_provider,
                max_name_lookups: config.limits.max_name_lookups,
                mdns_host_candidates: config.mdns_host_candidates,
                simulate: config.simulate.clone(),
                stats: stats.clone(),
                ports: config.ports,
                ufrag: ufrag.clone(),
            },
        )?;
        if let Some(simulate) = &config.simulate {
            warn_simulation(simulate);
        }
        let max_message_size = size_limit(config.local_max_message_size);
        Ok(Self {
            commands: tx,
            shared,
            config,
            ufrag,
            pwd,
            fingerprint,
            session_id,
            state: ConnectionState::New,
            gathering: GatheringState::New,
            signaling: SignalingState::Stable,
            channels: HashMap::new(),
            next_key: 1,
            offer: None,
            answer: None,
            remote_set: false,
            early_candidates: Vec::new(),
            remote_candidates: 0,
            connection_budget,
            max_message_size,
            stats,
            closed: false,
            negotiated: None,
            restart_offered: false,
            sdp_version: 2,
            _not_sync: PhantomData,
        })
    }

    pub fn connection_state(&self) -> ConnectionState {
        self.state
    }

    pub fn gathering_state(&self) -> GatheringState {
        self.gathering
    }

    pub fn signaling_state(&self) -> SignalingState {
        self.signaling
    }

    fn check_open(&self) -> Result<()> {
        if self.closed {
            Err(Error::new(ErrorKind::Closed, "the connection is closed"))
        } else {
            Ok(())
        }
    }

    fn command(&self, cmd: Command) -> Result<()> {
        self.commands
            .send(cmd)
            .map_err(|_| Error::new(ErrorKind::Closed, "the connection has ended"))
    }

    /// Creates a channel (in-band or negotiated). Options are validated here.
    pub fn create_data_channel(
        &mut self,
        label: &str,
        options: ChannelOptions,
    ) -> Result<DataChannel> {
        self.check_open()?;
        crate::config::check_channel(label, &options)?;
        if let Some(id) = options.negotiated_id {
            let taken = self
                .channels
                .values()
                .any(|c| c.id() == Some(id) && c.ready_state() != ChannelState::Closed);
            if taken {
                return Err(Error::invalid(format!(
                    "a channel with id {id} already exists on this connection"
                )));
            }
        }
        let key = self.next_key;
        self.next_key = self.next_key.wrapping_add(1).max(1) & !crate::channel::REMOTE_KEY_BIT;
        let info = ChannelInfo {
            label: label.to_owned(),
            protocol: options.protocol.clone(),
            ordered: options.ordered,
            max_retransmits: options.max_retransmits,
            max_packet_lifetime: options.max_packet_lifetime,
            negotiated: options.negotiated_id.is_some(),
        };
        let link = ChannelLink::new(
            self.max_message_size,
            self.config.channel_receive_budget,
            self.connection_budget.clone(),
        );
        let channel = DataChannel::new(
            key,
            info.clone(),
            options.negotiated_id,
            ChannelState::Connecting,
            link.clone(),
            self.commands.clone(),
            self.config.limits.channel_send_budget,
        );
        self.command(Command::CreateChannel {
            key,
            info,
            id: options.negotiated_id,
            link,
        })?;
        self.channels.insert(key, channel.clone());
        Ok(channel)
    }

    fn local_sdp(&mut self, setup: Setup, mid: &str, sections: &[sdp::MediaSection]) -> String {
        let version = self.sdp_version;
        self.sdp_version += 1;
        sdp::write(&LocalDescription {
            session_id: self.session_id,
            version,
            ufrag: &self.ufrag,
            pwd: &self.pwd,
            fingerprint: &self.fingerprint,
            setup,
            max_message_size: self.config.local_max_message_size,
            mid,
            offer_sections: sections,
        })
    }

    /// Starts creating an offer; `Event::SessionDescription(Offer)` follows from `poll()`.
    pub fn create_offer(&mut self) -> Result<()> {
        self.check_open()?;
        if self.remote_set || self.answer.is_some() {
            return Err(Error::state(
                "create_offer: a remote description is already applied",
            ));
        }
        let sdp = self.local_sdp(Setup::ActPass, "0", &[]);
        self.stats.start(Instant::now());
        self.offer = Some(sdp.clone());
        self.shared.push_quiet(vec![Update::LocalDescription {
            sdp_type: SdpType::Offer,
            sdp,
        }]);
        self.command(Command::StartGathering {
            mid: "0".to_owned(),
            mline_index: 0,
        })
    }

    /// Applies a remote description; for an offer the answer follows as an event.
    pub fn set_remote_description(&mut self, sdp_type: SdpType, sdp: &str) -> Result<()> {
        self.check_open()?;
        match sdp_type {
            SdpType::Offer => {
                if self.remote_set {
                    return self.remote_reoffer(sdp);
                }
                if self.offer.is_some() {
                    return Err(Error::state(
                        "set_remote_description(offer): we already created an offer",
                    ));
                }
                let remote = sdp::parse(sdp, "offer")?;
                self.stats.start(Instant::now());
                let (setup, dtls_client) = match remote.setup {
                    Setup::ActPass | Setup::Passive => (Setup::Active, true),
                    Setup::Active => (Setup::Passive, false),
                };
                let answer = self.local_sdp(setup, &remote.mid, &remote.sections);
                let (mid, mline_index) = (remote.mid.clone(), remote.mline_index);
                self.apply_remote(remote, false, dtls_client)?;
                self.signaling = SignalingState::HaveRemoteOffer;
                self.answer = Some(answer.clone());
                self.shared.push_quiet(vec![Update::LocalDescription {
                    sdp_type: SdpType::Answer,
                    sdp: answer,
                }]);
                self.command(Command::StartGathering { mid, mline_index })
            }
            SdpType::Answer => {
                if self.restart_offered {
                    return self.restart_answer(sdp);
                }
                if self.remote_set {
                    return Err(Error::state(
                        "set_remote_description: a remote description is already applied",
                    ));
                }
                if self.offer.is_none() {
                    return Err(Error::state(
                        "set_remote_description(answer): no offer was created",
                    ));
                }
                let remote = sdp::parse(sdp, "answer")?;
                // Our offer said actpass; the answer picks the other role.
                let dtls_client = remote.setup == Setup::Passive;
                self.apply_remote(remote, true, dtls_client)?;
                self.signaling = SignalingState::Stable;
                Ok(())
            }
            SdpType::Pranswer | SdpType::Rollback => Err(Error::invalid(format!(
                "session description type {:?} is not supported",
                sdp_type.as_str()
            ))),
        }
    }

    fn apply_remote(
        &mut self,
        remote: sdp::RemoteDescription,
        offerer: bool,
        dtls_client: bool,
    ) -> Result<()> {
        self.count_remote_candidates(remote.candidates.len())?;
        self.negotiated = Some(Negotiated::new(&remote, offerer, dtls_client));
        let max = size_limit(negotiated_max_message_size(
            remote.max_message_size,
            self.config.local_max_message_size,
        ));
        self.max_message_size = max;
        for c in self.channels.values() {
            c.inner.link.max_message_size.store(max, Ordering::Release);
        }
        self.command(Command::SetRemote {
            remote: Box::new(remote),
            offerer,
            dtls_client,
        })?;
        self.remote_set = true;
        for c in std::mem::take(&mut self.early_candidates) {
            self.command(Command::AddCandidate(c))?;
        }
        Ok(())
    }

    /// Applies the local description the application hands back; it must be the one we produced.
    pub fn set_local_description(&mut self, sdp_type: SdpType, sdp: &str) -> Result<()> {
        self.check_open()?;
        let (expected, next) = match sdp_type {
            SdpType::Offer => (
                self.offer.as_ref().ok_or_else(|| {
                    Error::state("set_local_description(offer): no offer was created")
                })?,
                if self.remote_set && !self.restart_offered {
                    SignalingState::Stable
                } else {
                    SignalingState::HaveLocalOffer
                },
            ),
            SdpType::Answer => (
                self.answer.as_ref().ok_or_else(|| {
                    Error::state("set_local_description(answer): no answer was created")
                })?,
                SignalingState::Stable,
            ),
            other => {
                return Err(Error::invalid(format!(
                    "set_local_description: type {:?} is not supported",
                    other.as_str()
                )))
            }
        };
        let given = sdp::parse(sdp, "local")?;
        let ours = sdp::parse(expected, "local")?;
        if given.ufrag != ours.ufrag || given.pwd != ours.pwd {
            return Err(Error::invalid(
                "set_local_description: the ICE credentials differ from the description we created",
            ));
        }
        if !given.fingerprints.contains(&self.fingerprint) {
            return Err(Error::invalid(
                "set_local_description: the fingerprint differs from the description we created",
            ));
        }
        // A late set_local_description(offer) after the answer arrived changes nothing.
        if !(sdp_type == SdpType::Offer && self.remote_set && !self.restart_offered) {
            self.signaling = next;
        }
        Ok(())
    }

    /// Adds a remote candidate (`candidate:...`, with or without `a=`; empty = end of
    /// candidates). Candidates arriving before the remote description are buffered.
    pub fn add_ice_candidate(
        &mut self,
        mid: &str,
        mline_index: u32,
        candidate: &str,
    ) -> Result<()> {
        let _ = (mid, mline_index);
        self.check_open()?;
        let c = candidate::parse(candidate)?;
        if c != RemoteCandidate::End {
            self.count_remote_candidates(1)?;
        }
        if self.remote_set {
            self.command(Command::AddCandidate(c))
        } else {
            self.early_candidates.push(c);
            Ok(())
        }
    }

    /// Counts `n` more remote candidates against `Limits::max_remote_candidates`.
    fn count_remote_candidates(&mut self, n: usize) -> Result<()> {
        let limit = self.config.limits.max_remote_candidates;
        if self.remote_candidates + n > limit {
            return Err(Error::new(
                ErrorKind::Busy,
                format!(
                    "too many remote candidates: this connection takes at most {limit} \
                     (limit maxRemoteCandidates)"
                ),
            ));
        }
        self.remote_candidates += n;
        Ok(())
    }

    /// Makes everything that happened since the last call visible (states, channel states,
    /// received messages) and returns the pending events in order.
    pub fn poll(&mut self) -> Vec<Event> {
        let updates = self.shared.take();
        let mut events = Vec::new();
        if self.closed {
            return events;
        }
        let was = self.state;
        for u in updates {
            self.apply(u, &mut events);
        }
        if self.state == ConnectionState::Disconnected && was != ConnectionState::Disconnected {
            self.restart_when_disconnected(&mut events);
        }
        self.close_abandoned_channels();
        self.channels
            .retain(|_, c| c.ready_state() != ChannelState::Closed);
        events
    }

    fn apply(&mut self, u: Update, events: &mut Vec<Event>) {
        match u {
            Update::LocalDescription { sdp_type, sdp } => {
                events.push(Event::SessionDescription { sdp_type, sdp })
            }
            Update::State(s) => self.state = s,
            Update::Gathering(g) => self.gathering = g,
            Update::Candidate {
                mid,
                mline_index,
                candidate,
            } => events.push(Event::IceCandidate {
                mid,
                mline_index,
                candidate,
            }),
            Update::GatheringComplete => events.push(Event::GatheringComplete),
            Update::ChannelId { key, id } => {
                if let Some(c) = self.channels.get(&key) {
                    c.inner.visible().id = Some(id);
                }
            }
            Update::ChannelState { key, state } => {
                if let Some(c) = self.channels.get(&key) {
                    let mut v = c.inner.visible();
                    if v.state != ChannelState::Closed
                        && !(v.state == ChannelState::Closing && state == ChannelState::Open)
                    {
                        v.state = state;
                    }
                }
            }
            Update::BufferedAmountLow { key } => {
                if let Some(c) = self.channels.get(&key) {
                    events.push(Event::BufferedAmountLow(c.clone()));
                }
            }
            Update::ChannelMessage { key, message } => {
                if let Some(c) = self.channels.get(&key) {
                    c.inner.visible().queue.push_back(message);
                } else {
                    // Nobody can read it any more; give the budget back.
                    self.connection_budget.release(message.data.len());
                }
            }
            Update::Crashed => {
                self.state = ConnectionState::Failed;
                for c in self.channels.values() {
                    c.inner.visible().state = ChannelState::Closed;
                    c.inner.link.buffered.store(0, Ordering::Release);
                }
                let error = ConnectionError {
                    reason: ErrorReason::Internal,
                    message: "the connection's network task panicked (see the log)".to_owned(),
                };
                self.stats.ended_with(error.clone());
                events.push(Event::ConnectionError(error));
            }
            Update::Error(error) => events.push(Event::ConnectionError(error)),
            Update::RemoteChannel {
                key,
                info,
                id,
                link,
            } => {
                let channel = DataChannel::new(
                    key,
                    info,
                    Some(id),
                    ChannelState::Open,
                    link,
                    self.commands.clone(),
                    self.config.limits.channel_send_budget,
                );
                self.channels.insert(key, channel.clone());
                events.push(Event::DataChannel(channel));
            }
        }
    }

    /// The connection's statistics (see [`crate::stats`]). Cheap: reads what the network
    /// thread published, never waits for it.
    pub fn stats(&self) -> Stats {
        let mut stats = self.stats.stats();
        stats.channels = self
            .channels
            .values()
            .filter(|c| c.ready_state() != ChannelState::Closed)
            .map(|c| {
                let t = c.inner.link.traffic.counts();
                ChannelStats {
                    label: c.label(),
                    id: c.id(),
                    bytes_sent: t.bytes_sent,
                    bytes_received: t.bytes_received,
                    messages_sent: t.messages_sent,
                    messages_received: t.messages_received,
                    buffered_amount: c.buffered_amount(),
                }
            })
            .collect();
        stats.channels.sort_by_key(|c| (c.id.is_none(), c.id));
        stats
    }

    /// What the connection tried: its STUN/TURN servers and candidate pairs and how each
    /// ended, and the error that ended it. Valid at any time; complete once FAILED.
    pub fn failure_report(&self) -> FailureReport {
        self.stats.failure_report()
    }

    /// Datagrams this connection dropped without acting on them: from addresses that are not
    /// the ICE-validated remote, STUN without valid credentials, malformed DTLS.
    pub fn dropped_datagrams(&self) -> u64 {
        self.shared.dropped_datagrams.load(Ordering::Relaxed)
    }

    /// Simulates a bad network on this connection from now on, as the `simulate` key of the
    /// configuration does (`None`: the real network only). Datagrams already held are still
    /// delivered on their schedule. Errors: settings out of range (named), or the connection
    /// is closed.
    pub fn set_network_simulation(&mut self, settings: Option<NetworkSimulation>) -> Result<()> {
        self.check_open()?;
        if let Some(s) = &settings {
            crate::config::check_simulation(s)?;
        }
        self.command(Command::Simulate(settings.clone()))?;
        match &settings {
            Some(s) => warn_simulation(s),
            None if self.config.simulate.is_some() => {
                tracing::info!("network simulation off: the real network only from now on")
            }
            None => {}
        }
        self.config.simulate = settings;
        Ok(())
    }

    /// The network simulation in effect (`Config::simulate`, or the last
    /// [`PeerConnection::set_network_simulation`]).
    pub fn network_simulation(&self) -> Option<&NetworkSimulation> {
        self.config.simulate.as_ref()
    }

    /// Makes this connection's network task panic, to test that a panic there fails only this
    /// connection. Not for applications.
    #[doc(hidden)]
    pub fn inject_network_panic_for_test(&self) {
        let _ = self.commands.send(Command::InjectPanic);
    }

    /// Sends this connection's mDNS queries (for `.local` candidates) to `to` instead of the
    /// mDNS group, so a test can answer them from a socket on loopback. Takes effect for
    /// queries sent after it; call it before applying a description. Not for applications.
    #[doc(hidden)]
    pub fn set_mdns_destination_for_test(&self, to: std::net::SocketAddr) {
        let _ = self.commands.send(Command::MdnsDestination(to));
    }

    /// Closes remote-opened channels whose every handle the application dropped (never taken
    /// from the event, or let go): nobody can read them, so they must not keep buffering.
    fn close_abandoned_channels(&mut self) {
        for (key, c) in &self.channels {
            let abandoned = key & REMOTE_KEY_BIT != 0 && Arc::strong_count(&c.inner) == 1;
            if abandoned && c.ready_state() != ChannelState::Closed {
                c.close();
                c.inner.visible().state = ChannelState::Closed;
            }
        }
    }

    /// Registers a callback run on the network thread when `poll()` has something new.
    pub fn set_notify(&mut self, notify: Option<Notify>) {
        self.shared.set_notify(notify);
    }

    /// Closes every channel and the connection; the state is CLOSED at once and the close
    /// still reaches the remote.
    pub fn close(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        self.state = ConnectionState::Closed;
        self.signaling = SignalingState::Closed;
        for c in self.channels.values() {
            c.inner.visible().state = ChannelState::Closed;
        }
        self.channels.clear();
        let _ = self.shared.take();
        self.shared.set_notify(None);
        let _ = self.commands.send(Command::Close);
    }
}

/// Says loudly that a connection's network is a simulated bad one, so that nobody ships it by
/// mistake (a Godot warning through the log bridge).
fn warn_simulation(s: &NetworkSimulation) {
    tracing::warn!(
        "network simulation ON for this connection (each direction: {s}); remove the \"simulate\" \
         setting before shipping"
    );
}

impl Drop for PeerConnection {
    fn drop(&mut self) {
        self.close();
    }
}
