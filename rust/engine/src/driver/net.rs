//! The operating system's side of a connection: the process-wide network thread, UDP sockets
//! and their readers, the local interface addresses, and DNS for ICE server names.

use crate::error::{Error, Result};
use crate::mdns::{MDNS_GROUP, MDNS_GROUP_IP};
use bytes::BytesMut;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{debug, warn};

const DNS_TIMEOUT: Duration = Duration::from_secs(3);

/// Kernel socket buffer size we ask for. The default (about 208 KiB on Linux) overflows during
/// an SCTP burst, and each drop costs rtc-sctp a retransmission timeout of at least 1 s
/// (see docs/benchmarks.md); libdatachannel asks for the same 1 MiB.
const SOCKET_BUFFER_BYTES: usize = 1 << 20;

/// (local socket, remote address, datagram), from the socket readers to the connection task.
pub(super) type Datagram = (SocketAddr, SocketAddr, BytesMut);

/// The process-wide network thread's runtime, once started.
static NET: OnceLock<std::result::Result<tokio::runtime::Handle, String>> = OnceLock::new();

/// Tasks alive on the network thread (0 before it started).
pub(super) fn alive_tasks() -> usize {
    match NET.get() {
        Some(Ok(handle)) => handle.metrics().num_alive_tasks(),
        _ => 0,
    }
}

/// The process-wide network thread, started on first use.
pub(super) fn runtime() -> Result<tokio::runtime::Handle> {
    NET.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("webrtc-rs-net".to_owned())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Err(format!("cannot start the network runtime: {e}")));
                        return;
                    }
                };
                let _ = tx.send(Ok(rt.handle().clone()));
                rt.block_on(std::future::pending::<()>());
            });
        match spawned {
            Ok(_) => rx
                .recv()
                .unwrap_or_else(|_| Err("the network thread exited".to_owned())),
            Err(e) => Err(format!("cannot start the network thread: {e}")),
        }
    })
    .clone()
    .map_err(Error::failed)
}

/// Name lookups under way in the process.
static NAME_LOOKUPS: AtomicUsize = AtomicUsize::new(0);

/// A place among the process's concurrent name lookups; given back when dropped.
pub(super) struct NameLookup(());

impl NameLookup {
    /// Takes a place if fewer than `limit` lookups are under way.
    pub fn start(limit: usize) -> Option<Self> {
        NAME_LOOKUPS
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()
            .map(|_| Self(()))
    }
}

impl Drop for NameLookup {
    fn drop(&mut self) {
        NAME_LOOKUPS.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Resolves `host` (a name or an IP literal) within [`DNS_TIMEOUT`]; empty if it cannot be.
pub(super) async fn resolve(host: &str, port: u16) -> Vec<SocketAddr> {
    match tokio::time::timeout(DNS_TIMEOUT, tokio::net::lookup_host((host, port))).await {
        Ok(Ok(addrs)) => addrs.collect(),
        Ok(Err(e)) => {
            debug!("cannot resolve {host:?}: {e}");
            Vec::new()
        }
        Err(_) => {
            debug!("resolving {host:?} timed out");
            Vec::new()
        }
    }
}

/// Binds a UDP socket on `ip`: a port the system picks, or the first free one of `range`
/// (inclusive) from a random start, so connections spread over the range and a restarted
/// game does not reuse the port its last session's remote may still send to. An error says
/// when every port of the range is taken.
pub(super) fn bind(ip: IpAddr, range: Option<(u16, u16)>) -> std::io::Result<UdpSocket> {
    let Some((begin, end)) = range else {
        return bind_port(ip, 0);
    };
    let count = u32::from(end) - u32::from(begin) + 1;
    let mut start = [0u8; 4];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut start)
        .map_err(|_| std::io::Error::other("the system random generator failed"))?;
    let start = u32::from_le_bytes(start) % count;
    for i in 0..count {
        let port = u32::from(begin) + (start + i) % count;
        let port = u16::try_from(port).unwrap_or(end);
        match bind_port(ip, port) {
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => continue,
            // Also refused: a privileged port; the next one will be too, so stop.
            other => return other,
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        format!("every UDP port of the range {begin}..={end} is in use on {ip}"),
    ))
}

fn bind_port(ip: IpAddr, port: u16) -> std::io::Result<UdpSocket> {
    let addr = SocketAddr::new(ip, port);
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    // Best effort: the kernel caps the sizes at its limits (net.core.rmem_max/wmem_max).
    if let Err(e) = sock.set_recv_buffer_size(SOCKET_BUFFER_BYTES) {
        debug!("SO_RCVBUF on {addr}: {e}");
    }
    if let Err(e) = sock.set_send_buffer_size(SOCKET_BUFFER_BYTES) {
        debug!("SO_SNDBUF on {addr}: {e}");
    }
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    UdpSocket::from_std(sock.into())
}

/// A UDP socket on `ip` with an ephemeral port, for one-shot mDNS queries.
pub(super) fn mdns_socket(ip: Ipv4Addr) -> std::io::Result<UdpSocket> {
    let sock = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    // RFC 6762 §11: mDNS packets go out with IP TTL 255 (the multicast default is 1).
    sock.set_multicast_ttl_v4(255)?;
    // A responder on this host (a browser on the same machine) hears the group through loopback.
    sock.set_multicast_loop_v4(true)?;
    if !ip.is_unspecified() {
        if let Err(e) = sock.set_multicast_if_v4(&ip) {
            debug!("IP_MULTICAST_IF {ip}: {e}");
        }
    }
    sock.set_nonblocking(true)?;
    sock.bind(&SocketAddr::new(ip.into(), 0).into())?;
    UdpSocket::from_std(sock.into())
}

/// An IPv4 UDP socket that may share its port with others (the system's mDNS responder).
fn shared_port_socket() -> std::io::Result<socket2::Socket> {
    let sock = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    sock.set_reuse_address(true)?;
    #[cfg(all(unix, not(any(target_os = "solaris", target_os = "illumos"))))]
    sock.set_reuse_port(true)?;
    Ok(sock)
}

/// A socket that hears what is sent to the mDNS group (224.0.0.251:5353) on the interface of
/// `ip` (the default one when unspecified). Browsers' responders (Chromium's, Firefox's) send
/// every answer there, a QU question's included, so a one-shot query's answer arrives here
/// and not on the query socket. Shares the port with the system's responder.
pub(super) fn mdns_group_socket(ip: Ipv4Addr) -> std::io::Result<UdpSocket> {
    let group = MDNS_GROUP_IP;
    let sock = shared_port_socket()?;
    // Bound to the group where the OS allows it, so unicast datagrams to port 5353 stay out.
    #[cfg(unix)]
    let bind = group;
    #[cfg(not(unix))]
    let bind = Ipv4Addr::UNSPECIFIED;
    sock.bind(&SocketAddr::new(bind.into(), MDNS_GROUP.port()).into())?;
    sock.join_multicast_v4(&group, &ip)?;
    sock.set_nonblocking(true)?;
    UdpSocket::from_std(sock.into())
}

/// The socket our names are answered from: port 5353 on every address (mDNS answers come from
/// that port, RFC 6762 §11), shared with the system's responder as browsers share it, TTL 255,
/// looped back to this host. It hears the group once [`join_mdns_group`] joined it on an
/// interface.
pub(super) fn mdns_responder_socket() -> std::io::Result<UdpSocket> {
    let sock = shared_port_socket()?;
    sock.set_multicast_ttl_v4(255)?;
    sock.set_multicast_loop_v4(true)?;
    sock.bind(&SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), MDNS_GROUP.port()).into())?;
    sock.set_nonblocking(true)?;
    UdpSocket::from_std(sock.into())
}

