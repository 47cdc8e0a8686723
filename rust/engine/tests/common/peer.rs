//! One engine peer as the shared test pump drives it.

use std::fmt;
use webrtc_rs_engine::*;
use webrtc_rs_test_pump::{Candidate, Description, SdpKind, Side};

/// The media section of the engine's only (data) section, which its candidates name.
const DATA_MID: &str = "0";

/// One peer plus what its events delivered.
pub struct Peer {
    pub pc: PeerConnection,
    pub description: Option<(SdpType, String)>,
    pub candidates: Vec<String>,
    pub incoming: Vec<DataChannel>,
    pub gathering_complete: bool,
    /// The channel of each `BufferedAmountLow` event, in order.
    pub buffered_low: Vec<DataChannel>,
    /// Every `Event::ConnectionError`, in order.
    pub errors: Vec<ConnectionError>,
}

impl Peer {
    pub fn new(config: Config) -> Self {
        Self {
            pc: PeerConnection::new(config).expect("create peer"),
            description: None,
            candidates: Vec::new(),
            incoming: Vec::new(),
            gathering_complete: false,
            buffered_low: Vec::new(),
            errors: Vec::new(),
        }
    }

    pub fn poll(&mut self) {
        for ev in self.pc.poll() {
            match ev {
                Event::SessionDescription { sdp_type, sdp } => {
                    self.description = Some((sdp_type, sdp))
                }
                Event::IceCandidate { candidate, .. } => self.candidates.push(candidate),
                Event::GatheringComplete => self.gathering_complete = true,
                Event::DataChannel(c) => self.incoming.push(c),
                Event::BufferedAmountLow(c) => self.buffered_low.push(c),
                Event::ConnectionError(e) => self.errors.push(e),
            }
        }
    }
}

impl fmt::Debug for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.pc.fmt(f)
    }
}

/// Candidates to a connection that has already ended (a test of failure can get there within
/// milliseconds) are refused with `Closed`; any other error is a bug.
impl Side for Peer {
    fn poll_signals(&mut self) {
        self.poll();
    }
    fn drain_candidates(&mut self) -> Vec<Candidate> {
        self.candidates
            .drain(..)
            .map(|line| Candidate {
                mid: DATA_MID.to_owned(),
                index: 0,
                line,
            })
            .collect()
    }
    fn add_remote_candidate(&mut self, c: &Candidate) {
        if let Err(e) = self.pc.add_ice_candidate(&c.mid, c.index, &c.line) {
            assert_eq!(e.kind(), ErrorKind::Closed, "add candidate: {e}");
        }
    }
    fn start_offer(&mut self) {
        self.pc.create_offer().expect("create offer");
    }
    fn has_description(&self) -> bool {
        self.description.is_some()
    }
    fn take_description(&mut self) -> Option<Description> {
        let (sdp_type, sdp) = self.description.take()?;
        let kind = SdpKind::from_name(sdp_type.as_str())
            .unwrap_or_else(|| panic!("the engine yielded a {sdp_type:?}"));
        Some(Description { kind, sdp })
    }
    fn apply_local(&mut self, d: &Description) {
        self.pc
            .set_local_description(sdp_type(d.kind), &d.sdp)
            .expect("set local description");
    }
    fn apply_remote(&mut self, d: &Description) {
        self.pc
            .set_remote_description(sdp_type(d.kind), &d.sdp)
            .expect("set remote description");
    }
    fn is_connected(&self) -> bool {
        self.pc.connection_state() == ConnectionState::Connected
    }
}

fn sdp_type(kind: SdpKind) -> SdpType {
    kind.as_str()
        .parse()
        .expect("the engine knows offer and answer")
}
