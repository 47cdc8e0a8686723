//! `impair-relay`: the impairing UDP relay of crate `impair` as a process, for runners that are
//! not Rust (the interop runner, benchmarks) and for trying a bad path by hand. It prints the
//! two relay addresses, then answers one JSON line for each JSON line it reads: candidates and
//! descriptions to point at the relay, changes of the impairment, cuts, counters. End of input
//! stops it. See [`USAGE`].

mod spec;

use impair::{Direction, End, Relay, Stats};
use serde_json::{json, Value};
use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: impair-relay [--seed N] [--both SPEC] [--a-to-b SPEC] [--b-to-a SPEC]

Relays UDP between two peers on 127.0.0.1, impairing each direction (A is the peer whose
candidates are given with \"from\":\"a\"). Prints {\"event\":\"ready\",\"a\":ADDR,\"b\":ADDR}, then
answers each line read on stdin with one line:
  {\"type\":\"candidate\",\"from\":\"a\"|\"b\",\"candidate\":LINE}  -> {\"event\":\"candidate\",\"candidate\":LINE|null}
      (null: a candidate the relay cannot carry, e.g. TCP; pass nothing on)
  {\"type\":\"sdp\",\"from\":\"a\"|\"b\",\"sdp\":SDP}              -> {\"event\":\"sdp\",\"sdp\":SDP}
  {\"type\":\"set\",\"direction\":\"a_to_b\"|\"b_to_a\"|\"both\",\"impairment\":SPEC} -> {\"event\":\"set\"}
  {\"type\":\"cut\",\"ms\":N}                                   -> {\"event\":\"cut\"} (both ways, from now)
  {\"type\":\"stats\"}                                         -> {\"event\":\"stats\",\"a_to_b\":{..},\"b_to_a\":{..}}
A line it cannot act on is answered {\"event\":\"error\",\"message\":...}.

";

/// Command-line options.
struct Options {
    seed: u64,
    a_to_b: impair::Impairment,
    b_to_a: impair::Impairment,
}

/// The options, or `None` for `--help`.
fn parse_args(args: &[String]) -> Result<Option<Options>, String> {
    let mut options = Options {
        seed: 1,
        a_to_b: Default::default(),
        b_to_a: Default::default(),
    };
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let mut value = || iter.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--seed" => {
                let text = value()?;
                options.seed = text
                    .parse()
                    .map_err(|_| format!("--seed needs a number, not {text:?}"))?;
            }
            "--both" => {
                let both = spec::parse(value()?).map_err(|e| format!("--both: {e}"))?;
                options.a_to_b = both.clone();
                options.b_to_a = both;
            }
            "--a-to-b" => {
                options.a_to_b = spec::parse(value()?).map_err(|e| format!("--a-to-b: {e}"))?
            }
            "--b-to-a" => {
                options.b_to_a = spec::parse(value()?).map_err(|e| format!("--b-to-a: {e}"))?
            }
            "--help" | "-h" => return Ok(None),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Some(options))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse_args(&args) {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{USAGE}{}", spec::SPEC_HELP);
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("impair-relay: {message}\n{USAGE}{}", spec::SPEC_HELP);
            return ExitCode::from(2);
        }
    };
    let relay = match Relay::start(options.a_to_b, options.b_to_a, options.seed) {
        Ok(relay) => relay,
        Err(e) => {
            eprintln!("impair-relay: cannot start the relay: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    let ready = json!({
        "event": "ready",
        "a": relay.address(End::A).to_string(),
        "b": relay.address(End::B).to_string(),
    });
    if writeln!(out, "{ready}").and_then(|()| out.flush()).is_err() {
        return ExitCode::FAILURE;
    }
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        let answer = handle(&relay, &line)
            .unwrap_or_else(|message| json!({"event": "error", "message": message}));
        if writeln!(out, "{answer}")
            .and_then(|()| out.flush())
            .is_err()
        {
            break;
        }
    }
    ExitCode::SUCCESS
}

/// The answer to one input line.
fn handle(relay: &Relay, line: &str) -> Result<Value, String> {
    let command: Value = serde_json::from_str(line).map_err(|e| format!("bad input line ({e})"))?;
    let text = |key: &str| -> Result<&str, String> {
        command[key]
            .as_str()
            .ok_or_else(|| format!("{:?} needs a string {key:?}", command["type"]))
    };
    let from = || -> Result<End, String> {
        match text("from")? {
            "a" => Ok(End::A),
            "b" => Ok(End::B),
            other => Err(format!("\"from\" must be \"a\" or \"b\", not {other:?}")),
        }
    };
    match command["type"].as_str() {
        Some("candidate") => {
            let rewritten = relay.rewrite_candidate(from()?, text("candidate")?);
            Ok(json!({"event": "candidate", "candidate": rewritten}))
        }
        Some("sdp") => Ok(json!({"event": "sdp", "sdp": relay.rewrite_sdp(from()?, text("sdp")?)})),
        Some("set") => {
            let impairment = spec::parse(text("impairment")?)?;
            let set = |d| relay.set(d, impairment.clone()).map_err(|e| e.to_string());
            match text("direction")? {
                "a_to_b" => set(Direction::AToB)?,
                "b_to_a" => set(Direction::BToA)?,
                "both" => {
                    set(Direction::AToB)?;
                    set(Direction::BToA)?;
                }
                other => return Err(format!("unknown direction {other:?}")),
            }
            Ok(json!({"event": "set"}))
        }
        Some("cut") => {
            let ms = command["ms"]
                .as_u64()
                .filter(|ms| *ms <= 3_600_000)
                .ok_or("cut needs \"ms\": 0 to 3600000")?;
            relay.cut(Duration::from_millis(ms));
            Ok(json!({"event": "cut"}))
        }
        Some("stats") => Ok(json!({
            "event": "stats",
            "a_to_b": stats(relay.stats(Direction::AToB)),
            "b_to_a": stats(relay.stats(Direction::BToA)),
        })),
        _ => Err(format!("unknown command type {:?}", command["type"])),
    }
}

fn stats(s: Stats) -> Value {
    json!({
        "received": s.received,
        "delivered": s.delivered,
        "lost": s.lost,
        "cut": s.cut,
        "queue_full": s.queue_full,
        "overflow": s.overflow,
        "undeliverable": s.undeliverable,
        "unsent": s.unsent,
        "duplicated": s.duplicated,
        "held_back": s.held_back,
    })
}
