//! The lobby state machine: plain Rust, no I/O. The server feeds it requests and delivers the
//! replies it returns.

use crate::protocol::{Reply, Request};
use std::collections::{BTreeMap, HashMap};

/// Identifies one client connection (assigned by the server, never reused).
pub type ConnId = u64;

/// The multiplayer id of the lobby's creator.
pub const HOST_ID: i64 = 1;

/// Upper bounds that keep one server's memory bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Lobbies that may exist at once.
    pub max_lobbies: usize,
    /// Peers (host included) per lobby.
    pub max_peers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_lobbies: 1024,
            max_peers: 32,
        }
    }
}

/// One reply to deliver to one connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// The connection to send it to.
    pub to: ConnId,
    /// What to send.
    pub reply: Reply,
}

struct Lobby {
    mesh: bool,
    sealed: bool,
    next_id: i64,
    /// Multiplayer id -> connection, in id order.
    peers: BTreeMap<i64, ConnId>,
}

struct Membership {
    lobby: String,
    id: i64,
}

/// Every lobby of a server and who is in which.
pub struct Hub {
    limits: Limits,
    lobbies: HashMap<String, Lobby>,
    members: HashMap<ConnId, Membership>,
}

impl Hub {
    /// An empty hub.
    pub fn new(limits: Limits) -> Hub {
        Hub {
            limits,
            lobbies: HashMap::new(),
            members: HashMap::new(),
        }
    }

    /// The number of lobbies that exist.
    pub fn lobby_count(&self) -> usize {
        self.lobbies.len()
    }

    /// The lobby code and multiplayer id of `conn`, if it is in a lobby.
    pub fn membership(&self, conn: ConnId) -> Option<(&str, i64)> {
        self.members
            .get(&conn)
            .map(|member| (member.lobby.as_str(), member.id))
    }

    /// Applies one request from `conn`; returns what to send to whom.
    pub fn handle(&mut self, conn: ConnId, request: Request) -> Vec<Outgoing> {
        let result = match request {
            Request::Create { lobby, mesh } => self.create(conn, lobby, mesh),
            Request::Join { lobby } => self.join(conn, lobby),
            Request::Leave => self.leave(conn),
            Request::Seal => self.seal(conn),
            Request::Relay { to, message } => self.relay(conn, to, message),
        };
        result.unwrap_or_else(|message| {
            vec![Outgoing {
                to: conn,
                reply: Reply::Error { message },
            }]
        })
    }

    /// `conn` went away: removes it from its lobby and tells the others.
    pub fn disconnect(&mut self, conn: ConnId) -> Vec<Outgoing> {
        self.remove_member(conn)
    }

    fn create(
        &mut self,
        conn: ConnId,
        code: Option<String>,
        mesh: bool,
    ) -> Result<Vec<Outgoing>, String> {
        self.ensure_not_member(conn)?;
        if self.lobbies.len() >= self.limits.max_lobbies {
            return Err(format!(
                "the server already has its maximum of {} lobbies; try again later",
                self.limits.max_lobbies
            ));
        }
        let code = match code {
            Some(code) if self.lobbies.contains_key(&code) => {
                return Err(format!(
                    "lobby {code} already exists; join it or pick another code"
                ))
            }
            Some(code) => code,
            None => self.fresh_code()?,
        };
        let mut peers = BTreeMap::new();
        peers.insert(HOST_ID, conn);
        self.lobbies.insert(
            code.clone(),
            Lobby {
                mesh,
                sealed: false,
                next_id: HOST_ID + 1,
                peers,
            },
        );
        self.members.insert(
            conn,
            Membership {
                lobby: code.clone(),
                id: HOST_ID,
            },
        );
        Ok(vec![Outgoing {
            to: conn,
            reply: Reply::Joined {
                id: HOST_ID,
                lobby: code,
                mesh,
                peers: Vec::new(),
            },
        }])
    }

    fn join(&mut self, conn: ConnId, code: String) -> Result<Vec<Outgoing>, String> {
        self.ensure_not_member(conn)?;
        let max_peers = self.limits.max_peers;
        let lobby = self
            .lobbies
            .get_mut(&code)
            .ok_or_else(|| format!("no lobby {code} (check the code, or create it)"))?;
        if lobby.sealed {
            return Err(format!("lobby {code} is sealed: it accepts no new peers"));
        }
        if lobby.peers.len() >= max_peers {
            return Err(format!("lobby {code} is full ({max_peers} peers)"));
        }
        let id = lobby.next_id;
        lobby.next_id += 1;
        let existing: Vec<(i64, ConnId)> = lobby.peers.iter().map(|(id, c)| (*id, *c)).collect();
        lobby.peers.insert(id, conn);
        let mesh = lobby.mesh;
        self.members.insert(
            conn,
            Membership {
                lobby: code.clone(),
                id,
            },
        );
        let mut out = vec![Outgoing {
            to: conn,
            reply: Reply::Joined {
                id,
                lobby: code,
                mesh,
                peers: existing.iter().map(|(peer, _)| *peer).collect(),
            },
        }];
        out.extend(existing.iter().map(|(_, other)| Outgoing {
            to: *other,
            reply: Reply::PeerJoined { id },
        }));
        Ok(out)
    }

