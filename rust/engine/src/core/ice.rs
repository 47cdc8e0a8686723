//! The ICE layer: rtc-ice's agent (connectivity checks, nomination, consent and keepalives),
//! our local candidates as the agent accepts them, which remote addresses proved they know the
//! ICE credentials, and the DTLS datagrams such addresses send before a pair is selected.
//!
//! Every STUN message is authenticated here before the agent sees it (rtc-ice acts on a role
//! conflict before it checks integrity): a Binding request must carry our username and a valid
//! MESSAGE-INTEGRITY keyed with our password, a Binding answer one keyed with the remote's.

use super::{ice_view, Transmit};
use crate::candidate::CandidateKind;
use crate::stats::IceView;
use bytes::BytesMut;
use rtc_ice::candidate::candidate_host::CandidateHostConfig;
use rtc_ice::candidate::candidate_relay::CandidateRelayConfig;
use rtc_ice::candidate::candidate_server_reflexive::CandidateServerReflexiveConfig;
use rtc_ice::candidate::{Candidate, CandidateConfig, CandidateType};
use rtc_ice::mdns::MulticastDnsMode;
use rtc_ice::network_type::NetworkType;
use rtc_ice::state::ConnectionState as IceState;
use rtc_ice::{Agent, AgentConfig, Event as IceEvent};
use rtc_shared::{TransportContext, TransportMessage, TransportProtocol};
use rtc_stun::integrity::MessageIntegrity;
use rtc_stun::message::{
    Message as StunMessage, CLASS_INDICATION, CLASS_REQUEST, CLASS_SUCCESS_RESPONSE, METHOD_BINDING,
};
use rtc_stun::textattrs::Username;
use sansio::Protocol;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{debug, trace, warn};

/// DTLS packets that arrive before ICE selected a pair are kept (interop-notes.md), up to this.
const EARLY_DTLS_LIMIT: usize = 64;
/// Local candidates held for an ICE restart's answer; a host has a handful.
const STAGED_LIMIT: usize = 64;
/// Remote addresses remembered as validated; a remote has a handful, more is an attack.
const VALIDATED_LIMIT: usize = 64;

/// Who sent a non-STUN datagram, as far as ICE can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    /// The remote end of the selected pair, on its local end.
    SelectedPair,
    /// Before a pair is selected: an address that passed a check with valid integrity.
    Validated,
    /// Anyone else.
    Stranger,
}

/// What the agent reported, for the connection to act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IceOutput {
    State(IceState),
    /// The first candidate pair was selected: DTLS may start.
    Selected,
}

pub(super) struct IceLayer {
    agent: Agent,
    provider: Arc<dyn rtc_crypto::RTCCryptoProvider>,
    local_ufrag: String,
    local_pwd: String,
    /// The remote's (ufrag, pwd), once its description is applied.
    remote: Option<(String, String)>,
    selected: bool,
    /// The selected pair as (local socket, remote address), kept from the agent's last
    /// selection event (looked at for every datagram).
    pair: Option<(SocketAddr, SocketAddr)>,
    validated: Vec<SocketAddr>,
    early_dtls: VecDeque<BytesMut>,
    outputs: VecDeque<IceOutput>,
    /// STUN messages dropped because they were not authentic.
    rejected: u64,
    /// The last picture of the pairs (kept: the agent forgets them when it fails).
    view: IceView,
    view_changed: bool,
    /// Our offer restarting ICE is out: local candidates gathered again wait here (trickled
    /// already) for the answer, while the current session keeps running.
    staged: Option<Vec<Candidate>>,
    /// An ICE restart is under way: the previous pair carries DTLS until the agent selects one.
    restarting: bool,
    /// Nominating checks (USE-CANDIDATE) the agent left unanswered, taken again once a check
    /// of ours to their sender succeeds (see [`Self::nominate_again`]).
    nominations: Vec<(SocketAddr, SocketAddr, BytesMut)>,
}

/// Nominating checks held at most.
const NOMINATIONS_HELD: usize = 8;

