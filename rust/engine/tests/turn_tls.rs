//! TURN over TLS (`turns:`) against a real coturn on loopback, with a certificate from a test
//! CA that this test binary trusts through `SSL_CERT_FILE` (read by the platform store
//! loader), so it has its own binary.

mod common;
use common::turn_server::*;
use common::*;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use std::path::PathBuf;
use std::sync::OnceLock;
use webrtc_rs_engine::*;

/// A test CA and a server certificate for `localhost` (DNS name only), written once per
/// process; the CA is made the trusted root store before any TLS connection is made.
fn certificates() -> &'static (PathBuf, PathBuf) {
    static FILES: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    FILES.get_or_init(|| {
        // Regenerated on every run, in cargo's scratch directory for integration tests.
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("turn-tls-certs");
        std::fs::create_dir_all(&dir).expect("create the certificate directory");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key"))
            .expect("CA certificate");
        let key = KeyPair::generate().expect("server key");
        let cert = CertificateParams::new(vec!["localhost".to_owned()])
            .expect("server params")
            .signed_by(&key, &ca)
            .expect("server certificate");
        let (ca_file, cert_file, key_file) = (
            dir.join("ca.pem"),
            dir.join("cert.pem"),
            dir.join("key.pem"),
        );
        std::fs::write(&ca_file, ca.pem()).expect("write the CA");
        std::fs::write(&cert_file, cert.pem()).expect("write the certificate");
        std::fs::write(&key_file, key.serialize_pem()).expect("write the key");
        std::env::set_var("SSL_CERT_FILE", &ca_file);
        (cert_file, key_file)
    })
}

fn tls_server() -> Option<TurnServer> {
    let (cert, key) = certificates();
    TurnServer::start_with(&[], false, Some((cert, key)))
}

fn turns_config(url: String) -> Config {
    Config {
        ice_servers: vec![user_ice_server(url, PASS)],
        ice_transport_policy: IceTransportPolicy::Relay,
        ..config()
    }
}

#[test]
fn relay_only_over_tls() {
    logs();
    let Some(server) = tls_server() else {
        return;
    };
    let Some(port) = server.tls_port else {
        panic!("no TLS port");
    };
    let url = format!("turns:localhost:{port}");
    let mut a = Peer::new(turns_config(url.clone()));
    let mut b = Peer::new(turns_config(url));
    let (ch, remote) = connect_relayed(&mut a, &mut b);
    exchange(&mut a, &mut b, &ch, &remote, "again");
}

#[test]
fn certificate_for_another_name_gives_no_relay() {
    logs();
    let Some(server) = tls_server() else {
        return;
    };
    let Some(port) = server.tls_port else {
        panic!("no TLS port");
    };
    // The certificate names `localhost`, not the IP address.
    let url = format!("turns:127.0.0.1:{port}");
    let mut a = Peer::new(turns_config(url.clone()));
    let (_ch, seen) = offer_and_gather(&mut a);
    assert!(seen.is_empty(), "{seen:?}");
    let errors = log_lines_with(&format!("TURN server {url}"));
    assert!(
        errors
            .iter()
            .any(|l| l.contains("ERROR") && l.contains("TLS handshake failed")),
        "no TLS error naming the server: {errors:?}"
    );
}
