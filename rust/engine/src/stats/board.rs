//! What a connection's network thread publishes for its handle to read: live counters
//! (atomics, updated as traffic flows) and a snapshot of the rest (under a mutex, replaced
//! only when something in it changes).

use super::process::{ProcessShare, Totals, PROCESS};
use super::traffic::Traffic;
use super::{PairEnds, Stats};
use crate::failure::ServerReport;
use crate::failure::{ConnectionError, ErrorReason, FailureReport, PairReport, PairState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// What ICE knows about the paths, as the core last published it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct IceView {
    pub selected: Option<PairEnds>,
    /// The latest round-trip time measured on the selected pair.
    pub rtt: Option<Duration>,
    /// At most [`FailureReport::MAX_PAIRS`], the selected one and the most advanced first.
    pub pairs: Vec<PairReport>,
    pub pairs_omitted: usize,
    pub local_candidates: usize,
    pub remote_candidates: usize,
}

#[derive(Debug, Default)]
struct Snapshot {
    ice: IceView,
    dtls_cipher: Option<String>,
    connected_after: Option<Duration>,
    servers: Vec<ServerReport>,
    /// The error that ended the connection.
    error: Option<ConnectionError>,
}

/// Shared by a connection's handle (reads) and its core and driver (write).
#[derive(Debug)]
pub(crate) struct StatsBoard {
    totals: &'static Totals,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    retransmissions: AtomicU64,
    /// Messages of every channel, closed ones included.
    pub traffic: Arc<Traffic>,
    /// When the application started the connection (create_offer, or the remote offer).
    started: OnceLock<Instant>,
    snapshot: Mutex<Snapshot>,
}

impl StatsBoard {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            totals: &PROCESS,
            bytes_sent: AtomicU64::new(0),
            bytes_received: AtomicU64::new(0),
            retransmissions: AtomicU64::new(0),
            traffic: Arc::new(Traffic::default()),
            started: OnceLock::new(),
            snapshot: Mutex::new(Snapshot::default()),
        })
    }

    fn snapshot(&self) -> MutexGuard<'_, Snapshot> {
        self.snapshot.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// This connection's part of the process totals (one per connection, held by its core).
    pub fn process_share(&self) -> ProcessShare {
        ProcessShare::of(self.totals)
    }

    // ----- written by the network thread ---------------------------------------------------

    /// `n` bytes went out on one of the connection's sockets or TURN streams.
    pub fn wire_sent(&self, n: usize) {
        self.bytes_sent.fetch_add(n as u64, Ordering::Relaxed);
        self.totals.add_sent(n);
    }

    /// `n` bytes arrived on one of the connection's sockets or TURN streams.
    pub fn wire_received(&self, n: usize) {
        self.bytes_received.fetch_add(n as u64, Ordering::Relaxed);
        self.totals.add_received(n);
    }

    pub fn set_retransmissions(&self, n: u64) {
        self.retransmissions.store(n, Ordering::Relaxed);
    }

    pub fn publish_ice(&self, view: IceView) {
        self.snapshot().ice = view;
    }

    pub fn publish_cipher(&self, name: String) {
        self.snapshot().dtls_cipher = Some(name);
    }

    /// The connection became CONNECTED at `now` (only the first time counts).
    pub fn connected(&self, now: Instant) {
        if let Some(started) = self.started.get() {
            let mut s = self.snapshot();
            if s.connected_after.is_none() {
                s.connected_after = Some(now.saturating_duration_since(*started));
            }
        }
    }

    pub fn publish_servers(&self, servers: Vec<ServerReport>) {
        self.snapshot().servers = servers;
    }

    /// The error that ended the connection (the first one only).
    pub fn ended_with(&self, error: ConnectionError) {
        self.snapshot().error.get_or_insert(error);
    }

    // ----- written by the handle -----------------------------------------------------------

    /// The application started the connection now (the first call counts).
    pub fn start(&self, now: Instant) {
        let _ = self.started.set(now);
    }

    // ----- read by the handle --------------------------------------------------------------

    /// Everything but the channels, which the handle adds.
    pub fn stats(&self) -> Stats {
        let traffic = self.traffic.counts();
        let s = self.snapshot();
        Stats {
            rtt: s.ice.rtt,
            bytes_sent: self.bytes_sent.load(Ordering::Relaxed),
            bytes_received: self.bytes_received.load(Ordering::Relaxed),
            messages_sent: traffic.messages_sent,
            messages_received: traffic.messages_received,
            retransmissions: self.retransmissions.load(Ordering::Relaxed),
            selected_pair: s.ice.selected.as_ref().map(PairEnds::selected),
            dtls_cipher: s.dtls_cipher.clone(),
            sctp_cwnd: None,
            connected_after: s.connected_after,
            channels: Vec::new(),
        }
    }

    pub fn failure_report(&self) -> FailureReport {
        let s = self.snapshot();
        let mut pairs = s.ice.pairs.clone();
        // ICE gave up on every pair it was still checking when it failed (rtc-ice forgets
        // its pairs then, so the last picture shows them in progress).
        if s.error.as_ref().map(|e| e.reason) == Some(ErrorReason::NoCandidatePair) {
            for p in pairs.iter_mut() {
                if p.state == PairState::InProgress {
                    p.state = PairState::Failed;
                }
            }
        }
        FailureReport {
            error: s.error.clone(),
            servers: s.servers.clone(),
            pairs,
            pairs_omitted: s.ice.pairs_omitted,
            local_candidates: s.ice.local_candidates,
            remote_candidates: s.ice.remote_candidates,
        }
    }
}
