//! wss:// with a certificate made in the test: handshake, lobby and relay over TLS.

mod common;

use common::{local, start, tls_stream, try_connect_from, Client};
use serde_json::json;
use std::path::PathBuf;
use webrtc_rs_signaling::{tls, Config};

async fn tls_server() -> (common::Running, String) {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let (cert_pem, key_pem) = common::test_certificate();
    let cert = CertificateDer::from_pem_slice(cert_pem.as_bytes()).expect("certificate PEM");
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("key PEM");
    let config = tls::config(vec![cert], key).expect("TLS config");
    let server = start(Config {
        tls: Some(config),
        ..Config::default()
    })
    .await;
    (server, cert_pem)
}

async fn wss_client(server: &common::Running, cert_pem: &str) -> Client {
    let stream = tls_stream(server.addr, cert_pem, "localhost")
        .await
        .expect("TLS handshake");
    Client::over(stream, &format!("wss://localhost:{}", server.addr.port())).await
}

#[tokio::test]
async fn lobby_and_relay_over_wss() {
    let (server, cert_pem) = tls_server().await;
    let mut host = wss_client(&server, &cert_pem).await;
    let code = host.create_random().await;
    let mut guest = wss_client(&server, &cert_pem).await;
    assert_eq!(guest.join(&code).await["id"], 2);
    assert_eq!(host.recv().await, json!({"type": "peer_joined", "id": 2}));
    let sdp = "v=0\r\na=fingerprint:sha-256 AB:CD\r\n";
    host.send(json!({"type": "offer", "to": 2, "sdp": sdp}))
        .await;
    assert_eq!(
        guest.recv().await,
        json!({"type": "offer", "from": 1, "sdp": sdp})
    );
    guest
        .send(json!({"type": "answer", "to": 1, "sdp": "answer"}))
        .await;
    assert_eq!(
        host.recv().await,
        json!({"type": "answer", "from": 2, "sdp": "answer"})
    );
}

#[tokio::test]
async fn plain_and_untrusted_clients_fail_without_disturbing_the_server() {
    let (server, cert_pem) = tls_server().await;
    // A ws:// client gets no WebSocket from a wss:// server.
    assert!(try_connect_from(server.addr, local(2)).await.is_err());
    // A client that does not trust the certificate refuses the handshake.
    let (other_cert, _) = common::test_certificate();
    assert!(tls_stream(server.addr, &other_cert, "localhost")
        .await
        .is_err());
    // A certificate for other names does not pass for this one.
    assert!(tls_stream(server.addr, &cert_pem, "example.org")
        .await
        .is_err());
    let mut client = wss_client(&server, &cert_pem).await;
    assert_eq!(client.create("").await["id"], 1);
}

/// A scratch directory in the system temp directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("signaling-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn certificate_and_key_load_from_pem_files() {
    let scratch = Scratch::new("pem");
    let (cert_pem, key_pem) = common::test_certificate();
    let cert = scratch.0.join("fullchain.pem");
    let key = scratch.0.join("privkey.pem");
    std::fs::write(&cert, &cert_pem).expect("write cert");
    std::fs::write(&key, &key_pem).expect("write key");
    assert!(tls::load(&cert, &key).is_ok());

    let missing = scratch.0.join("missing.pem");
    let error = tls::load(&missing, &key).err().unwrap_or_default();
    assert!(error.contains("cannot read the certificate"), "{error}");
    let error = tls::load(&key, &key).err().unwrap_or_default();
    assert!(error.contains("holds no PEM certificate"), "{error}");
    let error = tls::load(&cert, &cert).err().unwrap_or_default();
    assert!(error.contains("cannot read a private key"), "{error}");
    // A key that does not match the certificate.
    let (_, other_key) = common::test_certificate();
    std::fs::write(&key, other_key).expect("write key");
    let error = tls::load(&cert, &key).err().unwrap_or_default();
    assert!(error.contains("do not make a TLS identity"), "{error}");
}
