//! The connection's mDNS lookups on the network side: the one UDP socket it queries from
//! (opened with the first `.local` candidate), a socket on the mDNS group while names are
//! pending (browsers answer there, not to the query socket), their readers, and the candidates
//! the answers complete.

use super::net::{self, Datagram, NameLookup};
use crate::candidate;
use crate::mdns::{Querier, Refused, MDNS_GROUP};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, trace, warn};

/// A named remote candidate waiting for its address.
struct Pending {
    host: String,
    text: String,
    /// Its place among the process's lookups (`Limits::max_name_lookups`), held until done.
    _permit: NameLookup,
}

pub(super) struct MdnsLookups {
    querier: Querier<Pending>,
    bind_address: Option<IpAddr>,
    destination: SocketAddr,
    socket: Option<(Arc<UdpSocket>, JoinHandle<()>)>,
    /// The reader of the group socket (which it owns), while lookups are pending.
    group: Option<JoinHandle<()>>,
    /// Where the socket's reader queues the responses.
    responses: mpsc::Sender<Datagram>,
}

impl MdnsLookups {
    pub fn new(bind_address: Option<IpAddr>, responses: mpsc::Sender<Datagram>) -> Self {
        let aaaa = bind_address.is_none_or(|ip| ip.is_ipv6());
        Self {
            querier: Querier::new(aaaa),
            bind_address,
            destination: MDNS_GROUP,
            socket: None,
            group: None,
            responses,
        }
    }

    /// Where the queries go instead of the mDNS group (tests: a fake responder on loopback).
    pub fn set_destination(&mut self, destination: SocketAddr) {
        self.destination = destination;
    }

    /// Starts resolving `host`, the name in the candidate `text`.
    pub fn start(&mut self, now: Instant, host: String, text: String, permit: NameLookup) {
        if self.socket.is_none() {
            // IPv4 only: the group every mDNS responder listens on.
            let ip = match self.bind_address {
                Some(IpAddr::V4(ip)) => ip,
                _ => Ipv4Addr::UNSPECIFIED,
            };
            match net::mdns_socket(ip) {
                Ok(sock) => {
                    let sock = Arc::new(sock);
                    let local = sock.local_addr().unwrap_or(SocketAddr::new(ip.into(), 0));
                    let reader = net::read_loop(sock.clone(), local, self.responses.clone());
                    self.socket = Some((sock, tokio::spawn(reader)));
                }
                Err(e) => {
                    return warn!("cannot open the mDNS socket on {ip}: {e}; {host:?} ignored")
                }
            }
        }
        if self.group.is_none() {
            let ip = match self.bind_address {
                Some(IpAddr::V4(ip)) => ip,
                _ => Ipv4Addr::UNSPECIFIED,
            };
            self.group = self.listen_to_group(ip);
        }
        let name = host.clone();
        let pending = Pending {
            host,
            text,
            _permit: permit,
        };
        if let Err((why, pending)) = self.querier.start(now, &name, pending) {
            match why {
                Refused::Busy => debug!("too many mDNS lookups; {:?} ignored", pending.host),
                Refused::BadName => debug!("{:?} is not a DNS name; ignored", pending.host),
            }
        }
    }

    /// The reader of a new group socket on the interface of `ip`; None (answers then come only
    /// from responders that honour QU) when the OS refuses it.
    fn listen_to_group(&self, ip: Ipv4Addr) -> Option<JoinHandle<()>> {
        match net::mdns_group_socket(ip) {
            Ok(sock) => {
                let sock = Arc::new(sock);
                let local = sock.local_addr().unwrap_or(MDNS_GROUP);
                Some(tokio::spawn(net::read_loop(
                    sock,
                    local,
                    self.responses.clone(),
                )))
            }
            Err(e) => {
                debug!("cannot listen on the mDNS group on {ip}: {e}; only unicast answers heard");
                None
            }
        }
    }

    pub fn handle_response(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        if let Err(e) = self.querier.handle_response(now, data) {
            trace!("mDNS message from {from} ignored: {e:?}");
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.querier.handle_timeout(now);
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.querier.poll_timeout()
    }

    pub async fn send_queries(&mut self) {
        let Some((sock, _)) = &self.socket else {
            return;
        };
        while let Some(q) = self.querier.poll_transmit() {
            if let Err(e) = sock.send_to(&q, self.destination).await {
                debug!("mDNS query to {} failed: {e}", self.destination);
            }
        }
    }

    /// A candidate whose name was resolved, with the address in place of the name.
    pub fn poll_resolved(&mut self) -> Option<String> {
        while let Some(r) = self.querier.poll_result() {
            let usable = |a: &&IpAddr| self.bind_address.is_none_or(|b| b.is_ipv4() == a.is_ipv4());
            match r.addrs.iter().find(usable) {
                Some(addr) => {
                    debug!("{:?} is {addr}", r.tag.host);
                    return Some(candidate::with_address(&r.tag.text, *addr));
                }
                None if r.addrs.is_empty() => {
                    debug!("no mDNS answer for {:?}; candidate ignored", r.tag.host)
                }
                None => debug!(
                    "{:?} is {:?}, not an address we can reach; candidate ignored",
                    r.tag.host, r.addrs
                ),
            }
        }
        // Nothing pending: stop hearing the group (every answer on the link goes there).
        if self.querier.poll_timeout().is_none() {
            if let Some(reader) = self.group.take() {
                reader.abort();
            }
        }
        None
    }
}

impl Drop for MdnsLookups {
    fn drop(&mut self) {
        if let Some((_, reader)) = &self.socket {
            reader.abort();
        }
        if let Some(reader) = &self.group {
            reader.abort();
        }
    }
}
