//! A minimal STUN server for the tests: answers Binding requests with the source address.

use rtc_stun::message::{Message, BINDING_REQUEST, BINDING_SUCCESS};
use rtc_stun::xoraddr::XorMappedAddress;
use std::net::{IpAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A running server: its port, the flag that stops it, and how many requests it answered.
pub struct StunServer {
    pub port: u16,
    pub stop: Arc<AtomicBool>,
    pub answered: Arc<AtomicUsize>,
}

/// Starts a server on `ip` with an ephemeral port; it runs until `stop` is set.
pub fn start(ip: IpAddr) -> StunServer {
    let sock = UdpSocket::bind((ip, 0)).expect("bind the STUN server");
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .expect("read timeout");
    let port = sock.local_addr().expect("local address").port();
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let (stop2, answered2) = (stop.clone(), answered.clone());
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while !stop2.load(Ordering::Relaxed) {
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                continue;
            };
            let mut req = Message::new();
            if req.unmarshal_binary(&buf[..n]).is_err() || req.typ != BINDING_REQUEST {
                continue;
            }
            let mut resp = Message::new();
            resp.build(&[
                Box::new(BINDING_SUCCESS),
                Box::new(req.transaction_id),
                Box::new(XorMappedAddress {
                    ip: from.ip(),
                    port: from.port(),
                }),
            ])
            .expect("build the response");
            let _ = sock.send_to(&resp.raw, from);
            answered2.fetch_add(1, Ordering::Relaxed);
        }
    });
    StunServer {
        port,
        stop,
        answered,
    }
}
