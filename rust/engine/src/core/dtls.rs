//! The DTLS layer: one rtc-dtls endpoint over the ICE-selected pair, the handshake in the role
//! the SDP `a=setup` gave us, and the check of the remote certificate against the SDP
//! `a=fingerprint`. It turns the endpoint's results into what the connection acts on.
//!
//! Until the handshake completes nothing is authenticated, so records that rtc-dtls would
//! answer with a fatal alert (which ends the real remote's handshake) are dropped here, and a
//! record that fails to parse is dropped, not fatal. After it, the old-epoch handshake records
//! a remote repeats when our last flight was lost are accepted only a few times.

use super::flight::{FinalFlight, FlightKeeper};
use crate::sdp::Fingerprint;
use bytes::BytesMut;
use rtc_dtls::cipher_suite::CipherSuiteId;
use rtc_dtls::config::{
    ClientAuthType, ConfigBuilder, ExtendedMasterSecretType, HandshakeConfig,
    VerifyPeerCertificateFn,
};
use rtc_dtls::crypto::Certificate;
use rtc_dtls::endpoint::{Endpoint, EndpointEvent};
use rtc_dtls::extension::extension_use_srtp::SrtpProtectionProfile;
use rtc_shared::{TransportContext, TransportProtocol};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tracing::{debug, trace, warn};

const RECORD_HEADER: usize = 13;
const CONTENT_CHANGE_CIPHER_SPEC: u8 = 20;
const CONTENT_ALERT: u8 = 21;
const CONTENT_HANDSHAKE: u8 = 22;
const CONTENT_APPLICATION_DATA: u8 = 23;
/// Datagrams with old-epoch handshake records accepted after the handshake (a remote repeats
/// its last flight only while ours is lost); each one grows rtc-dtls's handshake cache.
const REPEATED_FLIGHTS_LIMIT: u32 = 8;

/// Placeholder address for the DTLS and SCTP endpoints: they run over the ICE transport, the
/// real 5-tuple is the selected pair.
pub(super) fn tunnel_addr() -> SocketAddr {
    TransportContext::default().peer_addr
}

/// What a datagram or a timer did to the DTLS layer.
#[derive(Debug)]
pub(super) enum DtlsOutput {
    /// The handshake completed and the remote certificate matched the fingerprint.
    Connected,
    /// Decrypted application data (SCTP packets).
    Data(BytesMut),
    /// The remote sent close_notify.
    PeerClosed,
}

/// Why the DTLS layer cannot go on; the connection fails.
#[derive(Debug)]
pub(super) enum DtlsFailure {
    FingerprintMismatch,
    Handshake(String),
    /// A fatal alert after the handshake (received, or sent in answer to a bad record).
    FatalAlert,
}

impl DtlsFailure {
    /// What the application is told.
    pub fn reason(&self) -> crate::failure::ErrorReason {
        match self {
            Self::FingerprintMismatch => crate::failure::ErrorReason::FingerprintMismatch,
            Self::Handshake(_) | Self::FatalAlert => {
                crate::failure::ErrorReason::DtlsHandshakeFailed
            }
        }
    }
}

impl std::fmt::Display for DtlsFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::FingerprintMismatch => {
                f.write_str("remote DTLS certificate does not match the SDP fingerprint")
            }
            Self::Handshake(e) => write!(f, "DTLS handshake failed: {e}"),
            Self::FatalAlert => f.write_str("DTLS connection ended by a fatal alert"),
        }
    }
}

pub(super) struct DtlsLayer {
    provider: Arc<dyn rtc_crypto::RTCCryptoProvider>,
    certificate: Certificate,
    endpoint: Option<Endpoint>,
    /// The client's handshake configuration, used once when the handshake starts.
    client_config: Option<Arc<HandshakeConfig>>,
    is_client: bool,
    connected: bool,
    /// Set by the certificate check, which runs inside rtc-dtls.
    fingerprint_mismatch: Arc<AtomicBool>,
    repeated_flights: u32,
    /// Our last handshake flight, sent again when rtc-dtls stops retransmitting.
    flight: FlightKeeper,
    /// After the handshake, our final flight, sent again when the remote repeats its own.
    final_flight: FinalFlight,
    /// Datagrams dropped before reaching rtc-dtls, or that it refused without harm.
    dropped: u64,
    /// The remote repeated its last flight after our handshake completed (its own is not).
    remote_repeated: bool,
    /// Where rtc-dtls splits handshake messages; 0: its default (1200).
    handshake_mtu: usize,
}

