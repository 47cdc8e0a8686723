//! The JSON messages of the protocol: parsing what clients send, encoding what the server sends.
//!
//! The protocol itself is described in the crate documentation.

use crate::codes;
use serde_json::{json, Map, Value};

/// The message types that are relayed verbatim to another peer of the lobby.
pub const RELAY_TYPES: [&str; 4] = ["offer", "answer", "candidate", "end-of-candidates"];

/// Every message type a client may send, for error messages.
const CLIENT_TYPES: &str = "create, join, leave, seal, offer, answer, candidate, end-of-candidates";

/// How much of a client's own text an error message quotes back.
const QUOTE_CHARS: usize = 24;

/// One parsed client message.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// Create a lobby and become its host (id 1); `lobby: None` picks a random code. A code
    /// is already normalised (see [`codes::normalize`]).
    Create { lobby: Option<String>, mesh: bool },
    /// Join an existing lobby (normalised code).
    Join { lobby: String },
    /// Leave the current lobby (the WebSocket stays open).
    Leave,
    /// Close the current lobby to new peers (host only).
    Seal,
    /// Forward `message` (which no longer holds `to`) to peer `to` of the same lobby.
    Relay {
        to: i64,
        message: Map<String, Value>,
    },
}

/// One message from the server to a client.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// You are now peer `id` of lobby `lobby`; `peers` are the other peers already there.
    Joined {
        id: i64,
        lobby: String,
        mesh: bool,
        peers: Vec<i64>,
    },
    /// A peer entered your lobby.
    PeerJoined { id: i64 },
    /// A peer left your lobby.
    PeerLeft { id: i64 },
    /// The host sealed the lobby: nobody else can join.
    Sealed,
    /// You left the lobby because you asked to (`leave`).
    Left,
    /// Your lobby no longer exists (the host left); you are in no lobby now.
    LobbyClosed { reason: String },
    /// A relayed message, already carrying `from`.
    Relay(Map<String, Value>),
    /// Your last message was refused; the connection stays usable.
    Error { message: String },
    /// Your last message was refused because you are going too fast: retry after the delay.
    SlowDown {
        message: String,
        retry_after_ms: u64,
    },
}

impl Reply {
    /// The JSON text sent on the wire.
    pub fn to_json(&self) -> String {
        let value = match self {
            Reply::Joined {
                id,
                lobby,
                mesh,
                peers,
            } => json!({"type": "joined", "id": id, "lobby": lobby, "mesh": mesh, "peers": peers}),
            Reply::PeerJoined { id } => json!({"type": "peer_joined", "id": id}),
            Reply::PeerLeft { id } => json!({"type": "peer_left", "id": id}),
            Reply::Sealed => json!({"type": "sealed"}),
            Reply::Left => json!({"type": "left"}),
            Reply::LobbyClosed { reason } => json!({"type": "lobby_closed", "reason": reason}),
            Reply::Relay(message) => Value::Object(message.clone()),
            Reply::Error { message } => json!({"type": "error", "message": message}),
            Reply::SlowDown {
                message,
                retry_after_ms,
            } => json!({"type": "error", "message": message, "retry_after_ms": retry_after_ms}),
        };
        value.to_string()
    }

    /// Shorthand for an error reply.
    pub fn error(message: impl Into<String>) -> Reply {
        Reply::Error {
            message: message.into(),
        }
    }
}

/// Parses one text frame; the error is the message to send back to the client.
pub fn parse_request(text: &str) -> Result<Request, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let Value::Object(mut object) = value else {
        return Err("a message must be a JSON object".into());
    };
    let kind = match object.get("type") {
        Some(Value::String(kind)) => kind.clone(),
        Some(_) => return Err("field \"type\" must be a string".into()),
        None => return Err("missing field \"type\"".into()),
    };
    match kind.as_str() {
        "create" => {
            let lobby = match optional_string(&object, "lobby")? {
                Some(code) if !code.is_empty() => Some(codes::normalize(&code)?),
                _ => None,
            };
            let mesh = optional_bool(&object, "mesh")?.unwrap_or(false);
            Ok(Request::Create { lobby, mesh })
        }
        "join" => {
            let lobby = optional_string(&object, "lobby")?.ok_or_else(|| {
                "join: missing field \"lobby\" (use \"\" to create a lobby)".to_string()
            })?;
            if lobby.is_empty() {
                // An empty code means "create one for me": the simplest client needs one message.
                let mesh = optional_bool(&object, "mesh")?.unwrap_or(false);
                return Ok(Request::Create { lobby: None, mesh });
            }
            Ok(Request::Join {
                lobby: codes::normalize(&lobby)?,
            })
        }
        "leave" => Ok(Request::Leave),
        "seal" => Ok(Request::Seal),
        relay if RELAY_TYPES.contains(&relay) => {
            let to = match object.remove("to") {
                Some(value) => value.as_i64().filter(|id| *id > 0).ok_or_else(|| {
                    format!("{relay}: field \"to\" must be a positive integer peer id")
                })?,
                None => {
                    return Err(format!(
                        "{relay}: missing field \"to\" (the peer id to send it to)"
                    ))
                }
            };
            // A client cannot choose the sender id it is seen as.
            object.remove("from");
            Ok(Request::Relay {
                to,
                message: object,
            })
        }
        other => Err(format!(
            "unknown message type {:?} (expected one of: {CLIENT_TYPES})",
            quote(other)
        )),
    }
}

