//! The engine's error type. Every public entry point returns it instead of panicking; callers
//! (the Godot glue, the CLI) map [`ErrorKind`] onto their own error codes and show the message.

use std::fmt;

/// What kind of failure, so a caller can pick an error code without parsing text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A malformed or out-of-range argument: bad SDP, candidate, ICE server URL, channel option.
    InvalidParameter,
    /// The call is not allowed in the current state (e.g. `create_offer` twice, send before open).
    InvalidState,
    /// Nothing to return right now (e.g. no received message).
    Unavailable,
    /// A message larger than the negotiated maximum message size.
    TooLarge,
    /// The connection or channel is closed.
    Closed,
    /// A limit is reached for now (e.g. a channel's send budget); retry later.
    Busy,
    /// Anything else (I/O failure, internal protocol error).
    Failed,
}

/// An error with a human-readable message naming the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidParameter, message)
    }
    pub fn state(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidState, message)
    }
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Failed, message)
    }
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
