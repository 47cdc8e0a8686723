//! The data channel state machine: every channel of the connection, its stream id, its state,
//! and the reading of its stream within the receive budget. It talks to SCTP through
//! [`SctpLayer`] and reports to the application through [`Update`]s.

use super::sctp::{parse_dcep, Read, SctpLayer};
use crate::channel::{ChannelInfo, ChannelKey, ChannelLink, ReceiveBudget, REMOTE_KEY_BIT};
use crate::mailbox::Update;
use crate::stats::Traffic;
use crate::types::{ChannelState, Message};
use bytes::{Bytes, BytesMut};
use rtc_datachannel::message::message_channel_open::DataChannelOpen;
use rtc_datachannel::message::Message as DcepMessage;
use rtc_sctp::PayloadProtocolIdentifier as Ppi;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use tracing::{debug, warn};

/// SCTP messages read per stream per drain before yielding to other streams.
const READ_BATCH: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChanState {
    /// Waiting for SCTP (or for a stream id).
    Pending,
    /// DCEP OPEN sent, waiting for the ACK.
    Dialing,
    Open,
    Closing,
    Closed,
}

impl ChanState {
    fn public(self) -> ChannelState {
        match self {
            Self::Pending | Self::Dialing => ChannelState::Connecting,
            Self::Open => ChannelState::Open,
            Self::Closing => ChannelState::Closing,
            Self::Closed => ChannelState::Closed,
        }
    }
}

struct Chan {
    info: ChannelInfo,
    id: Option<u16>,
    state: ChanState,
    link: Arc<ChannelLink>,
}

pub(super) struct Channels {
    channels: BTreeMap<ChannelKey, Chan>,
    by_stream: HashMap<u16, ChannelKey>,
    /// Streams with data left to read (SCTP's `Readable` is edge-triggered).
    pending_readable: BTreeSet<u16>,
    next_remote_key: u32,
    /// Where the search for the next in-band stream id starts.
    next_stream_id: Option<u16>,
    receive_budget: usize,
    connection_budget: Arc<ReceiveBudget>,
    /// The largest message we may send (negotiated), given to channels the remote opens.
    send_limit: usize,
    max_remote_channels: usize,
    /// Remote-opened channels refused because `max_remote_channels` were open.
    refused: u64,
    /// Messages of every channel of the connection.
    traffic: Arc<Traffic>,
}

impl Channels {
    pub fn new(
        receive_budget: usize,
        connection_budget: Arc<ReceiveBudget>,
        max_remote_channels: usize,
        traffic: Arc<Traffic>,
    ) -> Self {
        Self {
            channels: BTreeMap::new(),
            by_stream: HashMap::new(),
            pending_readable: BTreeSet::new(),
            next_remote_key: 0,
            next_stream_id: None,
            receive_budget,
            connection_budget,
            send_limit: usize::MAX,
            max_remote_channels,
            refused: 0,
            traffic,
        }
    }

    /// Whether the messages on stream `id` are all retransmitted until they arrive (a stream
    /// of no channel counts as reliable: DCEP messages of a channel being set up).
    pub fn is_reliable_stream(&self, id: u16) -> bool {
        self.by_stream
            .get(&id)
            .and_then(|key| self.channels.get(key))
            .is_none_or(|c| {
                c.info.max_retransmits.is_none() && c.info.max_packet_lifetime.is_none()
            })
    }

    /// What stream `id`'s channel allows if it is partially reliable; None for reliable
    /// channels and streams of no channel.
    pub fn stream_policy(&self, id: u16) -> Option<super::sctp_skip::Policy> {
        let info = &self.channels.get(self.by_stream.get(&id)?)?.info;
        match (info.max_retransmits, info.max_packet_lifetime) {
            (Some(n), _) => Some(super::sctp_skip::Policy::Retransmits(n)),
            (None, Some(ms)) => Some(super::sctp_skip::Policy::Lifetime(
                std::time::Duration::from_millis(u64::from(ms)),
            )),
            (None, None) => None,
        }
    }

    pub fn set_send_limit(&mut self, limit: usize) {
        self.send_limit = limit;
    }

