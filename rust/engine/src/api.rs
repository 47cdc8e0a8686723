//! The public handles: [`PeerConnection`] and [`DataChannel`]. They are synchronous and never
//! block on the network: requests go to the connection's task on the network thread as
//! [`Command`]s, and what happened there comes back as [`Update`]s that become visible only in
//! [`PeerConnection::poll`].

use crate::candidate::{self, RemoteCandidate};
use crate::channel::{ChannelInfo, ChannelKey, ChannelLink, Command, Update};
use crate::core::{local_fingerprint, Core, CoreParams};
use crate::driver::{self, DriverConfig, Shared};
use crate::error::{Error, ErrorKind, Result};
use crate::sdp::{self, Fingerprint, LocalDescription, Setup};
use crate::types::*;
use bytes::Bytes;
use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::marker::PhantomData;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::mpsc;

/// Remote candidates kept while no remote description is set.
const EARLY_CANDIDATE_LIMIT: usize = 1000;

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
    max_message_size: usize,
    closed: bool,
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
        let core = Core::new(
            Instant::now(),
            CoreParams {
                provider,
                certificate,
                ufrag: ufrag.clone(),
                pwd: pwd.clone(),
                local_max_message_size: config.local_max_message_size,
                receive_budget: config.channel_receive_budget,
                relay_only: config.ice_transport_policy == IceTransportPolicy::Relay,
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
            },
        )?;
        let max_message_size = local_max(config.local_max_message_size);
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
            max_message_size,
            closed: false,
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
        let link = ChannelLink::new(self.max_message_size);
        let channel = DataChannel::new(
            key,
            info.clone(),
            options.negotiated_id,
            ChannelState::Connecting,
            link.clone(),
            self.commands.clone(),
            self.config.channel_receive_budget,
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

    fn local_sdp(&self, setup: Setup, mid: &str, sections: &[sdp::MediaSection]) -> String {
        sdp::write(&LocalDescription {
            session_id: self.session_id,
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
                    return Err(Error::state(
                        "set_remote_description: a remote description is already applied \
                         (renegotiation is not supported)",
                    ));
                }
                if self.offer.is_some() {
                    return Err(Error::state(
                        "set_remote_description(offer): we already created an offer",
                    ));
                }
                let remote = sdp::parse(sdp, "offer")?;
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
        let max = negotiated_max(remote.max_message_size, self.config.local_max_message_size);
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
                if self.remote_set {
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
        if !(sdp_type == SdpType::Offer && self.remote_set) {
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
        if self.remote_set {
            self.command(Command::AddCandidate(c))
        } else if self.early_candidates.len() < EARLY_CANDIDATE_LIMIT {
            self.early_candidates.push(c);
            Ok(())
        } else {
            Err(Error::state(
                "too many remote candidates before the remote description",
            ))
        }
    }

    /// Makes everything that happened since the last call visible (states, channel states,
    /// received messages) and returns the pending events in order.
    pub fn poll(&mut self) -> Vec<Event> {
        let updates = self.shared.take();
        let mut events = Vec::new();
        if self.closed {
            return events;
        }
        for u in updates {
            self.apply(u, &mut events);
        }
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
            Update::ChannelMessage { key, message } => {
                if let Some(c) = self.channels.get(&key) {
                    c.inner.visible().queue.push_back(message);
                } else {
                    // Nobody can read it any more; give the budget back.
                    let _ = message;
                }
            }
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
                    self.config.channel_receive_budget,
                );
                self.channels.insert(key, channel.clone());
                events.push(Event::DataChannel(channel));
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

impl Drop for PeerConnection {
    fn drop(&mut self) {
        self.close();
    }
}

fn local_max(local: u32) -> usize {
    if local == 0 {
        usize::MAX
    } else {
        local as usize
    }
}

fn negotiated_max(remote: u32, local: u32) -> usize {
    match (remote, local) {
        (0, 0) => usize::MAX,
        (0, l) => l as usize,
        (r, 0) => r as usize,
        (r, l) => r.min(l) as usize,
    }
}

struct Visible {
    state: ChannelState,
    id: Option<u16>,
    queue: VecDeque<Message>,
}

struct ChannelInner {
    key: ChannelKey,
    info: ChannelInfo,
    link: Arc<ChannelLink>,
    commands: mpsc::UnboundedSender<Command>,
    budget: usize,
    visible: Mutex<Visible>,
}

impl ChannelInner {
    fn visible(&self) -> std::sync::MutexGuard<'_, Visible> {
        self.visible.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A data channel handle. Clones refer to the same channel. State and received messages
/// advance only through the owning connection's `poll()`.
#[derive(Clone)]
pub struct DataChannel {
    inner: Arc<ChannelInner>,
}

impl std::fmt::Debug for DataChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataChannel")
            .field("label", &self.inner.info.label)
            .field("id", &self.id())
            .field("state", &self.ready_state())
            .finish()
    }
}

impl DataChannel {
    fn new(
        key: ChannelKey,
        info: ChannelInfo,
        id: Option<u16>,
        state: ChannelState,
        link: Arc<ChannelLink>,
        commands: mpsc::UnboundedSender<Command>,
        budget: usize,
    ) -> Self {
        Self {
            inner: Arc::new(ChannelInner {
                key,
                info,
                link,
                commands,
                budget,
                visible: Mutex::new(Visible {
                    state,
                    id,
                    queue: VecDeque::new(),
                }),
            }),
        }
    }

    pub fn label(&self) -> String {
        self.inner.info.label.clone()
    }
    pub fn protocol(&self) -> String {
        self.inner.info.protocol.clone()
    }
    pub fn ordered(&self) -> bool {
        self.inner.info.ordered
    }
    pub fn negotiated(&self) -> bool {
        self.inner.info.negotiated
    }
    /// The SCTP stream id; `None` for an in-band channel before the DTLS role is known.
    pub fn id(&self) -> Option<u16> {
        self.inner.visible().id
    }
    pub fn max_retransmits(&self) -> Option<u16> {
        self.inner.info.max_retransmits
    }
    pub fn max_packet_lifetime(&self) -> Option<u16> {
        self.inner.info.max_packet_lifetime
    }
    pub fn ready_state(&self) -> ChannelState {
        self.inner.visible().state
    }
    /// Bytes accepted by `send` and not yet handed to the network.
    pub fn buffered_amount(&self) -> usize {
        self.inner.link.buffered.load(Ordering::Acquire)
    }
    /// The largest message `send` accepts (negotiated; `DEFAULT_LOCAL_MAX_MESSAGE_SIZE` before).
    pub fn max_message_size(&self) -> usize {
        self.inner.link.max_message_size.load(Ordering::Acquire)
    }
    /// Queues one message. Errors: not open, closed, or larger than `max_message_size`.
    pub fn send(&self, data: &[u8], is_text: bool) -> Result<()> {
        match self.ready_state() {
            ChannelState::Open => {}
            ChannelState::Connecting => {
                return Err(Error::state(format!(
                    "channel {:?} is not open yet",
                    self.inner.info.label
                )))
            }
            ChannelState::Closing | ChannelState::Closed => {
                return Err(Error::new(
                    ErrorKind::Closed,
                    format!("channel {:?} is closed", self.inner.info.label),
                ))
            }
        }
        let max = self.max_message_size();
        if data.len() > max {
            return Err(Error::new(
                ErrorKind::TooLarge,
                format!(
                    "message of {} bytes is larger than the maximum message size {max}",
                    data.len()
                ),
            ));
        }
        self.inner
            .link
            .buffered
            .fetch_add(data.len(), Ordering::AcqRel);
        let sent = self.inner.commands.send(Command::Send {
            key: self.inner.key,
            data: Bytes::copy_from_slice(data),
            is_text,
        });
        if sent.is_err() {
            self.inner.link.sub_buffered(data.len());
            return Err(Error::new(ErrorKind::Closed, "the connection has ended"));
        }
        Ok(())
    }
    /// Whole messages visible since the connection's last `poll()`.
    pub fn available(&self) -> usize {
        self.inner.visible().queue.len()
    }
    /// Takes the next visible message.
    pub fn recv(&self) -> Option<Message> {
        let message = self.inner.visible().queue.pop_front()?;
        let link = &self.inner.link;
        let remaining = link.sub_unread(message.data.len());
        if remaining < self.inner.budget && link.paused.swap(false, Ordering::AcqRel) {
            let _ = self.inner.commands.send(Command::Resume(self.inner.key));
        }
        Some(message)
    }
    /// Starts closing (CLOSING, then CLOSED once the remote confirmed); reaches the remote.
    pub fn close(&self) {
        let mut v = self.inner.visible();
        if matches!(v.state, ChannelState::Connecting | ChannelState::Open) {
            v.state = ChannelState::Closing;
            drop(v);
            if self
                .inner
                .commands
                .send(Command::CloseChannel(self.inner.key))
                .is_err()
            {
                self.inner.visible().state = ChannelState::Closed;
            }
        }
    }
}
