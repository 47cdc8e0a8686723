//! One direction's datagrams between arrival and release: the [`Path`] decides each one's fate
//! and the lane holds those it delivers until they are due, within a limit on the bytes held
//! (beyond it, datagrams are dropped as a router drops what it has no room for). Sans-IO: the
//! caller says what time it is and sends what [`Lane::release`] gives back.

use crate::path::{Drop, Fate, Path};
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::time::Duration;

/// What each held datagram costs on top of its bytes, so that a flood of empty datagrams is
/// bounded too (roughly the bookkeeping of one entry).
pub const ENTRY_COST: usize = 64;

/// A datagram waiting until it is due; earliest first, then in arrival order.
#[derive(Debug)]
struct Due<T> {
    at: Duration,
    seq: u64,
    cost: usize,
    datagram: T,
}

impl<T> PartialEq for Due<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl<T> Eq for Due<T> {}
impl<T> PartialOrd for Due<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Due<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// A [`Path`] and the datagrams it is delivering, of any type `T` (bytes, or bytes with their
/// addresses).
#[derive(Debug)]
pub struct Lane<T> {
    path: Path,
    due: BinaryHeap<Reverse<Due<T>>>,
    /// What the held datagrams cost ([`ENTRY_COST`] each plus their length).
    held: usize,
    max_held: usize,
    seq: u64,
}

impl<T: Clone> Lane<T> {
    /// A lane that holds at most `max_held` bytes (each datagram counted as its length plus
    /// [`ENTRY_COST`]).
    pub fn new(path: Path, max_held: usize) -> Self {
        Self {
            path,
            due: BinaryHeap::new(),
            held: 0,
            max_held,
            seq: 0,
        }
    }

    /// The model, to change its settings or cut it; what is held stays on its schedule.
    pub fn path_mut(&mut self) -> &mut Path {
        &mut self.path
    }

    /// A datagram of `len` bytes arrives at `now`: its fate, as the lane carries it out. A
    /// datagram that would take the lane past its limit is dropped ([`Drop::Overflow`]) before
    /// the path sees it; a duplicate that finds no room is not made (the fate then has no copy).
    pub fn admit(&mut self, now: Duration, len: usize, datagram: T) -> Fate {
        let cost = len.saturating_add(ENTRY_COST);
        if self.held.saturating_add(cost) > self.max_held {
            return Fate::Dropped(Drop::Overflow);
        }
        match self.path.admit(now, len) {
            Fate::Deliver {
                at,
                copy,
                held_back,
            } => {
                let copy = copy
                    .filter(|_| self.held.saturating_add(cost.saturating_mul(2)) <= self.max_held);
                if let Some(copy_at) = copy {
                    self.push(copy_at, cost, datagram.clone());
                }
                self.push(at, cost, datagram);
                Fate::Deliver {
                    at,
                    copy,
                    held_back,
                }
            }
            dropped => dropped,
        }
    }

    fn push(&mut self, at: Duration, cost: usize, datagram: T) {
        self.seq += 1;
        self.held += cost;
        self.due.push(Reverse(Due {
            at,
            seq: self.seq,
            cost,
            datagram,
        }));
    }

    /// When the next held datagram is due.
    pub fn next_due(&self) -> Option<Duration> {
        self.due.peek().map(|d| d.0.at)
    }

    /// The next datagram due at `now`: `Ok` to send it, `Err(Drop::Outage)` if the path is
    /// cut at its due time. `None` when nothing is due.
    pub fn release(&mut self, now: Duration) -> Option<Result<T, Drop>> {
        if self.next_due()? > now {
            return None;
        }
        let Reverse(due) = self.due.pop()?;
        self.held -= due.cost;
        if self.path.is_cut(due.at) {
            return Some(Err(Drop::Outage));
        }
        Some(Ok(due.datagram))
    }

    /// Everything held, in the order it was due, at once (the simulation is being turned off).
    pub fn release_all(&mut self) -> Vec<T> {
        let mut out = Vec::with_capacity(self.due.len());
        while let Some(Reverse(due)) = self.due.pop() {
            out.push(due.datagram);
        }
        self.held = 0;
        out
    }