/// Joins the mDNS group on the interface of `ip` (the default one when unspecified).
pub(super) fn join_mdns_group(sock: &UdpSocket, ip: Ipv4Addr) -> std::io::Result<()> {
    sock.join_multicast_v4(MDNS_GROUP_IP, ip)
}

/// Sends `data` to the mDNS group out of the interface of `via` (the default one when `None`).
pub(super) async fn send_to_mdns_group(
    sock: &UdpSocket,
    via: Option<Ipv4Addr>,
    data: &[u8],
) -> std::io::Result<()> {
    socket2::SockRef::from(sock).set_multicast_if_v4(&via.unwrap_or(Ipv4Addr::UNSPECIFIED))?;
    sock.send_to(data, MDNS_GROUP).await.map(|_| ())
}

/// Reads datagrams from `sock` into the connection task's queue until the task is gone.
pub(super) async fn read_loop(sock: Arc<UdpSocket>, local: SocketAddr, tx: mpsc::Sender<Datagram>) {
    let mut buf = vec![0u8; 65536];
    loop {
        match sock.recv_from(&mut buf).await {
            Ok((n, peer)) => {
                if tx
                    .send((local, peer, BytesMut::from(&buf[..n])))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            // ICMP errors surface as ConnectionReset on some platforms: keep reading.
            Err(e) => debug!("recv on {local}: {e}"),
        }
    }
}

/// The network prefix length of the interface address `ip`, if the OS reports its netmask.
pub(super) fn prefix_len(ip: IpAddr) -> Option<u8> {
    let list = rtc_shared::ifaces::ifaces().ok()?;
    let iface = list
        .into_iter()
        .find(|i| i.addr.map(|a| a.ip()) == Some(ip))?;
    let ones = match iface.mask?.ip() {
        IpAddr::V4(m) => u32::from(m).leading_ones(),
        IpAddr::V6(m) => u128::from(m).leading_ones(),
    };
    u8::try_from(ones).ok()
}

/// Usable local addresses: not loopback, not link-local IPv6.
pub(super) fn interface_addresses() -> Vec<IpAddr> {
    let mut out = Vec::new();
    match rtc_shared::ifaces::ifaces() {
        Ok(list) => {
            for iface in list {
                let Some(addr) = iface.addr else { continue };
                let ip = addr.ip();
                let link_local_v6 =
                    matches!(ip, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80);
                if ip.is_loopback() || ip.is_unspecified() || link_local_v6 {
                    continue;
                }
                if !out.contains(&ip) {
                    out.push(ip);
                }
            }
        }
        Err(e) => warn!("cannot list network interfaces: {e}"),
    }
    out
}
