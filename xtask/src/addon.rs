//! `cargo xtask addon`: build the GDExtension library and stage it into `addons/webrtc_rs/bin/`.

use crate::cmd;
use std::path::PathBuf;

/// The library file name Godot's `.gdextension` expects for the host platform.
fn staged_name() -> Result<&'static str, String> {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => Ok("libwebrtc_rs.linux.x86_64.so"),
        ("linux", "aarch64") => Ok("libwebrtc_rs.linux.arm64.so"),
        ("windows", "x86_64") => Ok("webrtc_rs.windows.x86_64.dll"),
        ("windows", "aarch64") => Ok("webrtc_rs.windows.arm64.dll"),
        ("macos", _) => Ok("libwebrtc_rs.macos.universal.dylib"),
        (os, arch) => Err(format!("no addon library name for host {os}/{arch}")),
    }
}

/// The file cargo produces for the `webrtc_rs` cdylib on the host.
fn built_name() -> &'static str {
    match std::env::consts::OS {
        "windows" => "webrtc_rs.dll",
        "macos" => "libwebrtc_rs.dylib",
        _ => "libwebrtc_rs.so",
    }
}

pub fn run(args: &[String]) -> Result<(), String> {
    let release = match args {
        [] => true,
        [flag] if flag == "--debug" => false,
        _ => return Err(format!("addon: unexpected arguments {args:?}")),
    };
    let dir = build_and_stage_profile(release)?;
    eprintln!("addon staged in {}", dir.display());
    Ok(())
}

/// Builds the release library and copies it into `addons/webrtc_rs/bin/`; returns the addon dir.
pub fn build_and_stage() -> Result<PathBuf, String> {
    build_and_stage_profile(true)
}

fn build_and_stage_profile(release: bool) -> Result<PathBuf, String> {
    let mut build = cmd::cargo();
    build.args(["build", "--package", "webrtc_rs"]);
    if release {
        build.arg("--release");
    }
    cmd::run(&mut build)?;

    let root = cmd::workspace_root();
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let built = target_dir
        .join(if release { "release" } else { "debug" })
        .join(built_name());
    let addon = root.join("addons").join("webrtc_rs");
    let bin = addon.join("bin");
    std::fs::create_dir_all(&bin).map_err(|e| format!("cannot create {}: {e}", bin.display()))?;
    let staged = bin.join(staged_name()?);
    std::fs::copy(&built, &staged).map_err(|e| {
        format!(
            "cannot copy {} to {}: {e}",
            built.display(),
            staged.display()
        )
    })?;
    Ok(addon)
}
