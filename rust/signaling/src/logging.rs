//! Logging that clients cannot flood: lines a client can cause pass through a [`LogGate`]
//! (a token bucket; what it holds back is counted and reported with the next line that
//! passes), and client text appears only as a short, escaped [`Snippet`].
//!
//! The server never logs while it holds its lobby lock: it decides what to log under the lock
//! and writes it after releasing it.

use crate::rate::{Rate, TokenBucket};
use std::fmt;
use std::sync::Mutex;
use std::time::Instant;

/// How many characters of client text a log line quotes.
pub const SNIPPET_CHARS: usize = 80;

/// Lines per second that client activity may cause, and the burst.
pub const CLIENT_LINES: Rate = Rate::new(20.0, 100.0);

/// At most [`SNIPPET_CHARS`] characters of `text`, escaped (no control characters or line
/// breaks reach the log), with the full length when cut.
pub struct Snippet<'a>(pub &'a str);

impl fmt::Display for Snippet<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut chars = self.0.char_indices();
        let cut = chars.nth(SNIPPET_CHARS).map(|(at, _)| at);
        let shown = &self.0[..cut.unwrap_or(self.0.len())];
        write!(f, "\"{}\"", shown.escape_debug())?;
        if cut.is_some() {
            write!(f, "... ({} bytes)", self.0.len())?;
        }
        Ok(())
    }
}

/// Shorthand for [`Snippet`].
pub fn snippet(text: &str) -> Snippet<'_> {
    Snippet(text)
}

/// Lets through a bounded rate of log lines and counts the rest.
pub struct LogGate {
    state: Mutex<GateState>,
}

struct GateState {
    bucket: TokenBucket,
    held_back: u64,
}

impl LogGate {
    /// A gate passing `rate` lines.
    pub fn new(rate: Rate) -> LogGate {
        LogGate {
            state: Mutex::new(GateState {
                bucket: TokenBucket::new(rate, Instant::now()),
                held_back: 0,
            }),
        }
    }

    /// `Some(n)` when a line may be written now, `n` being the lines held back since the last
    /// one that passed; `None` when this line must be dropped.
    pub fn pass(&self) -> Option<u64> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if state.bucket.take(1.0, Instant::now()).is_ok() {
            Some(std::mem::take(&mut state.held_back))
        } else {
            state.held_back += 1;
            None
        }
    }
}

/// Logs through a [`LogGate`] at a level: `gated!(gate, INFO, "format", args...)`. The gate
/// is asked only when the level is enabled; lines it held back before are reported in a
/// `suppressed` field.
#[macro_export]
macro_rules! gated {
    ($gate:expr, $level:ident, $($arg:tt)+) => {
        if tracing::enabled!(tracing::Level::$level) {
            if let Some(suppressed) = $gate.pass() {
                if suppressed > 0 {
                    tracing::event!(tracing::Level::$level, suppressed, $($arg)+);
                } else {
                    tracing::event!(tracing::Level::$level, $($arg)+);
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_are_short_and_escaped() {
        assert_eq!(snippet("abc").to_string(), "\"abc\"");
        assert_eq!(
            snippet("a\nb\u{1b}[31m").to_string(),
            "\"a\\nb\\u{1b}[31m\""
        );
        let long = "x".repeat(65_536);
        let shown = snippet(&long).to_string();
        assert!(shown.len() < 120, "{shown}");
        assert!(shown.ends_with("... (65536 bytes)"), "{shown}");
        // Multi-byte characters are never split.
        let wide = "é".repeat(100);
        assert!(snippet(&wide).to_string().contains("(200 bytes)"));
    }

    #[test]
    fn the_gate_passes_its_burst_then_counts() {
        let gate = LogGate::new(Rate::new(0.001, 3.0));
        assert_eq!(gate.pass(), Some(0));
        assert_eq!(gate.pass(), Some(0));
        assert_eq!(gate.pass(), Some(0));
        for _ in 0..5 {
            assert_eq!(gate.pass(), None);
        }
    }
}
