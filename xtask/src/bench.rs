//! `cargo xtask bench`: speed and memory of our stack against libdatachannel, measured in the
//! same run by `bench/bench.py` (connection setup, bulk throughput, RSS, CPU per MiB) and
//! `bench/small.py` (small messages: rate, latency, CPU and datagrams per message) and
//! `bench/impaired_paths.py` (through the impairing relay: RTT, shallow queues, loss).
//!
//! Builds `webrtc-rs-peer` in release mode, installs node-datachannel under `.interop/node`
//! when it is missing (the same prefix `cargo xtask interop` uses), runs the benchmark and
//! writes its tables into `docs/benchmarks.md`.

use crate::cmd;
use std::process::Command;

const USAGE: &str = "usage: cargo xtask bench [--no-install] [--no-markdown] [bench.py options]
  bench.py options: --reps N (3), --mib N (64), --chunks 65536,1024,
                    --pairs ours:ours,ndc:ndc,ours:ndc,ndc:ours (SENDER:RECEIVER), --no-netns,
                    --small-sizes 64,200, --small-count N (200000), --game-seconds N (3),
                    --small-only, --no-small,
                    --impaired-only, --no-impaired, --impaired-reps N (3),
                    --impaired-rows I,J (indices of ROWS in bench/impaired_paths.py),
                    --no-unreliable";

/// Builds, installs what is missing and runs the benchmark; `Err` when something could not be
/// set up or a benchmark session failed (the tables are still printed and written).
pub fn run(args: &[String]) -> Result<(), String> {
    let mut install = true;
    let mut markdown = true;
    let mut passed: Vec<&String> = Vec::new();
    for arg in args {
        match arg.as_str() {
            "--no-install" => install = false,
            "--no-markdown" => markdown = false,
            "--help" | "-h" => {
                println!("{USAGE}");
                return Ok(());
            }
            _ => passed.push(arg),
        }
    }
    let root = cmd::workspace_root();
    if install {
        crate::interop::install_node_datachannel(&root)?;
    }
    cmd::run(cmd::cargo().args([
        "build",
        "--release",
        "-p",
        "webrtc-rs-peer",
        "-p",
        "impair-cli",
    ]))?;

    let mut bench = Command::new("python3");
    bench
        .current_dir(&root)
        .arg(root.join("bench").join("bench.py"));
    if markdown {
        bench
            .arg("--markdown")
            .arg(root.join("docs").join("benchmarks.md"));
    }
    bench.args(passed);
    cmd::run(&mut bench).map_err(|e| format!("benchmark failed: {e}"))
}
