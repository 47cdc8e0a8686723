//! The clock of [`Sim`]: what happens next, handling it, and what the cores send.

use super::*;

impl Sim {
    /// When the next thing happens: a core's timeout or a datagram's arrival.
    fn next_event(&mut self) -> Option<Instant> {
        let timeouts = self.sides.iter_mut().filter_map(|s| s.core.poll_timeout());
        let arrival = self.flights.keys().next().map(|(t, _)| *t);
        timeouts.chain(arrival).min()
    }

    /// Advances to the next event and handles it; false when nothing is left to happen.
    pub fn step(&mut self) -> bool {
        let Some(next) = self.next_event() else {
            return false;
        };
        if next > self.now {
            self.now = next;
            self.steps_at_now = 0;
        }
        self.steps_at_now += 1;
        assert!(
            self.steps_at_now < STEPS_PER_INSTANT,
            "no progress at {:?}: a core keeps asking for a timeout it does not clear",
            self.elapsed()
        );
        let now = self.now;
        while let Some(entry) = self.flights.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let f = entry.remove();
            let at = self.elapsed();
            self.wire[f.wire].delivered.push(at);
            let side = &mut self.sides[f.to.index()];
            let local = side.addr;
            side.core.handle_datagram(now, local, f.from_addr, f.data);
        }
        for side in self.sides.iter_mut() {
            if side.core.poll_timeout().is_some_and(|t| t <= now) {
                side.core.handle_timeout(now);
            }
        }
        self.settle();
        true
    }

    /// Flushes both cores, puts what they send on the path, takes their updates and trickles
    /// announced candidates to the other side.
    pub(super) fn settle(&mut self) {
        let now = self.now;
        let at = self.elapsed();
        loop {
            let mut quiet = true;
            for who in [A, B] {
                let side = &mut self.sides[who.index()];
                side.core.flush(now);
                let mut sent = Vec::new();
                while let Some(t) = side.core.poll_transmit() {
                    sent.push(t);
                }
                let candidates = side.collect(now, at);
                for t in sent {
                    quiet = false;
                    self.transmit(who, t.local, t.peer, t.data);
                }
                for c in candidates {
                    quiet = false;
                    self.add_candidate(who.other(), &c);
                }
            }
            if quiet {
                return;
            }
        }
    }

    /// Puts one datagram on the path from `from` (its filter decides).
    fn transmit(&mut self, from: Who, local: SocketAddr, peer: SocketAddr, data: BytesMut) {
        let to = from.other();
        let kind = Kind::of(&data);
        let at = self.elapsed();
        let verdict = self.filters[from.index()].verdict(&Datagram {
            at,
            kind,
            data: &data,
        });
        let fate = match verdict {
            Verdict::Deliver => Fate::Delivered,
            Verdict::Drop => Fate::Dropped,
            Verdict::Delay(_) => Fate::Delayed,
            Verdict::Duplicate(_) => Fate::Duplicated,
            Verdict::Replace(_) => Fate::Replaced,
        };
        self.wire.push(Wire {
            from,
            sent: at,
            kind,
            len: data.len(),
            fate,
            delivered: Vec::new(),
        });
        if peer != self.side(to).addr {
            // Nothing else exists on this network.
            return;
        }
        let wire = self.wire.len() - 1;
        let arrive = self.now + self.latency;
        let copies = match verdict {
            Verdict::Deliver => vec![(arrive, data)],
            Verdict::Drop => Vec::new(),
            Verdict::Delay(d) => vec![(arrive + d, data)],
            Verdict::Duplicate(d) => vec![(arrive, data.clone()), (arrive + d, data)],
            Verdict::Replace(other) => vec![(arrive, other)],
        };
        for (when, data) in copies {
            self.seq += 1;
            self.flights.insert(
                (when, self.seq),
                Flight {
                    to,
                    from_addr: local,
                    data,
                    wire,
                },
            );
        }
    }

    /// Runs until `cond` holds (checked before each step) or nothing happens within `limit`
    /// of now; then the clock stands at the limit. Returns whether `cond` held.
    pub fn run_until(&mut self, limit: Duration, mut cond: impl FnMut(&Sim) -> bool) -> bool {
        let end = self.now + limit;
        loop {
            if cond(self) {
                return true;
            }
            match self.next_event() {
                Some(t) if t <= end => {
                    self.step();
                }
                _ => {
                    self.now = end;
                    return cond(self);
                }
            }
        }
    }

    /// Runs everything that happens within `d` of now; the clock then stands at now + `d`.
    pub fn run_for(&mut self, d: Duration) {
        self.run_until(d, |_| false);
    }

    /// When a datagram of a kind matching `pred` last reached `to`, if ever.
    pub fn last_delivered(&self, to: Who, pred: impl Fn(Kind) -> bool) -> Option<Duration> {
        self.wire
            .iter()
            .filter(|w| w.from != to && pred(w.kind))
            .flat_map(|w| w.delivered.iter().copied())
            .max()
    }
}
