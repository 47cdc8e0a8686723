//! `cargo xtask demo [--headless] [--clients N] [--mesh] [--timeout SECS] [--tls]`: the
//! multiplayer demo.
//!
//! Builds and stages the addon, starts `webrtc-rs-signaling` on 127.0.0.1 (a free port), then:
//! - with a Godot 4 binary (`$GODOT`, or `godot` on `PATH`): copies the addon into
//!   `godot_demo/addons/webrtc_rs/` and runs a host and N clients of `godot_demo/` (windows, or
//!   headless bots that check what they receive with `--headless`); fails if any bot fails;
//! - without one: says where to get Godot and connects two `webrtc-rs-peer` processes through
//!   the same server instead ([`cli_pair`]), so a real connection and message are still shown.
//!
//! With `--tls` the server speaks `wss://` with a throwaway certificate for `localhost`
//! ([`tls`]), which every client is told to trust.

mod cli_pair;
mod lines;
mod tls;

use crate::cmd;
use lines::spawn_line_reader;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const USAGE: &str =
    "usage: cargo xtask demo [--headless] [--clients N] [--mesh] [--timeout SECS] [--tls]";
/// Lobby code symbols (the signaling protocol's alphabet: no 0, O, 1 or I).
const CODE_ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const GODOT_DOWNLOAD: &str = "https://godotengine.org/download (Godot 4.2 or newer)";

struct Options {
    headless: bool,
    clients: usize,
    mesh: bool,
    timeout: Duration,
    tls: bool,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        headless: false,
        clients: 1,
        mesh: false,
        timeout: Duration::from_secs(90),
        tls: false,
    };
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let mut value = || {
            rest.next()
                .ok_or_else(|| format!("demo: {flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--headless" => options.headless = true,
            "--mesh" => options.mesh = true,
            "--tls" => options.tls = true,
            "--clients" => {
                let text = value()?;
                options.clients = text
                    .parse()
                    .ok()
                    .filter(|n| (1..=16).contains(n))
                    .ok_or_else(|| format!("demo: --clients must be 1 to 16, not {text:?}"))?;
            }
            "--timeout" => {
                let text = value()?;
                let secs: u64 = text.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    format!("demo: --timeout must be a number of seconds, not {text:?}")
                })?;
                options.timeout = Duration::from_secs(secs);
            }
            other => return Err(format!("demo: unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(options)
}

pub fn run(args: &[String]) -> Result<(), String> {
    parse(args)?;
    run_on(args, crate::addon::build_and_stage())
}

/// The demo on an addon staged already (`cargo xtask test` stages the release build).
pub fn run_on(args: &[String], addon: Result<PathBuf, String>) -> Result<(), String> {
    let options = parse(args)?;
    let godot = find_godot()?;
    cmd::run(cmd::cargo().args(["build", "--release", "--package", "webrtc-rs-signaling"]))?;
    let certificate = if options.tls {
        let dir = target_dir().join("demo-tls");
        let certificate = tls::make_certificate(&dir)?;
        eprintln!(
            "wss:// with a throwaway certificate for {} in {}",
            tls::NAME,
            dir.display()
        );
        Some(certificate)
    } else {
        None
    };
    let server =
        SignalingServer::start(&release_binary("webrtc-rs-signaling"), certificate.as_ref())?;
    eprintln!("signaling server listening on {}", server.url);
    let trust = certificate.as_ref().map(|c| c.cert.as_path());

    match godot {
        Some(godot) => {
            let addon = addon?;
            stage_into_demo(&addon)?;
            run_godot(&godot, &server.url, trust, &random_code()?, &options)
        }
        None => {
            eprintln!(
                "\nNo Godot 4 binary found (set $GODOT or put `godot` on PATH).\n\
                 Get Godot from {GODOT_DOWNLOAD}, then run `cargo xtask demo` again.\n\
                 Meanwhile, here is the same kind of connection between two `webrtc-rs-peer`\n\
                 processes, signalled through the same server:\n"
            );
            if let Err(e) = addon {
                eprintln!("(the addon did not build either: {e})");
            }
            cli_pair::run(
                &server.url,
                trust,
                options.timeout.min(Duration::from_secs(60)),
            )
        }
    }
}

/// `$GODOT` if set (it must exist), else `godot` or `godot4` on `PATH`; checks it is Godot 4.
pub(crate) fn find_godot() -> Result<Option<PathBuf>, String> {
    let candidate = match std::env::var_os("GODOT") {
        Some(path) if !path.is_empty() => {
            let path = PathBuf::from(path);
            if !path.is_file() {
                return Err(format!("$GODOT is {}, which is not a file", path.display()));
            }
            Some(path)
        }
        _ => search_path(&["godot", "godot4"]),
    };
    let Some(godot) = candidate else {
        return Ok(None);
    };
    let output = Command::new(&godot)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {} --version: {e}", godot.display()))?;
    let version = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if !version.starts_with("4.") {
        return Err(format!(
            "{} reports version {version:?}; the demo needs Godot 4 ({GODOT_DOWNLOAD})",
            godot.display()
        ));
    }
    eprintln!("using Godot {version} from {}", godot.display());
    Ok(Some(godot))
}

fn search_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find_map(|dir| {
        names
            .iter()
            .map(|name| dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX)))
            .find(|candidate| candidate.is_file())
    })
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| cmd::workspace_root().join("target"))
}

