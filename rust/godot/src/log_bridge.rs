//! Routes `tracing` events (the engine) and `log` records (the rtc protocol crates) to one
//! sink, which the glue points at Godot's log: errors as errors, warnings as warnings, the rest
//! as plain lines only when Godot runs verbose (`--verbose`).
//! `WEBRTC_RS_LOG=off|error|warn|info|debug|trace` overrides the level.
//!
//! The rtc crates warn about routine protocol events ("no candidate pairs yet", DTLS server
//! name defaults) that a game developer cannot act on, and log every packet at debug level, so
//! their records are shown one level quieter: warnings as verbose lines, info at debug, debug
//! only with `WEBRTC_RS_LOG=trace`. Their errors stay errors. The engine's own warnings are
//! Godot warnings.
//!
//! Events may come from the engine's network thread, so the sink must be thread-safe and must
//! not touch Godot objects.

use std::fmt::{self, Write as _};
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// How a line is shown in Godot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
    Info,
}

/// One formatted line and where it came from.
#[derive(Debug, Clone, Copy)]
pub struct Line<'a> {
    pub severity: Severity,
    /// `[webrtc_rs] target: message key=value ...`
    pub text: &'a str,
    /// The emitting module, e.g. `webrtc_rs_engine::driver`.
    pub target: &'a str,
    pub file: Option<&'a str>,
    pub line: Option<u32>,
}

/// Where formatted lines go.
pub type Emit = fn(&Line<'_>);

/// The most detailed level shown: warnings and errors normally, debug when verbose, or what
/// the environment variable says.
pub fn max_level(verbose: bool, env: Option<&str>) -> LevelFilter {
    let from_env = env.and_then(|v| match v.trim().to_ascii_lowercase().as_str() {
        "off" => Some(LevelFilter::OFF),
        "error" => Some(LevelFilter::ERROR),
        "warn" | "warning" => Some(LevelFilter::WARN),
        "info" => Some(LevelFilter::INFO),
        "debug" => Some(LevelFilter::DEBUG),
        "trace" => Some(LevelFilter::TRACE),
        _ => None,
    });
    from_env.unwrap_or(if verbose {
        LevelFilter::DEBUG
    } else {
        LevelFilter::WARN
    })
}

fn severity(level: Level) -> Severity {
    match level {
        Level::ERROR => Severity::Error,
        Level::WARN => Severity::Warning,
        _ => Severity::Info,
    }
}

/// A `tracing` subscriber that formats each event as one line. Spans are ignored.
pub struct TracingBridge {
    max: LevelFilter,
    emit: Emit,
}

impl TracingBridge {
    /// A bridge showing events up to `max`, sent to `emit`.
    pub fn new(max: LevelFilter, emit: Emit) -> Self {
        TracingBridge { max, emit }
    }
}

struct LineVisitor {
    message: String,
    fields: String,
}

impl Visit for LineVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

/// `[webrtc_rs] target: message key=value ...`
pub fn format_event(event: &Event<'_>) -> String {
    let mut visitor = LineVisitor {
        message: String::new(),
        fields: String::new(),
    };
    event.record(&mut visitor);
    format!(
        "[webrtc_rs] {}: {}{}",
        event.metadata().target(),
        visitor.message,
        visitor.fields
    )
}

impl Subscriber for TracingBridge {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= self.max
    }
    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.max)
    }
    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _span: &Id, _values: &Record<'_>) {}
    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let metadata = event.metadata();
        let text = format_event(event);
        (self.emit)(&Line {
            severity: severity(*metadata.level()),
            text: &text,
            target: metadata.target(),
            file: metadata.file(),
            line: metadata.line(),
        });
    }
    fn enter(&self, _span: &Id) {}
    fn exit(&self, _span: &Id) {}
}

/// A `log` logger feeding the same sink (the rtc crates log through `log`).
pub struct LogBridge {
    max: log::LevelFilter,
    emit: Emit,
}

impl LogBridge {
    /// A bridge showing events up to `max`, sent to `emit`.
    pub fn new(max: LevelFilter, emit: Emit) -> Self {
        let max = match max {
            LevelFilter::OFF => log::LevelFilter::Off,
            LevelFilter::ERROR => log::LevelFilter::Error,
            LevelFilter::WARN => log::LevelFilter::Warn,
            LevelFilter::INFO => log::LevelFilter::Info,
            LevelFilter::DEBUG => log::LevelFilter::Debug,
            _ => log::LevelFilter::Trace,
        };
        LogBridge { max, emit }
    }
    /// The most detailed `log` level this bridge passes on.
    pub fn max(&self) -> log::LevelFilter {
        self.max
    }
}

