//! Project commands: `cargo xtask addon | test | demo | interop | bench | bench-signaling`.
//!
//! `addon` builds the release library and stages it into `addons/webrtc_rs/bin/`; `test` runs
//! every test the project has, installing what the tests need on a fresh machine; `demo` runs
//! the multiplayer demo through the signaling server.

mod addon;
mod bench;
mod bench_signaling;
mod cmd;
mod demo;
mod interop;
mod system;
mod test;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  addon [--debug]                 build the extension and stage it into addons/webrtc_rs/bin/
  test [--no-interop]             run every test (format, clippy, cargo tests, interop matrix)
  interop [--no-install] [--stacks aiortc,ndc,werift,chromium,firefox]
                                  install the other stacks, build webrtc-rs-peer, run the interop matrix
  demo [--headless] [--clients N] [--mesh] [--timeout SECS] [--tls]
                                  run the Godot multiplayer demo through the signaling server
                                  (--tls: over wss:// with a throwaway certificate)
  bench [--no-install] [--reps N] [--mib N] [--pairs ours:ours,ndc:ndc,...]
                                  speed and memory against libdatachannel; writes docs/benchmarks.md
  bench-signaling [--clients N] [--lobbies N] [--seconds S] [--rate R]
                                  the signaling server under load: relay latency, memory, CPU
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let result = match command.as_str() {
        "addon" => addon::run(rest),
        "test" => test::run(rest),
        "interop" => interop::run(rest),
        "demo" => demo::run(rest),
        "bench" => bench::run(rest),
        "bench-signaling" => bench_signaling::run(rest),
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command {other:?}\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}
