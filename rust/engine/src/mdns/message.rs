//! The DNS wire format (RFC 1035 §4) as far as mDNS needs it here: one-question queries and
//! the A/AAAA records of a response (the querier), the questions of a query and address
//! answers (the responder). Names are kept in wire form (length-prefixed labels,
//! ASCII lowercased), which compares case-insensitively and cannot confuse a dot inside a
//! label with a label boundary.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub(crate) const TYPE_A: u16 = 1;
pub(crate) const TYPE_AAAA: u16 = 28;
/// The question type "any record".
pub(crate) const TYPE_ANY: u16 = 255;
const CLASS_IN: u16 = 1;
const CLASS_ANY: u16 = 255;
/// The TTL of our address records: RFC 6762 §10's recommendation for host names.
const HOST_TTL: u32 = 120;
/// The largest TTL in an answer to a one-shot querier (§6.7).
const LEGACY_TTL: u32 = 10;
/// The top bit of a question's class: "QU", answer by unicast (RFC 6762 §5.4). In a record's
/// class the same bit is the cache-flush flag (§10.2).
const CLASS_TOP_BIT: u16 = 0x8000;
const HEADER_LEN: usize = 12;
/// The largest response considered: RFC 6762 §17's largest mDNS message.
pub(crate) const MAX_MESSAGE: usize = 9000;
const MAX_NAME_LEN: usize = 255;
const MAX_LABEL_LEN: usize = 63;
/// Compression pointers followed in one name; the offsets-must-decrease rule already ends
/// every walk, this only bounds its cost.
const MAX_JUMPS: usize = 16;

/// Why a response was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Malformed {
    /// Larger than [`MAX_MESSAGE`].
    TooLarge,
    /// Shorter than its header or a record says.
    Truncated,
    /// A name that is too long, uses a reserved label type, or whose pointers do not go back.
    BadName,
    /// A query, or a response with an error code or an opcode other than QUERY.
    NotAnAnswer,
    /// A response, or an opcode other than QUERY.
    NotAQuery,
}

/// An address record of a response's answer or additional section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    /// The owner name in wire form, lowercased, see [`wire_name`].
    pub name: Vec<u8>,
    pub addr: IpAddr,
}

/// `name` (dotted, an optional trailing dot) in wire form, ASCII lowercased, with the closing
/// empty label; `None` if a label is empty or too long or the whole is too long.
pub(crate) fn wire_name(name: &str) -> Option<Vec<u8>> {
    let name = name.strip_suffix('.').unwrap_or(name);
    let mut out = Vec::with_capacity(name.len() + 2);
    for label in name.split('.') {
        if label.is_empty() || label.len() > MAX_LABEL_LEN {
            return None;
        }
        out.push(label.len() as u8);
        out.extend(label.bytes().map(|b| b.to_ascii_lowercase()));
    }
    out.push(0);
    (out.len() <= MAX_NAME_LEN).then_some(out)
}

/// A query with one question for `name` (wire form) of type `qtype`, class IN, QU bit set.
/// mDNS queries carry ID 0 and no flags (RFC 6762 §18).
pub(crate) fn encode_query(name: &[u8], qtype: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + name.len() + 4);
    out.extend_from_slice(&[0, 0, 0, 0]); // ID, flags
    out.extend_from_slice(&1u16.to_be_bytes()); // QDCOUNT
    out.extend_from_slice(&[0; 6]); // ANCOUNT, NSCOUNT, ARCOUNT
    out.extend_from_slice(name);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&(CLASS_IN | CLASS_TOP_BIT).to_be_bytes());
    out
}

