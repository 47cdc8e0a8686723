//! One connection driven by protocol lines: applies commands, turns engine events and channel
//! changes into output lines, echoes or counts received messages, pumps bulk sends.

use crate::args::{Options, Role};
use crate::latency::{self, LatencyLog, STAMP_LEN};
use crate::output::Output;
use crate::protocol::{self, BulkRequest, Command};
use crate::sdp::{self, LocalCandidate};
use std::time::{Duration, Instant};
use webrtc_rs_engine::{
    ChannelOptions, ChannelState, ConnectionState, DataChannel, Event, Message, PeerConnection,
    SdpType,
};

/// Bulk sends keep at most this much queued in the connection, so memory stays bounded and
/// the event loop stays responsive.
const BULK_HIGH_WATER: usize = 1 << 20;
const DEFAULT_BULK_CHUNK: usize = 64 * 1024;
const STATS_REQUEST: &[u8] = b"__stats__";

struct Tracked {
    channel: DataChannel,
    label: String,
    announced_open: bool,
    announced_close: bool,
}

struct Bulk {
    channel: DataChannel,
    label: String,
    payload: Vec<u8>,
    remaining: u64,
    sent_bytes: u64,
    sent_msgs: u64,
    stamp: bool,
    pace: Option<Pace>,
}

/// A paced bulk send: `per_tick` messages every `interval`.
struct Pace {
    interval: Duration,
    per_tick: u32,
    next_tick: Instant,
}

/// The state of one `webrtc-rs-peer` run.
pub struct Session {
    pc: PeerConnection,
    options: Options,
    out: Output,
    channels: Vec<Tracked>,
    connection: ConnectionState,
    /// Without trickle, the local description waits here for the end of gathering.
    pending_description: Option<(SdpType, String)>,
    candidates: Vec<LocalCandidate>,
    gathered: bool,
    rx_bytes: u64,
    rx_msgs: u64,
    latency: LatencyLog,
    bulk: Option<Bulk>,
    closed: bool,
}

impl Session {
    pub fn new(pc: PeerConnection, options: Options, out: Output) -> Self {
        Self {
            pc,
            options,
            out,
            channels: Vec::new(),
            connection: ConnectionState::New,
            pending_description: None,
            candidates: Vec::new(),
            gathered: false,
            rx_bytes: 0,
            rx_msgs: 0,
            latency: LatencyLog::default(),
            bulk: None,
            closed: false,
        }
    }

    /// Prints `ready`; the offerer then creates its channel and starts the offer.
    pub fn start(&mut self) -> Result<(), String> {
        self.out.emit(&protocol::ready(
            self.options.role.as_str(),
            &self.options.label,
        ));
        if self.options.role == Role::Offerer {
            let label = self.options.label.clone();
            let channel = self
                .pc
                .create_data_channel(&label, ChannelOptions::default())
                .map_err(|e| format!("creating channel {label:?}: {e}"))?;
            self.track(channel);
            self.pc
                .create_offer()
                .map_err(|e| format!("creating the offer: {e}"))?;
        }
        Ok(())
    }

    /// True while a bulk send waits for room: the caller must come back soon even without a
    /// notification.
    pub fn wants_pump(&self) -> bool {
        self.bulk.is_some()
    }

    /// True once the session should end (closed by command, or stdout went away).
    pub fn finished(&self) -> bool {
        self.closed || self.out.is_broken()
    }

    /// Reports a problem as an `error` line.
    pub fn report(&mut self, message: &str) {
        self.out.emit(&protocol::error(message));
    }

    /// Applies one input line; problems become `error` lines, never a panic.
    pub fn handle_line(&mut self, line: &str) {
        let line = line.trim();
        if line.is_empty() {
            return;
        }
        match protocol::parse_command(line) {
            Ok(command) => {
                if let Err(message) = self.apply(command) {
                    self.report(&message);
                }
            }
            Err(message) => self.report(&message),
        }
    }