impl IceLayer {
    pub fn new(
        now: Instant,
        provider: Arc<dyn rtc_crypto::RTCCryptoProvider>,
        ufrag: String,
        pwd: String,
        relay_only: bool,
        liveness: &crate::types::Liveness,
    ) -> crate::Result<Self> {
        let config = AgentConfig {
            local_ufrag: ufrag.clone(),
            local_pwd: pwd.clone(),
            multicast_dns_mode: MulticastDnsMode::Disabled,
            network_types: vec![NetworkType::Udp4, NetworkType::Udp6],
            // With relay only there is nothing better to wait for before nominating a relay.
            candidate_types: if relay_only {
                vec![CandidateType::Relay]
            } else {
                Vec::new()
            },
            relay_acceptance_min_wait: relay_only.then_some(Duration::ZERO),
            // A remote whose first check arrives before its trickled candidate (Chromium does
            // this) is seen as peer-reflexive; the 1 s default wait before nominating such a
            // pair delayed every connection by a second for no better path.
            prflx_acceptance_min_wait: Some(Duration::ZERO),
            disconnected_timeout: Some(liveness.disconnected_after),
            // rtc-ice counts FAILED from DISCONNECTED; ours counts from the last packet.
            failed_timeout: Some(
                liveness
                    .failed_after
                    .saturating_sub(liveness.disconnected_after),
            ),
            keepalive_interval: Some(liveness.keepalive_interval),
            ..AgentConfig::default()
        };
        let agent = Agent::new(now, Arc::new(config), provider.clone())
            .map_err(|e| crate::Error::failed(format!("cannot create the ICE agent: {e}")))?;
        Ok(Self {
            agent,
            provider,
            local_ufrag: ufrag,
            local_pwd: pwd,
            remote: None,
            selected: false,
            pair: None,
            validated: Vec::new(),
            early_dtls: VecDeque::new(),
            outputs: VecDeque::new(),
            rejected: 0,
            view: IceView::default(),
            view_changed: false,
            staged: None,
            restarting: false,
            nominations: Vec::new(),
        })
    }

    /// Makes a local candidate of `kind` at `addr` (`base`: where a server-reflexive or relay
    /// candidate comes from; `None` for a relay announces `0.0.0.0 0`) and gives it to the
    /// agent. Returns the `candidate:` line to trickle if the agent took it.
    pub fn add_local_candidate(
        &mut self,
        kind: CandidateKind,
        addr: SocketAddr,
        base: Option<SocketAddr>,
    ) -> Option<String> {
        let made = make_candidate(kind, addr, base);
        let candidate = match made {
            Ok(c) => c,
            Err(e) => {
                warn!("cannot make a {kind:?} candidate for {addr}: {e}");
                return None;
            }
        };
        let line = format!("candidate:{}", candidate.marshal());
        if let Some(staged) = self.staged.as_mut() {
            if staged.len() >= STAGED_LIMIT {
                return None;
            }
            staged.push(candidate);
            return Some(line);
        }
        match self.agent.add_local_candidate(candidate) {
            Ok(true) => Some(line),
            Ok(false) => None,
            Err(e) => {
                warn!("{kind:?} candidate {addr} refused: {e}");
                None
            }
        }
    }

    /// Starts connectivity checks against the remote credentials.
    pub fn start(
        &mut self,
        now: Instant,
        controlling: bool,
        ufrag: String,
        pwd: String,
    ) -> crate::Result<()> {
        self.remote = Some((ufrag.clone(), pwd.clone()));
        self.agent
            .start_connectivity_checks(now, controlling, ufrag, pwd)
            .map_err(|e| crate::Error::failed(format!("cannot start ICE: {e}")))
    }

    /// Our offer restarting ICE is out: local candidates gathered from now on are kept for
    /// [`Self::restart`] (the answer) instead of joining the running session.
    pub fn stage_restart(&mut self) {
        self.staged = Some(Vec::new());
    }