    /// The one place a channel changes state; the application hears of every change it can see.
    fn set_state(&mut self, key: ChannelKey, state: ChanState, updates: &mut Vec<Update>) {
        let Some(chan) = self.channels.get_mut(&key) else {
            return;
        };
        let before = chan.state;
        if before == state || before == ChanState::Closed {
            return;
        }
        chan.state = state;
        if state == ChanState::Closed {
            if let Some(id) = chan.id {
                self.by_stream.remove(&id);
                // Whatever the stream still holds is read and discarded: left in SCTP it would
                // shrink the receive window for good and keep the stream's reset pending.
                self.pending_readable.insert(id);
            }
            chan.link.buffered.store(0, Ordering::Release);
        }
        if before.public() != state.public() {
            updates.push(Update::ChannelState {
                key,
                state: state.public(),
            });
        }
    }

    /// A channel the application created.
    pub fn add_local(
        &mut self,
        key: ChannelKey,
        info: ChannelInfo,
        id: Option<u16>,
        link: Arc<ChannelLink>,
    ) {
        if let Some(id) = id {
            self.by_stream.insert(id, key);
        }
        let state = ChanState::Pending;
        self.channels.insert(
            key,
            Chan {
                info,
                id,
                state,
                link,
            },
        );
    }

    /// In-band channels get ids by DTLS role: client even, server odd (RFC 8832 §6). Ids are
    /// taken in increasing order and reused only after the whole range was used: a closed
    /// channel's stream may still be finishing its reset on the remote side, and a new channel
    /// on it would never open.
    pub fn assign_stream_ids(&mut self, dtls_client: bool, updates: &mut Vec<Update>) {
        let first: u16 = if dtls_client { 0 } else { 1 };
        let keys: Vec<ChannelKey> = self
            .channels
            .iter()
            .filter(|(_, c)| c.id.is_none() && c.state != ChanState::Closed)
            .map(|(k, _)| *k)
            .collect();
        for key in keys {
            let Some(id) = self.free_stream_id(first) else {
                return;
            };
            self.next_stream_id = id.checked_add(2).filter(|n| *n < u16::MAX);
            self.by_stream.insert(id, key);
            if let Some(c) = self.channels.get_mut(&key) {
                c.id = Some(id);
            }
            updates.push(Update::ChannelId { key, id });
        }
    }

    /// The first free id of our parity from the cursor on, wrapping around once.
    fn free_stream_id(&self, first: u16) -> Option<u16> {
        let start = self
            .next_stream_id
            .filter(|n| n % 2 == first % 2)
            .unwrap_or(first);
        let from_cursor = (start..u16::MAX).step_by(2);
        let wrapped = (first..start).step_by(2);
        from_cursor
            .chain(wrapped)
            .find(|id| !self.by_stream.contains_key(id))
    }

    /// Opens every channel still waiting for SCTP.
    pub fn dial_all(&mut self, now: Instant, sctp: &mut SctpLayer, updates: &mut Vec<Update>) {
        let keys: Vec<ChannelKey> = self.channels.keys().copied().collect();
        for key in keys {
            self.dial(now, key, sctp, updates);
        }
    }

    /// Opens the channel's stream and, for an in-band channel, sends DATA_CHANNEL_OPEN.
    pub fn dial(
        &mut self,
        now: Instant,
        key: ChannelKey,
        sctp: &mut SctpLayer,
        updates: &mut Vec<Update>,
    ) {
        let Some(chan) = self.channels.get(&key) else {
            return;
        };
        let (Some(id), ChanState::Pending) = (chan.id, chan.state) else {
            return;
        };
        let dialed = sctp.open_stream(id, &chan.info).and_then(|()| {
            if chan.info.negotiated {
                Ok(ChanState::Open)
            } else {
                sctp.send_open(now, id, &chan.info)
                    .map(|()| ChanState::Dialing)
            }
        });
        match dialed {
            Ok(state) => self.set_state(key, state, updates),
            Err(e) => {
                warn!("{e}");
                self.set_state(key, ChanState::Closed, updates);
            }
        }
    }

    pub fn send(
        &mut self,
        now: Instant,
        key: ChannelKey,
        data: Bytes,
        is_text: bool,
        sctp: &mut SctpLayer,
        updates: &mut Vec<Update>,
    ) {
        let len = data.len();
        let Some(chan) = self.channels.get(&key) else {
            return;
        };
        let (Some(id), ChanState::Open) = (chan.id, chan.state) else {
            debug!("dropping a message for channel {key}: not open any more");
            if chan.link.sub_buffered(len) {
                updates.push(Update::BufferedAmountLow { key });
            }
            return;
        };
        let (ppi, payload) = match (is_text, len) {
            (true, 0) => (Ppi::StringEmpty, Bytes::from_static(&[0])),
            (false, 0) => (Ppi::BinaryEmpty, Bytes::from_static(&[0])),
            (true, _) => (Ppi::String, data),
            (false, _) => (Ppi::Binary, data),
        };
        let written = sctp.write(now, id, &payload, ppi);
        if written.is_ok() {
            chan.link.traffic.sent(len);
            self.traffic.sent(len);
        }
        match written {
            // SCTP carries one placeholder byte for an empty message and will release it.
            Ok(()) if len == 0 => {
                chan.link.buffered.fetch_add(1, Ordering::AcqRel);
            }
            Ok(()) => {}
            Err(e) => {
                warn!("send on stream {id} failed: {e}");
                if chan.link.sub_buffered(len) {
                    updates.push(Update::BufferedAmountLow { key });
                }
            }
        }
    }

