//! Reading a child process's output line by line on a thread, as channel events.

use std::io::{BufRead, BufReader, Read};
use std::sync::mpsc::Sender;

/// Sends `make(Some(line))` for each line of `stream` (lossily decoded, without the newline),
/// then `make(None)` at its end. Stops early if the receiver is gone.
pub fn spawn_line_reader<R, E, F>(stream: R, tx: Sender<E>, make: F)
where
    R: Read + Send + 'static,
    E: Send + 'static,
    F: Fn(Option<String>) -> E + Send + 'static,
{
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&buf).trim_end().to_string();
                    if tx.send(make(Some(text))).is_err() {
                        return;
                    }
                }
            }
        }
        let _ = tx.send(make(None));
    });
}