    fn leave(&mut self, conn: ConnId) -> Result<Vec<Outgoing>, String> {
        if !self.members.contains_key(&conn) {
            return Err(not_in_lobby("leave"));
        }
        let mut out = self.remove_member(conn);
        out.push(Outgoing {
            to: conn,
            reply: Reply::Left,
        });
        Ok(out)
    }

    fn seal(&mut self, conn: ConnId) -> Result<Vec<Outgoing>, String> {
        let member = self
            .members
            .get(&conn)
            .ok_or_else(|| not_in_lobby("seal"))?;
        if member.id != HOST_ID {
            return Err(format!(
                "only the host (id {HOST_ID}) can seal the lobby; you are peer {}",
                member.id
            ));
        }
        let lobby = self
            .lobbies
            .get_mut(&member.lobby)
            .ok_or_else(|| not_in_lobby("seal"))?;
        lobby.sealed = true;
        Ok(lobby
            .peers
            .values()
            .map(|peer| Outgoing {
                to: *peer,
                reply: Reply::Sealed,
            })
            .collect())
    }

    fn relay(
        &mut self,
        conn: ConnId,
        to: i64,
        mut message: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Vec<Outgoing>, String> {
        let kind = message
            .get("type")
            .and_then(|kind| kind.as_str())
            .unwrap_or("relay")
            .to_string();
        let member = self.members.get(&conn).ok_or_else(|| not_in_lobby(&kind))?;
        if to == member.id {
            return Err(format!(
                "{kind}: cannot send to yourself (you are peer {to})"
            ));
        }
        let target = self
            .lobbies
            .get(&member.lobby)
            .and_then(|lobby| lobby.peers.get(&to))
            .ok_or_else(|| format!("{kind}: no peer {to} in lobby {}", member.lobby))?;
        message.insert("from".into(), member.id.into());
        Ok(vec![Outgoing {
            to: *target,
            reply: Reply::Relay(message),
        }])
    }

    /// Removes `conn` from its lobby. The host leaving closes the lobby for everyone.
    fn remove_member(&mut self, conn: ConnId) -> Vec<Outgoing> {
        let Some(member) = self.members.remove(&conn) else {
            return Vec::new();
        };
        let Some(lobby) = self.lobbies.get_mut(&member.lobby) else {
            return Vec::new();
        };
        lobby.peers.remove(&member.id);
        let mut out: Vec<Outgoing> = lobby
            .peers
            .values()
            .map(|other| Outgoing {
                to: *other,
                reply: Reply::PeerLeft { id: member.id },
            })
            .collect();
        if member.id == HOST_ID || lobby.peers.is_empty() {
            let others: Vec<ConnId> = lobby.peers.values().copied().collect();
            self.lobbies.remove(&member.lobby);
            for other in others {
                self.members.remove(&other);
                out.push(Outgoing {
                    to: other,
                    reply: Reply::LobbyClosed {
                        reason: "the host left".into(),
                    },
                });
            }
        }
        out
    }

    fn ensure_not_member(&self, conn: ConnId) -> Result<(), String> {
        match self.members.get(&conn) {
            Some(member) => Err(format!(
                "already in lobby {} as peer {}; send {{\"type\":\"leave\"}} first",
                member.lobby, member.id
            )),
            None => Ok(()),
        }
    }

    fn fresh_code(&self) -> Result<String, String> {
        // Easy to read aloud: no 0/O or 1/I.
        const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        for _ in 0..64 {
            let mut bytes = [0u8; 6];
            getrandom::fill(&mut bytes)
                .map_err(|e| format!("no randomness for a lobby code: {e}"))?;
            let code: String = bytes
                .iter()
                .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
                .collect();
            if !self.lobbies.contains_key(&code) {
                return Ok(code);
            }
        }
        Err("could not find a free lobby code; try again".into())
    }
}

fn not_in_lobby(action: &str) -> String {
    format!("{action}: you are not in a lobby (send create or join first)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hub() -> Hub {
        Hub::new(Limits {
            max_lobbies: 3,
            max_peers: 3,
        })
    }

    fn create(hub: &mut Hub, conn: ConnId, code: &str) -> Vec<Outgoing> {
        hub.handle(
            conn,
            Request::Create {
                lobby: Some(code.into()),
                mesh: false,
            },
        )
    }

    fn join(hub: &mut Hub, conn: ConnId, code: &str) -> Vec<Outgoing> {
        hub.handle(conn, Request::Join { lobby: code.into() })
    }

    fn out(to: ConnId, reply: Reply) -> Outgoing {
        Outgoing { to, reply }
    }

    fn error_text(outgoing: &[Outgoing]) -> String {
        match outgoing {
            [Outgoing {
                reply: Reply::Error { message },
                ..
            }] => message.clone(),
            other => panic!("expected one error, got {other:?}"),
        }
    }

    #[test]
    fn host_is_one_and_joiners_get_increasing_ids() {
        let mut hub = hub();
        assert_eq!(
            create(&mut hub, 10, "A"),
            vec![out(
                10,
                Reply::Joined {
                    id: 1,
                    lobby: "A".into(),
                    mesh: false,
                    peers: vec![]
                }
            )]
        );
        assert_eq!(
            join(&mut hub, 11, "A"),
            vec![
                out(
                    11,
                    Reply::Joined {
                        id: 2,
                        lobby: "A".into(),
                        mesh: false,
                        peers: vec![1]
                    }
                ),
                out(10, Reply::PeerJoined { id: 2 }),
            ]
        );
        let third = join(&mut hub, 12, "A");
        assert_eq!(
            third[0],
            out(
                12,
                Reply::Joined {
                    id: 3,
                    lobby: "A".into(),
                    mesh: false,
                    peers: vec![1, 2]
                }
            )
        );
        assert_eq!(third.len(), 3);
        // Ids are never reused, even after a peer leaves.
        hub.disconnect(12);
        let again = join(&mut hub, 13, "A");
        assert!(
            matches!(again[0].reply, Reply::Joined { id: 4, .. }),
            "{again:?}"
        );
    }

    #[test]
    fn relay_adds_sender_and_checks_target() {
        let mut hub = hub();
        create(&mut hub, 1, "A");
        join(&mut hub, 2, "A");
        let mut message = serde_json::Map::new();
        message.insert("type".into(), json!("offer"));
        message.insert("sdp".into(), json!("v=0"));
        let relayed = hub.handle(
            2,
            Request::Relay {
                to: 1,
                message: message.clone(),
            },
        );
        let mut expected = message.clone();
        expected.insert("from".into(), json!(2));
        assert_eq!(relayed, vec![out(1, Reply::Relay(expected))]);

        let unknown = hub.handle(
            2,
            Request::Relay {
                to: 9,
                message: message.clone(),
            },
        );
        assert!(error_text(&unknown).contains("no peer 9 in lobby A"));
        let to_self = hub.handle(
            2,
            Request::Relay {
                to: 2,
                message: message.clone(),
            },
        );
        assert!(error_text(&to_self).contains("cannot send to yourself"));
        let outsider = hub.handle(7, Request::Relay { to: 1, message });
        assert!(error_text(&outsider).contains("offer: you are not in a lobby"));
    }

    #[test]
    fn relay_never_crosses_lobbies() {
        let mut hub = hub();
        create(&mut hub, 1, "A");
        create(&mut hub, 2, "B");
        join(&mut hub, 3, "B");
        let message = serde_json::Map::new();
        // Peer 2 of lobby A does not exist, even though peer 2 of lobby B does.
        let crossed = hub.handle(1, Request::Relay { to: 2, message });
        assert!(error_text(&crossed).contains("no peer 2 in lobby A"));
    }

    #[test]
    fn leaving_is_announced_and_host_leaving_closes_the_lobby() {
        let mut hub = hub();
        create(&mut hub, 1, "A");
        join(&mut hub, 2, "A");
        join(&mut hub, 3, "A");
        assert_eq!(
            hub.handle(3, Request::Leave),
            vec![
                out(1, Reply::PeerLeft { id: 3 }),
                out(2, Reply::PeerLeft { id: 3 }),
                out(3, Reply::Left),
            ]
        );
        assert_eq!(hub.membership(3), None);
        assert_eq!(
            hub.disconnect(1),
            vec![
                out(2, Reply::PeerLeft { id: 1 }),
                out(
                    2,
                    Reply::LobbyClosed {
                        reason: "the host left".into()
                    }
                ),
            ]
        );
        assert_eq!(hub.lobby_count(), 0);
        assert_eq!(hub.membership(2), None);
        assert!(error_text(&join(&mut hub, 4, "A")).contains("no lobby A"));
    }

    #[test]
    fn seal_is_host_only_and_stops_joins() {
        let mut hub = hub();
        create(&mut hub, 1, "A");
        join(&mut hub, 2, "A");
        assert!(error_text(&hub.handle(2, Request::Seal)).contains("only the host"));
        assert!(error_text(&hub.handle(5, Request::Seal)).contains("not in a lobby"));
        assert_eq!(
            hub.handle(1, Request::Seal),
            vec![out(1, Reply::Sealed), out(2, Reply::Sealed)]
        );
        assert!(error_text(&join(&mut hub, 3, "A")).contains("lobby A is sealed"));
    }

    #[test]
    fn limits_are_enforced() {
        let mut hub = hub();
        create(&mut hub, 1, "A");
        join(&mut hub, 2, "A");
        join(&mut hub, 3, "A");
        assert!(error_text(&join(&mut hub, 4, "A")).contains("lobby A is full (3 peers)"));
        create(&mut hub, 5, "B");
        create(&mut hub, 6, "C");
        assert!(error_text(&create(&mut hub, 7, "D")).contains("maximum of 3 lobbies"));
        // Joining still works when no new lobby may be created.
        assert!(matches!(
            join(&mut hub, 8, "B")[0].reply,
            Reply::Joined { id: 2, .. }
        ));
    }

    #[test]
    fn create_refuses_taken_codes_and_double_membership() {
        let mut hub = hub();
        create(&mut hub, 1, "A");
        assert!(error_text(&create(&mut hub, 2, "A")).contains("lobby A already exists"));
        assert!(error_text(&create(&mut hub, 1, "B")).contains("already in lobby A as peer 1"));
        assert!(error_text(&join(&mut hub, 1, "A")).contains("already in lobby A"));
    }

    #[test]
    fn random_codes_are_short_and_distinct() {
        let mut hub = Hub::new(Limits::default());
        let mut codes = std::collections::HashSet::new();
        for conn in 0..100 {
            let replies = hub.handle(
                conn,
                Request::Create {
                    lobby: None,
                    mesh: true,
                },
            );
            let [Outgoing {
                reply: Reply::Joined { lobby, mesh, .. },
                ..
            }] = replies.as_slice()
            else {
                panic!("{replies:?}");
            };
            assert!(*mesh);
            assert_eq!(lobby.len(), 6);
            assert!(codes.insert(lobby.clone()), "duplicate code {lobby}");
        }
        assert_eq!(hub.lobby_count(), 100);
    }

    #[test]
    fn last_peer_leaving_removes_the_lobby() {
        let mut hub = hub();
        create(&mut hub, 1, "A");
        assert_eq!(hub.disconnect(1), vec![]);
        assert_eq!(hub.lobby_count(), 0);
        assert_eq!(hub.disconnect(1), vec![]);
    }
}

#[cfg(test)]
mod garbage_tests {
    use super::*;
    use crate::protocol::parse_request;