fn release_binary(name: &str) -> PathBuf {
    target_dir()
        .join("release")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// Copies the staged addon into `godot_demo/addons/webrtc_rs/` and registers its
/// `.gdextension` in `.godot/extension_list.cfg`, which only the editor writes otherwise
/// (a project run straight from a folder loads only the extensions listed there).
fn stage_into_demo(addon: &Path) -> Result<(), String> {
    let demo = cmd::workspace_root().join("godot_demo");
    let target = demo.join("addons").join("webrtc_rs");
    if target.exists() {
        std::fs::remove_dir_all(&target)
            .map_err(|e| format!("cannot remove the old {}: {e}", target.display()))?;
    }
    copy_dir(addon, &target)?;
    let mut extensions = Vec::new();
    let entries =
        std::fs::read_dir(&target).map_err(|e| format!("cannot list {}: {e}", target.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".gdextension") {
            extensions.push(format!("res://addons/webrtc_rs/{name}\n"));
        }
    }
    if extensions.is_empty() {
        return Err(format!(
            "the staged addon {} has no .gdextension file",
            addon.display()
        ));
    }
    let project_data = demo.join(".godot");
    std::fs::create_dir_all(&project_data)
        .map_err(|e| format!("cannot create {}: {e}", project_data.display()))?;
    let list = project_data.join("extension_list.cfg");
    std::fs::write(&list, extensions.concat())
        .map_err(|e| format!("cannot write {}: {e}", list.display()))?;
    // The demo declares no global classes; an empty cache spares a startup error on builds
    // without the editor, which never write it.
    let cache = project_data.join("global_script_class_cache.cfg");
    if !cache.exists() {
        std::fs::write(&cache, "list=[]\n")
            .map_err(|e| format!("cannot write {}: {e}", cache.display()))?;
    }
    eprintln!("addon copied into {}", target.display());
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("cannot create {}: {e}", to.display()))?;
    let entries =
        std::fs::read_dir(from).map_err(|e| format!("cannot list {}: {e}", from.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot list {}: {e}", from.display()))?;
        let (source, dest) = (entry.path(), to.join(entry.file_name()));
        if source.is_dir() {
            copy_dir(&source, &dest)?;
        } else {
            std::fs::copy(&source, &dest).map_err(|e| {
                format!(
                    "cannot copy {} to {}: {e}",
                    source.display(),
                    dest.display()
                )
            })?;
        }
    }
    Ok(())
}

/// The signaling server child process; killed on drop.
struct SignalingServer {
    child: Child,
    url: String,
}

impl SignalingServer {
    fn start(binary: &Path, tls: Option<&tls::Certificate>) -> Result<SignalingServer, String> {
        let mut command = Command::new(binary);
        command.args(["--bind", "127.0.0.1", "--port", "0", "--quiet"]);
        if let Some(certificate) = tls {
            command
                .arg("--tls-cert")
                .arg(&certificate.cert)
                .arg("--tls-key")
                .arg(&certificate.key);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            return Err("the signaling server has no stdout".into());
        };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut first = String::new();
            let _ = BufReader::new(stdout).read_line(&mut first);
            let _ = tx.send(first);
        });
        let mut server = SignalingServer {
            child,
            url: String::new(),
        };
        let line = rx.recv_timeout(Duration::from_secs(10)).map_err(|_| {
            "the signaling server did not report its address within 10 s".to_string()
        })?;
        server.url = line
            .trim()
            .strip_prefix("listening on ")
            .filter(|url| url.starts_with("ws://") || url.starts_with("wss://"))
            .ok_or_else(|| format!("unexpected first line from the signaling server: {line:?}"))?
            .to_string();
        Ok(server)
    }
}

