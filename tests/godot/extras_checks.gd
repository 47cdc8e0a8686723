## GDScript checks of webrtc_rs's own additions to the stock API (called by run_tests.gd, whose
## check/pump helpers they use): the network simulator (the initialize() key "simulate" and
## WebRtcRsPeerConnection.set_network_simulation()) and WebRtcRsDataChannel's
## buffered_amount_low signal with its threshold. Variables holding our objects are untyped:
## a variable typed WebRTCPeerConnection or WebRTCDataChannel does not know these members.
extends RefCounted

const Wire = preload("res://wire.gd")
const LOOPBACK := {"bindAddress": "127.0.0.1"}
const OPEN := WebRTCDataChannel.STATE_OPEN

var t  # the run_tests.gd runner


func _init(runner) -> void:
	t = runner


## Milliseconds `a` (a channel on the wire's first connection) waits for `b` to echo a ping.
func round_trip_ms(w, a, b) -> int:
	var start = Time.get_ticks_usec()
	a.put_packet("ping".to_utf8_buffer())
	var ok: bool = await t.pump([w], func():
		while b.get_available_packet_count() > 0:
			b.put_packet(b.get_packet())
		return a.get_available_packet_count() > 0)
	t.check(ok, "the ping is echoed")
	if ok:
		a.get_packet()
	return (Time.get_ticks_usec() - start) / 1000


## A connected wire (its first connection configured with `first`) and a negotiated channel
## with `id` open at both ends; [] when something failed (already reported).
func open_wire(first: Dictionary, id: int) -> Array:
	var a = WebRTCPeerConnection.new()
	var b = WebRTCPeerConnection.new()
	if not t.check(a.initialize(first) == OK and b.initialize(LOOPBACK) == OK, "initialize %s" % first):
		return []
	var w = Wire.new(a, b)
	var opts = {"negotiated": true, "id": id}
	var ch_a = a.create_data_channel("extras", opts)
	var ch_b = b.create_data_channel("extras", opts)
	if not await t.connect_wire(w):
		return []
	var ok: bool = await t.pump([w], func():
		return ch_a.get_ready_state() == OPEN and ch_b.get_ready_state() == OPEN)
	if not t.check(ok, "negotiated channel %d OPEN at both ends" % id):
		return []
	return [w, ch_a, ch_b]


func test_network_simulator() -> bool:
	var pc = WebRTCPeerConnection.new()
	t.check(pc.has_method("set_network_simulation"), "set_network_simulation exists")
	# Bad settings: ERR_INVALID_PARAMETER, the key named in the log.
	t.check(pc.initialize({"simulate": {"loss": 1.5}}) == ERR_INVALID_PARAMETER, "simulate.loss 1.5 refused")
	t.check_error_logged("simulate.loss")
	t.check(pc.initialize({"simulate": {"lose": 0.1}}) == ERR_INVALID_PARAMETER, "an unknown simulate key refused")
	t.check_error_logged("lose")
	t.check(pc.initialize({"simulate": "on"}) == ERR_INVALID_PARAMETER, "simulate must be a Dictionary")
	t.check_error_logged("simulate")
	t.check(pc.initialize({"bindAddress": "127.0.0.1", "simulate": {}}) == OK, "an empty simulate is accepted (off)")
	t.check(pc.set_network_simulation({"delay_ms": -1}) == ERR_INVALID_PARAMETER, "negative delay refused")
	t.check_error_logged("delay_ms")
	t.check(pc.set_network_simulation({"bandwidth_kbps": 0}) == ERR_INVALID_PARAMETER, "zero bandwidth refused")
	t.check_error_logged("bandwidth_kbps")
	t.check(pc.set_network_simulation({"jitter_ms": "a lot"}) == ERR_INVALID_PARAMETER, "a String jitter refused")
	t.check_error_logged("jitter_ms")
	pc.close()
	t.check(pc.set_network_simulation({}) != OK, "set_network_simulation after close() fails")
	pc = null

	# 50 ms each way on the first connection: a round trip takes at least 100 ms.
	var setup = await open_wire({"bindAddress": "127.0.0.1", "simulate": {"delay_ms": 50, "seed": 1}}, 3)
	if setup.is_empty():
		return false
	var w = setup[0]
	var ch_a = setup[1]
	var ch_b = setup[2]
	var slow = await round_trip_ms(w, ch_a, ch_b)
	t.check(slow >= 100, "round trip with 50 ms each way >= 100 ms (got %d ms)" % slow)
	# Off while connected: the connection stays up and the round trip is short again.
	t.check(w.a.set_network_simulation({}) == OK, "set_network_simulation({}) turns it off")
	await round_trip_ms(w, ch_a, ch_b)  # may still meet a datagram held before
	var fast = await round_trip_ms(w, ch_a, ch_b)
	t.check(fast < 100, "round trip after turning it off < 100 ms (got %d ms)" % fast)
	# And on again at run time, with several keys.
	t.check(w.a.set_network_simulation({"delay_ms": 60, "jitter_ms": 5, "duplicate": 0.1}) == OK,
		"set_network_simulation with several keys")
	var again = await round_trip_ms(w, ch_a, ch_b)
	t.check(again >= 120, "round trip with 60 ms each way >= 120 ms (got %d ms)" % again)
	t.check(w.a.get_connection_state() == WebRTCPeerConnection.STATE_CONNECTED
		and ch_a.get_ready_state() == OPEN, "still connected after the switches")
	w.a.close()
	w.b.close()
	return true


