//! One connection's protocol state, sans-IO: ICE agent + DTLS endpoint + SCTP association +
//! DCEP channels. Fed datagrams, commands and time; produces datagrams to send, [`Update`]s for
//! the application and the next timeout. It owns no socket and reads no clock.

use crate::channel::{ChannelInfo, ChannelKey, ChannelLink, Update, REMOTE_KEY_BIT};
use crate::sdp::{Fingerprint, RemoteDescription};
use crate::types::{ChannelState, ConnectionState, GatheringState, Message};
use bytes::{Bytes, BytesMut};
use rtc_datachannel::data_channel::DataChannel as Dcep;
use rtc_datachannel::message::message_channel_ack::DataChannelAck;
use rtc_datachannel::message::message_channel_open::{ChannelType, DataChannelOpen};
use rtc_datachannel::message::Message as DcepMessage;
use rtc_dtls::cipher_suite::CipherSuiteId;
use rtc_dtls::config::{
    ClientAuthType, ConfigBuilder, ExtendedMasterSecretType, HandshakeConfig,
    VerifyPeerCertificateFn,
};
use rtc_dtls::crypto::Certificate;
use rtc_dtls::endpoint::{Endpoint as DtlsEndpoint, EndpointEvent as DtlsEvent};
use rtc_dtls::extension::extension_use_srtp::SrtpProtectionProfile;
use rtc_ice::candidate::candidate_host::CandidateHostConfig;
use rtc_ice::candidate::candidate_relay::CandidateRelayConfig;
use rtc_ice::candidate::{CandidateConfig, CandidateType};
use rtc_ice::mdns::MulticastDnsMode;
use rtc_ice::network_type::NetworkType;
use rtc_ice::state::ConnectionState as IceState;
use rtc_ice::{Agent, AgentConfig, Event as IceEvent};
use rtc_sctp::{
    Association, AssociationError, AssociationHandle, ClientConfig, DatagramEvent,
    Endpoint as SctpEndpoint, EndpointConfig, Event as SctpEvent, Payload,
    PayloadProtocolIdentifier as Ppi, ServerConfig, StreamEvent, TransportConfig,
};
use rtc_shared::marshal::{Marshal, Unmarshal};
use rtc_shared::{TransportContext, TransportMessage, TransportProtocol};
use sansio::Protocol;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{debug, trace, warn};

/// DTLS packets that arrive before ICE selected a pair are kept (interop-notes.md), up to this.
const EARLY_DTLS_LIMIT: usize = 64;
/// SCTP messages read per stream per drain before yielding to other streams.
const READ_BATCH: usize = 64;
/// DTLS and SCTP must be up this long after ICE selected a pair, or the connection fails. On
/// their own, a DTLS server whose client never speaks waits forever and SCTP retries its INIT
/// for about four minutes.
pub(crate) const SETUP_TIMEOUT: Duration = Duration::from_secs(30);

/// A datagram to send.
#[derive(Debug)]
pub(crate) struct Transmit {
    pub local: SocketAddr,
    pub peer: SocketAddr,
    pub data: BytesMut,
}

/// Placeholder address for the DTLS and SCTP endpoints: they run over the ICE transport, the
/// real 5-tuple is the selected pair.
fn tunnel_addr() -> SocketAddr {
    TransportContext::default().peer_addr
}

/// Everything a core needs at creation; produced by the handle in `PeerConnection::new`.
pub(crate) struct CoreParams {
    pub provider: Arc<dyn rtc_crypto::RTCCryptoProvider>,
    pub certificate: Certificate,
    pub ufrag: String,
    pub pwd: String,
    pub local_max_message_size: u32,
    pub receive_budget: usize,
    /// `iceTransportPolicy: "relay"`: the agent accepts relay candidates only.
    pub relay_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChanState {
    /// Waiting for SCTP (or for a stream id).
    Pending,
    /// DCEP OPEN sent, waiting for the ACK.
    Dialing,
    Open,
    Closing,
    Closed,
}

struct Chan {
    info: ChannelInfo,
    id: Option<u16>,
    state: ChanState,
    link: Arc<ChannelLink>,
}

pub(crate) struct Core {
    provider: Arc<dyn rtc_crypto::RTCCryptoProvider>,
    certificate: Certificate,
    agent: Agent,
    local_max_message_size: u32,
    receive_budget: usize,

    mid: String,
    mline_index: u32,
    gathering: GatheringState,

    remote: Option<RemoteDescription>,
    offerer: bool,
    dtls_client: bool,
    dtls: Option<DtlsEndpoint>,
    dtls_client_config: Option<Arc<HandshakeConfig>>,
    dtls_connected: bool,
    fingerprint_mismatch: Arc<AtomicBool>,
    early_dtls: VecDeque<BytesMut>,
    ice_selected: bool,
    ice_state: IceState,
    /// Armed when ICE selects a pair, cleared once SCTP is up ([`SETUP_TIMEOUT`]).
    setup_deadline: Option<Instant>,

    sctp: Option<SctpEndpoint>,
    assoc: Option<(AssociationHandle, Association)>,
    sctp_connected: bool,
    negotiated_max: u32,

    channels: BTreeMap<ChannelKey, Chan>,
    by_stream: HashMap<u16, ChannelKey>,
    pending_readable: BTreeSet<u16>,
    next_remote_key: u32,

