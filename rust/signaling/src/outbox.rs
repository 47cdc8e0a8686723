//! One connection's queue of messages waiting to be written to its socket.
//!
//! Messages are kept per *origin* (the connection whose action caused them: the sender of a
//! relay, the peer that joined or left, the client an error answers) and taken round-robin
//! across origins. Each origin may hold only a share of the queue, so when the reader falls
//! behind, the excess of whoever floods it is dropped, and never the reader's connection nor
//! anybody else's messages.

use crate::lobby::ConnId;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// How much of one connection's queue a single origin may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    /// Messages from one origin waiting for one reader.
    pub messages: usize,
    /// Their bytes. A message bigger than this still passes when the origin has nothing queued.
    pub bytes: usize,
}

/// Messages from one origin, in order.
#[derive(Default)]
struct Lane {
    queue: VecDeque<Arc<str>>,
    bytes: usize,
}

/// What [`Outbox::push`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Queued.
    Queued,
    /// Refused: the origin already holds its share.
    Dropped,
    /// Queued, after dropping the oldest message of the origin holding the most bytes (the
    /// queue as a whole was full).
    QueuedEvicting,
}

/// The queue of one connection.
pub struct Outbox {
    share: Share,
    /// The most origins whose shares fit at once; past that the biggest lane gives way.
    max_bytes: usize,
    lanes: HashMap<ConnId, Lane>,
    /// Origins with something queued, in the order they are served.
    turn: VecDeque<ConnId>,
    bytes: usize,
}

impl Outbox {
    /// An empty queue whose whole holds `lanes` full shares.
    pub fn new(share: Share, lanes: usize) -> Outbox {
        Outbox {
            share,
            max_bytes: share.bytes.saturating_mul(lanes.max(1)),
            lanes: HashMap::new(),
            turn: VecDeque::new(),
            bytes: 0,
        }
    }

    /// Queues `text` from `origin` unless that origin already holds its share.
    pub fn push(&mut self, origin: ConnId, text: Arc<str>) -> Pushed {
        let size = text.len();
        let lane = self.lanes.entry(origin).or_default();
        let empty = lane.queue.is_empty();
        if !empty
            && (lane.queue.len() >= self.share.messages || lane.bytes + size > self.share.bytes)
        {
            return Pushed::Dropped;
        }
        lane.queue.push_back(text);
        lane.bytes += size;
        self.bytes += size;
        if empty {
            self.turn.push_back(origin);
        }
        if self.bytes > self.max_bytes && self.evict_biggest() {
            return Pushed::QueuedEvicting;
        }
        Pushed::Queued
    }

    /// The next message to write, taking origins in turn.
    pub fn pop(&mut self) -> Option<Arc<str>> {
        let origin = self.turn.pop_front()?;
        let lane = self.lanes.get_mut(&origin)?;
        let text = lane.queue.pop_front()?;
        lane.bytes -= text.len();
        self.bytes -= text.len();
        if lane.queue.is_empty() {
            self.lanes.remove(&origin);
        } else {
            self.turn.push_back(origin);
        }
        Some(text)
    }

    /// Bytes waiting.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Messages waiting.
    pub fn len(&self) -> usize {
        self.lanes.values().map(|lane| lane.queue.len()).sum()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.turn.is_empty()
    }

    /// Drops the oldest message of the origin holding the most bytes.
    fn evict_biggest(&mut self) -> bool {
        let Some(origin) = self
            .lanes
            .iter()
            .max_by_key(|(_, lane)| lane.bytes)
            .map(|(origin, _)| *origin)
        else {
            return false;
        };
        let Some(lane) = self.lanes.get_mut(&origin) else {
            return false;
        };
        let Some(text) = lane.queue.pop_front() else {
            return false;
        };
        lane.bytes -= text.len();
        self.bytes -= text.len();
        if lane.queue.is_empty() {
            self.lanes.remove(&origin);
            self.turn.retain(|o| *o != origin);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Arc<str> {
        Arc::from(s)
    }

    fn drain(outbox: &mut Outbox) -> Vec<String> {
        std::iter::from_fn(|| outbox.pop())
            .map(|t| t.to_string())
            .collect()
    }

    #[test]
    fn a_flooding_origin_loses_its_own_excess_only() {
        let mut outbox = Outbox::new(
            Share {
                messages: 3,
                bytes: 1000,
            },
            10,
        );
        for n in 0..10 {
            let pushed = outbox.push(7, text(&format!("flood{n}")));
            assert_eq!(pushed == Pushed::Queued, n < 3, "{n}: {pushed:?}");
        }
        assert_eq!(outbox.push(2, text("answer")), Pushed::Queued);
        assert_eq!(outbox.push(0, text("peer_joined")), Pushed::Queued);
        // Round robin: the honest messages do not wait behind the whole flood.
        assert_eq!(
            drain(&mut outbox),
            ["flood0", "answer", "peer_joined", "flood1", "flood2"]
        );
        assert!(outbox.is_empty());
        assert_eq!(outbox.bytes(), 0);
    }

    #[test]
    fn byte_share_limits_big_messages_but_one_always_fits() {
        let mut outbox = Outbox::new(
            Share {
                messages: 100,
                bytes: 10,
            },
            10,
        );
        assert_eq!(outbox.push(1, text(&"x".repeat(50))), Pushed::Queued);
        assert_eq!(outbox.push(1, text("y")), Pushed::Dropped);
        assert_eq!(outbox.len(), 1);
        outbox.pop();
        assert_eq!(outbox.push(1, text("y")), Pushed::Queued);
    }

    #[test]
    fn a_full_queue_evicts_from_the_biggest_origin() {
        let mut outbox = Outbox::new(
            Share {
                messages: 10,
                bytes: 40,
            },
            2,
        );
        // Many origins (say peers that came and went) each within their share.
        for origin in 0..2 {
            for _ in 0..4 {
                assert_eq!(outbox.push(origin, text(&"a".repeat(10))), Pushed::Queued);
            }
        }
        assert_eq!(outbox.bytes(), 80);
        assert_eq!(outbox.push(5, text("bb")), Pushed::QueuedEvicting);
        assert!(outbox.bytes() <= 80);
        let rest = drain(&mut outbox);
        assert!(rest.contains(&"bb".to_string()), "{rest:?}");
        assert_eq!(rest.len(), 8);
    }
}