    /// Restarts ICE (RFC 8445 9): new local and remote credentials, every pair and remote
    /// candidate forgotten, checks from scratch with the local candidates staged since
    /// [`Self::stage_restart`] (none if the remote offered the restart: gathering again adds
    /// them). The previous pair keeps carrying DTLS until the agent selects a new one.
    pub fn restart(
        &mut self,
        now: Instant,
        local: (String, String),
        remote: (String, String),
        controlling: bool,
    ) -> crate::Result<()> {
        let staged = self.staged.take().unwrap_or_default();
        self.agent
            .restart(now, local.0.clone(), local.1.clone(), false)
            .map_err(|e| crate::Error::failed(format!("cannot restart ICE: {e}")))?;
        self.local_ufrag = local.0;
        self.local_pwd = local.1;
        self.validated.clear();
        self.early_dtls.clear();
        self.restarting = self.pair.is_some();
        for candidate in staged {
            if let Err(e) = self.agent.add_local_candidate(candidate) {
                warn!("local candidate refused after the ICE restart: {e}");
            }
        }
        self.start(now, controlling, remote.0, remote.1)
    }

    /// Adds a remote candidate; returns its address when the agent will check it.
    pub fn add_remote_candidate(&mut self, text: &str) -> Option<SocketAddr> {
        let c = match rtc_ice::candidate::unmarshal_candidate(text) {
            Ok(c) => c,
            Err(e) => {
                debug!("remote candidate {text:?} not usable: {e}");
                return None;
            }
        };
        let addr = c.addr();
        match self.agent.add_remote_candidate(c) {
            Ok(true) => Some(addr),
            Ok(false) => None,
            Err(e) => {
                debug!("remote candidate {text:?} not used: {e}");
                None
            }
        }
    }

    /// A STUN datagram (connectivity check or answer); dropped unless authentic.
    pub fn handle_stun(
        &mut self,
        now: Instant,
        local: SocketAddr,
        peer: SocketAddr,
        data: BytesMut,
    ) {
        if !self.authentic(peer, &data) {
            self.rejected += 1;
            trace!("unauthenticated STUN from {peer} dropped");
            return;
        }
        let nominating = !self.agent.role() && is_nominating_check(&data);
        let answer = !nominating && is_success(&data);
        let held = nominating.then(|| data.clone());
        if let Err(e) = self.agent_read(now, local, peer, data) {
            trace!("STUN from {peer} not handled: {e}");
        }
        if let Some(data) = held {
            if self.agent.get_selected_candidate_pair().is_none()
                && self.nominations.len() < NOMINATIONS_HELD
            {
                self.nominations.push((local, peer, data));
            }
        }
        if answer {
            self.nominate_again(now, local, peer);
        }
    }

    /// Hands an authentic STUN datagram to the agent.
    fn agent_read(
        &mut self,
        now: Instant,
        local: SocketAddr,
        peer: SocketAddr,
        data: BytesMut,
    ) -> Result<(), rtc_shared::error::Error> {
        self.agent.handle_read(TransportMessage {
            now,
            transport: TransportContext {
                local_addr: local,
                peer_addr: peer,
                transport_protocol: TransportProtocol::UDP,
                ecn: None,
            },
            message: data,
        })
    }

    /// rtc-ice 0.21.1, controlled, neither answers a nominating check (USE-CANDIDATE) that
    /// arrives before its own check of that pair succeeded nor remembers the nomination
    /// (RFC 8445 §7.3.1.4 and §7.3.1.5 want both). A controlling remote that nominates with
    /// its first check (Firefox after its own ICE restart, its candidates `.local` names we
    /// cannot check first) was then never answered and never selected. Once our check to
    /// `peer` succeeded, its held nominating checks are taken again: the pair is selected and
    /// each is answered.
    fn nominate_again(&mut self, now: Instant, local: SocketAddr, peer: SocketAddr) {
        if self.nominations.is_empty() || self.agent.get_selected_candidate_pair().is_some() {
            self.nominations.clear();
            return;
        }
        let (again, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.nominations)
            .into_iter()
            .partition(|(l, p, _)| *l == local && *p == peer);
        self.nominations = keep;
        for (local, peer, data) in again {
            if let Err(e) = self.agent_read(now, local, peer, data) {
                trace!("nominating check from {peer} not handled again: {e}");
            }
        }
    }

