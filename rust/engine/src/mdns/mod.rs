//! Resolving the `.local` names browsers put in their candidates with our own one-shot mDNS
//! queries (RFC 6762 §5.1), sans-IO: never the system resolver, which would tell the player's
//! DNS server about the name and works only where nss-mdns is installed.
//!
//! The driver sends what [`Querier::poll_transmit`] queues to the mDNS group from one UDP socket
//! per connection and feeds back what arrives on it. The questions carry the QU bit, and the
//! socket's port is not 5353, so responders that follow §5.4 and §6.7 answer by unicast to that
//! socket. Browsers' responders (Chromium's, Firefox's) answer to the group whatever the
//! question asks, so while names are pending the driver also listens on the group and feeds
//! those datagrams here too: any response naming a pending lookup resolves it.
//!
//! The other way round, [`Responder`] hides our own host addresses behind such names and
//! answers the questions about them.

mod message;
mod responder;
#[cfg(test)]
mod responder_tests;
#[cfg(test)]
mod tests;

pub(crate) use message::Malformed;
use message::{encode_query, parse_response, wire_name, TYPE_A, TYPE_AAAA};
pub(crate) use responder::{Destination, Responder};
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

/// The IPv4 mDNS group.
pub(crate) const MDNS_GROUP_IP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 251);
/// The IPv4 mDNS group and port.
pub(crate) const MDNS_GROUP: SocketAddr = SocketAddr::V4(SocketAddrV4::new(MDNS_GROUP_IP, 5353));
/// Names being resolved at once by one connection; browsers send one or two.
pub(crate) const MAX_QUERIES: usize = 8;
/// When each query is sent, from the start of the lookup.
const SCHEDULE: [Duration; 3] = [
    Duration::ZERO,
    Duration::from_millis(200),
    Duration::from_millis(600),
];
/// A name with no answer by then is given up.
pub(crate) const GIVE_UP: Duration = Duration::from_millis(1500);

/// Why a lookup was not started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// [`MAX_QUERIES`] names are already being resolved.
    Busy,
    /// Not a name that fits in a DNS message.
    BadName,
}

/// What became of a lookup: the addresses found (IPv4 first), or none when it was given up.
#[derive(Debug)]
pub(crate) struct Resolution<T> {
    pub tag: T,
    pub addrs: Vec<IpAddr>,
}

struct Query<T> {
    /// Wire form, lowercased.
    name: Vec<u8>,
    started: Instant,
    /// Entries of [`SCHEDULE`] done.
    sent: usize,
    tag: T,
}

impl<T> Query<T> {
    fn next_event(&self) -> Instant {
        match SCHEDULE.get(self.sent) {
            Some(offset) => self.started + *offset,
            None => self.started + GIVE_UP,
        }
    }
}

/// One connection's mDNS lookups. `T` is what the caller wants back with each result.
pub(crate) struct Querier<T> {
    queries: Vec<Query<T>>,
    /// Also ask for (and accept) AAAA records.
    aaaa: bool,
    transmits: VecDeque<Vec<u8>>,
    results: VecDeque<Resolution<T>>,
}

impl<T> Querier<T> {
    pub fn new(aaaa: bool) -> Self {
        Self {
            queries: Vec::new(),
            aaaa,
            transmits: VecDeque::new(),
            results: VecDeque::new(),
        }
    }

    /// Starts resolving `name`; the first query is queued at once. On refusal the tag comes
    /// back.
    pub fn start(&mut self, now: Instant, name: &str, tag: T) -> Result<(), (Refused, T)> {
        if self.queries.len() >= MAX_QUERIES {
            return Err((Refused::Busy, tag));
        }
        let Some(name) = wire_name(name) else {
            return Err((Refused::BadName, tag));
        };
        self.queries.push(Query {
            name,
            started: now,
            sent: 0,
            tag,
        });
        self.handle_timeout(now);
        Ok(())
    }

    /// A datagram from the mDNS socket: every lookup whose name it answers is resolved.
    pub fn handle_response(&mut self, now: Instant, data: &[u8]) -> Result<(), Malformed> {
        // A lookup past its time is over even if the driver has not said so yet.
        self.handle_timeout(now);
        let records = parse_response(data)?;
        let mut i = 0;
        while i < self.queries.len() {
            let mut addrs: Vec<IpAddr> = records
                .iter()
                .filter(|r| r.name == self.queries[i].name && (r.addr.is_ipv4() || self.aaaa))
                .map(|r| r.addr)
                .collect();
            if addrs.is_empty() {
                i += 1;
                continue;
            }
            addrs.sort_by_key(|a| a.is_ipv6());
            addrs.dedup();
            let q = self.queries.swap_remove(i);
            self.results.push_back(Resolution { tag: q.tag, addrs });
        }
        Ok(())
    }

    /// Sends the queries that are due and gives up the lookups that are out of time.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.queries.len() {
            let q = &mut self.queries[i];
            if now >= q.started + GIVE_UP {
                let q = self.queries.swap_remove(i);
                self.results.push_back(Resolution {
                    tag: q.tag,
                    addrs: Vec::new(),
                });
                continue;
            }
            let due = SCHEDULE
                .iter()
                .take_while(|offset| now >= q.started + **offset)
                .count();
            // A late driver sends one query for all the attempts it missed.
            if due > q.sent {
                q.sent = due;
                self.transmits.push_back(encode_query(&q.name, TYPE_A));
                if self.aaaa {
                    self.transmits.push_back(encode_query(&q.name, TYPE_AAAA));
                }
            }
            i += 1;
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.queries.iter().map(Query::next_event).min()
    }

    /// A query to send to the mDNS group.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmits.pop_front()
    }

    pub fn poll_result(&mut self) -> Option<Resolution<T>> {
        self.results.pop_front()
    }
}
