//! webrtc_rs engine: a data-channel-only WebRTC peer (ICE, DTLS, SCTP, DCEP, SDP offer/answer,
//! trickle ICE) with a synchronous, poll-driven API. No Godot dependency.

mod api;
pub mod error;
pub mod types;

pub use api::{DataChannel, Event, Notify, PeerConnection};
pub use error::{Error, ErrorKind, Result};
pub use types::*;
