//! `cargo xtask demo --tls`: a throwaway certificate for `localhost` and 127.0.0.1, and a
//! blocking `wss://` transport that trusts only it.

use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The name the demo certificate is for.
pub const NAME: &str = "localhost";

/// Where the demo's certificate and key are written.
pub struct Certificate {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Makes a self-signed certificate for `localhost` and 127.0.0.1 in `dir`.
pub fn make_certificate(dir: &Path) -> Result<Certificate, String> {
    let names = vec![NAME.to_string(), "127.0.0.1".to_string()];
    let made = rcgen::generate_simple_self_signed(names)
        .map_err(|e| format!("cannot make a test certificate: {e}"))?;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, made.cert.pem())
        .map_err(|e| format!("cannot write {}: {e}", cert.display()))?;
    std::fs::write(&key, made.signing_key.serialize_pem())
        .map_err(|e| format!("cannot write {}: {e}", key.display()))?;
    Ok(Certificate { cert, key })
}

/// A byte stream the demo's WebSocket client runs over.
pub trait Transport: Read + Write + Send {
    /// Sets how long a read may block (`None`: forever).
    fn set_read_timeout(&self, timeout: Option<Duration>) -> std::io::Result<()>;
}

impl Transport for TcpStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> std::io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }
}

impl Transport for StreamOwned<ClientConnection, TcpStream> {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> std::io::Result<()> {
        self.sock.set_read_timeout(timeout)
    }
}

/// A TLS client over `tcp` trusting only the certificate in `trust` (PEM), for [`NAME`].
pub fn client(tcp: TcpStream, trust: &Path) -> Result<Box<dyn Transport>, String> {
    let cert = CertificateDer::from_pem_file(trust)
        .map_err(|e| format!("cannot read {}: {e}", trust.display()))?;
    let mut roots = RootCertStore::empty();
    roots
        .add(cert)
        .map_err(|e| format!("cannot trust {}: {e}", trust.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(NAME).map_err(|e| format!("TLS name: {e}"))?;
    let connection =
        ClientConnection::new(Arc::new(config), name).map_err(|e| format!("TLS setup: {e}"))?;
    Ok(Box::new(StreamOwned::new(connection, tcp)))
}
