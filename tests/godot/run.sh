#!/usr/bin/env bash
# Runs the GDScript checks against a real Godot 4 binary.
#   tests/godot/run.sh [GODOT_BINARY]        (default: $GODOT, else `godot` on PATH)
# Needs the addon staged first (`cargo xtask addon`). The project and addon are copied to a
# temporary folder, so nothing is written into the repository.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
godot="${1:-${GODOT:-godot}}"
addon="$repo/addons/webrtc_rs"
if ! ls "$addon"/bin/*.so >/dev/null 2>&1; then
	echo "no library in $addon/bin; run 'cargo xtask addon' first" >&2
	exit 2
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r "$here/." "$work/"
rm -f "$work/run.sh"
mkdir -p "$work/addons" "$work/.godot"
cp -r "$addon" "$work/addons/webrtc_rs"
# An export template has no import step; it reads the extension list directly.
echo "res://addons/webrtc_rs/webrtc_rs.gdextension" > "$work/.godot/extension_list.cfg"
printf 'list=[]\n' > "$work/.godot/global_script_class_cache.cfg"
status=0
timeout 600 "$godot" --headless --path "$work" --script res://run_tests.gd 2>&1 | tee "$work/output.log" || status=$?
if ! grep -Eq '^[0-9]+ passed, [0-9]+ failed$' "$work/output.log"; then
	echo "the checks did not finish (exit status $status)" >&2
	exit 1
fi
exit "$status"
