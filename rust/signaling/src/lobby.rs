//! The lobby state machine: plain Rust, no I/O. The server feeds it requests and delivers the
//! replies it returns. It also enforces what depends on lobbies: how many each address hosts,
//! how fast an address may try lobby codes, and the quarantine of closed lobbies' codes.

use crate::codes::{self, Quarantine};
use crate::ip::IpKey;
use crate::protocol::{Reply, Request};
use crate::rate::{Rate, TokenBucket};
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

/// Identifies one client connection (assigned by the server, never reused).
pub type ConnId = u64;

/// The multiplayer id of the lobby's creator.
pub const HOST_ID: i64 = 1;

/// Upper bounds that keep one server's memory bounded and its codes hard to guess.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Lobbies that may exist at once.
    pub max_lobbies: usize,
    /// Peers (host included) per lobby.
    pub max_peers: usize,
    /// Lobbies that connections from one address (IPv4, or IPv6 /64) may host at once.
    pub max_lobbies_per_ip: usize,
    /// How fast one address may try lobby codes: every `join`, and every `create` with a code
    /// of its own choosing, takes a token.
    pub join_rate: Rate,
    /// How long the code of a closed lobby cannot be created again.
    pub code_quarantine: Duration,
    /// Closed codes held at most (see [`Quarantine`]).
    pub quarantine_capacity: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_lobbies: 1024,
            max_peers: 32,
            max_lobbies_per_ip: 8,
            join_rate: Rate::new(2.0, 20.0),
            code_quarantine: Duration::from_secs(600),
            quarantine_capacity: 65_536,
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
    /// The address of the host's connection, which this lobby counts against.
    owner: IpKey,
    /// Multiplayer id -> connection, in id order.
    peers: BTreeMap<i64, ConnId>,
}

struct Membership {
    lobby: String,
    id: i64,
}

/// What the hub keeps per address.
struct Address {
    lobbies: usize,
    probes: TokenBucket,
}

/// Every lobby of a server and who is in which.
pub struct Hub {
    limits: Limits,
    lobbies: HashMap<String, Lobby>,
    members: HashMap<ConnId, Membership>,
    clients: HashMap<ConnId, IpKey>,
    addresses: HashMap<IpKey, Address>,
    quarantine: Quarantine,
}

/// Why a request was refused.
enum Refusal {
    Error(String),
    SlowDown(String, Duration),
}

impl From<String> for Refusal {
    fn from(message: String) -> Self {
        Refusal::Error(message)
    }
}