    fn apply(&mut self, command: Command) -> Result<(), String> {
        if let Some((sdp_type, sdp)) = command.description() {
            return self
                .pc
                .set_remote_description(sdp_type, sdp)
                .map_err(|e| format!("remote {}: {e}", sdp_type.as_str()));
        }
        match command {
            Command::Offer { .. } | Command::Answer { .. } => Ok(()),
            Command::Candidate {
                candidate,
                sdp_mid,
                sdp_mline_index,
            } => {
                let mid = sdp_mid.unwrap_or_default();
                self.pc
                    .add_ice_candidate(&mid, sdp_mline_index.unwrap_or(0), &candidate)
                    .map_err(|e| format!("remote candidate {candidate:?}: {e}"))
            }
            Command::EndOfCandidates => self
                .pc
                .add_ice_candidate("", 0, "")
                .map_err(|e| format!("end of remote candidates: {e}")),
            Command::Send { label, text, b64 } => {
                let (data, is_text) = protocol::send_payload(text.as_deref(), b64.as_deref())?;
                let (channel, label) = self.find(label.as_deref())?;
                channel
                    .send(&data, is_text)
                    .map_err(|e| format!("send of {} bytes on {label:?}: {e}", data.len()))
            }
            Command::SendBulk(request) => self.start_bulk(request),
            Command::CreateChannel(request) => {
                let options = request.options()?;
                let channel = self
                    .pc
                    .create_data_channel(&request.label, options)
                    .map_err(|e| format!("create_channel {:?}: {e}", request.label))?;
                self.track(channel);
                Ok(())
            }
            Command::CloseChannel { label } => {
                let (channel, _) = self.find(Some(&label))?;
                channel.close();
                Ok(())
            }
            Command::RestartIce => {
                // Without trickle the new offer waits for the new gathering to complete.
                self.gathered = false;
                self.candidates.clear();
                self.pc
                    .restart_ice()
                    .map_err(|e| format!("restart_ice: {e}"))
            }
            Command::Close => {
                self.close();
                Ok(())
            }
        }
    }

    /// Closes the connection (also what end of input means).
    pub fn close(&mut self) {
        self.pc.close();
        self.closed = true;
        self.bulk = None;
        self.pump();
    }

    fn start_bulk(&mut self, request: BulkRequest) -> Result<(), String> {
        if self.bulk.is_some() {
            return Err("send_bulk: a bulk send is already running".into());
        }
        let chunk = request.chunk.unwrap_or(DEFAULT_BULK_CHUNK);
        if chunk == 0 {
            return Err("send_bulk: \"chunk\" must be at least 1".into());
        }
        if request.stamp && chunk < STAMP_LEN {
            return Err(format!(
                "send_bulk: a stamped \"chunk\" needs at least {STAMP_LEN} bytes"
            ));
        }
        let pace = match request.rate_hz {
            None => None,
            Some(hz) if hz.is_finite() && (0.1..=10_000.0).contains(&hz) => Some(Pace {
                interval: Duration::from_secs_f64(1.0 / hz),
                per_tick: request.per_tick.unwrap_or(1).max(1),
                next_tick: Instant::now(),
            }),
            Some(hz) => return Err(format!("send_bulk: \"rate_hz\" {hz} is not in 0.1..=10000")),
        };
        let (channel, label) = self.find(request.label.as_deref())?;
        let payload = (0..chunk).map(|i| (i % 251) as u8).collect();
        self.bulk = Some(Bulk {
            channel,
            label,
            payload,
            remaining: request.bytes,
            sent_bytes: 0,
            sent_msgs: 0,
            stamp: request.stamp,
            pace,
        });
        self.pump_bulk();
        Ok(())
    }

    /// The newest channel called `label` that is not closed (any channel without a label).
    fn find(&self, label: Option<&str>) -> Result<(DataChannel, String), String> {
        self.channels
            .iter()
            .rev()
            .find(|t| {
                label.is_none_or(|l| t.label == l)
                    && t.channel.ready_state() != ChannelState::Closed
            })
            .map(|t| (t.channel.clone(), t.label.clone()))
            .ok_or_else(|| match label {
                Some(label) => format!("no open channel labelled {label:?}"),
                None => "no open channel".to_string(),
            })
    }

    fn track(&mut self, channel: DataChannel) {
        let label = channel.label();
        self.channels.push(Tracked {
            channel,
            label,
            announced_open: false,
            announced_close: false,
        });
    }

