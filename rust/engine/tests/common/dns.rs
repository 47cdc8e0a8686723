//! The DNS wire format as the tests' stand-in mDNS responders read it.

/// A query's one question: name, type, class, and where the question ends.
pub struct Question {
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
    pub end: usize,
}

/// The question of a query (not a response) with exactly one, uncompressed.
pub fn one_question(m: &[u8]) -> Option<Question> {
    if m.get(2)? & 0x80 != 0 || m.get(4..6)? != [0, 1] {
        return None;
    }
    let mut labels = Vec::new();
    let mut at = 12;
    loop {
        let len = *m.get(at)? as usize;
        at += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8(m.get(at..at + len)?.to_vec()).ok()?);
        at += len;
    }
    let field = |i: usize| Some(u16::from_be_bytes([*m.get(i)?, *m.get(i + 1)?]));
    Some(Question {
        name: labels.join("."),
        qtype: field(at)?,
        qclass: field(at + 2)?,
        end: at + 4,
    })
}