    transmits: VecDeque<Transmit>,
    updates: Vec<Update>,
    state: ConnectionState,
    /// Terminal: the driver sends what is queued and stops.
    finished: bool,
}

impl Core {
    pub fn new(now: Instant, p: CoreParams) -> crate::Result<Self> {
        let agent_config = AgentConfig {
            local_ufrag: p.ufrag,
            local_pwd: p.pwd,
            multicast_dns_mode: MulticastDnsMode::Disabled,
            network_types: vec![NetworkType::Udp4, NetworkType::Udp6],
            // With relay only there is nothing better to wait for before nominating a relay.
            candidate_types: if p.relay_only {
                vec![CandidateType::Relay]
            } else {
                Vec::new()
            },
            relay_acceptance_min_wait: p.relay_only.then_some(Duration::ZERO),
            // A remote whose first check arrives before its trickled candidate (Chromium does
            // this) is seen as peer-reflexive; the 1 s default wait before nominating such a
            // pair delayed every connection by a second for no better path.
            prflx_acceptance_min_wait: Some(Duration::ZERO),
            ..AgentConfig::default()
        };
        let agent = Agent::new(now, Arc::new(agent_config), p.provider.clone())
            .map_err(|e| crate::Error::failed(format!("cannot create the ICE agent: {e}")))?;
        Ok(Self {
            provider: p.provider,
            certificate: p.certificate,
            agent,
            local_max_message_size: p.local_max_message_size,
            receive_budget: p.receive_budget,
            mid: "0".to_owned(),
            mline_index: 0,
            gathering: GatheringState::New,
            remote: None,
            offerer: false,
            dtls_client: false,
            dtls: None,
            dtls_client_config: None,
            dtls_connected: false,
            fingerprint_mismatch: Arc::new(AtomicBool::new(false)),
            early_dtls: VecDeque::new(),
            ice_selected: false,
            ice_state: IceState::New,
            setup_deadline: None,
            sctp: None,
            assoc: None,
            sctp_connected: false,
            negotiated_max: p.local_max_message_size,
            channels: BTreeMap::new(),
            by_stream: HashMap::new(),
            pending_readable: BTreeSet::new(),
            next_remote_key: 0,
            transmits: VecDeque::new(),
            updates: Vec::new(),
            state: ConnectionState::New,
            finished: false,
        })
    }

    // ----- outputs -------------------------------------------------------------------------

    pub fn take_updates(&mut self) -> Vec<Update> {
        std::mem::take(&mut self.updates)
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }

    pub fn poll_timeout(&mut self) -> Option<Instant> {
        if self.finished {
            return None;
        }
        let mut t = self.agent.poll_timeout();
        let mut min = |x: Option<Instant>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        };
        if let Some(dtls) = &self.dtls {
            min(dtls.poll_timeout(&tunnel_addr()));
        }
        if let Some((_, a)) = &self.assoc {
            min(a.poll_timeout());
        }
        min(self.setup_deadline);
        t
    }

    fn set_state(&mut self, state: ConnectionState) {
        if self.state != state
            && !matches!(
                self.state,
                ConnectionState::Closed | ConnectionState::Failed
            )
        {
            debug!("connection state {:?} -> {:?}", self.state, state);
            self.state = state;
            self.updates.push(Update::State(state));
        }
    }

    // ----- gathering -----------------------------------------------------------------------

    pub fn start_gathering(&mut self, mid: String, mline_index: u32) {
        self.mid = mid;
        self.mline_index = mline_index;
        if self.gathering == GatheringState::New {
            self.gathering = GatheringState::Gathering;
            self.updates
                .push(Update::Gathering(GatheringState::Gathering));
        }
    }

    /// Adds a host candidate for a bound socket and announces it.
    pub fn add_host_candidate(&mut self, addr: SocketAddr) {
        let config = CandidateHostConfig {
            base_config: CandidateConfig {
                network: "udp".to_owned(),
                address: addr.ip().to_string(),
                port: addr.port(),
                component: 1,
                ..CandidateConfig::default()
            },
            ..CandidateHostConfig::default()
        };
        self.announce_local_candidate(config.new_candidate_host(), "host", addr);
    }

    /// Gives a candidate we made to the ICE agent and, if it takes it, trickles it.
    fn announce_local_candidate(
        &mut self,
        made: Result<rtc_ice::candidate::Candidate, rtc_shared::error::Error>,
        kind: &str,
        addr: SocketAddr,
    ) {
        let candidate = match made {
            Ok(c) => c,
            Err(e) => return warn!("cannot make a {kind} candidate for {addr}: {e}"),
        };
        let line = format!("candidate:{}", candidate.marshal());
        match self.agent.add_local_candidate(candidate) {
            Ok(true) => self.updates.push(Update::Candidate {
                mid: self.mid.clone(),
                mline_index: self.mline_index,
                candidate: line,
            }),
            Ok(false) => {}
            Err(e) => warn!("{kind} candidate {addr} refused: {e}"),
        }
    }

    /// Adds a server-reflexive candidate learned from a STUN server.
    pub fn add_srflx_candidate(&mut self, base: SocketAddr, mapped: SocketAddr) {
        let config =
            rtc_ice::candidate::candidate_server_reflexive::CandidateServerReflexiveConfig {
                base_config: CandidateConfig {
                    network: "udp".to_owned(),
                    address: mapped.ip().to_string(),
                    port: mapped.port(),
                    component: 1,
                    ..CandidateConfig::default()
                },
                rel_addr: base.ip().to_string(),
                rel_port: base.port(),
                url: None,
            };
        self.announce_local_candidate(
            config.new_candidate_server_reflexive(),
            "server-reflexive",
            mapped,
        );
    }

