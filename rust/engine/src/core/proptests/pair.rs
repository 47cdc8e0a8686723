//! Two cores back to back over a virtual network and a virtual clock: what the handle and the
//! driver do for a real connection (descriptions, candidates, datagrams, timers), without
//! sockets or threads. Time only moves when [`Pair::pump`] has nothing else to do.

use crate::candidate::CandidateKind;
use crate::candidate::{self, RemoteCandidate};
use crate::channel::{ChannelInfo, ChannelKey, ChannelLink, ReceiveBudget};
use crate::core::{local_fingerprint, Core, CoreParams};
use crate::mailbox::Update;
use crate::sdp::{self, LocalDescription, Setup};
use crate::types::{ConnectionState, DEFAULT_LOCAL_MAX_MESSAGE_SIZE};
use bytes::Bytes;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The negotiated channel both sides create, to prove the connection still carries data.
pub(super) const PROBE: ChannelKey = 1;

pub(super) struct Peer {
    pub core: Core,
    /// The one local socket (and host candidate) of this peer.
    pub addr: SocketAddr,
    /// Every update the core produced, in order.
    pub updates: Vec<Update>,
    description: String,
    candidate: String,
}

impl Peer {
    fn new(now: Instant, addr: SocketAddr, offerer: bool) -> Self {
        let provider = rtc_crypto::default_provider().unwrap();
        let certificate = rtc_dtls::crypto::Certificate::generate_self_signed(
            vec!["webrtc-rs".to_owned()],
            provider.crypto(),
        )
        .unwrap();
        let fingerprint = local_fingerprint(&certificate).unwrap();
        let (ufrag, pwd) = if offerer {
            ("offerUfrag", "offerPassword0123456789")
        } else {
            ("answerUfrag", "answerPassword012345678")
        };
        let mut core = Core::new(
            now,
            CoreParams {
                provider,
                certificate,
                ufrag: ufrag.to_owned(),
                pwd: pwd.to_owned(),
                local_max_message_size: DEFAULT_LOCAL_MAX_MESSAGE_SIZE,
                receive_budget: 1 << 20,
                connection_budget: Arc::new(ReceiveBudget::new(16 << 20)),
                max_remote_channels: 256,
                relay_only: false,
                liveness: crate::types::Liveness::default(),
                mtu: crate::types::DEFAULT_MTU,
                stats: crate::stats::StatsBoard::new(),
            },
        )
        .unwrap();
        let info = ChannelInfo {
            label: "probe".to_owned(),
            protocol: String::new(),
            ordered: true,
            max_retransmits: None,
            max_packet_lifetime: None,
            negotiated: true,
        };
        let link = ChannelLink::new(1 << 16, 1 << 20, Arc::new(ReceiveBudget::new(1 << 20)));
        core.create_channel(now, PROBE, info, Some(1), link);
        core.start_gathering("0".to_owned(), 0);
        core.add_local_candidate(
            CandidateKind::Host,
            addr,
            None,
            &crate::candidate::Announce::Addresses,
        );
        core.finish_gathering();
        let updates = core.take_updates();
        let candidate = updates
            .iter()
            .find_map(|u| match u {
                Update::Candidate { candidate, .. } => Some(candidate.clone()),
                _ => None,
            })
            .expect("the host candidate");
        let description = sdp::write(&LocalDescription {
            session_id: 1,
            version: 2,
            ufrag,
            pwd,
            fingerprint: &fingerprint,
            setup: if offerer {
                Setup::ActPass
            } else {
                Setup::Active
            },
            max_message_size: DEFAULT_LOCAL_MAX_MESSAGE_SIZE,
            mid: "0",
            offer_sections: &[],
        });
        Self {
            core,
            addr,
            updates,
            description,
            candidate,
        }
    }

    pub fn state(&self) -> ConnectionState {
        self.core.state
    }

    /// Collects what the core reported since the last call.
    pub fn collect(&mut self) {
        self.updates.extend(self.core.take_updates());
    }