fn optional_string(object: &Map<String, Value>, field: &str) -> Result<Option<String>, String> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(format!("field {field:?} must be a string")),
    }
}

fn optional_bool(object: &Map<String, Value>, field: &str) -> Result<Option<bool>, String> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(flag)) => Ok(Some(*flag)),
        Some(_) => Err(format!("field {field:?} must be true or false")),
    }
}

/// At most [`QUOTE_CHARS`] characters of a client's text, marked when cut.
fn quote(text: &str) -> String {
    match text.char_indices().nth(QUOTE_CHARS) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_and_join_parse() {
        assert_eq!(
            parse_request(r#"{"type":"create","lobby":"abcd-efgh-jkmn","mesh":true}"#),
            Ok(Request::Create {
                lobby: Some("ABCD-EFGH-JKMN".into()),
                mesh: true
            })
        );
        assert_eq!(
            parse_request(r#"{"type":"create"}"#),
            Ok(Request::Create {
                lobby: None,
                mesh: false
            })
        );
        assert_eq!(
            parse_request(r#"{"type":"join","lobby":"x2x3x4x5x6x7"}"#),
            Ok(Request::Join {
                lobby: "X2X3-X4X5-X6X7".into()
            })
        );
        assert_eq!(
            parse_request(r#"{"type":"join","lobby":"","mesh":true}"#),
            Ok(Request::Create {
                lobby: None,
                mesh: true
            })
        );
    }

    #[test]
    fn relay_keeps_payload_and_drops_to_and_from() {
        let request =
            parse_request(r#"{"type":"offer","to":3,"from":9,"sdp":"v=0"}"#).expect("valid");
        let Request::Relay { to, message } = request else {
            panic!("not a relay: {request:?}");
        };
        assert_eq!(to, 3);
        assert_eq!(Value::Object(message), json!({"type":"offer","sdp":"v=0"}));
    }

    #[test]
    fn malformed_input_gets_a_clear_error() {
        let cases = [
            ("{", "invalid JSON"),
            ("[1,2]", "must be a JSON object"),
            (r#"{"lobby":"A"}"#, "missing field \"type\""),
            (r#"{"type":7}"#, "\"type\" must be a string"),
            (r#"{"type":"dance"}"#, "unknown message type \"dance\""),
            (r#"{"type":"create","lobby":"DEMO"}"#, "invalid lobby code"),
            (r#"{"type":"join"}"#, "missing field \"lobby\""),
            (r#"{"type":"join","lobby":5}"#, "\"lobby\" must be a string"),
            (
                r#"{"type":"join","lobby":"no spaces"}"#,
                "invalid lobby code",
            ),
            (
                r#"{"type":"create","mesh":"yes"}"#,
                "\"mesh\" must be true or false",
            ),
            (r#"{"type":"offer","sdp":"v=0"}"#, "missing field \"to\""),
            (
                r#"{"type":"answer","to":"1"}"#,
                "\"to\" must be a positive integer",
            ),
            (
                r#"{"type":"candidate","to":0}"#,
                "\"to\" must be a positive integer",
            ),
            (
                r#"{"type":"candidate","to":1.5}"#,
                "\"to\" must be a positive integer",
            ),
        ];
        for (input, expected) in cases {
            let error = parse_request(input).expect_err(input);
            assert!(error.contains(expected), "{input}: {error}");
        }
    }

    #[test]
    fn long_codes_are_refused_and_truncated_in_the_error() {
        let code = "A".repeat(1000);
        let error =
            parse_request(&format!(r#"{{"type":"join","lobby":"{code}"}}"#)).expect_err("too long");
        assert!(error.contains("invalid lobby code"), "{error}");
        assert!(error.len() < 200, "{error}");
        assert!(!error.contains("AAAAA"), "{error}");
    }

    #[test]
    fn a_long_unknown_type_is_quoted_short() {
        let kind = "x".repeat(60_000);
        let error = parse_request(&format!(r#"{{"type":"{kind}"}}"#)).expect_err("unknown");
        assert!(error.starts_with("unknown message type"), "{error}");
        assert!(error.len() < 200, "{}", error.len());
    }

    #[test]
    fn replies_encode_as_documented() {
        let joined = Reply::Joined {
            id: 2,
            lobby: "ABC".into(),
            mesh: false,
            peers: vec![1],
        };
        let value: Value = serde_json::from_str(&joined.to_json()).expect("json");
        assert_eq!(
            value,
            json!({"type":"joined","id":2,"lobby":"ABC","mesh":false,"peers":[1]})
        );
        let error: Value = serde_json::from_str(&Reply::error("no").to_json()).expect("json");
        assert_eq!(error, json!({"type":"error","message":"no"}));
        let slow = Reply::SlowDown {
            message: "wait".into(),
            retry_after_ms: 250,
        };
        let value: Value = serde_json::from_str(&slow.to_json()).expect("json");
        assert_eq!(
            value,
            json!({"type":"error","message":"wait","retry_after_ms":250})
        );
    }
}
