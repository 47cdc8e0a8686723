//! Printing protocol lines: one JSON value per line on stdout, flushed at once.

use serde_json::Value;
use std::io::Write;

/// Writes protocol lines to stdout. A closed stdout (the other end went away) is not an error
/// worth dying noisily for: it is remembered and the session ends.
#[derive(Debug, Default)]
pub struct Output {
    broken: bool,
}

impl Output {
    pub fn emit(&mut self, value: &Value) {
        if self.broken {
            return;
        }
        let mut stdout = std::io::stdout().lock();
        let written = serde_json::to_writer(&mut stdout, value)
            .map_err(std::io::Error::other)
            .and_then(|()| stdout.write_all(b"\n"))
            .and_then(|()| stdout.flush());
        if written.is_err() {
            self.broken = true;
        }
    }

    /// True once stdout could not be written.
    pub fn is_broken(&self) -> bool {
        self.broken
    }
}
