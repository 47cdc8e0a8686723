//! The state every connection task shares, behind one lock: the hub and every connection's
//! outbox. Delivering is only queueing (no I/O, no logging), so the lock is held briefly.

use crate::lobby::{ConnId, Hub, Outgoing};
use crate::outbox::{Outbox, Pushed, Share};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

/// One connection's queue and the signal that wakes its task.
struct Slot {
    outbox: Outbox,
    wake: Arc<Notify>,
}

/// What a delivery did, for the log (written after the lock is released).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Messages dropped because their origin held its share of the recipient's queue, or the
    /// server's whole queue budget was spent on a recipient that holds more than its part.
    pub dropped: usize,
    /// Older messages dropped to make room in a full queue.
    pub evicted: usize,
}

/// Queue limits.
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    /// One origin's share of one recipient's queue.
    pub share: Share,
    /// Shares one recipient's queue holds in all (lobby size plus its own replies).
    pub lanes: usize,
    /// Bytes queued for all recipients together before the biggest queues lose messages.
    pub max_total_bytes: usize,
    /// The part of `max_total_bytes` a recipient may keep once the total is reached.
    pub fair_bytes: usize,
}

/// The hub and the outboxes.
pub struct State {
    /// Lobbies and memberships.
    pub hub: Hub,
    limits: QueueLimits,
    slots: HashMap<ConnId, Slot>,
    total_bytes: usize,
}

/// The shared, locked [`State`].
pub type SharedState = Arc<Mutex<State>>;

/// Locks the state. A panic elsewhere while holding it leaves nothing that matters more than
/// staying up, so a poisoned lock is taken over.
pub fn lock(shared: &SharedState) -> MutexGuard<'_, State> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl State {
    /// No connection yet.
    pub fn new(hub: Hub, limits: QueueLimits) -> State {
        State {
            hub,
            limits,
            slots: HashMap::new(),
            total_bytes: 0,
        }
    }

    /// Gives `conn` an outbox; `wake` is notified when something is queued on it.
    pub fn open(&mut self, conn: ConnId, wake: Arc<Notify>) {
        let outbox = Outbox::new(self.limits.share, self.limits.lanes);
        self.slots.insert(conn, Slot { outbox, wake });
    }

    /// Removes `conn`'s outbox with whatever it still held.
    pub fn close(&mut self, conn: ConnId) {
        if let Some(slot) = self.slots.remove(&conn) {
            self.total_bytes -= slot.outbox.bytes();
        }
    }

    /// The next message for `conn`.
    pub fn pop(&mut self, conn: ConnId) -> Option<Arc<str>> {
        let slot = self.slots.get_mut(&conn)?;
        let text = slot.outbox.pop()?;
        self.total_bytes -= text.len();
        Some(text)
    }

    /// Bytes queued for every connection together.
    pub fn queued_bytes(&self) -> usize {
        self.total_bytes
    }

    /// Connections with an outbox.
    pub fn connections(&self) -> usize {
        self.slots.len()
    }

    /// Queues each reply on its recipient's outbox, as caused by `origin`.
    pub fn deliver(&mut self, origin: ConnId, outgoing: Vec<Outgoing>) -> Delivery {
        let mut report = Delivery::default();
        for Outgoing { to, reply } in outgoing {
            let Some(slot) = self.slots.get_mut(&to) else {
                continue;
            };
            let text: Arc<str> = Arc::from(reply.to_json());
            if self.total_bytes + text.len() > self.limits.max_total_bytes
                && slot.outbox.bytes() >= self.limits.fair_bytes
            {
                report.dropped += 1;
                continue;
            }
            let before = slot.outbox.bytes();
            match slot.outbox.push(origin, text) {
                Pushed::Queued => {}
                Pushed::Dropped => report.dropped += 1,
                Pushed::QueuedEvicting => report.evicted += 1,
            }
            self.total_bytes = self.total_bytes + slot.outbox.bytes() - before;
            slot.wake.notify_one();
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lobby::Limits;
    use crate::protocol::Reply;

    fn relay(to: ConnId, bytes: usize) -> Outgoing {
        let mut message = serde_json::Map::new();
        message.insert("sdp".into(), "x".repeat(bytes).into());
        Outgoing {
            to,
            reply: Reply::Relay(message),
        }
    }

    #[test]
    fn past_the_global_budget_only_big_queues_lose_messages() {
        let mut state = State::new(
            Hub::new(Limits::default()),
            QueueLimits {
                share: Share {
                    messages: 100,
                    bytes: 100_000,
                },
                lanes: 4,
                max_total_bytes: 10_000,
                fair_bytes: 2_000,
            },
        );
        for conn in 1..=3 {
            state.open(conn, Arc::new(Notify::new()));
        }
        // Connection 1 does not read: its queue grows until the server's budget is spent.
        let mut dropped = 0;
        for origin in 10..40 {
            dropped += state.deliver(origin, vec![relay(1, 1_000)]).dropped;
        }
        assert!(dropped > 0);
        assert!(
            state.queued_bytes() <= 10_000 + 1_100,
            "{}",
            state.queued_bytes()
        );
        // Connection 2 holds less than its part: its messages still pass.
        let report = state.deliver(99, vec![relay(2, 500)]);
        assert_eq!(report, Delivery::default());
        assert!(state.pop(2).is_some());
        // Closing a connection returns its bytes to the budget.
        state.close(1);
        assert_eq!(state.queued_bytes(), 0);
        assert_eq!(state.connections(), 2);
    }
}