func test_buffered_amount_low() -> bool:
	# 30 ms each way (the network simulator) on a's side: no acknowledgement can come back
	# between a put_packet and the next line, which reads the amount it raised.
	var slow = LOOPBACK.duplicate()
	slow["simulate"] = {"delay_ms": 30}
	var setup = await open_wire(slow, 4)
	if setup.is_empty():
		return false
	var w = setup[0]
	var ch_a = setup[1]
	var ch_b = setup[2]
	t.check(ch_a.has_signal("buffered_amount_low"), "channels have the buffered_amount_low signal")
	t.check(ch_a.get_buffered_amount_low_threshold() == 0, "the threshold is 0 by default")
	var fired = []
	ch_a.buffered_amount_low.connect(func(): fired.append(ch_a.get_buffered_amount()))
	var drained = func(): return ch_a.get_buffered_amount() == 0
	var idle = func(): return false

	# Threshold 0: one signal when everything sent has left, none after.
	t.check(ch_a.put_packet(t.bytes_of(20000, 1)) == OK, "put_packet 20000 bytes")
	var ok: bool = await t.pump([w], func(): return fired.size() >= 1 and drained.call())
	t.check(ok, "buffered_amount_low emitted once the buffer is empty")
	await t.pump([w], idle, 300)
	t.check(fired.size() == 1, "emitted exactly once (got %d)" % fired.size())
	t.check(fired.size() > 0 and fired[0] == 0, "the buffered amount is 0 when it fires")

	# A larger threshold: nothing while the amount stays below it, one signal on the way down.
	ch_a.set_buffered_amount_low_threshold(65536)
	t.check(ch_a.get_buffered_amount_low_threshold() == 65536, "the threshold reads back")
	ch_a.put_packet(t.bytes_of(10000, 2))
	await t.pump([w], idle, 300)
	t.check(fired.size() == 1, "no signal while below the threshold (got %d)" % fired.size())
	# One message, so the amount rises once and then only falls (several put_packet calls in a
	# row could see the first acknowledged in between: a legitimate extra crossing).
	var big: PackedByteArray = t.bytes_of(200000, 3)
	ch_a.put_packet(big)
	t.check(ch_a.get_buffered_amount() > 65536, "200000 bytes queued, above the threshold")
	ok = await t.pump([w], func(): return fired.size() >= 2 and drained.call())
	t.check(ok, "buffered_amount_low emitted when the amount fell to the threshold")
	await t.pump([w], idle, 300)
	t.check(fired.size() == 2, "once per crossing, not again on the way to 0 (got %d)" % fired.size())
	t.check(fired.size() == 2 and fired[1] <= 65536, "at or below the threshold when it fires")

	# A negative threshold is refused and changes nothing.
	ch_a.set_buffered_amount_low_threshold(-1)
	t.check_error_logged("threshold")
	t.check(ch_a.get_buffered_amount_low_threshold() == 65536, "a negative threshold changes nothing")
	# Everything still arrived.
	var received = [0]
	ok = await t.pump([w], func():
		while ch_b.get_available_packet_count() > 0:
			received[0] += ch_b.get_packet().size()
		return received[0] == 20000 + 10000 + 200000)
	t.check(ok, "every byte arrived (%d)" % received[0])
	w.a.close()
	w.b.close()
	return true


