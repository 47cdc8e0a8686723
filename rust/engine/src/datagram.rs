//! A datagram on its way out, as the sans-IO layers queue it for the driver.

use bytes::BytesMut;
use std::net::SocketAddr;

/// A datagram to send from the local socket (or relayed address) `local` to `peer`.
#[derive(Debug, Clone)]
pub(crate) struct Transmit {
    pub local: SocketAddr,
    pub peer: SocketAddr,
    pub data: BytesMut,
}
