//! What a flood of refused messages does to the log: few lines, each short, with the client's
//! text quoted only as an escaped prefix.

mod common;

use common::{local, start, Client, HonestLobby};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing_subscriber::fmt::MakeWriter;
use webrtc_rs_signaling::logging::CLIENT_LINES;
use webrtc_rs_signaling::{Config, Rate};

/// Collects everything logged.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

#[tokio::test]
async fn a_flood_of_refused_messages_logs_few_short_lines() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(capture.clone())
        .with_ansi(false)
        .finish();
    // The test runtime runs the server's tasks on this thread, so they log here.
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = start(Config {
        // Let the flood in at full speed: this test is about the log, not the message rate.
        message_rate: Rate::new(1e6, 1e6),
        ..Config::default()
    })
    .await;
    let mut honest = HonestLobby::open(server.addr, local(1)).await;
    let mut attacker = Client::connect_from(server.addr, local(2)).await;
    let started = Instant::now();
    const FLOOD: usize = 600;
    let secret = "\u{1b}[2J\nFAKE LOG LINE";
    for n in 0..FLOOD {
        // Unknown types, invalid JSON and bad codes, each up to 60 KiB of attacker text.
        let junk = format!("{secret}{}", "A".repeat(n * 100));
        let text = match n % 3 {
            0 => serde_json::json!({"type": junk}).to_string(),
            1 => format!("{{{junk}"),
            _ => serde_json::json!({"type": "join", "lobby": junk}).to_string(),
        };
        attacker.send_text(text).await;
        let reply = attacker.recv().await;
        assert_eq!(reply["type"], "error");
        assert!(
            reply.to_string().len() < 300,
            "the reply quotes little: {}",
            reply.to_string().len()
        );
    }
    honest.exchange_within(Duration::from_secs(1)).await;
    let elapsed = started.elapsed().as_secs_f64();

    let log = capture.text();
    let lines: Vec<&str> = log.lines().collect();
    let allowed = CLIENT_LINES.burst + CLIENT_LINES.per_sec * elapsed + 1.0;
    assert!(
        (lines.len() as f64) <= allowed + 10.0,
        "{} lines for {FLOOD} refusals in {elapsed:.1} s (gate allows {allowed:.0})",
        lines.len()
    );
    assert!(lines.len() >= 10, "refusals are logged at debug: {log}");
    let longest = lines.iter().map(|l| l.len()).max().unwrap_or(0);
    assert!(longest < 400, "a line of {longest} bytes");
    assert!(!log.contains('\u{1b}'), "control characters are escaped");
    assert!(
        log.contains("FAKE LOG"),
        "a prefix of the client text is quoted"
    );
    assert!(
        !lines.iter().any(|line| line.starts_with("FAKE LOG")),
        "no line break is injected"
    );
    assert!(!log.contains(&"A".repeat(200)), "but only a prefix");
    if (FLOOD as f64) > allowed {
        assert!(log.contains("suppressed"), "held-back lines are counted");
    }
}