## The port keys: webrtc-native's "libdatachannel" sub-dictionary and our own top-level keys,
## two connections sharing one muxed port inside a range, and warnings for unknown keys.
func test_ports() -> bool:
	var pc = WebRTCPeerConnection.new()
	# Unknown and ignored keys: accepted, with a warning naming them.
	t.check(pc.initialize({"bindAddress": "127.0.0.1", "iceServerz": []}) == OK, "an unknown key is accepted")
	t.check_error_logged("iceServerz")
	t.check(pc.initialize({"libdatachannel": {"enableIceTcp": true}}) == OK, "enableIceTcp: true is accepted")
	t.check_error_logged("enableIceTcp")
	t.check(pc.initialize({"bundlePolicy": "max-bundle"}) == OK, "bundlePolicy is accepted")
	t.check_error_logged("bundlePolicy")
	# Bad values: ERR_INVALID_PARAMETER, the key named.
	t.check(pc.initialize({"portRangeBegin": 5000, "portRangeEnd": 4000}) == ERR_INVALID_PARAMETER, "a reversed range refused")
	t.check_error_logged("portRangeBegin")
	t.check(pc.initialize({"libdatachannel": {"portRangeEnd": 70000}}) == ERR_INVALID_PARAMETER, "port 70000 refused")
	t.check_error_logged("libdatachannel.portRangeEnd")
	t.check(pc.initialize({"mtu": 100}) == ERR_INVALID_PARAMETER, "mtu 100 refused")
	t.check_error_logged("mtu")
	t.check(pc.initialize({"udpMux": "yes"}) == ERR_INVALID_PARAMETER, "a String udpMux refused")
	t.check_error_logged("udpMux")
	pc.close()

	# Two connections on one muxed port inside a range, each to its own remote.
	var begin := 20000 + (OS.get_process_id() % 200) * 50
	var muxed := {"bindAddress": "127.0.0.1", "libdatachannel": {"enableIceUdpMux": true, "portRangeBegin": begin, "portRangeEnd": begin + 9, "mtu": 1400}}
	var ports := []
	var wires := []
	var channels := []
	for i in 2:
		var a = WebRTCPeerConnection.new()
		var b = WebRTCPeerConnection.new()
		if not t.check(a.initialize(muxed) == OK and b.initialize(LOOPBACK) == OK, "initialize muxed %d" % i):
			return false
		a.ice_candidate_created.connect(func(_m, _i, c: String): ports.append(int(c.split(" ")[5])))
		var w = Wire.new(a, b)
		var opts = {"negotiated": true, "id": 3}
		var ch_a = a.create_data_channel("ports", opts)
		var ch_b = b.create_data_channel("ports", opts)
		if not await t.connect_wire(w):
			return false
		var ok: bool = await t.pump([w], func():
			return ch_a.get_ready_state() == OPEN and ch_b.get_ready_state() == OPEN)
		if not t.check(ok, "muxed connection %d open" % i):
			return false
		wires.append(w)
		channels.append([ch_a, ch_b])
	t.check(ports.size() == 2 and ports[0] == ports[1], "both connections announce one shared port (%s)" % [ports])
	t.check(ports.size() > 0 and ports[0] >= begin and ports[0] <= begin + 9, "the shared port is inside the range (%s)" % [ports])
	for i in 2:
		var ch_a = channels[i][0]
		var ch_b = channels[i][1]
		ch_a.put_packet(("hello %d" % i).to_utf8_buffer())
		var got: bool = await t.pump(wires, func(): return ch_b.get_available_packet_count() > 0)
		t.check(got and ch_b.get_packet().get_string_from_utf8() == "hello %d" % i, "message over muxed connection %d" % i)
	for w in wires:
		w.a.close()
		w.b.close()
	return true
