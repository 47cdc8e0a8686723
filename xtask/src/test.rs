//! `cargo xtask test`: every test the project has, in the order a failure is cheapest to see.

use crate::cmd;

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
    cmd::run(cmd::cargo().args(["test", "--workspace"]))?;
    // The addon must build in the configuration users ship.
    crate::addon::build_and_stage()?;
    if interop {
        eprintln!("(interop matrix not wired yet)");
    }
    Ok(())
}
