//! One connection's protocol state, sans-IO. [`Core`] only wires the layers: ICE
//! ([`ice`]), DTLS ([`dtls`]), SCTP with DCEP ([`sctp`]) and the data channels
//! ([`channels`]). It is fed datagrams, commands and time; it produces datagrams to send,
//! [`Update`]s for the application and its next timeout. It owns no socket and reads no clock.

mod channels;
mod delivery_rate;
mod dtls;
mod flight;
mod ice;
mod ice_view;
mod pacer;
#[cfg(test)]
mod proptests;
mod sack_filter;
mod sctp;
mod sctp_guard;
mod sctp_recovery;
mod sctp_skip;

pub(crate) use dtls::local_fingerprint;
#[cfg(test)]
pub(crate) use sctp::{ATTEMPT_PERIOD, CLIENT_LAG};
pub(crate) use sctp_guard::chunks as sctp_chunks;

use crate::candidate::CandidateKind;
use crate::channel::{
    negotiated_max_message_size, size_limit, ChannelInfo, ChannelKey, ChannelLink, ReceiveBudget,
};
pub(crate) use crate::datagram::Transmit;
use crate::failure::{ConnectionError, ErrorReason};
use crate::mailbox::Update;
use crate::sdp::RemoteDescription;
use crate::stats::{ProcessShare, RetransmitCounter, StatsBoard};
use crate::types::{ConnectionState, GatheringState};
use bytes::{Bytes, BytesMut};
use channels::Channels;
use dtls::{DtlsLayer, DtlsOutput};
use ice::{IceLayer, IceOutput, Source};
use pacer::{fills_path, flight_cap, pacing_rate, Pacer};
use rtc_dtls::crypto::Certificate;
use rtc_ice::state::ConnectionState as IceState;
use sack_filter::{PathNow, SackFilter};
use sctp::{SctpLayer, SctpOutput};
use sctp_guard::{SctpGuard, Verdict};
use sctp_recovery::Recovery;
use sctp_skip::Skipper;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{debug, trace, warn};

/// DTLS must be up this long after ICE selected a pair, or the connection fails. On its own, a
/// DTLS server whose client never speaks waits forever.
pub(crate) const SETUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Once DTLS is up, the SCTP association must be up this long after, or the connection fails
/// (it replaces [`SETUP_TIMEOUT`]). Meanwhile unanswered attempts switch role every
/// [`sctp::ATTEMPT_PERIOD`]; on its own, SCTP retries an INIT for about four minutes.
pub(crate) const ASSOCIATION_TIMEOUT: Duration = Duration::from_secs(10);
/// At [`ASSOCIATION_TIMEOUT`], a remote that answered SCTP's setup this recently gets until this
/// long after its answer (a COOKIE ECHO repeated every second needs two tries or three).
const ASSOCIATION_GRACE: Duration = Duration::from_secs(3);

/// Everything a core needs at creation; produced by the handle in `PeerConnection::new`.
pub(crate) struct CoreParams {
    pub provider: Arc<dyn rtc_crypto::RTCCryptoProvider>,
    pub certificate: Certificate,
    pub ufrag: String,
    pub pwd: String,
    pub local_max_message_size: u32,
    pub receive_budget: usize,
    pub connection_budget: Arc<ReceiveBudget>,
    pub max_remote_channels: usize,
    /// `iceTransportPolicy: "relay"`: the agent accepts relay candidates only.
    pub relay_only: bool,
    pub liveness: crate::types::Liveness,
    /// `PortConfig::mtu`: sizes SCTP packets and DTLS handshake fragments.
    pub mtu: u16,
    /// Where statistics are published for the handle.
    pub stats: Arc<StatsBoard>,
}

pub(crate) struct Core {
    ice: IceLayer,
    dtls: DtlsLayer,
    sctp: SctpLayer,
    sctp_guard: SctpGuard,
    channels: Channels,

    local_max_message_size: u32,
    mid: String,
    mline_index: u32,
    gathering: GatheringState,
    /// The remote's SCTP port, once its description is applied.
    remote_sctp_port: Option<u16>,
    negotiated_max_message_size: u32,
    /// Armed when ICE selects a pair ([`SETUP_TIMEOUT`]), moved when DTLS is up
    /// ([`ASSOCIATION_TIMEOUT`]), cleared once SCTP is up.
    setup_deadline: Option<Instant>,
    /// When the DTLS handshake completed.
    dtls_connected_at: Option<Instant>,

