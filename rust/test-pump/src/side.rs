//! What the pump needs from one end of a connection, and the signals it carries.

use std::fmt::Debug;

/// The two kinds of session description an offer/answer exchange carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SdpKind {
    Offer,
    Answer,
}

impl SdpKind {
    /// The W3C name (`RTCSdpType`): `"offer"` or `"answer"`.
    pub fn as_str(self) -> &'static str {
        match self {
            SdpKind::Offer => "offer",
            SdpKind::Answer => "answer",
        }
    }

    /// The kind with the W3C name `name`; `None` for any other name (the pump carries no
    /// `"pranswer"` or `"rollback"`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "offer" => Some(SdpKind::Offer),
            "answer" => Some(SdpKind::Answer),
            _ => None,
        }
    }
}

/// A session description one side yielded, on its way to the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    pub kind: SdpKind,
    pub sdp: String,
}

/// A trickled ICE candidate as a signaling channel carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The media section (`a=mid`) the candidate belongs to.
    pub mid: String,
    /// The index of that media section.
    pub index: u32,
    /// The `candidate:...` line itself.
    pub line: String,
}

/// Which argument of the pump a candidate came from: `A` is the first (the offerer in
/// [`crate::Pump::signal`]), `B` the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    A,
    B,
}

/// One end of a connection under test, as a signaling channel sees it: it yields signals (a
/// session description, trickled candidates, incoming data channels), which it keeps until they
/// are taken, and accepts the other end's. It is test code: every method panics on an error the
/// test does not expect, and each implementation decides which errors those are.
///
/// `Debug` describes the side's state in timeout messages.
pub trait Side: Debug {
    /// Polls once, keeping what it yielded (incoming data channels stay with the side).
    fn poll_signals(&mut self);

    /// The candidates yielded since the last call, oldest first.
    fn drain_candidates(&mut self) -> Vec<Candidate>;

    /// Takes a candidate the other side yielded.
    fn add_remote_candidate(&mut self, candidate: &Candidate);

    /// Starts an offer; a later poll yields it.
    fn start_offer(&mut self);

    /// Whether a poll yielded a description that was not taken yet.
    fn has_description(&self) -> bool;

    /// The description a poll yielded, if any, which is then no longer kept.
    fn take_description(&mut self) -> Option<Description>;

    /// Applies a description this side yielded, as the application hands it back.
    fn apply_local(&mut self, description: &Description);

    /// Applies the other side's description.
    fn apply_remote(&mut self, description: &Description);

    /// Whether the connection is CONNECTED.
    fn is_connected(&self) -> bool;
}
