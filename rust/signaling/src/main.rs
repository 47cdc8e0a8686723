//! `webrtc-rs-signaling`: the lobby signaling server (see the library docs for the protocol
//! and `--help` for the flags).

use std::io::Write;
use std::process::ExitCode;
use webrtc_rs_signaling::cli::{self, USAGE};
use webrtc_rs_signaling::{tls, Server};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut options = match cli::parse(&args) {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("webrtc-rs-signaling: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_max_level(options.log_level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    if let Some((cert, key)) = &options.tls {
        match tls::load(cert, key) {
            Ok(config) => options.config.tls = Some(config),
            Err(message) => {
                eprintln!("webrtc-rs-signaling: {message}");
                return ExitCode::from(2);
            }
        }
    }
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
    match runtime.block_on(serve(options.config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("webrtc-rs-signaling: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: webrtc_rs_signaling::Config) -> Result<(), String> {
    let bind = config.bind;
    let server = Server::bind(config)
        .await
        .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    let addr = server
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    let mut stdout = std::io::stdout();
    // Tools wait for this line (and read the port from it), so flush it now.
    let _ = writeln!(stdout, "listening on {}://{addr}", server.scheme());
    let _ = stdout.flush();
    server
        .run()
        .await
        .map_err(|e| format!("server stopped: {e}"))
}
