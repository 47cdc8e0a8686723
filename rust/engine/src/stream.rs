//! Connections to TURN servers over TCP (`turn:...?transport=tcp`) and TLS (`turns:`). TURN
//! messages on a stream are self-delimiting (RFC 8656 §12.5): a STUN message is its 20-byte
//! header plus the length it announces, ChannelData its 4-byte header plus the length padded
//! to 4 bytes. The reader splits the stream into those frames and hands each to the connection
//! task as if it were a datagram from the server; the writer writes what the TURN client sends.

use bytes::{Buf, BytesMut};
use rustls::pki_types::ServerName;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::debug;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const STUN_HEADER: usize = 20;
const CHANNEL_DATA_HEADER: usize = 4;

/// An open stream to a TURN server.
pub(crate) struct StreamConn {
    /// The stream's local address: the TURN client's `local_addr`, and the key under which
    /// frames from the server are delivered.
    pub local: SocketAddr,
    /// What to write to the server (whole TURN messages).
    pub writer: mpsc::UnboundedSender<BytesMut>,
    /// The reader and writer tasks; aborting them closes the stream.
    pub tasks: Vec<JoinHandle<()>>,
}

/// The TLS client configuration for `turns:`, built once per process: roots from the platform
/// store (`SSL_CERT_FILE`/`SSL_CERT_DIR` override it), else the bundled webpki roots.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            let native = rustls_native_certs::load_native_certs();
            for e in &native.errors {
                debug!("platform certificate store: {e}");
            }
            let (added, _) = roots.add_parsable_certificates(native.certs);
            if added == 0 {
                debug!("no platform root certificates; using the bundled webpki roots");
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("cannot configure TLS: {e}"))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Ok(Arc::new(config))
        })
        .clone()
}

/// Connects from `local_ip` to `server` (TLS on top, checking the certificate against
/// `tls_name`, if given) and starts the reader, which sends `(local, server, frame)` into
/// `frames`.
pub(crate) async fn connect(
    local_ip: IpAddr,
    server: SocketAddr,
    tls_name: Option<String>,
    frames: mpsc::Sender<(SocketAddr, SocketAddr, BytesMut)>,
) -> Result<StreamConn, String> {
    let tls_name = match tls_name {
        Some(host) => Some(
            ServerName::try_from(host.clone())
                .map_err(|e| format!("{host:?} is not a valid TLS server name: {e}"))?,
        ),
        None => None,
    };
    let socket = if server.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(|e| format!("cannot create a TCP socket: {e}"))?;
    socket
        .bind(SocketAddr::new(local_ip, 0))
        .map_err(|e| format!("cannot bind a TCP socket on {local_ip}: {e}"))?;
    let tcp = match tokio::time::timeout(CONNECT_TIMEOUT, socket.connect(server)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(format!("cannot connect: {e}")),
        Err(_) => return Err("connection timed out".to_owned()),
    };
    let _ = tcp.set_nodelay(true);
    let local = tcp
        .local_addr()
        .map_err(|e| format!("no local address: {e}"))?;
    let (tx, rx) = mpsc::unbounded_channel();
    let tasks = match tls_name {
        None => {
            let (r, w) = tcp.into_split();
            spawn_halves(r, w, rx, local, server, frames)
        }
        Some(name) => {
            // Reading the platform store is blocking file I/O: keep it off the network thread.
            let config = tokio::task::spawn_blocking(tls_config)
                .await
                .map_err(|e| format!("cannot configure TLS: {e}"))??;
            let connector = tokio_rustls::TlsConnector::from(config);
            let stream =
                match tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, tcp)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => return Err(format!("TLS handshake failed: {e}")),
                    Err(_) => return Err("TLS handshake timed out".to_owned()),
                };
            let (r, w) = tokio::io::split(stream);
            spawn_halves(r, w, rx, local, server, frames)
        }
    };
    Ok(StreamConn {
        local,
        writer: tx,
        tasks,
    })
}

