//! Our host addresses hidden behind random `.local` names, as browsers do
//! (`Config::mdns_host_candidates`), sans-IO: the names (a UUIDv4 each, one per address), and
//! the answers to the A/AAAA questions that name them (RFC 6762 §6).
//!
//! Everything on port 5353 of the link reaches the responder, so what it does per datagram is
//! bounded: one pass over at most [`MAX_MESSAGE`](super::message::MAX_MESSAGE) bytes, questions
//! kept only for our own names (each once per datagram), and each name answered at most once
//! a second to the group (§6) and four times a second by unicast. Other names are never
//! answered, nor are questions from outside the subnets of our named addresses (§11: a unicast
//! query to port 5353 from elsewhere would otherwise learn the address a name hides).

use super::message::{encode_answer, parse_query, AnswerForm, Malformed, TYPE_A, TYPE_AAAA};
use super::message::{wire_name, TYPE_ANY};
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

/// Names one connection announces; one per local address, so a handful in practice.
pub(crate) const MAX_NAMES: usize = 16;
/// The least time between two answers for a name to the group (RFC 6762 §6).
pub(crate) const GROUP_INTERVAL: Duration = Duration::from_secs(1);
/// The least time between two unicast answers for a name, whoever asks: bounds what a
/// flood of queries with forged source addresses can make us send.
pub(crate) const UNICAST_INTERVAL: Duration = Duration::from_millis(250);
/// The mDNS port: queries from any other port come from one-shot queriers (§6.7).
const MDNS_PORT: u16 = 5353;

/// Where an answer goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Destination {
    /// The mDNS group, out of the interface with this IPv4 address (`None`: the default one).
    Group { via: Option<Ipv4Addr> },
    /// The asker alone.
    Unicast(SocketAddr),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub to: Destination,
    pub data: Vec<u8>,
}

struct OwnName {
    /// Wire form, lowercased.
    wire: Vec<u8>,
    text: String,
    addr: IpAddr,
    /// The length of the network prefix of `addr`'s subnet.
    prefix: u8,
    last_group: Option<Instant>,
    last_unicast: Option<Instant>,
}

impl OwnName {
    fn answers(&self, qtype: u16) -> bool {
        match qtype {
            TYPE_A => self.addr.is_ipv4(),
            TYPE_AAAA => self.addr.is_ipv6(),
            TYPE_ANY => true,
            _ => false,
        }
    }
}

/// The names of one connection's host candidates and the answers owed for them.
pub(crate) struct Responder {
    names: Vec<OwnName>,
    answers: VecDeque<Answer>,
}

impl Responder {
    pub fn new() -> Self {
        Self {
            names: Vec::new(),
            answers: VecDeque::new(),
        }
    }

    /// The name announced for `addr` (in a subnet with a network prefix of `prefix` bits):
    /// the one it already has, or a new one made of `random` (a UUIDv4, like browsers'
    /// names). `None` once [`MAX_NAMES`] addresses have names.
    pub fn name_for(&mut self, addr: IpAddr, prefix: u8, random: [u8; 16]) -> Option<String> {
        if let Some(n) = self.names.iter().find(|n| n.addr == addr) {
            return Some(n.text.clone());
        }
        if self.names.len() >= MAX_NAMES {
            return None;
        }
        let text = format!("{}.local", uuid_v4(random));
        let wire = wire_name(&text)?;
        self.names.push(OwnName {
            wire,
            text: text.clone(),
            addr,
            prefix,
            last_group: None,
            last_unicast: None,
        });
        Some(text)
    }

    /// The IPv4 addresses with a name: the interfaces to hear questions on.
    pub fn ipv4_addresses(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.names.iter().filter_map(|n| match n.addr {
            IpAddr::V4(ip) => Some(ip),
            IpAddr::V6(_) => None,
        })
    }

    /// A datagram that arrived on port 5353 from `from`: the questions about our names are
    /// answered, within the rates above; anything else (responses, other names, malformed
    /// messages) changes nothing.
    pub fn handle_query(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &[u8],
    ) -> Result<(), Malformed> {
        if !self.on_link(from.ip()) {
            return Ok(());
        }
        // Which of our names each question asks about, each (name, type) once.
        let mut asked: Vec<(usize, u16)> = Vec::new();
        let query = parse_query(data, |name, qtype| {
            let Some(i) = self
                .names
                .iter()
                .position(|n| n.wire == name && n.answers(qtype))
            else {
                return false;
            };
            if asked.contains(&(i, qtype)) {
                return false;
            }
            asked.push((i, qtype));
            true
        })?;
        let one_shot = from.port() != MDNS_PORT;
        let mut answered: Vec<usize> = Vec::new();
        for (q, (i, _)) in query.questions.iter().zip(asked) {
            if answered.contains(&i) {
                continue;
            }
            let name = &mut self.names[i];
            let records = [(name.wire.as_slice(), name.addr)];
            let due = |last: Option<Instant>, interval| last.is_none_or(|t| now >= t + interval);
            if one_shot || q.unicast {
                if !due(name.last_unicast, UNICAST_INTERVAL) {
                    continue;
                }
                name.last_unicast = Some(now);
                let form = if one_shot {
                    AnswerForm::Legacy {
                        id: query.id,
                        question: (q.name.clone(), q.qtype),
                    }
                } else {
                    AnswerForm::Mdns
                };
                self.answers.push_back(Answer {
                    to: Destination::Unicast(from),
                    data: encode_answer(&form, &records),
                });
            } else {
                if !due(name.last_group, GROUP_INTERVAL) {
                    continue;
                }
                name.last_group = Some(now);
                let via = match name.addr {
                    IpAddr::V4(ip) => Some(ip),
                    IpAddr::V6(_) => None,
                };
                self.answers.push_back(Answer {
                    to: Destination::Group { via },
                    data: encode_answer(&AnswerForm::Mdns, &records),
                });
            }
            answered.push(i);
        }
        Ok(())
    }

    /// Whether `ip` is in the subnet of one of our named addresses (or IPv6 link-local).
    fn on_link(&self, ip: IpAddr) -> bool {
        let link_local_v6 = matches!(ip, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80);
        self.names.iter().any(|n| match (n.addr, ip) {
            (IpAddr::V4(ours), IpAddr::V4(theirs)) => {
                same_prefix(&ours.octets(), &theirs.octets(), n.prefix)
            }
            (IpAddr::V6(ours), IpAddr::V6(theirs)) => {
                link_local_v6 || same_prefix(&ours.octets(), &theirs.octets(), n.prefix)
            }
            _ => false,
        })
    }

    pub fn poll_answer(&mut self) -> Option<Answer> {
        self.answers.pop_front()
    }
}

/// Whether `a` and `b` agree on their first `prefix` bits.
fn same_prefix(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let bits = usize::from(prefix).min(a.len() * 8);
    let (whole, rest) = (bits / 8, bits % 8);
    if a[..whole] != b[..whole] {
        return false;
    }
    rest == 0 || (a[whole] ^ b[whole]) & (0xff << (8 - rest)) == 0
}

/// `random` as a version 4 (random) UUID in its usual text form.
fn uuid_v4(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}
