//! Godot-free mappings between the engine's values and Godot's API: error codes, enum
//! ordinals, sentinels, packet sizes and the m-line index scripts pass.

use webrtc_rs_engine::ErrorKind;

/// Godot `Error` codes we return (`core/error/error_list.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Ok,
    Failed,
    Unavailable,
    Unconfigured,
    InvalidParameter,
    AlreadyInUse,
    Busy,
}

impl Code {
    /// The numeric value of Godot's `Error` enum.
    pub fn ord(self) -> i32 {
        match self {
            Code::Ok => 0,
            Code::Failed => 1,
            Code::Unavailable => 2,
            Code::Unconfigured => 3,
            Code::InvalidParameter => 31,
            Code::AlreadyInUse => 22,
            Code::Busy => 44,
        }
    }
}

/// Which Godot error a failed engine call returns.
pub fn error_code(kind: ErrorKind) -> Code {
    match kind {
        ErrorKind::InvalidParameter => Code::InvalidParameter,
        ErrorKind::InvalidState => Code::Failed,
        ErrorKind::Unavailable => Code::Unavailable,
        ErrorKind::TooLarge => Code::InvalidParameter,
        ErrorKind::Closed => Code::Failed,
        ErrorKind::Failed => Code::Failed,
        ErrorKind::Busy => Code::Busy,
    }
}

/// What `get_id()`, `get_max_retransmits()` and `get_max_packet_life_time()` return when the
/// value is not set (or, for in-band channels, the id is not assigned yet), per Godot's class
/// reference and the browser implementation.
pub const UNSET: i32 = 65_535;

/// An optional 16-bit channel attribute as Godot reports it.
pub fn or_unset(value: Option<u16>) -> i32 {
    value.map_or(UNSET, i32::from)
}

/// A byte count reported through Godot's 32-bit `int` return values, saturating.
pub fn clamp_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// A candidate's m-line index from Godot's `int`, which can be anything a script passes.
pub fn mline_index(index: i64) -> Result<u32, String> {
    u32::try_from(index).map_err(|_| format!("sdp_mline_index {index} must not be negative"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use webrtc_rs_engine::{ChannelState, ConnectionState, GatheringState, SignalingState};

    #[test]
    fn godot_error_ordinals() {
        assert_eq!(Code::Ok.ord(), 0);
        assert_eq!(Code::Failed.ord(), 1);
        assert_eq!(Code::Unavailable.ord(), 2);
        assert_eq!(Code::Unconfigured.ord(), 3);
        assert_eq!(Code::AlreadyInUse.ord(), 22);
        assert_eq!(Code::InvalidParameter.ord(), 31);
        assert_eq!(Code::Busy.ord(), 44);
    }

    #[test]
    fn engine_errors_map_to_godot_errors() {
        assert_eq!(
            error_code(ErrorKind::InvalidParameter),
            Code::InvalidParameter
        );
        assert_eq!(error_code(ErrorKind::TooLarge), Code::InvalidParameter);
        assert_eq!(error_code(ErrorKind::InvalidState), Code::Failed);
        assert_eq!(error_code(ErrorKind::Closed), Code::Failed);
        assert_eq!(error_code(ErrorKind::Unavailable), Code::Unavailable);
        assert_eq!(error_code(ErrorKind::Failed), Code::Failed);
        assert_eq!(error_code(ErrorKind::Busy), Code::Busy);
    }

    /// The glue converts states with `as i32`; this pins the engine's discriminants to
    /// Godot's enum ordinals (`WebRTCPeerConnection.ConnectionState` etc.).
    #[test]
    fn engine_states_have_godot_ordinals() {
        assert_eq!(ConnectionState::New as i32, 0);
        assert_eq!(ConnectionState::Connecting as i32, 1);
        assert_eq!(ConnectionState::Connected as i32, 2);
        assert_eq!(ConnectionState::Disconnected as i32, 3);
        assert_eq!(ConnectionState::Failed as i32, 4);
        assert_eq!(ConnectionState::Closed as i32, 5);
        assert_eq!(GatheringState::New as i32, 0);
        assert_eq!(GatheringState::Gathering as i32, 1);
        assert_eq!(GatheringState::Complete as i32, 2);
        assert_eq!(SignalingState::Stable as i32, 0);
        assert_eq!(SignalingState::HaveLocalOffer as i32, 1);
        assert_eq!(SignalingState::HaveRemoteOffer as i32, 2);
        assert_eq!(SignalingState::HaveLocalPranswer as i32, 3);
        assert_eq!(SignalingState::HaveRemotePranswer as i32, 4);
        assert_eq!(SignalingState::Closed as i32, 5);
        assert_eq!(ChannelState::Connecting as i32, 0);
        assert_eq!(ChannelState::Open as i32, 1);
        assert_eq!(ChannelState::Closing as i32, 2);
        assert_eq!(ChannelState::Closed as i32, 3);
    }

    #[test]
    fn unset_values_report_65535() {
        assert_eq!(or_unset(None), 65_535);
        assert_eq!(or_unset(Some(0)), 0);
        assert_eq!(or_unset(Some(1023)), 1023);
    }

    #[test]
    fn sizes_saturate() {
        assert_eq!(clamp_i32(262_144), 262_144);
        assert_eq!(clamp_i32(usize::MAX), i32::MAX);
    }

    #[test]
    fn negative_mline_index_is_rejected() {
        assert_eq!(mline_index(0), Ok(0));
        assert!(mline_index(-1).unwrap_err().contains("-1"));
    }
}
