//! Reporting a failure to Godot: an `Error` value plus a logged message naming the cause.

use crate::mapping::{error_code, Code};
use godot::global::{godot_error, Error};

pub fn to_godot(code: Code) -> Error {
    match code {
        Code::Ok => Error::OK,
        Code::Failed => Error::FAILED,
        Code::Unavailable => Error::ERR_UNAVAILABLE,
        Code::Unconfigured => Error::ERR_UNCONFIGURED,
        Code::InvalidParameter => Error::ERR_INVALID_PARAMETER,
        Code::AlreadyInUse => Error::ERR_ALREADY_IN_USE,
        Code::Busy => Error::ERR_BUSY,
    }
}

/// Logs `what: message` as a Godot error and returns the matching `Error`.
pub fn engine_failure(what: &str, e: &webrtc_rs_engine::Error) -> Error {
    godot_error!("{what}: {}", e.message());
    to_godot(error_code(e.kind()))
}

/// Logs `what: message` as a Godot error and returns `ERR_INVALID_PARAMETER`.
pub fn invalid(what: &str, message: &str) -> Error {
    godot_error!("{what}: {message}");
    Error::ERR_INVALID_PARAMETER
}