    /// Whether a Binding message is authentic; remembers the sender of an authentic check or
    /// answer as validated. Indications (keepalives) change nothing and pass.
    fn authentic(&mut self, peer: SocketAddr, data: &[u8]) -> bool {
        let mut m = StunMessage::new();
        if m.unmarshal_binary(data).is_err() || m.typ.method != METHOD_BINDING {
            return false;
        }
        let key = match m.typ.class {
            CLASS_INDICATION => return true,
            CLASS_REQUEST => {
                let expected = match &self.remote {
                    Some((ufrag, _)) => format!("{}:{ufrag}", self.local_ufrag),
                    None => return false,
                };
                match Username::get_from_as(&m, rtc_stun::attributes::ATTR_USERNAME) {
                    Ok(name) if name.text == expected => self.local_pwd.clone(),
                    _ => return false,
                }
            }
            CLASS_SUCCESS_RESPONSE => match &self.remote {
                Some((_, pwd)) => pwd.clone(),
                None => return false,
            },
            _ => return false,
        };
        if MessageIntegrity::check(&mut m, key.as_bytes(), self.provider.crypto()).is_err() {
            return false;
        }
        if !self.validated.contains(&peer) && self.validated.len() < VALIDATED_LIMIT {
            self.validated.push(peer);
        }
        true
    }

    /// Who sent a non-STUN datagram that arrived on `local` from `peer`.
    pub fn source(&self, local: SocketAddr, peer: SocketAddr) -> Source {
        if self.selected {
            if self.selected_pair() == Some((local, peer)) {
                Source::SelectedPair
            } else {
                Source::Stranger
            }
        } else if self.validated.contains(&peer) {
            Source::Validated
        } else {
            Source::Stranger
        }
    }

    /// STUN messages dropped as not authentic so far.
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    /// Keeps a DTLS datagram that arrived before a pair was selected.
    pub fn hold_early_dtls(&mut self, data: BytesMut) {
        if self.early_dtls.len() < EARLY_DTLS_LIMIT {
            self.early_dtls.push_back(data);
        }
    }

    pub fn take_early_dtls(&mut self) -> VecDeque<BytesMut> {
        std::mem::take(&mut self.early_dtls)
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if let Err(e) = self.agent.handle_timeout(now) {
            debug!("ICE timeout handling: {e}");
        }
    }

    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.agent.poll_timeout()
    }

    /// Drains the agent: its datagrams go to `transmits`; its events become [`IceOutput`]s.
    /// Then takes a new picture of the pairs, unless the agent has forgotten them.
    pub fn drain(&mut self, now: Instant, transmits: &mut VecDeque<Transmit>) {
        while let Some(ev) = self.agent.poll_event() {
            match ev.event {
                IceEvent::ConnectionStateChange(s) => {
                    debug!("ICE state {s:?}");
                    self.outputs.push_back(IceOutput::State(s));
                }
                IceEvent::SelectedCandidatePairChange(local, remote) => {
                    debug!("ICE selected {} <-> {}", local.addr(), remote.addr());
                    self.pair = Some((local.base_addr(), remote.addr()));
                    self.restarting = false;
                    if !self.selected {
                        self.selected = true;
                        self.outputs.push_back(IceOutput::Selected);
                    }
                }
                _ => {}
            }
        }
        while let Some(t) = self.agent.poll_write() {
            transmits.push_back(Transmit {
                local: t.transport.local_addr,
                peer: t.transport.peer_addr,
                data: t.message,
            });
        }
        if !matches!(self.agent.state(), IceState::Failed | IceState::Closed) {
            let view = ice_view::read(&self.agent, now);
            if view != self.view {
                self.view = view;
                self.view_changed = true;
            }
        }
    }

    /// The picture of the pairs, if it changed since the last call.
    pub fn take_view_change(&mut self) -> Option<&IceView> {
        std::mem::take(&mut self.view_changed).then_some(&self.view)
    }

    /// The last picture of the pairs.
    pub fn view(&self) -> &IceView {
        &self.view
    }

    /// Whether ICE ever selected a pair.
    pub fn was_selected(&self) -> bool {
        self.selected
    }

    pub fn poll_output(&mut self) -> Option<IceOutput> {
        self.outputs.pop_front()
    }

    /// The selected pair as (local socket, remote address).
    pub fn selected_pair(&self) -> Option<(SocketAddr, SocketAddr)> {
        // The agent clears its selection (failure, close) without an event. During a restart
        // it has none yet, and the previous pair goes on until it selects one.
        if self.restarting && !matches!(self.agent.state(), IceState::Failed | IceState::Closed) {
            return self.pair;
        }
        self.agent.get_selected_candidate_pair().and(self.pair)
    }

    pub fn close(&mut self) {
        let _ = self.agent.close();
    }
}

