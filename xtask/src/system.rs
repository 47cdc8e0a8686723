//! Installing what tests need from Debian's packages on a fresh machine.

use crate::cmd;
use std::process::{Command, Stdio};

/// True when `program` can be started (it is on PATH).
pub fn has_program(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// Makes sure `program` exists, installing Debian `package` with apt-get if it does not.
pub fn ensure_debian_package(program: &str, package: &str) -> Result<(), String> {
    if has_program(program) {
        return Ok(());
    }
    if !is_root() {
        return Err(format!(
            "`{program}` is missing: install it with `apt-get install -y {package}` (needs root)"
        ));
    }
    cmd::run(Command::new("apt-get").args(["update", "-q"]))?;
    cmd::run(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-q", "--no-install-recommends", package]),
    )
}
