"""Runs a test script inside a fresh network namespace where only `lo` is up.

Nothing a peer sends can then leave the machine. Shared by interop/run.py and bench/bench.py.
"""

import os
import shutil
import subprocess
import sys


def reexec_in_loopback_namespace(marker_env):
    """Re-runs the current script under `unshare -rn` (exits with its status), or, inside it,
    brings `lo` up and returns None. Returns a reason string when namespaces are unavailable."""
    if os.environ.get(marker_env) == "1":
        subprocess.run(["ip", "link", "set", "lo", "up"], check=False)
        return None
    unshare, ip = shutil.which("unshare"), shutil.which("ip")
    if not unshare or not ip:
        return "no unshare/ip available"
    probe = subprocess.run([unshare, "-rn", "true"], capture_output=True)
    if probe.returncode != 0:
        return f"network namespaces not permitted ({probe.stderr.decode().strip()})"
    env = dict(os.environ, **{marker_env: "1"})
    completed = subprocess.run([unshare, "-rn", sys.executable] + sys.argv, env=env)
    sys.exit(completed.returncode)
