//! Real WebSocket clients (plain or TLS, from any 127.0.0.x address) against a real server
//! on 127.0.0.1.
#![allow(dead_code)] // each test file uses part of it

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{client_async, WebSocketStream};
use webrtc_rs_signaling::{Config, Server, Stats};

pub const WAIT: Duration = Duration::from_secs(5);

/// Any byte stream a client can run over.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A started server.
pub struct Running {
    pub addr: SocketAddr,
    pub stats: Stats,
}

pub async fn start(config: Config) -> Running {
    let server = Server::bind(Config {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..config
    })
    .await
    .expect("bind 127.0.0.1:0");
    let addr = server.local_addr().expect("local addr");
    let stats = server.stats();
    tokio::spawn(server.run());
    Running { addr, stats }
}

/// 127.0.0.`last`: on Linux all of 127.0.0.0/8 is loopback, so each is another client address.
pub fn local(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// A TCP connection to `server` from `from`.
pub async fn tcp_from(server: SocketAddr, from: IpAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(server).await
}

/// A client whose whole connection and handshake may fail (for refusal tests).
pub async fn try_connect_from(server: SocketAddr, from: IpAddr) -> Result<Client, String> {
    let stream = tcp_from(server, from).await.map_err(|e| e.to_string())?;
    let stream: Box<dyn Io> = Box::new(stream);
    match timeout(WAIT, client_async(format!("ws://{server}"), stream)).await {
        Ok(Ok((ws, _))) => Ok(Client { ws }),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("handshake timed out".into()),
    }
}

pub struct Client {
    pub ws: WebSocketStream<Box<dyn Io>>,
}

impl Client {
    pub async fn connect(server: SocketAddr) -> Client {
        Client::connect_from(server, local(1)).await
    }

    pub async fn connect_from(server: SocketAddr, from: IpAddr) -> Client {
        try_connect_from(server, from)
            .await
            .expect("WebSocket connect")
    }

    /// Over an already open stream (TLS, for instance) to `url`.
    pub async fn over(stream: Box<dyn Io>, url: &str) -> Client {
        let (ws, _) = client_async(url, stream)
            .await
            .expect("WebSocket handshake");
        Client { ws }
    }

    pub async fn send(&mut self, value: Value) {
        self.send_text(value.to_string()).await;
    }

    pub async fn send_text(&mut self, text: String) {
        self.ws.send(Message::text(text)).await.expect("send");
    }

    /// The next JSON message (pings are skipped).
    pub async fn recv(&mut self) -> Value {
        self.recv_within(WAIT).await
    }

    pub async fn recv_within(&mut self, limit: Duration) -> Value {
        loop {
            let frame = timeout(limit, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("a message within {limit:?}"))
                .expect("connection open")
                .expect("valid frame");
            match frame {
                Message::Text(text) => return serde_json::from_str(text.as_str()).expect("JSON"),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    /// Sends `value` and expects an error reply containing `needle`.
    pub async fn expect_error(&mut self, value: Value, needle: &str) {
        self.send(value).await;
        self.expect_error_reply(needle).await;
    }

    pub async fn expect_error_reply(&mut self, needle: &str) -> Value {
        let reply = self.recv().await;
        assert_eq!(reply["type"], "error", "{reply}");
        let message = reply["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
        reply
    }

    /// Nothing but pings arrives within `ms` milliseconds (pings are answered meanwhile).
    pub async fn expect_silence(&mut self, ms: u64) {
        let until = tokio::time::Instant::now() + Duration::from_millis(ms);
        loop {
            match tokio::time::timeout_at(until, self.ws.next()).await {
                Err(_) => return,
                Ok(Some(Ok(Message::Ping(_)))) => continue,
                Ok(other) => panic!("expected nothing, got {other:?}"),
            }
        }
    }

    /// The close code the server sends, reading past any other frame.
    pub async fn close_code(&mut self) -> Option<CloseCode> {
        loop {
            match timeout(WAIT, self.ws.next())
                .await
                .expect("close within 5 s")
            {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// Creates a lobby (`""`: a random code) and returns the `joined` reply.
    pub async fn create(&mut self, lobby: &str) -> Value {
        self.send(json!({"type": "create", "lobby": lobby})).await;
        let reply = self.recv().await;
        assert_eq!(reply["type"], "joined", "{reply}");
        reply
    }

    /// Creates a lobby with a random code and returns the code.
    pub async fn create_random(&mut self) -> String {
        let reply = self.create("").await;
        reply["lobby"].as_str().expect("code").to_string()
    }

    pub async fn join(&mut self, lobby: &str) -> Value {
        self.send(json!({"type": "join", "lobby": lobby})).await;
        let reply = self.recv().await;
        assert_eq!(reply["type"], "joined", "{reply}");
        reply
    }
}

/// A lobby of two honest clients that keep checking their relay works.
pub struct HonestLobby {
    pub host: Client,
    pub guest: Client,
    pub code: String,
    round: u64,
}

impl HonestLobby {
    /// Host and guest both from `from`.
    pub async fn open(server: SocketAddr, from: IpAddr) -> HonestLobby {
        let mut host = Client::connect_from(server, from).await;
        let code = host.create_random().await;
        let mut guest = Client::connect_from(server, from).await;
        assert_eq!(guest.join(&code).await["id"], 2);
        assert_eq!(host.recv().await, json!({"type": "peer_joined", "id": 2}));
        HonestLobby {
            host,
            guest,
            code,
            round: 0,
        }
    }

    /// An offer and its answer go through, each within `limit`.
    pub async fn exchange_within(&mut self, limit: Duration) {
        self.round += 1;
        let sdp = format!("v=0 round {}", self.round);
        self.host
            .send(json!({"type": "offer", "to": 2, "sdp": sdp}))
            .await;
        assert_eq!(
            self.guest.recv_within(limit).await,
            json!({"type": "offer", "from": 1, "sdp": sdp})
        );
        self.guest
            .send(json!({"type": "answer", "to": 1, "sdp": sdp}))
            .await;
        assert_eq!(
            self.host.recv_within(limit).await,
            json!({"type": "answer", "from": 2, "sdp": sdp})
        );
    }
}

/// The PEM of a self-signed certificate for `localhost` and 127.0.0.1, and its key.
pub fn test_certificate() -> (String, String) {
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let certified = rcgen::generate_simple_self_signed(names).expect("rcgen");
    (certified.cert.pem(), certified.signing_key.serialize_pem())
}

/// A TLS client stream to `server` trusting only `cert_pem`, for `name`.
pub async fn tls_stream(
    server: SocketAddr,
    cert_pem: &str,
    name: &str,
) -> std::io::Result<Box<dyn Io>> {
    use rustls_pki_types::pem::PemObject;
    let cert = rustls_pki_types::CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .expect("certificate PEM");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).expect("trust the test certificate");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tcp_from(server, local(1)).await?;
    let name = rustls_pki_types::ServerName::try_from(name.to_string()).expect("server name");
    let tls = connector.connect(name, tcp).await?;
    Ok(Box::new(tls))
}
