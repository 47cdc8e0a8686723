//! The connection's hidden host addresses on the network side (`Config::mdns_host_candidates`):
//! the random names given to the host candidates, and the socket on port 5353 that hears the
//! questions about them and sends the [`Responder`]'s answers, from the first name until the
//! connection ends (dropping this stops the answers).

use super::net::{self, Datagram};
use crate::candidate::{Announce, CandidateKind};
use crate::mdns::{Destination, Responder};
use ring::rand::{SecureRandom, SystemRandom};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, trace, warn};

pub(super) struct HiddenAddresses {
    responder: Responder,
    random: SystemRandom,
    /// The socket on port 5353 and its reader, once a name exists.
    socket: Option<(Arc<UdpSocket>, JoinHandle<()>)>,
    /// Interfaces (by IPv4 address) whose group the socket joined.
    joined: Vec<Ipv4Addr>,
    /// Where the socket's reader queues what it hears.
    queries: mpsc::Sender<Datagram>,
}

impl HiddenAddresses {
    pub fn new(queries: mpsc::Sender<Datagram>) -> Self {
        Self {
            responder: Responder::new(),
            random: SystemRandom::new(),
            socket: None,
            joined: Vec::new(),
            queries,
        }
    }

    /// How to announce our candidate of `kind` at `addr`: a host candidate under its name
    /// (made now if it is the address's first), the others without their base address.
    pub fn announce(&mut self, kind: CandidateKind, addr: SocketAddr) -> Announce {
        if kind != CandidateKind::Host {
            return Announce::Hidden { host_name: None };
        }
        let mut bytes = [0u8; 16];
        if self.random.fill(&mut bytes).is_err() {
            warn!("no randomness for an mDNS name; host candidate {addr} not announced");
            return Announce::Hidden { host_name: None };
        }
        // Without a netmask from the OS, the usual LAN subnet sizes.
        let prefix = net::prefix_len(addr.ip()).unwrap_or(if addr.is_ipv4() { 24 } else { 64 });
        let host_name = self.responder.name_for(addr.ip(), prefix, bytes);
        match &host_name {
            Some(name) => {
                debug!("host candidate {addr} announced as {name}");
                self.listen();
            }
            None => debug!("too many mDNS names; host candidate {addr} not announced"),
        }
        Announce::Hidden { host_name }
    }

    /// Opens the socket if needed and joins the group on the interfaces of our names.
    fn listen(&mut self) {
        if self.socket.is_none() {
            match net::mdns_responder_socket() {
                Ok(sock) => {
                    let sock = Arc::new(sock);
                    let local = sock
                        .local_addr()
                        .unwrap_or(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 5353)));
                    let reader = net::read_loop(sock.clone(), local, self.queries.clone());
                    self.socket = Some((sock, tokio::spawn(reader)));
                }
                Err(e) => {
                    return warn!(
                        "cannot open the mDNS responder socket (port 5353): {e}; \
                         our .local names will not be answered"
                    )
                }
            }
        }
        let Some((sock, _)) = &self.socket else {
            return;
        };
        let mut wanted: Vec<Ipv4Addr> = self.responder.ipv4_addresses().collect();
        if wanted.is_empty() {
            // IPv6 addresses only: their AAAA answers go out of the default interface.
            wanted.push(Ipv4Addr::UNSPECIFIED);
        }
        for ip in wanted {
            if self.joined.contains(&ip) {
                continue;
            }
            if let Err(e) = net::join_mdns_group(sock, ip) {
                // EADDRINUSE: another address of an interface already joined.
                debug!("joining the mDNS group on {ip}: {e}");
            }
            self.joined.push(ip);
        }
    }

    /// A datagram heard on port 5353.
    pub fn handle_query(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        if let Err(e) = self.responder.handle_query(now, from, data) {
            trace!("mDNS message from {from} not a question for us: {e:?}");
        }
    }

    pub async fn send_answers(&mut self) {
        let Some((sock, _)) = &self.socket else {
            return;
        };
        while let Some(answer) = self.responder.poll_answer() {
            let sent = match answer.to {
                Destination::Group { via } => {
                    net::send_to_mdns_group(sock, via, &answer.data).await
                }
                Destination::Unicast(to) => sock.send_to(&answer.data, to).await.map(|_| ()),
            };
            match sent {
                Ok(()) => debug!("answered an mDNS question for our name to {:?}", answer.to),
                Err(e) => debug!("mDNS answer to {:?} failed: {e}", answer.to),
            }
        }
    }
}

impl Drop for HiddenAddresses {
    fn drop(&mut self) {
        if let Some((_, reader)) = &self.socket {
            reader.abort();
        }
    }
}
