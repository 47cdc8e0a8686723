//! Project commands: `cargo xtask addon | package | check-package | test | demo | interop |
//! bench | bench-signaling`.
//!
//! `addon` builds the library and stages it into `addons/webrtc_rs/`; `package` builds every
//! target this machine can build into the release zip (`targets.rs` is the table); `test` runs
//! every test the project has, installing what the tests need on a fresh machine; `demo` runs
//! the multiplayer demo through the signaling server.

mod addon;
mod apple;
mod bench;
mod bench_signaling;
mod cmd;
mod demo;
mod gdextension;
mod inspect;
mod interop;
mod notices;
mod package;
mod system;
mod targets;
mod test;
mod toolchains;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  addon [--debug] [--target T]... build the extension and stage it into addons/webrtc_rs/
                                  (no --target: this machine, plain cargo; --target: a row of
                                  xtask/src/targets.rs with its release toolchain)
  package [--no-build]            build every target this machine can build and write
                                  dist/webrtc_rs-<version>.zip (+ .sha256), then check it
                                  (--no-build: package what addons/webrtc_rs/bin/ holds)
  check-package <zip>             check a release zip: layout, listed files, exports, imports
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
        "package" => package::run(rest),
        "check-package" => inspect::run(rest),
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
