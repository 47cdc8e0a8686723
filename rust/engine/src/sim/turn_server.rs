//! A scripted TURN server for the `Relays` tests ([`super::turn_sim::TurnSim`]): it parses
//! what the client sends, checks long-term-credential MESSAGE-INTEGRITY, and answers as the
//! test says (challenge, grant, refuse, stay silent, or hold the answer until released).

use bytes::BytesMut;
use rtc_crypto::RTCCryptoProvider;
use rtc_stun::attributes::*;
use rtc_stun::error_code::{ErrorCode, ErrorCodeAttribute};
use rtc_stun::fingerprint::FINGERPRINT;
use rtc_stun::integrity::MessageIntegrity;
use rtc_stun::message::*;
use rtc_stun::textattrs::TextAttribute;
use rtc_stun::xoraddr::XorMappedAddress;
use rtc_turn::proto::chandata::ChannelData;
use rtc_turn::proto::channum::ChannelNumber;
use rtc_turn::proto::lifetime::Lifetime;
use rtc_turn::proto::peeraddr::PeerAddress;
use rtc_turn::proto::relayaddr::RelayedAddress;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub(crate) const LOCAL: &str = "10.0.0.1:5000";
pub(crate) const SERVER: &str = "198.51.100.1:3478";
pub(crate) const RELAYED: &str = "198.51.100.1:49152";
pub(crate) const USER: &str = "user";
pub(crate) const PASS: &str = "pass";

pub(crate) fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

/// How the server answers one kind of request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    Grant,
    /// An error response with this code (401 and 438 carry a realm and a nonce).
    Refuse(u16),
    Silent,
    /// A success kept in [`FakeTurn::held`] until the test releases it.
    Hold,
}

/// What reached the server.
#[derive(Debug)]
pub(crate) enum Got {
    Stun(Message),
    ChannelData(u16, Vec<u8>),
}

pub(crate) struct FakeTurn {
    provider: Arc<dyn RTCCryptoProvider>,
    pub realm: String,
    pub nonce: String,
    pub lifetime: Duration,
    /// The answer to an Allocate without credentials (`Grant`: 401 with realm and nonce).
    pub challenge: Answer,
    /// Allocate requests (retransmissions included) not answered at all before one is.
    pub ignore_allocates: usize,
    /// The answer to an Allocate with credentials.
    pub allocate: Answer,
    pub permission: Answer,
    /// Answers held back ([`Answer::Hold`]).
    pub held: Vec<BytesMut>,
    /// Requests whose credentials or MESSAGE-INTEGRITY did not check out.
    pub bad_integrity: usize,
    allocates_seen: usize,
}

impl FakeTurn {
    pub fn new() -> Self {
        Self {
            provider: rtc_crypto::default_provider().expect("crypto provider"),
            realm: "realm".to_owned(),
            nonce: "nonce-1".to_owned(),
            lifetime: Duration::from_secs(600),
            challenge: Answer::Grant,
            ignore_allocates: 0,
            allocate: Answer::Grant,
            permission: Answer::Grant,
            held: Vec::new(),
            bad_integrity: 0,
            allocates_seen: 0,
        }
    }

    fn key(&self) -> Vec<u8> {
        MessageIntegrity::long_term_integrity_key(
            USER.to_owned(),
            self.realm.clone(),
            PASS.to_owned(),
            self.provider.crypto(),
        )
        .expect("long-term key")
    }

    /// Whether `m` carries our user, realm and nonce and a MESSAGE-INTEGRITY made with the
    /// long-term key.
    fn authentic(&self, m: &Message) -> bool {
        let text = |a| TextAttribute::get_from_as(m, a).map(|t| t.text);
        if text(ATTR_USERNAME).ok().as_deref() != Some(USER)
            || text(ATTR_REALM).ok().as_deref() != Some(self.realm.as_str())
            || text(ATTR_NONCE).ok().as_deref() != Some(self.nonce.as_str())
        {
            return false;
        }
        let mut copy = Message::new();
        copy.raw = m.raw.clone();
        copy.decode().is_ok()
            && MessageIntegrity::check(&mut copy, &self.key(), self.provider.crypto()).is_ok()
    }

