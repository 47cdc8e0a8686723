//! Who may open a connection: at most so many open connections per address, and a
//! connection rate per address. A [`Ticket`] stands for one admitted connection and gives its
//! place back when dropped.

use crate::ip::IpKey;
use crate::rate::{Rate, TokenBucket};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Per-address connection limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdmissionLimits {
    /// Connections one address may have open at once (handshakes included).
    pub max_per_ip: usize,
    /// New connections per second one address may open, with a burst.
    pub rate: Rate,
}

impl Default for AdmissionLimits {
    fn default() -> Self {
        AdmissionLimits {
            max_per_ip: 32,
            rate: Rate::new(5.0, 20.0),
        }
    }
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, PartialEq)]
pub enum Refused {
    /// The address already has its maximum of connections open.
    TooMany(usize),
    /// The address opens connections too fast; it may again after this long.
    TooFast(Duration),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::TooMany(max) => write!(f, "already {max} connections open from this address"),
            Refused::TooFast(wait) => write!(
                f,
                "opening connections too fast (next allowed in {} ms)",
                wait.as_millis()
            ),
        }
    }
}

struct Address {
    open: usize,
    bucket: TokenBucket,
}

struct Table {
    limits: AdmissionLimits,
    addresses: HashMap<IpKey, Address>,
}

/// Per-address connection accounting, shared by the accept loop and every connection.
#[derive(Clone)]
pub struct Admission {
    table: Arc<Mutex<Table>>,
}

/// One admitted connection; dropping it frees its place.
pub struct Ticket {
    table: Arc<Mutex<Table>>,
    ip: IpKey,
}

impl Admission {
    /// An empty table.
    pub fn new(limits: AdmissionLimits) -> Admission {
        Admission {
            table: Arc::new(Mutex::new(Table {
                limits,
                addresses: HashMap::new(),
            })),
        }
    }

    /// Admits one more connection from `ip`, or says why not.
    pub fn admit(&self, ip: IpKey, now: Instant) -> Result<Ticket, Refused> {
        let mut table = lock(&self.table);
        let limits = table.limits;
        let address = table.addresses.entry(ip).or_insert_with(|| Address {
            open: 0,
            bucket: TokenBucket::new(limits.rate, now),
        });
        if address.open >= limits.max_per_ip {
            return Err(Refused::TooMany(limits.max_per_ip));
        }
        address.bucket.take(1.0, now).map_err(Refused::TooFast)?;
        address.open += 1;
        Ok(Ticket {
            table: self.table.clone(),
            ip,
        })
    }

    /// Forgets addresses with nothing open whose allowance is whole again.
    pub fn sweep(&self, now: Instant) {
        lock(&self.table)
            .addresses
            .retain(|_, address| address.open > 0 || !address.bucket.is_full(now));
    }

    /// Addresses tracked (bounded by [`Admission::sweep`]).
    pub fn tracked(&self) -> usize {
        lock(&self.table).addresses.len()
    }
}

impl Ticket {
    /// The address this connection counts against.
    pub fn ip(&self) -> IpKey {
        self.ip
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(address) = lock(&self.table).addresses.get_mut(&self.ip) {
            address.open = address.open.saturating_sub(1);
        }
    }
}

fn lock(table: &Mutex<Table>) -> MutexGuard<'_, Table> {
    table
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn ip(last: u8) -> IpKey {
        IpKey::of(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
    }

    #[test]
    fn open_connections_are_capped_per_address() {
        let now = Instant::now();
        let admission = Admission::new(AdmissionLimits {
            max_per_ip: 2,
            rate: Rate::new(100.0, 100.0),
        });
        let first = admission.admit(ip(2), now).expect("first");
        let _second = admission.admit(ip(2), now).expect("second");
        assert_eq!(admission.admit(ip(2), now).err(), Some(Refused::TooMany(2)));
        assert!(admission.admit(ip(3), now).is_ok(), "another address");
        drop(first);
        assert!(admission.admit(ip(2), now).is_ok(), "a place was freed");
    }

    #[test]
    fn new_connections_are_rate_limited_per_address() {
        let start = Instant::now();
        let admission = Admission::new(AdmissionLimits {
            max_per_ip: 100,
            rate: Rate::new(10.0, 2.0),
        });
        let mut held = Vec::new();
        held.push(admission.admit(ip(2), start).expect("burst 1"));
        held.push(admission.admit(ip(2), start).expect("burst 2"));
        assert!(matches!(
            admission.admit(ip(2), start),
            Err(Refused::TooFast(_))
        ));
        held.push(
            admission
                .admit(ip(2), start + Duration::from_millis(100))
                .expect("refilled"),
        );
        // Closing connections does not refill the rate.
        held.clear();
        assert!(admission
            .admit(ip(2), start + Duration::from_millis(100))
            .is_err());
    }

    #[test]
    fn sweep_keeps_addresses_with_open_connections_or_a_spent_allowance() {
        let start = Instant::now();
        let admission = Admission::new(AdmissionLimits {
            max_per_ip: 10,
            rate: Rate::new(1.0, 5.0),
        });
        let ticket = admission.admit(ip(2), start).expect("admit");
        drop(admission.admit(ip(3), start).expect("admit"));
        admission.sweep(start);
        assert_eq!(admission.tracked(), 2);
        admission.sweep(start + Duration::from_secs(5));
        assert_eq!(admission.tracked(), 1);
        assert_eq!(ticket.ip(), ip(2));
        drop(ticket);
        admission.sweep(start + Duration::from_secs(5));
        assert_eq!(admission.tracked(), 0);
    }
}
