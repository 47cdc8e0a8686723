//! webrtc_rs: a Godot 4 GDExtension that makes `WebRTCPeerConnection.new()` (and therefore
//! `WebRTCMultiplayerPeer`) use the Rust engine `webrtc-rs-engine` on native platforms.
//!
//! Everything that does not need Godot (converting option and configuration dictionaries into
//! engine types, state and error mapping, signal conversion, logging) lives in plain modules
//! with unit tests; the `godot_*`, `peer_connection`, `data_channel`, `docs` and `init` modules
//! are the thin glue. The rules those values must follow are the engine's, which reports them.

pub mod config;
pub mod config_keys;
pub mod diagnostics;
pub mod log_bridge;
pub mod mapping;
pub mod monitors;
pub mod options;
pub mod session;
pub mod simulate;
pub mod value;

mod data_channel;
mod docs;
mod godot_diagnostics;
mod godot_error;
mod godot_value;
mod init;
mod peer_connection;

pub use data_channel::WebRtcRsDataChannel;
pub use peer_connection::WebRtcRsPeerConnection;