    /// A response to `req` with `attrs`, signed unless it is a challenge.
    fn answer(&self, req: &Message, class: MessageClass, attrs: Vec<Box<dyn Setter>>) -> BytesMut {
        let key = self.key();
        let integrity =
            MessageIntegrity::new_raw_integrity_with_provider(key, self.provider.crypto());
        let mut setters: Vec<Box<dyn Setter + '_>> = vec![
            Box::new(req.transaction_id),
            Box::new(MessageType::new(req.typ.method, class)),
        ];
        setters.extend(attrs);
        if class == CLASS_SUCCESS_RESPONSE {
            setters.push(Box::new(integrity));
        }
        setters.push(Box::new(FINGERPRINT));
        let mut m = Message::new();
        m.build(&setters).expect("build a response");
        BytesMut::from(&m.raw[..])
    }

    fn error(&self, req: &Message, code: u16) -> BytesMut {
        let mut attrs: Vec<Box<dyn Setter>> = vec![Box::new(ErrorCodeAttribute {
            code: ErrorCode(code),
            reason: format!("error {code}").into_bytes(),
        })];
        if code == 401 || code == 438 {
            attrs.push(Box::new(TextAttribute::new(ATTR_REALM, self.realm.clone())));
            attrs.push(Box::new(TextAttribute::new(ATTR_NONCE, self.nonce.clone())));
        }
        self.answer(req, CLASS_ERROR_RESPONSE, attrs)
    }

    fn success(&self, req: &Message, attrs: Vec<Box<dyn Setter>>) -> BytesMut {
        self.answer(req, CLASS_SUCCESS_RESPONSE, attrs)
    }

    fn reply(
        &mut self,
        answer: Answer,
        req: &Message,
        ok: Vec<Box<dyn Setter>>,
    ) -> Option<BytesMut> {
        match answer {
            Answer::Grant => Some(self.success(req, ok)),
            Answer::Refuse(code) => Some(self.error(req, code)),
            Answer::Silent => None,
            Answer::Hold => {
                let held = self.success(req, ok);
                self.held.push(held);
                None
            }
        }
    }

    /// Handles one datagram from the client: what it was, and the answer to send back.
    pub fn handle(&mut self, data: &[u8]) -> (Got, Option<BytesMut>) {
        if ChannelData::is_channel_data(data) {
            let mut cd = ChannelData {
                raw: data.to_vec(),
                ..Default::default()
            };
            cd.decode().expect("ChannelData");
            return (Got::ChannelData(cd.number.0, cd.data), None);
        }
        let mut m = Message::new();
        m.raw = data.to_vec();
        m.decode().expect("a STUN message from the client");
        if m.typ.class != CLASS_REQUEST {
            return (Got::Stun(m), None);
        }
        let signed = m.contains(ATTR_MESSAGE_INTEGRITY);
        if signed {
            let nonce = TextAttribute::get_from_as(&m, ATTR_NONCE).map(|t| t.text);
            if nonce.as_deref().is_ok_and(|n| n != self.nonce) {
                // A nonce we no longer accept: 438 with the current one (RFC 8656 §7.4).
                let stale = self.error(&m, 438);
                return (Got::Stun(m), Some(stale));
            }
            if !self.authentic(&m) {
                self.bad_integrity += 1;
            }
        }
        let answer = match m.typ.method {
            METHOD_ALLOCATE => {
                self.allocates_seen += 1;
                if self.allocates_seen <= self.ignore_allocates {
                    None
                } else if !signed {
                    match self.challenge {
                        Answer::Grant => Some(self.error(&m, 401)),
                        other => self.reply(other, &m, Vec::new()),
                    }
                } else {
                    let relayed = addr(RELAYED);
                    let ok: Vec<Box<dyn Setter>> = vec![
                        Box::new(RelayedAddress {
                            ip: relayed.ip(),
                            port: relayed.port(),
                        }),
                        Box::new(XorMappedAddress {
                            ip: addr(LOCAL).ip(),
                            port: addr(LOCAL).port(),
                        }),
                        Box::new(Lifetime(self.lifetime)),
                    ];
                    self.reply(self.allocate, &m, ok)
                }
            }
            METHOD_CREATE_PERMISSION => self.reply(self.permission, &m, Vec::new()),
            METHOD_REFRESH => {
                let mut asked = Lifetime::default();
                let lifetime = match asked.get_from(&m) {
                    Ok(()) => asked.0.min(self.lifetime),
                    Err(_) => self.lifetime,
                };
                Some(self.success(&m, vec![Box::new(Lifetime(lifetime))]))
            }
            METHOD_CHANNEL_BIND => Some(self.success(&m, Vec::new())),
            _ => Some(self.error(&m, 400)),
        };
        (Got::Stun(m), answer)
    }
}

/// The XOR-PEER-ADDRESS values of a message.
pub(crate) fn peers(m: &Message) -> Vec<SocketAddr> {
    m.attributes
        .0
        .iter()
        .filter(|a| a.typ == ATTR_XOR_PEER_ADDRESS)
        .filter_map(|a| {
            let mut one = Message::new();
            one.transaction_id = m.transaction_id;
            one.add(ATTR_XOR_PEER_ADDRESS, &a.value);
            let mut p = PeerAddress::default();
            p.get_from(&one)
                .ok()
                .map(|()| SocketAddr::new(p.ip, p.port))
        })
        .collect()
}

/// A Data indication from `peer`, as the server relays it.
pub(crate) fn data_indication(peer: SocketAddr, data: &[u8]) -> BytesMut {
    let mut m = Message::new();
    m.build(&[
        Box::new(TransactionId::new()),
        Box::new(MessageType::new(METHOD_DATA, CLASS_INDICATION)),
        Box::new(PeerAddress {
            ip: peer.ip(),
            port: peer.port(),
        }),
        Box::new(rtc_turn::proto::data::Data(data.to_vec())),
        Box::new(FINGERPRINT),
    ])
    .expect("build a Data indication");
    BytesMut::from(&m.raw[..])
}

/// ChannelData on `number`, as the server relays it.
pub(crate) fn channel_data(number: u16, data: &[u8]) -> BytesMut {
    let mut cd = ChannelData {
        data: data.to_vec(),
        number: ChannelNumber(number),
        ..Default::default()
    };
    cd.encode();
    BytesMut::from(&cd.raw[..])
}
