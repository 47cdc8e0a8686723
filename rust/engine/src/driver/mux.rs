//! UDP mux (`PortConfig::udp_mux`): one UDP socket per local address (and port range) shared
//! by every connection of the process that asks for it, so a firewall needs one open port.
//!
//! One reader per shared socket hands each datagram to one connection:
//! - a STUN request by the local ufrag in its USERNAME (`local:remote`), which the
//!   connection's ICE agent then authenticates (MESSAGE-INTEGRITY) or drops;
//! - a STUN response by the transaction ID of a request the connection sent;
//! - everything else (DTLS, TURN data, STUN indications) by the remote address, which belongs
//!   to the first connection that sent to it: its remote candidates, the peer-reflexive
//!   addresses its ICE agent validated, its STUN and TURN servers.
//!
//! Datagrams from anyone else are dropped where they arrive, without allocating; a connection
//! whose queue is full loses the datagram rather than stalling the others. The tables hold a
//! bounded number of entries per connection (oldest first out) and lose a connection's
//! entries when it ends; the socket closes when the last connection using it ends.
//!
//! Two connections of the same process both using the mux on one address cannot talk to each
//! other (their datagrams would share one address pair); nor can two muxed connections
//! allocate on the same TURN server over UDP (a server tells allocations apart by the client's
//! address). See KNOWN_ISSUES.md.

use super::net::{self, Datagram};
use bytes::BytesMut;
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::debug;

/// Remote addresses one connection owns on a shared socket; the oldest goes first.
const MAX_REMOTES: usize = 256;
/// Outstanding STUN transactions remembered per connection; the oldest goes first.
const MAX_TRANSACTIONS: usize = 64;
/// Local ufrags per connection (one per ICE restart); the oldest goes first.
const MAX_UFRAGS: usize = 4;
const STUN_MAGIC: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];
const STUN_USERNAME: u16 = 0x0006;

type TransactionId = [u8; 12];
type Key = (IpAddr, Option<(u16, u16)>);

/// The shared sockets alive, by local address and port range.
fn registry() -> MutexGuard<'static, HashMap<Key, Weak<Shared>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<Key, Weak<Shared>>>> = OnceLock::new();
    REGISTRY
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// What one shared socket looks like from outside, for diagnostics and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpMuxInfo {
    /// The shared socket's address.
    pub local: SocketAddr,
    /// Connections using it.
    pub connections: usize,
    /// Entries in its routing tables (ufrags, remote addresses, STUN transactions).
    pub routes: usize,
    /// Datagrams dropped: from unknown sources, unparsable, or for a connection whose queue
    /// was full.
    pub dropped: u64,
}

/// Every shared socket of the process.
pub fn sockets() -> Vec<UdpMuxInfo> {
    let live: Vec<Arc<Shared>> = registry().values().filter_map(Weak::upgrade).collect();
    live.iter()
        .map(|s| {
            let r = s.routes();
            UdpMuxInfo {
                local: s.local,
                connections: r.conns.len(),
                routes: r.by_ufrag.len() + r.by_remote.len() + r.by_transaction.len(),
                dropped: r.dropped,
            }
        })
        .collect()
}

/// One shared socket: closed (its reader stopped) when the last [`Lease`] goes.
struct Shared {
    socket: Arc<UdpSocket>,
    local: SocketAddr,
    routes: Arc<Mutex<Routes>>,
    reader: JoinHandle<()>,
}

impl Shared {
    fn routes(&self) -> MutexGuard<'_, Routes> {
        self.routes.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.reader.abort();
        debug!("shared UDP socket {} closed", self.local);
    }
}

#[derive(Default)]
struct Routes {
    conns: HashMap<u64, Conn>,
    by_ufrag: HashMap<String, u64>,
    by_remote: HashMap<SocketAddr, u64>,
    by_transaction: HashMap<TransactionId, u64>,
    dropped: u64,
}

struct Conn {
    tx: mpsc::Sender<Datagram>,
    ufrags: VecDeque<String>,
    remotes: VecDeque<SocketAddr>,
    transactions: VecDeque<TransactionId>,
}

