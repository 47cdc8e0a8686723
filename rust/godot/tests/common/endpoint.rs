//! One glue session as the shared test pump drives it.

use std::fmt;
use std::ops::{Deref, DerefMut};
use webrtc_rs::session::{Session, SessionChannel, Signal};
use webrtc_rs_engine::{Config, ConnectionState, DataChannel, SdpType};
use webrtc_rs_test_pump::{Candidate, Description, SdpKind, Side};

/// One session plus what its `poll()` signals delivered, the way a script's signal handlers
/// keep them; used as its `Session` (through `Deref`).
pub struct Endpoint {
    pub session: Session,
    pub description: Option<(&'static str, String)>,
    pub candidates: Vec<Candidate>,
    pub incoming: Vec<SessionChannel>,
    /// The channel of each `BufferedAmountLow` signal, in order.
    pub buffered_low: Vec<DataChannel>,
    /// `connection_error` signals as (reason, message).
    pub errors: Vec<(i64, String)>,
}

impl Endpoint {
    pub fn new(config: Config) -> Self {
        Endpoint {
            session: Session::new(config),
            description: None,
            candidates: Vec::new(),
            incoming: Vec::new(),
            buffered_low: Vec::new(),
            errors: Vec::new(),
        }
    }
}

impl Deref for Endpoint {
    type Target = Session;
    fn deref(&self) -> &Session {
        &self.session
    }
}

impl DerefMut for Endpoint {
    fn deref_mut(&mut self) -> &mut Session {
        &mut self.session
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("connection", &self.connection_state())
            .field("signaling", &self.signaling_state())
            .field("gathering", &self.gathering_state())
            .field("incoming", &self.incoming.len())
            .finish()
    }
}

/// What a script does with the signals: every error is a test failure.
impl Side for Endpoint {
    fn poll_signals(&mut self) {
        for signal in self.session.poll() {
            match signal {
                Signal::SessionDescription { sdp_type, sdp } => {
                    self.description = Some((sdp_type, sdp))
                }
                Signal::IceCandidate {
                    mid,
                    index,
                    candidate,
                } => self.candidates.push(Candidate {
                    mid,
                    index: u32::try_from(index).expect("non-negative index"),
                    line: candidate,
                }),
                Signal::DataChannel(channel) => self.incoming.push(channel),
                Signal::BufferedAmountLow(channel) => self.buffered_low.push(channel),
                Signal::ConnectionError { reason, message } => self.errors.push((reason, message)),
            }
        }
    }
    fn drain_candidates(&mut self) -> Vec<Candidate> {
        std::mem::take(&mut self.candidates)
    }
    fn add_remote_candidate(&mut self, c: &Candidate) {
        self.session
            .add_ice_candidate(&c.mid, c.index, &c.line)
            .expect("add_ice_candidate");
    }
    fn start_offer(&mut self) {
        self.session.create_offer().expect("create_offer");
    }
    fn has_description(&self) -> bool {
        self.description.is_some()
    }
    fn take_description(&mut self) -> Option<Description> {
        let (sdp_type, sdp) = self.description.take()?;
        let kind = SdpKind::from_name(sdp_type)
            .unwrap_or_else(|| panic!("a {sdp_type:?} in a pump that only offers"));
        Some(Description { kind, sdp })
    }
    fn apply_local(&mut self, d: &Description) {
        self.session
            .set_local_description(sdp_type(d.kind), &d.sdp)
            .expect("set_local_description");
    }
    fn apply_remote(&mut self, d: &Description) {
        self.session
            .set_remote_description(sdp_type(d.kind), &d.sdp)
            .expect("set_remote_description");
    }
    fn is_connected(&self) -> bool {
        self.connection_state() == ConnectionState::Connected
    }
}

fn sdp_type(kind: SdpKind) -> SdpType {
    kind.as_str().parse().expect("our own type")
}
