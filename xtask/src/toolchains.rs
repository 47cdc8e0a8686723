//! What each toolchain of the target table needs, installed when missing: Rust targets with
//! rustup, zig and cargo-zigbuild from PyPI (a venv under `.cross/`), mingw-w64 from Debian,
//! cargo-ndk from crates.io. Versions are pinned so a release is reproducible.

use crate::targets::Toolchain;
use crate::{cmd, system};
use std::path::PathBuf;
use std::process::{Command, Stdio};

const ZIGLANG: &str = "ziglang==0.17.1";
const CARGO_ZIGBUILD: &str = "cargo-zigbuild==0.24.1";
const CARGO_NDK_VERSION: &str = "4.1.2";

fn quiet_success(command: &mut Command) -> bool {
    command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Installs what `toolchain` needs to build `triple`; returns extra PATH entries to build with.
pub fn prepare(triple: &str, toolchain: Toolchain) -> Result<Vec<PathBuf>, String> {
    ensure_rust_target(triple)?;
    match toolchain {
        Toolchain::Zig { .. } => Ok(vec![zig_venv()?]),
        Toolchain::Mingw => {
            system::ensure_debian_package("x86_64-w64-mingw32-gcc", "gcc-mingw-w64-x86-64")?;
            Ok(Vec::new())
        }
        Toolchain::Ndk { .. } => {
            if android_ndk().is_none() {
                return Err("the Android NDK is needed: set ANDROID_NDK_HOME to its folder".into());
            }
            ensure_cargo_ndk()?;
            Ok(Vec::new())
        }
        Toolchain::Msvc | Toolchain::Apple => Ok(Vec::new()),
    }
}

/// `rustup target add` unless the standard library for `triple` is installed already.
fn ensure_rust_target(triple: &str) -> Result<(), String> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map_err(|e| format!("rustup is needed to add the Rust target {triple}: {e}"))?;
    if String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|line| line.trim() == triple)
    {
        return Ok(());
    }
    cmd::run(Command::new("rustup").args(["target", "add", triple]))
}

/// The venv's `bin/` with `cargo-zigbuild` and `python3 -m ziglang` (which cargo-zigbuild
/// finds when no `zig` is on PATH).
fn zig_venv() -> Result<PathBuf, String> {
    let venv = cmd::workspace_root().join(".cross").join("venv");
    let bin = venv.join("bin");
    let python = bin.join("python3");
    let ready = quiet_success(Command::new(bin.join("cargo-zigbuild")).arg("--version"))
        && quiet_success(Command::new(&python).args(["-m", "ziglang", "version"]));
    if ready {
        return Ok(bin);
    }
    if !python.exists() {
        cmd::run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    cmd::run(Command::new(&python).args([
        "-m",
        "pip",
        "install",
        "--quiet",
        ZIGLANG,
        CARGO_ZIGBUILD,
    ]))?;
    Ok(bin)
}

/// The Android NDK folder from `$ANDROID_NDK_HOME` or `$ANDROID_NDK_ROOT`, if it exists.
pub fn android_ndk() -> Option<PathBuf> {
    ["ANDROID_NDK_HOME", "ANDROID_NDK_ROOT"]
        .into_iter()
        .filter_map(std::env::var_os)
        .map(PathBuf::from)
        .find(|path| path.is_dir())
}

fn ensure_cargo_ndk() -> Result<(), String> {
    if quiet_success(cmd::cargo().args(["ndk", "--version"])) {
        return Ok(());
    }
    cmd::run(cmd::cargo().args([
        "install",
        "--locked",
        "cargo-ndk",
        "--version",
        CARGO_NDK_VERSION,
    ]))
}

/// `PATH` with `extra` in front.
pub fn path_with(extra: &[PathBuf]) -> Result<std::ffi::OsString, String> {
    let current = std::env::var_os("PATH").unwrap_or_default();
    let mut paths: Vec<PathBuf> = extra.to_vec();
    paths.extend(std::env::split_paths(&current));
    std::env::join_paths(paths).map_err(|e| format!("cannot build PATH: {e}"))
}