impl Drop for SignalingServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One line of a Godot instance's output (`None`: the stream ended).
struct Line {
    source: usize,
    text: Option<String>,
}

/// One Godot instance of the demo.
struct Instance {
    name: String,
    child: Child,
    exit: Option<std::process::ExitStatus>,
}

/// A random lobby code of the protocol's shape (`XXXX-XXXX-XXXX`, 60 bits), which the host
/// creates and the clients join: they are started together, so they must agree on it first.
fn random_code() -> Result<String, String> {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for a lobby code: {e}"))?;
    let mut code = String::new();
    for (i, byte) in bytes.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            code.push('-');
        }
        code.push(char::from(
            CODE_ALPHABET[usize::from(*byte) % CODE_ALPHABET.len()],
        ));
    }
    Ok(code)
}

fn run_godot(
    godot: &Path,
    url: &str,
    trust: Option<&Path>,
    lobby: &str,
    options: &Options,
) -> Result<(), String> {
    let project = cmd::workspace_root().join("godot_demo");
    let players = options.clients + 1;
    let (tx, rx) = mpsc::channel();
    let mut instances = Vec::new();
    for index in 0..players {
        let (name, role) = match index {
            0 => ("host".to_string(), "host"),
            n => (format!("client{n}"), "join"),
        };
        let mut command = Command::new(godot);
        if options.headless {
            command.arg("--headless");
        } else {
            // Cascade the windows so that none hides another completely.
            let offset = 40 + 50 * index;
            command.args(["--position", &format!("{offset},{offset}")]);
        }
        command
            .arg("--path")
            .arg(&project)
            .arg("--")
            .args([if options.headless { "--bot" } else { "--auto" }, role])
            .args(["--lobby", lobby, "--signaling", url, "--bind", "127.0.0.1"])
            .args(["--players", &players.to_string()])
            .args(["--timeout", &options.timeout.as_secs().to_string()]);
        if options.mesh {
            command.arg("--mesh");
        }
        if let Some(cert) = trust {
            // The URL names the server by address; the certificate is for localhost.
            command
                .arg("--trust-cert")
                .arg(cert)
                .args(["--tls-name", tls::NAME]);
        }
        command.stdin(Stdio::null());
        if options.headless {
            command.stdout(Stdio::piped()).stderr(Stdio::piped());
        }
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", godot.display()))?;
        if let Some(out) = child.stdout.take() {
            spawn_line_reader(out, tx.clone(), move |text| Line {
                source: index,
                text,
            });
        }
        if let Some(err) = child.stderr.take() {
            spawn_line_reader(err, tx.clone(), move |text| Line {
                source: index,
                text,
            });
        }
        instances.push(Instance {
            name,
            child,
            exit: None,
        });
        if index == 0 {
            // Clients retry until the lobby exists, but starting the host first avoids noise.
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    drop(tx);

    let deadline = Instant::now() + options.timeout + Duration::from_secs(30);
    let mut summaries: Vec<Option<String>> = vec![None; players];
    loop {
        while let Ok(line) = rx.try_recv() {
            show(&instances, &mut summaries, line);
        }
        for instance in instances.iter_mut().filter(|i| i.exit.is_none()) {
            instance.exit = instance.child.try_wait().ok().flatten();
        }
        if instances.iter().all(|i| i.exit.is_some()) {
            break;
        }
        if options.headless && Instant::now() > deadline {
            for instance in instances.iter_mut().filter(|i| i.exit.is_none()) {
                let _ = instance.child.kill();
                instance.exit = instance.child.wait().ok();
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Lines still in flight after the last exit.
    while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
        show(&instances, &mut summaries, line);
    }

    println!("\ndemo outcome:");
    let mut failed = 0;
    for (instance, summary) in instances.iter().zip(&summaries) {
        let ok = instance.exit.is_some_and(|status| status.success());
        let exit = match instance.exit {
            Some(status) => status.to_string(),
            None => "did not exit".into(),
        };
        let detail = match summary {
            Some(summary) => summary.clone(),
            None if options.headless => "no summary printed".into(),
            None => String::new(),
        };
        println!("  {:8} {exit:12} {detail}", instance.name);
        if !ok || (options.headless && !detail.starts_with("BOT PASS")) {
            failed += 1;
        }
    }
    if failed > 0 {
        Err(format!("{failed} of {players} Godot instances failed"))
    } else {
        println!("all {players} Godot instances succeeded");
        Ok(())
    }
}

/// Prints one output line with its instance's name and keeps bot summary lines.
fn show(instances: &[Instance], summaries: &mut [Option<String>], line: Line) {
    let (Some(instance), Some(text)) = (instances.get(line.source), line.text) else {
        return;
    };
    println!("[{}] {text}", instance.name);
    if text.starts_with("BOT PASS") || text.starts_with("BOT FAIL") {
        summaries[line.source] = Some(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn defaults_and_flags() {
        let options = parse(&[]).expect("no arguments");
        assert!(!options.headless && !options.mesh);
        assert_eq!(options.clients, 1);
        let options = parse(&args(&[
            "--headless",
            "--clients",
            "3",
            "--mesh",
            "--timeout",
            "20",
            "--tls",
        ]))
        .expect("valid");
        assert!(options.headless && options.mesh && options.tls);
        assert_eq!(options.clients, 3);
        assert_eq!(options.timeout, Duration::from_secs(20));
    }

    #[test]
    fn random_codes_have_the_protocol_shape() {
        let code = random_code().expect("randomness");
        assert_eq!(code.len(), 14, "{code}");
        let symbols: Vec<char> = code.chars().filter(|c| *c != '-').collect();
        assert_eq!(symbols.len(), 12);
        assert!(symbols.iter().all(|c| CODE_ALPHABET.contains(&(*c as u8))));
        assert_ne!(random_code().expect("randomness"), code);
    }

    #[test]
    fn bad_arguments_are_named() {
        for (list, needle) in [
            (&["--clients"][..], "--clients needs a value"),
            (&["--clients", "0"][..], "--clients must be 1 to 16"),
            (&["--clients", "x"][..], "--clients must be 1 to 16"),
            (&["--timeout", "-1"][..], "--timeout must be a number"),
            (&["--windowed"][..], "unknown argument \"--windowed\""),
        ] {
            let error = parse(&args(list)).err().unwrap_or_default();
            assert!(error.contains(needle), "{list:?}: {error}");
        }
    }
}
