//! Why a connection failed, in words a program can act on: [`ErrorReason`] (delivered as
//! [`Event::ConnectionError`](crate::Event::ConnectionError) from `poll()`), and the
//! [`FailureReport`] of what was tried (`PeerConnection::failure_report`).
//!
//! # When an error is reported
//! - `IceServerUnreachable` and `TurnAuthFailed` as soon as gathering finds them, once per
//!   server; the connection may still connect over other candidates.
//! - Exactly one of `NoCandidatePair`, `DtlsHandshakeFailed`, `FingerprintMismatch`,
//!   `SctpAborted`, `ConsentLost` and `Internal` when the connection becomes FAILED.
//! - `ClosedByRemote` when it becomes CLOSED because the remote closed it.

use crate::stats::CandidateType;
use std::net::SocketAddr;

/// Why a connection reported an error. The discriminants are the values Godot scripts see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ErrorReason {
    /// A STUN or TURN server could not be used: its name did not resolve, it never answered,
    /// the TCP/TLS connection to it failed, or it refused the allocation for a reason other
    /// than the credentials (the message says which).
    IceServerUnreachable = 0,
    /// A TURN server refused the username and credential (401 or 403).
    TurnAuthFailed = 1,
    /// ICE checked every candidate pair and none succeeded (nothing answered in time).
    NoCandidatePair = 2,
    /// The DTLS handshake failed (an alert from the remote, retransmissions exhausted, not
    /// complete within 30 s of ICE connecting), or a fatal DTLS alert ended the connection.
    DtlsHandshakeFailed = 3,
    /// The remote's certificate does not match the fingerprint in its session description.
    FingerprintMismatch = 4,
    /// The SCTP association failed: never formed within 10 s of DTLS, its handshake failed,
    /// or the remote broke a limit and it was aborted.
    SctpAborted = 5,
    /// Nothing arrived from the remote for the failed timeout (it vanished, or the path is
    /// gone): ICE consent expired.
    ConsentLost = 6,
    /// The remote closed the connection (DTLS close_notify, SCTP ABORT or SHUTDOWN).
    ClosedByRemote = 7,
    /// The connection's network task ended unexpectedly (a bug); see the log.
    Internal = 8,
}

impl ErrorReason {
    /// Every reason, in discriminant order.
    pub const ALL: [ErrorReason; 9] = [
        ErrorReason::IceServerUnreachable,
        ErrorReason::TurnAuthFailed,
        ErrorReason::NoCandidatePair,
        ErrorReason::DtlsHandshakeFailed,
        ErrorReason::FingerprintMismatch,
        ErrorReason::SctpAborted,
        ErrorReason::ConsentLost,
        ErrorReason::ClosedByRemote,
        ErrorReason::Internal,
    ];

    /// A stable snake_case name (`ice_server_unreachable`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorReason::IceServerUnreachable => "ice_server_unreachable",
            ErrorReason::TurnAuthFailed => "turn_auth_failed",
            ErrorReason::NoCandidatePair => "no_candidate_pair",
            ErrorReason::DtlsHandshakeFailed => "dtls_handshake_failed",
            ErrorReason::FingerprintMismatch => "fingerprint_mismatch",
            ErrorReason::SctpAborted => "sctp_aborted",
            ErrorReason::ConsentLost => "consent_lost",
            ErrorReason::ClosedByRemote => "closed_by_remote",
            ErrorReason::Internal => "internal",
        }
    }
}

/// One reported error: its reason and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionError {
    pub reason: ErrorReason,
    pub message: String,
}

/// What became of one STUN or TURN server (per resolved address and local socket).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerOutcome {
    /// Being resolved, or asked and not answered yet.
    Pending,
    /// The name did not resolve.
    DnsFailed,
    /// No answer to any retransmission of the request.
    NoAnswer,
    /// The TCP/TLS connection to the TURN server failed (the text says how).
    ConnectFailed(String),
    /// A STUN server answered with our server-reflexive address.
    Reflexive(SocketAddr),
    /// A TURN server allocated this relayed address.
    Relayed(SocketAddr),
    /// A TURN server refused the credentials (401 or 403; the text is its answer).
    AuthFailed(String),
    /// A TURN server refused the allocation for another reason (the text is its answer).
    Refused(String),
}

impl ServerOutcome {
    /// A stable snake_case name: `pending`, `dns_failed`, `no_answer`, `connect_failed`,
    /// `srflx`, `relay`, `auth_failed`, `refused`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ServerOutcome::Pending => "pending",
            ServerOutcome::DnsFailed => "dns_failed",
            ServerOutcome::NoAnswer => "no_answer",
            ServerOutcome::ConnectFailed(_) => "connect_failed",
            ServerOutcome::Reflexive(_) => "srflx",
            ServerOutcome::Relayed(_) => "relay",
            ServerOutcome::AuthFailed(_) => "auth_failed",
            ServerOutcome::Refused(_) => "refused",
        }
    }

    /// The address found or the server's answer, if any, as text.
    pub fn detail(&self) -> String {
        match self {
            ServerOutcome::Reflexive(a) | ServerOutcome::Relayed(a) => a.to_string(),
            ServerOutcome::ConnectFailed(t)
            | ServerOutcome::AuthFailed(t)
            | ServerOutcome::Refused(t) => t.clone(),
            _ => String::new(),
        }
    }
}

/// One STUN or TURN server as gathering saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerReport {
    /// As configured, e.g. `turn:turn.example.org:3478?transport=tcp`.
    pub url: String,
    /// The address asked (`None` while or if the name does not resolve).
    pub address: Option<SocketAddr>,
    /// The local socket (or TCP/TLS connection) that asked.
    pub local_address: Option<SocketAddr>,
    pub outcome: ServerOutcome,
}

/// How a candidate pair's connectivity checks ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PairState {
    /// Never checked.
    NotTried,
    /// Checks sent, no answer yet.
    InProgress,
    Succeeded,
    /// Every check went unanswered (or was refused).
    Failed,
}

impl PairState {
    /// `not_tried`, `in_progress`, `succeeded` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            PairState::NotTried => "not_tried",
            PairState::InProgress => "in_progress",
            PairState::Succeeded => "succeeded",
            PairState::Failed => "failed",
        }
    }
}

/// One candidate pair ICE formed.
#[derive(Debug, Clone, PartialEq)]
pub struct PairReport {
    pub local_type: CandidateType,
    pub local_address: SocketAddr,
    pub remote_type: CandidateType,
    pub remote_address: SocketAddr,
    pub state: PairState,
    /// The pair ICE selected.
    pub selected: bool,
    pub requests_sent: u64,
    pub responses_received: u64,
    /// The latest round-trip time of a check on this pair, in milliseconds.
    pub rtt_ms: Option<f64>,
}

/// What a connection tried, for finding out why it failed. Valid at any time; complete once
/// the connection is FAILED.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FailureReport {
    /// The error that ended the connection, if it ended with one.
    pub error: Option<ConnectionError>,
    /// Every STUN and TURN server (at most [`FailureReport::MAX_SERVERS`]).
    pub servers: Vec<ServerReport>,
    /// The candidate pairs as last seen before the end (at most
    /// [`FailureReport::MAX_PAIRS`], the selected one and the most advanced first).
    pub pairs: Vec<PairReport>,
    /// Pairs left out of `pairs` by the cap.
    pub pairs_omitted: usize,
    pub local_candidates: usize,
    pub remote_candidates: usize,
}

impl FailureReport {
    pub const MAX_SERVERS: usize = 32;
    pub const MAX_PAIRS: usize = 64;
}
