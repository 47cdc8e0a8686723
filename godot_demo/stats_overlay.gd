## What webrtc_rs shows beyond the stock API, for the peer list: each connection's round-trip
## time, path (direct or relayed through TURN) and traffic from get_stats(), and the F3 toggle
## of the network simulator (set_network_simulation). Both are webrtc_rs extras: on another
## WebRTC implementation the methods are missing and this adds nothing.
extends RefCounted

## What F3 turns on: 75 ms each way (about 150 ms round trip) and 5 % loss each way.
const SIMULATED := {"delay_ms": 75, "loss": 0.05}

var simulating := false
## Peer id -> [seconds, bytes sent + received] at the start of the current one-second window.
var _window := {}
## Peer id -> bytes per second over the last complete window.
var _rate := {}


## One line about `pc` (the connection to peer `id`), or "" if it has no statistics.
func describe(id: int, pc: Object) -> String:
	if pc == null or not pc.has_method("get_stats"):
		return ""
	var stats: Dictionary = pc.call("get_stats")
	var now := Time.get_ticks_msec() / 1000.0
	var total: int = stats.bytes_sent + stats.bytes_received
	if not _window.has(id):
		_window[id] = [now, total]
	elif now - _window[id][0] >= 1.0:
		_rate[id] = (total - _window[id][1]) / (now - _window[id][0])
		_window[id] = [now, total]
	var rtt: String = "%.1f ms" % stats.rtt_ms if stats.rtt_ms >= 0.0 else "-"
	var path: String = "-"
	if not stats.selected_pair.is_empty():
		path = "relayed" if stats.selected_pair.relayed else "direct"
	return "rtt %s, %s, %.1f KB/s" % [rtt, path, _rate.get(id, 0.0) / 1000.0]


## Turns the simulator on or off on every connection that has it; returns a line for the log.
func toggle_simulation(connections: Array) -> String:
	simulating = not simulating
	var applied := 0
	for pc in connections:
		if pc != null and pc.has_method("set_network_simulation"):
			if pc.call("set_network_simulation", SIMULATED if simulating else {}) == OK:
				applied += 1
	if applied == 0:
		simulating = false
		return "network simulator: not available on these connections"
	var what := "on: 75 ms each way, 5 % loss" if simulating else "off"
	return "network simulator %s (%d connection(s))" % [what, applied]


## Forgets a peer that left.
func forget(id: int) -> void:
	_window.erase(id)
	_rate.erase(id)