impl Routes {
    /// The connection a datagram from `peer` is for.
    fn route(&self, peer: SocketAddr, data: &[u8]) -> Option<&Conn> {
        let id = match stun_header(data) {
            Some((class, tid)) => match class {
                StunClass::Request => username_ufrag(data).and_then(|u| self.by_ufrag.get(u)),
                StunClass::Response => self
                    .by_transaction
                    .get(tid)
                    .or_else(|| self.by_remote.get(&peer)),
                StunClass::Indication => self.by_remote.get(&peer),
            },
            None => self.by_remote.get(&peer),
        };
        id.copied().and_then(|id| self.conns.get(&id))
    }

    fn remove(&mut self, id: u64) {
        let Some(conn) = self.conns.remove(&id) else {
            return;
        };
        for u in conn.ufrags {
            if self.by_ufrag.get(&u) == Some(&id) {
                self.by_ufrag.remove(&u);
            }
        }
        for r in conn.remotes {
            if self.by_remote.get(&r) == Some(&id) {
                self.by_remote.remove(&r);
            }
        }
        for t in conn.transactions {
            if self.by_transaction.get(&t) == Some(&id) {
                self.by_transaction.remove(&t);
            }
        }
    }
}

/// One connection's use of a shared socket; its routes go when it is dropped.
pub(super) struct Lease {
    shared: Arc<Shared>,
    id: u64,
    /// Remote addresses already claimed (by this connection or another), to skip the lock.
    claimed: std::collections::HashSet<SocketAddr>,
}

impl Lease {
    /// Joins (or opens) the shared socket on `ip` in `range`; datagrams for the connection
    /// whose local ufrag is `ufrag` go to `tx`. Must run on the network thread.
    pub fn join(
        ip: IpAddr,
        range: Option<(u16, u16)>,
        ufrag: &str,
        tx: mpsc::Sender<Datagram>,
    ) -> std::io::Result<Self> {
        let shared = {
            let mut reg = registry();
            reg.retain(|_, w| w.strong_count() > 0);
            match reg.get(&(ip, range)).and_then(Weak::upgrade) {
                Some(s) => s,
                None => {
                    let socket = Arc::new(net::bind(ip, range)?);
                    let local = socket.local_addr()?;
                    let routes = Arc::new(Mutex::new(Routes::default()));
                    let reader = tokio::spawn(read_loop(socket.clone(), local, routes.clone()));
                    let s = Arc::new(Shared {
                        socket,
                        local,
                        routes,
                        reader,
                    });
                    reg.insert((ip, range), Arc::downgrade(&s));
                    debug!("shared UDP socket {local} opened");
                    s
                }
            }
        };
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        {
            let mut r = shared.routes();
            r.conns.insert(
                id,
                Conn {
                    tx,
                    ufrags: VecDeque::new(),
                    remotes: VecDeque::new(),
                    transactions: VecDeque::new(),
                },
            );
        }
        let lease = Self {
            shared,
            id,
            claimed: Default::default(),
        };
        lease.add_ufrag(ufrag);
        Ok(lease)
    }

    pub fn socket(&self) -> Arc<UdpSocket> {
        self.shared.socket.clone()
    }

    pub fn local(&self) -> SocketAddr {
        self.shared.local
    }

    /// STUN requests naming `ufrag` (after an ICE restart, the new one) come to this
    /// connection; it keeps its last few.
    pub fn add_ufrag(&self, ufrag: &str) {
        let mut r = self.shared.routes();
        if r.by_ufrag.contains_key(ufrag) {
            return;
        }
        let Some(conn) = r.conns.get_mut(&self.id) else {
            return;
        };
        conn.ufrags.push_back(ufrag.to_owned());
        let old = (conn.ufrags.len() > MAX_UFRAGS)
            .then(|| conn.ufrags.pop_front())
            .flatten();
        if let Some(old) = old {
            r.by_ufrag.remove(&old);
        }
        r.by_ufrag.insert(ufrag.to_owned(), self.id);
    }

