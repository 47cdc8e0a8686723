//! Tests that need a network of their own (interfaces added and removed, IPv6 only, several
//! hosts, NAT) run inside a private network namespace: the test binary runs the one test again
//! under `unshare --user --map-root-user --net --mount`, so the test is root over a network
//! that starts with only a loopback interface (down) and disappears with the process. Named
//! namespaces (`ip netns add`) made inside stay private too: `/run/netns` is a fresh tmpfs there.
//!
//! Where the machine forbids namespaces the test is skipped with a message saying why, unless
//! `WEBRTC_RS_REQUIRE_NETNS` is set (CI sets it), which makes the skip a failure.

use std::process::Command;

const INSIDE: &str = "WEBRTC_RS_TEST_NETNS";
const REQUIRED: &str = "WEBRTC_RS_REQUIRE_NETNS";

/// True inside the namespace: the caller goes on with the test there. False outside, after the
/// test ran inside (and passed: a failure inside panics here) or was skipped.
///
/// `test` is the test's full path as the harness names it, e.g. `"ipv6_only_network"` for a
/// test at the top level of the test binary.
pub fn enter(test: &str) -> bool {
    if std::env::var(INSIDE).as_deref() == Ok(test) {
        prepare_inside();
        return true;
    }
    if let Err(why) = available() {
        if std::env::var_os(REQUIRED).is_some() {
            panic!("{test} needs a network namespace and {REQUIRED} is set, but: {why}");
        }
        eprintln!("SKIPPED {test}: needs a network namespace, but {why}");
        return false;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let status = Command::new("unshare")
        .args([
            "--user",
            "--map-root-user",
            "--net",
            "--mount",
            "--propagation",
            "private",
        ])
        .arg(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(INSIDE, test)
        .status()
        .expect("run unshare");
    assert!(
        status.success(),
        "{test} failed inside its network namespace: {status}"
    );
    false
}

/// Why namespaces cannot be made here, if they cannot.
fn available() -> Result<(), String> {
    if !cfg!(target_os = "linux") {
        return Err("this is not Linux".to_owned());
    }
    for tool in ["unshare", "ip"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !found {
            return Err(format!("`{tool}` is not installed"));
        }
    }
    let probe = Command::new("unshare")
        .args(["--user", "--map-root-user", "--net", "--mount", "true"])
        .output()
        .map_err(|e| format!("unshare cannot run: {e}"))?;
    if !probe.status.success() {
        return Err(format!(
            "the kernel refused (`unshare -rnm true`: {})",
            String::from_utf8_lossy(&probe.stderr).trim()
        ));
    }
    Ok(())
}

fn prepare_inside() {
    sh("ip link set lo up");
    sh(
        "{ mkdir -p /run/netns 2>/dev/null || { mount -t tmpfs run /run && mkdir /run/netns; }; } \
        && mount -t tmpfs netns /run/netns",
    );
}

/// Runs `script` with `sh -c`, panicking with its output if it fails. Returns its stdout.
pub fn sh(script: &str) -> String {
    let out = Command::new("sh")
        .args(["-c", script])
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{script}`: {e}"));
    assert!(
        out.status.success(),
        "`{script}` failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