    /// Adds a relay candidate for a TURN allocation. `base` is the socket that talks to the
    /// server, announced as `raddr`/`rport` (`None`: `0.0.0.0 0`, which hides it).
    pub fn add_relay_candidate(&mut self, relayed: SocketAddr, base: Option<SocketAddr>) {
        let (rel_addr, rel_port) = match base {
            Some(b) => (b.ip().to_string(), b.port()),
            None if relayed.is_ipv4() => ("0.0.0.0".to_owned(), 0),
            None => ("::".to_owned(), 0),
        };
        let config = CandidateRelayConfig {
            base_config: CandidateConfig {
                network: "udp".to_owned(),
                address: relayed.ip().to_string(),
                port: relayed.port(),
                component: 1,
                ..CandidateConfig::default()
            },
            rel_addr,
            rel_port,
            url: None,
        };
        self.announce_local_candidate(config.new_candidate_relay(), "relay", relayed);
    }

    pub fn finish_gathering(&mut self) {
        if self.gathering != GatheringState::Complete {
            self.gathering = GatheringState::Complete;
            self.updates
                .push(Update::Gathering(GatheringState::Complete));
            self.updates.push(Update::GatheringComplete);
        }
    }

    // ----- signalling ----------------------------------------------------------------------

    pub fn set_remote(
        &mut self,
        now: Instant,
        remote: RemoteDescription,
        offerer: bool,
        dtls_client: bool,
    ) {
        if self.remote.is_some() || self.finished {
            return;
        }
        self.offerer = offerer;
        self.dtls_client = dtls_client;
        self.negotiated_max = negotiate_max(remote.max_message_size, self.local_max_message_size);
        let controlling = offerer || remote.ice_lite;
        let config = match self.dtls_config(&remote.fingerprints, dtls_client) {
            Ok(c) => c,
            Err(e) => {
                warn!("DTLS configuration failed: {e}");
                self.fail();
                return;
            }
        };
        if dtls_client {
            self.dtls = Some(DtlsEndpoint::new(
                TransportContext::default().local_addr,
                TransportProtocol::UDP,
                None,
            ));
            self.dtls_client_config = Some(config);
        } else {
            self.dtls = Some(DtlsEndpoint::new(
                TransportContext::default().local_addr,
                TransportProtocol::UDP,
                Some(config),
            ));
        }
        if let Err(e) = self.agent.start_connectivity_checks(
            now,
            controlling,
            remote.ufrag.clone(),
            remote.pwd.clone(),
        ) {
            warn!("cannot start ICE: {e}");
            self.fail();
            return;
        }
        self.remote = Some(remote);
        self.assign_stream_ids();
        self.set_state(ConnectionState::Connecting);
        self.after_ice(now);
    }

    fn dtls_config(
        &self,
        fingerprints: &[Fingerprint],
        is_client: bool,
    ) -> Result<Arc<HandshakeConfig>, rtc_shared::error::Error> {
        let fps = fingerprints.to_vec();
        let flag = self.fingerprint_mismatch.clone();
        let verify: VerifyPeerCertificateFn = Arc::new(
            move |certs: &[Vec<u8>], _chains: &[rustls_pki_types::CertificateDer<'static>]| {
                let Some(cert) = certs.first() else {
                    flag.store(true, Ordering::Release);
                    return Err(rtc_shared::error::Error::ErrNonCertificate);
                };
                if fps.iter().any(|fp| fingerprint_matches(fp, cert)) {
                    Ok(())
                } else {
                    flag.store(true, Ordering::Release);
                    Err(rtc_shared::error::Error::ErrNoMatchingCertificateFingerprint)
                }
            },
        );
        Ok(Arc::new(
            ConfigBuilder::default()
                .with_crypto_provider(self.provider.clone())
                .with_certificates(vec![self.certificate.clone()])
                .with_cipher_suites(vec![CipherSuiteId::Tls_Ecdhe_Ecdsa_With_Aes_128_Gcm_Sha256])
                .with_client_auth(ClientAuthType::RequireAnyClientCert)
                .with_insecure_skip_verify(true)
                .with_verify_peer_certificate(Some(verify))
                .with_extended_master_secret(ExtendedMasterSecretType::Require)
                // We carry no media, but rtc-dtls as server fails a ClientHello whose use_srtp
                // extension it cannot match, and aiortc refuses a handshake without one; every
                // browser and libdatachannel offers these two.
                .with_srtp_protection_profiles(vec![
                    SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm,
                    SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80,
                ])
                .build(is_client, None)?,
        ))
    }

    /// Adds a remote candidate; returns its address when ICE will use it (a TURN relay then
    /// needs a permission for it).
    pub fn add_remote_candidate(&mut self, now: Instant, text: &str) -> Option<SocketAddr> {
        match rtc_ice::candidate::unmarshal_candidate(text) {
            Ok(c) => {
                let addr = c.addr();
                let used = match self.agent.add_remote_candidate(c) {
                    Ok(used) => used,
                    Err(e) => {
                        debug!("remote candidate {text:?} not used: {e}");
                        false
                    }
                };
                self.after_ice(now);
                used.then_some(addr)
            }
            Err(e) => {
                debug!("remote candidate {text:?} not usable: {e}");
                None
            }
        }
    }

    // ----- channels ------------------------------------------------------------------------