/// The questions of a query (`qr` clear, opcode QUERY) that `want` keeps, in order, as
/// (name in wire form, type, QU bit). The known-answer, authority and additional sections are
/// not read. Costs at most one pass over a message of at most [`MAX_MESSAGE`] bytes, and holds
/// only the questions kept.
pub(crate) fn parse_query(
    msg: &[u8],
    mut want: impl FnMut(&[u8], u16) -> bool,
) -> Result<QueryHeader, Malformed> {
    if msg.len() > MAX_MESSAGE {
        return Err(Malformed::TooLarge);
    }
    let mut r = Reader { msg, pos: 0 };
    let header = r.take(HEADER_LEN)?;
    let id = u16::from_be_bytes([header[0], header[1]]);
    let flags = u16::from_be_bytes([header[2], header[3]]);
    let opcode = (flags >> 11) & 0xf;
    if flags & 0x8000 != 0 || opcode != 0 {
        return Err(Malformed::NotAQuery);
    }
    let questions = u16::from_be_bytes([header[4], header[5]]);
    let mut kept = Vec::new();
    for _ in 0..questions {
        let name = r.name()?;
        let fixed = r.take(4)?;
        let qtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let class = u16::from_be_bytes([fixed[2], fixed[3]]);
        if class & !CLASS_TOP_BIT != CLASS_IN && class & !CLASS_TOP_BIT != CLASS_ANY {
            continue;
        }
        if want(&name, qtype) {
            kept.push(Question {
                name,
                qtype,
                unicast: class & CLASS_TOP_BIT != 0,
            });
        }
    }
    Ok(QueryHeader {
        id,
        questions: kept,
    })
}

/// What [`parse_query`] read of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueryHeader {
    pub id: u16,
    pub questions: Vec<Question>,
}

/// One question of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Question {
    /// Wire form, lowercased.
    pub name: Vec<u8>,
    pub qtype: u16,
    /// The QU bit: the asker prefers a unicast answer (RFC 6762 §5.4).
    pub unicast: bool,
}

/// How an answer is addressed, which decides its form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AnswerForm {
    /// An mDNS response (to the group, or by unicast to a port-5353 querier): ID 0, no
    /// question, records with the cache-flush bit (RFC 6762 §18, §10.2).
    Mdns,
    /// To a one-shot ("legacy") querier's own port (§6.7): its ID and question echoed, no
    /// cache-flush bit, a TTL of at most 10 s.
    Legacy { id: u16, question: (Vec<u8>, u16) },
}

/// A response with one address record per `(name, addr)` (A for IPv4, AAAA for IPv6).
pub(crate) fn encode_answer(form: &AnswerForm, records: &[(&[u8], IpAddr)]) -> Vec<u8> {
    let (id, question, class, ttl) = match form {
        AnswerForm::Mdns => (0, None, CLASS_IN | CLASS_TOP_BIT, HOST_TTL),
        AnswerForm::Legacy { id, question } => (*id, Some(question), CLASS_IN, LEGACY_TTL),
    };
    let mut out = Vec::with_capacity(HEADER_LEN + records.len() * 48);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&0x8400u16.to_be_bytes()); // QR, AA
    out.extend_from_slice(&u16::from(question.is_some()).to_be_bytes());
    out.extend_from_slice(&(records.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0; 4]); // NSCOUNT, ARCOUNT
    if let Some((name, qtype)) = question {
        out.extend_from_slice(name);
        out.extend_from_slice(&qtype.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
    }
    for (name, addr) in records {
        out.extend_from_slice(name);
        let (rtype, data) = match addr {
            IpAddr::V4(ip) => (TYPE_A, ip.octets().to_vec()),
            IpAddr::V6(ip) => (TYPE_AAAA, ip.octets().to_vec()),
        };
        out.extend_from_slice(&rtype.to_be_bytes());
        out.extend_from_slice(&class.to_be_bytes());
        out.extend_from_slice(&ttl.to_be_bytes());
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(&data);
    }
    out
}