    /// The application closes a channel: reset its stream, or close at once if it never opened.
    pub fn close(
        &mut self,
        now: Instant,
        key: ChannelKey,
        sctp: &mut SctpLayer,
        updates: &mut Vec<Update>,
    ) {
        let Some(chan) = self.channels.get(&key) else {
            return;
        };
        match chan.state {
            ChanState::Closing | ChanState::Closed => {}
            ChanState::Pending => self.closed(key, updates),
            ChanState::Dialing | ChanState::Open => {
                let reset = match chan.id {
                    Some(id) => sctp.reset(now, id),
                    None => Err("no stream".to_owned()),
                };
                self.set_state(key, ChanState::Closing, updates);
                if let Err(e) = reset {
                    debug!("stream reset for channel {key} failed ({e}); closing locally");
                    self.closed(key, updates);
                }
            }
        }
    }

    /// Resets every open stream (the connection is closing).
    pub fn reset_all(&mut self, now: Instant, sctp: &mut SctpLayer) {
        for id in self.channels.values().filter_map(|c| c.id) {
            let _ = sctp.reset(now, id);
        }
    }

    /// The channel is closed for good and forgotten.
    pub fn closed(&mut self, key: ChannelKey, updates: &mut Vec<Update>) {
        self.set_state(key, ChanState::Closed, updates);
        self.channels.remove(&key);
    }

    pub fn stream_closed(&mut self, id: u16, updates: &mut Vec<Update>) {
        if let Some(key) = self.by_stream.get(&id).copied() {
            self.closed(key, updates);
        }
    }

    pub fn close_all(&mut self, updates: &mut Vec<Update>) {
        let keys: Vec<ChannelKey> = self.channels.keys().copied().collect();
        for key in keys {
            self.closed(key, updates);
        }
    }

    /// SCTP no longer holds `n` bytes of stream `id`; the application hears when that takes
    /// the channel's buffered amount down to its low threshold.
    pub fn released(&self, id: u16, n: usize, updates: &mut Vec<Update>) {
        let Some(&key) = self.by_stream.get(&id) else {
            return;
        };
        if let Some(c) = self.channels.get(&key) {
            if c.link.sub_buffered(n) {
                updates.push(Update::BufferedAmountLow { key });
            }
        }
    }

    pub fn mark_readable(&mut self, id: u16) {
        self.pending_readable.insert(id);
    }

    /// The application read below the budget: read the channel's stream again.
    pub fn resume(&mut self, key: ChannelKey) {
        if let Some(id) = self.channels.get(&key).and_then(|c| c.id) {
            self.pending_readable.insert(id);
        }
    }

    /// Reads whole messages from readable streams while each channel is under its budget.
    /// A stream left with data stays pending and is retried on resume, on timeouts and on
    /// the next datagram.
    pub fn drain_readable(
        &mut self,
        now: Instant,
        max_message_size: usize,
        sctp: &mut SctpLayer,
        updates: &mut Vec<Update>,
    ) {
        if !sctp.is_readable() {
            return;
        }
        let ids: Vec<u16> = self.pending_readable.iter().copied().collect();
        for id in ids {
            for _ in 0..READ_BATCH {
                if !self.read_one(now, id, max_message_size, sctp, updates) {
                    break;
                }
            }
        }
    }

