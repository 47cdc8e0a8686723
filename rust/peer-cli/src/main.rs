//! `webrtc-rs-peer`: one engine connection driven by line-delimited JSON on stdin/stdout, so a
//! test (or a person) can pair it with any other WebRTC stack. See `args::USAGE` and
//! `protocol` for the lines it reads and prints.

mod args;
mod crc32;
mod latency;
mod output;
mod protocol;
mod sdp;
mod session;

use output::Output;
use session::Session;
use std::io::BufRead;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use webrtc_rs_engine::{Config, IceServer, IceTransportPolicy, PeerConnection};

/// Why the main loop woke up.
enum Wake {
    Line(String),
    BadInput(String),
    EndOfInput,
    /// The engine has something new for `poll()`.
    Engine,
}

/// How often a running bulk send re-checks for room when nothing else happens.
const BULK_TICK: Duration = Duration::from_millis(5);
/// After closing, how long the process stays up so the close reaches the remote.
const CLOSE_GRACE: Duration = Duration::from_millis(500);

fn main() -> ExitCode {
    init_logging();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match args::parse(&args) {
        Ok(args::Parsed::Run(options)) => options,
        Ok(args::Parsed::Help) => {
            print!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("webrtc-rs-peer: {message}\n{}", args::USAGE);
            return ExitCode::from(2);
        }
    };
    match run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("webrtc-rs-peer: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(options: args::Options) -> Result<(), String> {
    let mut out = Output::default();
    let config = Config {
        bind_address: options.bind,
        mdns_host_candidates: options.mdns_host_candidates,
        ice_servers: options
            .ice_servers
            .iter()
            .map(|url| IceServer {
                urls: vec![url.clone()],
                username: options.ice_username.clone(),
                credential: options.ice_credential.clone(),
            })
            .collect(),
        ice_transport_policy: if options.relay_only {
            IceTransportPolicy::Relay
        } else {
            IceTransportPolicy::All
        },
        ..Config::default()
    };
    let mut pc = match PeerConnection::new(config) {
        Ok(pc) => pc,
        Err(e) => {
            let message = format!("creating the peer connection: {e}");
            out.emit(&protocol::error(&message));
            return Err(message);
        }
    };
    let (wake_tx, wake_rx) = mpsc::channel::<Wake>();

    // Coalesce engine notifications: one queued wake-up is enough until the next poll.
    let pending = Arc::new(AtomicBool::new(false));
    let notify_tx = wake_tx.clone();
    let notify_pending = Arc::clone(&pending);
    pc.set_notify(Some(Arc::new(move || {
        if !notify_pending.swap(true, Ordering::AcqRel) {
            let _ = notify_tx.send(Wake::Engine);
        }
    })));
    spawn_stdin_reader(wake_tx);

    let mut session = Session::new(pc, options, out);
    if let Err(message) = session.start() {
        session.report(&message);
        return Err(message);
    }
    session.pump();

    while !session.finished() {
        let wake = if session.wants_pump() {
            match wake_rx.recv_timeout(BULK_TICK) {
                Ok(wake) => Some(wake),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            }
        } else {
            match wake_rx.recv() {
                Ok(wake) => Some(wake),
                Err(_) => break,
            }
        };
        let mut next = wake;
        while let Some(wake) = next {
            match wake {
                Wake::Line(line) => session.handle_line(&line),
                Wake::BadInput(message) => session.report(&message),
                Wake::EndOfInput => session.close(),
                Wake::Engine => {}
            }
            if session.finished() {
                break;
            }
            next = wake_rx.try_recv().ok();
        }
        pending.store(false, Ordering::Release);
        session.pump();
    }

    // Keep the connection alive briefly so the close (DCEP/SCTP/DTLS) reaches the remote.
    let deadline = Instant::now() + CLOSE_GRACE;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let _ = wake_rx.recv_timeout(left);
        pending.store(false, Ordering::Release);
        session.pump();
    }
    Ok(())
}

/// Without `RUST_LOG`: our warnings and errors, and only errors from the rtc crates, whose
/// warnings are routine (e.g. every connection's "pingAllCandidates called with no candidate
/// pairs" before the remote candidates arrive).
const DEFAULT_LOG_FILTER: &str =
    "warn,rtc_ice=error,rtc_dtls=error,rtc_sctp=error,rtc_datachannel=error,rtc_stun=error,rtc_turn=error";

/// Engine logs (and the rtc crates' `log` records) go to stderr (stdout carries the protocol);
/// `RUST_LOG` sets the filter.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

/// Reads stdin on its own thread so the main loop can also wait for the engine.
fn spawn_stdin_reader(wake_tx: mpsc::Sender<Wake>) {
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut reader = stdin.lock();
        let mut buffer = Vec::new();
        loop {
            buffer.clear();
            match reader.read_until(b'\n', &mut buffer) {
                Ok(0) => break,
                Ok(_) => {
                    let wake = match String::from_utf8(std::mem::take(&mut buffer)) {
                        Ok(line) => Wake::Line(line),
                        Err(_) => Wake::BadInput("input line is not valid UTF-8".into()),
                    };
                    if wake_tx.send(wake).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = wake_tx.send(Wake::BadInput(format!("reading stdin: {e}")));
                    break;
                }
            }
        }
        let _ = wake_tx.send(Wake::EndOfInput);
    });
}
