//! Bounds on what the remote's SCTP packets can make rtc-sctp hold, checked on each decrypted
//! packet before the association sees it. rtc-sctp accepts DATA past a full receive buffer in
//! two cases (a chunk that fills a gap, and the next in-sequence chunk while nothing is
//! readable), so neither a message that never ends nor TSNs far ahead of what was received are
//! bounded there. Here:
//! - a DATA chunk whose TSN is more than [`TSN_WINDOW`] past the cumulative TSN, or that would
//!   be the [`OUT_OF_ORDER_LIMIT`]-th one held above a gap, drops its packet (a real sender
//!   retransmits it once the gap closes);
//! - a message that grows past the limit without ending fails the association.

use std::collections::{BTreeSet, HashMap};

const COMMON_HEADER: usize = 12;
const CHUNK_HEADER: usize = 4;
const DATA: u8 = 0;
const FORWARD_TSN: u8 = 192;
const FLAG_END: u8 = 0x01;
/// TSNs accepted past the cumulative one; far above what a receive window lets a real sender
/// have in flight, even of one-byte messages.
pub(super) const TSN_WINDOW: u32 = 1 << 18;
/// DATA chunks held above a gap.
pub(super) const OUT_OF_ORDER_LIMIT: usize = 16_384;

/// What to do with a packet.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    Accept,
    Drop,
    /// The remote broke a limit no real sender reaches; the association must end.
    Abort(String),
}

pub(super) struct SctpGuard {
    /// The largest message we accept (bytes); a message still growing past it is refused.
    max_message_size: usize,
    /// Highest TSN below which everything was received (or forwarded), counted without
    /// wrapping (the first TSN seen keeps its 32-bit value); `None` before DATA.
    cumulative: Option<u64>,
    /// TSNs received above `cumulative`, on the same unwrapped scale, so that moving the
    /// cumulative TSN only removes entries (a rebuild per move cost O(held) per packet).
    above: BTreeSet<u64>,
    /// Bytes of the message in progress on each stream (since its last ending chunk).
    partial: HashMap<u16, usize>,
}

impl SctpGuard {
    pub fn new(max_message_size: usize) -> Self {
        Self {
            max_message_size,
            cumulative: None,
            above: BTreeSet::new(),
            partial: HashMap::new(),
        }
    }

    /// Checks one SCTP packet and records its DATA chunks if it is accepted.
    pub fn check(&mut self, packet: &[u8]) -> Verdict {
        let Some(chunks) = packet.get(COMMON_HEADER..) else {
            return Verdict::Accept; // rtc-sctp refuses it itself
        };
        // Three passes over the chunks instead of collecting them: no allocation per packet.
        for (kind, _, value) in Chunks(chunks) {
            if kind == FORWARD_TSN && value.len() >= 4 {
                self.forward(u32::from_be_bytes([value[0], value[1], value[2], value[3]]));
            }
        }
        if !data_chunks(chunks).all(|(tsn, ..)| self.acceptable(tsn)) {
            return Verdict::Drop;
        }
        for (tsn, stream, end, len) in data_chunks(chunks) {
            if !self.record(tsn) {
                continue; // a duplicate adds nothing
            }
            let bytes = self.partial.entry(stream).or_insert(0);
            *bytes += len;
            if *bytes > self.max_message_size && !end {
                return Verdict::Abort(format!(
                    "the remote sent a message on stream {stream} that grows past {} bytes \
                     without ending",
                    self.max_message_size
                ));
            }
            if end {
                self.partial.remove(&stream);
            }
        }
        Verdict::Accept
    }

    fn offset(&self, tsn: u32) -> Option<u32> {
        self.cumulative.map(|c| tsn.wrapping_sub(c as u32))
    }

    /// The unwrapped TSN `offset` past the cumulative one.
    fn at(&self, offset: u32) -> u64 {
        self.cumulative.unwrap_or(0) + u64::from(offset)
    }

    fn acceptable(&self, tsn: u32) -> bool {
        match self.offset(tsn) {
            None => true,
            // At or below the cumulative TSN (serial arithmetic): a duplicate, harmless.
            Some(o) if o == 0 || o > u32::MAX / 2 => true,
            Some(o) if o > TSN_WINDOW => false,
            Some(1) => true,
            Some(o) => self.above.contains(&self.at(o)) || self.above.len() < OUT_OF_ORDER_LIMIT,
        }
    }

    /// Records a TSN; false if it was seen before.
    fn record(&mut self, tsn: u32) -> bool {
        let Some(offset) = self.offset(tsn) else {
            self.cumulative = Some(u64::from(tsn));
            return true;
        };
        if offset == 1 && self.above.is_empty() {
            // In order, nothing held above a gap: the usual case, kept allocation-free.
            self.cumulative = Some(self.at(1));
            return true;
        }
        if offset == 0 || offset > u32::MAX / 2 || !self.above.insert(self.at(offset)) {
            return false;
        }
        self.advance();
        true
    }

    /// A FORWARD TSN: everything up to `tsn` counts as received.
    fn forward(&mut self, tsn: u32) {
        match self.offset(tsn) {
            None => self.cumulative = Some(u64::from(tsn)),
            Some(o) if o > 0 && o <= TSN_WINDOW => {
                let cumulative = self.at(o);
                self.cumulative = Some(cumulative);
                self.above = self.above.split_off(&(cumulative + 1));
                self.advance();
            }
            _ => {}
        }
    }

    /// Moves the cumulative TSN over the received run that starts right after it.
    fn advance(&mut self) {
        let Some(mut cumulative) = self.cumulative else {
            return;
        };
        while self.above.first() == Some(&(cumulative + 1)) {
            self.above.pop_first();
            cumulative += 1;
        }
        self.cumulative = Some(cumulative);
    }
}

/// The DATA chunks of a packet as (TSN, stream, ends a message, payload length).
fn data_chunks(chunks: &[u8]) -> impl Iterator<Item = (u32, u16, bool, usize)> + '_ {
    Chunks(chunks)
        .filter(|(kind, _, value)| *kind == DATA && value.len() > 12)
        .map(|(_, flags, value)| {
            let tsn = u32::from_be_bytes([value[0], value[1], value[2], value[3]]);
            let stream = u16::from_be_bytes([value[4], value[5]]);
            (tsn, stream, flags & FLAG_END != 0, value.len() - 12)
        })
}

/// The chunks of an SCTP packet (common header included) as (type, flags, value); stops at the
/// first malformed one.
pub(crate) fn chunks(packet: &[u8]) -> Chunks<'_> {
    Chunks(packet.get(COMMON_HEADER..).unwrap_or(&[]))
}

/// The chunks after a packet's common header; see [`chunks`].
pub(crate) struct Chunks<'a>(&'a [u8]);

impl<'a> Iterator for Chunks<'a> {
    type Item = (u8, u8, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let header = self.0.get(..CHUNK_HEADER)?;
        let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
        let value = self.0.get(CHUNK_HEADER..len)?;
        let padded = len.div_ceil(4) * 4;
        self.0 = self.0.get(padded..).unwrap_or(&[]);
        Some((header[0], header[1], value))
    }
}

#[cfg(test)]
mod tests;