    /// The connection sends `data` to `peer`: what comes from `peer` (unless another
    /// connection claimed it first) and the answer to a STUN request are for it.
    pub fn sending(&mut self, peer: SocketAddr, data: &[u8]) {
        let request = matches!(stun_header(data), Some((StunClass::Request, _)));
        if !request && self.claimed.contains(&peer) {
            return;
        }
        let id = self.id;
        let mut guard = self.shared.routes();
        let r = &mut *guard;
        let Some(conn) = r.conns.get_mut(&id) else {
            return;
        };
        if let Some((StunClass::Request, tid)) = stun_header(data) {
            if !r.by_transaction.contains_key(tid) {
                conn.transactions.push_back(*tid);
                r.by_transaction.insert(*tid, id);
                if conn.transactions.len() > MAX_TRANSACTIONS {
                    if let Some(old) = conn.transactions.pop_front() {
                        r.by_transaction.remove(&old);
                    }
                }
            }
        }
        if self.claimed.insert(peer) && !r.by_remote.contains_key(&peer) {
            r.by_remote.insert(peer, id);
            conn.remotes.push_back(peer);
            if conn.remotes.len() > MAX_REMOTES {
                if let Some(old) = conn.remotes.pop_front() {
                    r.by_remote.remove(&old);
                    self.claimed.remove(&old);
                }
            }
        }
        if self.claimed.len() > 2 * MAX_REMOTES {
            self.claimed.clear();
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.shared.routes().remove(self.id);
    }
}

/// Reads the shared socket and hands each datagram to its connection until aborted.
async fn read_loop(sock: Arc<UdpSocket>, local: SocketAddr, routes: Arc<Mutex<Routes>>) {
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, peer) = match sock.recv_from(&mut buf).await {
            Ok(got) => got,
            Err(e) => {
                debug!("recv on shared {local}: {e}");
                continue;
            }
        };
        let data = &buf[..n];
        let mut r = routes.lock().unwrap_or_else(|e| e.into_inner());
        let delivered = match r.route(peer, data) {
            Some(conn) => conn
                .tx
                .try_send((local, peer, BytesMut::from(data)))
                .is_ok(),
            None => false,
        };
        if !delivered {
            r.dropped += 1;
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StunClass {
    Request,
    Indication,
    Response,
}

/// The class and transaction ID of a STUN message (RFC 8489 §5: first two bits zero, the
/// magic cookie, a length that matches), or `None` for anything else.
fn stun_header(data: &[u8]) -> Option<(StunClass, &TransactionId)> {
    if data.len() < 20 || data[0] & 0xC0 != 0 || data[4..8] != STUN_MAGIC {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([data[2], data[3]]));
    if len + 20 != data.len() {
        return None;
    }
    let kind = u16::from_be_bytes([data[0], data[1]]);
    let class = match ((kind >> 4) & 1) | ((kind >> 7) & 2) {
        0 => StunClass::Request,
        1 => StunClass::Indication,
        _ => StunClass::Response,
    };
    let tid = data[8..20].try_into().ok()?;
    Some((class, tid))
}

/// The local part (before `:`) of a STUN message's USERNAME attribute.
fn username_ufrag(data: &[u8]) -> Option<&str> {
    let mut at = 20;
    while at + 4 <= data.len() {
        let kind = u16::from_be_bytes([data[at], data[at + 1]]);
        let len = usize::from(u16::from_be_bytes([data[at + 2], data[at + 3]]));
        let value = data.get(at + 4..at + 4 + len)?;
        if kind == STUN_USERNAME {
            let text = std::str::from_utf8(value).ok()?;
            return text.split(':').next();
        }
        at += 4 + len.next_multiple_of(4);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stun(kind: u16, tid: u8, attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (t, v) in attrs {
            body.extend(t.to_be_bytes());
            body.extend((v.len() as u16).to_be_bytes());
            body.extend(*v);
            body.resize(body.len().next_multiple_of(4), 0);
        }
        let mut m = kind.to_be_bytes().to_vec();
        m.extend((body.len() as u16).to_be_bytes());
        m.extend(STUN_MAGIC);
        m.extend([tid; 12]);
        m.extend(body);
        m
    }

    fn routes_with(ids: &[(u64, &str)]) -> (Routes, Vec<mpsc::Receiver<Datagram>>) {
        let mut r = Routes::default();
        let mut rxs = Vec::new();
        for (id, ufrag) in ids {
            let (tx, rx) = mpsc::channel(4);
            rxs.push(rx);
            r.conns.insert(
                *id,
                Conn {
                    tx,
                    ufrags: [ufrag.to_string()].into(),
                    remotes: VecDeque::new(),
                    transactions: VecDeque::new(),
                },
            );
            r.by_ufrag.insert(ufrag.to_string(), *id);
        }
        (r, rxs)
    }

    fn routed_to(r: &Routes, peer: &str, data: &[u8]) -> Option<u64> {
        let peer: SocketAddr = peer.parse().unwrap();
        let conn = r.route(peer, data)?;
        r.conns
            .iter()
            .find(|(_, c)| std::ptr::eq(*c, conn))
            .map(|(id, _)| *id)
    }

    #[test]
    fn requests_go_by_ufrag_responses_by_transaction_the_rest_by_address() {
        let (mut r, _rx) = routes_with(&[(1, "aaaa"), (2, "bbbb")]);
        let req = stun(0x0001, 9, &[(STUN_USERNAME, b"bbbb:remote")]);
        assert_eq!(routed_to(&r, "10.0.0.9:1", &req), Some(2));
        let unknown = stun(0x0001, 9, &[(STUN_USERNAME, b"cccc:remote")]);
        assert_eq!(routed_to(&r, "10.0.0.9:1", &unknown), None);
        let no_username = stun(0x0001, 9, &[]);
        assert_eq!(routed_to(&r, "10.0.0.9:1", &no_username), None);

        r.by_transaction.insert([5; 12], 1);
        r.by_remote.insert("10.0.0.9:1".parse().unwrap(), 2);
        assert_eq!(routed_to(&r, "10.0.0.9:1", &stun(0x0101, 5, &[])), Some(1));
        assert_eq!(routed_to(&r, "10.0.0.9:1", &stun(0x0101, 6, &[])), Some(2));
        assert_eq!(routed_to(&r, "10.0.0.9:1", b"\x16dtls"), Some(2));
        assert_eq!(routed_to(&r, "10.0.0.9:2", b"\x16dtls"), None);
        assert_eq!(routed_to(&r, "10.0.0.9:2", &stun(0x0101, 6, &[])), None);
    }

    #[test]
    fn malformed_stun_is_not_parsed() {
        let mut m = stun(0x0001, 1, &[(STUN_USERNAME, b"aaaa:b")]);
        assert!(stun_header(&m).is_some());
        m.push(0);
        assert!(stun_header(&m).is_none(), "length mismatch");
        let mut m = stun(0x0001, 1, &[(STUN_USERNAME, b"aaaa:b")]);
        m[23] = 200; // the attribute claims more than there is
        assert_eq!(username_ufrag(&m), None);
        assert_eq!(username_ufrag(&[0; 19]), None);
        assert!(stun_header(&[0; 19]).is_none());
    }

    /// A connection that sends to ever more addresses (and STUN requests to each) holds at
    /// most its share of routes; its socket closes with it.
    #[test]
    fn a_connection_holds_a_bounded_number_of_routes() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (tx, _rx) = mpsc::channel(4);
            let ip: IpAddr = [127, 0, 0, 1].into();
            let mut lease = Lease::join(ip, None, "boundedufrag", tx).expect("shared socket");
            let local = lease.local();
            for i in 0..2000u32 {
                let peer = SocketAddr::from(([10, 0, (i >> 8) as u8, i as u8], 9));
                lease.sending(peer, b"\x17dtls");
                lease.sending(peer, &stun(0x0001, i as u8, &[]));
            }
            lease.add_ufrag("second");
            let info = sockets().into_iter().find(|m| m.local == local).unwrap();
            assert_eq!(info.connections, 1);
            assert!(
                info.routes <= MAX_UFRAGS + MAX_REMOTES + MAX_TRANSACTIONS,
                "{info:?}"
            );
            drop(lease);
            assert!(sockets().iter().all(|m| m.local != local));
        });
    }

    #[test]
    fn removing_a_connection_removes_only_its_routes() {
        let (mut r, _rx) = routes_with(&[(1, "aaaa"), (2, "bbbb")]);
        let peer: SocketAddr = "10.0.0.9:1".parse().unwrap();
        r.by_remote.insert(peer, 2);
        r.conns.get_mut(&2).unwrap().remotes.push_back(peer);
        r.conns.get_mut(&1).unwrap().remotes.push_back(peer);
        r.remove(1);
        assert_eq!(r.by_remote.get(&peer), Some(&2));
        assert_eq!(r.by_ufrag.len(), 1);
        r.remove(2);
        assert!(r.by_remote.is_empty() && r.by_ufrag.is_empty() && r.conns.is_empty());
    }
}