    /// The cost of what is held now.
    pub fn held_bytes(&self) -> usize {
        self.held
    }

    /// How many datagrams are held now.
    pub fn len(&self) -> usize {
        self.due.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.due.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{Impairment, Loss, Outage};

    const MS: Duration = Duration::from_millis(1);

    fn lane(settings: Impairment, max_held: usize) -> Lane<u32> {
        Lane::new(Path::new(settings, 1), max_held)
    }

    /// Releases everything due at `now`.
    fn due(lane: &mut Lane<u32>, now: Duration) -> Vec<Result<u32, Drop>> {
        std::iter::from_fn(|| lane.release(now)).collect()
    }

    #[test]
    fn datagrams_come_out_when_due_in_order() {
        let mut l = lane(
            Impairment {
                delay: MS * 50,
                ..Default::default()
            },
            1 << 20,
        );
        for i in 0..10 {
            l.admit(MS * i, 100, i);
        }
        assert_eq!(l.next_due(), Some(MS * 50));
        assert!(due(&mut l, MS * 49).is_empty());
        assert_eq!(due(&mut l, MS * 52), vec![Ok(0), Ok(1), Ok(2)]);
        assert_eq!(l.len(), 7);
        assert_eq!(l.held_bytes(), 7 * (100 + ENTRY_COST));
        assert_eq!(due(&mut l, MS * 100).len(), 7);
        assert!(l.is_empty() && l.held_bytes() == 0 && l.next_due().is_none());
    }

    #[test]
    fn the_limit_bounds_what_is_held_whatever_the_sizes() {
        let mut l = lane(
            Impairment {
                delay: MS * 1_000,
                duplicate: 1.0,
                ..Default::default()
            },
            10 * (100 + ENTRY_COST),
        );
        let fates: Vec<_> = (0..100).map(|i| l.admit(MS * i, 100, i)).collect();
        assert_eq!(l.len(), 10, "five datagrams and their copies");
        let with_copy = fates
            .iter()
            .filter(|f| matches!(f, Fate::Deliver { copy: Some(_), .. }))
            .count();
        assert_eq!(with_copy, 5);
        assert_eq!(
            fates
                .iter()
                .filter(|f| **f == Fate::Dropped(Drop::Overflow))
                .count(),
            95
        );
        // Empty datagrams cost their entry: a flood of them is bounded too.
        let mut l = lane(
            Impairment {
                delay: MS * 1_000,
                ..Default::default()
            },
            100 * ENTRY_COST,
        );
        for i in 0..10_000 {
            l.admit(MS, 0, i);
        }
        assert_eq!(l.len(), 100);
        // Once released, there is room again.
        assert_eq!(due(&mut l, MS * 2_000).len(), 100);
        assert!(matches!(l.admit(MS * 2_000, 0, 0), Fate::Deliver { .. }));
    }

    #[test]
    fn a_datagram_due_during_an_outage_is_dropped_then() {
        let mut l = lane(
            Impairment {
                delay: MS * 100,
                outages: vec![Outage {
                    start: MS * 100,
                    duration: MS * 10,
                }],
                ..Default::default()
            },
            1 << 20,
        );
        l.admit(Duration::ZERO, 10, 1);
        l.admit(MS * 20, 10, 2);
        assert_eq!(
            due(&mut l, MS * 200),
            vec![Err(Drop::Outage), Ok(2)],
            "the first was due at 100 ms, inside the outage"
        );
    }

    #[test]
    fn lost_datagrams_are_not_held_and_release_all_empties_the_lane() {
        let mut l = lane(
            Impairment {
                loss: Loss::Random(1.0),
                ..Default::default()
            },
            1 << 20,
        );
        assert_eq!(l.admit(MS, 10, 1), Fate::Dropped(Drop::Loss));
        assert!(l.is_empty());
        l.path_mut().set(Impairment {
            delay: MS * 10,
            jitter: MS * 30,
            ..Default::default()
        });
        for i in 0..50 {
            l.admit(MS * 2, 10, i);
        }
        let all = l.release_all();
        assert_eq!(all.len(), 50);
        assert!(l.is_empty() && l.held_bytes() == 0);
    }
}
