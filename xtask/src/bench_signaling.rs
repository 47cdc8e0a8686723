//! `cargo xtask bench-signaling`: the signaling server under a realistic load.
//!
//! Builds the release server and the `signaling-load` example, starts the server on
//! 127.0.0.1 with its default limits, runs the load (2,000 clients in 200 lobbies relaying
//! offers and candidates, each lobby from its own 127.10.x.y address) and prints relay latency
//! percentiles with the server's memory (Linux: resident set from /proc) and CPU time.

use crate::cmd;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const USAGE: &str = "usage: cargo xtask bench-signaling [--clients N (2000)] [--lobbies N (200)]
                                    [--seconds S (20)] [--rate MSGS_PER_CLIENT_PER_S (2)]";

pub fn run(args: &[String]) -> Result<(), String> {
    let mut passed = Vec::new();
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        match flag.as_str() {
            "--help" | "-h" => {
                println!("{USAGE}");
                return Ok(());
            }
            "--clients" | "--lobbies" | "--seconds" | "--rate" => {
                let value = rest
                    .next()
                    .ok_or_else(|| format!("bench-signaling: {flag} needs a value"))?;
                passed.push(flag.clone());
                passed.push(value.clone());
            }
            other => {
                return Err(format!(
                    "bench-signaling: unknown option {other:?}\n{USAGE}"
                ))
            }
        }
    }
    cmd::run(cmd::cargo().args([
        "build",
        "--release",
        "-p",
        "webrtc-rs-signaling",
        "--bin",
        "webrtc-rs-signaling",
        "--example",
        "signaling-load",
    ]))?;
    let release = target_dir().join("release");
    let mut server = Server::start(&release.join(exe("webrtc-rs-signaling")))?;
    let idle_rss = rss_kib(server.child.id());
    eprintln!("server at {} (pid {})", server.url, server.child.id());

    // Sample the server's memory while the load runs.
    let pid = server.child.id();
    let peak = Arc::new(AtomicU64::new(0));
    let running = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, running) = (peak.clone(), running.clone());
        std::thread::spawn(move || {
            while running.load(Ordering::Relaxed) {
                if let Some(rss) = rss_kib(pid) {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };

    let mut load = Command::new(release.join("examples").join(exe("signaling-load")))
        .arg("--url")
        .arg(&server.url)
        .args(&passed)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start signaling-load: {e}"))?;
    let stdout = load.stdout.take().ok_or("signaling-load has no stdout")?;
    let mut ready_rss = None;
    let mut ready_cpu = None;
    let mut result: Option<Value> = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(|e| format!("reading signaling-load: {e}"))?;
        if line == "READY" {
            ready_rss = rss_kib(pid);
            ready_cpu = cpu_seconds(pid);
            eprintln!("every client is in its lobby; relaying");
        } else if line.starts_with('{') {
            result = serde_json::from_str(&line).ok();
        }
    }
    let status = load
        .wait()
        .map_err(|e| format!("waiting for signaling-load: {e}"))?;
    let end_rss = rss_kib(pid);
    let end_cpu = cpu_seconds(pid);
    running.store(false, Ordering::Relaxed);
    let _ = sampler.join();
    server.stop();
    let result = result.ok_or("signaling-load printed no result")?;
    if !status.success() {
        return Err(format!("signaling-load failed ({status})"));
    }

    let f = |path: &[&str]| {
        let mut value = &result;
        for key in path {
            value = &value[*key];
        }
        value.as_f64().unwrap_or(f64::NAN)
    };
    let mib = |kib: Option<u64>| match kib {
        Some(kib) => format!("{:.1} MiB", kib as f64 / 1024.0),
        None => "n/a".into(),
    };
    let relay_s = f(&["relay_s"]);
    let cpu = match (ready_cpu, end_cpu) {
        (Some(start), Some(end)) if relay_s > 0.0 => {
            format!("{:.0}% of one core", 100.0 * (end - start) / relay_s)
        }
        _ => "n/a".into(),
    };
    println!();
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| clients / lobbies | {} / {} |",
        f(&["clients"]),
        f(&["lobbies"])
    );
    println!(
        "| setup: all connected and joined | {:.2} s (join p50 {:.1} ms, p99 {:.1} ms) |",
        f(&["setup_s"]),
        f(&["join_ms", "p50"]),
        f(&["join_ms", "p99"])
    );
    println!(
        "| relayed | {} of {} messages in {:.1} s ({:.0}/s) |",
        f(&["received"]),
        f(&["sent"]),
        relay_s,
        f(&["messages_per_s"])
    );
    println!(
        "| relay latency | p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms |",
        f(&["latency_ms", "p50"]),
        f(&["latency_ms", "p99"]),
        f(&["latency_ms", "max"])
    );
    println!(
        "| server memory (RSS) | idle {}, all connected {}, after relaying {}, peak {} |",
        mib(idle_rss),
        mib(ready_rss),
        mib(end_rss),
        mib(Some(peak.load(Ordering::Relaxed)).filter(|p| *p > 0))
    );
    println!("| server CPU while relaying | {cpu} |");
    println!("| client errors | {} |", f(&["errors"]));
    if f(&["errors"]) > 0.0 {
        println!("first errors: {}", result["first_errors"]);
    }
    Ok(())
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| cmd::workspace_root().join("target"))
}

fn exe(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
}

/// Resident memory of `pid` in KiB (Linux only).
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// User plus system CPU time of `pid` in seconds (Linux only; 100 ticks a second).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// The server under test; killed on drop.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(binary: &std::path::Path) -> Result<Server, String> {
        let child = Command::new(binary)
            .args(["--bind", "127.0.0.1", "--port", "0", "--log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let mut server = Server {
            url: String::new(),
            child,
        };
        let stdout = server
            .child
            .stdout
            .take()
            .ok_or("the server has no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| format!("reading the server's address: {e}"))?;
        server.url = line
            .trim()
            .strip_prefix("listening on ")
            .ok_or_else(|| format!("unexpected first line from the server: {line:?}"))?
            .to_string();
        Ok(server)
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}
