//! `webrtc-rs-signaling`: the lobby signaling server (see the library docs for the protocol).

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;
use webrtc_rs_signaling::{Config, Server};

const USAGE: &str = "usage: webrtc-rs-signaling [options]

options:
  --bind ADDR           address to listen on (default 127.0.0.1; use 0.0.0.0 to accept other machines)
  --port N              TCP port (default 9080; 0 picks a free one)
  --max-lobbies N       lobbies that may exist at once (default 1024)
  --max-peers N         peers per lobby, host included (default 32)
  --idle-timeout SECS   drop clients silent this long, pongs included (default 60)
  --quiet               do not log connections and lobby events on stderr
  -h, --help            show this help

Prints `listening on ws://ADDR:PORT` on stdout once ready.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match parse_args(&args) {
        Ok(Some(config)) => config,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("webrtc-rs-signaling: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("webrtc-rs-signaling: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("webrtc-rs-signaling: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> Result<(), String> {
    let bind = config.bind;
    let server = Server::bind(config)
        .await
        .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    let addr = server
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    let mut stdout = std::io::stdout();
    // Tools wait for this line (and read the port from it), so flush it now.
    let _ = writeln!(stdout, "listening on ws://{addr}");
    let _ = stdout.flush();
    server
        .run()
        .await
        .map_err(|e| format!("server stopped: {e}"))
}

/// `Ok(None)` means help was asked for.
fn parse_args(args: &[String]) -> Result<Option<Config>, String> {
    let mut config = Config {
        verbose: true,
        ..Config::default()
    };
    let mut ip: IpAddr = config.bind.ip();
    let mut port: u16 = config.bind.port();
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let mut value = || rest.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--quiet" => config.verbose = false,
            "--bind" => {
                let text = value()?;
                ip = text
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse()
                    .map_err(|_| format!("--bind: {text:?} is not an IP address"))?;
            }
            "--port" => port = number(flag, value()?)?,
            "--max-lobbies" => config.limits.max_lobbies = positive(flag, value()?)?,
            "--max-peers" => config.limits.max_peers = positive(flag, value()?)?,
            "--idle-timeout" => {
                config.idle_timeout = Duration::from_secs(positive(flag, value()?)? as u64)
            }
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    config.bind = SocketAddr::new(ip, port);
    Ok(Some(config))
}

fn number<T: std::str::FromStr>(flag: &str, text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{flag}: {text:?} is not a valid number"))
}

fn positive(flag: &str, text: &str) -> Result<usize, String> {
    match number::<usize>(flag, text)? {
        0 => Err(format!("{flag} must be at least 1")),
        n => Ok(n),
    }
}
