//! `cargo xtask test`: every test the project has, in the order a failure is cheapest to see.

use crate::{cmd, system};
use std::process::Command;

pub fn run(args: &[String]) -> Result<(), String> {
    let mut interop = true;
    for arg in args {
        match arg.as_str() {
            "--no-interop" => interop = false,
            other => return Err(format!("test: unknown option {other:?}")),
        }
    }

    cmd::run(cmd::cargo().args(["fmt", "--all", "--", "--check"]))?;
    cmd::run(cmd::cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    // The engine's TURN tests run against coturn on 127.0.0.1.
    system::ensure_debian_package("turnserver", "coturn")?;
    // The NAT tests build their networks with iptables inside private namespaces.
    system::ensure_debian_package("iptables", "iptables")?;
    let mut tests = cmd::cargo();
    tests.args(["test", "--workspace"]);
    if std::env::var_os("CI").is_some() {
        // CI can make network namespaces: a test that needs one fails there instead of skipping.
        tests.env("WEBRTC_RS_REQUIRE_NETNS", "1");
    }
    cmd::run(&mut tests)?;
    if interop {
        crate::interop::run(&[])?;
    }
    // The library users download, for this machine: built as the release builds it (zig
    // against the glibc floor on Linux), zipped like a release and the zip checked (layout,
    // listed files, exports, glibc floor). `cargo xtask package` does the same for every
    // target; it takes too long for CI.
    let addon = crate::package::host_release_check()?;
    // The main job, end to end, on that library: with Godot, the GDScript checks and the
    // headless bots; without it, two CLI peers through the signaling server.
    match crate::demo::find_godot()? {
        Some(godot) => {
            cmd::run(
                Command::new("bash")
                    .current_dir(cmd::workspace_root())
                    .arg("tests/godot/run.sh")
                    .arg(&godot),
            )?;
            crate::demo::run_on(
                &["--headless".into(), "--clients".into(), "3".into()],
                Ok(addon),
            )
        }
        None => {
            eprintln!("no Godot binary ($GODOT or `godot` on PATH): GDScript checks skipped");
            crate::demo::run_on(&[], Ok(addon))
        }
    }
}