    pub fn received(&self, text: &str) -> bool {
        self.updates.iter().any(
            |u| matches!(u, Update::ChannelMessage { key: PROBE, message } if message.data == text),
        )
    }
}

pub(super) struct Pair {
    pub now: Instant,
    pub offerer: Peer,
    pub answerer: Peer,
}

impl Pair {
    pub fn new() -> Self {
        let now = Instant::now();
        Self {
            now,
            offerer: Peer::new(now, "10.0.0.1:50001".parse().unwrap(), true),
            answerer: Peer::new(now, "10.0.0.2:50002".parse().unwrap(), false),
        }
    }

    pub fn peer(&mut self, offerer: bool) -> &mut Peer {
        if offerer {
            &mut self.offerer
        } else {
            &mut self.answerer
        }
    }

    /// Offer/answer and the host candidates, as the handles would apply them: ICE starts.
    pub fn signal(&mut self) {
        let now = self.now;
        let offer = sdp::parse(&self.offerer.description, "offer").unwrap();
        let answer = sdp::parse(&self.answerer.description, "answer").unwrap();
        // The answerer answers an actpass offer as active: it is the DTLS client.
        self.answerer.core.set_remote(now, offer, false, true);
        self.offerer.core.set_remote(now, answer, true, false);
        for (to, from) in [(true, false), (false, true)] {
            let line = self.peer(from).candidate.clone();
            let Ok(RemoteCandidate::Udp(text)) = candidate::parse(&line) else {
                panic!("our own candidate {line:?} is refused");
            };
            self.peer(to).core.add_remote_candidate(now, &text);
        }
        self.offerer.collect();
        self.answerer.collect();
    }

    /// Delivers one queued datagram (the offerer's first), or lets time pass to the next
    /// timer. Returns false once nothing is queued and no timer is armed.
    fn step(&mut self) -> bool {
        let now = self.now;
        for from_offerer in [true, false] {
            self.peer(from_offerer).core.flush(now);
            if let Some(t) = self.peer(from_offerer).core.poll_transmit() {
                let to = self.peer(!from_offerer);
                if t.peer == to.addr {
                    to.core.handle_datagram(now, to.addr, t.local, t.data);
                    to.collect();
                }
                self.peer(from_offerer).collect();
                return true;
            }
        }
        let next = [
            self.offerer.core.poll_timeout(),
            self.answerer.core.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(next) = next else { return false };
        self.now = self.now.max(next);
        for peer in [&mut self.offerer, &mut self.answerer] {
            if peer.core.poll_timeout().is_some_and(|t| t <= self.now) {
                peer.core.handle_timeout(self.now);
                peer.collect();
            }
        }
        true
    }

    /// Runs the two peers until `done` holds; false if it did not within `limit` of virtual
    /// time.
    pub fn pump(&mut self, limit: Duration, done: impl Fn(&Pair) -> bool) -> bool {
        let deadline = self.now + limit;
        // A bound on the steps too, should a timer never move on.
        for _ in 0..100_000 {
            if done(self) {
                return true;
            }
            if self.now > deadline || !self.step() {
                break;
            }
        }
        done(self)
    }

    /// Drops whatever both peers have queued to send (a lost flight).
    pub fn lose_queued(&mut self) {
        for peer in [&mut self.offerer, &mut self.answerer] {
            while peer.core.poll_transmit().is_some() {}
        }
    }

    /// Sends `text` on the probe channel and runs until the other side has it.
    pub fn deliver(&mut self, from_offerer: bool, text: &'static str) -> bool {
        let now = self.now;
        self.peer(from_offerer)
            .core
            .send(now, PROBE, Bytes::from_static(text.as_bytes()), true);
        self.pump(Duration::from_secs(5), |p| {
            if from_offerer {
                p.answerer.received(text)
            } else {
                p.offerer.received(text)
            }
        })
    }
}