    /// Takes everything the engine has for us and prints it.
    pub fn pump(&mut self) {
        for event in self.pc.poll() {
            self.on_event(event);
        }
        let state = self.pc.connection_state();
        if state != self.connection {
            self.connection = state;
            self.out
                .emit(&protocol::state(connection_state_name(state)));
            if state == ConnectionState::Connected {
                if let Some(pair) = self.pc.stats().selected_pair {
                    self.out.emit(&protocol::selected_pair(&pair));
                }
            }
        }
        for index in 0..self.channels.len() {
            self.pump_channel(index);
        }
        self.pump_bulk();
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::SessionDescription { sdp_type, sdp } => {
                if let Err(e) = self.pc.set_local_description(sdp_type, &sdp) {
                    self.report(&format!("local {}: {e}", sdp_type.as_str()));
                    return;
                }
                if self.options.trickle {
                    self.out.emit(&protocol::description(sdp_type, &sdp));
                } else {
                    self.pending_description = Some((sdp_type, sdp));
                    if self.gathered {
                        self.emit_full_description();
                    }
                }
            }
            Event::IceCandidate {
                mid,
                mline_index,
                candidate,
            } => {
                if self.options.trickle {
                    self.out
                        .emit(&protocol::candidate(&mid, mline_index, &candidate));
                } else {
                    self.candidates.push(LocalCandidate {
                        mid,
                        mline_index,
                        candidate,
                    });
                }
            }
            Event::GatheringComplete => {
                self.gathered = true;
                if self.options.trickle {
                    self.out.emit(&protocol::end_of_candidates());
                } else {
                    self.emit_full_description();
                }
            }
            Event::DataChannel(channel) => self.track(channel),
            // The CLI's protocol has no such event; its scripts read the buffered amount.
            Event::BufferedAmountLow(_) => {}
            // The engine already logged it (stderr); the protocol reports the state change.
            Event::ConnectionError(_) => {}
        }
    }

    fn emit_full_description(&mut self) {
        if let Some((sdp_type, sdp)) = self.pending_description.take() {
            let full = sdp::with_candidates(&sdp, &self.candidates);
            self.out.emit(&protocol::description(sdp_type, &full));
        }
    }

    fn pump_channel(&mut self, index: usize) {
        let channel = self.channels[index].channel.clone();
        let label = self.channels[index].label.clone();
        let state = channel.ready_state();
        if state == ChannelState::Open && !self.channels[index].announced_open {
            self.channels[index].announced_open = true;
            self.out.emit(&protocol::open(&channel));
        }
        while let Some(message) = channel.recv() {
            self.on_message(&channel, &label, message);
        }
        if state == ChannelState::Closed && !self.channels[index].announced_close {
            self.channels[index].announced_close = true;
            self.out.emit(&protocol::close(&label));
        }
    }

    fn on_message(&mut self, channel: &DataChannel, label: &str, message: Message) {
        let binary = !message.is_text;
        let data = &message.data[..];
        if !self.options.quiet {
            let with_payload = !(binary && self.options.sink);
            self.out.emit(&protocol::message(
                label,
                data,
                message.is_text,
                with_payload,
            ));
        }
        if message.is_text && data == STATS_REQUEST {
            let reply = protocol::stats_reply(self.rx_bytes, self.rx_msgs, self.latency.summary());
            if let Err(e) = channel.send(reply.as_bytes(), true) {
                self.report(&format!("stats reply on {label:?}: {e}"));
            }
            return;
        }
        if binary {
            self.rx_bytes += data.len() as u64;
            self.rx_msgs += 1;
            self.latency.record(data);
        }
        if self.options.echo && !(binary && self.options.sink) {
            if let Err(e) = channel.send(data, message.is_text) {
                self.report(&format!("echo of {} bytes on {label:?}: {e}", data.len()));
            }
        }
    }

    fn pump_bulk(&mut self) {
        let Some(bulk) = self.bulk.as_mut() else {
            return;
        };
        let now = Instant::now();
        let mut allowed = match bulk.pace.as_mut() {
            None => u64::MAX,
            Some(pace) if now < pace.next_tick => 0,
            Some(pace) => {
                pace.next_tick += pace.interval;
                if pace.next_tick < now {
                    // Fell behind (a slow wake-up): skip missed ticks, as a game's frame would.
                    pace.next_tick = now + pace.interval;
                }
                u64::from(pace.per_tick)
            }
        };
        while allowed > 0 && bulk.remaining > 0 && bulk.channel.buffered_amount() < BULK_HIGH_WATER
        {
            allowed -= 1;
            let size = bulk.payload.len().min(bulk.remaining as usize);
            if bulk.stamp {
                latency::stamp(&mut bulk.payload[..size]);
            }
            if let Err(e) = bulk.channel.send(&bulk.payload[..size], false) {
                let message = format!(
                    "send_bulk on {:?} stopped after {} bytes: {e}",
                    bulk.label, bulk.sent_bytes
                );
                self.bulk = None;
                self.report(&message);
                return;
            }
            bulk.remaining -= size as u64;
            bulk.sent_bytes += size as u64;
            bulk.sent_msgs += 1;
        }
        if bulk.remaining == 0 {
            let done = protocol::sent(&bulk.label, bulk.sent_bytes, bulk.sent_msgs);
            self.bulk = None;
            self.out.emit(&done);
        }
    }
}

/// The W3C name of a connection state.
pub fn connection_state_name(state: ConnectionState) -> &'static str {
    match state {
        ConnectionState::New => "new",
        ConnectionState::Connecting => "connecting",
        ConnectionState::Connected => "connected",
        ConnectionState::Disconnected => "disconnected",
        ConnectionState::Failed => "failed",
        ConnectionState::Closed => "closed",
    }
}