fn spawn_halves<R, W>(
    reader: R,
    writer: W,
    outgoing: mpsc::UnboundedReceiver<BytesMut>,
    local: SocketAddr,
    server: SocketAddr,
    frames: mpsc::Sender<(SocketAddr, SocketAddr, BytesMut)>,
) -> Vec<JoinHandle<()>>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    vec![
        tokio::spawn(read_loop(reader, local, server, frames)),
        tokio::spawn(write_loop(writer, outgoing, server)),
    ]
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut w: W,
    mut outgoing: mpsc::UnboundedReceiver<BytesMut>,
    server: SocketAddr,
) {
    while let Some(data) = outgoing.recv().await {
        if let Err(e) = async {
            w.write_all(&data).await?;
            w.flush().await
        }
        .await
        {
            debug!("write to TURN server {server} failed: {e}");
            return;
        }
    }
    let _ = w.shutdown().await;
}

async fn read_loop<R: AsyncRead + Unpin>(
    mut r: R,
    local: SocketAddr,
    server: SocketAddr,
    frames: mpsc::Sender<(SocketAddr, SocketAddr, BytesMut)>,
) {
    let mut buf = BytesMut::with_capacity(8192);
    loop {
        loop {
            match next_frame(&mut buf) {
                Ok(Some(frame)) => {
                    if frames.send((local, server, frame)).await.is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(why) => {
                    debug!("TURN server {server} sent {why}; closing the connection");
                    return;
                }
            }
        }
        match r.read_buf(&mut buf).await {
            Ok(0) => {
                debug!("TURN server {server} closed the connection");
                return;
            }
            Ok(_) => {}
            Err(e) => {
                debug!("read from TURN server {server} failed: {e}");
                return;
            }
        }
    }
}

/// Takes one whole TURN message off the front of `buf`; `None` if more bytes are needed.
/// ChannelData padding is consumed but not returned.
fn next_frame(buf: &mut BytesMut) -> Result<Option<BytesMut>, String> {
    if buf.len() < CHANNEL_DATA_HEADER {
        return Ok(None);
    }
    let len = u16::from_be_bytes([buf[2], buf[3]]) as usize;
    let (frame_len, consumed) = match buf[0] {
        0..=3 => (STUN_HEADER + len, STUN_HEADER + len),
        0x40..=0x7f => {
            let frame = CHANNEL_DATA_HEADER + len;
            (frame, frame.next_multiple_of(4))
        }
        other => return Err(format!("a frame starting with byte {other:#04x}")),
    };
    if buf.len() < consumed {
        return Ok(None);
    }
    let frame = buf.split_to(frame_len);
    buf.advance(consumed - frame_len);
    Ok(Some(frame))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_stun_and_padded_channel_data() {
        let mut buf = BytesMut::new();
        // STUN header announcing 4 attribute bytes.
        buf.extend_from_slice(&[0x01, 0x01, 0x00, 0x04]);
        buf.extend_from_slice(&[0u8; 16]);
        buf.extend_from_slice(&[9, 9, 9, 9]);
        // ChannelData with 5 bytes of data, padded to 8.
        buf.extend_from_slice(&[0x40, 0x00, 0x00, 0x05, 1, 2, 3, 4, 5, 0, 0, 0]);
        // The start of another message.
        buf.extend_from_slice(&[0x40, 0x01]);
        let stun = next_frame(&mut buf).unwrap().unwrap();
        assert_eq!(stun.len(), 24);
        let cd = next_frame(&mut buf).unwrap().unwrap();
        assert_eq!(&cd[..], &[0x40, 0x00, 0x00, 0x05, 1, 2, 3, 4, 5]);
        assert!(next_frame(&mut buf).unwrap().is_none());
        assert_eq!(buf.len(), 2);
        let mut junk = BytesMut::from(&[0xffu8, 0, 0, 0][..]);
        assert!(next_frame(&mut junk).is_err());
    }
}
