//! The two peers' real addresses, as the relay learns them.

use std::net::SocketAddr;
use std::sync::Mutex;

/// One end of the relayed path: the peer whose candidates point at [`crate::Relay::address`]
/// of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum End {
    A,
    B,
}

impl End {
    pub fn other(self) -> End {
        match self {
            End::A => End::B,
            End::B => End::A,
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            End::A => 0,
            End::B => 1,
        }
    }
}

/// Where one peer is: announced by a candidate (provisional), or heard from (final: the first
/// datagram's source is kept, whatever comes later).
#[derive(Debug, Clone, Copy, Default)]
struct Known {
    addr: Option<SocketAddr>,
    heard: bool,
}

/// Both peers' addresses.
#[derive(Debug, Default)]
pub(crate) struct Peers(Mutex<[Known; 2]>);

impl Peers {
    /// A candidate of `end` announced `addr`; kept until `end` is heard from.
    pub fn announced(&self, end: End, addr: SocketAddr) {
        self.update(end, |k| {
            if !k.heard && k.addr.is_none() {
                k.addr = Some(addr);
            }
        });
    }

    /// A datagram came from `end` at `addr`.
    pub fn heard(&self, end: End, addr: SocketAddr) {
        self.update(end, |k| {
            if !k.heard {
                *k = Known {
                    addr: Some(addr),
                    heard: true,
                };
            }
        });
    }

    pub fn get(&self, end: End) -> Option<SocketAddr> {
        match self.0.lock() {
            Ok(known) => known[end.index()].addr,
            Err(poisoned) => poisoned.into_inner()[end.index()].addr,
        }
    }

    fn update(&self, end: End, f: impl FnOnce(&mut Known)) {
        let mut known = match self.0.lock() {
            Ok(k) => k,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut known[end.index()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_datagram_overrides_the_candidate_and_then_stays() {
        let p = Peers::default();
        let at = |port| SocketAddr::from(([127, 0, 0, 1], port));
        assert_eq!(p.get(End::A), None);
        p.announced(End::A, at(1));
        p.announced(End::A, at(2));
        assert_eq!(p.get(End::A), Some(at(1)), "the first candidate is kept");
        p.heard(End::A, at(3));
        p.announced(End::A, at(4));
        p.heard(End::A, at(5));
        assert_eq!(p.get(End::A), Some(at(3)), "the first source is kept");
        assert_eq!(p.get(End::B), None);
    }
}
