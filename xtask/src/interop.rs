//! `cargo xtask interop`: the interop matrix of `webrtc-rs-peer` against aiortc, libdatachannel
//! (node-datachannel), werift, headless Chromium and headless Firefox ESR, each in both roles;
//! then the bad-path scenarios (`interop/impaired.py`: loss, jitter, reordering, duplication and
//! a 3 s cut through the impairing relay `impair-relay`) against libdatachannel and aiortc.
//!
//! Installs what the peers need on a fresh machine (a Python venv with aiortc and an npm
//! prefix with node-datachannel and werift under `.interop/`, Debian's `chromium` and
//! `firefox-esr` when running as root),
//! builds `webrtc-rs-peer` and `impair-relay` in release mode and runs `interop/run.py` and
//! `interop/impaired.py`, which enter a network
//! namespace with only `lo` up when the machine permits it. Each step is skipped when already
//! done, so a second run only pays for the build check and the matrix.

use crate::{cmd, system};
use std::path::Path;
use std::process::{Command, Stdio};

/// Versions the matrix was proven with (docs/interop.md); pinned so results are comparable.
const AIORTC: &str = "aiortc==1.16.0";
const NODE_DATACHANNEL: &str = "node-datachannel@0.33.4";
/// werift 0.25 needs Node 22; Debian's Node is 20.
const WERIFT: &str = "werift@0.24.4";

/// Every stack, in the order the matrix runs them.
const STACKS: [&str; 5] = ["aiortc", "ndc", "werift", "chromium", "firefox"];

/// The stacks `interop/impaired.py` runs its bad-path scenarios against (through the
/// impairing relay, `impair-relay`): libdatachannel, and aiortc (about 20 and 30 s).
const IMPAIRED_STACKS: [&str; 2] = ["ndc", "aiortc"];

const USAGE: &str =
    "usage: cargo xtask interop [--no-install] [--stacks aiortc,ndc,werift,chromium,firefox]";

/// Installs, builds and runs the matrix; `Err` when something could not be set up or any check
/// failed (the table printed above says which).
pub fn run(args: &[String]) -> Result<(), String> {
    let mut install = true;
    let mut stacks: Vec<String> = STACKS.map(String::from).to_vec();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--no-install" => install = false,
            "--stacks" => {
                let list = iter.next().ok_or("--stacks needs a value")?;
                stacks = list.split(',').map(str::to_string).collect();
            }
            other => return Err(format!("interop: unknown option {other:?}\n{USAGE}")),
        }
    }
    for stack in &stacks {
        if !STACKS.contains(&stack.as_str()) {
            return Err(format!(
                "interop: unknown stack {stack:?} ({})",
                STACKS.join(", ")
            ));
        }
    }
    // Only a run of every stack rewrites the summary in docs/interop.md.
    let whole = STACKS.iter().all(|s| stacks.iter().any(|t| t == s));
    let root = cmd::workspace_root();
    if install {
        for stack in &stacks {
            match stack.as_str() {
                "aiortc" => install_aiortc(&root)?,
                "ndc" => install_node_package(&root, "node-datachannel", NODE_DATACHANNEL)?,
                "werift" => install_node_package(&root, "werift", WERIFT)?,
                "firefox" => system::ensure_debian_package("firefox-esr", "firefox-esr")?,
                _ => install_chromium()?,
            }
        }
    }
    cmd::run(cmd::cargo().args([
        "build",
        "--release",
        "-p",
        "webrtc-rs-peer",
        "-p",
        "impair-cli",
    ]))?;

    let mut pairs: Vec<String> = stacks.iter().map(|s| format!("ours:{s}")).collect();
    // Our peer without trickle (candidates inside its descriptions), against a trickling
    // stack: the browser when it is in the run.
    let trickling = ["chromium", "ndc"]
        .into_iter()
        .find(|name| stacks.iter().any(|s| s == name));
    if let Some(trickling) = trickling {
        pairs.push(format!("ours@--no-trickle:{trickling}"));
    }
    let markdown = root.join(".interop").join("last-matrix.md");
    let mut runner = Command::new("python3");
    runner
        .current_dir(&root)
        .arg(root.join("interop").join("run.py"))
        .arg("--markdown")
        .arg(&markdown);
    // The binaries the build above made, wherever the target directory is.
    let release = std::env::var_os("CARGO_TARGET_DIR").map(|dir| root.join(dir).join("release"));
    if let Some(release) = &release {
        runner.arg("--ours-bin").arg(release.join("webrtc-rs-peer"));
    }
    if whole {
        runner
            .arg("--docs")
            .arg(root.join("docs").join("interop.md"));
    }
    runner.args(&pairs);
    let matrix = cmd::run(&mut runner).map_err(|e| format!("interop matrix failed: {e}"));

    // The bad-path scenarios (interop/impaired.py) against the stacks they cover, even when
    // the matrix failed: each tells something of its own.
    let impaired: Vec<&str> = IMPAIRED_STACKS
        .into_iter()
        .filter(|name| stacks.iter().any(|s| s == name))
        .collect();
    let bad_paths = if impaired.is_empty() {
        Ok(())
    } else {
        let mut scenarios = Command::new("python3");
        scenarios
            .current_dir(&root)
            .arg(root.join("interop").join("impaired.py"));
        if let Some(release) = &release {
            scenarios
                .arg("--ours-bin")
                .arg(release.join("webrtc-rs-peer"))
                .arg("--relay-bin")
                .arg(release.join("impair-relay"));
        }
        cmd::run(scenarios.args(&impaired)).map_err(|e| format!("impaired interop failed: {e}"))
    };
    matrix.and(bad_paths)
}