/// The level a `log` record is shown at: one step quieter than the protocol crates say,
/// except errors.
fn log_level(level: log::Level) -> log::Level {
    match level {
        log::Level::Error => log::Level::Error,
        log::Level::Warn => log::Level::Info,
        log::Level::Info => log::Level::Debug,
        log::Level::Debug | log::Level::Trace => log::Level::Trace,
    }
}

impl log::Log for LogBridge {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        log_level(metadata.level()) <= self.max
    }
    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let severity = match record.level() {
            log::Level::Error => Severity::Error,
            _ => Severity::Info,
        };
        let text = format!("[webrtc_rs] {}: {}", record.target(), record.args());
        (self.emit)(&Line {
            severity,
            text: &text,
            target: record.target(),
            file: record.file(),
            line: record.line(),
        });
    }
    fn flush(&self) {}
}

/// Installs both bridges process-wide. Returns false if a subscriber or logger was already set.
pub fn install(max: LevelFilter, emit: Emit) -> bool {
    let tracing_ok = tracing::subscriber::set_global_default(TracingBridge::new(max, emit)).is_ok();
    let bridge = LogBridge::new(max, emit);
    let level = bridge.max();
    let log_ok = log::set_boxed_logger(Box::new(bridge)).is_ok();
    if log_ok {
        log::set_max_level(level);
    }
    tracing_ok && log_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    static LINES: Mutex<Vec<(Severity, String)>> = Mutex::new(Vec::new());

    fn capture(line: &Line<'_>) {
        if let Ok(mut lines) = LINES.lock() {
            lines.push((line.severity, line.text.to_string()));
        }
    }

    /// Sends one `log` record, as an rtc crate would.
    fn emit(logger: &LogBridge, level: log::Level, target: &str, message: &str) {
        log::Log::log(
            logger,
            &log::Record::builder()
                .level(level)
                .target(target)
                .args(format_args!("{message}"))
                .build(),
        );
    }

    #[test]
    fn levels_follow_verbosity_and_environment() {
        assert_eq!(max_level(false, None), LevelFilter::WARN);
        assert_eq!(max_level(true, None), LevelFilter::DEBUG);
        assert_eq!(max_level(false, Some("trace")), LevelFilter::TRACE);
        assert_eq!(max_level(true, Some("OFF")), LevelFilter::OFF);
        assert_eq!(max_level(false, Some("bogus")), LevelFilter::WARN);
    }

    #[test]
    fn tracing_and_log_events_reach_the_sink_with_their_severity() {
        let bridge = TracingBridge::new(LevelFilter::WARN, capture);
        tracing::subscriber::with_default(bridge, || {
            tracing::error!(peer = 3, "dtls failed");
            tracing::warn!("slow");
            tracing::info!("hidden unless verbose");
        });
        let logger = LogBridge::new(LevelFilter::WARN, capture);
        emit(
            &logger,
            log::Level::Error,
            "rtc_sctp",
            "association aborted",
        );
        emit(
            &logger,
            log::Level::Warn,
            "rtc_ice",
            "hidden: routine protocol warning",
        );
        emit(&logger, log::Level::Debug, "rtc_sctp", "hidden");
        let lines = LINES.lock().map(|l| l.clone()).unwrap_or_default();
        let ours: Vec<_> = lines
            .iter()
            .filter(|(_, l)| !l.contains("hidden"))
            .cloned()
            .collect();
        assert!(
            lines.iter().all(|(_, l)| !l.contains("hidden")),
            "{lines:?}"
        );
        assert!(ours.contains(&(
            Severity::Error,
            "[webrtc_rs] webrtc_rs::log_bridge::tests: dtls failed peer=3".to_string()
        )));
        assert!(ours.contains(&(
            Severity::Warning,
            "[webrtc_rs] webrtc_rs::log_bridge::tests: slow".to_string()
        )));
        assert!(ours.contains(&(
            Severity::Error,
            "[webrtc_rs] rtc_sctp: association aborted".to_string()
        )));
    }

    #[test]
    fn protocol_crate_warnings_show_when_verbose_as_info() {
        let logger = LogBridge::new(LevelFilter::DEBUG, capture);
        emit(
            &logger,
            log::Level::Warn,
            "rtc_dtls",
            "server name defaults to localhost",
        );
        emit(
            &logger,
            log::Level::Debug,
            "rtc_sctp",
            "hidden: per-packet detail",
        );
        let lines = LINES.lock().map(|l| l.clone()).unwrap_or_default();
        assert!(lines.contains(&(
            Severity::Info,
            "[webrtc_rs] rtc_dtls: server name defaults to localhost".to_string()
        )));
        assert!(
            lines.iter().all(|(_, l)| !l.contains("hidden")),
            "{lines:?}"
        );
    }
}
