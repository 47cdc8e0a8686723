//! The data channel handle: what the application reads and writes. Its state and received
//! messages are applied by the owning connection's `poll()`; `send` and `close` go to the
//! network thread as commands.

use crate::channel::{ChannelInfo, ChannelKey, ChannelLink};
use crate::error::{Error, ErrorKind, Result};
use crate::mailbox::Command;
use crate::types::{ChannelState, Message};
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

pub(super) struct Visible {
    pub state: ChannelState,
    pub id: Option<u16>,
    pub queue: VecDeque<Message>,
}

pub(super) struct ChannelInner {
    key: ChannelKey,
    info: ChannelInfo,
    pub link: Arc<ChannelLink>,
    commands: mpsc::UnboundedSender<Command>,
    /// `Limits::channel_send_budget`.
    send_budget: usize,
    visible: Mutex<Visible>,
}

impl ChannelInner {
    pub(super) fn visible(&self) -> std::sync::MutexGuard<'_, Visible> {
        self.visible.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for ChannelInner {
    /// Messages nobody can read any more give their bytes back to the receive budgets.
    fn drop(&mut self) {
        let unread: usize = self.visible().queue.iter().map(|m| m.data.len()).sum();
        if unread > 0 {
            self.link.release_unread(unread);
        }
    }
}

/// A data channel handle. Clones refer to the same channel. State and received messages
/// advance only through the owning connection's `poll()`.
#[derive(Clone)]
pub struct DataChannel {
    pub(super) inner: Arc<ChannelInner>,
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

/// Handles are equal when they refer to the same channel.
impl PartialEq for DataChannel {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for DataChannel {}

impl DataChannel {
    pub(super) fn new(
        key: ChannelKey,
        info: ChannelInfo,
        id: Option<u16>,
        state: ChannelState,
        link: Arc<ChannelLink>,
        commands: mpsc::UnboundedSender<Command>,
        send_budget: usize,
    ) -> Self {
        Self {
            inner: Arc::new(ChannelInner {
                key,
                info,
                link,
                commands,
                send_budget,
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
    /// The buffered amount at or below which [`Event::BufferedAmountLow`](crate::Event) is
    /// raised when it falls there from above (W3C `bufferedAmountLowThreshold`; 0 by default).
    pub fn buffered_amount_low_threshold(&self) -> usize {
        self.inner.link.low_threshold.load(Ordering::Acquire)
    }
    /// Sets [`DataChannel::buffered_amount_low_threshold`]. Takes effect for the next drop;
    /// setting it above the current buffered amount raises nothing by itself.
    pub fn set_buffered_amount_low_threshold(&self, bytes: usize) {
        self.inner
            .link
            .low_threshold
            .store(bytes, Ordering::Release);
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
        let budget = self.inner.send_budget;
        let reserved = self.inner.link.buffered.fetch_update(
            Ordering::AcqRel,
            Ordering::Acquire,
            |buffered| {
                buffered
                    .checked_add(data.len())
                    .filter(|total| *total <= budget)
            },
        );
        if let Err(buffered) = reserved {
            return Err(Error::new(
                ErrorKind::Busy,
                format!(
                    "channel {:?} already holds {buffered} bytes the remote has not \
                     acknowledged; {} more would pass its send budget of {budget} bytes",
                    self.inner.info.label,
                    data.len()
                ),
            ));
        }
        let sent = self.inner.commands.send(Command::Send {
            key: self.inner.key,
            data: Bytes::copy_from_slice(data),
            is_text,
        });
        if sent.is_err() {
            // The connection is gone: no event will be raised any more.
            let _ = self.inner.link.sub_buffered(data.len());
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
        if self.inner.link.release_unread(message.data.len()) {
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