    /// Random messages built from protocol fragments never panic the parser or the hub, and
    /// every refusal is an error reply to the sender only.
    #[test]
    fn random_input_never_panics() {
        const PIECES: [&str; 24] = [
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            "\"type\"",
            "\"lobby\"",
            "\"to\"",
            "\"from\"",
            "\"create\"",
            "\"join\"",
            "\"seal\"",
            "\"leave\"",
            "\"offer\"",
            "\"candidate\"",
            "\"A\"",
            "\"\"",
            "1",
            "2",
            "-1",
            "1e999",
            "true",
            "null",
        ];
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut hub = Hub::new(Limits {
            max_lobbies: 4,
            max_peers: 4,
        });
        let mut parsed = 0;
        for _ in 0..20_000 {
            let len = (next() % 12) as usize;
            let mut text: String = (0..len)
                .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
                .collect();
            // Half of the inputs are well-formed messages with random fields.
            if next() % 2 == 0 {
                let kinds = [
                    "create",
                    "join",
                    "seal",
                    "leave",
                    "offer",
                    "answer",
                    "candidate",
                ];
                let kind = kinds[(next() % kinds.len() as u64) as usize];
                text = format!(
                    r#"{{"type":"{kind}","lobby":"{}","to":{},"sdp":"x"}}"#,
                    ["A", "B", ""][(next() % 3) as usize],
                    next() % 6
                );
            }
            let conn = next() % 8;
            match parse_request(&text) {
                Ok(request) => {
                    parsed += 1;
                    for out in hub.handle(conn, request) {
                        if let Reply::Error { .. } = out.reply {
                            assert_eq!(out.to, conn, "{text}");
                        }
                    }
                }
                Err(message) => assert!(!message.is_empty()),
            }
            if next() % 50 == 0 {
                hub.disconnect(next() % 8);
            }
            assert!(hub.lobby_count() <= 4);
        }
        assert!(parsed > 5_000, "only {parsed} inputs parsed");
    }
}