/// The A and AAAA records (class IN) in the answer and additional sections of a response.
/// Every other record is skipped; any length that does not fit fails the whole message.
pub(crate) fn parse_response(msg: &[u8]) -> Result<Vec<Record>, Malformed> {
    if msg.len() > MAX_MESSAGE {
        return Err(Malformed::TooLarge);
    }
    let mut r = Reader { msg, pos: 0 };
    let header = r.take(HEADER_LEN)?;
    let flags = u16::from_be_bytes([header[2], header[3]]);
    let is_response = flags & 0x8000 != 0;
    let opcode = (flags >> 11) & 0xf;
    let rcode = flags & 0xf;
    if !is_response || opcode != 0 || rcode != 0 {
        return Err(Malformed::NotAnAnswer);
    }
    let count = |i: usize| u16::from_be_bytes([header[i], header[i + 1]]) as usize;
    let (questions, answers, authority, additional) = (count(4), count(6), count(8), count(10));
    for _ in 0..questions {
        r.name()?;
        r.take(4)?;
    }
    let mut out = Vec::new();
    // Authority records (the proposals of a probe) are walked past, not used.
    for (n, used) in [(answers, true), (authority, false), (additional, true)] {
        for _ in 0..n {
            if let (name, Some(addr)) = r.record()? {
                if used {
                    out.push(Record { name, addr });
                }
            }
        }
    }
    Ok(out)
}

struct Reader<'a> {
    msg: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        let end = self.pos.checked_add(n).ok_or(Malformed::Truncated)?;
        let out = self.msg.get(self.pos..end).ok_or(Malformed::Truncated)?;
        self.pos = end;
        Ok(out)
    }

    /// One resource record: its owner name and, for A or AAAA of class IN, the address.
    fn record(&mut self) -> Result<(Vec<u8>, Option<IpAddr>), Malformed> {
        let name = self.name()?;
        let fixed = self.take(10)?;
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let class = u16::from_be_bytes([fixed[2], fixed[3]]) & !CLASS_TOP_BIT;
        let len = u16::from_be_bytes([fixed[8], fixed[9]]) as usize;
        let data = self.take(len)?;
        let addr = match (class, rtype, data.len()) {
            (CLASS_IN, TYPE_A, 4) => Some(IpAddr::V4(Ipv4Addr::new(
                data[0], data[1], data[2], data[3],
            ))),
            (CLASS_IN, TYPE_AAAA, 16) => {
                let mut b = [0u8; 16];
                b.copy_from_slice(data);
                Some(IpAddr::V6(Ipv6Addr::from(b)))
            }
            _ => None,
        };
        Ok((name, addr))
    }

    /// Reads a possibly compressed name at the current position (RFC 1035 §4.1.4) and moves
    /// past it. A pointer must point before the start of the run of labels it ends, so the
    /// offsets visited keep decreasing and a loop is impossible.
    fn name(&mut self) -> Result<Vec<u8>, Malformed> {
        let mut out = Vec::new();
        let mut at = self.pos;
        let mut run_start = at;
        let mut jumps = 0;
        loop {
            let len = *self.msg.get(at).ok_or(Malformed::Truncated)? as usize;
            match len & 0xc0 {
                0x00 => {
                    let label = self
                        .msg
                        .get(at + 1..at + 1 + len)
                        .ok_or(Malformed::Truncated)?;
                    out.push(len as u8);
                    out.extend(label.iter().map(u8::to_ascii_lowercase));
                    if out.len() > MAX_NAME_LEN {
                        return Err(Malformed::BadName);
                    }
                    at += 1 + len;
                    if jumps == 0 {
                        self.pos = at;
                    }
                    if len == 0 {
                        return Ok(out);
                    }
                }
                0xc0 => {
                    let low = *self.msg.get(at + 1).ok_or(Malformed::Truncated)? as usize;
                    let target = ((len & 0x3f) << 8) | low;
                    if jumps == 0 {
                        self.pos = at + 2;
                    }
                    jumps += 1;
                    if target >= run_start || jumps > MAX_JUMPS {
                        return Err(Malformed::BadName);
                    }
                    at = target;
                    run_start = target;
                }
                // 0x40 and 0x80: extended and reserved label types (RFC 6891 §5).
                _ => return Err(Malformed::BadName),
            }
        }
    }
}