    pub fn create_channel(
        &mut self,
        now: Instant,
        key: ChannelKey,
        info: ChannelInfo,
        id: Option<u16>,
        link: Arc<ChannelLink>,
    ) {
        // The handle owns the send limit of its own channels (it knows the remote description
        // first); only remote channels get theirs from here.
        if let Some(id) = id {
            self.by_stream.insert(id, key);
        }
        self.channels.insert(
            key,
            Chan {
                info,
                id,
                state: ChanState::Pending,
                link,
            },
        );
        if self.remote.is_some() {
            self.assign_stream_ids();
        }
        if self.sctp_connected {
            self.dial(now, key);
            self.drain_readable(now);
        }
    }

    /// In-band channels get ids by DTLS role: client even, server odd (RFC 8832 §6).
    fn assign_stream_ids(&mut self) {
        let mut next: u16 = if self.dtls_client { 0 } else { 1 };
        let keys: Vec<ChannelKey> = self
            .channels
            .iter()
            .filter(|(_, c)| c.id.is_none() && c.state != ChanState::Closed)
            .map(|(k, _)| *k)
            .collect();
        for key in keys {
            while self.by_stream.contains_key(&next) {
                match next.checked_add(2) {
                    Some(n) if n < u16::MAX => next = n,
                    _ => return,
                }
            }
            self.by_stream.insert(next, key);
            if let Some(c) = self.channels.get_mut(&key) {
                c.id = Some(next);
            }
            self.updates.push(Update::ChannelId { key, id: next });
        }
    }

    fn dial(&mut self, now: Instant, key: ChannelKey) {
        let Some((_, assoc)) = self.assoc.as_mut() else {
            return;
        };
        let Some(chan) = self.channels.get_mut(&key) else {
            return;
        };
        let Some(id) = chan.id else { return };
        if chan.state != ChanState::Pending {
            return;
        }
        let (channel_type, reliability) = Dcep::get_channel_type_and_reliability_parameter(
            chan.info.ordered,
            chan.info.max_retransmits,
            chan.info.max_packet_lifetime,
        );
        let (unordered, rel_type) = Dcep::get_reliability_params(channel_type);
        let opened = match assoc.open_stream(id, Ppi::Binary) {
            Ok(mut s) => s.set_reliability_params(unordered, rel_type, reliability),
            Err(_) => assoc
                .stream(id)
                .and_then(|mut s| s.set_reliability_params(unordered, rel_type, reliability)),
        };
        if let Err(e) = opened {
            warn!("cannot open SCTP stream {id}: {e}");
            chan.state = ChanState::Closed;
            self.updates.push(Update::ChannelState {
                key,
                state: ChannelState::Closed,
            });
            return;
        }
        if chan.info.negotiated {
            chan.state = ChanState::Open;
            self.updates.push(Update::ChannelState {
                key,
                state: ChannelState::Open,
            });
            return;
        }
        let open = DcepMessage::DataChannelOpen(DataChannelOpen {
            channel_type,
            priority: 256,
            reliability_parameter: reliability,
            label: chan.info.label.as_bytes().to_vec(),
            protocol: chan.info.protocol.as_bytes().to_vec(),
        });
        let written = open.marshal().map_err(|e| e.to_string()).and_then(|buf| {
            assoc
                .stream(id)
                .and_then(|mut s| s.write_chunk_with_ppi(now, &buf.freeze(), Ppi::Dcep))
                .map_err(|e| e.to_string())
        });
        match written {
            Ok(_) => chan.state = ChanState::Dialing,
            Err(e) => {
                warn!("cannot send DATA_CHANNEL_OPEN on stream {id}: {e}");
                chan.state = ChanState::Closed;
                self.updates.push(Update::ChannelState {
                    key,
                    state: ChannelState::Closed,
                });
            }
        }
    }

    pub fn send(&mut self, now: Instant, key: ChannelKey, data: Bytes, is_text: bool) {
        let len = data.len();
        let Some(chan) = self.channels.get(&key) else {
            return;
        };
        let link = chan.link.clone();
        let (Some(id), ChanState::Open, Some((_, assoc))) =
            (chan.id, chan.state, self.assoc.as_mut())
        else {
            debug!("dropping a message for channel {key}: not open any more");
            link.sub_buffered(len);
            return;
        };
        let (ppi, payload) = match (is_text, len) {
            (true, 0) => (Ppi::StringEmpty, Bytes::from_static(&[0])),
            (false, 0) => (Ppi::BinaryEmpty, Bytes::from_static(&[0])),
            (true, _) => (Ppi::String, data),
            (false, _) => (Ppi::Binary, data),
        };
        match assoc
            .stream(id)
            .and_then(|mut s| s.write_chunk_with_ppi(now, &payload, ppi))
        {
            Ok(_) => {
                if len == 0 {
                    // SCTP carries one placeholder byte and will release it.
                    link.buffered.fetch_add(1, Ordering::AcqRel);
                }
            }
            Err(e) => {
                warn!("send on stream {id} failed: {e}");
                link.sub_buffered(len);
            }
        }
    }

    pub fn close_channel(&mut self, now: Instant, key: ChannelKey) {
        let Some(chan) = self.channels.get_mut(&key) else {
            return;
        };
        match chan.state {
            ChanState::Closing | ChanState::Closed => {}
            ChanState::Pending => {
                chan.state = ChanState::Closed;
                if let Some(id) = chan.id {
                    self.by_stream.remove(&id);
                }
                self.updates.push(Update::ChannelState {
                    key,
                    state: ChannelState::Closed,
                });
            }
            ChanState::Dialing | ChanState::Open => {
                chan.state = ChanState::Closing;
                let reset = match (chan.id, self.assoc.as_mut()) {
                    (Some(id), Some((_, assoc))) => assoc.stream(id).and_then(|mut s| s.close(now)),
                    _ => Err(rtc_shared::error::Error::ErrStreamClosed),
                };
                if let Err(e) = reset {
                    debug!("stream reset for channel {key} failed ({e}); closing locally");
                    self.channel_closed(key);
                }
            }
        }
    }

