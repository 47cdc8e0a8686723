//! Descriptions after the first offer/answer: an ICE restart we offer
//! ([`PeerConnection::restart_ice`]) and its answer, and a remote offer on a connection already
//! negotiated (a restart, e.g. a browser's `restartIce()`, or the same credentials again),
//! which is answered automatically. DTLS and SCTP are never renegotiated: a description that
//! would change the remote's certificate or the data section is refused and the connection
//! goes on unchanged.

use super::{random_token, PeerConnection};
use crate::candidate;
use crate::error::{Error, Result};
use crate::mailbox::{Command, Update};
use crate::sdp::{self, Fingerprint, RemoteDescription, Setup};
use crate::types::{SdpType, SignalingState};

/// What the first offer/answer settled.
#[derive(Debug)]
pub(super) struct Negotiated {
    remote_fingerprints: Vec<Fingerprint>,
    /// The remote's current ICE (ufrag, pwd).
    remote_ice: (String, String),
    dtls_client: bool,
    mid: String,
    /// Whether we made the first offer (the side that restarts automatically).
    pub offerer: bool,
}

impl Negotiated {
    pub fn new(remote: &RemoteDescription, offerer: bool, dtls_client: bool) -> Self {
        Self {
            remote_fingerprints: remote.fingerprints.clone(),
            remote_ice: (remote.ufrag.clone(), remote.pwd.clone()),
            dtls_client,
            mid: remote.mid.clone(),
            offerer,
        }
    }

    /// Refuses a later description that would change what cannot change.
    fn check(&self, remote: &RemoteDescription, what: &str) -> Result<()> {
        if !remote
            .fingerprints
            .iter()
            .all(|f| self.remote_fingerprints.contains(f))
        {
            return Err(Error::invalid(format!(
                "set_remote_description({what}): the remote's DTLS certificate fingerprint \
                 differs from the one negotiated; a connection keeps its certificate (refused, \
                 the connection goes on unchanged)"
            )));
        }
        if remote.mid != self.mid {
            return Err(Error::invalid(format!(
                "set_remote_description({what}): the data section's mid {:?} differs from the \
                 negotiated {:?} (refused, the connection goes on unchanged)",
                remote.mid, self.mid
            )));
        }
        Ok(())
    }
}

fn new_credentials() -> Result<(String, String)> {
    Ok((
        random_token(16)?.replace(['+', '/'], "x"),
        random_token(32)?,
    ))
}

impl PeerConnection {
    /// Restarts ICE (RFC 8445 9; W3C `restartIce()`): new ICE credentials, local candidates
    /// gathered again on the addresses the host has now, and a new offer delivered by `poll()`
    /// as [`crate::Event::SessionDescription`] to relay like the first one. Once the remote's
    /// answer is applied, connectivity checks start over; the data channels stay open and
    /// DTLS and SCTP go on over the previous path until a new one is selected.
    ///
    /// Errors: nothing negotiated yet, an offer from the remote not answered yet (glare), or
    /// the connection is closed. Called again before the answer arrives, it makes a new offer
    /// that replaces the previous one.
    pub fn restart_ice(&mut self) -> Result<()> {
        self.check_open()?;
        let Some(negotiated) = &self.negotiated else {
            return Err(Error::state(
                "restart_ice: nothing is negotiated yet (ICE starts with the first offer)",
            ));
        };
        if self.signaling == SignalingState::HaveRemoteOffer {
            return Err(Error::state(
                "restart_ice: the remote's offer is being answered; restart after it",
            ));
        }
        let mid = negotiated.mid.clone();
        (self.ufrag, self.pwd) = new_credentials()?;
        let sdp = self.local_sdp(Setup::ActPass, &mid, &[]);
        self.offer = Some(sdp.clone());
        self.restart_offered = true;
        self.shared.push_quiet(vec![Update::LocalDescription {
            sdp_type: SdpType::Offer,
            sdp,
        }]);
        self.command(Command::OfferIceRestart)
    }

