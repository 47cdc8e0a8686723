//! Helpers the CLI tests share.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::Sender;

/// Starts `command` (a `webrtc-rs-peer`, possibly wrapped) with piped stdin and stdout; a
/// thread sends each line it prints, parsed as JSON, on `lines` tagged with `index`.
pub fn spawn_peer(
    index: usize,
    command: &mut Command,
    lines: Sender<(usize, Value)>,
) -> (Child, ChildStdin) {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start webrtc-rs-peer");
    let stdout = child.stdout.take().expect("stdout is piped");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let value: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("peer {index} printed non-JSON ({e}): {line}"));
            if lines.send((index, value)).is_err() {
                break;
            }
        }
    });
    let stdin = child.stdin.take().expect("stdin is piped");
    (child, stdin)
}