/// Whether `data` is a Binding request with USE-CANDIDATE.
fn is_nominating_check(data: &[u8]) -> bool {
    let mut m = StunMessage::new();
    m.unmarshal_binary(data).is_ok()
        && m.typ.class == CLASS_REQUEST
        && m.contains(rtc_stun::attributes::ATTR_USE_CANDIDATE)
}

/// Whether `data` is a Binding success response.
fn is_success(data: &[u8]) -> bool {
    let mut m = StunMessage::new();
    m.unmarshal_binary(data).is_ok() && m.typ.class == CLASS_SUCCESS_RESPONSE
}

fn make_candidate(
    kind: CandidateKind,
    addr: SocketAddr,
    base: Option<SocketAddr>,
) -> Result<Candidate, rtc_shared::error::Error> {
    let base_config = CandidateConfig {
        network: "udp".to_owned(),
        address: addr.ip().to_string(),
        port: addr.port(),
        component: 1,
        ..CandidateConfig::default()
    };
    let (rel_addr, rel_port) = match base {
        Some(b) => (b.ip().to_string(), b.port()),
        None if addr.is_ipv4() => ("0.0.0.0".to_owned(), 0),
        None => ("::".to_owned(), 0),
    };
    match kind {
        CandidateKind::Host => CandidateHostConfig {
            base_config,
            ..CandidateHostConfig::default()
        }
        .new_candidate_host(),
        CandidateKind::ServerReflexive => CandidateServerReflexiveConfig {
            base_config,
            rel_addr,
            rel_port,
            url: None,
        }
        .new_candidate_server_reflexive(),
        CandidateKind::Relay => CandidateRelayConfig {
            base_config,
            rel_addr,
            rel_port,
            url: None,
        }
        .new_candidate_relay(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc_stun::message::{MessageType, TransactionId, CLASS_ERROR_RESPONSE};
    use rtc_stun::message::{Setter, BINDING_REQUEST, BINDING_SUCCESS};

    const LOCAL_PWD: &str = "local-password-0123456789";
    const REMOTE_PWD: &str = "remote-password-0123456789";

    fn layer(now: Instant) -> IceLayer {
        let provider = rtc_crypto::default_provider().expect("crypto provider");
        let liveness = crate::types::Liveness::default();
        let mut ice = IceLayer::new(
            now,
            provider,
            "locl".into(),
            LOCAL_PWD.into(),
            false,
            &liveness,
        )
        .expect("ice layer");
        ice.start(now, true, "remt".into(), REMOTE_PWD.into())
            .expect("start");
        ice
    }

    /// A Binding message of `typ` with `username` (if any), signed with `key` (if any).
    fn message(typ: MessageType, username: Option<&str>, key: Option<&str>) -> BytesMut {
        let provider = rtc_crypto::default_provider().expect("crypto provider");
        let crypto = provider.crypto();
        let mut setters: Vec<Box<dyn Setter + '_>> =
            vec![Box::new(typ), Box::new(TransactionId::new())];
        if let Some(name) = username {
            setters.push(Box::new(Username::new(
                rtc_stun::attributes::ATTR_USERNAME,
                name.to_owned(),
            )));
        }
        if let Some(key) = key {
            setters.push(Box::new(
                MessageIntegrity::new_short_term_integrity_with_provider(key.to_owned(), crypto),
            ));
        }
        let mut m = StunMessage::new();
        m.build(&setters).expect("build STUN message");
        BytesMut::from(&m.raw[..])
    }

    fn peer() -> SocketAddr {
        "127.0.0.9:4000".parse().expect("address")
    }

    #[test]
    fn only_checks_with_our_credentials_are_authentic() {
        let now = Instant::now();
        let mut ice = layer(now);
        let good = message(BINDING_REQUEST, Some("locl:remt"), Some(LOCAL_PWD));
        let wrong_key = message(BINDING_REQUEST, Some("locl:remt"), Some(REMOTE_PWD));
        let wrong_user = message(BINDING_REQUEST, Some("locl:evil"), Some(LOCAL_PWD));
        let unsigned = message(BINDING_REQUEST, Some("locl:remt"), None);
        for (what, bad) in [
            ("key", wrong_key),
            ("user", wrong_user),
            ("unsigned", unsigned),
        ] {
            assert!(!ice.authentic(peer(), &bad), "wrong {what} accepted");
            assert_eq!(ice.source(peer(), peer()), Source::Stranger);
        }
        assert!(ice.authentic(peer(), &good));
        assert_eq!(ice.source(peer(), peer()), Source::Validated);
    }

    #[test]
    fn answers_must_be_signed_with_the_remote_password() {
        let now = Instant::now();
        let mut ice = layer(now);
        let forged = message(BINDING_SUCCESS, None, Some(LOCAL_PWD));
        assert!(!ice.authentic(peer(), &forged));
        let real = message(BINDING_SUCCESS, None, Some(REMOTE_PWD));
        assert!(ice.authentic(peer(), &real));
        let error = MessageType::new(rtc_stun::message::METHOD_BINDING, CLASS_ERROR_RESPONSE);
        assert!(!ice.authentic(peer(), &message(error, None, Some(REMOTE_PWD))));
    }

    #[test]
    fn a_forged_role_conflict_never_reaches_the_agent() {
        let now = Instant::now();
        let mut ice = layer(now);
        // Claims the controlling role (we are controlling too) with the largest tie-breaker,
        // signed with a guessed password.
        let mut m = StunMessage::new();
        m.build(&[
            Box::new(BINDING_REQUEST),
            Box::new(TransactionId::new()),
            Box::new(Username::new(
                rtc_stun::attributes::ATTR_USERNAME,
                "locl:remt".to_owned(),
            )),
        ])
        .expect("build");
        m.add(
            rtc_stun::attributes::ATTR_ICE_CONTROLLING,
            &u64::MAX.to_be_bytes(),
        );
        let provider = rtc_crypto::default_provider().expect("crypto provider");
        let guess = MessageIntegrity::new_short_term_integrity_with_provider(
            "guessed-password-0123456789".to_owned(),
            provider.crypto(),
        );
        guess.add_to(&mut m).expect("integrity");
        ice.handle_stun(now, peer(), peer(), BytesMut::from(&m.raw[..]));
        assert!(ice.agent.role(), "still controlling");
        assert_eq!(ice.rejected(), 1);
        let mut transmits = VecDeque::new();
        ice.drain(now, &mut transmits);
        assert!(
            transmits.iter().all(|t| t.peer != peer()),
            "no answer (a 487 role conflict or a success) went to the forger"
        );
    }

    #[test]
    fn garbage_is_not_authentic() {
        let now = Instant::now();
        let mut ice = layer(now);
        for junk in [&[][..], &[0, 1, 0, 0][..], &[0u8; 20][..], &[0xff; 64][..]] {
            assert!(!ice.authentic(peer(), junk));
        }
    }
}
