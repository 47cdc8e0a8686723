#!/usr/bin/env python3
"""Small-message benchmark inside a real Godot engine, for each WebRTC extension given, runs
alternating so load drifts hit them alike (see docs/benchmarks.md, "Inside Godot").

    python3 bench/godot/run.py --godot PATH --addon webrtc_rs=addons/webrtc_rs \\
        --addon webrtc-native=/path/to/webrtc_native/addons/webrtc [--reps 3] [--sizes 64,200]

Each run copies bench/godot and one addon into a temporary project, then starts Godot headless
with small_messages.gd: both connections in one process (`pair`), or a sender and a receiver
process signalled over TCP on 127.0.0.1 (`two processes`). The first addon is the one the ratio
column puts on top. Standard library only.
"""

import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RUN_TIMEOUT = 120
BASE_PORT = 47100


def project_with(addon_dir, work):
    """A scratch project holding the benchmark script and one addon; returns its path."""
    project = os.path.join(work, "project")
    shutil.rmtree(project, ignore_errors=True)
    os.makedirs(os.path.join(project, "addons"))
    os.makedirs(os.path.join(project, ".godot"))
    for name in ("project.godot", "small_messages.gd"):
        shutil.copy(os.path.join(HERE, name), project)
    target = os.path.join(project, "addons", os.path.basename(os.path.normpath(addon_dir)))
    shutil.copytree(addon_dir, target)
    extensions = glob.glob(os.path.join(target, "**", "*.gdextension"), recursive=True)
    if not extensions:
        raise SystemExit(f"run.py: no .gdextension under {addon_dir}")
    # An export template has no import step: it reads the extension list directly.
    with open(os.path.join(project, ".godot", "extension_list.cfg"), "w") as out:
        for path in extensions:
            out.write("res://" + os.path.relpath(path, project).replace(os.sep, "/") + "\n")
    with open(os.path.join(project, ".godot", "global_script_class_cache.cfg"), "w") as out:
        out.write("list=[]\n")
    return project


def godot(args, project, user_args):
    return [args.godot, "--headless", "--path", project, "--script", "res://small_messages.gd", "--"] + user_args


def result_of(output):
    for line in output.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    return None


def run_once(args, project, scenario, mode, port):
    user_args = [f"size={scenario['size']}", f"channel={scenario['channel']}", f"rate={scenario['rate']}",
                 f"count={args.count}", f"seconds={args.seconds}"]
    if mode == "pair":
        done = subprocess.run(godot(args, project, ["mode=pair"] + user_args), capture_output=True,
                              text=True, timeout=RUN_TIMEOUT)
        return result_of(done.stdout), done.stdout + done.stderr
    receiver = subprocess.Popen(godot(args, project, ["mode=receive", f"port={port}"] + user_args),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(0.3)  # let it start listening (the sender retries anyway)
    try:
        done = subprocess.run(godot(args, project, ["mode=send", f"port={port}"] + user_args),
                              capture_output=True, text=True, timeout=RUN_TIMEOUT)
    finally:
        try:
            receiver_output = receiver.communicate(timeout=10)[0]
        except subprocess.TimeoutExpired:
            receiver.kill()
            receiver_output = receiver.communicate()[0]
    return result_of(done.stdout), done.stdout + done.stderr + receiver_output


def scenarios(sizes):
    for rate in ("flat", "game"):
        for channel in ("reliable", "unreliable"):
            for size in sizes:
                yield {"size": size, "channel": channel, "rate": rate}


def name_of(scenario, mode):
    channel = "reliable ordered" if scenario["channel"] == "reliable" else "unordered maxRetransmits 0"
    rate = "flat out" if scenario["rate"] == "flat" else "60 Hz x 50"
    return f"{scenario['size']} B, {channel}, {rate}, {mode}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--godot", default=os.environ.get("GODOT"), help="Godot 4 binary (default $GODOT)")
    parser.add_argument("--addon", action="append", required=True, help="NAME=DIR of an addon folder")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--sizes", default="64,200")
    parser.add_argument("--count", type=int, default=200000, help="messages per flat-out run")
    parser.add_argument("--seconds", type=int, default=3, help="length of a 60 Hz run")
    parser.add_argument("--modes", default="pair,two processes")
    args = parser.parse_args()
    if not args.godot:
        parser.error("--godot or $GODOT is required")
    addons = [tuple(spec.split("=", 1)) for spec in args.addon]
    sizes = [int(s) for s in args.sizes.split(",")]
    modes = [m.strip() for m in args.modes.split(",")]
    results = {}
    failures = []
    port = BASE_PORT
    with tempfile.TemporaryDirectory() as work:
        projects = {name: project_with(os.path.abspath(path), os.path.join(work, name)) for name, path in addons}
        for rep in range(args.reps):
            for scenario in scenarios(sizes):
                for mode in modes:
                    for name, _ in addons:
                        port += 1
                        tag = f"{name}: {name_of(scenario, mode)} #{rep + 1}"
                        try:
                            result, output = run_once(args, projects[name], scenario, mode, port)
                        except subprocess.TimeoutExpired:
                            result, output = None, "timed out"
                        if result is None:
                            failures.append(tag)
                            print(f"  {tag}: FAILED\n" + "\n".join("    " + l for l in output.splitlines()[-8:]), flush=True)
                            continue
                        results.setdefault((name, name_of(scenario, mode)), []).append(result)
                        print(f"  {tag}: {json.dumps(result)}", flush=True)
    print_table(results, addons, sizes, modes)
    for failure in failures:
        print(f"failed: {failure}")
    return 1 if failures else 0


def print_table(results, addons, sizes, modes):
    first, second = addons[0][0], addons[-1][0]
    columns = ["scenario", "measurement", first, second, f"ratio {first}/{second}"]
    rows = []
    for scenario in scenarios(sizes):
        for mode in modes:
            scenario_name = name_of(scenario, mode)
            for key, unit in (("msgs_per_s", "msg/s"), ("lat_p50_ms", "ms"), ("lat_p99_ms", "ms"), ("cpu_us_per_msg", "us")):
                if scenario["rate"] == "game" and key == "msgs_per_s":
                    continue
                values = []
                for name in (first, second):
                    samples = [r[key] for r in results.get((name, scenario_name), []) if key in r]
                    values.append(statistics.median(samples) if samples else None)
                a, b = values
                ratio = f"{a / b:.2f}" if a is not None and b else "n/a"
                rows.append([scenario_name, f"{key} ({unit})", fmt(a), fmt(b), ratio])
    widths = [max(len(str(r[i])) for r in [columns] + rows) for i in range(len(columns))]
    print("| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)) + " |")


def fmt(value):
    if value is None:
        return "n/a"
    return f"{value:.0f}" if value >= 100 else f"{value:.2f}"


if __name__ == "__main__":
    sys.exit(main())