impl Hub {
    /// An empty hub.
    pub fn new(limits: Limits) -> Hub {
        Hub {
            limits,
            lobbies: HashMap::new(),
            members: HashMap::new(),
            clients: HashMap::new(),
            addresses: HashMap::new(),
            quarantine: Quarantine::new(limits.code_quarantine, limits.quarantine_capacity),
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

    /// Records the address `conn` comes from (connections never attached count as 0.0.0.0).
    pub fn attach(&mut self, conn: ConnId, ip: IpKey) {
        self.clients.insert(conn, ip);
    }

    /// Applies one request from `conn` now; returns what to send to whom.
    pub fn handle(&mut self, conn: ConnId, request: Request) -> Vec<Outgoing> {
        self.handle_at(conn, request, Instant::now())
    }

    /// Applies one request from `conn` at time `now`.
    pub fn handle_at(&mut self, conn: ConnId, request: Request, now: Instant) -> Vec<Outgoing> {
        let result = match request {
            Request::Create { lobby, mesh } => self.create(conn, lobby, mesh, now),
            Request::Join { lobby } => self.join(conn, lobby, now),
            Request::Leave => self.leave(conn, now).map_err(Refusal::from),
            Request::Seal => self.seal(conn).map_err(Refusal::from),
            Request::Relay { to, message } => self.relay(conn, to, message).map_err(Refusal::from),
        };
        result.unwrap_or_else(|refusal| {
            let reply = match refusal {
                Refusal::Error(message) => Reply::Error { message },
                Refusal::SlowDown(message, wait) => Reply::SlowDown {
                    message,
                    retry_after_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1),
                },
            };
            vec![Outgoing { to: conn, reply }]
        })
    }

    /// `conn` went away: removes it from its lobby and tells the others.
    pub fn disconnect(&mut self, conn: ConnId) -> Vec<Outgoing> {
        self.disconnect_at(conn, Instant::now())
    }

    /// `conn` went away at time `now`.
    pub fn disconnect_at(&mut self, conn: ConnId, now: Instant) -> Vec<Outgoing> {
        let out = self.remove_member(conn, now);
        self.clients.remove(&conn);
        out
    }

    /// Forgets what has expired: closed codes past their quarantine, and addresses that host
    /// no lobby and whose code-trying allowance is whole again.
    pub fn sweep(&mut self, now: Instant) {
        self.quarantine.expire(now);
        self.addresses
            .retain(|_, address| address.lobbies > 0 || !address.probes.is_full(now));
    }

    /// Addresses the hub keeps state for (bounded by [`Hub::sweep`]).
    pub fn tracked_addresses(&self) -> usize {
        self.addresses.len()
    }

    fn ip(&self, conn: ConnId) -> IpKey {
        self.clients
            .get(&conn)
            .copied()
            .unwrap_or(IpKey::of(IpAddr::V4(Ipv4Addr::UNSPECIFIED)))
    }

    fn address(&mut self, ip: IpKey, now: Instant) -> &mut Address {
        let rate = self.limits.join_rate;
        self.addresses.entry(ip).or_insert_with(|| Address {
            lobbies: 0,
            probes: TokenBucket::new(rate, now),
        })
    }

    /// Takes one code-trying token of `conn`'s address.
    fn probe(&mut self, conn: ConnId, now: Instant) -> Result<(), Refusal> {
        let ip = self.ip(conn);
        self.address(ip, now).probes.take(1.0, now).map_err(|wait| {
            Refusal::SlowDown(
                format!(
                    "slow down: too many lobby codes tried from your address; retry in {} ms",
                    wait.as_millis().max(1)
                ),
                wait,
            )
        })
    }

    fn create(
        &mut self,
        conn: ConnId,
        chosen: Option<String>,
        mesh: bool,
        now: Instant,
    ) -> Result<Vec<Outgoing>, Refusal> {
        self.ensure_not_member(conn)?;
        if self.lobbies.len() >= self.limits.max_lobbies {
            return Err(format!(
                "the server already has its maximum of {} lobbies; try again later",
                self.limits.max_lobbies
            )
            .into());
        }
        let owner = self.ip(conn);
        let per_ip = self.limits.max_lobbies_per_ip;
        if self.address(owner, now).lobbies >= per_ip {
            return Err(format!(
                "your address already hosts {per_ip} lobbies, the most it may; close one first"
            )
            .into());
        }
        let code = match chosen {
            Some(code) => {
                // A chosen code tells whether it is taken: it is a guess like a join.
                self.probe(conn, now)?;
                if self.quarantine.refuses_chosen(now) {
                    return Err("lobby codes of your choosing are refused for a while (too many \
                                lobbies closed recently); create without a code to get a random one"
                        .to_string()
                        .into());
                }
                if self.lobbies.contains_key(&code) || self.quarantine.holds(&code, now) {
                    return Err(format!(
                        "lobby code {code} is taken or was used recently; create without a code \
                         to get a random one"
                    )
                    .into());
                }
                code
            }
            None => self.fresh_code(now)?,
        };
        let mut peers = BTreeMap::new();
        peers.insert(HOST_ID, conn);
        self.lobbies.insert(
            code.clone(),
            Lobby {
                mesh,
                sealed: false,
                next_id: HOST_ID + 1,
                owner,
                peers,
            },
        );
        self.address(owner, now).lobbies += 1;
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

    fn join(&mut self, conn: ConnId, code: String, now: Instant) -> Result<Vec<Outgoing>, Refusal> {
        self.ensure_not_member(conn)?;
        self.probe(conn, now)?;
        let max_peers = self.limits.max_peers;
        // One answer for every reason, so that a refusal never tells a code exists.
        let refused = || {
            Refusal::Error(format!(
                "no lobby to join with code {code}: it does not exist, is full or is sealed"
            ))
        };
        let lobby = match self.lobbies.get_mut(&code) {
            Some(lobby) if !lobby.sealed && lobby.peers.len() < max_peers => lobby,
            _ => return Err(refused()),
        };
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

    fn leave(&mut self, conn: ConnId, now: Instant) -> Result<Vec<Outgoing>, String> {
        if !self.members.contains_key(&conn) {
            return Err(not_in_lobby("leave"));
        }
        let mut out = self.remove_member(conn, now);
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
        if lobby.sealed {
            // Already announced: sealing again tells only the host, not the whole lobby.
            return Ok(vec![Outgoing {
                to: conn,
                reply: Reply::Sealed,
            }]);
        }
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
    fn remove_member(&mut self, conn: ConnId, now: Instant) -> Vec<Outgoing> {
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
            let owner = lobby.owner;
            self.lobbies.remove(&member.lobby);
            self.quarantine.retire(&member.lobby, now);
            if let Some(address) = self.addresses.get_mut(&owner) {
                address.lobbies = address.lobbies.saturating_sub(1);
            }
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

    fn fresh_code(&mut self, now: Instant) -> Result<String, String> {
        // With 2^60 codes a clash is all but impossible; the loop only guards the invariant.
        for _ in 0..16 {
            let code = codes::random()?;
            if !self.lobbies.contains_key(&code) && !self.quarantine.holds(&code, now) {
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

    const A: &str = "AAAA-AAAA-AAAA";
    const B: &str = "BBBB-BBBB-BBBB";
    const C: &str = "CCCC-CCCC-CCCC";
    const D: &str = "DDDD-DDDD-DDDD";

    fn limits() -> Limits {
        Limits {
            max_lobbies: 3,
            max_peers: 3,
            max_lobbies_per_ip: 3,
            join_rate: Rate::new(1000.0, 1000.0),
            ..Limits::default()
        }
    }

    fn hub() -> Hub {
        Hub::new(limits())
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
            create(&mut hub, 10, A),
            vec![out(
                10,
                Reply::Joined {
                    id: 1,
                    lobby: A.into(),
                    mesh: false,
                    peers: vec![]
                }
            )]
        );
        assert_eq!(
            join(&mut hub, 11, A),
            vec![
                out(
                    11,
                    Reply::Joined {
                        id: 2,
                        lobby: A.into(),
                        mesh: false,
                        peers: vec![1]
                    }
                ),
                out(10, Reply::PeerJoined { id: 2 }),
            ]
        );
        let third = join(&mut hub, 12, A);
        assert_eq!(
            third[0],
            out(
                12,
                Reply::Joined {
                    id: 3,
                    lobby: A.into(),
                    mesh: false,
                    peers: vec![1, 2]
                }
            )
        );
        assert_eq!(third.len(), 3);
        // Ids are never reused, even after a peer leaves.
        hub.disconnect(12);
        let again = join(&mut hub, 13, A);
        assert!(
            matches!(again[0].reply, Reply::Joined { id: 4, .. }),
            "{again:?}"
        );
    }

    #[test]
    fn relay_adds_sender_and_checks_target() {
        let mut hub = hub();
        create(&mut hub, 1, A);
        join(&mut hub, 2, A);
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
        assert!(error_text(&unknown).contains(&format!("no peer 9 in lobby {A}")));
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
        create(&mut hub, 1, A);
        create(&mut hub, 2, B);
        join(&mut hub, 3, B);
        let message = serde_json::Map::new();
        // Peer 2 of lobby A does not exist, even though peer 2 of lobby B does.
        let crossed = hub.handle(1, Request::Relay { to: 2, message });
        assert!(error_text(&crossed).contains(&format!("no peer 2 in lobby {A}")));
    }

    #[test]
    fn leaving_is_announced_and_host_leaving_closes_the_lobby() {
        let mut hub = hub();
        create(&mut hub, 1, A);
        join(&mut hub, 2, A);
        join(&mut hub, 3, A);
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
        assert!(
            error_text(&join(&mut hub, 4, A)).contains(&format!("no lobby to join with code {A}"))
        );
    }

    #[test]
    fn seal_is_host_only_and_stops_joins() {
        let mut hub = hub();
        create(&mut hub, 1, A);
        join(&mut hub, 2, A);
        assert!(error_text(&hub.handle(2, Request::Seal)).contains("only the host"));
        assert!(error_text(&hub.handle(5, Request::Seal)).contains("not in a lobby"));
        assert_eq!(
            hub.handle(1, Request::Seal),
            vec![out(1, Reply::Sealed), out(2, Reply::Sealed)]
        );
        assert!(
            error_text(&join(&mut hub, 3, A)).contains(&format!("no lobby to join with code {A}"))
        );
    }

    #[test]
    fn limits_are_enforced() {
        let mut hub = hub();
        create(&mut hub, 1, A);
        join(&mut hub, 2, A);
        join(&mut hub, 3, A);
        assert!(
            error_text(&join(&mut hub, 4, A)).contains(&format!("no lobby to join with code {A}"))
        );
        create(&mut hub, 5, B);
        create(&mut hub, 6, C);
        assert!(error_text(&create(&mut hub, 7, D)).contains("maximum of 3 lobbies"));
        // Joining still works when no new lobby may be created.
        assert!(matches!(
            join(&mut hub, 8, B)[0].reply,
            Reply::Joined { id: 2, .. }
        ));
    }

    #[test]
    fn create_refuses_taken_codes_and_double_membership() {
        let mut hub = hub();
        create(&mut hub, 1, A);
        assert!(error_text(&create(&mut hub, 2, A)).contains(&format!("lobby code {A} is taken")));
        assert!(error_text(&create(&mut hub, 1, B))
            .contains(&format!("already in lobby {A} as peer 1")));
        assert!(error_text(&join(&mut hub, 1, A)).contains(&format!("already in lobby {A}")));
    }

    #[test]
    fn random_codes_are_short_and_distinct() {
        let mut hub = Hub::new(Limits {
            max_lobbies_per_ip: 100,
            ..Limits::default()
        });
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
            assert_eq!(lobby.len(), 14);
            assert!(codes.insert(lobby.clone()), "duplicate code {lobby}");
        }
        assert_eq!(hub.lobby_count(), 100);
    }

    #[test]
    fn last_peer_leaving_removes_the_lobby() {
        let mut hub = hub();
        create(&mut hub, 1, A);
        assert_eq!(hub.disconnect(1), vec![]);
        assert_eq!(hub.lobby_count(), 0);
        assert_eq!(hub.disconnect(1), vec![]);
    }
}

#[cfg(test)]
mod abuse_tests {
    use super::*;

    const A: &str = "AAAA-AAAA-AAAA";
    const B: &str = "BBBB-BBBB-BBBB";

    fn ip(last: u8) -> IpKey {
        IpKey::of(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
    }

    fn create_at(hub: &mut Hub, conn: ConnId, code: Option<&str>, now: Instant) -> Reply {
        let request = Request::Create {
            lobby: code.map(str::to_string),
            mesh: false,
        };
        hub.handle_at(conn, request, now).remove(0).reply
    }

    fn join_at(hub: &mut Hub, conn: ConnId, code: &str, now: Instant) -> Reply {
        let request = Request::Join { lobby: code.into() };
        hub.handle_at(conn, request, now).remove(0).reply
    }

    fn message(reply: &Reply) -> String {
        match reply {
            Reply::Error { message } | Reply::SlowDown { message, .. } => message.clone(),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn join_refusals_are_identical_for_missing_full_sealed_and_closed_lobbies() {
        let now = Instant::now();
        let mut hub = Hub::new(Limits {
            max_peers: 2,
            join_rate: Rate::new(1000.0, 1000.0),
            ..Limits::default()
        });
        for conn in 1..=9 {
            hub.attach(conn, ip(2));
        }
        create_at(&mut hub, 1, Some(A), now);
        assert!(matches!(join_at(&mut hub, 2, A, now), Reply::Joined { .. }));
        let full = message(&join_at(&mut hub, 3, A, now));
        create_at(&mut hub, 4, Some(B), now);
        hub.handle_at(4, Request::Seal, now);
        let sealed = message(&join_at(&mut hub, 5, B, now));
        let missing = message(&join_at(&mut hub, 6, "CCCC-CCCC-CCCC", now));
        hub.disconnect_at(1, now);
        let closed = message(&join_at(&mut hub, 7, A, now));
        // The same words for every reason; only the code the client sent is echoed.
        let masked = |text: &str| {
            text.replace(A, "X")
                .replace(B, "X")
                .replace("CCCC-CCCC-CCCC", "X")
        };
        assert_eq!(masked(&full), masked(&missing));
        assert_eq!(masked(&sealed), masked(&missing));
        assert_eq!(masked(&closed), masked(&missing));
        assert!(missing.starts_with("no lobby to join"), "{missing}");
    }

    #[test]
    fn code_tries_are_rate_limited_per_address() {
        let start = Instant::now();
        let mut hub = Hub::new(Limits {
            join_rate: Rate::new(2.0, 3.0),
            ..Limits::default()
        });
        hub.attach(1, ip(2));
        hub.attach(2, ip(2));
        hub.attach(3, ip(3));
        for _ in 0..3 {
            assert!(matches!(
                join_at(&mut hub, 1, A, start),
                Reply::Error { .. }
            ));
        }
        // The fourth guess from the same address, even on another connection, must wait.
        let Reply::SlowDown {
            retry_after_ms,
            message,
        } = join_at(&mut hub, 2, A, start)
        else {
            panic!("not slowed down");
        };
        assert!((400..=500).contains(&retry_after_ms), "{retry_after_ms}");
        assert!(message.starts_with("slow down"), "{message}");
        // A chosen code for create is a guess too.
        assert!(matches!(
            create_at(&mut hub, 2, Some(B), start),
            Reply::SlowDown { .. }
        ));
        // A random code is not a guess, and another address has its own allowance.
        assert!(matches!(
            create_at(&mut hub, 2, None, start),
            Reply::Joined { .. }
        ));
        assert!(matches!(
            join_at(&mut hub, 3, A, start),
            Reply::Error { .. }
        ));
        // Half a second later one more guess is allowed.
        let later = start + Duration::from_millis(500);
        assert!(matches!(
            join_at(&mut hub, 1, A, later),
            Reply::Error { .. }
        ));
        assert!(matches!(
            join_at(&mut hub, 1, A, later),
            Reply::SlowDown { .. }
        ));
    }

    #[test]
    fn lobbies_per_address_are_capped_and_freed_when_they_close() {
        let now = Instant::now();
        let mut hub = Hub::new(Limits {
            max_lobbies_per_ip: 2,
            ..Limits::default()
        });
        for conn in 1..=4 {
            hub.attach(conn, ip(2));
        }
        hub.attach(9, ip(9));
        assert!(matches!(
            create_at(&mut hub, 1, None, now),
            Reply::Joined { .. }
        ));
        assert!(matches!(
            create_at(&mut hub, 2, None, now),
            Reply::Joined { .. }
        ));
        let refused = message(&create_at(&mut hub, 3, None, now));
        assert!(refused.contains("already hosts 2 lobbies"), "{refused}");
        assert!(matches!(
            create_at(&mut hub, 9, None, now),
            Reply::Joined { .. }
        ));
        hub.disconnect_at(1, now);
        assert!(matches!(
            create_at(&mut hub, 4, None, now),
            Reply::Joined { .. }
        ));
    }

    #[test]
    fn a_closed_code_cannot_be_created_again_until_its_quarantine_ends() {
        let start = Instant::now();
        let mut hub = Hub::new(Limits {
            code_quarantine: Duration::from_secs(60),
            join_rate: Rate::new(1000.0, 1000.0),
            ..Limits::default()
        });
        create_at(&mut hub, 1, Some(A), start);
        hub.disconnect_at(1, start);
        let refused = message(&create_at(
            &mut hub,
            2,
            Some(A),
            start + Duration::from_secs(59),
        ));
        assert!(
            refused.contains("is taken or was used recently"),
            "{refused}"
        );
        // A live code gets the very same answer.
        create_at(&mut hub, 3, Some(B), start);
        let taken = message(&create_at(&mut hub, 4, Some(B), start));
        assert_eq!(taken.replace(B, "X"), refused.replace(A, "X"));
        let again = create_at(&mut hub, 2, Some(A), start + Duration::from_secs(60));
        assert!(matches!(again, Reply::Joined { .. }), "{again:?}");
    }

    #[test]
    fn sealing_twice_does_not_broadcast_again() {
        let now = Instant::now();
        let mut hub = Hub::new(Limits::default());
        create_at(&mut hub, 1, Some(A), now);
        join_at(&mut hub, 2, A, now);
        assert_eq!(hub.handle_at(1, Request::Seal, now).len(), 2);
        assert_eq!(
            hub.handle_at(1, Request::Seal, now),
            vec![Outgoing {
                to: 1,
                reply: Reply::Sealed
            }]
        );
    }

    #[test]
    fn sweep_forgets_idle_addresses_only() {
        let start = Instant::now();
        let mut hub = Hub::new(Limits {
            join_rate: Rate::new(1.0, 2.0),
            ..Limits::default()
        });
        hub.attach(1, ip(2));
        hub.attach(2, ip(3));
        create_at(&mut hub, 1, None, start);
        join_at(&mut hub, 2, A, start);
        assert_eq!(hub.tracked_addresses(), 2);
        hub.sweep(start + Duration::from_millis(100));
        assert_eq!(hub.tracked_addresses(), 2, "127.0.0.3 is still refilling");
        hub.sweep(start + Duration::from_secs(5));
        assert_eq!(hub.tracked_addresses(), 1, "127.0.0.2 hosts a lobby");
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
            join_rate: crate::rate::Rate::new(1e6, 1e6),
            ..Limits::default()
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
                    ["AAAA-AAAA-AAAA", "BBBB-BBBB-BBBB", ""][(next() % 3) as usize],
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