    /// Reads one message from stream `id`; false when nothing more should be read now.
    fn read_one(
        &mut self,
        now: Instant,
        id: u16,
        max_message_size: usize,
        sctp: &mut SctpLayer,
        updates: &mut Vec<Update>,
    ) -> bool {
        let key = self.by_stream.get(&id).copied();
        if let Some(c) = key.and_then(|k| self.channels.get(&k)) {
            if !c.link.has_room() {
                return false;
            }
        }
        let (ppi, payload) = match sctp.read(id, max_message_size) {
            Read::Later => return false,
            Read::Exhausted => {
                self.pending_readable.remove(&id);
                return false;
            }
            Read::Dropped => return true,
            Read::Message(ppi, payload) => (ppi, payload),
        };
        match ppi {
            Ppi::Dcep => self.on_dcep(now, id, key, &payload, sctp, updates),
            Ppi::String | Ppi::Binary | Ppi::StringEmpty | Ppi::BinaryEmpty => {
                let Some(key) = key else {
                    debug!("data on stream {id} without a channel; dropped");
                    return true;
                };
                let is_text = matches!(ppi, Ppi::String | Ppi::StringEmpty);
                let data = if matches!(ppi, Ppi::StringEmpty | Ppi::BinaryEmpty) {
                    Bytes::new()
                } else {
                    payload.freeze()
                };
                self.deliver(key, Message { data, is_text }, updates);
            }
            other => debug!("ignoring PPID {other:?} on stream {id}"),
        }
        true
    }

    fn deliver(&mut self, key: ChannelKey, message: Message, updates: &mut Vec<Update>) {
        let Some(state) = self.channels.get(&key).map(|c| c.state) else {
            return;
        };
        if state == ChanState::Dialing {
            // Data before the ACK means the remote accepted the channel (RFC 8832 §6).
            self.set_state(key, ChanState::Open, updates);
        }
        let Some(chan) = self.channels.get(&key) else {
            return;
        };
        if matches!(chan.state, ChanState::Open | ChanState::Closing) {
            chan.link.add_unread(message.data.len());
            chan.link.traffic.received(message.data.len());
            self.traffic.received(message.data.len());
            updates.push(Update::ChannelMessage { key, message });
        }
    }

    fn on_dcep(
        &mut self,
        now: Instant,
        id: u16,
        key: Option<ChannelKey>,
        payload: &BytesMut,
        sctp: &mut SctpLayer,
        updates: &mut Vec<Update>,
    ) {
        let Some(msg) = parse_dcep(id, payload) else {
            return;
        };
        match (msg, key) {
            (DcepMessage::DataChannelAck(_), Some(key)) => {
                if self.channels.get(&key).map(|c| c.state) == Some(ChanState::Dialing) {
                    self.set_state(key, ChanState::Open, updates);
                }
            }
            (DcepMessage::DataChannelOpen(open), None) => {
                self.accept(now, id, &open, sctp, updates)
            }
            (DcepMessage::DataChannelOpen(open), Some(old)) => {
                // The remote reuses the stream of a channel we are closing: it has reset its
                // side already, so that channel is done.
                if self.channels.get(&old).map(|c| c.state) == Some(ChanState::Closing) {
                    self.closed(old, updates);
                    self.accept(now, id, &open, sctp, updates)
                } else {
                    debug!("DATA_CHANNEL_OPEN for stream {id}, which is in use; ignored")
                }
            }
            (other, _) => debug!("unexpected DCEP message {other:?} on stream {id}"),
        }
    }

    /// A channel the remote opened in-band.
    fn accept(
        &mut self,
        now: Instant,
        id: u16,
        open: &DataChannelOpen,
        sctp: &mut SctpLayer,
        updates: &mut Vec<Update>,
    ) {
        let open_remote = self
            .channels
            .keys()
            .filter(|k| *k & REMOTE_KEY_BIT != 0)
            .count();
        if open_remote >= self.max_remote_channels {
            self.refused += 1;
            if self.refused == 1 {
                warn!(
                    "the remote opened more than {} channels at once; refusing the rest \
                     (limit maxRemoteChannels)",
                    self.max_remote_channels
                );
            }
            let _ = sctp.reset(now, id);
            return;
        }
        let info = match sctp.accept(now, id, open) {
            Ok(info) => info,
            Err(e) => return warn!("cannot accept channel on stream {id}: {e}"),
        };
        self.next_remote_key = self.next_remote_key.wrapping_add(1);
        let key = REMOTE_KEY_BIT | (self.next_remote_key & !REMOTE_KEY_BIT);
        let link = ChannelLink::new(
            self.send_limit,
            self.receive_budget,
            self.connection_budget.clone(),
        );
        self.by_stream.insert(id, key);
        self.channels.insert(
            key,
            Chan {
                info: info.clone(),
                id: Some(id),
                state: ChanState::Open,
                link: link.clone(),
            },
        );
        debug!("remote opened channel {:?} on stream {id}", info.label);
        updates.push(Update::RemoteChannel {
            key,
            info,
            id,
            link,
        });
    }
}
