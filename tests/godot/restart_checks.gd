## GDScript checks of WebRtcRsPeerConnection.restart_ice() and the initialize() key
## "iceRestartOnDisconnected" (called by run_tests.gd, whose check/pump helpers they use).
## The documented call from a variable typed WebRTCPeerConnection is checked too.
extends RefCounted

const Wire = preload("res://wire.gd")
const LOOPBACK := {"bindAddress": "127.0.0.1"}
const OPEN := WebRTCDataChannel.STATE_OPEN

var t  # the run_tests.gd runner


func _init(runner) -> void:
	t = runner


func send_numbered(ch, from: int, to: int) -> void:
	for i in range(from, to):
		ch.put_packet(("%d" % i).to_utf8_buffer())


## Restarts ICE from `who` (the wire relays the new offer and the automatic answer), sending
## packets 100 * round .. +100 on `ch` around it; true when the restart completed.
func restart_from(w, who, ch, round: int) -> bool:
	var offers := [0]
	var count_offer = func(type: String, _sdp: String) -> void:
		if type == "offer":
			offers[0] += 1
	who.session_description_created.connect(count_offer)
	send_numbered(ch, round * 100, round * 100 + 50)
	t.check(who.restart_ice() == OK, "restart_ice() returns OK (round %d)" % round)
	send_numbered(ch, round * 100 + 50, round * 100 + 100)
	var ok: bool = await t.pump([w], func():
		return offers[0] == 1 \
			and w.a.get_signaling_state() == WebRTCPeerConnection.SIGNALING_STATE_STABLE \
			and w.b.get_signaling_state() == WebRTCPeerConnection.SIGNALING_STATE_STABLE)
	who.session_description_created.disconnect(count_offer)
	return t.check(ok, "a new offer from poll(), answered, both STABLE (round %d)" % round)


func test_restart_ice() -> bool:
	var pc = WebRTCPeerConnection.new()
	t.check(pc.has_method("restart_ice"), "restart_ice exists")
	t.check(pc.restart_ice() != OK, "restart_ice() before any negotiation fails")
	t.check(pc.initialize({"iceRestartOnDisconnected": 1}) == ERR_INVALID_PARAMETER,
		"iceRestartOnDisconnected must be a bool")
	t.check_error_logged("iceRestartOnDisconnected")
	t.check(pc.initialize({"iceRestartOnDisconnected": true, "bindAddress": "127.0.0.1"}) == OK,
		"iceRestartOnDisconnected: true accepted")
	pc = null
	var typed: WebRTCPeerConnection = WebRTCPeerConnection.new()
	t.check(typed.restart_ice() == FAILED, "restart_ice() called on a typed variable (nothing negotiated)")
	t.check(typed.call("restart_ice") == FAILED, "call(\"restart_ice\") on a typed variable")
	typed = null

	var a = WebRTCPeerConnection.new()
	var b = WebRTCPeerConnection.new()
	if not t.check(a.initialize(LOOPBACK) == OK and b.initialize(LOOPBACK) == OK, "initialize"):
		return false
	var w = Wire.new(a, b)
	var ch_a = a.create_data_channel("restart", {"negotiated": true, "id": 5})
	var ch_b = b.create_data_channel("restart", {"negotiated": true, "id": 5})
	if not await t.connect_wire(w):
		return false
	var ok: bool = await t.pump([w], func():
		return ch_a.get_ready_state() == OPEN and ch_b.get_ready_state() == OPEN)
	if not t.check(ok, "channel OPEN at both ends"):
		return false
	# The first offerer restarts, then the answerer; every packet arrives, in order.
	if not await restart_from(w, a, ch_a, 0):
		return false
	if not await restart_from(w, b, ch_a, 1):
		return false
	var got: Array[String] = []
	ok = await t.pump([w], func():
		while ch_b.get_available_packet_count() > 0:
			got.append(ch_b.get_packet().get_string_from_utf8())
		return got.size() >= 200)
	var expected: Array[String] = []
	for i in 200:
		expected.append("%d" % i)
	t.check(ok and got == expected, "200 packets sent around two restarts arrive in order (got %d)" % got.size())
	t.check(a.get_connection_state() == WebRTCPeerConnection.STATE_CONNECTED
		and b.get_connection_state() == WebRTCPeerConnection.STATE_CONNECTED
		and ch_a.get_ready_state() == OPEN and ch_b.get_ready_state() == OPEN,
		"still CONNECTED and OPEN after the restarts")
	a.close()
	b.close()
	t.check(a.restart_ice() != OK, "restart_ice() after close() fails")
	return true
