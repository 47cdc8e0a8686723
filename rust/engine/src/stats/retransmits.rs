//! Counts the SCTP DATA chunks we send again, from the packets themselves: a first
//! transmission always carries a TSN above every TSN sent before (RFC 9260 §6.1), so a chunk
//! whose TSN is not above the highest one sent so far is a retransmission.

use crate::core::sctp_chunks;

const DATA: u8 = 0;

#[derive(Debug, Default)]
pub(crate) struct RetransmitCounter {
    highest: Option<u32>,
    count: u64,
}

impl RetransmitCounter {
    /// Looks at one outgoing SCTP packet (common header included).
    pub fn observe(&mut self, packet: &[u8]) {
        for (kind, _, value) in sctp_chunks(packet) {
            if kind != DATA || value.len() < 4 {
                continue;
            }
            let tsn = u32::from_be_bytes([value[0], value[1], value[2], value[3]]);
            match self.highest {
                // Serial number arithmetic (RFC 1982): above means less than 2^31 ahead.
                Some(h) if tsn.wrapping_sub(h) == 0 || tsn.wrapping_sub(h) > u32::MAX / 2 => {
                    self.count += 1
                }
                _ => self.highest = Some(tsn),
            }
        }
    }

    /// DATA chunks sent again so far.
    pub fn count(&self) -> u64 {
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A packet with DATA chunks of the given TSNs (12-byte common header, then chunks).
    fn packet(tsns: &[u32]) -> Vec<u8> {
        let mut p = vec![0u8; 12];
        for tsn in tsns {
            // type 0, flags 3 (whole message), length 17: header 4 + TSN etc. 12 + 1 byte.
            p.extend_from_slice(&[0, 3, 0, 17]);
            p.extend_from_slice(&tsn.to_be_bytes());
            p.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 51, 7, 0, 0, 0]);
        }
        p
    }

    #[test]
    fn repeated_tsns_are_retransmissions() {
        let mut c = RetransmitCounter::default();
        c.observe(&packet(&[10, 11, 12]));
        assert_eq!(c.count(), 0);
        c.observe(&packet(&[11, 13]));
        assert_eq!(c.count(), 1);
        c.observe(&packet(&[10, 12, 14]));
        assert_eq!(c.count(), 3);
    }

    #[test]
    fn tsns_wrap_around() {
        let mut c = RetransmitCounter::default();
        c.observe(&packet(&[u32::MAX - 1, u32::MAX, 0, 1]));
        assert_eq!(c.count(), 0);
        c.observe(&packet(&[u32::MAX]));
        assert_eq!(c.count(), 1);
    }

    #[test]
    fn other_chunks_and_garbage_count_nothing() {
        let mut c = RetransmitCounter::default();
        c.observe(&[]);
        c.observe(&[0; 12]);
        // A SACK (type 3) and a truncated chunk.
        c.observe(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 16, 0, 0, 0, 9]);
        c.observe(&packet(&[5])[..20]);
        assert_eq!(c.count(), 0);
    }
}
