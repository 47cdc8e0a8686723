//! The SCTP layer: one rtc-sctp association over DTLS, its streams, and the data channel
//! establishment protocol (DCEP, RFC 8832) messages carried on them.

use crate::channel::ChannelInfo;
use bytes::{Bytes, BytesMut};
use rtc_datachannel::data_channel::DataChannel as Dcep;
use rtc_datachannel::message::message_channel_ack::DataChannelAck;
use rtc_datachannel::message::message_channel_open::{ChannelType, DataChannelOpen};
use rtc_datachannel::message::Message as DcepMessage;
use rtc_sctp::{
    Association, AssociationHandle, ClientConfig, DatagramEvent, Endpoint, EndpointConfig,
    Event as SctpEvent, Payload, PayloadProtocolIdentifier as Ppi, ServerConfig, StreamEvent,
    TransportConfig,
};
use rtc_shared::marshal::{Marshal, Unmarshal};
use rtc_shared::{TransportContext, TransportProtocol};
use std::sync::Arc;
use std::time::Instant;
use tracing::{debug, warn};

use super::dtls::tunnel_addr;

/// What the association reported, for the connection and its channels to act on.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum SctpOutput {
    Connected,
    HandshakeFailed,
    /// A stream was reset (by either side) or lost: its channel is closed.
    StreamClosed(u16),
    /// SCTP no longer holds `n` bytes sent on stream `id` (acknowledged or abandoned).
    Released(u16, usize),
    /// Stream `id` has data to read.
    Readable(u16),
    /// The association ended (the remote aborted or shut it down).
    Ended,
}

/// The result of reading one message from a stream.
pub(super) enum Read {
    /// Nothing now; the stream stays readable and is retried later.
    Later,
    /// The stream has nothing more.
    Exhausted,
    /// A message larger than allowed was dropped.
    Dropped,
    Message(Ppi, BytesMut),
}

pub(super) struct SctpLayer {
    endpoint: Option<Endpoint>,
    association: Option<(AssociationHandle, Association)>,
    connected: bool,
    /// The receive window we offer.
    receive_buffer: u32,
}

impl SctpLayer {
    pub fn new(receive_budget: usize) -> Self {
        Self {
            endpoint: None,
            association: None,
            connected: false,
            receive_buffer: receive_budget.clamp(256 * 1024, 4 << 20) as u32,
        }
    }

    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// Starts the association once DTLS is up: the DTLS client sends INIT, the server waits.
    pub fn start(
        &mut self,
        now: Instant,
        is_client: bool,
        max_message_size: u32,
        remote_port: u16,
    ) -> Result<(), String> {
        let transport = TransportConfig::default()
            .with_max_message_size(max_message_size)
            .with_sctp_port(remote_port)
            .with_max_receive_buffer_size(self.receive_buffer);
        let endpoint_config = Arc::new(EndpointConfig::default());
        let local = TransportContext::default().local_addr;
        if is_client {
            let mut endpoint = Endpoint::new(local, TransportProtocol::UDP, endpoint_config, None);
            let association = endpoint
                .connect(now, ClientConfig::new(transport), tunnel_addr())
                .map_err(|e| format!("SCTP connect failed: {e}"))?;
            self.association = Some(association);
            self.endpoint = Some(endpoint);
        } else {
            let server = Some(Arc::new(ServerConfig::new(transport)));
            self.endpoint = Some(Endpoint::new(
                local,
                TransportProtocol::UDP,
                endpoint_config,
                server,
            ));
        }
        Ok(())
    }