impl DtlsLayer {
    pub fn new(provider: Arc<dyn rtc_crypto::RTCCryptoProvider>, certificate: Certificate) -> Self {
        Self {
            provider,
            certificate,
            endpoint: None,
            client_config: None,
            is_client: false,
            connected: false,
            fingerprint_mismatch: Arc::new(AtomicBool::new(false)),
            repeated_flights: 0,
            flight: FlightKeeper::default(),
            final_flight: FinalFlight::default(),
            dropped: 0,
            remote_repeated: false,
            handshake_mtu: 0,
        }
    }

    /// Splits handshake messages so each datagram fits a path of `mtu` bytes: IPv6 and UDP
    /// headers, a TURN ChannelData header and the DTLS record and handshake headers (77 bytes
    /// in all) come on top of a fragment. Never above rtc-dtls's default of 1200.
    pub fn with_path_mtu(mut self, mtu: u16) -> Self {
        self.handshake_mtu = usize::from(mtu).saturating_sub(77).min(1200);
        self
    }

    /// Whether the remote repeated its last handshake flight after ours completed, since the
    /// last call: its handshake is still under way.
    pub fn take_remote_repeated(&mut self) -> bool {
        std::mem::take(&mut self.remote_repeated)
    }

    /// Datagrams dropped as malformed, unexpected or repeated too often.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn is_connected(&self) -> bool {
        self.connected
    }

    pub fn is_client(&self) -> bool {
        self.is_client
    }

    /// The negotiated cipher suite's IANA name, once the handshake chose one.
    pub fn cipher(&self) -> Option<String> {
        let state = self
            .endpoint
            .as_ref()?
            .get_connection_state(tunnel_addr())?;
        state.cipher_suite().map(|c| c.id().to_string())
    }

    /// Prepares the endpoint for the role the descriptions settled, trusting only a certificate
    /// that hashes to one of `fingerprints`.
    pub fn configure(
        &mut self,
        fingerprints: &[Fingerprint],
        is_client: bool,
    ) -> Result<(), rtc_shared::error::Error> {
        let config = self.handshake_config(fingerprints, is_client)?;
        self.is_client = is_client;
        let local = TransportContext::default().local_addr;
        if is_client {
            self.endpoint = Some(Endpoint::new(local, TransportProtocol::UDP, None));
            self.client_config = Some(config);
        } else {
            self.endpoint = Some(Endpoint::new(local, TransportProtocol::UDP, Some(config)));
        }
        Ok(())
    }

    fn handshake_config(
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
                .with_mtu(self.handshake_mtu)
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

    /// Starts the handshake once ICE selected a pair (the client sends its ClientHello; the
    /// server waits for it).
    pub fn start(&mut self, now: Instant) -> Result<(), DtlsFailure> {
        if let (Some(endpoint), Some(cfg)) = (self.endpoint.as_mut(), self.client_config.take()) {
            endpoint
                .connect(now, tunnel_addr(), cfg, None)
                .map_err(|e| DtlsFailure::Handshake(e.to_string()))?;
        }
        Ok(())
    }

    /// Feeds one DTLS datagram. Errors after the handshake that do not end the remote's DTLS
    /// drop the record.
    pub fn read(&mut self, now: Instant, data: BytesMut) -> Result<Vec<DtlsOutput>, DtlsFailure> {
        if self.endpoint.is_none() || !self.acceptable(&data) {
            self.dropped += 1;
            trace!("DTLS datagram dropped before the endpoint");
            return Ok(Vec::new());
        }
        self.flight.received();
        self.final_flight.received();
        let handshake = is_old_handshake(&data);
        if self.connected && handshake {
            debug!("the remote repeated its last DTLS flight: ours goes out again");
            self.final_flight.repeat();
            self.remote_repeated = true;
        }
        let result = self.read_records(now, data);
        self.watch_flight(now);
        if handshake && !self.connected {
            self.flight.peer_repeated(now);
        }
        result
    }

    fn read_records(
        &mut self,
        now: Instant,
        data: BytesMut,
    ) -> Result<Vec<DtlsOutput>, DtlsFailure> {
        let Some(endpoint) = self.endpoint.as_mut() else {
            return Ok(Vec::new());
        };
        let events = match endpoint.read(now, tunnel_addr(), None, data) {
            Ok(events) => events,
            Err(e) => return self.read_error(e).map(|()| Vec::new()),
        };
        let mut out = Vec::new();
        for ev in events {
            match ev {
                EndpointEvent::HandshakeComplete => {
                    if self.fingerprint_mismatch.load(Ordering::Acquire) {
                        return Err(DtlsFailure::FingerprintMismatch);
                    }
                    debug!("DTLS connected (client: {})", self.is_client);
                    self.connected = true;
                    out.push(DtlsOutput::Connected);
                }
                EndpointEvent::ApplicationData(d) => out.push(DtlsOutput::Data(d)),
                EndpointEvent::PeerClosed => {
                    debug!("remote closed DTLS");
                    out.push(DtlsOutput::PeerClosed);
                    break;
                }
                _ => {}
            }
        }
        Ok(out)
    }

    fn read_error(&mut self, e: rtc_shared::error::Error) -> Result<(), DtlsFailure> {
        let alert = matches!(e, rtc_shared::error::Error::ErrAlertFatalOrClose);
        if self.fingerprint_mismatch.load(Ordering::Acquire) {
            Err(DtlsFailure::FingerprintMismatch)
        } else if alert && !self.connected {
            Err(DtlsFailure::Handshake(e.to_string()))
        } else if alert {
            // The remote sent a fatal alert (or rtc-dtls answered a bad record with one):
            // either way the remote's DTLS is gone.
            Err(DtlsFailure::FatalAlert)
        } else {
            // Before the handshake a garbled record proves nothing about the remote; a real
            // failure ends in an alert, the fingerprint check or the retransmission limit.
            self.dropped += 1;
            debug!("DTLS record dropped: {e}");
            Ok(())
        }
    }

    /// Whether a datagram's records may go to rtc-dtls (see the module comment).
    fn acceptable(&mut self, data: &[u8]) -> bool {
        let Some(records) = records(data) else {
            return false;
        };
        // ChangeCipherSpec announces the switch to epoch 1, so it is only ever sent in epoch
        // 0 (rtc-dtls does not renegotiate). rtc-dtls takes one in a later epoch without
        // decrypting it: a forged one would end the connection (a bad body draws a fatal
        // alert) or silence it (a good one moves the epoch it expects past the remote's).
        if records
            .iter()
            .any(|r| r.content_type == CONTENT_CHANGE_CIPHER_SPEC && r.epoch != 0)
        {
            return false;
        }
        if self.connected {
            if is_old_handshake(data) {
                self.repeated_flights += 1;
                return self.repeated_flights <= REPEATED_FLIGHTS_LIMIT;
            }
            return true;
        }
        records.iter().all(|r| match (r.epoch, r.content_type) {
            (0, CONTENT_HANDSHAKE) => true,
            (0, CONTENT_ALERT) => r.body.len() == 2,
            (0, CONTENT_CHANGE_CIPHER_SPEC) => r.body == [1],
            (0, _) => false,
            (_, t) => (CONTENT_CHANGE_CIPHER_SPEC..=CONTENT_APPLICATION_DATA).contains(&t),
        })
    }

    /// Encrypts one SCTP packet.
    pub fn write(&mut self, now: Instant, packet: &[u8]) {
        if let Some(endpoint) = self.endpoint.as_mut() {
            if let Err(e) = endpoint.write(now, tunnel_addr(), packet) {
                debug!("DTLS write failed: {e}");
            }
        }
    }

    /// Retransmits handshake flights; an exhausted handshake is a failure.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), DtlsFailure> {
        let Some(endpoint) = self.endpoint.as_mut() else {
            return Ok(());
        };
        let keys: Vec<SocketAddr> = endpoint.get_connections_keys().copied().collect();
        let mut gave_up = None;
        for k in keys {
            if let Err(e) = endpoint.handle_timeout(k, now) {
                warn!("DTLS handshake gave up: {e}");
                gave_up = Some(e.to_string());
            }
        }
        if let Some(e) = gave_up.filter(|_| !self.connected) {
            return Err(DtlsFailure::Handshake(e));
        }
        self.flight.handle_timeout(now);
        self.watch_flight(now);
        Ok(())
    }

    fn endpoint_timeout(&self) -> Option<Instant> {
        self.endpoint.as_ref()?.poll_timeout(&tunnel_addr())
    }

    fn watch_flight(&mut self, now: Instant) {
        let timer = self.endpoint_timeout();
        self.flight.watch(now, timer, self.connected);
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.endpoint_timeout(), self.flight.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    /// The next record to send on the selected pair.
    pub fn poll_transmit(&mut self) -> Option<BytesMut> {
        if let Some(again) = self
            .flight
            .poll_resend()
            .or_else(|| self.final_flight.poll_resend())
        {
            return Some(again);
        }
        let datagram = self.endpoint.as_mut()?.poll_transmit()?.message;
        if !self.connected {
            self.flight.sent(&datagram);
        } else if is_handshake_only(&datagram) {
            self.final_flight.sent(&datagram);
        }
        Some(datagram)
    }

    /// Sends close_notify if the handshake completed.
    pub fn close(&mut self, now: Instant) {
        if let (Some(endpoint), true) = (self.endpoint.as_mut(), self.connected) {
            let _ = endpoint.close(now);
        }
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

/// One DTLS record as framed on the wire.
struct Record<'a> {
    content_type: u8,
    epoch: u16,
    body: &'a [u8],
}

/// Whether the datagram carries an epoch-0 handshake record: after the handshake, the remote
/// repeating its last flight.
fn is_old_handshake(data: &[u8]) -> bool {
    records(data).is_some_and(|records| {
        records
            .iter()
            .any(|r| r.epoch == 0 && r.content_type == CONTENT_HANDSHAKE)
    })
}

/// Whether every record of the datagram is a handshake or ChangeCipherSpec record (what
/// rtc-dtls sends after the handshake only as its final flight).
fn is_handshake_only(data: &[u8]) -> bool {
    records(data).is_some_and(|records| {
        records.iter().all(|r| {
            r.content_type == CONTENT_HANDSHAKE || r.content_type == CONTENT_CHANGE_CIPHER_SPEC
        })
    })
}

/// Splits a datagram into records; `None` if the framing is broken.
fn records(data: &[u8]) -> Option<Vec<Record<'_>>> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        if rest.len() < RECORD_HEADER {
            return None;
        }
        let content_type = rest[0];
        let epoch = u16::from_be_bytes([rest[3], rest[4]]);
        let len = usize::from(u16::from_be_bytes([rest[11], rest[12]]));
        let body = rest.get(RECORD_HEADER..RECORD_HEADER + len)?;
        if !(CONTENT_CHANGE_CIPHER_SPEC..=CONTENT_APPLICATION_DATA).contains(&content_type) {
            return None;
        }
        out.push(Record {
            content_type,
            epoch,
            body,
        });
        rest = &rest[RECORD_HEADER + len..];
    }
    if out.is_empty() {
        None
    } else {
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer() -> DtlsLayer {
        let provider = rtc_crypto::default_provider().expect("crypto provider");
        let certificate =
            Certificate::generate_self_signed(vec!["test".to_owned()], provider.crypto())
                .expect("certificate");
        DtlsLayer::new(provider, certificate)
    }

    fn record(content_type: u8, epoch: u16, body: &[u8]) -> Vec<u8> {
        let mut r = vec![content_type, 0xfe, 0xfd];
        r.extend_from_slice(&epoch.to_be_bytes());
        r.extend_from_slice(&[0; 6]);
        r.extend_from_slice(&(body.len() as u16).to_be_bytes());
        r.extend_from_slice(body);
        r
    }

    #[test]
    fn before_the_handshake_only_plausible_records_pass() {
        let mut d = layer();
        assert!(d.acceptable(&record(CONTENT_HANDSHAKE, 0, &[1, 0, 0, 0])));
        assert!(d.acceptable(&record(CONTENT_ALERT, 0, &[2, 40])));
        assert!(d.acceptable(&record(CONTENT_CHANGE_CIPHER_SPEC, 0, &[1])));
        assert!(d.acceptable(&record(CONTENT_APPLICATION_DATA, 1, &[0; 32])));
        for junk in [
            vec![0x16],
            record(CONTENT_APPLICATION_DATA, 0, b"plaintext"),
            record(CONTENT_ALERT, 0, &[2]),
            record(CONTENT_CHANGE_CIPHER_SPEC, 0, &[221]),
            record(CONTENT_CHANGE_CIPHER_SPEC, 1, &[1]),
            record(24, 0, &[0; 4]),
            [record(CONTENT_HANDSHAKE, 0, &[1]), vec![22, 254]].concat(),
        ] {
            assert!(!d.acceptable(&junk), "{junk:?}");
        }
    }

    #[test]
    fn repeated_flights_after_the_handshake_are_taken_only_a_few_times() {
        let mut d = layer();
        d.connected = true;
        let repeat = record(CONTENT_HANDSHAKE, 0, &[20, 0, 0, 12]);
        let taken = (0..100).filter(|_| d.acceptable(&repeat)).count();
        assert_eq!(taken, REPEATED_FLIGHTS_LIMIT as usize);
        assert!(
            d.acceptable(&record(CONTENT_APPLICATION_DATA, 1, &[0; 32])),
            "application data still passes"
        );
    }
}