    fn channel_closed(&mut self, key: ChannelKey) {
        if let Some(chan) = self.channels.get_mut(&key) {
            if chan.state != ChanState::Closed {
                chan.state = ChanState::Closed;
                if let Some(id) = chan.id {
                    self.by_stream.remove(&id);
                    self.pending_readable.remove(&id);
                }
                chan.link.buffered.store(0, Ordering::Release);
                self.updates.push(Update::ChannelState {
                    key,
                    state: ChannelState::Closed,
                });
            }
        }
        self.channels.remove(&key);
    }

    pub fn resume(&mut self, now: Instant, key: ChannelKey) {
        if let Some(id) = self.channels.get(&key).and_then(|c| c.id) {
            self.pending_readable.insert(id);
        }
        self.drain_readable(now);
    }

    // ----- inputs --------------------------------------------------------------------------

    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        peer: SocketAddr,
        data: BytesMut,
    ) {
        if self.finished {
            return;
        }
        let Some(&first) = data.first() else { return };
        match first {
            0..=3 => {
                let msg = TransportMessage {
                    now,
                    transport: TransportContext {
                        local_addr: local,
                        peer_addr: peer,
                        transport_protocol: TransportProtocol::UDP,
                        ecn: None,
                    },
                    message: data,
                };
                if let Err(e) = self.agent.handle_read(msg) {
                    trace!("STUN from {peer} not handled: {e}");
                }
                self.after_ice(now);
            }
            20..=63 => {
                if self.ice_selected && self.dtls.is_some() {
                    self.feed_dtls(now, data);
                } else if self.early_dtls.len() < EARLY_DTLS_LIMIT {
                    self.early_dtls.push_back(data);
                }
            }
            _ => trace!("ignoring a datagram from {peer} (first byte {first})"),
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.finished {
            return;
        }
        if self.setup_deadline.is_some_and(|d| now >= d) {
            let what = if self.dtls_connected {
                "the SCTP association"
            } else {
                "the DTLS handshake"
            };
            warn!(
                "{what} did not complete within {} s of ICE connecting",
                SETUP_TIMEOUT.as_secs()
            );
            self.fail();
            return;
        }
        if let Err(e) = self.agent.handle_timeout(now) {
            debug!("ICE timeout handling: {e}");
        }
        self.after_ice(now);
        if let Some(dtls) = self.dtls.as_mut() {
            let keys: Vec<SocketAddr> = dtls.get_connections_keys().copied().collect();
            let mut failed = false;
            for k in keys {
                if let Err(e) = dtls.handle_timeout(k, now) {
                    warn!("DTLS handshake gave up: {e}");
                    failed = true;
                }
            }
            self.collect_dtls_transmits();
            if failed && !self.dtls_connected {
                self.fail();
                return;
            }
        }
        if let Some((_, assoc)) = self.assoc.as_mut() {
            assoc.handle_timeout(now);
        }
        self.process_sctp(now);
    }

    /// Drains the ICE agent: transmits and events.
    fn after_ice(&mut self, now: Instant) {
        while let Some(ev) = self.agent.poll_event() {
            match ev.event {
                IceEvent::ConnectionStateChange(s) => self.on_ice_state(s),
                IceEvent::SelectedCandidatePairChange(local, remote) => {
                    debug!("ICE selected {} <-> {}", local.addr(), remote.addr());
                    if !self.ice_selected {
                        self.ice_selected = true;
                        self.setup_deadline = Some(now + SETUP_TIMEOUT);
                        self.start_dtls(now);
                    }
                }
                _ => {}
            }
        }
        while let Some(t) = self.agent.poll_write() {
            self.transmits.push_back(Transmit {
                local: t.transport.local_addr,
                peer: t.transport.peer_addr,
                data: t.message,
            });
        }
    }

    fn on_ice_state(&mut self, s: IceState) {
        debug!("ICE state {s:?}");
        self.ice_state = s;
        match s {
            IceState::Failed => self.fail(),
            IceState::Disconnected if self.state == ConnectionState::Connected => {
                self.set_state(ConnectionState::Disconnected)
            }
            IceState::Connected | IceState::Completed
                if self.state == ConnectionState::Disconnected =>
            {
                self.set_state(ConnectionState::Connected)
            }
            _ => {}
        }
    }

    fn start_dtls(&mut self, now: Instant) {
        if self.dtls_client {
            if let (Some(dtls), Some(cfg)) = (self.dtls.as_mut(), self.dtls_client_config.take()) {
                if let Err(e) = dtls.connect(now, tunnel_addr(), cfg, None) {
                    warn!("DTLS connect failed: {e}");
                    self.fail();
                    return;
                }
            }
            self.collect_dtls_transmits();
        }
        while let Some(d) = self.early_dtls.pop_front() {
            self.feed_dtls(now, d);
        }
    }

    fn selected_pair(&self) -> Option<(SocketAddr, SocketAddr)> {
        self.agent
            .get_selected_candidate_pair()
            .map(|(l, r)| (l.base_addr(), r.addr()))
    }

    fn collect_dtls_transmits(&mut self) {
        let pair = self.selected_pair();
        let Some(dtls) = self.dtls.as_mut() else {
            return;
        };
        while let Some(t) = dtls.poll_transmit() {
            if let Some((local, peer)) = pair {
                self.transmits.push_back(Transmit {
                    local,
                    peer,
                    data: t.message,
                });
            }
        }
    }

    fn feed_dtls(&mut self, now: Instant, data: BytesMut) {
        let Some(dtls) = self.dtls.as_mut() else {
            return;
        };
        let result = dtls.read(now, tunnel_addr(), None, data);
        self.collect_dtls_transmits();
        let events = match result {
            Ok(events) => events,
            Err(e) => {
                if self.fingerprint_mismatch.load(Ordering::Acquire) {
                    warn!("remote DTLS certificate does not match the SDP fingerprint");
                    self.fail();
                } else if !self.dtls_connected {
                    warn!("DTLS handshake failed: {e}");
                    self.fail();
                } else if matches!(e, rtc_shared::error::Error::ErrAlertFatalOrClose) {
                    // The remote sent a fatal alert (or rtc-dtls answered a bad record with
                    // one): either way the remote's DTLS is gone.
                    warn!("DTLS connection ended by a fatal alert");
                    self.fail();
                } else {
                    debug!("DTLS record dropped: {e}");
                }
                return;
            }
        };
        for ev in events {
            match ev {
                DtlsEvent::HandshakeComplete => {
                    if self.fingerprint_mismatch.load(Ordering::Acquire) {
                        self.fail();
                        return;
                    }
                    debug!("DTLS connected (client: {})", self.dtls_client);
                    self.dtls_connected = true;
                    self.start_sctp(now);
                }
                DtlsEvent::ApplicationData(d) => self.feed_sctp(now, d),
                DtlsEvent::PeerClosed => {
                    debug!("remote closed DTLS");
                    self.remote_closed();
                    return;
                }
                _ => {}
            }
        }
        self.process_sctp(now);
    }

    fn start_sctp(&mut self, now: Instant) {
        let remote_port = self.remote.as_ref().map_or(5000, |r| r.sctp_port);
        // Receive up to our advertised maximum; send up to the negotiated one.
        let transport = TransportConfig::default()
            .with_max_message_size(self.negotiated_max)
            .with_sctp_port(remote_port)
            .with_max_receive_buffer_size((self.receive_budget.clamp(256 * 1024, 4 << 20)) as u32);
        let endpoint_config = Arc::new(EndpointConfig::default());
        if self.dtls_client {
            let mut ep = SctpEndpoint::new(
                TransportContext::default().local_addr,
                TransportProtocol::UDP,
                endpoint_config,
                None,
            );
            match ep.connect(now, ClientConfig::new(transport), tunnel_addr()) {
                Ok((h, a)) => self.assoc = Some((h, a)),
                Err(e) => {
                    warn!("SCTP connect failed: {e}");
                    self.fail();
                    return;
                }
            }
            self.sctp = Some(ep);
        } else {
            self.sctp = Some(SctpEndpoint::new(
                TransportContext::default().local_addr,
                TransportProtocol::UDP,
                endpoint_config,
                Some(Arc::new(ServerConfig::new(transport))),
            ));
        }
    }

    fn feed_sctp(&mut self, now: Instant, data: BytesMut) {
        let Some(ep) = self.sctp.as_mut() else { return };
        match ep.handle(now, tunnel_addr(), None, data.freeze()) {
            Some((h, DatagramEvent::NewAssociation(a))) if self.assoc.is_none() => {
                self.assoc = Some((h, a));
            }
            Some((h, DatagramEvent::AssociationEvent(ev))) => {
                if let Some((ah, a)) = self.assoc.as_mut() {
                    if *ah == h {
                        a.handle_event(ev);
                    }
                }
            }
            _ => {}
        }
    }

    /// Drains the association's events and readable streams.
    fn process_sctp(&mut self, now: Instant) {
        let mut lost: Vec<(u16, AssociationError)> = Vec::new();
        let mut released: Vec<(u16, usize)> = Vec::new();
        let mut connected = false;
        let mut handshake_failed = false;
        let mut drained = false;
        {
            let Some((h, assoc)) = self.assoc.as_mut() else {
                return;
            };
            while let Some(ev) = assoc.poll() {
                match ev {
                    SctpEvent::Connected => connected = true,
                    SctpEvent::HandshakeFailed { reason } => {
                        warn!("SCTP handshake failed: {reason}");
                        handshake_failed = true;
                    }
                    SctpEvent::AssociationLost { reason, id } => lost.push((id, reason)),
                    SctpEvent::Stream(StreamEvent::Readable { id }) => {
                        self.pending_readable.insert(id);
                    }
                    SctpEvent::Stream(StreamEvent::BufferedAmountReleased { id, n_bytes }) => {
                        released.push((id, n_bytes))
                    }
                    _ => {}
                }
            }
            while assoc.accept_stream().is_some() {}
            while let Some(ev) = assoc.poll_endpoint_event() {
                if let Some(ep) = self.sctp.as_mut() {
                    ep.handle_event(*h, ev);
                }
                drained = true;
            }
        }
        for (id, n) in released {
            if let Some(c) = self.by_stream.get(&id).and_then(|k| self.channels.get(k)) {
                c.link.sub_buffered(n);
            }
        }
        if connected && !self.sctp_connected {
            debug!("SCTP connected");
            self.sctp_connected = true;
            self.setup_deadline = None;
            self.set_state(ConnectionState::Connected);
            let keys: Vec<ChannelKey> = self.channels.keys().copied().collect();
            for key in keys {
                self.dial(now, key);
            }
        }
        for (id, reason) in lost {
            debug!("SCTP stream {id} closed: {reason}");
            if let Some(key) = self.by_stream.get(&id).copied() {
                self.channel_closed(key);
            }
        }
        if handshake_failed {
            self.fail();
            return;
        }
        let closed = self.assoc.as_ref().is_some_and(|(_, a)| a.is_closed());
        if closed || drained {
            if self.sctp_connected {
                debug!("SCTP association ended");
                self.flush_sctp(now);
                self.remote_closed();
            }
            return;
        }
        self.drain_readable(now);
    }

    /// Reads whole messages from readable streams while each channel is under its budget.
    /// `Readable` is edge-triggered, so a stream left with data stays in `pending_readable`
    /// and is retried on resume, on timeouts and on the next datagram.
    fn drain_readable(&mut self, now: Instant) {
        if !self.sctp_connected {
            return;
        }
        let ids: Vec<u16> = self.pending_readable.iter().copied().collect();
        for id in ids {
            for _ in 0..READ_BATCH {
                if !self.read_one(now, id) {
                    break;
                }
            }
        }
    }

    /// Reads one message from stream `id`; false when nothing more should be read now.
    fn read_one(&mut self, now: Instant, id: u16) -> bool {
        let key = self.by_stream.get(&id).copied();
        if let Some(c) = key.and_then(|k| self.channels.get(&k)) {
            if c.link.unread.load(Ordering::Acquire) >= self.receive_budget {
                c.link.paused.store(true, Ordering::Release);
                // The reader may have drained in between: check again after publishing.
                if c.link.unread.load(Ordering::Acquire) >= self.receive_budget {
                    return false;
                }
                c.link.paused.store(false, Ordering::Release);
            }
        }
        let Some((_, assoc)) = self.assoc.as_mut() else {
            return false;
        };
        if assoc.is_handshaking() {
            return false;
        }
        let chunks = match assoc.stream(id).and_then(|mut s| s.read_sctp()) {
            Ok(Some(c)) => c,
            Ok(None) | Err(_) => {
                self.pending_readable.remove(&id);
                return false;
            }
        };
        let max = (self.local_max_message_size as usize).max(self.negotiated_max as usize);
        let max = if max == 0 { usize::MAX } else { max };
        let ppi = chunks.ppi;
        let payload = match chunks.to_payload(max) {
            Ok(p) => p,
            Err(_) => {
                warn!("dropping an oversized message on stream {id}");
                return true;
            }
        };
        match ppi {
            Ppi::Dcep => self.on_dcep(now, id, key, payload),
            Ppi::String | Ppi::Binary | Ppi::StringEmpty | Ppi::BinaryEmpty => {
                let Some(key) = key else {
                    debug!("data on stream {id} without a channel; dropped");
                    return true;
                };
                let is_text = matches!(ppi, Ppi::String | Ppi::StringEmpty);
                let data = if matches!(ppi, Ppi::StringEmpty | Ppi::BinaryEmpty) {
                    Bytes::new()
                } else {
                    payload.freeze()
                };
                self.deliver(key, Message { data, is_text });
            }
            other => debug!("ignoring PPID {other:?} on stream {id}"),
        }
        true
    }

    fn deliver(&mut self, key: ChannelKey, message: Message) {
        let Some(chan) = self.channels.get_mut(&key) else {
            return;
        };
        if chan.state == ChanState::Dialing {
            // Data before the ACK means the remote accepted the channel (RFC 8832 §6).
            chan.state = ChanState::Open;
            self.updates.push(Update::ChannelState {
                key,
                state: ChannelState::Open,
            });
        }
        if matches!(chan.state, ChanState::Open | ChanState::Closing) {
            chan.link
                .unread
                .fetch_add(message.data.len(), Ordering::AcqRel);
            self.updates.push(Update::ChannelMessage { key, message });
        }
    }

    fn on_dcep(&mut self, now: Instant, id: u16, key: Option<ChannelKey>, payload: BytesMut) {
        let mut buf = &payload[..];
        let msg = match DcepMessage::unmarshal(&mut buf) {
            Ok(m) => m,
            Err(e) => {
                debug!("malformed DCEP message on stream {id}: {e}");
                return;
            }
        };
        match (msg, key) {
            (DcepMessage::DataChannelAck(_), Some(key)) => {
                if let Some(chan) = self.channels.get_mut(&key) {
                    if chan.state == ChanState::Dialing {
                        chan.state = ChanState::Open;
                        self.updates.push(Update::ChannelState {
                            key,
                            state: ChannelState::Open,
                        });
                    }
                }
            }
            (DcepMessage::DataChannelOpen(open), None) => self.accept_channel(now, id, open),
            (DcepMessage::DataChannelOpen(_), Some(_)) => {
                debug!("DATA_CHANNEL_OPEN for stream {id}, which is in use; ignored")
            }
            (other, _) => debug!("unexpected DCEP message {other:?} on stream {id}"),
        }
    }

    fn accept_channel(&mut self, now: Instant, id: u16, open: DataChannelOpen) {
        let (unordered, rel_type) = Dcep::get_reliability_params(open.channel_type);
        let param = u16::try_from(open.reliability_parameter).unwrap_or(u16::MAX);
        let (max_retransmits, max_packet_lifetime) = match open.channel_type {
            ChannelType::PartialReliableRexmit | ChannelType::PartialReliableRexmitUnordered => {
                (Some(param), None)
            }
            ChannelType::PartialReliableTimed | ChannelType::PartialReliableTimedUnordered => {
                (None, Some(param))
            }
            _ => (None, None),
        };
        let info = ChannelInfo {
            label: String::from_utf8_lossy(&open.label).into_owned(),
            protocol: String::from_utf8_lossy(&open.protocol).into_owned(),
            ordered: !unordered,
            max_retransmits,
            max_packet_lifetime,
            negotiated: false,
        };
        let Some((_, assoc)) = self.assoc.as_mut() else {
            return;
        };
        let ack = DcepMessage::DataChannelAck(DataChannelAck {});
        let result = assoc.stream(id).and_then(|mut s| {
            s.set_reliability_params(unordered, rel_type, open.reliability_parameter)?;
            let buf = ack.marshal()?;
            s.write_chunk_with_ppi(now, &buf.freeze(), Ppi::Dcep)
        });
        if let Err(e) = result {
            warn!("cannot accept channel on stream {id}: {e}");
            return;
        }
        self.next_remote_key = self.next_remote_key.wrapping_add(1);
        let key = REMOTE_KEY_BIT | (self.next_remote_key & !REMOTE_KEY_BIT);
        let link = ChannelLink::new(self.negotiated_max as usize);
        self.by_stream.insert(id, key);
        self.channels.insert(
            key,
            Chan {
                info: info.clone(),
                id: Some(id),
                state: ChanState::Open,
                link: link.clone(),
            },
        );
        debug!("remote opened channel {:?} on stream {id}", info.label);
        self.updates.push(Update::RemoteChannel {
            key,
            info,
            id,
            link,
        });
    }

    /// Hands what SCTP wants to send to DTLS, then to the selected ICE pair. Called once per
    /// driver iteration so a burst of DATA is answered with one SACK.
    pub fn flush(&mut self, now: Instant) {
        self.flush_sctp(now);
    }

    fn flush_sctp(&mut self, now: Instant) {
        let Some((_, assoc)) = self.assoc.as_mut() else {
            return;
        };
        let mut raws: Vec<Bytes> = Vec::new();
        while let Some(t) = assoc.poll_transmit(now) {
            if let Payload::RawEncode(v) = t.message {
                raws.extend(v);
            }
        }
        if raws.is_empty() {
            return;
        }
        if let Some(dtls) = self.dtls.as_mut() {
            for raw in raws {
                if let Err(e) = dtls.write(now, tunnel_addr(), &raw) {
                    debug!("DTLS write failed: {e}");
                }
            }
        }
        self.collect_dtls_transmits();
    }

    // ----- teardown ------------------------------------------------------------------------

    fn all_channels_closed(&mut self) {
        let keys: Vec<ChannelKey> = self.channels.keys().copied().collect();
        for key in keys {
            self.channel_closed(key);
        }
    }

    fn fail(&mut self) {
        if self.finished {
            return;
        }
        self.set_state(ConnectionState::Failed);
        self.all_channels_closed();
        self.shutdown_transports(Instant::now());
    }

    fn remote_closed(&mut self) {
        if self.finished {
            return;
        }
        self.all_channels_closed();
        self.set_state(ConnectionState::Closed);
        self.shutdown_transports(Instant::now());
    }

    /// Local `close()` (or the handle dropped): reset every stream, abort SCTP, send DTLS
    /// close_notify, then stop.
    pub fn close(&mut self, now: Instant) {
        if self.finished {
            return;
        }
        if let Some((_, assoc)) = self.assoc.as_mut() {
            let ids: Vec<u16> = self.channels.values().filter_map(|c| c.id).collect();
            for id in ids {
                if let Ok(mut s) = assoc.stream(id) {
                    let _ = s.close(now);
                }
            }
        }
        self.flush_sctp(now);
        self.all_channels_closed();
        self.set_state(ConnectionState::Closed);
        self.shutdown_transports(now);
    }

    fn shutdown_transports(&mut self, now: Instant) {
        if let Some((_, assoc)) = self.assoc.as_mut() {
            if !assoc.is_closed() {
                let _ = assoc.abort();
            }
        }
        self.flush_sctp(now);
        if let Some(dtls) = self.dtls.as_mut() {
            if self.dtls_connected {
                let _ = dtls.close(now);
            }
        }
        self.collect_dtls_transmits();
        let _ = self.agent.close();
        self.assoc = None;
        self.finished = true;
    }
}

fn negotiate_max(remote: u32, local: u32) -> u32 {
    match (remote, local) {
        (0, 0) => u32::MAX,
        (0, l) => l,
        (r, 0) => r,
        (r, l) => r.min(l),
    }
}

/// Whether `cert` (DER) hashes to `fp`.
pub(crate) fn fingerprint_matches(fp: &Fingerprint, cert: &[u8]) -> bool {
    let alg = match fp.algorithm.as_str() {
        "sha-1" => &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        "sha-256" => &ring::digest::SHA256,
        "sha-384" => &ring::digest::SHA384,
        "sha-512" => &ring::digest::SHA512,
        _ => return false,
    };
    ring::digest::digest(alg, cert).as_ref() == fp.value.as_slice()
}

/// SHA-256 fingerprint of our certificate.
pub(crate) fn local_fingerprint(cert: &Certificate) -> Option<Fingerprint> {
    let der = cert.certificate.first()?;
    Some(Fingerprint {
        algorithm: "sha-256".to_owned(),
        value: ring::digest::digest(&ring::digest::SHA256, der.as_ref())
            .as_ref()
            .to_vec(),
    })
}