    transmits: VecDeque<Transmit>,
    updates: Vec<Update>,
    state: ConnectionState,
    /// Terminal: the driver sends what is queued and stops.
    finished: bool,
    /// Non-STUN datagrams from anyone but the validated remote.
    junk_datagrams: u64,
    stats: Arc<StatsBoard>,
    /// This connection's part of the process-wide totals.
    share: ProcessShare,
    retransmits: RetransmitCounter,
    /// Sends lost DATA packets again before rtc-sctp's 1 s retransmission timer would.
    recovery: Recovery,
    sack_filter: SackFilter,
    skipper: Skipper,
    /// Spreads out the new DATA rtc-sctp writes in bursts.
    pacer: Pacer,
    /// How ICE failing is told: consent lost once a pair was selected, else no pair.
    failed_after: std::time::Duration,
}

impl Core {
    pub fn new(now: Instant, p: CoreParams) -> crate::Result<Self> {
        let ice = IceLayer::new(
            now,
            p.provider.clone(),
            p.ufrag,
            p.pwd,
            p.relay_only,
            &p.liveness,
        )?;
        let share = p.stats.process_share();
        Ok(Self {
            ice,
            dtls: DtlsLayer::new(p.provider, p.certificate).with_path_mtu(p.mtu),
            sctp: SctpLayer::new(p.receive_budget, crate::types::sctp_mtu(p.mtu)),
            sctp_guard: SctpGuard::new(size_limit(p.local_max_message_size)),
            channels: Channels::new(
                p.receive_budget,
                p.connection_budget,
                p.max_remote_channels,
                p.stats.traffic.clone(),
            ),
            local_max_message_size: p.local_max_message_size,
            mid: "0".to_owned(),
            mline_index: 0,
            gathering: GatheringState::New,
            remote_sctp_port: None,
            negotiated_max_message_size: p.local_max_message_size,
            setup_deadline: None,
            dtls_connected_at: None,
            transmits: VecDeque::new(),
            updates: Vec::new(),
            state: ConnectionState::New,
            finished: false,
            junk_datagrams: 0,
            stats: p.stats,
            share,
            retransmits: RetransmitCounter::default(),
            recovery: Recovery::default(),
            sack_filter: SackFilter::default(),
            skipper: Skipper::default(),
            pacer: Pacer::default(),
            failed_after: p.liveness.failed_after,
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
        [
            self.ice.poll_timeout(),
            self.dtls.poll_timeout(),
            self.sctp.poll_timeout(),
            self.sctp
                .is_connected()
                .then(|| self.recovery.poll_timeout())
                .flatten(),
            self.sctp
                .is_connected()
                .then(|| self.skipper.poll_timeout())
                .flatten(),
            self.setup_deadline,
            self.pacer.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn set_state(&mut self, state: ConnectionState) {
        let ended = matches!(
            self.state,
            ConnectionState::Closed | ConnectionState::Failed
        );
        if self.state != state && !ended {
            debug!("connection state {:?} -> {:?}", self.state, state);
            self.state = state;
            self.updates.push(Update::State(state));
            self.update_share();
        }
    }

    /// Moves this connection's part of the process totals to what it is now.
    fn update_share(&mut self) {
        let open = matches!(
            self.state,
            ConnectionState::Connected | ConnectionState::Disconnected
        );
        let view = self.ice.view();
        let relayed = view
            .selected
            .as_ref()
            .is_some_and(|p| p.selected().relayed());
        self.share.set(open, relayed, view.rtt);
    }

    /// Tells the application about a problem that does not end the connection (yet).
    pub fn report(&mut self, reason: ErrorReason, message: String) {
        if !self.finished {
            self.updates
                .push(Update::Error(ConnectionError { reason, message }));
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

    /// Gives a local candidate to ICE and, if it takes it, trickles it as `how` says.
    pub fn add_local_candidate(
        &mut self,
        kind: CandidateKind,
        addr: SocketAddr,
        base: Option<SocketAddr>,
        how: &crate::candidate::Announce,
    ) {
        let line = self.ice.add_local_candidate(kind, addr, base);
        if let Some(candidate) = line.and_then(|l| crate::candidate::announced(l, how)) {
            self.updates.push(Update::Candidate {
                mid: self.mid.clone(),
                mline_index: self.mline_index,
                candidate,
            });
        }
    }

    /// Gathering starts again (ICE restart): GATHERING until the driver says it is complete.
    pub fn regather(&mut self) {
        if self.gathering != GatheringState::Gathering {
            self.gathering = GatheringState::Gathering;
            self.updates
                .push(Update::Gathering(GatheringState::Gathering));
        }
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
        if self.remote_sctp_port.is_some() || self.finished {
            return;
        }
        self.negotiated_max_message_size =
            negotiated_max_message_size(remote.max_message_size, self.local_max_message_size);
        self.channels
            .set_send_limit(size_limit(self.negotiated_max_message_size));
        if let Err(e) = self.dtls.configure(&remote.fingerprints, dtls_client) {
            let message = format!("DTLS configuration failed: {e}");
            return self.fail(now, ErrorReason::Internal, message);
        }
        let controlling = offerer || remote.ice_lite;
        if let Err(e) = self.ice.start(now, controlling, remote.ufrag, remote.pwd) {
            return self.fail(now, ErrorReason::Internal, e.message().to_owned());
        }
        self.remote_sctp_port = Some(remote.sctp_port);
        self.channels
            .assign_stream_ids(dtls_client, &mut self.updates);
        self.set_state(ConnectionState::Connecting);
        self.after_ice(now);
    }

    /// Our offer restarting ICE is out: what gathering finds waits for the answer.
    pub fn stage_ice_restart(&mut self) {
        if !self.finished {
            self.ice.stage_restart();
        }
    }

    /// Restarts ICE with new credentials (an answer to our restarting offer, or a remote offer
    /// that restarts). DTLS and SCTP go on untouched over the previous pair until a new one
    /// is selected.
    pub fn restart_ice(
        &mut self,
        now: Instant,
        local: (String, String),
        remote: (String, String),
        controlling: bool,
    ) {
        if self.finished || self.remote_sctp_port.is_none() {
            return;
        }
        debug!("ICE restart (controlling: {controlling})");
        if let Err(e) = self.ice.restart(now, local, remote, controlling) {
            return self.fail(now, ErrorReason::Internal, e.message().to_owned());
        }
        self.after_ice(now);
    }

    /// Adds a remote candidate; returns its address when ICE will use it (a TURN relay then
    /// needs a permission for it).
    pub fn add_remote_candidate(&mut self, now: Instant, text: &str) -> Option<SocketAddr> {
        let used = self.ice.add_remote_candidate(text);
        self.after_ice(now);
        used
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
        self.channels.add_local(key, info, id, link);
        if self.remote_sctp_port.is_some() {
            self.channels
                .assign_stream_ids(self.dtls.is_client(), &mut self.updates);
        }
        if self.sctp.is_connected() {
            self.channels
                .dial(now, key, &mut self.sctp, &mut self.updates);
            self.drain_readable(now);
        }
    }

    pub fn send(&mut self, now: Instant, key: ChannelKey, data: Bytes, is_text: bool) {
        self.channels
            .send(now, key, data, is_text, &mut self.sctp, &mut self.updates);
    }

    pub fn close_channel(&mut self, now: Instant, key: ChannelKey) {
        self.channels
            .close(now, key, &mut self.sctp, &mut self.updates);
    }

    pub fn resume(&mut self, now: Instant, key: ChannelKey) {
        self.channels.resume(key);
        self.drain_readable(now);
    }

    fn drain_readable(&mut self, now: Instant) {
        let max = size_limit(self.local_max_message_size);
        self.channels
            .drain_readable(now, max, &mut self.sctp, &mut self.updates);
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
                self.ice.handle_stun(now, local, peer, data);
                self.after_ice(now);
            }
            20..=63 => match self.ice.source(local, peer) {
                Source::SelectedPair => self.feed_dtls(now, data),
                Source::Validated => self.ice.hold_early_dtls(data),
                Source::Stranger => self.drop_junk(peer, first),
            },
            _ => self.drop_junk(peer, first),
        }
    }

    fn drop_junk(&mut self, peer: SocketAddr, first: u8) {
        self.junk_datagrams += 1;
        trace!("ignoring a datagram from {peer} (first byte {first})");
    }

    /// Datagrams dropped so far: from strangers, unauthenticated STUN, malformed DTLS.
    pub fn dropped_datagrams(&self) -> u64 {
        self.junk_datagrams + self.ice.rejected() + self.dtls.dropped()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.finished {
            return;
        }
        if self.setup_deadline.is_some_and(|d| now >= d) && !self.association_in_progress(now) {
            return if self.dtls.is_connected() {
                let message = format!(
                    "DTLS is connected but no SCTP association formed within {} s: {}",
                    ASSOCIATION_TIMEOUT.as_secs(),
                    self.sctp.setup_report()
                );
                self.fail(now, ErrorReason::SctpAborted, message)
            } else {
                let message = format!(
                    "the DTLS handshake did not complete within {} s of ICE connecting",
                    SETUP_TIMEOUT.as_secs()
                );
                self.fail(now, ErrorReason::DtlsHandshakeFailed, message)
            };
        }
        self.ice.handle_timeout(now);
        self.after_ice(now);
        if self.finished {
            return;
        }
        let dtls = self.dtls.handle_timeout(now);
        self.collect_dtls_transmits();
        if let Err(e) = dtls {
            return self.fail(now, e.reason(), e.to_string());
        }
        if let Err(e) = self.sctp.handle_timeout(now) {
            return self.fail(now, ErrorReason::SctpAborted, e);
        }
        self.process_sctp(now);
    }

    /// rtc-sctp's retransmission timeouts so far.
    #[cfg(test)]
    pub fn sctp_retransmission_timeouts(&self) -> u64 {
        self.sctp.retransmission_timeouts()
    }

    /// When the DTLS handshake completed, if it did.
    #[cfg(test)]
    pub fn dtls_connected_at(&self) -> Option<Instant> {
        self.dtls_connected_at
    }

    /// Hands what SCTP wants to send, through the pacer, to DTLS, then to the selected ICE
    /// pair. Called once per driver iteration (and when the pacer's time comes) so a burst of
    /// DATA is answered with one SACK.
    pub fn flush(&mut self, now: Instant) {
        let produced = self.sctp.poll_packets(now);
        // The pacer has seen every new TSN rtc-sctp wrote before this batch.
        self.sack_filter.on_fast_retransmits(
            now,
            self.sctp.fast_retransmits(),
            self.pacer.highest_tsn(),
            self.recovery.rtt(),
        );
        for packet in produced {
            self.pacer.push(packet);
        }
        let flight = self.recovery.flight();
        let window = flight + self.pacer.held_bytes();
        let (rtt, loss_seen) = (self.recovery.min_rtt(), self.sack_filter.congestion_seen());
        let path = self.recovery.delivery_rate(now);
        self.pacer.set_rate(pacing_rate(
            window,
            rtt,
            loss_seen,
            path,
            self.sack_filter.draining(now, rtt),
        ));
        self.pacer
            .set_flight(flight, flight_cap(rtt, loss_seen, path));
        self.recovery.set_app_limited(!fills_path(window));
        let packets = if self.finished {
            self.pacer.release_all()
        } else {
            self.pacer.release(now)
        };
        // Recovery and the skipper time a packet from when it leaves, not from when rtc-sctp
        // wrote it: a round trip never includes the pacer's wait.
        for packet in &packets {
            self.retransmits.observe(packet);
            let channels = &self.channels;
            self.recovery
                .on_sent(now, packet, |id| channels.is_reliable_stream(id));
            self.skipper
                .on_sent(now, packet, |id| channels.stream_policy(id));
            self.dtls.write(now, packet);
        }
        if self.sctp.is_connected() {
            self.recovery.set_rtt_hint(self.skipper.srtt());
            if let Some(forward) = self.skipper.check(now) {
                // Sent twice: every message behind the skipped ones waits for it, and a lost
                // one costs a round trip more. Sent again by `recovery`, like rtc-sctp's own,
                // until a SACK acknowledges it.
                self.recovery.on_sent(now, &forward, |_| true);
                self.dtls.write(now, &forward);
                self.dtls.write(now, &forward);
            }
            self.recovery.check(now);
        }
        let resent = self.recovery.take_due();
        for packet in &resent {
            self.dtls.write(now, packet);
        }
        if !packets.is_empty() || !resent.is_empty() {
            self.stats
                .set_retransmissions(self.retransmits.count() + self.recovery.resent());
        }
        self.collect_dtls_transmits();
    }

    // ----- between the layers --------------------------------------------------------------

    /// Drains the ICE agent: transmits, state changes, pair selection.
    fn after_ice(&mut self, now: Instant) {
        self.ice.drain(now, &mut self.transmits);
        if let Some(view) = self.ice.take_view_change() {
            self.stats.publish_ice(view.clone());
            self.update_share();
        }
        while let Some(output) = self.ice.poll_output() {
            match output {
                IceOutput::State(s) => self.on_ice_state(now, s),
                IceOutput::Selected => {
                    self.setup_deadline = Some(now + SETUP_TIMEOUT);
                    self.start_dtls(now);
                }
            }
            if self.finished {
                return;
            }
        }
    }

    fn on_ice_state(&mut self, now: Instant, s: IceState) {
        match s {
            IceState::Failed => self.ice_failed(now),
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

    /// ICE gave up: on the selected pair (nothing heard for the failed timeout) or on every
    /// pair (none ever answered).
    fn ice_failed(&mut self, now: Instant) {
        if self.ice.was_selected() {
            let message = format!(
                "nothing arrived from the remote for {} ms: it is gone or the path is lost \
                 (ICE consent expired)",
                self.failed_after.as_millis()
            );
            self.fail(now, ErrorReason::ConsentLost, message)
        } else {
            let view = self.ice.view();
            let message = format!(
                "no ICE candidate pair succeeded ({} local and {} remote candidates, {} pairs \
                 checked); see get_failure_report()",
                view.local_candidates,
                view.remote_candidates,
                view.pairs.len() + view.pairs_omitted
            );
            self.fail(now, ErrorReason::NoCandidatePair, message)
        }
    }

    fn start_dtls(&mut self, now: Instant) {
        let started = self.dtls.start(now);
        self.collect_dtls_transmits();
        if let Err(e) = started {
            return self.fail(now, e.reason(), e.to_string());
        }
        for data in self.ice.take_early_dtls() {
            self.feed_dtls(now, data);
            if self.finished {
                return;
            }
        }
    }

    fn collect_dtls_transmits(&mut self) {
        let pair = self.ice.selected_pair();
        while let Some(data) = self.dtls.poll_transmit() {
            if let Some((local, peer)) = pair {
                self.transmits.push_back(Transmit { local, peer, data });
            }
        }
    }

    fn feed_dtls(&mut self, now: Instant, data: BytesMut) {
        let result = self.dtls.read(now, data);
        self.collect_dtls_transmits();
        if self.dtls.take_remote_repeated() {
            self.remote_dtls_still_handshaking(now);
        }
        let outputs = match result {
            Ok(outputs) => outputs,
            Err(e) => return self.fail(now, e.reason(), e.to_string()),
        };
        for output in outputs {
            match output {
                DtlsOutput::Connected => self.start_sctp(now),
                DtlsOutput::Data(d) => match self.sctp_guard.check(&d) {
                    Verdict::Accept => {
                        self.recovery.on_received(now, &d);
                        self.skipper.on_received(now, &d);
                        let path = PathNow {
                            standing_rtt: self.recovery.standing_rtt(),
                            min_rtt: self.recovery.min_rtt(),
                            rtt: self.recovery.rtt(),
                            highest_sent: self.pacer.highest_tsn(),
                            repairable: self.recovery.repairs_all(),
                        };
                        let d = self.sack_filter.filter(now, d, &path);
                        self.sctp.feed(now, d)
                    }
                    Verdict::Drop => self.junk_datagrams += 1,
                    Verdict::Abort(why) => {
                        return self.fail(now, ErrorReason::SctpAborted, why);
                    }
                },
                DtlsOutput::PeerClosed => {
                    return self.remote_closed(now, "the remote closed DTLS (close_notify)")
                }
            }
            if self.finished {
                return;
            }
        }
        self.process_sctp(now);
    }

    /// Our DTLS is up but the remote's is not yet (it repeated its last flight): the remote
    /// cannot have started SCTP, so the association's time starts over from now, within
    /// [`SETUP_TIMEOUT`] of our DTLS. Otherwise a side whose DTLS completed seconds before the
    /// other's (its final flight lost again and again) gave up while the other's SCTP had had
    /// only a few seconds.
    fn remote_dtls_still_handshaking(&mut self, now: Instant) {
        let (Some(deadline), Some(dtls_at)) = (self.setup_deadline, self.dtls_connected_at) else {
            return;
        };
        let extended = (now + ASSOCIATION_TIMEOUT).min(dtls_at + SETUP_TIMEOUT);
        if extended > deadline {
            debug!("the remote's DTLS is not up yet: SCTP's deadline starts over");
            self.setup_deadline = Some(extended);
        }
    }

    /// At the deadline, whether the remote answered the association's setup within the last
    /// [`ASSOCIATION_GRACE`] (its answers are still arriving, say a COOKIE ACK after a lost
    /// one), or is backing off between tries and its next is due: the deadline moves to the end
    /// of that grace, within [`SETUP_TIMEOUT`] of our DTLS.
    fn association_in_progress(&mut self, now: Instant) -> bool {
        let (Some(answer), Some(dtls_at)) = (self.sctp.last_answer(), self.dtls_connected_at)
        else {
            return false;
        };
        let backed_off = self
            .sctp
            .next_answer_expected()
            .map(|at| at + ASSOCIATION_GRACE);
        let grace = (answer + ASSOCIATION_GRACE)
            .max(backed_off.unwrap_or(answer))
            .min(dtls_at + SETUP_TIMEOUT);
        if grace <= now || self.sctp.is_connected() {
            return false;
        }
        debug!("the remote is still answering SCTP's setup: its deadline moves");
        self.setup_deadline = Some(grace);
        true
    }

    fn start_sctp(&mut self, now: Instant) {
        self.dtls_connected_at = Some(now);
        if let Some(cipher) = self.dtls.cipher() {
            self.stats.publish_cipher(cipher);
        }
        if self.setup_deadline.is_some() {
            self.setup_deadline = Some(now + ASSOCIATION_TIMEOUT);
        }
        let port = self.remote_sctp_port.unwrap_or(5000);
        // Receive up to our advertised maximum; send up to the negotiated one.
        let max = match self.negotiated_max_message_size {
            0 => u32::MAX,
            n => n,
        };
        if let Err(e) = self.sctp.start(now, self.dtls.is_client(), max, port) {
            self.fail(now, ErrorReason::SctpAborted, e);
        }
    }

    /// Acts on the association's events, then reads what the channels have room for.
    fn process_sctp(&mut self, now: Instant) {
        for output in self.sctp.drain() {
            match output {
                SctpOutput::Connected => {
                    self.setup_deadline = None;
                    self.stats.connected(now);
                    self.set_state(ConnectionState::Connected);
                    self.channels
                        .dial_all(now, &mut self.sctp, &mut self.updates);
                }
                SctpOutput::HandshakeFailed => {
                    let message = "the SCTP handshake failed".to_owned();
                    return self.fail(now, ErrorReason::SctpAborted, message);
                }
                SctpOutput::StreamClosed(id) => self.channels.stream_closed(id, &mut self.updates),
                SctpOutput::Released(id, n) => self.channels.released(id, n, &mut self.updates),
                SctpOutput::Readable(id) => self.channels.mark_readable(id),
                SctpOutput::Ended => {
                    self.flush(now);
                    let how = "the remote ended the SCTP association (ABORT or SHUTDOWN)";
                    return self.remote_closed(now, how);
                }
            }
        }
        self.drain_readable(now);
    }

    // ----- teardown ------------------------------------------------------------------------

    /// The connection fails for `reason`: FAILED, the error reported (and logged), every
    /// channel closed, the transports shut down.
    fn fail(&mut self, now: Instant, reason: ErrorReason, message: String) {
        if self.finished {
            return;
        }
        warn!("connection failed: {message}");
        self.set_state(ConnectionState::Failed);
        self.end_with(reason, message);
        self.channels.close_all(&mut self.updates);
        self.shutdown_transports(now);
    }

    fn remote_closed(&mut self, now: Instant, how: &str) {
        if self.finished {
            return;
        }
        debug!("{how}");
        self.channels.close_all(&mut self.updates);
        self.set_state(ConnectionState::Closed);
        self.end_with(ErrorReason::ClosedByRemote, how.to_owned());
        self.shutdown_transports(now);
    }

    fn end_with(&mut self, reason: ErrorReason, message: String) {
        let error = ConnectionError { reason, message };
        self.stats.ended_with(error.clone());
        self.updates.push(Update::Error(error));
    }

    /// Local `close()` (or the handle dropped): reset every stream, abort SCTP, send DTLS
    /// close_notify, then stop.
    pub fn close(&mut self, now: Instant) {
        if self.finished {
            return;
        }
        self.channels.reset_all(now, &mut self.sctp);
        self.flush(now);
        self.channels.close_all(&mut self.updates);
        self.set_state(ConnectionState::Closed);
        self.shutdown_transports(now);
    }

    fn shutdown_transports(&mut self, now: Instant) {
        self.sctp.abort();
        self.flush(now);
        self.dtls.close(now);
        self.collect_dtls_transmits();
        self.ice.close();
        self.sctp.release();
        self.finished = true;
    }
}