    /// One SCTP packet that DTLS decrypted.
    pub fn feed(&mut self, now: Instant, packet: BytesMut) {
        let Some(endpoint) = self.endpoint.as_mut() else {
            return;
        };
        match endpoint.handle(now, tunnel_addr(), None, packet.freeze()) {
            Some((h, DatagramEvent::NewAssociation(a))) if self.association.is_none() => {
                self.association = Some((h, a));
            }
            Some((h, DatagramEvent::AssociationEvent(ev))) => {
                if let Some((ours, a)) = self.association.as_mut() {
                    if *ours == h {
                        a.handle_event(ev);
                    }
                }
            }
            _ => {}
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some((_, a)) = self.association.as_mut() {
            a.handle_timeout(now);
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.association.as_ref()?.1.poll_timeout()
    }

    /// Drains the association's events.
    pub fn drain(&mut self) -> Vec<SctpOutput> {
        let mut out = Vec::new();
        let Some((handle, association)) = self.association.as_mut() else {
            return out;
        };
        let mut ended = false;
        while let Some(ev) = association.poll() {
            match ev {
                SctpEvent::Connected if !self.connected => {
                    debug!("SCTP connected");
                    self.connected = true;
                    out.push(SctpOutput::Connected);
                }
                SctpEvent::HandshakeFailed { reason } => {
                    warn!("SCTP handshake failed: {reason}");
                    out.push(SctpOutput::HandshakeFailed);
                }
                SctpEvent::AssociationLost { reason, id } => {
                    debug!("SCTP stream {id} closed: {reason}");
                    out.push(SctpOutput::StreamClosed(id));
                }
                SctpEvent::Stream(StreamEvent::Readable { id }) => {
                    out.push(SctpOutput::Readable(id))
                }
                SctpEvent::Stream(StreamEvent::BufferedAmountReleased { id, n_bytes }) => {
                    out.push(SctpOutput::Released(id, n_bytes))
                }
                _ => {}
            }
        }
        while association.accept_stream().is_some() {}
        while let Some(ev) = association.poll_endpoint_event() {
            if let Some(endpoint) = self.endpoint.as_mut() {
                endpoint.handle_event(*handle, ev);
            }
            ended = true;
        }
        if (ended || association.is_closed()) && self.connected {
            debug!("SCTP association ended");
            out.push(SctpOutput::Ended);
        }
        out
    }

    /// Whether reading can happen at all (the association is up and not handshaking).
    pub fn is_readable(&self) -> bool {
        self.connected
            && self
                .association
                .as_ref()
                .is_some_and(|(_, a)| !a.is_handshaking())
    }

    /// Reads one whole message from stream `id`, dropping it if it is larger than `max`.
    pub fn read(&mut self, id: u16, max: usize) -> Read {
        let Some((_, association)) = self.association.as_mut() else {
            return Read::Exhausted;
        };
        if association.is_handshaking() {
            return Read::Later;
        }
        let chunks = match association.stream(id).and_then(|mut s| s.read_sctp()) {
            Ok(Some(c)) => c,
            Ok(None) | Err(_) => return Read::Exhausted,
        };
        let ppi = chunks.ppi;
        match chunks.to_payload(max) {
            Ok(payload) => Read::Message(ppi, payload),
            Err(_) => {
                warn!("dropping an oversized message on stream {id}");
                Read::Dropped
            }
        }
    }

    /// Opens stream `id` (or reconfigures it) with the channel's reliability.
    pub fn open_stream(&mut self, id: u16, info: &ChannelInfo) -> Result<(), String> {
        let association = self.association_mut()?;
        let (channel_type, reliability) = channel_type(info);
        let (unordered, rel_type) = Dcep::get_reliability_params(channel_type);
        let opened = match association.open_stream(id, Ppi::Binary) {
            Ok(mut s) => s.set_reliability_params(unordered, rel_type, reliability),
            Err(_) => association
                .stream(id)
                .and_then(|mut s| s.set_reliability_params(unordered, rel_type, reliability)),
        };
        opened.map_err(|e| format!("cannot open SCTP stream {id}: {e}"))
    }

    /// Sends DATA_CHANNEL_OPEN for an in-band channel on its (opened) stream.
    pub fn send_open(&mut self, now: Instant, id: u16, info: &ChannelInfo) -> Result<(), String> {
        let (channel_type, reliability_parameter) = channel_type(info);
        let open = DcepMessage::DataChannelOpen(DataChannelOpen {
            channel_type,
            priority: 256,
            reliability_parameter,
            label: info.label.as_bytes().to_vec(),
            protocol: info.protocol.as_bytes().to_vec(),
        });
        self.write_dcep(now, id, &open)
            .map_err(|e| format!("cannot send DATA_CHANNEL_OPEN on stream {id}: {e}"))
    }

    /// Accepts a remote DATA_CHANNEL_OPEN: configures the stream and sends the ACK. Returns the
    /// channel's description.
    pub fn accept(
        &mut self,
        now: Instant,
        id: u16,
        open: &DataChannelOpen,
    ) -> Result<ChannelInfo, String> {
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
        self.association_mut()?
            .stream(id)
            .and_then(|mut s| {
                s.set_reliability_params(unordered, rel_type, open.reliability_parameter)
            })
            .map_err(|e| e.to_string())?;
        self.write_dcep(now, id, &DcepMessage::DataChannelAck(DataChannelAck {}))?;
        Ok(info)
    }

    fn write_dcep(&mut self, now: Instant, id: u16, msg: &DcepMessage) -> Result<(), String> {
        let buf = msg.marshal().map_err(|e| e.to_string())?;
        self.write(now, id, &buf.freeze(), Ppi::Dcep)
    }

    /// Queues one message on stream `id`.
    pub fn write(
        &mut self,
        now: Instant,
        id: u16,
        payload: &Bytes,
        ppi: Ppi,
    ) -> Result<(), String> {
        self.association_mut()?
            .stream(id)
            .and_then(|mut s| s.write_chunk_with_ppi(now, payload, ppi))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Resets stream `id` (closes the channel on both sides).
    pub fn reset(&mut self, now: Instant, id: u16) -> Result<(), String> {
        self.association_mut()?
            .stream(id)
            .and_then(|mut s| s.close(now))
            .map_err(|e| e.to_string())
    }

    /// The SCTP packets to encrypt and send.
    pub fn poll_packets(&mut self, now: Instant) -> Vec<Bytes> {
        let mut packets = Vec::new();
        if let Some((_, association)) = self.association.as_mut() {
            while let Some(t) = association.poll_transmit(now) {
                if let Payload::RawEncode(v) = t.message {
                    packets.extend(v);
                }
            }
        }
        packets
    }

    /// Aborts the association (its ABORT is among the next packets).
    pub fn abort(&mut self) {
        if let Some((_, association)) = self.association.as_mut() {
            if !association.is_closed() {
                let _ = association.abort();
            }
        }
    }

    /// Forgets the association (after its last packets were taken).
    pub fn release(&mut self) {
        self.association = None;
    }

    fn association_mut(&mut self) -> Result<&mut Association, String> {
        self.association
            .as_mut()
            .map(|(_, a)| a)
            .ok_or_else(|| "no SCTP association".to_owned())
    }
}

/// Parses a DCEP message.
pub(super) fn parse_dcep(id: u16, payload: &[u8]) -> Option<DcepMessage> {
    let mut buf = payload;
    match DcepMessage::unmarshal(&mut buf) {
        Ok(m) => Some(m),
        Err(e) => {
            debug!("malformed DCEP message on stream {id}: {e}");
            None
        }
    }
}

fn channel_type(info: &ChannelInfo) -> (ChannelType, u32) {
    Dcep::get_channel_type_and_reliability_parameter(
        info.ordered,
        info.max_retransmits,
        info.max_packet_lifetime,
    )
}
