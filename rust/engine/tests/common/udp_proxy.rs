//! A UDP relay on loopback between two peers, to take the path away from under a connection:
//! each peer is told the other is at one of the relay's ports (its trickled candidates are
//! rewritten), and the relay forwards, filters or swallows what they send.
#![allow(dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What the relay does with datagrams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// Forwards everything.
    Forward = 0,
    /// Forwards STUN and the DTLS handshake but drops DTLS application data records (SCTP):
    /// a remote whose DTLS completes and whose SCTP never answers.
    DropApplicationData = 1,
    /// Forwards nothing: the remote is gone (like `kill -9`: no close, no alert, silence).
    Drop = 2,
}

const DTLS_APPLICATION_DATA: u8 = 23;
const DTLS_RECORD_HEADER: usize = 13;

/// Where the two peers really are, learned from their candidates.
#[derive(Default)]
struct Targets {
    a: Option<SocketAddr>,
    b: Option<SocketAddr>,
}

struct Inner {
    /// Stands in for peer A: B sends here.
    for_a: UdpSocket,
    /// Stands in for peer B: A sends here.
    for_b: UdpSocket,
    targets: Mutex<Targets>,
    mode: AtomicU8,
    stop: AtomicBool,
    dropped_application_records: AtomicUsize,
}

pub struct UdpProxy {
    inner: Arc<Inner>,
    threads: Vec<JoinHandle<()>>,
}

impl UdpProxy {
    pub fn start(mode: Mode) -> Self {
        let bind = || {
            let s = UdpSocket::bind("127.0.0.1:0").expect("bind a relay socket on loopback");
            s.set_read_timeout(Some(Duration::from_millis(20)))
                .expect("set a read timeout");
            s
        };
        let inner = Arc::new(Inner {
            for_a: bind(),
            for_b: bind(),
            targets: Mutex::new(Targets::default()),
            mode: AtomicU8::new(mode as u8),
            stop: AtomicBool::new(false),
            dropped_application_records: AtomicUsize::new(0),
        });
        let threads = [true, false]
            .into_iter()
            .map(|from_a| {
                let inner = inner.clone();
                std::thread::spawn(move || inner.relay(from_a))
            })
            .collect();
        Self { inner, threads }
    }

    pub fn set_mode(&self, mode: Mode) {
        self.inner.mode.store(mode as u8, Ordering::Release);
    }

    /// DTLS application data records swallowed in [`Mode::DropApplicationData`].
    pub fn dropped_application_records(&self) -> usize {
        self.inner
            .dropped_application_records
            .load(Ordering::Acquire)
    }

    /// A candidate of peer A, rewritten to point at the relay (to give to B).
    pub fn candidate_from_a(&self, candidate: &str) -> String {
        self.rewrite(candidate, true)
    }

    /// A candidate of peer B, rewritten to point at the relay (to give to A).
    pub fn candidate_from_b(&self, candidate: &str) -> String {
        self.rewrite(candidate, false)
    }

    fn rewrite(&self, candidate: &str, from_a: bool) -> String {
        // candidate:FOUNDATION COMPONENT udp PRIORITY ADDRESS PORT typ ...
        let mut fields: Vec<String> = candidate.split_whitespace().map(str::to_owned).collect();
        assert!(fields.len() >= 8, "unexpected candidate {candidate:?}");
        let real: SocketAddr = format!("{}:{}", fields[4], fields[5])
            .parse()
            .expect("candidate address");
        let stand_in = if from_a {
            &self.inner.for_a
        } else {
            &self.inner.for_b
        };
        let stand_in = stand_in.local_addr().expect("relay address");
        {
            let mut t = self.inner.targets.lock().expect("targets");
            if from_a {
                t.a = Some(real);
            } else {
                t.b = Some(real);
            }
        }
        fields[4] = stand_in.ip().to_string();
        fields[5] = stand_in.port().to_string();
        fields.join(" ")
    }
}

impl Drop for UdpProxy {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::Release);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Inner {
    /// Forwards what one peer sends: from A (arriving on `for_b`) to B, sent from `for_a`, so
    /// B sees it come from A's stand-in; and the reverse.
    fn relay(&self, from_a: bool) {
        let (inbound, outbound) = if from_a {
            (&self.for_b, &self.for_a)
        } else {
            (&self.for_a, &self.for_b)
        };
        let mut buf = vec![0u8; 65536];
        while !self.stop.load(Ordering::Acquire) {
            let Ok((n, _)) = inbound.recv_from(&mut buf) else {
                continue;
            };
            let target = {
                let t = self.targets.lock().expect("targets");
                if from_a {
                    t.b
                } else {
                    t.a
                }
            };
            let Some(target) = target else { continue };
            let data = match self.mode.load(Ordering::Acquire) {
                m if m == Mode::Forward as u8 => buf[..n].to_vec(),
                m if m == Mode::DropApplicationData as u8 => {
                    match self.without_application_data(&buf[..n]) {
                        Some(d) => d,
                        None => continue,
                    }
                }
                _ => continue,
            };
            let _ = outbound.send_to(&data, target);
        }
    }

    /// The datagram without its DTLS application data records; `None` when nothing is left.
    /// STUN and anything that is not DTLS pass unchanged.
    fn without_application_data(&self, datagram: &[u8]) -> Option<Vec<u8>> {
        if !matches!(datagram.first(), Some(20..=63)) {
            return Some(datagram.to_vec());
        }
        let mut out = Vec::with_capacity(datagram.len());
        let mut rest = datagram;
        while rest.len() >= DTLS_RECORD_HEADER {
            let len = u16::from_be_bytes([rest[11], rest[12]]) as usize;
            let end = (DTLS_RECORD_HEADER + len).min(rest.len());
            if rest[0] == DTLS_APPLICATION_DATA {
                self.dropped_application_records
                    .fetch_add(1, Ordering::AcqRel);
            } else {
                out.extend_from_slice(&rest[..end]);
            }
            rest = &rest[end..];
        }
        (!out.is_empty()).then_some(out)
    }
}