fn succeeds(command: &mut Command) -> bool {
    command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

fn install_aiortc(root: &Path) -> Result<(), String> {
    let venv = root.join(".interop").join("venv");
    let python = venv.join("bin").join("python");
    if succeeds(Command::new(&python).args(["-c", "import aiortc"])) {
        return Ok(());
    }
    if !python.exists() {
        cmd::run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
    }
    cmd::run(Command::new(&python).args(["-m", "pip", "install", "--quiet", AIORTC]))
}

pub(crate) fn install_node_datachannel(root: &Path) -> Result<(), String> {
    install_node_package(root, "node-datachannel", NODE_DATACHANNEL)
}

/// Installs `spec` (`name@version`) into the npm prefix under `.interop/node` unless `name`
/// is there and loads.
fn install_node_package(root: &Path, name: &str, spec: &str) -> Result<(), String> {
    let prefix = root.join(".interop").join("node");
    let installed = prefix.join("node_modules").join(name).join("package.json");
    if installed.exists()
        && succeeds(
            Command::new("node")
                .current_dir(&prefix)
                .args(["-e", &format!("require('{name}')")]),
        )
    {
        return Ok(());
    }
    std::fs::create_dir_all(&prefix).map_err(|e| format!("creating {}: {e}", prefix.display()))?;
    let manifest = prefix.join("package.json");
    if !manifest.exists() {
        std::fs::write(&manifest, "{\"name\":\"interop-node\",\"private\":true}\n")
            .map_err(|e| format!("writing {}: {e}", manifest.display()))?;
    }
    cmd::run(Command::new("npm").current_dir(&prefix).args([
        "install",
        "--no-audit",
        "--no-fund",
        "--save-exact",
        spec,
    ]))
}

fn install_chromium() -> Result<(), String> {
    if succeeds(Command::new("chromium").arg("--version")) {
        return Ok(());
    }
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0");
    if !is_root {
        return Err(
            "chromium is missing: install it with `apt-get install -y chromium` \
                    (needs root), or leave it out with --stacks aiortc,ndc"
                .into(),
        );
    }
    cmd::run(Command::new("apt-get").args(["update", "-q"]))?;
    cmd::run(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-q", "chromium"]),
    )
}
