//! `cargo xtask test`: every test the project has, in the order a failure is cheapest to see.

use crate::{cmd, system};

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
    cmd::run(cmd::cargo().args(["test", "--workspace"]))?;
    // The addon must build in the configuration users ship.
    crate::addon::build_and_stage()?;
    if interop {
        crate::interop::run(&[])?;
    }
    Ok(())
}
