//! What travels between the application's handles and the connection's task on the network
//! thread: [`Command`]s one way, [`Update`]s the other, and the [`Shared`] queue that holds
//! the updates until `PeerConnection::poll()` applies them.

use crate::channel::{ChannelInfo, ChannelKey, ChannelLink};
use crate::types::{ChannelState, ConnectionState, GatheringState, Message};
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

/// Called from the network thread whenever new events or state are ready for `poll()`.
pub type Notify = Arc<dyn Fn() + Send + Sync>;

/// Something that happened on the network thread; applied to what the application sees by
/// `PeerConnection::poll()`, in order.
#[derive(Debug)]
pub(crate) enum Update {
    LocalDescription {
        sdp_type: crate::types::SdpType,
        sdp: String,
    },
    State(ConnectionState),
    Gathering(GatheringState),
    Candidate {
        mid: String,
        mline_index: u32,
        candidate: String,
    },
    GatheringComplete,
    ChannelId {
        key: ChannelKey,
        id: u16,
    },
    ChannelState {
        key: ChannelKey,
        state: ChannelState,
    },
    ChannelMessage {
        key: ChannelKey,
        message: Message,
    },
    /// The channel's buffered amount fell from above its low threshold to at or below it.
    BufferedAmountLow {
        key: ChannelKey,
    },
    /// The connection's task panicked and is gone: FAILED, every channel CLOSED.
    Crashed,
    /// A problem the application should hear of (see `failure.rs` for when).
    Error(crate::failure::ConnectionError),
    RemoteChannel {
        key: ChannelKey,
        info: ChannelInfo,
        id: u16,
        link: Arc<ChannelLink>,
    },
}

/// A request from the application to the network thread.
#[derive(Debug)]
pub(crate) enum Command {
    StartGathering {
        mid: String,
        mline_index: u32,
    },
    SetRemote {
        remote: Box<crate::sdp::RemoteDescription>,
        offerer: bool,
        dtls_client: bool,
    },
    AddCandidate(crate::candidate::RemoteCandidate),
    /// Our offer restarting ICE is out: gather again, and keep what is found for the answer.
    OfferIceRestart,
    /// Restart ICE with these (ufrag, pwd) pairs; `regather` when the remote offered it.
    RestartIce {
        local: (String, String),
        remote: (String, String),
        controlling: bool,
        regather: bool,
    },
    CreateChannel {
        key: ChannelKey,
        info: ChannelInfo,
        id: Option<u16>,
        link: Arc<ChannelLink>,
    },
    Send {
        key: ChannelKey,
        data: Bytes,
        is_text: bool,
    },
    CloseChannel(ChannelKey),
    /// Makes the connection's task panic (tests of the panic containment only).
    InjectPanic,
    /// Sends mDNS queries there instead of the mDNS group (tests' fake responders only).
    MdnsDestination(std::net::SocketAddr),
    Resume(ChannelKey),
    /// Simulate a bad network from now on (`None`: the real network only).
    Simulate(Option<crate::types::NetworkSimulation>),
    Close,
}

/// What the handle and the connection task share: updates waiting for `poll()`.
pub(crate) struct Shared {
    updates: Mutex<VecDeque<Update>>,
    notify: Mutex<Option<Notify>>,
    /// Datagrams the connection dropped as junk (strangers, unauthenticated, malformed).
    pub dropped_datagrams: AtomicU64,
}

impl Shared {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            updates: Mutex::new(VecDeque::new()),
            notify: Mutex::new(None),
            dropped_datagrams: AtomicU64::new(0),
        })
    }

    /// Queues updates from the network thread and wakes the application.
    pub fn push(&self, updates: Vec<Update>) {
        if updates.is_empty() {
            return;
        }
        self.push_quiet(updates);
        let notify = self
            .notify
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(n) = notify {
            n();
        }
    }

    /// Queues updates produced by the application's own call (no wake-up needed: the caller is
    /// already here, and the callback must never run inside a call into the engine).
    pub fn push_quiet(&self, updates: Vec<Update>) {
        self.updates
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(updates);
    }

    pub fn take(&self) -> VecDeque<Update> {
        std::mem::take(&mut *self.updates.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn set_notify(&self, n: Option<Notify>) {
        *self.notify.lock().unwrap_or_else(|e| e.into_inner()) = n;
    }
}