    /// `Config::restart_ice_on_disconnected`: the side that made the first offer restarts when
    /// the connection has just become DISCONNECTED; the offer joins this `poll()`'s events.
    pub(super) fn restart_when_disconnected(&mut self, events: &mut Vec<crate::Event>) {
        let first_offerer = self.negotiated.as_ref().is_some_and(|n| n.offerer);
        if !self.config.restart_ice_on_disconnected
            || !first_offerer
            || self.signaling != SignalingState::Stable
        {
            return;
        }
        match self.restart_ice() {
            Ok(()) => {
                tracing::info!(
                    "connection DISCONNECTED: restarting ICE (iceRestartOnDisconnected)"
                );
                for u in self.shared.take() {
                    self.apply(u, events);
                }
            }
            Err(e) => tracing::warn!("automatic ICE restart: {e}"),
        }
    }

    /// The answer to our restarting offer: checks start over with its credentials.
    pub(super) fn restart_answer(&mut self, sdp: &str) -> Result<()> {
        let remote = sdp::parse(sdp, "answer")?;
        let negotiated = self
            .negotiated
            .as_ref()
            .ok_or_else(|| Error::state("set_remote_description(answer): nothing negotiated"))?;
        negotiated.check(&remote, "answer")?;
        self.remote_candidates = 0;
        self.count_remote_candidates(remote.candidates.len())?;
        let remote_ice = (remote.ufrag.clone(), remote.pwd.clone());
        self.command(Command::RestartIce {
            local: (self.ufrag.clone(), self.pwd.clone()),
            remote: remote_ice.clone(),
            controlling: true,
            regather: false,
        })?;
        self.add_inline_candidates(&remote)?;
        if let Some(n) = self.negotiated.as_mut() {
            n.remote_ice = remote_ice;
        }
        self.restart_offered = false;
        self.signaling = SignalingState::Stable;
        Ok(())
    }

    /// A remote offer on a negotiated connection: answered (the answer follows from `poll()`),
    /// restarting ICE if its credentials are new.
    pub(super) fn remote_reoffer(&mut self, sdp: &str) -> Result<()> {
        if self.restart_offered {
            return Err(Error::state(
                "set_remote_description(offer): our own offer (restart_ice) awaits its answer \
                 (glare); let one side restart, e.g. the one that made the first offer",
            ));
        }
        let remote = sdp::parse(sdp, "offer")?;
        let negotiated = self
            .negotiated
            .as_ref()
            .ok_or_else(|| Error::state("set_remote_description(offer): nothing negotiated"))?;
        negotiated.check(&remote, "offer")?;
        let remote_ice = (remote.ufrag.clone(), remote.pwd.clone());
        let restart = remote_ice != negotiated.remote_ice;
        let setup = if negotiated.dtls_client {
            Setup::Active
        } else {
            Setup::Passive
        };
        if restart {
            self.remote_candidates = 0;
        }
        self.count_remote_candidates(remote.candidates.len())?;
        if restart {
            (self.ufrag, self.pwd) = new_credentials()?;
        }
        let answer = self.local_sdp(setup, &remote.mid, &remote.sections);
        self.signaling = SignalingState::HaveRemoteOffer;
        self.answer = Some(answer.clone());
        // The answer goes out before the candidates gathered for it: a remote that gets a
        // candidate first (it names no ufrag) files it under the previous ICE generation, and
        // Chromium then never checks it.
        self.shared.push_quiet(vec![Update::LocalDescription {
            sdp_type: SdpType::Answer,
            sdp: answer,
        }]);
        if restart {
            self.command(Command::RestartIce {
                local: (self.ufrag.clone(), self.pwd.clone()),
                remote: remote_ice.clone(),
                controlling: remote.ice_lite,
                regather: true,
            })?;
        }
        self.add_inline_candidates(&remote)?;
        if let Some(n) = self.negotiated.as_mut() {
            n.remote_ice = remote_ice;
        }
        Ok(())
    }

    fn add_inline_candidates(&mut self, remote: &RemoteDescription) -> Result<()> {
        for line in &remote.candidates {
            match candidate::parse(line) {
                Ok(c) => self.command(Command::AddCandidate(c))?,
                Err(e) => tracing::debug!("ignoring an inline candidate: {e}"),
            }
        }
        Ok(())
    }
}
